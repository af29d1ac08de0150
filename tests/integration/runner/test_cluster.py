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
        writes = (pve.sim.stats.count(method="POST") - pve.sim.stats.count(method="POST", template="/access/ticket")
                  + pve.sim.stats.count(method="PUT") + pve.sim.stats.count(method="DELETE"))
        assert writes == before == 0
        assert all(host.fs.cluster_name is None for host in pve.sim.hosts.values())
        # the whole play runs and predicts every change the real run makes: the create and both joins
        assert run.returncode == 0, run.output[-3000:]
        assert run.task("Create the cluster on the first host")["changed"] is True
        info = run.task("Read the join information from the first host")
        assert info["in_cluster"] is False and info["changed"] is False
        joins = run.results["Join the other hosts, trusting the fingerprint from the join information"][-1]["results"]
        assert [join["changed"] for join in joins] == [True, True]
        assert "master_host: %s is not in a cluster yet" % pve.sim.hosts["pve-a"].address in run.stdout
        # the create, the join loop, and the closing read, which (with no cluster yet) predicts the create again
        assert run.stats()["changed"] == 3


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


def _standalone_3(**extra):
    with open(scenario.find(STANDALONE_3), encoding="utf-8") as handle:
        return dict(json.load(handle), **extra)


def _cluster_playbook(tmp_path, name, tasks):
    path = tmp_path / ("%s.yml" % name)
    path.write_text("""
- hosts: localhost
  gather_facts: false
  vars:
    host_a: "{{ pve_nodes['pve-a'] }}"
    host_b: "{{ pve_nodes['pve-b'] }}"
  module_defaults:
    group/proxops.proxmox.proxmox:
      api_port: "{{ pve_api_port }}"
      api_password: "{{ pve_root_password }}"
      ca_path: "{{ pve_ca_path }}"
  tasks:
%s""" % tasks)
    return str(path)


CREATE_LAB = """
    - name: create
      proxops.proxmox.cluster:
        api_host: "{{ host_a }}"
        cluster_name: lab
      register: create
      ignore_errors: true
"""


def test_join_through_an_fqdn_of_the_member(tmp_path):
    """join.master_host an FQDN the join information does not hold: the join information read from it
    is its own, so the fingerprint is its preferred node's; a rerun asks it which cluster it is in."""
    fqdn = "pve-a.lab.example"
    with running(_standalone_3(host_names={"pve-a": [fqdn]})) as pve:
        join = """
    - name: join
      proxops.proxmox.cluster:
        api_host: "{{ host_b }}"
        validate_certs: false  # the certificates do not name the FQDN
        join:
          master_host: %s
          password: "{{ pve_root_password }}"
      register: join
      ignore_errors: true
""" % fqdn
        names = {fqdn: pve.sim.hosts["pve-a"].address}
        first = run_playbook(_cluster_playbook(tmp_path, "fqdn", CREATE_LAB + join), connection_vars(pve), tmp_path,
                             host_names=names)
        assert first.task("create")["changed"], first.task("create")
        result = first.task("join")
        assert not result.get("failed") and result["changed"], result.get("msg")
        assert result["cluster"]["name"] == "lab"
        assert pve.sim.hosts["pve-b"].fs is pve.sim.hosts["pve-a"].fs

        again = run_playbook(_cluster_playbook(tmp_path, "fqdn-again", join), connection_vars(pve), tmp_path,
                             host_names=names)
        result = again.task("join")
        assert not result.get("failed") and not result["changed"], result.get("msg")


