# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cpu_baseline module as plain data: option checks, node input from PVE's status, the node table, guard and apply rows."""

from __future__ import annotations

import re

from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline import catalog
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.guard import check_guest_cpu, parse_cpu_option
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.guard import CPU_OPTION_KEYS, DEFAULT_TYPE, HOST_TYPES
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.qemu_models import PVE_MODELS
from ansible_collections.proxops.proxmox.plugins.module_utils._pve_formats import is_node_name, is_vmid

SELECTORS = ("vmids", "tags", "pool", "node")
_TYPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_CUSTOM_ID = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]*$")  # cpu-models.conf section ids (CPUConfig.pm, pve-cpu-model id)
_RELEASE = re.compile(r"pve-manager/(\d+)\.(\d+)")
_CUSTOM_KEYS = ("reported-model", "flags", "hidden", "hv-vendor-id", "phys-bits", "guest-phys-bits")


# --- options ------------------------------------------------------------------------
def known_type(name):
    """Whether ``name`` is a CPU type PVE takes: host/max, a custom-<id>, an x86-64 level or a model PVE lists."""
    if name in HOST_TYPES or name in catalog.PVE_BUILTIN_TYPES or name in PVE_MODELS or name in catalog.PVE_DEPRECATED:
        return True
    return name.startswith("custom-") and bool(_CUSTOM_ID.match(name[len("custom-"):]))


def _custom_model_errors(custom_models):
    errors = []
    for name, definition in sorted((custom_models or {}).items()):
        where = "custom_models.%s" % name
        if not _CUSTOM_ID.match(str(name[len("custom-"):] if str(name).startswith("custom-") else name)):
            errors.append("%s: not a custom model id (a letter, then letters, digits, '-', '_' or '.')" % where)
            continue
        if isinstance(definition, str):
            parsed = parse_cpu_option(definition)
            if parsed["error"]:
                errors.append("%s: %s" % (where, parsed["error"]))
            continue
        if not isinstance(definition, dict):
            errors.append("%s: give the section of cpu-models.conf as a dict (reported-model, flags, ...)" % where)
            continue
        unknown = sorted(set(definition) - set(_CUSTOM_KEYS))
        if unknown:
            errors.append("%s: unknown keys %s (known: %s)" % (where, ", ".join(unknown), ", ".join(_CUSTOM_KEYS)))
        reported = definition.get("reported-model")
        if reported is not None and (reported in HOST_TYPES or catalog.type_features(reported) is None):
            errors.append("%s: reported-model %r is not a QEMU model PVE offers" % (where, reported))
        if definition.get("flags") is not None and parse_cpu_option("kvm64,flags=%s" % definition["flags"])["error"]:
            errors.append("%s: flags %r: give +FLAG or -FLAG items separated by ';'" % (where, definition["flags"]))
    return errors


def option_errors(params):
    """What is wrong with the cpu_baseline module's options, before any request: one message per problem."""
    errors = []
    acts = [key for key in ("guard", "apply") if params.get(key)]
    many = [key for key in SELECTORS if params.get(key) not in (None, [])]
    every = bool(params.get("all"))
    if acts and not many and not every:
        errors.append("%s: choose the guests with vmids, tags, pool or node, or all=true" % " and ".join(acts))
    if not acts:
        for key in many + (["all"] if every else []):
            errors.append("%s: chooses guests for guard or apply; set guard=true or apply=true, or leave it out" % key)
    if every and many:
        errors.append("all: true chooses every QEMU guest of the cluster; leave it out when choosing by %s" % ", ".join(many))
    bad = [vmid for vmid in params.get("vmids") or [] if not is_vmid(vmid)]
    if bad:
        errors.append("vmids: %s not a guest ID (100 to 999999999)" % ", ".join(repr(vmid) for vmid in bad))
    if params.get("node") is not None and not is_node_name(params["node"]):
        errors.append("node: %r is not a node name" % (params["node"],))
    cpu_type = params.get("cpu_type")
    if cpu_type is not None:
        if not params.get("apply"):
            errors.append("cpu_type: the type to set with apply=true; without apply the module only reads")
        if not _TYPE_NAME.match(cpu_type) or "," in cpu_type or "=" in cpu_type:
            errors.append("cpu_type: %r: give one CPU type name such as x86-64-v3 or EPYC-Rome, no flags or other keys" % (cpu_type,))
        elif not known_type(cpu_type):
            errors.append("cpu_type: %r is not a CPU type PVE offers (an x86-64-vN level, a QEMU model such as Skylake-Server, "
                          "host, max, or custom-<id>)" % (cpu_type,))
    errors += _custom_model_errors(params.get("custom_models"))
    if params.get("parallel") is not None and params["parallel"] < 1:
        errors.append("parallel: give 1 or more")
    return errors


# --- what PVE's node status says ------------------------------------------------------
def pve_release(pveversion):
    """``9.1`` of ``pve-manager/9.1.1/...``; None when the string says no release."""
    found = _RELEASE.search(pveversion or "")
    return "%s.%s" % found.groups() if found else None


