"""Authentication and permissions over HTTPS with real clients (proxmoxer, requests, curl)."""

import shutil
import subprocess

import pytest
import requests
from proxmoxer import ProxmoxAPI
from proxmoxer.core import AuthenticationError, ResourceException

from pvesim.access import BUILTIN_ROLES, totp_code
from conftest import TOTP_SECRET


def url(pve, node, path):
    return pve.urls[node] + "/api2/json" + path


def login(pve, user, password, **extra):
    return requests.post(url(pve, "pve-a", "/access/ticket"), data=dict(username=user, password=password, **extra),
                         verify=pve.ca_path)


def test_password_login_and_ticket_format(pve):
    answer = login(pve, "root@pam", pve.password)
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["username"] == "root@pam"
    parts = data["ticket"].split(":")
    assert parts[0] == "PVE" and parts[1] == "root@pam" and len(parts[2]) == 8 and parts[3] == ""
    assert data["cap"]["vms"]["VM.Allocate"] == 1
    # username and realm may come apart
    assert login(pve, "alice", "alicepw", realm="pve").json()["data"]["username"] == "alice@pve"


def test_bad_password_is_401(pve):
    answer = login(pve, "root@pam", "wrong")
    assert answer.status_code == 401
    assert answer.reason == "authentication failure"
    assert login(pve, "dave@pve", "davepw").status_code == 401  # disabled user
    assert login(pve, "nobody@pve", "x").status_code == 401
    with pytest.raises(AuthenticationError):
        ProxmoxAPI(pve.host("pve-a")[0], user="root@pam", password="wrong", verify_ssl=pve.ca_path)


def test_totp_user_logs_in_in_two_steps_as_on_pve_9(pve):
    wrong = "000000" if totp_code(TOTP_SECRET) != "000000" else "111111"
    # the password alone gives a half ticket and NeedTFA, no cap
    first = login(pve, "carol@pve", "carolpw")
    assert first.status_code == 200
    half = first.json()["data"]
    assert half["NeedTFA"] == 1 and "cap" not in half and half["ticket"].startswith("PVE:!tfa!")
    # the half ticket is no API ticket
    answer = requests.get(url(pve, "pve-a", "/version"), cookies={"PVEAuthCookie": half["ticket"]}, verify=pve.ca_path)
    assert (answer.status_code, answer.reason) == (401, "No ticket")
    # second step: the challenge ticket and totp:<code> as the password
    second = lambda code, user="carol@pve": login(pve, user, "totp:" + code, **{"tfa-challenge": half["ticket"]})
    assert second(wrong).status_code == 401
    assert second(totp_code(TOTP_SECRET), user="alice@pve").status_code == 401  # bound to carol
    done = second(totp_code(TOTP_SECRET))
    assert done.status_code == 200 and "NeedTFA" not in done.json()["data"] and "cap" in done.json()["data"]
    # otp with the totp: prefix completes it at once; a bare code is no valid TFA response
    assert login(pve, "carol@pve", "carolpw", otp="totp:" + totp_code(TOTP_SECRET)).json()["data"]["ticket"].startswith("PVE:carol@pve:")
    assert login(pve, "carol@pve", "carolpw", otp=totp_code(TOTP_SECRET)).status_code == 401
    assert login(pve, "carol@pve", "wrongpw").status_code == 401
    # proxmoxer's flow
    client = ProxmoxAPI(pve.host("pve-a")[0], user="carol@pve", password="carolpw", otp=totp_code(TOTP_SECRET),
                        verify_ssl=pve.ca_path)
    assert client.version.get()["release"] == "9.1"


def test_ticket_cookie_and_expiry(pve):
    ticket = login(pve, "root@pam", pve.password).json()["data"]["ticket"]
    get = lambda: requests.get(url(pve, "pve-a", "/version"), cookies={"PVEAuthCookie": ticket}, verify=pve.ca_path)
    assert get().status_code == 200
    # the same ticket works in the Authorization header too
    assert requests.get(url(pve, "pve-a", "/version"), headers={"Authorization": "PVEAuthCookie=" + ticket},
                        verify=pve.ca_path).status_code == 200
    pve.sim.access.clock_offset = 2 * 3600 + 1
    try:
        answer = get()
        assert answer.status_code == 401 and answer.content == b""
    finally:
        pve.sim.access.clock_offset = 0
    assert get().status_code == 200
    # a ticket renews a ticket
    renewed = login(pve, "root@pam", ticket)
    assert renewed.status_code == 200


