"""What a new user met first: refused joins called changes, and every TLS-level error called a certificate problem.

Each case runs the real modules through ansible-playbook against pvesim and reads the outcome back through the API.
"""

import json

from conftest import GUIDE_PLAYBOOK, STANDALONE_3, connection_vars, run_playbook

from pvesim.testing import running

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    host_a: "{{ pve_nodes['pve-a'] }}"
    host_b: "{{ pve_nodes['pve-b'] }}"
    host_c: "{{ pve_nodes['pve-c'] }}"
  module_defaults:
    group/proxops.proxmox.proxmox:
      api_port: "{{ pve_api_port }}"
      api_password: "{{ pve_root_password }}"
      ca_path: "{{ pve_ca_path }}"
  tasks:
%s"""


def play(tmp_path, name, tasks):
    path = tmp_path / ("%s.yml" % name)
    path.write_text(PLAY % tasks)
    return str(path)


def cluster_name(pve, node):
    """The cluster ``node`` is in, read through its API (None: standalone)."""
    status = pve.client(node).cluster.status.get()
    return next((item["name"] for item in status if item["type"] == "cluster"), None)


REFUSED_JOINS = """
    - name: create
      proxops.proxmox.cluster:
        api_host: "{{ host_b }}"
        cluster_name: lab
    - name: info
      proxops.proxmox.cluster_join_info:
        api_host: "{{ host_b }}"
      register: info
    - name: host with guests
      proxops.proxmox.cluster:
        api_host: "{{ host_a }}"
        join:
          master_host: "{{ host_b }}"
          fingerprint: "{{ info.fingerprint }}"
          password: "{{ pve_root_password }}"
      ignore_errors: true
    - name: wrong password
      proxops.proxmox.cluster:
        api_host: "{{ host_c }}"
        join:
          master_host: "{{ host_b }}"
          fingerprint: "{{ info.fingerprint }}"
          password: not-the-root-password
      ignore_errors: true
    - name: wrong fingerprint
      proxops.proxmox.cluster:
        api_host: "{{ host_c }}"
        join:
          master_host: "{{ host_b }}"
          fingerprint: "{{ '00:' * 31 }}00"
          password: "{{ pve_root_password }}"
      ignore_errors: true
    - name: unknown master
      proxops.proxmox.cluster:
        api_host: "{{ host_c }}"
        join:
          master_host: 192.0.2.1
          fingerprint: "{{ info.fingerprint }}"
          password: "{{ pve_root_password }}"
      ignore_errors: true
    - name: foreign link address
      proxops.proxmox.cluster:
        api_host: "{{ host_c }}"
        links:
          - address: 192.0.2.77
        join:
          join_info: "{{ info.join_info }}"
          password: "{{ pve_root_password }}"
      ignore_errors: true
    - name: two links for a one-link cluster
      proxops.proxmox.cluster:
        api_host: "{{ host_c }}"
        links:
          - address: "{{ host_c }}"
          - address: 10.99.0.3
        join:
          join_info: "{{ info.join_info }}"
          password: "{{ pve_root_password }}"
      ignore_errors: true
"""


def test_a_join_pve_refuses_is_no_change_and_says_why(tmp_path):
    with running(STANDALONE_3) as pve:
        run = run_playbook(play(tmp_path, "refused", REFUSED_JOINS), connection_vars(pve), tmp_path)
        assert run.task("create")["changed"] is True, run.output[-3000:]
        reasons = {
            "host with guests": "this host already contains virtual guests",
            "wrong password": "401 authentication failure",
            "wrong fingerprint": "not verified",
            "unknown master": "Can't connect to 192.0.2.1",
            "foreign link address": "link0: cannot use IP '192.0.2.77', not found on local node",
            "two links for a one-link cluster": "the cluster has 1 corosync link (link0)",
        }
        for name, reason in reasons.items():
            result = run.task(name)
            assert result.get("failed") is True, (name, result)
            assert result["changed"] is False, (name, result["msg"])
            assert "already done" not in result["msg"] and "done" not in result, (name, result["msg"])
            assert reason in result["msg"], (name, result["msg"])
        # PVE's generic "Check if node may join a cluster failed!" comes with the reason from the task log
        assert "Check if node may join a cluster failed!: this host already contains" in run.task("host with guests")["msg"]
        # the link count is refused before anything is sent: five of the six joins reached PVE
        assert pve.sim.stats.count(method="POST", template="/cluster/config/join") == 5
        # read back through the API: only pve-b is in a cluster
        assert [cluster_name(pve, node) for node in ("pve-a", "pve-b", "pve-c")] == [None, "lab", None]


def _clustered(tmp_path):
    pve_handle = running(STANDALONE_3)
    pve = pve_handle.__enter__()
    build = run_playbook(GUIDE_PLAYBOOK, connection_vars(pve), tmp_path)
    assert build.returncode == 0, build.output[-3000:]
    return pve_handle, pve


def test_outages_are_connection_errors_not_certificate_problems(tmp_path):
    handle, pve = _clustered(tmp_path)
    try:
        # a host that is down cuts the TLS handshake: "cannot reach", no hint about the CA
        pve.sim.faults.set_offline("pve-c")
        down = run_playbook(play(tmp_path, "down", """
    - name: read a node that is down
      proxops.proxmox.node:
        api_host: "{{ host_c }}"
        node: pve-c
        timezone: UTC
"""), connection_vars(pve), tmp_path)
        result = down.task("read a node that is down")
        assert result.get("failed") and result["changed"] is False
        assert "cannot reach" in result["msg"] and "ca_path" not in result["msg"], result["msg"]
        pve.sim.faults.set_online("pve-c")

        # shutting down and rebooting a node through its own API: it goes away under the module's feet
        power = run_playbook(play(tmp_path, "power", """
    - name: reboot through its own API
      proxops.proxmox.node:
        api_host: "{{ host_c }}"
        node: pve-c
        power_state: reboot
    - name: shut down through its own API
      proxops.proxmox.node:
        api_host: "{{ host_c }}"
        node: pve-c
        power_state: shutdown
"""), connection_vars(pve), tmp_path)
        assert power.returncode == 0, json.dumps(power.results)[-3000:]
        assert power.task("reboot through its own API")["changed"] is True
        assert power.task("shut down through its own API")["changed"] is True
        members = {item["name"]: item["online"] for item in pve.client("pve-a").cluster.status.get() if item["type"] == "node"}
        assert members == {"pve-a": 1, "pve-b": 1, "pve-c": 0}
    finally:
        handle.__exit__(None, None, None)
