"""The tasks API: list with filters, status, log, stop; task failures on demand."""

import pytest
import requests
from proxmoxer.core import ResourceException

from pvesim.errors import ApiError


def start(pve, node="pve-a", task_type="qmstart", task_id="100", user="root@pam", duration=0, finish=None,
          vmid=None):
    sim = pve.sim
    with sim.lock:
        host = sim.hosts[node]
        guest = host.fs.guests.get(vmid) if vmid else None
        return sim.start_task(host, task_type, task_id, user, duration, finish=finish, guest=guest,
                              lock="migrate" if guest else None)


@pytest.fixture
def slow(pve):
    """Tasks take real time while the test runs (1 real second per simulated second)."""
    pve.sim.time_scale = 1.0
    yield
    pve.sim.time_scale = 0.0


def test_status_of_a_finished_task(pve):
    upid = start(pve, finish=lambda task: task.log("starting VM 100"))
    api = pve.client("pve-a")
    status = api.nodes("pve-a").tasks(upid).status.get()
    assert status["status"] == "stopped" and status["exitstatus"] == "OK"
    assert {k: status[k] for k in ("upid", "node", "type", "id", "user")} == {
        "upid": upid, "node": "pve-a", "type": "qmstart", "id": "100", "user": "root@pam"}
    assert isinstance(status["pid"], int) and isinstance(status["starttime"], int)
    log = api.nodes("pve-a").tasks(upid).log.get()
    assert log == [{"n": 1, "t": "starting VM 100"}, {"n": 2, "t": "TASK OK"}]
    assert api.nodes("pve-a").tasks(upid).log.get(start=1, limit=1) == [{"n": 2, "t": "TASK OK"}]
    assert api.nodes("pve-a").tasks(upid).get() == [{"name": "log"}, {"name": "status"}]


def test_running_task_has_no_exitstatus_and_can_be_stopped(pve, slow):
    upid = start(pve, task_type="qmigrate", duration=100, vmid=100)
    api = pve.client("pve-a")
    status = api.nodes("pve-a").tasks(upid).status.get()
    assert status["status"] == "running" and "exitstatus" not in status
    assert pve.sim.hosts["pve-a"].fs.guests[100].lock == "migrate"
    active = api.nodes("pve-a").tasks.get(source="active")
    assert [t["upid"] for t in active] == [upid]
    assert upid not in [t["upid"] for t in api.nodes("pve-a").tasks.get()]  # default: archive only
    api.nodes("pve-a").tasks(upid).delete()
    status = api.nodes("pve-a").tasks(upid).status.get()
    assert status["status"] == "stopped" and status["exitstatus"] == "interrupted by signal"
    assert pve.sim.hosts["pve-a"].fs.guests[100].lock is None


def test_failed_task_and_fail_next_task_fault(pve):
    def boom(task):
        raise ApiError(500, "disk full")

    upid = start(pve, task_id="101", finish=boom)
    api = pve.client("pve-a")
    assert api.nodes("pve-a").tasks(upid).status.get()["exitstatus"] == "disk full"
    assert api.nodes("pve-a").tasks(upid).log.get()[-1]["t"] == "TASK ERROR: disk full"

    applied = []
    pve.sim.faults.fail_next_task(100, "migration aborted (simulated)")
    upid = start(pve, task_type="qmigrate", vmid=100, finish=lambda task: applied.append(1))
    assert api.nodes("pve-a").tasks(upid).status.get()["exitstatus"] == "migration aborted (simulated)"
    assert applied == []  # the effect did not happen
    upid = start(pve, task_type="qmigrate", vmid=100, finish=lambda task: applied.append(1))
    assert api.nodes("pve-a").tasks(upid).status.get()["exitstatus"] == "OK"  # only the next one failed
    assert applied == [1]


def test_list_filters(pve):
    mine = start(pve, task_type="vzdump", task_id="101", user="alice@pve")
    api = pve.client("pve-a")
    listed = api.nodes("pve-a").tasks.get(typefilter="vzdump")
    assert [t["upid"] for t in listed] == [mine]
    assert listed[0]["status"] == "OK" and "endtime" in listed[0]
    assert [t["upid"] for t in api.nodes("pve-a").tasks.get(userfilter="alice")] == [mine]
    by_vmid = api.nodes("pve-a").tasks.get(vmid=101)
    assert mine in [t["upid"] for t in by_vmid] and all(t["id"] == "101" for t in by_vmid)
    assert all(t["status"] != "OK" for t in api.nodes("pve-a").tasks.get(errors=1))
    assert len(api.nodes("pve-a").tasks.get(limit=1)) == 1
    # a user without Sys.Audit on the node sees only their own tasks
    bob_task = start(pve, task_type="qmstart", user="bob@pve")
    bob = pve.client("pve-a", user="bob@pve", password="bobpw")
    assert [t["upid"] for t in bob.nodes("pve-a").tasks.get()] == [bob_task]
    with pytest.raises(ResourceException) as info:
        bob.nodes("pve-a").tasks(mine).status.get()
    assert info.value.status_code == 403


def test_unknown_and_malformed_upid(pve):
    api = pve.client("pve-a")
    # pve-manager PVE/API2/Tasks.pm: raise_param_exc({upid => "no such task"}) and
    # raise_param_exc({upid => "unable to parse worker upid"}): 400 with the per-field errors
    base = pve.urls["pve-a"] + "/api2/json/nodes/pve-a/tasks/"
    headers = {"Authorization": "PVEAPIToken=root@pam!ci=root-ci-secret"}
    for upid, text in (("UPID:pve-a:00001234:00001234:00001234:qmstart:100:root@pam:", "no such task"),
                       ("garbage", "unable to parse worker upid")):
        for suffix in ("", "/status", "/log"):
            answer = requests.get(base + upid + suffix, headers=headers, verify=pve.ca_path)
            assert (answer.status_code, answer.reason) == (400, "Parameter verification failed.")
            assert answer.json()["errors"] == {"upid": text}
    with pytest.raises(ResourceException) as info:
        api.nodes("pve-a").tasks("garbage").status.get()
    assert info.value.status_code == 400


def test_tasks_of_another_node_are_proxied(pve):
    upid = start(pve, node="pve-b")
    # pve-a and pve-b are standalone: pve-a does not know pve-b
    with pytest.raises(ResourceException) as info:
        pve.client("pve-a").nodes("pve-b").tasks(upid).status.get()
    assert info.value.status_code == 500
    assert pve.client("pve-b").nodes("pve-b").tasks(upid).status.get()["exitstatus"] == "OK"
