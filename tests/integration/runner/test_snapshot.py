"""The snapshot and snapshot_info modules, run by ansible-playbook against pvesim.

One three-node cluster with 60 guests under retention (QEMU and LXC, four ``auto-`` snapshots
and one the user made each), a template, a guest another task keeps locked, two guests of the
same name and two guests for one-snapshot work. Every outcome is read back through the API.
"""

import json
import threading
import time

import pytest
import yaml
from conftest import connection_vars, run_playbook

from pvesim.testing import running

GIB = 1024 ** 3
DAY = 86400
RETAINED = list(range(100, 160))  # tag "retain"
TEMPLATE, LOCKED, TWINS, VM, CT = 170, 171, (180, 181), 190, 191
NODES = ("pve1", "pve2", "pve3")


def scenario(now):
    resources = [{"type": "node", "node": node, "status": "online", "maxcpu": 32, "maxmem": 256 * GIB, "mem": 8 * GIB,
                  "cpu": 0.05, "maxdisk": 100 * GIB, "disk": 10 * GIB} for node in NODES]

    def guest(vmid, kind="qemu", name=None, status="running", **extra):
        item = {"type": kind, "vmid": vmid, "name": name or "g%d" % vmid, "node": NODES[vmid % 3], "status": status,
                "maxcpu": 2, "cpu": 0.01, "maxmem": 2 * GIB, "mem": GIB, "maxdisk": 16 * GIB, "disk": 2 * GIB}
        item.update(extra)
        resources.append(item)

    snapshots = {}
    for vmid in RETAINED:
        guest(vmid, "lxc" if vmid % 5 == 0 else "qemu", tags="retain")
        snapshots[str(vmid)] = [{"name": "manual-keep", "snaptime": now - 40 * DAY, "description": "mine"}] + [
            {"name": "auto-%s" % age, "snaptime": now - seconds} for age, seconds in
            (("10d", 10 * DAY), ("5d", 5 * DAY), ("2d", 2 * DAY), ("1h", 3600))]
    guest(TEMPLATE, name="tmpl", status="stopped", template=1, tags="retain")
    snapshots[str(TEMPLATE)] = [{"name": "auto-old", "snaptime": now - 30 * DAY}]
    guest(LOCKED, tags="retain")
    snapshots[str(LOCKED)] = [{"name": "auto-old", "snaptime": now - 30 * DAY}]
    for vmid in TWINS:
        guest(vmid, name="twin")
    guest(VM, name="solo")
    guest(CT, "lxc", name="ct-solo", status="stopped")
    return {"name": "snapshot tests", "cluster_name": "lab", "resources": resources, "snapshots": snapshots}


@pytest.fixture(scope="module")
def pve():
    with running(scenario(int(time.time())), time_scale=0.0) as handle:
        yield handle


def play(tmp_path, name, tasks, check=False):
    connection = {"api_host": "{{ pve_nodes['pve1'] }}", "api_port": "{{ pve_api_port }}",
                  "api_password": "{{ pve_root_password }}", "ca_path": "{{ pve_ca_path }}"}
    body = {"hosts": "localhost", "gather_facts": False, "tasks": tasks,
            "module_defaults": {"proxops.proxmox.snapshot": connection, "proxops.proxmox.snapshot_info": connection}}
    if check:
        body["check_mode"] = True
    path = tmp_path / ("%s.yml" % name)
    path.write_text(yaml.safe_dump([body], sort_keys=False))
    return str(path)


def run(pve, tmp_path, name, tasks, check=False, diff=False):
    result = run_playbook(play(tmp_path, name, tasks, check), connection_vars(pve), tmp_path, diff=diff)
    assert pve.password not in result.output, "the API password reached the output"
    return result


def task(title, /, module="snapshot", ignore_errors=False, **args):
    entry = {"name": title, "proxops.proxmox." + module: args}
    if ignore_errors:
        entry["ignore_errors"] = True
    return entry


def guest_snapshots(pve, vmid):
    """{name: item} of a guest's snapshots, read through the API (``current`` left out)."""
    node = next(item["node"] for item in pve.client("pve1").cluster.resources.get(type="vm") if item["vmid"] == vmid)
    kind = next(item["type"] for item in pve.client("pve1").cluster.resources.get(type="vm") if item["vmid"] == vmid)
    listing = getattr(pve.client("pve1").nodes(node), kind)(vmid).snapshot.get()
    return {item["name"]: item for item in listing}


def writes(pve):
    """How many snapshot writes pvesim received."""
    stats = pve.sim.stats.snapshot()["by_route"]
    return sum(count for route, count in stats.items() if "snapshot" in route and not route.startswith("GET"))


def guest_state(pve, vmid):
    return pve.sim.hosts["pve1"].fs.guests[vmid]


