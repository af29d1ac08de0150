"""The ``node`` target, run by ansible-playbook against a pvesim cluster built with the guide playbook."""

import pytest
from conftest import GUIDE_PLAYBOOK, connection_vars, run_playbook, target_playbook

SUBSCRIPTION_KEY = "pve1c-0123456789"
SUBSCRIPTION_KEY_INVALID = "pve1c-000000dead"  # pvesim: a key ending in "dead" is invalid
SUBSCRIPTION_KEY_BAD_FORMAT = "pve3x-not-a-key"


@pytest.fixture(scope="module")
def cluster(pve, tmp_path_factory):
    run = run_playbook(GUIDE_PLAYBOOK, connection_vars(pve), tmp_path_factory.mktemp("guide"))
    assert run.returncode == 0, run.output[-3000:]
    return pve


def test_node_target(cluster, tmp_path):
    pve = cluster
    host_b = pve.sim.hosts["pve-b"]
    cert_pem, key_pem = pve.server.ca.issue("pve-b", host_b.address)
    from pvesim.certs import fingerprint

    variables = dict(connection_vars(pve), node_cert_pem=cert_pem, node_key_pem=key_pem,
                     node_cert_fingerprint=fingerprint(cert_pem), subscription_key=SUBSCRIPTION_KEY,
                     subscription_key_invalid=SUBSCRIPTION_KEY_INVALID,
                     subscription_key_bad_format=SUBSCRIPTION_KEY_BAD_FORMAT)
    run = run_playbook(target_playbook("node", tmp_path), variables, tmp_path, verbosity=3)
    assert run.returncode == 0, [(n, r[-1].get("msg")) for n, r in run.results.items() if r[-1].get("failed")] or run.output[-3000:]

    # read the simulator's state: what the playbook says happened did happen
    assert host_b.dns == {"search": "lab.example", "dns1": "10.0.0.53", "dns2": "10.0.1.53"}
    assert host_b.timezone == "UTC"
    assert host_b.node_config["description"] == "Rack 4"
    assert "10.10.0.1 pve-a.lab.example pve-a" in host_b.hosts_text.splitlines()
    assert host_b.subscription == {}
    assert host_b.custom_cert is None
    assert pve.sim.hosts["pve-c"].online

    # secrets never reach the output, even at -vvv
    output = run.output
    for secret in (pve.password, SUBSCRIPTION_KEY, SUBSCRIPTION_KEY_INVALID, SUBSCRIPTION_KEY_BAD_FORMAT):
        assert secret not in output, "secret leaked in output"
    key_body = "".join(key_pem.strip().splitlines()[1:-1])
    assert key_body[:40] not in output.replace("\\n", "")


def test_no_change_run_makes_at_most_auth_and_two_requests(cluster, tmp_path):
    pve = cluster
    playbook = tmp_path / "nochange.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/proxops.proxmox.proxmox:
      api_host: "{{ pve_nodes['pve-a'] }}"
      api_port: "{{ pve_api_port }}"
      api_password: "{{ pve_root_password }}"
      ca_path: "{{ pve_ca_path }}"
  tasks:
    - name: node
      proxops.proxmox.node:
        node: pve-a
        timezone: UTC
        power_state: online
    - name: cluster
      proxops.proxmox.cluster:
        cluster_name: lab
    - name: join info
      proxops.proxmox.cluster_join_info:
""")
    run_playbook(str(playbook), connection_vars(pve), tmp_path)  # settle anything that differs
    for task in ("node", "cluster", "join info"):
        pve.sim.stats.reset()
        run = run_playbook(str(playbook), connection_vars(pve), tmp_path, tags=None)
        assert run.returncode == 0, run.output[-2000:]
        assert run.stats()["changed"] == 0
    snapshot = pve.sim.stats.snapshot()["by_route"]
    assert snapshot.pop("POST /access/ticket") == 3
    assert sum(snapshot.values()) <= 3 * 2, snapshot
    assert snapshot == {"GET /nodes/{node}/time": 1, "GET /cluster/status": 2, "GET /cluster/config/nodes": 1,
                        "GET /cluster/config/join": 1}
