"""The /access methods in-process: answers, permission checks and PVE's error wording.

PVE functions followed (pve-access-control 9.1): API2/User.pm (index, create_user,
read_user, update_user, delete_user, token_index, read_token, generate_token,
update_token_info, remove_token), API2/Group.pm, API2/Role.pm, API2/ACL.pm (read_acl,
update_acl), API2/AccessControl.pm (change_password, permissions), AccessControl.pm
(create_roles, role_is_special, add_role_privs, normalize_path, check_path, roles,
lock_user_config's "<what> failed: " prefix), RPCEnvironment.pm (exec_api2_perm_check,
check_perm_modify, permissions, get_effective_permissions).
"""

import pytest

from conftest import core_scenario
from helpers import api, refused
from pvesim.access import BUILTIN_ROLES
from pvesim.errors import ApiError
from pvesim.routing import Identity
from pvesim.testing import call, make_sim

ALICE, BOB = Identity("alice@pve"), Identity("bob@pve")


@pytest.fixture
def sim():
    return make_sim(core_scenario())


def as_(sim, identity, method, path, /, **params):
    return call(sim, "pve-a", method, path, identity=identity, **params)


def refused_as(sim, identity, method, path, /, **params):
    with pytest.raises(ApiError) as info:
        as_(sim, identity, method, path, **params)
    return info.value


def test_users_list_read_update(sim):
    api(sim, "pve-a", "POST", "/access/users", userid="eve@pve", email="eve@example.com", groups="ops",
        expire=4102444800, firstname="Eve")
    users = {u["userid"]: u for u in api(sim, "pve-a", "GET", "/access/users")}
    assert users["eve@pve"] == {"userid": "eve@pve", "enable": 1, "expire": 4102444800, "email": "eve@example.com",
                                "firstname": "Eve", "realm-type": "pve"}
    assert users["root@pam"]["realm-type"] == "pam"
    full = {u["userid"]: u for u in api(sim, "pve-a", "GET", "/access/users", full=1)}
    assert full["eve@pve"]["groups"] == "ops" and full["eve@pve"]["tokens"] is None
    assert [t["tokenid"] for t in full["alice@pve"]["tokens"]] == ["full", "narrow"]
    assert "dave@pve" not in {u["userid"] for u in api(sim, "pve-a", "GET", "/access/users", enabled=1)}
    assert api(sim, "pve-a", "GET", "/access/users/eve@pve") == {
        "enable": 1, "expire": 4102444800, "email": "eve@example.com", "firstname": "Eve", "groups": ["ops"],
        "tokens": None}
    # update_user: groups replace unless append; an empty value removes the field
    api(sim, "pve-a", "POST", "/access/groups", groupid="dev")
    api(sim, "pve-a", "PUT", "/access/users/eve@pve", groups="dev", email="")
    assert api(sim, "pve-a", "GET", "/access/users/eve@pve")["groups"] == ["dev"]
    assert "email" not in api(sim, "pve-a", "GET", "/access/users/eve@pve")
    api(sim, "pve-a", "PUT", "/access/users/eve@pve", groups="ops", append=1)
    assert api(sim, "pve-a", "GET", "/access/users/eve@pve")["groups"] == ["dev", "ops"]


def test_user_errors_as_pve_words_them(sim):
    err = refused(sim, "pve-a", "POST", "/access/users", userid="alice@pve")
    assert (err.status, err.message) == (500, "create user failed: user 'alice@pve' already exists")
    err = refused(sim, "pve-a", "POST", "/access/users", userid="x@pve", groups="nope")
    assert err.message == "create user failed: no such group 'nope'"
    err = refused(sim, "pve-a", "POST", "/access/users", userid="x@ldap", password="long-enough")
    assert err.message == "create user failed: auth domain 'ldap' does not exist"
    err = refused(sim, "pve-a", "PUT", "/access/users/nobody@pve", comment="x")
    assert err.message == "update user failed: no such user ('nobody@pve')"
    assert refused(sim, "pve-a", "GET", "/access/users/nobody@pve").message == "no such user ('nobody@pve')"
    err = refused(sim, "pve-a", "POST", "/access/users", userid="short@pve", password="short")
    assert err.status == 400 and set(err.errors) == {"password"}