# --- bad input -------------------------------------------------------------------------------------
BAD = {
    "bad snapname": ({"vmid": VM, "snapname": "1st"}, "snapname: '1st' is not a valid snapshot name"),
    "reserved snapname": ({"vmid": VM, "snapname": "current"}, "snapname: 'current' is a name PVE reserves"),
    "long snapname": ({"vmid": VM, "snapname": "a" * 41}, "longer than 40 characters"),
    "vmstate on a container": ({"vmid": CT, "snapname": "x1", "vmstate": True}, "vmstate: only QEMU guests"),
    "negative keep_last": ({"vmid": VM, "prefix": "auto-", "keep_last": -1}, "keep_last: give 0 or more"),
    "bad max_age": ({"vmid": VM, "prefix": "auto-", "max_age": "7 days"}, "max_age: '7 days' is not a duration"),
    "no guest": ({"snapname": "x1"}, "give one way to choose the guests"),
    "prefix and pattern": ({"vmid": VM, "prefix": "auto-", "pattern": "auto-.*", "keep_last": 2},
                           "prefix and pattern: give one of them"),
    "bad pattern": ({"all": True, "pattern": "auto-(", "keep_last": 2}, "pattern: 'auto-(' is not a regular expression"),
    "vmid and tags": ({"vmid": VM, "tags": ["retain"], "snapname": "x1"}, "vmid: chooses one guest; leave out tags"),
    "bad prefix": ({"all": True, "prefix": "9-", "create": True}, "prefix: '9-' must start with a letter"),
    "start without rollback": ({"vmid": VM, "snapname": "x1", "start": True}, "start: only with state=rollback"),
    "rollback to a missing snapshot": ({"vmid": VM, "snapname": "nope", "state": "rollback"},
                                       "has no snapshot 'nope' to roll back to"),
    "unknown vmid": ({"vmids": [VM, 999], "snapname": "x1"}, "vmids: no guest 999 in the cluster"),
    "name of two guests": ({"name": "twin", "snapname": "x1"}, "'twin' names 2 guests"),
}


def test_bad_input_is_refused_before_any_write_naming_the_option(pve, tmp_path):
    before = writes(pve)
    result = run(pve, tmp_path, "bad", [task(name, ignore_errors=True, **args) for name, (args, _) in BAD.items()])
    for name, (_args, expected) in BAD.items():
        outcome = result.task(name)
        assert outcome.get("failed") is True and outcome["changed"] is False, (name, outcome)
        assert expected in outcome["msg"], (name, outcome["msg"])
    twins = result.task("name of two guests")["msg"]
    assert "180" in twins and "181" in twins, twins
    assert writes(pve) == before


# --- one snapshot ------------------------------------------------------------------------------------
def test_create_rollback_delete_each_twice_and_in_check_mode(pve, tmp_path):
    steps = [
        ("create", {"vmid": VM, "snapname": "before-upgrade", "description": "pre"}),
        ("create ct by name", {"name": "ct-solo", "snapname": "before-upgrade"}),
        ("describe", {"vmid": VM, "snapname": "before-upgrade", "description": "before the upgrade"}),
        ("rollback and start", {"vmid": VM, "snapname": "before-upgrade", "state": "rollback", "start": True}),
        ("rollback ct", {"name": "ct-solo", "snapname": "before-upgrade", "state": "rollback"}),
        ("delete", {"vmid": VM, "snapname": "before-upgrade", "state": "absent"}),
        ("delete ct", {"name": "ct-solo", "snapname": "before-upgrade", "state": "absent"}),
    ]
    for name, args in steps:
        if name == "rollback and start":
            # something happened since the snapshot: a rollback is needed, and it leaves the guest running
            with pve.sim.lock:
                guest_state(pve, VM).status = "stopped"
        if name == "rollback ct":
            with pve.sim.lock:
                guest_state(pve, CT).status = "running"
        before = writes(pve), {vmid: guest_snapshots(pve, vmid) for vmid in (VM, CT)}
        check = run(pve, tmp_path, name.replace(" ", "-") + "-check", [task(name, **args)], check=True, diff=True)
        assert check.returncode == 0, check.output[-3000:]
        assert check.task(name)["changed"] is True, (name, check.task(name))
        assert (writes(pve), {vmid: guest_snapshots(pve, vmid) for vmid in (VM, CT)}) == before, name
        for attempt, changed in ((1, True), (2, False)):
            done = run(pve, tmp_path, name.replace(" ", "-"), [task(name, **args)])
            assert done.returncode == 0, done.output[-3000:]
            assert done.task(name)["changed"] is changed, (name, attempt, done.task(name))

        vm, ct = guest_snapshots(pve, VM), guest_snapshots(pve, CT)
        if name == "create":
            assert "before-upgrade" in vm and vm["before-upgrade"]["description"] == "pre"
            assert vm["current"]["parent"] == "before-upgrade"
        elif name == "create ct by name":
            assert "before-upgrade" in ct
        elif name == "describe":
            assert vm["before-upgrade"]["description"] == "before the upgrade"
        elif name == "rollback and start":
            assert guest_state(pve, VM).status == "running" and vm["current"]["parent"] == "before-upgrade"
        elif name == "rollback ct":
            assert guest_state(pve, CT).status == "stopped"
        elif name == "delete":
            assert "before-upgrade" not in vm
        else:
            assert "before-upgrade" not in ct
    assert pve.sim.stats.count(method="POST", template="/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback") == 1


