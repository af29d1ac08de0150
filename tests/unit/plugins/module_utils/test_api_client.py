# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The API client against a fake PVE API over real HTTPS on 127.0.0.1 (proxmoxer and requests unmocked)."""

from __future__ import annotations

import types

import pytest
import trustme

from ansible_collections.proxops.proxmox.plugins.module_utils import _api_client
from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxClient, ProxmoxError, task_node
from ansible_collections.proxops.proxmox.tests.unit.fake_pve_server import Reply, server_context

PASSWORD = "s3cret-pw"
NODES = [{"node": "pve1", "status": "online"}]
UPID = "UPID:pve1:0000ABCD:00112233:6543ABCD:qmstart:100:root@pam!ci:"
STATUS_PATH = "/nodes/pve1/tasks/%s/status" % UPID
LOG_PATH = "/nodes/pve1/tasks/%s/log" % UPID


def password_client(pve, ca_path, sleeps, **kwargs):
    options = dict(host="127.0.0.1", port=pve.port, user="root@pam", password=PASSWORD, ca_path=ca_path, timeout=5, sleep=sleeps)
    options.update(kwargs)
    return ProxmoxClient(**options)


def token_client(pve, ca_path, sleeps, **kwargs):
    options = dict(host="127.0.0.1", port=pve.port, token_id="ci", token_secret="tok-secret", ca_path=ca_path, timeout=5, sleep=sleeps)
    options.update(kwargs)
    return ProxmoxClient(**options)


def assert_backoff(delays, backoff=0.5, max_backoff=8.0):
    """Each delay is the exponential step (capped) times a jitter factor in [0.5, 1]."""
    for attempt, delay in enumerate(delays):
        step = min(max_backoff, backoff * 2 ** attempt)
        assert step * 0.5 <= delay <= step, (attempt, delays)


# --- ticket authentication ---------------------------------------------------------------


def test_ticket_login_then_cookie_on_reads_and_csrf_on_writes(pve, ca_path, sleeps):
    pve.route("GET", "/nodes", Reply(data=NODES))
    pve.route("POST", "/pools", Reply(data=None))
    pve.route("PUT", "/pools/p1", Reply(data=None))
    pve.route("DELETE", "/pools/p1", Reply(data=None))
    client = password_client(pve, ca_path, sleeps)

    assert client.get("/nodes") == NODES
    client.post("/pools", poolid="p1")
    client.put("/pools/p1", comment="x")
    client.delete("/pools/p1")

    login, read, create, update, delete = pve.requests
    assert (login.method, login.path) == ("POST", "/access/ticket")
    assert login.form == {"username": "root@pam", "password": PASSWORD}
    (ticket,) = pve.tickets
    csrf = pve.tickets[ticket]
    assert read.cookies == {"PVEAuthCookie": ticket}
    assert "csrfpreventiontoken" not in read.headers
    assert "authorization" not in read.headers
    for write in (create, update, delete):
        assert write.cookies == {"PVEAuthCookie": ticket}
        assert write.headers["csrfpreventiontoken"] == csrf
    assert sleeps.delays == []


def test_ticket_with_otp(make_server, ca_path, sleeps):
    pve = make_server(tfa={"root@pam": "123456"})
    pve.route("GET", "/nodes", Reply(data=NODES))
    client = password_client(pve, ca_path, sleeps, otp="123456")

    assert client.get("/nodes") == NODES
    first, second, read = pve.requests
    assert first.form == {"username": "root@pam", "password": PASSWORD}
    assert second.form["password"] == "totp:123456"
    assert "tfa-challenge" in second.form
    assert read.cookies["PVEAuthCookie"] in pve.tickets


@pytest.mark.parametrize("otp", ["654321", None])
def test_wrong_or_missing_otp_is_an_authentication_failure(make_server, ca_path, sleeps, otp):
    pve = make_server(tfa={"root@pam": "123456"})
    client = password_client(pve, ca_path, sleeps, otp=otp)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert caught.value.status == 401
    assert "api_otp" in str(caught.value) and "root@pam" in str(caught.value)
    assert "654321" not in str(caught.value)
    assert len(pve.calls("POST", "/access/ticket")) == 2 and not pve.calls("GET", "/nodes")


