"""Storage configuration (/storage) and per-node storage status (/nodes/{node}/storage).

storage.cfg itself, its checks and the status figures are in
:mod:`pvesim.domain.storage_config`; these routes turn parameters into calls to it.
"""


from pvesim.domain.storage_config import (ALWAYS_SHARED, activate_storage, available_on, cfg_digest, check_config,
                                          content_of, is_enabled, is_shared, on_add_hook, on_update_hook,
                                          remove_storage_access, secrets_of, split_list, storage_cfg,
                                          storage_is_used, storage_status, storage_types)
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


def _locked(prefix, func):
    """``PVE::Storage::lock_storage_config($code, $errmsg)``: an error under the storage.cfg
    lock is re-raised as the text ``"<errmsg>: <error>"``, a 500 whatever it was."""
    try:
        return func()
    except ApiError as err:
        text = err.message
        if err.errors:
            text += "".join("\n%s: %s" % item for item in sorted(err.errors.items()))
        raise ApiError(500, "%s: %s" % (prefix, text)) from None


def _sensitive(stype, params, delete=()):
    """pve-common ``extract_sensitive_params``: each write-only option in ``delete`` is None,
    one given a value takes it (so setting and deleting one in a call is allowed)."""
    found = {}
    for key in storage_types()[stype].get("sensitive", []):
        if key in delete:
            found[key] = None
        if params.get(key) is not None:
            found[key] = params.pop(key)
        params.pop(key, None)
    return found


@routes("POST", "/storage")
def create_storage(req):
    """pve-storage ``API2/Storage/Config.pm`` ``create``: the section is checked first
    (``check_config``), then, under the config lock, the id, the plugin's ``on_add_hook`` and
    the activation of a storage enabled on this node; those errors are "create storage failed: ..."."""
    fs = req.fs
    req.sim.require_quorum(fs)
    params = dict(req.params)
    storeid, stype = params.pop("storage"), params.pop("type")
    if storage_types().get(stype) is None:
        raise ApiError.param({"type": "value '%s' does not have a value in the enumeration" % stype})
    if not params.get("nodes"):
        params.pop("nodes", None)  # "prevent an empty nodelist"
    sensitive = _sensitive(stype, params)
    if stype in ("nfs", "cifs", "cephfs") and "path" not in params:
        params["path"] = "/mnt/pve/%s" % storeid  # NFSPlugin/CIFSPlugin check_config: PVE's mount point
    values, _warnings = check_config(stype, storeid, params, create=True)

    def add():
        cfg = storage_cfg(fs)
        if storeid in cfg:
            raise ApiError(500, "storage ID '%s' already defined" % storeid)
        section = {"type": stype}
        section.update(values)
        returned = on_add_hook(fs, stype, storeid, section, sensitive)
        cfg[storeid] = section
        try:
            activate_storage(req.sim, fs, storeid, req.host.name)
        except ApiError:
            del cfg[storeid]  # not written; on_delete_hook drops the secrets
            secrets_of(fs).pop(storeid, None)
            raise
        return returned

    returned = _locked("create storage failed", add)
    answer = {"storage": storeid, "type": stype}
    if returned:
        answer["config"] = returned
    return answer


@routes("PUT", "/storage/{storage}")
def update_storage(req):
    """``API2/Storage/Config.pm`` ``update``: everything runs under the config lock, so every
    error is "update storage failed: ..." (digest, missing storage, ``check_config``, the
    ``delete`` checks, ``on_update_hook``)."""
    fs = req.fs
    req.sim.require_quorum(fs)
    params = dict(req.params)
    storeid = params.pop("storage")
    digest = params.pop("digest", None)
    delete = split_list(params.pop("delete", None))

    def update():
        cfg = storage_cfg(fs)
        assert_if_modified(digest, cfg_digest(fs))
        section = cfg.get(storeid)
        if section is None:
            raise ApiError(500, "storage '%s' does not exist" % storeid)
        stype = section["type"]
        sensitive = _sensitive(stype, params, delete)
        opts, _warnings = check_config(stype, storeid, params, create=False)
        options = storage_types()[stype]["options"]
        for key in delete:
            rule = options.get(key)
            if rule is None:
                raise ApiError(500, "no such option '%s'" % key)
            if rule.startswith("required"):
                raise ApiError(500, "unable to delete required option '%s'" % key)
            if rule.endswith("fixed"):
                raise ApiError(500, "unable to delete fixed option '%s'" % key)
            if key in opts:
                raise ApiError(500, "cannot set and delete property '%s' at the same time!" % key)
        returned = on_update_hook(fs, stype, storeid, opts, sensitive)
        updated = dict(section)
        for key in delete:
            updated.pop(key, None)
        updated.update(opts)
        cfg[storeid] = updated
        return stype, returned

    stype, returned = _locked("update storage failed", update)
    answer = {"storage": storeid, "type": stype}
    if returned:
        answer["config"] = returned
    return answer


@routes("DELETE", "/storage/{storage}")
def delete_storage(req):
    """``API2/Storage/Config.pm`` ``delete``: under the lock ("delete storage failed: ..."),
    a storage another one uses as ``base`` stays; afterwards its ACLs and pool memberships go
    (``remove_storage_access``).  ``local`` comes back as PVE's built-in one (``parse_config``)."""
    fs = req.fs
    req.sim.require_quorum(fs)
    storeid = req.params["storage"]

    def remove():
        cfg = storage_cfg(fs)
        if storeid not in cfg:
            raise ApiError(500, "storage '%s' does not exist" % storeid)
        if storage_is_used(fs, storeid):
            raise ApiError(500, "can't remove storage - storage is used as base of another storage")
        del cfg[storeid]
        secrets_of(fs).pop(storeid, None)

    _locked("delete storage failed", remove)
    remove_storage_access(fs, storeid)
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
