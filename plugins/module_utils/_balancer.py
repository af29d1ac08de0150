# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The balancer's pure helpers: option checks, API data to the scheduler's scenario, migration checks, result shapes."""

from __future__ import annotations

import re

MIB = 1024 * 1024

# A guest the module itself keeps in place gets this tag in the scenario (the scheduler takes
# "may not move" only from tags and guest flags); the reason is kept beside it.
HOLD_TAG = "plb_ignore_balancer"

ACTIONS = ("balance", "place")
HA_POLICIES = ("auto", "balance", "leave")
ON_FAILURE = ("stop", "continue")
RULE_TYPES = ("node-affinity", "resource-affinity")

# Module option -> scheduler option, for those passed on as they are.
SCHEDULER_OPTIONS = {
    "mode": "mode",
    "mem_weight": "mem_weight",
    "cpu_weight": "cpu_weight",
    "mem_limit": "mem_limit",
    "memory_basis": "memory_basis",
    "threshold": "threshold",
    "cpu_threshold": "cpu_threshold",
    "max_migrations": "max_migrations",
    "include_stopped": "include_stopped",
    "include_templates": "include_templates",
    "with_local_disks": "with_local_disks",
    "allow_lxc_restart": "allow_lxc_restart",
    "pools_as": "pools_as",
    "pools": "pools",
}

_ABORT_CAUSE = re.compile(r"migration aborted \(duration [^)]*\): (.*)$")


# --- options ------------------------------------------------------------------------------------
def option_errors(params):
    """What is wrong with the options, one message each, naming the option (before any request)."""
    errors = []
    for name in ("mem_weight", "cpu_weight", "threshold", "cpu_threshold"):
        if params.get(name) is not None and params[name] < 0:
            errors.append("%s: must not be negative, got %s" % (name, params[name]))
    if params.get("mem_weight") == 0 and params.get("cpu_weight") == 0:
        errors.append("mem_weight and cpu_weight: they cannot both be 0")
    if params.get("mem_limit") is not None and not 0 < params["mem_limit"] <= 1:
        errors.append("mem_limit: a fraction of a node's memory, above 0 and at most 1, got %s" % params["mem_limit"])
    if params.get("max_migrations") is not None and params["max_migrations"] < 0:
        errors.append("max_migrations: give 0 or more, got %s" % params["max_migrations"])
    if params.get("parallel") is not None and params["parallel"] < 1:
        errors.append("parallel: give 1 or more, got %s" % params["parallel"])
    if params.get("timeout") is not None and params["timeout"] < 1:
        errors.append("timeout: give 1 or more seconds, got %s" % params["timeout"])
    if params.get("mode") == "assigned" and params.get("memory_basis") not in (None, "max"):
        errors.append("memory_basis: mode=assigned counts every guest by its maxmem; leave memory_basis out or give max")
    if params.get("pools") and not params.get("pools_as"):
        errors.append("pools: only with pools_as (affinity or anti-affinity)")
    for name in params.get("maintenance_nodes") or []:
        if not name or not isinstance(name, str):
            errors.append("maintenance_nodes: %r is not a node name" % (name,))
    errors += rule_errors(params.get("rules") or [])
    place = params.get("action") == "place"
    if place:
        if params.get("memory") is None:
            errors.append("memory: action=place needs the new guest's memory (MiB)")
        elif params["memory"] < 1:
            errors.append("memory: give 1 MiB or more, got %s" % params["memory"])
        if params.get("cores") is not None and params["cores"] < 1:
            errors.append("cores: give 1 or more, got %s" % params["cores"])
        if params.get("vmid") is not None and params["vmid"] < 1:
            errors.append("vmid: give a guest ID of 1 or more, got %s" % params["vmid"])
    else:
        for name in ("memory", "tags", "vmid", "pool"):
            if params.get(name) not in (None, []):
                errors.append("%s: only with action=place (it describes the new guest to place)" % name)
    return errors


