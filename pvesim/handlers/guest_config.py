"""A node's QEMU VMs and LXC containers: list, create, destroy, and their config.

One handler serves both guest types and gets the type as its second argument; where PVE
treats VMs and CTs differently, the handler asks ``guest_type``.  The config itself
(derived from scenario figures, new volumes, MACs, figures following the config) is
:mod:`pvesim.domain.guests`.  Like PVE, checks that PVE makes inside its worker end the
task with the error text instead of failing the HTTP call.
"""

import hashlib
import re

from pvesim.domain.guests import (GUEST_TYPES, KINDS, check_lock, create_guest, ensure_config, find_guest,
                                  ha_managed, set_running, sid_of, start_guest_task, status_item, update_config)
from pvesim.domain.snapshots import saved_config, snapshot_of
from pvesim.domain.storage_config import storage_cfg
from pvesim.errors import ApiError, assert_if_modified
from pvesim.routing import RouteTable

routes = RouteTable()

CONFIG_META = {"node", "vmid", "digest", "delete", "revert", "skiplock", "force", "background_delay", "current",
               "snapshot"}
CREATE_META = {"node", "vmid", "start", "pool", "storage", "archive", "force", "unique", "live-restore",
               "bwlimit", "password", "ssh-public-keys", "ostemplate", "restore", "ignore-unpack-errors",
               "import-working-storage"}


def _list(req, guest_type):
    host = req.sim.node_of(req.host, req.params["node"])
    result = []
    for guest in sorted(host.guests(), key=lambda g: g.vmid):
        if guest.type != guest_type or not req.allowed("/vms/%d" % guest.vmid, "VM.Audit"):
            continue
        ensure_config(req.fs, guest)
        result.append(status_item(req.sim, guest))
    return result


def _index(req, guest_type):
    find_guest(req.sim, req.host, req.params, guest_type)
    names = (["config", "pending", "status", "snapshot", "migrate", "firewall", "rrd", "rrddata"])
    return [{"subdir": name} for name in names]


def _get_config(req, guest_type):
    """The current config, or with ``snapshot`` the config a snapshot saved."""
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    snapname = req.params.get("snapshot")
    if snapname:
        # qemu-server answers the snapshot's section with the digest of the whole config file
        answer = saved_config(guest, snapshot_of(guest, snapname))
        answer["digest"] = req.fs.digest(guest.config)
        return answer
    answer = dict(guest.config)
    if guest.parent:
        answer["parent"] = guest.parent
    if guest.lock:
        answer["lock"] = guest.lock
    answer["digest"] = req.fs.digest(guest.config)
    return answer


def _update_config(req, guest_type):
    """Change the config in place; ``PUT .../config`` answers null."""
    _host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    req.sim.require_quorum(req.fs)
    params = req.params
    if not params.get("skiplock"):
        check_lock(guest)
    assert_if_modified(params.get("digest"), req.fs.digest(guest.config))
    settings = {k: v for k, v in params.items() if k not in CONFIG_META}
    delete = [k for k in re.split(r"[,;\s]+", params.get("delete") or "") if k]
    delete += [k for k in re.split(r"[,;\s]+", params.get("revert") or "") if k]
    for key in delete:
        if key in settings:
            raise ApiError.param({"delete": "you can't use '-%s' and -delete %s' at the same time" % (key, key)})
    if not settings and not delete:
        raise ApiError.param({"": "no options specified"} if guest_type == "qemu" else {})
    for key, value in list(settings.items()):
        if isinstance(value, bool):
            settings[key] = int(value)
    update_config(req.sim, req.fs, guest, settings, delete)


def _qemu_post_config(req):
    """Only QEMU has the asynchronous variant: the same update, answered with a qmconfig task."""
    _update_config(req, "qemu")
    host, guest = find_guest(req.sim, req.host, req.params, "qemu")
    return req.sim.start_task(host, "qmconfig", guest.vmid, req.authid, 0)


def _create(req, guest_type):
    host = req.sim.node_of(req.host, req.params["node"])
    req.sim.require_quorum(req.fs)
    vmid = int(req.params["vmid"])
    existing = req.fs.guests.get(vmid)
    if existing is not None:
        raise ApiError(500, "%s %d already exists on node '%s'" % (KINDS[existing.type], vmid, existing.node))
    settings = {k: v for k, v in req.params.items() if k not in CREATE_META and k not in CONFIG_META}
    for key, value in list(settings.items()):
        if isinstance(value, bool):
            settings[key] = int(value)
    if guest_type == "lxc":
        storage = req.params.get("storage") or "local"
        settings.setdefault("rootfs", "%s:4" % storage)
        settings.setdefault("hostname", "CT%d" % vmid)
        settings.setdefault("memory", 512)
        settings.setdefault("swap", 512)
        settings.setdefault("arch", "amd64")
        settings.setdefault("ostype", "debian")
        template_store = str(req.params["ostemplate"]).split(":", 1)[0]
        if template_store not in storage_cfg(req.fs):
            raise ApiError(500, "storage '%s' does not exist" % template_store)
    else:
        if "smbios1" not in settings:
            uuid = hashlib.md5(b"new-%d" % vmid).hexdigest()
            settings["smbios1"] = "uuid=%s-%s-%s-%s-%s" % (uuid[:8], uuid[8:12], uuid[12:16], uuid[16:20], uuid[20:])
    guest = create_guest(req.sim, host, guest_type, vmid, settings, storage=req.params.get("storage"),
                         pool=req.params.get("pool"))
    start = bool(req.params.get("start"))

    def finish(task):
        if start:
            set_running(guest, True)

    return start_guest_task(req.sim, host, guest, req.authid, "create", 3, finish, lock="create")


def _destroy(req, guest_type):
    host, guest = find_guest(req.sim, req.host, req.params, guest_type)
    check_lock(guest)
    if guest.running:
        raise ApiError(500, "%s %d is running - destroy failed" % (KINDS[guest_type], guest.vmid))
    if ha_managed(req.fs, guest) and not req.params.get("purge"):
        raise ApiError(500, "unable to remove %s %d - used in HA resources and purge parameter not set."
                       % (KINDS[guest_type], guest.vmid))

    def finish(task):
        req.fs.guests.pop(guest.vmid, None)
        req.fs.ha_resources.pop(sid_of(guest), None)

    return start_guest_task(req.sim, host, guest, req.authid, "destroy", 2, finish, lock="destroyed")


routes.add("POST", "/nodes/{node}/qemu/{vmid}/config", _qemu_post_config)
for _guest_type in GUEST_TYPES:
    _guests = "/nodes/{node}/%s" % _guest_type
    routes.add("GET", _guests, _list, _guest_type)
    routes.add("POST", _guests, _create, _guest_type)
    routes.add("GET", _guests + "/{vmid}", _index, _guest_type)
    routes.add("DELETE", _guests + "/{vmid}", _destroy, _guest_type)
    routes.add("GET", _guests + "/{vmid}/config", _get_config, _guest_type)
    routes.add("PUT", _guests + "/{vmid}/config", _update_config, _guest_type)
