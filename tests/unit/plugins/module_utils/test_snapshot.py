# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The snapshot helpers: durations, names, retention, the rollback rule, per-guest plans, option checks, info rows."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.proxops.proxmox.plugins.doc_fragments import guests as guests_fragment

from ansible_collections.proxops.proxmox.plugins.module_utils import _snapshot as snap
from ansible_collections.proxops.proxmox.plugins.modules.snapshot import SnapshotModule
from ansible_collections.proxops.proxmox.plugins.modules import snapshot as snapshot_module
from ansible_collections.proxops.proxmox.plugins.modules import snapshot_info as snapshot_info_module
from ansible_collections.proxops.proxmox.plugins.modules.snapshot_info import SnapshotInfoModule

NOW = 1_800_000_000
DAY = 86400
QEMU = {"vmid": 100, "name": "web", "type": "qemu", "node": "pve1", "status": "running"}
LXC = {"vmid": 101, "name": "ct", "type": "lxc", "node": "pve1", "status": "stopped"}


def params(**given):
    """The module's parameters as AnsibleModule gives them: every option, defaults filled in."""
    values = {key: spec.get("default") for key, spec in SnapshotModule.argument_spec.items()}
    values.update(given)
    return values


def listing(*snapshots, parent=None, running=None):
    current = {"name": "current", "description": "You are here!"}
    if parent:
        current["parent"] = parent
    if running is not None:
        current["running"] = int(running)
    return list(snapshots) + [current]


def item(name, age=None, **extra):
    entry = {"name": name, "description": "", **extra}
    if age is not None:
        entry["snaptime"] = NOW - age
    return entry


# --- durations and names ------------------------------------------------------------------
@pytest.mark.parametrize("text, seconds", [
    ("7d", 7 * DAY), ("12h", 43200), ("30m", 1800), ("90s", 90), ("1w2d", 9 * DAY), ("1d12h", 36 * 3600), (" 2D ", 2 * DAY),
])
def test_durations(text, seconds):
    assert snap.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "7 days", "d7", "1d2d", "-1d", "1.5h", "7x", None, 7])
def test_not_durations(text):
    assert snap.parse_duration(text) is None


def test_snapshot_names():
    assert snap.snapname_problem("before-upgrade") is None
    assert "not a valid snapshot name" in snap.snapname_problem("1st")
    assert "not a valid snapshot name" in snap.snapname_problem("a")  # pve-configid: 2 characters or more
    assert "not a valid snapshot name" in snap.snapname_problem("with space")
    assert "longer than 40" in snap.snapname_problem("a" * 41)
    assert "reserves" in snap.snapname_problem("current") and "reserves" in snap.snapname_problem("Pending")
    assert snap.new_snapshot_name("auto-", "%Y%m%d-%H%M%S", NOW) == "auto-20270115-080000"
    assert snap.new_snapshot_name("daily_", "%Y%m%d", NOW) == "daily_20270115"


def test_name_matching():
    assert snap.name_matches("auto-1", prefix="auto-") and not snap.name_matches("manual", prefix="auto-")
    assert snap.name_matches("hourly-20260101-1200", pattern=r"hourly-\d{8}-\d{4}")
    assert not snap.name_matches("xhourly-20260101-1200", pattern=r"hourly-\d{8}-\d{4}")  # the whole name
    assert not snap.name_matches("current", pattern=".*") and not snap.name_matches("current", prefix="c")
    assert not snap.name_matches("anything")


def test_times_and_locks():
    assert snap.iso_time(0) == "1970-01-01T00:00:00Z" and snap.iso_time(None) is None
    assert snap.locked_by("VM is locked (backup)") == "backup"
    assert snap.locked_by("task vzsnapshot failed: CT is locked (snapshot-delete)") == "snapshot-delete"
    assert snap.locked_by("snapshot name 'x' already used") is None


# --- retention ----------------------------------------------------------------------------------
SNAPS = [item("a-%d" % days, days * DAY) for days in (1, 2, 3, 5, 8, 13)]


