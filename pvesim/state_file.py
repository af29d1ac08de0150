"""Save the whole simulated world to a JSON file and load it back.

    from pvesim import state_file
    state_file.save(sim, "/tmp/pve-state.json")     # atomic: temp file + rename
    sim = state_file.load("/tmp/pve-state.json")    # a Simulator with its services attached

The document is ``{"format": "pvesim-state", "version": 1, ...}``:

- ``simulator``: root password, PVE release, time scale, the task pid counter, the ticket
  clock offset of the access control, and the CA (certificate and key) that issued the
  hosts' certificates, so fingerprints and TLS trust stay the same.
- ``filesystems``: every :class:`~pvesim.model.ClusterFS` once, with an ``id``. Cluster
  members refer to the same id, so after loading they share ONE object again. It holds
  the ticket key (``authkey``), so tickets issued before a save still work after a load
  within their lifetime, and the write-only storage secrets.
- ``hosts``: in their order, each with its node-local state, its ``fs`` id and its tasks
  (logs, exit status).

Every dataclass field is saved, so a new field is kept without a change here, except the
fields declared with ``model.unsaved_field(why)``.  A field declared with
``model.monotonic_field()`` holds a ``time.monotonic()`` value and is saved as
``{"$seconds_after_save": value - now}``, loaded as ``now + seconds``.

Choices, documented in pvesim/README.md:

- Tasks still running when saving are finished first, at once, their effect applied as if
  they were due: a task's effect is a Python callable and cannot be written to JSON.
- Monotonic-clock times (``monotonic_field``: when a rebooting host comes back, since when
  the HA manager sees a node down) are saved relative to the moment of saving; wall-clock
  times (task start/end, boot time, guest uptime, snapshot times, tickets) are saved as
  they are.
- Not kept: pending faults (``sim.faults`` rules), request stats, a stopped task's link
  to its guest (the lock itself is kept on the guest).

Values that JSON has no type for are tagged: ``{"$bytes": base64}``, ``{"$set": [...]}``,
``{"$tuple": [...]}``, and ``{"$dict": [[key, value], ...]}`` for a dict whose keys are not
all strings. Anything else (an object stored by a handler) makes :func:`save` fail with
the place it was found, rather than lose it silently.
"""

import base64
import dataclasses
import json
import os
import tempfile
import time

from pvesim import certs, registry, schema
from pvesim.model import ClusterFS, Guest, Host, Snapshot, Task
from pvesim.server import attach_services

FORMAT = "pvesim-state"
VERSION = 1

MONOTONIC = "$seconds_after_save"  # the tag of a monotonic_field value


class StateFileError(ValueError):
    """A state file pvesim cannot load (not JSON, another format, an unknown version)."""


# --- values ------------------------------------------------------------------------------------
def _encode(value, where):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_encode(item, "%s[%d]" % (where, i)) for i, item in enumerate(value)]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(item, "%s[%d]" % (where, i)) for i, item in enumerate(value)]}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted((_encode(item, where) for item in value), key=repr)}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v, "%s.%s" % (where, k)) for k, v in value.items()}
        return {"$dict": [[_encode(k, where), _encode(v, "%s[%r]" % (where, k))] for k, v in value.items()]}
    raise TypeError("cannot save %s: a %s is not data" % (where, type(value).__name__))


def _decode(value):
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, inner), = value.items()
        if tag == "$bytes":
            return base64.b64decode(inner)
        if tag == "$set":
            return {_decode(item) for item in inner}
        if tag == "$tuple":
            return tuple(_decode(item) for item in inner)
        if tag == "$dict":
            return {_decode(k): _decode(v) for k, v in inner}
    return {k: _decode(v) for k, v in value.items()}


def _fields(obj, now, skip=(), where=""):
    """A dataclass's fields as encoded JSON values: every field but those declared
    ``unsaved_field``, so new ones are kept too; monotonic times relative to ``now``."""
    data = {}
    for item in dataclasses.fields(obj):
        if item.name in skip or "not_saved" in item.metadata:
            continue
        value = getattr(obj, item.name)
        if item.metadata.get("monotonic") and value is not None:
            data[item.name] = {MONOTONIC: value - now}
        else:
            data[item.name] = _encode(value, "%s.%s" % (where, item.name))
    return data


def _build(cls, data, now, **given):
    """A dataclass from saved fields: unknown keys are ignored, missing ones take defaults
    (a file saved before a field existed still loads)."""
    values = {}
    for item in dataclasses.fields(cls):
        if item.name not in data:
            continue
        value = data[item.name]
        if item.metadata.get("monotonic") and isinstance(value, dict) and MONOTONIC in value:
            values[item.name] = now + float(value[MONOTONIC])
        else:
            values[item.name] = _decode(value)
    values.update(given)
    return cls(**values)


def _from_extra(data):
    """Fields from the ``extra`` dict of a file saved before they were declared fields (a
    monotonic time then was ``{"$seconds_before_save": s}``)."""
    fields = {k: v for k, v in data.items() if k != "extra"}
    for key, value in (data.get("extra") or {}).items():
        if isinstance(value, dict) and "$seconds_before_save" in value:
            value = {MONOTONIC: -float(value["$seconds_before_save"])}
        fields.setdefault(key, value)
    return fields


