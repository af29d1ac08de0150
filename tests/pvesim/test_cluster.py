"""Cluster life-cycle: create, join info, join (and its refusals), node removal, status."""

import pytest

from pvesim.dispatch import dispatch
from pvesim.routing import Identity
from pvesim.testing import call, make_sim

from helpers import api_error, issue_certificates


@pytest.fixture
def sim():
    """pve-a (holds guests), pve-b and pve-c: three standalone hosts."""
    return issue_certificates(make_sim("example-standalone-3.json"))


def _task(sim, node, upid):
    task = sim.hosts[node].tasks[upid]
    assert task.status == "stopped"
    return task


def _create(sim, node="pve-b", name="lab", **params):
    upid = call(sim, node, "POST", "/cluster/config", clustername=name, **params)
    assert ":clustercreate:%s:" % name in upid
    assert _task(sim, node, upid).exitstatus == "OK"
    return upid


def _join(sim, node, peer="pve-b", fingerprint=None, password=None, **params):
    peer_host = sim.hosts[peer]
    upid = call(sim, node, "POST", "/cluster/config/join", hostname=peer_host.address,
                fingerprint=fingerprint or peer_host.fingerprint,
                password=sim.root_password if password is None else password, **params)
    assert ":clusterjoin::" in upid
    return _task(sim, node, upid)


def test_standalone_host_has_no_cluster(sim):
    status = call(sim, "pve-b", "GET", "/cluster/status")
    assert status == [{"type": "node", "id": "node/pve-b", "name": "pve-b", "ip": sim.hosts["pve-b"].address,
                       "local": 1, "nodeid": 0, "online": 1, "level": ""}]
    err = api_error(call, sim, "pve-b", "GET", "/cluster/config/join")
    assert (err.status, err.message) == (424, "node is not in a cluster, no join info available!")
    assert call(sim, "pve-b", "GET", "/cluster/config/nodes") == []
    assert call(sim, "pve-b", "GET", "/cluster/config/totem") is None
    assert {"name": "join"} in call(sim, "pve-b", "GET", "/cluster/config")
    assert call(sim, "pve-b", "GET", "/cluster/config/apiversion") == 1


def test_create_cluster(sim):
    _create(sim, "pve-b", "lab")
    status = call(sim, "pve-b", "GET", "/cluster/status")
    assert status[0] == {"type": "cluster", "id": "cluster", "name": "lab", "version": 1, "nodes": 1, "quorate": 1}
    assert status[1]["name"] == "pve-b" and status[1]["nodeid"] == 1 and status[1]["local"] == 1
    totem = call(sim, "pve-b", "GET", "/cluster/config/totem")
    assert totem["cluster_name"] == "lab" and totem["config_version"] == "1"
    assert totem["interface"] == {"0": {"linknumber": "0"}}
    # PVE's corosync parser gives strings
    assert call(sim, "pve-b", "GET", "/cluster/config/nodes") == [
        {"node": "pve-b", "name": "pve-b", "nodeid": "1", "quorum_votes": "1", "ring0_addr": sim.hosts["pve-b"].address}]
    # the other hosts are untouched
    assert call(sim, "pve-c", "GET", "/cluster/status")[0]["nodeid"] == 0


def test_create_twice_is_refused(sim):
    _create(sim)
    err = api_error(call, sim, "pve-b", "POST", "/cluster/config", clustername="other")
    assert (err.status, err.message) == (500, "cluster config '/etc/pve/corosync.conf' already exists")


def test_create_with_links_nodeid_votes(sim):
    address = sim.hosts["pve-b"].address
    _create(sim, "pve-b", "lab", link0="address=%s,priority=10" % address, nodeid=5, votes=2,
            **{"token-coefficient": 250})
    [entry] = call(sim, "pve-b", "GET", "/cluster/config/nodes")
    assert (entry["nodeid"], entry["quorum_votes"], entry["ring0_addr"]) == ("5", "2", address)
    totem = call(sim, "pve-b", "GET", "/cluster/config/totem")
    assert totem["interface"]["0"] == {"linknumber": "0", "knet_link_priority": "10"}
    assert totem["token_coefficient"] == "250"


def test_create_rejects_bad_cluster_name(sim):
    err = api_error(call, sim, "pve-b", "POST", "/cluster/config", clustername="x" * 16)
    assert err.status == 400 and "clustername" in err.errors


