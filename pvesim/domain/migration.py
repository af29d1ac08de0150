"""Moving a guest to another node: what keeps it from moving, and the qmigrate/vzmigrate task.

What ``GET .../migrate`` reports follows qemu-server's ``migrate_vm_precondition``
(``API2/Qemu.pm``) with ``check_local_storage_availability`` and ``foreach_volid``
(``QemuServer.pm``) and ``check_local_resources`` (``QemuMigrate/Helpers.pm``).

The task follows pve-guest-common's ``AbstractMigrate.pm`` ``migrate``: an error in
``prepare`` or ``phase1`` (QemuMigrate.pm ``prepare``/``scan_local_volumes``, LXC/Migrate.pm
``prepare``) ends the task with exitstatus ``migration aborted``, after the log line
``<time> ERROR: migration aborted (duration 00:00:00): <cause>``.  On success the guest
changes node when the task finishes, so the load figures follow.
"""

import re
import time

from pvesim.domain.guest_disks import config_volumes, disk_items, parse_size
from pvesim.domain.guests import KINDS, locked_message
from pvesim.domain.storage_config import available_on, content_of, is_enabled, is_shared, storage_cfg
from pvesim.domain.volumes import parse_volname, split_volid
from pvesim.errors import ApiError
from pvesim.model import GIB

MIGRATE_BYTES_PER_SECOND = GIB  # simulated link speed without a bwlimit

# QemuMigrate.pm scan_local_volumes: the local storage types whose volumes can be copied
MIGRATABLE_LOCAL_TYPES = {"dir", "btrfs", "zfspool", "lvmthin", "lvm"}
_DRIVE_RE = re.compile(r"^(ide|sata|scsi|virtio)\d+$|^(efidisk|tpmstate)0$")


# --- local resources (QemuMigrate/Helpers.pm) ---------------------------------------------------
def _prop(value, default_key=None):
    """A property string as a dict; the first bare item under ``default_key``."""
    result = {}
    for index, part in enumerate(str(value).split(",")):
        key, sep, val = part.partition("=")
        if sep:
            result[key] = val
        elif index == 0 and default_key:
            result[default_key] = part
    return result


def check_local_resources(guest, running):
    """QemuMigrate/Helpers.pm ``check_local_resources($conf, $state, 1)``:
    ``(local resources, mapped resources {key: {"name"}}, keys whose mapping a node lacks)``.

    A running VM's ``amd-sev``, ``intel-tdx`` and virtiofs come first
    (``check_non_migratable_resources``); then old ``hostusb``/``hostpci``, ``ivshmem``, and the
    ``usbN``/``hostpciN``/``serialN``/``parallelN``/``virtiofsN`` keys (PVE walks the config
    hash; pvesim in key order).  A mapped USB device and a virtiofs dir mapping stay local
    resources; a mapped PCI device counts only while the VM runs and its mapping is not
    live-migration capable.  pvesim has no ``/cluster/mapping``, so every mapping is missing
    on every node, as PVE finds a mapping that does not exist."""
    config = guest.config
    resources, mapped, missing = [], {}, []
    if running:
        resources += [k for k in ("amd-sev", "intel-tdx") if config.get(k)]
        if any(re.match(r"^virtiofs\d+$", k) for k in config):
            resources.append("virtiofs")
    resources += [k for k in ("hostusb", "hostpci", "ivshmem") if config.get(k)]
    for key in sorted(config):
        value = str(config[key])
        if key.startswith("usb"):
            entry = _prop(value, "host")
            if re.match(r"^spice$", entry.get("host", ""), re.I):
                continue
            if entry.get("mapping"):
                missing.append(key)
                mapped[key] = {"name": entry["mapping"]}
        if key.startswith("hostpci"):
            entry = _prop(value, "host")
            if entry.get("mapping"):
                missing.append(key)
                mapped[key] = {"name": entry["mapping"]}
                if not running:
                    continue  # not a blocker for an offline migration
        if key.startswith("virtiofs"):
            entry = _prop(value, "dirid")
            missing.append(key)
            mapped[key] = {"name": entry.get("dirid", "")}
        if key.startswith("serial") and value == "socket":
            continue  # sockets are re-created on the target
        if re.match(r"^(usb|hostpci|serial|parallel|virtiofs)\d+$", key):
            resources.append(key)
    return resources, mapped, missing


