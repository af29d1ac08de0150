"""The balancer module and the best_node lookup, run by ansible-playbook against pvesim.

A three-node cluster with shared storage where pve1 holds nearly every guest: plain VMs, an
affinity pair, an anti-affinity pair that shares a node, a VM pinned to pve2 by tag, an HA-managed
VM whose HA node-affinity rule wants pve3, two HA-managed VMs in negative resource affinity on one
node, a VM with a local disk, a running container and a stopped VM. Every outcome is read back
through the API.
"""

import pytest
import yaml
from conftest import connection_vars, run_playbook

from pvesim.testing import running

GIB = 1024 ** 3
NODES = ("pve1", "pve2", "pve3")
PLAIN = list(range(100, 108))
AFFINITY, ANTI, PINNED = (110, 111), (112, 113), 114
HA_NODE, HA_APART = 120, (121, 122)
LOCAL_DISK, CT, STOPPED = 125, 130, 131


def scenario(maintenance=()):
    resources = [{"type": "node", "node": node, "status": "online", "maxcpu": 16, "maxmem": 64 * GIB, "mem": 2 * GIB,
                  "cpu": 0.02, "maxdisk": 100 * GIB, "disk": 10 * GIB} for node in NODES]

    def guest(vmid, node="pve1", kind="qemu", status="running", mem=3, maxmem=4, **extra):
        item = {"type": kind, "vmid": vmid, "name": "g%d" % vmid, "node": node, "status": status, "maxcpu": 2,
                "cpu": 0.1, "maxmem": maxmem * GIB, "mem": mem * GIB, "maxdisk": 16 * GIB, "disk": 2 * GIB}
        item.update(extra)
        resources.append(item)

    for vmid in PLAIN:
        guest(vmid, mem=5, maxmem=6)
    for vmid in AFFINITY:
        guest(vmid, node="pve2" if vmid == AFFINITY[1] else "pve1", tags="plb_affinity_app")
    for vmid in ANTI:
        guest(vmid, tags="plb_anti_affinity_db")
    guest(PINNED, tags="plb_pin_pve2")
    guest(HA_NODE, hastate="started")
    for vmid in HA_APART:
        guest(vmid, hastate="started")
    guest(CT, kind="lxc", mem=1, maxmem=1)
    guest(STOPPED, status="stopped")
    guest(LOCAL_DISK, node="pve2", mem=2, maxmem=2)
    return {
        "name": "balancer tests", "cluster_name": "lab", "resources": resources, "maintenance": list(maintenance),
        "storage": [{"storage": "local", "type": "dir", "path": "/var/lib/vz", "content": "iso,vztmpl,backup,images"},
                    {"storage": "ceph", "type": "rbd", "pool": "vm", "content": "images,rootdir"}],
        "ha_rules": [
            {"rule": "db-on-pve3", "type": "node-affinity", "resources": "vm:%d" % HA_NODE, "nodes": "pve3:2,pve2:1", "strict": 0},
            {"rule": "apart", "type": "resource-affinity", "resources": "vm:%d,vm:%d" % HA_APART, "affinity": "negative"},
        ],
    }


def put_disk_on_local(pve, vmid):
    """Give a guest a disk on local storage (its migration then needs with-local-disks)."""
    api = pve.client("pve1")
    node = where(pve)[vmid]
    api.nodes(node).qemu(vmid).config.put(scsi1="local:1,format=qcow2")


@pytest.fixture()
def pve():
    with running(scenario(), time_scale=0.0) as handle:
        put_disk_on_local(handle, LOCAL_DISK)
        yield handle


def play(tmp_path, name, tasks, check=False):
    connection = {"api_host": "{{ pve_nodes['pve1'] }}", "api_port": "{{ pve_api_port }}",
                  "api_password": "{{ pve_root_password }}", "ca_path": "{{ pve_ca_path }}"}
    body = {"hosts": "localhost", "gather_facts": False, "tasks": tasks,
            "module_defaults": {"proxops.proxmox.balancer": connection}}
    if check:
        body["check_mode"] = True
    path = tmp_path / ("%s.yml" % name)
    path.write_text(yaml.safe_dump([body], sort_keys=False))
    return str(path)


def run(pve, tmp_path, name, tasks, check=False, diff=False):
    result = run_playbook(play(tmp_path, name, tasks, check), connection_vars(pve), tmp_path, diff=diff)
    assert pve.password not in result.output, "the API password reached the output"
    return result


def balance(title="Balance", ignore_errors=False, **args):
    entry = {"name": title, "proxops.proxmox.balancer": args}
    if ignore_errors:
        entry["ignore_errors"] = True
    return entry


def where(pve):
    """vmid -> node, read through the API."""
    return {item["vmid"]: item["node"] for item in pve.client("pve1").cluster.resources.get(type="vm")}


def node_memory(pve):
    """node -> memory utilisation, read through the API."""
    return {item["node"]: item["mem"] / item["maxmem"] for item in pve.client("pve1").cluster.resources.get(type="node")}


