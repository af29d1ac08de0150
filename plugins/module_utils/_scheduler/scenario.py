# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Scenario input: options with their defaults, and nodes and guests as the planner counts them."""

from __future__ import annotations

MODES = ("used", "assigned")
MEMORY_BASES = ("used", "balloon_floor", "max")
POOL_RULES = (None, "affinity", "anti-affinity")
STRATEGIES = ("auto", "joint", "memory_first", "beam")

# Every option the scheduler reads, with its default.  None for mem_limit and memory_basis
# means "depends on mode" (see normalize_options).
DEFAULTS = {
    "mode": "used",
    "mem_weight": 1.0,            # weight of memory in the objective
    "cpu_weight": 0.2,            # weight of CPU in the objective (0: memory alone)
    "mem_limit": None,            # fraction of maxmem a node may hold: 0.9 (used) / 1.0 (assigned)
    "memory_basis": None,         # what a guest claims in the capacity check: balloon_floor (used) / max (assigned)
    "threshold": 0.02,            # memory spread (fraction) under which the cluster counts as balanced
    "cpu_threshold": 0.1,         # the same for CPU (only when cpu_weight > 0)
    "min_gain": 1e-4,             # a balancing move must lower the objective by this much per unit of cost
    "move_cost": 1.0,             # cost of any migration ...
    "size_cost": 1.0,             # ... plus this times the guest's memory as a fraction of an average node
    "max_migrations": None,       # cap on the moves of one plan (None: no cap)
    "include_stopped": False,     # move (and count) stopped guests too
    "include_templates": False,   # move templates too
    "with_local_disks": False,    # guests with local disks may move (PVE's with-local-disks)
    "allow_lxc_restart": False,   # running containers may move (a restart migration)
    "pools_as": None,             # treat pools as affinity or anti-affinity groups
    "pools": None,                # the pools pools_as applies to (None: every pool)
    "rules": [],                  # extra rules, shaped like HA rules
    "maintenance": [],            # extra nodes to drain
    "ksm_shared": {},             # node -> bytes KSM shares (also the node item's ksm_shared)
    "search_passes": 3,           # local-search passes after the greedy (0: none)
    "strategy": "auto",           # joint, memory_first, beam, or auto: plan each that fits the size, keep the best plan
}


class ScenarioError(ValueError):
    """The scenario or its options cannot be planned with."""


class Node:
    """One cluster node with its capacities and the load the guests the planner counts do not explain."""

    __slots__ = ("name", "index", "online", "maintenance", "maxmem", "maxcpu", "mem", "cpu",
                 "ksm_shared", "base_mem", "base_cpu", "base_claim", "limit")

    def __init__(self, name, index):
        self.name = name
        self.index = index
        self.online = True
        self.maintenance = False
        self.maxmem = self.maxcpu = self.mem = self.cpu = self.ksm_shared = 0
        self.base_mem = self.base_cpu = self.base_claim = self.limit = 0

    @property
    def active(self):
        """A node the plan may move guests to and that counts in the balance."""
        return self.online and not self.maintenance


class Guest:
    """One VM or container: its load for the balance, its claim for the capacity check, whether it may move."""

    __slots__ = ("vmid", "kind", "name", "node", "running", "template", "maxmem", "mem", "maxcpu", "cpu",
                 "balloon", "tags", "pool", "hastate", "local_disks", "local_resources",
                 "managed", "load_mem", "load_cpu", "claim", "fixed")

    def __init__(self, item):
        self.vmid = int(item["vmid"])
        self.kind = item.get("type") or "qemu"
        self.name = item.get("name") or ""
        self.node = item.get("node")
        self.running = item.get("status") == "running"
        self.template = bool(_int(item.get("template")))
        self.maxmem = _int(item.get("maxmem"))
        self.mem = _int(item.get("mem"))
        self.maxcpu = _num(item.get("maxcpu"))
        self.cpu = _num(item.get("cpu")) * self.maxcpu      # cores in use
        balloon = item.get("balloon")
        self.balloon = None if balloon is None else _int(balloon)
        self.tags = split_tags(item.get("tags"))
        self.pool = item.get("pool") or None
        self.hastate = item.get("hastate") or None
        self.local_disks = bool(item.get("local_disks"))
        self.local_resources = bool(item.get("local_resources"))
        self.managed = False        # counted in the balance and the rules
        self.load_mem = self.load_cpu = self.claim = 0
        self.fixed = None           # why the planner may not move it (None: it may)

    @property
    def sid(self):
        """The HA resource id: vm:100 or ct:101."""
        return ("ct:%d" if self.kind == "lxc" else "vm:%d") % self.vmid


