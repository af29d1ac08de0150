# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Per node and for a cluster: the best x86-64 level and named CPU model every node runs, and what holds it back.

The CPU baseline of a PVE cluster: the best CPU type every node runs, so live migration is safe.

Plain data in, plain data out; no Ansible imports.  A node is a dict with ``name`` and its CPU
``flags`` (/proc/cpuinfo ``flags``, PVE's ``cpuinfo.flags``), optionally ``vendor`` and ``model``
(or ``model_name``), ``bugs`` (the /proc/cpuinfo ``bugs`` line) and ``kvm_flags`` (the QEMU
flags KVM reports for the host CPU, as pvestatd stores them for PVE's cpu-flags API).

analyze_node(node)
    One node: ``arch``, ``vendor``, ``level`` (x86-64-v1 .. x86-64-v4), ``model`` (the best named
    QEMU model as PVE names it), ``cpu_type``, ``models`` and ``unverified_models``.
cluster_baseline(nodes)
    ``cluster_cpu_type`` every node runs (a named model when all nodes share a vendor and one
    fits and gives at least the common level, else the level), ``next_level`` and
    ``next_model`` with the nodes that hold the cluster back, and per node ``lacks``.  Nodes
    of different architectures give ``cluster_cpu_type: None`` and a ``reason``.
check_guest_cpu(cpu_option, nodes, ...)
    For a guest's cpu option (``host``, ``x86-64-v2-AES``, ``cputype=Haswell,flags=+aes;-pcid``,
    ``custom-foo``), which nodes could not run it and why.

How a node is judged.  PVE starts every x86 CPU type but host with QEMU's ``enforce``, so a
model runs on a node only if KVM there offers every feature the model asks for.  The features
are QEMU's (qemu_models.py, generated from QEMU's target/i386/cpu.c).  For each one the library
asks what the node's data shows:

* KVM provides some features whatever the host has (x2apic, tsc-deadline, arat, tsc-adjust,
  arch-capabilities, pschange-mc-no, hypervisor, the kvm* leaves): always available.
* Features Linux prints in /proc/cpuinfo (most of them, some under other names: pni is sse3,
  abm is lzcnt, tsc_deadline_timer, ibrs+ibpb for spec-ctrl) are available when the flag is
  there and missing when it is not; the kernel clears a flag it disables (TSX off removes hle
  and rtm), and KVM bases what it offers on the kernel's flags.
* Features Linux does not print (fdp-excptn-only, zero-fcs-fds, stibp-always-on, amd-psfd, the
  CPUID 0x80000021 bits of EPYC-Milan-v2 and later such as auto-ibrs and null-sel-clr-base, most
  ARCH_CAPABILITIES bits such as fbsdp-no or bhi-no, the AVX10 version), or that KVM offers
  only on some kernels (overflow-recov, succor, perfmon-v2), or that depend on a setting
  (ssbd on AMD, skip-l1dfl-vmentry on l1tf hosts) are *unverified*.  ARCH_CAPABILITIES bits KVM
  derives from the kernel's bug list (rdctl-no, mds-no, ssb-no, skip-l1dfl-vmentry, taa-no) are
  decided when the node's ``bugs`` line is given; taa-no is missing on any host without rtm,
  because KVM withholds it when TSX is off.

