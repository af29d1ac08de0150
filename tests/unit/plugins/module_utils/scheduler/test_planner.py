# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the balancing planner: rules, safety at every wave, drains, options, determinism."""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils._scheduler import metrics, planner, scenario as scenario_mod
from ansible_collections.proxops.proxmox.tests.unit.plugins.module_utils.scheduler.helpers import (
    GIB, check_waves, final_nodes, guest, node, scenario)


def plan(scn, **options):
    return planner.plan(scn, options)


def moved(result):
    return {move["vmid"]: move["target"] for move in result["moves"]}


def lopsided(tags=None, extra_guests=(), **node_args):
    """Node a holds 73 GiB (six 8 GiB guests and guest 7 of 24 GiB), b 25 GiB (guest 8 of 24 GiB), c 49 GiB.

    The balance wants guest 7 on b: one move, and every node holds 49 GiB.
    """
    guests = [guest(vmid, "a", 8) for vmid in range(1, 7)]
    guests.append(guest(7, "a", 24, tags=(tags or {}).get(7)))
    guests.append(guest(8, "b", 24, tags=(tags or {}).get(8)))
    guests.append(guest(9, "c", 48, tags=(tags or {}).get(9)))
    guests.extend(extra_guests)
    return scenario([node("a", **node_args), node("b"), node("c")], guests)


# -- the plain balance ------------------------------------------------------------------------------

def test_balance_evens_out_memory_with_few_moves():
    result = plan(lopsided())
    assert moved(result) == {7: "b"}             # the naive balance: what the rule tests below forbid
    assert result["metrics"]["mem_spread"] < 0.001
    assert result["metrics"]["violations"] == 0
    check_waves(lopsided(), result)


def test_already_balanced_cluster_gives_an_empty_plan():
    guests = [guest(vmid, name, 10) for vmid, name in enumerate(["a", "b", "c"] * 3, 1)]
    result = plan(scenario([node("a"), node("b"), node("c")], guests))
    assert result["moves"] == []
    assert result["balanced"]


def test_threshold_above_the_spread_gives_an_empty_plan():
    scn = lopsided()
    assert plan(scn, threshold=0.6, cpu_threshold=1.0)["moves"] == []
    assert plan(scn)["moves"]


def test_min_gain_stops_moves_that_buy_too_little():
    assert plan(lopsided(), min_gain=10.0)["moves"] == []


def test_max_migrations_caps_a_run():
    guests = [guest(vmid, "a", 5) for vmid in range(1, 17)]
    scn = scenario([node("a"), node("b"), node("c")], guests)
    assert len(plan(scn)["moves"]) > 2
    result = plan(scn, max_migrations=2)
    assert len(result["moves"]) == 2
    assert plan(scn, max_migrations=0)["moves"] == []


def test_plan_is_deterministic_and_ignores_input_order():
    scn = lopsided()
    first = plan(scn)
    shuffled = copy.deepcopy(scn)
    random.Random(4).shuffle(shuffled["resources"])
    for result in (plan(scn), plan(shuffled)):
        assert result["moves"] == first["moves"]
        assert result["nodes_after"] == first["nodes_after"]


def test_plan_does_not_depend_on_hash_seeds():
    script = ("import json, sys; from ansible_collections.proxops.proxmox.plugins.module_utils._scheduler import planner; "
              "result = planner.plan(json.load(sys.stdin)); result['metrics'].pop('plan_seconds'); print(json.dumps(result, sort_keys=True))")
    scn = lopsided({7: "plb_anti_affinity_x", 8: "plb_anti_affinity_x", 1: "plb_pin_a;plb_pin_c"})
    outputs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
        outputs.add(subprocess.run([sys.executable, "-c", script], input=json.dumps(scn), capture_output=True, text=True,
                                   env=env, check=True).stdout)
    assert len(outputs) == 1


def test_assigned_mode_balances_maxmem_and_vcpus():
    guests = [guest(vmid, "a", 2, maxmem=10, maxcpu=4) for vmid in range(1, 7)] + [guest(7, "b", 9, maxmem=10, maxcpu=4)]
    scn = scenario([node("a"), node("b"), node("c")], guests)
    used = plan(scn)
    assigned = plan(scn, mode="assigned")
    assert used["mode"] == "used" and assigned["mode"] == "assigned"
    assert assigned["memory_basis"] == "max" and assigned["mem_limit"] == 1.0
    after = assigned["nodes_after"]
    assert max(entry["mem_util"] for entry in after.values()) - min(entry["mem_util"] for entry in after.values()) <= 0.11
    assert len(assigned["moves"]) >= 2


