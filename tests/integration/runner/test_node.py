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


def _renewed(ca, cert_pem, key_pem):
    """Another certificate (new serial and dates) for the key of ``cert_pem``, signed by ``ca``."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=90)))
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_node_target(cluster, tmp_path):
    pve = cluster
    host_b = pve.sim.hosts["pve-b"]
    cert_pem, key_pem = pve.server.ca.issue("pve-b", host_b.address)
    renewed_pem = _renewed(pve.server.ca, cert_pem, key_pem)
    other_pem, _other_key = pve.server.ca.issue("pve-b", host_b.address)
    from pvesim.certs import fingerprint

    variables = dict(connection_vars(pve), node_cert_pem=cert_pem, node_key_pem=key_pem,
                     node_cert_fingerprint=fingerprint(cert_pem), node_cert_renewed_pem=renewed_pem,
                     node_cert_renewed_fingerprint=fingerprint(renewed_pem), node_cert_other_pem=other_pem,
                     subscription_key=SUBSCRIPTION_KEY,
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


def _node_playbook(tmp_path, name, tasks, user=None):
    """A playbook of ``tasks`` (YAML, indented as tasks) talking to pve-a, as root or ``user`` (name, password)."""
    login = ('      api_user: "%s"\n      api_password: "%s"\n' % user) if user else \
        '      api_password: "{{ pve_root_password }}"\n'
    path = tmp_path / ("%s.yml" % name)
    path.write_text("""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/proxops.proxmox.proxmox:
      api_host: "{{ pve_nodes['pve-a'] }}"
      api_port: "{{ pve_api_port }}"
      ca_path: "{{ pve_ca_path }}"
%s  tasks:
%s""" % (login, tasks))
    return str(path)


def _subscription(pve, node="pve-b"):
    return {key: pve.sim.hosts[node].subscription.get(key) for key in ("key", "status")}


def test_subscription_key_without_sys_audit_fails_instead_of_setting_it_every_run(cluster, tmp_path):
    """PVE shows the key only with Sys.Audit on the node: without it the module cannot compare, and says so."""
    pve = cluster
    pve.client("pve-a").nodes("pve-b").subscription.put(key=SUBSCRIPTION_KEY)
    fs = pve.sim.hosts["pve-a"].fs
    fs.users["subadmin@pve"] = {"enable": 1, "expire": 0, "password": "sub-pw", "tokens": {}}
    fs.roles["SubscriptionAdmin"] = {"Sys.Modify"}
    fs.acl.append({"path": "/nodes/pve-b", "type": "user", "ugid": "subadmin@pve", "roleid": "SubscriptionAdmin",
                   "propagate": 1})
    tasks = """
    - name: key
      proxops.proxmox.node:
        node: pve-b
        subscription:
          key: "%s"
      register: result
      ignore_errors: true
    - name: absent
      proxops.proxmox.node:
        node: pve-b
        subscription:
          state: absent
    - name: key where there is none
      proxops.proxmox.node:
        node: pve-b
        subscription:
          key: "%s"
      register: result
      ignore_errors: true
""" % (SUBSCRIPTION_KEY, SUBSCRIPTION_KEY)
    try:
        pve.sim.stats.reset()
        run = run_playbook(_node_playbook(tmp_path, "audit", tasks, user=("subadmin@pve", "sub-pw")),
                           connection_vars(pve), tmp_path)
        key = run.task("key")
        assert key["failed"] and not key["changed"], key
        assert "Sys.Audit on /nodes/pve-b" in key["msg"] and "subadmin@pve" in key["msg"]
        assert pve.sim.stats.count(method="PUT", template="/nodes/{node}/subscription") == 0
        # removing needs no Sys.Audit: the status shows there is a key
        assert run.task("absent")["changed"] is True
        assert pve.sim.hosts["pve-b"].subscription == {}
        # no key yet: the same (else the first run would set it and every later one fail)
        assert run.task("key where there is none")["failed"] and "Sys.Audit" in run.task("key where there is none")["msg"]
        assert pve.sim.stats.count(method="PUT", template="/nodes/{node}/subscription") == 0
    finally:
        fs.acl[:] = [entry for entry in fs.acl if entry["ugid"] != "subadmin@pve"]
        fs.users.pop("subadmin@pve", None)


def test_subscription_check_that_cannot_reach_the_shop(cluster, tmp_path):
    """PVE writes a new key (status new) before it asks the shop: a failed check must not cost the old key,
    and a rerun must not take a key that was never checked for done."""
    pve = cluster
    other_key = "pve1b-0123456789"
    pve.client("pve-a").nodes("pve-b").subscription.put(key=SUBSCRIPTION_KEY)
    tasks = """
    - name: key
      proxops.proxmox.node:
        node: pve-b
        subscription:
          key: "{{ wanted_key }}"
      register: result
      ignore_errors: true
