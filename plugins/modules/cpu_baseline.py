#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cpu_baseline
short_description: Find the CPU type every node of a Proxmox VE cluster runs, guard live migration, and set it on guests
version_added: 0.1.0
description:
  - Reads every node's CPU over the API (flags, model and vendor from the C(cpuinfo) of C(GET /nodes/{node}/status)) and
    answers, per node, its architecture, vendor, x86-64 level, the best named QEMU model it runs and what it lacks
    for the next level and the next named model; and for the cluster RV(cluster_cpu_type), the best CPU type every
    node runs, with the reason and the nodes that hold the cluster back (RV(held_back_by)). No SSH.
  - The answer is a named model (such as V(Skylake-Server-v4) or V(EPYC-Rome)) when every node has the same vendor,
    one such model runs on every node and it gives at least the common x86-64 level; otherwise the level's type
    (V(x86-64-v2-AES), V(x86-64-v3), ...). On a cluster that mixes architectures (x86_64 and aarch64 nodes) there is
    no common type; RV(cluster_cpu_type) is V(null) and RV(reason) says so.
  - With O(guard=true), reads the configuration of the QEMU guests O(vmids), O(tags), O(pool), O(node) or
    O(all=true) choose, and lists those whose C(cpu) would stop live migration to some node (RV(blocking_guests)),
    for V(host) or V(max) on nodes with different CPUs, a model a node lacks features for, C(flags) a node lacks, or a
    type PVE does not offer.
  - With O(apply=true), sets RV(cluster_cpu_type) (or O(cpu_type)) as the C(cpu) of the chosen QEMU guests
    (C(PUT /nodes/{node}/qemu/{vmid}/config) with the configuration's C(digest)). Check mode and diff mode are
    supported. A running guest keeps its CPU until its next cold start; PVE keeps the change pending.
  - Containers (LXC) have no CPU type; the selectors choose QEMU guests only, and a container named in O(vmids) is
    an error.
  - Nodes that are offline (by C(/cluster/resources), or whose status read PVE answers with 595) are an error by
    default; with O(offline=skip) they are left out with a warning and listed in RV(excluded_nodes). The answer
    then holds for the other nodes only.
author:
  - proxops.proxmox contributors (@proxops)
extends_documentation_fragment:
  - proxops.proxmox.api
  - proxops.proxmox.attributes
  - proxops.proxmox.attributes.actiongroup_proxmox
attributes:
  check_mode:
    details: Without O(apply=true) the module only reads.
  diff_mode:
    details: Per guest whose C(cpu) changes, the old and new C(cpu).
options:
  offline:
    description:
      - What to do about nodes that are offline.
      - V(fail) stops before anything else, naming them.
      - V(skip) leaves them out of the baseline, the guard and apply, with a warning; RV(excluded_nodes) lists them.
        Their guests are skipped too (RV(skipped_guests)), since PVE reads a guest's configuration on its node.
      - A node that comes back may hold the cluster back further; run the module again then.
    type: str
    choices: [fail, skip]
    default: fail
  guard:
    description:
      - Check the C(cpu) of the chosen QEMU guests against every node (RV(guard_guests), RV(blocking_guests)).
    type: bool
    default: false
  apply:
    description:
      - Set O(cpu_type), or else RV(cluster_cpu_type), as the C(cpu) of the chosen QEMU guests.
      - The other parts of a guest's C(cpu) stay when they stay valid on every node. C(-FLAG) items stay (taking a
        feature away never blocks migration); C(+FLAG) items stay only when every node runs the new type with that
        flag, and are dropped otherwise (RV(apply_guests[].dropped_flags)). C(hidden), C(hv-vendor-id),
        C(phys-bits), C(guest-phys-bits) and C(level) stay as they are.
      - A guest whose C(cpu) already gives that CPU (flag order and PVE's default type counted as PVE counts them) is
        left alone.
      - Refused, before any change, when no common type exists (see RV(reason)) and O(cpu_type) is not given, or
        when a node could not run the type to set (with the flags kept), or when a chosen guest is locked.
    type: bool
    default: false
  cpu_type:
    description:
      - The CPU type O(apply=true) sets instead of RV(cluster_cpu_type), such as V(x86-64-v2-AES) or V(EPYC-Rome).
      - One type name; it must be one PVE offers (C(capabilities/qemu/cpu)) and one every node runs.
    type: str
  vmids:
    description:
      - IDs of the QEMU guests to guard or apply to. An ID that is not in the cluster, or that is a container, is an
        error.
      - Combines with O(tags), O(pool) and O(node); a guest must match all of them.
    type: list
    elements: int
  tags:
    description:
      - Choose the QEMU guests that have every one of these tags.
    type: list
    elements: str
  pool:
    description:
      - Choose the QEMU guests of this resource pool.
    type: str
  node:
    description:
      - Choose the QEMU guests on this node.
    type: str
  all:
    description:
      - Choose every QEMU guest of the cluster. Must be said, so that forgetting a selector never means "every guest".
    type: bool
    default: false
  custom_models:
    description:
      - Definitions of the custom CPU models (C(custom-<id>)) the guests use, as the sections of
        C(/etc/pve/virtual-guest/cpu-models.conf) hold them (C(reported-model), C(flags), ...), by id.
      - The API lists custom models by name only, so without a definition the guard cannot judge a guest with a
        custom model; it lists every node under RV(guard_guests[].unverified_nodes).
    type: dict
  parallel:
    description:
      - How many node status reads, guest configuration reads and guest updates run at once.
    type: int
    default: 4
notes:
  - >-
    Privileges. The baseline: C(Sys.Audit) on C(/nodes/{node}) for every node (C(GET /nodes/{node}/status)); custom
    models appear in the model list only with C(Sys.Audit) on C(/nodes). O(guard=true): also C(VM.Audit) on
    C(/vms/{vmid}) (C(GET .../config)); guests without it are not in C(/cluster/resources) for the user, as if they
    did not exist. O(apply=true): also C(VM.Config.CPU) on C(/vms/{vmid}) (C(PUT .../config) with C(cpu)). So a token
    with C(Sys.Audit) alone answers the baseline.
  - >-
    Reads. One C(GET /cluster/resources); one C(GET /nodes/{node}/status) per node (not for nodes offline there);
    one C(GET /nodes/{node}/capabilities/qemu/cpu) per architecture of the nodes (the CPU types PVE offers, custom
    models among them; PVE answers it on the node the call reaches, so it is that node's release's list); with
    O(guard) or O(apply), one C(GET .../config) per chosen QEMU guest. C(capabilities/qemu/cpu-flags) is not read:
    it lists the flags a guest's C(cpu) may set, the same on every node, not what a node's CPU has.
  - >-
    Where flags alone cannot decide. PVE starts every CPU type but V(host) with QEMU's C(enforce), so a type runs on
    a node only if KVM there offers every feature it asks for. C(cpuinfo) shows most features, but not all: some
    are not printed in C(/proc/cpuinfo) (several ARCH_CAPABILITIES bits, the AVX10 version, CPUID 0x80000021 bits of
    EPYC-Milan-v2 and later), some KVM offers only on newer kernels (C(overflow-recov), C(succor), C(perfmon-v2)),
    and C(ssbd) on AMD may be a method KVM does not pass on. A model that needs such a feature is never the answer;
    it is listed under RV(unverified_models) (per node, RV(nodes[].unverified_models)) with the features that could
    not be decided. Given a C(bugs) line or KVM's own flag list this could be decided, but the API gives neither.
  - >-
    The module never answers with a model a node might not run: a named model is the answer only when every node
    verifiably runs it and PVE offers it; when the nodes run different PVE releases, the level's type instead,
    since the model list comes from one node.
  - >-
    Nodes without C(vendor) in C(cpuinfo) (PVE 8 and pve-common before 9.1.6) get their vendor from the model name
    (RV(nodes[].vendor_source)). aarch64 nodes report no flags; their guests run the CPU type V(host).
  - >-
    The guard checks the C(cpu) as PVE's configuration read shows it, pending changes included. A running guest with
    a pending change still runs its old CPU type until its next cold start.
  - >-
    A running guest takes a new C(cpu) at its next cold start (a stop and a start, or a reboot through PVE; a reboot
    from inside the guest is not enough). Until then PVE shows the change as pending and live migration uses the old
    type; RV(apply_guests[].pending) says which guests that concerns.
seealso:
  - name: CPU type (qm)
    description: Proxmox VE documentation of the CPU types of QEMU guests and live migration.
    link: https://pve.proxmox.com/pve-docs/chapter-qm.html#qm_cpu
"""

EXAMPLES = r"""
- name: Read the CPU baseline of the cluster
  proxops.proxmox.cpu_baseline:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
  register: baseline

- name: Show every node's CPU and what holds the cluster back
  ansible.builtin.debug:
    msg: >-
      {{ baseline.cluster_cpu_type }} ({{ baseline.reason }});
      held back by {{ baseline.held_back_by | join(', ') | default('no node', true) }}

# Planned maintenance: a node that is down must not stop the report.
- name: Read the baseline of the nodes that are online
  proxops.proxmox.cpu_baseline:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    offline: skip

- name: List the VMs whose CPU type would block live migration
  proxops.proxmox.cpu_baseline:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    guard: true
    all: true
  register: guard

- name: Fail when a VM cannot live-migrate to every node
  ansible.builtin.assert:
    that: guard.blocking_guests | length == 0
    fail_msg: "{{ guard.guard_guests | rejectattr('ok') | map(attribute='reasons') | list }}"

# Running VMs take it at their next cold start.
- name: Give two VMs the cluster's CPU type
  proxops.proxmox.cpu_baseline:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    apply: true
    vmids: [102, 103]

- name: Give a VM a chosen CPU type, keeping the flags of its cpu that every node runs
  proxops.proxmox.cpu_baseline:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    apply: true
    cpu_type: x86-64-v2-AES
    vmids: [101]
"""

RETURN = r"""
cluster_cpu_type:
  description:
    - The best CPU type every node (but those in RV(excluded_nodes)) runs, as PVE names it, for the guests' C(cpu).
    - V(null) when the nodes share none (nodes of different architectures, aarch64 nodes); RV(reason) says why.
  returned: always
  type: str
  sample: x86-64-v3
kind:
  description: V(model) (a named QEMU model) or V(level) (the type of an x86-64 level); V(null) with no common type.
  returned: always
  type: str
  sample: level
reason:
  description: Why RV(cluster_cpu_type) is what it is, or why there is none.
  returned: always
  type: str
  sample: "nodes of different or unknown vendors (AuthenticAMD, GenuineIntel): no named model"
architecture:
  description: The nodes' architecture (V(x86_64), V(aarch64)); V(null) when they mix architectures.
  returned: always
  type: str
  sample: x86_64
vendor:
  description: The nodes' common CPU vendor (V(GenuineIntel), V(AuthenticAMD)); V(null) when they differ or one is unknown.
  returned: always
  type: str
  sample: null
level:
  description: The highest x86-64 level every node runs (V(x86-64-v1) to V(x86-64-v4)), or V(null).
  returned: always
  type: str
  sample: x86-64-v3
model:
  description: The best named model every node runs and PVE offers, or V(null) (see RV(reason)).
  returned: always
  type: str
  sample: null
held_back_by:
  description: The nodes that lack something for RV(next_level) or RV(next_model), the ones to replace or leave out for a better type.
  returned: always
  type: list
  elements: str
  sample: [pve-milan]
next_level:
  description: The next x86-64 level and the nodes that do not run it, or V(null) at the top or with no level.
  returned: always
  type: dict
  sample: {"name": "x86-64-v4", "held_back_by": ["pve-milan"]}
  contains:
    name:
      description: The level.
      type: str
    held_back_by:
      description: The nodes that do not run it.
      type: list
      elements: str
next_model:
  description:
    - The next better named model some node runs and the nodes that do not, or V(null) (nodes of different vendors,
      or no better model).
  returned: always
  type: dict
  sample: {"name": "Icelake-Server-noTSX", "held_back_by": ["pve-sky"]}
  contains:
    name:
      description: The model.
      type: str
    held_back_by:
      description: The nodes that do not run it (or cannot be shown to).
      type: list
      elements: str
unverified_models:
  description:
    - Better named models than RV(model) that no node is known to lack, but that some node's data cannot show it
      runs (features C(/proc/cpuinfo) does not show); never the answer. Per model, the features per node.
  returned: always
  type: list
  elements: dict
  sample: [{"model": "EPYC-Milan-v2", "unverified": {"pve-milan": ["amd-psfd", "null-sel-clr-base"]}}]
nodes:
  description: One entry per node the answer is about, by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the node.
      type: str
      sample: pve-milan
    arch:
      description: Its architecture, from the running kernel (C(current-kernel.machine)).
      type: str
      sample: x86_64
    vendor:
      description: The CPU vendor (V(GenuineIntel), V(AuthenticAMD)), or V(null) when unknown.
      type: str
      sample: AuthenticAMD
    vendor_source:
      description: V(given) (C(cpuinfo.vendor)), V(model name) or V(flags) (vendor-only flags), or V(null).
      type: str
      sample: given
    model_name:
      description: The CPU's name as C(cpuinfo) gives it.
      type: str
      sample: AMD EPYC 7763 64-Core Processor
    sockets:
      description: CPU sockets.
      type: int
      sample: 1
    cpus:
      description: Logical CPUs.
      type: int
      sample: 128
    pve_version:
      description: The node's PVE release (major.minor), from its status.
      type: str
      sample: "9.1"
    level:
      description: The highest x86-64 level the node runs, or V(null).
      type: str
      sample: x86-64-v3
    level_cpu_type:
      description: The PVE type of that level (V(kvm64) for v1).
      type: str
      sample: x86-64-v3
    model:
      description: The best named model the node runs that PVE offers, or V(null).
      type: str
      sample: EPYC-Milan
    cpu_type:
      description: The best CPU type for guests on this node alone (the model when it gives at least the level).
      type: str
      sample: EPYC-Milan
    models:
      description: Every named model the node runs that PVE offers, best first.
      type: list
      elements: str
    unverified_models:
      description: Better models the node's data cannot show it runs, with the features it cannot decide.
      type: list
      elements: dict
      sample: [{"model": "EPYC-Milan-v2", "features": ["amd-psfd", "null-sel-clr-base"]}]
    next_level:
      description:
        - What the node lacks for the level above the cluster's (C(name), C(missing_flags) as C(/proc/cpuinfo)
          names them, C(missing) and C(unverified) QEMU features), or V(null).
      type: dict
      sample: {"name": "x86-64-v4", "missing_flags": ["avx512bw", "avx512f"], "missing": ["avx512bw", "avx512f"], "unverified": []}
    next_model:
      description: The same for RV(next_model), or V(null).
      type: dict
    note:
      description: What the node's data does not allow (an aarch64 node, an unknown vendor), or V(null).
      type: str