def test_expired_ticket_renewed_once_and_call_repeated(pve, ca_path, sleeps):
    pve.route("GET", "/nodes", Reply(data=NODES))
    pve.route("PUT", "/pools/p1", Reply(data=None))
    client = password_client(pve, ca_path, sleeps)
    client.get("/nodes")
    pve.expire_tickets()

    client.put("/pools/p1", comment="renewed")

    assert [(seen.method, seen.path) for seen in pve.requests] == [
        ("POST", "/access/ticket"), ("GET", "/nodes"),
        ("PUT", "/pools/p1"), ("POST", "/access/ticket"), ("PUT", "/pools/p1"),
    ]
    rejected, retried = pve.calls("PUT")
    assert rejected.cookies["PVEAuthCookie"] != retried.cookies["PVEAuthCookie"]
    assert retried.cookies["PVEAuthCookie"] in pve.tickets
    assert retried.form == {"comment": "renewed"}
    assert sleeps.delays == []


def test_refused_ticket_renewal_inside_proxmoxer_leads_to_a_fresh_login(pve, ca_path, sleeps):
    """proxmoxer renews tickets older than an hour by itself; a refusal there is an AuthenticationError."""
    pve.route("GET", "/nodes", Reply(data=NODES))
    client = password_client(pve, ca_path, sleeps)
    assert client.get("/nodes") == NODES
    client.api._backend.auth.birth_time -= 4000  # an old ticket: renewed before the next call
    pve.fail_logins(Reply(401, "authentication failure"))

    assert client.get("/nodes") == NODES
    logins = pve.calls("POST", "/access/ticket")
    assert len(logins) == 3 and logins[2].form["password"] == PASSWORD  # initial, refused renewal, fresh login


def test_persistent_401_renews_once_and_fails(pve, ca_path, sleeps):
    pve.route("GET", "/nodes", Reply(data=NODES))
    pve.route("GET", "/cluster/status", Reply(401, "permission check failed"))
    client = password_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/cluster/status")

    assert caught.value.status == 401
    assert [(seen.method, seen.path) for seen in pve.requests] == [
        ("POST", "/access/ticket"), ("GET", "/cluster/status"),
        ("POST", "/access/ticket"), ("GET", "/cluster/status"),
    ]


def test_bad_password_fails_naming_the_user_not_the_password(pve, ca_path, sleeps):
    client = password_client(pve, ca_path, sleeps, password="wrong-horse-battery")

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert caught.value.status == 401
    assert "root@pam" in str(caught.value)
    assert "wrong-horse-battery" not in str(caught.value)
    assert "wrong-horse-battery" not in repr(caught.value.args)
    assert len(pve.requests) == 1  # not retried
    assert sleeps.delays == []


@pytest.mark.parametrize("status", [503, 595])
def test_login_retried_on_gateway_statuses(pve, ca_path, sleeps, status):
    pve.fail_logins(Reply(status, "proxy trouble"))
    pve.route("GET", "/nodes", Reply(data=NODES))
    client = password_client(pve, ca_path, sleeps)

    assert client.get("/nodes") == NODES
    assert len(pve.calls("POST", "/access/ticket")) == 2
    assert len(sleeps.delays) == 1


def test_login_failing_otherwise_is_not_called_an_authentication_failure(pve, ca_path, sleeps):
    pve.fail_logins(Reply(500, "internal error"))
    client = password_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert caught.value.status == 500
    assert "HTTP 500" in str(caught.value)
    assert "authentication failed" not in str(caught.value)
    assert len(pve.calls("POST", "/access/ticket")) == 1


# --- API token authentication --------------------------------------------------------------


