"""QEMU VMs and LXC containers: lists, status, config, create, power, snapshots, migration.

A guest's PVE config lives in ``Guest.config``; a guest loaded from a scenario gets one
derived from its figures the first time it is needed.  Config changes feed back into
the figures ``/cluster/resources`` reports (cores -> maxcpu, memory -> maxmem, ...).
Errors copy PVE's wording; like PVE, checks that PVE makes inside its worker end the
task with the error text instead of failing the HTTP call.
"""

import copy
import hashlib
import re
import time

from pvesim.errors import ApiError, assert_if_modified
from pvesim.model import GIB, Snapshot
from pvesim.routing import RouteTable

routes = RouteTable()

MIB = 1024 ** 2
MIGRATE_BYTES_PER_SECOND = GIB  # simulated link speed without a bwlimit

QEMU_DISK_RE = re.compile(r"^(ide|sata|scsi|virtio)\d+$|^(efidisk|tpmstate)0$|^unused\d+$")
LXC_DISK_RE = re.compile(r"^rootfs$|^mp\d+$|^unused\d+$")
LOCAL_RESOURCE_RE = re.compile(r"^(hostpci|usb|parallel|serial)\d+$")

KINDS = {"qemu": "VM", "lxc": "CT"}
TASK_PREFIX = {"qemu": "qm", "lxc": "vz"}
SID_PREFIX = {"qemu": "vm", "lxc": "ct"}


# --- helpers other handler modules use ----------------------------------------------------
def sid_of(guest):
    return "%s:%d" % (SID_PREFIX[guest.type], guest.vmid)


def conf_path(guest_type, node, vmid):
    return "nodes/%s/%s/%d.conf" % (node, "qemu-server" if guest_type == "qemu" else "lxc", vmid)


def find_guest(req, guest_type):
    """The guest ``{vmid}`` on ``{node}``, with PVE's error when its config is not there."""
    host = req.sim.node_of(req.host, req.params["node"])
    vmid = int(req.params["vmid"])
    guest = req.fs.guests.get(vmid)
    if guest is None or guest.type != guest_type or guest.node != host.name:
        raise ApiError.not_found("Configuration file '%s' does not exist" % conf_path(guest_type, host.name, vmid))
    ensure_config(req.fs, guest)
    _fill_snapshot_configs(req.fs, guest)
    return host, guest


def locked_message(guest):
    return "%s is locked (%s)" % (KINDS[guest.type], guest.lock)


def check_lock(guest):
    if guest.lock:
        raise ApiError(500, locked_message(guest))


def parse_size(text):
    """PVE disk size (``32G``, ``512M``, ``1T``, bare bytes) in bytes."""
    m = re.match(r"^(\d+(?:\.\d+)?)([KMGT]?)$", str(text).strip(), re.I)
    if not m:
        return 0
    factor = {"": 1, "K": 1024, "M": MIB, "G": GIB, "T": 1024 * GIB}[m.group(2).upper()]
    return int(float(m.group(1)) * factor)


