#!/usr/bin/env python3
"""A ProxLB-style greedy balancer, as the yardstick for the scheduler library.

What it does, from a one-paragraph description (no ProxLB code): first every running guest
on a maintenance node goes to the least-loaded node where it fits; then, one guest at a
time, a guest leaves the busiest node (by memory utilisation) for the least-loaded one.
The guest is the one whose memory comes closest to evening out the two nodes; the only
check is that it fits the target's memory (the same limit as the scheduler's: 90 % of
maxmem in ``used`` mode, 100 % in ``assigned``).  It stops when the memory spread is below
the threshold, or when no guest fits or helps.  Guests tagged ``plb_ignore_*`` and guests
on offline nodes are left alone; no other rule is looked at.

    .venv/bin/python benchmarks/greedy_baseline.py SCENARIO.json [--mode used|assigned] [--threshold 0.02]

prints the moves as JSON ({vmid, target, wave}; one move per wave, in order).
"""

import argparse
import json


def greedy_plan(scenario, mode="used", threshold=0.02, mem_limit=None, max_moves=10000):
    """Moves [{vmid, source, target, wave}] for a scenario dict."""
    limit = mem_limit if mem_limit is not None else (0.9 if mode == "used" else 1.0)
    nodes = {}
    maintenance = set(scenario.get("maintenance") or []) | set((scenario.get("options") or {}).get("maintenance") or [])
    for item in scenario.get("resources") or []:
        if item.get("type") == "node":
            nodes[item["node"]] = {"maxmem": item.get("maxmem") or 1, "online": item.get("status") == "online",
                                   "load": (item.get("mem") or 0) if mode == "used" else 0, "guests": []}
    for item in scenario.get("resources") or []:
        if item.get("type") not in ("qemu", "lxc") or item.get("status") != "running" or item.get("template"):
            continue
        node = nodes.get(item.get("node"))
        if node is None or not node["online"]:
            continue
        size = (item.get("mem") or 0) if mode == "used" else (item.get("maxmem") or 0)
        if mode == "assigned":
            node["load"] += size
        ignored = any(tag.startswith("plb_ignore") for tag in (item.get("tags") or "").split(";"))
        if not ignored:
            node["guests"].append((size, int(item["vmid"])))
    active = sorted(name for name, node in nodes.items() if node["online"] and name not in maintenance)
    if not active:
        return []
    moves = []

    def util(name):
        return nodes[name]["load"] / nodes[name]["maxmem"]

    def fits(name, size):
        return nodes[name]["load"] + size <= limit * nodes[name]["maxmem"]

    def move(size, vmid, source, target):
        nodes[source]["guests"].remove((size, vmid))
        nodes[source]["load"] -= size
        nodes[target]["load"] += size
        moves.append({"vmid": vmid, "source": source, "target": target, "wave": len(moves) + 1})

    # Drain: largest guests first, each to the least-loaded node that holds it.
    for source in sorted(maintenance & set(nodes)):
        for size, vmid in sorted(nodes[source]["guests"], reverse=True):
            target = next((name for name in sorted(active, key=lambda name: (util(name), name)) if fits(name, size)), None)
            if target is not None:
                move(size, vmid, source, target)

    moved = {move_["vmid"] for move_ in moves}
    while len(moves) < max_moves:
        busiest = max(active, key=lambda name: (util(name), name))
        idlest = min(active, key=lambda name: (util(name), name))
        gap = util(busiest) - util(idlest)
        if gap < threshold:
            break
        # The size that evens the two out: busiest - m/C_b = idlest + m/C_i.
        ideal = gap / (1 / nodes[busiest]["maxmem"] + 1 / nodes[idlest]["maxmem"])
        choices = [(abs(size - ideal), size, vmid) for size, vmid in nodes[busiest]["guests"]
                   if vmid not in moved and 0 < size < 2 * ideal and fits(idlest, size)]
        if not choices:
            break
        _distance, size, vmid = min(choices)
        move(size, vmid, busiest, idlest)
        moved.add(vmid)
    return moves


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("--mode", choices=("used", "assigned"), default="used")
    parser.add_argument("--threshold", type=float, default=0.02)
    args = parser.parse_args()
    with open(args.scenario, encoding="utf-8") as handle:
        scenario = json.load(handle)
    print(json.dumps(greedy_plan(scenario, args.mode, args.threshold), indent=1))


if __name__ == "__main__":
    main()
