"""Migration: preconditions, tasks that move load, locks, and PVE's refusals."""

import time

import pytest

from helpers import GIB, api, cluster, refused, task, task_over_https


def node_items(sim):
    return {n["node"]: n for n in api(sim, "pve1", "GET", "/cluster/resources", type="node")}


def test_migration_moves_the_load():
    sim = cluster()
    before = node_items(sim)
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve3", online=1,
               **{"with-local-disks": 1})
    assert ":qmigrate:100:" in upid and task(sim, upid)["exitstatus"] == "OK"
    after = node_items(sim)
    assert after["pve1"]["mem"] == before["pve1"]["mem"] - 2 * GIB
    assert after["pve3"]["mem"] == before["pve3"]["mem"] + 2 * GIB
    assert after["pve3"]["cpu"] == pytest.approx(before["pve3"]["cpu"] + 1.0 / 16)
    vm = [v for v in api(sim, "pve2", "GET", "/cluster/resources", type="vm") if v["vmid"] == 100][0]
    assert vm["node"] == "pve3" and vm["status"] == "running"
    assert api(sim, "pve3", "GET", "/nodes/pve3/qemu/100/status/current")["status"] == "running"
    assert refused(sim, "pve1", "GET", "/nodes/pve1/qemu/100/status/current").status == 500


def test_lock_while_migrating_with_time_scale():
    sim = cluster(time_scale=0.005)  # 1 s + (2 GiB RAM + 32 GiB disk) at 1 GiB/s = 35 simulated s -> 0.175 s
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve2", online=1,
               **{"with-local-disks": 1})
    vm = [v for v in api(sim, "pve1", "GET", "/cluster/resources", type="vm") if v["vmid"] == 100][0]
    assert vm["lock"] == "migrate" and vm["node"] == "pve1"
    err = refused(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve3", online=1)
    assert err.message == "VM is locked (migrate)"
    assert task(sim, upid)["exitstatus"] == "OK"
    vm = [v for v in api(sim, "pve1", "GET", "/cluster/resources", type="vm") if v["vmid"] == 100][0]
    assert "lock" not in vm and vm["node"] == "pve2"


def test_bwlimit_slows_the_migration():
    sim = cluster(time_scale=0.01)
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve2", online=1,
               bwlimit=1024 * 1024, **{"with-local-disks": 1})  # 1 GiB/s in KiB/s
    fast = sim.hosts["pve1"].tasks[upid]
    upid2 = api(sim, "pve2", "POST", "/nodes/pve2/lxc/200/migrate", target="pve3", restart=1,
                bwlimit=1024)  # 1 MiB/s: 256 MiB take 256 s
    slow = sim.hosts["pve2"].tasks[upid2]
    assert slow.end_at - time.monotonic() > fast.end_at - time.monotonic()
    assert task(sim, upid)["exitstatus"] == "OK"


