#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot_info
short_description: List the snapshots of the guests of a Proxmox VE cluster
version_added: 0.1.0
description:
  - Lists the snapshots of every QEMU and LXC guest of the cluster, or of those chosen by O(vmid), O(name), O(vmids),
    O(tags), O(pool), O(node) and O(types). One row per snapshot with the guest, its node, the snapshot's time
    (epoch and ISO 8601), age, parent, RAM state and description.
  - The rows are sorted by vmid, then time; ready for reports, and to check what
    M(proxops.proxmox.snapshot)'s retention keeps.
  - One read of C(/cluster/resources), then one snapshot list per guest, up to O(parallel) at once.
author:
  - proxops.proxmox contributors (@proxops)
extends_documentation_fragment:
  - proxops.proxmox.api
  - proxops.proxmox.guests
  - proxops.proxmox.attributes.info_module
  - proxops.proxmox.attributes.actiongroup_proxmox
options:
  prefix:
    description:
      - Only the snapshots whose name starts with this (as M(proxops.proxmox.snapshot)'s O(proxops.proxmox.snapshot#module:prefix)).
    type: str
  pattern:
    description:
      - Only the snapshots whose whole name this Python regular expression matches
        (as M(proxops.proxmox.snapshot)'s O(proxops.proxmox.snapshot#module:pattern)).
    type: str
  parallel:
    description:
      - How many snapshot lists are read at once.
    type: int
    default: 4
notes:
  - Privileges. C(VM.Audit) on the guests; guests the user may not see are not listed.
  - A guest whose snapshots cannot be read (its node is down) is left out with a warning and listed in RV(unreadable).
  - RV(snapshots[].age) is counted against the controller's clock; the snapshot times are the nodes'.
seealso:
  - module: proxops.proxmox.snapshot
"""

EXAMPLES = r"""
- name: List every snapshot of the cluster
  proxops.proxmox.snapshot_info:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
  register: all_snapshots

- name: Show the snapshots older than 30 days
  ansible.builtin.debug:
    msg: "{{ all_snapshots.snapshots | rejectattr('age', 'none') | selectattr('age', 'gt', 30 * 86400) | map(attribute='snapname') | list }}"

- name: List the daily snapshots of the VMs on pve-a
  proxops.proxmox.snapshot_info:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    node: pve-a
    types: [qemu]
    prefix: daily-
  register: daily_snapshots
"""

RETURN = r"""
snapshots:
  description:
    - One entry per snapshot, sorted by RV(snapshots[].vmid), then RV(snapshots[].snaptime).
    - The current state, which PVE lists as V(current), is no snapshot and not listed; see RV(guests[].parent).
  returned: always
  type: list
  elements: dict
  contains:
    vmid:
      description: ID of the guest.
      type: int
      sample: 100
    guest_name:
      description: Name of the guest.
      type: str
      sample: web1
    type:
      description: V(qemu) or V(lxc).
      type: str
      sample: qemu
    node:
      description: The node the guest is on.
      type: str
      sample: pve-a
    snapname:
      description: Name of the snapshot.
      type: str
      sample: daily-20260131
    snaptime:
      description: When the snapshot was taken, in seconds since the epoch (V(null) when PVE has no time for it).
      type: int
      sample: 1769860800
    time:
      description: RV(snapshots[].snaptime) as ISO 8601 in UTC.
      type: str
      sample: "2026-01-31T12:00:00Z"
    age:
      description: Seconds since the snapshot was taken.
      type: int
      sample: 3600
    parent:
      description: The snapshot this one derives from, or V(null).
      type: str
    vmstate:
      description: Whether the snapshot holds the guest's RAM (QEMU only; V(false) for containers).
      type: bool
    description:
      description: Description of the snapshot.
      type: str
    current_parent:
      description: Whether the guest's current state derives from this snapshot (the latest one taken or rolled back to).
      type: bool
guests:
  description: One entry per guest read, by vmid.
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
    node:
      description: The node the guest is on.
      type: str
    template:
      description: Whether the guest is a template.
      type: bool
    parent:
      description: The snapshot the guest's current state derives from, or V(null).
      type: str
    snapshots:
      description: How many snapshots of the guest are listed in RV(snapshots).
      type: int
unreadable:
  description: The guests whose snapshots could not be read, with the error.
  returned: always
  type: list
  elements: dict
  sample: [{"vmid": 120, "error": "No route to host [GET /nodes/pve-c/qemu/120/snapshot, HTTP 595]"}]
"""

import time

from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import ProxmoxModule
from ansible_collections.proxops.proxmox.plugins.module_utils._resources import (
    describe_guest,
    find_guest,
    guest_path,
    guest_selector_spec,
    read_resources,
    select_guests,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._snapshot import SELECTORS, info_option_errors, info_rows, sort_rows, split_listing
from ansible_collections.proxops.proxmox.plugins.module_utils._task_pool import DONE, run_bounded


class SnapshotInfoModule(ProxmoxModule):
    argument_spec = dict(
        guest_selector_spec(),
        prefix=dict(type="str"),
        pattern=dict(type="str"),
        parallel=dict(type="int", default=4),
    )
    option_errors = staticmethod(info_option_errors)

    def run(self):
        p = self.params
        now = time.time()
        resources = read_resources(self.client, "vm")
        if p["vmid"] is not None or p["name"] is not None:
            guests = [find_guest(resources, vmid=p["vmid"], name=p["name"])]
        else:
            guests = select_guests(resources, **{key: p[key] for key in SELECTORS if p[key] not in (None, [])})
        outcomes = run_bounded(guests, lambda guest: self.client.get(guest_path(guest) + "/snapshot") or [],
                               p["parallel"], stop_on_failure=False)
        rows, listed, unreadable = [], [], []
        for outcome in outcomes:
            guest = outcome.item
            if outcome.state != DONE:
                unreadable.append({"vmid": int(guest["vmid"]), "error": str(outcome.error)})
                self.module.warn("snapshots of %s left out: %s" % (describe_guest(guest), outcome.error))
                continue
            found = info_rows(guest, outcome.result, now, p["prefix"], p["pattern"])
            _snapshots, current = split_listing(outcome.result)
            rows += found
            listed.append({"vmid": int(guest["vmid"]), "name": guest.get("name"), "type": guest["type"],
                           "node": guest.get("node"), "template": bool(int(guest.get("template") or 0)),
                           "parent": current.get("parent"), "snapshots": len(found)})
        self.result.update(snapshots=sort_rows(rows), guests=listed, unreadable=unreadable)


def main():
    SnapshotInfoModule.execute()


if __name__ == "__main__":
    main()