class Model:
    """A scenario read once: nodes by name, guests by vmid, options with defaults filled in."""

    def __init__(self, nodes, guests, options, ha_rules, warnings):
        self.nodes = nodes                      # list of Node, sorted by name
        self.node_index = {node.name: node.index for node in nodes}
        self.guests = guests                    # list of Guest, sorted by vmid
        self.by_vmid = {guest.vmid: guest for guest in guests}
        self.options = options
        self.ha_rules = ha_rules
        self.warnings = warnings

    def node(self, name):
        index = self.node_index.get(name)
        return None if index is None else self.nodes[index]


def _int(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return int(float(value))


def _num(value):
    return float(value or 0)


def split_tags(tags):
    """Tags as a list: PVE gives one string separated by ';' (',' and spaces are accepted too)."""
    if not tags:
        return []
    if isinstance(tags, (list, tuple)):
        return [str(tag) for tag in tags if tag]
    text = str(tags)
    for separator in (",", " "):
        text = text.replace(separator, ";")
    return [tag for tag in text.split(";") if tag]


def normalize_options(*layers):
    """The options of every layer (later wins) over the defaults, checked; mode-dependent defaults filled in."""
    options = dict(DEFAULTS)
    for layer in layers:
        for key, value in (layer or {}).items():
            if key not in DEFAULTS:
                raise ScenarioError("unknown scheduler option %r" % key)
            if value is not None or key in ("max_migrations", "pools", "pools_as"):
                options[key] = value
    if options["mode"] not in MODES:
        raise ScenarioError("mode must be one of %s, got %r" % (", ".join(MODES), options["mode"]))
    if options["memory_basis"] is None:
        options["memory_basis"] = "balloon_floor" if options["mode"] == "used" else "max"
    if options["memory_basis"] not in MEMORY_BASES:
        raise ScenarioError("memory_basis must be one of %s, got %r" % (", ".join(MEMORY_BASES), options["memory_basis"]))
    if options["mode"] == "assigned":
        options["memory_basis"] = "max"     # assigned mode counts maxmem, whatever the guest uses now
    if options["mem_limit"] is None:
        options["mem_limit"] = 0.9 if options["mode"] == "used" else 1.0
    if options["strategy"] not in STRATEGIES:
        raise ScenarioError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), options["strategy"]))
    if options["pools_as"] not in POOL_RULES:
        raise ScenarioError("pools_as must be affinity, anti-affinity or null, got %r" % options["pools_as"])
    for key in ("mem_weight", "cpu_weight", "mem_limit", "threshold", "cpu_threshold", "min_gain", "move_cost", "size_cost"):
        options[key] = float(options[key])
        if options[key] < 0:
            raise ScenarioError("%s must not be negative" % key)
    if options["mem_weight"] + options["cpu_weight"] <= 0:
        raise ScenarioError("mem_weight and cpu_weight cannot both be 0")
    if options["max_migrations"] is not None:
        options["max_migrations"] = int(options["max_migrations"])
        if options["max_migrations"] < 0:
            raise ScenarioError("max_migrations must not be negative")
    options["search_passes"] = int(options["search_passes"])
    options["maintenance"] = sorted(set(options["maintenance"] or []))
    options["rules"] = list(options["rules"] or [])
    options["ksm_shared"] = dict(options["ksm_shared"] or {})
    return options


def claim_of(guest, options):
    """The memory a guest can claim on its node, for the capacity check.

    ``used``: what it uses now.  ``balloon_floor``: a ballooned guest is guaranteed its
    balloon minimum and may take back what the balloon lent whenever the host has it, so
    plan with at least that minimum; a guest with ballooning disabled (balloon 0) owns its
    whole maxmem; unknown balloon: what it uses.  ``max``: its maxmem.  Stopped guests
    claim nothing (they run nowhere) unless counted by maxmem in assigned mode.
    """
    if options["mode"] == "assigned":
        return guest.maxmem
    if not guest.running:
        return 0
    basis = options["memory_basis"]
    if basis == "max":
        return max(guest.maxmem, guest.mem)
    if basis == "balloon_floor" and guest.balloon is not None:
        if guest.balloon == 0:
            return max(guest.maxmem, guest.mem)
        return max(guest.mem, min(guest.balloon, guest.maxmem))
    return guest.mem