"""
    playbook = _node_playbook(tmp_path, "shop", tasks)

    def run_with(key):
        return run_playbook(playbook, dict(connection_vars(pve), wanted_key=key), tmp_path).task("key")

    try:
        # the shop is away for the new key's check only: the old key is put back (and checked)
        pve.sim.faults.shop_unreachable(node="pve-b", count=1)
        result = run_with(other_key)
        assert result["failed"] and result["changed"], result
        assert "shop" in result["msg"] and "previous key was put back" in result["msg"]
        assert _subscription(pve) == {"key": SUBSCRIPTION_KEY, "status": "active"}

        # the shop stays away: the old key is written back but stays unchecked ("new")
        pve.sim.faults.shop_unreachable(node="pve-b")
        result = run_with(other_key)
        assert result["failed"] and result["changed"], result
        assert "written back" in result["msg"] and "new" in result["msg"]
        assert _subscription(pve) == {"key": SUBSCRIPTION_KEY, "status": "new"}
        pve.sim.faults.clear()

        # same key, status new: not done; PVE is asked to check it again
        result = run_with(SUBSCRIPTION_KEY)
        assert not result.get("failed") and result["changed"], result
        assert result["node"]["subscription"]["status"] == "active"
        assert _subscription(pve) == {"key": SUBSCRIPTION_KEY, "status": "active"}
        assert run_with(SUBSCRIPTION_KEY)["changed"] is False
    finally:
        pve.sim.faults.clear()
        pve.client("pve-a").nodes("pve-b").subscription.delete()


def test_writes_that_must_not_repeat_are_sent_once(cluster, tmp_path):
    """A PUT with a digest, and a subscription PUT (which asks the shop), are not retried after a proxy error."""
    pve = cluster
    tasks = """
    - name: notes
      proxops.proxmox.node:
        node: pve-b
        description: "{{ 'Rack 9, ' ~ 1000000 | random }}"
      register: notes
      ignore_errors: true
    - name: key
      proxops.proxmox.node:
        node: pve-b
        subscription:
          key: "%s"
      register: key
      ignore_errors: true
""" % SUBSCRIPTION_KEY
    try:
        pve.sim.faults.fail_next("/nodes/*/config", method="PUT", status=502, message="Bad Gateway")
        pve.sim.faults.fail_next("/nodes/*/subscription", method="PUT", status=502, message="Bad Gateway")
        pve.sim.stats.reset()
        run = run_playbook(_node_playbook(tmp_path, "once", tasks), connection_vars(pve), tmp_path)
        for name in ("notes", "key"):
            assert run.task(name)["failed"] and run.task(name).get("status") == 502, run.task(name)
        assert pve.sim.stats.count(method="PUT", template="/nodes/{node}/config") == 1
        assert pve.sim.stats.count(method="PUT", template="/nodes/{node}/subscription") == 1
        assert pve.sim.hosts["pve-b"].subscription == {}
    finally:
        pve.sim.faults.clear()


def test_online_waits_until_the_node_api_answers(cluster, tmp_path):
    """The cluster sees a woken node before its API answers: power_state=online waits for both."""
    pve = cluster
    tasks = """
    - name: wol
      proxops.proxmox.node:
        node: pve-c
        wakeonlan: "AA:BB:CC:00:11:33"
    - name: shut down
      proxops.proxmox.node:
        node: pve-c
        power_state: shutdown
"""
    run = run_playbook(_node_playbook(tmp_path, "off", tasks), connection_vars(pve), tmp_path)
    assert run.returncode == 0, run.output[-2000:]
    assert not pve.sim.hosts["pve-c"].online
    tasks = """
    - name: wake
      proxops.proxmox.node:
        node: pve-c
        power_state: online
"""
    try:
        # its API is not up yet for the first two requests after the wake
        pve.sim.faults.fail_next("/nodes/pve-c/status", method="GET", count=2, status=595, message="No route to host")
        run = run_playbook(_node_playbook(tmp_path, "on", tasks), connection_vars(pve), tmp_path)
        assert run.returncode == 0, run.output[-2000:]
        assert run.task("wake")["changed"] and run.task("wake")["node"]["online"]
        assert pve.sim.faults.describe()["rules"] == []  # the module asked until the node's API answered
    finally:
        pve.sim.faults.clear()
