# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The client as the coming modules share it: one client under threads, one way to wait, TLS errors told apart, built from plain options."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxClient, ProxmoxError, client_from_options
from ansible_collections.proxops.proxmox.tests.unit.fake_pve_server import Reply

PASSWORD = "s3cret-pw"
NODES = [{"node": "pve1", "status": "online"}]


def password_client(pve, ca_path, sleeps, **kwargs):
    options = dict(host="127.0.0.1", port=pve.port, user="root@pam", password=PASSWORD, ca_path=ca_path, timeout=5, sleep=sleeps)
    options.update(kwargs)
    return ProxmoxClient(**options)


def in_threads(count, work):
    """Run ``work(index)`` in ``count`` threads at once; their results, or the first error raised."""
    results, errors = [None] * count, []
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as err:  # pylint: disable=broad-exception-caught
            errors.append(err)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    if errors:
        raise errors[0]
    return results


# --- threads -----------------------------------------------------------------------------------


def test_one_client_under_threads_logs_in_once(make_server, ca_path, sleeps):
    pve = make_server(limit=200)
    pve.route("GET", "/nodes", Reply(data=NODES))
    client = password_client(pve, ca_path, sleeps)

    results = in_threads(8, lambda index: [client.get("/nodes") for _call in range(5)])

    assert results == [[NODES] * 5] * 8
    assert len(pve.calls("POST", "/access/ticket")) == 1
    assert len(pve.calls("GET", "/nodes")) == 40


def test_expired_ticket_under_threads_renewed_once(make_server, ca_path, sleeps):
    pve = make_server(limit=200)
    pve.route("GET", "/nodes", Reply(data=NODES))
    client = password_client(pve, ca_path, sleeps)
    client.get("/nodes")
    pve.expire_tickets()

    results = in_threads(8, lambda index: client.get("/nodes"))

    assert results == [NODES] * 8
    # every thread met the dead ticket, one of them logged in again, the others used that login
    assert len(pve.calls("POST", "/access/ticket")) == 2


def test_task_warnings_from_threads_are_all_kept(make_server, ca_path, sleeps):
    pve = make_server(limit=200)
    upids = ["UPID:pve1:0000ABC%d:00112233:6543ABCD:vzsnapshot:10%d:root@pam:" % (n, n) for n in range(6)]
    for upid in upids:
        pve.route("GET", "/nodes/pve1/tasks/%s/status" % upid, Reply(data={"status": "stopped", "exitstatus": "WARNINGS: 1",
                                                                           "type": "vzsnapshot"}))
        pve.route("GET", "/nodes/pve1/tasks/%s/log" % upid, Reply(data=[{"n": 1, "t": "WARN: %s" % upid[-5:]}]))
    client = password_client(pve, ca_path, sleeps)

    in_threads(6, lambda index: client.wait_for_task(upids[index]))

    assert sorted(client.warnings) == sorted("task vzsnapshot: WARN: %s" % upid[-5:] for upid in upids)


# --- one way to wait ---------------------------------------------------------------------------


def test_wait_until_returns_the_first_true_value_with_growing_pauses(sleeps):
    answers = iter([None, 0, {}, "done", "later"])
    client = ProxmoxClient("127.0.0.1", sleep=sleeps)

    assert client.wait_until(lambda: next(answers), timeout=60, first_interval=0.5, max_interval=1.5) == "done"
    assert sleeps.delays == [0.5, 1.0, 1.5]


