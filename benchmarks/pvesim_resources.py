#!/usr/bin/env python3
"""pvesim's answer times for GET /cluster/resources at the sizes the balancer and the inventory meet.

Each size is a generated cluster (benchmarks/scenario_families.py, variant base) served over HTTPS;
the call is made through proxmoxer, unfiltered and with type=vm, a few times, and the best time is
printed. The target: the unfiltered call under 0.5 s at 100 nodes / 10,000 guests.

    .venv/bin/python benchmarks/pvesim_resources.py [--sizes 3x30,8x300,32x3000,100x10000] [--repeat 3]
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

from pvesim.testing import running  # noqa: E402  (the repository goes on sys.path first)
from scenario_families import SIZES, family  # noqa: E402

TARGET_SECONDS = 0.5


def best_time(call, repeat):
    times = []
    for _round in range(repeat):
        started = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - started)
    return min(times), len(answer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| nodes x guests | items | unfiltered | type=vm |")
    print("|---|---|---|---|")
    worst = 0.0
    for size in args.sizes.split(","):
        scenario = dict(family(size, "base"), cluster_name="bench")
        with running(scenario) as pve:
            api = pve.client()
            unfiltered, items = best_time(lambda: api.cluster.resources.get(), args.repeat)
            vms, _count = best_time(lambda: api.cluster.resources.get(type="vm"), args.repeat)
        print("| %s | %d | %.3f s | %.3f s |" % (size, items, unfiltered, vms))
        if size == "100x10000":
            worst = unfiltered
    if worst:
        print("\n100 x 10,000 unfiltered: %.3f s (target under %.1f s): %s"
              % (worst, TARGET_SECONDS, "met" if worst < TARGET_SECONDS else "NOT met"))


if __name__ == "__main__":
    main()
