# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Placement of a new guest, and the planner on the example scenarios and the small generated families."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils._scheduler import placement, planner
from ansible_collections.proxops.proxmox.tests.unit.plugins.module_utils.scheduler.helpers import (
    GIB, check_waves, guest, node, scenario)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))
SCENARIO_DIRS = [os.path.join(REPO, "pvesim", "scenarios"), os.path.join(REPO, os.pardir, "shared", "scenarios")]


def cluster():
    guests = [guest(1, "a", 40, tags="plb_anti_affinity_db"), guest(2, "b", 10, tags="plb_affinity_app"),
              guest(3, "b", 10, tags="plb_affinity_app"), guest(4, "c", 15), guest(5, "d", 1)]
    return scenario([node("a"), node("b"), node("c"), node("d", status="offline", mem=0, cpu=0), node("e")], guests,
                    maintenance=["e"])


# -- placement -------------------------------------------------------------------------------------

def test_place_picks_the_least_loaded_online_node():
    result = placement.place(cluster(), 8 * GIB)
    assert result["node"] == "c"
    assert [entry["node"] for entry in result["candidates"]] == ["c", "b", "a"]
    assert result["rejected"] == {"d": "offline", "e": "in maintenance"}


def test_place_honours_pins_anti_affinity_and_affinity():
    assert placement.place(cluster(), 8 * GIB, tags="plb_pin_a;plb_pin_b")["node"] == "b"
    result = placement.place(cluster(), 8 * GIB, tags=["plb_anti_affinity_db"])
    assert result["node"] == "c" and "anti-affinity" in result["rejected"]["a"]
    result = placement.place(cluster(), 8 * GIB, tags="plb_affinity_app")
    assert result["node"] == "b" and "affinity group" in result["rejected"]["c"]


def test_place_honours_ha_rules_for_a_given_vmid_and_memory_limits():
    scn = cluster()
    scn["ha_rules"] = [{"rule": "r", "type": "node-affinity", "resources": "vm:900", "nodes": "a", "strict": 1}]
    assert placement.place(scn, 8 * GIB, vmid=900)["node"] == "a"
    assert placement.place(scn, 8 * GIB)["node"] == "c"
    result = placement.place(scn, {"maxmem": 60 * GIB, "maxcpu": 4})
    assert result["node"] in ("b", "c") and "no room" in result["rejected"]["a"]     # a: 41 + 60 GiB > 90 % of 100
    full = placement.place(scn, {"maxmem": 95 * GIB})
    assert full["node"] is None and "no room" in full["rejected"]["a"]


def test_place_rejects_a_taken_vmid():
    with pytest.raises(ValueError):
        placement.place(cluster(), GIB, vmid=1)


# -- example scenarios ------------------------------------------------------------------------------

def example_files():
    found = []
    for folder in SCENARIO_DIRS:
        if os.path.isdir(folder):
            found.extend(sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.startswith("example-") and name.endswith(".json")))
    return found


@pytest.mark.parametrize("mode", ["used", "assigned"])
@pytest.mark.parametrize("path", example_files(), ids=lambda path: "/".join(path.split(os.sep)[-3:-1] + [os.path.basename(path)]))
def test_example_scenarios(path, mode):
    with open(path, encoding="utf-8") as handle:
        scn = json.load(handle)
    result = planner.plan(scn, {"mode": mode, "allow_lxc_restart": True})
    if scn.get("cluster_name", "") is None:
        assert result["moves"] == []
        return
    limit = 0.9 if mode == "used" else 1.0
    if mode == "used":
        check_waves(scn, result, limit)
    assert result["metrics"]["violations"] == 0
    assert result["unplaced"] == []
    assert result["metrics"]["mem_spread"] <= max(0.02, result["metrics"]["before"]["mem_spread"])
    assert planner.plan(scn, {"mode": mode, "allow_lxc_restart": True})["moves"] == result["moves"]


# -- generated families -------------------------------------------------------------------------------

def families_module():
    path = os.path.join(REPO, "benchmarks", "scenario_families.py")
    if not os.path.exists(path):
        pytest.skip("benchmarks/scenario_families.py is not here (an installed collection)")
    spec = importlib.util.spec_from_file_location("scenario_families", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assigned_waves(scn, result):
    """check_waves for assigned mode: a node holds its running guests' maxmem, limit 100 %."""
    nodes = {item["node"]: item for item in scn["resources"] if item["type"] == "node"}
    guests = {item["vmid"]: item for item in scn["resources"] if item.get("vmid") is not None}
    held = {name: sum(g["maxmem"] for g in guests.values() if g["node"] == name and g["status"] == "running") for name in nodes}
    for wave in sorted({move["wave"] for move in result["moves"]}):
        moves = [move for move in result["moves"] if move["wave"] == wave]
        arriving = {}
        for move in moves:
            arriving[move["target"]] = arriving.get(move["target"], 0) + guests[move["vmid"]]["maxmem"]
        for target, incoming in arriving.items():
            assert held[target] + incoming <= nodes[target]["maxmem"], (wave, target)
        for move in moves:
            held[move["source"]] -= guests[move["vmid"]]["maxmem"]
            held[move["target"]] += guests[move["vmid"]]["maxmem"]


def tag_violations(scn, where):
    """Broken ProxLB tag rules and guests left in maintenance, counted by the test itself."""
    groups, pins, broken = {}, {}, []
    online = {item["node"] for item in scn["resources"] if item["type"] == "node" and item["status"] == "online"}
    for item in scn["resources"]:
        if item.get("vmid") is None or item["status"] != "running" or item["node"] not in online:
            continue
        for tag in (item.get("tags") or "").split(";"):
            if tag.startswith("plb_affinity_") or tag.startswith("plb_anti_affinity_"):
                groups.setdefault(tag, []).append(item["vmid"])
            elif tag.startswith("plb_pin_"):
                pins.setdefault(item["vmid"], set()).add(tag[len("plb_pin_"):])
        if where[item["vmid"]] in (scn.get("maintenance") or []):
            broken.append(("maintenance", item["vmid"]))
    for tag, vmids in groups.items():
        nodes = [where[vmid] for vmid in vmids]
        if tag.startswith("plb_affinity_") and len(set(nodes)) > 1 or tag.startswith("plb_anti") and len(set(nodes)) < len(nodes):
            broken.append((tag, vmids))
    broken.extend(("pin", vmid) for vmid, names in pins.items() if where[vmid] not in names)
    return broken


@pytest.mark.parametrize("mode", ["used", "assigned"])
@pytest.mark.parametrize("size", ["3x30", "8x300"])
def test_small_families_plan_without_violations(size, mode):
    families = families_module()
    for name, scn in families.families([size]):
        result = planner.plan(scn, {"mode": mode})
        assert result["metrics"]["violations"] == 0, (name, result["metrics"]["violation_list"])
        assert result["unplaced"] == [], name
        if mode == "used":
            where = check_waves(scn, result, 0.9, basis="balloon_floor")
        else:
            assigned_waves(scn, result)
            where = {item["vmid"]: item["node"] for item in scn["resources"] if item.get("vmid") is not None}
            where.update({move["vmid"]: move["target"] for move in result["moves"]})
        assert tag_violations(scn, where) == [], name
        assert result["metrics"]["mem_spread"] <= 0.02 + 1e-9, name
