#!/usr/bin/env python3
"""`make demo`: start pvesim with three standalone hosts, run demo/site.yml (cluster, nodes, storage, snapshots), show what it did."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".state" / "demo"
ADDRESS_BASE = os.environ.get("PVESIM_ADDRESS_BASE", "127.0.80.2")


def start_pvesim():
    for name in ("hosts.json", "credentials.json", "ca.pem"):
        (STATE / name).unlink(missing_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    log = open(STATE / "pvesim.log", "w", encoding="utf-8")  # pylint: disable=consider-using-with
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "pvesim", "--scenario", str(REPO / "demo" / "scenario.json"),
         "--state-dir", str(STATE), "--address-base", ADDRESS_BASE, "--time-scale", "0.02"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (STATE / "hosts.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit("pvesim did not start; see %s" % (STATE / "pvesim.log"))
        time.sleep(0.1)
    return process


class Api:
    """A few reads straight from the API, to show the result independently of the modules."""

    def __init__(self, url, user, password, ca):
        self.url, self.ca = url + "/api2/json", ca
        answer = requests.post(self.url + "/access/ticket", data={"username": user, "password": password},
                               verify=ca, timeout=10)
        answer.raise_for_status()
        self.cookies = {"PVEAuthCookie": answer.json()["data"]["ticket"]}

    def get(self, path):
        answer = requests.get(self.url + path, cookies=self.cookies, verify=self.ca, timeout=10)
        answer.raise_for_status()
        return answer.json()["data"]


def show(hosts, credentials):
    api = Api(hosts[0]["url"], credentials["user"], credentials["password"], str(STATE / "ca.pem"))
    status = api.get("/cluster/status")
    cluster = next(item for item in status if item["type"] == "cluster")
    print("\n=== What the API says now (read through %s) ===" % hosts[0]["url"])
    print("cluster %s: %d nodes, %s" % (cluster["name"], cluster["nodes"], "quorate" if cluster["quorate"] else "NOT quorate"))
    for item in sorted((i for i in status if i["type"] == "node"), key=lambda i: i["nodeid"]):
        dns = api.get("/nodes/%s/dns" % item["name"])
        zone = api.get("/nodes/%s/time" % item["name"])["timezone"]
        cpu = api.get("/nodes/%s/status" % item["name"])["cpuinfo"]["model"]
        print("  node %-5s id %s %-7s %-15s dns %s (%s)  tz %s  cpu %s" % (
            item["name"], item["nodeid"], "online" if item["online"] else "offline", item["ip"],
            ", ".join(dns.get(k) for k in ("dns1", "dns2", "dns3") if dns.get(k)), dns.get("search"), zone, cpu))
    for storage in api.get("/storage"):
        print("  storage %-12s %-8s content %s" % (storage["storage"], storage["type"], storage.get("content", "")))
    for guest in api.get("/cluster/resources?type=vm"):
        print("  guest %s %-10s on %s (%s)" % (guest["vmid"], guest["name"], guest["node"], guest["status"]))


def show_requests(before):
    """Requests per route during the playbook run, from pvesim's control channel."""
    stats = control_get("/stats")
    print("\n=== API requests the playbook made (counted by pvesim) ===")
    rows = {route: n - before.get(route, 0) for route, n in stats["by_route"].items()}
    for route, count in sorted(rows.items(), key=lambda item: (-item[1], item[0])):
        if count:
            print("  %4d  %s" % (count, route))
    print("  %4d  in all" % sum(rows.values()))


def control_get(path):
    control = json.loads((STATE / "control.json").read_text(encoding="utf-8"))
    return requests.get(control["url"] + path, timeout=10).json()


def main():
    process = start_pvesim()
    try:
        hosts = json.loads((STATE / "hosts.json").read_text(encoding="utf-8"))
        credentials = json.loads((STATE / "credentials.json").read_text(encoding="utf-8"))
        print("pvesim is serving three standalone hosts:")
        for host in hosts:
            print("  %-5s %s  fingerprint %s..." % (host["node"], host["url"], host["fingerprint"][:23]))
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "demo/site.yml",
                   "-e", "pvesim_state_dir=%s" % STATE, "--diff"]
        print("\n$ " + " ".join(command), flush=True)
        before = control_get("/stats")["by_route"]
        result = subprocess.run(command, cwd=REPO, env=env, check=False)
        if result.returncode != 0:
            sys.exit("the demo playbook failed (exit %d)" % result.returncode)
        show_requests(before)
        show(hosts, credentials)
        print("\npvesim state, CA and logs: %s" % STATE)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
