"""QEMU/LXC guests: lists, status, config (digest, delete, lock), create, power."""

from helpers import GIB, api, cluster, refused, task


def test_lists_and_status_from_the_scenario():
    sim = cluster()
    vms = api(sim, "pve1", "GET", "/nodes/pve1/qemu")
    assert sorted(v["vmid"] for v in vms) == [100, 101]
    web = [v for v in vms if v["vmid"] == 100][0]
    assert (web["status"], web["cpus"], web["maxmem"], web["mem"]) == ("running", 2, 4 * GIB, 2 * GIB)
    cts = api(sim, "pve2", "GET", "/nodes/pve2/lxc")
    assert [(c["vmid"], c["type"]) for c in cts] == [(200, "lxc")]
    status = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/status/current")
    assert status["status"] == "running" and status["qmpstatus"] == "running" and status["ha"] == {"managed": 0}
    err = refused(sim, "pve1", "GET", "/nodes/pve1/qemu/200/status/current")
    assert (err.status, err.message) == (500, "Configuration file 'nodes/pve1/qemu-server/200.conf' does not exist")


def test_config_derived_from_figures():
    sim = cluster()
    config = api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/config")
    assert (config["name"], config["cores"], config["memory"]) == ("web", 2, "4096")
    assert config["scsi0"].startswith("local-lvm:vm-100-disk-0,") and config["scsi0"].endswith("size=32G")
    assert config["net0"].startswith("virtio=BC:24:11:") and config["tags"] == "prod;web"
    assert len(config["digest"]) == 40
    ct = api(sim, "pve2", "GET", "/nodes/pve2/lxc/200/config")
    assert (ct["hostname"], ct["memory"], ct["rootfs"]) == ("dns", 1024, "local-lvm:vm-200-disk-0,size=8G")


def test_config_update_digest_delete_and_figures():
    sim = cluster()
    digest = api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/config")["digest"]
    api(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/config", digest=digest, cores=8, memory="16384",
        description="big")
    err = refused(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/config", digest=digest, cores=2)
    assert err.message == "detected modified configuration - file changed by other user? Try again."
    items = {i["vmid"]: i for i in api(sim, "pve1", "GET", "/cluster/resources", type="vm")}
    assert (items[101]["maxcpu"], items[101]["maxmem"]) == (8, 16 * GIB)
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/config", delete="description", tags="db")
    assert task(sim, upid)["exitstatus"] == "OK"
    config = api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/config")
    assert "description" not in config and config["tags"] == "db"
    err = refused(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/config", delete="tags", tags="x")
    assert err.status == 400 and "delete" in err.errors
    api(sim, "pve2", "PUT", "/nodes/pve2/lxc/200/config", memory=2048, swap=0)
    assert api(sim, "pve2", "GET", "/nodes/pve2/lxc/200/status/current")["maxmem"] == 2 * GIB


def test_locked_guest_refuses_config_changes():
    sim = cluster()
    sim.hosts["pve1"].fs.guests[101].lock = "backup"
    err = refused(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/config", cores=2)
    assert (err.status, err.message) == (500, "VM is locked (backup)")
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/config")["lock"] == "backup"
    api(sim, "pve1", "PUT", "/nodes/pve1/qemu/101/config", cores=2, skiplock=1)


def test_create_qemu_and_lxc():
    sim = cluster()
    upid = api(sim, "pve3", "POST", "/nodes/pve3/qemu", vmid=300, name="new", memory="2048", cores=2,
               scsi0="local-lvm:16", net0="virtio,bridge=vmbr0", start=1)
    assert ":qmcreate:300:" in upid and task(sim, upid)["exitstatus"] == "OK"
    config = api(sim, "pve3", "GET", "/nodes/pve3/qemu/300/config")
    assert config["scsi0"] == "local-lvm:vm-300-disk-0,size=16G"
    assert config["net0"].startswith("virtio=BC:24:11:")
    status = api(sim, "pve3", "GET", "/nodes/pve3/qemu/300/status/current")
    assert (status["status"], status["maxmem"], status["maxdisk"]) == ("running", 2 * GIB, 16 * GIB)
    err = refused(sim, "pve3", "POST", "/nodes/pve3/qemu", vmid=100)
    assert err.message == "VM 100 already exists on node 'pve1'"
    err = refused(sim, "pve3", "POST", "/nodes/pve3/qemu", vmid=301, scsi0="nowhere:8")
    assert err.message == "storage 'nowhere' does not exist"
    assert 301 not in sim.hosts["pve3"].fs.guests
    err = refused(sim, "pve3", "POST", "/nodes/pve3/qemu", vmid=301, scsi0="local:8")
    assert err.status == 400 and err.errors == {"storage": "storage 'local' does not support vm images"}
    upid = api(sim, "pve3", "POST", "/nodes/pve3/lxc", vmid=400, hostname="ct400", memory=1024,
               ostemplate="local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", rootfs="local-lvm:8",
               net0="name=eth0,bridge=vmbr0,ip=dhcp")
    assert ":vzcreate:400:" in upid and task(sim, upid)["exitstatus"] == "OK"
    ct = api(sim, "pve3", "GET", "/nodes/pve3/lxc/400/config")
    assert ct["rootfs"] == "local-lvm:vm-400-disk-0,size=8G" and "hwaddr=BC:24:11:" in ct["net0"]
    err = refused(sim, "pve3", "POST", "/nodes/pve3/lxc", vmid=401, ostemplate="local:vztmpl/x.tar.zst")
    assert err.status == 400  # rootfs defaults to "local", which holds no container directories


def test_create_holds_the_create_lock_while_running():
    sim = cluster(time_scale=0.05)  # 3 simulated seconds -> 0.15 s
    upid = api(sim, "pve3", "POST", "/nodes/pve3/qemu", vmid=310, scsi0="local-lvm:4")
    assert api(sim, "pve3", "GET", "/nodes/pve3/qemu/310/status/current")["lock"] == "create"
    assert task(sim, upid)["exitstatus"] == "OK"
    assert "lock" not in api(sim, "pve3", "GET", "/nodes/pve3/qemu/310/status/current")


def test_power_changes_status_and_node_load():
    sim = cluster()

    def node_mem(node):
        return [n for n in api(sim, "pve1", "GET", "/cluster/resources", type="node") if n["node"] == node][0]["mem"]

    before = node_mem("pve1")
    assert task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/status/stop"))["exitstatus"] == "OK"
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/100/status/current")["status"] == "stopped"
    assert node_mem("pve1") == before - 2 * GIB
    assert task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/status/start"))["exitstatus"] == "OK"
    assert node_mem("pve1") == before
    again = task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/status/start"))
    assert again["exitstatus"] == "VM 100 already running"
    upid = api(sim, "pve2", "POST", "/nodes/pve2/lxc/200/status/shutdown")
    assert ":vzshutdown:200:" in upid and task(sim, upid)["exitstatus"] == "OK"
    assert refused(sim, "pve2", "POST", "/nodes/pve2/lxc/200/status/stop").message == "CT 200 not running"


def test_fault_fails_the_next_task_on_a_guest():
    sim = cluster()
    sim.faults.fail_next_task(101, "start failed: simulated")
    assert task(sim, api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/status/start"))["exitstatus"] == \
        "start failed: simulated"
    assert api(sim, "pve1", "GET", "/nodes/pve1/qemu/101/status/current")["status"] == "stopped"
