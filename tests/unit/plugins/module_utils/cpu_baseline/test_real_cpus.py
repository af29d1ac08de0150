# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Level and named model of real CPUs (published flag lists and this machine), each answer checked against QEMU's feature lists."""

from __future__ import annotations

import platform

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline import catalog
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.baseline import analyze_node
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.baseline import model_status, supports_level
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.features import check, cpuinfo_flags_of, read_node
from ansible_collections.proxops.proxmox.tests.unit.plugins.module_utils.cpu_baseline.cpu_samples import SAMPLES, node
from ansible_collections.proxops.proxmox.tests.unit.plugins.module_utils.cpu_baseline.cpu_samples_named import NAMED_SAMPLES, named_node


def _node(sample, **changes):
    """The node of a sample of cpu_samples or of cpu_samples_named."""
    return named_node(sample, **changes) if sample in NAMED_SAMPLES else node(sample, **changes)


def _flags(sample):
    return set((NAMED_SAMPLES.get(sample) or SAMPLES[sample])["flags"].split())


# (sample, level, best named model, the CPU type the library recommends).  Why each, from QEMU
# 10.2's feature lists (qemu_models.py) and the flags as published.
#
# The three CPUs the project's issue names: the EPYC 7763 (Milan) has a real dump (milan_epyc_7763); for the EPYC 7302
# (Rome) the nearest is its one-socket twin, the 7302P (rome_epyc_7302p: same die, same CPUID); for the Xeon Gold 6338
# (Ice Lake-SP) no published flags line was found, so the Gold 5318Y (Ice Lake-SP, CPUID 6/106) still stands in.  The
# same-core stand-ins stay as extra samples: zen3_ryzen_5950x and zen2_renoir test other kernels (one without pcid and
# fsrm, one with XSAVES off).  Not used: pvesim's cpu-mixed-3.json EPYC 7763 flags, which are byte for byte those of a
# honeypot's fake lscpu (l3montree-dev/ssh-cinema-fly-trap, scripts/monitoring/system.sh), so not a dump we can vouch for.
EXPECTED = [
    # avx and aes, no avx2; IvyBridge-IBRS adds spec-ctrl (Linux shows it as ibrs ibpb), which this
    # pre-2018 kernel does not list
    ("ivybridge_e5_2680v2", "x86-64-v2-AES", "IvyBridge", "IvyBridge"),
    # firmware has AES-NI off (no aes flag): PVE's x86-64-v2-AES, v3 and v4 all ask for aes, and so
    # does every Intel model from Westmere on, so Nehalem-IBRS (spec-ctrl: ibrs ibpb listed)
    ("skylake_gold_6140", "x86-64-v2", "Nehalem-IBRS", "Nehalem-IBRS"),
    # every Skylake-Server version asks for pku, which this RHEL 7 kernel does not list (no pku,
    # ospke); Skylake-Client-v4 asks for xsaves (not listed): Skylake-Client-IBRS, which gives only
    # v3, so the level x86-64-v4 is the better type
    ("skylake_gold_6132", "x86-64-v4", "Skylake-Client-IBRS", "x86-64-v4"),
    # Cascadelake-Server-v2 and later add ARCH_CAPABILITIES bits (rdctl-no, mds-no,
    # skip-l1dfl-vmentry) that flags cannot show; v1 with TSX (hle rtm listed) fits
    ("cascadelake_8260m", "x86-64-v4", "Cascadelake-Server", "Cascadelake-Server"),
    # TSX off (no hle, rtm): Icelake-Server v1 and v7 ask for hle/rtm; v3-v6 for taa-no, which KVM
    # withholds from hosts without rtm
    ("icelake_gold_5318y", "x86-64-v4", "Icelake-Server-noTSX", "Icelake-Server-noTSX"),
    # TSX off as well: every SapphireRapids and Cooperlake version asks for hle and rtm, the
    # Icelake-Server versions above v2 for taa-no; Icelake-Server-noTSX is the best that runs
    ("sapphirerapids_8480plus", "x86-64-v4", "Icelake-Server-noTSX", "Icelake-Server-noTSX"),
    # no AVX-512, no TSX, xsaves listed: Skylake-Client-v4 (IBRS, XSAVES, no TSX)
    ("alderlake_i7_12700", "x86-64-v3", "Skylake-Client-v4", "Skylake-Client-v4"),
    # EPYC-v3 and later ask for xsaves, not listed by this RHEL 7 kernel; EPYC-IBPB fits
    ("naples_epyc_7301", "x86-64-v3", "EPYC-IBPB", "EPYC-IBPB"),
    # this kernel disables XSAVES on Zen 2 (erratum 1386): EPYC-Rome v1-v3 ask for it, v4 drops it;
    # v4's amd-ssbd is decided by the family/model (17h, 60h: Zen 2 enumerates AMD_SSBD); v5 adds
    # overflow-recov and succor, which KVM passes on only on newer kernels
    ("zen2_renoir", "x86-64-v3", "EPYC-Rome-v4", "EPYC-Rome-v4"),
    # EPYC-Milan asks for pcid and fsrm, which this 5.4 kernel does not list: EPYC-Rome-v3
    ("zen3_ryzen_5950x", "x86-64-v3", "EPYC-Rome-v3", "EPYC-Rome-v3"),
    # the real EPYC 7763: EPYC-Milan (v1) adds pcid, erms, invpcid, fsrm and pku to EPYC-Rome-v3, all listed here;
    # Milan-v2 and v3 ask for stibp-always-on, amd-psfd and CPUID 0x80000021 bits (lfence-always-serializing,
    # null-sel-clr-base, no-nested-data-bp) that Linux does not print, v3 also for overflow-recov and succor: unverified,
    # so EPYC-Milan; no AVX-512, so x86-64-v3, which EPYC-Milan covers
    ("milan_epyc_7763", "x86-64-v3", "EPYC-Milan", "EPYC-Milan"),
    # the real EPYC 7302P (Rome): its 5.10 kernel still lists xsaves (before Linux turned XSAVES off on Zen 1/2), so
    # EPYC-Rome-v3 (v2's features; v4 is v3 without xsaves); amd-ssbd of v2-v4 is decided by the family/model (17h, 31h:
    # Zen 2); v5 adds overflow-recov and succor (unverified); EPYC-Milan asks for erms, fsrm, invpcid, pcid and pku, which
    # Zen 2 lacks
    ("rome_epyc_7302p", "x86-64-v3", "EPYC-Rome-v3", "EPYC-Rome-v3"),
    # Genoa (and Milan-v2/v3) ask for CPUID 0x80000021 bits and stibp-always-on/amd-psfd, which
    # Linux does not print: EPYC-Milan is the best verified model; it has no AVX-512, so x86-64-v4
    ("genoa_epyc_9654", "x86-64-v4", "EPYC-Milan", "x86-64-v4"),
    ("bergamo_epyc_9754", "x86-64-v4", "EPYC-Milan", "x86-64-v4"),
]


