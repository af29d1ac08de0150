"""Storage configuration (/storage) and per-node storage status (/nodes/{node}/storage).

storage.cfg lives in ``ClusterFS.storage`` as ``storeid -> section`` (``type`` plus the
options as PVE writes them: lists as comma-joined strings, booleans as 0/1).  Write-only
secrets (passwords, keyrings, keys) go to ``fs.extra["storage_secrets"]``, the way PVE
keeps them under /etc/pve/priv, so no answer can leak them.  Per-type rules come from
the table PVE's plugins define (``storage-type-options.json``).
"""

import json
import os
import re

from pvesim.errors import ApiError, assert_if_modified
from pvesim.routing import RouteTable

routes = RouteTable()

GIB = 1024 ** 3

# Types whose storage PVE always treats as shared (PVE::Storage's shared-storage list).
ALWAYS_SHARED = {"iscsi", "iscsidirect", "nfs", "cifs", "rbd", "cephfs", "zfs", "pbs", "glusterfs"}

# Types that keep their data below the host's root file system.
PATH_TYPES = {"dir", "btrfs"}

_DATA_FILE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "storage-types.json")
_SHARED_FILE = "/work/shared/pve-api/storage-type-options.json"
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
        for path in (_DATA_FILE, _SHARED_FILE):
            try:
                with open(path, encoding="utf-8") as handle:
                    data = json.load(handle)
            except (OSError, ValueError):
                continue
            types = data.get("types", data)
            if isinstance(types, dict) and "dir" in types and "options" in types["dir"]:
                _TYPES = types
                break
        else:
            raise RuntimeError("no storage type table (pvesim/data/storage-types.json)")
    return _TYPES


# --- the config --------------------------------------------------------------------
def storage_cfg(fs):
    """storage.cfg of ``fs``; a fresh file system starts with PVE's default storages."""
    if not fs.extra.get("storage_initialized"):
        fs.extra["storage_initialized"] = True
        if not fs.storage:
            for section in DEFAULT_STORAGE:
                section = dict(section)
                fs.storage[section.pop("storage")] = section
    return fs.storage


def secrets_of(fs):
    return fs.extra.setdefault("storage_secrets", {})


def cfg_digest(fs):
    """One digest for the whole storage.cfg, as PVE gives it for every section."""
    return fs.digest(storage_cfg(fs))


def split_list(value):
    return [part for part in re.split(r"[,;\s]+", str(value or "")) if part]


def content_of(section):
    """The section's content types, the type's default when none is configured."""
    if "content" in section:
        return split_list(section["content"])
    rules = storage_types().get(section["type"], {})
    return list(rules.get("content", {}).get("default", []))


def is_shared(section):
    return section["type"] in ALWAYS_SHARED or bool(int(section.get("shared", 0) or 0))


def is_enabled(section):
    return not int(section.get("disable", 0) or 0)


def available_on(section, node):
    """Whether a storage exists on ``node`` (its ``nodes`` list, when set, names it)."""
    nodes = split_list(section.get("nodes"))
    return not nodes or node in nodes


def api_section(fs, storeid):
    """A section as GET /storage returns it: no secrets, content filled in, digest."""
    section = storage_cfg(fs).get(storeid)
    if section is None:
        raise ApiError.not_found("storage '%s' does not exist" % storeid)
    answer = dict(section)
    answer["storage"] = storeid
    answer["content"] = ",".join(content_of(section))
    answer["digest"] = cfg_digest(fs)
    if is_shared(section) and section["type"] in ALWAYS_SHARED:
        answer["shared"] = 1
    return answer


def _allowed(req, path, *privs):
    if req.sim.access is None or req.identity is None:
        return True
    return any(req.has_priv(path, priv) for priv in privs)


# --- checks PVE's SectionConfig makes -------------------------------------------------
def _check_content(stype, value):
    allowed = storage_types()[stype].get("content", {}).get("allowed", [])
    items = split_list(value)
    for item in items:
        if item not in allowed:
            raise ApiError.param({"content": "unsupported content type '%s'" % item})
    if "none" in items and len(items) > 1:
        raise ApiError.param({"content": "unable to combine 'none' with other content types"})
    return ",".join(items)


