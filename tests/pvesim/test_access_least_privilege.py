"""Least privilege set up through the API, over HTTPS with proxmoxer: a role, a user and a
privilege-separated token made through /access, an ACL that grants the token one thing, then
the ACL removed and the token deleted.

PVE functions followed (pve-access-control 9.1): API2/Role.pm create_role, API2/User.pm
create_user / generate_token / remove_token / delete_user, API2/ACL.pm update_acl,
AccessControl.pm roles / verify_token, RPCEnvironment.pm permissions / compile_acl_path (a
privsep token holds its own ACLs' privileges intersected with its user's) / check (the 403
"Permission check failed (/path, Priv.Name)").
"""

import pytest
import requests
from proxmoxer.core import ResourceException

from conftest import core_scenario
from pvesim.testing import running


@pytest.fixture(scope="module")
def pve():
    with running(core_scenario()) as handle:
        yield handle


def url(pve, path):
    return pve.urls["pve-a"] + "/api2/json" + path


def refusal(func, *args, **kwargs):
    with pytest.raises(ResourceException) as info:
        func(*args, **kwargs)
    return info.value.status_code, info.value.content  # proxmoxer: content is the reason phrase


def token_get(pve, tokenid, secret, path):
    """A raw GET with ``Authorization: PVEAPIToken=user@realm!name=secret``."""
    return requests.get(url(pve, path), verify=pve.ca_path,
                        headers={"Authorization": "PVEAPIToken=%s=%s" % (tokenid, secret)})


def test_a_privsep_token_made_through_the_api_holds_what_its_acl_grants(pve):
    root = pve.client("pve-a")
    # Role.pm create_role; its privileges are checked against PVE's privilege names
    root.access.roles.post(roleid="CIStatus", privs="VM.Audit,Sys.Audit")
    assert root.access.roles("CIStatus").get() == {"Sys.Audit": 1, "VM.Audit": 1}
    # User.pm create_user with a password: a @pve user who can log in
    root.access.users.post(userid="ci@pve", password="ci-password", comment="CI")
    assert pve.client("pve-a", user="ci@pve", password="ci-password").version.get()["release"] == "9.1"
    # generate_token: the secret comes once, privsep defaults to 1
    made = root.access.users("ci@pve").token("deploy").post(comment="pipeline")
    assert made["full-tokenid"] == "ci@pve!deploy"
    assert made["info"] == {"privsep": 1, "comment": "pipeline"}
    secret = made["value"]
    assert root.access.users("ci@pve").token("deploy").get() == {"privsep": 1, "expire": 0, "comment": "pipeline"}

    token = pve.client("pve-a", token=("ci@pve!deploy", secret))
    # no ACL yet: the token authenticates but holds nothing
    assert refusal(token.nodes("pve-a").qemu(100).status.current.get) == (
        403, "Permission check failed (/vms/100, VM.Audit)")

    # update_acl: the role on /vms/100 for the user and for the token
    root.access.acl.put(path="/vms/100", roles="CIStatus", users="ci@pve", tokens="ci@pve!deploy")
    assert token.nodes("pve-a").qemu(100).status.current.get()["vmid"] == 100  # takes effect at once
    # what the role lacks is a 403 naming the path and the privilege
    assert refusal(token.nodes("pve-a").qemu(100).snapshot.post, snapname="nope") == (
        403, "Permission check failed (/vms/100, VM.Snapshot)")
    # and other guests are not covered
    assert refusal(token.nodes("pve-a").qemu(101).status.current.get) == (
        403, "Permission check failed (/vms/101, VM.Audit)")

    # privsep: more on the token's own ACL does not go beyond what the user holds
    root.access.acl.put(path="/vms/100", roles="PVEVMAdmin", tokens="ci@pve!deploy")
    assert refusal(token.nodes("pve-a").qemu(100).snapshot.post, snapname="nope") == (
        403, "Permission check failed (/vms/100, VM.Snapshot)")
    perms = token.access.permissions.get(path="/vms/100")["/vms/100"]
    assert perms == {"Sys.Audit": 1, "VM.Audit": 1}  # the intersection, with propagate flags
    root.access.acl.put(path="/vms/100", roles="PVEVMAdmin", tokens="ci@pve!deploy", delete=1)

    # removing the token's ACL entry takes effect at once
    root.access.acl.put(path="/vms/100", roles="CIStatus", tokens="ci@pve!deploy", delete=1)
    assert refusal(token.nodes("pve-a").qemu(100).status.current.get) == (
        403, "Permission check failed (/vms/100, VM.Audit)")
    # the user still has it
    user = pve.client("pve-a", user="ci@pve", password="ci-password")
    assert user.nodes("pve-a").qemu(100).status.current.get()["vmid"] == 100

    # remove_token: the token's requests are 401 from then on
    assert token_get(pve, "ci@pve!deploy", secret, "/version").status_code == 200
    root.access.users("ci@pve").token("deploy").delete()
    assert token_get(pve, "ci@pve!deploy", secret, "/version").status_code == 401
    assert refusal(root.access.users("ci@pve").token("deploy").get) == (
        500, "no such token 'deploy' for user 'ci@pve'")


