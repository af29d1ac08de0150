# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A guest's cpu option: PVE's property string, and the nodes that could not run it."""

from __future__ import annotations

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.baseline import analyze_node
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.guard import check_guest_cpu, parse_cpu_option
from ansible_collections.proxops.proxmox.tests.unit.plugins.module_utils.cpu_baseline.cpu_samples import node


@pytest.mark.parametrize("value, expected", [
    ("host", {"cputype": "host", "flags": [], "error": None}),
    ("x86-64-v2-AES", {"cputype": "x86-64-v2-AES", "flags": [], "error": None}),
    ("cputype=Haswell,flags=+aes;-pcid", {"cputype": "Haswell", "flags": [{"op": "+", "flag": "aes"}, {"op": "-", "flag": "pcid"}], "error": None}),
    ("custom-foo,hidden=1,phys-bits=host,hv-vendor-id=proxmox", {"cputype": "custom-foo", "flags": [], "error": None, "hidden": True,
                                                                 "phys-bits": "host", "hv-vendor-id": "proxmox"}),
    ("", {"cputype": None, "flags": [], "error": None}),
])
def test_parse_cpu_option(value, expected):
    assert parse_cpu_option(value) == expected


@pytest.mark.parametrize("value, error", [
    ("flags=+aes", "no cputype"),
    ("Haswell,cputype=IvyBridge", "key 'cputype' given twice"),
    ("Haswell,bogus=1", "unknown key 'bogus'"),
    ("Haswell,flags=aes", "flags 'aes': give +FLAG or -FLAG"),
    ("Haswell,flags=+aes,flags=-pcid", "key 'flags' given twice"),
    ("Haswell,hidden=maybe", "hidden 'maybe' is not a boolean"),
    ("hidden=1,Haswell", "'Haswell': only the first item may omit its key"),
])
def test_parse_errors(value, error):
    assert parse_cpu_option(value)["error"].startswith(error)


def _runs(answer):
    return {entry["name"]: entry["runs"] for entry in answer["nodes"]}


NODES = [node("ivybridge_e5_2680v2"), node("alderlake_i7_12700"), node("icelake_gold_5318y")]


def test_a_model_a_node_lacks():
    answer = check_guest_cpu("Skylake-Client-v4", NODES)
    assert _runs(answer) == {"alderlake_i7_12700": True, "icelake_gold_5318y": True, "ivybridge_e5_2680v2": False}
    ivy = answer["nodes"][-1]
    assert ivy["missing"] == ["3dnowprefetch", "abm", "adx", "avx2", "bmi1", "bmi2", "fma", "invpcid", "movbe", "rdseed", "smap",
                              "spec-ctrl", "xgetbv1", "xsavec", "xsaves"]
    assert "ibrs" in ivy["missing_flags"] and ivy["reasons"][0].startswith("lacks 3dnowprefetch")
    assert (answer["blocked"], answer["ok"], answer["qemu_model"]) == (["ivybridge_e5_2680v2"], False, "Skylake-Client-v4")


def test_flags_a_node_lacks_and_flags_taken_away():
    answer = check_guest_cpu("cputype=x86-64-v2-AES,flags=+md-clear;+pdpe1gb", NODES)
    assert answer["blocked"] == ["ivybridge_e5_2680v2"] and answer["nodes"][-1]["missing"] == ["md-clear"]
    # -hle;-rtm turn the TSX model into one the TSX-less nodes run
    assert check_guest_cpu("Haswell", NODES[1:])["blocked"] == ["alderlake_i7_12700", "icelake_gold_5318y"]
    assert check_guest_cpu("cputype=Haswell,flags=-hle;-rtm", NODES[1:])["ok"] is True


