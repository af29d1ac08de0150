"""Fixes from the pvesim review: request pipeline, faults, tasks and permission details.
Each test names the PVE source the behaviour follows."""

import pytest

from helpers import api, refused
from pvesim.testing import make_sim

LONE = {"resources": [{"type": "node", "node": "pve1"}], "root_password": "pw"}


@pytest.fixture
def sim():
    return make_sim(LONE)


def test_parameter_conflicting_with_the_path_is_refused(sim):
    # pve-manager PVE/HTTPServer.pm rest_handler: raise_param_exc({$p => "duplicate parameter
    # (already defined in URI) with conflicting values!"}); the same value is accepted
    err = refused(sim, "pve1", "GET", "/nodes/pve1/status", node="pve2")
    assert (err.status, err.message) == (400, "Parameter verification failed.")
    assert err.errors == {"node": "duplicate parameter (already defined in URI) with conflicting values!"}
    assert api(sim, "pve1", "GET", "/nodes/pve1/status", node="pve1")["cpuinfo"]


def test_overlapping_fail_rules_apply_one_request_each(sim):
    sim.faults.fail_next("/version", status=500, message="first")
    sim.faults.fail_next("/version", status=503, message="second")
    assert refused(sim, "pve1", "GET", "/version").message == "first"
    assert refused(sim, "pve1", "GET", "/version").message == "second"
    assert api(sim, "pve1", "GET", "/version")["version"]


def test_overlapping_drop_rules_drop_one_request_each(sim):
    host = sim.hosts["pve1"]
    sim.faults.drop_next("/version")
    sim.faults.drop_next("*")
    sim.faults.add_latency(0.25, path="/version", count=1)
    assert sim.faults.http_action(host, "GET", "/version", "/version") == (0.25, True)
    assert sim.faults.http_action(host, "GET", "/version", "/version") == (0.0, True)
    assert sim.faults.http_action(host, "GET", "/version", "/version") == (0.0, False)


@pytest.mark.parametrize("count", [0, -1])
def test_fault_count_below_one_is_refused(sim, count):
    with pytest.raises(ValueError, match="count must be at least 1"):
        sim.faults.fail_next("/version", count=count)
    with pytest.raises(ValueError):
        sim.faults.apply({"action": "drop_next", "path": "/version", "count": count})
    assert sim.faults.describe()["rules"] == []


@pytest.mark.parametrize("how", ["set_offline", "shutdown"])
def test_fence_clock_starts_when_the_node_goes_down(how):
    # PVE's CRM counts from the node's loss (its lock expires), not from when someone next asks
    scenario = {"cluster_name": "c", "root_password": "pw",
                "resources": [{"type": "node", "node": n} for n in ("p1", "p2", "p3")]
                + [{"type": "qemu", "vmid": 100, "node": "p2", "status": "running", "hastate": "started"}]}
    sim = make_sim(scenario, time_scale=0.001)  # FENCE_SECONDS (120) is 0.12 real seconds
    if how == "set_offline":
        sim.faults.set_offline("p2")
    else:
        api(sim, "p2", "POST", "/nodes/p2/status", command="shutdown")
    import time

    time.sleep(0.3)  # well past the fence time, and no request in between
    vm = [r for r in api(sim, "p1", "GET", "/cluster/resources", type="vm") if r["vmid"] == 100][0]
    assert vm["node"] != "p2" and vm["status"] == "running"