def test_cpu_is_balanced_too_unless_its_weight_is_zero():
    # Memory is even; node a runs every busy guest.
    guests = [guest(vmid, "a", 10, maxcpu=8, cpu=0.9) for vmid in range(1, 4)]
    guests += [guest(vmid, name, 10, maxcpu=8, cpu=0.0) for vmid, name in ((4, "b"), (5, "b"), (6, "b"), (7, "c"), (8, "c"), (9, "c"))]
    scn = scenario([node("a"), node("b"), node("c")], guests)
    result = plan(scn)
    assert result["metrics"]["cpu_spread"] < result["metrics"]["before"]["cpu_spread"]
    assert result["moves"]
    assert plan(scn, cpu_weight=0)["moves"] == []


# -- rules ------------------------------------------------------------------------------------------

def test_anti_affinity_tag_keeps_guests_apart():
    scn = lopsided({7: "plb_anti_affinity_web", 8: "plb_anti_affinity_web"})
    result = plan(scn)
    where = check_waves(scn, result)
    assert where[7] != where[8]
    assert result["metrics"]["violations"] == 0


def test_anti_affinity_broken_before_is_fixed():
    guests = [guest(1, "a", 10, tags="plb_anti_affinity_db"), guest(2, "a", 10, tags="plb_anti_affinity_db"),
              guest(3, "a", 10, tags="plb_anti_affinity_db"), guest(4, "b", 10), guest(5, "c", 10)]
    scn = scenario([node("a"), node("b"), node("c")], guests)
    result = plan(scn, threshold=1.0, cpu_threshold=1.0)     # no balancing: only the fix
    where = check_waves(scn, result)
    assert len({where[1], where[2], where[3]}) == 3
    assert result["metrics"]["before"]["violations"] == 2 and result["metrics"]["violations"] == 0
    assert all(move["reason"].startswith("rule:") for move in result["moves"])


def test_affinity_tag_moves_guests_together_or_not_at_all():
    scn = lopsided({7: "plb_affinity_app", 8: "plb_affinity_app"})
    result = plan(scn)
    where = check_waves(scn, result)
    assert where[7] == where[8]
    assert result["metrics"]["violations"] == 0
    waves = {move["wave"] for move in result["moves"] if move["vmid"] in (7, 8)}
    assert len(waves) <= 1                              # a group moves in one wave


def test_split_affinity_group_is_brought_together():
    guests = [guest(1, "a", 5, tags="plb_affinity_app"), guest(2, "b", 5, tags="plb_affinity_app"),
              guest(3, "c", 5, tags="plb_affinity_app"), guest(4, "c", 5)]
    scn = scenario([node("a"), node("b"), node("c")], guests)
    result = plan(scn)
    where = check_waves(scn, result)
    assert where[1] == where[2] == where[3]
    assert result["metrics"]["violations"] == 0


def test_group_gathers_around_a_guest_that_may_not_move():
    guests = [guest(1, "a", 5, kind="lxc", tags="plb_affinity_app"), guest(2, "b", 5, tags="plb_affinity_app"),
              guest(3, "c", 5, kind="lxc", tags="plb_affinity_ct"), guest(4, "b", 5, kind="lxc", tags="plb_affinity_ct")]
    scn = scenario([node("a"), node("b"), node("c")], guests)
    result = plan(scn)
    assert moved(result) == {2: "a"}                    # the container stays, the VM joins it
    reasons = {item["vmid"]: item["reason"] for item in result["unplaced"]}
    assert set(reasons) == {3, 4} and "restart" in reasons[3]     # two containers on two nodes: reported
    assert result["metrics"]["violations"] == 1


def test_pin_tag_keeps_a_guest_on_its_node():
    scn = lopsided({7: "plb_pin_a"})
    result = plan(scn)
    assert 7 not in moved(result)
    assert result["moves"]                      # others move instead


def test_several_pins_mean_any_of_those_nodes_and_a_guest_off_them_moves():
    guests = [guest(1, "a", 10, tags="plb_pin_b;plb_pin_c"), guest(2, "a", 10), guest(3, "b", 10), guest(4, "c", 10)]
    scn = scenario([node("a"), node("b"), node("c")], guests)
    result = plan(scn)
    assert check_waves(scn, result)[1] in ("b", "c")
    assert result["metrics"]["violations"] == 0


def test_ignore_tag_is_never_moved():
    scn = lopsided({7: "plb_ignore_backup"})
    result = plan(scn)
    assert 7 not in moved(result)
    assert result["moves"]