def why_fixed(guest, node, options):
    """Why the planner may not move this guest, or None when it may."""
    if node is None:
        return "its node %s is not in the scenario" % guest.node
    if not node.online:
        return "its node %s is offline" % node.name
    ignore = [tag for tag in guest.tags if tag.startswith("plb_ignore")]
    if ignore:
        return "tag %s" % ignore[0]
    if guest.local_resources:
        return "local resources (passthrough devices) cannot migrate"
    if guest.local_disks and not options["with_local_disks"]:
        return "local disks (with_local_disks is off)"
    if guest.kind == "lxc" and guest.running and not options["allow_lxc_restart"]:
        return "a running container migrates only with a restart (allow_lxc_restart is off)"
    return None


def load(scenario, options=None):
    """Read a scenario (FORMAT.md shape) and options into a Model; ScenarioError when it cannot be used."""
    if not isinstance(scenario, dict):
        raise ScenarioError("a scenario is a JSON object")
    opts = normalize_options(scenario.get("options"), options)
    warnings = []
    items = scenario.get("resources") or []
    node_items = sorted((item for item in items if item.get("type") == "node"), key=lambda item: item["node"])
    nodes = []
    for item in node_items:
        if any(node.name == item["node"] for node in nodes[-1:]):
            raise ScenarioError("node %s appears twice" % item["node"])
        node = Node(item["node"], len(nodes))
        node.online = item.get("status", "online") == "online"
        node.maxmem = _int(item.get("maxmem"))
        node.maxcpu = _num(item.get("maxcpu"))
        node.mem = _int(item.get("mem"))
        node.cpu = _num(item.get("cpu")) * node.maxcpu
        node.ksm_shared = _int(opts["ksm_shared"].get(node.name, item.get("ksm_shared")))
        nodes.append(node)
    by_name = {node.name: node for node in nodes}
    for name in list(scenario.get("maintenance") or []) + opts["maintenance"]:
        if name in by_name:
            by_name[name].maintenance = True
        else:
            warnings.append("maintenance node %s is not in the scenario" % name)
    opts["maintenance"] = sorted(node.name for node in nodes if node.maintenance)

    guests = []
    seen = set()
    for item in items:
        if item.get("type") not in ("qemu", "lxc") or item.get("vmid") is None:
            continue
        guest = Guest(item)
        if guest.vmid in seen:
            raise ScenarioError("vmid %d appears twice" % guest.vmid)
        seen.add(guest.vmid)
        guests.append(guest)
    guests.sort(key=lambda guest: guest.vmid)

    assigned = opts["mode"] == "assigned"
    running_mem = {node.name: 0 for node in nodes}
    for guest in guests:
        node = by_name.get(guest.node)
        if guest.running and node is not None:
            running_mem[node.name] += guest.mem
        if guest.template:
            guest.managed = opts["include_templates"]
        else:
            guest.managed = guest.running or opts["include_stopped"]
        if node is None:
            guest.managed = False
            warnings.append("guest %d is on node %s, which is not in the scenario" % (guest.vmid, guest.node))
            continue
        if not guest.managed:
            continue
        if assigned:
            guest.load_mem, guest.load_cpu = guest.maxmem, guest.maxcpu
        else:
            guest.load_mem, guest.load_cpu = (guest.mem, guest.cpu) if guest.running else (0, 0.0)
        guest.claim = claim_of(guest, opts)
        guest.fixed = why_fixed(guest, node, opts)

    # What the managed guests do not explain: host overhead (and, in used mode, what KSM
    # saves).  The balance starts from the node's own numbers; the capacity check adds back
    # what KSM shares, because a guest that moves may find no twin pages on its target.
    managed_mem = {node.name: 0 for node in nodes}
    managed_cpu = {node.name: 0.0 for node in nodes}
    for guest in guests:
        if guest.managed:
            managed_mem[guest.node] += guest.load_mem
            managed_cpu[guest.node] += guest.load_cpu
    for node in nodes:
        if assigned:
            node.base_mem, node.base_cpu, node.base_claim = 0, 0.0, 0
        else:
            node.base_mem = node.mem - managed_mem[node.name]
            node.base_cpu = node.cpu - managed_cpu[node.name]
            node.base_claim = max(0, node.mem + node.ksm_shared - running_mem[node.name])
        node.limit = int(node.maxmem * opts["mem_limit"])
    return Model(nodes, guests, opts, list(scenario.get("ha_rules") or []), warnings)
