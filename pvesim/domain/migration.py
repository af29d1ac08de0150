"""Moving a guest to another node: what keeps it from moving, and the qmigrate/vzmigrate task.

Checks PVE makes inside the migration worker end the task with PVE's error; on success
the guest changes node when the task finishes, so the load figures follow.
"""

import re
import time

from pvesim.domain.guest_disks import disk_items
from pvesim.domain.guests import KINDS, locked_message
from pvesim.domain.storage_config import available_on, is_shared, storage_cfg
from pvesim.errors import ApiError
from pvesim.model import GIB

MIGRATE_BYTES_PER_SECOND = GIB  # simulated link speed without a bwlimit

LOCAL_RESOURCE_RE = re.compile(r"^(hostpci|usb|parallel|serial)\d+$")


def local_resources(guest):
    """Config keys of host devices that tie a VM to its node."""
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
    """The guest's volumes on storage that is not shared, as ``GET .../migrate`` lists them."""
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
    """The storages of the guest's volumes that ``node`` does not have."""
    cfg = storage_cfg(fs)
    missing = []
    for _key, storeid, _size in disk_items(guest):
        section = cfg.get(storeid)
        if (section is None or not available_on(section, node)) and storeid not in missing:
            missing.append(storeid)
    return missing


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
            remap_storage(guest, targetstorage)
        if guest.running and guest.type == "lxc":
            guest.uptime_since = time.time()  # restart migration starts it anew
        task.log("migration finished successfully")

    return sim.start_task(host, task_type, guest.vmid, user, duration, finish=finish, guest=guest, lock="migrate")


def remap_storage(guest, mapping):
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
