"""What a guest volume is and can do on its storage, as pve-storage's plugins decide it.

- :func:`parse_volname`: whether a volume is a template's base volume, and its format
  (the plugins' ``parse_volname``).
- :func:`volume_has_feature`: ``snapshot``, ``clone`` and ``copy`` per storage type, volume
  format and state (each plugin's ``volume_has_feature`` table, ``PVE::Storage::volume_has_feature``).
- :func:`rollback_blocker`: whether a snapshot can be rolled back on a volume
  (``volume_rollback_is_possible``: zfspool, LVM and volume-chain storages only to the newest).
- :func:`new_volname`: the name a new volume gets (``alloc_image``, ``find_free_diskname``),
  and :func:`vmstate_volid` for a RAM snapshot (qemu-server ``QemuConfig.pm``
  ``__snapshot_save_vmstate``, ``find_vmstate_storage``).
"""

import re

from pvesim.domain.storage_config import is_shared, storage_cfg, storage_types

# Types whose volumes are files below the storage's path: Plugin.pm parse_volname, "VMID/NAME.FMT".
FILE_TYPES = {"dir", "nfs", "cifs", "cephfs", "btrfs"}

_EXTENSION_RE = re.compile(r"\.(raw|qcow2|vmdk|subvol)$")

# Each plugin's volume_has_feature table for the features GET .../feature asks about:
# feature -> state (current, snap, base) -> formats (a set) or True for any format.
_PLUGIN = {  # PVE/Storage/Plugin.pm: dir, nfs, cifs, cephfs
    "snapshot": {"current": {"qcow2"}, "snap": {"qcow2"}},
    "clone": {"base": {"qcow2", "raw", "vmdk"}},
    "copy": {"base": {"qcow2", "raw", "vmdk"}, "current": {"qcow2", "raw", "vmdk"}, "snap": {"qcow2"}},
}
FEATURES = {
    "dir": _PLUGIN, "nfs": _PLUGIN, "cifs": _PLUGIN, "cephfs": _PLUGIN,
    "btrfs": {  # BTRFSPlugin.pm
        "snapshot": {"current": {"qcow2", "raw", "subvol"}, "snap": {"qcow2", "raw", "subvol"}},
        "clone": {"base": {"qcow2", "raw", "subvol", "vmdk"}, "current": {"raw"}, "snap": {"raw"}},
        "copy": {"base": {"qcow2", "raw", "subvol", "vmdk"}, "current": {"qcow2", "raw", "subvol", "vmdk"},
                 "snap": {"qcow2", "raw", "subvol"}},
    },
    "lvm": {  # LVMPlugin.pm: snapshots only of qcow2 (snapshot-as-volume-chain)
        "snapshot": {"current": {"qcow2"}, "snap": {"qcow2"}},
        "copy": {"base": {"qcow2", "raw"}, "current": {"qcow2", "raw"}, "snap": {"qcow2"}},
    },
    "lvmthin": {  # LvmThinPlugin.pm
        "snapshot": {"current": True}, "clone": {"base": True, "snap": True},
        "copy": {"base": True, "current": True, "snap": True},
    },
    "rbd": {  # RBDPlugin.pm
        "snapshot": {"current": True, "snap": True}, "clone": {"base": True, "snap": True},
        "copy": {"base": True, "current": True, "snap": True},
    },
    "zfspool": {  # ZFSPoolPlugin.pm
        "snapshot": {"current": True, "snap": True}, "clone": {"base": True},
        "copy": {"base": True, "current": True},
    },
    "zfs": {  # ZFSPlugin.pm (ZFS over iSCSI)
        "snapshot": {"current": True, "snap": True}, "clone": {"base": True},
        "copy": {"base": True, "current": True},
    },
    "iscsi": {"copy": {"current": True}},  # ISCSIPlugin.pm
    "iscsidirect": {"copy": {"current": True}},  # ISCSIDirectPlugin.pm
    "pbs": {},  # PBSPlugin.pm: no feature at all
}


def split_volid(volid):
    """``(storeid, volname)``, or ``(None, volid)`` for a path or ``none``."""
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]):(.+)$", str(volid or ""))
    return (m.group(1), m.group(2)) if m else (None, volid)


def default_format(section):
    """Plugin.pm ``get_formats``: the storage's ``format`` option, else the type's default."""
    fmt = storage_types().get(section["type"], {}).get("format") or {}
    return section.get("format") or fmt.get("default") or "raw"


def parse_volname(section, volname):
    """``(is_base, format)`` of a volume, as the type's ``parse_volname`` gives them.  A name
    without an extension on a file storage (pvesim's older names) has the storage's default
    format."""
    name = volname.rsplit("/", 1)[-1]
    is_base = name.startswith("base-")
    m = _EXTENSION_RE.search(name)
    if m:
        return is_base, m.group(1)
    if name.startswith("subvol-"):
        return is_base, "subvol"
    if section["type"] in FILE_TYPES:
        return is_base, default_format(section)
    return is_base, "raw"