def rule_errors(rules):
    """Problems of the O(rules) option, each naming rules[N]."""
    errors = []
    for number, rule in enumerate(rules):
        where = "rules[%d]" % number
        if not isinstance(rule, dict):
            errors.append("%s: a rule is a dict with type and resources" % where)
            continue
        unknown = sorted(set(rule) - {"type", "resources", "nodes", "affinity", "strict", "rule", "disable", "comment"})
        if unknown:
            errors.append("%s: unknown key(s) %s" % (where, ", ".join(unknown)))
        kind = rule.get("type")
        if kind not in RULE_TYPES:
            errors.append("%s.type: one of %s, got %r" % (where, ", ".join(RULE_TYPES), kind))
        try:
            sids = resource_ids(rule.get("resources"))
        except ValueError as err:
            errors.append("%s.resources: %s" % (where, err))
            sids = None
        if sids == []:
            errors.append("%s.resources: name the guests, e.g. [vm:100, ct:101] or [100, 101]" % where)
        if kind == "node-affinity":
            try:
                if not node_priorities(rule.get("nodes")):
                    errors.append("%s.nodes: a node-affinity rule names its nodes (node or node:priority)" % where)
            except ValueError as err:
                errors.append("%s.nodes: %s" % (where, err))
            if rule.get("affinity") is not None:
                errors.append("%s.affinity: only for resource-affinity rules" % where)
        elif kind == "resource-affinity":
            if rule.get("affinity") not in ("positive", "negative"):
                errors.append("%s.affinity: positive or negative, got %r" % (where, rule.get("affinity")))
            if rule.get("nodes") is not None:
                errors.append("%s.nodes: only for node-affinity rules" % where)
            if sids and len(sids) < 2:
                errors.append("%s.resources: a resource-affinity rule needs two guests or more" % where)
    return errors


def resource_ids(resources):
    """HA resource ids ("vm:100") of a rule's resources: a list of ids or vmids, or one "vm:100,ct:101" string."""
    if resources is None:
        return []
    if isinstance(resources, (str, int)):
        resources = [part for part in str(resources).replace(";", ",").split(",") if part.strip()]
    sids = []
    for entry in resources:
        text = str(entry).strip()
        kind, sep, vmid = text.partition(":")
        if not sep:
            kind, vmid = "vm", text
        if kind not in ("vm", "ct") or not vmid.isdigit():
            raise ValueError("%r is not a guest: give a vmid or vm:<vmid> / ct:<vmid>" % text)
        sids.append("%s:%d" % (kind, int(vmid)))
    return sids


def node_priorities(nodes):
    """{node: priority} of a node-affinity rule's nodes: "n1:2,n2", a list of such entries, or a dict."""
    if nodes is None:
        return {}
    if isinstance(nodes, dict):
        items = [(str(name), priority) for name, priority in nodes.items()]
    else:
        if isinstance(nodes, str):
            nodes = [part for part in nodes.split(",") if part.strip()]
        items = [str(entry).strip().partition(":")[::2] for entry in nodes]
    result = {}
    for name, priority in items:
        if not name:
            raise ValueError("an empty node name")
        try:
            result[name] = int(priority or 0)
        except (TypeError, ValueError):
            raise ValueError("priority of node %s must be a number, got %r" % (name, priority)) from None
    return result


def scheduler_rules(rules):
    """The O(rules) option as the scheduler takes rules (HA rule shape)."""
    shaped = []
    for number, rule in enumerate(rules or []):
        item = {"type": rule["type"], "resources": ",".join(resource_ids(rule["resources"])),
                "rule": rule.get("rule") or "rules[%d]" % number}
        if rule["type"] == "node-affinity":
            item["nodes"] = ",".join("%s:%d" % pair for pair in sorted(node_priorities(rule["nodes"]).items()))
            item["strict"] = 1 if rule.get("strict") else 0
        else:
            item["affinity"] = rule["affinity"]
        if rule.get("disable"):
            item["disable"] = 1
        shaped.append(item)
    return shaped


def scheduler_options(params, extra_rules=None):
    """The scheduler's options from the module's."""
    options = {key: params.get(name) for name, key in SCHEDULER_OPTIONS.items() if params.get(name) is not None}
    if params.get("mode") == "assigned":
        options.pop("memory_basis", None)
    options["rules"] = scheduler_rules(params.get("rules")) + list(extra_rules or [])
    options["maintenance"] = sorted(set(params.get("maintenance_nodes") or []))
    return options


