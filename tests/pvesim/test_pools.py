"""GET /pools, GET /pools?poolid=, GET /pools/{poolid} (pve-manager ``PVE/API2/Pool.pm``
``index`` and ``read_pool``, members from ``API2Tools.pm`` ``extract_vm_stats`` and
``extract_storage_stats``)."""

from pvesim.access import Identity
from pvesim.testing import make_sim

from helpers import api, cluster, refused


def test_pools_of_a_scenario_and_their_members():
    sim = make_sim("example-small-base.json")
    node = sorted(sim.hosts)[0]
    pools = api(sim, node, "GET", "/pools")
    assert [p["poolid"] for p in pools] == ["dev", "prod", "test"] and "members" not in pools[0]
    [prod] = api(sim, node, "GET", "/pools", poolid="prod")
    assert prod["poolid"] == "prod"
    vmids = [m["vmid"] for m in prod["members"]]
    expected = sorted((g.vmid for g in sim.hosts[node].fs.guests.values() if g.pool == "prod"), key=str)
    assert vmids == expected
    member = prod["members"][0]
    assert {"id", "vmid", "node", "type", "status", "maxmem", "mem", "cpu", "maxcpu"} <= set(member)
    assert not {"pool", "tags", "lock", "hastate"} & set(member)
    only_lxc = api(sim, node, "GET", "/pools", poolid="prod", type="lxc")[0]["members"]
    assert {m["type"] for m in only_lxc} <= {"lxc"}
    old = api(sim, node, "GET", "/pools/prod")
    assert old["members"] == prod["members"]


def test_pool_storage_members_and_comment():
    sim = cluster()
    sim.guest(100).pool = "web"
    sim.hosts["pve1"].fs.pools["web"] = {"comment": "front", "storage": ["local"]}
    [web] = api(sim, "pve2", "GET", "/pools", poolid="web")
    assert web["comment"] == "front"
    assert [m["id"] for m in web["members"]] == ["qemu/100", "storage/pve2/local"]
    assert api(sim, "pve1", "GET", "/pools", poolid="web", type="storage")[0]["members"][0]["storage"] == "local"


def test_unknown_pool_and_permissions():
    sim = cluster(users=[{"userid": "alice@pve", "password": "pw"}],
                  acl=[{"path": "/pool/b", "roleid": "PVEAuditor", "users": "alice@pve"}])
    sim.hosts["pve1"].fs.pools.update({"a": {}, "b": {}})
    err = refused(sim, "pve1", "GET", "/pools", poolid="nope")
    assert (err.status, err.message) == (500, "pool 'nope' does not exist")
    seen = api(sim, "pve1", "GET", "/pools", identity=Identity(userid="alice@pve"))
    assert [p["poolid"] for p in seen] == ["b"]
