# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the cpu_baseline module's pure helpers: option checks, node input, the table, guard and apply rows."""

from __future__ import annotations

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils import _cpu_module as cpu
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.baseline import analyze_node, cluster_baseline
from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import ModuleFailure
from ansible_collections.proxops.proxmox.plugins.modules.cpu_baseline import CpuBaselineModule

# x86-64-v3 hosts of both vendors, and a v4 Intel host (flag lists cut to what the checks look at)
BASE = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx "
        "pdpe1gb rdtscp lm constant_tsc rep_good nopl pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt "
        "aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch fsgsbase bmi1 avx2 smep bmi2 erms invpcid rdseed adx smap "
        "clflushopt xsaveopt xsavec xgetbv1 arat")
INTEL_V3 = {"name": "n-intel", "vendor": "GenuineIntel", "model": "Intel(R) Xeon(R) CPU E5-2680 v4", "family": "6",
            "flags": BASE + " vmx ds_cpl est tm2 pdcm xtpr arch_perfmon"}
INTEL_V4 = dict(INTEL_V3, name="n-intel4", model="Intel(R) Xeon(R) Gold 6148",
                flags=INTEL_V3["flags"] + " avx512f avx512dq avx512cd avx512bw avx512vl md_clear")
AMD_V3 = {"name": "n-amd", "vendor": "AuthenticAMD", "model": "AMD EPYC 7302", "family": "23",
          "flags": BASE + " svm sse4a misalignsse mmxext fxsr_opt cmp_legacy topoext perfctr_core clzero xsaveerptr"}


def params(**given):
    full = {name: option.get("default") for name, option in CpuBaselineModule.argument_spec.items()}
    full.update(given)
    return full


def errors(**given):
    return cpu.option_errors(params(**given))


class TestOptions:
    def test_defaults_are_fine(self):
        assert errors() == []

    def test_the_module_uses_the_pure_check(self):
        instance = CpuBaselineModule.__new__(CpuBaselineModule)
        instance.params = params(apply=True)
        with pytest.raises(ModuleFailure) as info:
            instance.validate()
        assert "apply" in info.value.msg and "vmids" in info.value.msg

    @pytest.mark.parametrize("given, option", [
        ({"guard": True}, "guard"),
        ({"apply": True}, "apply"),
        ({"vmids": [100]}, "vmids"),
        ({"all": True}, "all"),
        ({"guard": True, "all": True, "tags": ["web"]}, "all"),
        ({"guard": True, "vmids": [5]}, "vmids"),
        ({"guard": True, "node": "bad node"}, "node"),
        ({"cpu_type": "x86-64-v3"}, "cpu_type"),
        ({"apply": True, "all": True, "cpu_type": "host,flags=+aes"}, "cpu_type"),
        ({"apply": True, "all": True, "cpu_type": "Pentium9000"}, "cpu_type"),
        ({"parallel": 0}, "parallel"),
        ({"custom_models": {"lab": {"reported-model": "NoSuchModel"}}}, "custom_models.lab"),
        ({"custom_models": {"lab": {"flag": "+aes"}}}, "custom_models.lab"),
        ({"custom_models": {"lab": {"flags": "aes"}}}, "custom_models.lab"),
        ({"custom_models": {"9lab": {}}}, "custom_models.9lab"),
    ])
    def test_each_problem_names_its_option(self, given, option):
        found = errors(**given)
        assert found and any(message.startswith(option) for message in found), found

    @pytest.mark.parametrize("name", ["x86-64-v2-AES", "x86-64-v3", "host", "max", "EPYC-Rome", "Skylake-Server-v4",
                                      "kvm64", "custom-lab", "Icelake-Client"])
    def test_known_types(self, name):
        assert cpu.known_type(name)
        assert errors(apply=True, all=True, cpu_type=name) == []

    def test_good_custom_models(self):
        assert errors(custom_models={"lab": {"reported-model": "EPYC-Rome", "flags": "+aes;-pcid"},
                                     "custom-other": "kvm64,flags=+aes"}) == []