def _check_nodes(value):
    nodes = split_list(value)
    for node in nodes:
        if not _NODE_RE.match(node):
            raise ApiError.param({"nodes": "invalid format - value '%s' does not look like a valid node name" % node})
    return ",".join(nodes)


def _normalise(stype, options):
    """Turn typed API values into storage.cfg values (lists joined, booleans 0/1)."""
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


# --- /storage -----------------------------------------------------------------------------
@routes("GET", "/storage")
def list_storage(req):
    fs = req.fs
    wanted = req.params.get("type")
    result = []
    for storeid in sorted(storage_cfg(fs)):
        if not _allowed(req, "/storage/%s" % storeid, "Datastore.Audit", "Datastore.AllocateSpace"):
            continue
        section = api_section(fs, storeid)
        if wanted and section["type"] != wanted:
            continue
        result.append(section)
    return result


@routes("GET", "/storage/{storage}")
def read_storage(req):
    return api_section(req.fs, req.params["storage"])


_META = {"storage", "type", "digest", "delete"}


@routes("POST", "/storage")
def create_storage(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    params = dict(req.params)
    storeid, stype = params.pop("storage"), params.pop("type")
    rules = storage_types().get(stype)
    if rules is None:
        raise ApiError.param({"type": "value '%s' does not have a value in the enumeration" % stype})
    options = rules["options"]
    sensitive = {k: params.pop(k) for k in list(params) if k in rules.get("sensitive", [])}
    for key in params:
        if key not in options:
            raise ApiError(500, "unexpected property '%s'" % key)
    if stype in ("nfs", "cifs", "cephfs") and "path" not in params:
        params["path"] = "/mnt/pve/%s" % storeid  # PVE's default mount point
    for key, rule in sorted(options.items()):
        if rule.startswith("required") and key not in params and key not in sensitive:
            raise ApiError(500, "missing value for required option '%s'" % key)
    section = {"type": stype}
    section.update(_normalise(stype, params))
    cfg = storage_cfg(fs)
    if storeid in cfg:
        raise ApiError(500, "storage ID '%s' already defined" % storeid)
    cfg[storeid] = section
    answer = {"storage": storeid, "type": stype}
    if sensitive:
        if sensitive.get("encryption-key") == "autogen":
            key = {"kdf": None, "created": 0, "modified": 0, "data": os.urandom(32).hex(),
                   "fingerprint": ":".join("%02x" % b for b in os.urandom(32))}
            sensitive["encryption-key"] = json.dumps(key)
            answer["config"] = {"encryption-key": sensitive["encryption-key"]}
        secrets_of(fs)[storeid] = sensitive
    return answer


@routes("PUT", "/storage/{storage}")
def update_storage(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    params = dict(req.params)
    storeid = params.pop("storage")
    digest = params.pop("digest", None)
    delete = split_list(params.pop("delete", None))
    cfg = storage_cfg(fs)
    section = cfg.get(storeid)
    if section is None:
        raise ApiError.not_found("storage '%s' does not exist" % storeid)
    assert_if_modified(digest, cfg_digest(fs))
    stype = section["type"]
    rules = storage_types()[stype]
    options = rules["options"]
    sensitive = {k: params.pop(k) for k in list(params) if k in rules.get("sensitive", [])}
    for key in params:
        if key not in options:
            raise ApiError(500, "unexpected property '%s'" % key)
        if options[key].endswith("fixed"):
            raise ApiError(500, "can't change value of fixed parameter '%s'" % key)
    for key in delete:
        rule = options.get(key)
        if rule is None:
            raise ApiError(500, "no such option '%s'" % key)
        if rule.startswith("required"):
            raise ApiError(500, "unable to delete required option '%s'" % key)
        if rule.endswith("fixed"):
            raise ApiError(500, "unable to delete fixed option '%s'" % key)
        if key in params or key in sensitive:
            raise ApiError(500, "cannot set and delete property '%s' at the same time!" % key)
    updated = dict(section)
    updated.update(_normalise(stype, params))
    stored_secrets = secrets_of(fs).setdefault(storeid, {})
    for key in delete:
        updated.pop(key, None)
        stored_secrets.pop(key, None)
    stored_secrets.update(sensitive)
    cfg[storeid] = updated
    return {"storage": storeid, "type": stype}


@routes("DELETE", "/storage/{storage}")
def delete_storage(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    storeid = req.params["storage"]
    cfg = storage_cfg(fs)
    if storeid not in cfg:
        raise ApiError.not_found("storage '%s' does not exist" % storeid)
    del cfg[storeid]
    secrets_of(fs).pop(storeid, None)
    return None


# --- status ------------------------------------------------------------------------------
def guest_volumes(guest):
    """``(storeid, size_bytes)`` of the guest's disks, from its config."""
    from pvesim.handlers.guests import disk_items

    return [(storeid, size) for _key, storeid, size in disk_items(guest)]


def storage_status(sim, fs, host, storeid):
    """The status item PVE's /nodes/{node}/storage gives for one storage."""
    section = storage_cfg(fs)[storeid]
    shared = is_shared(section)
    enabled = is_enabled(section)
    sizes = fs.extra.get("storage_sizes", {}).get(storeid, {})
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


@routes("GET", "/nodes/{node}/storage")
def node_storage(req):
    fs = req.fs
    host = req.sim.node_of(req.host, req.params["node"])
    target = req.params.get("target")
    if target:
        req.sim.node_of(req.host, target)
    wanted_content = set(split_list(req.params.get("content")))
    result = []
    for storeid, section in sorted(storage_cfg(fs).items()):
        if req.params.get("storage") and storeid != req.params["storage"]:
            continue
        if not available_on(section, host.name) or (target and not available_on(section, target)):
            continue
        if req.params.get("enabled") and not is_enabled(section):
            continue
        if wanted_content and not wanted_content & set(content_of(section)):
            continue
        if not _allowed(req, "/storage/%s" % storeid, "Datastore.Audit", "Datastore.AllocateSpace"):
            continue
        item = storage_status(req.sim, fs, host, storeid)
        if req.params.get("format"):
            fmt = storage_types()[section["type"]].get("format")
            if fmt:
                item["formats"] = {"default": fmt["default"], "supported": fmt["allowed"]}
                item["format"] = [{f: 1 for f in fmt["allowed"]}, fmt["default"]]
            item["select_existing"] = int(section["type"] in ("iscsi", "iscsidirect"))
        result.append(item)
    return result


@routes("GET", "/nodes/{node}/storage/{storage}/status")
def node_storage_status(req):
    fs = req.fs
    host = req.sim.node_of(req.host, req.params["node"])
    storeid = req.params["storage"]
    section = storage_cfg(fs).get(storeid)
    if section is None:
        raise ApiError.not_found("storage '%s' does not exist" % storeid)
    if not available_on(section, host.name):
        raise ApiError.not_found("storage '%s' is not available on node '%s'" % (storeid, host.name))
    item = storage_status(req.sim, fs, host, storeid)
    item.pop("storage")
    return item


@routes("GET", "/nodes/{node}/storage/{storage}")
def node_storage_index(req):
    host = req.sim.node_of(req.host, req.params["node"])
    section = storage_cfg(req.fs).get(req.params["storage"])
    if section is None or not available_on(section, host.name):
        raise ApiError.not_found("storage '%s' does not exist" % req.params["storage"])
    return [{"subdir": name} for name in ("content", "download-url", "file-restore", "import-metadata",
                                          "prunebackups", "rrd", "rrddata", "status", "upload")]


# --- scenario ---------------------------------------------------------------------------------
def load_storage(sim, sections):
    """Scenario ``storage``: a list of storage.cfg sections (``storage``, ``type``, options).

    pvesim reads two figures of its own in a section, ``total`` and ``used`` (bytes),
    for the status it reports.
    """
    for fs in sim.filesystems():
        fs.extra["storage_initialized"] = True
        fs.storage.clear()
        for raw in sections:
            section = dict(raw)
            storeid = section.pop("storage")
            sizes = {k: section.pop(k) for k in ("total", "used") if k in section}
            if sizes:
                fs.extra.setdefault("storage_sizes", {})[storeid] = sizes
            secret = {k: section.pop(k) for k in list(section)
                      if k in storage_types().get(section["type"], {}).get("sensitive", [])}
            if secret:
                secrets_of(fs)[storeid] = secret
            for key, value in list(section.items()):
                if isinstance(value, bool):
                    section[key] = int(value)
                elif isinstance(value, list):
                    section[key] = ",".join(value)
            fs.storage[storeid] = section
