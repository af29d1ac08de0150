# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PVE's x86 CPU types: the x86-64 levels, the named QEMU models PVE offers, and the features each asks KVM for."""

from __future__ import annotations

from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.features import KVM_DEFAULT_OFF, qemu_name
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.qemu_models import MODELS, PVE_MODELS

# The x86-64 levels in /proc/cpuinfo names, each adding to the one before (pni is SSE3, abm is
# LZCNT): QEMU's scripts/cpu-x86-uarch-abi.py lists the psABI levels, to which lm belongs
# implicitly, and PVE's types add aes (x86-64-v2-AES, and v3 on) and xsave (v3).  The second
# field is the PVE CPU type that gives a guest that level: PVE has no x86-64-v1 type, its
# default kvm64 is the generic v1 CPU.
LEVELS = (
    ("x86-64-v1", "kvm64", ("cmov", "cx8", "fpu", "fxsr", "lm", "mmx", "sse", "sse2", "syscall")),
    ("x86-64-v2", "x86-64-v2", ("cx16", "lahf_lm", "pni", "popcnt", "sse4_1", "sse4_2", "ssse3")),
    ("x86-64-v2-AES", "x86-64-v2-AES", ("aes",)),
    ("x86-64-v3", "x86-64-v3", ("abm", "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave")),
    ("x86-64-v4", "x86-64-v4", ("avx512bw", "avx512cd", "avx512dq", "avx512f", "avx512vl")),
)
LEVEL_NAMES = tuple(name for name, _type, _flags in LEVELS)

# PVE's built-in abstract types are QEMU's qemu64 plus these flags (qemu-server
# src/PVE/QemuServer/CPUConfig.pm, $builtin_models_by_arch); note that PVE's x86-64-v3 and v4
# include aes, which the psABI levels do not.
PVE_BUILTIN_TYPES = {
    "x86-64-v2": "+popcnt;+pni;+sse4.1;+sse4.2;+ssse3",
    "x86-64-v2-AES": "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3",
    "x86-64-v3": "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3;+avx;+avx2;+bmi1;+bmi2;+f16c;+fma;+abm;+movbe;+xsave",
    "x86-64-v4": "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3;+avx;+avx2;+bmi1;+bmi2;+f16c;+fma;+abm;+movbe;+xsave;"
                 "+avx512f;+avx512bw;+avx512cd;+avx512dq;+avx512vl",
}
# Flags PVE adds to or removes from some types (CPUConfig.pm, get_pve_cpu_flags); the kvm_pv_*
# flags it adds to every type are KVM's own and always there.
PVE_TYPE_FLAGS = {"kvm64": "+lahf_lm;+sep", "kvm32": "+sep", "Opteron_G1": "-rdtscp", "Opteron_G2": "-rdtscp",
                  "Opteron_G3": "-rdtscp", "Opteron_G4": "-rdtscp", "Opteron_G5": "-rdtscp"}
# Names PVE still accepts for models QEMU dropped (CPUConfig.pm, $depreacated_cpu_map).
PVE_DEPRECATED = {"Icelake-Client": "Icelake-Server", "Icelake-Client-noTSX": "Icelake-Server-noTSX"}
GENERIC_TYPES = ("kvm64", "qemu64", "kvm32", "qemu32")
# QEMU defines models and versions roughly oldest first; the table keeps that order.
ORDER = {key: position for position, key in enumerate(MODELS)}
# 32-bit types PVE lists (CPUConfig.pm, $cputypes_32bit): never a baseline for a 64-bit cluster.
TYPES_32BIT = frozenset(("486", "pentium", "pentium2", "pentium3", "coreduo", "athlon", "kvm32", "qemu32"))


def _apply(features, flag_string):
    result = set(features)
    for item in filter(None, (flag_string or "").split(";")):
        name = qemu_name(item[1:])
        if item[0] == "+":
            result.add(name)
        else:
            result.discard(name)
    return result


def level_index(name):
    """0 for x86-64-v1 up to 4 for x86-64-v4; -1 for None or an unknown name."""
    return LEVEL_NAMES.index(name) if name in LEVEL_NAMES else -1


def level_flags(name):
    """The /proc/cpuinfo flags of a level and the levels below it, sorted."""
    flags = set()
    for level, _type, added in LEVELS[:level_index(name) + 1]:
        flags.update(added)
    return sorted(flags)


def level_cpu_type(name):
    """The PVE CPU type that gives a guest this level."""
    return LEVELS[level_index(name)][1]


def qemu_key(cpu_type):
    """QEMU's versioned model ("Haswell-v2") for a PVE model name ("Haswell-noTSX"); None when QEMU's table has none."""
    name = PVE_DEPRECATED.get(cpu_type, cpu_type)
    if name in MODELS:
        return name
    for key, entry in MODELS.items():
        if name in entry["aliases"]:
            return key
    return None


def pve_name(key):
    """The name PVE offers for QEMU's versioned model: its alias, else the versioned name; None when PVE does not offer it."""
    for alias in MODELS[key]["aliases"]:
        if alias in PVE_MODELS:
            return alias
    return key if key in PVE_MODELS else None


def model_features(key):
    """The QEMU features a named or generic model asks KVM for when PVE starts it (with PVE's own flags, without KVM's defaults off)."""
    entry = MODELS[key]
    features = _apply(set(entry["features"]) - KVM_DEFAULT_OFF, PVE_TYPE_FLAGS.get(entry["model"]))
    if entry.get("avx10_version"):
        # QEMU also checks the host's AVX10 version (CPUID 0x24), which no flag shows.
        features.add("avx10-version-%d" % entry["avx10_version"])
    return frozenset(features)


def type_features(cpu_type):
    """The QEMU features of a PVE CPU type (level, generic or named model); None for host, max, custom and unknown types."""
    if cpu_type in PVE_BUILTIN_TYPES:
        return frozenset(_apply(model_features("qemu64-v1"), PVE_BUILTIN_TYPES[cpu_type]))
    key = qemu_key(cpu_type)
    if key is None or (cpu_type not in PVE_MODELS and cpu_type not in PVE_DEPRECATED):
        return None
    return model_features(key)


def level_features(name):
    """The QEMU features of the PVE CPU type of a level."""
    return type_features(level_cpu_type(name))


def model_level(key):
    """The highest x86-64 level a model gives its guest (its features hold the level's flags), or None."""
    features = model_features(key)
    best = None
    for name in LEVEL_NAMES:
        if all(qemu_name(flag) in features for flag in level_flags(name)):
            best = name
        else:
            break
    return best


def rank(key):
    """Sort key of named models: more features first counts as better, QEMU's later definition breaks ties."""
    return (len(model_features(key)), ORDER[key])


def named_models(vendor):
    """QEMU keys of the named models PVE offers for a vendor (64-bit, not generic), worst first."""
    keys = [key for key, entry in MODELS.items()
            if entry["vendor"] == vendor and entry["model"] not in GENERIC_TYPES and pve_name(key) is not None
            and pve_name(key) not in TYPES_32BIT]
    return sorted(keys, key=rank)