def node_input(name, status):
    """The library's node dict from ``GET /nodes/{node}/status``: cpuinfo's flags, model, vendor, family; the kernel's machine."""
    cpuinfo = dict((status or {}).get("cpuinfo") or {})
    node = {"name": name, "flags": cpuinfo.get("flags") or ""}
    # read_cpuinfo's defaults ("unknown", 0) say nothing: leave them out so the library infers or says unknown
    if cpuinfo.get("model") not in (None, "", "unknown"):
        node["model"] = cpuinfo["model"]
    if cpuinfo.get("vendor") not in (None, "", "unknown"):
        node["vendor"] = cpuinfo["vendor"]
    if cpuinfo.get("family") not in (None, "", 0, "0"):
        node["family"] = cpuinfo["family"]
    machine = ((status or {}).get("current-kernel") or {}).get("machine")
    if machine:
        node["arch"] = machine
    return node


def offered_types(models):
    """The CPU type names one ``capabilities/qemu/cpu`` answer lists, with host and max (valid on every node)."""
    return set(item.get("name") for item in models or [] if item.get("name")) | set(HOST_TYPES)


# --- the table --------------------------------------------------------------------
def _offered(name, offered):
    return offered is None or name in offered


def _type_for(model, level):
    """The PVE type for a node or cluster: the named model when it gives at least the level, else the level's type."""
    if level is None:
        return None
    key = catalog.qemu_key(model) if model else None
    if key is not None and catalog.level_index(catalog.model_level(key)) >= catalog.level_index(level):
        return model
    return catalog.level_cpu_type(level)


def _lacks(entry):
    if not entry:
        return None
    return {"name": entry["name"], "missing_flags": list(entry.get("missing_flags") or []),
            "missing": list(entry.get("missing") or []), "unverified": list(entry.get("unverified") or [])}


def node_row(analysis, status, offered=None):
    """One node of the answer: the library's analysis, with the best named model PVE offers and what the node lacks."""
    cpuinfo = (status or {}).get("cpuinfo") or {}
    model = next((name for name in analysis["models"] if _offered(name, offered)), None)
    cpu_type = analysis["cpu_type"]
    if cpu_type is not None and not _offered(cpu_type, offered):
        cpu_type = _type_for(model, analysis["level"])
    lacks = analysis.get("lacks") or {}
    return {
        "name": analysis["name"], "arch": analysis["arch"], "vendor": analysis["vendor"], "vendor_source": analysis["vendor_source"],
        "model_name": analysis["model_name"], "sockets": cpuinfo.get("sockets"), "cpus": cpuinfo.get("cpus"),
        "pve_version": pve_release((status or {}).get("pveversion")), "level": analysis["level"],
        "level_cpu_type": analysis["level_cpu_type"], "model": model, "cpu_type": cpu_type,
        "models": [name for name in analysis["models"] if _offered(name, offered)],
        "unverified_models": [{"model": item["model"], "features": sorted(item["features"])} for item in analysis["unverified_models"]],
        "next_level": _lacks(lacks.get("next_level")), "next_model": _lacks(lacks.get("next_model")), "note": analysis["note"],
    }


def cluster_answer(baseline, offered=None, releases=None):
    """The cluster part of the answer; a named model only when every node's PVE surely offers it.

    ``offered``: the type names PVE lists for the cluster's architecture (None: unknown);
    ``releases``: {node: "9.1"}.  The model list comes from the node that answers the API
    call, so with nodes on different releases a named model falls back to the level.
    """
    answer = {key: baseline[key] for key in ("architecture", "cluster_cpu_type", "kind", "reason", "vendor", "level", "model")}
    answer["next_level"] = dict(baseline["next_level"]) if baseline["next_level"] else None
    answer["next_model"] = ({"name": baseline["next_model"]["name"], "held_back_by": list(baseline["next_model"]["held_back_by"])}
                            if baseline["next_model"] else None)
    answer["unverified_models"] = [{"model": item["model"], "unverified": item["unverified"]} for item in baseline["unverified_models"]]
    problem = None
    distinct = sorted(set(release for release in (releases or {}).values() if release))
    if answer["model"] is not None and len(distinct) > 1:
        problem = "the nodes run different PVE releases (%s) and the model list is the answering node's" % ", ".join(distinct)
    elif answer["model"] is not None and not _offered(answer["model"], offered):
        problem = "PVE here does not offer the model %s" % answer["model"]
    if problem:
        answer["model"] = None
        if answer["kind"] == "model":
            answer["cluster_cpu_type"], answer["kind"] = catalog.level_cpu_type(answer["level"]), "level"
            answer["reason"] = "%s: the level %s instead" % (problem, answer["level"])
    held = set()
    for step in (answer["next_level"], answer["next_model"]):
        held.update(step["held_back_by"] if step else [])
    answer["held_back_by"] = sorted(held)
    return answer


# --- guests -----------------------------------------------------------------------
def format_cpu(parsed):
    """PVE's cpu property string of a parsed option (cputype first, unnamed), or None for no type."""
    if not parsed.get("cputype"):
        return None
    parts = [parsed["cputype"]]
    if parsed.get("flags"):
        parts.append("flags=" + ";".join(item["op"] + item["flag"] for item in parsed["flags"]))
    for key in CPU_OPTION_KEYS:
        if key in ("cputype", "flags") or parsed.get(key) is None:
            continue
        value = parsed[key]
        parts.append("%s=%s" % (key, int(value) if isinstance(value, bool) else value))
    return ",".join(parts)


