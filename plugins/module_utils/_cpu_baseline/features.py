# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A node's CPU as plain data, and whether its flags show that KVM there offers a QEMU feature."""

from __future__ import annotations

from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.qemu_models import FEATURE_ALIASES, FEATURE_WORDS

INTEL = "GenuineIntel"
AMD = "AuthenticAMD"

OK = "ok"
MISSING = "missing"
UNVERIFIED = "unverified"

# KVM offers these whatever the host's flags say: it emulates them (x2apic and the TSC deadline
# timer with the in-kernel local APIC that PVE always uses, the TSC_ADJUST and ARCH_CAPABILITIES
# MSRs, ARAT in leaf 6), sets them for every guest (hypervisor, the kvm* paravirtual leaves), or
# always reports them in ARCH_CAPABILITIES (PSCHANGE_MC_NO: Linux arch/x86/kvm/x86.c,
# kvm_get_arch_capabilities).
KVM_PROVIDED = frozenset((
    "x2apic", "tsc-deadline", "hypervisor", "arat", "tsc-adjust", "arch-capabilities", "pschange-mc-no",
    "kvmclock", "kvm-nopiodelay", "kvm-mmu", "kvm-asyncpf", "kvm-asyncpf-int", "kvm-asyncpf-vmexit", "kvm-steal-time",
    "kvm-pv-eoi", "kvm-pv-unhalt", "kvm-pv-tlb-flush", "kvm-pv-ipi", "kvm-poll-control", "kvm-pv-sched-yield",
    "kvm-msi-ext-dest-id", "kvmclock-stable-bit", "hv-tlbflush",
))

# QEMU switches these off for every built-in model under KVM (target/i386/kvm/kvm-cpu.c,
# kvm_default_props), so a model's definition asks for them but the guest never gets them.
KVM_DEFAULT_OFF = frozenset(("svm", "monitor", "acpi"))

# The /proc/cpuinfo flag(s) that show KVM can offer a QEMU feature, for every feature Linux
# prints (arch/x86/include/asm/cpufeatures.h, the quoted names).  A feature listed here is
# missing when its flag is absent.  Where the names differ the entry says so; spec-ctrl is the
# Intel SPEC_CTRL bit, which KVM sets when the host has IBRS and IBPB (Linux prints the bit
# itself as "ibrs ibpb"); pku needs the host kernel to use protection keys (ospke).
_SAME_NAME = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 pn clflush mmx fxsr sse sse2 ss ht tm ia64 pbe "
    "pni pclmulqdq dtes64 vmx smx est tm2 ssse3 cid fma cx16 xtpr pdcm pcid dca movbe popcnt aes xsave avx f16c rdrand "
    "syscall nx mmxext pdpe1gb rdtscp lm 3dnowext 3dnow "
    "abm sse4a misalignsse 3dnowprefetch osvw ibs xop skinit wdt lwp fma4 tce tbm topoext "
    "fsgsbase sgx bmi1 hle avx2 smep bmi2 erms invpcid rtm mpx avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb "
    "avx512pf avx512er avx512cd avx512bw avx512vl "
    "avx512vbmi umip waitpkg gfni vaes vpclmulqdq la57 rdpid cldemote movdiri movdir64b enqcmd "
    "fsrm serialize pconfig stibp lam fred "
    "xsaveopt xsavec xgetbv1 xsaves clzero xsaveerptr wbnoinvd ibpb ibrs"
)
CPUINFO_FLAGS = {name: (name,) for name in _SAME_NAME.split()}
CPUINFO_FLAGS.update({
    "ds": ("dts",), "ds-cpl": ("ds_cpl",), "sse4.1": ("sse4_1",), "sse4.2": ("sse4_2",),
    "fxsr-opt": ("fxsr_opt",), "lahf-lm": ("lahf_lm",), "cmp-legacy": ("cmp_legacy",), "extapic": ("extapic",),
    "cr8legacy": ("cr8_legacy",), "nodeid-msr": ("nodeid_msr",), "perfctr-core": ("perfctr_core",), "perfctr-nb": ("perfctr_nb",),
    "intel-pt": ("intel_pt",), "sha-ni": ("sha_ni",), "pku": ("pku", "ospke"), "avx512vbmi2": ("avx512_vbmi2",),
    "avx512vnni": ("avx512_vnni",), "avx512bitalg": ("avx512_bitalg",), "avx512-vpopcntdq": ("avx512_vpopcntdq",),
    "bus-lock-detect": ("bus_lock_detect",), "sgxlc": ("sgx_lc",), "avx512-4vnniw": ("avx512_4vnniw",),
    "avx512-4fmaps": ("avx512_4fmaps",), "avx512-vp2intersect": ("avx512_vp2intersect",), "md-clear": ("md_clear",),
    "tsx-ldtrk": ("tsxldtrk",), "arch-lbr": ("arch_lbr",), "cet-ibt": ("ibt",), "amx-bf16": ("amx_bf16",),
    "avx512-fp16": ("avx512_fp16",), "amx-tile": ("amx_tile",), "amx-int8": ("amx_int8",), "spec-ctrl": ("ibrs", "ibpb"),
    "flush-l1d": ("flush_l1d",), "avx-vnni": ("avx_vnni",), "avx512-bf16": ("avx512_bf16",), "amd-stibp": ("stibp",),
})

