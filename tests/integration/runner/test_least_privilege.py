"""Every module with a privilege-separated API token holding exactly the privileges its docs list, and one less.

The roles, the token and the ACLs are made through pvesim's /access API, as an admin would with pveum.
With the documented privileges the task succeeds; without any one of them it fails, and the message
names what is missing (PVE's "Permission check failed (path, privilege)", or a guest the token may not see).
"""

import pytest
import yaml
from conftest import STANDALONE_3, connection_vars, run_playbook

from pvesim.testing import running

# name, module, options, {ACL path: documented privileges}, what the failure says without one of them
CASES = [
    ("storage", "storage", {"name": "lp-dir", "type": "dir", "path": "/srv/lp"},
     {"/storage": ["Datastore.Allocate"]}, ["Permission check failed (/storage"]),
    ("node time zone", "node", {"node": "pve-a", "timezone": "Europe/Vienna"},
     {"/nodes/pve-a": ["Sys.Audit", "Sys.Modify"]}, ["Permission check failed (/nodes/pve-a"]),
    ("snapshot", "snapshot", {"vmid": 100, "snapname": "lp-snap"},
     {"/vms/100": ["VM.Audit", "VM.Snapshot"]}, ["Permission check failed (/vms/100, VM.Snapshot)", "vmid: no guest 100"]),
    ("snapshot_info", "snapshot_info", {"vmid": 100}, {"/vms/100": ["VM.Audit"]}, ["vmid: no guest 100"]),
    ("cluster_join_info", "cluster_join_info", {}, {"/": ["Sys.Audit"]}, ["Permission check failed (/, Sys.Audit)"]),
]


# What the runs with a privilege less ask for, where the first run's own options would leave nothing to change.
AGAIN = {"snapshot": {"snapname": "lp-other"}, "node": {"timezone": "UTC"}}


@pytest.fixture(scope="module")
def pve(tmp_path_factory):
    with running(STANDALONE_3) as handle:
        tmp_path = tmp_path_factory.mktemp("cluster")
        path = tmp_path / "create.yml"
        path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [{"proxops.proxmox.cluster": {
            "api_host": "{{ pve_nodes['pve-a'] }}", "api_port": "{{ pve_api_port }}", "api_password": "{{ pve_root_password }}",
            "ca_path": "{{ pve_ca_path }}", "cluster_name": "lab"}}]}]))
        assert run_playbook(str(path), connection_vars(handle), tmp_path).returncode == 0
        yield handle


def token_with(pve, name, acl):
    """A privsep token of root@pam whose own ACL gives exactly ``acl`` ({path: [privileges]}); its secret."""
    api = pve.client()
    secret = api.access.users("root@pam").token(name).post(privsep=1)["value"]
    for number, (path, privileges) in enumerate(sorted(acl.items())):
        if privileges:
            role = "Lp%s%d" % (name.replace("-", ""), number)
            api.access.roles.post(roleid=role, privs=",".join(privileges))
            api.access.acl.put(path=path, roles=role, tokens="root@pam!%s" % name, propagate=1)
    return secret


def run_with_token(pve, tmp_path, label, module, options, secret, name):
    task = {"name": label, "proxops.proxmox." + module: dict(
        options, api_host="{{ pve_nodes['pve-a'] }}", api_port="{{ pve_api_port }}", ca_path="{{ pve_ca_path }}",
        api_user="root@pam", api_token_id=name, api_token_secret=secret), "ignore_errors": True}
    path = tmp_path / ("%s.yml" % name)
    path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}], sort_keys=False))
    return run_playbook(str(path), connection_vars(pve), tmp_path).task(label)


@pytest.mark.parametrize("label, module, options, acl, refusals", CASES, ids=[case[0] for case in CASES])
def test_documented_privileges_suffice_and_each_is_needed(pve, tmp_path, label, module, options, acl, refusals):
    slug = label.replace(" ", "-").replace("_", "-")
    result = run_with_token(pve, tmp_path, label, module, options, token_with(pve, "ok-" + slug, acl), "ok-" + slug)
    assert not result.get("failed"), result.get("msg")
    for path, privileges in acl.items():
        for missing in privileges:
            fewer = dict(acl, **{path: [privilege for privilege in privileges if privilege != missing]})
            name = "no-%s-%s" % (slug, missing.replace(".", "-").lower())
            result = run_with_token(pve, tmp_path, label, module, dict(options, **AGAIN.get(module, {})),
                                    token_with(pve, name, fewer), name)
            assert result.get("failed") and result["changed"] is False, (missing, result)
            assert any(text in result["msg"] for text in refusals), (missing, result["msg"])