def migrations_sent(pve):
    stats = pve.sim.stats.snapshot()["by_route"]
    return {route: count for route, count in stats.items() if route.startswith("POST") and "migrate" in route}


def assert_rules_hold(placement):
    assert placement[AFFINITY[0]] == placement[AFFINITY[1]], "affinity pair split"
    assert placement[ANTI[0]] != placement[ANTI[1]], "anti-affinity pair together"
    assert placement[PINNED] == "pve2", "pinned guest off its node"
    assert placement[HA_NODE] == "pve3", "HA node-affinity rule broken"
    assert placement[HA_APART[0]] != placement[HA_APART[1]], "HA negative resource affinity broken"


# --- check mode, balance, rerun -----------------------------------------------------------------------
def test_check_mode_plans_and_changes_nothing(pve, tmp_path):
    before = where(pve)
    result = run(pve, tmp_path, "check", [balance(allow_lxc_restart=False)], check=True, diff=True)
    assert result.returncode == 0, result.output[-3000:]
    task = result.task("Balance")
    assert task["changed"] is True and task["plan"], task
    assert all(item["state"] == "planned" for item in task["migrations"])
    assert where(pve) == before
    assert not migrations_sent(pve)
    moved = {move["vmid"] for move in task["plan"]}
    assert {PINNED, HA_NODE} <= moved
    assert task["diff"]["after"]["guests"]
    assert task["usage_before"]["pve1"]["mem_util"] > task["usage_after"]["pve1"]["mem_util"]


def test_balance_honours_every_rule_and_a_rerun_changes_nothing(pve, tmp_path):
    spread_before = max(node_memory(pve).values()) - min(node_memory(pve).values())
    result = run(pve, tmp_path, "balance", [balance()], diff=True)
    assert result.returncode == 0, result.output[-3000:]
    task = result.task("Balance")
    assert task["changed"] is True, task
    placement = where(pve)
    for move in task["plan"]:
        assert placement[move["vmid"]] == move["target"], move
    assert_rules_hold(placement)
    # the HA-managed guests went through HA, the others through the migrate call
    sent = migrations_sent(pve)
    assert sent.get("POST /cluster/ha/resources/{sid}/migrate", 0) >= 1, sent
    assert [move for move in task["plan"] if move["vmid"] == HA_NODE][0]["ha"] is True
    assert placement[CT] == "pve1" and placement[STOPPED] == "pve1"   # no restart migration, stopped not moved
    assert placement[LOCAL_DISK] == "pve2"   # local disk without with_local_disks stays
    assert str(LOCAL_DISK) in task["held"] or LOCAL_DISK not in {move["vmid"] for move in task["plan"]}
    memory = node_memory(pve)
    assert max(memory.values()) - min(memory.values()) < spread_before / 2, memory
    assert task["usage_after"]["pve1"]["mem_util"] == pytest.approx(memory["pve1"], abs=0.01)
    assert task["metrics"]["migrations"] == len(task["plan"])

    again = run(pve, tmp_path, "again", [balance()])
    assert again.returncode == 0, again.output[-3000:]
    assert again.task("Balance")["changed"] is False, again.task("Balance")["plan"]
    assert where(pve) == placement


def test_drain_a_node(pve, tmp_path):
    run(pve, tmp_path, "spread", [balance()])
    assert "pve3" in where(pve).values()
    result = run(pve, tmp_path, "drain", [balance(maintenance_nodes=["pve3"], ha_guests="balance")])
    assert result.returncode == 0, result.output[-3000:]
    task = result.task("Balance")
    placement = where(pve)
    running = {item["vmid"] for item in pve.client("pve1").cluster.resources.get(type="vm") if item["status"] == "running"}
    assert not [vmid for vmid in running if placement[vmid] == "pve3"], placement
    assert task["usage_after"]["pve3"]["guests"] == 0
    assert task["maintenance_nodes"] == ["pve3"]
    # the HA node-affinity rule's next priority is pve2
    assert placement[HA_NODE] == "pve2"


def test_drain_that_cannot_be_done_is_refused_before_any_change(pve, tmp_path):
    before = where(pve)
    result = run(pve, tmp_path, "refused", [balance(maintenance_nodes=["pve2"], ignore_errors=True)])
    task = result.task("Balance")
    assert task.get("failed"), task
    assert "maintenance_nodes: cannot drain pve2" in task["msg"] and str(LOCAL_DISK) in task["msg"], task["msg"]
    assert "with_local_disks" in task["msg"]
    assert where(pve) == before and not migrations_sent(pve)