def test_user_permissions(sim):
    # create_user: Realm.AllocateUser on /access/realm/<realm>, User.Modify on the groups
    err = refused_as(sim, ALICE, "POST", "/access/users", userid="new@pve")
    assert (err.status, err.message) == (403, "Permission check failed (/access/realm/pve, Realm.AllocateUser)")
    api(sim, "pve-a", "PUT", "/access/acl", path="/access/realm/pve", roles="PVEUserAdmin", users="alice@pve")
    err = refused_as(sim, ALICE, "POST", "/access/users", userid="new@pve")
    assert err.message == "Permission check failed (/access/groups, User.Modify)"
    api(sim, "pve-a", "PUT", "/access/acl", path="/access/groups/ops", roles="PVEUserAdmin", users="alice@pve")
    as_(sim, ALICE, "POST", "/access/users", userid="new@pve", groups="ops")
    # the list: every user with User.Modify or Sys.Audit on /access/groups (alice has Sys.Audit
    # from PVEAuditor on /), else the members of the groups one has them on, and oneself
    assert len(as_(sim, ALICE, "GET", "/access/users")) == 6
    assert [u["userid"] for u in as_(sim, BOB, "GET", "/access/users")] == ["bob@pve"]
    api(sim, "pve-a", "PUT", "/access/acl", path="/access/groups/ops", roles="PVEUserAdmin", users="carol@pve")
    assert [u["userid"] for u in as_(sim, Identity("carol@pve"), "GET", "/access/users")] == [
        "bob@pve", "carol@pve", "new@pve"]
    # delete_user of a user outside those groups
    err = refused_as(sim, ALICE, "DELETE", "/access/users/carol@pve")
    assert (err.status, err.message) == (403, "Permission check failed")
    as_(sim, ALICE, "DELETE", "/access/users/new@pve")
    # a check of an unknown user dies in check_user_exist: a plain 500
    err = refused_as(sim, ALICE, "GET", "/access/users/nobody@pve")
    assert (err.status, err.message) == (500, "no such user ('nobody@pve')")


def test_tokens(sim):
    made = api(sim, "pve-a", "POST", "/access/users/bob@pve/token/ci", privsep=0, expire=4102444800)
    assert made["info"] == {"privsep": 0, "expire": 4102444800}
    err = refused(sim, "pve-a", "POST", "/access/users/bob@pve/token/ci")
    assert (err.status, err.errors) == (400, {"tokenid": "Token already exists."})
    assert api(sim, "pve-a", "PUT", "/access/users/bob@pve/token/ci", comment="c", privsep=1) == {
        "privsep": 1, "expire": 4102444800, "comment": "c"}
    assert api(sim, "pve-a", "PUT", "/access/users/bob@pve/token/ci", delete="comment") == {
        "privsep": 1, "expire": 4102444800}
    err = refused(sim, "pve-a", "PUT", "/access/users/bob@pve/token/ci", delete="privsep")
    assert (err.status, err.message) == (500, "updating token info failed: 400 Parameter verification failed.")
    assert api(sim, "pve-a", "GET", "/access/users/bob@pve/token") == [
        {"tokenid": "ci", "privsep": 1, "expire": 4102444800}]
    err = refused(sim, "pve-a", "DELETE", "/access/users/bob@pve/token/nope")
    assert err.message == "no such token 'nope' for user 'bob@pve'"
    # the secret authenticates; an expired token does not
    fs = sim.hosts["pve-a"].fs
    assert sim.access.token_identity(fs, "bob@pve!ci=" + made["value"]).authid == "bob@pve!ci"
    api(sim, "pve-a", "PUT", "/access/users/bob@pve/token/ci", expire=1)
    assert sim.access.token_identity(fs, "bob@pve!ci=" + made["value"]) is None


