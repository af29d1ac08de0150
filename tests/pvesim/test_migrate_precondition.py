"""GET .../migrate as PVE 9 answers it (FIDELITY rows 1-4).

qemu-server ``API2/Qemu.pm`` ``migrate_vm_precondition``, ``QemuServer.pm``
``check_local_storage_availability`` and ``foreach_volid``, ``QemuMigrate/Helpers.pm``
``check_local_resources``; pve-container ``API2/LXC.pm`` ``migrate_vm_precondition``;
pve-ha-manager ``HA/Config.pm`` ``get_resource_motion_info``.
"""

from helpers import GIB, api, cluster, refused

SHARED = [{"storage": "ceph", "type": "rbd", "pool": "vms", "content": "images,rootdir"},
          {"storage": "local", "type": "dir", "path": "/var/lib/vz", "content": "iso,vztmpl,backup,images"}]


def test_check_local_storage_availability_puts_every_other_node_in_not_allowed_nodes():
    # row 1: allowed nodes appear in not_allowed_nodes as {}
    sim = cluster()
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate")
    assert pre["allowed_nodes"] == ["pve2", "pve3"]
    assert pre["not_allowed_nodes"] == {"pve2": {}, "pve3": {}}
    # a disabled storage is unavailable everywhere
    sim.hosts["pve1"].fs.storage["local-lvm"]["disable"] = 1
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate")
    assert pre["allowed_nodes"] == []
    assert pre["not_allowed_nodes"]["pve2"] == {"unavailable_storages": ["local-lvm"]}


def test_migrate_vm_precondition_checks_no_online_state_and_no_node_affinity():
    # row 2: an offline node and a node a strict rule excludes are allowed
    sim = cluster()
    for sid in ("vm:100", "ct:200"):
        api(sim, "pve1", "POST", "/cluster/ha/resources", sid=sid)
    api(sim, "pve1", "POST", "/cluster/ha/rules", rule="pin", type="node-affinity", resources="vm:100,ct:200",
        nodes="pve1,pve2", strict=1)
    sim.faults.set_offline("pve3")
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate")
    assert pre["allowed_nodes"] == ["pve2", "pve3"] and pre["not_allowed_nodes"]["pve3"] == {}
    assert pre["dependent-ha-resources"] == []  # every HA VM has the key
    ct = api(sim, "pve2", "GET", "/nodes/pve2/lxc/200/migrate")
    assert ct["allowed-nodes"] == ["pve1", "pve3"] and ct["not-allowed-nodes"] == {}
    assert ct["dependent-ha-resources"] == []


def test_lxc_migrate_vm_precondition_checks_no_storage():
    # row 2: the CT precondition has no storage check at all
    sim = cluster(storage=[{"storage": "local-lvm", "type": "lvmthin", "vgname": "pve", "thinpool": "data",
                            "content": "images,rootdir", "nodes": "pve2"},
                           {"storage": "local", "type": "dir", "path": "/var/lib/vz", "content": "iso,backup"}])
    ct = api(sim, "pve2", "GET", "/nodes/pve2/lxc/200/migrate")
    assert ct["allowed-nodes"] == ["pve1", "pve3"] and ct["not-allowed-nodes"] == {}
    assert "dependent-ha-resources" not in ct  # not HA-managed


def test_get_resource_motion_info_blocks_online_nodes_only():
    # row 2: blockers only for nodes whose CRM state is online
    sim = cluster()
    for sid in ("vm:100", "ct:200"):
        api(sim, "pve1", "POST", "/cluster/ha/resources", sid=sid)
    api(sim, "pve1", "POST", "/cluster/ha/rules", rule="apart", type="resource-affinity", resources="vm:100,ct:200",
        affinity="negative")
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate")
    assert pre["not_allowed_nodes"]["pve2"] == {"blocking-ha-resources": [{"sid": "ct:200",
                                                                           "cause": "resource-affinity"}]}
    assert pre["allowed_nodes"] == ["pve3"]
    # pve2 goes down: with time-scale 0 the CRM fences it at once and recovers ct:200 to pve3;
    # the offline pve2 blocks nothing, the blocker now sits on pve3
    sim.faults.set_offline("pve2")
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate")
    assert pre["allowed_nodes"] == ["pve2"] and pre["not_allowed_nodes"]["pve2"] == {}
    assert pre["not_allowed_nodes"]["pve3"]["blocking-ha-resources"][0]["sid"] == "ct:200"


