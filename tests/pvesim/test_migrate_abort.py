"""What aborts a migration and how the task reports it (FIDELITY rows 5, 6, 9).

qemu-server ``QemuMigrate.pm`` ``prepare`` and ``scan_local_volumes``, pve-container
``LXC/Migrate.pm`` ``prepare``, pve-guest-common ``AbstractMigrate.pm`` ``migrate``.
"""

from helpers import api, cluster, task


def _log(sim, node, upid):
    return [line["t"] for line in api(sim, node, "GET", "/nodes/%s/tasks/%s/log" % (node, upid))]


def _aborted(sim, node, upid):
    status = task(sim, upid)
    assert status["exitstatus"] == "migration aborted"
    log = _log(sim, node, upid)
    assert log[-1] == "TASK ERROR: migration aborted"
    prefix = "ERROR: migration aborted (duration 00:00:00): "
    assert prefix in log[-2]
    return log[-2].split(prefix, 1)[1], log


def test_abstract_migrate_reports_migration_aborted():
    # row 6: the cause is a log line, the exitstatus is "migration aborted"
    sim = cluster()
    api(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/config", hostpci0="0000:01:00.0")
    cause, _log_lines = _aborted(sim, "pve1", api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/migrate", target="pve2"))
    assert cause == "can't migrate VM which uses local devices: hostpci0"
    sim.faults.set_offline("pve3")
    cause, _log_lines = _aborted(sim, "pve2", api(sim, "pve2", "POST", "/nodes/pve2/lxc/200/migrate", target="pve3",
                                                   restart=1))
    assert cause == "Can't connect to destination address using public key"


def test_scan_local_volumes_local_cdrom_image():
    # row 5: a local ISO aborts ("local cdrom image"), even offline
    sim = cluster()
    api(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/config", ide2="local:iso/debian.iso,media=cdrom")
    cause, log = _aborted(sim, "pve1", api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/migrate", target="pve2"))
    assert cause == "Problem found while scanning volumes - can't migrate VM - check log"
    assert any(line.endswith("can't migrate local disk 'local:iso/debian.iso': local cdrom image") for line in log)
    assert any("starting migration of VM 101 to node 'pve2'" in line for line in log)
    assert sim.guest(101).node == "pve1"


def test_scan_local_volumes_snapshots():
    # row 5: a running VM with a snapshot on a local disk cannot move online; offline, only
    # zfspool, btrfs raw and in-qcow2 snapshots migrate (lvmthin does not)
    sim = cluster()
    api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="s1")
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve2", online=1,
               **{"with-local-disks": 1})
    _cause, log = _aborted(sim, "pve1", upid)
    assert any(line.endswith("can't migrate local disk 'local-lvm:vm-100-disk-0': online storage migration not "
                             "possible if non-replicated snapshot exists") for line in log)
    api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/snapshot", snapname="s1")
    _cause, log = _aborted(sim, "pve1", api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/migrate", target="pve2"))
    assert any(line.endswith("non-migratable snapshot exists") for line in log)


def test_offline_local_disk_and_shared_storage_migrate():
    sim = cluster()
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/migrate", target="pve2")
    assert task(sim, upid)["exitstatus"] == "OK" and sim.guest(101).node == "pve2"
    log = _log(sim, "pve1", upid)
    assert any(line.endswith("found local disk 'local-lvm:vm-101-disk-0' (attached)") for line in log)
    assert any("migration finished successfully (duration" in line for line in log)
    shared = cluster(storage=[{"storage": "ceph", "type": "rbd", "pool": "vms", "content": "images,rootdir"}])
    upid = api(shared, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve3", online=1)
    assert task(shared, upid)["exitstatus"] == "OK" and shared.guest(100).node == "pve3"


def test_lxc_bind_mount_point_refused():
    # row 9: LXC/Migrate.pm prepare: "cannot migrate local bind mount point 'mp0'"; shared=1 passes
    sim = cluster()
    api(sim, "pve2", "PUT", "/nodes/pve2/lxc/200/config", mp0="/srv/data,mp=/data")
    cause, _log_lines = _aborted(sim, "pve2", api(sim, "pve2", "POST", "/nodes/pve2/lxc/200/migrate", target="pve3",
                                                   restart=1))
    assert cause == "cannot migrate local bind mount point 'mp0'"
    api(sim, "pve2", "PUT", "/nodes/pve2/lxc/200/config", mp0="/srv/data,mp=/data,shared=1")
    upid = api(sim, "pve2", "POST", "/nodes/pve2/lxc/200/migrate", target="pve3", restart=1)
    assert task(sim, upid)["exitstatus"] == "OK"