def test_refusals():
    sim = cluster()
    err = refused(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve1", online=1)
    assert err.status == 400 and err.errors == {"target": "target is local node."}
    err = refused(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve9", online=1)
    assert (err.status, err.message) == (500, "no such cluster node 'pve9'")
    err = refused(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve2")
    assert err.message == "can't migrate running VM without --online"
    # live migration of a local disk needs with-local-disks: PVE fails inside the task, whose
    # exitstatus is "migration aborted" (AbstractMigrate.pm), the cause in the log
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    assert task(sim, upid)["exitstatus"] == "migration aborted"
    log = [line["t"] for line in api(sim, "pve1", "GET", "/nodes/pve1/tasks/%s/log" % upid)]
    assert any(line.endswith("can't migrate local disk 'local-lvm:vm-100-disk-0': can't live migrate attached "
                             "local disks without with-local-disks option") for line in log)
    sim.hosts["pve3"].online = False
    status = task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/migrate", target="pve3"))
    assert status["exitstatus"] == "migration aborted"
    assert sim.hosts["pve1"].fs.guests[101].node == "pve1"


def test_local_devices_need_force_and_a_stopped_vm():
    sim = cluster()
    api(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/config", hostpci0="0000:01:00.0")
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/migrate")
    assert pre["local_resources"] == ["hostpci0"] and pre["running"] == 0
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/migrate", target="pve2")
    assert task(sim, upid)["exitstatus"] == "migration aborted"
    log = [line["t"] for line in api(sim, "pve1", "GET", "/nodes/pve1/tasks/%s/log" % upid)]
    assert "ERROR: migration aborted (duration 00:00:00): can't migrate VM which uses local devices: hostpci0" \
        in log[-2]
    status = task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/migrate", target="pve2", force=1))
    assert status["exitstatus"] == "OK"


def test_precondition_shape():
    sim = cluster(storage=[
        {"storage": "local-lvm", "type": "lvmthin", "vgname": "pve", "thinpool": "data", "content": "images,rootdir",
         "nodes": "pve1,pve2"},
        {"storage": "local", "type": "dir", "path": "/var/lib/vz", "content": "iso,backup"},
    ])
    sim.hosts["pve2"].online = True
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate")
    assert pre["running"] == 1 and pre["allowed_nodes"] == ["pve2"]
    # every other node is in not_allowed_nodes, allowed ones as {} (check_local_storage_availability)
    assert pre["not_allowed_nodes"] == {"pve2": {}, "pve3": {"unavailable_storages": ["local-lvm"]}}
    assert pre["local_disks"][0]["volid"] == "local-lvm:vm-100-disk-0"
    assert pre["local_disks"][0]["size"] == 32 * GIB and pre["local_resources"] == []
    err = refused(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve3", online=1)
    assert err.message == "storage 'local-lvm' is not available on node 'pve3'"
    # the CT precondition checks no storage (pve-container API2/LXC.pm)
    ct = api(sim, "pve2", "GET", "/nodes/pve2/lxc/200/migrate")
    assert ct["running"] == 1 and ct["allowed-nodes"] == ["pve1", "pve3"] and ct["not-allowed-nodes"] == {}


def test_lxc_migration_rules():
    sim = cluster()
    err = refused(sim, "pve2", "POST", "/nodes/pve2/lxc/200/migrate", target="pve3")
    assert err.message == "can't migrate running container without --online or --restart"
    upid = api(sim, "pve2", "POST", "/nodes/pve2/lxc/200/migrate", target="pve3", online=1)
    assert task(sim, upid)["exitstatus"] == "migration aborted"  # LXC/Migrate.pm prepare, AbstractMigrate.pm
    log = [line["t"] for line in api(sim, "pve2", "GET", "/nodes/pve2/tasks/%s/log" % upid)]
    assert log[-2].endswith("migration aborted (duration 00:00:00): lxc live migration is currently not implemented")
    upid = api(sim, "pve2", "POST", "/nodes/pve2/lxc/200/migrate", target="pve3", restart=1)
    assert ":vzmigrate:200:" in upid and task(sim, upid)["exitstatus"] == "OK"
    ct = api(sim, "pve3", "GET", "/nodes/pve3/lxc/200/status/current")
    assert ct["status"] == "running"


def test_fault_fails_the_next_migration():
    sim = cluster()
    sim.faults.fail_next_task(101, "migration aborted")
    status = task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/migrate", target="pve2"))
    assert status["exitstatus"] == "migration aborted"
    assert sim.hosts["pve1"].fs.guests[101].node == "pve1"
    assert task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/migrate", target="pve2"))["exitstatus"] == "OK"


def test_migration_over_https_with_proxmoxer():
    from pvesim.testing import running

    data = {"cluster_name": "lab", "resources": [
        {"type": "node", "node": "pve1", "status": "online", "maxcpu": 8, "maxmem": 32 * GIB, "mem": 4 * GIB},
        {"type": "node", "node": "pve2", "status": "online", "maxcpu": 8, "maxmem": 32 * GIB, "mem": 4 * GIB},
        {"type": "qemu", "vmid": 100, "node": "pve1", "name": "web", "status": "running", "maxcpu": 2,
         "cpu": 0.5, "maxmem": 4 * GIB, "mem": 2 * GIB, "maxdisk": 8 * GIB}]}
    with running(data, time_scale=0.01) as pve:
        client = pve.client("pve2")  # asked through another member: PVE proxies to pve1
        before = {n["node"]: n["mem"] for n in client.cluster.resources.get(type="node")}
        upid = client.nodes("pve1").qemu(100).migrate.post(target="pve2", online=1, **{"with-local-disks": 1})
        assert task_over_https(client, "pve1", upid, timeout=3)["exitstatus"] == "OK"
        after = {n["node"]: n["mem"] for n in client.cluster.resources.get(type="node")}
        assert after["pve2"] == before["pve2"] + 2 * GIB and after["pve1"] == before["pve1"] - 2 * GIB
        precondition = client.nodes("pve2").qemu(100).migrate.get()
        assert precondition["allowed_nodes"] == ["pve1"] and precondition["running"] == 1


def test_source_shut_down_mid_migration_fails_the_task():
    # the worker dies with its host; PVE then reads the task's status from a log without an
    # end line: "unexpected status" (PVE::Tools::upid_read_status), and the move never happens
    sim = cluster(time_scale=0.005)
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve2", online=1,
               **{"with-local-disks": 1})
    api(sim, "pve2", "POST", "/nodes/pve1/status", command="shutdown")
    time.sleep(0.25)  # past the migration's end
    vm = [v for v in api(sim, "pve2", "GET", "/cluster/resources", type="vm") if v["vmid"] == 100][0]
    assert vm["node"] == "pve1"  # its status reads "unknown" while pve1 is off
    sim.faults.set_online("pve1")
    status = task(sim, upid)
    assert (status["status"], status["exitstatus"]) == ("stopped", "unexpected status")
