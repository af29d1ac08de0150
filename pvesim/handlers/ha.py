"""HA routes: /cluster/ha resources, rules (PVE 9), groups (PVE 8) and status.

The HA configuration is :mod:`pvesim.domain.ha_config`; what the CRM does with it
(requested states, migration, failover) is :mod:`pvesim.domain.ha_manager`.  In 9.1 mode
the groups API answers PVE 9's "ha groups have been migrated to rules"; the HA rules API
does not exist in PVE 8.4 (501).
"""

import time

from pvesim.domain.ha_config import (GROUP_OPTIONS, GROUPS_MIGRATED, RESOURCE_OPTIONS, RULE_OPTIONS, encode_nodes,
                                     encode_resources, group_nodes, group_value, groups_api, guest_of, managed,
                                     parse_sid, resource_value, rule_errors, split_list)
from pvesim.domain.ha_manager import ha_migrate, hastate, request_state
from pvesim.errors import ApiError, assert_if_modified
from pvesim.routing import RouteTable

routes = RouteTable()


# --- /cluster/ha -----------------------------------------------------------------------------
@routes("GET", "/cluster/ha")
def ha_index(req):
    if groups_api(req.sim):
        return [{"id": "status"}, {"id": "resources"}, {"id": "groups"}]
    return [{"id": "status"}, {"id": "resources"}, {"id": "groups"}, {"id": "rules"}]


def _resource_answer(fs, sid):
    resource = fs.ha_resources.get(sid)
    if resource is None:
        raise ApiError(500, "no such resource '%s'" % sid)
    answer = dict(resource)
    answer["sid"] = sid
    answer["digest"] = fs.digest(fs.ha_resources)
    return answer


def _check_group_param(req):
    group = req.params.get("group")
    if not group:
        return
    if not groups_api(req.sim):
        raise ApiError(500, "invalid parameter 'group': %s" % GROUPS_MIGRATED)
    if group not in req.fs.ha_groups:
        raise ApiError(500, "HA group '%s' does not exist" % group)


@routes("GET", "/cluster/ha/resources")
def list_resources(req):
    wanted = req.params.get("type")
    return [_resource_answer(req.fs, sid) for sid in sorted(req.fs.ha_resources)
            if not wanted or req.fs.ha_resources[sid]["type"] == wanted]


@routes("GET", "/cluster/ha/resources/{sid}")
def read_resource(req):
    sid = parse_sid(req.fs, req.params["sid"])[0]
    return _resource_answer(req.fs, sid)


def _given_options(params, options, typed):
    """The options of ``options`` a request sets, each as ``typed(key, value)`` stores it."""
    return {key: typed(key, params[key]) for key in options if key in params}