# --- save --------------------------------------------------------------------------------------
def snapshot(sim):
    """The state document of ``sim`` (a dict ready for ``json.dump``).  Finishes the tasks
    that are still running first (see the module docstring)."""
    with sim.lock:
        sim.tick()
        for host in sim.hosts.values():
            for task in list(host.tasks.values()):
                if task.status == "running":
                    sim._finish(task)
        now = time.monotonic()
        fs_ids = {}
        filesystems = []
        for host in sim.hosts.values():
            if id(host.fs) not in fs_ids:
                fs_ids[id(host.fs)] = "fs%d" % len(fs_ids)
                filesystems.append(_save_fs(host.fs, fs_ids[id(host.fs)], now))
        hosts = [_save_host(host, fs_ids[id(host.fs)], now) for host in sim.hosts.values()]
        ca = getattr(sim, "ca", None)
        access = getattr(sim, "access", None)
        return {
            "format": FORMAT,
            "version": VERSION,
            "saved_at": time.time(),
            "simulator": {
                "root_password": sim.root_password,
                "pve_version": sim.pve_version,
                "time_scale": sim.time_scale,
                "task_pid": sim._pid,
                "ticket_clock_offset": getattr(access, "clock_offset", 0),
                "ca": {"cert_pem": ca.cert_pem, "key_pem": ca.key_pem} if ca is not None else None,
                "ca_bundle": list(getattr(sim, "ca_bundle", [])),
            },
            "filesystems": filesystems,
            "hosts": hosts,
        }


def _save_fs(fs, fs_id, now):
    where = "filesystem %s" % fs_id
    data = {"id": fs_id}
    data.update(_fields(fs, now, skip=("guests",), where=where))
    data["guests"] = [_save_guest(guest, where, now) for _, guest in sorted(fs.guests.items())]
    return data


def _save_guest(guest, where, now):
    where = "%s guest %s" % (where, guest.vmid)
    data = _fields(guest, now, skip=("snapshots",), where=where)
    data["snapshots"] = [_fields(snap, now, where="%s snapshot %s" % (where, name))
                         for name, snap in guest.snapshots.items()]
    return data


def _save_host(host, fs_id, now):
    where = "host %s" % host.name
    data = _fields(host, now, skip=("fs", "tasks"), where=where)
    data["fs"] = fs_id
    data["tasks"] = [_fields(task, now, where="%s task %s" % (where, upid)) for upid, task in host.tasks.items()]
    return data


def dumps(sim):
    return json.dumps(snapshot(sim), indent=1, sort_keys=True) + "\n"


def save(sim, path):
    """Write ``sim``'s state to ``path`` atomically (a temp file in the same directory, then
    a rename): a reader never sees half a file, a failed save leaves the old one."""
    text = dumps(sim)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


# --- load --------------------------------------------------------------------------------------
def load(path, time_scale=None):
    """A :class:`Simulator` from a state file, with access control, faults and stats
    attached (not served: start a ``SimServer`` on it, which reuses the saved CA).
    ``time_scale`` replaces the saved one when given."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
    except ValueError as err:
        raise StateFileError("%s: not a pvesim state file (not JSON: %s)" % (path, err)) from None
    return from_document(doc, time_scale=time_scale, source=path)


def from_document(doc, time_scale=None, source="state"):
    """A :class:`Simulator` from a state document (see :func:`snapshot`)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise StateFileError("%s: not a pvesim state file (format %r, expected %r)" % (source, found, FORMAT))
    if doc.get("version") != VERSION:
        raise StateFileError("%s: pvesim state file version %r is not supported (this pvesim reads version %d)"
                             % (source, doc.get("version"), VERSION))
    meta = doc["simulator"]
    if meta["pve_version"] not in schema.SCHEMA_FILES:
        raise StateFileError("%s: pve_version %r: pvesim answers as PVE %s"
                             % (source, meta["pve_version"], " or ".join(schema.SCHEMA_FILES)))
    # the routes, and the tick and boot hooks the saved world relies on
    sim = registry.new_simulator(time_scale=meta["time_scale"] if time_scale is None else time_scale)
    sim.root_password = meta["root_password"]
    sim.pve_version = meta["pve_version"]
    sim._pid = int(meta.get("task_pid", sim._pid))
    if meta.get("ca"):
        sim.ca = certs.CertificateAuthority(meta["ca"]["cert_pem"], meta["ca"]["key_pem"])
    sim.ca_bundle = list(meta.get("ca_bundle") or [])

    now = time.monotonic()
    filesystems = {}
    for data in doc["filesystems"]:
        fields = {k: v for k, v in _from_extra(data).items() if k not in ("id", "guests")}
        fs = _build(ClusterFS, fields, now)
        for item in data.get("guests", []):
            snapshots = {}
            for snap in item.get("snapshots", []):
                snapshots[snap["name"]] = _build(Snapshot, snap, now)
            guest = _build(Guest, {k: v for k, v in item.items() if k != "snapshots"}, now, snapshots=snapshots)
            fs.guests[guest.vmid] = guest
        filesystems[data["id"]] = fs

    for data in doc["hosts"]:
        if data["fs"] not in filesystems:
            raise StateFileError("%s: host %s refers to unknown filesystem %r" % (source, data.get("name"), data["fs"]))
        fields = {k: v for k, v in _from_extra(data).items() if k not in ("fs", "tasks")}
        if fields.get("online_in") is not None:  # a file from before online_at was saved as a monotonic field
            fields["online_at"] = {MONOTONIC: float(fields["online_in"])}
        host = _build(Host, fields, now, fs=filesystems[data["fs"]])
        for item in data.get("tasks", []):
            task = _build(Task, item, now)
            host.tasks[task.upid] = task
        sim.hosts[host.name] = host

    attach_services(sim)
    sim.access.clock_offset = meta.get("ticket_clock_offset", 0)
    return sim