@pytest.mark.parametrize("user, token_id", [("root@pam", "ci"), ("someone@pve", "root@pam!ci")])
def test_token_header_and_no_ticket_call(pve, ca_path, sleeps, user, token_id):
    pve.route("GET", "/nodes", Reply(data=NODES))
    pve.route("POST", "/pools", Reply(data=None))
    client = token_client(pve, ca_path, sleeps, user=user, token_id=token_id)

    assert client.get("/nodes") == NODES
    client.post("/pools", poolid="p1")

    assert [(seen.method, seen.path) for seen in pve.requests] == [("GET", "/nodes"), ("POST", "/pools")]
    for seen in pve.requests:
        assert seen.headers["authorization"] == "PVEAPIToken=root@pam!ci=tok-secret"
        assert seen.cookies == {}
    assert client.auth_description == "API token root@pam!ci"


def test_token_401_is_not_renewed(pve, ca_path, sleeps):
    client = token_client(pve, ca_path, sleeps, token_secret="wrong-secret")

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert caught.value.status == 401
    assert caught.value.message == "invalid token value!"
    assert len(pve.requests) == 1
    assert "wrong-secret" not in str(caught.value)


# --- one request per call, parameter encoding -------------------------------------------------


def test_exactly_one_request_per_read(pve, ca_path, sleeps):
    pve.route("GET", "/nodes", Reply(data=NODES))
    pve.route("GET", "/nodes/pve1/dns", Reply(data={"search": "example.com"}))
    token = token_client(pve, ca_path, sleeps)
    token.get("/nodes")
    token.get("/nodes/pve1/dns")
    assert len(pve.requests) == 2

    password = password_client(pve, ca_path, sleeps)
    password.get("/nodes")
    password.get("/nodes")
    assert [(seen.method, seen.path) for seen in pve.requests[2:]] == [
        ("POST", "/access/ticket"), ("GET", "/nodes"), ("GET", "/nodes")]


def test_encode_params():
    assert _api_client.encode_params({"a": True, "b": False, "c": None, "d": ["x", 1, True], "e": 0, "f": "", "g": {"y"}}) == {
        "a": 1, "b": 0, "d": "x,1,1", "e": 0, "f": "", "g": "y"}


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_query_params_only_for_get_and_delete(pve, ca_path, sleeps, method):
    pve.route(method, "/nodes/pve1/storage", Reply(data=[]))
    client = token_client(pve, ca_path, sleeps)

    client.request(method, "/nodes/pve1/storage", enabled=True, force=False, content=["images", "iso"], storage=None, limit=0)

    (seen,) = pve.requests
    assert seen.query == {"enabled": "1", "force": "0", "content": "images,iso", "limit": "0"}
    assert seen.body == b""


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_form_body_for_post_and_put(pve, ca_path, sleeps, method):
    pve.route(method, "/storage", Reply(data=None))
    client = token_client(pve, ca_path, sleeps)

    client.request(method, "/storage", storage="nfs1", shared=True, disable=False, nodes=("pve1", "pve2"), comment=None)

    (seen,) = pve.requests
    assert seen.query == {}
    assert seen.form == {"storage": "nfs1", "shared": "1", "disable": "0", "nodes": "pve1,pve2"}
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"


def test_params_named_like_the_call_arguments(pve, ca_path, sleeps):
    """PVE has parameters called ``path`` (dir storage, ACLs) and ``method``: they must reach the server."""
    pve.route("POST", "/storage", Reply(data=None))
    pve.route("GET", "/access/acl", Reply(data=[]))
    client = token_client(pve, ca_path, sleeps)

    client.post("/storage", storage="dir1", type="dir", path="/srv/dir1")  # pylint: disable=kwarg-superseded-by-positional-arg
    client.request("GET", "/access/acl", path="/vms/100", method="x")  # pylint: disable=kwarg-superseded-by-positional-arg

    create, read = pve.requests
    assert create.form == {"storage": "dir1", "type": "dir", "path": "/srv/dir1"}
    assert read.path == "/access/acl"
    assert read.query == {"path": "/vms/100", "method": "x"}