def test_host_on_a_mixed_cluster():
    answer = check_guest_cpu("host", NODES)
    assert set(_runs(answer).values()) == {None} and answer["ok"] is False
    assert answer["groups"] == [["alderlake_i7_12700"], ["icelake_gold_5318y"], ["ivybridge_e5_2680v2"]]
    assert "host on a mixed cluster" in answer["nodes"][0]["reasons"][0]
    answer = check_guest_cpu("host", NODES, source_node="icelake_gold_5318y")
    assert _runs(answer) == {"alderlake_i7_12700": False, "icelake_gold_5318y": True, "ivybridge_e5_2680v2": False}
    assert "avx512f" in answer["nodes"][0]["missing_flags"]
    twins = [node("genoa_epyc_9654"), node("genoa_epyc_9654")]
    twins[0]["name"], twins[1]["name"] = "a", "b"
    assert check_guest_cpu("max", twins)["ok"] is True


def test_generic_and_default_types():
    assert check_guest_cpu(None, NODES)["cpu_type"] == "kvm64" and check_guest_cpu(None, NODES)["ok"] is True
    assert check_guest_cpu("kvm64", NODES + [node("ampere_altra")])["blocked"] == ["ampere_altra"]
    # the deprecated Icelake-Client is Icelake-Server for PVE
    assert check_guest_cpu("Icelake-Client-noTSX", NODES)["qemu_model"] == "Icelake-Server-v2"


def test_what_cannot_be_checked_is_said_so():
    answer = check_guest_cpu("custom-foo", NODES)
    assert set(_runs(answer).values()) == {None}
    assert answer["nodes"][0]["reasons"] == ["custom model custom-foo: its definition (cpu-models.conf) was not given"]
    defined = check_guest_cpu("custom-foo", NODES, custom_models={"foo": {"reported-model": "Haswell", "flags": "-hle;-rtm;+aes"}})
    assert _runs(defined) == {"alderlake_i7_12700": True, "icelake_gold_5318y": True, "ivybridge_e5_2680v2": False}
    newer = check_guest_cpu("DiamondRapids", NODES)
    assert newer["unverified_nodes"] == ["alderlake_i7_12700", "icelake_gold_5318y", "ivybridge_e5_2680v2"]
    assert "no feature list" in newer["nodes"][0]["reasons"][0]
    assert check_guest_cpu("Pentium9000", NODES)["error"].startswith("unknown CPU type 'Pentium9000'")
    assert check_guest_cpu("Haswell,bogus=1", NODES)["error"].startswith("unknown key")


def test_nested_virt():
    intel = node("alderlake_i7_12700")
    answer = check_guest_cpu("cputype=Skylake-Client-v4,flags=+nested-virt", [intel])
    # vmx is there; the VMX capability words the model then asks for are not in the flags
    assert answer["nodes"][0]["runs"] is None and answer["nodes"][0]["unverified"] == ["vmx-capabilities"]
    assert check_guest_cpu("cputype=kvm64,flags=+nested-virt", [intel])["ok"] is True
    guest_view = node("alderlake_i7_12700", flags=intel["flags"].replace(" vmx ", " "))
    assert check_guest_cpu("cputype=kvm64,flags=+nested-virt", [guest_view])["nodes"][0]["missing"] == ["vmx"]


def test_aarch64_guests():
    nodes = [node("ampere_altra"), node("graviton2"), node("zen2_renoir")]
    answer = check_guest_cpu(None, nodes, arch="aarch64")
    assert answer["cpu_type"] == "host" and answer["groups"] == [["ampere_altra"], ["graviton2"]]
    assert _runs(answer) == {"ampere_altra": None, "graviton2": None, "zen2_renoir": False}
    assert answer["nodes"][2]["reasons"] == ["the node is x86_64, the guest aarch64"]
    answer = check_guest_cpu("cortex-a57", nodes, source_node="graviton2")
    assert answer["arch"] == "aarch64" and set(_runs(answer).values()) == {None, False}
    assert "named ARM models cannot be checked" in answer["nodes"][0]["reasons"][0]


def test_guard_takes_analyze_results_too():
    results = [analyze_node(item) for item in NODES]
    assert check_guest_cpu("Skylake-Client-v4", results)["blocked"] == ["ivybridge_e5_2680v2"]