@pytest.mark.parametrize("keep_last, max_age, deleted", [
    (3, None, ["a-13", "a-8", "a-5"]),
    (None, 4 * DAY, ["a-13", "a-8", "a-5"]),
    (None, 3 * DAY, ["a-13", "a-8", "a-5"]),  # exactly 3 days old stays
    (2, 6 * DAY, ["a-13", "a-8"]),  # either rule keeps
    (5, 1 * DAY, ["a-13"]),
    (0, None, ["a-13", "a-8", "a-5", "a-3", "a-2", "a-1"]),
    (10, None, []),
    (None, None, []),
])
def test_retention(keep_last, max_age, deleted):
    assert snap.retention_deletions(SNAPS, keep_last, max_age, NOW) == deleted


def test_retention_never_removes_undated_snapshots_and_orders_ties_by_name():
    snaps = [item("old"), item("b", DAY), item("a", DAY), item("c", 2 * DAY)]
    assert snap.retention_deletions(snaps, 1, None, NOW) == ["c", "a"]
    assert snap.retention_deletions(snaps, 0, None, NOW) == ["c", "a", "b"]


def test_listing_splits_current_and_sorts_by_time():
    snapshots, current = snap.split_listing(listing(item("b", 10), item("a", 20), item("x"), parent="b"))
    assert [s["name"] for s in snapshots] == ["x", "a", "b"] and current["parent"] == "b"


# --- rollback --------------------------------------------------------------------------------------
@pytest.mark.parametrize("guest_type, vmstate, start, parent, running, needed", [
    ("qemu", 0, False, "s", False, False),  # parent is the snapshot, stopped as a rollback leaves it
    ("qemu", 0, False, "s", True, True),  # running: something ran since
    ("qemu", 0, True, "s", True, False),
    ("qemu", 0, True, "s", False, True),
    ("qemu", 1, False, "s", True, False),  # RAM snapshot: PVE resumes the guest
    ("qemu", 1, False, "s", False, True),
    ("lxc", 1, False, "s", False, False),  # containers save no RAM
    ("qemu", 0, False, "other", False, True),
    ("qemu", 0, False, None, False, True),
])
def test_rollback_rule(guest_type, vmstate, start, parent, running, needed):
    snapshot = {"name": "s", "vmstate": vmstate}
    current = {"name": "current", "parent": parent} if parent else {"name": "current"}
    assert snap.rollback_needed(snapshot, current, running, guest_type, start) is needed
    assert snap.rollback_needed(snapshot, current, running, guest_type, start, force=True) is True


def test_running_from_the_list_or_the_resources():
    assert snap.is_running({"running": 1}, LXC) is True
    assert snap.is_running({"running": 0}, QEMU) is False
    assert snap.is_running({}, QEMU) is True


# --- plans -------------------------------------------------------------------------------------------
def test_plan_present_absent_rollback():
    have = listing(item("s", DAY, description="old"), parent="s", running=True)
    assert snap.plan_guest(QEMU, have, params(snapname="t"), NOW)["create"] == "t"
    unchanged = snap.plan_guest(QEMU, have, params(snapname="s"), NOW)
    assert not snap.plan_changes(unchanged)
    assert snap.plan_guest(QEMU, have, params(snapname="s", description="new"), NOW)["update"] == "s"
    assert not snap.plan_changes(snap.plan_guest(QEMU, have, params(snapname="s", description="old"), NOW))
    assert snap.plan_guest(QEMU, have, params(snapname="s", state="absent"), NOW)["delete"] == ["s"]
    assert not snap.plan_changes(snap.plan_guest(QEMU, have, params(snapname="t", state="absent"), NOW))
    assert snap.plan_guest(QEMU, have, params(snapname="s", state="rollback"), NOW)["rollback"] == "s"  # running
    assert not snap.plan_changes(snap.plan_guest(QEMU, have, params(snapname="s", state="rollback", start=True), NOW))
    assert "no snapshot 't'" in snap.plan_guest(QEMU, have, params(snapname="t", state="rollback"), NOW)["problem"]


