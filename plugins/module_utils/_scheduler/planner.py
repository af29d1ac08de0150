# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The balancing planner: rule fixes and drains first, then greedy moves, local search, and safe waves."""

from __future__ import annotations

import bisect
import itertools
import math
import time

from .metrics import evaluate
from .rules import Rules
from .scenario import load

# How many of the most loaded (sources) and least loaded (targets) nodes the greedy looks
# at per step, and how many guests around the ideal size on each side.  A wider look is
# tried only when the narrow one finds nothing.
NARROW = (3, 4)
WIDE = (12, 12)
WINDOW = 4
EPSILON = 1e-12
# Local search: at most this many trades per plan (each is one greedy step), and on large
# clusters a retarget looks only at home and this many of the least loaded nodes.
TRADE_BUDGET = 150
RETARGET_NODES = 8
# Swaps: guests around the ideal size difference on each side; every pair of nodes on a
# cluster of up to SMALL_CLUSTER nodes (where guests are coarse and single moves get stuck).
SWAP_WINDOW = 6
SMALL_CLUSTER = 8
# While memory is balanced first, CPU weighs this fraction of cpu_weight: enough to choose
# between guests that help memory alike, too little to trade memory for CPU.
CPU_TIEBREAK = 0.001
# Beam search on small clusters (guests x nodes up to BEAM_LIMIT): partial plans kept per
# depth, moves tried from each, and the deepest it looks.
BEAM_LIMIT = 1500
BEAM_WIDTH = 24
BEAM_BRANCH = 16
BEAM_DEPTH = 40
# Pair exchanges on tiny clusters (guests x nodes up to PAIR_LIMIT, at most PAIR_MOVES
# balancing moves): two moves are traded for the best two of PAIR_CANDIDATES single moves.
PAIR_LIMIT = 200
# After the local search, this many balancing moves (the smallest guests) are tried for dropping.
COMPRESS_TRIES = 64
PAIR_MOVES = 8
PAIR_CANDIDATES = 20


class Move:
    """One unit's migration: its guests' sources, its target, why, and the phase that made it."""

    __slots__ = ("uid", "target", "sources", "reason", "phase")

    def __init__(self, uid, target, sources, reason, phase):
        self.uid = uid
        self.target = target
        self.sources = sources      # [(vmid, node index)] of the guests that leave for target
        self.reason = reason
        self.phase = phase          # "fix", "evict", "stage" or "balance"