def test_rollback_with_force_always_runs(pve, tmp_path):
    tasks = [task("take", vmid=VM, snapname="forced"),
             task("roll back", vmid=VM, snapname="forced", state="rollback", start=True, force=True),
             task("roll back", vmid=VM, snapname="forced", state="rollback", start=True, force=True),
             task("clean up", vmid=VM, snapname="forced", state="absent")]
    result = run(pve, tmp_path, "force", tasks)
    assert result.returncode == 0, result.output[-3000:]
    assert [outcome["changed"] for outcome in result.results["roll back"]] == [True, True]
    assert result.task("roll back")["rolled_back"] == [{"vmid": VM, "snapname": "forced"}]


# --- retention ---------------------------------------------------------------------------------------
RETENTION = {"tags": ["retain"], "prefix": "auto-", "create": True, "timestamp_format": "%Y%m%d", "keep_last": 3,
             "max_age": "3d", "parallel": 8, "lock_timeout": 30}


def test_retention_over_many_guests(pve, tmp_path):
    with pve.sim.lock:
        guest_state(pve, LOCKED).lock = "backup"
    before_writes = writes(pve)
    check = run(pve, tmp_path, "retention-check", [task("retention", **RETENTION)], check=True, diff=True)
    assert check.returncode == 0, check.output[-3000:]
    predicted = check.task("retention")
    assert predicted["changed"] is True
    assert writes(pve) == before_writes
    assert guest_state(pve, LOCKED).lock == "backup"  # check mode does not wait
    new_name = predicted["snapname"]
    assert new_name == "auto-" + time.strftime("%Y%m%d", time.gmtime())
    # keep the three newest (new, 1h, 2d) or those at most 3 days old: 5d and 10d go
    # (the locked guest's two, its new one and a 30-day-old one, are both among its three newest)
    expected_deleted = {(vmid, name) for vmid in RETAINED for name in ("auto-10d", "auto-5d")}
    assert {(item["vmid"], item["snapname"]) for item in predicted["deleted"]} == expected_deleted
    assert {item["vmid"] for item in predicted["created"]} == set(RETAINED) | {LOCKED}
    assert predicted["skipped_guests"] == [{"vmid": TEMPLATE, "reason": predicted["skipped_guests"][0]["reason"]}]
    assert "template" in predicted["skipped_guests"][0]["reason"]
    assert "%s %s" % ("qemu", RETAINED[1]) in predicted["diff"]["after"]

    # the backup lock goes after two seconds: the module waits for it
    releaser = threading.Timer(2.0, _unlock, (pve, LOCKED))
    releaser.start()
    started = time.monotonic()
    result = run(pve, tmp_path, "retention", [task("retention", **RETENTION)])
    releaser.join()
    assert result.returncode == 0, result.output[-3000:]
    outcome = result.task("retention")
    assert outcome["changed"] is True and time.monotonic() - started > 2.0
    assert {(item["vmid"], item["snapname"]) for item in outcome["deleted"]} == expected_deleted
    assert any("tmpl" in warning and "template" in warning for warning in outcome.get("warnings", [])), outcome.get("warnings")
    assert outcome["failed_guests"] == [] and outcome["not_started"] == []

    for vmid in RETAINED + [LOCKED]:
        names = set(guest_snapshots(pve, vmid)) - {"current"}
        expected = {new_name, "auto-old"} if vmid == LOCKED else {new_name, "auto-1h", "auto-2d", "manual-keep"}
        assert names == expected, (vmid, names)
    assert set(guest_snapshots(pve, TEMPLATE)) == {"auto-old", "current"}

    again = run(pve, tmp_path, "retention-again", [task("retention", **RETENTION)])
    assert again.task("retention")["changed"] is False, again.task("retention")


def _unlock(pve, vmid):
    with pve.sim.lock:
        guest_state(pve, vmid).lock = None


