"""Guest snapshots: taking, removing and rolling back, and the config a snapshot saved.

``Guest.snapshots`` maps a name to a :class:`~pvesim.model.Snapshot`; ``Guest.parent`` is
the snapshot the current state derives from.  A snapshot's ``config`` is its section of the
guest config as PVE writes it: the guest's keys as they were (``__snapshot_copy_config``:
no ``description``, no ``unusedN``), plus ``vmstate`` (the state volume), ``runningmachine``,
``runningcpu`` and ``running-nets-host-mtu`` for a RAM snapshot, ``snapstate`` while a task
works on it, and pvesim's own ``_running`` (whether the guest ran).

Each operation has PVE's phases (pve-guest-common ``PVE/AbstractConfig.pm``): a prepare step
that checks and locks (run when the task starts, so its errors end the task), and a commit
step when the task is done.  Between them the guest holds its lock and the snapshot its
``snapstate``, as on PVE.
"""

import copy
import re
import time
import uuid

from pvesim.domain.guest_disks import config_volumes
from pvesim.domain.guests import check_lock, set_running, sync_figures
from pvesim.domain.storage_config import hash_order, is_enabled, is_shared, split_list, storage_cfg
from pvesim.domain.volumes import rollback_blocker, split_volid, vmstate_volid, volume_has_feature
from pvesim.errors import ApiError
from pvesim.model import Snapshot

_CONFIGID_RE = re.compile(r"^[a-z][a-z0-9_-]+$", re.I)

# Keys __snapshot_copy_config does not copy between a config and a snapshot section.
NOT_COPIED = {"snapshots", "snapstate", "snaptime", "vmstate", "lock", "digest", "description", "parent"}
# Keys qemu-server's __snapshot_rollback_hook takes out of a rolled-back config (they start the VM).
RUNNING_KEYS = ("runningmachine", "runningcpu", "running-nets-host-mtu")

# Simulated speeds for task durations (seconds of simulated time).
VMSTATE_BYTES_PER_SECOND = 512 * 1024 ** 2  # writing or reading a RAM state volume
VOLUME_SNAPSHOT_SECONDS = 0.5  # one volume snapshot taken, removed or rolled back


def check_snapname(name):
    """PVE's pve-configid check on a new snapshot name."""
    if len(name) > 40:
        raise ApiError.param({"snapname": "value may only be 40 characters long"})
    if not _CONFIGID_RE.match(name):
        raise ApiError.param({"snapname": "invalid format - invalid configuration ID '%s'\n" % name})


def check_reserved_name(guest_type, name):
    """The names the create calls refuse before their worker: qemu-server ``API2/Qemu.pm``
    ``snapshot`` (``current``, ``pending`` in any case), pve-container
    ``API2/LXC/Snapshot.pm`` ``snapshot`` (``current``, ``vzdump``)."""
    reserved = name == "current" or (name.lower() == "pending" if guest_type == "qemu" else name == "vzdump")
    if reserved:
        raise ApiError(500, "unable to use snapshot name '%s' (reserved name)" % name)


def snapshot_of(guest, name):
    """The snapshot ``name`` of the guest, with PVE's error when there is none."""
    snap = guest.snapshots.get(name)
    if snap is None:
        raise ApiError(500, "snapshot '%s' does not exist" % name)
    return snap


def snapstate(snap):
    return snap.config.get("snapstate")


def saved_config(guest, snap):
    """The config section a snapshot saved, with its snapshot keys (pvesim's own ``_`` keys
    left out): what ``GET .../snapshot/{name}/config`` returns."""
    answer = {k: v for k, v in snap.config.items() if not k.startswith("_")}
    answer["snaptime"] = snap.snaptime
    if snap.description:
        answer["description"] = snap.description
    if snap.parent:
        answer["parent"] = snap.parent
    return answer


def list_item(guest, snap):
    """One snapshot of ``GET .../snapshot`` (``snapshot_list``): ``snapstate`` while a task works on it."""
    item = {"name": snap.name, "description": snap.description or "", "snaptime": snap.snaptime or 0}
    if guest.type == "qemu":
        item["vmstate"] = int(bool(snap.vmstate))
    if snap.parent:
        item["parent"] = snap.parent
    if snapstate(snap):
        item["snapstate"] = snapstate(snap)
    return item


def is_template(config):
    return str(config.get("template") or 0) == "1"


def has_feature(fs, guest_type, config, feature, snapname=None, backup_only=False):
    """``QemuConfig->has_feature`` / ``PVE::LXC::Config->has_feature``: 1 when every volume of
    ``config`` has ``feature`` (qemu-server skips CD-ROMs; a container's bind mounts and
    devices never have one)."""
    cfg = storage_cfg(fs)
    targets = ["raw", "subvol"] if guest_type == "lxc" and feature in ("copy", "clone") else None
    for key, volid, opts in config_volumes(guest_type, config):
        if opts.get("media") == "cdrom":
            continue
        if backup_only:
            if guest_type == "qemu" and opts.get("backup") == "0":
                continue
            if guest_type == "lxc" and key != "rootfs" and opts.get("backup") != "1":
                continue
        if not volume_has_feature(cfg, feature, volid, snapname, targets):
            return 0
    return 1


