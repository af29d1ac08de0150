"""Bad input, table-driven, for every module: a clear error naming the option, before any write, and nothing changed.

All cases run in one playbook against a small pvesim cluster; pvesim counts the requests (no write
may reach it) and the cluster's state is read through the API before and after.
"""

import json

import pytest
import yaml
from conftest import STANDALONE_3, connection_vars, run_playbook

from pvesim.testing import running

# (module, options, text the error must contain)
CASES = [
    ("cluster", {"cluster_name": "a_b"}, "cluster_name"),
    ("cluster", {"cluster_name": "lab", "nodeid": 0}, "nodeid"),
    ("cluster", {"join": {"password": "x"}}, "master_host"),
    ("cluster", {"join": {"master_host": "10.0.0.1", "password": "x", "fingerprint": "AB:CD"}}, "join.fingerprint"),
    ("cluster", {"state": "absent", "node": "pve_x"}, "node"),
    ("cluster", {"state": "absent"}, "node"),
    ("cluster_join_info", {"node": "-x"}, "node"),
    ("node", {"node": "pve-b", "dns": {"servers": ["1.1.1.1", "1.1.1.1"]}}, "dns.servers"),
    ("node", {"node": "pve-b", "timezone": "Mars/Olympus"}, "timezone"),
    ("node", {"node": "pve-b", "wakeonlan": "00:11"}, "wakeonlan"),
    ("node", {"node": "pve-b", "subscription": {"key": "not-a-key"}}, "subscription.key"),
    ("node", {"node": "pve-b", "power_state": "sleep"}, "power_state"),
    ("node", {"node": "pve b"}, "node"),
    ("storage", {"name": "1st", "type": "dir", "path": "/srv"}, "name"),
    ("storage", {"name": "x1", "type": "dir", "path": "relative"}, "path"),
    ("storage", {"name": "x1", "type": "nfs", "server": "10.0.0.1", "export": "/e", "vgname": "v"}, "vgname"),
    ("storage", {"name": "x1", "type": "pbs", "server": "s", "datastore": "d", "content": ["images"]}, "content"),
    ("storage", {"name": "x1", "type": "floppy"}, "type"),
    ("storage", {"name": "x1", "type": "esxi", "server": "s", "username": "u"}, "password"),
    ("snapshot", {"vmid": 100, "snapname": "1bad"}, "snapname"),
    ("snapshot", {"vmid": 99, "snapname": "ok-name"}, "vmid"),
    ("snapshot", {"vmid": 123456, "snapname": "ok-name"}, "vmid"),
    ("snapshot", {"name": "no-such-guest", "snapname": "ok-name"}, "name"),
    ("snapshot", {"snapname": "ok-name"}, "vmid"),
    ("snapshot", {"all": True, "prefix": "d-", "keep_last": -1}, "keep_last"),
    ("snapshot", {"all": True, "prefix": "d-", "max_age": "soon"}, "max_age"),
    ("snapshot", {"all": True, "prefix": "d-", "pattern": "d-.*", "keep_last": 1}, "pattern"),
    ("snapshot_info", {"vmids": [100, 424242]}, "vmids"),
    ("snapshot_info", {"types": ["docker"]}, "types"),
]


def state(pve):
    """What the cases could change, read through the API."""
    api = pve.client()
    snapshots = {}
    for guest in api.cluster.resources.get(type="vm"):
        path = api.nodes(guest["node"])(guest["type"])(guest["vmid"]).snapshot
        snapshots[guest["vmid"]] = sorted(item["name"] for item in path.get())
    return {
        "cluster": api.cluster.status.get(),
        "storage": sorted((item["storage"], item["type"]) for item in api.storage.get()),
        "dns": api.nodes("pve-a").dns.get(),
        "time": api.nodes("pve-a").time.get()["timezone"],
        "snapshots": snapshots,
    }


@pytest.fixture(scope="module")
def pve():
    with running(STANDALONE_3) as handle:
        yield handle


def test_bad_input_is_refused_before_any_write(pve, tmp_path):
    tasks = [{"name": "case %d" % number, "proxops.proxmox." + module: options, "ignore_errors": True}
             for number, (module, options, _text) in enumerate(CASES)]
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks, "module_defaults": {
        "group/proxops.proxmox.proxmox": {"api_host": "{{ pve_nodes['pve-a'] }}", "api_port": "{{ pve_api_port }}",
                                          "api_password": "{{ pve_root_password }}", "ca_path": "{{ pve_ca_path }}"}}}]
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    before = state(pve)
    pve.sim.stats.reset()

    run = run_playbook(str(path), connection_vars(pve), tmp_path)

    writes = {route: count for route, count in pve.sim.stats.snapshot()["by_route"].items()
              if not route.startswith("GET ") and route != "POST /access/ticket"}
    assert writes == {}, writes
    for number, (module, options, text) in enumerate(CASES):
        result = run.task("case %d" % number)
        assert result.get("failed") and result["changed"] is False, (module, options, result)
        assert text in result["msg"], (module, options, result["msg"])
        assert pve.password not in json.dumps(result)
    assert state(pve) == before
