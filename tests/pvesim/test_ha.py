"""HA: resources, rules (PVE 9), status, and migrations that go through HA."""

from pvesim.testing import make_sim

from helpers import api, cluster, refused, task


def vm_item(sim, vmid):
    return [v for v in api(sim, "pve1", "GET", "/cluster/resources", type="vm") if v["vmid"] == vmid][0]


def test_resource_life_cycle():
    sim = cluster()
    api(sim, "pve1", "POST", "/cluster/ha/resources", sid="vm:101", comment="db", max_restart=2)
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/status/current")["status"] == "running"  # CRM started it
    listed = api(sim, "pve2", "GET", "/cluster/ha/resources")
    assert [(r["sid"], r["type"]) for r in listed] == [("vm:101", "vm")]
    one = api(sim, "pve1", "GET", "/cluster/ha/resources/101")  # a bare VMID works too
    assert (one["sid"], one["comment"], one["max_restart"]) == ("vm:101", "db", 2)
    assert vm_item(sim, 101)["hastate"] == "started" and "hastate" not in vm_item(sim, 100)
    err = refused(sim, "pve1", "POST", "/cluster/ha/resources", sid="vm:101")
    assert err.message == "resource ID 'vm:101' already defined"
    err = refused(sim, "pve1", "POST", "/cluster/ha/resources", sid="vm:999")
    assert err.message == "resource 'vm:999' does not exist in cluster"
    api(sim, "pve1", "PUT", "/cluster/ha/resources/vm:101", state="stopped", delete="comment", digest=one["digest"])
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/status/current")["status"] == "stopped"
    assert "comment" not in api(sim, "pve1", "GET", "/cluster/ha/resources/vm:101")
    err = refused(sim, "pve1", "PUT", "/cluster/ha/resources/vm:101", state="started", digest=one["digest"])
    assert err.message.startswith("detected modified configuration")
    status = {s["id"]: s for s in api(sim, "pve1", "GET", "/cluster/ha/status/current")}
    assert status["quorum"]["quorate"] == 1 and status["service:vm:101"]["request_state"] == "stopped"
    assert status["service:vm:101"]["node"] == "pve1" and "lrm:pve3" in status
    api(sim, "pve1", "DELETE", "/cluster/ha/resources/vm:101")
    assert api(sim, "pve1", "GET", "/cluster/ha/resources") == []
    assert refused(sim, "pve1", "DELETE", "/cluster/ha/resources/vm:101").message == \
        "resource 'vm:101' is not HA managed"


def test_rules_crud_and_filters():
    sim = cluster()
    for sid in ("vm:100", "ct:200"):  # API2/HA/Rules.pm: rules name HA-managed resources only
        api(sim, "pve1", "POST", "/cluster/ha/resources", sid=sid)
    api(sim, "pve1", "POST", "/cluster/ha/rules", rule="keep", type="node-affinity", resources="vm:100",
        nodes="pve2,pve1", strict=1)
    api(sim, "pve1", "POST", "/cluster/ha/rules", rule="apart", type="resource-affinity",
        resources="vm:100,ct:200", affinity="negative")
    rules = api(sim, "pve1", "GET", "/cluster/ha/rules")
    assert [r["rule"] for r in rules] == ["keep", "apart"] and rules[0]["strict"] == 1
    assert [r["rule"] for r in api(sim, "pve1", "GET", "/cluster/ha/rules", type="resource-affinity")] == ["apart"]
    assert [r["rule"] for r in api(sim, "pve1", "GET", "/cluster/ha/rules", resource="ct:200")] == ["apart"]
    err = refused(sim, "pve1", "POST", "/cluster/ha/rules", rule="keep", type="node-affinity", resources="vm:100",
                  nodes="pve1")
    assert err.message == "create ha rule failed: HA rule 'keep' already defined"
    err = refused(sim, "pve1", "POST", "/cluster/ha/rules", rule="nonodes", type="node-affinity", resources="vm:100")
    assert err.status == 400 and "nodes" in err.errors
    rule = api(sim, "pve1", "GET", "/cluster/ha/rules/keep")
    api(sim, "pve1", "PUT", "/cluster/ha/rules/keep", type="node-affinity", nodes="pve1", digest=rule["digest"])
    assert api(sim, "pve1", "GET", "/cluster/ha/rules/keep")["nodes"] == "pve1"
    api(sim, "pve1", "DELETE", "/cluster/ha/rules/apart")
    assert refused(sim, "pve1", "GET", "/cluster/ha/rules/apart").message == "no such ha rule 'apart'"