def format_size(size):
    for suffix, factor in (("T", 1024 * GIB), ("G", GIB), ("M", MIB), ("K", 1024)):
        if size and size % factor == 0:
            return "%d%s" % (size // factor, suffix)
    return str(size)


def disk_items(guest):
    """``(key, storeid, size)`` for each volume in the guest's config (no CD-ROMs)."""
    pattern = QEMU_DISK_RE if guest.type == "qemu" else LXC_DISK_RE
    items = []
    for key, value in sorted((guest.config or {}).items()):
        if not pattern.match(key) or not isinstance(value, str):
            continue
        parts = value.split(",")
        volid = parts[0] if "=" not in parts[0] else dict(p.split("=", 1) for p in parts if "=" in p).get("file", "")
        opts = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if opts.get("media") == "cdrom" or ":" not in volid:
            continue
        items.append((key, volid.split(":", 1)[0], parse_size(opts.get("size", "0"))))
    return items


def _mac(vmid, index=0):
    digest = hashlib.sha1(("%d/%d" % (vmid, index)).encode()).digest()
    return "BC:24:11:%02X:%02X:%02X" % (digest[0], digest[1], digest[2])


def _default_image_storage(fs, node, content):
    from pvesim.handlers.storage import available_on, content_of, storage_cfg

    cfg = storage_cfg(fs)
    if "local-lvm" in cfg and content in content_of(cfg["local-lvm"]):
        return "local-lvm"
    for storeid, section in sorted(cfg.items()):
        if content in content_of(section) and available_on(section, node):
            return storeid
    return "local-lvm"


def ensure_config(fs, guest):
    """Give a scenario guest the config PVE would show for its figures."""
    if guest.config:
        return guest.config
    size = format_size(guest.maxdisk or 8 * GIB)
    if guest.type == "qemu":
        store = _default_image_storage(fs, guest.node, "images")
        uuid = hashlib.md5(b"%d" % guest.vmid).hexdigest()
        config = {
            "name": guest.name or "VM%d" % guest.vmid, "cores": guest.maxcpu, "sockets": 1,
            "memory": str(max(guest.maxmem // MIB, 16)), "ostype": "l26", "scsihw": "virtio-scsi-single",
            "boot": "order=scsi0;net0", "net0": "virtio=%s,bridge=vmbr0,firewall=1" % _mac(guest.vmid),
            "scsi0": "%s:vm-%d-disk-0,iothread=1,size=%s" % (store, guest.vmid, size),
            "smbios1": "uuid=%s-%s-%s-%s-%s" % (uuid[:8], uuid[8:12], uuid[12:16], uuid[16:20], uuid[20:]),
            "vmgenid": "%s-%s-%s-%s-%s" % (uuid[::-1][:8], uuid[8:12], uuid[12:16], uuid[16:20], uuid[20:]),
        }
    else:
        store = _default_image_storage(fs, guest.node, "rootdir")
        config = {
            "hostname": guest.name or "CT%d" % guest.vmid, "cores": guest.maxcpu,
            "memory": max(guest.maxmem // MIB, 16), "swap": 512, "ostype": "debian", "arch": "amd64",
            "rootfs": "%s:vm-%d-disk-0,size=%s" % (store, guest.vmid, size),
            "net0": "name=eth0,bridge=vmbr0,firewall=1,hwaddr=%s,ip=dhcp,type=veth" % _mac(guest.vmid),
        }
    if guest.tags:
        config["tags"] = guest.tags
    if guest.template:
        config["template"] = 1
    if guest.onboot:
        config["onboot"] = 1
    guest.config = config
    return config


def _memory_mib(value, default=512):
    if value is None:
        return default
    text = str(value)
    m = re.search(r"(?:^|current=)(\d+)", text)
    return int(m.group(1)) if m else default


def sync_figures(sim, guest):
    """Carry config changes over to the figures /cluster/resources reports."""
    config = guest.config
    if guest.type == "qemu":
        guest.maxcpu = int(config.get("vcpus") or int(config.get("cores", 1)) * int(config.get("sockets", 1)))
        guest.name = config.get("name", "VM%d" % guest.vmid)
    else:
        host = sim.hosts.get(guest.node)
        guest.maxcpu = int(config.get("cores") or (host.maxcpu if host else 1))
        guest.name = config.get("hostname", "CT%d" % guest.vmid)
    guest.maxmem = _memory_mib(config.get("memory")) * MIB
    guest.mem = min(guest.mem, guest.maxmem)
    guest.tags = config.get("tags") or None
    guest.template = int(config.get("template", 0) or 0)
    disks = disk_items(guest)
    boot = [d for d in disks if d[0] in ("rootfs", "scsi0", "virtio0", "sata0", "ide0")] or disks
    if boot:
        guest.maxdisk = boot[0][2]


def ha_managed(fs, guest):
    return sid_of(guest) in fs.ha_resources


def ha_status(fs, guest):
    resource = fs.ha_resources.get(sid_of(guest))
    if resource is None:
        return {"managed": 0}
    answer = {"managed": 1, "state": resource.get("state", "started")}
    if resource.get("group"):
        answer["group"] = resource["group"]
    return answer


def uptime(sim, guest):
    if not guest.running:
        return 0
    host = sim.hosts.get(guest.node)
    since = guest.uptime_since or (host.boot_time if host else time.time())
    return max(int(time.time() - since), 0)


def task_user(req):
    return req.identity.authid if req.identity is not None else "root@pam"


def start_guest_task(req, host, guest, suffix, duration, finish, lock=None, task_type=None):
    """Start a guest task (an injected ``sim.faults.fail_next_task`` fails it: the task engine)."""
    task_type = task_type or TASK_PREFIX[guest.type] + suffix
    if lock:
        check_lock(guest)
    return req.sim.start_task(host, task_type, guest.vmid, task_user(req), duration, finish=finish,
                              guest=guest if lock else None, lock=lock)


def failed_task(req, host, guest, suffix, message, task_type=None):
    """PVE fails inside its worker: the call returns a UPID whose task ends in error."""
    def finish(task):
        raise ApiError(500, message)

    return req.sim.start_task(host, task_type or TASK_PREFIX[guest.type] + suffix, guest.vmid,
                              task_user(req), 0, finish=finish)


def _startup_order(guest):
    """``(order, vmid)`` from the ``startup`` config (``[order=]N,up=..,down=..``): PVE boots
    guests by ascending order, those without one last."""
    order = None
    for part in str(guest.config.get("startup") or "").split(","):
        key, sep, value = part.partition("=")
        if not sep:
            key, value = "order", key
        if key.strip() == "order" and value.strip().isdigit():
            order = int(value)
    return (order is None, order or 0, guest.vmid)


def start_onboot(sim, host):
    """What PVE's ``startall`` does when a node has booted (a boot hook): start the guests
    with ``onboot`` set, in ``startup`` order; HA-managed ones are left to the HA manager,
    templates and locked guests stay as they are."""
    chosen = []
    for guest in host.guests():
        config = ensure_config(host.fs, guest)
        if (int(config.get("onboot") or 0) and not guest.running and not guest.template and not guest.lock
                and not ha_managed(host.fs, guest)):
            chosen.append(guest)
    if not chosen:
        return

    def finish(task):
        for guest in sorted(chosen, key=_startup_order):
            task.log("Starting %s %d" % (KINDS[guest.type], guest.vmid))
            set_running(guest, True)

    sim.start_task(host, "startall", "", "root@pam", 0, finish)


def set_running(guest, running):
    if running and not guest.running:
        guest.status = "running"
        guest.uptime_since = time.time()
        if not guest.mem:  # a guest that never ran in the scenario: a plausible figure
            guest.mem = guest.maxmem // 3
        if not guest.cpu:
            guest.cpu = 0.02
    elif not running:
        guest.status = "stopped"
        guest.uptime_since = None


# --- lists and status ---------------------------------------------------------------------
def _allowed(req, path, privilege):
    if req.sim.access is None or req.identity is None:
        return True
    return req.has_priv(path, privilege)


def status_item(req, guest):
    running = guest.running
    item = {
        "vmid": guest.vmid, "name": guest.name, "status": guest.status,
        "cpu": guest.cpu if running else 0, "cpus": guest.maxcpu,
        "mem": guest.mem if running else 0, "maxmem": guest.maxmem,
        "disk": guest.disk, "maxdisk": guest.maxdisk, "uptime": uptime(req.sim, guest),
        "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
    }
    if guest.type == "lxc":
        item["type"] = "lxc"
        item["maxswap"] = int(guest.config.get("swap", 512)) * MIB
        item["swap"] = 0
    else:
        item["qmpstatus"] = guest.status
    if running:
        item["pid"] = 10000 + guest.vmid % 50000
    if guest.lock:
        item["lock"] = guest.lock
    if guest.tags:
        item["tags"] = guest.tags
    if guest.template:
        item["template"] = 1
    return item


def _list(req, guest_type):
    host = req.sim.node_of(req.host, req.params["node"])
    result = []
    for guest in sorted(host.guests(), key=lambda g: g.vmid):
        if guest.type != guest_type or not _allowed(req, "/vms/%d" % guest.vmid, "VM.Audit"):
            continue
        ensure_config(req.fs, guest)
        result.append(status_item(req, guest))
    return result


def _index(req, guest_type):
    find_guest(req, guest_type)
    names = (["config", "pending", "status", "snapshot", "migrate", "firewall", "rrd", "rrddata"])
    return [{"subdir": name} for name in names]


def _status_current(req, guest_type):
    _host, guest = find_guest(req, guest_type)
    item = status_item(req, guest)
    item["ha"] = ha_status(req.fs, guest)
    if guest_type == "qemu":
        item["agent"] = int(str(guest.config.get("agent", "0")).split(",")[0] in ("1", "enabled=1"))
        if guest.running:
            item["running-machine"] = "pc-i440fx-10.0+pve1"
            item["running-qemu"] = "10.0.2"
    return item


# PVE's status index: containers have no ``reset``.
STATUS_SUBDIRS = {
    "qemu": ("current", "start", "stop", "reset", "shutdown", "reboot", "suspend", "resume"),
    "lxc": ("current", "start", "stop", "shutdown", "reboot", "suspend", "resume"),
}


def _status_index(req, guest_type):
    find_guest(req, guest_type)
    return [{"subdir": s} for s in STATUS_SUBDIRS[guest_type]]


# --- power ----------------------------------------------------------------------------------
def _power(req, guest_type, action):
    host, guest = find_guest(req, guest_type)
    kind = KINDS[guest_type]
    if ha_managed(req.fs, guest) and action in ("start", "stop", "shutdown"):
        # PVE hands power requests for HA resources to the CRM.
        from pvesim.handlers.ha import request_state

        state = "started" if action == "start" else "stopped"

        def finish(task):
            request_state(req.sim, req.fs, sid_of(guest), state)

        return req.sim.start_task(host, "ha" + action, guest.vmid, task_user(req), 1, finish=finish)
    if not req.params.get("skiplock"):
        check_lock(guest)
    if action == "start":
        if guest.running:
            if guest_type == "lxc":
                raise ApiError(500, "CT %d already running" % guest.vmid)
            return failed_task(req, host, guest, "start", "VM %d already running" % guest.vmid)
        if guest.template:
            raise ApiError(500, "you can't start a %s if it's a template" % kind)

        def finish(task):
            set_running(guest, True)

        return start_guest_task(req, host, guest, "start", 2, finish)
    if not guest.running:
        if guest_type == "lxc" or action == "shutdown":
            raise ApiError(500, "%s %d not running" % (kind, guest.vmid))

    def finish(task):
        set_running(guest, False)

    return start_guest_task(req, host, guest, action, 5 if action == "shutdown" else 1, finish)


# --- config ---------------------------------------------------------------------------------
CONFIG_META = {"node", "vmid", "digest", "delete", "revert", "skiplock", "force", "background_delay", "current",
               "snapshot"}
CREATE_META = {"node", "vmid", "start", "pool", "storage", "archive", "force", "unique", "live-restore",
               "bwlimit", "password", "ssh-public-keys", "ostemplate", "restore", "ignore-unpack-errors",
               "import-working-storage"}


def _check_new_volumes(req, guest_type, vmid, node, settings, default_storage=None):
    """Turn new-disk syntax (``store:size``) into volumes, checking the storage like PVE."""
    from pvesim.handlers.storage import available_on, content_of, storage_cfg

    cfg = storage_cfg(req.fs)
    pattern = QEMU_DISK_RE if guest_type == "qemu" else LXC_DISK_RE
    used = {0}
    for value in req.fs.guests.get(vmid).config.values() if vmid in req.fs.guests else []:
        m = re.search(r"vm-%d-disk-(\d+)" % vmid, str(value))
        if m:
            used.add(int(m.group(1)) + 1)
    index = max(used)
    for key in sorted(settings):
        if not pattern.match(key) or key.startswith("unused"):
            continue
        value = str(settings[key])
        first, _, rest = value.partition(",")
        if "media=cdrom" in rest or first in ("none", "cdrom"):
            continue
        m = re.match(r"^(?:([^:]+):)?(\d+(?:\.\d+)?)$", first)
        storeid = (m.group(1) or default_storage) if m else first.split(":", 1)[0]
        section = cfg.get(storeid)
        if section is None:
            raise ApiError(500, "storage '%s' does not exist" % storeid)
        if not available_on(section, node):
            raise ApiError(500, "storage '%s' is not available on node '%s'" % (storeid, node))
        if not m:
            continue  # an existing volume
        needed = "images" if guest_type == "qemu" else "rootdir"
        if needed not in content_of(section):
            what = "vm images" if guest_type == "qemu" else "container directories"
            raise ApiError.param({"storage": "storage '%s' does not support %s" % (storeid, what)})
        size = int(float(m.group(2)) * GIB)
        volume = "%s:vm-%d-disk-%d" % (storeid, vmid, index)
        index += 1
        opts = [o for o in rest.split(",") if o and not o.startswith("size=")]
        settings[key] = ",".join([volume] + opts + ["size=%s" % format_size(size)])
    return settings


def _fill_macs(guest_type, vmid, settings):
    """PVE picks a MAC address for a NIC given without one."""
    for key, value in settings.items():
        m = re.match(r"^net(\d+)$", key)
        if not m or not isinstance(value, str):
            continue
        parts = value.split(",")
        if guest_type == "qemu" and "=" not in parts[0]:
            parts[0] = "%s=%s" % (parts[0], _mac(vmid, int(m.group(1))))
        elif guest_type == "lxc" and not any(p.startswith("hwaddr=") for p in parts):
            parts.append("hwaddr=%s" % _mac(vmid, int(m.group(1))))
        settings[key] = ",".join(parts)


def _get_config(req, guest_type):
    """The current config, or with ``snapshot`` the config a snapshot saved."""
    _host, guest = find_guest(req, guest_type)
    snapname = req.params.get("snapshot")
    if snapname:
        # qemu-server answers the snapshot's section with the digest of the whole config file
        answer = _saved_config(guest, _snapshot_of(guest, snapname))
        answer["digest"] = req.fs.digest(guest.config)
        return answer
    answer = dict(guest.config)
    if guest.parent:
        answer["parent"] = guest.parent
    if guest.lock:
        answer["lock"] = guest.lock
    answer["digest"] = req.fs.digest(guest.config)
    return answer


def update_config(req, guest_type):
    """Change the config in place; ``PUT .../config`` answers null."""
    host, guest = find_guest(req, guest_type)
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
    _check_new_volumes(req, guest_type, guest.vmid, host.name, settings)
    _fill_macs(guest_type, guest.vmid, settings)
    for key in delete:
        value = guest.config.pop(key, None)
        if value is not None and (QEMU_DISK_RE.match(key) or LXC_DISK_RE.match(key)) and not key.startswith("unused"):
            if "media=cdrom" not in str(value):  # PVE keeps a removed disk as unusedN
                n = 0
                while "unused%d" % n in guest.config:
                    n += 1
                guest.config["unused%d" % n] = str(value).split(",")[0]
    guest.config.update(settings)
    sync_figures(req.sim, guest)


@routes("POST", "/nodes/{node}/qemu/{vmid}/config")
def qemu_post_config(req):
    """Only QEMU has the asynchronous variant: the same update, answered with a qmconfig task."""
    update_config(req, "qemu")
    host, guest = find_guest(req, "qemu")
    return req.sim.start_task(host, "qmconfig", guest.vmid, task_user(req), 0)


# --- create ---------------------------------------------------------------------------------
def _create(req, guest_type):
    from pvesim.model import Guest

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
        from pvesim.handlers.storage import storage_cfg

        template_store = str(req.params["ostemplate"]).split(":", 1)[0]
        if template_store not in storage_cfg(req.fs):
            raise ApiError(500, "storage '%s' does not exist" % template_store)
    else:
        if "smbios1" not in settings:
            uuid = hashlib.md5(b"new-%d" % vmid).hexdigest()
            settings["smbios1"] = "uuid=%s-%s-%s-%s-%s" % (uuid[:8], uuid[8:12], uuid[12:16], uuid[16:20], uuid[20:])
    _fill_macs(guest_type, vmid, settings)
    guest = Guest(vmid=vmid, type=guest_type, node=host.name)
    # Checked before the guest exists, so a refused create leaves nothing behind.
    req.fs.guests[vmid] = guest
    try:
        _check_new_volumes(req, guest_type, vmid, host.name, settings, req.params.get("storage"))
    except ApiError:
        del req.fs.guests[vmid]
        raise
    guest.config = settings
    if req.params.get("pool"):
        guest.pool = req.params["pool"]
    sync_figures(req.sim, guest)
    start = bool(req.params.get("start"))

    def finish(task):
        if start:
            set_running(guest, True)

    return start_guest_task(req, host, guest, "create", 3, finish, lock="create")


def _destroy(req, guest_type):
    host, guest = find_guest(req, guest_type)
    check_lock(guest)
    if guest.running:
        raise ApiError(500, "%s %d is running - destroy failed" % (KINDS[guest_type], guest.vmid))
    if ha_managed(req.fs, guest) and not req.params.get("purge"):
        raise ApiError(500, "unable to remove %s %d - used in HA resources and purge parameter not set."
                       % (KINDS[guest_type], guest.vmid))

    def finish(task):
        req.fs.guests.pop(guest.vmid, None)
        req.fs.ha_resources.pop(sid_of(guest), None)

    return start_guest_task(req, host, guest, "destroy", 2, finish, lock="destroyed")


# --- snapshots ------------------------------------------------------------------------------
_CONFIGID_RE = re.compile(r"^[a-z][a-z0-9_-]+$", re.I)


def _check_snapname(name):
    if len(name) > 40:
        raise ApiError.param({"snapname": "value may only be 40 characters long"})
    if not _CONFIGID_RE.match(name):
        raise ApiError.param({"snapname": "invalid format - invalid configuration ID '%s'\n" % name})


def _snapshot_of(guest, name):
    """The snapshot ``name`` of the guest, with PVE's error when there is none."""
    snap = guest.snapshots.get(name)
    if snap is None:
        raise ApiError(500, "snapshot '%s' does not exist" % name)
    return snap


def _saved_config(guest, snap):
    """The config section a snapshot saved, with its snapshot keys (pvesim's own ``_`` keys left out)."""
    answer = {k: v for k, v in snap.config.items() if not k.startswith("_")}
    answer["snaptime"] = snap.snaptime
    if snap.description:
        answer["description"] = snap.description
    if snap.parent:
        answer["parent"] = snap.parent
    if snap.vmstate:
        answer["vmstate"] = "local:%d/vm-%d-state-%s.raw" % (guest.vmid, guest.vmid, snap.name)
    return answer


def _snapshot_list(req, guest_type):
    _host, guest = find_guest(req, guest_type)
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
    host, guest = find_guest(req, guest_type)
    name = req.params["snapname"]
    _check_snapname(name)
    if name == "current":
        raise ApiError(500, "unable to use snapshot name 'current' (reserved name)")
    if name.lower() == "pending":
        raise ApiError(500, "unable to use snapshot name 'pending' (reserved name)")
    # PVE checks the rest inside the worker: the task fails.
    if guest.lock:
        return failed_task(req, host, guest, "snapshot", locked_message(guest))
    if name in guest.snapshots:
        return failed_task(req, host, guest, "snapshot", "snapshot name '%s' already used" % name)
    vmstate = int(bool(req.params.get("vmstate"))) if guest_type == "qemu" and guest.running else 0
    description = req.params.get("description", "")
    duration = 1 + (guest.mem / MIGRATE_BYTES_PER_SECOND if vmstate else 0)

    def finish(task):
        snap = Snapshot(name=name, description=description, snaptime=int(time.time()), vmstate=vmstate,
                        parent=guest.parent, config=copy.deepcopy(guest.config))
        snap.config["_running"] = int(guest.running)
        guest.snapshots[name] = snap
        guest.parent = name

    return start_guest_task(req, host, guest, "snapshot", duration, finish, lock="snapshot")


def _snapshot_get(req, guest_type):
    _host, guest = find_guest(req, guest_type)
    _snapshot_of(guest, req.params["snapname"])
    return [{"cmd": "rollback"}, {"cmd": "config"}]


def _snapshot_delete(req, guest_type):
    host, guest = find_guest(req, guest_type)
    name = req.params["snapname"]
    suffix = "delsnapshot"
    if guest.lock and not (req.params.get("force") and guest.lock == "snapshot-delete"):
        return failed_task(req, host, guest, suffix, locked_message(guest))
    if name not in guest.snapshots:
        return failed_task(req, host, guest, suffix, "snapshot '%s' does not exist" % name)
    guest.lock = None  # force removes a stale snapshot-delete lock

    def finish(task):
        snap = guest.snapshots.pop(name)
        for other in guest.snapshots.values():
            if other.parent == name:
                other.parent = snap.parent
        if guest.parent == name:
            guest.parent = snap.parent

    return start_guest_task(req, host, guest, suffix, 1, finish, lock="snapshot-delete")


def _snapshot_rollback(req, guest_type):
    host, guest = find_guest(req, guest_type)
    name = req.params["snapname"]
    if guest.lock:
        return failed_task(req, host, guest, "rollback", locked_message(guest))
    snap = guest.snapshots.get(name)
    if snap is None:
        return failed_task(req, host, guest, "rollback", "snapshot '%s' does not exist" % name)
    start = bool(req.params.get("start"))
    set_running(guest, False)  # PVE stops the guest first

    def finish(task):
        config = copy.deepcopy(snap.config)
        was_running = config.pop("_running", 0)
        guest.config = config
        guest.parent = name
        sync_figures(req.sim, guest)
        # A RAM snapshot resumes where it was; otherwise ``start`` decides.
        set_running(guest, bool(snap.vmstate and was_running) or start)

    return start_guest_task(req, host, guest, "rollback", 3, finish, lock="rollback")


def _snapshot_config(req, guest_type):
    _host, guest = find_guest(req, guest_type)
    return _saved_config(guest, _snapshot_of(guest, req.params["snapname"]))


def _snapshot_update(req, guest_type):
    _host, guest = find_guest(req, guest_type)
    check_lock(guest)
    snap = _snapshot_of(guest, req.params["snapname"])
    if "description" in req.params:
        snap.description = req.params["description"]
    return None


def load_snapshots(sim, value):
    """Scenario ``snapshots``: ``{vmid: [{name, description, snaptime, vmstate, parent}, ...]}``
    in creation order; the last one listed is the current state's parent."""
    guests = {}
    for host in sim.hosts.values():
        guests.update(host.fs.guests)
    for vmid, snaps in value.items():
        guest = guests.get(int(vmid))
        if guest is None:
            raise ValueError("snapshots for unknown guest %s" % vmid)
        previous = None
        for raw in snaps:
            snap = Snapshot(name=raw["name"], description=raw.get("description", ""),
                            snaptime=int(raw.get("snaptime", time.time())), vmstate=int(raw.get("vmstate", 0)),
                            parent=raw.get("parent", previous))
            guest.snapshots[snap.name] = snap
            previous = snap.name
        guest.parent = previous


def _fill_snapshot_configs(fs, guest):
    for snap in guest.snapshots.values():
        if not snap.config:
            snap.config = copy.deepcopy(ensure_config(fs, guest))


# --- migration ------------------------------------------------------------------------------
def local_resources(guest):
    keys = []
    for key, value in sorted(guest.config.items()):
        if not LOCAL_RESOURCE_RE.match(key):
            continue
        if key.startswith("usb") and "spice" in str(value):
            continue
        if key.startswith("serial") and str(value) == "socket":
            continue
        if "mapping=" in str(value):
            continue  # a cluster-wide mapping, not a local device
        keys.append(key)
    return keys


def local_disks(fs, guest):
    from pvesim.handlers.storage import is_shared, storage_cfg

    cfg = storage_cfg(fs)
    result = []
    for key, storeid, size in disk_items(guest):
        section = cfg.get(storeid)
        if section is not None and is_shared(section):
            continue
        volid = str(guest.config[key]).split(",")[0]
        result.append({"volid": volid, "size": size, "drivename": key, "is_unused": int(key.startswith("unused")),
                       "cdrom": 0, "replicate": 1, "shared": 0})
    return result


def unavailable_storages(fs, guest, node):
    from pvesim.handlers.storage import available_on, storage_cfg

    cfg = storage_cfg(fs)
    missing = []
    for _key, storeid, _size in disk_items(guest):
        section = cfg.get(storeid)
        if (section is None or not available_on(section, node)) and storeid not in missing:
            missing.append(storeid)
    return missing


def _precondition(req, guest_type):
    host, guest = find_guest(req, guest_type)
    from pvesim.handlers.ha import motion_info

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


def migration_seconds(guest, online, disks_bytes=0, bwlimit_kib=None):
    """Simulated duration: the bytes to move over the link, plus a little setup."""
    speed = bwlimit_kib * 1024 if bwlimit_kib else MIGRATE_BYTES_PER_SECOND
    moved = (guest.mem if online and guest.running else 0) + disks_bytes
    return 1.0 + moved / speed


def run_migration(sim, host, guest, target_name, user, online=False, restart=False, with_local_disks=False,
                  force=False, bwlimit=None, targetstorage=None, extra_failure=None):
    """Start the qmigrate/vzmigrate task that moves ``guest`` to ``target_name``.

    Checks PVE makes inside the worker end the task with PVE's error; on success the
    guest changes node when the task finishes, so the load figures follow.
    """
    fs = host.fs
    task_type = "qmigrate" if guest.type == "qemu" else "vzmigrate"
    target = sim.hosts.get(target_name)
    failure = extra_failure
    if failure is None and guest.lock:
        failure = locked_message(guest)
    if failure is None and (target is None or not target.online):
        failure = "migration aborted"
    if failure is None and guest.type == "qemu":
        devices = local_resources(guest)
        if devices and (guest.running or not force):
            failure = "can't migrate VM which uses local devices: %s" % ", ".join(devices)
        elif guest.running and local_disks(fs, guest) and not with_local_disks:
            failure = "can't live migrate attached local disks without with-local-disks option"
    if failure is None and guest.type == "lxc" and guest.running:
        if online:
            failure = "lxc live migration is currently not implemented"
        elif not restart:
            failure = "running container can only be migrated in restart mode"
    if failure is None and not targetstorage:
        missing = unavailable_storages(fs, guest, target_name)
        if missing:
            failure = "storage '%s' is not available on node '%s'" % (missing[0], target_name)
    if failure is not None:
        def fail(task, text=failure):
            if text == "migration aborted":
                task.log("ERROR: Can't connect to destination address using public key")
            raise ApiError(500, text)

        return sim.start_task(host, task_type, guest.vmid, user, 0, finish=fail)
    disk_bytes = sum(d["size"] for d in local_disks(fs, guest)) if (with_local_disks or not guest.running) else 0
    duration = migration_seconds(guest, online or restart, disk_bytes, bwlimit)
    if guest.type == "lxc" and restart and guest.running:
        duration += 2  # shutdown and start

    def finish(task):
        current_target = sim.hosts.get(target_name)
        if current_target is None or not current_target.online:
            raise ApiError(500, "migration aborted")
        task.log("starting migration of %s %d to node '%s' (%s)" % (KINDS[guest.type], guest.vmid, target_name,
                                                                     current_target.address))
        guest.node = target_name
        if targetstorage:
            _remap_storage(guest, targetstorage)
        if guest.running and guest.type == "lxc":
            guest.uptime_since = time.time()  # restart migration starts it anew
        task.log("migration finished successfully")

    return sim.start_task(host, task_type, guest.vmid, user, duration, finish=finish, guest=guest, lock="migrate")


def _remap_storage(guest, mapping):
    """Apply a ``targetstorage`` map (``dest`` or ``src:dest,...``) to the guest's volumes."""
    pairs = [p for p in re.split(r"[,;\s]+", mapping) if p]
    default, table = None, {}
    for pair in pairs:
        if ":" in pair:
            src, dst = pair.split(":", 1)
            table[src] = dst
        else:
            default = pair
    for key, storeid, _size in disk_items(guest):
        new = table.get(storeid, default)
        if new and new != storeid:
            guest.config[key] = new + str(guest.config[key])[len(storeid):]


def _migrate(req, guest_type):
    host, guest = find_guest(req, guest_type)
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
        from pvesim.handlers.ha import ha_migrate_or_fail

        def finish(task):
            task.log("Requesting HA migration for %s %d to node %s" % (KINDS[guest_type], guest.vmid, target))
            ha_migrate_or_fail(req.sim, req.fs, sid_of(guest), target)

        return req.sim.start_task(host, "hamigrate", guest.vmid, task_user(req), 1, finish=finish)
    return run_migration(
        req.sim, host, guest, target, task_user(req), online=bool(params.get("online")),
        restart=bool(params.get("restart")), with_local_disks=bool(params.get("with-local-disks")),
        force=bool(params.get("force")), bwlimit=params.get("bwlimit"),
        targetstorage=params.get("targetstorage") or params.get("target-storage"),
    )


# --- routes ---------------------------------------------------------------------------------
def _register_guest_routes(guest_type):
    """Register the routes QEMU and LXC have in common for one guest type. One handler
    serves both types and gets the type as its second argument; where PVE treats VMs and
    CTs differently, the handler asks ``guest_type``. The QEMU-only ``POST .../config``
    is registered on its own above."""
    guests = "/nodes/{node}/%s" % guest_type
    one_guest = guests + "/{vmid}"
    one_snapshot = one_guest + "/snapshot/{snapname}"

    def register(method, template, handler, *args):
        routes.add(method, template, handler, guest_type, *args)

    register("GET", guests, _list)
    register("POST", guests, _create)
    register("GET", one_guest, _index)
    register("DELETE", one_guest, _destroy)
    register("GET", one_guest + "/status", _status_index)
    register("GET", one_guest + "/status/current", _status_current)
    for action in ("start", "stop", "shutdown"):
        register("POST", one_guest + "/status/" + action, _power, action)
    register("GET", one_guest + "/config", _get_config)
    register("PUT", one_guest + "/config", update_config)
    register("GET", one_guest + "/snapshot", _snapshot_list)
    register("POST", one_guest + "/snapshot", _snapshot_create)
    register("GET", one_snapshot, _snapshot_get)
    register("DELETE", one_snapshot, _snapshot_delete)
    register("POST", one_snapshot + "/rollback", _snapshot_rollback)
    register("GET", one_snapshot + "/config", _snapshot_config)
    register("PUT", one_snapshot + "/config", _snapshot_update)
    register("GET", one_guest + "/migrate", _precondition)
    register("POST", one_guest + "/migrate", _migrate)


for _guest_type in ("qemu", "lxc"):
    _register_guest_routes(_guest_type)