def test_join_info_shape(sim):
    _create(sim)
    info = call(sim, "pve-b", "GET", "/cluster/config/join")
    assert set(info) == {"nodelist", "preferred_node", "totem", "config_digest"}
    assert info["preferred_node"] == "pve-b"
    [node] = info["nodelist"]
    b = sim.hosts["pve-b"]
    assert node == {"name": "pve-b", "nodeid": "1", "quorum_votes": "1", "ring0_addr": b.address,
                    "pve_addr": b.address, "pve_fp": b.fingerprint}
    assert len(info["config_digest"]) == 40
    # ``node`` is also call()'s own argument: go through dispatch directly
    err = api_error(dispatch, sim, sim.hosts["pve-b"], "GET", "/cluster/config/join", {"node": "pve-c"},
                    Identity(userid="root@pam"))
    assert err.message == "unknown node 'pve-c'"


def test_join_two_hosts(sim):
    _create(sim)
    digest_before = call(sim, "pve-b", "GET", "/cluster/config/join")["config_digest"]
    fingerprint = call(sim, "pve-b", "GET", "/cluster/config/join")["nodelist"][0]["pve_fp"]
    task = _join(sim, "pve-c", fingerprint=fingerprint)
    assert task.exitstatus == "OK"
    assert "successfully added node 'pve-c' to cluster." in task.lines
    assert sim.hosts["pve-c"].fs is sim.hosts["pve-b"].fs
    for node in ("pve-b", "pve-c"):
        status = call(sim, node, "GET", "/cluster/status")
        assert status[0] == {"type": "cluster", "id": "cluster", "name": "lab", "version": 2, "nodes": 2, "quorate": 1}
        assert [(s["name"], s["nodeid"], s["local"], s["online"]) for s in status[1:]] == [
            ("pve-b", 1, int(node == "pve-b"), 1), ("pve-c", 2, int(node == "pve-c"), 1)]
    assert [n["node"] for n in call(sim, "pve-c", "GET", "/nodes")] == ["pve-b", "pve-c"]
    assert call(sim, "pve-c", "GET", "/cluster/config/join")["config_digest"] != digest_before
    # a node of the cluster is reachable through the other member now
    assert call(sim, "pve-b", "GET", "/nodes/pve-c/status")["cpuinfo"]["model"]


def test_join_by_node_name_with_link(sim):
    _create(sim)
    c = sim.hosts["pve-c"]
    task = _join(sim, "pve-c", peer="pve-b", link0=c.address)
    assert task.exitstatus == "OK", task.lines
    nodes = {n["name"]: n for n in call(sim, "pve-b", "GET", "/cluster/config/nodes")}
    assert nodes["pve-c"]["ring0_addr"] == c.address and nodes["pve-c"]["nodeid"] == "2"


def test_join_wrong_fingerprint(sim):
    _create(sim)
    wrong = ":".join(["AB"] * 32)
    task = _join(sim, "pve-c", fingerprint=wrong)
    assert task.exitstatus == "fingerprint '%s' not verified, abort!" % sim.hosts["pve-b"].fingerprint
    assert sim.hosts["pve-c"].fs is not sim.hosts["pve-b"].fs
    assert len(call(sim, "pve-b", "GET", "/cluster/config/nodes")) == 1


def test_join_fingerprint_is_case_insensitive(sim):
    _create(sim)
    assert _join(sim, "pve-c", fingerprint=sim.hosts["pve-b"].fingerprint.lower()).exitstatus == "OK"


def test_join_wrong_password(sim):
    _create(sim)
    task = _join(sim, "pve-c", password="not-the-password")
    assert task.exitstatus == "401 authentication failure"
    assert call(sim, "pve-c", "GET", "/cluster/status")[0]["nodeid"] == 0


def test_join_host_with_guests_is_refused(sim):
    _create(sim)
    task = _join(sim, "pve-a")
    assert task.exitstatus == "Check if node may join a cluster failed!"
    assert "* this host already contains virtual guests" in task.lines
    assert sim.hosts["pve-a"].fs.guests  # nothing was lost


def test_join_host_with_guests_forced(sim):
    _create(sim)
    task = _join(sim, "pve-a", force=1)
    assert task.exitstatus == "OK"
    assert "WARNING : detected error but forced to continue!" in task.lines
    # like PVE, the joiner's own /etc/pve (and so its guest configs) is replaced
    assert sim.hosts["pve-a"].fs is sim.hosts["pve-b"].fs and not sim.hosts["pve-a"].guests()