def test_a_token_without_privsep_holds_its_users_privileges(pve):
    root = pve.client("pve-a")
    root.access.users.post(userid="ops@pve", password="ops-password")
    root.access.acl.put(path="/vms", roles="PVEVMUser", users="ops@pve")
    secret = root.access.users("ops@pve").token("full").post(privsep=0)["value"]
    token = pve.client("pve-a", token=("ops@pve!full", secret))
    assert token.nodes("pve-a").qemu(101).status.current.get()["vmid"] == 101  # /vms propagates
    root.access.acl.put(path="/vms", roles="PVEVMUser", users="ops@pve", delete=1)
    assert refusal(token.nodes("pve-a").qemu(101).status.current.get) == (
        403, "Permission check failed (/vms/101, VM.Audit)")
    # delete_user: the user's ticket and tokens stop working
    ticket = pve.client("pve-a", user="ops@pve", password="ops-password")
    root.access.users("ops@pve").delete()
    assert token_get(pve, "ops@pve!full", secret, "/version").status_code == 401
    with pytest.raises(ResourceException) as info:
        ticket.version.get()
    assert info.value.status_code == 401
    assert refusal(root.access.users("ops@pve").get) == (500, "no such user ('ops@pve')")


def test_a_user_manages_their_own_tokens_but_a_token_does_not(pve):
    root = pve.client("pve-a")
    root.access.users.post(userid="dev@pve", password="dev-password")
    dev = pve.client("pve-a", user="dev@pve", password="dev-password")
    # ['userid-param', 'self']: a ticket of the user itself
    secret = dev.access.users("dev@pve").token("mine").post(expire=0)["value"]
    assert [t["tokenid"] for t in dev.access.users("dev@pve").token.get()] == ["mine"]
    # a token's user name is its token ID, so "self" does not match it
    token = pve.client("pve-a", token=("dev@pve!mine", secret))
    assert refusal(token.access.users("dev@pve").token("other").post) == (403, "Permission check failed")
    # nor may dev touch someone else's tokens
    assert refusal(dev.access.users("alice@pve").token.get) == (403, "Permission check failed")
    dev.access.users("dev@pve").token("mine").delete()
    assert dev.access.users("dev@pve").token.get() == []


def test_passwords_set_through_the_api_log_in(pve):
    root = pve.client("pve-a")
    root.access.users.post(userid="pw@pve", password="first-password")
    user = pve.client("pve-a", user="pw@pve", password="first-password")
    # change_password: the user's own, confirmed with the current one
    user.access.password.put(userid="pw@pve", password="second-password", **{"confirmation-password": "first-password"})
    answer = requests.post(url(pve, "/access/ticket"), data={"username": "pw@pve", "password": "first-password"},
                           verify=pve.ca_path)
    assert answer.status_code == 401
    assert pve.client("pve-a", user="pw@pve", password="second-password").version.get()
    # root sets it without confirmation
    root.access.password.put(userid="pw@pve", password="third-password")
    assert pve.client("pve-a", user="pw@pve", password="third-password").version.get()
    # disabling the user through the API ends its logins
    root.access.users("pw@pve").put(enable=0)
    answer = requests.post(url(pve, "/access/ticket"), data={"username": "pw@pve", "password": "third-password"},
                           verify=pve.ca_path)
    assert answer.status_code == 401
