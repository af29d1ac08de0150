# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Placement rules: ProxLB tags, PVE 9 HA rules, pools and option rules as units, allowed nodes and anti-affinity groups."""

from __future__ import annotations

AFFINITY_TAG = "plb_affinity_"
ANTI_AFFINITY_TAG = "plb_anti_affinity_"
PIN_TAG = "plb_pin_"


def parse_resources(resources):
    """vmids of an HA rule's ``resources``: "vm:100,ct:101" (or a list of such ids or of plain vmids)."""
    if resources is None:
        return []
    if isinstance(resources, str):
        resources = [part for part in resources.replace(";", ",").split(",") if part.strip()]
    vmids = []
    for entry in resources:
        text = str(entry).strip()
        if ":" in text:
            text = text.split(":", 1)[1]
        vmids.append(int(text))
    return vmids


def parse_nodes(nodes):
    """node -> priority of a node-affinity rule's ``nodes``: "n1:2,n2" (priority 0 when absent), or a list, or a dict."""
    if nodes is None:
        return {}
    if isinstance(nodes, dict):
        return {str(name): int(priority or 0) for name, priority in nodes.items()}
    if isinstance(nodes, str):
        nodes = [part for part in nodes.split(",") if part.strip()]
    result = {}
    for entry in nodes:
        name, _sep, priority = str(entry).strip().partition(":")
        result[name] = int(priority or 0)
    return result


class Unit:
    """Guests that must share a node (one guest, or a positive-affinity group): they move together."""

    __slots__ = ("uid", "members", "allowed", "anti", "fixed", "anchor", "mem", "cpu", "claim", "labels")

    def __init__(self, uid, members):
        self.uid = uid
        self.members = members          # Guests, by vmid
        self.allowed = None             # frozenset of node indexes, or None: any active node
        self.anti = ()                  # anti-affinity group ids
        self.fixed = None               # why it may not move (a member's reason)
        self.anchor = None              # why it stays around guests that may not move (then allowed is their node)
        self.mem = sum(guest.load_mem for guest in members)
        self.cpu = sum(guest.load_cpu for guest in members)
        self.claim = sum(guest.claim for guest in members)
        self.labels = []                # the affinity rules that joined it

    @property
    def vmids(self):
        return [guest.vmid for guest in self.members]


class _Joiner:
    """Union-find over vmids (smallest vmid is the representative: deterministic)."""

    def __init__(self):
        self.parent = {}

    def find(self, vmid):
        parent = self.parent.setdefault(vmid, vmid)
        if parent != vmid:
            parent = self.parent[vmid] = self.find(parent)
        return parent

    def join(self, first, second):
        first, second = self.find(first), self.find(second)
        if first != second:
            self.parent[max(first, second)] = min(first, second)