def test_a_failed_migration_is_reported_and_a_rerun_finishes(pve, tmp_path):
    check = run(pve, tmp_path, "plan", [balance(parallel=1)], check=True).task("Balance")
    plain = [move for move in check["plan"] if not move["ha"]]
    assert len(plain) >= 3, check["plan"]
    victim = plain[1]["vmid"]
    pve.sim.faults.fail_next_task(victim, "migration aborted")
    result = run(pve, tmp_path, "fail", [balance(parallel=1, ignore_errors=True)])
    task = result.task("Balance")
    assert task.get("failed") and task["changed"] is True, task
    states = {item["vmid"]: item["state"] for item in task["migrations"]}
    assert states[victim] == "failed"
    assert task["migrated"] and task["not_started"], task
    assert "migration aborted" in task["failed_migrations"][0]["error"]
    assert "1 of %d migrations failed" % len(task["plan"]) in task["msg"]
    placement = where(pve)
    for item in task["migrations"]:
        expected = item["target"] if item["state"] == "done" else item["source"]
        assert placement[item["vmid"]] == expected, item

    rerun = run(pve, tmp_path, "rerun", [balance(parallel=1)])
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert rerun.task("Balance")["changed"] is True
    done = [item["vmid"] for item in rerun.task("Balance")["migrations"] if item["state"] == "done"]
    assert len(done) == len(set(done)) == len(rerun.task("Balance")["plan"])   # each guest migrated once
    assert_rules_hold(where(pve))
    assert run(pve, tmp_path, "settled", [balance()]).task("Balance")["changed"] is False


def test_place_and_lookup(pve, tmp_path):
    run(pve, tmp_path, "spread", [balance()])
    tasks = [
        balance("Place", action="place", memory=4096, cores=2),
        balance("Place pinned", action="place", memory=1024, tags=["plb_pin_pve1"]),
        {"name": "Lookup", "ansible.builtin.set_fact": {"best": "{{ lookup('proxops.proxmox.best_node', memory=4096, cores=2, "
                                                               "api_host=pve_nodes['pve1'], api_port=pve_api_port, "
                                                               "api_password=pve_root_password, ca_path=pve_ca_path) }}"}},
    ]
    before = where(pve)
    writes = {route: count for route, count in pve.sim.stats.snapshot()["by_route"].items() if not route.startswith("GET")}
    result = run_playbook(play(tmp_path, "place", tasks), connection_vars(pve), tmp_path)
    assert result.returncode == 0, result.output[-3000:]
    place = result.task("Place")
    assert place["changed"] is False and place["node"] in NODES
    assert place["placement"]["candidates"][0]["node"] == place["node"]
    assert result.task("Place pinned")["node"] == "pve1"
    assert result.task("Lookup")["ansible_facts"]["best"] == place["node"]
    assert where(pve) == before
    after = {route: count for route, count in pve.sim.stats.snapshot()["by_route"].items() if not route.startswith("GET")}
    assert {route: count - writes.get(route, 0) for route, count in after.items() if "ticket" not in route
            and count != writes.get(route, 0)} == {}


def test_bad_input_is_refused_before_any_request(pve, tmp_path):
    cases = [
        (dict(threshold=-1), "threshold: must not be negative"),
        (dict(mem_limit=1.5), "mem_limit: a fraction"),
        (dict(action="place"), "memory: action=place needs"),
        (dict(memory=1024), "memory: only with action=place"),
        (dict(rules=[{"type": "resource-affinity", "resources": ["100"], "affinity": "negative"}]),
         "rules[0].resources: a resource-affinity rule needs two guests"),
        (dict(rules=[{"type": "node-affinity", "resources": ["vm:x"], "nodes": ["pve1"]}]), "rules[0].resources"),
        (dict(parallel=0), "parallel: give 1 or more"),
        (dict(maintenance_nodes=["pve9"]), "maintenance_nodes: pve9 is not a node of the cluster"),
    ]
    tasks = [balance("case %d" % number, ignore_errors=True, **args) for number, (args, _msg) in enumerate(cases)]
    result = run(pve, tmp_path, "bad", tasks)
    for number, (_args, message) in enumerate(cases):
        task = result.task("case %d" % number)
        assert task.get("failed") and message in task["msg"], (message, task.get("msg"))
    assert not migrations_sent(pve)


# --- CRS auto-rebalance ---------------------------------------------------------------------------------
def test_ha_guests_are_left_to_crs_when_it_rebalances(tmp_path):
    """With ha-auto-rebalance=1 in the crs cluster option, HA resources are CRS's to move: the balancer leaves them and says so."""
    with running(dict(scenario(), cluster_options={"crs": "ha=static,ha-auto-rebalance=1"}), time_scale=0.0) as pve:
        before = where(pve)
        result = run(pve, tmp_path, "crs", [balance()])
        assert result.returncode == 0, result.output[-3000:]
        task = result.task("Balance")
        assert task["ha"]["crs_auto_rebalance"] is True and "CRS" in task["ha"]["message"], task["ha"]
        moved = {move["vmid"] for move in task["plan"]}
        assert not moved & {HA_NODE, *HA_APART}, task["plan"]
        placement = where(pve)
        assert all(placement[vmid] == before[vmid] for vmid in (HA_NODE, *HA_APART))
        assert "POST /cluster/ha/resources/{sid}/migrate" not in migrations_sent(pve)
        # the user may still hand them to the balancer
        again = run(pve, tmp_path, "crs-balance", [balance(ha_guests="balance")])
        assert again.returncode == 0, again.output[-3000:]
        assert migrations_sent(pve).get("POST /cluster/ha/resources/{sid}/migrate", 0) >= 1
