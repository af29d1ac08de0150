# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Guest snapshots as plain data: option checks, name patterns, durations, retention, rollback and per-guest plans."""

from __future__ import annotations

import datetime
import re

from ansible_collections.proxops.proxmox.plugins.module_utils._pve_formats import is_config_id, is_vmid

SNAPNAME_MAX = 40  # pve-configid as the snapshot calls take it (maxLength 40)
RESERVED_NAMES = ("current", "pending")  # PVE's snapshot_create refuses these ('pending' in any case)
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
# PVE's check_lock message in a failed task: "VM is locked (backup)", "CT is locked (snapshot)"
_LOCKED = re.compile(r"\b(?:VM|CT) is locked \(([^)]+)\)")
# two moments to try a timestamp format on: every field at its widest, and every field different
_SAMPLE_TIME = datetime.datetime(2026, 12, 31, 23, 59, 58, tzinfo=datetime.timezone.utc)
_OTHER_TIME = datetime.datetime(2025, 1, 2, 1, 1, 1, tzinfo=datetime.timezone.utc)
SELECTORS = ("vmids", "tags", "pool", "node", "types")


# --- names, patterns, durations -------------------------------------------------------
def parse_duration(text):
    """Seconds of a duration such as ``7d``, ``12h``, ``30m``, ``1w2d`` or ``90s``; None when it is not one."""
    if not isinstance(text, str):
        return None
    text = text.strip().lower()
    if not text or _DURATION_PART.sub("", text):
        return None
    units = [unit for _count, unit in _DURATION_PART.findall(text)]
    if len(set(units)) != len(units):  # "1d2d" is a typo, not 3 days
        return None
    return sum(int(count) * _DURATION_UNITS[unit] for count, unit in _DURATION_PART.findall(text))


def snapname_problem(name):
    """Why PVE would refuse ``name`` as a new snapshot's name, or None."""
    if not is_config_id(name):
        return "%r is not a valid snapshot name (a letter, then letters, digits, '-' or '_'; 2 characters or more)" % (name,)
    if len(name) > SNAPNAME_MAX:
        return "%r is longer than %d characters" % (name, SNAPNAME_MAX)
    if name.lower() in RESERVED_NAMES:
        return "%r is a name PVE reserves" % (name,)
    return None


def new_snapshot_name(prefix, timestamp_format, now):
    """``prefix`` followed by the UTC time ``now`` (epoch seconds) in ``timestamp_format`` (strftime)."""
    moment = datetime.datetime.fromtimestamp(int(now), tz=datetime.timezone.utc)
    return prefix + moment.strftime(timestamp_format)


def name_matches(name, prefix=None, pattern=None):
    """Whether a snapshot named ``name`` is one retention may consider: it starts with ``prefix``, or ``pattern`` matches it whole."""
    if name == "current":  # PVE's list shows the current state under this name: never a snapshot
        return False
    if prefix is not None:
        return name.startswith(prefix)
    if pattern is not None:
        return re.fullmatch(pattern, name) is not None
    return False


def iso_time(epoch):
    """An epoch time as ISO 8601 in UTC (``2026-01-31T12:00:00Z``); None stays None."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def locked_by(error_text):
    """The lock named in a task's "VM is locked (backup)" error, or None."""
    found = _LOCKED.search(error_text or "")
    return found.group(1) if found else None


# --- the snapshot list ------------------------------------------------------------------
def split_listing(listing):
    """``(snapshots oldest first, current)`` from PVE's snapshot list, whose entry ``current`` is the guest's present state."""
    current = {}
    snapshots = []
    for item in listing or []:
        if item.get("name") == "current":
            current = item
        else:
            snapshots.append(item)
    snapshots.sort(key=lambda item: (item.get("snaptime") is not None, item.get("snaptime") or 0, item["name"]))
    return snapshots, current


