"""Tickets are signed with the key of the host's /etc/pve (its ClusterFS), as on PVE."""

import time

import pytest
import requests

from pvesim.testing import running

NODE = {"type": "node", "status": "online", "maxcpu": 4, "maxmem": 8 * 1024 ** 3}


def _url(pve, node, path):
    return pve.urls[node] + "/api2/json" + path


def login(pve, node):
    """``(ticket, csrf)`` from ``POST /access/ticket`` on ``node``."""
    answer = requests.post(_url(pve, node, "/access/ticket"), data={"username": pve.user, "password": pve.password},
                           verify=pve.ca_path, timeout=5)
    assert answer.status_code == 200, answer.reason
    data = answer.json()["data"]
    return data["ticket"], data["CSRFPreventionToken"]


def get(pve, node, path, auth):
    return requests.get(_url(pve, node, path), cookies={"PVEAuthCookie": auth[0]}, verify=pve.ca_path, timeout=5)


def post(pve, node, path, auth, **data):
    return requests.post(_url(pve, node, path), data=data, cookies={"PVEAuthCookie": auth[0]},
                         headers={"CSRFPreventionToken": auth[1]}, verify=pve.ca_path, timeout=5)


def wait(pve, node, upid, auth, timeout=5):
    """Poll a task like the collection's API client: on a 401, log in again once and go on."""
    renewed = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = get(pve, node, "/nodes/%s/tasks/%s/status" % (node, upid), auth)
        if answer.status_code == 401 and not renewed:
            auth, renewed = login(pve, node), True
            continue
        assert answer.status_code == 200, answer.reason
        status = answer.json()["data"]
        if status["status"] == "stopped":
            return status, renewed
        time.sleep(0.05)
    raise AssertionError("task %s did not finish" % upid)


@pytest.fixture(scope="module")
def cluster():
    scenario = {"cluster_name": "lab", "resources": [dict(NODE, node=n) for n in ("pve-a", "pve-b")]}
    with running(scenario) as handle:
        yield handle


def test_a_ticket_from_one_member_works_on_every_member(cluster):
    auth = login(cluster, "pve-a")
    assert get(cluster, "pve-b", "/version", auth).status_code == 200
    # the CSRF token is the cluster's too: a write through the other member
    answer = post(cluster, "pve-b", "/cluster/ha/rules", auth, rule="r1", type="node-affinity",
                  resources="vm:999", nodes="pve-a")
    assert answer.status_code != 401, answer.reason


def test_expiring_tickets_rotates_every_key(cluster):
    auth = login(cluster, "pve-a")
    cluster.sim.faults.expire_tickets()
    assert get(cluster, "pve-b", "/version", auth).status_code == 401
    assert get(cluster, "pve-a", "/version", auth).status_code == 401
    assert get(cluster, "pve-b", "/version", login(cluster, "pve-a")).status_code == 200


@pytest.fixture
def standalone():
    scenario = {"resources": [dict(NODE, node=n) for n in ("pve-a", "pve-b", "pve-c")]}
    with running(scenario, time_scale=0.05) as handle:
        yield handle


def test_standalone_hosts_refuse_each_others_tickets(standalone):
    auth_a = login(standalone, "pve-a")
    assert get(standalone, "pve-a", "/version", auth_a).status_code == 200
    refused = get(standalone, "pve-b", "/version", auth_a)
    assert (refused.status_code, refused.reason) == (401, "invalid PVE ticket")
    # and a login there works
    assert get(standalone, "pve-b", "/version", login(standalone, "pve-b")).status_code == 200


def test_joining_replaces_the_key_and_the_client_logs_in_again(standalone):
    pve, sim = standalone, standalone.sim
    auth_a, auth_b, auth_c = login(pve, "pve-a"), login(pve, "pve-b"), login(pve, "pve-c")
    answer = post(pve, "pve-a", "/cluster/config", auth_a, clustername="lab")
    status, renewed = wait(pve, "pve-a", answer.json()["data"], auth_a)
    assert status["exitstatus"] == "OK" and not renewed  # creating keeps the host's /etc/pve
    assert get(pve, "pve-a", "/version", auth_a).status_code == 200

    fingerprint = get(pve, "pve-a", "/cluster/config/join", auth_a).json()["data"]["nodelist"][0]["pve_fp"]
    answer = post(pve, "pve-b", "/cluster/config/join", auth_b, hostname=sim.hosts["pve-a"].address,
                  fingerprint=fingerprint, password=pve.password)
    upid = answer.json()["data"]
    assert get(pve, "pve-b", "/nodes/pve-b/tasks/%s/status" % upid, auth_b).json()["data"]["status"] == "running"

    status, renewed = wait(pve, "pve-b", upid, auth_b)
    assert status["exitstatus"] == "OK" and renewed  # the join task is polled after a new login
    assert get(pve, "pve-b", "/version", auth_b).status_code == 401  # B's ticket from before the join
    # now one cluster: A's ticket works on B, and a fresh ticket from B works on A
    assert get(pve, "pve-b", "/version", auth_a).status_code == 200
    assert get(pve, "pve-a", "/nodes/pve-b/status", login(pve, "pve-b")).status_code == 200
    # the standalone host is still a stranger to both
    assert get(pve, "pve-a", "/version", auth_c).status_code == 401
    assert get(pve, "pve-c", "/version", auth_a).status_code == 401
    assert get(pve, "pve-c", "/version", auth_c).status_code == 200
