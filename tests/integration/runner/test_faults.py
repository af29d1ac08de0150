"""Transient faults on reads, through pvesim's fault switches: every module rides them out, and fails clearly when they persist.

A 595 and a 503 answer and a dropped connection (three faults: the client tries four times) are retried with backoff and the run succeeds
(pvesim shows the faults used up); the same fault on every request fails the task with a message
naming the call and PVE's error, in seconds, not minutes.
"""

import time

import pytest
import yaml
from conftest import STANDALONE_3, connection_vars, run_playbook

from pvesim.testing import running

BUILD = [
    {"proxops.proxmox.cluster": {"api_host": "{{ pve_nodes['pve-a'] }}", "cluster_name": "lab"}},
    {"proxops.proxmox.cluster": {"api_host": "{{ pve_nodes['pve-b'] }}",
                                 "join": {"master_host": "{{ pve_nodes['pve-a'] }}", "password": "{{ pve_root_password }}"}}},
    {"proxops.proxmox.storage": {"name": "faults-nfs", "type": "nfs", "server": "10.0.0.5", "export": "/srv"}},
    {"proxops.proxmox.snapshot": {"vmid": 100, "snapname": "faults-base"}},
]

# module, its options, the route of a read it makes (pvesim's template), the method
CASES = [
    ("cluster", {"api_host": "{{ pve_nodes['pve-b'] }}", "cluster_name": "lab"}, "/cluster/status", "GET"),
    ("cluster_join_info", {}, "/cluster/config/join", "GET"),
    ("node", {"node": "pve-b", "timezone": "UTC"}, "/nodes/{node}/time", "GET"),
    ("storage", {"name": "faults-nfs", "type": "nfs", "server": "10.0.0.5", "export": "/srv"}, "/storage/{storage}", "GET"),
    ("snapshot", {"vmid": 100, "snapname": "faults-base"}, "/nodes/{node}/qemu/{vmid}/snapshot", "GET"),
    ("snapshot_info", {"vmid": 100}, "/cluster/resources", "GET"),
]


def play(tmp_path, name, tasks):
    document = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks, "module_defaults": {
        "group/proxops.proxmox.proxmox": {"api_host": "{{ pve_nodes['pve-a'] }}", "api_port": "{{ pve_api_port }}",
                                          "api_password": "{{ pve_root_password }}", "ca_path": "{{ pve_ca_path }}",
                                          "api_timeout": 5}}}]
    path = tmp_path / ("%s.yml" % name)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


@pytest.fixture(scope="module")
def pve(tmp_path_factory):
    with running(STANDALONE_3) as handle:
        tmp_path = tmp_path_factory.mktemp("build")
        run = run_playbook(play(tmp_path, "build", BUILD), connection_vars(handle), tmp_path)
        assert run.returncode == 0, run.output[-3000:]
        yield handle


@pytest.mark.parametrize("module, options, route, method", CASES, ids=[case[0] for case in CASES])
def test_transient_faults_are_ridden_out(pve, tmp_path, module, options, route, method):
    faults = pve.sim.faults
    faults.clear()
    faults.fail_next(route, method=method, count=1, status=595, message="No route to host")
    faults.fail_next(route, method=method, count=1, status=503, message="Service Unavailable")
    faults.drop_next(route, method=method, count=1)
    try:
        run = run_playbook(play(tmp_path, module, [{"name": "task", "proxops.proxmox." + module: options}]),
                           connection_vars(pve), tmp_path)
        result = run.task("task")
        assert not result.get("failed"), result.get("msg")
        assert result["changed"] is False
        assert faults.describe()["rules"] == [], "the faults were not all met: the read was not retried"
    finally:
        faults.clear()


@pytest.mark.parametrize("module, options, route, method", CASES, ids=[case[0] for case in CASES])
def test_persistent_faults_fail_naming_the_call(pve, tmp_path, module, options, route, method):
    faults = pve.sim.faults
    faults.clear()
    faults.fail_next(route, method=method, count=None, status=503, message="Service Unavailable")
    try:
        started = time.monotonic()
        run = run_playbook(play(tmp_path, module + "-down", [{"name": "task", "proxops.proxmox." + module: options}]),
                           connection_vars(pve), tmp_path)
        elapsed = time.monotonic() - started
        result = run.task("task")
        assert result.get("failed") and result["changed"] is False, result
        assert "Service Unavailable" in result["msg"], result["msg"]
        assert "%s %s" % (method, route.split("{")[0]) in result["msg"] or result.get("status") == 503, result["msg"]
        assert elapsed < 5 + 15 + 10, elapsed  # api_timeout + retry budget + ansible's own start-up
    finally:
        faults.clear()
