"""No secret in any output: every module and the inventory plugin at -vvvv, with diff, in check mode and for real, with failures.

The secrets: the root password (api_password, join.password), an API token secret, a TOTP code, a
subscription key, storage passwords and a Ceph keyring, and a certificate's private key. Each must
not appear in stdout, stderr or the JSON results (which the callback prints), whatever the task did.
"""

import json

from conftest import STANDALONE_3, connection_vars, run_playbook

from pvesim import scenario
from pvesim.access import totp_code
from pvesim.testing import running

TOKEN_SECRET = "tok-Secret-4711-abcd"
TOTP_SECRET = "JBSWY3DPEHPK3PXP"
SUBSCRIPTION_KEY = "pve2c-0123456789"
STORAGE_PASSWORD = "st0rage-Pass-word-99"
KEYRING = "AQBkeyringSecretMaterial0000000000000000=="
WRONG_JOIN_PASSWORD = "wrong-Join-Secret-7"


def scenario_with_users():
    with open(scenario.find(STANDALONE_3), encoding="utf-8") as handle:
        data = json.load(handle)
    data.update(
        users=[{"userid": "ops@pve", "password": "ops-Login-Secret-1", "totp": TOTP_SECRET}],
        tokens=[{"tokenid": "root@pam!ci", "secret": TOKEN_SECRET, "privsep": 0}],
        acl=[{"path": "/", "roleid": "Administrator", "users": "ops@pve", "propagate": 1}],
    )
    return data


TASKS = """
    - name: cifs storage with its password, by API token
      proxops.proxmox.storage:
        api_password: "{{ omit }}"
        api_token_id: root@pam!ci
        api_token_secret: "%(token)s"
        name: sec-cifs
        type: cifs
        server: 10.0.0.9
        share: pve
        username: svc
        password: "%(storage)s"
        update_secrets: always
    - name: pbs storage with its password
      proxops.proxmox.storage:
        name: sec-pbs
        type: pbs
        server: 10.0.0.8
        datastore: d
        username: b@pbs
        password: "%(storage)s"
        update_secrets: always
    - name: rbd storage with its keyring
      proxops.proxmox.storage:
        name: sec-rbd
        type: rbd
        monhost: 10.0.0.7
        pool: rbd
        username: admin
        keyring: "%(keyring)s"
        update_secrets: always
    - name: storage refused with its password (vgname is not nfs's)
      proxops.proxmox.storage:
        name: sec-bad
        type: pbs
        server: 10.0.0.8
        datastore: d
        vgname: x
        password: "%(storage)s"
      ignore_errors: true
    - name: subscription key, by a user with TOTP
      proxops.proxmox.node:
        api_user: ops@pve
        api_password: ops-Login-Secret-1
        api_otp: "%(otp)s"
        node: pve-b
        subscription:
          key: "%(subscription)s"
    - name: certificate with its private key
      proxops.proxmox.node:
        node: pve-b
        certificate:
          certificates: "{{ cert_pem }}"
          key: "{{ key_pem }}"
          restart: false
    - name: a certificate whose key is not a key
      proxops.proxmox.node:
        node: pve-b
        certificate:
          certificates: "{{ cert_pem }}"
          key: "{{ key_pem | replace('PRIVATE KEY', 'SECRET THING') }}"
      ignore_errors: true
    - name: a join with a wrong password
      proxops.proxmox.cluster:
        api_host: "{{ pve_nodes['pve-c'] }}"
        join:
          master_host: "{{ pve_nodes['pve-a'] }}"
          password: "%(wrong)s"
      ignore_errors: true
    - name: snapshots by API token
      proxops.proxmox.snapshot:
        api_password: "{{ omit }}"
        api_token_id: root@pam!ci
        api_token_secret: "%(token)s"
        all: true
        prefix: sec-
        create: true
        keep_last: 1
    - name: the snapshot overview
      proxops.proxmox.snapshot_info:
        prefix: sec-
    - name: cluster join information
      proxops.proxmox.cluster_join_info:
        api_host: "{{ pve_nodes['pve-a'] }}"
"""


def playbook(tmp_path, otp, label):
    text = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/proxops.proxmox.proxmox:
      api_host: "{{ pve_nodes['pve-a'] }}"
      api_port: "{{ pve_api_port }}"
      api_password: "{{ pve_root_password }}"
      ca_path: "{{ pve_ca_path }}"
  tasks:
""" + TASKS % {"token": TOKEN_SECRET, "storage": STORAGE_PASSWORD, "keyring": KEYRING, "subscription": SUBSCRIPTION_KEY,
               "otp": otp, "wrong": WRONG_JOIN_PASSWORD}
    path = tmp_path / ("secrets-%s.yml" % label)
    path.write_text(text)
    return str(path)


def assert_clean(run, secrets):
    text = run.stdout + run.stderr
    for name, secret in secrets.items():
        assert secret not in text, "%s shows in the output" % name


BUILD = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/proxops.proxmox.proxmox:
      api_port: "{{ pve_api_port }}"
      api_password: "{{ pve_root_password }}"
      ca_path: "{{ pve_ca_path }}"
  tasks:
    - proxops.proxmox.cluster:
        api_host: "{{ pve_nodes['pve-a'] }}"
        cluster_name: lab
    - proxops.proxmox.cluster:
        api_host: "{{ pve_nodes['pve-b'] }}"
        join:
          master_host: "{{ pve_nodes['pve-a'] }}"
          password: "{{ pve_root_password }}"
"""


def test_no_secret_in_any_output(tmp_path):
    with running(scenario_with_users()) as pve:
        # pve-a and pve-b form the cluster; pve-c stays standalone, for a join that fails
        (tmp_path / "build.yml").write_text(BUILD)
        build = run_playbook(str(tmp_path / "build.yml"), connection_vars(pve), tmp_path)
        assert build.returncode == 0, build.output[-2000:]
        host_b = pve.sim.hosts["pve-b"]
        cert_pem, key_pem = pve.server.ca.issue("pve-b", host_b.address)
        variables = dict(connection_vars(pve), cert_pem=cert_pem, key_pem=key_pem)
        key_body = "".join(key_pem.strip().splitlines()[1:-1])
        secrets = {"root password": pve.password, "token secret": TOKEN_SECRET, "subscription key": SUBSCRIPTION_KEY,
                   "storage password": STORAGE_PASSWORD, "keyring": KEYRING, "join password": WRONG_JOIN_PASSWORD,
                   "private key": key_body[:48], "ops password": "ops-Login-Secret-1"}
        for check in (True, False):
            otp = totp_code(TOTP_SECRET)
            run = run_playbook(playbook(tmp_path, otp, "check" if check else "real"), variables, tmp_path, check=check, diff=True, verbosity=4)
            results = {name: result[-1] for name, result in run.results.items()}
            assert results["subscription key, by a user with TOTP"].get("failed") is not True, results
            assert results["a join with a wrong password"]["failed"] and results["storage refused with its password (vgname is not nfs's)"]["failed"]
            assert results["a certificate whose key is not a key"]["failed"]
            assert_clean(run, dict(secrets, otp=otp))
            assert otp not in json.dumps(results)
        # the real run did its work: the storages exist, the key is set
        storages = {item["storage"] for item in pve.client().storage.get()}
        assert {"sec-cifs", "sec-pbs", "sec-rbd"} <= storages
        assert host_b.subscription.get("key") == SUBSCRIPTION_KEY
