#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: balancer
short_description: Balance the guests of a Proxmox VE cluster across its nodes, drain nodes, and place new guests
version_added: 0.3.0
description:
  - A distributed resource scheduler for Proxmox VE. It reads the cluster, plans migrations that even out memory
    (and CPU) use across the online nodes while every placement rule holds, and carries the plan out wave by wave.
  - The cluster is read with few requests. C(/cluster/resources) gives nodes, guests, tags, pools, HA state and node
    maintenance; C(/cluster/ha/rules) the HA rules; C(/cluster/options) whether CRS rebalances HA resources by
    itself (read only when HA manages a guest). With O(mode=used), each online node's C(/nodes/{node}/status) for
    the memory KSM shares, and with O(memory_basis=balloon_floor) the configuration of every running VM for its
    balloon minimum. The migration check C(GET .../migrate) is asked only for the guests a plan would move; a guest
    it does not let go (local devices, local disks without O(with_local_disks), a local CD-ROM image, local disks
    with snapshots of a running VM) is kept in place and the plan is made again.
  - Rules that are honoured. Tags as ProxLB has them (C(plb_affinity_<group>), C(plb_anti_affinity_<group>),
    C(plb_pin_<node>), C(plb_ignore_<anything>)); PVE 9's HA rules (C(node-affinity), C(resource-affinity));
    the rules of O(rules); pools as groups (O(pools_as)).
  - The moves of one wave are safe together (every target holds all that arrives before anything leaves); up to
    O(parallel) migrations of a wave run at once, and the next wave starts when the wave is over. A running VM
    migrates live (C(online=1)); a running container only with a restart migration, when O(allow_lxc_restart=true).
    A guest that HA manages is moved through HA (C(POST /cluster/ha/resources/{sid}/migrate)) and the module waits
    until the HA manager has moved it.
  - O(maintenance_nodes) drains nodes; nodes that the HA manager has in maintenance mode are drained as well. A drain
    that would leave a guest on a node of O(maintenance_nodes) is refused before any change.
  - O(action=place) changes nothing and returns the best node for a new guest of O(memory), O(cores) and O(tags)
    (see also the lookup P(proxops.proxmox.best_node#lookup)).
  - When a migration fails, no further migration starts (O(on_failure=stop)) or the run goes on (O(on_failure=continue));
    the module fails with what was done, what failed and what was not started. A rerun plans from the new state.
    A guest is never migrated twice in one run.
author:
  - proxops.proxmox contributors (@proxops)
extends_documentation_fragment:
  - proxops.proxmox.api
  - proxops.proxmox.attributes
  - proxops.proxmox.attributes.actiongroup_proxmox
options:
  action:
    description:
      - V(balance) plans and migrates (in check mode, only plans).
      - V(place) returns the best node for a new guest (RV(node)) and changes nothing.
    type: str
    choices: [balance, place]
    default: balance
  mode:
    description:
      - V(used) balances what the guests use now (C(mem), C(cpu) of C(/cluster/resources)).
      - V(assigned) balances what they are given (C(maxmem), C(maxcpu)), whatever they use.
    type: str
    choices: [used, assigned]
    default: used
  mem_weight:
    description: Weight of memory in the balance.
    type: float
    default: 1.0
  cpu_weight:
    description: Weight of CPU in the balance; V(0) balances memory alone.
    type: float
    default: 0.2
  threshold:
    description:
      - Memory spread (highest minus lowest node utilisation, as a fraction) under which the cluster counts as
        balanced and no balancing move is made. Rule fixes and drains are made anyway.
    type: float
    default: 0.02
  cpu_threshold:
    description: The same for CPU (only when O(cpu_weight) is above 0).
    type: float
    default: 0.1
  max_migrations:
    description:
      - At most this many migrations in one run (every guest of an affinity group counts). No limit when not set.
    type: int
  mem_limit:
    description:
      - The fraction of a node's memory the guests may claim on it after and during the plan. Defaults to V(0.9) with
        O(mode=used) and V(1.0) with O(mode=assigned).
    type: float
  memory_basis:
    description:
      - What a guest claims on its target for the capacity check, with O(mode=used).
      - V(balloon_floor) (the default with O(mode=used)) at least its balloon minimum (its whole memory when
        ballooning is off); it reads the configuration of every running VM.
      - V(used) what it uses now; V(max) its whole memory.
      - With O(mode=assigned) every guest claims its whole memory.
    type: str
    choices: [used, balloon_floor, max]
  rules:
    description:
      - Placement rules in the shape of PVE 9's HA rules, in addition to the cluster's HA rules and the tags. They need
        not be HA rules of the cluster, and the guests need not be HA-managed.
    type: list
    elements: dict
    suboptions:
      type:
        description: V(node-affinity) (the guests run on the O(rules[].nodes)) or V(resource-affinity) (the guests run together or apart).
        type: str
        required: true
        choices: [node-affinity, resource-affinity]
      resources:
        description: The guests, as vmids or HA resource ids (V(vm:100), V(ct:101)).
        type: list
        elements: str
        required: true
      nodes:
        description:
          - For V(node-affinity), the nodes, each V(name) or V(name:priority). The guests go to the available nodes
            of the highest priority.
        type: list
        elements: str
      strict:
        description: For V(node-affinity), whether the guests may run only on O(rules[].nodes) even when none of them is available.
        type: bool
        default: false
      affinity:
        description: For V(resource-affinity), V(positive) (together) or V(negative) (apart).
        type: str
        choices: [positive, negative]
      rule:
        description: A name for the rule in the report.
        type: str
  pools_as:
    description:
      - Treat the guests of each pool as an affinity group (V(affinity), kept together) or as an anti-affinity group
        (V(anti-affinity), kept apart).
    type: str
    choices: [affinity, anti-affinity]
  pools:
    description: The pools O(pools_as) applies to; all pools when not set.
    type: list
    elements: str
  maintenance_nodes:
    description:
      - Nodes to drain. Every guest the balance counts (running ones, and stopped ones with O(include_stopped=true))
        leaves them, and none is moved onto them.
    type: list
    elements: str
    default: []
  include_stopped:
    description: Move (and count) stopped guests too. A stopped guest migrates offline.
    type: bool
    default: false
  include_templates:
    description: Move templates too (with O(include_stopped=true) or not, templates are stopped).
    type: bool
    default: false
  with_local_disks:
    description:
      - Let running VMs with disks on local storage migrate, copying the disks (PVE's C(with-local-disks)). Copying
        takes as long as the disks are big.
    type: bool
    default: false
  allow_lxc_restart:
    description:
      - Let running containers migrate. PVE migrates a running container only by stopping it, moving it and starting
        it again on the target (C(restart=1)), so the container is down meanwhile.
    type: bool
    default: false
  ha_guests:
    description:
      - What to do with guests the HA manager manages.
      - V(auto) moves them through HA, unless the cluster's CRS rebalances HA resources by itself
        (C(ha-auto-rebalance=1) in the C(crs) cluster option); then they are left to it, except those that must leave a
        node of O(maintenance_nodes). RV(ha) says which applied.
      - V(balance) always moves them (through HA); V(leave) never moves them.
    type: str
    choices: [auto, balance, leave]
    default: auto
  parallel:
    description: How many migrations of one wave run at once.
    type: int
    default: 2
  on_failure:
    description:
      - V(stop) starts no further migration after one fails (those running finish).
      - V(continue) goes on with the others, except those into a node a failed migration should have made room on,
        and later moves of the failed guest.
    type: str
    choices: [stop, continue]
    default: stop
  timeout:
    description: Seconds to wait for each migration (its task, or the HA manager's move).
    type: int
    default: 1800
  memory:
    description: With O(action=place), the new guest's memory in MiB.
    type: int
  cores:
    description: With O(action=place), the new guest's vCPUs.
    type: int
    default: 1
  tags:
    description: With O(action=place), the new guest's tags (C(plb_pin_<node>), C(plb_affinity_<group>), C(plb_anti_affinity_<group>)).
    type: list
    elements: str
  vmid:
    description: With O(action=place), the new guest's vmid, so that HA rules and O(rules) naming it apply.
    type: int
  pool:
    description: With O(action=place), the new guest's pool (for O(pools_as)).
    type: str
  guest_type:
    description: With O(action=place), the kind of the new guest.
    type: str
    choices: [qemu, lxc]
    default: qemu
attributes:
  check_mode:
    support: full
    details: Plans and returns the plan; nothing migrates.
  diff_mode:
    support: full
    details: The node of each guest that moves (or would), before and after.
notes:
  - Privileges. C(Sys.Audit) on C(/) (HA rules, HA resources, cluster options) and on C(/nodes/{node}) (node status
    for KSM, with O(mode=used)); C(VM.Audit) on C(/vms/{vmid}) to see the guests and read VM configurations; C(VM.Migrate)
    on C(/vms/{vmid}) for the migration check and to migrate; C(Sys.Console) on C(/) to migrate an HA-managed guest
    through HA. Guests the user may not see are not in C(/cluster/resources) for it, so they are neither counted nor
    moved; balance with a user that sees the whole cluster. O(action=place) needs only the reading privileges.
  - A guest moved through HA is placed by the HA manager; the module waits until C(/cluster/resources) shows it on the
    target. Rules of the HA manager that the plan does not know (PVE 8 HA groups) may make it refuse.
  - A run where the plan has no move reports no change; so does O(action=place).
  - The plan is made once, before the first migration, from one read of the cluster; loads that change meanwhile are
    seen by the next run.
seealso:
  - plugin: proxops.proxmox.best_node
    plugin_type: lookup
  - name: High Availability (PVE 9)
    description: HA rules, CRS and node maintenance in the Proxmox VE documentation.
    link: https://pve.proxmox.com/pve-docs/chapter-ha-manager.html
"""

EXAMPLES = r"""
- name: Show what draining pve-c would do, without changing anything
  proxops.proxmox.balancer:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    maintenance_nodes: [pve-c]
    with_local_disks: true
    rules:
      - type: resource-affinity
        affinity: negative
        resources: [100, 101]
  check_mode: true
  register: drain_plan

- name: Drain pve-c before its maintenance, keeping VMs 100 and 101 apart, two migrations at a time
  proxops.proxmox.balancer:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    maintenance_nodes: [pve-c]
    with_local_disks: true
    parallel: 2
    rules:
      - type: resource-affinity
        affinity: negative
        resources: [100, 101]

- name: Best node for a new VM of 4 GiB and 2 cores
  proxops.proxmox.balancer:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    action: place
    memory: 4096
    cores: 2
  register: new_vm

- name: Balance memory and CPU across the nodes, by what the guests are given
  proxops.proxmox.balancer:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    mode: assigned
    with_local_disks: true
    rules:
      - type: resource-affinity
        affinity: negative
        resources: [100, 101]
  register: balanced
"""

RETURN = r"""
plan:
  description: The planned migrations, by wave.
  returned: always
  type: list
  elements: dict
  contains:
    vmid:
      description: ID of the guest.
      type: int
    name:
      description: Name of the guest.
      type: str
    type:
      description: V(qemu) or V(lxc).
      type: str
    source:
      description: The node it is on.
      type: str
    target:
      description: The node it goes to.
      type: str
    wave:
      description: The wave (from 1); the moves of one wave run together.
      type: int
    reason:
      description: Why it moves (a drain, a rule, the balance).
      type: str
    mem:
      description: The memory (bytes) it counts with in the balance.
      type: int
    restart:
      description: A running container that migrates with a restart.
      type: bool
    ha:
      description: Moved through HA.
      type: bool
  sample:
    - {"vmid": 102, "name": "db1", "type": "qemu", "source": "pve-a", "target": "pve-b", "wave": 1,
       "reason": "balance", "mem": 12025908428, "restart": false, "ha": false}
waves:
  description: The number of waves of the plan.
  returned: always
  type: int
migrations:
  description:
    - What became of each planned move, in plan order, with RV(migrations[].state) V(done), V(failed),
      V(not_started) or, in check mode, V(planned); RV(migrations[].error) for a failure, RV(migrations[].reason) for
      one not started.
  returned: always
  type: list
  elements: dict
  sample: [{"vmid": 102, "source": "pve-a", "target": "pve-b", "wave": 1, "state": "done"}]
  contains:
    state:
      description: V(done), V(failed), V(not_started), or in check mode V(planned).
      type: str
    error:
      description: Why the migration failed (PVE's task error and its cause).
      type: str
    reason:
      description: Why the migration did not start.
      type: str
migrated:
  description: The migrations that were carried out, as "type vmid (name) source -> target".
  returned: always
  type: list
  elements: str
failed_migrations:
  description: The migrations that failed, with the error (PVE's task error and its cause).
  returned: always
  type: list
  elements: dict
  sample: [{"item": "qemu 101 (vm101) pve-a -> pve-c", "error": "task qmigrate failed: migration aborted"}]
not_started:
  description: The migrations that did not start because of a failure.
  returned: always
  type: list
  elements: str
usage_before:
  description:
    - Per node, what the balance counts before the run (as O(mode) says), C(mem) (bytes) and C(mem_util), C(cpu) (cores)
      and C(cpu_util) (fractions of the node), C(maxmem), C(maxcpu), C(mem_limit), C(guests) (those counted) and
      C(status) (V(online), V(offline) or V(maintenance)).
  returned: always, except with O(action=place)
  type: dict
  sample: {"pve-a": {"status": "online", "mem": 25769803776, "maxmem": 68719476736, "mem_util": 0.375, "cpu": 3.1,
                     "maxcpu": 16, "cpu_util": 0.1938, "mem_limit": 61847529062, "guests": 4}}
usage_after:
  description:
    - The same after the run; read from the cluster again after migrations, else as the plan predicts (check mode,
      nothing to do, or the plan's prediction when the run failed before reading again).
  returned: always, except with O(action=place)
  type: dict
metrics:
  description:
    - The plan's metrics (FORMAT.md of the scheduler) after the plan, and C(before) it. C(mem_spread), C(cpu_spread)
      (highest minus lowest utilisation), C(mem_stdev), C(cpu_stdev), C(migrations), C(moved_mem_bytes), C(waves),
      C(violations) (broken rules and unsafe moves, with C(violation_list)), C(plan_seconds), C(mode), C(memory_basis).
  returned: always, except with O(action=place)
  type: dict
balanced:
  description: Whether the cluster is within O(threshold) (and O(cpu_threshold)) after the plan.
  returned: always, except with O(action=place)
  type: bool
unplaced:
  description: Guests that should move (a drain, a broken rule) but cannot, each with the node it stays on and why.
  returned: always, except with O(action=place)
  type: list
  elements: dict
held:
  description: Guests the module keeps where they are, by vmid, with the reason (migration check, lock, HA left to CRS).
  returned: always, except with O(action=place)
  type: dict
  sample: {"103": "a running VM with local disks (local-lvm:vm-103-disk-0) moves only with with_local_disks"}
problems:
  description: Rules that contradict each other or cannot be met.
  returned: always
  type: list
  elements: dict
notes:
  description: Notes of the scheduler and of the module (a maintenance node that is not in the cluster, a cluster
    option that could not be read).
  returned: always
  type: list
  elements: str
maintenance_nodes:
  description: The nodes drained in this run (O(maintenance_nodes) and those the HA manager has in maintenance).
  returned: always
  type: list
  elements: str
ha:
  description:
    - How HA-managed guests were handled. C(crs_auto_rebalance) (V(null) when the cluster options could not be read),
      C(policy) (V(balance) or V(leave)), C(guests) (their vmids) and C(message).
  returned: always
  type: dict
  sample: {"crs_auto_rebalance": true, "policy": "leave", "guests": [105],
           "message": "CRS rebalances HA resources (ha-auto-rebalance=1): HA-managed guests are left to it"}
node:
  description: With O(action=place), the best node for the new guest.
  returned: when O(action=place)
  type: str
  sample: pve-b
placement:
  description:
    - With O(action=place), C(node), C(reason), C(candidates) (best first, each with C(node), C(score),
      C(mem_util_after), C(cpu_util_after)) and C(rejected) (node -> why).
  returned: when O(action=place)
  type: dict
"""

import threading

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxError
from ansible_collections.proxops.proxmox.plugins.module_utils._balancer import (
    ACTIONS,
    HA_POLICIES,
    ON_FAILURE,
    allowed_nodes_rule,
    balloon_bytes,
    build_scenario,
    crs_auto_rebalance,
    describe_move,
    ha_maintenance_nodes,
    ha_managed,
    hold_reason,
    metrics_of,
    migrate_params,
    option_errors,
    place_size,
    placement_diff,
    plan_moves,
    precondition_limits,
    scheduler_options,
    sid_of,
    task_cause,
    usage,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import ProxmoxModule
from ansible_collections.proxops.proxmox.plugins.module_utils._resources import guests_of, nodes_of, read_resources
from ansible_collections.proxops.proxmox.plugins.module_utils._scheduler.metrics import evaluate
from ansible_collections.proxops.proxmox.plugins.module_utils._scheduler.placement import place
from ansible_collections.proxops.proxmox.plugins.module_utils._scheduler.planner import plan as make_plan
from ansible_collections.proxops.proxmox.plugins.module_utils._scheduler.scenario import ScenarioError
from ansible_collections.proxops.proxmox.plugins.module_utils._task_pool import DONE, FAILED, run_bounded

READ_PARALLEL = 8   # parallel reads (node status, VM configs, migration checks)
PLAN_ROUNDS = 5     # plans made again after migration checks keep guests in place


class MigrationFailed(Exception):
    """A migration that did not happen, with a message for the report."""


class BalancerModule(ProxmoxModule):
    argument_spec = dict(
        action=dict(type="str", choices=list(ACTIONS), default="balance"),
        mode=dict(type="str", choices=["used", "assigned"], default="used"),
        mem_weight=dict(type="float", default=1.0),
        cpu_weight=dict(type="float", default=0.2),
        threshold=dict(type="float", default=0.02),
        cpu_threshold=dict(type="float", default=0.1),
        max_migrations=dict(type="int"),
        mem_limit=dict(type="float"),
        memory_basis=dict(type="str", choices=["used", "balloon_floor", "max"]),
        rules=dict(type="list", elements="dict", options=dict(
            type=dict(type="str", required=True, choices=["node-affinity", "resource-affinity"]),
            resources=dict(type="list", elements="str", required=True),
            nodes=dict(type="list", elements="str"),
            strict=dict(type="bool", default=False),
            affinity=dict(type="str", choices=["positive", "negative"]),
            rule=dict(type="str"),
        )),
        pools_as=dict(type="str", choices=["affinity", "anti-affinity"]),
        pools=dict(type="list", elements="str"),
        maintenance_nodes=dict(type="list", elements="str", default=[]),
        include_stopped=dict(type="bool", default=False),
        include_templates=dict(type="bool", default=False),
        with_local_disks=dict(type="bool", default=False),
        allow_lxc_restart=dict(type="bool", default=False),
        ha_guests=dict(type="str", choices=list(HA_POLICIES), default="auto"),
        parallel=dict(type="int", default=2),
        on_failure=dict(type="str", choices=list(ON_FAILURE), default="stop"),
        timeout=dict(type="int", default=1800),
        memory=dict(type="int"),
        cores=dict(type="int", default=1),
        tags=dict(type="list", elements="str"),
        vmid=dict(type="int"),
        pool=dict(type="str"),
        guest_type=dict(type="str", choices=["qemu", "lxc"], default="qemu"),
    )
    option_errors = staticmethod(option_errors)

    def __init__(self, module):
        super().__init__(module)
        self.notes = []
        self.holds = {}         # vmid -> why the module keeps the guest in place
        self.limits = {}        # vmid -> nodes the migration check allows
        self.local_disks = {}   # vmid -> the migration check found local disks
        self.guests = {}
        self.lock = threading.Lock()

    # --- reading ----------------------------------------------------------------------------------
    def run(self):
        p = self.params
        resources = read_resources(self.client)
        self.guests = {int(guest["vmid"]): guest for guest in guests_of(resources)}
        names = {node["node"] for node in nodes_of(resources)}
        unknown = sorted(set(p["maintenance_nodes"]) - names)
        if unknown:
            self.fail("maintenance_nodes: %s %s not a node of the cluster (nodes: %s)"
                      % (", ".join(unknown), "is" if len(unknown) == 1 else "are", ", ".join(sorted(names))))
        ha_rules = self.read_optional("/cluster/ha/rules", [])
        if p["action"] == "place":
            self.place(resources, ha_rules)
            return
        self.balance(resources, ha_rules)

    def read_optional(self, path, default):
        """A read that an older PVE (or a simulator) may not have: its 501 gives ``default`` and a note."""
        try:
            return self.client.get(path)
        except ProxmoxError as err:
            if err.status != 501:
                raise
            self.notes.append("%s cannot be read here (HTTP 501 %s)" % (path, err.message))
            return default

    def read_ksm(self, resources):
        """node -> bytes KSM shares, for the online nodes (used mode only)."""
        if self.params["mode"] != "used":
            return {}
        online = [node["node"] for node in nodes_of(resources) if node.get("status") == "online"]
        outcomes = run_bounded(online, lambda name: self.client.get("/nodes/%s/status" % name) or {}, READ_PARALLEL,
                               stop_on_failure=False)
        ksm = {}
        for outcome in outcomes:
            if outcome.state == FAILED:
                raise outcome.error
            ksm[outcome.item] = int(((outcome.result or {}).get("ksm") or {}).get("shared") or 0)
        return ksm

    def read_balloons(self):
        """vmid -> balloon floor (bytes) of every running VM, when the memory basis needs it."""
        p = self.params
        if p["mode"] != "used" or (p["memory_basis"] or "balloon_floor") != "balloon_floor":
            return {}
        running = [guest for guest in self.guests.values() if guest["type"] == "qemu" and guest.get("status") == "running"]
        outcomes = run_bounded(running, lambda guest: self.client.get(
            "/nodes/%s/qemu/%s/config" % (guest["node"], guest["vmid"])) or {}, READ_PARALLEL, stop_on_failure=False)
        balloons = {}
        for outcome in outcomes:
            if outcome.state == FAILED:
                raise outcome.error
            balloons[int(outcome.item["vmid"])] = balloon_bytes(outcome.result)
        return balloons

    def ha_policy(self):
        """Which HA-managed guests the plan may move; ``self.result["ha"]``."""
        p = self.params
        managed = sorted(vmid for vmid, guest in self.guests.items() if ha_managed(guest))
        info = {"crs_auto_rebalance": None, "policy": "balance", "guests": managed, "message": ""}
        if not managed:
            info["message"] = "no guest is HA-managed"
        elif p["ha_guests"] == "leave":
            info.update(policy="leave", message="HA-managed guests stay where they are (ha_guests=leave)")
        else:
            options = self.read_optional("/cluster/options", None)
            info["crs_auto_rebalance"] = None if options is None else crs_auto_rebalance(options)
            if p["ha_guests"] == "balance":
                info["message"] = "HA-managed guests are moved through HA (ha_guests=balance)"
            elif info["crs_auto_rebalance"]:
                info.update(policy="leave", message="CRS rebalances HA resources (ha-auto-rebalance=1): HA-managed guests "
                            "are left to it, except those leaving a node of maintenance_nodes (ha_guests=balance moves them)")
            else:
                info["message"] = "HA-managed guests are moved through HA (CRS auto-rebalance is %s)" % (
                    "off" if info["crs_auto_rebalance"] is False else "unknown: /cluster/options could not be read")
        if info["policy"] == "leave":
            drained = set(p["maintenance_nodes"]) if p["ha_guests"] == "auto" else set()
            for vmid in managed:
                if self.guests[vmid].get("node") not in drained:
                    self.holds[vmid] = "HA-managed, left to %s" % ("CRS" if p["ha_guests"] == "auto" else "HA (ha_guests=leave)")
        self.result["ha"] = info
        return set(managed)

    # --- planning ---------------------------------------------------------------------------------------
    def plan(self, resources, ha_rules, maintenance, ksm, balloons):
        """Plan; ask the migration check of the guests the plan moves; plan again while it keeps some in place."""
        checked = set()
        for _round in range(PLAN_ROUNDS):
            scenario = build_scenario(resources, ha_rules, maintenance, ksm, balloons, self.holds)
            extra = [allowed_nodes_rule(self.guests[vmid], nodes) for vmid, nodes in sorted(self.limits.items())]
            try:
                result = make_plan(scenario, scheduler_options(self.params, extra))
            except ScenarioError as err:
                self.fail("the options cannot be planned with: %s" % err)
            todo = sorted({move["vmid"] for move in result["moves"]} - checked)
            if not todo:
                return result
            outcomes = run_bounded(todo, self.check_migration, READ_PARALLEL, stop_on_failure=False)
            again = False
            for outcome in outcomes:
                if outcome.state == FAILED:
                    raise outcome.error
                checked.add(outcome.item)
                why, allowed = outcome.result
                targets = {move["target"] for move in result["moves"] if move["vmid"] == outcome.item}
                if why:
                    self.holds[outcome.item] = why
                    again = True
                elif allowed is not None:
                    self.limits[outcome.item] = allowed
                    again = again or bool(targets - set(allowed))
            if not again:
                return result
        return result

    def check_migration(self, vmid):
        """``(why it cannot move, allowed nodes)`` from PVE's migration check."""
        guest = self.guests[vmid]
        answer = self.client.get("/nodes/%s/%s/%s/migrate" % (guest["node"], guest["type"], vmid)) or {}
        self.local_disks[vmid] = bool(answer.get("local_disks"))
        return precondition_limits(guest["type"], answer, guest.get("status") == "running", self.params["with_local_disks"])

    # --- balance -------------------------------------------------------------------------------------
    def balance(self, resources, ha_rules):
        p = self.params
        ha_guests = self.ha_policy()
        for vmid, guest in self.guests.items():
            if guest.get("lock") and vmid not in self.holds:
                self.holds[vmid] = "locked (%s)" % guest["lock"]
        ha_maintenance = ha_maintenance_nodes(resources)
        maintenance = sorted(set(p["maintenance_nodes"]) | set(ha_maintenance))
        plan = self.plan(resources, ha_rules, maintenance, self.read_ksm(resources), self.read_balloons())
        moves = plan_moves(plan, ha_guests)
        for entry in plan["unplaced"]:
            entry["reason"] = hold_reason(entry["reason"], self.holds, [entry["vmid"]])
        self.result.update(
            plan=moves, waves=plan["waves"], migrations=[], migrated=[], failed_migrations=[], not_started=[],
            usage_before=usage(plan["nodes_before"]), usage_after=usage(plan["nodes_after"]),
            metrics=metrics_of(plan["metrics"]), balanced=plan["balanced"], unplaced=plan["unplaced"],
            held={str(vmid): why for vmid, why in sorted(self.holds.items())}, problems=plan["problems"],
            notes=self.notes + list(plan["warnings"]), maintenance_nodes=maintenance,
        )
        stuck = [item for item in plan["metrics"].get("violation_list", []) if item["kind"] == "maintenance"]
        refused = [item for item in stuck if item["node"] in p["maintenance_nodes"]]
        for item in stuck:
            if item not in refused:
                self.module.warn("guest %s stays on %s, which the HA manager has in maintenance" % (item["vmids"][0], item["node"]))
        if refused:
            why = {entry["vmid"]: entry["reason"] for entry in plan["unplaced"]}
            nodes = ", ".join(sorted({item["node"] for item in refused}))
            stays = "; ".join("guest %s stays on %s (%s)" % (item["vmids"][0], item["node"], why.get(item["vmids"][0], "no node can take it"))
                              for item in refused)
            self.fail("maintenance_nodes: cannot drain %s: %s; nothing was migrated" % (nodes, stays), **self.result)
        before, after = placement_diff(moves)
        if not moves:
            return
        if self.check_mode:
            self.changed = True
            self.result["migrations"] = [dict(move, state="planned") for move in moves]
            self.record_diff(before, after, section="guests")
            return
        states = self.run_waves(moves)
        before, after = placement_diff(moves, states)
        if before:
            self.record_diff(before, after, section="guests")
        if self.result["failed_migrations"]:
            self.fail(self.failure_message(), **self.result)

    # --- executing -----------------------------------------------------------------------------------
    def run_waves(self, moves):
        """Run the waves; each migration once; per move its state."""
        p = self.params
        states, errors, reasons = {}, {}, {}
        migrated, failed_sources, stopped = set(), set(), False
        index_of = {id(move): number for number, move in enumerate(moves)}
        for wave in sorted({move["wave"] for move in moves}):
            runnable = []
            for move in (m for m in moves if m["wave"] == wave):
                number = index_of[id(move)]
                if stopped:
                    reasons[number] = "a migration failed before (on_failure=stop)"
                elif move["vmid"] in migrated:
                    reasons[number] = "already migrated once in this run; a rerun plans it again"
                elif move["target"] in failed_sources or move["vmid"] in failed_sources:
                    reasons[number] = "a failed migration did not make the room this move needs"
                else:
                    runnable.append(move)
                    continue
                states[number] = "not_started"
            outcomes = run_bounded(runnable, self.migrate, p["parallel"], stop_on_failure=p["on_failure"] == "stop")
            for outcome in outcomes:
                number = index_of[id(outcome.item)]
                if outcome.state == DONE:
                    states[number] = "done"
                    migrated.add(outcome.item["vmid"])
                elif outcome.state == FAILED:
                    states[number] = "failed"
                    errors[number] = self.error_text(outcome.error)
                    failed_sources.update((outcome.item["source"], outcome.item["vmid"]))
                    stopped = stopped or p["on_failure"] == "stop"
                else:
                    states[number] = "not_started"
                    reasons[number] = "a migration failed before (on_failure=stop)"
        results = []
        for number, move in enumerate(moves):
            entry = {"vmid": move["vmid"], "name": move["name"], "type": move["type"], "source": move["source"],
                     "target": move["target"], "wave": move["wave"], "ha": move["ha"], "state": states[number]}
            if number in errors:
                entry["error"] = errors[number]
            if number in reasons:
                entry["reason"] = reasons[number]
            results.append(entry)
        self.result.update(
            migrations=results,
            migrated=[describe_move(move) for number, move in enumerate(moves) if states[number] == "done"],
            failed_migrations=[{"item": describe_move(move), "error": errors[number]}
                               for number, move in enumerate(moves) if states[number] == "failed"],
            not_started=[describe_move(move) for number, move in enumerate(moves) if states[number] == "not_started"],
        )
        if any(state == "done" for state in states.values()):
            self.measure_after()
        return {move["vmid"]: states[number] for number, move in enumerate(moves) if states[number] == "done"}

    def migrate(self, move):
        """One migration, waited for: a task, or the HA manager's move."""
        guest = self.guests[move["vmid"]]
        timeout = self.params["timeout"]
        running = guest.get("status") == "running"
        if move["ha"]:
            answer = self.client.post("/cluster/ha/resources/%s/migrate" % sid_of(guest), node=move["target"]) or {}
            with self.lock:
                self.changed = True
            blocking = answer.get("blocking-resources") or []
            if blocking:
                raise MigrationFailed("HA refuses to move %s to %s: %s" % (sid_of(guest), move["target"], ", ".join(
                    "%s (%s)" % (item.get("sid"), item.get("cause")) for item in blocking)))
            if not self.client.wait_until(lambda: self.arrived(move), timeout, first_interval=0.5, max_interval=5):
                raise MigrationFailed("the HA manager has not moved %s to %s within %d seconds (timeout)"
                                      % (sid_of(guest), move["target"], timeout))
        else:
            params = migrate_params(move, running, self.params["with_local_disks"], self.local_disks.get(move["vmid"]))
            upid = self.client.post("/nodes/%s/%s/%s/migrate" % (move["source"], move["type"], move["vmid"]), **params)
            with self.lock:
                self.changed = True
            self.client.wait_for_task(upid, timeout=timeout)
        with self.lock:
            self.done.append(describe_move(move))
        return True

    def arrived(self, move):
        """The HA manager has moved the guest to the target, and no migration holds it."""
        for guest in read_resources(self.client, "vm"):
            if int(guest["vmid"]) == move["vmid"]:
                return guest.get("node") == move["target"] and not guest.get("lock") and guest.get("hastate") != "migrate"
        raise MigrationFailed("%s %s is gone from the cluster" % (move["type"], move["vmid"]))

    def measure_after(self):
        """Usage after the run, from a new read of the cluster."""
        try:
            resources = read_resources(self.client)
            scenario = build_scenario(resources, maintenance=self.result["maintenance_nodes"], ksm=None)
            options = scheduler_options(self.params)
            options.pop("rules", None)
            measured = evaluate(scenario, [], options)
        except (ProxmoxError, ScenarioError) as err:
            self.notes.append("usage after the run could not be read (%s): usage_after is the plan's prediction" % err)
            self.result["notes"] = list(self.notes)
            return
        self.result["usage_after"] = usage(measured["nodes_before"])

    def error_text(self, error):
        if not isinstance(error, ProxmoxError):
            return str(error)
        text = self.describe_error(error)
        cause = task_cause(error.log)
        if cause and cause not in text:
            text += ": " + cause
        return text

    def failure_message(self):
        result = self.result
        text = "; ".join("%s: %s" % (item["item"], item["error"]) for item in result["failed_migrations"])
        msg = "%d of %d migrations failed: %s; %d done, %d not started" % (
            len(result["failed_migrations"]), len(result["plan"]), text, len(result["migrated"]), len(result["not_started"]))
        return msg + " (a rerun plans from the new state)"

    def failure_result(self, msg, **details):
        self.done = []   # RV(migrated) and RV(migrations) say what was done
        return super().failure_result(msg, **details)

    # --- place ------------------------------------------------------------------------------------------------
    def place(self, resources, ha_rules):
        p = self.params
        ksm = self.read_ksm(resources)
        scenario = build_scenario(resources, ha_rules, p["maintenance_nodes"] + ha_maintenance_nodes(resources), ksm)
        if p["vmid"] is not None and p["vmid"] in self.guests:
            self.fail("vmid: %s is a guest of the cluster already; place is for a new guest" % p["vmid"])
        try:
            answer = place(scenario, place_size(p["memory"], p["cores"]), tags=p["tags"] or [],
                           options=scheduler_options(self.params), vmid=p["vmid"], pool=p["pool"], kind=p["guest_type"])
        except ScenarioError as err:
            self.fail("the options cannot be planned with: %s" % err)
        self.result.update(node=answer["node"], placement=answer, notes=self.notes, problems=[])
        if answer["node"] is None:
            self.fail("no node can take a new guest of %d MiB and %d cores: %s" % (
                p["memory"], p["cores"], "; ".join("%s: %s" % item for item in sorted(answer["rejected"].items()))),
                **self.result)


def main():
    BalancerModule.execute()


if __name__ == "__main__":
    main()
