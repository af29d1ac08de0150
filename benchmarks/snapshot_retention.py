#!/usr/bin/env python3
"""Snapshot retention across many guests: ``parallel: 8`` against ``parallel: 1``.

A three-node cluster of 200 guests (QEMU and LXC), each with five ``auto-`` snapshots a day
apart, served by pvesim with task durations scaled from its simulated ones (a snapshot or its
removal takes one simulated second: ``--time-scale 0.1`` makes that 100 ms). One
``proxops.proxmox.snapshot`` task, run by real ``ansible-playbook``, takes a new snapshot on
every guest and keeps the newest three: 200 creates and 600 removals, each a PVE task waited
for. The same world is served fresh for each ``parallel`` value; pvesim counts the requests.

    .venv/bin/python benchmarks/snapshot_retention.py [--guests 200] [--time-scale 0.1] [--json FILE]

Prints the wall time and the requests of each run, and fails unless ``parallel: 8`` is at least
4 times faster than ``parallel: 1``.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pvesim.testing import running  # noqa: E402  (the repo root goes on sys.path first)

COLLECTIONS = REPO / ".state" / "collections"
GIB = 1024 ** 3
DAY = 86400
NODES = ("pve1", "pve2", "pve3")
RETENTION = {"all": True, "prefix": "auto-", "create": True, "keep_last": 3}


def build_scenario(guests, snapshots_each, now):
    """The cluster: 3 nodes, ``guests`` guests (every fourth a container), ``snapshots_each`` snapshots a day apart."""
    resources = [{"type": "node", "node": node, "status": "online", "maxcpu": 64, "maxmem": 512 * GIB, "mem": 64 * GIB,
                  "cpu": 0.1, "maxdisk": 200 * GIB, "disk": 20 * GIB} for node in NODES]
    snapshots = {}
    for index in range(guests):
        vmid = 1000 + index
        resources.append({"type": "lxc" if index % 4 == 3 else "qemu", "vmid": vmid, "name": "guest%d" % vmid,
                          "node": NODES[index % len(NODES)], "status": "running", "maxcpu": 2, "cpu": 0.02,
                          "maxmem": 4 * GIB, "mem": 2 * GIB, "maxdisk": 32 * GIB, "disk": 8 * GIB})
        snapshots[str(vmid)] = [{"name": "auto-%d" % day, "snaptime": now - (snapshots_each - day) * DAY}
                                for day in range(snapshots_each)]
    return {"name": "snapshot retention benchmark", "cluster_name": "bench", "resources": resources,
            "snapshots": snapshots}


def by_template(by_route):
    """pvesim counts a path it has no route for as it came (the feature check): fold those into templates."""
    folded = {}
    for route, count in by_route.items():
        route = re.sub(r"^(\w+ /nodes/)[^/]+/(qemu|lxc)/\d+/", r"\1{node}/\2/{vmid}/", route)
        folded[route] = folded.get(route, 0) + count
    return folded


def run_once(data, parallel, time_scale, workdir):
    """Serve ``data``, run the retention task once with ``parallel``; (seconds, request stats, module result)."""
    with running(data, time_scale=time_scale) as pve:
        host = pve.sim.hosts[NODES[0]]
        task = dict(RETENTION, api_host=host.address, api_port=host.port, api_password=pve.password,
                    ca_path=pve.ca_path, parallel=parallel)
        playbook = Path(workdir) / ("retention-%d.yml" % parallel)
        playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "retention", "proxops.proxmox.snapshot": task, "register": "outcome"},
            {"name": "result", "ansible.builtin.copy": {
                "content": "{{ outcome | to_json }}", "dest": str(Path(workdir) / ("result-%d.json" % parallel))}},
        ]}]))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_HOME=str(Path(workdir) / "ansible-home"))
        pve.sim.stats.reset()
        started = time.monotonic()
        proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                               str(playbook)], env=env, capture_output=True, text=True, timeout=3600, check=False)
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit("parallel %d failed:\n%s" % (parallel, (proc.stdout + proc.stderr)[-3000:]))
        stats = pve.sim.stats.snapshot()
        result = json.loads((Path(workdir) / ("result-%d.json" % parallel)).read_text())
    return seconds, stats, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=200)
    parser.add_argument("--snapshots", type=int, default=5, help="auto- snapshots per guest before the run")
    parser.add_argument("--time-scale", type=float, default=0.1,
                        help="real seconds per simulated second of a task (pvesim: a snapshot takes 1)")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()

    data = build_scenario(args.guests, args.snapshots, int(time.time()))
    report = {"guests": args.guests, "snapshots_each": args.snapshots, "time_scale": args.time_scale, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="snapshot-bench-") as workdir:
        for parallel in (8, 1):
            seconds, stats, result = run_once(data, parallel, args.time_scale, workdir)
            tasks = len(result["created"]) + len(result["deleted"])
            report["runs"][parallel] = {
                "seconds": round(seconds, 2), "tasks": tasks, "created": len(result["created"]),
                "deleted": len(result["deleted"]), "requests": stats["total"], "errors": stats["errors"],
                "by_route": by_template(stats["by_route"]),
            }
    fast, slow = report["runs"][8], report["runs"][1]
    report["speedup"] = round(slow["seconds"] / fast["seconds"], 2)

    print("snapshot retention: %d guests x %d snapshots, keep_last 3 + a new one, time_scale %s"
          % (args.guests, args.snapshots, args.time_scale))
    print("%-12s %9s %7s %9s %8s" % ("parallel", "seconds", "tasks", "requests", "errors"))
    for parallel in (8, 1):
        run = report["runs"][parallel]
        print("%-12s %9.2f %7d %9d %8d" % (parallel, run["seconds"], run["tasks"], run["requests"], run["errors"]))
    print("speedup: %.2fx" % report["speedup"])
    print("requests of the parallel 8 run by route:")
    for route, count in sorted(fast["by_route"].items(), key=lambda pair: -pair[1]):
        print("  %6d  %s" % (count, route))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, sort_keys=True))
    if report["speedup"] < 4:
        raise SystemExit("parallel 8 is only %.2fx faster than parallel 1 (want 4x or more)" % report["speedup"])


if __name__ == "__main__":
    main()