def test_join_already_clustered_is_refused(sim):
    _create(sim)
    assert _join(sim, "pve-c").exitstatus == "OK"
    task = _join(sim, "pve-c")
    assert task.exitstatus == "Check if node may join a cluster failed!"
    assert "* cluster config '/etc/pve/corosync.conf' already exists" in task.lines
    assert "* corosync is already running, is this node already in a cluster?!" in task.lines


def test_join_to_standalone_host_fails(sim):
    task = _join(sim, "pve-c", peer="pve-b")
    assert task.exitstatus == "Cluster join aborted!"
    assert "An error occurred on the cluster node: invalid corosync.conf" in task.lines
    assert "! no nodes found" in task.lines


def test_join_unknown_peer(sim):
    upid = call(sim, "pve-c", "POST", "/cluster/config/join", hostname="192.0.2.99",
                fingerprint=sim.hosts["pve-b"].fingerprint, password=sim.root_password)
    assert _task(sim, "pve-c", upid).exitstatus.startswith("500 Can't connect to 192.0.2.99:8006")


def test_join_link_not_local(sim):
    _create(sim)
    task = _join(sim, "pve-c", link0="192.0.2.10")
    assert task.exitstatus == "Check if node may join a cluster failed!"
    assert "* link0: cannot use IP '192.0.2.10', not found on local node!" in task.lines


def test_join_reused_address(sim):
    _create(sim)
    # forced past the local check, the cluster side refuses an address in use
    task = _join(sim, "pve-c", link0=sim.hosts["pve-b"].address, force=1)
    assert task.exitstatus == "Cluster join aborted!"
    assert ("An error occurred on the cluster node: corosync: address '%s' already used on link ring0_addr "
            "by node 'pve-b'" % sim.hosts["pve-b"].address) in task.lines


def test_add_node_api_duplicate_and_force(sim):
    _create(sim)
    assert _join(sim, "pve-c").exitstatus == "OK"
    c = sim.hosts["pve-c"]
    err = api_error(call, sim, "pve-b", "POST", "/cluster/config/nodes/pve-c", new_node_ip=c.address, apiversion=1)
    assert (err.status, err.message) == (500, "can't add existing node 'pve-c'")
    result = call(sim, "pve-b", "POST", "/cluster/config/nodes/pve-c", new_node_ip=c.address, apiversion=1,
                  force=1, nodeid=2, votes=1)
    assert set(result) == {"corosync_authkey", "corosync_conf", "warnings"}
    assert "name: pve-c" in result["corosync_conf"]
    # a duplicate name through the join call too
    sim.hosts["pve-c"].fs = sim.hosts["pve-c"].fs.__class__()  # pretend pve-c was reinstalled
    task = _join(sim, "pve-c")
    assert task.exitstatus == "Cluster join aborted!"
    assert "An error occurred on the cluster node: can't add existing node 'pve-c'" in task.lines


def test_delete_node(sim):
    _create(sim)
    assert _join(sim, "pve-c").exitstatus == "OK"
    err = api_error(call, sim, "pve-b", "DELETE", "/cluster/config/nodes/pve-b")
    assert err.message == "Cannot delete myself from cluster!"
    err = api_error(call, sim, "pve-b", "DELETE", "/cluster/config/nodes/pve-x")
    assert err.message == "Node/IP: pve-x is not a known host of the cluster."
    assert call(sim, "pve-b", "DELETE", "/cluster/config/nodes/pve-c") is None
    status = call(sim, "pve-b", "GET", "/cluster/status")
    assert status[0]["nodes"] == 1 and status[0]["version"] == 3 and [s["name"] for s in status[1:]] == ["pve-b"]
    # the removed host is standalone again, with its own /etc/pve
    assert call(sim, "pve-c", "GET", "/cluster/status")[0]["nodeid"] == 0
    assert sim.hosts["pve-c"].fs is not sim.hosts["pve-b"].fs
    err = api_error(call, sim, "pve-b", "GET", "/nodes/pve-c/status")
    assert err.message == "no such cluster node 'pve-c'"
    # and may join again
    assert _join(sim, "pve-c").exitstatus == "OK"


def test_delete_node_needs_a_node_name(sim):
    _create(sim)
    assert _join(sim, "pve-c").exitstatus == "OK"
    # the API's pve-node format refuses an address (only the CLI would take one)
    err = api_error(call, sim, "pve-b", "DELETE", "/cluster/config/nodes/%s" % sim.hosts["pve-c"].address)
    assert err.status == 400 and "node" in err.errors