class TestNodeInput:
    def test_status_to_library_input(self):
        status = {"cpuinfo": {"model": "AMD EPYC 7763", "vendor": "AuthenticAMD", "family": "25", "flags": "fpu lm"},
                  "current-kernel": {"machine": "x86_64"}, "pveversion": "pve-manager/9.1.1/42424242"}
        assert cpu.node_input("n1", status) == {"name": "n1", "flags": "fpu lm", "model": "AMD EPYC 7763",
                                                "vendor": "AuthenticAMD", "family": "25", "arch": "x86_64"}
        assert cpu.pve_release(status["pveversion"]) == "9.1"
        assert cpu.pve_release("pve-manager/8.4.14/abc") == "8.4" and cpu.pve_release(None) is None

    def test_read_cpuinfo_defaults_say_nothing(self):
        status = {"cpuinfo": {"model": "unknown", "vendor": "unknown", "family": 0, "flags": ""},
                  "current-kernel": {"machine": "aarch64"}}
        node = cpu.node_input("arm", status)
        assert node == {"name": "arm", "flags": "", "arch": "aarch64"}
        assert analyze_node(node)["arch"] == "aarch64"

    def test_offered_types_always_hold_host_and_max(self):
        assert cpu.offered_types([{"name": "EPYC", "vendor": "AuthenticAMD"}]) == {"EPYC", "host", "max"}


class TestTable:
    def test_node_row_keeps_only_offered_models(self):
        analysis = analyze_node(AMD_V3)
        assert analysis["model"] is not None
        row = cpu.node_row(analysis, {"cpuinfo": {"sockets": 1, "cpus": 32}, "pveversion": "pve-manager/9.1.1/x"},
                           offered={"x86-64-v3", "host"})
        assert row["model"] is None and row["models"] == []
        assert row["cpu_type"] == "x86-64-v3" and row["pve_version"] == "9.1" and row["cpus"] == 32
        unrestricted = cpu.node_row(analysis, {})
        assert unrestricted["model"] == analysis["model"] and unrestricted["cpu_type"] == analysis["cpu_type"]

    def test_cluster_of_one_vendor_names_a_model(self):
        baseline = cluster_baseline([INTEL_V3, INTEL_V4])
        answer = cpu.cluster_answer(baseline, None, {"n-intel": "9.1", "n-intel4": "9.1"})
        assert answer["kind"] == baseline["kind"] == "model"
        assert answer["cluster_cpu_type"] == baseline["cluster_cpu_type"] == "Broadwell-noTSX"
        assert answer["held_back_by"] == sorted(set((baseline["next_level"] or {}).get("held_back_by", []))
                                                | set((baseline["next_model"] or {}).get("held_back_by", [])))

    def test_model_not_offered_or_mixed_releases_fall_back_to_the_level(self):
        baseline = {"architecture": "x86_64", "cluster_cpu_type": "Broadwell-noTSX", "kind": "model", "reason": "r",
                    "vendor": "GenuineIntel", "level": "x86-64-v3", "model": "Broadwell-noTSX", "next_level": None,
                    "next_model": {"name": "Skylake-Server", "held_back_by": ["a"]}, "unverified_models": []}
        kept = cpu.cluster_answer(baseline, {"Broadwell-noTSX"}, {"a": "9.1", "b": "9.1"})
        assert kept["cluster_cpu_type"] == "Broadwell-noTSX" and kept["held_back_by"] == ["a"]
        absent = cpu.cluster_answer(baseline, {"x86-64-v3"}, {"a": "9.1"})
        assert absent["cluster_cpu_type"] == "x86-64-v3" and absent["kind"] == "level" and absent["model"] is None
        assert "does not offer" in absent["reason"]
        mixed = cpu.cluster_answer(baseline, {"Broadwell-noTSX"}, {"a": "8.4", "b": "9.1"})
        assert mixed["cluster_cpu_type"] == "x86-64-v3" and "8.4, 9.1" in mixed["reason"]

    def test_mixed_vendors_give_the_level(self):
        answer = cpu.cluster_answer(cluster_baseline([INTEL_V4, AMD_V3]))
        assert answer["cluster_cpu_type"] == "x86-64-v3" and answer["held_back_by"] == ["n-amd"]