# --- TLS ---------------------------------------------------------------------------------------


def test_tls_validated_against_given_ca(pve, ca_path, sleeps):
    pve.route("GET", "/version", Reply(data={"version": "8.2.4"}))
    assert token_client(pve, ca_path, sleeps).get("/version") == {"version": "8.2.4"}


@pytest.mark.parametrize("auth", ["token", "password"])
def test_tls_default_validates(pve, sleeps, auth):
    pve.route("GET", "/nodes", Reply(data=NODES))
    make = token_client if auth == "token" else password_client
    client = make(pve, None, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert "ca_path" in str(caught.value) and "validate_certs" in str(caught.value)
    assert pve.requests == []  # nothing was sent over the unverified connection
    assert sleeps.delays == []  # a certificate problem is not retried


def test_tls_cert_from_another_ca_rejected(make_server, ca_path, sleeps):
    other = trustme.CA()
    pve = make_server(context=server_context(other.issue_cert("127.0.0.1")), tokens={"root@pam!ci": "tok-secret"})
    pve.route("GET", "/nodes", Reply(data=NODES))

    with pytest.raises(ProxmoxError) as caught:
        token_client(pve, ca_path, sleeps).get("/nodes")

    assert "ca_path" in str(caught.value) and "validate_certs" in str(caught.value)
    assert pve.requests == []


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_validation_off(make_server, sleeps):
    other = trustme.CA()
    pve = make_server(context=server_context(other.issue_cert("127.0.0.1")), tokens={"root@pam!ci": "tok-secret"})
    pve.route("GET", "/nodes", Reply(data=NODES))

    assert token_client(pve, None, sleeps, validate_certs=False).get("/nodes") == NODES
    assert password_client(pve, None, sleeps, validate_certs=False).get("/nodes") == NODES


# --- retry policy ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504, 595, 596])
def test_get_retried_on_gateway_statuses_then_succeeds(pve, ca_path, sleeps, status):
    pve.route("GET", "/nodes", Reply(status, "proxy trouble"), Reply(status, "proxy trouble"), Reply(data=NODES))
    client = token_client(pve, ca_path, sleeps)

    assert client.get("/nodes") == NODES
    assert len(pve.calls("GET", "/nodes")) == 3
    assert len(sleeps.delays) == 2
    assert_backoff(sleeps.delays)


@pytest.mark.parametrize("status", [502, 595])
def test_get_gives_up_after_retries(pve, ca_path, sleeps, status):
    pve.route("GET", "/nodes", Reply(status, "no response from node pve2"))
    client = token_client(pve, ca_path, sleeps, retries=3)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert caught.value.status == status
    assert caught.value.message == "no response from node pve2"
    assert len(pve.requests) == 4
    assert len(sleeps.delays) == 3
    assert_backoff(sleeps.delays)


def test_get_retried_on_dropped_connection(pve, ca_path, sleeps):
    pve.route("GET", "/nodes", Reply(drop=True), Reply(drop=True), Reply(data=NODES))
    client = token_client(pve, ca_path, sleeps)

    assert client.get("/nodes") == NODES
    assert len(pve.requests) == 3
    assert len(sleeps.delays) == 2


def test_get_dropped_connection_gives_up_after_retries(pve, ca_path, sleeps):
    pve.route("GET", "/nodes", Reply(drop=True))
    client = token_client(pve, ca_path, sleeps, retries=2)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert caught.value.status is None
    assert "cannot reach" in caught.value.message
    assert (caught.value.method, caught.value.path) == ("GET", "/nodes")
    assert len(pve.requests) == 3
    assert len(sleeps.delays) == 2
    assert_backoff(sleeps.delays)


@pytest.mark.parametrize("status", [500, 400, 403, 404])
def test_get_not_retried_on_real_failures(pve, ca_path, sleeps, status):
    pve.route("GET", "/nodes", Reply(status, "some failure"), Reply(data=NODES))
    client = token_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert caught.value.status == status
    assert len(pve.requests) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_put_and_delete_retried_on_595(pve, ca_path, sleeps, method):
    pve.route(method, "/nodes/pve2/config", Reply(595, "Connection refused"), Reply(data=None))
    client = token_client(pve, ca_path, sleeps)

    assert client.request(method, "/nodes/pve2/config", description="x") is None
    assert len(pve.calls(method)) == 2
    assert len(sleeps.delays) == 1
    assert_backoff(sleeps.delays)


@pytest.mark.parametrize("status", [595, 503])
def test_post_not_retried_on_gateway_statuses(pve, ca_path, sleeps, status):
    pve.route("POST", "/nodes/pve2/qemu", Reply(status, "proxy trouble"), Reply(data="UPID:..."))
    client = token_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.post("/nodes/pve2/qemu", vmid=100)

    assert caught.value.status == status
    assert len(pve.calls("POST")) == 1
    assert sleeps.delays == []


def test_post_not_retried_after_dropped_connection(pve, ca_path, sleeps):
    pve.route("POST", "/nodes/pve1/qemu", Reply(drop=True), Reply(data="UPID:..."))
    client = token_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.post("/nodes/pve1/qemu", vmid=100)

    assert caught.value.status is None
    assert (caught.value.method, caught.value.path) == ("POST", "/nodes/pve1/qemu")
    assert len(pve.calls("POST")) == 1  # it reached the server: repeating could create twice
    assert sleeps.delays == []


def test_post_idempotent_override_is_retried(pve, ca_path, sleeps):
    pve.route("POST", "/nodes/pve1/qemu/100/status/start", Reply(503, "busy"), Reply(data=None))
    client = token_client(pve, ca_path, sleeps)

    client.request("POST", "/nodes/pve1/qemu/100/status/start", idempotent=True)
    assert len(pve.requests) == 2


def test_post_retried_when_connection_refused_until_server_listens(make_server, ca_path):
    pve = make_server(tokens={"root@pam!ci": "tok-secret"}, listen=False)  # bound, not listening: refused
    pve.route("POST", "/pools", Reply(data=None))
    delays = []

    def sleep(seconds):
        delays.append(seconds)
        if len(delays) == 2:
            pve.start()

    client = token_client(pve, ca_path, sleep)

    assert client.post("/pools", poolid="p1") is None
    assert len(delays) == 2
    assert_backoff(delays)
    assert len(pve.calls("POST", "/pools")) == 1


def test_post_connection_refused_gives_up_after_retries(make_server, ca_path, sleeps):
    pve = make_server(tokens={"root@pam!ci": "tok-secret"}, listen=False)
    client = token_client(pve, ca_path, sleeps, retries=3)

    with pytest.raises(ProxmoxError) as caught:
        client.post("/pools", poolid="p1")

    assert "cannot reach" in caught.value.message
    assert len(sleeps.delays) == 3
    assert_backoff(sleeps.delays)


def test_login_retried_when_connection_refused(make_server, ca_path, sleeps):
    pve = make_server(listen=False)
    client = password_client(pve, ca_path, sleeps, retries=2)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert "cannot reach" in caught.value.message
    assert len(sleeps.delays) == 2


def test_backoff_is_capped_and_jittered(monkeypatch, sleeps):
    client = ProxmoxClient("127.0.0.1", token_id="ci", token_secret="x", backoff=1.0, max_backoff=4.0, sleep=sleeps)
    monkeypatch.setattr(_api_client.random, "uniform", lambda low, high: high)
    for attempt in range(5):
        client._pause(attempt)  # pylint: disable=protected-access
    assert sleeps.delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    monkeypatch.setattr(_api_client.random, "uniform", lambda low, high: low)
    client._pause(1)  # pylint: disable=protected-access
    assert sleeps.delays[-1] == 1.0


# --- error mapping -----------------------------------------------------------------------------


def test_400_with_errors(pve, ca_path, sleeps):
    errors = {"vmid": "property is missing and it is not optional", "cores": "value must be >= 1"}
    pve.route("POST", "/nodes/pve1/qemu", Reply(400, "Parameter verification failed.", errors=errors))
    client = token_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.post("/nodes/pve1/qemu", cores=0)

    err = caught.value
    assert err.status == 400
    assert err.errors == errors
    assert err.message == "Parameter verification failed."
    text = str(err)
    assert "vmid: property is missing and it is not optional" in text
    assert "cores: value must be >= 1" in text
    assert "POST /nodes/pve1/qemu" in text and "HTTP 400" in text


def test_500_message_is_the_reason_phrase(pve, ca_path, sleeps):
    pve.route("GET", "/nodes/pve1/storage/x/status", Reply(500, "storage 'x' does not exist"))
    client = token_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes/pve1/storage/x/status")

    assert caught.value.status == 500
    assert caught.value.message == "storage 'x' does not exist"
    assert caught.value.errors == {}
    assert str(caught.value) == "storage 'x' does not exist [GET /nodes/pve1/storage/x/status, HTTP 500]"


def test_403_message(pve, ca_path, sleeps):
    pve.route("PUT", "/cluster/options", Reply(403, "Permission check failed (/, Sys.Modify)"))
    client = token_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.put("/cluster/options", keyboard="de")

    assert caught.value.status == 403
    assert caught.value.message == "Permission check failed (/, Sys.Modify)"


@pytest.mark.parametrize("body", [b"", b"<html><body>502 Bad Gateway</body></html>"])
def test_error_without_json_body_has_no_field_errors(pve, ca_path, sleeps, body):
    pve.route("GET", "/nodes", Reply(502, "Bad Gateway", body=body))
    client = token_client(pve, ca_path, sleeps, retries=0)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert caught.value.errors == {}
    assert str(caught.value) == "Bad Gateway [GET /nodes, HTTP 502]"


# --- task waiter ---------------------------------------------------------------------------------


def test_task_node_parses_upid():
    assert task_node(UPID) == "pve1"
    for bad in ("", "UPID:pve1", "pve1:0000ABCD:00112233:6543ABCD:qmstart:100:root@pam:", "NOTUPID:a:b:c:d:e:f:g:"):
        with pytest.raises(ProxmoxError):
            task_node(bad)


def test_wait_for_task_ok_with_growing_intervals(pve, ca_path, sleeps):
    running = Reply(data={"status": "running", "upid": UPID})
    done = {"status": "stopped", "exitstatus": "OK", "type": "qmstart", "upid": UPID}
    pve.route("GET", STATUS_PATH, *([running] * 7 + [Reply(data=done)]))
    client = token_client(pve, ca_path, sleeps)

    assert client.wait_for_task(UPID) == done

    assert len(pve.requests) == 8
    assert all(seen.path == STATUS_PATH for seen in pve.requests)  # the UPID, decoded, is one path segment
    assert sleeps.delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.0, 3.0])


