# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The balancer helpers: option checks, rules, CRS, the scenario from API data, migration checks, result shapes; the docs."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.proxops.proxmox.plugins.lookup import best_node
from ansible_collections.proxops.proxmox.plugins.module_utils import _balancer as bal
from ansible_collections.proxops.proxmox.plugins.module_utils._scheduler.planner import plan
from ansible_collections.proxops.proxmox.plugins.modules import balancer as balancer_module
from ansible_collections.proxops.proxmox.plugins.modules.balancer import BalancerModule

GIB = 1024 ** 3


def params(**given):
    """The module's parameters as AnsibleModule gives them: every option, defaults filled in."""
    values = {key: spec.get("default") for key, spec in BalancerModule.argument_spec.items()}
    values.update(given)
    return values


def node(name, mem=4, status="online", **extra):
    item = {"type": "node", "node": name, "status": status, "maxmem": 64 * GIB, "mem": mem * GIB, "maxcpu": 16, "cpu": 0.05}
    item.update(extra)
    return item


def vm(vmid, where, mem=4, **extra):
    item = {"type": "qemu", "vmid": vmid, "name": "g%d" % vmid, "node": where, "status": "running",
            "maxmem": mem * GIB, "mem": mem * GIB, "maxcpu": 2, "cpu": 0.1}
    item.update(extra)
    return item


# --- option checks --------------------------------------------------------------------------------------
def test_defaults_are_valid():
    assert bal.option_errors(params()) == []
    assert bal.option_errors(params(action="place", memory=1024)) == []


@pytest.mark.parametrize("given, message", [
    (dict(threshold=-0.1), "threshold: must not be negative"),
    (dict(mem_weight=0, cpu_weight=0), "mem_weight and cpu_weight: they cannot both be 0"),
    (dict(mem_limit=0), "mem_limit: a fraction"),
    (dict(mem_limit=1.2), "mem_limit: a fraction"),
    (dict(max_migrations=-1), "max_migrations: give 0 or more"),
    (dict(parallel=0), "parallel: give 1 or more"),
    (dict(timeout=0), "timeout: give 1 or more seconds"),
    (dict(mode="assigned", memory_basis="used"), "memory_basis: mode=assigned counts"),
    (dict(pools=["prod"]), "pools: only with pools_as"),
    (dict(action="place"), "memory: action=place needs"),
    (dict(action="place", memory=0), "memory: give 1 MiB or more"),
    (dict(action="place", memory=512, cores=0), "cores: give 1 or more"),
    (dict(memory=512), "memory: only with action=place"),
    (dict(tags=["plb_pin_pve1"]), "tags: only with action=place"),
    (dict(rules=[{"type": "node-affinity", "resources": ["100"], "nodes": None}]), "rules[0].nodes: a node-affinity rule names"),
    (dict(rules=[{"type": "node-affinity", "resources": ["100"], "nodes": ["a:x"]}]), "rules[0].nodes: priority of node a"),
    (dict(rules=[{"type": "resource-affinity", "resources": ["100", "101"]}]), "rules[0].affinity: positive or negative"),
    (dict(rules=[{"type": "resource-affinity", "resources": ["100"], "affinity": "positive"}]), "needs two guests"),
    (dict(rules=[{"type": "resource-affinity", "resources": ["vm:100", "qm:1"], "affinity": "positive"}]),
     "rules[0].resources: 'qm:1' is not a guest"),
    (dict(rules=[{"type": "resource-affinity", "resources": [], "affinity": "positive"}]), "rules[0].resources: name the guests"),
    (dict(rules=[{"type": "node-affinity", "resources": ["1"], "nodes": ["a"], "affinity": "negative"}]),
     "rules[0].affinity: only for resource-affinity"),
])
def test_option_errors_name_the_option(given, message):
    errors = bal.option_errors(params(**given))
    assert any(message in error for error in errors), errors


def test_rules_become_ha_shaped_rules():
    rules = bal.scheduler_rules([
        {"type": "node-affinity", "resources": ["100", "ct:101"], "nodes": ["pve1:2", "pve2"], "strict": True},
        {"type": "resource-affinity", "resources": "vm:102,vm:103", "affinity": "negative", "rule": "apart"},
    ])
    assert rules == [
        {"type": "node-affinity", "resources": "vm:100,ct:101", "rule": "rules[0]", "nodes": "pve1:2,pve2:0", "strict": 1},
        {"type": "resource-affinity", "resources": "vm:102,vm:103", "rule": "apart", "affinity": "negative"},
    ]