def volume_has_feature(cfg, feature, volid, snapname=None, valid_target_formats=None):
    """PVE::Storage::volume_has_feature: 1 or 0 for ``feature`` of ``volid`` (at ``snapname``)."""
    storeid, volname = split_volid(volid)
    if storeid is None:
        return 0  # an absolute path (a bind mount, a device): undef
    section = cfg.get(storeid)
    if section is None:
        return 0
    stype = section["type"]
    if stype == "esxi":  # ESXiPlugin.pm: only copying a disk, never a snapshot or the .vmx
        return int(feature == "copy" and not snapname and not volname.endswith(".vmx"))
    if feature == "clone" and stype in ("dir", "nfs", "cifs", "cephfs") and valid_target_formats is not None \
            and "qcow2" not in valid_target_formats:
        return 0  # Plugin.pm: clone_image creates a qcow2 volume
    is_base, fmt = parse_volname(section, volname)
    state = "snap" if snapname else ("base" if is_base else "current")
    formats = FEATURES.get(stype, {}).get(feature, {}).get(state)
    if formats is True:
        return 1
    return int(bool(formats) and fmt in formats)


def rollback_blocker(cfg, volid, snapname, newer):
    """``volume_rollback_is_possible``: the error that stops rolling ``volid`` back to
    ``snapname``, or None.  ``newer`` lists the snapshots taken on the volume after it.
    ZFSPoolPlugin.pm, LVMPlugin.pm and Plugin.pm with ``snapshot-as-volume-chain`` roll back
    only to the most recent snapshot; LVM only qcow2 volumes."""
    storeid, volname = split_volid(volid)
    section = cfg.get(storeid) if storeid else None
    if section is None:
        return None
    stype = section["type"]
    if stype == "zfspool":
        where = "%s:%s" % (storeid, volname)
    elif stype == "lvm":
        fmt = parse_volname(section, volname)[1]
        if fmt != "qcow2":
            return "can't rollback snapshot for '%s' volume" % fmt
        where = volname
    elif stype in ("dir", "nfs", "cifs") and int(section.get("snapshot-as-volume-chain") or 0):
        where = volname
    else:
        return None
    if newer:
        return "can't rollback, '%s' is not most recent snapshot on '%s'" % (snapname, where)
    return None


def new_volname(section, vmid, index, guest_type="qemu", fmt=None, base=False):
    """The name ``alloc_image`` gives disk ``index`` of guest ``vmid`` on ``section``."""
    stype = section["type"]
    prefix = "base" if base else "vm"
    fmt = fmt or default_format(section)
    if guest_type == "lxc" and stype in ("zfspool", "btrfs") or fmt == "subvol":
        return "subvol-%d-disk-%d" % (vmid, index) if stype != "btrfs" else "%d/subvol-%d-disk-%d" % (
            vmid, vmid, index)
    if stype in FILE_TYPES:
        if guest_type == "lxc":
            fmt = "raw"
        return "%d/%s-%d-disk-%d.%s" % (vmid, prefix, vmid, index, fmt)
    if stype == "lvm" and fmt == "qcow2":
        return "%s-%d-disk-%d.qcow2" % (prefix, vmid, index)
    return "%s-%d-disk-%d" % (prefix, vmid, index)


def vmstate_storage(fs, config, volids):
    """qemu-server ``find_vmstate_storage``: ``vmstatestorage`` of the config, else a shared
    storage that holds a disk of the VM, else a local one (file storages preferred), else
    ``local``."""
    if config.get("vmstatestorage"):
        return config["vmstatestorage"]
    cfg = storage_cfg(fs)
    shared = local = None
    for storeid in sorted({split_volid(v)[0] for v in volids if split_volid(v)[0]}):
        section = cfg.get(storeid)
        if section is None:
            continue
        has_path = section["type"] in FILE_TYPES
        if is_shared(section):
            if shared is None or has_path:
                shared = storeid
        elif local is None or has_path:
            local = storeid
    return shared or local or "local"


def vmstate_volid(fs, vmid, snapname, config, volids):
    """``<storage>:vm-ID-state-NAME``; file storages add ``.raw`` (``__snapshot_save_vmstate``)."""
    storeid = vmstate_storage(fs, config, volids)
    section = storage_cfg(fs).get(storeid, {"type": "dir"})
    name = "vm-%d-state-%s" % (vmid, snapname)
    if section["type"] in FILE_TYPES:
        return "%s:%d/%s.raw" % (storeid, vmid, name)
    return "%s:%s" % (storeid, name)
