"""Snapshots as PVE 9 takes, removes and rolls them back (FIDELITY.md rows 12-15), the
feature check (``GET .../feature``), and the hooks the snapshot module's tests use: locks,
failing snapshot tasks, task durations.

Each test names the PVE function it follows: pve-guest-common ``PVE/AbstractConfig.pm``,
qemu-server ``PVE/QemuConfig.pm`` and ``PVE/API2/Qemu.pm``, pve-container ``PVE/API2/LXC.pm``
and ``PVE/API2/LXC/Snapshot.pm``, pve-storage's plugins (``volume_has_feature``,
``volume_rollback_is_possible``).
"""

import time

from helpers import GIB, api, cluster, refused, task

STORAGE = [
    {"storage": "local", "type": "dir", "path": "/var/lib/vz", "content": "iso,vztmpl,backup,images,rootdir"},
    {"storage": "local-lvm", "type": "lvmthin", "vgname": "pve", "thinpool": "data", "content": "images,rootdir"},
    {"storage": "thick", "type": "lvm", "vgname": "vg0", "content": "images,rootdir"},
    {"storage": "tank", "type": "zfspool", "pool": "tank", "content": "images,rootdir"},
    {"storage": "ceph", "type": "rbd", "pool": "rbd", "content": "images,rootdir"},
    {"storage": "nas", "type": "nfs", "server": "10.0.0.5", "export": "/pve", "content": "images"},
]


def lab(**extra):
    return cluster(storage=STORAGE, **extra)


def ok(sim, upid):
    status = task(sim, upid)
    assert status["exitstatus"] == "OK", status
    return status


def new_vm(sim, vmid, disk, **extra):
    """A stopped VM on pve1 with one disk (``store:size[,format=...]``)."""
    api(sim, "pve1", "POST", "/nodes/pve1/qemu", vmid=vmid, scsi0=disk, memory=2048, **extra)
    return api(sim, "pve1", "GET", "/nodes/pve1/qemu/%d/config" % vmid)


def snap(sim, vmid, name, kind="qemu", node="pve1", **params):
    return task(sim, api(sim, node, "POST", "/nodes/%s/%s/%d/snapshot" % (node, kind, vmid), snapname=name, **params))


def feature(sim, vmid, name="snapshot", kind="qemu", node="pve1", **params):
    return api(sim, node, "GET", "/nodes/%s/%s/%d/feature" % (node, kind, vmid), feature=name, **params)


