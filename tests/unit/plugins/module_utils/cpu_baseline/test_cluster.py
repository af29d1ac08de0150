# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster baseline: common CPU type, what holds the cluster back, architectures and vendors that share none."""

from __future__ import annotations

import json

from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.baseline import cluster_baseline
from ansible_collections.proxops.proxmox.tests.unit.plugins.module_utils.cpu_baseline.cpu_samples import node


def _nodes(result):
    return {entry["name"]: entry for entry in result["nodes"]}


def test_mixed_architectures_share_no_cpu_type():
    result = cluster_baseline([node("zen2_renoir"), node("ampere_altra"), node("ivybridge_e5_2680v2")])
    assert result["cluster_cpu_type"] is None and result["architecture"] is None
    assert result["reason"] == ("no common CPU type: the nodes mix architectures (aarch64: ampere_altra; "
                                "x86_64: ivybridge_e5_2680v2, zen2_renoir)")
    assert _nodes(result)["ampere_altra"]["arch"] == "aarch64" and _nodes(result)["ampere_altra"]["level"] is None


def test_aarch64_cluster_has_no_x86_answer():
    result = cluster_baseline([node("ampere_altra"), node("graviton2")])
    assert (result["architecture"], result["cluster_cpu_type"]) == ("aarch64", None)
    assert result["reason"].startswith("no common CPU type: aarch64")


def test_intel_generations_meet_at_the_oldest_and_the_old_node_holds_them_back():
    result = cluster_baseline([node("icelake_gold_5318y"), node("ivybridge_e5_2680v2"), node("alderlake_i7_12700")])
    assert (result["cluster_cpu_type"], result["kind"], result["level"]) == ("IvyBridge", "model", "x86-64-v2-AES")
    assert result["next_level"] == {"name": "x86-64-v3", "held_back_by": ["ivybridge_e5_2680v2"]}
    lacks = _nodes(result)["ivybridge_e5_2680v2"]["lacks"]
    assert lacks["next_level"]["missing_flags"] == ["abm", "avx2", "bmi1", "bmi2", "fma", "movbe"]
    # the smallest named step up: IvyBridge-IBRS, for which the Ivy Bridge node lacks spec-ctrl (flags ibrs ibpb)
    assert result["next_model"] == {"name": "IvyBridge-IBRS", "qemu_model": "IvyBridge-v2", "held_back_by": ["ivybridge_e5_2680v2"]}
    assert lacks["next_model"]["missing"] == ["spec-ctrl"] and lacks["next_model"]["missing_flags"] == ["ibpb", "ibrs"]
    assert _nodes(result)["icelake_gold_5318y"]["lacks"]["next_model"]["missing"] == []


def test_tsx_on_and_off_meet_at_a_no_tsx_model():
    result = cluster_baseline([node("cascadelake_8260m"), node("icelake_gold_5318y"), node("sapphirerapids_8480plus")])
    assert (result["cluster_cpu_type"], result["level"], result["next_level"]) == ("Skylake-Server-v4", "x86-64-v4", None)
    # Skylake-Server-v5 adds xsaves, which the CentOS 7 kernel of the Cascade Lake node does not list
    assert result["next_model"]["held_back_by"] == ["cascadelake_8260m"]
    assert _nodes(result)["cascadelake_8260m"]["lacks"]["next_model"]["missing"] == ["xsaves"]
    # Cascadelake-Server-noTSX fails only on what flags cannot show: reported, not chosen
    unverified = {entry["model"]: entry["unverified"] for entry in result["unverified_models"]}
    assert unverified["Cascadelake-Server-noTSX"]["icelake_gold_5318y"] == ["mds-no", "rdctl-no", "skip-l1dfl-vmentry"]


def test_a_named_model_below_the_level_gives_way_to_the_level():
    result = cluster_baseline([node("genoa_epyc_9654"), node("bergamo_epyc_9754")])
    assert (result["model"], result["cluster_cpu_type"], result["kind"]) == ("EPYC-Milan", "x86-64-v4", "level")
    assert result["reason"] == "the best named model EPYC-Milan gives only x86-64-v3, below x86-64-v4"
    assert "EPYC-Genoa" in [entry["model"] for entry in result["unverified_models"]]


def test_vendors_that_differ_get_the_level():
    result = cluster_baseline([node("sapphirerapids_8480plus"), node("genoa_epyc_9654")])
    assert (result["cluster_cpu_type"], result["kind"], result["model"], result["next_model"]) == ("x86-64-v4", "level", None, None)
    assert result["reason"] == "nodes of different or unknown vendors (AuthenticAMD, GenuineIntel): no named model"


def test_a_node_below_x86_64_v1_leaves_no_common_type():
    # the Ivy Bridge flags without lahf_lm, like the first x86-64 CPUs
    old = node("ivybridge_e5_2680v2", flags=node("ivybridge_e5_2680v2")["flags"].replace(" lahf_lm ", " "))
    old["name"] = "old"
    result = cluster_baseline([node("ivybridge_e5_2680v2"), old])
    # kvm64 needs lahf_lm (PVE adds it for Windows guests), which this node lacks
    assert _nodes(result)["old"]["level"] is None
    assert (result["cluster_cpu_type"], result["reason"]) == (None, "no common CPU type: old run no x86-64 level")
    assert result["next_level"] == {"name": "x86-64-v1", "held_back_by": ["old"]}
    assert _nodes(result)["old"]["lacks"]["next_level"]["missing"] == ["lahf-lm"]
    assert cluster_baseline([])["reason"] == "no nodes"


def test_answers_are_plain_deterministic_data():
    nodes = [node("zen3_ryzen_5950x"), node("zen2_renoir"), node("naples_epyc_7301")]
    first = cluster_baseline(nodes)
    assert json.loads(json.dumps(first)) == first
    assert cluster_baseline(list(reversed(nodes))) == first
    assert first["cluster_cpu_type"] == "EPYC-IBPB"
