# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A guest's cpu option as PVE stores it, and on which nodes of a cluster that CPU type could not run, and why."""

from __future__ import annotations

import re

from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline import catalog
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.features import AMD, INTEL, check_all, cpuinfo_flags_of, qemu_name, read_node
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.qemu_models import PVE_MODELS, QEMU_VERSION

# The keys of PVE's pve-vm-cpu-conf format (qemu-server CPUConfig.pm, $cpu_fmt); cputype is the default key.
CPU_OPTION_KEYS = ("cputype", "flags", "guest-phys-bits", "hidden", "hv-vendor-id", "level", "phys-bits", "reported-model")
FLAG_ITEM = re.compile(r"^([+-])([a-zA-Z0-9\-_.]+)$")
BOOLEANS = {"1": True, "yes": True, "on": True, "true": True, "0": False, "no": False, "off": False, "false": False}
HOST_TYPES = ("host", "max")
# PVE's default CPU type for a KVM guest without a cpu option (CPUConfig.pm, get_default_cpu_type).
DEFAULT_TYPE = {"x86_64": "kvm64", "aarch64": "host"}


def parse_cpu_option(value):
    """PVE's cpu option ("Haswell", "cputype=Haswell,flags=+aes;-pcid", ...) as a dict; ``error`` says what is wrong, else None."""
    parsed = {"cputype": None, "flags": [], "error": None}
    for position, item in enumerate(part.strip() for part in (value or "").split(",")):
        if not item:
            continue
        key, sep, text = item.partition("=")
        if not sep:
            if position != 0:
                parsed["error"] = "%r: only the first item may omit its key (cputype)" % item
                return parsed
            key, text = "cputype", item
        if key not in CPU_OPTION_KEYS:
            parsed["error"] = "unknown key %r (known: %s)" % (key, ", ".join(CPU_OPTION_KEYS))
            return parsed
        if key in parsed and key not in ("cputype", "flags") or key == "cputype" and parsed["cputype"] is not None \
                or key == "flags" and parsed["flags"]:
            parsed["error"] = "key %r given twice" % key
            return parsed
        if key == "flags":
            items = [FLAG_ITEM.match(flag) for flag in text.split(";")]
            if not all(items):
                parsed["error"] = "flags %r: give +FLAG or -FLAG items separated by ';'" % text
                return parsed
            parsed["flags"] = [{"op": match.group(1), "flag": match.group(2)} for match in items]
        elif key == "hidden":
            if text.lower() not in BOOLEANS:
                parsed["error"] = "hidden %r is not a boolean" % text
                return parsed
            parsed["hidden"] = BOOLEANS[text.lower()]
        else:
            parsed[key] = text
    if value and parsed["cputype"] is None:
        parsed["error"] = "no cputype"
    return parsed


def _custom_definition(cputype, custom_models):
    name = cputype[len("custom-"):]
    for key in (cputype, name):
        if key in (custom_models or {}):
            definition = custom_models[key]
            if isinstance(definition, str):
                return parse_cpu_option(definition)
            definition = dict(definition)
            if isinstance(definition.get("flags"), str):
                definition["flags"] = parse_cpu_option("kvm64,flags=%s" % definition["flags"])["flags"]
            return definition
    return None


def _base(cputype, arch, custom_models):
    """(features or None, why none, vendor of the model or None, QEMU key or None)."""
    if cputype.startswith("custom-"):
        definition = _custom_definition(cputype, custom_models)
        if definition is None:
            return None, "custom model %s: its definition (cpu-models.conf) was not given" % cputype, None, None
        reported = definition.get("reported-model") or "kvm64"
        features, why, vendor, key = _base(reported, arch, None)
        if features is None:
            return None, why, vendor, key
        return _with_flags(features, definition.get("flags") or []), None, vendor, key
    if arch == "aarch64":
        return None, "aarch64 guests under KVM run the host CPU; named ARM models cannot be checked from flags", None, None
    features = catalog.type_features(cputype)
    key = catalog.qemu_key(cputype)
    vendor = PVE_MODELS.get(cputype) if PVE_MODELS.get(cputype) in (INTEL, AMD) else None
    if features is None:
        if cputype in PVE_MODELS:
            return None, "PVE offers %s, but the QEMU %s table has no feature list for it" % (cputype, QEMU_VERSION), vendor, None
        return None, None, None, None
    return features, None, vendor, key


def _with_flags(features, flags):
    result = set(features)
    for item in flags:
        name = item["flag"] if item["flag"] == "nested-virt" else qemu_name(item["flag"])
        if item["op"] == "+":
            result.add(name)
        else:
            result.discard(name)
    return result