def test_wait_for_task_polls_through_an_api_restart(pve, ca_path, sleeps):
    """A join restarts the API the task is polled through: more failed polls than one request's retries."""
    down = [Reply(drop=True)] * 5 + [Reply(595, "No route to host")] * 5
    done = {"status": "stopped", "exitstatus": "OK", "type": "clusterjoin", "upid": UPID}
    pve.route("GET", STATUS_PATH, Reply(data={"status": "running"}), *down, Reply(data=done))
    client = password_client(pve, ca_path, sleeps, retries=1)

    assert client.wait_for_task(UPID, timeout=60) == done
    assert len(pve.calls("GET", STATUS_PATH)) == 12


def test_wait_for_task_does_not_poll_through_real_errors(pve, ca_path, sleeps):
    pve.route("GET", STATUS_PATH, Reply(data={"status": "running"}), Reply(500, "no such task"))
    client = password_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.wait_for_task(UPID, timeout=60)
    assert caught.value.status == 500
    assert len(pve.calls("GET", STATUS_PATH)) == 2


def test_wait_for_task_failure_carries_exitstatus_and_log_tail(pve, ca_path, sleeps):
    failed = {"status": "stopped", "exitstatus": "storage 'x' does not exist", "type": "qmcreate"}
    log = [{"n": n, "t": "line %d" % n} for n in range(1, 16)]
    pve.route("GET", STATUS_PATH, Reply(data={"status": "running"}), Reply(data=failed))
    pve.route("GET", LOG_PATH, Reply(data=log))
    client = token_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.wait_for_task(UPID, log_lines=4)

    err = caught.value
    assert err.exitstatus == "storage 'x' does not exist"
    assert err.upid == UPID
    assert err.log == ["line 12", "line 13", "line 14", "line 15"]
    assert "qmcreate" in err.message and "storage 'x' does not exist" in err.message
    (log_call,) = pve.calls("GET", LOG_PATH)
    assert log_call.query == {"start": "0", "limit": "5000"}