@routes("POST", "/cluster/ha/resources")
def create_resource(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    sid, kind, vmid = parse_sid(fs, req.params["sid"])
    if req.params.get("type") and req.params["type"] != kind:
        raise ApiError(500, "types does not match")
    if guest_of(fs, sid) is None:
        raise ApiError(500, "resource '%s' does not exist in cluster" % sid)
    if sid in fs.ha_resources:
        raise ApiError(500, "resource ID '%s' already defined" % sid)
    _check_group_param(req)
    config = {"type": kind}
    config.update(_given_options(req.params, RESOURCE_OPTIONS, resource_value))
    fs.ha_resources[sid] = config
    request_state(req.sim, fs, sid, config.get("state", "started"))
    return None


@routes("PUT", "/cluster/ha/resources/{sid}")
def update_resource(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    sid = parse_sid(fs, req.params["sid"])[0]
    assert_if_modified(req.params.get("digest"), fs.digest(fs.ha_resources))
    resource = fs.ha_resources.get(sid)
    if resource is None:
        raise ApiError(500, "no such resource '%s'" % sid)
    if resource.get("state") == "error" and req.params.get("state") != "disabled":
        raise ApiError(500, "service '%s' in error state, must be disabled and fixed first" % sid)
    _check_group_param(req)
    resource.update(_given_options(req.params, RESOURCE_OPTIONS, resource_value))
    for key in split_list(req.params.get("delete")):
        if key not in RESOURCE_OPTIONS:
            raise ApiError(500, "no such option '%s'" % key)
        resource.pop(key, None)
    if "state" in req.params:
        request_state(req.sim, fs, sid, req.params["state"])
    return None


@routes("DELETE", "/cluster/ha/resources/{sid}")
def delete_resource(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    sid = parse_sid(fs, req.params["sid"])[0]
    managed(fs, sid)
    del fs.ha_resources[sid]
    if req.params.get("purge", 1):
        for name, rule in list(fs.ha_rules.items()):
            remaining = [r for r in split_list(rule.get("resources")) if r != sid]
            if len(remaining) == len(split_list(rule.get("resources"))):
                continue
            if remaining:
                rule["resources"] = ",".join(remaining)
            else:
                del fs.ha_rules[name]
    return None


@routes("POST", "/cluster/ha/resources/{sid}/migrate")
def migrate_resource(req):
    return ha_migrate(req.sim, req.fs, req.params["sid"], req.params["node"], relocate=False)


@routes("POST", "/cluster/ha/resources/{sid}/relocate")
def relocate_resource(req):
    return ha_migrate(req.sim, req.fs, req.params["sid"], req.params["node"], relocate=True)


# --- rules (pve-ha-manager API2/HA/Rules.pm) ------------------------------------------------------
def _rule_answer(fs, name, errors=None):
    """``$get_api_ha_rule``: the rule with ``rule``, ``digest``, ``order``, its sets encoded
    sorted (they are stored so) and ``errors`` when the rule is infeasible."""
    rule = fs.ha_rules.get(name)
    if rule is None:
        raise ApiError(500, "no such ha rule '%s'" % name)
    answer = dict(rule)
    answer["rule"] = name
    answer["digest"] = fs.digest(fs.ha_rules)
    if errors:
        answer["errors"] = errors
    return answer


def _rule_value(key, value):
    if isinstance(value, bool) or key in ("strict", "disable"):
        return int(value)
    if key == "resources":
        return encode_resources(value)
    if key == "nodes":
        return encode_nodes(value)
    return value


def _check_rule(rule):
    if rule["type"] == "node-affinity" and not rule.get("nodes"):
        raise ApiError.param({"nodes": "property is missing and it is not optional"})
    if rule["type"] == "resource-affinity" and not rule.get("affinity"):
        raise ApiError.param({"affinity": "property is missing and it is not optional"})
    for key in ("nodes", "strict") if rule["type"] == "resource-affinity" else ("affinity",):
        if key in rule:
            raise ApiError(500, "unexpected property '%s'" % key)


def _assert_valid_resources(fs, resources, prefix):
    """``$assert_valid_resources_param``: every resource must be HA-managed."""
    sids = split_list(resources)
    if not sids:
        raise ApiError(500, prefix + "no resources were specified")
    unmanaged = sorted(sid for sid in set(sids) if sid not in fs.ha_resources)
    if unmanaged:
        raise ApiError(500, prefix + "cannot use unmanaged resource(s) %s." % ", ".join(unmanaged))


def _assert_valid_nodes(req, nodes, prefix):
    """``$assert_valid_nodes_param``: every node must be a cluster node (the local one always is)."""
    names = sorted(group_nodes(nodes))
    if not names:
        raise ApiError(500, prefix + "no nodes were specified")
    missing = [n for n in names if n != req.host.name and n not in req.fs.corosync_nodes]
    if missing:
        raise ApiError(500, prefix + "cannot use non-existent node(s) %s." % ", ".join(missing))


def _assert_feasible(fs, name, prefix):
    """``$assert_feasibility``: a 400 "Rule 'x' is invalid." with the rule's errors, which
    ``lock_ha_domain`` re-dies as text (PVE::Exception stringified: code, message, then
    ``opt: errors``), so the client gets a 500 without an ``errors`` member."""
    errors = rule_errors(fs).get(name)
    if not errors:
        return
    details = " ".join("%s: %s" % (opt, ", ".join(msgs)) for opt, msgs in sorted(errors.items()))
    raise ApiError(500, "%s400 Rule '%s' is invalid. %s" % (prefix, name, details))


@routes("GET", "/cluster/ha/rules")
def list_rules(req):
    fs = req.fs
    wanted_type, resource = req.params.get("type"), req.params.get("resource")
    errors = rule_errors(fs)
    result = []
    for name in sorted(fs.ha_rules, key=lambda n: (fs.ha_rules[n].get("order", 0), n)):
        rule = fs.ha_rules[name]
        if wanted_type and rule["type"] != wanted_type:
            continue
        if resource and resource not in split_list(rule.get("resources")):
            continue
        result.append(_rule_answer(fs, name, errors.get(name)))
    return result


@routes("GET", "/cluster/ha/rules/{rule}")
def read_rule(req):
    return _rule_answer(req.fs, req.params["rule"], rule_errors(req.fs).get(req.params["rule"]))


@routes("POST", "/cluster/ha/rules")
def create_rule(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    name = req.params["rule"]
    rule = {"type": req.params["type"]}
    rule.update(_given_options(req.params, RULE_OPTIONS, _rule_value))
    if not rule.get("disable"):
        rule.pop("disable", None)  # PVE drops disable=0
    _check_rule(rule)
    prefix = "create ha rule failed: "
    if name in fs.ha_rules:
        raise ApiError(500, prefix + "HA rule '%s' already defined" % name)
    _assert_valid_resources(fs, rule.get("resources"), prefix)
    if rule.get("nodes"):
        _assert_valid_nodes(req, rule["nodes"], prefix)
    rule["order"] = max([r.get("order", 0) for r in fs.ha_rules.values()] + [0]) + 1
    fs.ha_rules[name] = rule
    try:
        _assert_feasible(fs, name, prefix)
    except ApiError:
        del fs.ha_rules[name]  # the config is written only after the check
        raise
    return None


@routes("PUT", "/cluster/ha/rules/{rule}")
def update_rule(req):
    fs = req.fs
    req.sim.require_quorum(fs)  # /etc/pve is read-only without quorum
    name = req.params["rule"]
    prefix = "update HA rules failed: "
    assert_if_modified(req.params.get("digest"), fs.digest(fs.ha_rules), prefix=prefix)
    rule = fs.ha_rules.get(name)
    if rule is None:
        raise ApiError(500, prefix + "HA rule '%s' does not exist" % name)
    if req.params.get("type") and req.params["type"] != rule["type"]:
        raise ApiError(500, "rule type cannot be changed")
    given = _given_options(req.params, RULE_OPTIONS, _rule_value)
    if not given.get("disable"):
        given.pop("disable", None)
    if given.get("resources"):
        _assert_valid_resources(fs, given["resources"], prefix)
    if given.get("nodes"):
        _assert_valid_nodes(req, given["nodes"], prefix)
    updated = dict(rule)
    for key in split_list(req.params.get("delete")):
        if key in ("resources", "type") or (key == "nodes" and rule["type"] == "node-affinity"):
            raise ApiError(500, prefix + "unable to delete required option '%s'" % key)
        updated.pop(key, None)
    updated.update(given)
    _check_rule(updated)
    fs.ha_rules[name] = updated
    try:
        _assert_feasible(fs, name, prefix)
    except ApiError:
        fs.ha_rules[name] = rule
        raise
    return None


@routes("DELETE", "/cluster/ha/rules/{rule}")
def delete_rule(req):
    # API2/HA/Rules.pm delete_rule: deleting a rule that is not there succeeds
    req.sim.require_quorum(req.fs)  # /etc/pve is read-only without quorum
    req.fs.ha_rules.pop(req.params["rule"], None)
    return None


# --- groups (PVE 8) ----------------------------------------------------------------------------
def _groups(req, verb):
    """The groups config, or PVE 9's refusal: its groups have been migrated to rules."""
    if not groups_api(req.sim):
        raise ApiError(500, "cannot %s: %s" % (verb, GROUPS_MIGRATED))
    return req.fs.ha_groups


def _group_answer(fs, name):
    group = fs.ha_groups.get(name)
    if group is None:
        raise ApiError(500, "no such ha group '%s'" % name)
    answer = {"group": name, "type": "group"}
    answer.update(group)
    answer["digest"] = fs.digest(fs.ha_groups)
    return answer


@routes("GET", "/cluster/ha/groups")
def list_groups(req):
    groups = _groups(req, "index groups")
    return [_group_answer(req.fs, name) for name in sorted(groups)]


@routes("GET", "/cluster/ha/groups/{group}")
def read_group(req):
    _groups(req, "read group")
    return _group_answer(req.fs, req.params["group"])


@routes("POST", "/cluster/ha/groups")
def create_group(req):
    req.sim.require_quorum(req.fs)
    groups = _groups(req, "create group")
    name = req.params["group"]
    if req.params.get("type", "group") != "group":
        raise ApiError(500, "types does not match")
    if name in groups:
        raise ApiError(500, "create ha group failed: ha group ID '%s' already defined" % name)
    groups[name] = _given_options(req.params, GROUP_OPTIONS, group_value)
    return None


@routes("PUT", "/cluster/ha/groups/{group}")
def update_group(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    groups = _groups(req, "update group")
    name = req.params["group"]
    assert_if_modified(req.params.get("digest"), fs.digest(groups), prefix="update ha group failed: ")
    group = groups.get(name)
    if group is None:
        raise ApiError(500, "update ha group failed: no such ha group '%s'" % name)
    updated = dict(group)
    updated.update(_given_options(req.params, GROUP_OPTIONS, group_value))
    for key in split_list(req.params.get("delete")):
        if key not in GROUP_OPTIONS:
            raise ApiError(500, "update ha group failed: no such option '%s'" % key)
        if key == "nodes":
            raise ApiError(500, "update ha group failed: unable to delete required option '%s'" % key)
        updated.pop(key, None)
    groups[name] = updated
    return None


@routes("DELETE", "/cluster/ha/groups/{group}")
def delete_group(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    groups = _groups(req, "delete group")
    name = req.params["group"]
    for sid in sorted(fs.ha_resources):
        if fs.ha_resources[sid].get("group") == name:
            raise ApiError(500, "delete ha group failed: ha group is used by service '%s'" % sid)
    groups.pop(name, None)  # PVE deletes a group that is not there without complaint
    return None


# --- status ------------------------------------------------------------------------------------
@routes("GET", "/cluster/ha/status")
def status_index(req):
    return [{"name": "current"}, {"name": "manager_status"}]


@routes("GET", "/cluster/ha/status/current")
def status_current(req):
    fs, sim = req.fs, req.sim
    members = sorted(sim.members(fs), key=lambda h: h.name)
    online = [h for h in members if h.online]
    master = online[0].name if online else (members[0].name if members else "")
    now = int(time.time())
    quorate = sim.quorate(fs)
    result = [{"id": "quorum", "type": "quorum", "node": master, "status": "OK" if quorate else "No quorum on node",
               "quorate": int(quorate)}]
    if fs.ha_resources:
        result.append({"id": "master", "type": "master", "node": master, "timestamp": now,
                       "status": "%s (active, %s)" % (master, time.ctime(now))})
    for host in members:
        busy = any(g.node == host.name for g in (guest_of(fs, sid) for sid in fs.ha_resources) if g)
        mode = "active" if busy else "idle"
        status = "%s (%s, %s)" % (host.name, mode, time.ctime(now)) if host.online else "%s (old timestamp - dead?, %s)" % (host.name, time.ctime(now))
        result.append({"id": "lrm:%s" % host.name, "type": "lrm", "node": host.name, "timestamp": now,
                       "status": status, "state": mode if host.online else "unknown"})
    for sid in sorted(fs.ha_resources):
        resource = fs.ha_resources[sid]
        guest = guest_of(fs, sid)
        node = guest.node if guest else ""
        crm_state = hastate(fs, guest) if guest else "error"
        result.append({
            "id": "service:%s" % sid, "type": "service", "sid": sid, "node": node, "state": crm_state,
            "crm_state": crm_state, "request_state": resource.get("state", "started"),
            "status": "%s (%s, %s)" % (sid, node, crm_state),
            "max_restart": resource.get("max_restart", 1), "max_relocate": resource.get("max_relocate", 1),
        })
        if not groups_api(sim):
            result[-1]["failback"] = resource.get("failback", 1)
    return result
