#!/usr/bin/env python3
"""Requests per task: how many API calls each module makes, counted by pvesim.

Every case is one Ansible task, run through real ``ansible-playbook`` three times against
the same simulator: in check mode, for real (it changes something), and again (nothing
left to change).  pvesim counts the requests of each run per route.

    .venv/bin/python benchmarks/requests_per_task.py [--json FILE]

Prints a table; ``--json`` also writes the per-route counts.  ``make bench`` runs it.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pvesim.testing import running  # noqa: E402  (the repo root goes on sys.path first)

COLLECTIONS = REPO / ".state" / "collections"

# (name, module, options); "{a}", "{b}" stand for the API addresses of pve-a and pve-b,
# "{password}" for root's password, "{fingerprint}" for pve-a's certificate fingerprint.
CASES = [
    ("create a cluster", "cluster", {"api_host": "{a}", "cluster_name": "bench"}),
    ("read join information", "cluster_join_info", {"api_host": "{a}"}),
    ("join a host", "cluster", {"api_host": "{b}", "cluster_name": "bench",
                                "join": {"master_host": "{a}", "fingerprint": "{fingerprint}", "password": "{password}"}}),
    ("node: DNS and time zone", "node", {"api_host": "{a}", "node": "pve-b", "timezone": "Europe/Vienna",
                                         "dns": {"search": "bench.example", "servers": ["192.0.2.53"]}}),
    ("node: /etc/hosts entry", "node", {"api_host": "{a}", "node": "pve-a",
                                        "hosts": [{"address": "192.0.2.10", "names": ["backup.bench.example", "backup"]}]}),
    ("node: notes and Wake-on-LAN MAC", "node", {"api_host": "{a}", "node": "pve-b", "description": "rack 4",
                                                 "wakeonlan": "aa:bb:cc:dd:ee:01"}),
    ("storage: NFS share (target: login + 1 read)", "storage",
     {"api_host": "{a}", "name": "bench-nfs", "type": "nfs", "server": "192.0.2.50", "export": "/srv/bench",
      "content": ["backup", "iso"], "nodes": ["pve-a", "pve-b"], "prune_backups": {"keep_daily": 7}}),
    ("storage: PBS with its password", "storage",
     {"api_host": "{a}", "name": "bench-pbs", "type": "pbs", "server": "192.0.2.60", "datastore": "store",
      "username": "backup@pbs", "password": "{password}"}),
]
RUNS = (("check mode", ["--check"]), ("change", []), ("no change", []))


def fill(value, names):
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {key: fill(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, names) for item in value]
    return value


def playbook(module, options, pve):
    return [{
        "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/proxops.proxmox.proxmox": {
            "api_port": next(iter(pve.sim.hosts.values())).port, "api_password": pve.password, "ca_path": pve.ca_path}},
        "tasks": [{"name": "bench", "proxops.proxmox." + module: options}],
    }]


def run_case(pve, workdir, name, module, options):
    hosts = pve.sim.hosts
    names = {"a": hosts["pve-a"].address, "b": hosts["pve-b"].address, "password": pve.password,
             "fingerprint": hosts["pve-a"].fingerprint}
    path = Path(workdir) / ("%s.json" % module)
    path.write_text(json.dumps(playbook(module, fill(options, names), pve)), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    row = {"case": name, "module": module}
    for label, flags in RUNS:
        pve.sim.stats.reset()
        done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(path)] + flags,
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit("%s (%s) failed:\n%s" % (name, label, done.stdout[-2000:] + done.stderr[-2000:]))
        snapshot = pve.sim.stats.snapshot()
        logins = snapshot["by_route"].get("POST /access/ticket", 0)
        row[label] = {"total": snapshot["total"], "logins": logins, "by_route": snapshot["by_route"]}
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the per-route counts to this file")
    args = parser.parse_args()
    link = COLLECTIONS / "ansible_collections" / "proxops" / "proxmox"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO)
    rows = []
    with running("example-standalone-3.json") as pve, tempfile.TemporaryDirectory() as workdir:
        for name, module, options in CASES:
            rows.append(run_case(pve, workdir, name, module, options))
    print("API requests per task (login + calls), counted by pvesim\n")
    print("| case | module | check mode | change | no change |")
    print("|---|---|---|---|---|")
    for row in rows:
        cells = ["%d + %d" % (row[label]["logins"], row[label]["total"] - row[label]["logins"]) for label, _ in RUNS]
        print("| %s | %s | %s |" % (row["case"], row["module"], " | ".join(cells)))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