def test_wait_for_task_with_warnings_succeeds_and_keeps_them(pve, ca_path, sleeps):
    done = {"status": "stopped", "exitstatus": "WARNINGS: 1", "type": "clustercreate", "upid": UPID}
    log = [{"n": 1, "t": "Writing corosync key"}, {"n": 2, "t": "WARN: no quorum yet"}, {"n": 3, "t": "TASK WARNINGS: 1"}]
    pve.route("GET", STATUS_PATH, Reply(data=done))
    pve.route("GET", LOG_PATH, Reply(data=log))
    client = token_client(pve, ca_path, sleeps)

    assert client.wait_for_task(UPID) == done
    assert client.warnings == ["task clustercreate: WARN: no quorum yet"]


def test_task_log_tail_reads_to_the_end_of_a_long_log(pve, ca_path, sleeps):
    lines = [{"n": n, "t": "line %d" % n} for n in range(1, 11)]
    pve.route("GET", LOG_PATH, Reply(data=lines[0:4]), Reply(data=lines[4:8]), Reply(data=lines[8:]))
    client = token_client(pve, ca_path, sleeps)

    assert client.task_log_tail("pve1", UPID, lines=3, window=4) == ["line 8", "line 9", "line 10"]
    assert [seen.query["start"] for seen in pve.calls("GET", LOG_PATH)] == ["0", "4", "8"]