def test_plan_retention_counts_the_new_snapshot_and_touches_only_matching_names():
    have = listing(item("auto-a", 3 * DAY), item("auto-b", 2 * DAY), item("mine", 9 * DAY), item("auto-c", DAY))
    plan = snap.plan_guest(QEMU, have, params(prefix="auto-", create=True, keep_last=2), NOW, "auto-new")
    assert plan["create"] == "auto-new" and plan["delete"] == ["auto-a", "auto-b"] and plan["kept"] == ["auto-c", "auto-new"]
    again = listing(item("auto-c", DAY), item("auto-new", 0))
    assert not snap.plan_changes(snap.plan_guest(QEMU, again, params(prefix="auto-", create=True, keep_last=2), NOW, "auto-new"))
    aged = snap.plan_guest(QEMU, have, params(pattern="auto-[ab]", max_age="36h"), NOW)
    assert aged["delete"] == ["auto-a", "auto-b"] and aged["kept"] == [] and aged["create"] is None
    assert snap.predicted_names(["auto-a", "auto-b", "auto-c"], plan) == ["auto-c", "auto-new"]


# --- option checks -----------------------------------------------------------------------------------
GOOD = [
    dict(vmid=100, snapname="s1"),
    dict(name="web", snapname="s1", vmstate=True, description="x"),
    dict(vmid=100, snapname="s1", state="rollback", start=True, force=True),
    dict(vmid=100, snapname="s1", state="absent"),
    dict(all=True, prefix="auto-", create=True, keep_last=7),
    dict(tags=["a"], pool="p", node="pve1", types=["qemu"], pattern=r"h-\d+", max_age="2d"),
    dict(vmids=[100, 101], prefix="auto-", create=True, timestamp_format="%Y%m%d", vmstate=True),
    dict(all=True, prefix="auto-", keep_last=0),
]


@pytest.mark.parametrize("given", GOOD)
def test_good_options(given):
    assert snap.option_errors(params(**given)) == []


BAD = [
    (dict(snapname="s1"), "give one way to choose the guests"),
    (dict(vmid=100, name="web", snapname="s1"), "vmid and name: give one of them"),
    (dict(vmid=100, tags=["a"], snapname="s1"), "vmid: chooses one guest; leave out tags"),
    (dict(all=True, node="pve1", snapname="s1"), "all: true chooses every guest"),
    (dict(vmid=5, snapname="s1"), "vmid: 5 is not a guest ID"),
    (dict(vmids=[100, 7], snapname="s1"), "vmids: 7 not a guest ID"),
    (dict(vmid=100), "snapname (one snapshot), or prefix or pattern"),
    (dict(vmid=100, snapname="s1", prefix="a"), "snapname and prefix: give one of them"),
    (dict(vmid=100, prefix="a-", pattern="a-.*", keep_last=1), "prefix and pattern: give one of them"),
    (dict(vmid=100, snapname="1st"), "snapname: '1st' is not a valid snapshot name"),
    (dict(vmid=100, snapname="current", state="absent"), "snapname: 'current' is a name PVE reserves"),
    (dict(vmid=100, snapname="s1", keep_last=2), "keep_last: only for retention"),
    (dict(vmid=100, snapname="s1", create=True), "create: only for retention"),
    (dict(vmid=100, pattern="a(", keep_last=1), "pattern: 'a(' is not a regular expression"),
    (dict(vmid=100, pattern="a.*", create=True), "create: needs prefix"),
    (dict(vmid=100, prefix="a-", keep_last=1, state="absent"), "state=absent: takes one snapshot by snapname"),
    (dict(vmid=100, prefix="a-"), "give create=true, keep_last or max_age"),
    (dict(vmid=100, prefix="a-", keep_last=-1), "keep_last: give 0 or more"),
    (dict(vmid=100, prefix="a-", keep_last=0, create=True), "would delete the snapshot just taken"),
    (dict(vmid=100, prefix="a-", max_age="7 days"), "max_age: '7 days' is not a duration"),
    (dict(vmid=100, prefix="a-", max_age="0d"), "max_age: '0d' is not a duration"),
    (dict(vmid=100, snapname="s1", state="absent", vmstate=True), "vmstate: only when taking a snapshot"),
    (dict(vmid=100, snapname="s1", start=True), "start: only with state=rollback"),
    (dict(vmid=100, snapname="s1", force=True, state="absent"), "force: only with state=rollback"),
    (dict(vmid=100, snapname="s1", state="rollback", description="x"), "description: only when taking a snapshot"),
    (dict(vmid=100, prefix="1-", keep_last=1), "prefix: '1-' must start with a letter"),
    (dict(vmid=100, prefix="a.", keep_last=1), "prefix: 'a.' must start with a letter"),
    (dict(vmid=100, prefix="a" * 30, create=True), "prefix and timestamp_format: make names such as"),
    (dict(vmid=100, prefix="a-", create=True, timestamp_format="%Y.%m"), "prefix and timestamp_format"),
    (dict(vmid=100, prefix="a-", create=True, timestamp_format="daily"), "puts no time in the name"),
    (dict(vmid=100, snapname="s1", parallel=0), "parallel: give 1 or more"),
    (dict(vmid=100, snapname="s1", timeout=0), "timeout: give 1 or more"),
    (dict(vmid=100, snapname="s1", lock_timeout=-1), "lock_timeout: give 0 or more"),
]