def local_resources(guest):
    """The ``local_resources`` of ``GET .../migrate``."""
    return check_local_resources(guest, guest.running)[0]


# --- volumes (QemuServer.pm foreach_volid) ------------------------------------------------------
def _volume_items(config, include_unused=True):
    """``(key, volid, options)`` as ``foreach_volume_full`` visits a config with
    ``extra_keys => ['vmstate']`` and ``include_unused``."""
    items = [(key, volid, opts) for key, volid, opts in config_volumes("qemu", config, cdroms=True)]
    if include_unused:
        items += [(key, str(config[key]).split(",")[0], {}) for key in sorted(config)
                  if re.match(r"^unused\d+$", key)]
    if config.get("vmstate"):
        items.append(("vmstate", str(config["vmstate"]), {}))
    return items


def foreach_volid(guest):
    """QemuServer.pm ``foreach_volid``: volid -> its attributes, over the config and every
    snapshot (``cdrom``, ``is_cloudinit``, ``replicate``, ``shared``, ``is_unused``,
    ``is_attached``, ``referenced_in_snapshot`` {snapname: 1}, ``size`` (bytes, only when the
    drive says), ``is_vmstate``, ``is_tpmstate``, ``drivename``).  PVE iterates a hash; pvesim
    keeps volids in the order met."""
    volumes = {}

    def visit(key, volid, opts, snapname):
        if not volid:
            return
        attr = volumes.setdefault(volid, {})
        attr.setdefault("cdrom", 1)
        if opts.get("media") != "cdrom":
            attr["cdrom"] = 0
        attr.setdefault("is_cloudinit", 0)
        if opts.get("media") == "cdrom" and re.search(r"vm-\d+-cloudinit", volid):
            attr["is_cloudinit"] = 1
        attr.setdefault("replicate", 0)
        if str(opts.get("replicate", "1")) not in ("0", "no", "off", "false"):
            attr["replicate"] = 1
        attr.setdefault("shared", 0)
        if str(opts.get("shared", "0")) in ("1", "yes", "on", "true"):
            attr["shared"] = 1
        attr.setdefault("is_unused", 0)
        if key.startswith("unused"):
            attr["is_unused"] = 1
        attr.setdefault("is_attached", 0)
        if not attr["is_unused"] and snapname is None:
            attr["is_attached"] = 1
        if snapname is not None:
            attr.setdefault("referenced_in_snapshot", {})[snapname] = 1
        size = parse_size(opts["size"]) if opts.get("size") else 0
        if size and "size" not in attr:
            attr["size"] = size
        attr.setdefault("is_vmstate", 0)
        if key == "vmstate":
            attr["is_vmstate"] = 1
        attr.setdefault("is_tpmstate", 0)
        if key == "tpmstate0":
            attr["is_tpmstate"] = 1
        if _DRIVE_RE.match(key):
            attr["drivename"] = key

    for key, volid, opts in _volume_items(guest.config):
        visit(key, volid, opts, None)
    for name, snap in sorted(guest.snapshots.items()):
        for key, volid, opts in _volume_items(snap.config or {}):
            visit(key, volid, opts, name)
    return volumes


def local_disks(fs, guest):
    """``$check_vm_disks_local`` (API2/Qemu.pm): the volumes not on shared storage, CD-ROM
    images, unused disks and snapshot-only volumes included, each with its
    ``foreach_volid`` attributes and ``volid``.  An empty CD-ROM drive is not listed."""
    cfg = storage_cfg(fs)
    result = []
    for volid, attr in foreach_volid(guest).items():
        storeid, _volname = split_volid(volid)
        if storeid and storeid in cfg and is_shared(cfg[storeid]):
            continue
        if attr["shared"] or (attr["cdrom"] and volid == "none"):
            continue
        result.append(dict(attr, volid=volid))
    return result


def storage_availability(fs, guest, nodes):
    """QemuServer.pm ``check_local_storage_availability``: ``{node: {}}`` for every node,
    with ``unavailable_storages`` (sorted) where a storage of the VM's drives is disabled or
    not configured for the node."""
    cfg = storage_cfg(fs)
    result = {node: {} for node in nodes}
    for _key, volid, _opts in config_volumes("qemu", guest.config, cdroms=True):
        storeid, _volname = split_volid(volid)
        section = cfg.get(storeid) if storeid else None
        if section is None:
            continue
        for node in nodes:
            if not is_enabled(section) or not available_on(section, node):
                missing = result[node].setdefault("unavailable_storages", [])
                if storeid not in missing:
                    missing.append(storeid)
    for info in result.values():
        if "unavailable_storages" in info:
            info["unavailable_storages"].sort()
    return result