def test_wait_through_restart_polls_through_any_error(pve, ca_path, sleeps):
    """While a join restarts pmxcfs, the API answers 500s and refuses even a fresh login for a while."""
    done = {"status": "stopped", "exitstatus": "OK", "type": "clusterjoin", "upid": UPID}
    pve.route("GET", STATUS_PATH, Reply(500, "pmxcfs not ready"), Reply(401, "No ticket"), Reply(401, "No ticket"),
              Reply(data=done))
    client = password_client(pve, ca_path, sleeps)

    assert client.wait_for_task(UPID, timeout=60, through_restart=True) == done
    with pytest.raises(ProxmoxError):  # without it, the first 500 ends the wait
        pve.route("GET", STATUS_PATH, Reply(500, "pmxcfs not ready"), Reply(data=done))
        client.wait_for_task(UPID, timeout=60)


def test_wait_through_restart_does_not_wait_out_a_certificate_error(pve, ca_path, sleeps, monkeypatch):
    client = password_client(pve, ca_path, sleeps)
    polls = []

    def refuse_tls(path, **_params):
        polls.append(path)
        raise client._tls_error(Exception("certificate verify failed"))  # pylint: disable=protected-access

    monkeypatch.setattr(client, "get", refuse_tls)
    with pytest.raises(ProxmoxError) as caught:
        client.wait_for_task(UPID, timeout=60, through_restart=True)
    assert "ca_path" in str(caught.value)
    assert len(polls) == 1


def test_wait_for_task_failure_when_log_unreadable(pve, ca_path, sleeps):
    pve.route("GET", STATUS_PATH, Reply(data={"status": "stopped", "exitstatus": "command failed"}))
    pve.route("GET", LOG_PATH, Reply(403, "Permission check failed"))
    client = token_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.wait_for_task(UPID)

    assert caught.value.exitstatus == "command failed"
    assert caught.value.log == []


