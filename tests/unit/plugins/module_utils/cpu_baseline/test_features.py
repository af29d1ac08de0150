# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a node's flags, bugs line and KVM report show about each QEMU feature; vendor and architecture of a node."""

from __future__ import annotations

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline import catalog
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.features import check, check_all, qemu_name, read_node
from ansible_collections.proxops.proxmox.tests.unit.plugins.module_utils.cpu_baseline.cpu_samples import node


def _cpu(flags, **extra):
    return read_node(dict({"name": "n", "flags": flags}, **extra))


BASE = "fpu cx8 cmov fxsr mmx sse sse2 syscall lm "


@pytest.mark.parametrize("feature, flags, extra, status", [
    # KVM emulates or sets these for every guest: no flag needed
    ("x2apic", BASE, {}, "ok"),
    ("tsc-deadline", BASE, {}, "ok"),
    ("arch-capabilities", BASE, {}, "ok"),
    ("pschange-mc-no", BASE, {}, "ok"),
    # shown by Linux, some under another name
    ("sse4.1", BASE + "sse4_1", {}, "ok"),
    ("sse4.1", BASE, {}, "missing"),
    ("lahf-lm", BASE + "lahf_lm", {}, "ok"),
    ("cr8legacy", BASE + "cr8_legacy", {}, "ok"),
    ("tsx-ldtrk", BASE + "tsxldtrk", {}, "ok"),
    ("spec-ctrl", BASE + "ibrs", {}, "missing"),
    ("spec-ctrl", BASE + "ibrs ibpb", {}, "ok"),
    ("pku", BASE + "pku", {}, "missing"),
    ("pku", BASE + "pku ospke", {}, "ok"),
    # not printed by Linux: unverified, whatever the flags
    ("auto-ibrs", BASE + "autoibrs auto_ibrs", {}, "unverified"),
    ("stibp-always-on", BASE, {}, "unverified"),
    ("fbsdp-no", BASE, {"bugs": ""}, "unverified"),
    ("avx10-version-1", BASE, {}, "unverified"),
    # printed by some kernels only: the flag proves it, its absence proves nothing
    ("fzrm", BASE + "fzrm", {}, "ok"),
    ("fzrm", BASE, {}, "unverified"),
    # printed, but KVM passes them on only on newer kernels
    ("succor", BASE + "succor", {}, "unverified"),
    # vendor dependent
    ("ssbd", BASE + "ssbd", {"vendor": "GenuineIntel"}, "ok"),
    ("ssbd", BASE + "ssbd", {"vendor": "AuthenticAMD"}, "unverified"),
    ("amd-ssbd", BASE + "ssbd", {"vendor": "AuthenticAMD", "family": "0x19"}, "ok"),
    ("amd-ssbd", BASE + "ssbd", {"vendor": "AuthenticAMD", "family": 23, "model_number": 1}, "unverified"),
    ("amd-ssbd", BASE + "ssbd", {"vendor": "AuthenticAMD", "family": 23, "model_number": 49}, "ok"),
    ("amd-ssbd", BASE, {"vendor": "AuthenticAMD", "family": 25}, "missing"),
    ("virt-ssbd", BASE + "ssbd", {"vendor": "AuthenticAMD"}, "ok"),
    ("virt-ssbd", BASE + "ssbd", {"vendor": "GenuineIntel"}, "missing"),
    ("ibrs-all", BASE + "ibrs_enhanced", {"vendor": "GenuineIntel"}, "ok"),
    ("ibrs-all", BASE, {"vendor": "GenuineIntel"}, "missing"),
    ("ibrs-all", BASE + "ibrs_enhanced", {"vendor": "AuthenticAMD"}, "unverified"),
    # ARCH_CAPABILITIES bits KVM derives from the kernel's bug list
    ("rdctl-no", BASE, {}, "unverified"),
    ("rdctl-no", BASE, {"bugs": "spectre_v1 spectre_v2"}, "ok"),
    ("rdctl-no", BASE, {"bugs": "cpu_meltdown spectre_v1"}, "missing"),
    ("mds-no", BASE, {"bugs": "mds"}, "missing"),
    ("amd-no-ssb", BASE, {"bugs": "spectre_v2"}, "ok"),
    ("skip-l1dfl-vmentry", BASE, {"bugs": "l1tf"}, "unverified"),
    ("skip-l1dfl-vmentry", BASE, {"bugs": "mds"}, "ok"),
    ("taa-no", BASE, {"bugs": ""}, "missing"),
    ("taa-no", BASE + "rtm", {}, "unverified"),
    ("taa-no", BASE + "rtm", {"bugs": "spectre_v1"}, "ok"),
    ("taa-no", BASE + "rtm", {"bugs": "taa"}, "missing"),
    ("rfds-no", BASE, {"bugs": "rfds"}, "missing"),
    ("rfds-no", BASE, {"bugs": ""}, "unverified"),
])
def test_evidence_of_one_feature(feature, flags, extra, status):
    assert check(feature, _cpu(flags, **extra))[0] == status