def storage_check(fs, storeid, node=None):
    """PVE::Storage ``storage_check_enabled`` (with ``storage_check_node``): the error text,
    or None."""
    section = storage_cfg(fs).get(storeid)
    if section is None:
        return "storage '%s' does not exist" % storeid
    if not is_enabled(section):
        return "storage '%s' is disabled" % storeid
    if node is not None and not available_on(section, node):
        return "storage '%s' is not available on node '%s'" % (storeid, node)
    return None


def check_storage_availability(fs, guest, node):
    """QemuServer.pm ``check_storage_availability`` (the migrate call, before the worker):
    every drive's storage enabled here and on ``node``; PVE's error text, or None."""
    for _key, volid, _opts in config_volumes("qemu", guest.config, cdroms=True):
        storeid, _volname = split_volid(volid)
        if not storeid:
            continue
        problem = storage_check(fs, storeid) or storage_check(fs, storeid, node)
        if problem:
            return problem
    return None


def unavailable_storages(fs, guest, node):
    """The storages of the guest's volumes that ``node`` does not have."""
    cfg = storage_cfg(fs)
    missing = []
    for _key, storeid, _size in disk_items(guest):
        section = cfg.get(storeid)
        if (section is None or not available_on(section, node)) and storeid not in missing:
            missing.append(storeid)
    return missing


# --- the worker's checks ------------------------------------------------------------------------
class MigrationAborted(Exception):
    """An error in ``prepare`` or ``phase1``: AbstractMigrate.pm logs it and dies
    ``migration aborted``."""


def _stamp():
    return time.strftime("%Y-%m-%d %H:%M:%S")


def mlog(task, msg, level="info"):
    """AbstractMigrate.pm ``log`` (``$msg2text``): each line with a time stamp, errors with
    ``ERROR:``."""
    prefix = _stamp() + (" ERROR:" if level == "err" else "")
    for line in str(msg).rstrip("\n").split("\n"):
        task.log("%s %s" % (prefix, line))


def map_id(mapping, storeid):
    """PVE::JSONSchema ``map_id`` of a ``targetstorage`` map (``dest`` or ``src:dest,...``,
    ``1`` for identity): the storage a local volume goes to."""
    if not mapping:
        return storeid
    default, table = None, {}
    for pair in [p for p in re.split(r"[,;\s]+", mapping) if p]:
        if ":" in pair:
            src, dst = pair.split(":", 1)
            table[src] = dst
        elif pair != "1":
            default = pair
    return table.get(storeid, default or storeid)