def test_locked_guests_skipped_or_refused(pve, tmp_path):
    with pve.sim.lock:
        guest_state(pve, LOCKED).lock = "migrate"
    try:
        args = {"vmids": [LOCKED, RETAINED[0]], "snapname": "lock-test"}
        before = writes(pve)
        result = run(pve, tmp_path, "locks", [task("fail", ignore_errors=True, locked="fail", **args),
                                              task("skip", locked="skip", **args)])
        refused = result.task("fail")
        assert refused["failed"] and "is locked (migrate)" in refused["msg"] and "nothing was changed" in refused["msg"]
        assert refused["changed"] is False
        skipped = result.task("skip")
        assert skipped["changed"] is True and skipped["skipped_guests"] == [{"vmid": LOCKED, "reason": "is locked (migrate)"}]
        assert "lock-test" not in guest_snapshots(pve, LOCKED) and "lock-test" in guest_snapshots(pve, RETAINED[0])
        assert writes(pve) == before + 1

        template = run(pve, tmp_path, "template", [task("template", ignore_errors=True, unsupported="fail", vmid=TEMPLATE,
                                                        prefix="auto-", create=True)])
        refused = template.task("template")
        assert refused["failed"] and "is a template" in refused["msg"] and "unsupported=skip" in refused["msg"], refused
        assert writes(pve) == before + 1

        wait = run(pve, tmp_path, "lock-timeout", [task("wait", ignore_errors=True, locked="wait", lock_timeout=1, **args)])
        waited = wait.task("wait")
        assert waited["failed"] and "still locked (migrate) after 1 seconds" in waited["msg"], waited["msg"]
    finally:
        _unlock(pve, LOCKED)


def test_a_failing_task_fails_the_module_and_a_rerun_finishes(pve, tmp_path):
    guests = RETAINED[:12]
    args = {"vmids": guests, "snapname": "wave", "parallel": 2, "description": "wave"}
    pve.sim.faults.fail_next_task(guests[3], "snapshot storage full")
    first = run(pve, tmp_path, "failing", [task("wave", ignore_errors=True, **args)])
    outcome = first.task("wave")
    assert outcome["failed"] is True and outcome["changed"] is True
    assert "snapshot storage full" in outcome["msg"] and "a rerun finishes them" in outcome["msg"], outcome["msg"]
    assert [item["vmid"] for item in outcome["failed_guests"]] == [guests[3]]
    report = {item["vmid"]: item for item in outcome["guests"]}
    assert report[guests[3]]["status"] == "failed" and "TASK ERROR: snapshot storage full" in report[guests[3]]["task_log"]
    done = [vmid for vmid in guests if report[vmid]["status"] == "changed"]
    assert done and outcome["not_started"], outcome
    assert {vmid for vmid in guests if "wave" in guest_snapshots(pve, vmid)} == set(done)

    rerun = run(pve, tmp_path, "failing-rerun", [task("wave", **args)])
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert {item["vmid"] for item in rerun.task("wave")["created"]} == set(guests) - set(done)
    assert all("wave" in guest_snapshots(pve, vmid) for vmid in guests)
    cleanup = run(pve, tmp_path, "failing-cleanup", [task("cleanup", vmids=guests, snapname="wave", state="absent",
                                                          parallel=4)])
    assert cleanup.task("cleanup")["changed"] is True


# --- the overview --------------------------------------------------------------------------------
def test_snapshot_info(pve, tmp_path):
    result = run(pve, tmp_path, "info", [
        task("all", module="snapshot_info"),
        task("retained containers", module="snapshot_info", tags=["retain"], types=["lxc"], prefix="auto-"),
        task("twins by name", module="snapshot_info", name="twin", ignore_errors=True),
    ])
    everything = result.task("all")
    assert everything["changed"] is False
    rows = everything["snapshots"]
    assert [(row["vmid"], row["snaptime"]) for row in rows] == sorted((row["vmid"], row["snaptime"]) for row in rows)
    first = next(row for row in rows if row["vmid"] == RETAINED[1] and row["snapname"] == "manual-keep")
    assert first["guest_name"] == "g%d" % RETAINED[1] and first["type"] == "qemu" and first["description"] == "mine"
    assert 39 * DAY < first["age"] < 41 * DAY and first["time"].endswith("Z") and first["vmstate"] is False
    assert not any(row["snapname"] == "current" for row in rows)
    assert sum(1 for row in rows if row["current_parent"]) == sum(1 for g in everything["guests"] if g["parent"])
    containers = result.task("retained containers")["snapshots"]
    assert containers and {row["type"] for row in containers} == {"lxc"}
    assert all(row["snapname"].startswith("auto-") for row in containers)
    twins = result.task("twins by name")
    assert twins["failed"] and "180" in twins["msg"] and "181" in twins["msg"]
    # one resources read, one list per guest
    assert json.dumps(everything["unreadable"]) == "[]"