# Features Linux prints only in some releases (hidden in others, e.g. the CPUID 7.1 EAX string
# and AMX bits in 6.2-6.12): the flag proves the feature, its absence proves nothing.
CPUINFO_IF_SHOWN = {
    "fzrm": "fzrm", "fsrs": "fsrs", "fsrc": "fsrc", "cmpccxadd": "cmpccxadd", "amx-fp16": "amx_fp16", "avx-ifma": "avx_ifma",
    "xfd": "xfd", "avx-vnni-int8": "avx_vnni_int8", "avx-ne-convert": "avx_ne_convert", "prefetchiti": "prefetchiti",
    "lkgs": "lkgs", "wrmsrns": "wrmsrns", "amx-complex": "amx_complex", "avx-vnni-int16": "avx_vnni_int16",
    "sha512": "sha512", "sm3": "sm3", "sm4": "sm4",
}

# Shown in /proc/cpuinfo, but whether KVM passes them to guests depends on the host kernel's
# KVM, which the flag does not tell (AMD's MCA recovery bits and PerfMonV2 came to KVM late).
KVM_DEPENDENT = {
    "overflow-recov": "KVM offers it only on newer host kernels; the flag shows the CPU has it, not that KVM passes it on",
    "succor": "KVM offers it only on newer host kernels; the flag shows the CPU has it, not that KVM passes it on",
    "perfmon-v2": "KVM offers it only on newer host kernels with the PMU enabled; the flag does not tell",
}

# Bits of IA32_ARCH_CAPABILITIES that KVM derives from the host's bug list (Linux
# kvm_get_arch_capabilities): set when the kernel does not report the bug.  Absent bug names
# decide them only when the node's "bugs" line (/proc/cpuinfo) is given.
ARCH_CAP_FROM_BUG = {"rdctl-no": "cpu_meltdown", "mds-no": "mds", "ssb-no": "spec_store_bypass"}

HIDDEN_REASON = "not shown in /proc/cpuinfo"
VENDOR_SIGNS = {
    # Bits only one vendor's CPUs set (AMD's 8000_0001 extensions; Intel's debug-store,
    # thermal and VMX capability flags): used only when the node gives no vendor or model name.
    AMD: frozenset(("svm", "sse4a", "cmp_legacy", "extd_apicid", "mmxext", "fxsr_opt", "topoext", "clzero", "perfctr_core",
                    "xop", "fma4", "misalignsse", "extapic", "ibs", "nodeid_msr", "tbm", "lwp", "skinit", "wdt", "xsaveerptr")),
    INTEL: frozenset(("vmx", "ds_cpl", "est", "tm2", "pdcm", "xtpr", "dtes64", "pebs", "bts", "intel_pt", "ida", "epb", "pln", "pts",
                      "smx", "dca", "tpr_shadow", "flexpriority", "ept", "vpid", "intel_ppin", "arch_perfmon")),
}
VENDOR_WORDS = (("intel", INTEL), ("amd", AMD), ("epyc", AMD), ("ryzen", AMD), ("opteron", AMD), ("hygon", "HygonGenuine"),
                ("zhaoxin", "CentaurHauls"), ("centaur", "CentaurHauls"))
VENDOR_IDS = {"genuineintel": INTEL, "authenticamd": AMD, "hygongenuine": "HygonGenuine", "centaurhauls": "CentaurHauls",
              "  shanghai  ": "  Shanghai  ", "intel": INTEL, "amd": AMD}


def words(value):
    """A set of the words of a space-separated string or of a list; empty for None."""
    if value is None:
        return set()
    if isinstance(value, str):
        return set(value.split())
    return {str(item) for item in value}


