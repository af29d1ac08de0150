"""The state file keeps every declared field of the world's dataclasses.

A world is built whose every field holds a value other than its default, saved, loaded and
compared field by field: a new field the state file forgets fails here, and so does a field
type this test cannot make a value for (extend ``_value`` then)."""

import dataclasses
import json
import time

import pytest

from pvesim import state_file
from pvesim.model import ClusterFS, Guest, Host, Simulator, Snapshot, Task

# Fields the state file leaves out on purpose (declared with model.unsaved_field).
NOT_SAVED = {("Task", "end_at"), ("Task", "finish"), ("Task", "abort"), ("Task", "guest")}


def _default(item):
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return None


def _value(owner, item, now):
    """A value of the field's declared type that is not its default."""
    if item.metadata.get("monotonic"):
        return now + 30.5  # a time.monotonic() value: saved relative to the save
    default = _default(item)
    samples = {
        str: "%s-%s" % (owner, item.name), int: 7, float: 12.5, bool: not default,
        bytes: ("%s-%s" % (owner, item.name)).encode() + b"\x00\xff",
        dict: {"k-%s" % item.name: {"nested": [1, "two", None]}, "n": 3},
        list: ["v-%s" % item.name, {"x": 1}],
    }
    if item.type not in samples:
        raise AssertionError("no sample value for %s.%s (%r): extend _value" % (owner, item.name, item.type))
    value = samples[item.type]
    if value == default:
        value = value + 1 if isinstance(value, int) and not isinstance(value, bool) else value
    assert value != default, (owner, item.name)
    return value


def _fill(cls, now, **given):
    """An instance of ``cls`` with every field set to a non-default value (``given`` wins)."""
    values = {}
    for item in dataclasses.fields(cls):
        if item.name in given or "not_saved" in item.metadata:
            continue
        values[item.name] = _value(cls.__name__, item, now)
    values.update(given)
    return cls(**values)


def _world():
    now = time.monotonic()
    snap = _fill(Snapshot, now, name="snap1")
    guest = _fill(Guest, now, vmid=100, snapshots={"snap1": snap})
    fs = _fill(ClusterFS, now, guests={100: guest})
    task = _fill(Task, now, upid="UPID:x", status="stopped")
    host = _fill(Host, now, fs=fs, tasks={"UPID:x": task})
    sim = Simulator()
    sim.root_password = "pw"
    sim.hosts[host.name] = host
    return sim, host


def _compare(original, loaded, where):
    assert type(loaded) is type(original), where
    for item in dataclasses.fields(original):
        name = "%s.%s" % (where, item.name)
        if "not_saved" in item.metadata:
            assert (type(original).__name__, item.name) in NOT_SAVED, "%s is not saved: add it to NOT_SAVED" % name
            continue
        mine, theirs = getattr(original, item.name), getattr(loaded, item.name)
        if item.metadata.get("monotonic"):
            # saved relative to the save, loaded relative to the load: only the time between moves it
            assert theirs == pytest.approx(mine, abs=1.0), name
        elif dataclasses.is_dataclass(mine):
            _compare(mine, theirs, name)
        elif isinstance(mine, dict) and mine and all(dataclasses.is_dataclass(v) for v in mine.values()):
            assert list(theirs) == list(mine), name
            for key in mine:
                _compare(mine[key], theirs[key], "%s[%r]" % (name, key))
        else:
            assert theirs == mine, name
            assert theirs != _default(item), name


def test_every_declared_field_survives_save_and_load():
    sim, host = _world()
    document = json.loads(json.dumps(state_file.snapshot(sim)))
    loaded = state_file.from_document(document, time_scale=0)
    _compare(host, loaded.hosts[host.name], "host")


def test_monotonic_fields_are_saved_relative_to_the_save():
    sim, host = _world()
    document = state_file.snapshot(sim)
    saved = document["hosts"][0]
    for name in ("online_at", "ha_down_since"):
        assert set(saved[name]) == {"$seconds_after_save"}
        assert saved[name]["$seconds_after_save"] == pytest.approx(30.5, abs=1.0)


def test_a_file_with_the_old_extra_dicts_still_loads():
    # before hosts and file systems had declared fields, they were kept in "extra" dicts
    sim, host = _world()
    document = json.loads(json.dumps(state_file.snapshot(sim)))
    fs_doc, host_doc = document["filesystems"][0], document["hosts"][0]
    fs_doc["extra"] = {"authkey": fs_doc.pop("authkey"), "quorum_lost": fs_doc.pop("quorum_lost"),
                       "ticket_secret": "gone"}
    host_doc["extra"] = {"powered_off": host_doc.pop("powered_off"),
                         "ha_down_since": {"$seconds_before_save": 12.0}}
    host_doc.pop("ha_down_since")
    host_doc["online_in"] = host_doc.pop("online_at")["$seconds_after_save"]
    loaded = state_file.from_document(document, time_scale=0).hosts[host.name]
    assert (loaded.fs.authkey, loaded.fs.quorum_lost, loaded.powered_off) == (
        host.fs.authkey, host.fs.quorum_lost, host.powered_off)
    assert loaded.ha_down_since == pytest.approx(time.monotonic() - 12.0, abs=1.0)
    assert loaded.online_at == pytest.approx(host.online_at, abs=1.0)