# --- cluster data -------------------------------------------------------------------------------
def crs_auto_rebalance(cluster_options):
    """Whether the cluster's CRS rebalances HA resources by itself: ``ha-auto-rebalance=1`` in the ``crs`` property string."""
    crs = (cluster_options or {}).get("crs")
    if isinstance(crs, dict):
        return str(crs.get("ha-auto-rebalance", "0")) in ("1", "true")
    for part in str(crs or "").split(","):
        key, _sep, value = part.partition("=")
        if key.strip() == "ha-auto-rebalance":
            return value.strip() in ("1", "true", "yes", "on")
    return False


def ha_managed(guest):
    """Whether the HA manager manages a guest item of /cluster/resources (``hastate``, not ``ignored``)."""
    return bool(guest.get("hastate")) and guest.get("hastate") != "ignored"


def sid_of(guest):
    return ("ct:%s" if guest.get("type") == "lxc" else "vm:%s") % guest["vmid"]


def ha_maintenance_nodes(resources):
    """Nodes the HA manager reports in maintenance mode (node item ``hastate``)."""
    return sorted(item["node"] for item in resources if item.get("type") == "node" and item.get("hastate") == "maintenance")


def balloon_bytes(config):
    """What a QEMU config guarantees with ballooning, in bytes: ``balloon`` (MiB; 0 = off), absent = ``memory``."""
    memory = int(config.get("memory") or 512)
    balloon = config.get("balloon")
    if balloon is None or balloon == "":
        return memory * MIB
    return int(balloon) * MIB


def build_scenario(resources, ha_rules=None, maintenance=(), ksm=None, balloons=None, holds=None):
    """The scheduler's scenario (FORMAT.md) from API data.

    ``ksm``: node -> bytes KSM shares; ``balloons``: vmid -> balloon floor (bytes);
    ``holds``: vmid -> why the module keeps the guest where it is (tagged HOLD_TAG).
    """
    items = []
    holds = holds or {}
    for item in resources:
        kind = item.get("type")
        if kind == "node":
            node = dict(item)
            if node.get("status") != "online":  # PVE gives no figures for an offline node
                node.update(mem=node.get("mem") or 0, cpu=node.get("cpu") or 0)
            if ksm and node["node"] in ksm:
                node["ksm_shared"] = ksm[node["node"]]
            items.append(node)
        elif kind in ("qemu", "lxc") and item.get("vmid") is not None:
            guest = dict(item)
            vmid = int(item["vmid"])
            if balloons and vmid in balloons:
                guest["balloon"] = balloons[vmid]
            if vmid in holds:
                guest["tags"] = ";".join([tag for tag in (item.get("tags") or "").split(";") if tag] + [HOLD_TAG])
            items.append(guest)
    return {"name": "cluster", "resources": items, "ha_rules": list(ha_rules or []), "maintenance": sorted(set(maintenance))}


# --- migration preconditions ----------------------------------------------------------------------
def precondition_limits(kind, answer, running, with_local_disks):
    """What ``GET .../migrate`` says about moving a guest: ``(why it cannot move at all or None, allowed nodes or None)``.

    PVE 9 lists every other node under ``not_allowed_nodes``, as ``{}`` when it is allowed, so
    only a non-empty entry blocks a node.  Local disks need O(with_local_disks); a running VM
    cannot copy a local disk that a snapshot references, nor a local CD-ROM image.
    """
    answer = answer or {}
    if kind == "qemu":
        blocked = answer.get("not_allowed_nodes") or {}
        allowed = answer.get("allowed_nodes")
        resources = list(answer.get("local_resources") or [])
        if resources:
            return "local resources that cannot migrate: %s" % ", ".join(sorted(resources)), None
        disks = list(answer.get("local_disks") or [])
        for disk in disks:
            volid = disk.get("volid", "?")
            if int(disk.get("cdrom") or 0) and not re.search(r"vm-\d+-cloudinit", volid):
                return "a local CD-ROM image (%s) cannot migrate" % volid, None
        attached = [disk.get("volid", "?") for disk in disks if int(disk.get("is_attached", 1) or 0)]
        if running and attached and not with_local_disks:
            return "a running VM with local disks (%s) moves only with with_local_disks" % ", ".join(sorted(attached)), None
        if running:
            snapshotted = [disk.get("volid", "?") for disk in disks if disk.get("referenced_in_snapshot")]
            if snapshotted:
                return ("a running VM cannot copy local disks that snapshots reference (%s)"
                        % ", ".join(sorted(snapshotted))), None
    else:
        blocked = answer.get("not-allowed-nodes") or {}
        allowed = answer.get("allowed-nodes")
    free = set(allowed or []) | {node for node, why in blocked.items() if not why}
    blocked = {node for node, why in blocked.items() if why}
    if not blocked:
        return None, None
    return None, sorted(free - blocked)