def _scan_local_volumes(fs, guest, target, running, with_local_disks, task, storagemap=None):
    """QemuMigrate.pm ``scan_local_volumes``: log each local disk; per-volume problems are
    logged as warnings and then abort with ``can't migrate VM - check log``."""
    cfg = storage_cfg(fs)
    local, errors, other_errors = {}, {}, []
    for volid, attr in sorted(foreach_volid(guest).items()):
        try:
            if volid.startswith("/"):
                if attr["shared"]:
                    continue
                local[volid] = "config"
                raise MigrationAborted("local file/device")
            snaprefs = attr.get("referenced_in_snapshot")
            if attr["cdrom"]:
                if volid == "cdrom":
                    msg = "can't migrate local cdrom drive"
                    if snaprefs and not attr["is_attached"]:
                        msg += " (referenced in snapshot - %s)" % ", ".join(sorted(snaprefs))
                    other_errors.append(msg)
                    continue
                if volid == "none":
                    continue
            storeid, volname = split_volid(volid)
            problem = storage_check(fs, storeid)
            if problem:
                raise MigrationAborted(problem)
            section = cfg[storeid]
            targetsid = storeid if is_shared(section) else map_id(storagemap, storeid)
            problem = storage_check(fs, targetsid, target)  # target_storage_check_available
            if problem:
                raise MigrationAborted(problem)
            if is_shared(section):
                continue
            ref = None
            if snaprefs:
                ref = "snapshot"
            if attr["is_unused"]:
                ref = "unused"
            if attr["is_attached"]:
                ref = "attached"
            if attr["is_tpmstate"]:
                ref = "generated"
            local[volid] = ref
            _is_base, fmt = parse_volname(section, volname)
            if attr["cdrom"]:
                if re.search(r"vm-\d+-cloudinit", volid):
                    local[volid] = "generated"
                    continue
                raise MigrationAborted("local cdrom image")
            if attr["is_vmstate"]:
                continue
            if snaprefs:
                if running:
                    raise MigrationAborted("online storage migration not possible if non-replicated snapshot exists")
                if not (section["type"] == "zfspool" or (section["type"] == "btrfs" and fmt == "raw")
                        or (fmt == "qcow2" and not int(section.get("snapshot-as-volume-chain", 0) or 0))):
                    raise MigrationAborted("non-migratable snapshot exists")
        except MigrationAborted as err:
            errors[volid] = str(err)
    for volid in sorted(local):
        ref = local[volid]
        if ref == "attached":
            if running and not with_local_disks:
                errors[volid] = "can't live migrate attached local disks without with-local-disks option"
            mlog(task, "found local disk '%s' (attached)" % volid)
        elif ref == "unused":
            mlog(task, "found local disk '%s' (unused)" % volid)
        elif ref == "snapshot":
            mlog(task, "found local disk '%s' (referenced by snapshot(s))" % volid)
        elif ref == "pending":
            mlog(task, "found local disk '%s' (pending change)" % volid)
        elif ref == "generated":
            mlog(task, "found generated disk '%s' (in current VM config)" % volid)
        else:
            mlog(task, "found local disk '%s'" % volid)
    for volid in sorted(errors):
        mlog(task, "can't migrate local disk '%s': %s" % (volid, errors[volid]), "warn")
    for err in other_errors:
        mlog(task, err, "warn")
    if errors or other_errors:
        raise MigrationAborted("Problem found while scanning volumes - can't migrate VM - check log")
    for volid in sorted(local):
        section = cfg[split_volid(volid)[0]]
        if section["type"] not in MIGRATABLE_LOCAL_TYPES:
            raise MigrationAborted("Problem found while scanning volumes - can't migrate '%s' - storage type "
                                   "'%s' not supported" % (volid, section["type"]))


def _prepare_qemu(fs, guest, target, force, storagemap=None):
    """QemuMigrate.pm ``prepare`` (``$self->{running}`` is still 0 there, so local devices
    need ``force`` whatever the VM's state)."""
    if guest.lock:
        raise MigrationAborted(locked_message(guest))
    resources, mapped, missing = check_local_resources(guest, guest.running)
    blocking = [r for r in resources if r not in mapped]
    if blocking and not force:
        raise MigrationAborted("can't migrate VM which uses local devices: %s" % ", ".join(blocking))
    if mapped:
        if missing:
            raise MigrationAborted("can't migrate to '%s': missing mapped devices %s" % (target, ", ".join(missing)))
        if guest.running:
            names = ", ".join("%s:%s" % (k, mapped[k]["name"]) for k in sorted(mapped))
            raise MigrationAborted("can't live migrate running VM which uses following mapped devices: %s" % names)
    cfg = storage_cfg(fs)
    for volid in foreach_volid(guest):  # get_vm_volumes
        storeid, _volname = split_volid(volid)
        if storeid:
            problem = storage_check(fs, storeid)
            if problem:
                raise MigrationAborted(problem)
            targetsid = storeid if is_shared(cfg[storeid]) else map_id(storagemap, storeid)
            problem = storage_check(fs, targetsid, target)
            if problem:
                raise MigrationAborted(problem)