# --- row 12: snapshot preconditions ------------------------------------------------------------
def test_template_takes_removes_and_rolls_back_no_snapshot():
    """AbstractConfig.pm ``__snapshot_prepare`` ("you can't take a snapshot if it's a
    template"), ``snapshot_rollback`` ("you can't rollback if vm is a template") and
    ``snapshot_delete``, whose template check comes after ``set_lock``: PVE leaves the
    template locked ``snapshot-delete``."""
    sim = lab(snapshots={"101": [{"name": "before"}]})
    api(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/config", template=1)
    assert snap(sim, 101, "xx")["exitstatus"] == "you can't take a snapshot if it's a template"
    base = "/nodes/pve1/qemu/101/snapshot/before"
    assert task(sim, api(sim, "pve1", "POST", base + "/rollback"))["exitstatus"] == \
        "you can't rollback if vm is a template"
    assert task(sim, api(sim, "pve1", "DELETE", base))["exitstatus"] == \
        "you can't delete a snapshot if vm is a template"
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/config")["lock"] == "snapshot-delete"
    assert [s["name"] for s in api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/snapshot")] == ["before", "current"]


def test_snapshot_needs_a_storage_with_snapshots():
    """AbstractConfig.pm ``__snapshot_prepare``: "snapshot feature is not available" unless
    ``QemuConfig->has_feature('snapshot')``; each plugin's ``volume_has_feature``: raw on dir
    and nfs has none, qcow2 has; lvm (thick) raw none; lvmthin, zfspool, rbd always."""
    sim = lab()
    expected = {"local:4": 0, "local:4,format=qcow2": 1, "nas:4": 0, "nas:4,format=qcow2": 1, "thick:4": 0,
                "local-lvm:4": 1, "tank:4": 1, "ceph:4": 1}
    for vmid, (disk, has) in enumerate(expected.items(), start=300):
        new_vm(sim, vmid, disk)
        assert feature(sim, vmid)["hasFeature"] == has, disk
        outcome = snap(sim, vmid, "s1")["exitstatus"]
        assert outcome == ("OK" if has else "snapshot feature is not available"), disk
    # the volume names PVE gives them (alloc_image): files carry their format
    assert new_vm(sim, 320, "local:2,format=qcow2")["scsi0"].startswith("local:320/vm-320-disk-0.qcow2,")
    assert new_vm(sim, 321, "tank:2")["scsi0"].startswith("tank:vm-321-disk-0,")
    # a CD-ROM does not count (has_feature skips it)
    new_vm(sim, 322, "local-lvm:2", ide2="local:iso/debian.iso,media=cdrom")
    assert feature(sim, 322)["hasFeature"] == 1


def test_feature_call_answers_like_vm_feature():
    """qemu-server ``API2/Qemu.pm`` ``vm_feature``: ``hasFeature`` and the nodes that reach
    every storage (``shared_nodes``); pve-container ``API2/LXC.pm`` ``vm_feature``: no nodes.
    ``snapname`` asks at that snapshot (lvmthin: no snapshot of a snapshot, but a clone)."""
    sim = lab()
    assert feature(sim, 100) == {"hasFeature": 1, "nodes": ["pve1"]}  # local-lvm is local
    new_vm(sim, 310, "ceph:4")
    assert sorted(feature(sim, 310)["nodes"]) == ["pve1", "pve2", "pve3"]  # rbd is shared
    assert feature(sim, 310, "clone") == {"hasFeature": 0, "nodes": feature(sim, 310)["nodes"]}
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="s1"))
    assert feature(sim, 100, "snapshot", snapname="s1")["hasFeature"] == 0
    assert feature(sim, 100, "clone", snapname="s1")["hasFeature"] == 1
    assert refused(sim, "pve1", "GET", "/nodes/pve1/qemu/100/feature", feature="clone",
                   snapname="nope").message == "snapshot 'nope' does not exist"
    ct = feature(sim, 200, "snapshot", kind="lxc", node="pve2")
    assert ct == {"hasFeature": 1}
    assert refused(sim, "pve1", "GET", "/nodes/pve1/qemu/100/feature", feature="move").status == 400


def test_scenario_template_disks_are_base_volumes():
    """A template's disks are base volumes (``create_base``), which lvmthin clones (``clone``
    at ``base``) but does not snapshot."""
    sim = cluster(storage=STORAGE, resources=_resources_with_template())
    config = api(sim, "pve1", "GET", "/nodes/pve1/qemu/105/config")
    assert config["scsi0"].startswith("local-lvm:base-105-disk-0,")
    assert feature(sim, 105, "clone")["hasFeature"] == 1
    assert feature(sim, 105, "snapshot")["hasFeature"] == 0


def _resources_with_template():
    node = {"type": "node", "status": "online", "maxcpu": 16, "maxmem": 64 * GIB}
    return [dict(node, node="pve1"), dict(node, node="pve2"), dict(node, node="pve3"),
            {"type": "qemu", "vmid": 105, "node": "pve1", "name": "tmpl", "status": "stopped", "template": 1,
             "maxdisk": 8 * GIB}]