def test_scheduler_options():
    options = bal.scheduler_options(params(mode="assigned", memory_basis=None, maintenance_nodes=["b", "a", "a"],
                                           max_migrations=3), extra_rules=[{"type": "x"}])
    assert options["mode"] == "assigned" and options["max_migrations"] == 3
    assert options["maintenance"] == ["a", "b"] and options["rules"] == [{"type": "x"}]
    assert "memory_basis" not in options and "action" not in options


# --- cluster data ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, expected", [
    ({"crs": "ha=static,ha-auto-rebalance=1"}, True),
    ({"crs": "ha=dynamic,ha-auto-rebalance=0"}, False),
    ({"crs": "ha=static"}, False),
    ({"crs": {"ha": "static", "ha-auto-rebalance": 1}}, True),
    ({}, False),
    (None, False),
])
def test_crs_auto_rebalance(options, expected):
    assert bal.crs_auto_rebalance(options) is expected


def test_ha_state_and_maintenance():
    assert bal.ha_managed({"hastate": "started"}) and not bal.ha_managed({"hastate": "ignored"}) and not bal.ha_managed({})
    assert bal.sid_of({"type": "lxc", "vmid": 101}) == "ct:101" and bal.sid_of({"type": "qemu", "vmid": 1}) == "vm:1"
    assert bal.ha_maintenance_nodes([node("b", hastate="maintenance"), node("a", hastate="online"), vm(1, "a")]) == ["b"]


def test_balloon_bytes():
    assert bal.balloon_bytes({"memory": "4096"}) == 4096 * bal.MIB          # no balloon: the whole memory
    assert bal.balloon_bytes({"memory": 4096, "balloon": 1024}) == 1024 * bal.MIB
    assert bal.balloon_bytes({"memory": 4096, "balloon": 0}) == 0          # off: the scheduler counts maxmem


def test_build_scenario_marks_holds_and_fills_offline_nodes():
    resources = [node("a", ksm=None), {"type": "node", "node": "b", "status": "offline", "maxmem": GIB, "maxcpu": 4},
                 vm(100, "a", tags="web"), vm(101, "a"), {"type": "storage", "storage": "local"}]
    scenario = bal.build_scenario(resources, ha_rules=[{"type": "x"}], maintenance=["b", "b"], ksm={"a": 5},
                                  balloons={101: 7}, holds={100: "locked (backup)"})
    items = {item.get("vmid", item.get("node")): item for item in scenario["resources"]}
    assert items[100]["tags"] == "web;" + bal.HOLD_TAG and "tags" not in items[101]
    assert items[101]["balloon"] == 7 and items["a"]["ksm_shared"] == 5
    assert items["b"]["mem"] == 0 and items["b"]["cpu"] == 0
    assert scenario["maintenance"] == ["b"] and scenario["ha_rules"] == [{"type": "x"}]
    assert len(scenario["resources"]) == 4   # the storage item is left out
    assert resources[2]["tags"] == "web"     # the API data is not changed


def test_a_held_guest_stays_and_its_reason_is_spelt_out():
    resources = [node("a"), node("b"), vm(100, "a", tags="plb_pin_b"), vm(101, "a")]
    holds = {100: "local disks"}
    result = plan(bal.build_scenario(resources, holds=holds), {})
    assert 100 not in {move["vmid"] for move in result["moves"]}
    reasons = [bal.hold_reason(entry["reason"], holds, [entry["vmid"]]) for entry in result["unplaced"]]
    assert any("local disks" in reason for reason in reasons) or not result["unplaced"]


# --- migration checks -----------------------------------------------------------------------------------
def test_precondition_pve9_lists_every_node_as_not_allowed_with_empty_entries():
    answer = {"running": 1, "allowed_nodes": ["b", "c"], "not_allowed_nodes": {"b": {}, "c": {}},
              "local_disks": [], "local_resources": []}
    assert bal.precondition_limits("qemu", answer, True, False) == (None, None)