def shared_nodes(sim, fs, node, config):
    """qemu-server ``QemuServer.pm`` ``shared_nodes``: the cluster nodes that reach every
    storage of the config; a local storage keeps only ``node``, a disabled one leaves none."""
    nodes = set(fs.corosync_nodes) if fs.cluster_name else {node}
    cfg = storage_cfg(fs)
    for _key, volid, _opts in config_volumes("qemu", config, cdroms=True):
        storeid = split_volid(volid)[0]
        section = cfg.get(storeid) if storeid else None
        if section is None:
            continue
        if not is_enabled(section):
            nodes = set()
        elif section.get("nodes"):
            nodes &= set(split_list(section["nodes"]))
        elif not is_shared(section):
            nodes &= {node}
    return hash_order(nodes)


def _copy_config(source):
    """``__snapshot_copy_config``: every key but the snapshot's own, the description and unusedN."""
    return {k: copy.deepcopy(v) for k, v in source.items() if k not in NOT_COPIED and not k.startswith("unused")}


def _running_cpu(config):
    cpu = str(config.get("cpu") or "x86-64-v2-AES").split(",")[0]
    cpu = cpu.split("=", 1)[1] if "=" in cpu else cpu
    return "%s,enforce,+kvm_pv_eoi,+kvm_pv_unhalt" % cpu


def _running_machine(config):
    machine = str(config.get("machine") or "").split(",")[0]
    machine = machine.split("=", 1)[1] if "=" in machine else machine
    return "pc-q35-10.1+pve0" if machine.startswith("q35") else "pc-i440fx-10.1+pve0"


def _nets_host_mtu(config):
    nets = sorted((k for k in config if re.match(r"^net\d+$", k) and str(config[k]).startswith("virtio")),
                  key=lambda k: int(k[3:]))
    return ",".join("%s=1500" % k for k in nets)


# --- create ---------------------------------------------------------------------------------
def prepare_snapshot(fs, guest, name, save_vmstate, description):
    """``__snapshot_prepare``: refuse a template, a locked guest, a used name and a storage
    without snapshots (in this order); then lock the guest (``snapshot``) and write the new
    section with ``snapstate: prepare``.  A running VM's RAM goes to a state volume
    (``__snapshot_save_vmstate``)."""
    if is_template(guest.config):
        raise ApiError(500, "you can't take a snapshot if it's a template")
    check_lock(guest)
    if name in guest.snapshots:
        raise ApiError(500, "snapshot name '%s' already used" % name)
    if not has_feature(fs, guest.type, guest.config, "snapshot", backup_only=name == "vzdump"):
        raise ApiError(500, "snapshot feature is not available")
    guest.lock = "snapshot"
    for other in guest.snapshots.values():  # PVE drops a parent reference that would form a cycle
        if other.parent == name:
            other.parent = None
    config = _copy_config(guest.config)
    vmstate = int(bool(save_vmstate and guest.type == "qemu" and guest.running))
    if vmstate:
        volids = [volid for _k, volid, opts in config_volumes("qemu", guest.config) if opts.get("media") != "cdrom"]
        config["vmstate"] = vmstate_volid(fs, guest.vmid, name, guest.config, volids)
        config["runningmachine"] = _running_machine(guest.config)
        config["runningcpu"] = _running_cpu(guest.config)
        mtu = _nets_host_mtu(guest.config)
        if mtu:
            config["running-nets-host-mtu"] = mtu
    config["snapstate"] = "prepare"
    config["_running"] = int(guest.running)
    guest.snapshots[name] = Snapshot(name=name, description=description or "", snaptime=int(time.time()),
                                     vmstate=vmstate, parent=guest.parent, config=config)
    return guest.snapshots[name]


def commit_snapshot(guest, name):
    """``__snapshot_commit``: the snapshot is complete, the current state's new parent."""
    guest.snapshots[name].config.pop("snapstate", None)
    guest.lock = None
    guest.parent = name


def abort_snapshot(guest, name):
    """``snapshot_create`` after a failure: "snapshot create failed: starting cleanup", the
    half-made snapshot is deleted (with force) and the lock goes."""
    guest.snapshots.pop(name, None)
    guest.lock = None


def take(fs, guest, name, description, vmstate):
    """Take a snapshot at once (prepare and commit), for code that needs no task."""
    prepare_snapshot(fs, guest, name, vmstate, description)
    commit_snapshot(guest, name)


