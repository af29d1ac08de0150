"""QEMU VMs and LXC containers: their identity, config, figures and running state.

A guest's PVE config lives in ``Guest.config``; a guest loaded from a scenario gets one
derived from its figures the first time it is needed (:func:`ensure_config`).  Config
changes feed back into the figures ``/cluster/resources`` reports (cores -> maxcpu,
memory -> maxmem, ...).  Errors copy PVE's wording.
"""

import copy
import hashlib
import re
import time

from pvesim.domain.guest_disks import MIB, config_volumes, disk_items, disk_pattern, format_size, is_disk_key
from pvesim.domain.storage_config import available_on, content_of, storage_cfg
from pvesim.domain.volumes import new_volname, vmstate_volid
from pvesim.errors import ApiError
from pvesim.model import GIB, Guest

GUEST_TYPES = ("qemu", "lxc")
KINDS = {"qemu": "VM", "lxc": "CT"}
TASK_PREFIX = {"qemu": "qm", "lxc": "vz"}
SID_PREFIX = {"qemu": "vm", "lxc": "ct"}


# --- identity ---------------------------------------------------------------------------
def sid_of(guest):
    """The guest's HA resource id (``vm:100``, ``ct:101``)."""
    return "%s:%d" % (SID_PREFIX[guest.type], guest.vmid)


def ha_managed(fs, guest):
    return sid_of(guest) in fs.ha_resources


def ha_status(fs, guest):
    """The ``ha`` object of a guest's status: managed or not, and its requested state."""
    resource = fs.ha_resources.get(sid_of(guest))
    if resource is None:
        return {"managed": 0}
    answer = {"managed": 1, "state": resource.get("state", "started")}
    if resource.get("group"):
        answer["group"] = resource["group"]
    return answer


def conf_path(guest_type, node, vmid):
    return "nodes/%s/%s/%d.conf" % (node, "qemu-server" if guest_type == "qemu" else "lxc", vmid)


def find_guest(sim, host, params, guest_type):
    """``(node host, guest)``: the guest ``params["vmid"]`` on ``params["node"]``, as ``host``
    sees the cluster; PVE's error when its config is not there."""
    node = sim.node_of(host, params["node"])
    vmid = int(params["vmid"])
    guest = host.fs.guests.get(vmid)
    if guest is None or guest.type != guest_type or guest.node != node.name:
        raise ApiError.not_found("Configuration file '%s' does not exist" % conf_path(guest_type, node.name, vmid))
    ensure_config(host.fs, guest)
    fill_snapshot_configs(host.fs, guest)
    return node, guest


def locked_message(guest):
    return "%s is locked (%s)" % (KINDS[guest.type], guest.lock)


def check_lock(guest):
    if guest.lock:
        raise ApiError(500, locked_message(guest))


# --- config --------------------------------------------------------------------------------
def mac_address(vmid, index=0):
    """A stable MAC in Proxmox's BC:24:11 range for NIC ``index`` of guest ``vmid``."""
    digest = hashlib.sha1(("%d/%d" % (vmid, index)).encode()).digest()
    return "BC:24:11:%02X:%02X:%02X" % (digest[0], digest[1], digest[2])