def _comparable(value, arch):
    parsed = parse_cpu_option(value)
    if parsed["error"]:
        return ("error", value)
    others = tuple((key, str(int(parsed[key]) if isinstance(parsed[key], bool) else parsed[key]))
                   for key in CPU_OPTION_KEYS if key not in ("cputype", "flags") and parsed.get(key) is not None)
    flags = frozenset((item["op"], item["flag"]) for item in parsed["flags"])
    return (parsed["cputype"] or DEFAULT_TYPE.get(arch, "kvm64"), flags, others)


def same_cpu(current, desired, arch="x86_64"):
    """Whether two cpu options give the guest the same CPU: no option is PVE's default type; flag order does not count."""
    return _comparable(current, arch) == _comparable(desired, arch)


def guest_arch(guest, config, node_arch):
    """A QEMU guest's architecture: its config's ``arch``, else its node's."""
    return (config or {}).get("arch") or node_arch.get(guest.get("node")) or "x86_64"


def _not_offered(cputype, offered):
    """Why PVE would not start this type, from the model list; None when it is listed (or the list is unknown)."""
    if offered is None or not cputype or cputype in offered or cputype in catalog.PVE_DEPRECATED:
        return None
    if cputype.startswith("custom-"):
        if any(name.startswith("custom-") for name in offered):
            return "PVE lists no custom model %s (cpu-models.conf)" % cputype
        return None  # no custom model listed: none exist, or the caller lacks Sys.Audit on /nodes
    return "PVE does not offer the CPU type %s" % cputype


def guard_row(guest, config, nodes, node_arch, custom_models=None, offered_by_arch=None):
    """Whether a guest's configured cpu runs on every node: the nodes that block live migration to them, and why."""
    cpu = (config or {}).get("cpu")
    arch = guest_arch(guest, config, node_arch)
    check = check_guest_cpu(cpu, nodes, arch=arch, custom_models=custom_models, source_node=guest.get("node"))
    names = sorted(str(node["name"]) for node in nodes)
    row = {"vmid": int(guest["vmid"]), "name": guest.get("name"), "node": guest.get("node"), "status": guest.get("status"),
           "cpu": cpu, "arch": arch, "cpu_type": check["cpu_type"], "ok": check["ok"], "blocked_nodes": list(check["blocked"]),
           "unverified_nodes": list(check["unverified_nodes"]),
           "reasons": {entry["name"]: "; ".join(entry["reasons"]) for entry in check["nodes"] if entry["reasons"]}}
    problem = check["error"] or _not_offered(check["cpu_type"], (offered_by_arch or {}).get(arch))
    if problem:
        row.update(ok=False, blocked_nodes=names, unverified_nodes=[], reasons={name: problem for name in names})
    return row


def plan_cpu(current, cpu_type, nodes, arch, source_node, custom_models=None):
    """The cpu option to set: ``cpu_type`` with the other parts of the current option that stay valid on every node.

    Kept: ``-FLAG`` items (taking a feature away never blocks migration), ``+FLAG`` items every
    node runs with the new type (checked one by one), and the keys that do not name features
    (hidden, hv-vendor-id, phys-bits, guest-phys-bits, level).  Dropped flags are listed.
    Returns {"after", "dropped_flags", "check"}: ``check`` is the guard's answer for ``after``.
    """
    parsed = parse_cpu_option(current)
    if parsed["error"]:
        parsed = {"cputype": None, "flags": []}  # PVE would not start it either: nothing of it is worth keeping
    kept, dropped = [], []
    for item in parsed.get("flags") or []:
        if item["op"] == "-":
            kept.append(item)
            continue
        check = check_guest_cpu("%s,flags=+%s" % (cpu_type, item["flag"]), nodes, arch=arch, custom_models=custom_models,
                                source_node=source_node)
        (kept if check["ok"] else dropped).append(item)
    new = {key: value for key, value in parsed.items() if key not in ("error", "cputype", "flags")}
    new.update(cputype=cpu_type, flags=kept)
    after = format_cpu(new)
    check = check_guest_cpu(after, nodes, arch=arch, custom_models=custom_models, source_node=source_node)
    return {"after": after, "dropped_flags": ["+" + item["flag"] for item in dropped], "check": check}


def target_problem(cpu_type, check, offered):
    """Why ``cpu_type`` must not be set (a node cannot run it, or PVE does not offer it); None when it may."""
    problem = _not_offered(cpu_type, offered)
    if problem:
        return problem
    if check["error"]:
        return check["error"]
    if check["blocked"]:
        reasons = {entry["name"]: "; ".join(entry["reasons"]) for entry in check["nodes"] if entry["name"] in check["blocked"]}
        return "%s cannot run on %s" % (cpu_type, "; ".join("%s (%s)" % (name, reasons[name] or "lacks it") for name in sorted(reasons)))
    return None