class Planner:
    """One planning run over a Model and its Rules: ``fix()``, then ``finish(strategy)`` (plan() drives it)."""

    def __init__(self, model, rules):
        self.model = model
        self.rules = rules
        self.options = opts = model.options
        nodes = model.nodes
        self.n = len(nodes)
        self.active = [node.active for node in nodes]
        self.cm = [float(node.maxmem or 1) for node in nodes]
        self.cc = [float(node.maxcpu or 1) for node in nodes]
        self.lim = [node.limit for node in nodes]
        self.lm = [node.base_mem for node in nodes]
        self.lc = [node.base_cpu for node in nodes]
        self.cap = [node.base_claim for node in nodes]
        self.anti = [{} for _node in nodes]
        self.loc = {}                               # vmid -> node index of managed guests
        for guest in model.guests:
            if guest.managed:
                index = model.node_index[guest.node]
                self.loc[guest.vmid] = index
                self.lm[index] += guest.load_mem
                self.lc[index] += guest.load_cpu
                self.cap[index] += guest.claim
        self.units = rules.units
        self.anti_of = {}                           # vmid -> anti-affinity group ids
        for gid, (_label, vmids) in enumerate(rules.anti_groups):
            for vmid in vmids:
                self.anti_of.setdefault(vmid, []).append(gid)
                counts = self.anti[self.loc[vmid]]
                counts[gid] = counts.get(gid, 0) + 1
        self.start = (list(self.cap), dict(self.loc), [dict(counts) for counts in self.anti])
        self.wm, self.wc = opts["mem_weight"], opts["cpu_weight"]
        self.cpu_weight = self.wc             # self.wc drops to a tie-breaker while memory comes first
        self.cpu_zone = opts["cpu_threshold"] / 4
        active_mem = [self.cm[i] for i in range(self.n) if self.active[i]]
        self.mean_cm = sum(active_mem) / len(active_mem) if active_mem else 1.0
        self.unit_cost = [opts["move_cost"] + opts["size_cost"] * unit.mem / self.mean_cm for unit in self.units]
        self.tm = self.tc = 0.0
        self.moves = []
        self.moved = [False] * len(self.units)
        self.unplaced = {}                          # uid -> reason
        self.cap_hit = False
        self.by_mem = self.by_cpu = None
        self.mem_cap = None                         # memory spread the CPU phase and the local search keep to

    # -- state ---------------------------------------------------------------------------------
    def node_of(self, uid):
        """The node a unit is on, or -1 when its guests are split over several."""
        nodes = {self.loc[guest.vmid] for guest in self.units[uid].members}
        return nodes.pop() if len(nodes) == 1 else -1

    def _shift(self, vmid, source, target):
        guest = self.model.by_vmid[vmid]
        self.lm[source] -= guest.load_mem
        self.lc[source] -= guest.load_cpu
        self.cap[source] -= guest.claim
        self.lm[target] += guest.load_mem
        self.lc[target] += guest.load_cpu
        self.cap[target] += guest.claim
        for gid in self.anti_of.get(vmid, ()):
            self.anti[source][gid] -= 1
            self.anti[target][gid] = self.anti[target].get(gid, 0) + 1
        self.loc[vmid] = target

    def apply(self, uid, target, reason, phase):
        """Move every guest of a unit that is not on ``target`` there, and record the move."""
        sources = [(guest.vmid, self.loc[guest.vmid]) for guest in self.units[uid].members if self.loc[guest.vmid] != target]
        for vmid, source in sources:
            self._shift(vmid, source, target)
        move = Move(uid, target, sources, reason, phase)
        self.moves.append(move)
        self.moved[uid] = True
        return move

    def revert(self, move):
        """Undo a move's effect on the state (the caller takes it out of the list)."""
        for vmid, source in move.sources:
            self._shift(vmid, move.target, source)

    def incoming(self, uid, target):
        """(claim, load mem, load cpu) of the unit's guests that would arrive on ``target``."""
        claim = mem = cpu = 0
        for guest in self.units[uid].members:
            if self.loc[guest.vmid] != target:
                claim += guest.claim
                mem += guest.load_mem
                cpu += guest.load_cpu
        return claim, mem, cpu

    def rules_allow(self, uid, target):
        """Node rules and anti-affinity let the unit be on ``target`` (capacity aside)."""
        unit = self.units[uid]
        if not self.active[target] or (unit.allowed is not None and target not in unit.allowed):
            return False
        return self.anti_free(uid, target)

    def anti_free(self, uid, target):
        counts = self.anti[target]
        unit = self.units[uid]
        for gid in unit.anti:
            if counts.get(gid, 0):
                own = sum(1 for guest in unit.members if self.loc[guest.vmid] == target and gid in self.anti_of.get(guest.vmid, ()))
                if counts[gid] > own:
                    return False
        return True

    def arrivals(self, uid, target):
        """How many of the unit's guests would migrate to ``target``."""
        return sum(1 for guest in self.units[uid].members if self.loc[guest.vmid] != target)

    def fits(self, uid, target):
        return self.cap[target] + self.incoming(uid, target)[0] <= self.lim[target]

    def can_move(self, count=1):
        """``count`` more guest migrations stay within max_migrations."""
        if count > self.room():
            self.cap_hit = True
            return False
        return True

    def room(self):
        """How many guest migrations max_migrations still allows (a large number without a cap)."""
        limit = self.options["max_migrations"]
        return 1 << 30 if limit is None else limit - self.migrations()

    def migrations(self):
        return sum(len(move.sources) for move in self.moves)

    # -- objective -------------------------------------------------------------------------------
    def set_targets(self, extra_mem=0.0, extra_cpu=0.0):
        """The utilisation every active node would have in a perfect balance (the objective's centre)."""
        active = [i for i in range(self.n) if self.active[i]]
        if not active:
            return
        self.tm = (sum(self.lm[i] for i in active) + extra_mem) / sum(self.cm[i] for i in active)
        self.tc = (sum(self.lc[i] for i in active) + extra_cpu) / sum(self.cc[i] for i in active)

    def node_term(self, i, mem, cpu):
        """Objective term of node i with the given loads: weighted squared deviation from the centre.

        CPU deviations within a quarter of the CPU threshold either side of the centre cost
        nothing: once CPU is balanced enough, it should not stop memory from being
        balanced further (vCPU counts are coarse, and a perfect CPU balance would block
        every memory move).
        """
        if not self.active[i]:
            return 0.0
        dm = mem / self.cm[i] - self.tm
        dc = abs(cpu / self.cc[i] - self.tc) - self.cpu_zone
        return self.wm * dm * dm + (self.wc * dc * dc if dc > 0 else 0.0)

    def objective(self):
        return sum(self.node_term(i, self.lm[i], self.lc[i]) for i in range(self.n))

    def delta(self, uid, target):
        """Change of the objective if the unit moved to ``target`` (negative: better)."""
        unit = self.units[uid]
        if len(unit.members) == 1:      # the common case, without the bookkeeping below
            source = self.loc[unit.members[0].vmid]
            if source == target:
                return 0.0
            lm, lc, term = self.lm, self.lc, self.node_term
            return (term(source, lm[source] - unit.mem, lc[source] - unit.cpu) - term(source, lm[source], lc[source])
                    + term(target, lm[target] + unit.mem, lc[target] + unit.cpu) - term(target, lm[target], lc[target]))
        change = {}
        for guest in self.units[uid].members:
            source = self.loc[guest.vmid]
            if source != target:
                mem, cpu = change.get(source, (0, 0.0))
                change[source] = (mem - guest.load_mem, cpu - guest.load_cpu)
                mem, cpu = change.get(target, (0, 0.0))
                change[target] = (mem + guest.load_mem, cpu + guest.load_cpu)
        total = 0.0
        for i, (mem, cpu) in change.items():
            total += self.node_term(i, self.lm[i] + mem, self.lc[i] + cpu) - self.node_term(i, self.lm[i], self.lc[i])
        return total

    def spreads(self):
        mem = [self.lm[i] / self.cm[i] for i in range(self.n) if self.active[i]]
        cpu = [self.lc[i] / self.cc[i] for i in range(self.n) if self.active[i]]
        if not mem:
            return 0.0, 0.0
        return max(mem) - min(mem), max(cpu) - min(cpu)

    def balanced(self):
        mem, cpu = self.spreads()
        return mem <= self.options["threshold"] and (self.cpu_weight == 0 or cpu <= self.options["cpu_threshold"])

    def spread_guard(self, mem_cap):
        """A check (s, t, memory moved from s to t) -> the memory spread stays within ``mem_cap``; None: no cap."""
        if mem_cap is None:
            return None
        utils = sorted((self.lm[i] / self.cm[i], i) for i in range(self.n) if self.active[i])
        low, high = utils[:3], utils[-3:][::-1]
        lm, cm = self.lm, self.cm

        def check(s, t, mem):
            after_s, after_t = (lm[s] - mem) / cm[s], (lm[t] + mem) / cm[t]
            top = max(after_s, after_t, next((u for u, i in high if i != s and i != t), after_s))
            bottom = min(after_s, after_t, next((u for u, i in low if i != s and i != t), after_s))
            return top - bottom <= mem_cap + EPSILON
        return check

    # -- phase 1: what must move ---------------------------------------------------------------------
    def must_move(self):
        """Units that break a rule where they are (maintenance, node rules, split, anti-affinity), with why."""
        need = {}
        for unit in self.units:
            nodes = {self.loc[guest.vmid] for guest in unit.members}
            if any(self.model.nodes[i].maintenance for i in nodes):
                drained = sorted(self.model.nodes[i].name for i in nodes if self.model.nodes[i].maintenance)
                need[unit.uid] = "maintenance: drain %s" % ",".join(drained)
            elif len(nodes) > 1:
                need[unit.uid] = "rule: bring together (%s)" % ", ".join(unit.labels)
            elif unit.allowed is not None and next(iter(nodes)) not in unit.allowed:
                why = sorted({why for guest in unit.members for why in self.rules.allowed_why.get(guest.vmid, [])})
                need[unit.uid] = "rule: %s" % "; ".join(why)
        # Anti-affinity: on each node, one member of a group may stay.  Guests that leave
        # anyway go first; then the one that cannot leave, then the largest, stays.
        for label, vmids in self.rules.anti_groups:
            per_node = {}
            for vmid in vmids:
                uid = self.rules.unit_of[vmid]
                if uid not in need:
                    per_node.setdefault(self.loc[vmid], set()).add(uid)
            for node in sorted(per_node):
                uids = sorted(per_node[node], key=lambda uid, node=node: (not self.stuck_on(uid, node), -self.units[uid].claim, uid))
                for uid in uids[1:]:
                    need[uid] = "rule: %s (apart from %s)" % (label, ",".join(str(v) for v in self.units[uids[0]].vmids))
        return need

    def stuck_on(self, uid, node):
        """The unit cannot leave ``node``: it may not move, or its rules allow that node alone."""
        unit = self.units[uid]
        return bool(unit.fixed) or (unit.allowed is not None and unit.allowed <= {node})

    def fix(self):
        """Move every unit that must move to the best node that takes it now; make room or stage when none does."""
        need = self.must_move()
        pending = []
        for uid in sorted(need):
            unit = self.units[uid]
            if unit.fixed:
                self.unplaced[uid] = "%s, but it cannot move: %s" % (need[uid], unit.fixed)
            elif unit.allowed is not None and not unit.allowed:
                self.unplaced[uid] = "%s, but %s" % (need[uid], "it cannot move: %s" % unit.anchor if unit.anchor else "no node is allowed by its rules")
            else:
                pending.append(uid)
        drained = [uid for uid in pending if self.node_of(uid) >= 0 and not self.active[self.node_of(uid)]]
        self.set_targets(sum(self.units[uid].mem for uid in drained), sum(self.units[uid].cpu for uid in drained))
        # Most constrained first, then the largest: what is hardest to place gets the room.
        pending.sort(key=lambda uid: (len(self.units[uid].allowed) if self.units[uid].allowed is not None else self.n,
                                      -self.units[uid].claim, uid))
        staged = set()
        while pending:
            progress = False
            for uid in list(pending):
                target = self.best_target(uid)
                if target is not None and self.can_move(self.arrivals(uid, target)):
                    self.apply(uid, target, need[uid], "fix")
                    pending.remove(uid)
                    progress = True
            if not pending or not self.can_move():
                break
            if not progress:
                progress = any(self.make_room(uid, need[uid], set(pending)) for uid in pending)
            if not progress:
                progress = any(self.stage(uid, pending, staged) for uid in pending)
            if not progress:
                break
        for uid in pending:
            self.unplaced[uid] = "%s, but %s" % (need[uid], self.why_stuck(uid))

    def candidates(self, uid, nodes=None):
        """Nodes other than its own that the rules allow for the unit (among ``nodes``), best for the balance first.

        A group split over several nodes gathers where the fewest of its guests have to move.
        """
        unit = self.units[uid]
        here = self.node_of(uid)
        if nodes is None:
            nodes = sorted(unit.allowed) if unit.allowed is not None else range(self.n)
        ranked = sorted((self.arrivals(uid, i) if here < 0 else 0, self.delta(uid, i), i)
                        for i in nodes if i != here and self.rules_allow(uid, i))
        return [i for _arrivals, _delta, i in ranked]

    def best_target(self, uid):
        """The best node that takes the unit now; on a large cluster the least loaded nodes are tried first."""
        if self.units[uid].allowed is None and self.n > 2 * RETARGET_NODES:
            light = self.lightest(2 * RETARGET_NODES)
            found = next((target for target in self.candidates(uid, light) if self.fits(uid, target)), None)
            if found is not None:
                return found
        return next((target for target in self.candidates(uid) if self.fits(uid, target)), None)

    def lightest(self, count):
        """The ``count`` active nodes with the lowest weighted load, by index."""
        press = sorted((self.wm * (self.lm[i] / self.cm[i] - self.tm) + self.wc * (self.lc[i] / self.cc[i] - self.tc), i)
                       for i in range(self.n) if self.active[i])
        return sorted(i for _p, i in press[:count])

    def why_stuck(self, uid):
        if self.cap_hit:
            return "max_migrations is reached"
        unit = self.units[uid]
        allowed = [i for i in (sorted(unit.allowed) if unit.allowed is not None else range(self.n)) if self.active[i]]
        if not allowed:
            return "no online node outside maintenance is allowed by its rules"
        free = [i for i in allowed if self.anti_free(uid, i)]
        if not free:
            return "anti-affinity: every allowed node already holds a member of its group"
        needed = self.incoming(uid, free[0])[0] // 2 ** 20
        return "no allowed node has room for %d MiB (limit %d%% of memory)" % (needed, round(self.options["mem_limit"] * 100))

    def make_room(self, uid, reason, pending):
        """Move other guests off an allowed node so that the unit fits there (one that frees enough, else up to 4)."""
        residents = {}
        for other in self.units:
            if other.uid not in pending and not other.fixed and not self.moved[other.uid] and other.uid not in self.unplaced and other.claim > 0:
                residents.setdefault(self.node_of(other.uid), []).append(other.uid)
        for target in self.candidates(uid):
            short = self.cap[target] + self.incoming(uid, target)[0] - self.lim[target]
            movable = residents.get(target, [])
            # One guest that frees enough alone (the smallest such), else the largest few.
            single = sorted((self.units[o].claim, o) for o in movable if self.units[o].claim >= short)
            order = [single[0][1]] if single else [o for _claim, o in sorted(((-self.units[o].claim, o) for o in movable))][:4]
            done = []
            for other in order:
                if self.cap[target] + self.incoming(uid, target)[0] <= self.lim[target] or not self.can_move(len(self.units[other].members)):
                    break
                spot = next((i for i in self.candidates(other) if i != target and self.fits(other, i)), None)
                if spot is None:
                    continue
                done.append(self.apply(other, spot, "make room for %s" % ",".join(str(v) for v in self.units[uid].vmids), "evict"))
            if self.fits(uid, target) and self.can_move(self.arrivals(uid, target)):
                self.apply(uid, target, reason, "fix")
                return True
            for move in reversed(done):
                self.revert(move)
                self.moves.remove(move)
                self.moved[move.uid] = False
        return False

    def stage(self, uid, pending, staged):
        """Park a unit on any node with room when its leaving lets another pending unit in (a swap neither side has room for)."""
        source = self.node_of(uid)
        if uid in staged or source < 0:
            return False
        claim = self.units[uid].claim
        helps = any(other != uid and self.rules_allow(other, source) and self.cap[source] + self.incoming(other, source)[0] > self.lim[source]
                    and self.cap[source] - claim + self.incoming(other, source)[0] <= self.lim[source] for other in pending)
        if not helps or not self.can_move(len(self.units[uid].members)):
            return False
        spots = sorted((self.delta(uid, i), i) for i in range(self.n)
                       if i != source and self.active[i] and self.anti_free(uid, i) and self.fits(uid, i))
        if not spots:
            return False
        self.apply(uid, spots[0][1], "staging: make way on %s" % self.model.nodes[source].name, "stage")
        staged.add(uid)
        return True

    # -- phase 2: greedy balance -----------------------------------------------------------------------
    def eligible(self, uid):
        unit = self.units[uid]
        if unit.fixed or self.moved[uid] or uid in self.unplaced:
            return False
        node = self.node_of(uid)
        if node < 0 or not self.active[node]:
            return False
        return unit.allowed is None or len(unit.allowed - {node}) > 0

    def index_units(self):
        """Per node, the units the greedy may move, sorted by memory and by CPU (for the window search)."""
        self.by_mem = [[] for _node in range(self.n)]
        self.by_cpu = [[] for _node in range(self.n)]
        for unit in self.units:
            if self.eligible(unit.uid):
                node = self.node_of(unit.uid)
                self.by_mem[node].append((unit.mem, unit.uid))
                self.by_cpu[node].append((unit.cpu, unit.uid))
        for i in range(self.n):
            self.by_mem[i].sort()
            self.by_cpu[i].sort()

    def unindex(self, uid, node):
        unit = self.units[uid]
        for table, key in ((self.by_mem, unit.mem), (self.by_cpu, unit.cpu)):
            entries = table[node]
            at = bisect.bisect_left(entries, (key, uid))
            if at < len(entries) and entries[at] == (key, uid):
                del entries[at]

    def reindex(self, uid, node):
        unit = self.units[uid]
        bisect.insort(self.by_mem[node], (unit.mem, uid))
        bisect.insort(self.by_cpu[node], (unit.cpu, uid))

    def best_move(self, wide=False, mem_cap=None):
        """The move with the best objective gain per cost among the most and least loaded nodes: (score, uid, target) or None.

        For a source s and a target t the gain of moving a guest of memory m and CPU c is
        a concave quadratic in m and in c, so the best guest sits near a known size: look
        only at the few guests around it in the per-node sorted lists.
        """
        n, lm, lc, cm, cc = self.n, self.lm, self.lc, self.cm, self.cc
        tm, tc, wm, wc = self.tm, self.tc, self.wm, self.wc
        zone = self.cpu_zone
        xm = [lm[i] / cm[i] - tm for i in range(n)]
        xc = [lc[i] / cc[i] - tc for i in range(n)]
        # CPU deviation outside the dead zone (what the objective sees), with its sign.
        zc = [math.copysign(max(0.0, abs(x) - zone), x) for x in xc]
        press = [(wm * xm[i] + wc * zc[i], i) for i in range(n) if self.active[i]]
        press.sort()
        count_s, count_t = WIDE if wide else NARROW
        sources = [i for _p, i in reversed(press) if self.by_mem[i]][:count_s]
        targets = [i for _p, i in press][:count_t]
        if wc:
            active = [i for _p, i in press]
            sources += [max((i for i in active if self.by_mem[i]), key=lambda i: (xm[i], i), default=None),
                        max((i for i in active if self.by_mem[i]), key=lambda i: (zc[i], i), default=None)]
            targets += [min(active, key=lambda i: (xm[i], i)), min(active, key=lambda i: (zc[i], i))]
        sources = sorted({i for i in sources if i is not None})
        targets = sorted(set(targets))
        term = self.node_term
        units, cap, lim = self.units, self.cap, self.lim
        guard = self.spread_guard(mem_cap)
        room = self.room()
        k0, k1 = self.options["move_cost"], self.options["size_cost"] / self.mean_cm
        min_gain = self.options["min_gain"]
        best = None
        for s in sources:
            mem_list, cpu_list = self.by_mem[s], self.by_cpu[s]
            cm_s, cc_s, lm_s, lc_s = cm[s], cc[s], lm[s], lc[s]
            base_s = term(s, lm_s, lc_s)
            for t in targets:
                if t == s:
                    continue
                cm_t, cc_t, lm_t, lc_t = cm[t], cc[t], lm[t], lc[t]
                a = 2 * wm * (xm[s] / cm_s - xm[t] / cm_t)
                b = wm * (1 / (cm_s * cm_s) + 1 / (cm_t * cm_t))
                d = 2 * wc * (zc[s] / cc_s - zc[t] / cc_t)
                e = wc * (1 / (cc_s * cc_s) + 1 / (cc_t * cc_t))
                if a <= 0 and d <= 0:
                    continue
                # Best memory per unit of cost: maximise (a m - b m^2) / (k0 + k1 m).
                if a <= 0:
                    m_best = 0.0
                elif k1 > 0 and k0 > 0:
                    kappa = k1 / k0
                    m_best = (math.sqrt(1 + kappa * a / b) - 1) / kappa
                else:
                    m_best = a / (2 * b)
                c_best = d / (2 * e) if e > 0 and d > 0 else 0.0
                base = base_s + term(t, lm_t, lc_t)
                seen = set()
                for entries, key in ((mem_list, m_best), (cpu_list, c_best)):
                    at = bisect.bisect_left(entries, (key, -1))
                    for _key, uid in entries[max(0, at - WINDOW):at + WINDOW]:
                        if uid in seen:
                            continue
                        seen.add(uid)
                        unit = units[uid]
                        m, c = unit.mem, unit.cpu
                        # node_term of s and t after the move, written out (the hot loop).
                        dev = (lm_s - m) / cm_s - tm
                        after = wm * dev * dev
                        dev = abs((lc_s - c) / cc_s - tc) - zone
                        if dev > 0:
                            after += wc * dev * dev
                        dev = (lm_t + m) / cm_t - tm
                        after += wm * dev * dev
                        dev = abs((lc_t + c) / cc_t - tc) - zone
                        if dev > 0:
                            after += wc * dev * dev
                        gain = base - after
                        if gain <= 0:
                            continue
                        score = gain / (k0 + k1 * m)
                        if score < min_gain or (best is not None and score <= best[0]):
                            continue
                        if unit.allowed is not None and t not in unit.allowed or len(unit.members) > room:
                            continue
                        if cap[t] + unit.claim > lim[t] or not self.anti_free(uid, t) or (guard and not guard(s, t, m)):
                            continue
                        best = (score, uid, t)
        return best

    def best_swap(self, mem_cap=None):
        """The best exchange of two guests between a loaded and a light node: (score, uid_a, uid_b) or None.

        For when no single move helps (coarse guests, or a full target): a swap moves the
        difference of two guests.  It costs two migrations; the one whose target has room
        goes first, and a swap that has no such order is left out.
        """
        lm, lc, term = self.lm, self.lc, self.node_term
        n = self.n
        press = sorted((self.wm * (lm[i] / self.cm[i] - self.tm) + self.wc * (lc[i] / self.cc[i] - self.tc), i)
                       for i in range(n) if self.active[i])
        count_s, count_t = NARROW if n > SMALL_CLUSTER else (n, n)
        sources = [i for _p, i in reversed(press) if self.by_mem[i]][:count_s]
        targets = [i for _p, i in press if self.by_mem[i]][:count_t]
        min_gain = self.options["min_gain"]
        guard = self.spread_guard(mem_cap)
        room = self.room()
        best = None
        for s in sources:
            base_s = term(s, lm[s], lc[s])
            for t in targets:
                if t == s:
                    continue
                base = base_s + term(t, lm[t], lc[t])
                # Net memory the swap should carry from s to t: as for a single move.
                a = 2 * self.wm * ((lm[s] / self.cm[s] - self.tm) / self.cm[s] - (lm[t] / self.cm[t] - self.tm) / self.cm[t])
                b = self.wm * (1 / (self.cm[s] * self.cm[s]) + 1 / (self.cm[t] * self.cm[t]))
                net = max(0.0, a / (2 * b))
                light = self.by_mem[t]
                for m_a, uid_a in self.by_mem[s]:
                    unit_a = self.units[uid_a]
                    if unit_a.allowed is not None and t not in unit_a.allowed:
                        continue
                    at = bisect.bisect_left(light, (m_a - net, -1))
                    for m_b, uid_b in light[max(0, at - SWAP_WINDOW):at + SWAP_WINDOW]:
                        if m_b >= m_a:
                            continue
                        unit_b = self.units[uid_b]
                        cost = self.unit_cost[uid_a] + self.unit_cost[uid_b]
                        dm, dcpu = m_a - m_b, unit_a.cpu - unit_b.cpu
                        gain = base - term(s, lm[s] - dm, lc[s] - dcpu) - term(t, lm[t] + dm, lc[t] + dcpu)
                        score = gain / cost
                        if gain <= 0 or score < min_gain or (best is not None and score <= best[0]):
                            continue
                        if unit_b.allowed is not None and s not in unit_b.allowed or len(unit_a.members) + len(unit_b.members) > room:
                            continue
                        if not self.anti_free(uid_a, t) or not self.anti_free(uid_b, s) or (guard and not guard(s, t, dm)):
                            continue
                        first_a = self.cap[t] + unit_a.claim <= self.lim[t] and self.cap[s] - unit_a.claim + unit_b.claim <= self.lim[s]
                        first_b = self.cap[s] + unit_b.claim <= self.lim[s] and self.cap[t] - unit_b.claim + unit_a.claim <= self.lim[t]
                        if first_a or first_b:
                            best = (score, uid_a, uid_b) if first_a else (score, uid_b, uid_a)
        return best

    def balance(self, strategy):
        """Greedy balance after the fixes, by one of two strategies (plan() runs both and keeps the better plan).

        ``joint``: memory and CPU in one objective from the start: the fewest moves when
        both can be balanced.  ``memory_first``: memory alone (CPU only breaks ties) down to
        the threshold, then CPU by moves that keep memory there: memory wins when the two
        cannot both be met (coarse guests on a few nodes).
        """
        self.set_targets()
        self.index_units()
        if strategy == "joint" or not self.cpu_weight:
            self.greedy(self.balanced, None, "balance")
            return
        threshold = self.options["threshold"]
        self.wc = self.cpu_weight * CPU_TIEBREAK
        self.greedy(lambda: self.spreads()[0] <= threshold, None, "balance memory")
        self.wc = self.cpu_weight
        self.mem_cap = max(threshold, self.spreads()[0])
        self.greedy(self.balanced, self.mem_cap, "balance cpu")

    def greedy(self, done, mem_cap, reason):
        """Apply the best move per unit of cost (a swap when no single move helps) until ``done()``, out of gain or of migrations."""
        while not done() and self.can_move():
            best = self.best_move(mem_cap=mem_cap) or self.best_move(wide=True, mem_cap=mem_cap)
            if best is not None:
                _score, uid, target = best
                self.unindex(uid, self.node_of(uid))
                self.apply(uid, target, reason, "balance")
                continue
            swap = self.best_swap(mem_cap)
            if swap is None:
                break
            _score, first, second = swap
            node_first, node_second = self.node_of(first), self.node_of(second)
            self.unindex(first, node_first)
            self.unindex(second, node_second)
            self.apply(first, node_second, "%s (swap with %s)" % (reason, ",".join(map(str, self.units[second].vmids))), "balance")
            self.apply(second, node_first, "%s (swap with %s)" % (reason, ",".join(map(str, self.units[first].vmids))), "balance")

    # -- phase 3: local search without more migrations ----------------------------------------------------------
    def sequence_ok(self, nodes, uids):
        """Every move, in plan order, fits its target and keeps anti-affinity when it runs (earlier ones done).

        Only what a local-search change can break is checked: capacity on ``nodes`` and the
        anti-affinity groups of the units ``uids``.
        """
        cap = {i: self.start[0][i] for i in nodes}
        groups = {gid for uid in uids for gid in self.units[uid].anti}
        anti = {}
        if groups:
            for i in range(self.n):
                for gid in groups:
                    anti[i, gid] = self.start[2][i].get(gid, 0)
        claim_of = self.model.by_vmid
        for move in self.moves:
            target = move.target
            unit = self.units[move.uid]
            if target in cap and cap[target] + sum(claim_of[vmid].claim for vmid, _s in move.sources) > self.lim[target]:
                return False
            shared = groups.intersection(unit.anti) if groups else ()
            for gid in shared:
                # The unit's own guests already on the target (a group being brought together) do not count.
                moving_in = sum(1 for vmid, _source in move.sources if gid in self.anti_of.get(vmid, ()))
                already = sum(1 for guest in unit.members if gid in self.anti_of.get(guest.vmid, ())) - moving_in
                if anti[target, gid] - already > 0:
                    return False
            for vmid, source in move.sources:
                claim = claim_of[vmid].claim
                if source in cap:
                    cap[source] -= claim
                if target in cap:
                    cap[target] += claim
                for gid in shared:
                    if gid in self.anti_of.get(vmid, ()):
                        anti[source, gid] -= 1
                        anti[target, gid] += 1
        return True

    def improve(self):
        """Local search that never adds a migration: retarget or drop a move, or trade a balancing move for a better one."""
        budget = TRADE_BUDGET
        for _round in range(self.options["search_passes"]):
            changed = False
            for move in list(self.moves):
                # Only moves of a whole unit from one node (not a split group brought together).
                if move.phase not in ("balance", "fix") or move not in self.moves or len(move.sources) != len(self.units[move.uid].members) \
                        or len({source for _vmid, source in move.sources}) != 1:
                    continue
                changed |= self.retarget(move)
                if move.phase == "balance" and move in self.moves and budget > 0:
                    budget -= 1
                    changed |= self.trade(move)
            if not changed:
                break

    def retarget_nodes(self, uid, home):
        """Where a moved unit could go instead: on a large cluster only home and the least loaded nodes."""
        unit = self.units[uid]
        if unit.allowed is not None:
            return sorted(unit.allowed | {home})
        if self.n <= 2 * RETARGET_NODES:
            return range(self.n)
        return sorted({home} | set(self.lightest(RETARGET_NODES)))

    def mem_within_cap(self):
        return self.mem_cap is None or self.spreads()[0] <= self.mem_cap + EPSILON

    def retarget(self, move):
        """Send a moved unit to a better node, or back home when its move no longer pays (a migration saved)."""
        uid, here = move.uid, move.target
        home = move.sources[0][1]
        bonus = self.options["min_gain"] * self.unit_cost[uid]
        best, best_value = None, -EPSILON
        for i in self.retarget_nodes(uid, home):
            if i == here or not self.rules_allow(uid, i) or not self.fits(uid, i):
                continue
            if i == home and move.phase != "balance":
                continue
            value = self.delta(uid, i) - (bonus if i == home else 0.0)
            if value < best_value:
                best, best_value = i, value
        if best is None:
            return False
        position = self.moves.index(move)
        self.revert(move)
        if best == home:
            self.moves.pop(position)
            self.moved[uid] = False
            if self.mem_within_cap() and self.sequence_ok({home}, [uid]):
                self.reindex(uid, home)
                return True
            self.moves.insert(position, move)
            self.moved[uid] = True
        else:
            move.target = best
            for vmid, source in move.sources:
                self._shift(vmid, source, best)
            if self.mem_within_cap() and self.sequence_ok({best}, [uid]):
                return True
            for vmid, source in move.sources:
                self._shift(vmid, best, source)
            move.target = here
        for vmid, source in move.sources:
            self._shift(vmid, source, move.target)
        return False

    def trade(self, move):
        """Undo one balancing move and make the best other single move instead, when that balances better."""
        uid = move.uid
        home = move.sources[0][1]
        undo = self.delta(uid, home)
        position = self.moves.index(move)
        self.revert(move)
        self.moves.pop(position)
        self.moved[uid] = False
        best = self.best_move(mem_cap=self.mem_cap)
        if best is not None and len(self.units[best[1]].members) <= len(move.sources):
            _score, other, target = best
            change = undo + self.delta(other, target)
            if change < -EPSILON:
                self.unindex(other, self.node_of(other))
                new = self.apply(other, target, move.reason, "balance")
                if self.mem_within_cap() and self.sequence_ok({home, target}, [uid, other]):
                    self.reindex(uid, home)
                    return True
                self.revert(new)
                self.moves.pop()
                self.moved[other] = False
                self.reindex(other, self.node_of(other))
        self.moves.insert(position, move)
        self.moved[uid] = True
        for vmid, source in move.sources:
            self._shift(vmid, source, move.target)
        return False

    # -- phase 4: waves -----------------------------------------------------------------------------------
    def waves(self):
        """Group the moves into waves that are safe at every moment; a wave's moves run together.

        Walk the moves in plan order; a move joins the current wave when its target holds
        everything arriving in this wave before anything leaves (and no anti-affinity
        partner is there or arriving).  Once a move into a node is held back, no later move
        into that node (nor of that unit) may pass it: the plan order was safe one move at a
        time, so the first waiting move always fits when the next wave starts.
        """
        cap, loc, anti = list(self.start[0]), dict(self.start[1]), [dict(counts) for counts in self.start[2]]
        claim_of = {guest.vmid: guest.claim for guest in self.model.guests if guest.managed}
        pending = list(self.moves)
        waves = []
        while pending:
            incoming = [0] * self.n
            arriving = [set() for _node in range(self.n)]
            held_nodes, held_units = set(), set()
            wave, rest = [], []
            for move in pending:
                target, unit = move.target, self.units[move.uid]
                ok = target not in held_nodes and move.uid not in held_units
                need = sum(claim_of[vmid] for vmid, _s in move.sources)
                if ok and need and cap[target] + incoming[target] + need > self.lim[target]:
                    ok = False
                if ok:
                    for gid in unit.anti:
                        own = sum(1 for guest in unit.members if loc[guest.vmid] == target and gid in self.anti_of.get(guest.vmid, ()))
                        if anti[target].get(gid, 0) > own or gid in arriving[target]:
                            ok = False
                            break
                held_units.add(move.uid)
                if ok:
                    wave.append(move)
                    incoming[target] += need
                    arriving[target].update(unit.anti)
                else:
                    held_nodes.add(target)
                    rest.append(move)
            if not wave:
                raise RuntimeError("no safe order for the moves left")  # the plan order is safe: cannot happen
            for move in wave:
                for vmid, source in move.sources:
                    cap[source] -= claim_of[vmid]
                    cap[move.target] += claim_of[vmid]
                    for gid in self.anti_of.get(vmid, ()):
                        anti[source][gid] -= 1
                        anti[move.target][gid] = anti[move.target].get(gid, 0) + 1
                    loc[vmid] = move.target
            waves.append(wave)
            pending = rest
        return waves

    def copy(self):
        """An independent planner in the same state (to try another strategy after the shared fixes)."""
        other = Planner.__new__(Planner)
        other.__dict__.update(self.__dict__)
        other.lm, other.lc, other.cap = list(self.lm), list(self.lc), list(self.cap)
        other.anti = [dict(counts) for counts in self.anti]
        other.loc = dict(self.loc)
        other.moves = [Move(move.uid, move.target, list(move.sources), move.reason, move.phase) for move in self.moves]
        other.moved = list(self.moved)
        other.unplaced = dict(self.unplaced)
        if self.by_mem is not None:
            other.by_mem = [list(entries) for entries in self.by_mem]
            other.by_cpu = [list(entries) for entries in self.by_cpu]
        return other

    def stand_alone(self):
        """Hosts that are not one cluster cannot migrate to each other: every needed move is reported instead."""
        for uid, why in sorted(self.must_move().items()):
            self.unplaced[uid] = "%s, but standalone hosts (no cluster) cannot migrate guests" % why

    def finish(self, strategy):
        """Balance, local search: (the planner that holds the result, its moves in waves)."""
        planner = self
        if strategy == "beam":
            planner = self.beam()
            planner.index_units()
        else:
            planner.balance(strategy)
        if planner.options["search_passes"] > 0:
            planner.improve()
            if planner.compress():
                planner.improve()       # the spread the dropped moves leave, evened out again at the new count
            if planner.small():
                planner.polish()
            if len(planner.units) * sum(planner.active) <= PAIR_LIMIT:
                planner.polish_pairs()
        return planner, planner.waves()

    def polish_pairs(self):
        """Tiny clusters: replace two balancing moves by two others when the plan's outcome gets better."""
        for _round in range(self.options["search_passes"]):
            balance = [move for move in self.moves if move.phase == "balance" and len(move.sources) == len(self.units[move.uid].members)]
            if not 2 <= len(balance) <= PAIR_MOVES:
                return
            if not any(self.try_pair(first, second) for first, second in itertools.combinations(balance, 2)):
                return

    def try_pair(self, first, second):
        """Undo two moves; make the best pair of the most promising single moves instead if that is better."""
        current = self.outcome()
        positions = sorted((self.moves.index(move), move) for move in (first, second))
        for _position, move in reversed(positions):
            self.revert(move)
            self.moves.remove(move)
            self.moved[move.uid] = False
        options = [(uid, target) for _score, uid, target in self.top_moves(PAIR_CANDIDATES, gaining=False)]
        best = None
        for (uid_a, target_a), (uid_b, target_b) in itertools.combinations(options, 2):
            if uid_a == uid_b:
                continue
            move_a = self.apply(uid_a, target_a, first.reason, "balance")
            if self.rules_allow(uid_b, target_b) and self.fits(uid_b, target_b) and self.can_move(len(self.units[uid_b].members)):
                move_b = self.apply(uid_b, target_b, first.reason, "balance")
                result = self.outcome()
                if result < (best[0] if best else current):
                    best = (result, uid_a, target_a, uid_b, target_b)
                self.revert(move_b)
                self.moves.pop()
                self.moved[uid_b] = False
            self.revert(move_a)
            self.moves.pop()
            self.moved[uid_a] = False
        if best is not None:
            _result, uid_a, target_a, uid_b, target_b = best
            self.apply(uid_a, target_a, first.reason, "balance")
            self.apply(uid_b, target_b, first.reason, "balance")
            homes = {source for move in (first, second) for _vmid, source in move.sources}
            if self.sequence_ok(homes | {target_a, target_b}, [first.uid, second.uid, uid_a, uid_b]):
                return True
            for _count in range(2):
                move = self.moves.pop()
                self.revert(move)
                self.moved[move.uid] = False
        for position, move in positions:
            self.moves.insert(position, move)
            self.moved[move.uid] = True
            for vmid, source in move.sources:
                self._shift(vmid, source, move.target)
        return False

    def polish_target(self, move):
        """Send a fixing move's unit to the node that gives the best outcome (it still leaves: no home)."""
        uid, here, home = move.uid, move.target, move.sources[0][1]
        best, best_outcome = None, self.outcome()
        for target in range(self.n):
            if target in (here, home):
                continue
            self.revert(move)
            allowed = self.rules_allow(uid, target) and self.fits(uid, target)
            for vmid, source in move.sources:
                self._shift(vmid, source, target if allowed else here)
            if allowed:
                result = self.outcome()
                if result < best_outcome:
                    best, best_outcome = target, result
                for vmid, _source in move.sources:
                    self._shift(vmid, target, here)
        if best is None:
            return False
        for vmid, _source in move.sources:
            self._shift(vmid, here, best)
        move.target = best
        if self.sequence_ok({best}, [uid]):
            return True
        move.target = here
        for vmid, _source in move.sources:
            self._shift(vmid, best, here)
        return False

    def compress(self):
        """Drop balancing moves the plan stays balanced without, smallest guests first (at most COMPRESS_TRIES tries)."""
        if not self.balanced():
            return False
        dropped = False
        tries = sorted((self.units[move.uid].mem, move.uid) for move in self.moves if move.phase == "balance")[:COMPRESS_TRIES]
        for _mem, uid in tries:
            move = next(move for move in self.moves if move.uid == uid and move.phase == "balance")
            position = self.moves.index(move)
            self.revert(move)
            self.moves.pop(position)
            self.moved[uid] = False
            if self.balanced() and self.sequence_ok({move.sources[0][1]}, [uid]):
                if self.by_mem is not None and self.eligible(uid):
                    self.reindex(uid, move.sources[0][1])
                dropped = True
                continue
            self.moves.insert(position, move)
            self.moved[uid] = True
            for vmid, source in move.sources:
                self._shift(vmid, source, move.target)
        return dropped

    def small(self):
        return len(self.units) * sum(self.active) <= BEAM_LIMIT

    def polish(self):
        """Small clusters: trade a balancing move for any other single move when the plan's outcome gets better.

        The outcome is what plan() ranks plans by (balanced, fewer moves, lower spreads),
        not the objective: this is where the last fraction of a point of spread is won.
        """
        for _round in range(self.options["search_passes"]):
            changed = False
            for move in [move for move in self.moves if move.phase == "fix"]:
                if len(move.sources) == len(self.units[move.uid].members) and len({source for _vmid, source in move.sources}) == 1:
                    changed |= self.polish_target(move)
            for move in [move for move in self.moves if move.phase == "balance"]:
                if move not in self.moves or len(move.sources) != len(self.units[move.uid].members):
                    continue
                uid, home = move.uid, move.sources[0][1]
                current = self.outcome()
                position = self.moves.index(move)
                self.revert(move)
                self.moves.pop(position)
                self.moved[uid] = False
                best = None
                for other in self.units:
                    if not self.eligible(other.uid) or len(other.members) > len(move.sources):
                        continue
                    for target in range(self.n):
                        if target == self.node_of(other.uid) or not self.rules_allow(other.uid, target) or not self.fits(other.uid, target):
                            continue
                        trial = self.apply(other.uid, target, move.reason, "balance")
                        result = self.outcome()
                        self.revert(trial)
                        self.moves.pop()
                        self.moved[other.uid] = False
                        if result < (best[0] if best else current):
                            best = (result, other.uid, target)
                if best is not None:
                    self.apply(best[1], best[2], move.reason, "balance")
                    if self.sequence_ok({home, best[2]}, [uid, best[1]]):
                        changed = True
                        continue
                    self.revert(self.moves.pop())
                    self.moved[best[1]] = False
                self.moves.insert(position, move)
                self.moved[uid] = True
                for vmid, source in move.sources:
                    self._shift(vmid, source, move.target)
            if not changed:
                break

    # -- small clusters: a beam search --------------------------------------------------------------
    def top_moves(self, count, gaining=True):
        """The ``count`` single moves with the best gain per cost, over every guest and node (small clusters only).

        ``gaining`` false: also moves that do not help on their own (they may as one of a pair).
        """
        found = []
        min_gain, room = self.options["min_gain"], self.room()
        for unit in self.units:
            uid = unit.uid
            if len(unit.members) > room or not self.eligible(uid):
                continue
            source = self.node_of(uid)
            for target in range(self.n):
                if target == source or self.cap[target] + unit.claim > self.lim[target] or not self.rules_allow(uid, target):
                    continue
                score = -self.delta(uid, target) / self.unit_cost[uid]
                if not gaining or score > 0 and score >= min_gain:
                    found.append((-score, uid, target))
        found.sort()
        return found[:count]

    def excess(self):
        """How far the nodes are from a balanced cluster: squared overshoot beyond half of each threshold, in thresholds."""
        half_mem, half_cpu = self.options["threshold"] / 2, self.options["cpu_threshold"] / 2
        total = 0.0
        for i in range(self.n):
            if self.active[i]:
                over = abs(self.lm[i] / self.cm[i] - self.tm) - half_mem
                if over > 0:
                    total += (over / max(half_mem, EPSILON)) ** 2
                if self.cpu_weight:
                    over = abs(self.lc[i] / self.cc[i] - self.tc) - half_cpu
                    if over > 0:
                        total += (over / max(half_cpu, EPSILON)) ** 2
        return total

    def beam(self):
        """The plan with the fewest balancing moves a beam search finds: a few of the best partial plans per depth.

        The greedy commits to its best move at every step; on a small cluster (coarse
        guests) another first move can reach the balance in fewer moves.  Each depth keeps
        the BEAM_WIDTH partial plans closest to balanced (then lowest objective), each
        grown by its BEAM_BRANCH best moves; the first depth where a plan is balanced wins.
        """
        self.set_targets()
        if self.balanced():
            return self
        frontier, seen, best = [self], set(), self
        for _depth in range(BEAM_DEPTH):
            children = []
            for parent in frontier:
                for _score, uid, target in parent.top_moves(BEAM_BRANCH):
                    key = frozenset([(move.uid, move.target) for move in parent.moves if move.phase == "balance"] + [(uid, target)])
                    if key in seen:
                        continue
                    seen.add(key)
                    child = parent.copy()
                    child.apply(uid, target, "balance", "balance")
                    children.append((child.excess(), child.objective(), len(children), child))
            finished = [entry[-1] for entry in children if entry[-1].balanced()]
            if finished:        # every balanced plan of this depth, not only those the beam would keep
                return min(finished, key=Planner.outcome)
            if not children:
                break
            children.sort(key=lambda entry: entry[:3])
            frontier = [entry[-1] for entry in children[:BEAM_WIDTH]]
            best = min([best] + frontier, key=Planner.outcome)
        return best

    def outcome(self):
        """What plan() compares plans by (smaller is better).

        Memory balanced first, then CPU balanced.  Among balanced plans the one with fewer
        migrations (then lower spreads); otherwise the one the greedy itself would prefer:
        the lower objective plus min_gain times the cost of its moves.
        """
        mem, cpu = self.spreads()
        mem_miss = mem > self.options["threshold"] + EPSILON
        cpu_miss = self.cpu_weight > 0 and cpu > self.options["cpu_threshold"] + EPSILON
        if mem_miss or cpu_miss:
            wc, self.wc = self.wc, self.cpu_weight
            value = self.objective() + self.options["min_gain"] * sum(self.unit_cost[move.uid] for move in self.moves)
            self.wc = wc
            return (mem_miss, cpu_miss, value, self.migrations())
        return (False, False, self.migrations(), round(mem, 6), round(cpu, 6))