def test_no_credentials_is_401(pve):
    answer = requests.get(url(pve, "pve-a", "/version"), verify=pve.ca_path)
    assert answer.status_code == 401 and answer.reason == "No ticket"
    forged = "PVE:root@pam:00000000::AAAA"
    assert requests.get(url(pve, "pve-a", "/version"), cookies={"PVEAuthCookie": forged},
                        verify=pve.ca_path).status_code == 401


def test_writes_need_the_csrf_token(pve):
    data = login(pve, "root@pam", pve.password).json()["data"]
    cookies = {"PVEAuthCookie": data["ticket"]}
    target = url(pve, "pve-a", "/nodes/pve-a/tasks/UPID:pve-a:00000001:00000001:00000001:x:1:root@pam:")
    answer = requests.delete(target, cookies=cookies, verify=pve.ca_path)
    assert answer.status_code == 401 and answer.reason == "Permission denied - invalid csrf token"
    answer = requests.delete(target, cookies=cookies, verify=pve.ca_path,
                             headers={"CSRFPreventionToken": data["CSRFPreventionToken"]})
    # pve-manager PVE/API2/Tasks.pm: raise_param_exc({upid => "no such task"})
    assert answer.status_code == 400 and answer.json()["errors"] == {"upid": "no such task"}
    # reads need no CSRF token
    assert requests.get(url(pve, "pve-a", "/nodes/pve-a/tasks"), cookies=cookies, verify=pve.ca_path).ok


def test_body_on_get_is_501(pve):
    data = login(pve, "root@pam", pve.password).json()["data"]
    answer = requests.get(url(pve, "pve-a", "/version"), data="a=1", cookies={"PVEAuthCookie": data["ticket"]},
                          verify=pve.ca_path)
    assert answer.status_code == 501 and answer.reason == "Unexpected content for method 'GET'"


def test_json_and_form_bodies(pve):
    for kwargs in ({"json": {"username": "root@pam", "password": pve.password}},
                   {"data": {"username": "root@pam", "password": pve.password}}):
        answer = requests.post(url(pve, "pve-a", "/access/ticket"), verify=pve.ca_path, **kwargs)
        assert answer.status_code == 200, kwargs


def test_400_carries_errors_and_reason(pve):
    api = pve.client("pve-a")
    with pytest.raises(ResourceException) as info:
        api.nodes("pve-a").tasks.get(source="nope")
    assert info.value.status_code == 400
    assert info.value.errors == {"source": "value 'nope' does not have a value in the enumeration 'archive, active, all'"}
    raw = requests.get(url(pve, "pve-a", "/nodes/pve-a/tasks?limit=-5"), verify=pve.ca_path,
                       headers={"Authorization": "PVEAPIToken=root@pam!ci=root-ci-secret"})
    assert raw.status_code == 400 and raw.reason == "Parameter verification failed."
    # PVE's JSON formatter (prepare_response_data) sends data and errors; the text is the reason phrase
    assert raw.json() == {"data": None, "errors": {"limit": "value must have a minimum value of 0"}}


def test_tokens_with_and_without_privilege_separation(pve):
    full = pve.client("pve-a", token=("alice@pve!full", "alice-full-secret"))
    narrow = pve.client("pve-a", token=("alice@pve!narrow", "alice-narrow-secret"))
    perms_full = full.access.permissions.get(path="/vms/100")["/vms/100"]
    perms_narrow = narrow.access.permissions.get(path="/vms/100")["/vms/100"]
    assert set(perms_full) == BUILTIN_ROLES["PVEVMAdmin"]  # the user's own, more specific ACL
    assert set(perms_narrow) == BUILTIN_ROLES["PVEAuditor"] & BUILTIN_ROLES["PVEVMAdmin"]
    assert narrow.access.permissions.get(path="/vms/101") == {"/vms/101": {}}
    assert full.version.get()["release"] == "9.1"
    bad = requests.get(url(pve, "pve-a", "/version"), verify=pve.ca_path,
                       headers={"Authorization": "PVEAPIToken=alice@pve!full=wrong"})
    assert bad.status_code == 401


def test_token_cannot_use_allowtoken_0_methods(pve):
    answer = requests.post(url(pve, "pve-a", "/access/ticket"), verify=pve.ca_path,
                           data={"username": "root@pam", "password": pve.password},
                           headers={"Authorization": "PVEAPIToken=root@pam!ci=root-ci-secret"})
    # PVE::HTTPServer refuses tokens on allowtoken=0 methods even where no login is needed
    assert (answer.status_code, answer.reason) == (
        403, "Permission check failed (URI '/access/ticket' not available with API token, need proper ticket.")


