"""storage.cfg and what a storage reports on a node.

storage.cfg lives in ``ClusterFS.storage`` as ``storeid -> section`` (``type`` plus the
options as PVE writes them: lists as comma-joined strings, booleans as 0/1).  ``content``
and ``nodes`` are sets, as PVE keeps them: duplicates dropped, written in hash order
(:func:`hash_order`).  Write-only
secrets (passwords, keyrings, keys) go to ``fs.storage_secrets``, the way PVE
keeps them under /etc/pve/priv, so no answer can leak them.  Per-type rules come from
the table PVE's plugins define, read from ``pvesim/data/storage-types.json`` (see
``pvesim/data/SOURCE.md``).
"""

import hashlib
import json
import os
import re

from pvesim.domain.guest_disks import disk_items
from pvesim.errors import ApiError
from pvesim.model import GIB

# Types whose storage PVE always treats as shared (PVE::Storage's shared-storage list).
ALWAYS_SHARED = {"iscsi", "iscsidirect", "nfs", "cifs", "rbd", "cephfs", "zfs", "pbs", "glusterfs"}

# Types that keep their data below the host's root file system.
PATH_TYPES = {"dir", "btrfs"}

# project data, found relative to the package wherever it is installed
STORAGE_TYPES_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                                  "storage-types.json")
_TYPES = None

# A fresh PVE install: what a scenario without a "storage" key gets.
DEFAULT_STORAGE = [
    {"storage": "local", "type": "dir", "path": "/var/lib/vz", "content": "iso,vztmpl,backup,import"},
    {"storage": "local-lvm", "type": "lvmthin", "thinpool": "data", "vgname": "pve", "content": "images,rootdir"},
]

_NODE_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$")


def storage_types():
    """``type -> {"options": {name: rule}, "content": {...}, "sensitive": [...]}``."""
    global _TYPES
    if _TYPES is None:
        with open(STORAGE_TYPES_FILE, encoding="utf-8") as handle:
            _TYPES = json.load(handle)["types"]
    return _TYPES


# --- the config --------------------------------------------------------------------
def storage_cfg(fs):
    """storage.cfg of ``fs``; a fresh file system starts with PVE's default storages."""
    if not fs.storage_initialized:
        fs.storage_initialized = True
        if not fs.storage:
            for section in DEFAULT_STORAGE:
                section = dict(section, content=encode_set(section["content"]))
                fs.storage[section.pop("storage")] = section
    return fs.storage


def secrets_of(fs):
    return fs.storage_secrets


def cfg_digest(fs):
    """One digest for the whole storage.cfg, as PVE gives it for every section."""
    return fs.digest(storage_cfg(fs))


def split_list(value):
    return [part for part in re.split(r"[,;\s]+", str(value or "")) if part]


# Options PVE parses into a Perl hash (pve-storage PVE/Storage/Plugin.pm decode_value).
SET_VALUED = ("content", "nodes")


def hash_order(items):
    """``items`` as pve-storage keeps a set-valued option: Plugin.pm ``decode_value`` parses
    ``content`` and ``nodes`` into a hash (``$res->{$c} = 1``), ``encode_value`` writes them
    back with ``join(',', keys %$hash)``: no duplicates, in hash order.  Perl's hash order
    differs from run to run; pvesim orders by the SHA-1 of each item, so answers are
    reproducible but not in the order a client gave."""
    return sorted(set(items), key=lambda item: hashlib.sha1(item.encode()).hexdigest())


def encode_set(value):
    """A set-valued option (comma-separated text, or a list) as storage.cfg holds it."""
    return ",".join(hash_order(split_list(value) if isinstance(value, str) else [str(v) for v in value]))


def content_of(section):
    """The section's content types, the type's default when none is configured, in hash
    order (also what storage_info's ``content_hash_to_string`` gives /nodes/{node}/storage
    and /cluster/resources)."""
    if "content" in section:
        return hash_order(split_list(section["content"]))
    rules = storage_types().get(section["type"], {})
    return hash_order(rules.get("content", {}).get("default", []))


def is_shared(section):
    return section["type"] in ALWAYS_SHARED or bool(int(section.get("shared", 0) or 0))