def test_roles(sim):
    names = {r["roleid"]: r for r in api(sim, "pve-a", "GET", "/access/roles")}
    assert names["PVEAuditor"]["special"] == 1 and names["Watcher"] == {
        "roleid": "Watcher", "privs": "Sys.Audit,VM.Audit", "special": 0}
    assert set(api(sim, "pve-a", "GET", "/access/roles/PVEVMUser")) == BUILTIN_ROLES["PVEVMUser"]
    err = refused(sim, "pve-a", "POST", "/access/roles", roleid="pveMine")
    assert err.errors == {"roleid": "cannot use role ID starting with the (case-insensitive) 'PVE' namespace"}
    err = refused(sim, "pve-a", "POST", "/access/roles", roleid="Mine", privs="VM.Audit,VM.Nope")
    assert (err.status, err.errors) == (400, {"privs": "invalid format - invalid privilege 'VM.Nope'\n"})
    assert refused(sim, "pve-a", "POST", "/access/roles", roleid="Administrator").message == (
        "create role failed: role 'Administrator' already exists")
    assert refused(sim, "pve-a", "PUT", "/access/roles/PVEAdmin", privs="VM.Audit").message == (
        "auto-generated role 'PVEAdmin' cannot be modified")
    assert refused(sim, "pve-a", "DELETE", "/access/roles/NoAccess").message == (
        "auto-generated role 'NoAccess' cannot be deleted")
    assert refused(sim, "pve-a", "GET", "/access/roles/Nope").message == "role 'Nope' does not exist"
    api(sim, "pve-a", "PUT", "/access/roles/Watcher", privs="Datastore.Audit", append=1)
    assert api(sim, "pve-a", "GET", "/access/roles/Watcher") == {"Datastore.Audit": 1, "Sys.Audit": 1, "VM.Audit": 1}
    api(sim, "pve-a", "PUT", "/access/roles/Watcher", privs="VM.Audit")
    assert api(sim, "pve-a", "GET", "/access/roles/Watcher") == {"VM.Audit": 1}
    # Sys.Modify on /access
    err = refused_as(sim, ALICE, "POST", "/access/roles", roleid="Mine")
    assert (err.status, err.message) == (403, "Permission check failed (/access, Sys.Modify)")
    # deleting a role: its ACL entries go with it (PVE's next read of user.cfg drops them)
    api(sim, "pve-a", "DELETE", "/access/roles/Watcher")
    assert not [e for e in api(sim, "pve-a", "GET", "/access/acl") if e["roleid"] == "Watcher"]
    assert refused(sim, "pve-a", "DELETE", "/access/roles/Watcher").message == (
        "delete role failed: role 'Watcher' does not exist")


def test_roles_follow_the_release():
    # PVE 8.4 has VM.Monitor and no VM.GuestAgent.* privileges
    scenario = dict(core_scenario(), pve_version="8.4")
    sim8 = make_sim(scenario)
    api(sim8, "pve-a", "POST", "/access/roles", roleid="Mon", privs="VM.Monitor")
    err = refused(sim8, "pve-a", "POST", "/access/roles", roleid="Agent", privs="VM.GuestAgent.Audit")
    assert err.errors == {"privs": "invalid format - invalid privilege 'VM.GuestAgent.Audit'\n"}
    assert "VM.Monitor" in api(sim8, "pve-a", "GET", "/access/roles/PVEVMAdmin")
    sim9 = make_sim(core_scenario())
    err = refused(sim9, "pve-a", "POST", "/access/roles", roleid="Mon", privs="VM.Monitor")
    assert err.errors == {"privs": "invalid format - invalid privilege 'VM.Monitor'\n"}
    assert "VM.GuestAgent.Audit" in api(sim9, "pve-a", "GET", "/access/roles/PVEAuditor")


def test_acl_update_and_read(sim):
    err = refused(sim, "pve-a", "PUT", "/access/acl", path="/vms/100", roles="PVEAuditor")
    assert err.status == 400 and err.errors == {k: "either 'users', 'groups' or 'tokens' is required."
                                                for k in ("users", "groups", "tokens")}
    err = refused(sim, "pve-a", "PUT", "/access/acl", path="/nosuch", roles="PVEAuditor", users="bob@pve")
    assert err.errors == {"path": "invalid ACL path '/nosuch'"}
    err = refused(sim, "pve-a", "PUT", "/access/acl", path="/vms/100", roles="Nope", users="bob@pve")
    assert (err.status, err.message) == (500, "ACL update failed: role 'Nope' does not exist")
    err = refused(sim, "pve-a", "PUT", "/access/acl", path="/vms/100", roles="PVEAuditor", users="zed@pve")
    assert err.message == "ACL update failed: user 'zed@pve' does not exist"
    err = refused(sim, "pve-a", "PUT", "/access/acl", path="/vms/100", roles="PVEAuditor", groups="nope")
    assert err.message == "ACL update failed: group 'nope' does not exist"
    err = refused(sim, "pve-a", "PUT", "/access/acl", path="/vms/100", roles="PVEAuditor", tokens="bob@pve!nope")
    assert err.message == "ACL update failed: no such token 'nope' for user 'bob@pve'"
    # trailing and double slashes are normalized; adding again updates propagate
    api(sim, "pve-a", "PUT", "/access/acl", path="//storage/local/", roles="PVEDatastoreUser", users="bob@pve",
        propagate=0)
    api(sim, "pve-a", "PUT", "/access/acl", path="/storage/local", roles="PVEDatastoreUser", users="bob@pve")
    acl = api(sim, "pve-a", "GET", "/access/acl")
    assert [e for e in acl if e["path"] == "/storage/local"] == [
        {"path": "/storage/local", "type": "user", "ugid": "bob@pve", "roleid": "PVEDatastoreUser", "propagate": 1}]
    assert [e["path"] for e in acl] == sorted((e["path"] for e in acl), key=lambda p: p.split("/"))
    # read_acl shows only paths where the caller may modify permissions (or all with Sys.Audit on /access)
    assert as_(sim, BOB, "GET", "/access/acl") == []
    assert len(as_(sim, ALICE, "GET", "/access/acl")) == len(acl)  # PVEAuditor on / gives Sys.Audit


