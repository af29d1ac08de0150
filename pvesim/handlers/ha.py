"""HA resources, rules (PVE 9) and status, with a tiny CRM.

``fs.ha_resources``: sid (``vm:100``/``ct:101``) -> config (``type``, ``state``, ``comment``,
``max_restart``, ``max_relocate``, ``failback``).  ``fs.ha_rules``: rule id -> config
(``type`` node-affinity/resource-affinity, ``resources``, ``nodes``, ``strict``,
``affinity``, ``disable``, ``comment``, ``order``).  The CRM acts at once: a requested
state starts or stops the guest, a migrate request starts the migration task on the
guest's node, the way the LRM would.

HA groups are the PVE 8 API (``fs.ha_groups``: group -> ``nodes`` "node[:prio],...",
``restricted``, ``nofailback``, ``comment``), served when the scenario says
``"pve_version": "8.4"``; an HA resource's ``group`` then decides where it may fail over to.
PVE 9 migrated groups to node-affinity rules: in 9.1 mode the groups API answers PVE 9's
"ha groups have been migrated to rules", and a scenario's ``ha_groups`` are migrated the
way PVE 9's CRM does it.  The HA rules API does not exist in PVE 8.4 (501).

Failover: a node that is down (shut down, or unreachable) for ``FENCE_SECONDS`` of
simulated time is fenced, and the CRM recovers its services onto the online members its
node-affinity rule (9.1) or group (8.4) allows, highest priority first; a strict rule or a
restricted group with none of its nodes online leaves the service where it is.  A node
rebooted through the API freezes its services instead (PVE's default shutdown policy,
"conditional"); they start again when it is back.  Failback to a recovered
higher-priority node is not modelled.
"""

import re
import time

from pvesim.errors import ApiError, assert_if_modified
from pvesim.routing import RouteTable

routes = RouteTable()

SID_RE = re.compile(r"^(?:(vm|ct):)?(\d+)$")
RESOURCE_OPTIONS = ("comment", "failback", "group", "max_relocate", "max_restart", "state")
RULE_OPTIONS = ("affinity", "comment", "disable", "nodes", "resources", "strict")
GROUP_OPTIONS = ("comment", "nodes", "nofailback", "restricted")
GROUPS_MIGRATED = "ha groups have been migrated to rules"
FENCE_SECONDS = 120  # simulated: from a node's loss until the CRM has fenced it and recovers


def groups_api(sim):
    """True when HA groups are the PVE 8 API (pve_version 8.4), False in PVE 9."""
    return sim.pve_version == "8.4"


def _split(value):
    return [p for p in re.split(r"[,;\s]+", str(value or "")) if p]


def _guests(sim, fs):
    return fs.guests


def parse_sid(fs, sid):
    """``(sid, type, vmid)``; a bare VMID takes the type of the guest that has it."""
    m = SID_RE.match(str(sid))
    if not m:
        raise ApiError.param({"sid": "value does not look like a valid ha resource id"})
    kind, vmid = m.group(1), int(m.group(2))
    if kind is None:
        guest = fs.guests.get(vmid)
        if guest is None:
            raise ApiError(500, "unable to find VM/CT %d" % vmid)
        kind = "vm" if guest.type == "qemu" else "ct"
    return "%s:%d" % (kind, vmid), kind, vmid


def guest_of(fs, sid):
    _sid, kind, vmid = parse_sid(fs, sid)
    guest = fs.guests.get(vmid)
    wanted = "qemu" if kind == "vm" else "lxc"
    if guest is None or guest.type != wanted:
        return None
    return guest


def managed(fs, sid):
    if sid not in fs.ha_resources:
        raise ApiError(500, "resource '%s' is not HA managed" % sid)
    return fs.ha_resources[sid]


def hastate(fs, guest):
    """The CRM state /cluster/resources shows as ``hastate``, or None when not HA-managed."""
    from pvesim.handlers.guests import sid_of

    resource = fs.ha_resources.get(sid_of(guest))
    if resource is None:
        return None
    if guest.lock == "migrate":
        return "migrate"
    state = resource.get("state", "started")
    return {"enabled": "started", "disabled": "stopped"}.get(state, state)