def _ha_cluster(rules):
    sim = cluster()
    for sid in ("vm:100", "vm:101", "ct:200"):
        api(sim, "pve1", "POST", "/cluster/ha/resources", sid=sid, state="started")
    for rule in rules:
        api(sim, "pve1", "POST", "/cluster/ha/rules", **rule)
    return sim


def test_migrate_of_an_ha_guest_goes_through_ha():
    sim = _ha_cluster([])
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve3", online=1)
    assert ":hamigrate:100:" in upid and task(sim, upid)["exitstatus"] == "OK"
    assert vm_item(sim, 100)["node"] == "pve3"
    answer = api(sim, "pve1", "POST", "/cluster/ha/resources/vm:100/migrate", node="pve2")
    assert answer == {"sid": "vm:100", "requested-node": "pve2"}
    assert vm_item(sim, 100)["node"] == "pve2"
    api(sim, "pve1", "POST", "/cluster/ha/resources/ct:200/relocate", node="pve1")
    assert [c for c in api(sim, "pve1", "GET", "/cluster/resources", type="vm") if c["vmid"] == 200][0]["node"] == "pve1"


def test_strict_node_affinity_refuses_other_targets():
    sim = _ha_cluster([{"rule": "pin", "type": "node-affinity", "resources": "vm:100", "nodes": "pve1,pve2",
                        "strict": 1}])
    # get_resource_motion_info reports only resource affinity: the precondition and the HA
    # migrate call do not check node affinity (FIDELITY row 2 and 7). The CRM moves the
    # service to pve3 and, as pve3 is outside its strict rule, back onto an allowed node.
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate")
    assert pre["allowed_nodes"] == ["pve2", "pve3"] and pre["not_allowed_nodes"]["pve3"] == {}
    answer = api(sim, "pve1", "POST", "/cluster/ha/resources/vm:100/migrate", node="pve3")
    assert answer == {"sid": "vm:100", "requested-node": "pve3"}
    for _round in range(3):
        api(sim, "pve1", "GET", "/version")  # each request is a CRM round with time-scale 0
    assert vm_item(sim, 100)["node"] in ("pve1", "pve2")
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve2", online=1) \
        if vm_item(sim, 100)["node"] == "pve1" else api(sim, "pve1", "POST", "/nodes/pve2/qemu/100/migrate",
                                                         target="pve1", online=1)
    assert task(sim, upid)["exitstatus"] == "OK"


def test_resource_affinity_blocks_and_comigrates():
    sim = _ha_cluster([
        {"rule": "apart", "type": "resource-affinity", "resources": "vm:100,ct:200", "affinity": "negative"},
        {"rule": "together", "type": "resource-affinity", "resources": "vm:100,vm:101", "affinity": "positive"},
    ])
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate")
    assert pre["not_allowed_nodes"]["pve2"]["blocking-ha-resources"] == [{"sid": "ct:200", "cause": "resource-affinity"}]
    assert pre["dependent-ha-resources"] == ["vm:101"]
    blocked = api(sim, "pve1", "POST", "/cluster/ha/resources/vm:100/migrate", node="pve2")
    assert blocked["blocking-resources"] == [{"sid": "ct:200", "cause": "resource-affinity"}]
    assert vm_item(sim, 100)["node"] == "pve1"
    moved = api(sim, "pve1", "POST", "/cluster/ha/resources/vm:100/migrate", node="pve3")
    assert moved["comigrated-resources"] == ["vm:101"]
    assert (vm_item(sim, 100)["node"], vm_item(sim, 101)["node"]) == ("pve3", "pve3")


def test_scenario_ha_rules_and_hastate():
    sim = make_sim("example-medium-rules.json", cluster_name="c1")
    node = sorted(sim.hosts)[0]
    rules = api(sim, node, "GET", "/cluster/ha/rules")
    assert [r["rule"] for r in rules] == ["ha-rule-1", "ha-rule-2", "ha-rule-3"]
    # HA/Rules/NodeAffinity.pm encode_plugin_value: nodes sorted, priority 0 left out
    assert rules[2]["nodes"] == "pve05,pve07:2" and rules[0]["affinity"] == "negative"
    started = [v for v in api(sim, node, "GET", "/cluster/resources", type="vm") if v.get("hastate")]
    assert len(started) == 6 and {v["hastate"] for v in started} == {"started"}
    assert len(api(sim, node, "GET", "/cluster/ha/resources")) == 6
