"""The ``cluster`` target and the guide playbook, run by ansible-playbook against pvesim."""

import json

from conftest import GUIDE_PLAYBOOK, STANDALONE_3, connection_vars, run_playbook, target_playbook

from pvesim import scenario
from pvesim.testing import running


def _failed_tasks(run):
    return [(name, r.get("msg")) for name, results in run.results.items() for r in results
            if r.get("failed") and not r.get("_ansible_ignore_errors") and name.startswith("Assert")] or run.output[-3000:]


def test_cluster_target(pve, tmp_path):
    run = run_playbook(target_playbook("cluster", tmp_path), connection_vars(pve), tmp_path, verbosity=3)
    assert run.returncode == 0, _failed_tasks(run)
    hosts = pve.sim.hosts
    assert hosts["pve-a"].fs.cluster_name == "lab"
    assert hosts["pve-b"].fs is hosts["pve-a"].fs
    assert sorted(hosts["pve-a"].fs.corosync_nodes) == ["pve-a", "pve-b"]
    assert hosts["pve-c"].fs is not hosts["pve-a"].fs  # removed: on its own again
    # the root password went to api_password and join.password: never in the output, even at -vvv
    assert pve.password not in run.output
    assert "not-the-root-password" not in run.output


def test_check_mode_writes_nothing(tmp_path):
    with running(STANDALONE_3) as pve:
        before = pve.sim.stats.count(method="POST") - pve.sim.stats.count(method="POST", template="/access/ticket")
        run = run_playbook(GUIDE_PLAYBOOK, connection_vars(pve), tmp_path, check=True)
        # the join info cannot be read in check mode (no cluster yet): the play stops there
        writes = (pve.sim.stats.count(method="POST") - pve.sim.stats.count(method="POST", template="/access/ticket")
                  + pve.sim.stats.count(method="PUT") + pve.sim.stats.count(method="DELETE"))
        assert writes == before == 0
        assert run.task("Create the cluster on the first host")["changed"] is True
        assert all(host.fs.cluster_name is None for host in pve.sim.hosts.values())


def test_guide_playbook_builds_cluster_and_is_idempotent(tmp_path):
    with running(STANDALONE_3) as pve:
        first = run_playbook(GUIDE_PLAYBOOK, connection_vars(pve), tmp_path)
        assert first.returncode == 0, first.output[-3000:]
        assert first.stats()["changed"] == 2
        assert {host.fs.cluster_name for host in pve.sim.hosts.values()} == {"lab"}
        assert len(pve.sim.hosts["pve-a"].fs.corosync_nodes) == 3

        pve.sim.stats.reset()
        second = run_playbook(GUIDE_PLAYBOOK, connection_vars(pve), tmp_path)
        assert second.returncode == 0, second.output[-3000:]
        assert second.stats()["changed"] == 0
        # every module run: one login and at most two reads, no writes
        snapshot = pve.sim.stats.snapshot()
        module_runs = 5  # create, join info, join x2, read
        assert snapshot["by_route"]["POST /access/ticket"] == module_runs
        assert snapshot["total"] <= module_runs * 3, json.dumps(snapshot["by_route"])
        assert all(route.startswith("GET ") or route == "POST /access/ticket" for route in snapshot["by_route"])


def test_guide_playbook_on_pve_8_4(tmp_path):
    """The same playbook builds a cluster of PVE 8.4 hosts (pvesim checks against the 8.4 schema)."""
    with open(scenario.find(STANDALONE_3), encoding="utf-8") as handle:
        data = dict(json.load(handle), pve_version="8.4")
    with running(data) as pve:
        run = run_playbook(GUIDE_PLAYBOOK, connection_vars(pve), tmp_path)
        assert run.returncode == 0, run.output[-3000:]
        assert {host.fs.cluster_name for host in pve.sim.hosts.values()} == {"lab"}
        assert pve.client("pve-a").version.get()["release"].startswith("8.4")


def test_guide_playbook_from_pvesim_state_dir(tmp_path):
    """The demo's way: only pvesim's state directory is given."""
    state_dir = tmp_path / "state"
    with running(STANDALONE_3, state_dir=str(state_dir)) as pve:
        (state_dir / "hosts.json").write_text(json.dumps(
            [{"node": name, "url": url, "fingerprint": pve.sim.hosts[name].fingerprint} for name, url in pve.urls.items()]))
        (state_dir / "credentials.json").write_text(json.dumps({"user": pve.user, "password": pve.password}))
        run = run_playbook(GUIDE_PLAYBOOK, {"pvesim_state_dir": str(state_dir), "pve_cluster_name": "demo"}, tmp_path)
        assert run.returncode == 0, run.output[-3000:]
        assert {host.fs.cluster_name for host in pve.sim.hosts.values()} == {"demo"}


def test_guide_shows_the_tested_playbook():
    """The playbook in docs/guides/build-a-cluster.md has the tasks of the file the tests run."""
    import os
    import re

    import yaml

    from conftest import REPO

    with open(os.path.join(REPO, "docs", "guides", "build-a-cluster.md"), encoding="utf-8") as handle:
        guide = handle.read()
    shown = yaml.safe_load(re.search(r"```yaml\n(- name: Build a Proxmox VE cluster.*?)```", guide, re.S).group(1))
    with open(GUIDE_PLAYBOOK, encoding="utf-8") as handle:
        tested = yaml.safe_load(handle)
    assert shown[0]["tasks"] == tested[0]["tasks"]
    assert shown[0]["name"] == tested[0]["name"]