# --- row 13: rollback --------------------------------------------------------------------------
def test_rollback_keeps_description_and_unused_disks():
    """AbstractConfig.pm ``__snapshot_apply_config`` keeps the current ``description`` and
    ``unusedN``; ``__snapshot_rollback_get_unused`` makes a disk the snapshot does not know
    ``unusedN``; ``__snapshot_copy_config`` saved neither in the snapshot."""
    sim = lab()
    base = "/nodes/pve1/qemu/101"
    api(sim, "pve1", "PUT", base + "/config", description="orig desc", cores=2)
    ok(sim, api(sim, "pve1", "POST", base + "/snapshot", snapname="clean", description="snap comment"))
    saved = api(sim, "pve1", "GET", base + "/snapshot/clean/config")
    assert saved["description"] == "snap comment" and saved["cores"] == 2
    api(sim, "pve1", "PUT", base + "/config", description="new desc", cores=6, scsi1="local-lvm:2")
    scsi1 = api(sim, "pve1", "GET", base + "/config")["scsi1"].split(",")[0]
    ok(sim, api(sim, "pve1", "POST", base + "/snapshot/clean/rollback"))
    config = api(sim, "pve1", "GET", base + "/config")
    assert config["description"] == "new desc" and config["cores"] == 2
    assert "scsi1" not in config and config["unused0"] == scsi1
    assert config["parent"] == "clean" and "lock" not in config


def test_zfspool_rolls_back_only_to_the_newest_snapshot():
    """ZFSPoolPlugin.pm ``volume_rollback_is_possible``: "can't rollback, 's1' is not most
    recent snapshot on 'tank:vm-330-disk-0'"; lvmthin rolls back to any snapshot."""
    sim = lab()
    new_vm(sim, 330, "tank:4")
    for name in ("s1", "s2"):
        ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/330/snapshot", snapname=name))
    status = task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/330/snapshot/s1/rollback"))
    assert status["exitstatus"] == "can't rollback, 's1' is not most recent snapshot on 'tank:vm-330-disk-0'"
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/330/snapshot/s2/rollback"))
    ok(sim, api(sim, "pve1", "DELETE", "/nodes/pve1/qemu/330/snapshot/s2"))
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/330/snapshot/s1/rollback"))
    for name in ("s1", "s2"):
        ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/snapshot", snapname=name + "x"))
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/snapshot/s1x/rollback"))


def test_rollback_order_of_checks():
    """AbstractConfig.pm ``snapshot_rollback``: a missing snapshot is reported before a lock."""
    sim = lab()
    sim.set_lock(101, "backup")
    status = task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/snapshot/nope/rollback"))
    assert status["exitstatus"] == "snapshot 'nope' does not exist"


# --- row 14: locks -----------------------------------------------------------------------------
def test_force_does_not_remove_another_lock():
    """AbstractConfig.pm ``snapshot_delete`` calls ``set_lock``, whose ``check_lock`` refuses
    any lock, ``snapshot-delete`` included; ``force`` only skips failing volumes."""
    sim = lab(snapshots={"101": [{"name": "old"}]})
    base = "/nodes/pve1/qemu/101/snapshot/old"
    for lock in ("snapshot-delete", "backup"):
        sim.set_lock(101, lock)
        status = task(sim, api(sim, "pve1", "DELETE", base, force=1))
        assert status["exitstatus"] == "VM is locked (%s)" % lock
        assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/config")["lock"] == lock
    sim.set_lock(101, None)
    ok(sim, api(sim, "pve1", "DELETE", base, force=1))