def test_ha_node_affinity_strict_and_priorities():
    guests = [guest(1, "a", 5), guest(2, "a", 5), guest(3, "b", 5), guest(4, "c", 5)]
    nodes = [node("a"), node("b"), node("c")]
    strict = scenario(copy.deepcopy(nodes), copy.deepcopy(guests),
                      ha_rules=[{"rule": "r1", "type": "node-affinity", "resources": "vm:1", "nodes": "c", "strict": 1}])
    assert final_nodes(strict, plan(strict))[1] == "c"
    prefer = scenario(copy.deepcopy(nodes), copy.deepcopy(guests),
                      ha_rules=[{"rule": "r2", "type": "node-affinity", "resources": "vm:1", "nodes": "b:2,c:1", "strict": 0}])
    assert final_nodes(prefer, plan(prefer))[1] == "b"
    prefer["maintenance"] = ["b"]           # the top priority is not available: the next one
    where = final_nodes(prefer, plan(prefer))
    assert where[1] == "c"
    assert where[3] != "b"


def test_ha_node_affinity_non_strict_without_available_nodes_runs_anywhere():
    guests = [guest(1, "a", 5), guest(2, "b", 5)]
    scn = scenario([node("a"), node("b"), node("c", status="offline")], guests,
                   ha_rules=[{"rule": "r", "type": "node-affinity", "resources": "vm:1", "nodes": "c", "strict": 0}])
    result = plan(scn)
    assert result["unplaced"] == [] and result["problems"] == []
    scn["ha_rules"][0]["strict"] = 1
    result = plan(scn)
    assert result["problems"] and result["problems"][0]["vmids"] == [1]
    assert [item["vmid"] for item in result["unplaced"]] == [1]


def test_ha_resource_affinity_positive_and_negative():
    guests = [guest(1, "a", 5), guest(2, "a", 5), guest(3, "b", 5), guest(4, "c", 5)]
    apart = scenario([node("a"), node("b"), node("c")], copy.deepcopy(guests),
                     ha_rules=[{"rule": "n", "type": "resource-affinity", "resources": "vm:1,vm:2", "affinity": "negative"}])
    where = check_waves(apart, plan(apart))
    assert where[1] != where[2]
    together = scenario([node("a"), node("b"), node("c")], copy.deepcopy(guests),
                        ha_rules=[{"rule": "p", "type": "resource-affinity", "resources": "vm:3,vm:4", "affinity": "positive"}])
    where = check_waves(together, plan(together))
    assert where[3] == where[4]


def test_disabled_ha_rule_is_ignored():
    guests = [guest(1, "a", 5), guest(2, "a", 5), guest(3, "b", 5), guest(4, "c", 5)]
    scn = scenario([node("a"), node("b"), node("c")], guests, ha_rules=[
        {"rule": "n", "type": "resource-affinity", "resources": "vm:1,vm:2", "affinity": "negative", "disable": 1}])
    assert plan(scn, threshold=1.0, cpu_threshold=1.0)["moves"] == []


def test_rules_given_as_options_and_pools_as_groups():
    guests = [guest(1, "a", 5, pool="db"), guest(2, "a", 5, pool="db"), guest(3, "b", 5, pool="web"), guest(4, "c", 5, pool="web")]
    scn = scenario([node("a"), node("b"), node("c")], guests)
    quiet = {"threshold": 1.0, "cpu_threshold": 1.0}
    assert plan(scn, **quiet)["moves"] == []
    where = final_nodes(scn, plan(scn, pools_as="anti-affinity", pools=["db"], **quiet))
    assert where[1] != where[2] and where[3] == "b" and where[4] == "c"
    where = final_nodes(scn, plan(scn, pools_as="affinity", **quiet))
    assert where[3] == where[4] and where[1] == where[2]
    rules = [{"type": "resource-affinity", "resources": [1, 2], "affinity": "negative"},
             {"type": "node-affinity", "resources": "vm:3", "nodes": "c", "strict": 1}]
    where = final_nodes(scn, plan(scn, rules=rules, **quiet))
    assert where[1] != where[2] and where[3] == "c"


def test_contradicting_rules_are_reported():
    guests = [guest(1, "a", 5, tags="plb_affinity_x;plb_anti_affinity_y"), guest(2, "b", 5, tags="plb_affinity_x;plb_anti_affinity_y"),
              guest(3, "c", 5)]
    result = plan(scenario([node("a"), node("b"), node("c")], guests))
    assert any(problem["vmids"] == [1, 2] for problem in result["problems"])


# -- memory at every moment ---------------------------------------------------------------------------------