def enabled_rules(fs, sid, rule_type):
    for name, rule in sorted(fs.ha_rules.items(), key=lambda item: (item[1].get("order", 0), item[0])):
        if rule.get("type") != rule_type or int(rule.get("disable", 0) or 0):
            continue
        if sid in _split(rule.get("resources")):
            yield name, rule


def allowed_by_node_affinity(fs, sid, node):
    """None when ``node`` is fine; else the name of the strict rule that keeps ``sid`` off it."""
    for name, rule in enabled_rules(fs, sid, "node-affinity"):
        if not int(rule.get("strict", 0) or 0):
            continue
        nodes = [n.split(":", 1)[0] for n in _split(rule.get("nodes"))]
        if node not in nodes:
            return name
    return None


def motion_info(sim, fs, guest):
    """What HA says about moving ``guest``: dependent sids, blocking sids per node, refused nodes."""
    from pvesim.handlers.guests import sid_of

    sid = sid_of(guest)
    if sid not in fs.ha_resources:
        return [], {}, set()
    dependent, blocking = [], {}
    for _name, rule in enabled_rules(fs, sid, "resource-affinity"):
        for other in _split(rule.get("resources")):
            if other == sid or other not in fs.ha_resources:
                continue
            if rule.get("affinity") == "positive":
                if other not in dependent:
                    dependent.append(other)
            else:
                other_guest = guest_of(fs, other)
                if other_guest is not None:
                    blocking.setdefault(other_guest.node, []).append({"sid": other, "cause": "resource-affinity"})
    refused = {h.name for h in sim.members(fs) if allowed_by_node_affinity(fs, sid, h.name)}
    return dependent, blocking, refused


def request_state(sim, fs, sid, state):
    """The CRM's reaction to a requested state."""
    resource = managed(fs, sid)
    resource["state"] = state
    guest = guest_of(fs, sid)
    if guest is None:
        return
    from pvesim.handlers.guests import set_running

    if state in ("started", "enabled"):
        set_running(guest, True)
    elif state in ("stopped", "disabled"):
        set_running(guest, False)


def ha_migrate(sim, fs, sid, target, relocate=False):
    """Ask the CRM to move ``sid`` (and its positive-affinity partners) to ``target``.

    Returns the answer of ``/cluster/ha/resources/{sid}/migrate``; raises when HA refuses.
    """
    from pvesim.handlers.guests import run_migration

    sid = parse_sid(fs, sid)[0]
    resource = managed(fs, sid)
    if resource.get("state") == "error":
        raise ApiError(500, "service '%s' in error state, must be disabled and fixed first" % sid)
    target_host = sim.hosts.get(target)
    if target_host is None or target_host.fs is not fs:
        raise ApiError(500, "no such cluster node '%s'" % target)
    guest = guest_of(fs, sid)
    if guest is None:
        raise ApiError(500, "resource '%s' does not exist in cluster" % sid)
    rule = allowed_by_node_affinity(fs, sid, target)
    if rule:
        raise ApiError(500, "service '%s' is not allowed on node '%s' (strict node affinity rule '%s')"
                       % (sid, target, rule))
    dependent, blocking, _refused = motion_info(sim, fs, guest)
    answer = {"sid": sid, "requested-node": target}
    if blocking.get(target):
        answer["blocking-resources"] = blocking[target]
        return answer
    for other in dependent:
        rule = allowed_by_node_affinity(fs, other, target)
        if rule:
            raise ApiError(500, "service '%s' is not allowed on node '%s' (strict node affinity rule '%s')"
                           % (other, target, rule))
    if dependent:
        answer["comigrated-resources"] = dependent
    for moving in [sid] + dependent:
        moving_guest = guest_of(fs, moving)
        if moving_guest is None or moving_guest.node == target:
            continue
        source = sim.hosts[moving_guest.node]
        if moving_guest.type == "qemu":
            if relocate and moving_guest.running:
                # relocate: stop, move offline, start again on the target
                from pvesim.handlers.guests import set_running

                set_running(moving_guest, False)
                upid = run_migration(sim, source, moving_guest, target, "root@pam")
                _start_after(sim, source, upid, moving_guest)
            else:
                run_migration(sim, source, moving_guest, target, "root@pam", online=moving_guest.running,
                              with_local_disks=True)
        else:
            run_migration(sim, source, moving_guest, target, "root@pam", restart=True)
    return answer