def test_locked_guests_refuse_snapshots_with_pve_messages():
    """AbstractConfig.pm ``check_lock``: "VM is locked (backup)" / "CT is locked (backup)" for
    create, delete and rollback; a lock from the scenario (a resources item's ``lock``), from
    ``sim.set_lock`` or from the fault action ``set_lock``; ``/cluster/resources`` and
    ``status/current`` report it (pve-manager ``API2/Cluster.pm`` resources)."""
    sim = lab(snapshots={"100": [{"name": "old"}], "200": [{"name": "old"}]})
    sim.faults.apply({"action": "set_lock", "vmid": 100, "lock": "backup"})
    assert sim.set_lock(200, "backup") is None
    for kind, vmid, node, who in (("qemu", 100, "pve1", "VM"), ("lxc", 200, "pve2", "CT")):
        base = "/nodes/%s/%s/%d/snapshot" % (node, kind, vmid)
        expected = "%s is locked (backup)" % who
        assert task(sim, api(sim, node, "POST", base, snapname="new"))["exitstatus"] == expected
        assert task(sim, api(sim, node, "DELETE", base + "/old"))["exitstatus"] == expected
        assert task(sim, api(sim, node, "POST", base + "/old/rollback"))["exitstatus"] == expected
        assert api(sim, node, "GET", "/nodes/%s/%s/%d/status/current" % (node, kind, vmid))["lock"] == "backup"
    locks = {r["vmid"]: r.get("lock") for r in api(sim, "pve1", "GET", "/cluster/resources", type="vm")}
    assert locks == {100: "backup", 101: None, 200: "backup"}
    assert sim.set_lock(100, None) == "backup"
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="new"))
    node = {"type": "node", "status": "online", "maxcpu": 8, "maxmem": 8 * GIB}
    from_scenario = cluster(resources=[dict(node, node="pve1"), {"type": "qemu", "vmid": 120, "node": "pve1",
                                                                   "status": "stopped", "lock": "backup"}])
    assert api(from_scenario, "pve1", "GET", "/cluster/resources", type="vm")[0]["lock"] == "backup"
    assert task(from_scenario, api(from_scenario, "pve1", "POST", "/nodes/pve1/qemu/120/snapshot",
                                   snapname="aa"))["exitstatus"] == "VM is locked (backup)"


def test_snapshot_description_update_checks_the_lock_only_with_a_description():
    """qemu-server ``API2/Qemu.pm`` ``update_snapshot_config``: returns at once without a
    description; else ``check_lock`` before the snapshot's existence."""
    sim = lab()
    sim.set_lock(101, "backup")
    assert api(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/snapshot/nope/config") is None
    error = refused(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/snapshot/nope/config", description="x")
    assert error.message == "VM is locked (backup)"


# --- row 15: vmstate, snapstate, names ---------------------------------------------------------
def test_vmstate_volume_and_running_machine():
    """qemu-server ``QemuConfig.pm`` ``__snapshot_save_vmstate``: ``<storage>:vm-ID-state-NAME``
    on the storage ``find_vmstate_storage`` picks (a disk's storage; ``.raw`` only on file
    storages), plus ``runningmachine``/``runningcpu``; ``__snapshot_rollback_hook`` takes
    them out of the rolled-back config."""
    sim = lab()
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="ram", vmstate=1))
    saved = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/snapshot/ram/config")
    assert saved["vmstate"] == "local-lvm:vm-100-state-ram"
    assert saved["runningmachine"].startswith("pc-i440fx-") and saved["runningcpu"].startswith("x86-64-v2-AES,")
    assert "snapstate" not in saved
    new_vm(sim, 340, "local:4,format=qcow2")
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/340/status/start"))
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/340/snapshot", snapname="ram", vmstate=1))
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/340/snapshot/ram/config")["vmstate"] == \
        "local:340/vm-340-state-ram.raw"
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot/ram/rollback"))
    config = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/config")
    assert "runningmachine" not in config and "vmstate" not in config
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/status/current")["status"] == "running"  # resumed
    # a stopped VM saves no RAM, whatever vmstate says
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/snapshot", snapname="cold", vmstate=1))
    assert "vmstate" not in api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/snapshot/cold/config")