def test_a_move_waits_for_room_in_a_later_wave():
    # b has room for guest 1 only once guest 2 has left for c.
    guests = [guest(1, "a", 40, tags="plb_pin_b"), guest(10, "a", 40, tags="plb_ignore_x"),
              guest(2, "b", 40, tags="plb_pin_c"), guest(11, "b", 45, tags="plb_ignore_x"), guest(3, "c", 10)]
    scn = scenario([node("a"), node("b"), node("c")], guests)
    result = plan(scn)
    where = check_waves(scn, result)
    assert where[1] == "b" and where[2] == "c"
    waves = {move["vmid"]: move["wave"] for move in result["moves"]}
    assert waves[2] < waves[1]
    assert result["metrics"]["violations"] == 0


def test_a_swap_neither_node_has_room_for_goes_through_a_third_node():
    guests = [guest(1, "a", 40, tags="plb_pin_b"), guest(10, "a", 45, tags="plb_ignore_x"),
              guest(2, "b", 40, tags="plb_pin_a"), guest(11, "b", 45, tags="plb_ignore_x"), guest(3, "c", 5, tags="plb_ignore_x")]
    scn = scenario([node("a"), node("b"), node("c")], guests)
    result = plan(scn)
    where = check_waves(scn, result)
    assert where[1] == "b" and where[2] == "a"
    assert result["waves"] >= 3
    assert any(move["target"] == "c" for move in result["moves"])
    assert result["unplaced"] == [] and result["metrics"]["violations"] == 0


def test_waves_never_overfill_a_target_on_a_full_cluster():
    rng = random.Random(7)
    guests = []
    for vmid in range(1, 61):
        guests.append(guest(vmid, rng.choice("aaab"), rng.choice([2, 4, 8, 12])))
    nodes = [node("a", maxmem=400), node("b", maxmem=120), node("c", maxmem=90), node("d", maxmem=90)]
    scn = scenario(nodes, guests)
    result = plan(scn)
    check_waves(scn, result)
    assert result["metrics"]["violations"] == 0


def test_metrics_count_a_plan_that_overfills_a_target():
    scn = lopsided()
    bad = [{"vmid": vmid, "target": "c", "wave": 1} for vmid in range(1, 7)]     # 48 GiB onto 49 GiB, limit 90
    result = metrics.evaluate(scn, bad)
    assert any(item["kind"] == "capacity" for item in result["violation_list"])
    assert result["violations"] >= 1
    sequential = [{"vmid": 1, "target": "b"}, {"vmid": 2, "target": "b"}]
    assert metrics.evaluate(scn, sequential)["violations"] == 0
    ignored = lopsided({7: "plb_ignore_x"})
    assert metrics.evaluate(ignored, [{"vmid": 7, "target": "b"}])["violation_list"][0]["kind"] == "forbidden move"


# -- what memory really is --------------------------------------------------------------------------------

def _balloon_case(**target_args):
    """Node b uses 41 GiB of 100 (limit 90): room for a 30 GiB guest, unless its guest 5 takes back what its balloon lent.

    Guest 5 uses 20 GiB, may grow to 50 GiB, and its balloon floor is 40 GiB.
    """
    guests = [guest(1, "a", 30), guest(2, "a", 30), guest(3, "a", 20, tags="plb_ignore_x"),
              guest(5, "b", 20, maxmem=50, balloon=40 * GIB, tags="plb_ignore_x"),
              guest(6, "b", 20, tags="plb_ignore_x"), guest(7, "c", 85, tags="plb_ignore_x")]
    return scenario([node("a"), node("b", **target_args), node("c")], guests)


def test_balloon_floor_changes_the_capacity_decision():
    scn = _balloon_case()
    optimistic = plan(scn, memory_basis="used")
    assert optimistic["memory_basis"] == "used"
    assert set(moved(optimistic).values()) == {"b"}
    check_waves(scn, optimistic, basis="used")
    careful = plan(scn)
    assert careful["memory_basis"] == "balloon_floor"
    assert careful["moves"] == []                    # b has 90 - (41 - 20 + 40) = 29 GiB, not 30
    assert plan(scn, memory_basis="max")["moves"] == []


def test_ksm_shared_memory_is_not_room():
    scn = _balloon_case()
    for item in scn["resources"]:
        if item.get("vmid") == 5:
            del item["balloon"]
    assert moved(plan(scn))
    for item in scn["resources"]:
        if item.get("node") == "b" and item["type"] == "node":
            item["ksm_shared"] = 20 * GIB               # b's 41 GiB would be 61 GiB without KSM
    assert plan(scn)["moves"] == []
    scn_option = copy.deepcopy(scn)
    for item in scn_option["resources"]:
        item.pop("ksm_shared", None)
    assert plan(scn_option, ksm_shared={"b": 20 * GIB})["moves"] == []