def test_kvm_flags_are_authoritative_and_normalised():
    cpu = _cpu(BASE + "sse4_1 avx512f", kvm_flags="sse4_1 lahf_lm pclmuldq auto-ibrs")
    assert cpu["kvm_flags"] == {"sse4.1", "lahf-lm", "pclmulqdq", "auto-ibrs"}
    assert check("auto-ibrs", cpu)[0] == "ok"
    assert check("avx512f", cpu)[0] == "missing"  # the flag is there, KVM does not report it
    assert check("x2apic", cpu)[0] == "ok"


def test_a_model_asks_for_what_pve_and_kvm_make_of_it():
    epyc = catalog.model_features("EPYC-v1")
    # QEMU's EPYC lists svm and monitor, which KVM's defaults switch off
    assert "svm" not in epyc and "monitor" not in epyc and "sse4a" in epyc
    # PVE removes rdtscp from the Opteron types and adds lahf_lm and sep to kvm64
    assert "rdtscp" not in catalog.model_features("Opteron_G3-v1")
    assert {"lahf-lm", "sep"} <= catalog.model_features("kvm64-v1")
    assert check_all({"lahf-lm", "ssse3", "hle"}, _cpu(BASE + "lahf_lm")) == {"missing": ["hle", "ssse3"], "unverified": []}


@pytest.mark.parametrize("extra, flags, vendor, source", [
    ({"vendor": "AuthenticAMD"}, BASE, "AuthenticAMD", "given"),
    ({"vendor": "genuineintel"}, BASE, "GenuineIntel", "given"),
    ({"model": "Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz"}, BASE, "GenuineIntel", "model name"),
    ({"model_name": "AMD EPYC 7302 16-Core Processor"}, BASE, "AuthenticAMD", "model name"),
    ({}, BASE + "mmxext fxsr_opt extd_apicid", "AuthenticAMD", "flags"),
    ({}, BASE + "vmx est tm2", "GenuineIntel", "flags"),
    ({}, BASE + "vmx svm", None, None),
    ({"model": "Common KVM processor"}, BASE, None, None),
])
def test_vendor_from_vendor_model_name_or_flags(extra, flags, vendor, source):
    cpu = _cpu(flags, **extra)
    assert (cpu["vendor"], cpu["vendor_source"]) == (vendor, source)


def test_vendor_unknown_gives_levels_only():
    from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.baseline import analyze_node
    # the Ivy Bridge flags without vendor and model name still say Intel (vmx, est, ...)
    assert analyze_node(node("ivybridge_e5_2680v2", vendor=None, model=None))["model"] == "IvyBridge"
    # without its Intel-only flags (as a guest might see it) the vendor is unknown: levels only
    intel_only = {"vmx", "est", "tm2", "pdcm", "xtpr", "dtes64", "pebs", "bts", "ida", "epb", "pln", "pts", "smx", "dca", "tpr_shadow",
                  "flexpriority", "ept", "vpid", "arch_perfmon", "ds_cpl"}
    flags = " ".join(flag for flag in node("ivybridge_e5_2680v2")["flags"].split() if flag not in intel_only)
    result = analyze_node({"name": "n", "flags": flags})
    assert (result["vendor"], result["model"], result["level"], result["cpu_type"]) == (None, None, "x86-64-v2-AES", "x86-64-v2-AES")
    assert "vendor unknown" in result["note"]


@pytest.mark.parametrize("flags, arch, expected", [
    (BASE, None, "x86_64"),
    ("fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid", None, "aarch64"),
    ("fpu tsc cx8 cmov mmx sse sse2", None, "x86"),
    ("", None, None),
    ("", "arm64", "aarch64"),
])
def test_architecture(flags, arch, expected):
    assert _cpu(flags, arch=arch)["arch"] == expected


def test_qemu_names():
    assert [qemu_name(flag) for flag in ("sse4_1", "sse4-2", "lahf_lm", "pclmuldq", "tsc_adjust", "avx512f", "nested-virt")] == [
        "sse4.1", "sse4.2", "lahf-lm", "pclmulqdq", "tsc-adjust", "avx512f", "nested-virt"]