def test_check_cfs_quorum_and_check_lock():
    # row 3
    sim = cluster()
    sim.set_lock(100, "backup")
    assert refused(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate").message == "VM is locked (backup)"
    sim.set_lock(200, "backup")
    assert refused(sim, "pve2", "GET", "/nodes/pve2/lxc/200/migrate").message == "CT is locked (backup)"
    sim.set_lock(100, None)
    sim.faults.lose_quorum("pve1")
    err = refused(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate")
    assert (err.status, err.message) == (500, "cluster not ready - no quorum?")


def test_foreach_volid_local_disks_cdrom_unused_snapshot_vmstate():
    # row 4: local ISO cdrom, unused disk, snapshot-only reference, vmstate volume
    sim = cluster(storage=SHARED)
    api(sim, "pve1", "PUT", "/nodes/pve1/qemu/100/config", ide2="local:iso/debian.iso,media=cdrom",
        scsi1="local:2,format=qcow2")
    api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="s1", vmstate=1)
    api(sim, "pve1", "PUT", "/nodes/pve1/qemu/100/config", delete="scsi1")
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate")
    disks = {d["volid"]: d for d in pre["local_disks"]}
    assert set(disks) == {"local:iso/debian.iso", "local:100/vm-100-disk-1.qcow2"}  # ceph volumes are shared
    iso = disks["local:iso/debian.iso"]
    assert (iso["cdrom"], iso["is_attached"], iso["drivename"], iso["referenced_in_snapshot"]) == (1, 1, "ide2",
                                                                                                  {"s1": 1})
    unused = disks["local:100/vm-100-disk-1.qcow2"]
    assert (unused["is_unused"], unused["is_attached"], unused["referenced_in_snapshot"]) == (1, 0, {"s1": 1})
    assert unused["size"] == 2 * GIB and unused["drivename"] == "scsi1"  # size and drive name from the snapshot
    assert {"is_vmstate", "is_tpmstate", "is_cloudinit", "replicate", "shared"} <= set(unused)
    assert pre["has-dbus-vmstate"] == 1 and pre["local_resources"] == []


def test_vmstate_on_local_storage_is_a_local_disk():
    sim = cluster()
    api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/snapshot", snapname="s1", vmstate=1)
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/migrate")
    state = [d for d in pre["local_disks"] if d["is_vmstate"]]
    assert len(state) == 1 and state[0]["volid"].endswith("vm-100-state-s1")
    assert "size" not in state[0] and state[0]["referenced_in_snapshot"] == {"s1": 1}


def test_check_local_resources_mapped_and_ivshmem():
    # row 4: ivshmem and mapped usb are local resources; a mapped hostpci only while running
    sim = cluster()
    api(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/config", usb0="mapping=stick", hostpci0="mapping=gpu",
        ivshmem="size=32")
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/migrate")
    assert pre["running"] == 0 and pre["local_resources"] == ["ivshmem", "usb0"]
    assert pre["mapped-resources"] == ["hostpci0", "usb0"]
    assert pre["mapped-resource-info"] == {"hostpci0": {"name": "gpu"}, "usb0": {"name": "stick"}}
    # pvesim has no /cluster/mapping: the mappings are missing on every node
    assert pre["not_allowed_nodes"]["pve2"] == {"unavailable-resources": ["hostpci0", "usb0"]}
    api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/status/start")
    pre = api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/migrate")
    assert pre["local_resources"] == ["ivshmem", "hostpci0", "usb0"]