class Rules:
    """Every rule of a Model, resolved against its nodes."""

    def __init__(self, model):
        self.model = model
        self.problems = []              # rules that cannot all hold, as dicts
        self.affinity = []              # (label, [vmid, ...]) groups that must share a node
        self.anti_groups = []           # (label, [vmid, ...]) groups whose members must be apart
        self.allowed = {}               # vmid -> frozenset of node names (absent: any node)
        self.allowed_why = {}           # vmid -> the rules behind allowed
        self._collect()
        self.units, self.unit_of = self._units()

    # -- collection -----------------------------------------------------------------------
    def _collect(self):
        model = self.model
        managed = {guest.vmid: guest for guest in model.guests if guest.managed}
        affinity, anti = {}, {}
        for guest in managed.values():
            for tag in guest.tags:
                if tag.startswith(AFFINITY_TAG):
                    affinity.setdefault("tag " + tag, []).append(guest.vmid)
                elif tag.startswith(ANTI_AFFINITY_TAG):
                    anti.setdefault("tag " + tag, []).append(guest.vmid)
            pins = sorted(tag[len(PIN_TAG):] for tag in guest.tags if tag.startswith(PIN_TAG))
            if pins:
                self._restrict(guest.vmid, set(pins), "tags " + ",".join(PIN_TAG + pin for pin in pins))
        if model.options["pools_as"]:
            wanted = model.options["pools"]
            pools = {}
            for guest in managed.values():
                if guest.pool and (wanted is None or guest.pool in wanted):
                    pools.setdefault(guest.pool, []).append(guest.vmid)
            target = affinity if model.options["pools_as"] == "affinity" else anti
            for pool, vmids in pools.items():
                target["pool " + pool] = vmids
        rules = [("HA rule", rule) for rule in model.ha_rules] + [("option rule", rule) for rule in model.options["rules"]]
        for number, (origin, rule) in enumerate(rules):
            if _int_flag(rule.get("disable")):
                continue
            label = "%s %s" % (origin, rule.get("rule") or number + 1)
            try:
                vmids = [vmid for vmid in parse_resources(rule.get("resources")) if vmid in managed]
            except ValueError:
                self.problems.append({"rule": label, "vmids": [], "reason": "resources %r cannot be read" % rule.get("resources")})
                continue
            kind = rule.get("type")
            if kind == "node-affinity":
                for vmid in vmids:
                    self._node_affinity(vmid, parse_nodes(rule.get("nodes")), _int_flag(rule.get("strict")), label)
            elif kind == "resource-affinity":
                if rule.get("affinity") == "positive":
                    affinity[label] = vmids
                elif rule.get("affinity") == "negative":
                    anti[label] = vmids
                else:
                    self.problems.append({"rule": label, "vmids": vmids, "reason": "affinity must be positive or negative"})
            else:
                self.problems.append({"rule": label, "vmids": vmids, "reason": "unknown rule type %r" % kind})
        self.affinity = sorted((label, sorted(vmids)) for label, vmids in affinity.items() if len(vmids) > 1)
        self.anti_groups = sorted((label, sorted(vmids)) for label, vmids in anti.items() if len(vmids) > 1)

    def _restrict(self, vmid, names, why):
        """Intersect a guest's allowed nodes with ``names``."""
        current = self.allowed.get(vmid)
        self.allowed[vmid] = frozenset(names) if current is None else current & frozenset(names)
        self.allowed_why.setdefault(vmid, []).append(why)

    def _node_affinity(self, vmid, priorities, strict, label):
        """PVE 9 node affinity: the HA manager keeps a resource on the highest-priority nodes that are available.

        So the highest priority class among the listed nodes that are online and not in
        maintenance is where the guest must be (the HA manager would move it back
        otherwise).  None available: strict keeps it off every other node, non-strict lets
        it run anywhere.
        """
        available = {name: priority for name, priority in priorities.items()
                     if self.model.node(name) is not None and self.model.node(name).active}
        if available:
            top = max(available.values())
            self._restrict(vmid, {name for name, priority in available.items() if priority == top},
                           "%s (%s)" % (label, "strict" if strict else "non-strict"))
        elif strict:
            self._restrict(vmid, set(), "%s (strict, none of %s available)" % (label, ",".join(sorted(priorities))))

    # -- units ------------------------------------------------------------------------------
    def _units(self):
        model = self.model
        joiner = _Joiner()
        labels = {}
        for label, vmids in self.affinity:
            for vmid in vmids[1:]:
                joiner.join(vmids[0], vmid)
            labels.setdefault(vmids[0], []).append(label)
        groups = {}
        for guest in model.guests:
            if guest.managed:
                groups.setdefault(joiner.find(guest.vmid), []).append(guest)
        anti_of = {}
        for gid, (_label, vmids) in enumerate(self.anti_groups):
            for vmid in vmids:
                anti_of.setdefault(vmid, []).append(gid)
        units, unit_of = [], {}
        for root in sorted(groups):
            unit = Unit(len(units), groups[root])
            units.append(unit)
            allowed = None
            anti = set()
            for member in unit.members:
                unit.labels.extend(labels.get(member.vmid, []))
            for guest in unit.members:
                unit_of[guest.vmid] = unit.uid
                if guest.vmid in self.allowed:
                    allowed = self.allowed[guest.vmid] if allowed is None else allowed & self.allowed[guest.vmid]
                anti.update(anti_of.get(guest.vmid, ()))
            # A group with guests that may not move can still gather around them, when they share a node.
            stuck = [guest for guest in unit.members if guest.fixed]
            if stuck:
                why = "guest %d: %s" % (stuck[0].vmid, stuck[0].fixed) if len(unit.members) > 1 else stuck[0].fixed
                anchors = {guest.node for guest in stuck}
                if len(stuck) == len(unit.members) or len(anchors) > 1:
                    unit.fixed = why
                else:
                    unit.anchor = why
                    allowed = anchors if allowed is None else allowed & anchors
            if allowed is not None:
                unit.allowed = frozenset(model.node_index[name] for name in allowed
                                         if name in model.node_index and model.node(name).active)
                if not unit.allowed and not unit.anchor:
                    why = sorted({why for guest in unit.members for why in self.allowed_why.get(guest.vmid, [])})
                    self.problems.append({"rule": "; ".join(why), "vmids": unit.vmids,
                                          "reason": "no online node outside maintenance satisfies every node rule"})
            unit.anti = tuple(sorted(anti))
            for gid in unit.anti:
                inside = [vmid for vmid in self.anti_groups[gid][1] if unit_of.get(vmid) == unit.uid]
                if len(inside) > 1:
                    self.problems.append({"rule": self.anti_groups[gid][0], "vmids": inside,
                                          "reason": "the same guests must also share a node (%s)" % ", ".join(unit.labels or ["affinity"])})
        return units, unit_of

    # -- checking a placement ---------------------------------------------------------------------------
    def violations(self, where):
        """The rules a placement (vmid -> node name) breaks, as dicts; ``count`` adds up to the violation total.

        Guests on offline nodes are not held against a plan (nothing can move them), but
        they still keep anti-affinity partners away.
        """
        model = self.model
        found = []
        for label, vmids in self.anti_groups:
            per_node = {}
            for vmid in vmids:
                per_node.setdefault(where[vmid], []).append(vmid)
            for node in sorted(per_node):
                if len(per_node[node]) > 1:
                    found.append({"kind": "anti-affinity", "rule": label, "node": node, "vmids": per_node[node],
                                  "count": len(per_node[node]) - 1})
        for unit in self.units:
            if len(unit.members) > 1:
                nodes = sorted({where[vmid] for vmid in unit.vmids})
                if len(nodes) > 1:
                    found.append({"kind": "affinity", "rule": ", ".join(unit.labels), "nodes": nodes, "vmids": unit.vmids,
                                  "count": len(nodes) - 1})
        for guest in model.guests:
            if not guest.managed:
                continue
            node = model.node(where[guest.vmid])
            if node is None or not node.online:
                continue
            if node.maintenance:
                found.append({"kind": "maintenance", "vmids": [guest.vmid], "node": node.name, "count": 1})
            elif guest.vmid in self.allowed and node.name not in self.allowed[guest.vmid]:
                found.append({"kind": "node-affinity", "rule": "; ".join(self.allowed_why[guest.vmid]), "vmids": [guest.vmid],
                              "node": node.name, "allowed": sorted(self.allowed[guest.vmid]), "count": 1})
        return found


def _int_flag(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)