def test_a_join_that_failed_halfway_is_named_and_finished_with_force(tmp_path):
    """PVE's join adds the node on the cluster, then finishes on the joining host; when the second half
    failed, the cluster lists the node and a plain rerun would die with "can't add existing node"."""
    with running(STANDALONE_3) as pve:
        run = run_playbook(_cluster_playbook(tmp_path, "create", CREATE_LAB), connection_vars(pve), tmp_path)
        assert run.task("create")["changed"]
        # the first half of a join of pve-b: the cluster lists it, pve-b is still standalone
        pve.client("pve-a").cluster.config.nodes("pve-b").post(new_node_ip=pve.sim.hosts["pve-b"].address)
        assert pve.sim.hosts["pve-b"].fs.cluster_name is None
        fingerprint = pve.sim.hosts["pve-a"].fingerprint
        tasks = """
    - name: fetched
      proxops.proxmox.cluster:
        api_host: "{{ host_b }}"
        join:
          master_host: "{{ host_a }}"
          password: "{{ pve_root_password }}"
      register: fetched
      ignore_errors: true
    - name: fingerprint given
      proxops.proxmox.cluster:
        api_host: "{{ host_b }}"
        join:
          master_host: "{{ host_a }}"
          fingerprint: "%s"
          password: "{{ pve_root_password }}"
      register: given
      ignore_errors: true
    - name: forced
      proxops.proxmox.cluster:
        api_host: "{{ host_b }}"
        join:
          master_host: "{{ host_a }}"
          password: "{{ pve_root_password }}"
          force: true
      register: forced
      ignore_errors: true
""" % fingerprint
        run = run_playbook(_cluster_playbook(tmp_path, "halfway", tasks), connection_vars(pve), tmp_path)
        fetched = run.task("fetched")
        assert fetched["failed"] and not fetched["changed"]
        assert "already lists node pve-b" in fetched["msg"] and "join.force" in fetched["msg"]
        given = run.task("fingerprint given")  # no join information read: PVE's task says it, the module explains
        assert given["failed"] and "can't add existing node" in " ".join(given["task_log"])
        assert "join.force" in given["msg"]
        forced = run.task("forced")
        assert not forced.get("failed") and forced["changed"], forced.get("msg")
        assert [node["name"] for node in forced["cluster"]["nodes"]] == ["pve-a", "pve-b"]
        assert all(node["online"] for node in forced["cluster"]["nodes"])
        assert pve.sim.hosts["pve-b"].fs is pve.sim.hosts["pve-a"].fs

        # removing a node is not repeated after a proxy error: the first DELETE may have done it
        remove = """
    - name: remove
      proxops.proxmox.cluster:
        api_host: "{{ host_a }}"
        state: absent
        node: pve-b
        force: true
      register: remove
      ignore_errors: true
"""
        pve.sim.faults.fail_next("/cluster/config/nodes/*", method="DELETE", status=502, message="Bad Gateway")
        pve.sim.stats.reset()
        run = run_playbook(_cluster_playbook(tmp_path, "remove", remove), connection_vars(pve), tmp_path)
        assert run.task("remove")["failed"] and run.task("remove").get("status") == 502
        assert pve.sim.stats.count(method="DELETE", template="/cluster/config/nodes/{node}") == 1


def test_create_and_join_whose_task_end_cannot_be_seen(tmp_path):
    """A join restarts the API: task polls that fail are repeated; when the end cannot be seen at all,
    the host being in the cluster afterwards is success."""
    with running(STANDALONE_3) as pve:
        # the first polls of the task fail (pveproxy restarting)
        pve.sim.faults.fail_next("/nodes/*/tasks/*/status", method="GET", count=3, status=500,
                                 message="proxy restarting")
        run = run_playbook(_cluster_playbook(tmp_path, "create", CREATE_LAB), connection_vars(pve), tmp_path)
        create = run.task("create")
        assert not create.get("failed") and create["changed"], create.get("msg")
        assert pve.sim.faults.describe()["rules"] == []

        # no poll of the join task answers until the timeout
        pve.sim.faults.fail_next("/nodes/*/tasks/*/status", method="GET", count=None, status=500,
                                 message="proxy restarting")
        join = """
    - name: join
      proxops.proxmox.cluster:
        api_host: "{{ host_b }}"
        timeout: 2
        join:
          master_host: "{{ host_a }}"
          password: "{{ pve_root_password }}"
      register: join
      ignore_errors: true
"""
        run = run_playbook(_cluster_playbook(tmp_path, "join", join), connection_vars(pve), tmp_path)
        result = run.task("join")
        assert not result.get("failed") and result["changed"], result.get("msg")
        assert result["cluster"]["name"] == "lab"
        assert any("could not be seen" in warning for warning in result.get("warnings", [])), result
        assert pve.sim.hosts["pve-b"].fs is pve.sim.hosts["pve-a"].fs


def test_create_returns_the_cluster_once_quorate(tmp_path):
    """PVE's create task ends right after restarting corosync, before quorum: the module waits for it."""
    import threading
    import time

    with running(STANDALONE_3) as pve:
        pve.sim.faults.lose_quorum("pve-a")
        host_a = pve.sim.hosts["pve-a"]

        def quorum_later():
            deadline = time.monotonic() + 60
            while host_a.fs.cluster_name is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)
            pve.sim.faults.restore_quorum("pve-a")

        thread = threading.Thread(target=quorum_later, daemon=True)
        thread.start()
        run = run_playbook(_cluster_playbook(tmp_path, "create", CREATE_LAB), connection_vars(pve), tmp_path)
        thread.join()
        create = run.task("create")
        assert not create.get("failed") and create["changed"], create.get("msg")
        assert create["cluster"]["name"] == "lab" and create["cluster"]["quorate"] is True