def test_acl_without_permissions_modify(sim):
    # alice holds PVEVMAdmin (VM.Allocate) on /vms/100: check_perm_modify lets her manage its ACL,
    # but only with roles whose privileges she holds there
    as_(sim, ALICE, "PUT", "/access/acl", path="/vms/100", roles="PVEVMUser", users="bob@pve")
    err = refused_as(sim, ALICE, "PUT", "/access/acl", path="/vms/100", roles="Administrator", users="bob@pve")
    assert (err.status, err.message) == (500, "ACL update failed: 400 Parameter verification failed.")
    assert "Cannot add role 'Administrator'" in err.detail
    err = refused_as(sim, ALICE, "PUT", "/access/acl", path="/vms/100", roles="NoAccess", users="bob@pve")
    assert err.detail == "role: Cannot add role 'NoAccess' - requires 'Permissions.Modify'"
    err = refused_as(sim, ALICE, "PUT", "/access/acl", path="/vms/101", roles="PVEVMUser", users="bob@pve")
    assert (err.status, err.message) == (403, "Permission check failed (/vms/101, Permissions.Modify|VM.Allocate)")
    err = refused_as(sim, BOB, "PUT", "/access/acl", path="/", roles="PVEAuditor", users="bob@pve")
    assert err.message == "Permission check failed (/, Permissions.Modify)"


def test_acl_propagation_and_noaccess(sim):
    api(sim, "pve-a", "POST", "/access/users", userid="pat@pve")
    api(sim, "pve-a", "PUT", "/access/acl", path="/vms", roles="PVEVMUser", users="pat@pve")
    pat = Identity("pat@pve")
    assert as_(sim, pat, "GET", "/access/permissions", path="/vms/100")["/vms/100"]["VM.PowerMgmt"] == 1
    # a user entry at a deeper level replaces what was inherited; NoAccess wins
    api(sim, "pve-a", "PUT", "/access/acl", path="/vms/100", roles="NoAccess", users="pat@pve")
    assert as_(sim, pat, "GET", "/access/permissions", path="/vms/100") == {"/vms/100": {}}
    # without propagation the entry counts on its own path only, with propagate flag 0
    api(sim, "pve-a", "PUT", "/access/acl", path="/nodes", roles="PVEAuditor", users="pat@pve", propagate=0)
    perms = as_(sim, pat, "GET", "/access/permissions")
    assert perms["/nodes"]["Sys.Audit"] == 0 and "/nodes/pve-a" not in perms
    assert as_(sim, pat, "GET", "/access/permissions", path="/nodes/pve-a") == {"/nodes/pve-a": {}}
    # group entries count for the group's members; a user entry at the same level wins
    api(sim, "pve-a", "PUT", "/access/users/pat@pve", groups="ops")
    api(sim, "pve-a", "PUT", "/access/acl", path="/storage", roles="PVEDatastoreAdmin", groups="ops")
    assert "Datastore.Allocate" in as_(sim, pat, "GET", "/access/permissions", path="/storage")["/storage"]
    api(sim, "pve-a", "PUT", "/access/acl", path="/storage", roles="PVEAuditor", users="pat@pve")
    assert "Datastore.Allocate" not in as_(sim, pat, "GET", "/access/permissions", path="/storage")["/storage"]