def guest_address(guest):
    """The IPv4 address a running guest reports (its agent, its container interfaces): the scenario's
    ``guest_addresses`` entry, else one derived from the vmid in 10.0.0.0/8."""
    return guest.address or "10.%d.%d.%d" % (guest.vmid // 65536 % 256, guest.vmid // 256 % 256, guest.vmid % 256 or 1)


def load_guest_addresses(sim, value):
    """Scenario ``guest_addresses``: ``{vmid: "10.1.2.3"}``, what guests report as their address."""
    for host in sim.hosts.values():
        for vmid, address in value.items():
            guest = host.fs.guests.get(int(vmid))
            if guest is None:
                raise ValueError("guest_addresses: no guest %s" % vmid)
            guest.address = address


def _default_image_storage(fs, node, content):
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
    cfg = storage_cfg(fs)

    def volume(store):
        # a template's disks are base volumes (create_base renames them), as on PVE
        section = cfg.get(store, {"type": "lvmthin"})
        return "%s:%s" % (store, new_volname(section, guest.vmid, 0, guest.type, base=bool(guest.template)))

    if guest.type == "qemu":
        store = _default_image_storage(fs, guest.node, "images")
        uuid = hashlib.md5(b"%d" % guest.vmid).hexdigest()
        config = {
            "name": guest.name or "VM%d" % guest.vmid, "cores": guest.maxcpu, "sockets": 1,
            "memory": str(max(guest.maxmem // MIB, 16)), "ostype": "l26", "scsihw": "virtio-scsi-single",
            "boot": "order=scsi0;net0", "net0": "virtio=%s,bridge=vmbr0,firewall=1" % mac_address(guest.vmid),
            "scsi0": "%s,iothread=1,size=%s" % (volume(store), size),
            "smbios1": "uuid=%s-%s-%s-%s-%s" % (uuid[:8], uuid[8:12], uuid[12:16], uuid[16:20], uuid[20:]),
            "vmgenid": "%s-%s-%s-%s-%s" % (uuid[::-1][:8], uuid[8:12], uuid[12:16], uuid[16:20], uuid[20:]),
        }
    else:
        store = _default_image_storage(fs, guest.node, "rootdir")
        config = {
            "hostname": guest.name or "CT%d" % guest.vmid, "cores": guest.maxcpu,
            "memory": max(guest.maxmem // MIB, 16), "swap": 512, "ostype": "debian", "arch": "amd64",
            "rootfs": "%s,size=%s" % (volume(store), size),
            "net0": "name=eth0,bridge=vmbr0,firewall=1,hwaddr=%s,ip=dhcp,type=veth" % mac_address(guest.vmid),
        }
    if guest.tags:
        config["tags"] = guest.tags
    if guest.template:
        config["template"] = 1
    if guest.onboot:
        config["onboot"] = 1
    guest.config = config
    return config


def fill_snapshot_configs(fs, guest):
    """Scenario snapshots saved no config: they get the guest's current one."""
    for snap in guest.snapshots.values():
        if not snap.config:
            # the keys __snapshot_copy_config copies: not the description, not unusedN
            snap.config = {k: copy.deepcopy(v) for k, v in ensure_config(fs, guest).items()
                           if k != "description" and not k.startswith("unused")}
            if snap.vmstate and guest.type == "qemu":
                volids = [v for _k, v, _o in config_volumes("qemu", snap.config)]
                snap.config["vmstate"] = vmstate_volid(fs, guest.vmid, snap.name, snap.config, volids)


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


def allocate_new_volumes(fs, guest_type, vmid, node, settings, default_storage=None):
    """Turn new-disk syntax (``store:size``) into volumes, checking the storage like PVE."""
    cfg = storage_cfg(fs)
    pattern = disk_pattern(guest_type)
    used = {0}
    for value in fs.guests.get(vmid).config.values() if vmid in fs.guests else []:
        m = re.search(r"(?:vm|base|subvol)-%d-disk-(\d+)" % vmid, str(value))
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
        if guest_type == "lxc" and first.startswith("/"):
            continue  # a bind or device mount point (PVE::LXC::Config classify_mountpoint): no storage
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
        # qemu-server create_disks: the format asked for, else the storage's default; the
        # option is dropped once the volume exists ("no longer needed")
        fmt = ([o.split("=", 1)[1] for o in rest.split(",") if o.startswith("format=")] or [None])[0]
        volume = "%s:%s" % (storeid, new_volname(section, vmid, index, guest_type, fmt))
        index += 1
        opts = [o for o in rest.split(",") if o and not o.startswith(("size=", "format="))]
        settings[key] = ",".join([volume] + opts + ["size=%s" % format_size(size)])
    return settings


def fill_macs(guest_type, vmid, settings):
    """PVE picks a MAC address for a NIC given without one."""
    for key, value in settings.items():
        m = re.match(r"^net(\d+)$", key)
        if not m or not isinstance(value, str):
            continue
        parts = value.split(",")
        if guest_type == "qemu" and "=" not in parts[0]:
            parts[0] = "%s=%s" % (parts[0], mac_address(vmid, int(m.group(1))))
        elif guest_type == "lxc" and not any(p.startswith("hwaddr=") for p in parts):
            parts.append("hwaddr=%s" % mac_address(vmid, int(m.group(1))))
        settings[key] = ",".join(parts)


def update_config(sim, fs, guest, settings, delete):
    """Write ``settings`` and remove the keys of ``delete``: new disks get volumes, NICs
    MACs, a removed disk stays as ``unusedN`` (as PVE keeps it)."""
    allocate_new_volumes(fs, guest.type, guest.vmid, guest.node, settings)
    fill_macs(guest.type, guest.vmid, settings)
    for key in delete:
        value = guest.config.pop(key, None)
        if value is not None and is_disk_key(key) and not key.startswith("unused"):
            if "media=cdrom" not in str(value):
                n = 0
                while "unused%d" % n in guest.config:
                    n += 1
                guest.config["unused%d" % n] = str(value).split(",")[0]
    guest.config.update(settings)
    sync_figures(sim, guest)


def create_guest(sim, host, guest_type, vmid, settings, storage=None, pool=None):
    """A new guest on ``host`` with the config ``settings``; its volumes are checked before it
    exists, so a refused create leaves nothing behind."""
    fill_macs(guest_type, vmid, settings)
    guest = Guest(vmid=vmid, type=guest_type, node=host.name)
    fs = host.fs
    fs.guests[vmid] = guest
    try:
        allocate_new_volumes(fs, guest_type, vmid, host.name, settings, storage)
    except ApiError:
        del fs.guests[vmid]
        raise
    guest.config = settings
    if pool:
        guest.pool = pool
    sync_figures(sim, guest)
    return guest


# --- running state --------------------------------------------------------------------------
def uptime(sim, guest):
    if not guest.running:
        return 0
    host = sim.hosts.get(guest.node)
    since = guest.uptime_since or (host.boot_time if host else time.time())
    return max(int(time.time() - since), 0)


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


def status_item(sim, guest):
    """A guest as the node's guest list and ``status/current`` show it."""
    running = guest.running
    item = {
        "vmid": guest.vmid, "name": guest.name, "status": guest.status,
        "cpu": guest.cpu if running else 0, "cpus": guest.maxcpu,
        "mem": guest.mem if running else 0, "maxmem": guest.maxmem,
        "disk": guest.disk, "maxdisk": guest.maxdisk, "uptime": uptime(sim, guest),
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


# --- tasks ------------------------------------------------------------------------------------
def start_guest_task(sim, host, guest, user, suffix, duration, finish, lock=None, task_type=None):
    """Start a guest task (``qm<suffix>``/``vz<suffix>``); with ``lock`` the guest must not be
    locked and is locked while it runs.  An injected ``sim.faults.fail_next_task`` fails it
    (the task engine)."""
    task_type = task_type or TASK_PREFIX[guest.type] + suffix
    if lock:
        check_lock(guest)
    return sim.start_task(host, task_type, guest.vmid, user, duration, finish=finish,
                          guest=guest if lock else None, lock=lock)


def failed_task(sim, host, guest, user, suffix, message, task_type=None):
    """PVE fails inside its worker: the call returns a UPID whose task ends in error."""
    def finish(task):
        raise ApiError(500, message)

    return sim.start_task(host, task_type or TASK_PREFIX[guest.type] + suffix, guest.vmid, user, 0, finish=finish)
