"""Snapshots: list with current and parents, create/delete/rollback tasks, name rules, locks."""

from helpers import api, cluster, refused, task


def names_and_parents(sim, node, kind, vmid):
    listed = api(sim, node, "GET", "/nodes/%s/%s/%d/snapshot" % (node, kind, vmid))
    return {s["name"]: s.get("parent") for s in listed}, listed


def test_create_list_with_current_and_parents():
    sim = cluster()
    base = "/nodes/pve1/qemu/100/snapshot"
    upid = api(sim, "pve1", "POST", base, snapname="first", description="one")
    assert ":qmsnapshot:100:" in upid and task(sim, upid)["exitstatus"] == "OK"
    assert task(sim, api(sim, "pve1", "POST", base, snapname="second", vmstate=1))["exitstatus"] == "OK"
    parents, listed = names_and_parents(sim, "pve1", "qemu", 100)
    assert parents == {"first": None, "second": "first", "current": "second"}
    current = listed[-1]
    assert current["name"] == "current" and current["description"] == "You are here!" and current["running"] == 1
    second = [s for s in listed if s["name"] == "second"][0]
    assert second["vmstate"] == 1 and second["snaptime"] > 0
    assert api(sim, "pve1", "GET", base + "/first") == [{"cmd": "rollback"}, {"cmd": "config"}]
    assert api(sim, "pve1", "GET", base + "/first/config")["description"] == "one"
    api(sim, "pve1", "PUT", base + "/first/config", description="changed")
    assert [s for s in api(sim, "pve1", "GET", base) if s["name"] == "first"][0]["description"] == "changed"
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/config")["parent"] == "second"


def test_name_rules():
    sim = cluster()
    base = "/nodes/pve1/qemu/100/snapshot"
    err = refused(sim, "pve1", "POST", base, snapname="current")
    assert err.message == "unable to use snapshot name 'current' (reserved name)"
    assert refused(sim, "pve1", "POST", base, snapname="1abc").status == 400
    assert refused(sim, "pve1", "POST", base, snapname="a" * 41).status == 400
    assert task(sim, api(sim, "pve1", "POST", base, snapname="a" * 40))["exitstatus"] == "OK"
    dup = task(sim, api(sim, "pve1", "POST", base, snapname="a" * 40))
    assert dup["exitstatus"] == "snapshot name '%s' already used" % ("a" * 40)


def test_delete_reparents_children():
    sim = cluster()
    base = "/nodes/pve1/qemu/101/snapshot"
    for name in ("s1", "s2", "s3"):
        task(sim, api(sim, "pve1", "POST", base, snapname=name))
    upid = api(sim, "pve1", "DELETE", base + "/s2")
    assert ":qmdelsnapshot:101:" in upid and task(sim, upid)["exitstatus"] == "OK"
    parents, _ = names_and_parents(sim, "pve1", "qemu", 101)
    assert parents == {"s1": None, "s3": "s1", "current": "s3"}
    task(sim, api(sim, "pve1", "DELETE", base + "/s3"))
    assert names_and_parents(sim, "pve1", "qemu", 101)[0] == {"s1": None, "current": "s1"}
    missing = task(sim, api(sim, "pve1", "DELETE", base + "/nope"))
    assert missing["exitstatus"] == "snapshot 'nope' does not exist"


def test_rollback_restores_config_and_start():
    sim = cluster()
    base = "/nodes/pve1/qemu/101/snapshot"
    task(sim, api(sim, "pve1", "POST", base, snapname="clean"))
    api(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/config", cores=8)
    task(sim, api(sim, "pve1", "POST", base, snapname="later"))
    upid = api(sim, "pve1", "POST", base + "/clean/rollback", start=1)
    assert ":qmrollback:101:" in upid and task(sim, upid)["exitstatus"] == "OK"
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/config")["cores"] == 4
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/status/current")["status"] == "running"
    assert names_and_parents(sim, "pve1", "qemu", 101)[0]["current"] == "clean"


def test_lxc_snapshots():
    sim = cluster()
    base = "/nodes/pve2/lxc/200/snapshot"
    upid = api(sim, "pve2", "POST", base, snapname="ct_snap", description="c")
    assert ":vzsnapshot:200:" in upid and task(sim, upid)["exitstatus"] == "OK"
    listed = api(sim, "pve2", "GET", base)
    assert [s["name"] for s in listed] == ["ct_snap", "current"] and "vmstate" not in listed[0]
    assert task(sim, api(sim, "pve2", "POST", base + "/ct_snap/rollback"))["exitstatus"] == "OK"
    assert task(sim, api(sim, "pve2", "DELETE", base + "/ct_snap"))["exitstatus"] == "OK"


def test_locked_guest_refuses_snapshot_ops():
    sim = cluster()
    sim.hosts["pve1"].fs.guests[100].lock = "backup"
    assert task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="x1"))["exitstatus"] == \
        "VM is locked (backup)"
    sim.hosts["pve1"].fs.guests[200].lock = "backup"
    assert task(sim, api(sim, "pve2", "POST", "/nodes/pve2/lxc/200/snapshot", snapname="x1"))["exitstatus"] == \
        "CT is locked (backup)"


def test_snapshot_lock_while_the_task_runs():
    sim = cluster(time_scale=0.05)
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="slow", vmstate=1)
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/status/current")["lock"] == "snapshot"
    second = task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="other"))
    assert second["exitstatus"] == "VM is locked (snapshot)"
    assert task(sim, upid)["exitstatus"] == "OK"
    assert "lock" not in api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/status/current")


def test_scenario_snapshots_key():
    sim = cluster(snapshots={"100": [{"name": "base", "description": "golden", "snaptime": 1700000000},
                                     {"name": "upgrade"}]})
    parents, listed = names_and_parents(sim, "pve1", "qemu", 100)
    assert parents == {"base": None, "upgrade": "base", "current": "upgrade"}
    assert listed[0]["snaptime"] == 1700000000
    assert task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot/base/rollback"))["exitstatus"] == "OK"


def test_config_of_a_snapshot_through_the_config_call():
    """``GET .../config?snapshot=NAME``: the saved section, vmstate included, with the file's digest."""
    sim = cluster()
    base = "/nodes/pve1/qemu/100"
    assert task(sim, api(sim, "pve1", "POST", base + "/snapshot", snapname="saved", vmstate=1))["exitstatus"] == "OK"
    current = api(sim, "pve1", "GET", base + "/config")
    saved = api(sim, "pve1", "GET", base + "/config", snapshot="saved")
    assert saved["digest"] == current["digest"]
    assert saved["vmstate"] == api(sim, "pve1", "GET", base + "/snapshot/saved/config")["vmstate"]
    assert saved["snaptime"] > 0 and "parent" not in saved
    error = refused(sim, "pve1", "GET", base + "/config", snapshot="nosuch")
    assert (error.status, error.message) == (500, "snapshot 'nosuch' does not exist")