def _start_after(sim, host, upid, guest):
    task = host.tasks.get(upid)
    if task is None:
        return
    previous = task.finish

    def finish(done):
        if previous is not None:
            previous(done)
        from pvesim.handlers.guests import set_running

        set_running(guest, True)

    if task.status == "stopped":
        if task.exitstatus == "OK":
            finish(task)
    else:
        task.finish = finish


def _blocked_text(answer):
    return "cannot migrate '%s' to node '%s' - blocked by HA resources: %s" % (
        answer["sid"], answer["requested-node"], ", ".join(b["sid"] for b in answer["blocking-resources"]))


def ha_migrate_or_fail(sim, fs, sid, target, relocate=False):
    """For the hamigrate task: a refusal of any kind ends the task in error."""
    answer = ha_migrate(sim, fs, sid, target, relocate)
    if answer.get("blocking-resources"):
        raise ApiError(500, _blocked_text(answer))
    return answer


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


def _resource_value(key, value):
    if key in ("failback", "max_relocate", "max_restart"):
        return int(value)
    return value


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
    config.update(_given_options(req.params, RESOURCE_OPTIONS, _resource_value))
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
    resource.update(_given_options(req.params, RESOURCE_OPTIONS, _resource_value))
    for key in _split(req.params.get("delete")):
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
            remaining = [r for r in _split(rule.get("resources")) if r != sid]
            if len(remaining) == len(_split(rule.get("resources"))):
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


# --- rules -------------------------------------------------------------------------------------
def _rule_answer(fs, name):
    rule = fs.ha_rules.get(name)
    if rule is None:
        raise ApiError(500, "HA rule '%s' does not exist" % name)
    answer = dict(rule)
    answer["rule"] = name
    answer["digest"] = fs.digest(fs.ha_rules)
    return answer


def _normalise_sids(fs, value):
    return ",".join(parse_sid(fs, sid)[0] for sid in _split(value))


def _rule_value(key, value):
    if isinstance(value, bool) or key in ("strict", "disable"):
        return int(value)
    return value


def _check_rule(rule):
    if rule["type"] == "node-affinity" and not rule.get("nodes"):
        raise ApiError.param({"nodes": "property is missing and it is not optional"})
    if rule["type"] == "resource-affinity":
        if not rule.get("affinity"):
            raise ApiError.param({"affinity": "property is missing and it is not optional"})
        if len(_split(rule.get("resources"))) < 2:
            raise ApiError.param({"resources": "resource affinity rules must specify at least two resources"})
    for key in ("nodes", "strict") if rule["type"] == "resource-affinity" else ("affinity",):
        if key in rule:
            raise ApiError(500, "unexpected property '%s'" % key)


@routes("GET", "/cluster/ha/rules")
def list_rules(req):
    fs = req.fs
    wanted_type, resource = req.params.get("type"), req.params.get("resource")
    result = []
    for name in sorted(fs.ha_rules, key=lambda n: (fs.ha_rules[n].get("order", 0), n)):
        rule = fs.ha_rules[name]
        if wanted_type and rule["type"] != wanted_type:
            continue
        if resource and resource not in _split(rule.get("resources")):
            continue
        result.append(_rule_answer(fs, name))
    return result


@routes("GET", "/cluster/ha/rules/{rule}")
def read_rule(req):
    return _rule_answer(req.fs, req.params["rule"])


