"""HA migrations are queued for the CRM and carried out on a later round (FIDELITY rows 7, 8).

pve-ha-manager ``API2/HA/Resources.pm`` ``migrate``, ``HA/Config.pm`` ``queue_crm_commands``
and ``get_resource_motion_info``, ``HA/Manager.pm`` ``update_crm_commands`` and
``queue_resource_motion``, ``CLI/ha_manager.pm``; qemu-server ``API2/Qemu.pm`` ``migrate_vm``
(the ``hamigrate`` worker).
"""

import time

from helpers import api, cluster, refused, task


def _ha(sim, *sids):
    for sid in sids:
        api(sim, "pve1", "POST", "/cluster/ha/resources", sid=sid)


def _node(sim, vmid):
    return sim.guest(vmid).node  # read without a request: no CRM round


def test_ha_resources_migrate_queues_the_command():
    # row 7: no node or strict-rule check; the guest moves on a later CRM round
    sim = cluster(time_scale=0.02)  # a CRM round is 10 simulated s = 0.2 s
    _ha(sim, "vm:100")
    answer = api(sim, "pve1", "POST", "/cluster/ha/resources/vm:100/migrate", node="pve3")
    assert answer == {"sid": "vm:100", "requested-node": "pve3"} and _node(sim, 100) == "pve1"
    assert sim.hosts["pve1"].fs.ha_crm_commands[0]["cmd"] == "migrate"
    deadline = time.monotonic() + 5
    while _node(sim, 100) != "pve3" and time.monotonic() < deadline:
        api(sim, "pve1", "GET", "/version")
        time.sleep(0.05)
    assert _node(sim, 100) == "pve3"
    # an unknown node is queued as well; the CRM drops it ("node not online")
    assert api(sim, "pve1", "POST", "/cluster/ha/resources/vm:100/migrate", node="pve9")["requested-node"] == "pve9"


def test_ha_migrate_refuses_unmanaged_and_error_state():
    sim = cluster()
    assert refused(sim, "pve1", "POST", "/cluster/ha/resources/vm:100/migrate", node="pve2").message == \
        "resource 'vm:100' is not HA managed"
    _ha(sim, "vm:100")
    sim.hosts["pve1"].fs.ha_resources["vm:100"]["state"] = "error"
    assert refused(sim, "pve1", "POST", "/cluster/ha/resources/vm:100/migrate", node="pve2").message == \
        "service 'vm:100' in error state, must be disabled and fixed first"


def test_blocking_resources_are_reported_and_the_crm_does_not_move():
    sim = cluster()
    _ha(sim, "vm:100", "vm:101", "ct:200")
    api(sim, "pve1", "POST", "/cluster/ha/rules", rule="apart", type="resource-affinity", resources="vm:100,ct:200",
        affinity="negative")
    answer = api(sim, "pve1", "POST", "/cluster/ha/resources/vm:100/migrate", node="pve2")
    assert answer["blocking-resources"] == [{"sid": "ct:200", "cause": "resource-affinity"}]
    api(sim, "pve1", "GET", "/version")
    assert _node(sim, 100) == "pve1" and sim.hosts["pve1"].fs.ha_crm_commands == []


def test_hamigrate_task_ends_before_the_guest_moves():
    # row 8: the worker runs 'ha-manager migrate', which only queues the command
    sim = cluster()
    _ha(sim, "vm:100", "ct:200")
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve3", online=1)
    assert ":hamigrate:100:" in upid
    done = sim.hosts["pve1"].tasks[upid]
    assert done.status == "stopped" and done.exitstatus == "OK" and _node(sim, 100) == "pve1"
    assert "Requesting HA migration for VM 100 to node pve3" in done.lines
    api(sim, "pve1", "GET", "/version")  # the next CRM round
    assert _node(sim, 100) == "pve3"


def test_hamigrate_fails_only_when_ha_refuses():
    sim = cluster()
    _ha(sim, "vm:100", "ct:200")
    api(sim, "pve1", "POST", "/cluster/ha/rules", rule="apart", type="resource-affinity", resources="vm:100,ct:200",
        affinity="negative")
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    status = task(sim, upid)
    assert status["exitstatus"] == "command 'ha-manager migrate vm:100 pve2' failed: exit code 255"
    log = [line["t"] for line in api(sim, "pve1", "GET", "/nodes/pve1/tasks/%s/log" % upid)]
    assert "cannot migrate resource 'vm:100' to node 'pve2':" in log
    assert "- resource 'ct:200' on target node 'pve2' in negative affinity with resource 'vm:100'" in log
    assert _node(sim, 100) == "pve1"
