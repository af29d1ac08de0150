"""Guest snapshots (QEMU and LXC): list, create, delete, rollback, and a snapshot's config.

What a snapshot does to the guest is :mod:`pvesim.domain.snapshots`.  Like PVE, the
checks PVE makes inside its worker (a lock, a name already used) end the task in error.
"""

from pvesim.domain.guests import (GUEST_TYPES, check_lock, failed_task, find_guest, locked_message, set_running,
                                  start_guest_task)
from pvesim.domain.migration import MIGRATE_BYTES_PER_SECOND
from pvesim.domain.snapshots import check_snapname, remove, roll_back, saved_config, snapshot_of, take
from pvesim.errors import ApiError
from pvesim.routing import RouteTable

routes = RouteTable()


def _snapshot_list(req, guest_type):
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    result = []
    for snap in guest.snapshots.values():
        item = {"name": snap.name, "description": snap.description, "snaptime": snap.snaptime}
        if guest_type == "qemu":
            item["vmstate"] = int(bool(snap.vmstate))
        if snap.parent:
            item["parent"] = snap.parent
        result.append(item)
    current = {"name": "current", "description": "You are here!", "digest": req.fs.digest(guest.config),
               "running": int(guest.running)}
    if guest.parent:
        current["parent"] = guest.parent
    result.append(current)
    return result


def _snapshot_create(req, guest_type):
    host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    name = req.params["snapname"]
    check_snapname(name)
    if name == "current":
        raise ApiError(500, "unable to use snapshot name 'current' (reserved name)")
    if name.lower() == "pending":
        raise ApiError(500, "unable to use snapshot name 'pending' (reserved name)")
    # PVE checks the rest inside the worker: the task fails.
    if guest.lock:
        return failed_task(req.sim, host, guest, req.authid, "snapshot", locked_message(guest))
    if name in guest.snapshots:
        return failed_task(req.sim, host, guest, req.authid, "snapshot", "snapshot name '%s' already used" % name)
    vmstate = int(bool(req.params.get("vmstate"))) if guest_type == "qemu" and guest.running else 0
    description = req.params.get("description", "")
    duration = 1 + (guest.mem / MIGRATE_BYTES_PER_SECOND if vmstate else 0)  # writing the RAM out

    def finish(task):
        take(guest, name, description, vmstate)

    return start_guest_task(req.sim, host, guest, req.authid, "snapshot", duration, finish, lock="snapshot")


def _snapshot_get(req, guest_type):
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    snapshot_of(guest, req.params["snapname"])
    return [{"cmd": "rollback"}, {"cmd": "config"}]


def _snapshot_delete(req, guest_type):
    host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    name = req.params["snapname"]
    suffix = "delsnapshot"
    if guest.lock and not (req.params.get("force") and guest.lock == "snapshot-delete"):
        return failed_task(req.sim, host, guest, req.authid, suffix, locked_message(guest))
    if name not in guest.snapshots:
        return failed_task(req.sim, host, guest, req.authid, suffix, "snapshot '%s' does not exist" % name)
    guest.lock = None  # force removes a stale snapshot-delete lock

    def finish(task):
        remove(guest, name)

    return start_guest_task(req.sim, host, guest, req.authid, suffix, 1, finish, lock="snapshot-delete")


def _snapshot_rollback(req, guest_type):
    host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    name = req.params["snapname"]
    if guest.lock:
        return failed_task(req.sim, host, guest, req.authid, "rollback", locked_message(guest))
    snap = guest.snapshots.get(name)
    if snap is None:
        return failed_task(req.sim, host, guest, req.authid, "rollback", "snapshot '%s' does not exist" % name)
    start = bool(req.params.get("start"))
    set_running(guest, False)  # PVE stops the guest first

    def finish(task):
        roll_back(req.sim, guest, snap, start)

    return start_guest_task(req.sim, host, guest, req.authid, "rollback", 3, finish, lock="rollback")


def _snapshot_config(req, guest_type):
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    return saved_config(guest, snapshot_of(guest, req.params["snapname"]))


def _snapshot_update(req, guest_type):
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    check_lock(guest)
    snap = snapshot_of(guest, req.params["snapname"])
    if "description" in req.params:
        snap.description = req.params["description"]
    return None


for _guest_type in GUEST_TYPES:
    _snapshots = "/nodes/{node}/%s/{vmid}/snapshot" % _guest_type
    _one = _snapshots + "/{snapname}"
    routes.add("GET", _snapshots, _snapshot_list, _guest_type)
    routes.add("POST", _snapshots, _snapshot_create, _guest_type)
    routes.add("GET", _one, _snapshot_get, _guest_type)
    routes.add("DELETE", _one, _snapshot_delete, _guest_type)
    routes.add("POST", _one + "/rollback", _snapshot_rollback, _guest_type)
    routes.add("GET", _one + "/config", _snapshot_config, _guest_type)
    routes.add("PUT", _one + "/config", _snapshot_update, _guest_type)