def test_wait_until_gives_none_at_the_deadline(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    calls = []

    def sleep(seconds):
        now[0] += seconds

    client = ProxmoxClient("127.0.0.1", sleep=sleep)
    assert client.wait_until(lambda: calls.append(now[0]), timeout=5, first_interval=1, max_interval=2) is None
    # pauses 1, 2, 2 and the rest: the last look is at the deadline
    assert calls == [1000.0, 1001.0, 1003.0, 1005.0]


def test_wait_until_passes_on_what_the_condition_raises(sleeps):
    client = ProxmoxClient("127.0.0.1", sleep=sleeps)

    def broken():
        raise ProxmoxError("no such node", status=500)

    with pytest.raises(ProxmoxError, match="no such node"):
        client.wait_until(broken, timeout=60)
    assert sleeps.delays == []


# --- TLS: a failed verification is not a handshake cut short -------------------------------------


@pytest.fixture
def cutting_server():
    """A TCP server that closes every connection at once, as a host shutting down or restarting pveproxy does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def serve():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _address = listener.accept()
            except OSError:
                continue
            accepted.append(connection)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join(5)
    listener.close()


def test_cut_handshake_is_a_connection_error_and_retried(cutting_server, ca_path, sleeps):
    port, accepted = cutting_server
    client = ProxmoxClient("127.0.0.1", port=port, token_id="ci", token_secret="x", ca_path=ca_path, timeout=5, sleep=sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert caught.value.transient and not caught.value.tls
    assert "cannot reach" in str(caught.value) and "ca_path" not in str(caught.value)
    assert len(sleeps.delays) == client.retries  # retried like any dropped connection
    assert len(accepted) == client.retries + 1


def test_cut_handshake_at_login_is_retried_then_reported_as_unreachable(cutting_server, ca_path, sleeps):
    port, accepted = cutting_server
    client = ProxmoxClient("127.0.0.1", port=port, password=PASSWORD, ca_path=ca_path, timeout=5, sleep=sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert caught.value.transient and not caught.value.tls
    assert "cannot reach" in str(caught.value)
    assert len(accepted) == client.retries + 1


def test_certificate_not_verified_is_a_tls_error_never_retried(pve, sleeps):
    client = password_client(pve, None, sleeps)  # the system CAs do not know the test CA

    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")

    assert caught.value.tls and not caught.value.transient
    assert "ca_path" in str(caught.value)
    assert sleeps.delays == []


# --- a client from plain options -----------------------------------------------------------------


def test_client_from_options_without_ansible(pve, ca_path):
    pve.route("GET", "/nodes", Reply(data=NODES))
    client = client_from_options({"api_host": "127.0.0.1", "api_port": pve.port, "api_password": PASSWORD, "ca_path": ca_path})

    assert client.get("/nodes") == NODES
    assert (client.user, client.timeout, client.verify) == ("root@pam", 30, ca_path)


def test_client_from_options_with_token_and_no_verification():
    client = client_from_options({"api_host": "pve1", "api_token_id": "ops@pve!ci", "api_token_secret": "t",
                                  "validate_certs": False, "api_timeout": 7})

    assert (client.host, client.port, client.user, client.verify, client.timeout) == ("pve1", 8006, "ops@pve", False, 7)
    assert client.auth_description == "API token ops@pve!ci"


# --- a server that takes the connection and never answers ------------------------------------------


@pytest.fixture
def silent_server(tls_context):
    """Accepts connections; with ``tls`` it completes the handshake and then reads forever, else it does not even do TLS."""
    servers = []

    def make(tls):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        held, stop = [], threading.Event()

        def serve():
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    connection, _address = listener.accept()
                except OSError:
                    continue
                if tls:
                    try:
                        connection = tls_context.wrap_socket(connection, server_side=True)
                    except OSError:
                        continue
                held.append(connection)  # kept open, never answered

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        servers.append((listener, stop, thread, held))
        return listener.getsockname()[1], held

    yield make
    for listener, stop, thread, held in servers:
        stop.set()
        thread.join(5)
        listener.close()
        for connection in held:
            connection.close()


def test_no_answer_fails_after_api_timeout_once_not_per_retry(silent_server, ca_path, sleeps):
    port, held = silent_server(tls=True)
    client = ProxmoxClient("127.0.0.1", port=port, token_id="ci", token_secret="x", ca_path=ca_path, timeout=1, sleep=sleeps)

    started = time.monotonic()
    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes/pve1/status")
    elapsed = time.monotonic() - started

    assert 1 <= elapsed < 3, elapsed  # one api_timeout, not four
    assert len(held) == 1 and sleeps.delays == []
    assert str(caught.value) == "no answer from 127.0.0.1:%d within 1 seconds (api_timeout) [GET /nodes/pve1/status]" % port
    assert caught.value.transient


def test_no_answer_to_the_login_is_said_so(silent_server, ca_path, sleeps):
    port, held = silent_server(tls=True)
    client = ProxmoxClient("127.0.0.1", port=port, password="pw", ca_path=ca_path, timeout=1, sleep=sleeps)

    with pytest.raises(ProxmoxError) as caught:
        client.get("/version")

    assert "no answer from 127.0.0.1:%d within 1 seconds (api_timeout) [POST /access/ticket]" % port == str(caught.value)
    assert len(held) == 1


def test_hung_handshake_is_no_answer_too(silent_server, ca_path, sleeps):
    """A server that takes the connection but never does TLS: urllib3 waits for the handshake with the read timeout."""
    port, held = silent_server(tls=False)
    client = ProxmoxClient("127.0.0.1", port=port, token_id="ci", token_secret="x", ca_path=ca_path, timeout=1, sleep=sleeps)

    started = time.monotonic()
    with pytest.raises(ProxmoxError) as caught:
        client.get("/nodes")
    elapsed = time.monotonic() - started

    assert elapsed < 3, elapsed
    assert len(held) == 1
    assert caught.value.transient and "no answer from 127.0.0.1:%d within 1 seconds (api_timeout)" % port in str(caught.value)


def test_retries_stop_at_api_timeout_plus_the_budget(make_server, ca_path, monkeypatch):
    """Gateway errors are retried with growing pauses, but no pause runs past api_timeout plus the retry budget."""
    now = [1000.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    pauses = []

    def sleep(seconds):
        pauses.append(seconds)
        now[0] += seconds

    pve = make_server(tokens={"root@pam!ci": "tok-secret"})
    pve.route("GET", "/nodes", Reply(503, "busy"))
    client = ProxmoxClient("127.0.0.1", port=pve.port, token_id="ci", token_secret="tok-secret", ca_path=ca_path, timeout=1,
                           retries=10, backoff=1.0, max_backoff=8.0, retry_budget=5, sleep=sleep)

    with pytest.raises(ProxmoxError, match="busy"):
        client.get("/nodes")

    assert sum(pauses) < 1 + 5 and len(pauses) < 10, pauses