The decision is conservative: a model with any missing or unverified feature is never the
answer; it is reported instead (``unverified_models``, per node ``lacks``) with the features the
data could not decide, so the module can say where flags alone cannot decide.  Given
``kvm_flags``, KVM's own list decides every feature.  The named models are those PVE offers
(pve-qemu's model list) that the QEMU table describes; PVE 9 also lists some newer versions
(e.g. SapphireRapids-v5, DiamondRapids) that QEMU 10.2 lacks: those are never recommended and
the guard reports them as unverified.
"""

from __future__ import annotations

from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline import catalog
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.features import (
    check_all, cpuinfo_flags_of, read_node, why_unverified,
)


def _evidence(cpu):
    sources = ["flags"]
    if cpu["bugs"] is not None:
        sources.append("bugs")
    if cpu["kvm_flags"] is not None:
        sources.append("kvm_flags")
    return sources


def supports_level(cpu, name):
    """Whether a node runs the PVE type of a level: every flag of the level, and KVM shows every feature the type asks for."""
    if cpu["arch"] != "x86_64" or not set(catalog.level_flags(name)) <= cpu["flags"]:
        return False
    result = check_all(catalog.level_features(name), cpu)
    return not result["missing"] and not result["unverified"]


def node_level(cpu):
    """The highest x86-64 level a node runs (read by read_node), or None."""
    best = None
    for name in catalog.LEVEL_NAMES:
        if not supports_level(cpu, name):
            break
        best = name
    return best


def model_status(cpu, key):
    """{"missing": [...], "unverified": [...]} of a QEMU model on a node."""
    return check_all(catalog.model_features(key), cpu)


def _vendor_models(cpu):
    return catalog.named_models(cpu["vendor"]) if cpu["arch"] == "x86_64" and cpu["vendor"] else []


def analyze_node(node):
    """One node's CPU: architecture, vendor, highest level, best named model, and the better models it could not verify.

    Returns a plain dict; ``models`` lists every named model the node runs, best first, and
    ``unverified_models`` the better ones that fail only on features its data cannot show.
    """
    cpu = read_node(node)
    result = {
        "name": cpu["name"], "arch": cpu["arch"], "vendor": cpu["vendor"], "vendor_source": cpu["vendor_source"],
        "model_name": cpu["model_name"], "family": cpu["family"], "model_number": cpu["model_number"], "evidence": _evidence(cpu),
        "level": None, "level_cpu_type": None, "model": None, "qemu_model": None, "cpu_type": None, "models": [], "unverified_models": [],
        "flags": sorted(cpu["flags"]),
        "bugs": sorted(cpu["bugs"]) if cpu["bugs"] is not None else None,
        "kvm_flags": sorted(cpu["kvm_flags"]) if cpu["kvm_flags"] is not None else None,
        "note": None,
    }
    if cpu["arch"] != "x86_64":
        result["note"] = _arch_note(cpu)
        return result
    level = node_level(cpu)
    result["level"] = level
    result["level_cpu_type"] = catalog.level_cpu_type(level) if level else None
    runs = []
    for key in reversed(_vendor_models(cpu)):
        status = model_status(cpu, key)
        if not status["missing"] and not status["unverified"]:
            runs.append(key)
        elif not status["missing"] and not runs:
            result["unverified_models"].append({"model": catalog.pve_name(key), "qemu_model": key,
                                                "features": why_unverified(catalog.model_features(key), cpu)})
    result["models"] = [catalog.pve_name(key) for key in runs]
    if runs:
        result["model"], result["qemu_model"] = catalog.pve_name(runs[0]), runs[0]
    result["cpu_type"] = _choose(result["qemu_model"], level)[0]
    if cpu["vendor"] is None:
        result["note"] = "vendor unknown (no vendor, model name or vendor-only flag): no named model, only x86-64 levels"
    return result


def _arch_note(cpu):
    if cpu["arch"] == "aarch64":
        return "aarch64: PVE runs KVM guests there with CPU type host; no x86-64 level or named x86 model applies"
    if cpu["arch"] == "x86":
        return "32-bit x86 (no lm flag): no x86-64 level"
    return "architecture unknown: the flags are neither x86 nor aarch64"


def _choose(key, level):
    """(cpu type, kind, why): a named model when it gives at least the level, else the level."""
    if level is None:
        return None, None, "no x86-64 level"
    if key is None:
        return catalog.level_cpu_type(level), "level", "no named model verified"
    if catalog.level_index(catalog.model_level(key)) >= catalog.level_index(level):
        return catalog.pve_name(key), "model", "named model gives at least %s" % level
    return catalog.level_cpu_type(level), "level", ("the best named model %s gives only %s, below %s"
                                                    % (catalog.pve_name(key), catalog.model_level(key), level))


def cluster_baseline(nodes):
    """The CPU type every node runs, and for each node what it lacks for the next level and the next named model.

    ``nodes`` are node dicts as read_node takes them.  The answer is a plain dict;
    ``cluster_cpu_type`` is None (with ``reason``) when the nodes share no CPU type, e.g. when
    they mix architectures.
    """
    ordered = sorted(nodes, key=lambda node: str(read_node(node)["name"]))
    results = [analyze_node(node) for node in ordered]
    cpus = {result["name"]: read_node(node) for result, node in zip(results, ordered)}
    answer = {"architecture": None, "cluster_cpu_type": None, "kind": None, "reason": None, "vendor": None,
              "level": None, "model": None, "qemu_model": None, "next_level": None, "next_model": None,
              "unverified_models": [], "nodes": results}
    if not results:
        answer["reason"] = "no nodes"
        return answer
    arches = sorted({str(result["arch"]) for result in results})
    if len(arches) > 1:
        groups = "; ".join("%s: %s" % (arch, ", ".join(str(r["name"]) for r in results if str(r["arch"]) == arch)) for arch in arches)
        answer["reason"] = "no common CPU type: the nodes mix architectures (%s)" % groups
        return answer
    answer["architecture"] = results[0]["arch"]
    if answer["architecture"] != "x86_64":
        answer["reason"] = "no common CPU type: %s" % results[0]["note"]
        return answer
    levels = [catalog.level_index(result["level"]) for result in results]
    level = catalog.LEVEL_NAMES[min(levels)] if min(levels) >= 0 else None
    answer["level"] = level
    vendors = sorted({str(result["vendor"]) for result in results})
    key, model_reason = None, None
    if len(vendors) == 1 and results[0]["vendor"] is not None:
        answer["vendor"] = results[0]["vendor"]
        key = _best_common(results[0]["vendor"], cpus)
        answer["unverified_models"] = _unverified_common(results[0]["vendor"], cpus, key)
    else:
        model_reason = "nodes of different or unknown vendors (%s): no named model" % ", ".join(vendors)
    if key is not None:
        answer["model"], answer["qemu_model"] = catalog.pve_name(key), key
    answer["cluster_cpu_type"], answer["kind"], why = _choose(key, level)
    answer["reason"] = model_reason or why
    if level is None:
        answer["reason"] = "no common CPU type: %s" % ", ".join(str(r["name"]) for r in results if r["level"] is None) + " run no x86-64 level"
    _next_level(answer, results, cpus)
    _next_model(answer, results, cpus)
    return answer


def _best_common(vendor, cpus):
    best = None
    for key in catalog.named_models(vendor):
        if all(not any(model_status(cpu, key).values()) for cpu in cpus.values()):
            best = key
    return best


def _unverified_common(vendor, cpus, chosen):
    """Better models no node lacks a feature for, but some node cannot verify: what the data could not decide."""
    found = []
    floor = catalog.rank(chosen) if chosen else None
    for key in reversed(catalog.named_models(vendor)):
        if floor is not None and catalog.rank(key) <= floor:
            break
        statuses = {name: model_status(cpu, key) for name, cpu in cpus.items()}
        if any(status["missing"] for status in statuses.values()):
            continue
        found.append({"model": catalog.pve_name(key), "qemu_model": key,
                      "unverified": {name: status["unverified"] for name, status in sorted(statuses.items()) if status["unverified"]}})
    return found


def _next_level(answer, results, cpus):
    index = catalog.level_index(answer["level"])
    if index + 1 >= len(catalog.LEVEL_NAMES):
        return
    name = catalog.LEVEL_NAMES[index + 1]
    flags = set(catalog.level_flags(name))
    features = catalog.level_features(name)
    held = []
    for result in results:
        cpu = cpus[result["name"]]
        status = check_all(features, cpu)
        lacks = {"name": name, "missing_flags": sorted(flags - cpu["flags"]), "missing": status["missing"], "unverified": status["unverified"]}
        result.setdefault("lacks", {})["next_level"] = lacks
        if lacks["missing_flags"] or lacks["missing"] or lacks["unverified"]:
            held.append(result["name"])
    answer["next_level"] = {"name": name, "held_back_by": held}


def _next_model(answer, results, cpus):
    """The smallest step up in named models that some node takes, and what each node lacks for it."""
    vendor = answer["vendor"]
    if vendor is None:
        return
    floor = catalog.rank(answer["qemu_model"]) if answer["qemu_model"] else None
    for key in catalog.named_models(vendor):
        if floor is not None and catalog.rank(key) <= floor:
            continue
        statuses = {name: model_status(cpu, key) for name, cpu in cpus.items()}
        if not any(not status["missing"] and not status["unverified"] for status in statuses.values()):
            continue
        held = []
        for result in results:
            status = statuses[result["name"]]
            result.setdefault("lacks", {})["next_model"] = {
                "name": catalog.pve_name(key), "qemu_model": key, "missing": status["missing"],
                "missing_flags": cpuinfo_flags_of(status["missing"]), "unverified": status["unverified"]}
            if status["missing"] or status["unverified"]:
                held.append(result["name"])
        answer["next_model"] = {"name": catalog.pve_name(key), "qemu_model": key, "held_back_by": held}
        return
