"""Guest migration (QEMU and LXC): the precondition check and the migrate call.

The migration task and its checks are :mod:`pvesim.domain.migration`; an HA-managed
guest is moved by the HA manager (:func:`pvesim.domain.ha_manager.ha_migrate_or_fail`).
"""

from pvesim.domain.guests import GUEST_TYPES, KINDS, check_lock, find_guest, ha_managed, sid_of
from pvesim.domain.ha_manager import ha_migrate_or_fail, motion_info
from pvesim.domain.migration import local_disks, local_resources, run_migration, unavailable_storages
from pvesim.errors import ApiError
from pvesim.routing import RouteTable

routes = RouteTable()


def _precondition(req, guest_type):
    host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    allowed, not_allowed = [], {}
    dependent, blocking_by_node, refused_nodes = motion_info(req.sim, req.fs, guest)
    for other in sorted(req.sim.members(req.fs), key=lambda h: h.name):
        if other is host:
            continue
        reasons = {}
        missing = unavailable_storages(req.fs, guest, other.name)
        if missing and guest_type == "qemu":
            reasons["unavailable_storages"] = missing
        if blocking_by_node.get(other.name):
            reasons["blocking-ha-resources"] = blocking_by_node[other.name]
        # Offline nodes, nodes a strict HA rule excludes and (for CTs, whose answer has no
        # field for it) nodes without the guest's storage are not allowed either.
        if reasons or missing or not other.online or other.name in refused_nodes:
            not_allowed[other.name] = reasons
        else:
            allowed.append(other.name)
    if guest_type == "qemu":
        answer = {
            "running": int(guest.running), "allowed_nodes": allowed, "not_allowed_nodes": not_allowed,
            "local_disks": local_disks(req.fs, guest), "local_resources": local_resources(guest),
            "mapped-resources": [], "mapped-resource-info": {}, "has-dbus-vmstate": 0,
        }
    else:
        answer = {"running": int(guest.running), "allowed-nodes": allowed, "not-allowed-nodes": not_allowed}
    if dependent:
        answer["dependent-ha-resources"] = dependent
    return answer


def _migrate(req, guest_type):
    host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    params = req.params
    target = params["target"]
    if target == host.name:
        raise ApiError.param({"target": "target is local node."})
    req.sim.require_quorum(req.fs)
    target_host = req.sim.hosts.get(target)
    if target_host is None or target_host.fs is not req.fs:
        raise ApiError(500, "no such cluster node '%s'" % target)
    if guest_type == "qemu":
        check_lock(guest)
        if guest.running and not params.get("online"):
            raise ApiError(500, "can't migrate running VM without --online")
        if params.get("force") and req.identity is not None and req.identity.authid != "root@pam":
            raise ApiError.param({"force": "Only root may use this option."})
        missing = unavailable_storages(req.fs, guest, target) if not params.get("targetstorage") else []
        if missing:
            raise ApiError(500, "storage '%s' is not available on node '%s'" % (missing[0], target))
    else:
        if guest.running and not params.get("online") and not params.get("restart"):
            raise ApiError(500, "can't migrate running container without --online or --restart")
    if ha_managed(req.fs, guest):
        def finish(task):
            task.log("Requesting HA migration for %s %d to node %s" % (KINDS[guest_type], guest.vmid, target))
            ha_migrate_or_fail(req.sim, req.fs, sid_of(guest), target)

        return req.sim.start_task(host, "hamigrate", guest.vmid, req.authid, 1, finish=finish)
    return run_migration(
        req.sim, host, guest, target, req.authid, online=bool(params.get("online")),
        restart=bool(params.get("restart")), with_local_disks=bool(params.get("with-local-disks")),
        force=bool(params.get("force")), bwlimit=params.get("bwlimit"),
        targetstorage=params.get("targetstorage") or params.get("target-storage"),
    )


for _guest_type in GUEST_TYPES:
    _migrate_path = "/nodes/{node}/%s/{vmid}/migrate" % _guest_type
    routes.add("GET", _migrate_path, _precondition, _guest_type)
    routes.add("POST", _migrate_path, _migrate, _guest_type)