def retention_deletions(snapshots, keep_last=None, max_age=None, now=0):
    """The names to delete among ``snapshots`` (all already matching), oldest first.

    A snapshot stays when it is among the ``keep_last`` newest, or when it is at most
    ``max_age`` seconds old; the rules given keep together (a snapshot either keeps stays).
    One without ``snaptime`` has no age and no place in the order: it always stays.
    No rule given: nothing is deleted.
    """
    if keep_last is None and max_age is None:
        return []
    dated = [snap for snap in snapshots if snap.get("snaptime") is not None]
    newest_first = sorted(dated, key=lambda snap: (int(snap["snaptime"]), snap["name"]), reverse=True)
    doomed = []
    for index, snap in enumerate(newest_first):
        if keep_last is not None and index < keep_last:
            continue
        if max_age is not None and now - int(snap["snaptime"]) <= max_age:
            continue
        doomed.append(snap["name"])
    return doomed[::-1]


def rollback_leaves_running(snapshot, guest_type, start):
    """Whether a guest runs after rolling back to ``snapshot``: PVE resumes a QEMU snapshot with RAM, else ``start`` decides."""
    with_ram = guest_type == "qemu" and bool(int(snapshot.get("vmstate") or 0))
    return with_ram or bool(start)


def rollback_needed(snapshot, current, running, guest_type, start=False, force=False):
    """Whether a rollback to ``snapshot`` must run; see the module's documentation for the rule.

    PVE records which snapshot the current state derives from (``parent`` of ``current``) but
    not whether disks changed since: without ``force`` a guest whose parent is the snapshot
    and that is in the power state a rollback would leave counts as rolled back.
    """
    if force:
        return True
    if current.get("parent") != snapshot["name"]:
        return True
    return bool(running) != rollback_leaves_running(snapshot, guest_type, start)


def is_running(current, guest):
    """Whether the guest runs: PVE's list says so in ``current.running``; else the resources' status."""
    if current.get("running") is not None:
        return bool(int(current["running"]))
    return guest.get("status") == "running"


# --- plans ------------------------------------------------------------------------------
def empty_plan():
    return {"create": None, "update": None, "rollback": None, "delete": [], "kept": [], "problem": None}


def plan_guest(guest, listing, params, now, new_name=None):
    """What to do on one guest, from its snapshot list and the module's options.

    ``{"create": name or None, "update": name whose description to set or None, "rollback":
    name or None, "delete": [names, oldest first], "kept": [matching names that stay],
    "problem": text or None}`` (a problem stops the run before any write).
    """
    plan = empty_plan()
    snapshots, current = split_listing(listing)
    by_name = {snap["name"]: snap for snap in snapshots}
    name = params.get("snapname")
    if name is not None:
        state = params.get("state") or "present"
        if state == "present":
            if name not in by_name:
                plan["create"] = name
            elif params.get("description") is not None and (by_name[name].get("description") or "") != params["description"]:
                plan["update"] = name
        elif state == "absent":
            if name in by_name:
                plan["delete"] = [name]
        elif name not in by_name:
            plan["problem"] = "has no snapshot %r to roll back to" % name
        elif rollback_needed(by_name[name], current, is_running(current, guest), guest["type"],
                             params.get("start"), params.get("force")):
            plan["rollback"] = name
        return plan

    matching = [snap for snap in snapshots if name_matches(snap["name"], params.get("prefix"), params.get("pattern"))]
    if new_name is not None and new_name not in by_name:
        plan["create"] = new_name
        matching.append({"name": new_name, "snaptime": int(now)})
    max_age = parse_duration(params["max_age"]) if params.get("max_age") is not None else None
    plan["delete"] = retention_deletions(matching, params.get("keep_last"), max_age, now)
    plan["kept"] = [snap["name"] for snap in matching if snap["name"] not in plan["delete"]]
    return plan


def plan_changes(plan):
    """Whether a plan writes anything."""
    return bool(plan["create"] or plan["update"] or plan["rollback"] or plan["delete"])