def test_quorum_in_status_and_writes():
    sim = make_sim("example-small-base.json", cluster_name="lab")
    status = call(sim, "pve01", "GET", "/cluster/status")
    assert status[0]["quorate"] == 1 and status[0]["nodes"] == 3
    sim.hosts["pve02"].online = False
    status = call(sim, "pve01", "GET", "/cluster/status")
    assert status[0]["quorate"] == 1
    assert {s["name"]: s["online"] for s in status[1:]} == {"pve01": 1, "pve02": 0, "pve03": 1}
    sim.hosts["pve03"].online = False
    assert call(sim, "pve01", "GET", "/cluster/status")[0]["quorate"] == 0
    err = api_error(call, sim, "pve01", "DELETE", "/cluster/config/nodes/pve02")
    assert err.message == "cluster not ready - no quorum?"
    err = api_error(call, sim, "pve01", "POST", "/cluster/config/nodes/pve09", new_node_ip="127.0.0.50")
    assert err.message == "cluster not ready - no quorum?"


def test_scenario_cluster_is_already_clustered():
    sim = issue_certificates(make_sim("example-small-base.json", cluster_name="lab"))
    err = api_error(call, sim, "pve01", "POST", "/cluster/config", clustername="again")
    assert err.message == "cluster config '/etc/pve/corosync.conf' already exists"
    info = call(sim, "pve02", "GET", "/cluster/config/join")
    assert info["preferred_node"] == "pve02" and len(info["nodelist"]) == 3
    assert {n["pve_fp"] for n in info["nodelist"]} == {h.fingerprint for h in sim.hosts.values()}


def test_non_root_cannot_create():
    sim = make_sim("example-standalone-3.json")
    sim.hosts["pve-b"].fs.users["alice@pve"] = {"enable": 1, "expire": 0, "password": "x", "tokens": {}}
    err = api_error(call, sim, "pve-b", "POST", "/cluster/config", identity=Identity(userid="alice@pve"),
                    clustername="lab")
    assert err.status == 403


def test_node_addresses_are_link_addresses_and_join_targets():
    """Scenario ``node_addresses``: a host's further IPs serve as its link addresses and as a join's hostname."""
    import json

    from pvesim import scenario

    with open(scenario.find("example-standalone-3.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    data["node_addresses"] = {"pve-b": ["10.10.0.2", "10.20.0.2"], "pve-c": ["10.10.0.3", "10.20.0.3"]}
    sim = issue_certificates(make_sim(data))
    _create(sim, link0="10.10.0.2", link1="10.20.0.2")
    b = sim.hosts["pve-b"]
    upid = call(sim, "pve-c", "POST", "/cluster/config/join", hostname="10.10.0.2", fingerprint=b.fingerprint,
                password=sim.root_password, link0="10.10.0.3", link1="10.20.0.3")
    assert _task(sim, "pve-c", upid).exitstatus == "OK"
    assert b.fs.corosync_nodes["pve-c"]["ring1_addr"] == "10.20.0.3"
    # an address of another host is still not local
    task = _join(sim, "pve-a", link0="10.10.0.3")
    assert "* link0: cannot use IP '10.10.0.3', not found on local node!" in task.lines
    with pytest.raises(ValueError, match="no node 'pve-x'"):
        make_sim(dict(data, node_addresses={"pve-x": ["10.0.0.1"]}))


def test_host_names_are_join_targets():
    """Scenario ``host_names``: DNS names the simulated hosts resolve to a host, as a join's hostname."""
    import json

    from pvesim import scenario

    with open(scenario.find("example-standalone-3.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    data["host_names"] = {"pve-b": ["pve-b.lab.example"]}
    sim = issue_certificates(make_sim(data))
    _create(sim)
    b = sim.hosts["pve-b"]
    upid = call(sim, "pve-c", "POST", "/cluster/config/join", hostname="pve-x.lab.example",  # a name no host has
                fingerprint=b.fingerprint, password=sim.root_password)
    assert "Name or service not known" in _task(sim, "pve-c", upid).exitstatus
    upid = call(sim, "pve-c", "POST", "/cluster/config/join", hostname="pve-b.lab.example", fingerprint=b.fingerprint,
                password=sim.root_password)
    assert _task(sim, "pve-c", upid).exitstatus == "OK"
    assert sim.hosts["pve-c"].fs is b.fs
    with pytest.raises(ValueError, match="no node 'pve-x'"):
        make_sim(dict(data, host_names={"pve-x": ["x.example"]}))
    with pytest.raises(ValueError, match="not a DNS name"):
        make_sim(dict(data, host_names={"pve-b": ["10.0.0.1"]}))