@pytest.mark.parametrize("sample, level, model, cpu_type", EXPECTED, ids=[row[0] for row in EXPECTED])
def test_level_and_model_of_real_cpus(sample, level, model, cpu_type):
    result = analyze_node(_node(sample))
    assert (result["level"], result["model"], result["cpu_type"]) == (level, model, cpu_type)
    flags = _flags(sample)
    # the answer holds: every flag of the level, every flag standing for a feature of the model
    assert set(catalog.level_flags(level)) <= flags
    assert set(cpuinfo_flags_of(catalog.model_features(result["qemu_model"]))) <= flags
    # and it is the highest level: the node does not run the next one
    following = catalog.LEVEL_NAMES[catalog.LEVEL_NAMES.index(level) + 1:]
    assert not following or not supports_level(read_node(_node(sample)), following[0])


def test_why_the_named_epycs_stop_where_they_do():
    milan = read_node(_node("milan_epyc_7763"))
    assert model_status(milan, "EPYC-Milan-v2") == {"missing": [], "unverified": [
        "amd-psfd", "lfence-always-serializing", "no-nested-data-bp", "null-sel-clr-base", "stibp-always-on"]}
    rome = read_node(_node("rome_epyc_7302p"))
    assert model_status(rome, "EPYC-Milan-v1")["missing"] == ["erms", "fsrm", "invpcid", "pcid", "pku"]
    assert model_status(rome, "EPYC-Rome-v5") == {"missing": [], "unverified": ["overflow-recov", "succor"]}
    # without its family/model the 7302P's ssbd could be Zen 1's LS_CFG method: amd-ssbd (EPYC-Rome v2-v4) undecided
    assert analyze_node(_node("rome_epyc_7302p", family=None, model_number=None))["model"] == "EPYC-Rome"