@routes("POST", "/cluster/ha/rules")
def create_rule(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    name = req.params["rule"]
    if name in fs.ha_rules:
        raise ApiError(500, "HA rule '%s' already defined" % name)
    rule = {"type": req.params["type"]}
    rule.update(_given_options(req.params, RULE_OPTIONS, _rule_value))
    rule["resources"] = _normalise_sids(fs, rule["resources"])
    _check_rule(rule)
    rule["order"] = max([r.get("order", 0) for r in fs.ha_rules.values()] + [0]) + 1
    fs.ha_rules[name] = rule
    return None


@routes("PUT", "/cluster/ha/rules/{rule}")
def update_rule(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    name = req.params["rule"]
    rule = fs.ha_rules.get(name)
    if rule is None:
        raise ApiError(500, "HA rule '%s' does not exist" % name)
    assert_if_modified(req.params.get("digest"), fs.digest(fs.ha_rules))
    if req.params["type"] != rule["type"]:
        raise ApiError(500, "rule type cannot be changed")
    updated = dict(rule)
    updated.update(_given_options(req.params, RULE_OPTIONS, _rule_value))
    for key in _split(req.params.get("delete")):
        if key in ("resources", "type") or (key == "nodes" and rule["type"] == "node-affinity"):
            raise ApiError(500, "unable to delete required option '%s'" % key)
        updated.pop(key, None)
    updated["resources"] = _normalise_sids(fs, updated["resources"])
    _check_rule(updated)
    fs.ha_rules[name] = updated
    return None


@routes("DELETE", "/cluster/ha/rules/{rule}")
def delete_rule(req):
    fs = req.fs
    req.sim.require_quorum(fs)
    if req.params["rule"] not in fs.ha_rules:
        raise ApiError(500, "HA rule '%s' does not exist" % req.params["rule"])
    del fs.ha_rules[req.params["rule"]]
    return None


# --- groups (PVE 8) ----------------------------------------------------------------------------
def group_nodes(value):
    """``{node: priority}`` of a group's ``nodes`` ("node[:prio],..."); no priority is 0."""
    result = {}
    for item in _split(value):
        node, _, prio = item.partition(":")
        result[node] = int(prio) if prio.isdigit() else 0
    return result


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


def _group_value(key, value):
    if key in ("restricted", "nofailback"):
        return int(value)
    if key == "nodes":  # PVE keeps the node entries as a set
        return ",".join(sorted(set(_split(value))))
    return value


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
    groups[name] = _given_options(req.params, GROUP_OPTIONS, _group_value)
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
    updated.update(_given_options(req.params, GROUP_OPTIONS, _group_value))
    for key in _split(req.params.get("delete")):
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


# --- failover --------------------------------------------------------------------------------
def node_preferences(sim, fs, sid):
    """``({node: priority}, strict)`` of where HA wants ``sid``: its group in PVE 8, its first
    enabled node-affinity rule in PVE 9; ``({}, False)`` when nothing restricts it."""
    if groups_api(sim):
        group = fs.ha_groups.get((fs.ha_resources.get(sid) or {}).get("group") or "")
        if group is None:
            return {}, False
        return group_nodes(group.get("nodes")), bool(int(group.get("restricted", 0) or 0))
    for _name, rule in enabled_rules(fs, sid, "node-affinity"):
        return group_nodes(rule.get("nodes")), bool(int(rule.get("strict", 0) or 0))
    return {}, False


def recovery_node(sim, fs, sid):
    """The node the CRM recovers ``sid`` to, or None when none is allowed and online."""
    online = sorted(h.name for h in sim.members(fs) if h.online)
    preferred, strict = node_preferences(sim, fs, sid)
    candidates = online
    available = {n: p for n, p in preferred.items() if n in online}
    if available:
        top = max(available.values())
        candidates = sorted(n for n, p in available.items() if p == top)
    elif strict:
        return None
    if not candidates:
        return None

    def services_on(node):  # PVE's basic scheduler: the node with the fewest HA services
        return sum(1 for other in fs.ha_resources if getattr(guest_of(fs, other), "node", None) == node)

    return min(candidates, key=lambda n: (services_on(n), n))


def fence_and_recover(sim):
    """The CRM's answer to dead nodes (a tick hook): fence, then move their services."""
    now = time.monotonic()
    for host in sim.hosts.values():
        if host.online:
            host.extra.pop("ha_down_since", None)
        else:  # stamped by Simulator.host_down; a host offline from the start is stamped here
            host.extra.setdefault("ha_down_since", now)
    from pvesim.handlers.guests import set_running

    for fs in sim.filesystems():
        if not fs.cluster_name or not fs.ha_resources or not sim.quorate(fs):
            continue
        for sid in sorted(fs.ha_resources):
            resource = fs.ha_resources[sid]
            guest = guest_of(fs, sid)
            host = sim.hosts.get(guest.node) if guest is not None else None
            if host is None or host.online or resource.get("state") == "ignored" or guest.lock:
                continue
            if host.extra.get("ha_frozen") or now < host.extra["ha_down_since"] + sim.delay(FENCE_SECONDS):
                continue
            target = recovery_node(sim, fs, sid)
            if target is None:
                continue  # PVE keeps it in recovery until an allowed node is back
            set_running(guest, False)
            guest.node = target
            if resource.get("state", "started") in ("started", "enabled"):
                set_running(guest, True)


def thaw(sim, host):
    """A host has booted (a boot hook): the CRM starts the HA services still placed on it
    that should run, frozen by a reboot or not recovered elsewhere."""
    host.extra.pop("ha_frozen", None)
    from pvesim.handlers.guests import set_running

    for sid, resource in sorted(host.fs.ha_resources.items()):
        guest = guest_of(host.fs, sid)
        if guest is not None and guest.node == host.name and resource.get("state", "started") in ("started", "enabled"):
            set_running(guest, True)


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


# --- scenario ----------------------------------------------------------------------------------
def load_rules(sim, rules):
    """Scenario ``ha_rules``: items as GET /cluster/ha/rules returns them (PVE 9 only)."""
    if groups_api(sim):
        raise ValueError("ha_rules: PVE %s has no HA rules (use ha_groups)" % sim.pve_version)
    for fs in sim.filesystems():
        for order, raw in enumerate(rules, start=1):
            rule = {k: v for k, v in raw.items() if k not in ("rule", "digest")}
            rule.setdefault("order", order)
            fs.ha_rules[raw["rule"]] = rule


def load_hastate(sim, resources):
    """Guests the scenario lists with a ``hastate`` are HA resources (the guests themselves
    are built by the scenario loader)."""
    for item in resources:
        if item.get("type") not in ("qemu", "lxc") or not item.get("hastate"):
            continue
        host = sim.hosts.get(item.get("node"))
        if host is None:
            continue
        kind = "vm" if item["type"] == "qemu" else "ct"
        state = item["hastate"] if item["hastate"] in ("started", "stopped", "disabled", "ignored") else "started"
        host.fs.ha_resources["%s:%d" % (kind, int(item["vmid"]))] = {"type": kind, "state": state}


def load_resources(sim, items):
    """Scenario ``ha_resources``: items as GET /cluster/ha/resources returns them (``sid``,
    ``state``, ``group``, ``max_restart``, ...); they replace what ``hastate`` implied."""
    for fs in sim.filesystems():
        for raw in items:
            sid, kind, vmid = parse_sid(fs, raw["sid"])
            if vmid not in fs.guests:
                continue
            config = {"type": kind, "state": "started"}
            config.update({k: _resource_value(k, v) for k, v in raw.items() if k in RESOURCE_OPTIONS})
            fs.ha_resources[sid] = config


def load_groups(sim, groups):
    """Scenario ``ha_groups``: items as PVE 8's GET /cluster/ha/groups returns them.  In 9.1
    mode they are migrated to node-affinity rules, as PVE 9's CRM does: rule
    ``ha-group-<group>`` with the group's nodes, ``strict`` from ``restricted``, the
    resources of the group; a resource's ``failback`` from ``nofailback``."""
    for fs in sim.filesystems():
        for raw in groups:
            config = {k: _group_value(k, raw[k]) for k in GROUP_OPTIONS if raw.get(k) is not None}
            if groups_api(sim):
                fs.ha_groups[raw["group"]] = config
                continue
            members = sorted(sid for sid, res in fs.ha_resources.items() if res.get("group") == raw["group"])
            for sid in members:
                resource = fs.ha_resources[sid]
                del resource["group"]
                resource["failback"] = 0 if config.get("nofailback") else 1
            if members:
                order = max([r.get("order", 0) for r in fs.ha_rules.values()] + [0]) + 1
                fs.ha_rules["ha-group-%s" % raw["group"]] = {
                    "type": "node-affinity", "resources": ",".join(members), "nodes": config["nodes"],
                    "strict": config.get("restricted", 0), "order": order}
