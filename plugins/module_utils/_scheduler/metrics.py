# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The metrics of FORMAT.md for any plan (ours or another planner's): spread, stdev, moves, violations at every wave."""

from __future__ import annotations

import math

from .rules import Rules
from .scenario import Model, load


def spread_and_stdev(values):
    """(max - min, population standard deviation) of a list of fractions; (0, 0) for none."""
    if not values:
        return 0.0, 0.0
    mean = sum(values) / len(values)
    return max(values) - min(values), math.sqrt(sum((value - mean) ** 2 for value in values) / len(values))


def node_usage(model, where):
    """Per node name: balance load and capacity claim of the placement ``where`` (vmid -> node name)."""
    usage = {}
    for node in model.nodes:
        usage[node.name] = {"mem": node.base_mem, "cpu": node.base_cpu, "claim": node.base_claim, "guests": 0}
    for guest in model.guests:
        if guest.managed:
            entry = usage[where[guest.vmid]]
            entry["mem"] += guest.load_mem
            entry["cpu"] += guest.load_cpu
            entry["claim"] += guest.claim
            entry["guests"] += 1
    return usage


def summary(model, usage):
    """Spread and stdev of memory and CPU utilisation over the online nodes outside maintenance."""
    active = [node for node in model.nodes if node.active]
    mem = [usage[node.name]["mem"] / node.maxmem for node in active if node.maxmem]
    cpu = [usage[node.name]["cpu"] / node.maxcpu for node in active if node.maxcpu]
    mem_spread, mem_stdev = spread_and_stdev(mem)
    cpu_spread, cpu_stdev = spread_and_stdev(cpu)
    return {"mem_spread": mem_spread, "cpu_spread": cpu_spread, "mem_stdev": mem_stdev, "cpu_stdev": cpu_stdev}


def node_table(model, usage):
    """The per-node view a report shows: load, capacity, utilisation, claim and limit."""
    table = {}
    for node in model.nodes:
        entry = usage[node.name]
        table[node.name] = {
            "status": "offline" if not node.online else "maintenance" if node.maintenance else "online",
            "mem": int(entry["mem"]), "maxmem": node.maxmem, "mem_util": entry["mem"] / node.maxmem if node.maxmem else 0.0,
            "cpu": round(entry["cpu"], 3), "maxcpu": node.maxcpu, "cpu_util": entry["cpu"] / node.maxcpu if node.maxcpu else 0.0,
            "mem_claim": int(entry["claim"]), "mem_limit": node.limit, "guests": entry["guests"],
        }
    return table


def _forbidden(model, guest, target, source_name):
    """Why a move may not be made at all, or None."""
    if guest is None:
        return "no such guest"
    if not guest.managed:
        return "guest %d is not managed (stopped or template)" % guest.vmid
    if guest.fixed:
        return "guest %d may not move: %s" % (guest.vmid, guest.fixed)
    if target is None:
        return "target is not a node of the scenario"
    if not target.active:
        return "target %s is %s" % (target.name, "offline" if not target.online else "in maintenance")
    if target.name == source_name:
        return "guest %d is already on %s" % (guest.vmid, target.name)
    return None


def evaluate(scenario, moves, options=None, rules=None):
    """Metrics of a plan: ``moves`` is a list of {vmid, target, wave} (no wave: one move per wave, in order).

    Returns the FORMAT.md metrics after the plan (``mem_spread`` ... ``violations``), the
    same before it (``before``), the per-node tables, and what each violation is.  A move
    breaks capacity when its target's claimed memory at the start of its wave plus every
    guest arriving there in the same wave exceeds the limit (guests leave only when their
    wave is over): the moves of a wave that fit, smallest first, are fine, the rest count.
    """
    model = scenario if isinstance(scenario, Model) else load(scenario, options)
    rules = rules or Rules(model)
    where = {guest.vmid: guest.node for guest in model.guests}
    before_usage = node_usage(model, where)
    before = summary(model, before_usage)
    before["violations"] = sum(item["count"] for item in rules.violations(where))

    ordered = sorted(enumerate(moves), key=lambda pair: (pair[1].get("wave", pair[0] + 1), pair[0]))
    claim = {name: entry["claim"] for name, entry in before_usage.items()}
    found = []
    moved_mem = 0
    waves = []
    for number, move in ordered:
        wave = move.get("wave", number + 1)
        if not waves or waves[-1][0] != wave:
            waves.append((wave, []))
        waves[-1][1].append(move)
    for wave, wave_moves in waves:
        arriving = {}
        for move in wave_moves:
            guest = model.by_vmid.get(int(move["vmid"]))
            target = model.node(move.get("target"))
            source = where.get(guest.vmid) if guest else None
            why = _forbidden(model, guest, target, source)
            if why:
                found.append({"kind": "forbidden move", "vmids": [int(move["vmid"])], "wave": wave, "reason": why, "count": 1})
                if guest is None or target is None or not guest.managed:
                    continue
            arriving.setdefault(target.name, []).append(guest)
            moved_mem += guest.load_mem
        for name in sorted(arriving):
            room = model.node(name).limit - claim[name]
            over = []
            for guest in sorted(arriving[name], key=lambda guest: (guest.claim, guest.vmid)):
                room -= guest.claim
                if room < 0:
                    over.append(guest.vmid)
            if over:
                found.append({"kind": "capacity", "node": name, "wave": wave, "vmids": over, "count": len(over),
                              "reason": "more memory than the limit arrives before anything leaves"})
        for name in sorted(arriving):
            for guest in arriving[name]:
                claim[where[guest.vmid]] -= guest.claim
                claim[name] += guest.claim
                where[guest.vmid] = name
    after_usage = node_usage(model, where)
    found.extend(rules.violations(where))
    result = summary(model, after_usage)
    result.update({
        "migrations": len(moves),
        "moved_mem_bytes": int(moved_mem),
        "waves": len(waves),
        "violations": sum(item["count"] for item in found),
        "violation_list": found,
        "before": before,
        "nodes_before": node_table(model, before_usage),
        "nodes_after": node_table(model, after_usage),
        "mode": model.options["mode"],
        "memory_basis": model.options["memory_basis"],
    })
    return result
