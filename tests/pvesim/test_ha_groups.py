"""PVE 8.4 mode (scenario key ``pve_version``): HA groups, their failover rules, and what
PVE 9 does with groups instead."""

import pytest

from pvesim import gen_schema, schema
from pvesim.errors import ApiError
from pvesim.testing import call, make_sim, running

GIB = 1024 ** 3
NODES = ("pve1", "pve2", "pve3", "pve4", "pve5")


def scenario(version=None, **extra):
    data = {
        "cluster_name": "lab",
        "resources": [{"type": "node", "node": n, "status": "online", "maxcpu": 8, "maxmem": 32 * GIB} for n in NODES]
        + [{"type": "qemu", "vmid": vmid, "node": "pve1", "name": "vm%d" % vmid, "status": "running",
            "maxcpu": 1, "maxmem": GIB, "mem": GIB // 2} for vmid in (100, 101, 102, 103)],
    }
    if version:
        data["pve_version"] = version
    data.update(extra)
    return data


def fails(sim, method, path, /, **params):
    with pytest.raises(ApiError) as info:
        call(sim, "pve1", method, path, **params)
    return info.value


@pytest.fixture
def pve8():
    return make_sim(scenario("8.4"))


# --- the release ----------------------------------------------------------------------------

def test_version_follows_the_scenario():
    sim8 = make_sim(scenario("8.4"))
    assert call(sim8, "pve1", "GET", "/version")["release"] == "8.4"
    assert call(sim8, "pve1", "GET", "/version")["version"].startswith("8.4.")
    assert call(sim8, "pve1", "GET", "/nodes/pve2/status")["pveversion"].startswith("pve-manager/8.4.")
    assert call(sim8, "pve1", "GET", "/nodes/pve1/version")["release"] == "8.4"
    sim9 = make_sim(scenario())
    assert sim9.pve_version == "9.1"
    assert call(sim9, "pve1", "GET", "/version")["release"] == "9.1"
    with pytest.raises(ValueError):
        make_sim(scenario("7.4"))


def test_pve8_has_no_rules_api(pve8):
    for method, path, params in [("GET", "/cluster/ha/rules", {}), ("GET", "/cluster/ha/rules/r1", {}),
                                 ("POST", "/cluster/ha/rules", {"rule": "r1", "type": "node-affinity"})]:
        err = fails(pve8, method, path, **params)
        assert (err.status, err.message) == (501, "Method '%s %s' not implemented" % (method, path))
    assert [i["id"] for i in call(pve8, "pve1", "GET", "/cluster/ha")] == ["status", "resources", "groups"]


def test_pve8_parameters_are_checked_against_the_84_schema(pve8):
    # failback is a PVE 9 resource option
    err = fails(pve8, "POST", "/cluster/ha/resources", sid="vm:100", failback=0)
    assert err.status == 400 and "failback" in err.errors
    call(pve8, "pve1", "POST", "/cluster/ha/resources", sid="vm:100")
    service = [s for s in call(pve8, "pve1", "GET", "/cluster/ha/status/current") if s["type"] == "service"][0]
    assert "failback" not in service


def test_committed_pve84_schema_data_is_current():
    if not gen_schema.DEFAULT_SCHEMA_PVE84.exists():
        pytest.skip("../shared/pve-api not present")
    doc, newer = gen_schema.build(gen_schema.DEFAULT_SCHEMA_PVE84, version="8.4")
    assert schema.SCHEMA_FILES["8.4"].read_text(encoding="utf-8") == gen_schema.render(doc), \
        "run: python -m pvesim.gen_schema"
    assert "GET /cluster/ha/rules" in newer and "GET /cluster/ha/groups" not in newer


# --- groups in PVE 8.4 -----------------------------------------------------------------------

def test_group_life_cycle(pve8):
    call(pve8, "pve1", "POST", "/cluster/ha/groups", group="g1", nodes="pve3:1,pve2:2", restricted=1, comment="fast")
    listed = call(pve8, "pve1", "GET", "/cluster/ha/groups")
    assert [(g["group"], g["type"], g["nodes"], g["restricted"], g["comment"]) for g in listed] == \
        [("g1", "group", "pve2:2,pve3:1", 1, "fast")]
    one = call(pve8, "pve1", "GET", "/cluster/ha/groups/g1")
    assert one["digest"] == listed[0]["digest"] and "nofailback" not in one

    call(pve8, "pve1", "PUT", "/cluster/ha/groups/g1", nofailback=1, delete="comment", digest=one["digest"])
    one = call(pve8, "pve2", "GET", "/cluster/ha/groups/g1")  # one /etc/pve for the cluster
    assert (one["nofailback"], "comment" in one) == (1, False)
    assert "detected modified configuration" in fails(pve8, "PUT", "/cluster/ha/groups/g1", comment="x",
                                                      digest=listed[0]["digest"]).message
    assert fails(pve8, "PUT", "/cluster/ha/groups/g1", delete="nodes").message == \
        "update ha group failed: unable to delete required option 'nodes'"
    assert fails(pve8, "POST", "/cluster/ha/groups", group="g1", nodes="pve1").message == \
        "create ha group failed: ha group ID 'g1' already defined"
    assert fails(pve8, "GET", "/cluster/ha/groups/nope").message == "no such ha group 'nope'"

    err = fails(pve8, "POST", "/cluster/ha/groups", group="g2", nodes="pve1:high")
    assert err.status == 400 and "value does not look like a valid ha group node" in err.errors["nodes"]
    assert fails(pve8, "POST", "/cluster/ha/groups", group="g2").errors == \
        {"nodes": "property is missing and it is not optional"}

    call(pve8, "pve1", "POST", "/cluster/ha/resources", sid="vm:100", group="g1")
    assert call(pve8, "pve1", "GET", "/cluster/ha/resources/vm:100")["group"] == "g1"
    assert fails(pve8, "POST", "/cluster/ha/resources", sid="vm:101", group="nope").message == \
        "HA group 'nope' does not exist"
    assert fails(pve8, "DELETE", "/cluster/ha/groups/g1").message == \
        "delete ha group failed: ha group is used by service 'vm:100'"
    call(pve8, "pve1", "PUT", "/cluster/ha/resources/vm:100", delete="group")
    call(pve8, "pve1", "DELETE", "/cluster/ha/groups/g1")
    assert call(pve8, "pve1", "GET", "/cluster/ha/groups") == []


def test_groups_need_privileges(pve8):
    from pvesim.routing import Identity

    pve8.hosts["pve1"].fs.users["bob@pve"] = {"password": "pw", "enable": 1, "groups": [], "tokens": {}}
    err = fails(pve8, "GET", "/cluster/ha/groups", identity=Identity("bob@pve"))
    assert err.status == 403


# --- failover -----------------------------------------------------------------------------------

def _node_of(sim, vmid):
    guest = sim.hosts["pve1"].fs.guests[vmid]
    return guest.node, guest.status


def test_failover_follows_the_group(pve8):
    """pve1 and pve4 die: each service goes where its group lets it, or stays."""
    add = lambda **p: call(pve8, "pve1", "POST", "/cluster/ha/groups", **p)  # noqa: E731
    add(group="prefer23", nodes="pve2:2,pve3:1", restricted=1)  # highest priority online wins
    add(group="only4", nodes="pve4", restricted=1)  # no member online: stays put
    add(group="like4", nodes="pve4")  # unrestricted: any online node will do
    for vmid, group in ((100, "prefer23"), (101, "only4"), (102, "like4")):
        call(pve8, "pve1", "POST", "/cluster/ha/resources", sid="vm:%d" % vmid, group=group)
    call(pve8, "pve1", "POST", "/cluster/ha/resources", sid="vm:103", state="stopped")

    pve8.faults.set_offline("pve4")
    pve8.faults.set_offline("pve1")
    call(pve8, "pve2", "GET", "/version")  # a tick: the CRM fences pve1 and recovers (time_scale 0)
    assert _node_of(pve8, 100) == ("pve2", "running")
    assert _node_of(pve8, 101)[0] == "pve1"
    node, status = _node_of(pve8, 102)
    assert node in ("pve3", "pve5") and status == "running"
    node, status = _node_of(pve8, 103)
    assert node in ("pve2", "pve3", "pve5") and status == "stopped"  # moved, but not started


def test_restricted_group_recovers_once_a_member_is_back(pve8):
    call(pve8, "pve1", "POST", "/cluster/ha/groups", group="only4", nodes="pve4", restricted=1)
    call(pve8, "pve1", "POST", "/cluster/ha/resources", sid="vm:101", group="only4")
    pve8.faults.set_offline("pve4")
    pve8.faults.set_offline("pve1")
    call(pve8, "pve2", "GET", "/version")
    assert _node_of(pve8, 101)[0] == "pve1"
    pve8.faults.set_online("pve4")
    call(pve8, "pve2", "GET", "/version")
    assert _node_of(pve8, 101) == ("pve4", "running")


def test_no_recovery_without_quorum(pve8):
    call(pve8, "pve1", "POST", "/cluster/ha/resources", sid="vm:100")
    for node in ("pve1", "pve4", "pve5"):
        pve8.faults.set_offline(node)
    call(pve8, "pve2", "GET", "/version")
    assert _node_of(pve8, 100)[0] == "pve1"


def test_fencing_takes_simulated_time():
    sim = make_sim(scenario("8.4"), time_scale=1.0)  # 120 s until recovery
    call(sim, "pve1", "POST", "/cluster/ha/resources", sid="vm:100")
    sim.faults.set_offline("pve1")
    call(sim, "pve2", "GET", "/version")
    assert _node_of(sim, 100)[0] == "pve1"


def test_a_rebooted_node_keeps_its_services(pve8):
    call(pve8, "pve1", "POST", "/cluster/ha/resources", sid="vm:100")
    pve8.time_scale = 0.05  # the reboot takes 3 s
    call(pve8, "pve2", "POST", "/nodes/pve1/status", command="reboot")
    call(pve8, "pve2", "GET", "/version")
    pve8.hosts["pve1"].ha_down_since -= 1000  # down far longer than fencing takes
    call(pve8, "pve2", "GET", "/version")
    assert _node_of(pve8, 100) == ("pve1", "stopped")  # frozen, not recovered elsewhere
    pve8.hosts["pve1"].online_at = 0  # the boot is due
    call(pve8, "pve2", "GET", "/version")
    assert pve8.hosts["pve1"].online
    assert _node_of(pve8, 100) == ("pve1", "running")


def test_pve9_failover_follows_node_affinity_rules():
    sim = make_sim(scenario(ha_rules=[{"rule": "keep", "type": "node-affinity", "resources": "vm:100",
                                       "nodes": "pve3:1,pve5:2", "strict": 1},
                                      {"rule": "pin", "type": "node-affinity", "resources": "vm:101",
                                       "nodes": "pve4", "strict": 1}]))
    for vmid in (100, 101):
        call(sim, "pve1", "POST", "/cluster/ha/resources", sid="vm:%d" % vmid)
    sim.faults.set_offline("pve4")
    sim.faults.set_offline("pve1")
    call(sim, "pve2", "GET", "/version")
    assert _node_of(sim, 100) == ("pve5", "running")
    assert _node_of(sim, 101)[0] == "pve1"


# --- groups in PVE 9 -------------------------------------------------------------------------------

def test_pve9_refuses_the_groups_api():
    sim = make_sim(scenario())
    migrated = "ha groups have been migrated to rules"
    assert fails(sim, "GET", "/cluster/ha/groups").message == "cannot index groups: " + migrated
    assert fails(sim, "POST", "/cluster/ha/groups", group="g1", nodes="pve1").message == \
        "cannot create group: " + migrated
    assert fails(sim, "GET", "/cluster/ha/groups/g1").status == 500
    assert fails(sim, "POST", "/cluster/ha/resources", sid="vm:100", group="g1").message == \
        "invalid parameter 'group': " + migrated
    assert "rules" in [i["id"] for i in call(sim, "pve1", "GET", "/cluster/ha")]


def test_pve9_migrates_scenario_groups_to_rules():
    groups = [{"group": "g1", "nodes": "pve2:2,pve3", "restricted": 1, "nofailback": 1}]
    resources = [{"sid": "vm:100", "group": "g1"}, {"sid": "vm:101", "group": "g1", "state": "stopped"}]
    sim = make_sim(scenario(ha_groups=groups, ha_resources=resources))
    rule = call(sim, "pve1", "GET", "/cluster/ha/rules/ha-group-g1")
    assert (rule["type"], rule["resources"], rule["nodes"], rule["strict"]) == \
        ("node-affinity", "vm:100,vm:101", "pve2:2,pve3", 1)
    res = call(sim, "pve1", "GET", "/cluster/ha/resources/vm:100")
    assert "group" not in res and res["failback"] == 0
    # the same scenario in 8.4 mode keeps the groups
    sim8 = make_sim(scenario("8.4", ha_groups=groups, ha_resources=resources))
    assert call(sim8, "pve1", "GET", "/cluster/ha/resources/vm:101")["group"] == "g1"
    assert call(sim8, "pve1", "GET", "/cluster/ha/groups/g1")["nofailback"] == 1


def test_pve8_over_https():
    with running(scenario("8.4", ha_groups=[{"group": "g1", "nodes": "pve2"}])) as pve:
        api = pve.client("pve3")
        assert api.version.get()["release"] == "8.4"
        assert [g["group"] for g in api.cluster.ha.groups.get()] == ["g1"]
        from proxmoxer.core import ResourceException

        with pytest.raises(ResourceException) as info:
            api.cluster.ha.rules.get()
        assert info.value.status_code == 501
