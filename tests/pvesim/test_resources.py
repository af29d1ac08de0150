"""/cluster/resources: shapes, type filter, figures that follow the state, all shared scenarios."""

import json

import pytest

from pvesim import scenario
from pvesim.routing import Identity
from pvesim.testing import make_sim

from helpers import GIB, api, cluster, refused


SCENARIOS = ["example-standalone-3.json", "example-small-base.json", "example-medium-rules.json",
             "example-small-drain.json"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_shared_scenarios_round_trip(name):
    with open(scenario.find(name), encoding="utf-8") as handle:
        data = json.load(handle)
    sim = make_sim(data, cluster_name=data.get("cluster_name") or "bench")
    node = sorted(sim.hosts)[0]
    got = {item["id"]: item for item in api(sim, node, "GET", "/cluster/resources")}
    for item in data["resources"]:
        ident = item.get("id") or ("node/%s" % item["node"] if item["type"] == "node"
                                   else "%s/%d" % (item["type"], item["vmid"]))
        assert ident in got, ident
        mine = got[ident]
        if item["type"] in ("qemu", "lxc"):
            running = item["status"] == "running"
            for key in ("vmid", "name", "node", "status", "maxcpu", "maxmem", "disk", "maxdisk"):
                assert mine[key] == item[key], (ident, key)
            assert mine["cpu"] == pytest.approx(item.get("cpu", 0) if running else 0)
            assert mine["mem"] == (item.get("mem", 0) if running else 0)
            for key in ("tags", "pool", "hastate"):
                assert mine.get(key) == item.get(key), (ident, key)
            assert mine["template"] == item.get("template", 0)
        elif item["type"] == "node":
            for key in ("status", "maxcpu", "maxmem", "maxdisk", "disk"):
                assert mine[key] == item[key], (ident, key)
            guests = [g for g in data["resources"] if g.get("node") == item["node"]
                      and g["type"] in ("qemu", "lxc") and g["status"] == "running"]
            guest_mem = sum(g["mem"] for g in guests)
            guest_cores = sum(g["cpu"] * g["maxcpu"] for g in guests)
            # A node's figure covers its guests; where a scenario's node figure is smaller
            # than its guests' sum, the guests win (the host's own share cannot be negative).
            if item["mem"] - guest_mem >= GIB:
                assert mine["mem"] == item["mem"]
            else:
                assert mine["mem"] == guest_mem + GIB
            if item["cpu"] * item["maxcpu"] > guest_cores:
                assert mine["cpu"] == pytest.approx(item["cpu"], abs=1e-6)
            else:
                assert mine["cpu"] == pytest.approx(min(1.0, guest_cores / item["maxcpu"] + 0.01), abs=1e-6)
        elif item["type"] == "storage":
            assert mine["storage"] == item["storage"] and mine["status"] == item["status"]


def test_item_shapes_and_type_filter():
    sim = cluster()
    every = api(sim, "pve1", "GET", "/cluster/resources")
    assert {i["type"] for i in every} == {"node", "qemu", "lxc", "storage", "sdn"}
    node = [i for i in every if i["id"] == "node/pve1"][0]
    for key in ("id", "type", "node", "status", "cpu", "maxcpu", "mem", "maxmem", "disk", "maxdisk", "uptime",
                "level"):
        assert key in node
    vm = [i for i in every if i["id"] == "qemu/100"][0]
    for key in ("id", "type", "node", "status", "cpu", "maxcpu", "mem", "maxmem", "disk", "maxdisk", "uptime",
                "vmid", "name", "template"):
        assert key in vm
    assert vm["tags"] == "prod;web"
    store = [i for i in every if i["id"] == "storage/pve2/local-lvm"][0]
    assert (store["storage"], store["plugintype"], store["content"], store["shared"]) == \
        ("local-lvm", "lvmthin", "images,rootdir", 0)
    assert store["maxdisk"] > store["disk"] > 0
    assert {i["type"] for i in api(sim, "pve1", "GET", "/cluster/resources", type="vm")} == {"qemu", "lxc"}
    assert {i["type"] for i in api(sim, "pve1", "GET", "/cluster/resources", type="storage")} == {"storage"}
    assert len(api(sim, "pve1", "GET", "/cluster/resources", type="node")) == 3
    assert refused(sim, "pve1", "GET", "/cluster/resources", type="bogus").status == 400


def test_offline_node_and_its_guests():
    sim = cluster()
    sim.hosts["pve2"].online = False
    items = {i["id"]: i for i in api(sim, "pve1", "GET", "/cluster/resources")}
    # API2Tools.pm extract_node_stats: an offline node has no cpu/mem/disk/uptime keys
    assert items["node/pve2"]["status"] == "offline" and "mem" not in items["node/pve2"]
    assert items["lxc/200"]["status"] == "unknown" and items["lxc/200"]["mem"] == 0
    assert items["storage/pve2/local"]["status"] == "unknown"


def test_standalone_host_sees_itself_only():
    sim = make_sim("example-standalone-3.json")
    node = sorted(sim.hosts)[0]
    nodes = [i["node"] for i in api(sim, node, "GET", "/cluster/resources", type="node")]
    assert nodes == [node]


def test_filtered_by_permission():
    sim = cluster(users=[{"userid": "alice@pve", "password": "pw"}],
                  acl=[{"path": "/vms/100", "roleid": "PVEAuditor", "users": "alice@pve"},
                       {"path": "/storage/local", "roleid": "PVEAuditor", "users": "alice@pve"}])
    seen = api(sim, "pve1", "GET", "/cluster/resources", identity=Identity(userid="alice@pve"))
    assert {i["id"] for i in seen if i["type"] not in ("storage", "node")} == {"qemu/100"}
    # API2/Cluster.pm lists every node; without Sys.Audit extract_node_stats leaves out the figures
    nodes = [i for i in seen if i["type"] == "node"]
    assert len(nodes) == 3 and not any("maxmem" in n or "mem" in n for n in nodes)
    assert {i["storage"] for i in seen if i["type"] == "storage"} == {"local"}
    listed = api(sim, "pve1", "GET", "/storage", identity=Identity(userid="alice@pve"))
    assert [s["storage"] for s in listed] == ["local"]
