#!/usr/bin/env python3
"""The inventory plugin over many clusters: 20 pvesim clusters x 1,000 guests in one *.pve.yml source.

Starts the clusters (each its own simulator on its own loopback addresses), writes the source, runs
``ansible-inventory --list`` and prints the time and the requests each cluster got (the plugin reads
the clusters in parallel, one /cluster/resources read each).

    .venv/bin/python benchmarks/inventory.py [--clusters 20] [--guests 1000] [--nodes 4] [--workers 8]
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pvesim.testing import running  # noqa: E402  (the repository goes on sys.path first)

GIB = 2 ** 30


def cluster(index, nodes, guests):
    """A cluster scenario: ``nodes`` equal nodes, ``guests`` small guests spread over them."""
    resources = [{"type": "node", "node": "c%02d-n%d" % (index, n), "status": "online", "maxcpu": 64, "cpu": 0.2,
                  "maxmem": 512 * GIB, "mem": 64 * GIB, "maxdisk": 1024 * GIB, "disk": 100 * GIB} for n in range(nodes)]
    for number in range(guests):
        resources.append({"type": "qemu" if number % 5 else "lxc", "vmid": 100 + number, "name": "c%02d-g%04d" % (index, number),
                          "node": "c%02d-n%d" % (index, number % nodes), "status": "running" if number % 7 else "stopped",
                          "maxcpu": 2, "cpu": 0.1, "maxmem": 2 * GIB, "mem": GIB, "maxdisk": 32 * GIB, "disk": 8 * GIB,
                          "tags": "bench;team%d" % (number % 4), "pool": "pool%d" % (number % 3)})
    return {"name": "inventory-bench-%d" % index, "cluster_name": "c%02d" % index, "resources": resources}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--guests", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    link = REPO / ".state" / "collections" / "ansible_collections" / "proxops" / "proxmox"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as workdir:
        started = time.perf_counter()
        sims = [stack.enter_context(running(cluster(index, args.nodes, args.guests))) for index in range(args.clusters)]
        print("%d clusters of %d nodes and %d guests started in %.1f s"
              % (args.clusters, args.nodes, args.guests, time.perf_counter() - started))
        bundle = Path(workdir) / "ca.pem"
        bundle.write_text("".join(Path(pve.ca_path).read_text() for pve in sims))
        source = {"plugin": "proxops.proxmox.pve", "ca_path": str(bundle), "max_workers": args.workers,
                  "clusters": [{"name": "c%02d" % index, "api_host": next(iter(pve.sim.hosts.values())).address,
                                "api_port": next(iter(pve.sim.hosts.values())).port, "api_password": pve.password}
                               for index, pve in enumerate(sims)]}
        path = Path(workdir) / "bench.pve.yml"
        path.write_text(json.dumps(source))
        for pve in sims:
            pve.sim.stats.reset()
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".state" / "collections"),
                   ANSIBLE_INVENTORY_ENABLED="proxops.proxmox.pve", ANSIBLE_HOME=str(Path(workdir) / "home"))
        started = time.perf_counter()
        done = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(path), "--list"],
                              env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(done.stderr[-3000:])
        hosts = len(json.loads(done.stdout)["_meta"]["hostvars"])
        requests = [pve.sim.stats.snapshot()["by_route"] for pve in sims]
    per_cluster = {json.dumps(routes, sort_keys=True) for routes in requests}
    print("ansible-inventory --list: %d hosts from %d clusters in %.2f s (whole command, %d clusters read at once)"
          % (hosts, args.clusters, elapsed, args.workers))
    print("requests per cluster: %s" % " | ".join(sorted(per_cluster)))


if __name__ == "__main__":
    main()