excluded_nodes:
  description: The nodes left out with O(offline=skip), with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "pve-milan", "reason": "offline"}]
guard_guests:
  description: With O(guard=true), one entry per chosen QEMU guest, by vmid.
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
    node:
      description: The node it is on.
      type: str
    status:
      description: V(running), V(stopped), ...
      type: str
    cpu:
      description: Its C(cpu) option as configured (pending change included), V(null) for PVE's default.
      type: str
      sample: host
    cpu_type:
      description: The CPU type that option gives (PVE's default V(kvm64) without one).
      type: str
    ok:
      description: Whether every node verifiably runs it.
      type: bool
    blocked_nodes:
      description: The nodes that could not run it (live migration there fails).
      type: list
      elements: str
    unverified_nodes:
      description: The nodes whose data cannot decide (see the notes).
      type: list
      elements: str
    reasons:
      description: Per node, why it cannot run the guest's CPU or cannot decide.
      type: dict
      sample: {"pve-milan": "lacks avx512bw, avx512f"}
blocking_guests:
  description: With O(guard=true), the IDs of the guests whose CPU type some node could not run.
  returned: always
  type: list
  elements: int
  sample: [100, 101]
unverified_guests:
  description: With O(guard=true), the IDs of the guests no node blocks but some node cannot decide for.
  returned: always
  type: list
  elements: int
  sample: []
cpu_type_applied:
  description: With O(apply=true), the CPU type set; else V(null).
  returned: always
  type: str
  sample: x86-64-v3
apply_guests:
  description: With O(apply=true), one entry per chosen QEMU guest, by vmid.
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
    node:
      description: The node it is on.
      type: str
    before:
      description: Its C(cpu) before, V(null) for none.
      type: str
      sample: host
    after:
      description: Its C(cpu) after (in check mode, what it would be).
      type: str
      sample: x86-64-v3
    changed:
      description: Whether it was set (in check mode, would be).
      type: bool
    pending:
      description: The guest runs, so it takes the new C(cpu) at its next cold start.
      type: bool
    dropped_flags:
      description: The C(+FLAG) items of its C(cpu) left out, because some node would not run them with the new type.
      type: list
      elements: str
    error:
      description: Why setting it failed.
      type: str
skipped_guests:
  description: The chosen guests left alone, with the reason (on a node left out with O(offline=skip)).
  returned: always
  type: list
  elements: dict
  sample: [{"vmid": 102, "reason": "on pve-milan, which is offline"}]
"""

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxError
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.baseline import cluster_baseline
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_module import (
    SELECTORS,
    cluster_answer,
    guard_row,
    guest_arch,
    node_input,
    node_row,
    offered_types,
    option_errors,
    plan_cpu,
    pve_release,
    same_cpu,
    target_problem,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import ProxmoxModule
from ansible_collections.proxops.proxmox.plugins.module_utils._resources import (
    ResourceLookupError,
    guest_path,
    nodes_of,
    read_resources,
    select_guests,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._task_pool import DONE, FAILED, run_bounded

OFFLINE_STATUS = 595  # pveproxy's answer for a node it cannot reach


class CpuBaselineModule(ProxmoxModule):
    argument_spec = dict(
        offline=dict(type="str", choices=["fail", "skip"], default="fail"),
        guard=dict(type="bool", default=False),
        apply=dict(type="bool", default=False),
        cpu_type=dict(type="str"),
        vmids=dict(type="list", elements="int"),
        tags=dict(type="list", elements="str"),
        pool=dict(type="str"),
        node=dict(type="str"),
        all=dict(type="bool", default=False),
        custom_models=dict(type="dict"),
        parallel=dict(type="int", default=4),
    )
    option_errors = staticmethod(option_errors)

    def __init__(self, module):
        super().__init__(module)
        self.statuses = {}
        self.excluded = []
        self.skipped = []

    def subject(self):
        return "CPU baseline"

    # --- the run -----------------------------------------------------------------
    def run(self):
        p = self.params
        resources = read_resources(self.client)
        online = self.read_nodes(nodes_of(resources))
        inputs = [node_input(name, self.statuses[name]) for name in online]
        node_arch = {node["name"]: node.get("arch") or "x86_64" for node in inputs}
        offered = self.read_offered(online, node_arch)
        releases = {name: pve_release(self.statuses[name].get("pveversion")) for name in online}
        baseline = cluster_baseline(inputs)
        arches = sorted(set(node_arch.values()))
        cluster_offered = offered.get(arches[0]) if len(arches) == 1 else None
        answer = cluster_answer(baseline, cluster_offered, releases)
        self.result.update(answer)
        self.result.update(
            nodes=[node_row(item, self.statuses[item["name"]], offered.get(item["arch"])) for item in baseline["nodes"]],
            excluded_nodes=self.excluded, guard_guests=[], blocking_guests=[], unverified_guests=[],
            cpu_type_applied=None, apply_guests=[], skipped_guests=self.skipped)
        if not (p["guard"] or p["apply"]):
            return
        guests = self.read_configs(self.choose(resources), online)
        if p["guard"]:
            rows = [guard_row(guest, config, inputs, node_arch, p["custom_models"], offered) for guest, config in guests]
            self.result.update(guard_guests=rows, blocking_guests=[row["vmid"] for row in rows if row["blocked_nodes"]],
                               unverified_guests=[row["vmid"] for row in rows if not row["blocked_nodes"] and row["unverified_nodes"]])
        if p["apply"]:
            self.apply(guests, inputs, node_arch, offered, answer)

    # --- reading -------------------------------------------------------------------
    def read_nodes(self, nodes):
        """Every online node's status; offline ones fail the run or are left out, as O(offline) says."""
        offline = {node["node"]: "offline" for node in nodes if node.get("status") != "online"}
        candidates = [node["node"] for node in nodes if node["node"] not in offline]
        outcomes = run_bounded(candidates, lambda name: self.client.get("/nodes/%s/status" % name) or {},
                               self.params["parallel"], stop_on_failure=False)
        for outcome in outcomes:
            if outcome.state != FAILED:
                self.statuses[outcome.item] = outcome.result
            elif isinstance(outcome.error, ProxmoxError) and outcome.error.status == OFFLINE_STATUS:
                offline[outcome.item] = "unreachable (%s)" % outcome.error.message
            else:
                raise outcome.error
        if offline:
            described = ", ".join("%s (%s)" % (name, why) for name, why in sorted(offline.items()))
            if self.params["offline"] == "fail":
                self.fail("offline: nodes %s: their CPU cannot be read, so no baseline would hold for them; "
                          "offline=skip leaves them out" % described)
            self.module.warn("offline=skip: the CPU baseline leaves out %s; it may be lower once they are back" % described)
            self.excluded.extend({"name": name, "reason": why} for name, why in sorted(offline.items()))
        if not self.statuses:
            self.fail("no node of the cluster could be read")
        return sorted(self.statuses)

    def read_offered(self, online, node_arch):
        """The CPU types PVE offers, per architecture: one capabilities/qemu/cpu read each (None when unknown)."""
        offered = {}
        arches = sorted(set(node_arch.values()))
        for arch in arches:
            node = next(name for name in online if node_arch[name] == arch)
            # PVE 8 has no arch parameter; one architecture needs none (the answering node's is the default)
            params = {"arch": arch} if len(arches) > 1 else {}
            try:
                offered[arch] = offered_types(self.client.get("/nodes/%s/capabilities/qemu/cpu" % node, **params))
            except ProxmoxError as err:
                if err.status not in (400, 501):
                    raise
                offered[arch] = None
        return offered

    def choose(self, resources):
        p = self.params
        criteria = {key: p[key] for key in SELECTORS if p[key] not in (None, [])}
        try:
            guests = select_guests(resources, **criteria)
        except ResourceLookupError as err:
            raise ResourceLookupError("%s (a guest the user lacks VM.Audit for is not listed)" % err) from None
        if p["vmids"]:
            containers = [str(guest["vmid"]) for guest in guests if guest["type"] != "qemu"]
            if containers:
                self.fail("vmids: %s %s a container (LXC): only QEMU guests have a CPU type"
                          % (", ".join(containers), "is" if len(containers) == 1 else "are"))
        return [guest for guest in guests if guest["type"] == "qemu"]

    def read_configs(self, guests, online):
        """(guest, config) of each chosen guest on a node that was read; guests on left-out nodes are skipped."""
        readable = []
        for guest in guests:
            if guest.get("node") in online:
                readable.append(guest)
            else:
                reason = "on %s, which is offline" % guest.get("node")
                self.skipped.append({"vmid": int(guest["vmid"]), "reason": reason})
                self.module.warn("qemu %s (%s) skipped: it is %s" % (guest["vmid"], guest.get("name"), reason))
        outcomes = run_bounded(readable, lambda guest: self.client.get(guest_path(guest) + "/config") or {},
                               self.params["parallel"], stop_on_failure=False)
        failed = [outcome for outcome in outcomes if outcome.state == FAILED]
        if failed:
            self.fail("reading the configuration failed: " + "; ".join(
                "qemu %s: %s" % (outcome.item["vmid"], self.error_text(outcome.error)) for outcome in failed))
        return [(outcome.item, outcome.result) for outcome in outcomes]

    # --- applying ----------------------------------------------------------------------
    def apply(self, guests, inputs, node_arch, offered, answer):
        p = self.params
        cpu_type = p["cpu_type"] or answer["cluster_cpu_type"]
        if cpu_type is None:
            self.fail("apply: the nodes share no CPU type (%s); give cpu_type to set one anyway" % answer["reason"])
        self.result["cpu_type_applied"] = cpu_type
        plans, problems = [], []
        for guest, config in guests:
            arch = guest_arch(guest, config, node_arch)
            plan = plan_cpu(config.get("cpu"), cpu_type, inputs, arch, guest.get("node"), p["custom_models"])
            row = {"vmid": int(guest["vmid"]), "name": guest.get("name"), "node": guest.get("node"), "before": config.get("cpu"),
                   "after": plan["after"], "changed": not same_cpu(config.get("cpu"), plan["after"], arch),
                   "pending": False, "dropped_flags": plan["dropped_flags"]}
            if row["changed"]:
                problem = target_problem(cpu_type, plan["check"], offered.get(arch))
                if problem:
                    problems.append("qemu %s: %s" % (row["vmid"], problem))
                elif config.get("lock"):
                    problems.append("qemu %s: is locked (%s)" % (row["vmid"], config["lock"]))
                elif plan["check"]["unverified_nodes"]:
                    self.module.warn("qemu %s: cannot verify that %s runs on %s (%s)" % (
                        row["vmid"], plan["after"], ", ".join(plan["check"]["unverified_nodes"]),
                        "; ".join("; ".join(entry["reasons"]) for entry in plan["check"]["nodes"] if entry["reasons"])))
                row["pending"] = guest.get("status") == "running"
            plans.append((guest, config, row))
        self.result["apply_guests"] = [row for _guest, _config, row in plans]
        if problems:
            self.fail("apply: %s; nothing was changed" % "; ".join(problems), **self.result)
        work = [item for item in plans if item[2]["changed"]]
        outcomes = run_bounded(work, self.set_cpu, p["parallel"], stop_on_failure=True)
        failed = []
        for outcome in outcomes:
            row = outcome.item[2]
            if outcome.state == DONE:
                self.record_diff({"qemu %s" % row["vmid"]: {"cpu": row["before"]}}, {"qemu %s" % row["vmid"]: {"cpu": row["after"]}})
                continue
            row.update(changed=False, pending=False)
            row["error"] = self.error_text(outcome.error) if outcome.error else "not started: another guest failed first"
            failed.append("qemu %s: %s" % (row["vmid"], row["error"]))
        if failed:
            self.fail("apply: %s" % "; ".join(failed), **self.result)
        pending = [str(row["vmid"]) for _guest, _config, row in work if row["pending"]]
        if pending and not self.check_mode:
            self.module.warn("running guests %s take CPU type %s at their next cold start; PVE keeps it pending until then"
                             % (", ".join(pending), cpu_type))

    def set_cpu(self, item):
        guest, config, row = item
        params = {"cpu": row["after"]}
        if config.get("digest"):
            params["digest"] = config["digest"]  # PVE refuses the write when the config changed since it was read
        self.write("set cpu of qemu %s to %s" % (row["vmid"], row["after"]), self.client.put, guest_path(guest) + "/config", **params)

    def error_text(self, error):
        return self.describe_error(error) if isinstance(error, ProxmoxError) else str(error)


def main():
    CpuBaselineModule.execute()


if __name__ == "__main__":
    main()