def predicted_names(names, plan):
    """The snapshot names a guest has after ``plan`` ran, from those it has now."""
    after = [name for name in names if name not in plan["delete"]]
    if plan["create"] and plan["create"] not in after:
        after.append(plan["create"])
    return after


# --- option checks ----------------------------------------------------------------------
def _selection_errors(params, required=True):
    single = [key for key in ("vmid", "name") if params.get(key) is not None]
    many = [key for key in SELECTORS if params.get(key) not in (None, [])]
    every = bool(params.get("all"))
    errors = []
    if required and not single and not many and not every:
        errors.append("vmid or name (one guest), or vmids, tags, pool, node, types or all=true (several guests): "
                      "give one way to choose the guests")
    if len(single) == 2:
        errors.append("vmid and name: give one of them")
    if single and (many or every):
        errors.append("%s: chooses one guest; leave out %s" % (single[0], ", ".join(many + (["all"] if every else []))))
    elif every and many:
        errors.append("all: true chooses every guest of the cluster; leave it out when choosing by %s" % ", ".join(many))
    if params.get("vmid") is not None and not is_vmid(params["vmid"]):
        errors.append("vmid: %r is not a guest ID (100 to 999999999)" % (params["vmid"],))
    bad = [vmid for vmid in params.get("vmids") or [] if not is_vmid(vmid)]
    if bad:
        errors.append("vmids: %s not a guest ID (100 to 999999999)" % ", ".join(repr(vmid) for vmid in bad))
    return errors


def selection_errors(params):
    """What is wrong with the options that choose guests (shared by snapshot and snapshot_info)."""
    errors = _selection_errors(params, required=False)
    if params.get("pattern") is not None:
        errors += _pattern_errors(params)
    if params.get("prefix") is not None and params.get("pattern") is not None:
        errors.append("prefix and pattern: give one of them")
    return errors


def info_option_errors(params):
    """What is wrong with the snapshot_info module's options, before any request."""
    errors = selection_errors(params)
    if params.get("parallel") is not None and params["parallel"] < 1:
        errors.append("parallel: give 1 or more")
    return errors


def _pattern_errors(params):
    try:
        re.compile(params["pattern"])
    except re.error as err:
        return ["pattern: %r is not a regular expression (%s)" % (params["pattern"], err)]
    return []


def option_errors(params):
    """What is wrong with the snapshot module's options, before any request: one message per problem."""
    errors = _selection_errors(params)
    state = params.get("state") or "present"
    naming = [key for key in ("snapname", "prefix", "pattern") if params.get(key) is not None]
    if not naming:
        errors.append("snapname (one snapshot), or prefix or pattern (retention): give one of them")
    elif len(naming) > 1:
        errors.append("%s: give one of them" % " and ".join(naming))
    if params.get("snapname") is not None:
        problem = snapname_problem(params["snapname"])
        if problem:
            errors.append("snapname: " + problem)
        for key in ("create", "keep_last", "max_age"):
            if params.get(key) not in (None, False):
                errors.append("%s: only for retention (with prefix or pattern), not with snapname" % key)
    if params.get("pattern") is not None:
        errors += _pattern_errors(params)
        if params.get("create"):
            errors.append("create: needs prefix (the new snapshot's name is prefix + time), not pattern")
    retention = params.get("snapname") is None and (params.get("prefix") is not None or params.get("pattern") is not None)
    if retention:
        if state != "present":
            errors.append("state=%s: takes one snapshot by snapname; retention (prefix or pattern) runs with state=present" % state)
        if not params.get("create") and params.get("keep_last") is None and params.get("max_age") is None:
            errors.append("prefix/pattern: give create=true, keep_last or max_age, or there is nothing to do")
    if params.get("prefix") is not None:
        errors += _prefix_errors(params)
    keep_last = params.get("keep_last")
    if keep_last is not None and keep_last < 0:
        errors.append("keep_last: give 0 or more")
    elif keep_last == 0 and params.get("create"):
        errors.append("keep_last: 0 with create=true would delete the snapshot just taken; give 1 or more")
    if params.get("max_age") is not None:
        seconds = parse_duration(params["max_age"])
        if not seconds:
            errors.append("max_age: %r is not a duration such as 7d, 12h, 30m or 1w2d (weeks, days, hours, minutes, "
                          "seconds; more than 0)" % (params["max_age"],))
    if params.get("vmstate") and not (state == "present" and (params.get("snapname") is not None or params.get("create"))):
        errors.append("vmstate: only when taking a snapshot (state=present with snapname, or create=true)")
    for key in ("start", "force"):
        if params.get(key) and state != "rollback":
            errors.append("%s: only with state=rollback" % key)
    takes_snapshot = state == "present" and (params.get("snapname") is not None or params.get("create"))
    if params.get("description") is not None and not takes_snapshot:
        errors.append("description: only when taking a snapshot (state=present with snapname, or create=true)")
    for key, least in (("parallel", 1), ("timeout", 1), ("lock_timeout", 0)):
        if params.get(key) is not None and params[key] < least:
            errors.append("%s: give %d or more" % (key, least))
    return errors


