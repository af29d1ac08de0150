#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot
short_description: Take, remove and roll back snapshots of Proxmox VE guests, and keep snapshots by retention rules
version_added: 0.1.0
description:
  - Manages snapshots of QEMU virtual machines and LXC containers anywhere in the cluster. Guests are found through
    one read of C(/cluster/resources), by O(vmid) or O(name) (one guest), or by O(vmids), O(tags), O(pool), O(node)
    and O(types), or O(all=true) (several guests).
  - With O(snapname), one snapshot per guest. O(state=present) takes it unless it exists (and sets its
    O(description) when that differs); O(state=absent) removes it; O(state=rollback) rolls the guest back to it
    (see O(force) for when a rollback counts as done).
  - With O(prefix) or O(pattern) instead, retention. O(create=true) first takes a snapshot named O(prefix) followed
    by the UTC time in O(timestamp_format); then, among the snapshots whose name starts with O(prefix) (or that
    O(pattern) matches whole), those that neither O(keep_last) nor O(max_age) keeps are removed, oldest first.
    Other snapshots are never touched.
  - Every change is a PVE task; the module waits for each one. One guest has one task at a time; up to O(parallel)
    guests are worked on at once.
  - Guests that are locked (a backup, a migration, another snapshot running) are waited for, skipped or an error,
    as O(locked) says. Guests that cannot take snapshots (templates; guests with a disk on storage without snapshots,
    as PVE's feature check says) are skipped or an error, as O(unsupported) says.
  - When a task fails, the guests being worked on finish their current step, no further guest starts, and the module
    fails with PVE's task error and the end of the task log, reporting what was done and what was not started.
    A rerun finishes the job.
  - Every check on the options, and on the guests they choose, happens before the first change.
author:
  - proxops.proxmox contributors (@proxops)
extends_documentation_fragment:
  - proxops.proxmox.api
  - proxops.proxmox.guests
  - proxops.proxmox.attributes
  - proxops.proxmox.attributes.actiongroup_proxmox
options:
  state:
    description:
      - V(present) takes the snapshot O(snapname), or runs retention (with O(prefix) or O(pattern)).
      - V(absent) removes the snapshot O(snapname).
      - V(rollback) rolls the guests back to the snapshot O(snapname). A guest chosen that has no such snapshot is an
        error (before any change).
    type: str
    choices: [present, absent, rollback]
    default: present
  all:
    description:
      - Work on every guest of the cluster. Must be said, so that forgetting a selector never means "every guest".
    type: bool
    default: false
  snapname:
    description:
      - Name of the snapshot. A letter, then letters, digits, C(-) or C(_); 2 to 40 characters; not V(current) or
        V(pending) (PVE reserves them).
      - Give O(snapname), or O(prefix) or O(pattern) for retention.
    type: str
  description:
    description:
      - Description of the snapshot taken (O(state=present) with O(snapname), or O(create=true)).
      - For an existing O(snapname), set when it differs.
    type: str
  vmstate:
    description:
      - Save the RAM of a running QEMU guest with the snapshot (PVE's C(vmstate)); a rollback then resumes the guest
        where it was.
      - QEMU only; choosing a container with it is an error. PVE saves no RAM of a guest that is stopped.
    type: bool
    default: false
  start:
    description:
      - With O(state=rollback), start the guest after rolling back (PVE's C(start)).
      - A QEMU snapshot with RAM (C(vmstate)) always leaves the guest running, as PVE resumes it.
    type: bool
    default: false
  force:
    description:
      - With O(state=rollback), roll back on every run.
      - Without it, a rollback counts as done, and does not run, when the guest's current state derives from the
        snapshot (PVE's C(parent) of the current state is O(snapname)) and the guest is in the power state the rollback
        would leave (running with O(start=true) or after a snapshot with RAM, else stopped). PVE does not record
        whether disks or settings changed since; a guest started, used and stopped again after its rollback looks
        the same. Use O(force=true) where that matters (resetting a test guest before every run); such a task
        always reports a change.
    type: bool
    default: false
  prefix:
    description:
      - Retention over the snapshots whose name starts with this; and with O(create=true), the start of the new
        snapshot's name. Choose one no other snapshot starts with (such as V(auto-)).
      - A letter, then letters, digits, C(-) or C(_).
    type: str
  pattern:
    description:
      - Retention over the snapshots whose whole name this Python regular expression matches.
      - Not with O(prefix), and not with O(create=true) (a pattern gives no name).
    type: str
  create:
    description:
      - Take a snapshot named O(prefix) + the current UTC time in O(timestamp_format) before retention.
      - It is not taken again when a snapshot of that name exists, so the format decides how often a new one is made
        (V(%Y%m%d) at most daily).
    type: bool
    default: false
  timestamp_format:
    description:
      - C(strftime) format of the time in a new snapshot's name (UTC), with O(create=true).
      - Together with O(prefix) it must make a valid snapshot name of at most 40 characters.
    type: str
    default: "%Y%m%d-%H%M%S"
  keep_last:
    description:
      - Keep the newest this many snapshots of those O(prefix) or O(pattern) chooses (by their time), counting one
        O(create=true) takes.
      - With O(max_age) too, a snapshot stays when either keeps it.
      - V(0) keeps none (not with O(create=true)).
    type: int
  max_age:
    description:
      - Remove the snapshots O(prefix) or O(pattern) chooses that are older than this, such as V(7d), V(12h), V(30m)
        or V(1w2d) (C(w), C(d), C(h), C(m), C(s)), by their time (C(snaptime)) against the clock of the controller.
      - With O(keep_last) too, a snapshot stays when either keeps it.
      - A snapshot without a time is never removed by retention.
    type: str
  parallel:
    description:
      - How many guests are worked on at once (each has one task at a time). Also bounds the parallel reads.
    type: int
    default: 4
  locked:
    description:
      - What to do with a guest whose configuration is locked (C(backup), C(migrate), C(snapshot), ...) when it has
        something to do.
      - V(wait) waits until the lock is gone, up to O(lock_timeout) seconds, then reads its snapshots again. In check
        mode it is not waited for.
      - V(skip) leaves the guest alone with a warning (RV(skipped_guests)).
      - V(fail) makes it an error, before any change (or, for a lock taken later, when its task finds it).
    type: str
    choices: [wait, skip, fail]
    default: wait
  lock_timeout:
    description:
      - Seconds to wait for a guest's lock to go, with O(locked=wait).
    type: int
    default: 600
  unsupported:
    description:
      - What to do with a guest that cannot take, remove or roll back snapshots when it has something to do
        (a template; a guest with a disk on storage without snapshots, by PVE's feature check before a snapshot is taken).
      - V(skip) leaves it alone with a warning (RV(skipped_guests)); V(fail) makes it an error before any change.
    type: str
    choices: [skip, fail]
    default: skip
  timeout:
    description:
      - Seconds to wait for each PVE task (a snapshot with RAM takes as long as writing the RAM out).
    type: int
    default: 600
notes:
  - Privileges. C(VM.Audit) on C(/vms/{vmid}) to read; C(VM.Snapshot) there to take and remove snapshots and set
    their description; C(VM.Snapshot.Rollback) (or C(VM.Snapshot)) there to roll back. Guests the user may not see are
    not in C(/cluster/resources) for it, as if they did not exist.
  - A run makes one C(/cluster/resources) read, one snapshot list read per guest chosen, and one feature check per
    guest that gets a new snapshot, before any change; then one task per change, polled until it ends.
  - The times of snapshots are the nodes' clocks; O(max_age) compares them with the controller's.
  - Diff mode shows, per guest with a change, the snapshot names (those retention considers) before and after, a
    changed description, and for a rollback the parent and power state.
seealso:
  - module: proxops.proxmox.snapshot_info
  - name: Snapshots (qm)
    description: Proxmox VE documentation of QEMU guest snapshots.
    link: https://pve.proxmox.com/pve-docs/chapter-qm.html#qm_snapshots
"""

EXAMPLES = r"""
- name: Snapshot a VM before an upgrade
  proxops.proxmox.snapshot:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    vmid: 100
    snapname: before-upgrade
    description: Before the kernel upgrade

- name: Snapshot a VM with its RAM, found by name
  proxops.proxmox.snapshot:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    name: vm101
    snapname: with-ram
    vmstate: true

- name: Roll a VM back and start it
  proxops.proxmox.snapshot:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    vmid: 100
    snapname: before-upgrade
    state: rollback
    start: true

- name: Remove the snapshot once the upgrade is good
  proxops.proxmox.snapshot:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    vmid: 100
    snapname: before-upgrade
    state: absent

# Run daily: a new snapshot per day (the name holds the date), seven days of them kept.
- name: Daily snapshots of every guest, the last seven kept
  proxops.proxmox.snapshot:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    all: true
    prefix: daily-
    create: true
    timestamp_format: "%Y%m%d"
    keep_last: 7
    parallel: 8
  register: daily

- name: Remove the hourly snapshots older than two days from the guests on pve-a, waiting for backups
  proxops.proxmox.snapshot:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    node: pve-a
    pattern: "hourly-[0-9]{8}-[0-9]{4}"
    max_age: 2d
    locked: wait
    lock_timeout: 3600
"""

RETURN = r"""
snapname:
  description:
    - The snapshot the run is about; with O(create=true), the name of the new snapshot (taken now or earlier).
    - V(null) for retention without O(create=true).
  returned: always
  type: str
  sample: daily-20260131
guests:
  description:
    - One entry per guest chosen, by vmid.
  returned: always
  type: list
  elements: dict
  contains:
    vmid:
      description: ID of the guest.
      type: int
      sample: 100
    name:
      description: Name of the guest.
      type: str
      sample: web1
    type:
      description: V(qemu) or V(lxc).
      type: str
    node:
      description: The node the guest is on.
      type: str
    status:
      description:
        - V(changed) (in check mode, would change), V(unchanged), V(skipped) (see RV(guests[].reason)), V(failed)
          (see RV(guests[].error)), or V(not_started) (another guest's failure stopped the run first).
      type: str
    created:
      description: The snapshot taken (or that would be), as a list.
      type: list
      elements: str
    deleted:
      description: The snapshots removed (or that would be), oldest first.
      type: list
      elements: str
    updated:
      description: The snapshots whose description was set.
      type: list
      elements: str
    rolled_back:
      description: The snapshot rolled back to, or V(null).
      type: str
    kept:
      description: With retention, the snapshots retention considered and keeps.
      type: list
      elements: str
    locked:
      description: The lock the guest had when it was read, or V(null).
      type: str
    reason:
      description: Why the guest was skipped.
      type: str
    error:
      description: Why the guest failed (PVE's task error and the reasons of its log).
      type: str
    task_log:
      description: The last lines of the log of the task that failed.
      type: list
      elements: str
created:
  description: Every snapshot taken (in check mode, that would be).
  returned: always
  type: list
  elements: dict
  sample: [{"vmid": 100, "snapname": "daily-20260131"}]
deleted:
  description: Every snapshot removed (in check mode, that would be).
  returned: always
  type: list
  elements: dict
  sample: [{"vmid": 100, "snapname": "daily-20260124"}]
rolled_back:
  description: Every rollback that ran (in check mode, that would run).
  returned: always
  type: list
  elements: dict
  sample: [{"vmid": 100, "snapname": "before-upgrade"}]
skipped_guests:
  description: The guests left alone, with the reason (locked, a template, no snapshot support).
  returned: always
  type: list
  elements: dict
  sample: [{"vmid": 9000, "reason": "is a template: PVE takes, removes and rolls back no snapshots of templates"}]
failed_guests:
  description: The guests whose task failed, with the error.
  returned: always
  type: list
  elements: dict
  sample: [{"vmid": 105, "error": "task qmsnapshot failed: snapshot name 'x' already used"}]
not_started:
  description: The IDs of the guests with work to do that were not started because a task had failed.
  returned: always
  type: list
  elements: int
  sample: [106, 107]
"""

import time

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxError
from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import ProxmoxModule
from ansible_collections.proxops.proxmox.plugins.module_utils._resources import (
    describe_guest,
    find_guest,
    guest_path,
    guest_selector_spec,
    read_resources,
    select_guests,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._snapshot import (
    SELECTORS,
    guest_errors,
    is_running,
    locked_by,
    new_snapshot_name,
    option_errors,
    plan_changes,
    plan_guest,
    predicted_names,
    rollback_leaves_running,
    split_listing,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._task_pool import DONE, FAILED, run_bounded

TEMPLATE_REASON = "is a template: PVE takes, removes and rolls back no snapshots of templates"
NO_FEATURE_REASON = "cannot take snapshots: PVE's feature check says a disk is on storage without snapshots"


class GuestSkipped(Exception):
    """A guest left alone during the run: its lock came or stayed while O(locked=skip)."""


class GuestFailed(Exception):
    """A guest that cannot be finished, with a message for the report."""


class SnapshotModule(ProxmoxModule):
    argument_spec = dict(
        guest_selector_spec(),
        state=dict(type="str", choices=["present", "absent", "rollback"], default="present"),
        all=dict(type="bool", default=False),
        snapname=dict(type="str"),
        description=dict(type="str"),
        vmstate=dict(type="bool", default=False),
        start=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        prefix=dict(type="str"),
        pattern=dict(type="str"),
        create=dict(type="bool", default=False),
        timestamp_format=dict(type="str", default="%Y%m%d-%H%M%S"),
        keep_last=dict(type="int"),
        max_age=dict(type="str"),
        parallel=dict(type="int", default=4),
        locked=dict(type="str", choices=["wait", "skip", "fail"], default="wait"),
        lock_timeout=dict(type="int", default=600),
        unsupported=dict(type="str", choices=["skip", "fail"], default="skip"),
        timeout=dict(type="int", default=600),
    )
    option_errors = staticmethod(option_errors)

    def __init__(self, module):
        super().__init__(module)
        self.now = time.time()
        self.new_name = None
        self.entries = []

    # --- the run -----------------------------------------------------------------
    def run(self):
        p = self.params
        if p["create"]:
            self.new_name = new_snapshot_name(p["prefix"], p["timestamp_format"], self.now)
        guests = self.choose(read_resources(self.client, "vm"))
        errors = guest_errors(guests, p)
        if errors:
            self.fail("; ".join(errors))
        self.entries = [self.entry(guest) for guest in guests]

        # read every guest first: every refusal comes before the first change
        reads = run_bounded(self.entries, self.read_guest, p["parallel"], stop_on_failure=False)
        unread = [outcome for outcome in reads if outcome.state == FAILED]
        if unread:
            self.fail("reading the snapshots failed: " + "; ".join(
                "%s: %s" % (describe_guest(outcome.item["guest"]), self.error_text(outcome.error)) for outcome in unread))
        problems = [entry for entry in self.entries if entry["problem"]]
        if problems:
            self.report()
            self.fail("; ".join("%s %s" % (describe_guest(entry["guest"]), entry["problem"]) for entry in problems)
                      + "; nothing was changed", **self.result)

        work = [entry for entry in self.entries if entry["result"]["status"] == "pending"]
        outcomes = run_bounded(work, self.apply_guest, p["parallel"], stop_on_failure=True)
        for outcome in outcomes:
            result = outcome.item["result"]
            if outcome.state == DONE:
                continue
            if outcome.state == FAILED:
                result["status"] = "failed"
                result["error"] = self.error_text(outcome.error)
                if isinstance(outcome.error, ProxmoxError) and outcome.error.log:
                    result["task_log"] = list(outcome.error.log)
            else:
                result["status"] = "not_started"
        self.report()
        if self.result["failed_guests"]:
            self.fail(self.failure_message(), **self.result)

    def choose(self, resources):
        p = self.params
        if p["vmid"] is not None or p["name"] is not None:
            return [find_guest(resources, vmid=p["vmid"], name=p["name"])]
        criteria = {key: p[key] for key in SELECTORS if p[key] not in (None, [])}
        return select_guests(resources, **criteria)

    @staticmethod
    def entry(guest):
        result = {"vmid": int(guest["vmid"]), "name": guest.get("name"), "type": guest["type"], "node": guest.get("node"),
                  "status": "unchanged", "created": [], "deleted": [], "updated": [], "rolled_back": None, "kept": [],
                  "locked": guest.get("lock") or None}
        return {"guest": guest, "plan": None, "listing": [], "problem": None, "result": result}

    # --- reading and planning ------------------------------------------------------
    def read_guest(self, entry):
        """Read one guest's snapshots and decide what it needs; refusals are noted, not raised."""
        guest = entry["guest"]
        entry["listing"] = self.client.get(guest_path(guest) + "/snapshot") or []
        plan = plan_guest(guest, entry["listing"], self.params, self.now, self.new_name)
        entry["plan"] = plan
        result = entry["result"]
        result["kept"] = list(plan["kept"])
        if plan["problem"]:
            entry["problem"] = plan["problem"]
            return
        if not plan_changes(plan):
            return
        unsupported = None
        if int(guest.get("template") or 0):
            unsupported = TEMPLATE_REASON
        elif plan["create"] and not self.can_snapshot(guest):
            unsupported = NO_FEATURE_REASON
        if unsupported:
            self.refuse(entry, unsupported, self.params["unsupported"], "unsupported=skip leaves it alone")
        elif result["locked"] and self.params["locked"] != "wait":
            self.refuse(entry, "is locked (%s)" % result["locked"], self.params["locked"],
                        "locked=wait waits for it, locked=skip leaves it alone")
        else:
            result["status"] = "pending"

    def refuse(self, entry, reason, policy, hint):
        """A guest that cannot be worked on: an error before any change (policy fail) or skipped with a warning."""
        if policy == "fail":
            entry["problem"] = "%s (%s)" % (reason, hint)
        else:
            self.skip(entry["result"], reason)

    def skip(self, result, reason):
        result["status"] = "skipped"
        result["reason"] = reason
        self.module.warn("%s %s (%s) skipped: it %s" % (result["type"], result["vmid"], result["name"], reason))

    def can_snapshot(self, guest):
        """PVE's answer whether the guest's disks can take a snapshot (``GET .../feature?feature=snapshot``)."""
        answer = self.client.get(guest_path(guest) + "/feature", feature="snapshot") or {}
        return bool(int(answer.get("hasFeature") or 0))

    # --- applying --------------------------------------------------------------------
    def apply_guest(self, entry):
        """Carry out one guest's plan, one task at a time."""
        result = entry["result"]
        result["status"] = "changed"
        try:
            deadline = time.monotonic() + self.params["lock_timeout"]
            if result["locked"] and not self.check_mode:
                self.wait_unlocked(entry, deadline)
                # the lock held the guest for a while: what it needs may have changed meanwhile
                entry["listing"] = self.client.get(guest_path(entry["guest"]) + "/snapshot") or []
                entry["plan"] = plan_guest(entry["guest"], entry["listing"], self.params, self.now, self.new_name)
                result["kept"] = list(entry["plan"]["kept"])
                if entry["plan"]["problem"]:
                    raise GuestFailed(entry["plan"]["problem"])
            plan = entry["plan"]
            if plan["create"]:
                self.step(entry, "create", plan["create"], deadline)
            if plan["update"]:
                self.step(entry, "update", plan["update"], deadline)
            if plan["rollback"]:
                self.step(entry, "rollback", plan["rollback"], deadline)
            for name in plan["delete"]:
                self.step(entry, "delete", name, deadline)
        except GuestSkipped as skipped:
            self.skip(result, str(skipped))
            return
        if not (result["created"] or result["updated"] or result["rolled_back"] or result["deleted"]):
            result["status"] = "unchanged"

    def step(self, entry, action, name, deadline):
        """One change as one PVE task; a lock that stops it is waited out or skipped, as O(locked) says."""
        guest, result = entry["guest"], entry["result"]
        path = guest_path(guest)
        p = self.params
        while True:
            try:
                if not self.check_mode:
                    if action == "create":
                        self.client.run("POST", path + "/snapshot", task_timeout=p["timeout"], snapname=name,
                                        vmstate=True if p["vmstate"] else None, description=p["description"])
                    elif action == "update":
                        self.client.put(path + "/snapshot/%s/config" % name, description=p["description"])
                    elif action == "rollback":
                        self.client.run("POST", path + "/snapshot/%s/rollback" % name, task_timeout=p["timeout"],
                                        start=True if p["start"] else None)
                    else:
                        self.client.run("DELETE", path + "/snapshot/%s" % name, task_timeout=p["timeout"], idempotent=False)
                break
            except ProxmoxError as err:
                lock = locked_by(err.exitstatus or err.message) if err.upid else None
                if lock is None:
                    if err.upid:
                        self.changed = True  # a task that failed may have done part of its work
                    raise
                # the task stopped at PVE's lock check and changed nothing
                if p["locked"] == "skip":
                    raise GuestSkipped("is locked (%s)" % lock) from None
                if p["locked"] == "fail":
                    raise
                result["locked"] = lock
                self.wait_unlocked(entry, deadline)
        self.changed = True
        key = {"create": "created", "update": "updated", "delete": "deleted"}.get(action)
        if key:
            result[key].append(name)
        else:
            result["rolled_back"] = name
        self.done.append("%s %s on %s" % ({"create": "took", "update": "described", "rollback": "rolled back to",
                                           "delete": "removed"}[action], name, result["vmid"]))

    def wait_unlocked(self, entry, deadline):
        """Wait until the guest's configuration has no lock, up to ``deadline`` (time.monotonic)."""
        path = guest_path(entry["guest"]) + "/status/current"
        seen = {}

        def unlocked():
            status = self.client.get(path) or {}
            seen["lock"] = status.get("lock")
            return not status.get("lock")

        remaining = max(deadline - time.monotonic(), 0)
        if not self.client.wait_until(unlocked, remaining, first_interval=0.5, max_interval=10):
            raise GuestFailed("still locked (%s) after %d seconds (lock_timeout)"
                              % (seen.get("lock") or entry["result"]["locked"], self.params["lock_timeout"]))

    # --- results -----------------------------------------------------------------------
    def error_text(self, error):
        """PVE's error; for a failed task with the last lines of its log before PVE's own "TASK ERROR" line."""
        if not isinstance(error, ProxmoxError):
            return str(error)
        text = self.describe_error(error)
        excerpt = [line for line in error.log if line and not line.startswith("TASK ")][-3:]
        if error.exitstatus and excerpt:
            text += " (task log: %s)" % " | ".join(excerpt)
        return text

    def report(self):
        """The results, and the diff of the guests with a change."""
        guests = [entry["result"] for entry in self.entries]
        for result in guests:
            if result["status"] == "pending":  # refused run: nothing started
                result["status"] = "not_started"

        def pairs(key):
            return [{"vmid": r["vmid"], "snapname": name} for r in guests for name in r[key]]

        self.result.update(
            snapname=self.params["snapname"] or self.new_name,
            guests=guests,
            created=pairs("created"),
            deleted=pairs("deleted"),
            rolled_back=[{"vmid": r["vmid"], "snapname": r["rolled_back"]} for r in guests if r["rolled_back"]],
            skipped_guests=[{"vmid": r["vmid"], "reason": r["reason"]} for r in guests if r["status"] == "skipped"],
            failed_guests=[{"vmid": r["vmid"], "error": r["error"]} for r in guests if r["status"] == "failed"],
            not_started=[r["vmid"] for r in guests if r["status"] == "not_started"],
        )
        for entry in self.entries:
            self.diff_guest(entry)

    def diff_guest(self, entry):
        result, plan = entry["result"], entry["plan"]
        if plan is None or not (result["created"] or result["deleted"] or result["updated"] or result["rolled_back"]):
            return
        snapshots, current = split_listing(entry["listing"])
        if self.params["snapname"] is None:
            names = [snap["name"] for snap in snapshots if snap["name"] in result["deleted"] or snap["name"] in result["kept"]]
        else:
            names = [snap["name"] for snap in snapshots]
        done = {"create": (result["created"] or [None])[0], "delete": result["deleted"]}
        before, after = {}, {}
        if result["created"] or result["deleted"]:
            before["snapshots"], after["snapshots"] = names, predicted_names(names, done)
        if result["updated"]:
            by_name = {snap["name"]: snap for snap in snapshots}
            before["description"] = {name: by_name[name].get("description") or "" for name in result["updated"]}
            after["description"] = {name: self.params["description"] for name in result["updated"]}
        if result["rolled_back"]:
            snap = next(snap for snap in snapshots if snap["name"] == result["rolled_back"])
            before.update(parent=current.get("parent"), running=is_running(current, entry["guest"]))
            after.update(parent=snap["name"], running=rollback_leaves_running(snap, result["type"], self.params["start"]))
        key = "%s %s" % (result["type"], result["vmid"])
        self.record_diff({key: before}, {key: after})

    def failure_message(self):
        failed = [r for r in self.result["guests"] if r["status"] == "failed"]
        text = "; ".join("%s %s (%s): %s" % (r["type"], r["vmid"], r["name"], r["error"]) for r in failed)
        msg = "%d of %d guests failed: %s" % (len(failed), len(self.result["guests"]), text)
        if self.result["not_started"]:
            msg += "; %d guests not started: %s (a rerun finishes them)" % (
                len(self.result["not_started"]), ", ".join(str(vmid) for vmid in self.result["not_started"]))
        return msg

    def failure_result(self, msg, **details):
        # the base class lists every step done in the message: with many guests that is the whole run;
        # here the per-guest results say it, and the message counts them
        done, self.done = self.done, []
        result = super().failure_result(msg, **details)
        if done:
            result["done"] = done
            created, deleted = len(self.result.get("created", [])), len(self.result.get("deleted", []))
            rolled = len(self.result.get("rolled_back", []))
            result["msg"] = "%s (already done: %d snapshots taken, %d removed, %d rollbacks; see guests)" % (
                msg, created, deleted, rolled)
        return result


def main():
    SnapshotModule.execute()


if __name__ == "__main__":
    main()
