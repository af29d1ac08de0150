"""HA rule validation and encoding (FIDELITY row 11).

pve-ha-manager ``API2/HA/Rules.pm`` (``$assert_valid_resources_param``,
``$assert_valid_nodes_param``, ``$assert_feasibility``, ``$get_api_ha_rule``), ``HA/Rules.pm``
(``check_feasibility``, ``encode_value``), ``HA/Rules/NodeAffinity.pm``,
``HA/Rules/ResourceAffinity.pm``, ``HA/Config.pm`` ``lock_ha_domain``.
"""

from helpers import api, cluster, refused


def _sim():
    sim = cluster()
    for sid in ("vm:100", "vm:101", "ct:200"):
        api(sim, "pve1", "POST", "/cluster/ha/resources", sid=sid)
    return sim


def test_unmanaged_resources_and_unknown_nodes_are_refused():
    sim = cluster()
    api(sim, "pve1", "POST", "/cluster/ha/resources", sid="vm:101")
    err = refused(sim, "pve1", "POST", "/cluster/ha/rules", rule="r1", type="node-affinity",
                  resources="vm:101,vm:100", nodes="pve1")
    assert (err.status, err.message) == (500, "create ha rule failed: cannot use unmanaged resource(s) vm:100.")
    err = refused(sim, "pve1", "POST", "/cluster/ha/rules", rule="r1", type="node-affinity", resources="vm:101",
                  nodes="pve1,pve9")
    assert err.message == "create ha rule failed: cannot use non-existent node(s) pve9."
    assert api(sim, "pve1", "GET", "/cluster/ha/rules") == []


def test_infeasible_rules_are_refused_with_a_500():
    sim = _sim()
    api(sim, "pve1", "POST", "/cluster/ha/rules", rule="one", type="node-affinity", resources="vm:100", nodes="pve1")
    err = refused(sim, "pve1", "POST", "/cluster/ha/rules", rule="two", type="node-affinity", resources="vm:100",
                  nodes="pve2")
    assert err.status == 500 and not err.errors
    assert err.message == "create ha rule failed: 400 Rule 'two' is invalid. resources: resource 'vm:100' is " \
        "already used in another node affinity rule"
    err = refused(sim, "pve1", "POST", "/cluster/ha/rules", rule="solo", type="resource-affinity", resources="vm:101",
                  affinity="positive")
    assert err.message.endswith("resources: rule is ineffective as there are less than two resources")
    rule = api(sim, "pve1", "GET", "/cluster/ha/rules/one")
    err = refused(sim, "pve1", "PUT", "/cluster/ha/rules/one", type="node-affinity", resources="vm:100,vm:999",
                  digest=rule["digest"])
    assert err.message == "update HA rules failed: cannot use unmanaged resource(s) vm:999."
    assert [r["rule"] for r in api(sim, "pve1", "GET", "/cluster/ha/rules")] == ["one"]


def test_negative_rule_with_more_resources_than_nodes():
    sim = _sim()
    sim.hosts["pve1"].fs.ha_resources["vm:102"] = {"type": "vm", "state": "started"}
    err = refused(sim, "pve1", "POST", "/cluster/ha/rules", rule="apart", type="resource-affinity",
                  resources="vm:100,vm:101,ct:200,vm:102", affinity="negative")
    assert err.message.endswith("resources: rule defines more resources than available nodes")


def test_get_encodes_sets_sorted_and_reports_errors_of_scenario_rules():
    sim = cluster(ha_rules=[
        {"rule": "keep", "type": "node-affinity", "resources": "vm:101,vm:100", "nodes": "pve3:1,pve2:0,pve1:5"},
        {"rule": "also", "type": "node-affinity", "resources": "vm:100", "nodes": "pve2"},
    ], ha_resources=[{"sid": "vm:100"}, {"sid": "vm:101"}])
    rules = {r["rule"]: r for r in api(sim, "pve1", "GET", "/cluster/ha/rules")}
    assert rules["keep"]["resources"] == "vm:100,vm:101" and rules["keep"]["nodes"] == "pve1:5,pve2,pve3:1"
    assert rules["keep"]["errors"] == {"resources": ["resource 'vm:100' is already used in another node affinity "
                                                     "rule"]}
    assert "errors" in api(sim, "pve1", "GET", "/cluster/ha/rules/also")


def test_delete_of_a_missing_rule_succeeds_and_get_says_no_such_rule():
    sim = _sim()
    assert api(sim, "pve1", "DELETE", "/cluster/ha/rules/nothere") is None
    err = refused(sim, "pve1", "GET", "/cluster/ha/rules/nothere")
    assert (err.status, err.message) == (500, "no such ha rule 'nothere'")