def test_snapstate_is_listed_while_a_task_works():
    """``snapshot_list`` (qemu-server, pve-container) lists ``snapstate``: ``prepare`` between
    ``__snapshot_prepare`` and ``__snapshot_commit``, ``delete`` while ``snapshot_delete``
    works; the guest holds ``snapshot`` / ``snapshot-delete`` meanwhile."""
    sim = lab(time_scale=0.02)
    base = "/nodes/pve1/qemu/100/snapshot"
    upid = api(sim, "pve1", "POST", base, snapname="busy", vmstate=1)
    listed = {s["name"]: s for s in api(sim, "pve1", "GET", base)}
    assert listed["busy"]["snapstate"] == "prepare" and "parent" not in listed["current"]
    assert api(sim, "pve1", "GET", base + "/busy/config")["snapstate"] == "prepare"
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/config")["lock"] == "snapshot"
    rollback = task(sim, api(sim, "pve1", "POST", base + "/busy/rollback"))
    assert rollback["exitstatus"] == "unable to rollback to incomplete snapshot (snapstate = prepare)"
    ok(sim, upid)
    listed = {s["name"]: s for s in api(sim, "pve1", "GET", base)}
    assert "snapstate" not in listed["busy"] and listed["current"]["parent"] == "busy"
    upid = api(sim, "pve1", "DELETE", base + "/busy")
    assert {s["name"]: s for s in api(sim, "pve1", "GET", base)}["busy"]["snapstate"] == "delete"
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/config")["lock"] == "snapshot-delete"
    ok(sim, upid)


def test_container_reserved_names():
    """pve-container ``API2/LXC/Snapshot.pm`` ``snapshot``: ``current`` and ``vzdump`` are
    reserved, ``pending`` is not (only qemu-server refuses it)."""
    sim = lab()
    base = "/nodes/pve2/lxc/200/snapshot"
    assert refused(sim, "pve2", "POST", base, snapname="vzdump").message == \
        "unable to use snapshot name 'vzdump' (reserved name)"
    ok(sim, api(sim, "pve2", "POST", base, snapname="pending"))
    assert refused(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="Pending").message == \
        "unable to use snapshot name 'Pending' (reserved name)"
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="vzdump"))


# --- hooks for the snapshot module's tests -----------------------------------------------------
def test_fail_next_task_on_snapshot_tasks():
    """A failed create cleans up (AbstractConfig.pm ``snapshot_create``: "snapshot create
    failed: starting cleanup", then ``snapshot_delete`` with force): no snapshot, no lock.  A
    failed delete leaves ``snapshot-delete`` and ``snapstate: delete``, as ``snapshot_delete``
    does when a volume fails without force."""
    sim = lab(snapshots={"101": [{"name": "old"}]})
    sim.faults.fail_next_task(100, "snapshot storage full")
    status = task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="xx"))
    assert status["exitstatus"] == "snapshot storage full"
    assert [s["name"] for s in api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/snapshot")] == ["current"]
    assert "lock" not in api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/config")
    ok(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="xx"))
    sim.faults.fail_next_task(101, "zfs error: dataset is busy")
    status = task(sim, api(sim, "pve1", "DELETE", "/nodes/pve1/qemu/101/snapshot/old"))
    assert status["exitstatus"] == "zfs error: dataset is busy"
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/config")["lock"] == "snapshot-delete"
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/snapshot")[0]["snapstate"] == "delete"


def test_snapshot_durations_scale_with_time_scale_and_run_in_parallel():
    """Task time in simulated seconds times ``time_scale``: each volume snapshot, and for a
    RAM snapshot writing the VM's memory out; tasks of different guests overlap."""
    sim = lab(time_scale=0.02)
    started = time.monotonic()
    with_ram = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="ram", vmstate=1)
    without = api(sim, "pve2", "POST", "/nodes/pve2/lxc/200/snapshot", snapname="disk")
    tasks = {upid: sim.hosts[upid.split(":")[1]].tasks[upid] for upid in (with_ram, without)}
    ram_seconds = (tasks[with_ram].end_at - started) / 0.02
    disk_seconds = (tasks[without].end_at - started) / 0.02
    assert 1 <= disk_seconds < 3 and ram_seconds > disk_seconds + 4  # 2 GiB of RAM written out
    assert all(t.status == "running" for t in tasks.values())  # both at once
    ok(sim, with_ram)
    ok(sim, without)