def snapshot_seconds(guest, snap):
    """Simulated duration of taking ``snap``: each volume snapshot, and writing the RAM of a
    running VM out to its state volume (``savevm-start``), which takes the longest."""
    volumes = len([v for v in config_volumes(guest.type, snap.config) if v[2].get("media") != "cdrom"])
    seconds = 1 + VOLUME_SNAPSHOT_SECONDS * volumes
    if snap.vmstate:
        seconds += 2 + (guest.mem or guest.maxmem // 3) / VMSTATE_BYTES_PER_SECOND
    return seconds


# --- delete ---------------------------------------------------------------------------------
def prepare_delete(guest, name):
    """``snapshot_delete`` up to its prepare step: the snapshot must exist; ``set_lock``
    refuses any lock (``force`` included: it only lets a failing volume be skipped) and
    locks the guest (``snapshot-delete``); a template is refused after that, so PVE leaves
    its ``snapshot-delete`` lock behind; the snapshot gets ``snapstate: delete``."""
    snap = snapshot_of(guest, name)
    check_lock(guest)
    guest.lock = "snapshot-delete"
    if is_template(guest.config):
        raise ApiError(500, "you can't delete a snapshot if vm is a template")
    snap.config["snapstate"] = "delete"
    return snap


def remove(guest, name):
    """Drop snapshot ``name``; its children and the current state take its parent."""
    snap = guest.snapshots.pop(name)
    for other in guest.snapshots.values():
        if other.parent == name:
            other.parent = snap.parent
    if guest.parent == name:
        guest.parent = snap.parent


def commit_delete(guest, name):
    """The config cleanup of ``snapshot_delete``: the section and the lock go."""
    remove(guest, name)
    guest.lock = None


def delete_seconds(guest, snap):
    volumes = len(config_volumes(guest.type, snap.config))
    return 1 + VOLUME_SNAPSHOT_SECONDS * volumes + (0.5 if snap.vmstate else 0)


# --- rollback -------------------------------------------------------------------------------
def _volumes_of(guest, snap):
    return [volid for _k, volid, opts in config_volumes(guest.type, snap.config) if opts.get("media") != "cdrom"]


def prepare_rollback(fs, guest, name):
    """``snapshot_rollback``'s prepare pass: a template is refused, the snapshot must exist,
    every volume must allow the rollback (``volume_rollback_is_possible``: zfspool only to
    its newest snapshot), the snapshot must be complete, the guest unlocked.  Then the guest
    stops and is locked (``rollback``)."""
    if is_template(guest.config):
        raise ApiError(500, "you can't rollback if vm is a template")
    snap = snapshot_of(guest, name)
    cfg = storage_cfg(fs)
    names = list(guest.snapshots)
    later = names[names.index(name) + 1:]
    for volid in _volumes_of(guest, snap):
        newer = [n for n in later if volid in _volumes_of(guest, guest.snapshots[n])]
        error = rollback_blocker(cfg, volid, name, newer)
        if error:
            raise ApiError(500, error)
    if snapstate(snap):
        raise ApiError(500, "unable to rollback to incomplete snapshot (snapstate = %s)" % snapstate(snap))
    check_lock(guest)
    set_running(guest, False)  # __snapshot_rollback_vm_stop
    guest.lock = "rollback"
    return snap


def apply_snapshot_config(guest, snap):
    """``__snapshot_apply_config`` with ``__snapshot_rollback_get_unused``: the snapshot's
    config becomes current, but the current ``description`` and ``unusedN`` stay, and a volume
    the snapshot does not know becomes ``unusedN``.  qemu-server's rollback hook takes the
    running-machine keys out and gives the VM a new ``vmgenid``."""
    current = guest.config
    known = set(v for _k, v, _o in config_volumes(guest.type, snap.config, cdroms=True))
    kept = {k: v for k, v in current.items() if k == "description" or k.startswith("unused")}
    for _key, volid, opts in config_volumes(guest.type, current):
        if opts.get("media") == "cdrom" or volid in known or volid in kept.values():
            continue
        n = 0
        while "unused%d" % n in kept:
            n += 1
        kept["unused%d" % n] = volid
    restored = {k: copy.deepcopy(v) for k, v in snap.config.items()
                if k not in NOT_COPIED and not k.startswith(("unused", "_")) and k not in RUNNING_KEYS}
    restored.update(kept)
    if guest.type == "qemu" and restored.get("vmgenid"):
        restored["vmgenid"] = str(uuid.uuid4())
    return restored


def commit_rollback(sim, guest, snap, start):
    """The second pass of ``snapshot_rollback``: the config is the snapshot's, the lock goes;
    a RAM snapshot resumes the VM (``__snapshot_rollback_vm_start``), otherwise ``start``
    decides whether the guest runs."""
    guest.config = apply_snapshot_config(guest, snap)
    guest.parent = snap.name
    guest.lock = None
    sync_figures(sim, guest)
    set_running(guest, bool(snap.vmstate and snap.config.get("_running", 1)) or start)


def rollback_seconds(guest, snap):
    seconds = 2 + VOLUME_SNAPSHOT_SECONDS * len(_volumes_of(guest, snap))
    if snap.vmstate:
        seconds += 1 + (guest.maxmem // 3) / VMSTATE_BYTES_PER_SECOND
    return seconds


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

