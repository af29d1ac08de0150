# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Small scenarios written by hand, and a wave simulator of the tests' own (not the library's metrics)."""

from __future__ import annotations

GIB = 2 ** 30


def node(name, maxmem=100, maxcpu=32, status="online", mem=None, cpu=None, **extra):
    """A node item; ``mem`` (GiB) and ``cpu`` (fraction) default to what its guests use (scenario() fills them in)."""
    item = {"type": "node", "id": "node/" + name, "node": name, "status": status, "maxmem": maxmem * GIB, "maxcpu": maxcpu,
            "maxdisk": 100 * GIB, "disk": 0}
    item["mem"] = None if mem is None else int(mem * GIB)
    item["cpu"] = cpu
    item.update(extra)
    return item


def guest(vmid, where, mem, maxmem=None, maxcpu=2, cpu=0.1, kind="qemu", status="running", tags=None, **extra):
    """A guest item: ``mem`` and ``maxmem`` in GiB (maxmem defaults to mem)."""
    item = {"type": kind, "id": "%s/%d" % (kind, vmid), "vmid": vmid, "name": "g%d" % vmid, "node": where, "status": status,
            "maxmem": int((maxmem or mem) * GIB), "mem": int(mem * GIB) if status == "running" else 0,
            "maxcpu": maxcpu, "cpu": cpu if status == "running" else 0.0, "maxdisk": 8 * GIB, "disk": 0}
    if tags:
        item["tags"] = tags if isinstance(tags, str) else ";".join(tags)
    item.update(extra)
    return item


def scenario(nodes, guests, overhead=1, **extra):
    """A scenario dict; nodes without ``mem``/``cpu`` get their guests' use plus ``overhead`` GiB."""
    for item in nodes:
        running = [g for g in guests if g["node"] == item["node"] and g["status"] == "running"]
        if item["mem"] is None:
            item["mem"] = int(overhead * GIB) + sum(g["mem"] for g in running)
        if item["cpu"] is None:
            item["cpu"] = min(1.0, sum(g["cpu"] * g["maxcpu"] for g in running) / item["maxcpu"])
    result = {"name": "test", "cluster_name": "test", "resources": nodes + guests, "ha_rules": [], "maintenance": [], "options": {}}
    result.update(extra)
    return result


def final_nodes(scn, result):
    """vmid -> node after the plan, applying the moves wave by wave."""
    where = {item["vmid"]: item["node"] for item in scn["resources"] if item.get("vmid") is not None}
    for move in sorted(result["moves"], key=lambda move: move["wave"]):
        assert where[move["vmid"]] == move["source"], move
        where[move["vmid"]] = move["target"]
    return where


def claim(item, basis="used"):
    """What a guest holds of its node's memory for the tests' own capacity check."""
    if item["status"] != "running":
        return 0
    if basis == "max":
        return item["maxmem"]
    if basis == "balloon_floor" and item.get("balloon") is not None:
        return item["maxmem"] if item["balloon"] == 0 else max(item["mem"], item["balloon"])
    return item["mem"]


def check_waves(scn, result, limit=0.9, basis="used"):
    """Simulate the waves: every target must hold its arrivals before anything leaves. Returns the final placement."""
    nodes = {item["node"]: item for item in scn["resources"] if item["type"] == "node"}
    guests = {item["vmid"]: item for item in scn["resources"] if item.get("vmid") is not None}
    held = {}
    for name, item in nodes.items():
        on = [g for g in guests.values() if g["node"] == name and g["status"] == "running"]
        held[name] = item.get("mem", 0) + item.get("ksm_shared", 0) - sum(g["mem"] for g in on) + sum(claim(g, basis) for g in on)
    where = {vmid: item["node"] for vmid, item in guests.items()}
    waves = sorted({move["wave"] for move in result["moves"]})
    assert waves == list(range(1, len(waves) + 1)), "waves are numbered 1..n"
    for wave in waves:
        moves = [move for move in result["moves"] if move["wave"] == wave]
        arriving = {}
        for move in moves:
            assert nodes[move["target"]]["status"] == "online", move
            assert nodes[move["source"]]["status"] == "online", move
            assert where[move["vmid"]] == move["source"], move
            arriving[move["target"]] = arriving.get(move["target"], 0) + claim(guests[move["vmid"]], basis)
        for target, incoming in arriving.items():
            assert held[target] + incoming <= limit * nodes[target]["maxmem"], \
                "wave %d overfills %s: %d + %d > %d" % (wave, target, held[target], incoming, limit * nodes[target]["maxmem"])
        for move in moves:
            amount = claim(guests[move["vmid"]], basis)
            held[move["source"]] -= amount
            held[move["target"]] += amount
            where[move["vmid"]] = move["target"]
    return where