def plan(scenario, options=None):
    """Plan a balance for a scenario (FORMAT.md shape): moves in waves, node usage before and after, metrics.

    ``options`` override the scenario's own ``options`` (see scenario.DEFAULTS).  The same
    input gives the same plan.  Returns a plain dict:

    - ``moves``: [{vmid, type, name, source, target, wave, reason, mem, claim, restart}], by wave;
    - ``waves``: how many; the moves of one wave may run together, in any order or batches;
    - ``unplaced``: guests that should move (maintenance, a broken rule) but cannot, and why;
    - ``problems``: rules that contradict each other or name nothing usable;
    - ``nodes_before``, ``nodes_after``: per node load, utilisation, claim and limit;
    - ``metrics``: FORMAT.md metrics after the plan (and ``before``), ``plan_seconds``;
    - ``mode``, ``memory_basis``, ``mem_limit``, ``balanced``, ``strategy``, ``warnings``, ``options``.
    """
    started = time.perf_counter()
    model = load(scenario, options)
    rules = Rules(model)
    standalone = "cluster_name" in scenario and scenario["cluster_name"] is None
    if standalone:
        model.warnings.append("cluster_name is null: standalone hosts, no migrations planned")
    fixed = Planner(model, rules)
    if standalone:
        fixed.stand_alone()
        planner, waves, strategy = fixed, [], None
    else:
        fixed.fix()
        strategies = ["joint", "memory_first"] if model.options["strategy"] == "auto" else [model.options["strategy"]]
        if not fixed.cpu_weight:
            strategies = strategies[:1]     # without CPU the two are the same
        if model.options["strategy"] == "auto" and fixed.small():
            strategies.append("beam")
        best = None
        for number, strategy in enumerate(strategies):
            candidate = fixed.copy() if number < len(strategies) - 1 else fixed
            candidate, candidate_waves = candidate.finish(strategy)
            if best is None or candidate.outcome() < best[0].outcome():
                best = (candidate, candidate_waves, strategy)
        planner, waves, strategy = best
    moves = []
    for number, wave in enumerate(waves, 1):
        for move in wave:
            for vmid, source in move.sources:
                guest = model.by_vmid[vmid]
                moves.append({
                    "vmid": vmid, "type": guest.kind, "name": guest.name,
                    "source": model.nodes[source].name, "target": model.nodes[move.target].name,
                    "wave": number, "reason": move.reason, "mem": guest.load_mem, "claim": guest.claim,
                    "restart": guest.kind == "lxc" and guest.running,
                })
    seconds = time.perf_counter() - started
    metrics = evaluate(model, moves, rules=rules)
    metrics["plan_seconds"] = seconds
    unplaced = []
    for uid in sorted(planner.unplaced):
        unit = planner.units[uid]
        for guest in unit.members:
            unplaced.append({"vmid": guest.vmid, "node": model.nodes[planner.loc[guest.vmid]].name, "reason": planner.unplaced[uid]})
    return {
        "moves": moves,
        "waves": len(waves),
        "unplaced": unplaced,
        "problems": rules.problems,
        "warnings": model.warnings,
        "nodes_before": metrics.pop("nodes_before"),
        "nodes_after": metrics.pop("nodes_after"),
        "metrics": metrics,
        "mode": model.options["mode"],
        "memory_basis": model.options["memory_basis"],
        "mem_limit": model.options["mem_limit"],
        "balanced": planner.balanced(),
        "strategy": strategy,
        "options": dict(model.options),
    }