def test_acl_propagation_groups_and_pools(pve):
    bob = pve.client("pve-a", user="bob@pve", password="bobpw")
    perms = bob.access.permissions.get()
    assert perms["/nodes"] == {"Sys.Audit": 0, "VM.Audit": 0}  # group ACL at /nodes (propagate flag 0) ...
    assert "/nodes/pve-a" not in perms  # ... does not propagate (propagate=0)
    assert set(perms["/vms/101"]) == BUILTIN_ROLES["PVEVMUser"]  # guest 101 is in pool prod
    assert "/vms/100" not in perms


def test_403_wording(pve):
    alice = pve.client("pve-a", user="alice@pve", password="alicepw")
    # Sys.Audit on /access (PVEAuditor at / propagates) lets alice read bob's permissions
    # the values are PVE's propagate flags: bob's group ACL at /nodes does not propagate
    assert alice.access.permissions.get(userid="bob@pve")["/nodes"] == {"Sys.Audit": 0, "VM.Audit": 0}
    bob = pve.client("pve-a", user="bob@pve", password="bobpw")
    with pytest.raises(ResourceException) as info:
        bob.access.permissions.get(userid="alice@pve")
    assert info.value.status_code == 403
    raw = requests.get(url(pve, "pve-a", "/access/permissions?userid=alice@pve"), verify=pve.ca_path,
                       cookies={"PVEAuthCookie": login(pve, "bob@pve", "bobpw").json()["data"]["ticket"]})
    assert raw.status_code == 403 and raw.reason == "Permission check failed (/access, Sys.Audit)"


def test_generic_permission_check_from_the_schema(pve):
    from pvesim.access import AccessControl
    from pvesim.errors import ApiError
    from pvesim.routing import Identity

    access = pve.sim.access
    fs = pve.sim.hosts["pve-a"].fs
    alice, bob = Identity("alice@pve"), Identity("bob@pve")
    perm = {"check": ["perm", "/vms/{vmid}", ["VM.PowerMgmt"]]}
    access.check_permissions(fs, alice, perm, {"vmid": 100})
    with pytest.raises(ApiError) as info:
        access.check_permissions(fs, alice, perm, {"vmid": 101})
    assert (info.value.status, info.value.message) == (403, "Permission check failed (/vms/101, VM.PowerMgmt)")
    anyperm = {"check": ["perm", "/", ["Sys.Modify", "Sys.Audit"], "any", 1]}
    access.check_permissions(fs, alice, anyperm, {})
    with pytest.raises(ApiError) as info:
        access.check_permissions(fs, bob, anyperm, {})
    assert info.value.message == "Permission check failed (/, Sys.Modify|Sys.Audit)"
    either = {"check": ["or", ["perm", "/", ["Sys.Modify"]], ["userid-param", "self"]]}
    access.check_permissions(fs, bob, either, {"userid": "bob@pve"})
    with pytest.raises(ApiError) as info:
        access.check_permissions(fs, bob, either, {"userid": "alice@pve"})
    assert info.value.message == "Permission check failed"
    assert isinstance(access, AccessControl)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_verifies_tls_with_the_ca_bundle(pve):
    address, port = pve.host("pve-b")
    out = subprocess.run(["curl", "-sS", "--cacert", pve.ca_path, "-d", "username=root@pam",
                          "--data-urlencode", "password=" + pve.password,
                          "https://%s:%d/api2/json/access/ticket" % (address, port)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert '"username":"root@pam"' in out.stdout
    # without the CA, verification fails
    out = subprocess.run(["curl", "-sS", "https://%s:%d/api2/json/version" % (address, port)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode != 0


def test_tokens_are_refused_where_the_schema_says_allowtoken_0(pve, monkeypatch):
    from pvesim import schema

    original = schema.method_info

    def no_tokens(template, method, *version):
        info = original(template, method, *version)
        return dict(info, allowtoken=0) if template == "/version" else info

    monkeypatch.setattr(schema, "method_info", no_tokens)
    headers = {"Authorization": "PVEAPIToken=root@pam!ci=root-ci-secret"}
    answer = requests.get(url(pve, "pve-a", "/version"), headers=headers, verify=pve.ca_path)
    assert answer.status_code == 403
    assert requests.get(url(pve, "pve-a", "/nodes/pve-a/tasks"), headers=headers, verify=pve.ca_path).ok
    ticket = login(pve, "root@pam", pve.password).json()["data"]["ticket"]
    assert requests.get(url(pve, "pve-a", "/version"), cookies={"PVEAuthCookie": ticket}, verify=pve.ca_path).ok
