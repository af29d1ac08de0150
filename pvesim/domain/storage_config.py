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
# pve-storage Plugin.pm parse_config: the 'local' storage every read of storage.cfg has.
PARSED_LOCAL = {"type": "dir", "path": "/var/lib/vz", "prune-backups": "keep-all=1",
                "content": "backup,images,iso,rootdir,snippets,vztmpl"}


def storage_cfg(fs):
    """storage.cfg of ``fs`` as PVE reads it; a fresh file system starts with PVE's default
    storages.  Like Plugin.pm ``parse_config``, a missing ``local`` (or one that is not the
    ``dir`` at /var/lib/vz) comes back as PVE's built-in one, and ``local`` has no ``nodes``."""
    if not fs.storage_initialized:
        fs.storage_initialized = True
        if not fs.storage:
            for section in DEFAULT_STORAGE:
                section = dict(section, content=encode_set(section["content"]))
                fs.storage[section.pop("storage")] = section
    local = fs.storage.get("local")
    if local is None or local["type"] != "dir" or local.get("path", "/var/lib/vz") != "/var/lib/vz":
        fs.storage["local"] = dict(PARSED_LOCAL, content=encode_set(PARSED_LOCAL["content"]))
    else:
        local.setdefault("path", "/var/lib/vz")
        local.pop("nodes", None)
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
def decode_content(stype, value):
    """Plugin.pm ``decode_value`` for ``content``: a type the storage does not support is only
    warned about and dropped; ``none`` mixes with nothing; nothing left is ``none`` where the
    type allows it (``encode_value``), else refused.  Returns ``(stored text, warnings)``."""
    allowed = storage_types()[stype].get("content", {}).get("allowed", [])
    kept, warnings = [], []
    for item in split_list(value):
        if item not in allowed:
            warnings.append("storage does not support content type '%s'" % item)
            continue
        kept.append(item)
    if "none" in kept and len(set(kept)) > 1:
        raise ApiError(500, "unable to combine 'none' with other content types")
    if not kept and "none" not in allowed:
        raise ApiError(500, "storage does not support content type 'none'")
    return encode_set(kept) or "none", warnings


def _check_nodes(value):
    nodes = split_list(value)
    for node in nodes:
        if not _NODE_RE.match(node):
            raise ApiError.param({"nodes": "invalid format - value '%s' does not look like a valid node name" % node})
    return encode_set(nodes)


def check_config(stype, storeid, options, create):
    """SectionConfig ``check_config`` with pve-storage's ``decode_value`` and the plugins'
    own checks: typed API values as storage.cfg keeps them (lists joined, booleans 0/1).
    Per key: a fixed option on update, an option the type does not have; ``content`` and
    ``format`` the type does not support are dropped (``decode_value`` warns, and for
    ``format`` its ``next`` leaves the key out).  On create: the required options, then
    DirPlugin's path rule (dir, btrfs) and ``canonpath``.  Returns ``(values, warnings)``."""
    rules = storage_types()[stype]["options"]
    out, warnings = {}, []
    for key, value in options.items():
        rule = rules.get(key)
        if not create and rule is not None and rule.endswith("fixed"):
            raise ApiError(500, "can't change value of fixed parameter '%s'" % key)
        if rule is None:
            raise ApiError(500, "unexpected property '%s'" % key)
        if isinstance(value, bool):
            value = int(value)
        if key == "content":
            value, more = decode_content(stype, value)
            warnings += more
        elif key == "nodes":
            value = _check_nodes(value)
        elif key == "format":
            allowed = storage_types()[stype].get("format", {}).get("allowed")
            if allowed and value not in allowed:
                warnings.append("storage does not support format '%s'" % value)
                continue
        out[key] = value
    if create:
        for key, rule in sorted(rules.items()):
            if rule.startswith("required") and key not in options:
                raise ApiError(500, "missing value for required option '%s'" % key)
        if stype in ("dir", "btrfs"):
            path = str(out.get("path", ""))
            if not re.match(r"^/[-/a-zA-Z0-9_.@]+$", path):
                raise ApiError(500, "illegal path for directory storage: %s" % path)
            out["path"] = canonpath(path)
    return out, warnings