def test_precondition_blocks_nodes_and_guests():
    answer = {"allowed_nodes": ["b"], "not_allowed_nodes": {"b": {}, "c": {"unavailable_storages": ["nfs"]}}}
    assert bal.precondition_limits("qemu", answer, True, False) == (None, ["b"])
    why, _nodes = bal.precondition_limits("qemu", {"local_resources": ["hostpci0"]}, True, True)
    assert "hostpci0" in why
    disk = {"volid": "local-lvm:vm-100-disk-0", "is_attached": 1, "cdrom": 0}
    why, _nodes = bal.precondition_limits("qemu", {"local_disks": [disk]}, True, False)
    assert "with_local_disks" in why
    assert bal.precondition_limits("qemu", {"local_disks": [disk]}, False, False) == (None, None)   # offline copies
    assert bal.precondition_limits("qemu", {"local_disks": [disk]}, True, True) == (None, None)
    snap = dict(disk, referenced_in_snapshot={"s1": 1})
    assert "snapshots reference" in bal.precondition_limits("qemu", {"local_disks": [snap]}, True, True)[0]
    iso = {"volid": "local:iso/x.iso", "cdrom": 1}
    assert "CD-ROM" in bal.precondition_limits("qemu", {"local_disks": [iso]}, False, True)[0]
    ct = {"allowed-nodes": ["b"], "not-allowed-nodes": {"c": {"blocking-ha-resources": [{"sid": "vm:1"}]}}}
    assert bal.precondition_limits("lxc", ct, False, False) == (None, ["b"])


def test_allowed_nodes_rule_keeps_the_own_node():
    rule = bal.allowed_nodes_rule({"type": "qemu", "vmid": 100, "node": "a"}, ["b"])
    assert rule["nodes"] == "b,a" and rule["strict"] == 1 and rule["resources"] == "vm:100"


def test_task_cause_and_migrate_params():
    log = ["starting migration", "2026-01-01 10:00:00 ERROR: migration aborted (duration 00:00:01): no space left"]
    assert bal.task_cause(log) == "no space left" and bal.task_cause(["x"]) is None
    move = {"type": "qemu", "target": "b"}
    assert bal.migrate_params(move, True, True, True) == {"target": "b", "online": 1, "with-local-disks": 1}
    assert bal.migrate_params(move, False, False, False) == {"target": "b"}
    assert bal.migrate_params({"type": "lxc", "target": "b"}, True, False, False) == {"target": "b", "restart": 1}


# --- results --------------------------------------------------------------------------------------------
def test_shapes_of_a_plan():
    resources = [node("a", mem=40), node("b", mem=2), vm(100, "a", mem=16), vm(101, "a", mem=16, hastate="started")]
    result = plan(bal.build_scenario(resources), {})
    moves = bal.plan_moves(result, {101})
    assert moves and set(moves[0]) == {"vmid", "name", "type", "source", "target", "wave", "reason", "mem", "restart", "ha"}
    assert moves[0]["ha"] is (moves[0]["vmid"] == 101)
    table = bal.usage(result["nodes_before"])
    assert table["a"]["mem_util"] > table["b"]["mem_util"] and set(table) == {"a", "b"}
    metrics = bal.metrics_of(result["metrics"])
    assert "nodes_before" not in metrics and metrics["migrations"] == len(moves)
    before, after = bal.placement_diff(moves)
    key = "qemu %d (g%d)" % (moves[0]["vmid"], moves[0]["vmid"])
    assert before[key] == "a" and after[key] == "b"
    assert bal.placement_diff(moves, states={}) == ({}, {})
    assert bal.describe_move(moves[0]) == "qemu %d (g%d) a -> b" % (moves[0]["vmid"], moves[0]["vmid"])
    assert bal.place_size(1024, None) == {"maxmem": GIB, "maxcpu": 1}


# --- documentation ----------------------------------------------------------------------------------------
def test_documented_options_match_the_argument_spec():
    documented = yaml.safe_load(balancer_module.DOCUMENTATION)["options"]
    assert set(documented) == set(BalancerModule.argument_spec)
    for name, spec in BalancerModule.argument_spec.items():
        assert documented[name].get("default") == spec.get("default"), name
        assert documented[name].get("type") == spec.get("type"), name
    assert yaml.safe_load(balancer_module.EXAMPLES) and yaml.safe_load(balancer_module.RETURN)


def test_lookup_documentation_parses():
    doc = yaml.safe_load(best_node.DOCUMENTATION)
    assert doc["options"]["memory"]["required"] is True
    assert doc["options"]["api_host"]["env"] == [{"name": "PROXMOX_HOST"}]
    assert yaml.safe_load(best_node.EXAMPLES)