def _node_check(features, cpu, named):
    """{"missing": ..., "unverified": ..., "reasons": ...} of a feature set on one node, nested-virt resolved per vendor."""
    features = set(features)
    reasons = []
    extra_unverified = []
    if "nested-virt" in features:
        features.discard("nested-virt")
        # PVE resolves nested-virt to the host's vmx (Intel) or svm (AMD) flag.
        flag = "vmx" if cpu["vendor"] == INTEL else "svm" if cpu["vendor"] == AMD else None
        if flag is None:
            extra_unverified.append("nested-virt")
            reasons.append("nested-virt: vendor unknown")
        else:
            features.add(flag)
            if named:
                extra_unverified.append("%s-capabilities" % flag)
                reasons.append("nested-virt with a named model also needs its %s capability words, which flags do not show" % flag)
    if "hv-evmcs" in features:
        features.discard("hv-evmcs")
        if cpu["vendor"] != INTEL or "vmx" not in cpu["flags"]:
            return {"missing": ["hv-evmcs"], "unverified": [], "reasons": ["hv-evmcs needs an Intel host with vmx"]}
    status = check_all(features, cpu)
    status["unverified"] = sorted(set(status["unverified"]) | set(extra_unverified))
    if status["missing"]:
        reasons.append("lacks %s" % ", ".join(status["missing"]))
    if status["unverified"]:
        reasons.append("cannot verify %s" % ", ".join(status["unverified"]))
    status["reasons"] = reasons
    return status


def _host_check(cputype, cpus, source_node, arch):
    """host and max give the guest each node's own CPU: safe only between nodes with the same flags."""
    entries = []
    source = next((cpu for cpu in cpus if cpu["name"] == source_node), None)
    groups = {}
    for cpu in cpus:
        if cpu["arch"] == arch:
            groups.setdefault((cpu["vendor"], frozenset(cpu["flags"])), []).append(cpu["name"])
    group_list = sorted(sorted(str(name) for name in names) for names in groups.values())
    for cpu in cpus:
        entry = {"name": cpu["name"], "missing": [], "missing_flags": [], "unverified": [], "reasons": []}
        if cpu["arch"] != arch:
            entry.update(runs=False, reasons=["the node is %s, the guest %s" % (cpu["arch"], arch)])
        elif source is not None:
            lacks = sorted(source["flags"] - cpu["flags"])
            more = sorted(cpu["flags"] - source["flags"])
            same = not lacks and not more and source["vendor"] == cpu["vendor"]
            entry["runs"] = True if same else False
            entry["missing_flags"] = lacks
            if not same:
                entry["reasons"].append("%s on a mixed cluster: this CPU differs from %s's (lacks: %s; has more: %s)"
                                        % (cputype, source_node, " ".join(lacks) or "-", " ".join(more) or "-"))
        elif len(groups) == 1:
            entry["runs"] = True
        else:
            entry["runs"] = None
            entry["reasons"].append("%s on a mixed cluster: live migration only between nodes with the same CPU; groups: %s"
                                    % (cputype, " | ".join(", ".join(group) for group in group_list)))
        entries.append(entry)
    return entries, group_list


def check_guest_cpu(cpu_option, nodes, arch=None, custom_models=None, source_node=None):
    """On which nodes a guest's CPU type (PVE's cpu option) could not run, and why.

    ``nodes`` are node dicts (as read_node or analyze_node give them); ``arch`` is the guest's
    architecture (default: ``source_node``'s, else x86_64); ``custom_models`` maps custom model
    names to their definitions (``{"reported-model": ..., "flags": ...}`` or a property string);
    ``source_node`` is the node the guest runs on, for host and max.  Each node gets ``runs``:
    True, False (it lacks something), or None (its data cannot decide).
    """
    parsed = parse_cpu_option(cpu_option)
    cpus = sorted((read_node(node) for node in nodes), key=lambda cpu: str(cpu["name"]))
    source = next((cpu for cpu in cpus if cpu["name"] == source_node), None)
    arch = arch or (source["arch"] if source is not None else None) or "x86_64"
    answer = {"cpu": parsed, "cpu_type": None, "qemu_model": None, "arch": arch, "error": parsed["error"], "nodes": [],
              "blocked": [], "unverified_nodes": [], "groups": None, "ok": False}
    if parsed["error"]:
        return answer
    cputype = parsed["cputype"] or DEFAULT_TYPE.get(arch, "kvm64")
    answer["cpu_type"] = cputype
    if cputype in HOST_TYPES:
        entries, groups = _host_check(cputype, cpus, source_node, arch)
        answer["groups"] = groups
    else:
        features, why, _vendor, key = _base(cputype, arch, custom_models)
        answer["qemu_model"] = key
        if features is None and why is None:
            answer["error"] = "unknown CPU type %r: not a PVE model, level or custom-<name>" % cputype
            return answer
        entries = []
        for cpu in cpus:
            entry = {"name": cpu["name"], "missing": [], "missing_flags": [], "unverified": [], "reasons": []}
            if cpu["arch"] != arch:
                entry.update(runs=False, reasons=["the node is %s, the guest %s" % (cpu["arch"], arch)])
            elif features is None:
                entry.update(runs=None, reasons=[why])
            else:
                status = _node_check(_with_flags(features, parsed["flags"]), cpu, named=key is not None and cputype not in catalog.GENERIC_TYPES)
                entry.update(missing=status["missing"], missing_flags=cpuinfo_flags_of(status["missing"]),
                             unverified=status["unverified"], reasons=status["reasons"],
                             runs=False if status["missing"] else None if status["unverified"] else True)
            entries.append(entry)
    answer["nodes"] = entries
    answer["blocked"] = [entry["name"] for entry in entries if entry["runs"] is False]
    answer["unverified_nodes"] = [entry["name"] for entry in entries if entry["runs"] is None]
    answer["ok"] = all(entry["runs"] is True for entry in entries)
    return answer
