"""Helpers that several pvesim test modules share (imported as ``from helpers import ...``,
like ``conftest``: pytest puts this folder on ``sys.path``).

``api`` runs one call in-process as root@pam; ``refused`` and ``api_error`` give the
``ApiError`` a call raises; ``task`` polls a task until it stops (``task_over_https``
the same through a proxmoxer client); ``cluster()`` is the three-node "lab" cluster with
guests 100, 101 (qemu) and 200 (lxc); ``start_cli``/``stop_cli`` run ``python -m pvesim``.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pvesim import certs
from pvesim.errors import ApiError
from pvesim.testing import call, make_sim

GIB = 1024 ** 3

# The tests' short name for pvesim.testing.call: in-process, on host ``node``, as root@pam.
api = call


def api_error(func, *args, **kwargs):
    """The ApiError that ``func(*args, **kwargs)`` raises (the test fails if it raises none)."""
    with pytest.raises(ApiError) as info:
        func(*args, **kwargs)
    return info.value


def refused(sim, node, method, path, /, **params):
    """The ApiError of an API call that must fail."""
    return api_error(api, sim, node, method, path, **params)


def task(sim, upid, timeout=2.0):
    """Poll a task through the API until it stops; its status answer."""
    node = upid.split(":")[1]
    deadline = time.monotonic() + timeout
    while True:
        status = api(sim, node, "GET", "/nodes/%s/tasks/%s/status" % (node, upid))
        if status["status"] == "stopped" or time.monotonic() > deadline:
            return status
        time.sleep(0.01)


def task_over_https(client, node, upid, timeout=5.0):
    """Poll a task through a proxmoxer client until it stops; its status answer."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.nodes(node).tasks(upid).status.get()
        if status["status"] == "stopped":
            return status
        assert time.monotonic() < deadline, "task %s did not finish" % upid
        time.sleep(0.02)


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_cli(args, state, timeout=20):
    """``python -m pvesim --state-dir STATE ARGS``; returns the process and hosts.json once written."""
    proc = subprocess.Popen([sys.executable, "-m", "pvesim", "--state-dir", str(state)] + args, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not (state / "hosts.json").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "hosts.json did not appear"
        time.sleep(0.05)
    return proc, json.loads((state / "hosts.json").read_text())


def stop_cli(proc, timeout=15):
    """SIGTERM, then the exit code must be 0."""
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert code == 0, proc.stderr.read().decode()


def cluster(time_scale=0.0, **extra):
    """A Simulator of the cluster "lab": pve1 to pve3; qemu 100 (running) and 101 (stopped)
    on pve1, lxc 200 (running) on pve2. ``extra`` adds or replaces scenario keys."""
    node = {"type": "node", "status": "online", "maxcpu": 16, "maxmem": 64 * GIB, "mem": 8 * GIB, "cpu": 0.1}
    data = {"cluster_name": "lab", "resources": [
        dict(node, node="pve1"), dict(node, node="pve2"), dict(node, node="pve3"),
        {"type": "qemu", "vmid": 100, "node": "pve1", "name": "web", "status": "running", "maxcpu": 2,
         "cpu": 0.5, "maxmem": 4 * GIB, "mem": 2 * GIB, "maxdisk": 32 * GIB, "tags": "prod;web"},
        {"type": "qemu", "vmid": 101, "node": "pve1", "name": "db", "status": "stopped", "maxcpu": 4,
         "maxmem": 8 * GIB, "maxdisk": 64 * GIB},
        {"type": "lxc", "vmid": 200, "node": "pve2", "name": "dns", "status": "running", "maxcpu": 1,
         "cpu": 0.1, "maxmem": GIB, "mem": 256 * 1024 ** 2, "maxdisk": 8 * GIB},
    ]}
    data.update(extra)
    return make_sim(data, time_scale=time_scale)


def issue_certificates(sim):
    """Give every host a certificate from a fresh CA; make_sim runs no HTTPS server, so
    nothing has issued them yet."""
    ca = certs.CertificateAuthority()
    for host in sim.hosts.values():
        host.cert_pem, host.key_pem = ca.issue(host.name, host.address)
        host.fingerprint = certs.fingerprint(host.cert_pem)
    return sim