def qemu_name(flag):
    """The canonical QEMU name of a CPU flag as PVE or QEMU may spell it ("sse4_1", "lahf_lm", "pclmuldq")."""
    if flag in FEATURE_WORDS:
        return flag
    if flag in FEATURE_ALIASES:
        return FEATURE_ALIASES[flag]
    dashed = flag.replace("_", "-")
    return FEATURE_ALIASES.get(dashed, dashed)


def infer_vendor(vendor, model_name, flags):
    """(vendor id, where it came from): the given vendor, else the model name's maker, else vendor-only flags, else (None, None)."""
    if vendor:
        return VENDOR_IDS.get(vendor.lower(), vendor), "given"
    lowered = (model_name or "").lower()
    for word, vendor_id in VENDOR_WORDS:
        if word in lowered:
            return vendor_id, "model name"
    hits = [vendor_id for vendor_id, signs in sorted(VENDOR_SIGNS.items()) if flags & signs]
    if len(hits) == 1:
        return hits[0], "flags"
    return None, None


def infer_arch(arch, flags):
    """x86_64, aarch64, x86 (32-bit), or None when the flags say neither."""
    if arch:
        return {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    if "lm" in flags:
        return "x86_64"
    if "asimd" in flags or {"fp", "evtstrm"} <= flags:
        return "aarch64"
    if {"fpu", "cx8", "tsc"} <= flags:
        return "x86"
    return None


def _number(value):
    """An int from an int or a decimal or 0x string (cpuinfo's "cpu family : 25"); None when absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip(), 0)
    except ValueError:
        return None


def read_node(node):
    """A node's CPU as a plain dict with sets: name, arch, vendor (+ source), model_name, flags, bugs, kvm_flags.

    ``node`` takes the keys of PVE's ``cpuinfo`` (``flags``, ``model``, ``vendor``) or of
    /proc/cpuinfo (``model_name``), plus ``name``, and optionally ``bugs`` (the /proc/cpuinfo
    bugs line), ``family`` and ``model_number`` (cpuinfo's "cpu family" and "model"), and
    ``kvm_flags`` (QEMU-named flags KVM reports for the host CPU, as pvestatd stores them for
    PVE's cpu-flags API); ``arch`` when known.
    """
    flags = words(node.get("flags"))
    # analyze_node's results carry model_name (and their own "model", the best named model)
    model_name = node["model_name"] if "model_name" in node else node.get("model")
    arch = infer_arch(node.get("arch"), flags)
    vendor, source = infer_vendor(node.get("vendor"), model_name, flags) if arch in ("x86_64", "x86") else (None, None)
    kvm_flags = node.get("kvm_flags")
    return {
        "family": _number(node.get("family")),
        "model_number": _number(node.get("model_number")),
        "name": node.get("name") or node.get("node"),
        "arch": arch,
        "vendor": vendor,
        "vendor_source": source,
        "model_name": model_name,
        "flags": flags,
        "bugs": words(node.get("bugs")) if node.get("bugs") is not None else None,
        "kvm_flags": {qemu_name(flag) for flag in words(kvm_flags)} if kvm_flags is not None else None,
    }


def check(feature, cpu):
    """(status, reason) of one QEMU feature on a node read by read_node: ok, missing or unverified."""
    if feature in KVM_PROVIDED:
        return OK, "KVM provides it"
    if cpu["kvm_flags"] is not None:
        return (OK, "KVM reports it") if feature in cpu["kvm_flags"] else (MISSING, "KVM does not report it")
    special = _special(feature, cpu)
    if special is not None:
        return special
    if feature in KVM_DEPENDENT:
        return UNVERIFIED, KVM_DEPENDENT[feature]
    needed = CPUINFO_FLAGS.get(feature)
    if needed is not None:
        absent = [flag for flag in needed if flag not in cpu["flags"]]
        return (MISSING, "no %s flag" % " ".join(absent)) if absent else (OK, "flag %s" % " ".join(needed))
    shown = CPUINFO_IF_SHOWN.get(feature)
    if shown is not None and shown in cpu["flags"]:
        return OK, "flag %s" % shown
    return UNVERIFIED, HIDDEN_REASON


def _special(feature, cpu):
    """The features whose evidence depends on the vendor or on the bug list; None for the others."""
    flags, vendor, bugs = cpu["flags"], cpu["vendor"], cpu["bugs"]
    if feature in ("ssbd", "amd-ssbd"):
        # KVM sets both SSBD bits when the host has Intel's SPEC_CTRL_SSBD or AMD's AMD_SSBD.
        # Linux prints "ssbd" for either, but on AMD also for the LS_CFG method of Zen 1, which
        # gives KVM neither bit: on AMD the flag does not decide.
        if "ssbd" not in flags:
            return MISSING, "no ssbd flag"
        if vendor == INTEL or vendor == AMD and _amd_ssbd_native(cpu):
            return OK, "flag ssbd"
        return UNVERIFIED, "ssbd on AMD may be the LS_CFG method of family 15h-17h (before Zen 2), which KVM does not offer as this bit"
    if feature == "virt-ssbd":
        # KVM on AMD offers VIRT_SSBD for either host method (LS_CFG or AMD_SSBD).
        if vendor == AMD and ("ssbd" in flags or "virt_ssbd" in flags):
            return OK, "flag ssbd"
        return (MISSING, "virt-ssbd is an AMD feature") if vendor == INTEL else (UNVERIFIED, "needs an AMD host with ssbd")
    if feature == "ibrs-all":
        # Linux sets ibrs_enhanced from ARCH_CAPABILITIES.IBRS_ALL on Intel; on AMD it means
        # Automatic IBRS, which is no ARCH_CAPABILITIES bit.
        if vendor == INTEL:
            return (OK, "flag ibrs_enhanced") if "ibrs_enhanced" in flags else (MISSING, "no ibrs_enhanced flag")
        return UNVERIFIED, "IBRS_ALL is an Intel ARCH_CAPABILITIES bit"
    if feature == "taa-no":
        # KVM withholds TAA_NO when the host has no RTM (TSX disabled or absent).
        if "rtm" not in flags:
            return MISSING, "KVM withholds taa-no when the host has no rtm (TSX off)"
        if bugs is None:
            return UNVERIFIED, "needs the bugs line: KVM sets it when the kernel does not report taa"
        return (MISSING, "kernel reports bug taa") if "taa" in bugs else (OK, "rtm and no taa bug")
    if feature == "skip-l1dfl-vmentry":
        if bugs is None:
            return UNVERIFIED, "needs the bugs line: KVM sets it when the kernel does not report l1tf"
        if "l1tf" in bugs:
            return UNVERIFIED, "on l1tf hosts KVM sets it unless the L1D flush on VM entry is off"
        return OK, "no l1tf bug"
    if feature in ARCH_CAP_FROM_BUG or feature == "amd-no-ssb":
        bug = ARCH_CAP_FROM_BUG.get(feature, "spec_store_bypass")
        if bugs is None:
            return UNVERIFIED, "needs the bugs line: KVM sets it when the kernel does not report %s" % bug
        return (MISSING, "kernel reports bug %s" % bug) if bug in bugs else (OK, "no %s bug" % bug)
    if feature == "rfds-no" and bugs is not None and "rfds" in bugs:
        return MISSING, "kernel reports bug rfds"
    return None


def _amd_ssbd_native(cpu):
    """Whether an AMD CPU's family/model say it enumerates AMD_SSBD: Zen 2 (17h, model 30h+) and later.

    Linux falls back to the LS_CFG method only on families 15h-17h without AMD_SSBD
    (arch/x86/kernel/cpu/amd.c, bsp_init_amd); Zen 2 and newer enumerate AMD_SSBD.
    """
    family, model = cpu.get("family"), cpu.get("model_number")
    if family is None:
        return False
    return family >= 0x19 or family == 0x17 and model is not None and model >= 0x30


def check_all(features, cpu):
    """{"missing": [...], "unverified": [...]} (sorted) for the features one node does not show it can run."""
    missing, unverified = [], []
    for feature in sorted(features):
        status, _reason = check(feature, cpu)
        if status == MISSING:
            missing.append(feature)
        elif status == UNVERIFIED:
            unverified.append(feature)
    return {"missing": missing, "unverified": unverified}


def why_unverified(features, cpu):
    """{feature: reason} for the features that cannot be decided on one node."""
    reasons = {}
    for feature in sorted(features):
        status, reason = check(feature, cpu)
        if status == UNVERIFIED:
            reasons[feature] = reason
    return reasons


def cpuinfo_flags_of(features):
    """The /proc/cpuinfo flags that stand for QEMU features (those Linux prints), sorted."""
    return sorted({flag for feature in features for flag in CPUINFO_FLAGS.get(feature, ())})