def canonpath(path):
    """Perl's File::Spec->canonpath: no repeated or trailing slashes, no ``/./``."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)


# --- the plugins' add and update hooks ----------------------------------------------------
def _encryption_key(section, value):
    """PBSPlugin.pm: ``autogen`` makes a key (``proxmox-backup-client key create``), anything
    else must be a JSON key with ``data``; storage.cfg then holds its fingerprint (or 1)."""
    if value == "autogen":
        key = {"kdf": None, "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
               "data": os.urandom(32).hex(), "fingerprint": ":".join("%02x" % b for b in os.urandom(32))}
        text = json.dumps(key)
    else:
        text = value
        try:
            key = json.loads(value)
        except ValueError:
            key = None
        if not isinstance(key, dict) or "data" not in key:
            raise ApiError(500, "Value does not seems like a valid, JSON formatted encryption key!")
    section["encryption-key"] = key.get("fingerprint") or 1
    return text


def on_add_hook(fs, stype, storeid, section, sensitive):
    """The plugins' ``on_add_hook`` (run under the storage.cfg lock): the write-only options
    go to /etc/pve/priv (``fs.storage_secrets``).  PBSPlugin.pm writes ``encryption-key
    <fingerprint>`` and ``master-pubkey 1`` into the section and answers the key in
    ``config``; ESXiPlugin.pm needs a password.  Returns the ``config`` answer or None."""
    answer = {}
    secrets = {k: v for k, v in sensitive.items() if v is not None}
    if stype == "esxi" and sensitive.get("password") is None:
        raise ApiError(500, "missing password")
    if stype == "pbs":
        if sensitive.get("encryption-key") is not None:
            secrets["encryption-key"] = answer["encryption-key"] = _encryption_key(section,
                                                                                   sensitive["encryption-key"])
        if sensitive.get("master-pubkey") is not None:
            if "encryption-key" not in section:
                raise ApiError(500, "'master-pubkey' can only be used together with 'encryption-key'")
            section["master-pubkey"] = 1
    if secrets:
        secrets_of(fs)[storeid] = secrets
    return answer or None


def on_update_hook(fs, stype, storeid, opts, sensitive):
    """``on_update_hook``: a sensitive option given a value is stored, one in ``delete`` (None
    here) removed.  PBSPlugin.pm updates ``encryption-key`` and ``master-pubkey`` in ``opts``
    (without the create's check that a key exists for ``master-pubkey``)."""
    answer = {}
    stored = secrets_of(fs).setdefault(storeid, {})
    for key, value in sensitive.items():
        if value is None:
            stored.pop(key, None)
            continue
        if stype == "pbs" and key == "encryption-key":
            value = answer["encryption-key"] = _encryption_key(opts, value)
        elif stype == "pbs" and key == "master-pubkey":
            opts["master-pubkey"] = 1
        stored[key] = value
    if not stored:
        secrets_of(fs).pop(storeid, None)
    return answer or None


# --- activation -----------------------------------------------------------------------------
# Types whose plugin checks its server before activating (check_connection) and PBS, whose
# activation asks the server for its datastores.
CONNECTION_CHECKED = {"nfs", "cifs", "iscsi", "esxi"}


def storage_online(sim, storeid, section):
    """Whether the servers of a network storage answer (``sim.faults.storage_unreachable``)."""
    faults = getattr(sim, "faults", None)
    if faults is None or section["type"] not in CONNECTION_CHECKED | {"pbs", "iscsidirect", "rbd", "cephfs"}:
        return True
    return not faults.storage_down(storeid, section)


def activate_storage(sim, fs, storeid, node):
    """``PVE::Storage::activate_storage`` as ``POST /storage`` calls it: only for a storage that
    is enabled on ``node``; a ``base`` storage first; then the plugin's ``check_connection``
    ("storage 'x' is not online") and its activation (PBS: "x: error fetching datastores - ...")."""
    cfg = storage_cfg(fs)
    section = cfg[storeid]
    if not is_enabled(section) or not available_on(section, node):
        return
    base = section.get("base")
    if base and ":" in str(base):
        base_id = str(base).split(":", 1)[0]
        if base_id in cfg:
            _activate(sim, cfg, base_id)
    _activate(sim, cfg, storeid)


def _activate(sim, cfg, storeid):
    section = cfg[storeid]
    if not is_enabled(section):
        raise ApiError(500, "storage '%s' is disabled" % storeid)
    if storage_online(sim, storeid, section):
        return
    if section["type"] in CONNECTION_CHECKED:
        raise ApiError(500, "storage '%s' is not online" % storeid)
    if section["type"] == "pbs":
        raise ApiError(500, "%s: error fetching datastores - 500 Can't connect to %s:%s (No route to host)"
                       % (storeid, section.get("server"), section.get("port") or 8007))


def storage_is_used(fs, storeid):
    """``PVE::Storage::storage_is_used``: another storage names it as its ``base``."""
    for section in storage_cfg(fs).values():
        base = str(section.get("base") or "")
        if base and base.split(":", 1)[0] == storeid:
            return True
    return False


def remove_storage_access(fs, storeid):
    """pve-access-control ``remove_storage_access``: the ACLs on ``/storage/<id>`` go, and the
    storage leaves every pool."""
    fs.acl[:] = [entry for entry in fs.acl if entry.get("path") != "/storage/%s" % storeid]
    for pool in fs.pools.values():
        members = pool.get("storage") if isinstance(pool, dict) else None
        if isinstance(members, (set, list)) and storeid in members:
            members.remove(storeid)
        elif isinstance(members, dict):
            members.pop(storeid, None)


# --- status ------------------------------------------------------------------------------
def guest_volumes(guest):
    """``(storeid, size_bytes)`` of the guest's disks, from its config."""
    return [(storeid, size) for _key, storeid, size in disk_items(guest)]


def volume_usage(fs):
    """Bytes of guest volumes per ``(storage id, node)``: one pass over the guests, shared by every status item."""
    usage = {}
    for guest in fs.guests.values():
        for storeid, size in guest_volumes(guest):
            usage[(storeid, guest.node)] = usage.get((storeid, guest.node), 0) + size
    return usage


def storage_status(sim, fs, host, storeid, usage=None):
    """The status item PVE's /nodes/{node}/storage gives for one storage (``usage``: :func:`volume_usage`, if at hand)."""
    section = storage_cfg(fs)[storeid]
    shared = is_shared(section)
    enabled = is_enabled(section)
    sizes = fs.storage_sizes.get(storeid, {})
    if section["type"] in PATH_TYPES and not shared and "total" not in sizes:
        total, used = host.maxdisk, host.disk
    else:
        used = int(sizes.get("used", 0))
        if usage is None:
            usage = volume_usage(fs)
        used += sum(size for (sid, node), size in usage.items() if sid == storeid and (shared or node == host.name))
        # Without a configured size, a volume group or share big enough for what it holds.
        default = max((4096 if shared else 512) * GIB, -(-used * 3 // 2 // GIB) * GIB)
        total = int(sizes.get("total", default))
    used = min(used, total)
    active = enabled and host.online and storage_online(sim, storeid, section)
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