def test_why_the_better_models_fail_is_reported():
    spr = analyze_node(node("sapphirerapids_8480plus"))
    cpu = read_node(node("sapphirerapids_8480plus"))
    assert model_status(cpu, "SapphireRapids-v1")["missing"] == ["hle", "rtm", "taa-no"]
    assert check("taa-no", cpu)[1] == "KVM withholds taa-no when the host has no rtm (TSX off)"
    genoa = analyze_node(node("genoa_epyc_9654"))
    unverified = {entry["model"]: sorted(entry["features"]) for entry in genoa["unverified_models"]}
    assert unverified["EPYC-Genoa"] == ["amd-psfd", "auto-ibrs", "lfence-always-serializing", "no-nested-data-bp",
                                        "null-sel-clr-base", "stibp-always-on"]
    assert spr["evidence"] == ["flags", "bugs"] and genoa["models"][0] == "EPYC-Milan"


def test_the_bugs_line_decides_arch_capabilities_bits():
    with_bugs = read_node(node("sapphirerapids_8480plus"))
    without = read_node(node("sapphirerapids_8480plus", bugs=None))
    # the 8480+ lists no cpu_meltdown, mds or l1tf bug: KVM sets these ARCH_CAPABILITIES bits
    for feature in ("rdctl-no", "mds-no", "skip-l1dfl-vmentry"):
        assert check(feature, with_bugs)[0] == "ok"
        assert check(feature, without)[0] == "unverified"
    # ssb-no follows spec_store_bypass, which this CPU has
    assert check("ssb-no", with_bugs)[0] == "missing"


def test_amd_ssbd_needs_the_family():
    # the same Zen 2 flags without family/model: "ssbd" could be Zen 1's LS_CFG method
    result = analyze_node(node("zen2_renoir", family=None, model_number=None))
    # EPYC-Rome v1 asks for xsaves (off on this kernel), v2-v4 for amd-ssbd; EPYC-v3 and up for xsaves
    assert result["model"] == "EPYC-IBPB"
    assert {"model": "EPYC-Rome-v4", "qemu_model": "EPYC-Rome-v4",
            "features": {"amd-ssbd": "ssbd on AMD may be the LS_CFG method of family 15h-17h (before Zen 2), "
                                     "which KVM does not offer as this bit"}} in result["unverified_models"]


def test_kvm_flags_decide_what_cpuinfo_cannot():
    # a synthetic KVM report for the 9654: what QEMU's EPYC-Genoa asks for (as PVE's cpu-flags API
    # would list it, with cpuinfo-style spellings mixed in); it settles the hidden features
    reported = sorted(catalog.model_features("EPYC-Genoa-v1") | {"sse4_1", "lahf_lm"})
    result = analyze_node(node("genoa_epyc_9654", kvm_flags=reported))
    assert (result["model"], result["cpu_type"], result["evidence"]) == ("EPYC-Genoa", "EPYC-Genoa", ["flags", "bugs", "kvm_flags"])
    # and it is authoritative: a feature KVM does not report is missing although the flag is there
    result = analyze_node(node("genoa_epyc_9654", kvm_flags=[flag for flag in reported if flag != "avx512f"]))
    assert result["level"] == "x86-64-v3" and result["model"] != "EPYC-Genoa"


def test_aarch64_is_never_an_x86_level():
    for sample in ("ampere_altra", "graviton2"):
        result = analyze_node(node(sample))
        assert (result["arch"], result["level"], result["model"], result["cpu_type"]) == ("aarch64", None, None, None)
        assert result["note"].startswith("aarch64")


def _this_machine():
    fields = {}
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                if fields:
                    break
                continue
            key, _sep, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    return {"name": platform.node(), "flags": fields.get("flags") or fields.get("Features") or "",
            "vendor": fields.get("vendor_id"), "model": fields.get("model name"), "bugs": fields.get("bugs"),
            "family": fields.get("cpu family"), "model_number": fields.get("model")}


@pytest.mark.skipif(not platform.system() == "Linux", reason="needs /proc/cpuinfo")
def test_this_machine_is_consistent():
    data = _this_machine()
    result = analyze_node(data)
    flags = set(data["flags"].split())
    expected_arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(platform.machine())
    assert result["arch"] == expected_arch
    if result["arch"] != "x86_64":
        assert result["level"] is None
        return
    assert result["level"] is not None and set(catalog.level_flags(result["level"])) <= flags
    cpu = read_node(data)
    for name in result["models"]:
        status = model_status(cpu, catalog.qemu_key(name))
        assert status == {"missing": [], "unverified": []}
        assert set(cpuinfo_flags_of(catalog.model_features(catalog.qemu_key(name)))) <= flags
    assert result["cpu_type"] in (result["model"], catalog.level_cpu_type(result["level"]))