def test_a_failing_hook_is_logged_and_does_not_break_requests(sim, monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError("hook bug")

    monkeypatch.setattr(sim, "tick_hooks", sim.tick_hooks + [broken])
    monkeypatch.setattr(sim, "boot_hooks", [broken] + sim.boot_hooks)
    assert api(sim, "pve1", "GET", "/version")["version"]
    api(sim, "pve1", "POST", "/nodes/pve1/status", command="reboot")  # time_scale 0: back at once
    assert api(sim, "pve1", "GET", "/nodes/pve1/status")["uptime"] >= 0
    assert sim.hosts["pve1"].online
    assert "hook bug" in caplog.text


@pytest.mark.parametrize("action", ["expire_tickets", "lose_quorum", "restore_quorum"])
def test_fault_actions_wait_for_the_simulator_lock(sim, action):
    # the control channel runs in its own thread: a fault must not change the world in the
    # middle of a request, which holds sim.lock
    import threading

    host = sim.hosts["pve1"]
    if action == "restore_quorum":
        host.fs.quorum_lost = True
    before = (host.fs.authkey, host.fs.quorum_lost)
    done = threading.Event()

    def run():
        getattr(sim.faults, action)()
        done.set()

    with sim.lock:
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        assert not done.wait(0.2)
        assert (host.fs.authkey, host.fs.quorum_lost) == before
    assert done.wait(2)
    assert (host.fs.authkey, host.fs.quorum_lost) != before


TWO = {"resources": [{"type": "node", "node": "pve1"}, {"type": "node", "node": "pve2"}], "root_password": "pw"}


def _listener(address, port=8006):
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((address, port))
    sock.listen()
    return sock


def test_running_stops_started_hosts_when_one_cannot_bind():
    import threading

    from pvesim import testing

    base = testing.free_address_base(2)
    second = testing.address_allocator(base)(1)
    blocker = _listener(second)
    try:
        with pytest.raises(OSError):
            with testing.running(TWO, address_base=base):
                pass
        # the first host's endpoint is gone: its address can be bound again, no thread serves it
        _listener(base).close()
        assert not [t for t in threading.enumerate() if t.name == "pvesim-pve1" and t.is_alive()]
    finally:
        blocker.close()


def test_running_retries_a_fresh_range_when_the_picked_one_is_taken(monkeypatch):
    from pvesim import testing

    taken = testing.free_address_base(2)
    blocker = _listener(testing.address_allocator(taken)(1))
    picks = iter([taken])
    real = testing.free_address_base
    monkeypatch.setattr(testing, "free_address_base", lambda *a, **k: next(picks, None) or real(*a, **k))
    try:
        with testing.running(TWO) as pve:
            assert pve.sim.hosts["pve1"].address != taken
            assert pve.client("pve2").version.get()["version"]
    finally:
        blocker.close()


def test_simulator_filesystems_lists_each_clusterfs_once():
    scenario = {"cluster_name": "c", "root_password": "pw",
                "resources": [{"type": "node", "node": n} for n in ("p1", "p2")]}
    sim = make_sim(scenario)
    fs = sim.hosts["p1"].fs
    assert sim.filesystems() == [fs] and sim.hosts["p2"].fs is fs
    lone = make_sim(TWO)
    assert lone.filesystems() == [lone.hosts["pve1"].fs, lone.hosts["pve2"].fs]
    assert lone.filesystems("pve2") == [lone.hosts["pve2"].fs]


def test_one_fingerprint_function_for_text_and_bytes(sim):
    from pvesim import certs

    ca = certs.CertificateAuthority()
    cert_pem, _key = ca.issue("pve1", "127.0.0.2")
    assert certs.fingerprint(cert_pem) == certs.fingerprint(cert_pem.encode())
    # the certificate info of the API reports the same fingerprint
    host = sim.hosts["pve1"]
    host.cert_pem = cert_pem
    infos = api(sim, "pve1", "GET", "/nodes/pve1/certificates/info")
    assert certs.fingerprint(cert_pem) in {i["fingerprint"] for i in infos}


def _perm_sim():
    from conftest import core_scenario

    sim = make_sim(core_scenario())
    return sim, sim.hosts["pve-a"].fs


def _perm_error(sim, fs, identity, permissions, params):
    from pvesim.errors import ApiError

    with pytest.raises(ApiError) as info:
        sim.access.check_permissions(fs, identity, permissions, params)
    return info.value


def test_permission_user_all_allows_before_any_check():
    # RPCEnvironment::check_api2_permissions: return 1 if $perm->{user} eq 'all'
    from pvesim.routing import Identity

    sim, fs = _perm_sim()
    permissions = {"user": "all", "check": ["perm", "/", ["Sys.Modify"]]}
    assert sim.access.check_permissions(fs, Identity("bob@pve"), permissions, {}) is None


def test_permission_userid_param():
    # exec_api2_perm_check 'userid-param': 'self' needs the caller (token ID for tokens) to be
    # the existing user named by userid; 'Realm.AllocateUser' is a privilege on the user's realm
    from pvesim.routing import Identity

    sim, fs = _perm_sim()
    self_only = {"check": ["userid-param", "self"]}
    assert sim.access.check_permissions(fs, Identity("bob@pve"), self_only, {"userid": "bob@pve"}) is None
    assert _perm_error(sim, fs, Identity("bob@pve"), self_only, {"userid": "alice@pve"}).status == 403
    # check_user_exist without noerr: PVE's plain die, a 500
    err = _perm_error(sim, fs, Identity("bob@pve"), self_only, {"userid": "nobody@pve"})
    assert (err.status, err.message) == (500, "no such user ('nobody@pve')")
    realm = {"check": ["userid-param", "Realm.AllocateUser"]}
    err = _perm_error(sim, fs, Identity("bob@pve"), realm, {"userid": "alice@pve"})
    assert err.message == "Permission check failed (/access/realm/pve, Realm.AllocateUser)"
    fs.acl.append({"path": "/access/realm/pve", "type": "user", "ugid": "bob@pve", "roleid": "PVEUserAdmin",
                   "propagate": 1})
    assert sim.access.check_permissions(fs, Identity("bob@pve"), realm, {"userid": "alice@pve"}) is None


def test_permission_userid_group_reads_the_groups_parameter():
    # exec_api2_perm_check 'userid-group': groups_param is a flag, the groups are in "groups"
    from pvesim.routing import Identity

    sim, fs = _perm_sim()
    fs.groups["dev"] = {"comment": ""}
    fs.acl.append({"path": "/access/groups/ops", "type": "user", "ugid": "alice@pve", "roleid": "PVEUserAdmin",
                   "propagate": 1})
    alice = Identity("alice@pve")
    check = {"check": ["userid-group", ["User.Modify"], "groups_param", "create"]}  # the user need not exist
    assert sim.access.check_permissions(fs, alice, check, {"userid": "new@pve", "groups": "ops"}) is None
    err = _perm_error(sim, fs, alice, check, {"userid": "new@pve", "groups": "ops,dev"})
    assert err.message == "Permission check failed (/access/groups/dev, User.Modify)"
    err = _perm_error(sim, fs, alice, check, {"userid": "new@pve"})
    assert err.message == "Permission check failed (/access/groups, User.Modify)"
    # without groups_param: the existing user must be in a group the caller may modify
    existing = {"check": ["userid-group", ["User.Modify"]]}
    assert sim.access.check_permissions(fs, alice, existing, {"userid": "bob@pve"}) is None  # bob is in ops
    assert _perm_error(sim, fs, alice, existing, {"userid": "carol@pve"}).status == 403


def test_unsimulated_permission_tests_are_refused_loudly():
    from pvesim.routing import Identity

    sim, fs = _perm_sim()
    err = _perm_error(sim, fs, Identity("alice@pve"), {"check": ["no-such-test", "/vms/100"]}, {})
    assert (err.status, err.message) == (500, "unknown permission test")


def test_statusfilter_is_checked_against_pve_task_status_type(sim):
    err = refused(sim, "pve1", "GET", "/nodes/pve1/tasks", statusfilter="ok,foo")
    assert err.status == 400 and "foo" in err.errors["statusfilter"]
    sim.start_task(sim.hosts["pve1"], "test", "", "root@pam", 0)
    assert [t["status"] for t in api(sim, "pve1", "GET", "/nodes/pve1/tasks", statusfilter="OK,error")] == ["OK"]


@pytest.mark.parametrize("fmt, good, bad, message", [
    ("pve-tag-list", "web;prod db", "web;pr$d", "invalid characters in tag"),
    ("pve-ha-resource-id-list", "vm:100,ct:101", "vm:100,100", "valid ha resource id"),
    ("pve-ha-node-list", "pve1:2,pve2", "pve1:x", "valid ha node"),
    ("storage-pair-list", "local-lvm:ceph,nfs1", "local:ceph:x", "storage mapping"),
    ("pve-storage-path", "/mnt/backup", "mnt/backup", "absolute path"),
    ("prune-backups", "keep-last=3,keep-daily=7", "keep-all=1,keep-last=2", "keep-all cannot be set together"),
    ("prune-backups", "keep-all=1", "keep-hourly=x", "type check"),
])
def test_named_formats_are_checked(fmt, good, bad, message):
    from pvesim import schema

    schema.check_format(fmt, good, "x")
    with pytest.raises(schema.FormatError, match=message):
        schema.check_format(fmt, bad, "x")