def test_groups(sim):
    api(sim, "pve-a", "POST", "/access/groups", groupid="qa", comment="testers")
    api(sim, "pve-a", "PUT", "/access/users/carol@pve", groups="qa")
    assert {g["groupid"]: g for g in api(sim, "pve-a", "GET", "/access/groups")}["qa"] == {
        "groupid": "qa", "comment": "testers", "users": "carol@pve"}
    assert api(sim, "pve-a", "GET", "/access/groups/qa") == {"comment": "testers", "members": ["carol@pve"]}
    api(sim, "pve-a", "PUT", "/access/groups/qa", comment="")
    assert api(sim, "pve-a", "GET", "/access/groups/qa") == {"members": ["carol@pve"]}
    assert refused(sim, "pve-a", "POST", "/access/groups", groupid="qa").message == (
        "create group failed: group 'qa' already exists")
    assert refused(sim, "pve-a", "GET", "/access/groups/nope").message == "group 'nope' does not exist"
    assert refused(sim, "pve-a", "PUT", "/access/groups/nope").message == (
        "update group failed: group 'nope' does not exist")
    # Group.Allocate on /access/groups
    err = refused_as(sim, BOB, "POST", "/access/groups", groupid="mine")
    assert err.message == "Permission check failed (/access/groups, Group.Allocate)"
    assert as_(sim, BOB, "GET", "/access/groups") == []
    # deleting a group removes its members' membership and its ACL entries
    api(sim, "pve-a", "PUT", "/access/acl", path="/vms/101", roles="PVEVMUser", groups="qa")
    api(sim, "pve-a", "DELETE", "/access/groups/qa")
    assert api(sim, "pve-a", "GET", "/access/users/carol@pve")["groups"] == []
    assert not [e for e in api(sim, "pve-a", "GET", "/access/acl") if e["ugid"] == "qa"]
    assert refused(sim, "pve-a", "DELETE", "/access/groups/qa").message == (
        "delete group failed: group 'qa' does not exist")


def test_password_changes(sim):
    # reauth_user_for_user_modification: a caller other than root@pam confirms with its password
    err = refused_as(sim, BOB, "PUT", "/access/password", userid="bob@pve", password="new-password")
    assert err.errors == {"confirmation-password": "password is required to modify user"}
    err = refused_as(sim, BOB, "PUT", "/access/password", userid="bob@pve", password="new-password",
                     **{"confirmation-password": "wrongpw"})
    assert (err.status, err.message) == (500, "invalid credentials")
    as_(sim, BOB, "PUT", "/access/password", userid="bob@pve", password="new-password",
        **{"confirmation-password": "bobpw"})
    fs = sim.hosts["pve-a"].fs
    assert sim.access.login(fs, "bob@pve", "new-password") == "bob@pve"
    # someone else's: 'or' of self and (Realm.AllocateUser and User.Modify); the 'and' raises
    err = refused_as(sim, BOB, "PUT", "/access/password", userid="alice@pve", password="new-password",
                     **{"confirmation-password": "new-password"})
    assert err.message == "Permission check failed (/access/realm/pve, Realm.AllocateUser)"
    err = refused_as(sim, BOB, "PUT", "/access/password", userid="root@pam", password="new-password",
                     **{"confirmation-password": "new-password"})
    assert err.message == "Permission check failed (/access/realm/pam, Realm.AllocateUser)"
    # past the check: only root@pam changes root@pam's password, and no one else a pam user's
    api(sim, "pve-a", "PUT", "/access/acl", path="/", roles="Administrator", users="alice@pve")
    api(sim, "pve-a", "POST", "/access/users", userid="sys@pam")
    for userid in ("root@pam", "sys@pam"):
        err = refused_as(sim, ALICE, "PUT", "/access/password", userid=userid, password="new-password",
                         **{"confirmation-password": "alicepw"})
        assert (err.status, err.message) == (403, "Permission check failed")
    as_(sim, ALICE, "PUT", "/access/password", userid="bob@pve", password="third-password",
        **{"confirmation-password": "alicepw"})
    assert sim.access.login(fs, "bob@pve", "third-password") == "bob@pve"


def test_permissions_of_others(sim):
    # own tokens: allowed; others need Sys.Audit on /access
    assert as_(sim, ALICE, "GET", "/access/permissions", userid="alice@pve!narrow", path="/vms/100") == {
        "/vms/100": {p: 1 for p in sorted(BUILTIN_ROLES["PVEAuditor"] & BUILTIN_ROLES["PVEVMAdmin"])}}
    err = refused_as(sim, BOB, "GET", "/access/permissions", userid="alice@pve")
    assert err.message == "Permission check failed (/access, Sys.Audit)"
    # an unknown user or token holds nothing (no error)
    assert as_(sim, ALICE, "GET", "/access/permissions", userid="alice@pve!nope") == {}
    assert api(sim, "pve-a", "GET", "/access/permissions", userid="zed@pve", path="/") == {"/": {}}
