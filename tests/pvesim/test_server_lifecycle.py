"""The HTTPS side's lifecycle: stopping a server ends its connections, an offline host
comes back on its own (review findings 1 and 2)."""

import socket
import ssl
import threading
import time

import requests

from pvesim.testing import running

LONE = {"resources": [{"type": "node", "node": "pve1"}], "root_password": "pw"}


def _read_answer(sock, timeout=1.0):
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (OSError, ssl.SSLError):
        pass
    return data


def _conn_threads():
    return [t for t in threading.enumerate() if t.name.startswith("pvesim-pve1-conn") and t.is_alive()]


def test_stop_closes_live_connections():
    with running(LONE) as pve:
        address, port = pve.host("pve1")
        context = ssl.create_default_context(cafile=pve.ca_path)
        busy = context.wrap_socket(socket.create_connection((address, port)), server_hostname=address)
        busy.sendall(b"GET /api2/json/version HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_answer(busy).startswith(b"HTTP/1.1 401")
        idle = context.wrap_socket(socket.create_connection((address, port)), server_hostname=address)
        assert _conn_threads()  # both keep-alive connections have a handler thread
    # after the with block: no handler thread left, and the old connection gets no answer
    assert _conn_threads() == []
    try:
        busy.sendall(b"GET /api2/json/version HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_answer(busy)
    except (OSError, ssl.SSLError):
        answer = b""
    assert answer == b""
    busy.close()
    idle.close()


def test_set_offline_with_seconds_comes_back_on_a_lone_host():
    with running(LONE) as pve:
        url = pve.urls["pve1"] + "/api2/json/access/ticket"
        pve.sim.faults.set_offline("pve1", seconds=0.3)
        try:
            requests.post(url, data={"username": "root@pam", "password": "pw"}, verify=pve.ca_path, timeout=2)
            raise AssertionError("an offline host answered")
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
        # nobody ticked the simulator meanwhile: the host's own endpoint must bring it back
        answer = requests.post(url, data={"username": "root@pam", "password": "pw"}, verify=pve.ca_path, timeout=2)
        assert answer.status_code == 200
        assert pve.sim.hosts["pve1"].online
