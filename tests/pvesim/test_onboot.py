"""Guests with ``onboot=1`` start again when their node boots (PVE's startall)."""

import pytest

from pvesim.testing import call, make_sim

GIB = 1024 ** 3


def guest(vmid, status, kind="qemu", **extra):
    item = {"type": kind, "vmid": vmid, "node": "pve1", "name": "g%d" % vmid, "status": status,
            "maxcpu": 1, "maxmem": GIB, "mem": GIB // 2 if status == "running" else 0}
    item.update(extra)
    return item


SCENARIO = {
    "cluster_name": "lab",
    "resources": [{"type": "node", "node": n, "status": "online", "maxcpu": 8, "maxmem": 32 * GIB}
                  for n in ("pve1", "pve2", "pve3")]
    + [guest(100, "running"), guest(101, "stopped"), guest(102, "running"), guest(103, "stopped"),
       guest(200, "running", kind="lxc"), guest(104, "stopped", onboot=1), guest(105, "running")],
}


@pytest.fixture
def sim():
    return make_sim(SCENARIO)


def running(sim):
    return sorted(vmid for vmid, g in sim.hosts["pve1"].fs.guests.items() if g.running)


def config(sim, vmid, kind="qemu"):
    return call(sim, "pve2", "GET", "/nodes/pve1/%s/%d/config" % (kind, vmid))


def test_running_scenario_guests_have_onboot(sim):
    assert config(sim, 100)["onboot"] == 1
    assert config(sim, 200, "lxc")["onboot"] == 1
    assert "onboot" not in config(sim, 101)
    assert config(sim, 104)["onboot"] == 1  # the scenario may say so itself


def test_onboot_guests_start_when_the_node_is_back_from_a_reboot(sim):
    call(sim, "pve2", "PUT", "/nodes/pve1/qemu/102/config", onboot=0)
    call(sim, "pve2", "PUT", "/nodes/pve1/qemu/103/config", onboot=1)
    call(sim, "pve2", "PUT", "/nodes/pve1/qemu/105/config", startup="order=1")
    call(sim, "pve2", "POST", "/cluster/ha/resources", sid="vm:100", state="stopped")  # HA decides for it

    call(sim, "pve2", "POST", "/nodes/pve1/status", command="reboot")  # time_scale 0: back at the next tick
    assert not sim.hosts["pve1"].online and running(sim) == []
    call(sim, "pve2", "GET", "/version")
    assert sim.hosts["pve1"].online
    assert running(sim) == [103, 104, 105, 200]

    startall = [t for t in call(sim, "pve1", "GET", "/nodes/pve1/tasks") if t["type"] == "startall"]
    assert len(startall) == 1 and startall[0]["status"] == "OK"
    log = [line["t"] for line in call(sim, "pve1", "GET", "/nodes/pve1/tasks/%s/log" % startall[0]["upid"])]
    assert log[0] == "Starting VM 105"  # startup order first, then by VMID
    assert "Starting CT 200" in log and "Starting VM 100" not in log


def test_a_woken_node_starts_its_onboot_guests_too(sim):
    call(sim, "pve2", "PUT", "/nodes/pve1/config", wakeonlan="aa:bb:cc:dd:ee:01")
    call(sim, "pve2", "POST", "/nodes/pve1/status", command="shutdown")
    call(sim, "pve2", "GET", "/version")
    assert not sim.hosts["pve1"].online  # off until woken
    call(sim, "pve2", "POST", "/nodes/pve1/wakeonlan")
    call(sim, "pve2", "GET", "/version")
    assert running(sim) == [100, 102, 104, 105, 200]


def test_a_network_outage_is_not_a_boot(sim):
    call(sim, "pve2", "POST", "/nodes/pve1/qemu/104/status/stop")  # stopped by hand, onboot=1
    before = running(sim)
    sim.faults.set_offline("pve1")
    sim.faults.set_online("pve1")
    call(sim, "pve2", "GET", "/version")
    assert running(sim) == before and 104 not in before
    assert not [t for t in call(sim, "pve1", "GET", "/nodes/pve1/tasks") if t["type"] == "startall"]


def test_a_node_powered_back_on_by_hand_boots(sim):
    call(sim, "pve2", "POST", "/nodes/pve1/status", command="shutdown")
    sim.faults.set_online("pve1")
    assert running(sim) == [100, 102, 104, 105, 200]
