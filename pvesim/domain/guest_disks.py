"""The volumes in a guest's config: which keys are disks, and their sizes.

Storage (the space a storage uses) and guests (a config derived from figures) both need
this, so it sits below both.
"""

import re

from pvesim.model import GIB

MIB = 1024 ** 2

QEMU_DISK_RE = re.compile(r"^(ide|sata|scsi|virtio)\d+$|^(efidisk|tpmstate)0$|^unused\d+$")
LXC_DISK_RE = re.compile(r"^rootfs$|^mp\d+$|^unused\d+$")


def disk_pattern(guest_type):
    return QEMU_DISK_RE if guest_type == "qemu" else LXC_DISK_RE


def is_disk_key(key):
    """A config key that holds a volume, of either guest type."""
    return bool(QEMU_DISK_RE.match(key) or LXC_DISK_RE.match(key))


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


def _drive(value):
    """``(volid, options)`` of a drive or mount point value (``vol,k=v``, or ``file=``/``volume=``)."""
    parts = str(value).split(",")
    opts = dict(p.split("=", 1) for p in parts if "=" in p)
    volid = parts[0] if "=" not in parts[0] else opts.get("file", opts.get("volume", ""))
    return volid, opts


def config_volumes(guest_type, config, cdroms=False):
    """``(key, volid, options)`` for each drive (QEMU) or mount point (LXC) of a config, in
    key order, as ``foreach_volume`` visits them: no ``unusedN``, CD-ROMs only with
    ``cdroms``.  A bind mount's volid is its host path."""
    pattern = disk_pattern(guest_type)
    items = []
    for key, value in sorted((config or {}).items()):
        if not pattern.match(key) or key.startswith("unused") or not isinstance(value, str):
            continue
        volid, opts = _drive(value)
        if opts.get("media") == "cdrom" and not cdroms:
            continue
        if volid in ("", "none") and opts.get("media") != "cdrom":
            continue
        items.append((key, volid, opts))
    return items


def disk_items(guest):
    """``(key, storeid, size)`` for each volume in the guest's config (no CD-ROMs)."""
    pattern = disk_pattern(guest.type)
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
