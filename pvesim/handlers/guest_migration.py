"""Guest migration (QEMU and LXC): the precondition check and the migrate call.

The checks and the migration task are :mod:`pvesim.domain.migration`; an HA-managed
guest is handed to the HA manager (``hamigrate``, :mod:`pvesim.domain.ha_manager`).
"""

from pvesim.domain.guests import GUEST_TYPES, KINDS, check_lock, find_guest, sid_of
from pvesim.domain.ha_manager import cli_motion_error, ha_active, ha_migrate, motion_info
from pvesim.domain.migration import (check_local_resources, check_storage_availability, local_disks, run_migration,
                                     storage_availability)
from pvesim.errors import ApiError
from pvesim.routing import RouteTable

routes = RouteTable()


def _precondition(req, guest_type):
    """qemu-server API2/Qemu.pm and pve-container API2/LXC.pm ``migrate_vm_precondition``."""
    host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    req.sim.require_quorum(req.fs)  # check_cfs_quorum
    check_lock(guest)  # "VM is locked (backup)"
    others = [h.name for h in sorted(req.sim.members(req.fs), key=lambda h: h.name) if h is not host]
    managed = ha_active(req.fs, sid_of(guest))
    dependent, blocking = motion_info(req.sim, req.fs, guest)
    allowed, not_allowed = [], {}
    if guest_type == "qemu":
        # check_local_storage_availability gives every node a hash, so every other node lands in
        # not_allowed_nodes, as {} when nothing blocks it. No online check, no node affinity.
        resources, mapped, missing = check_local_resources(guest, guest.running)
        storage = storage_availability(req.fs, guest, others)
        for node in others:
            info = storage[node]
            if missing:
                info["unavailable-resources"] = list(missing)
            if blocking.get(node):
                info["blocking-ha-resources"] = blocking[node]
            not_allowed[node] = info
            if not info:
                allowed.append(node)
        answer = {
            "running": int(guest.running), "allowed_nodes": allowed, "not_allowed_nodes": not_allowed,
            "local_disks": local_disks(req.fs, guest), "local_resources": resources,
            "mapped-resources": sorted(mapped), "mapped-resource-info": mapped, "has-dbus-vmstate": 1,
        }
    else:
        # the CT precondition checks no storage: only HA resource affinity blocks a node
        for node in others:
            if blocking.get(node):
                not_allowed[node] = {"blocking-ha-resources": blocking[node]}
            else:
                allowed.append(node)
        answer = {"running": int(guest.running), "allowed-nodes": allowed, "not-allowed-nodes": not_allowed}
    if managed:
        answer["dependent-ha-resources"] = dependent
    return answer


def _hamigrate(req, host, guest, target):
    """The ``hamigrate`` worker: ``ha-manager migrate <sid> <target>`` only queues the command
    for the CRM, so the task ends before the guest moves; it fails only when the CLI dies
    (error state, a negative affinity partner on the target)."""
    sid = sid_of(guest)
    command = "ha-manager migrate %s %s" % (sid, target)

    def finish(task):
        task.log("Requesting HA migration for %s %d to node %s" % (KINDS[guest.type], guest.vmid, target))
        try:
            answer = ha_migrate(req.sim, req.fs, sid, target)
            text = cli_motion_error(answer)
            for partner in answer.get("comigrated-resources", []):
                task.log("also migrate resource '%s' in positive affinity with resource '%s' to target node '%s'"
                         % (partner, sid, target))
        except ApiError as err:
            text = err.message
        if text:
            for line in text.rstrip("\n").split("\n"):
                task.log(line)
            raise ApiError(500, "command '%s' failed: exit code 255" % command)

    return req.sim.start_task(host, "hamigrate", guest.vmid, req.authid, 0, finish=finish)


def _migrate(req, guest_type):
    """API2/Qemu.pm and API2/LXC.pm ``migrate_vm``: the checks made before the worker starts."""
    host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    params = req.params
    target = params["target"]
    if target == host.name:
        raise ApiError.param({"target": "target is local node."})
    req.sim.require_quorum(req.fs)
    target_host = req.sim.hosts.get(target)
    if target_host is None or target_host.fs is not req.fs:
        raise ApiError(500, "no such cluster node '%s'" % target)
    targetstorage = params.get("targetstorage") or params.get("target-storage")
    online = bool(params.get("online"))
    if guest_type == "qemu":
        if params.get("force") and req.identity is not None and req.identity.authid != "root@pam":
            raise ApiError.param({"force": "Only root may use this option."})
        check_lock(guest)
        if guest.running and not online:
            raise ApiError(500, "can't migrate running VM without --online")
        if not guest.running:
            online = False  # "VM isn't running. Doing offline migration instead."
        if not targetstorage or targetstorage == "1":
            problem = check_storage_availability(req.fs, guest, target)
            if problem:
                raise ApiError(500, problem)
    else:
        if guest.running and not online and not params.get("restart"):
            raise ApiError(500, "can't migrate running container without --online or --restart")
    if ha_active(req.fs, sid_of(guest)):
        return _hamigrate(req, host, guest, target)
    return run_migration(
        req.sim, host, guest, target, req.authid, online=online,
        restart=bool(params.get("restart")), with_local_disks=bool(params.get("with-local-disks")),
        force=bool(params.get("force")), bwlimit=params.get("bwlimit"), targetstorage=targetstorage,
    )


for _guest_type in GUEST_TYPES:
    _migrate_path = "/nodes/{node}/%s/{vmid}/migrate" % _guest_type
    routes.add("GET", _migrate_path, _precondition, _guest_type)
    routes.add("POST", _migrate_path, _migrate, _guest_type)
