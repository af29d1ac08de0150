#!/usr/bin/env python3
"""Seeded generator of balancing scenarios in the shape of shared/scenarios/FORMAT.md.

Sizes (nodes x guests): 3x30, 8x300, 32x3000, 100x10000.  Variants:

- ``base``: equal nodes, a random moderate imbalance;
- ``mixed``: nodes of different sizes (memory and cores);
- ``skewed``: a quarter of the nodes carry most of the load;
- ``rules``: ProxLB tags (affinity, anti-affinity, pins, ignore), PVE 9 HA rules (node
  affinity strict and not, resource affinity positive and negative), guests with local
  disks; some rules are broken to begin with;
- ``drain``: nodes in maintenance (and, from 8 nodes up, an offline node with guests);
  a few anti-affinity pairs and pins the drain has to respect;
- ``tight``: high memory use, ballooned guests and KSM, so that the order of the moves
  matters for the memory limit.

    .venv/bin/python benchmarks/scenario_families.py OUTDIR [--sizes 3x30,8x300] [--variants base,rules] [--seed 1]

writes one JSON file per family; ``families()`` yields (name, scenario dict) for other scripts.
"""

import argparse
import json
import os
import random

GIB = 2 ** 30
SIZES = {"3x30": (3, 30), "8x300": (8, 300), "32x3000": (32, 3000), "100x10000": (100, 10000)}
VARIANTS = ("base", "mixed", "skewed", "rules", "drain", "tight")

MAXMEM_GIB = (1, 2, 4, 8, 16, 32)
MAXMEM_WEIGHTS = (15, 25, 25, 20, 10, 5)
VCPUS = (1, 2, 4, 8)
VCPU_WEIGHTS = (30, 35, 25, 10)
POOLS = (None, None, "prod", "dev", "test")


