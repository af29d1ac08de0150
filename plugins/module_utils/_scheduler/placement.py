# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Placement: the best node for a new guest of a given size and tags, under the same rules and limits as the planner."""

from __future__ import annotations

from .planner import Planner
from .rules import Rules
from .scenario import ScenarioError, load, split_tags

# The new guest waits on a node of its own that is in maintenance, so that every rule sees
# it as a guest that must go somewhere (the name sorts after any real node name).
WAITING_NODE = "~new-guest"


def _size(size):
    """maxmem, maxcpu, mem, cpu (cores), balloon from an int (memory bytes) or a dict."""
    if isinstance(size, (int, float)):
        size = {"maxmem": int(size)}
    if not isinstance(size, dict) or not size.get("maxmem") and not size.get("memory"):
        raise ScenarioError("size needs maxmem (bytes)")
    maxmem = int(size.get("maxmem") or size.get("memory"))
    maxcpu = float(size.get("maxcpu") or size.get("cores") or 1)
    return {"maxmem": maxmem, "maxcpu": maxcpu, "mem": int(size.get("mem", maxmem)),
            "cpu": size.get("cpu"), "balloon": size.get("balloon")}


def place(scenario, size, tags=None, options=None, vmid=None, pool=None, kind="qemu"):
    """The best node for a new guest, as a dict.

    ``size``: memory in bytes, or {maxmem, maxcpu, mem (expected use, default maxmem),
    cpu (expected cores in use, default: the cluster's average share of a vCPU times
    maxcpu), balloon}.  ``tags``: list or ";" string (plb_pin_*, plb_affinity_*,
    plb_anti_affinity_*).  ``vmid`` (so that HA rules naming it apply), ``pool`` and
    ``kind`` (qemu or lxc) are optional.

    Returns ``{"node": name or None, "reason": text, "candidates": [{node, score,
    mem_util_after, cpu_util_after}], "rejected": {node: why}}``; candidates best first.
    """
    scenario = dict(scenario)
    spec = _size(size)
    resources = list(scenario.get("resources") or [])
    taken = [int(item["vmid"]) for item in resources if item.get("type") in ("qemu", "lxc") and item.get("vmid") is not None]
    vmid = int(vmid) if vmid is not None else max(taken + [99]) + 1
    if vmid in taken:
        raise ScenarioError("vmid %d is already in the scenario" % vmid)
    running = [item for item in resources if item.get("type") in ("qemu", "lxc") and item.get("status") == "running"]
    share = sum(float(item.get("cpu") or 0) for item in running) / len(running) if running else 0.1
    cpu = spec["cpu"] if spec["cpu"] is not None else share * spec["maxcpu"]
    guest = {"type": kind, "vmid": vmid, "name": "new", "node": WAITING_NODE, "status": "running",
             "maxmem": spec["maxmem"], "mem": spec["mem"], "maxcpu": spec["maxcpu"],
             "cpu": cpu / spec["maxcpu"] if spec["maxcpu"] else 0.0, "tags": ";".join(split_tags(tags))}
    if spec["balloon"] is not None:
        guest["balloon"] = spec["balloon"]
    if pool:
        guest["pool"] = pool
    resources.append({"type": "node", "node": WAITING_NODE, "status": "online", "maxmem": 0, "mem": 0, "maxcpu": 0, "cpu": 0})
    resources.append(guest)
    scenario["resources"] = resources
    scenario["maintenance"] = list(scenario.get("maintenance") or []) + [WAITING_NODE]
    layered = dict(options or {})
    layered["allow_lxc_restart"] = True     # a new guest is not running anywhere yet
    layered["with_local_disks"] = True
    model = load(scenario, layered)
    rules = Rules(model)
    planner = Planner(model, rules)
    planner.set_targets(model.by_vmid[vmid].load_mem, model.by_vmid[vmid].load_cpu)
    uid = rules.unit_of[vmid]
    unit = rules.units[uid]
    others = {planner.loc[member.vmid] for member in unit.members if member.vmid != vmid}
    claim = model.by_vmid[vmid].claim
    load_mem, load_cpu = model.by_vmid[vmid].load_mem, model.by_vmid[vmid].load_cpu
    candidates, rejected = [], {}
    for node in model.nodes:
        i = node.index
        if node.name == WAITING_NODE:
            continue
        why = None
        if not node.active:
            why = "offline" if not node.online else "in maintenance"
        elif unit.allowed is not None and i not in unit.allowed:
            why = "not allowed by %s" % "; ".join(rules.allowed_why.get(vmid) or ["the rules of its affinity group"])
        elif others and i not in others:
            why = "its affinity group is on %s" % ",".join(sorted(model.nodes[j].name for j in others))
        elif not _anti_free(planner, vmid, i):
            why = "anti-affinity: a guest of its group is there"
        elif planner.cap[i] + claim > planner.lim[i]:
            why = "no room: %d MiB claimed + %d MiB > limit %d MiB" % (planner.cap[i] // 2 ** 20, claim // 2 ** 20, planner.lim[i] // 2 ** 20)
        if why:
            rejected[node.name] = why
            continue
        score = planner.node_term(i, planner.lm[i] + load_mem, planner.lc[i] + load_cpu) - planner.node_term(i, planner.lm[i], planner.lc[i])
        candidates.append({"node": node.name, "score": score,
                           "mem_util_after": (planner.lm[i] + load_mem) / planner.cm[i],
                           "cpu_util_after": (planner.lc[i] + load_cpu) / planner.cc[i]})
    candidates.sort(key=lambda entry: (entry["score"], entry["node"]))
    if not candidates:
        return {"node": None, "reason": "no node can take it", "candidates": [], "rejected": rejected}
    return {"node": candidates[0]["node"], "reason": "the best balance among %d possible nodes" % len(candidates),
            "candidates": candidates, "rejected": rejected}


def _anti_free(planner, vmid, node):
    """No other guest of the new guest's anti-affinity groups is on ``node``."""
    counts = planner.anti[node]
    return all(not counts.get(gid, 0) for gid in planner.anti_of.get(vmid, ()))