@pytest.mark.parametrize("given, expected", BAD)
def test_bad_options_name_the_option(given, expected):
    errors = snap.option_errors(params(**given))
    assert any(expected in error for error in errors), errors


def test_every_problem_at_once():
    errors = snap.option_errors(params(vmid=100, name="x", prefix="9", keep_last=-1, max_age="soon"))
    assert len(errors) == 4, errors


def test_vmstate_on_containers_is_refused_once_the_guests_are_known():
    assert snap.guest_errors([QEMU, LXC], params(all=True, vmstate=True, prefix="a-", create=True)) == [
        "vmstate: only QEMU guests save their RAM; 101 is a container (LXC); choose types=[qemu]"]
    assert snap.guest_errors([LXC], params(vmid=101, vmstate=True, snapname="s"))[0].endswith("a container (LXC)")
    assert snap.guest_errors([QEMU, LXC], params(all=True, prefix="a-", create=True)) == []


def test_info_options():
    assert snap.info_option_errors({}) == []
    assert snap.info_option_errors({"vmid": 100, "node": "pve1"}) == ["vmid: chooses one guest; leave out node"]
    assert snap.info_option_errors({"prefix": "a", "pattern": "b", "parallel": 0}) == [
        "prefix and pattern: give one of them", "parallel: give 1 or more"]


def test_the_modules_use_the_pure_checks():
    assert SnapshotModule.option_errors is snap.option_errors or SnapshotModule.option_errors == snap.option_errors
    assert SnapshotInfoModule.option_errors == snap.info_option_errors


# --- info rows -------------------------------------------------------------------------------------
def test_info_rows_and_their_order():
    rows = snap.info_rows(QEMU, listing(item("b", 60, vmstate=1, parent="a"), item("a", 120, description="first"),
                                        parent="b"), NOW)
    assert [row["snapname"] for row in rows] == ["a", "b"]
    assert rows[1] == {"vmid": 100, "guest_name": "web", "type": "qemu", "node": "pve1", "snapname": "b",
                       "snaptime": NOW - 60, "time": snap.iso_time(NOW - 60), "age": 60, "parent": "a", "vmstate": True,
                       "description": "", "current_parent": True}
    assert rows[0]["current_parent"] is False and rows[0]["description"] == "first"
    filtered = snap.info_rows(LXC, listing(item("auto-1", 5), item("keep", 5)), NOW, prefix="auto-")
    assert [row["snapname"] for row in filtered] == ["auto-1"] and filtered[0]["vmstate"] is False
    undated = snap.info_rows(LXC, listing(item("old")), NOW)[0]
    assert undated["snaptime"] is None and undated["age"] is None and undated["time"] is None
    assert [(row["vmid"], row["snapname"]) for row in snap.sort_rows(filtered + rows + [undated])] == [
        (100, "a"), (100, "b"), (101, "old"), (101, "auto-1")]


# --- documentation and argument spec agree ------------------------------------------------------------
@pytest.mark.parametrize("module, cls", [(snapshot_module, SnapshotModule), (snapshot_info_module, SnapshotInfoModule)])
def test_documented_options_are_the_argument_spec(module, cls):
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    # the guest selectors come from the doc fragment proxops.proxmox.guests
    documented.update(yaml.safe_load(guests_fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    assert set(documented) == set(cls.argument_spec)
    for name, spec in cls.argument_spec.items():
        doc = documented[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("choices") == spec.get("choices"), name
        assert doc.get("elements") == spec.get("elements"), name
    yaml.safe_load(module.RETURN)
    assert yaml.safe_load(module.EXAMPLES)
