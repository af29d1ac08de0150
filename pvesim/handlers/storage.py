"""Storage configuration (/storage) and per-node storage status (/nodes/{node}/storage).

storage.cfg itself, its checks and the status figures are in
:mod:`pvesim.domain.storage_config`; these routes turn parameters into calls to it.
"""

import json
import os

from pvesim.domain.storage_config import (ALWAYS_SHARED, available_on, cfg_digest, config_values, content_of,
                                          is_enabled, is_shared, secrets_of, split_list, storage_cfg,
                                          storage_status, storage_types)
from pvesim.errors import ApiError, assert_if_modified
from pvesim.routing import RouteTable

routes = RouteTable()


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


# --- /storage -----------------------------------------------------------------------------
@routes("GET", "/storage")
def list_storage(req):
    fs = req.fs
    wanted = req.params.get("type")
    result = []
    for storeid in sorted(storage_cfg(fs)):
        if not req.allowed("/storage/%s" % storeid, "Datastore.Audit", "Datastore.AllocateSpace"):
            continue
        section = api_section(fs, storeid)
        if wanted and section["type"] != wanted:
            continue
        result.append(section)
    return result


@routes("GET", "/storage/{storage}")
def read_storage(req):
    return api_section(req.fs, req.params["storage"])


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
    section.update(config_values(stype, params))
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
    updated.update(config_values(stype, params))
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
        if not req.allowed("/storage/%s" % storeid, "Datastore.Audit", "Datastore.AllocateSpace"):
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