def allowed_nodes_rule(guest, nodes):
    """A strict node-affinity rule keeping a guest on the nodes its migration check allows."""
    return {"type": "node-affinity", "resources": sid_of(guest), "nodes": ",".join(list(nodes) + [guest["node"]]),
            "strict": 1, "rule": "migration check of %s" % sid_of(guest)}


def task_cause(log):
    """The cause of a failed migration from its task log (PVE: "migration aborted (duration ...): <cause>"), or None."""
    for line in reversed(log or []):
        match = _ABORT_CAUSE.search(line)
        if match:
            return match.group(1).strip()
    return None


def migrate_params(move, running, with_local_disks, local_disks):
    """The parameters of ``POST /nodes/{node}/{qemu,lxc}/{vmid}/migrate`` for one move."""
    params = {"target": move["target"]}
    if move["type"] == "qemu":
        if running:
            params["online"] = 1
        if with_local_disks and local_disks:
            params["with-local-disks"] = 1
    elif running:
        params["restart"] = 1
    return params


# --- results ----------------------------------------------------------------------------------------
def usage(nodes_table):
    """Per node: status, memory and CPU use and utilisation (fractions), memory limit, guests."""
    return {name: {"status": entry["status"], "mem": entry["mem"], "maxmem": entry["maxmem"],
                   "mem_util": round(entry["mem_util"], 4), "cpu": entry["cpu"], "maxcpu": entry["maxcpu"],
                   "cpu_util": round(entry["cpu_util"], 4), "mem_limit": entry["mem_limit"], "guests": entry["guests"]}
            for name, entry in sorted(nodes_table.items())}


def metrics_of(metrics):
    """The FORMAT.md metrics of a plan (after it, and ``before``), without the per-node tables."""
    keep = ("mem_spread", "cpu_spread", "mem_stdev", "cpu_stdev", "migrations", "moved_mem_bytes", "waves",
            "violations", "violation_list", "plan_seconds", "before", "mode", "memory_basis")
    return {key: metrics[key] for key in keep if key in metrics}


def hold_reason(reason, holds, vmids):
    """A scheduler reason with the module's own holds spelt out (the scheduler names only the tag)."""
    text = str(reason)
    if "tag " + HOLD_TAG in text:
        why = "; ".join(holds[vmid] for vmid in vmids if vmid in holds)
        text = text.replace("tag " + HOLD_TAG, why or "held by the balancer")
    return text


def plan_moves(plan, managed_by_ha):
    """The plan's moves as the module reports them."""
    return [{"vmid": move["vmid"], "name": move["name"], "type": move["type"], "source": move["source"],
             "target": move["target"], "wave": move["wave"], "reason": move["reason"], "mem": move["mem"],
             "restart": bool(move["restart"]), "ha": move["vmid"] in managed_by_ha}
            for move in plan["moves"]]


def describe_move(move):
    return "%s %s (%s) %s -> %s" % (move["type"], move["vmid"], move["name"] or "-", move["source"], move["target"])


def placement_diff(moves, states=None):
    """``(before, after)`` of the guests that move (or would): ``{"qemu 100 (web1)": node}``."""
    before, after = {}, {}
    for move in moves:
        if states is not None and states.get(move["vmid"]) != "done":
            continue
        key = "%s %s%s" % (move["type"], move["vmid"], " (%s)" % move["name"] if move["name"] else "")
        before.setdefault(key, move["source"])
        after[key] = move["target"]
    return before, after


def place_size(memory_mib, cores):
    """The scheduler's size of a new guest: maxmem bytes and vCPUs."""
    return {"maxmem": int(memory_mib) * MIB, "maxcpu": int(cores or 1)}