def is_enabled(section):
    return not int(section.get("disable", 0) or 0)


def available_on(section, node):
    """Whether a storage exists on ``node`` (its ``nodes`` list, when set, names it)."""
    nodes = split_list(section.get("nodes"))
    return not nodes or node in nodes


# --- checks PVE's SectionConfig makes -------------------------------------------------
def _check_content(stype, value):
    allowed = storage_types()[stype].get("content", {}).get("allowed", [])
    items = split_list(value)
    for item in items:
        if item not in allowed:
            raise ApiError.param({"content": "unsupported content type '%s'" % item})
    if "none" in items and len(set(items)) > 1:
        raise ApiError.param({"content": "unable to combine 'none' with other content types"})
    return encode_set(items)


def _check_nodes(value):
    nodes = split_list(value)
    for node in nodes:
        if not _NODE_RE.match(node):
            raise ApiError.param({"nodes": "invalid format - value '%s' does not look like a valid node name" % node})
    return encode_set(nodes)


def config_values(stype, options):
    """Typed API values as storage.cfg keeps them (lists joined, booleans 0/1), checked as
    PVE's SectionConfig checks them."""
    out = {}
    for key, value in options.items():
        if isinstance(value, bool):
            value = int(value)
        if key == "content":
            value = _check_content(stype, value)
        elif key == "nodes":
            value = _check_nodes(value)
        elif key == "format":
            allowed = storage_types()[stype].get("format", {}).get("allowed")
            if allowed and value not in allowed:
                raise ApiError(500, "storage does not support format '%s'" % value)
        out[key] = value
    return out


# --- status ------------------------------------------------------------------------------
def guest_volumes(guest):
    """``(storeid, size_bytes)`` of the guest's disks, from its config."""
    return [(storeid, size) for _key, storeid, size in disk_items(guest)]


def storage_status(sim, fs, host, storeid):
    """The status item PVE's /nodes/{node}/storage gives for one storage."""
    section = storage_cfg(fs)[storeid]
    shared = is_shared(section)
    enabled = is_enabled(section)
    sizes = fs.storage_sizes.get(storeid, {})
    if section["type"] in PATH_TYPES and not shared and "total" not in sizes:
        total, used = host.maxdisk, host.disk
    else:
        used = int(sizes.get("used", 0))
        for guest in fs.guests.values():
            if not shared and guest.node != host.name:
                continue
            used += sum(size for sid, size in guest_volumes(guest) if sid == storeid)
        # Without a configured size, a volume group or share big enough for what it holds.
        default = max((4096 if shared else 512) * GIB, -(-used * 3 // 2 // GIB) * GIB)
        total = int(sizes.get("total", default))
    used = min(used, total)
    active = enabled and host.online
    item = {
        "storage": storeid, "type": section["type"], "content": ",".join(content_of(section)),
        "active": int(active), "enabled": int(enabled), "shared": int(shared),
    }
    if active:
        item.update(total=total, used=used, avail=total - used,
                    used_fraction=round(used / total, 6) if total else 0.0)
    return item


# --- scenario ---------------------------------------------------------------------------------
def load_storage(sim, sections):
    """Scenario ``storage``: a list of storage.cfg sections (``storage``, ``type``, options).

    pvesim reads two figures of its own in a section, ``total`` and ``used`` (bytes),
    for the status it reports.
    """
    for fs in sim.filesystems():
        fs.storage_initialized = True
        fs.storage.clear()
        for raw in sections:
            section = dict(raw)
            storeid = section.pop("storage")
            sizes = {k: section.pop(k) for k in ("total", "used") if k in section}
            if sizes:
                fs.storage_sizes[storeid] = sizes
            secret = {k: section.pop(k) for k in list(section)
                      if k in storage_types().get(section["type"], {}).get("sensitive", [])}
            if secret:
                secrets_of(fs)[storeid] = secret
            for key, value in list(section.items()):
                if key in SET_VALUED:
                    section[key] = encode_set(value)
                elif isinstance(value, bool):
                    section[key] = int(value)
                elif isinstance(value, list):
                    section[key] = ",".join(value)
            fs.storage[storeid] = section