def _node_shapes(rng, count, guests, variant):
    """(maxmem, maxcpu) per node: sized so that the guests' maxmem fills about 60 % (80 % when tight)."""
    mean_maxmem = sum(m * w for m, w in zip(MAXMEM_GIB, MAXMEM_WEIGHTS)) / sum(MAXMEM_WEIGHTS) * GIB
    fill = 0.8 if variant == "tight" else 0.6
    unit = 64 * GIB
    base_mem = max(unit, round(guests / count * mean_maxmem / fill / unit) * unit)
    base_cpu = max(16, 8 * round(guests / count * 2.4 / 2 / 8))  # about 2:1 vCPU overcommit
    shapes = []
    for _index in range(count):
        factor = rng.choice((0.5, 1, 1, 2)) if variant == "mixed" else 1
        shapes.append((int(base_mem * factor), int(base_cpu * factor)))
    if variant == "mixed":   # the same total capacity as equal nodes, whatever the draw
        scale = count * base_mem / sum(mem for mem, _cpu in shapes)
        shapes = [(int(mem * scale) // GIB * GIB, max(8, int(cpu * scale))) for mem, cpu in shapes]
    return shapes


def _guest(rng, vmid, variant):
    maxmem = rng.choices(MAXMEM_GIB, MAXMEM_WEIGHTS)[0] * GIB
    kind = "lxc" if rng.random() < 0.2 else "qemu"
    roll = rng.random()
    template = kind == "qemu" and roll < 0.02
    running = not template and roll > 0.08
    used = rng.uniform(0.55, 0.95) if variant == "tight" else rng.uniform(0.35, 0.95)
    guest = {
        "type": kind, "id": "%s/%d" % (kind, vmid), "vmid": vmid, "name": "%s%d" % ("ct" if kind == "lxc" else "vm", vmid),
        "status": "running" if running else "stopped", "maxcpu": rng.choices(VCPUS, VCPU_WEIGHTS)[0],
        "cpu": round(rng.betavariate(1.2, 5), 4) if running else 0.0, "maxmem": maxmem,
        "mem": int(maxmem * used) if running else 0, "maxdisk": rng.choice((8, 32, 64, 128)) * GIB, "disk": 0,
    }
    if template:
        guest["template"] = 1
    pool = rng.choice(POOLS)
    if pool:
        guest["pool"] = pool
    if variant == "tight" and kind == "qemu" and running and rng.random() < 0.3:
        guest["balloon"] = int(maxmem * rng.uniform(0.5, 0.9))   # the floor the module reads from the config
    return guest


def _place(rng, guests, shapes, variant, hosts):
    """Spread guests over ``hosts`` (node indexes) with random weights, within 98 % (maxmem) and 85 % (mem)."""
    count = len(shapes)
    if variant == "skewed":
        hot = set(rng.sample(hosts, max(1, len(hosts) // 4)))
        weights = {i: (4.0 if i in hot else 1.0) for i in hosts}
    else:
        weights = {i: rng.uniform(0.6, 1.4) * shapes[i][0] for i in hosts}
    assigned = [0] * count
    used = [0] * count
    limit_assigned = 0.98 if variant != "tight" else 1.0
    for guest in guests:
        choice = rng.choices(hosts, [weights[i] for i in hosts])[0]
        order = [choice] + sorted(hosts, key=lambda i: assigned[i] / shapes[i][0])
        for i in order:
            if assigned[i] + guest["maxmem"] <= limit_assigned * shapes[i][0] and used[i] + guest["mem"] <= 0.85 * shapes[i][0]:
                break
        else:
            i = min(hosts, key=lambda i: assigned[i] / shapes[i][0])
        guest["node"] = "pve%02d" % (i + 1)
        if guest["status"] == "running":
            assigned[i] += guest["maxmem"]
            used[i] += guest["mem"]


def _running(guests, rng, count, exclude):
    pool = [g for g in guests if g["status"] == "running" and g["vmid"] not in exclude]
    chosen = rng.sample(pool, min(count, len(pool)))
    exclude.update(g["vmid"] for g in chosen)
    return chosen


def _tag(guest, tag):
    guest["tags"] = ";".join(filter(None, [guest.get("tags"), tag]))


def _add_rules(rng, guests, node_names, heavy):
    """Tags and HA rules over disjoint guests; some groups start split or together, to be fixed."""
    taken = set()
    total = len(guests)
    rules = []
    nodes = len(node_names)
    for number in range(max(1, total // (40 if heavy else 100))):
        group = _running(guests, rng, min(nodes, rng.choice((2, 2, 3))), taken)
        for guest in group:
            _tag(guest, "plb_anti_affinity_aa%d" % number)
        if len(group) > 1 and rng.random() < 0.5:          # start together: a violation to fix
            for guest in group[1:]:
                guest["node"] = group[0]["node"]
    if not heavy:
        for guest in _running(guests, rng, max(1, total // 100), taken):
            _tag(guest, "plb_pin_%s" % rng.choice(node_names))
        return rules
    for number in range(max(1, total // 40)):
        group = _running(guests, rng, rng.choice((2, 3)), taken)
        for guest in group:
            _tag(guest, "plb_affinity_af%d" % number)
    for guest in _running(guests, rng, max(1, total // 50), taken):
        for name in rng.sample(node_names, rng.choice((1, 2))):
            _tag(guest, "plb_pin_%s" % name)
    for guest in _running(guests, rng, max(1, total // 50), taken):
        _tag(guest, "plb_ignore_backup")
    for guest in _running(guests, rng, max(1, total // 30), taken):
        guest["local_disks"] = True
    ha_id = 0
    for _number in range(max(1, total // 60)):
        ha_id += 1
        group = _running(guests, rng, rng.choice((1, 2)), taken)
        chosen = rng.sample(node_names, min(len(node_names), rng.choice((1, 2, 3))))
        spec = ",".join("%s:%d" % (name, rng.choice((1, 2))) if rng.random() < 0.6 else name for name in chosen)
        rules.append({"rule": "ha-rule-%d" % ha_id, "type": "node-affinity", "order": ha_id, "strict": rng.choice((0, 1)),
                      "resources": ",".join(_sid(g) for g in group), "nodes": spec})
    for _number in range(max(1, total // 60)):
        ha_id += 1
        group = _running(guests, rng, 2, taken)
        rules.append({"rule": "ha-rule-%d" % ha_id, "type": "resource-affinity", "order": ha_id,
                      "affinity": rng.choice(("positive", "negative")), "resources": ",".join(_sid(g) for g in group)})
    for rule in rules:
        for guest in guests:
            if _sid(guest) in rule["resources"].split(","):
                guest["hastate"] = "started"
    return rules


def _sid(guest):
    return ("ct:%d" if guest["type"] == "lxc" else "vm:%d") % guest["vmid"]


def family(size, variant, seed=1):
    """One scenario dict: ``size`` a key of SIZES, ``variant`` one of VARIANTS."""
    count, total = SIZES[size]
    rng = random.Random("%s-%s-%s" % (seed, size, variant))
    shapes = _node_shapes(rng, count, total, variant)
    names = ["pve%02d" % (i + 1) for i in range(count)]
    guests = [_guest(rng, 100 + number, variant) for number in range(total)]
    maintenance, offline = [], []
    if variant == "drain":
        maintenance = names[-{3: 1, 8: 1, 32: 2, 100: 5}.get(count, 1):]
        offline = [names[0]] if count >= 8 else []
    hosts = list(range(count))
    _place(rng, guests, shapes, variant, hosts)
    ha_rules = []
    if variant in ("rules", "drain"):
        usable = [name for name in names if name not in maintenance and name not in offline]
        ha_rules = _add_rules(rng, [g for g in guests if g["node"] not in offline], usable, variant == "rules")
    resources = []
    for i, name in enumerate(names):
        on = [g for g in guests if g["node"] == name and g["status"] == "running"]
        maxmem, maxcpu = shapes[i]
        mem = int(maxmem * 0.02) + 2 * GIB + sum(g["mem"] for g in on)
        cpu = (sum(g["cpu"] * g["maxcpu"] for g in on) + 0.3 + 0.01 * maxcpu) / maxcpu
        node = {"type": "node", "id": "node/" + name, "node": name, "status": "online", "maxcpu": maxcpu,
                "cpu": round(min(cpu, 1.0), 4), "maxmem": maxmem, "mem": mem, "maxdisk": 100 * GIB, "disk": 10 * GIB, "level": ""}
        if variant == "tight":
            node["ksm_shared"] = int(maxmem * rng.uniform(0.0, 0.04))
            node["mem"] -= node["ksm_shared"]
        if name in offline:
            node.update(status="offline", cpu=0, mem=0)
        resources.append(node)
    resources.extend(guests)
    return {
        "name": "%s-%s" % (size, variant),
        "cluster_name": "bench",
        "resources": resources,
        "ha_rules": ha_rules,
        "maintenance": maintenance,
        "options": {"allow_lxc_restart": True},
    }


def families(sizes=None, variants=None, seed=1):
    """Yield (name, scenario) for every size x variant asked (all by default)."""
    for size in sizes or SIZES:
        for variant in variants or VARIANTS:
            yield "%s-%s" % (size, variant), family(size, variant, seed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    for name, scenario in families(args.sizes.split(","), args.variants.split(","), args.seed):
        path = os.path.join(args.outdir, name + ".json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(scenario, handle)
        print(path)


if __name__ == "__main__":
    main()
