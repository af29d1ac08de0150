"""A guest's status and power: status/current, start, stop, shutdown (QEMU and LXC).

The running state itself is :func:`pvesim.domain.guests.set_running`; for an HA-managed
guest the request goes to the HA manager (:func:`pvesim.domain.ha_manager.request_state`).
"""

from pvesim.domain.guests import (GUEST_TYPES, KINDS, check_lock, failed_task, find_guest, ha_managed, ha_status,
                                  set_running, sid_of, start_guest_task, status_item)
from pvesim.domain.ha_manager import request_state
from pvesim.errors import ApiError
from pvesim.routing import RouteTable

routes = RouteTable()

# PVE's status index: containers have no ``reset``.
STATUS_SUBDIRS = {
    "qemu": ("current", "start", "stop", "reset", "shutdown", "reboot", "suspend", "resume"),
    "lxc": ("current", "start", "stop", "shutdown", "reboot", "suspend", "resume"),
}


def _status_index(req, guest_type):
    find_guest(req.sim, req.host, req.params, guest_type)
    return [{"subdir": s} for s in STATUS_SUBDIRS[guest_type]]


def _status_current(req, guest_type):
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    item = status_item(req.sim, guest)
    item["ha"] = ha_status(req.fs, guest)
    if guest_type == "qemu":
        item["agent"] = int(str(guest.config.get("agent", "0")).split(",")[0] in ("1", "enabled=1"))
        if guest.running:
            item["running-machine"] = "pc-i440fx-10.0+pve1"
            item["running-qemu"] = "10.0.2"
    return item


def _power(req, guest_type, action):
    host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    kind = KINDS[guest_type]
    if ha_managed(req.fs, guest) and action in ("start", "stop", "shutdown"):
        # PVE hands power requests for HA resources to the CRM.
        state = "started" if action == "start" else "stopped"

        def finish(task):
            request_state(req.sim, req.fs, sid_of(guest), state)

        return req.sim.start_task(host, "ha" + action, guest.vmid, req.authid, 1, finish=finish)
    if not req.params.get("skiplock"):
        check_lock(guest)
    if action == "start":
        if guest.running:
            if guest_type == "lxc":
                raise ApiError(500, "CT %d already running" % guest.vmid)
            return failed_task(req.sim, host, guest, req.authid, "start", "VM %d already running" % guest.vmid)
        if guest.template:
            raise ApiError(500, "you can't start a %s if it's a template" % kind)

        def finish(task):
            set_running(guest, True)

        return start_guest_task(req.sim, host, guest, req.authid, "start", 2, finish)
    if not guest.running:
        if guest_type == "lxc" or action == "shutdown":
            raise ApiError(500, "%s %d not running" % (kind, guest.vmid))

    def finish(task):
        set_running(guest, False)

    return start_guest_task(req.sim, host, guest, req.authid, action, 5 if action == "shutdown" else 1, finish)


for _guest_type in GUEST_TYPES:
    _status = "/nodes/{node}/%s/{vmid}/status" % _guest_type
    routes.add("GET", _status, _status_index, _guest_type)
    routes.add("GET", _status + "/current", _status_current, _guest_type)
    for _action in ("start", "stop", "shutdown"):
        routes.add("POST", _status + "/" + _action, _power, _guest_type, _action)