class TestCpuOption:
    @pytest.mark.parametrize("current, desired, same", [
        (None, "kvm64", True),
        ("kvm64", None, True),
        (None, "x86-64-v3", False),
        ("x86-64-v3,flags=+aes;-pcid", "x86-64-v3,flags=-pcid;+aes", True),
        ("cputype=x86-64-v3,hidden=1", "x86-64-v3,hidden=yes", True),
        ("x86-64-v3", "x86-64-v3,flags=+aes", False),
        ("host", "x86-64-v3", False),
    ])
    def test_same_cpu(self, current, desired, same):
        assert cpu.same_cpu(current, desired) is same

    def test_format_cpu(self):
        assert cpu.format_cpu({"cputype": "EPYC", "flags": [{"op": "+", "flag": "aes"}], "hidden": True,
                               "phys-bits": "host"}) == "EPYC,flags=+aes,hidden=1,phys-bits=host"
        assert cpu.format_cpu({"cputype": None, "flags": []}) is None

    def test_plan_keeps_what_stays_valid(self):
        nodes = [INTEL_V4, AMD_V3]
        plan = cpu.plan_cpu("Skylake-Server,flags=+md-clear;+pdpe1gb;-pcid,hv-vendor-id=proxmox", "x86-64-v3", nodes,
                            "x86_64", "n-intel4")
        # md-clear is not on the AMD host; pdpe1gb is on both; removing pcid never blocks
        assert plan["after"] == "x86-64-v3,flags=+pdpe1gb;-pcid,hv-vendor-id=proxmox"
        assert plan["dropped_flags"] == ["+md-clear"] and plan["check"]["ok"]

    def test_plan_of_a_guest_without_cpu(self):
        plan = cpu.plan_cpu(None, "x86-64-v2-AES", [INTEL_V3, AMD_V3], "x86_64", "n-amd")
        assert plan == dict(plan, after="x86-64-v2-AES", dropped_flags=[])

    def test_target_problem(self):
        nodes = [INTEL_V4, AMD_V3]
        blocked = cpu.plan_cpu(None, "Skylake-Server", nodes, "x86_64", "n-intel4")
        assert "n-amd" in cpu.target_problem("Skylake-Server", blocked["check"], None)
        fine = cpu.plan_cpu(None, "x86-64-v3", nodes, "x86_64", "n-intel4")
        assert cpu.target_problem("x86-64-v3", fine["check"], {"x86-64-v3"}) is None
        assert "does not offer" in cpu.target_problem("x86-64-v3", fine["check"], {"x86-64-v2-AES"})


class TestGuard:
    GUEST = {"vmid": 100, "name": "web", "node": "n-intel4", "status": "running", "type": "qemu"}
    ARCH = {"n-intel4": "x86_64", "n-amd": "x86_64"}

    def row(self, config, offered=None, **kwargs):
        return cpu.guard_row(self.GUEST, config, [INTEL_V4, AMD_V3], self.ARCH, offered_by_arch=offered, **kwargs)

    def test_host_on_a_mixed_cluster_blocks(self):
        row = self.row({"cpu": "host"})
        assert row["ok"] is False and row["blocked_nodes"] == ["n-amd"] and "mixed cluster" in row["reasons"]["n-amd"]

    def test_model_a_node_lacks_blocks_and_a_level_does_not(self):
        assert self.row({"cpu": "Opteron_G3"})["blocked_nodes"] == ["n-intel4"]
        fine = self.row({"cpu": "x86-64-v3"})
        assert fine["ok"] is True and fine["blocked_nodes"] == [] and fine["reasons"] == {}

    def test_flags_a_node_lacks_block(self):
        row = self.row({"cpu": "x86-64-v3,flags=+md-clear"})
        assert row["blocked_nodes"] == ["n-amd"] and "md-clear" in row["reasons"]["n-amd"]

    def test_no_cpu_is_the_default_type(self):
        row = self.row({})
        assert row["cpu"] is None and row["cpu_type"] == "kvm64" and row["ok"] is True

    def test_type_pve_does_not_offer_blocks_everywhere(self):
        row = self.row({"cpu": "x86-64-v3"}, offered={"x86_64": {"kvm64", "host", "max"}})
        assert row["blocked_nodes"] == ["n-amd", "n-intel4"] and "does not offer" in row["reasons"]["n-amd"]

    def test_custom_model_with_and_without_definition(self):
        unknown = self.row({"cpu": "custom-lab"})
        assert unknown["blocked_nodes"] == [] and unknown["unverified_nodes"] == ["n-amd", "n-intel4"]
        known = self.row({"cpu": "custom-lab"}, custom_models={"lab": {"reported-model": "Opteron_G3"}})
        assert known["blocked_nodes"] == ["n-intel4"] and "sse4a" in known["reasons"]["n-intel4"]
        listed_elsewhere = self.row({"cpu": "custom-lab"}, offered={"x86_64": {"custom-other", "host"}})
        assert listed_elsewhere["blocked_nodes"] == ["n-amd", "n-intel4"]

    def test_bad_option_blocks(self):
        row = self.row({"cpu": "x86-64-v3,bogus=1"})
        assert row["ok"] is False and row["blocked_nodes"] == ["n-amd", "n-intel4"]
