"""Guest snapshots (QEMU and LXC): list, create, delete, rollback, a snapshot's config, and the
feature check (``GET .../feature``: can the guest take a snapshot, be cloned or copied).

What a snapshot does to the guest is :mod:`pvesim.domain.snapshots`.  Like PVE, the
checks PVE makes inside its worker (a lock, a name already used) end the task in error.
"""

from pvesim.domain.guests import GUEST_TYPES, TASK_PREFIX, check_lock, failed_task, find_guest
from pvesim.domain.snapshots import (abort_snapshot, check_reserved_name, check_snapname, commit_delete,
                                     commit_rollback, commit_snapshot, delete_seconds, has_feature, list_item,
                                     prepare_delete, prepare_rollback, prepare_snapshot, rollback_seconds,
                                     saved_config, shared_nodes, snapshot_of, snapshot_seconds)
from pvesim.errors import ApiError
from pvesim.routing import RouteTable

routes = RouteTable()


def _snapshot_list(req, guest_type):
    """qemu-server ``API2/Qemu.pm`` / pve-container ``API2/LXC/Snapshot.pm`` ``snapshot_list``."""
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    result = [list_item(guest, snap) for snap in guest.snapshots.values()]
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
    check_reserved_name(guest_type, name)
    # The worker runs AbstractConfig's __snapshot_prepare first: its errors end the task.
    try:
        snap = prepare_snapshot(req.fs, guest, name, bool(req.params.get("vmstate")) and guest_type == "qemu",
                                req.params.get("description"))
    except ApiError as err:
        return failed_task(req.sim, host, guest, req.authid, "snapshot", err.message)

    def finish(task):
        commit_snapshot(guest, name)

    def abort(task):
        abort_snapshot(guest, name)

    return req.sim.start_task(host, TASK_PREFIX[guest_type] + "snapshot", guest.vmid,
                              req.authid, snapshot_seconds(guest, snap), finish=finish, abort=abort)


def _snapshot_get(req, guest_type):
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    snapshot_of(guest, req.params["snapname"])
    return [{"cmd": "rollback"}, {"cmd": "config"}]


def _snapshot_delete(req, guest_type):
    """``delsnapshot``: the worker runs AbstractConfig's ``snapshot_delete``.  ``force`` only
    lets it go on past a volume that fails; a lock refuses it all the same (``set_lock``).
    A failing task leaves the ``snapshot-delete`` lock and ``snapstate: delete``, as PVE does."""
    host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    name = req.params["snapname"]
    suffix = "delsnapshot"
    try:
        snap = prepare_delete(guest, name)
    except ApiError as err:
        return failed_task(req.sim, host, guest, req.authid, suffix, err.message)

    def finish(task):
        commit_delete(guest, name)

    return req.sim.start_task(host, TASK_PREFIX[guest_type] + suffix, guest.vmid,
                              req.authid, delete_seconds(guest, snap), finish=finish)


def _snapshot_rollback(req, guest_type):
    """``rollback``: the worker runs AbstractConfig's ``snapshot_rollback``, then starts the
    guest with ``start``.  A failing task leaves the ``rollback`` lock, as PVE does."""
    host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    name = req.params["snapname"]
    try:
        snap = prepare_rollback(req.fs, guest, name)
    except ApiError as err:
        return failed_task(req.sim, host, guest, req.authid, "rollback", err.message)
    start = bool(req.params.get("start"))

    def finish(task):
        commit_rollback(req.sim, guest, snap, start)

    return req.sim.start_task(host, TASK_PREFIX[guest_type] + "rollback", guest.vmid,
                              req.authid, rollback_seconds(guest, snap), finish=finish)


def _feature(req, guest_type):
    """``GET .../feature``: qemu-server ``API2/Qemu.pm`` and pve-container ``API2/LXC.pm``
    ``vm_feature``.  With ``snapname`` the snapshot's volumes are asked (at that snapshot).
    QEMU also answers the nodes that reach every storage of the config (``shared_nodes``);
    the container call has that part commented out."""
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    snapname = req.params.get("snapname")
    config = guest.config
    if snapname:
        config = snapshot_of(guest, snapname).config
    answer = {"hasFeature": has_feature(req.fs, guest_type, config, req.params["feature"], snapname)}
    if guest_type == "qemu":
        answer["nodes"] = shared_nodes(req.sim, req.fs, guest.node, config)
    return answer


def _snapshot_config(req, guest_type):
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    return saved_config(guest, snapshot_of(guest, req.params["snapname"]))


def _snapshot_update(req, guest_type):
    """``update_snapshot_config``: nothing to do without a description; else the lock is
    checked before the snapshot's existence."""
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    if "description" not in req.params:
        return None
    check_lock(guest)
    snap = snapshot_of(guest, req.params["snapname"])
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
    routes.add("GET", "/nodes/{node}/%s/{vmid}/feature" % _guest_type, _feature, _guest_type)
