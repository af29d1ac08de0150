"""Faults on demand and request accounting, over HTTPS."""

import time

import pytest
import requests
from proxmoxer.core import ResourceException

from pvesim.testing import running


@pytest.fixture(scope="module")
def lab():
    node = {"type": "node", "status": "online", "maxcpu": 4, "maxmem": 8 * 1024 ** 3}
    scenario = {"cluster_name": "lab", "root_password": "pw",
                "resources": [dict(node, node=n) for n in ("n1", "n2", "n3")]}
    with running(scenario) as handle:
        yield handle


@pytest.fixture(autouse=True)
def clean(lab):
    yield
    lab.sim.faults.clear()
    for name in lab.sim.hosts:
        lab.sim.faults.set_online(name)
    lab.sim.faults.restore_quorum()


def test_fail_next_n_with_595(lab):
    api = lab.client("n1")
    lab.sim.faults.fail_next("/nodes/{node}/tasks", method="GET", count=2, status=595, message="No route to host")
    for _ in range(2):
        with pytest.raises(ResourceException) as info:
            api.nodes("n1").tasks.get()
        assert (info.value.status_code, info.value.content) == (595, "No route to host")
    assert api.nodes("n1").tasks.get() == []  # the third one passes
    # globs on the concrete path, limited to one node and method
    lab.sim.faults.fail_next("/nodes/n2/*", count=1, status=500, message="boom", node="n1")
    assert api.nodes("n1").tasks.get() == []
    with pytest.raises(ResourceException) as info:
        api.nodes("n2").tasks.get()
    assert info.value.status_code == 500


def test_latency(lab):
    api = lab.client("n1")
    lab.sim.faults.add_latency(0.3, path="/version", count=1)
    began = time.monotonic()
    api.version.get()
    assert time.monotonic() - began >= 0.3
    began = time.monotonic()
    api.version.get()
    assert time.monotonic() - began < 0.3


def test_drop_connection(lab):
    api = lab.client("n1")
    lab.sim.faults.drop_next("/version")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.version.get()
    assert api.version.get()["release"] == "9.1"


def test_offline_node_drops_connections_and_proxy_gives_595(lab):
    api = lab.client("n1")
    lab.sim.faults.set_offline("n3")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(lab.urls["n3"] + "/api2/json/version", verify=lab.ca_path, timeout=5)
    with pytest.raises(ResourceException) as info:
        api.nodes("n3").tasks.get()
    assert (info.value.status_code, info.value.content) == (595, "No route to host")
    assert api.nodes("n2").tasks.get() == []  # proxied to an online member
    lab.sim.faults.set_online("n3")
    assert lab.client("n3").version.get()["version"] == "9.1.9"


def test_offline_for_a_while_comes_back(lab):
    lab.sim.faults.set_offline("n2", seconds=0.3)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(lab.urls["n2"] + "/api2/json/version", verify=lab.ca_path, timeout=5)
    time.sleep(0.4)
    lab.client("n1").version.get()  # any request ticks the clock
    assert lab.sim.hosts["n2"].online


def test_expire_all_tickets(lab):
    api = lab.client("n1")
    api.version.get()
    lab.sim.faults.expire_tickets()
    with pytest.raises(ResourceException) as info:
        api.version.get()
    assert info.value.status_code == 401
    assert lab.client("n1").version.get()


def test_lose_quorum(lab):
    assert lab.sim.quorate(lab.sim.hosts["n1"].fs)
    lab.sim.faults.lose_quorum("n1")
    assert not lab.sim.quorate(lab.sim.hosts["n1"].fs)
    lab.sim.faults.restore_quorum("n1")
    assert lab.sim.quorate(lab.sim.hosts["n1"].fs)


def test_fault_actions_as_json(lab):
    lab.sim.faults.apply([{"action": "fail_next", "path": "/version", "status": 503, "message": "busy"}])
    with pytest.raises(ResourceException) as info:
        lab.client("n1").version.get()
    assert info.value.status_code == 503
    with pytest.raises(ValueError):
        lab.sim.faults.apply({"action": "format_disk"})


def test_request_accounting(lab):
    api = lab.client("n2")  # one login
    lab.sim.stats.reset()
    api = lab.client("n2")
    api.version.get()
    api.version.get()
    api.nodes("n2").tasks.get()
    with pytest.raises(ResourceException):
        api.nodes("n2").tasks.get(limit=-1)
    snap = lab.sim.stats.snapshot()
    assert snap["by_route"] == {"POST /access/ticket": 1, "GET /version": 2, "GET /nodes/{node}/tasks": 2}
    assert snap["total"] == 5 and snap["errors"] == 1
    assert snap["by_host"] == {"n2": 5}
    assert snap["by_status"] == {"200": 4, "400": 1}
    assert lab.sim.stats.count(method="GET", template="/version") == 2
    lab.sim.stats.reset()
    assert lab.sim.stats.snapshot()["total"] == 0


def test_certificate_reload(lab):
    import ssl
    import socket

    from pvesim import certs

    host = lab.sim.hosts["n1"]
    old = host.fingerprint
    cert_pem, key_pem = lab.server.ca.issue("n1", host.address)
    host.custom_cert = {"cert_pem": cert_pem, "key_pem": key_pem}
    lab.server.reload_certificate(host)
    assert host.fingerprint == certs.fingerprint(cert_pem) != old
    context = ssl.create_default_context(cafile=lab.ca_path)
    with socket.create_connection((host.address, host.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=host.address) as tls:
            served = ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True))
    assert certs.fingerprint(served) == host.fingerprint
    host.custom_cert = None
    lab.server.reload_certificate(host)
    assert host.fingerprint == old