def _prefix_errors(params):
    prefix = params["prefix"]
    if not _PREFIX.match(prefix):
        return ["prefix: %r must start with a letter and hold only letters, digits, '-' and '_' "
                "(snapshot names are PVE configuration IDs)" % (prefix,)]
    if not params.get("create"):
        return []
    fmt = params.get("timestamp_format") or ""
    try:
        sample = new_snapshot_name(prefix, fmt, _SAMPLE_TIME.timestamp())
    except ValueError as err:
        return ["timestamp_format: %r is not a strftime format (%s)" % (fmt, err)]
    problem = snapname_problem(sample)
    if problem:
        return ["prefix and timestamp_format: make names such as %s" % problem]
    if sample == new_snapshot_name(prefix, fmt, _OTHER_TIME.timestamp()):
        return ["timestamp_format: %r puts no time in the name; every run would want the same snapshot" % fmt]
    return []


def guest_errors(guests, params):
    """What the chosen guests make wrong with the options (known once they are read): vmstate on containers."""
    if not params.get("vmstate"):
        return []
    containers = [guest for guest in guests if guest["type"] == "lxc"]
    if not containers:
        return []
    return ["vmstate: only QEMU guests save their RAM; %s %s a container (LXC)%s"
            % (", ".join(str(guest["vmid"]) for guest in containers), "is" if len(containers) == 1 else "are",
               "" if params.get("vmid") is not None or params.get("name") is not None else "; choose types=[qemu]")]


# --- the overview -----------------------------------------------------------------------
def info_rows(guest, listing, now, prefix=None, pattern=None):
    """One row per snapshot of ``guest`` (filtered by ``prefix``/``pattern`` when given), oldest first."""
    snapshots, current = split_listing(listing)
    rows = []
    for snap in snapshots:
        if (prefix is not None or pattern is not None) and not name_matches(snap["name"], prefix, pattern):
            continue
        snaptime = snap.get("snaptime")
        rows.append({
            "vmid": int(guest["vmid"]), "guest_name": guest.get("name"), "type": guest["type"], "node": guest.get("node"),
            "snapname": snap["name"], "snaptime": int(snaptime) if snaptime is not None else None,
            "time": iso_time(snaptime), "age": max(int(now - int(snaptime)), 0) if snaptime is not None else None,
            "parent": snap.get("parent"), "vmstate": bool(int(snap.get("vmstate") or 0)),
            "description": snap.get("description") or "", "current_parent": current.get("parent") == snap["name"],
        })
    return rows


def sort_rows(rows):
    """Rows by vmid, then time (undated first, as PVE lists them), then name."""
    return sorted(rows, key=lambda row: (row["vmid"], row["snaptime"] is not None, row["snaptime"] or 0, row["snapname"]))