def test_wait_for_task_timeout(pve, ca_path, sleeps, monkeypatch):
    clock = [1000.0]

    def sleep(seconds):
        sleeps(seconds)
        clock[0] += seconds

    monkeypatch.setattr(_api_client, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    pve.route("GET", STATUS_PATH, Reply(data={"status": "running"}))
    pve.route("GET", LOG_PATH, Reply(data=[{"n": 1, "t": "starting"}, {"n": 2, "t": "copying"}]))
    client = token_client(pve, ca_path, sleep)

    with pytest.raises(ProxmoxError) as caught:
        client.wait_for_task(UPID, timeout=1.5, first_interval=0.25)

    err = caught.value
    assert "still running" in err.message
    assert err.upid == UPID
    assert err.exitstatus is None
    assert err.log == ["starting", "copying"]
    assert sleeps.delays == [0.25, 0.5, 0.75]  # the last wait stops at the deadline
    assert len(pve.calls("GET", STATUS_PATH)) == 4


def test_wait_for_task_malformed_upid(pve, ca_path, sleeps):
    client = token_client(pve, ca_path, sleeps)
    with pytest.raises(ProxmoxError) as caught:
        client.wait_for_task("not-a-upid")
    assert "UPID" in caught.value.message
    assert pve.requests == []


def test_run_waits_only_for_a_task(pve, ca_path, sleeps):
    pve.route("POST", "/nodes/pve1/qemu/100/status/start", Reply(data=UPID))
    pve.route("PUT", "/nodes/pve1/qemu/100/config", Reply(data=None))
    pve.route("GET", STATUS_PATH, Reply(data={"status": "running"}), Reply(data={"status": "stopped", "exitstatus": "OK"}))
    client = token_client(pve, ca_path, sleeps)

    assert client.run("POST", "/nodes/pve1/qemu/100/status/start") == UPID
    assert [seen.path for seen in pve.requests] == ["/nodes/pve1/qemu/100/status/start", STATUS_PATH, STATUS_PATH]

    assert client.run("PUT", "/nodes/pve1/qemu/100/config", cores=2) is None
    assert len(pve.requests) == 4


def test_run_raises_when_the_task_fails(pve, ca_path, sleeps):
    pve.route("POST", "/nodes/pve1/qemu/100/status/start", Reply(data=UPID))
    pve.route("GET", STATUS_PATH, Reply(data={"status": "stopped", "exitstatus": "start failed: no quorum"}))
    pve.route("GET", LOG_PATH, Reply(data=[{"n": 1, "t": "start failed: no quorum"}]))
    client = token_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.run("POST", "/nodes/pve1/qemu/100/status/start")
    assert caught.value.log == ["start failed: no quorum"]
    assert caught.value.exitstatus == "start failed: no quorum"


def test_error_str_without_call():
    err = ProxmoxError("boom", status=500, errors={"b": "bad", "a": "worse"})
    assert str(err) == "boom (a: worse; b: bad)"
    assert err.log == [] and err.upid is None


def test_run_sends_timeout_to_pve_and_waits_task_timeout(pve, ca_path, sleeps):
    pve.route("POST", "/nodes/pve1/qemu/100/status/shutdown", Reply(data=UPID))
    pve.route("GET", STATUS_PATH, Reply(data={"status": "running"}))
    pve.route("GET", LOG_PATH, Reply(data=[]))
    client = token_client(pve, ca_path, sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.run("POST", "/nodes/pve1/qemu/100/status/shutdown", task_timeout=0, timeout=60, forceStop=True)

    assert "still running after 0 seconds" in caught.value.message
    (shutdown,) = pve.calls("POST")
    assert shutdown.form == {"timeout": "60", "forceStop": "1"}
    assert len(pve.calls("GET", STATUS_PATH)) == 1