def _prepare_lxc(fs, guest, target, online, restart, storagemap=None):
    """LXC/Migrate.pm ``prepare``: lock, running state, then every mount point (unused ones
    too): a bind or device mount point must be ``shared``, a volume's storage enabled, with
    ``rootdir`` content, here and on the target."""
    if guest.lock:
        raise MigrationAborted(locked_message(guest))
    if guest.running:
        if online:
            raise MigrationAborted("lxc live migration is currently not implemented")
        if not restart:
            raise MigrationAborted("running container can only be migrated in restart mode")
    cfg = storage_cfg(fs)
    mounts = [(key, str(value)) for key, value in sorted(guest.config.items())
              if key == "rootfs" or re.match(r"^(mp|unused)\d+$", key)]
    for key, value in mounts:
        entry = _prop(value, "volume")
        volid = entry.get("volume", "")
        if volid.startswith("/"):  # PVE::LXC::Config classify_mountpoint
            kind = "device" if volid.startswith("/dev/") else "bind"
            if str(entry.get("shared", "0")) in ("1", "yes", "on", "true"):
                continue
            raise MigrationAborted("cannot migrate local %s mount point '%s'" % (kind, key))
        storeid, _volname = split_volid(volid)
        if not storeid:
            raise MigrationAborted("can't determine assigned storage for mount point '%s'" % key)
        problem = storage_check(fs, storeid)
        if problem:
            raise MigrationAborted(problem)
        if "rootdir" not in content_of(cfg[storeid]):
            raise MigrationAborted("content type 'rootdir' is not available on storage '%s'" % storeid)
        targetsid = storeid if is_shared(cfg[storeid]) else map_id(storagemap, storeid)
        problem = storage_check(fs, targetsid, target)
        if problem:
            raise MigrationAborted(problem)
        if "rootdir" not in content_of(cfg[targetsid]):
            raise MigrationAborted("%s: content type 'rootdir' is not available on storage '%s'" % (volid, targetsid))


def migration_seconds(guest, online, disks_bytes=0, bwlimit_kib=None):
    """Simulated duration: the bytes to move over the link, plus a little setup."""
    speed = bwlimit_kib * 1024 if bwlimit_kib else MIGRATE_BYTES_PER_SECOND
    moved = (guest.mem if online and guest.running else 0) + disks_bytes
    return 1.0 + moved / speed


def _duration(seconds):
    seconds = int(seconds)
    return "%02d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def run_migration(sim, host, guest, target_name, user, online=False, restart=False, with_local_disks=False,
                  force=False, bwlimit=None, targetstorage=None, extra_failure=None):
    """Start the qmigrate/vzmigrate task that moves ``guest`` to ``target_name``.

    The worker's checks (prepare, the ssh test, phase1's volume scan) run at the task's start;
    a failed check ends it at once with ``migration aborted``.  On success the guest changes
    node when the task finishes, so the load figures follow.
    """
    fs = host.fs
    task_type = "qmigrate" if guest.type == "qemu" else "vzmigrate"
    target = sim.hosts.get(target_name)
    running = guest.running and (guest.type == "qemu" and online)
    lines = []

    class _Collect:
        log = lines.append

    failure = extra_failure
    try:
        if failure is None:
            if guest.type == "qemu":
                _prepare_qemu(fs, guest, target_name, force, targetstorage)
            else:
                _prepare_lxc(fs, guest, target_name, online, restart, targetstorage)
            if target is None or not target.online:  # prepare's ssh test
                raise MigrationAborted("Can't connect to destination address using public key")
            mlog(_Collect, "starting migration of %s %d to node '%s' (%s)" % (KINDS[guest.type], guest.vmid,
                                                                              target_name, target.address))
            if guest.type == "qemu":
                _scan_local_volumes(fs, guest, target_name, running, with_local_disks, _Collect, targetstorage)
    except MigrationAborted as err:
        failure = str(err)
    if failure is not None:
        def fail(task, text=failure):
            task.lines.extend(lines)
            mlog(task, "migration aborted (duration 00:00:00): %s" % text, "err")
            raise ApiError(500, "migration aborted")

        return sim.start_task(host, task_type, guest.vmid, user, 0, finish=fail)
    disk_bytes = sum(d.get("size", 0) for d in local_disks(fs, guest) if not d["cdrom"]) \
        if guest.type == "qemu" else 0
    duration = migration_seconds(guest, online or restart, disk_bytes, bwlimit)
    if guest.type == "lxc" and restart and guest.running:
        duration += 2  # shutdown and start

    def finish(task):
        task.lines[:0] = lines
        current_target = sim.hosts.get(target_name)
        if current_target is None or not current_target.online:
            mlog(task, "migration aborted (duration %s): Can't connect to destination address using public key"
                 % _duration(duration), "err")
            raise ApiError(500, "migration aborted")
        guest.node = target_name
        if targetstorage:
            remap_storage(guest, targetstorage)
        if guest.running and guest.type == "lxc":
            guest.uptime_since = time.time()  # restart migration starts it anew
        mlog(task, "migration finished successfully (duration %s)" % _duration(duration))

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