def test_mem_limit_option():
    scn = _balloon_case()
    assert plan(scn, memory_basis="used", mem_limit=0.6)["moves"] == []


# -- drains, offline nodes, what may move -------------------------------------------------------------------

def test_maintenance_drains_the_node_then_balances():
    guests = [guest(vmid, "a", 6) for vmid in range(1, 8)] + [guest(8, "b", 10), guest(9, "c", 30)]
    scn = scenario([node("a"), node("b"), node("c")], guests, maintenance=["a"])
    result = plan(scn)
    where = check_waves(scn, result)
    assert not [vmid for vmid, name in where.items() if name == "a"]
    assert result["metrics"]["violations"] == 0 and result["unplaced"] == []
    assert "a" not in {move["target"] for move in result["moves"]}
    assert all(move["reason"].startswith("maintenance") for move in result["moves"] if move["source"] == "a")
    assert plan(scn, maintenance=["a"])["moves"] == result["moves"]


def test_drain_that_cannot_finish_says_which_guests_and_why():
    guests = [guest(1, "a", 5, tags="plb_pin_a"), guest(2, "a", 5, local_disks=True), guest(3, "a", 80), guest(4, "a", 5),
              guest(5, "b", 80), guest(6, "c", 80), guest(7, "a", 2, kind="lxc")]
    scn = scenario([node("a"), node("b"), node("c")], guests, maintenance=["a"])
    result = plan(scn)
    reasons = {item["vmid"]: item["reason"] for item in result["unplaced"]}
    assert "no node is allowed" in reasons[1]
    assert "local disks" in reasons[2]
    assert "room" in reasons[3]
    assert "restart" in reasons[7]
    assert moved(result) == {4: moved(result)[4]}
    check_waves(scn, result)
    assert result["metrics"]["violations"] == 4       # guests 1, 2, 3 and 7 left on a
    lxc = plan(scn, allow_lxc_restart=True, with_local_disks=True)
    assert {2, 4, 7} <= set(moved(lxc))
    assert [move["restart"] for move in lxc["moves"] if move["vmid"] == 7] == [True]


def test_offline_nodes_are_neither_source_nor_target():
    guests = [guest(1, "a", 30), guest(2, "a", 30), guest(3, "d", 30), guest(4, "d", 30), guest(5, "b", 5)]
    scn = scenario([node("a"), node("b"), node("d", status="offline", mem=0, cpu=0)], guests)
    result = plan(scn)
    assert result["moves"]
    assert all("d" not in (move["source"], move["target"]) for move in result["moves"])
    assert result["nodes_after"]["d"]["status"] == "offline"


def test_stopped_guests_and_templates_stay_unless_asked():
    guests = [guest(1, "a", 10), guest(2, "a", 10), guest(3, "a", 10, status="stopped"),
              guest(4, "a", 10, status="stopped", template=1), guest(5, "b", 10), guest(6, "c", 10)]
    scn = scenario([node("a"), node("b"), node("c")], guests, maintenance=["a"])
    result = plan(scn)
    assert set(moved(result)) == {1, 2}
    assert set(moved(plan(scn, include_stopped=True))) == {1, 2, 3}
    assert set(moved(plan(scn, include_stopped=True, include_templates=True))) == {1, 2, 3, 4}


def test_running_containers_move_only_with_restart_allowed():
    scn = lopsided({7: "plb_ignore_x"}, extra_guests=[guest(20, "a", 24, kind="lxc")])
    assert 20 not in moved(plan(scn, cpu_weight=0))
    assert moved(plan(scn, cpu_weight=0, allow_lxc_restart=True)).get(20) == "b"


def test_local_resources_never_move():
    scn = lopsided({7: None})
    for item in scn["resources"]:
        if item.get("vmid") == 7:
            item["local_resources"] = True
    assert 7 not in moved(plan(scn, with_local_disks=True))


def test_standalone_hosts_get_no_moves():
    scn = lopsided()
    scn["cluster_name"] = None
    result = plan(scn)
    assert result["moves"] == [] and any("standalone" in warning for warning in result["warnings"])


def test_bad_options_are_refused():
    with pytest.raises(scenario_mod.ScenarioError):
        plan(lopsided(), mode="peak")
    with pytest.raises(scenario_mod.ScenarioError):
        plan(lopsided(), no_such_option=1)
    with pytest.raises(scenario_mod.ScenarioError):
        plan(lopsided(), memory_basis="guess")
