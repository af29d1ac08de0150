"""Saving and loading the whole simulated world (pvesim.state_file, --save-state / --load-state).

The module fixture builds a world over HTTPS (cluster created on pve-a, pve-b joins, pve-c
stays standalone with a custom certificate; DNS, a storage with a secret, a snapshot, a
migration, HA resource and rule), reads a sweep of GET routes, saves, stops, loads the file
into a new simulator, serves it on the same addresses and reads the sweep again.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
import requests
from helpers import REPO, api, cluster, start_cli, stop_cli, task, task_over_https

from pvesim import certs, state_file
from pvesim.scenario import PACKAGED_SCENARIOS
from pvesim.testing import free_address_base, running

GIB = 1024 ** 3
NODES = ("pve-a", "pve-b", "pve-c")
STORAGE_SECRET = "cifs-secret-pw"

SCENARIO = {
    "name": "state file",
    "cluster_name": None,
    "root_password": "rootpw",
    "resources": [{"type": "node", "node": n, "status": "online", "maxcpu": 4, "maxmem": 8 * GIB} for n in NODES]
    + [{"type": "qemu", "vmid": 100, "node": "pve-a", "name": "web", "status": "running",
        "maxcpu": 1, "maxmem": GIB, "mem": 512 * 1024 ** 2},
       {"type": "qemu", "vmid": 101, "node": "pve-a", "name": "db", "status": "stopped", "maxcpu": 2, "maxmem": GIB}],
    "users": [{"userid": "alice@pve", "password": "alicepw", "groups": ["ops"]}],
    "groups": [{"groupid": "ops", "comment": "operators"}],
    "roles": {"Watcher": "VM.Audit,Sys.Audit"},
    "tokens": [{"tokenid": "alice@pve!ci", "secret": "alice-ci-secret", "privsep": 1}],
    "acl": [{"path": "/", "roleid": "Watcher", "groups": "ops"},
            {"path": "/", "roleid": "PVEAuditor", "tokens": "alice@pve!ci"}],
}

# Values that follow the wall clock (compared through the saved boot times instead)
VOLATILE = {"uptime", "time", "localtime", "timestamp"}


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def sweep(pve):
    """The answers of a set of GET routes, through every host, as root over HTTPS."""
    answers = {}
    clients = {node: pve.client(node) for node in NODES}

    def get(node, path, **params):
        # proxmoxer: a path without the leading slash goes below /api2/json
        answers["%s GET %s %s" % (node, path, sorted(params.items()))] = _stable(
            clients[node].get(path.lstrip("/"), **params))

    for node in NODES:
        for path in ("/cluster/status", "/cluster/resources", "/cluster/config/nodes", "/storage", "/nodes",
                     "/cluster/ha/resources", "/cluster/ha/rules", "/access/permissions"):
            get(node, path)
        get(node, "/nodes/%s/dns" % node)
        get(node, "/nodes/%s/hosts" % node)
        get(node, "/nodes/%s/config" % node)
        get(node, "/nodes/%s/subscription" % node)
        get(node, "/nodes/%s/certificates/info" % node)
        get(node, "/nodes/%s/storage" % node)
        get(node, "/nodes/%s/qemu" % node)
        get(node, "/nodes/%s/tasks" % node, limit=100)
        get(node, "/nodes/%s/status" % node)
        get(node, "/access/permissions", userid="alice@pve")
    for node in ("pve-a", "pve-b"):
        get(node, "/cluster/config/join")
        get(node, "/cluster/config/totem")
    get("pve-b", "/storage/smb")
    for vmid, node in ((100, "pve-b"), (101, "pve-a")):
        get(node, "/nodes/%s/qemu/%d/config" % (node, vmid))
        get(node, "/nodes/%s/qemu/%d/snapshot" % (node, vmid))
        get(node, "/nodes/%s/qemu/%d/status/current" % (node, vmid))
    get("pve-a", "/nodes/pve-a/qemu/101/snapshot/before/config")
    for node in NODES:  # every task's status and log
        for entry in clients[node].nodes(node).tasks.get(limit=100):
            get(node, "/nodes/%s/tasks/%s/status" % (node, entry["upid"]))
            get(node, "/nodes/%s/tasks/%s/log" % (node, entry["upid"]), limit=500)
    return answers


def build(pve):
    a = pve.client("pve-a")
    assert task_over_https(a, "pve-a", a.cluster.config.post(clustername="demo"))["exitstatus"] == "OK"
    fingerprint = a.cluster.config.join.get()["nodelist"][0]["pve_fp"]
    b = pve.client("pve-b")
    b.cluster.config.join.post(hostname=pve.sim.hosts["pve-a"].address, fingerprint=fingerprint,
                               password=pve.password)
    b = pve.client("pve-b")  # the join changed pve-b's ticket key: log in again
    a.nodes("pve-a").dns.put(search="lab.example", dns1="10.0.0.53", dns2="10.0.0.54")
    b.nodes("pve-b").config.put(description="second member")
    a.storage.post(storage="smb", type="cifs", server="10.0.0.9", share="data", username="svc",
                   password=STORAGE_SECRET, content="images")
    assert task_over_https(a, "pve-a", a.nodes("pve-a").qemu(101).snapshot.post(snapname="before", description="pre"))[
        "exitstatus"] == "OK"
    a.nodes("pve-a").qemu(101).config.put(cores=2)
    upid = a.nodes("pve-a").qemu(100).migrate.post(target="pve-b", online=1, **{"with-local-disks": 1})
    assert task_over_https(a, "pve-a", upid)["exitstatus"] == "OK"
    a.cluster.ha.resources.post(sid="vm:100", state="started")
    a.cluster.ha.rules.post(rule="keep-b", type="node-affinity", resources="vm:100", nodes="pve-b:2,pve-a")
    c = pve.client("pve-c")
    c.nodes("pve-c").time.put(timezone="Europe/Vienna")
    # a custom certificate (from pvesim's CA, so clients still verify it): a new fingerprint
    cert_pem, key_pem = pve.sim.ca.issue("pve-c", pve.sim.hosts["pve-c"].address)
    c.nodes("pve-c").certificates.custom.post(certificates=cert_pem, key=key_pem, restart=1, force=1)


def _login(pve, node, user, password):
    answer = requests.post(pve.urls[node] + "/api2/json/access/ticket", data={"username": user, "password": password},
                           verify=pve.ca_path, timeout=5)
    answer.raise_for_status()
    return answer.json()["data"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("state") / "world.json"
    with running(SCENARIO) as pve:
        build(pve)
        before = sweep(pve)
        login = _login(pve, "pve-b", "root@pam", "rootpw")
        fingerprints = {name: h.fingerprint for name, h in pve.sim.hosts.items()}
        with open(pve.ca_path, encoding="utf-8") as handle:
            ca_pem = handle.read()
        boot_times = {name: h.boot_time for name, h in pve.sim.hosts.items()}
        pve.save_state(path)
        old = pve.sim
    with running(load_state=path) as loaded:
        yield SimpleNamespace(pve=loaded, old=old, before=before, login=login, fingerprints=fingerprints,
                              ca_pem=ca_pem, boot_times=boot_times, path=path)


def test_state_file_is_a_versioned_document(world):
    doc = json.loads(world.path.read_text())
    assert (doc["format"], doc["version"]) == ("pvesim-state", 1)
    assert [h["name"] for h in doc["hosts"]] == list(NODES)
    # two file systems: the cluster's (pve-a, pve-b) and pve-c's own
    assert len(doc["filesystems"]) == 2
    assert [h["fs"] for h in doc["hosts"]] == ["fs0", "fs0", "fs1"]


def test_every_get_answer_reads_back_identically(world):
    after = sweep(world.pve)
    assert after.keys() == world.before.keys()
    for key in world.before:
        assert after[key] == world.before[key], key
    assert {n: h.boot_time for n, h in world.pve.sim.hosts.items()} == world.boot_times


def test_cluster_members_share_one_filesystem_after_loading(world):
    hosts = world.pve.sim.hosts
    assert hosts["pve-a"].fs is hosts["pve-b"].fs
    assert hosts["pve-c"].fs is not hosts["pve-a"].fs
    assert hosts["pve-a"].fs is not world.old.hosts["pve-a"].fs  # a new simulator, not the old objects
    # a write through one member is seen by the other
    world.pve.client("pve-a").cluster.ha.rules("keep-b").put(type="node-affinity", comment="edited")
    assert world.pve.client("pve-b").cluster.ha.rules("keep-b").get()["comment"] == "edited"


def test_fingerprints_and_ca_are_unchanged(world):
    assert {n: h.fingerprint for n, h in world.pve.sim.hosts.items()} == world.fingerprints
    with open(world.pve.ca_path, encoding="utf-8") as handle:
        assert handle.read() == world.ca_pem
    # the endpoints really serve them: TLS verifies against the old CA bundle, and the
    # served certificate's fingerprint is the saved one (pve-c: its custom certificate)
    for node in NODES:
        address, port = world.pve.host(node)
        import ssl

        served = ssl.get_server_certificate((address, port))
        assert certs.fingerprint(served) == world.fingerprints[node]
    assert world.pve.sim.hosts["pve-c"].custom_cert["fingerprint"] == world.fingerprints["pve-c"]


def test_ticket_issued_before_the_save_works_after_loading(world):
    ticket, csrf = world.login["ticket"], world.login["CSRFPreventionToken"]
    session = requests.Session()
    session.cookies.set("PVEAuthCookie", ticket)
    verify = world.pve.ca_path  # per request: REQUESTS_CA_BUNDLE would override session.verify
    # on both members (the cluster's key was saved), a read and a write with the old CSRF token
    for node in ("pve-a", "pve-b"):
        answer = session.get(world.pve.urls[node] + "/api2/json/nodes/%s/dns" % node, verify=verify, timeout=5)
        assert answer.status_code == 200, answer.reason
    answer = session.put(world.pve.urls["pve-a"] + "/api2/json/nodes/pve-b/config", data={"description": "kept"},
                         headers={"CSRFPreventionToken": csrf}, verify=verify, timeout=5)
    assert answer.status_code == 200, answer.reason
    # pve-c has its own /etc/pve: the cluster's ticket is refused there, as before the save
    answer = session.get(world.pve.urls["pve-c"] + "/api2/json/version", verify=verify, timeout=5)
    assert answer.status_code == 401


def test_api_token_and_users_survive(world):
    alice = world.pve.client("pve-a", token=("alice@pve!ci", "alice-ci-secret"))
    assert alice.version.get()["version"]
    assert {g["vmid"] for g in alice.cluster.resources.get(type="vm")} == {100, 101}
    world.pve.client("pve-b", user="alice@pve", password="alicepw").version.get()


def test_storage_secret_is_kept_but_never_returned(world):
    fs = world.pve.sim.hosts["pve-a"].fs
    assert fs.storage_secrets["smb"]["password"] == STORAGE_SECRET
    section = world.pve.client("pve-a").storage("smb").get()
    assert section["username"] == "svc" and "password" not in section
    for answer in world.before.values():
        assert STORAGE_SECRET not in json.dumps(answer)


def test_migration_snapshot_and_ha_state_read_back(world):
    a = world.pve.client("pve-a")
    resources = {r["vmid"]: r["node"] for r in a.cluster.resources.get(type="vm")}
    assert resources == {100: "pve-b", 101: "pve-a"}
    assert [s["name"] for s in a.nodes("pve-a").qemu(101).snapshot.get()] == ["before", "current"]
    assert a.cluster.ha.rules("keep-b").get()["nodes"] == "pve-a,pve-b:2"  # HA/Rules encode_value: sorted
    tasks = a.nodes("pve-a").tasks.get(typefilter="qmigrate")
    assert [(t["id"], t["status"]) for t in tasks] == [("100", "OK")]
    # new tasks get new UPIDs (the pid counter was saved)
    old_upids = {upid for h in world.old.hosts.values() for upid in h.tasks}
    upid = a.nodes("pve-a").qemu(101).snapshot.post(snapname="after")
    assert upid not in old_upids


def test_running_tasks_are_finished_before_saving(tmp_path):
    sim = cluster(time_scale=10.0)  # a migration would take minutes of real time
    upid = api(sim, "pve1", "POST", "/nodes/pve1/qemu/101/migrate", target="pve2")
    assert sim.hosts["pve1"].tasks[upid].status == "running" and sim.hosts["pve1"].fs.guests[101].lock == "migrate"
    state_file.save(sim, tmp_path / "s.json")
    loaded = state_file.load(tmp_path / "s.json")
    status = task(loaded, upid)
    assert (status["status"], status["exitstatus"]) == ("stopped", "OK")
    guest = loaded.hosts["pve1"].fs.guests[101]
    assert (guest.node, guest.lock) == ("pve2", None)
    assert loaded.time_scale == 10.0
    assert state_file.load(tmp_path / "s.json", time_scale=0).time_scale == 0


def test_rebooting_host_comes_back_after_its_remaining_time(tmp_path):
    sim = cluster(time_scale=0.01)  # a reboot takes 60 simulated s: 0.6 s
    api(sim, "pve1", "POST", "/nodes/pve3/status", command="reboot")
    assert not sim.hosts["pve3"].online
    state_file.save(sim, tmp_path / "s.json")
    loaded = state_file.load(tmp_path / "s.json")
    host = loaded.hosts["pve3"]
    assert not host.online and host.online_at - time.monotonic() <= 0.6
    time.sleep(0.7)
    loaded.tick()
    assert loaded.hosts["pve3"].online


def test_pve84_world_round_trips(tmp_path):
    sim = cluster(pve_version="8.4", ha_groups=[{"group": "fast", "nodes": "pve2:2,pve3"}],
                  ha_resources=[{"sid": "vm:100", "group": "fast"}])
    state_file.save(sim, tmp_path / "s.json")
    loaded = state_file.load(tmp_path / "s.json")
    assert loaded.pve_version == "8.4"
    for path in ("/cluster/ha/groups", "/cluster/ha/resources", "/version", "/cluster/resources"):
        assert _stable(api(loaded, "pve2", "GET", path)) == _stable(api(sim, "pve2", "GET", path)), path


def test_unreadable_state_files_give_clear_errors(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("not json")
    with pytest.raises(state_file.StateFileError, match="not a pvesim state file"):
        state_file.load(path)
    path.write_text(json.dumps({"format": "something-else", "version": 1}))
    with pytest.raises(state_file.StateFileError, match="format 'something-else', expected 'pvesim-state'"):
        state_file.load(path)
    path.write_text(json.dumps({"format": "pvesim-state", "version": 99}))
    with pytest.raises(state_file.StateFileError, match="version 99 is not supported .*reads version 1"):
        state_file.load(path)


def test_save_refuses_what_is_not_data_and_keeps_the_old_file(tmp_path):
    sim = cluster()
    path = tmp_path / "s.json"
    state_file.save(sim, path)
    good = path.read_text()
    sim.hosts["pve2"].fs.storage_sizes["handler_object"] = object()
    with pytest.raises(TypeError, match=r"handler_object: a object is not data"):
        state_file.save(sim, path)
    assert path.read_text() == good
    assert os.listdir(tmp_path) == ["s.json"]  # no temp file left behind


# --- the CLI ------------------------------------------------------------------------------------
def _session(state, hosts, node_index=0):
    creds = json.loads((state / "credentials.json").read_text())
    session = requests.Session()
    ca = str(state / "ca.pem")
    url = hosts[node_index]["url"]
    login = session.post(url + "/api2/json/access/ticket", data={"username": creds["user"],
                                                                 "password": creds["password"]}, verify=ca, timeout=5)
    login.raise_for_status()
    session.cookies.set("PVEAuthCookie", login.json()["data"]["ticket"])
    session.headers["CSRFPreventionToken"] = login.json()["data"]["CSRFPreventionToken"]
    return session, url, ca


def test_cli_saves_on_sigterm_and_loads_the_state(tmp_path):
    base = free_address_base(3)
    saved = tmp_path / "saved.json"
    first = tmp_path / "first"
    proc, hosts = start_cli(["--scenario", os.path.join(PACKAGED_SCENARIOS, "example-standalone-3.json"),
                          "--address-base", base, "--save-state", str(saved)], first)
    try:
        session, url, ca = _session(first, hosts)
        answer = session.put(url + "/api2/json/nodes/pve-a/dns", data={"search": "saved.example", "dns1": "192.0.2.53"},
                             verify=ca, timeout=5)
        assert answer.status_code == 200, answer.reason
        # the control channel saves on request too, to a path of the caller's choice
        control = json.loads((first / "control.json").read_text())["url"]
        request = urllib.request.Request(control + "/state/save", method="POST",
                                         data=json.dumps({"path": str(tmp_path / "now.json")}).encode())
        reply = json.load(urllib.request.urlopen(request, timeout=5))
        assert reply == {"ok": True, "path": str(tmp_path / "now.json")}
        assert json.loads((tmp_path / "now.json").read_text())["format"] == "pvesim-state"
        # without a path: the --save-state file
        request = urllib.request.Request(control + "/state/save", method="POST")
        assert json.load(urllib.request.urlopen(request, timeout=5))["path"] == str(saved)
    finally:
        stop_cli(proc)
    assert json.loads(saved.read_text())["version"] == 1
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]

    second = tmp_path / "second"
    proc, loaded_hosts = start_cli(["--load-state", str(saved)], second)
    try:
        assert loaded_hosts == hosts  # same nodes, addresses and fingerprints
        session, url, ca = _session(second, loaded_hosts)
        dns = session.get(url + "/api2/json/nodes/pve-a/dns", verify=ca, timeout=5).json()["data"]
        assert (dns["search"], dns["dns1"]) == ("saved.example", "192.0.2.53")
        assert "dns2" not in dns
        # started without --save-state: a save needs a path
        control = json.loads((second / "control.json").read_text())["url"]
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(urllib.request.Request(control + "/state/save", method="POST"), timeout=5)
        assert info.value.code == 400
        assert "start pvesim with --save-state" in json.load(info.value)["error"]
    finally:
        stop_cli(proc)
    assert (first / "ca.pem").read_text() == (second / "ca.pem").read_text()


def test_cli_refuses_a_bad_state_file_and_conflicting_flags(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "pvesim-state", "version": 7}))
    run = subprocess.run([sys.executable, "-m", "pvesim", "--load-state", str(bad), "--state-dir", str(tmp_path / "s")],
                         cwd=REPO, capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    assert "cannot load state: %s: pvesim state file version 7 is not supported" % bad in run.stderr
    run = subprocess.run([sys.executable, "-m", "pvesim", "--load-state", str(bad), "--port", "8007",
                          "--state-dir", str(tmp_path / "s")], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "--port cannot be used with --load-state" in run.stderr
    run = subprocess.run([sys.executable, "-m", "pvesim", "--state-dir", str(tmp_path / "s")],
                         cwd=REPO, capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "one of the arguments --scenario --load-state is required" in run.stderr
