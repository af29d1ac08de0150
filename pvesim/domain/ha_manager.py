"""A tiny HA manager (PVE's CRM and LRM): requested states, HA migration, fencing and recovery.

A requested state starts or stops the guest at once.  A migrate or relocate request is
queued, as PVE's ``ha-manager`` queues it in ``/etc/pve/ha/crm_commands``
(``fs.ha_crm_commands``); the CRM reads it a round later (:func:`crm_round`, a tick hook,
``CRM_ROUND_SECONDS`` of simulated time, so at the next request with time-scale 0) and the
LRM then runs the migration task on the guest's node.  Services on a node in maintenance or
outside their strict node affinity rule are moved by the CRM as well.

Failover: a node that is down (shut down, or unreachable) for ``FENCE_SECONDS`` of
simulated time is fenced, and the CRM recovers its services onto the online members its
node-affinity rule (9.1) or group (8.4) allows, highest priority first; a strict rule or a
restricted group with none of its nodes online leaves the service where it is.  A node
rebooted through the API freezes its services instead (PVE's default shutdown policy,
"conditional"); they start again when it is back.  Failback to a recovered
higher-priority node is not modelled.
"""

import time

from pvesim.domain.guests import set_running, sid_of
from pvesim.domain.ha_config import (allowed_by_node_affinity, enabled_rules, group_nodes, groups_api, guest_of,
                                     managed, parse_sid, split_list)
from pvesim.domain.migration import run_migration
from pvesim.errors import ApiError

FENCE_SECONDS = 120  # simulated: from a node's loss until the CRM has fenced it and recovers
CRM_ROUND_SECONDS = 10  # simulated: a queued CRM command is read by the next round of the CRM loop


def hastate(fs, guest):
    """The CRM state /cluster/resources shows as ``hastate``, or None when not HA-managed."""
    resource = fs.ha_resources.get(sid_of(guest))
    if resource is None:
        return None
    if guest.lock == "migrate":
        return "migrate"
    state = resource.get("state", "started")
    return {"enabled": "started", "disabled": "stopped"}.get(state, state)


def ha_active(fs, sid):
    """HA/Config.pm ``service_is_ha_managed`` / ``vm_is_ha_managed``: configured and not
    ``ignored`` (an ignored service behaves as if HA did not manage it)."""
    resource = fs.ha_resources.get(sid)
    return resource is not None and resource.get("state") != "ignored"


def _affinitive(fs, sid):
    """ResourceAffinity.pm ``get_affinitive_resources`` on the compiled rules: the sids in
    positive and in negative affinity with ``sid``, each managed and not ignored."""
    together, separate = set(), set()
    for _name, rule in enabled_rules(fs, sid, "resource-affinity"):
        others = {o for o in split_list(rule.get("resources")) if o != sid and ha_active(fs, o)}
        (together if rule.get("affinity") == "positive" else separate).update(others)
    return sorted(together), sorted(separate)


def crm_node_online(host):
    """NodeStatus.pm ``node_is_online``: the CRM's node state is ``online`` (not down, not in
    maintenance)."""
    return host.online and not host.ha_maintenance


def motion_info(sim, fs, guest):
    """HA/Config.pm ``get_resource_motion_info``: ``(dependent sids, {node: blocking})``.
    Only resource affinity counts; blockers are computed only for nodes the CRM sees
    ``online``; node affinity (even strict) and offline nodes block nothing here."""
    sid = sid_of(guest)
    if not ha_active(fs, sid):
        return [], {}
    together, separate = _affinitive(fs, sid)
    blocking = {}
    for host in sorted(sim.members(fs), key=lambda h: h.name):
        if not crm_node_online(host):
            continue
        for other in separate:
            other_guest = guest_of(fs, other)
            if other_guest is not None and other_guest.node == host.name:
                blocking.setdefault(host.name, []).append({"sid": other, "cause": "resource-affinity"})
    return together, blocking


def request_state(sim, fs, sid, state):
    """The CRM's reaction to a requested state."""
    resource = managed(fs, sid)
    resource["state"] = state
    guest = guest_of(fs, sid)
    if guest is None:
        return
    if state in ("started", "enabled"):
        set_running(guest, True)
    elif state in ("stopped", "disabled"):
        set_running(guest, False)


def ha_migrate(sim, fs, sid, target, relocate=False):
    """API2/HA/Resources.pm ``migrate``/``relocate``: check only that ``sid`` is HA-managed and
    not in error, queue ``migrate <sid> <node>`` for the CRM (HA/Config.pm
    ``queue_crm_commands``) and answer ``{sid, requested-node[, comigrated-resources,
    blocking-resources]}`` from ``get_resource_motion_info``.  No node or rule check here: the
    CRM acts on the command in a later round (:func:`crm_round`), or logs why it does not."""
    sid = parse_sid(fs, sid)[0]
    if not ha_active(fs, sid):
        raise ApiError(500, "resource '%s' is not HA managed" % sid)
    if fs.ha_resources[sid].get("state") == "error":  # check_service_state
        raise ApiError(500, "service '%s' in error state, must be disabled and fixed first" % sid)
    fs.ha_crm_commands.append({"cmd": "relocate" if relocate else "migrate", "sid": sid, "node": target,
                               "queued": time.time()})
    answer = {"sid": sid, "requested-node": target}
    guest = guest_of(fs, sid)
    dependent, blocking = motion_info(sim, fs, guest) if guest is not None else ([], {})
    if dependent:
        answer["comigrated-resources"] = dependent
    if blocking.get(target):
        answer["blocking-resources"] = blocking[target]
    return answer


def cli_motion_error(answer, cmd="migrate"):
    """CLI/ha_manager.pm ``$print_resource_motion_output``: the text ``ha-manager migrate``
    dies with when the answer names blocking resources, else None."""
    if not answer.get("blocking-resources"):
        return None
    text = "cannot %s resource '%s' to node '%s':\n\n" % (cmd, answer["sid"], answer["requested-node"])
    for blocker in answer["blocking-resources"]:
        text += "- resource '%s' on target node '%s'" % (blocker["sid"], answer["requested-node"])
        if blocker["cause"] == "resource-affinity":
            text += " in negative affinity with resource '%s'" % answer["sid"]
        text += "\n"
    return text


def _start_motion(sim, fs, sid, task, target):
    """The LRM carries out a migrate/relocate the CRM decided (PVEVM/PVECT ``migrate``)."""
    guest = guest_of(fs, sid)
    if guest is None or guest.node == target:
        return
    source = sim.hosts[guest.node]
    if guest.type == "qemu":
        if task == "relocate" and guest.running:
            # relocate: stop, move offline, start again on the target
            set_running(guest, False)
            upid = run_migration(sim, source, guest, target, "root@pam")
            _start_after(sim, source, upid, guest)
        else:
            run_migration(sim, source, guest, target, "root@pam", online=guest.running, with_local_disks=True)
    else:
        run_migration(sim, source, guest, target, "root@pam", restart=True)


def _execute(sim, fs, command):
    """Manager.pm ``update_crm_commands`` and ``queue_resource_motion`` for one command: a
    service that is gone, a target that is not online, a service already there or a negative
    affinity partner on the target make the CRM log an error and drop it; otherwise the
    service and its positive affinity partners move."""
    sid, target, task = command["sid"], command["node"], command["cmd"]
    guest = guest_of(fs, sid) if sid in fs.ha_resources else None
    host = sim.hosts.get(target)
    if guest is None or host is None or host.fs is not fs or not crm_node_online(host) or guest.node == target:
        return
    together, separate = _affinitive(fs, sid)
    if any(getattr(guest_of(fs, other), "node", None) == target for other in separate):
        return  # "crm command '...' error - service '...' on node '...' in negative affinity with ..."
    for moving in [sid] + together:
        _start_motion(sim, fs, moving, task, target)


def _misplaced_target(sim, fs, sid, guest):
    """Where the CRM moves a service that sits on a node it may not stay on (a node in
    maintenance, or one a strict node affinity rule excludes), else None."""
    host = sim.hosts.get(guest.node)
    if host is None or not host.online:
        return None
    if not host.ha_maintenance and not allowed_by_node_affinity(fs, sid, guest.node):
        return None
    target = recovery_node(sim, fs, sid)
    return target if target != guest.node else None


def crm_round(sim):
    """The CRM's round (a tick hook): queued commands older than one round
    (``CRM_ROUND_SECONDS`` of simulated time) are carried out, then services left on a node
    in maintenance or outside their strict node affinity rule are moved, as
    ``next_state_started`` selects a node again."""
    now = time.time()
    for fs in sim.filesystems():
        if not fs.cluster_name or not sim.quorate(fs):
            continue
        pending = []
        for command in fs.ha_crm_commands:
            guest = guest_of(fs, command["sid"]) if command["sid"] in fs.ha_resources else None
            if now < command["queued"] + sim.delay(CRM_ROUND_SECONDS) or (guest is not None and guest.lock):
                pending.append(command)  # not yet read, or the service is busy
                continue
            _execute(sim, fs, command)
        fs.ha_crm_commands[:] = pending
        queued = {c["sid"] for c in pending}
        for sid in sorted(fs.ha_resources):
            if sid in queued or fs.ha_resources[sid].get("state") not in ("started", "enabled", "stopped"):
                continue
            guest = guest_of(fs, sid)
            if guest is None or guest.lock:
                continue
            target = _misplaced_target(sim, fs, sid, guest)
            if target is not None:
                _start_motion(sim, fs, sid, "migrate", target)


def _start_after(sim, host, upid, guest):
    task = host.tasks.get(upid)
    if task is None:
        return
    previous = task.finish

    def finish(done):
        if previous is not None:
            previous(done)
        set_running(guest, True)

    if task.status == "stopped":
        if task.exitstatus == "OK":
            finish(task)
    else:
        task.finish = finish


def node_hastate(sim, fs, host):
    """The CRM's node state ``/cluster/resources`` shows as a node's ``hastate`` (from the
    manager status, NodeStatus.pm), or None while no CRM runs (no HA service, no maintenance):
    ``maintenance``, ``online``, or ``unknown`` for a node that is down."""
    members = sim.members(fs)
    if not fs.cluster_name or not (fs.ha_resources or any(h.ha_maintenance for h in members)):
        return None
    if host.ha_maintenance:
        return "maintenance"
    return "online" if host.online else "unknown"


def load_maintenance(sim, nodes):
    """Scenario ``maintenance``: the nodes in HA maintenance mode (being drained)."""
    for name in nodes or []:
        if name not in sim.hosts:
            raise ValueError("maintenance: unknown node %r" % name)
        sim.hosts[name].ha_maintenance = True


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
    online = sorted(h.name for h in sim.members(fs) if crm_node_online(h))
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
            host.ha_down_since = None
        elif host.ha_down_since is None:  # stamped by Simulator.host_down; a host offline from the start here
            host.ha_down_since = now
    for fs in sim.filesystems():
        if not fs.cluster_name or not fs.ha_resources or not sim.quorate(fs):
            continue
        for sid in sorted(fs.ha_resources):
            resource = fs.ha_resources[sid]
            guest = guest_of(fs, sid)
            host = sim.hosts.get(guest.node) if guest is not None else None
            if host is None or host.online or resource.get("state") == "ignored" or guest.lock:
                continue
            if host.ha_frozen or now < host.ha_down_since + sim.delay(FENCE_SECONDS):
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
    host.ha_frozen = False
    for sid, resource in sorted(host.fs.ha_resources.items()):
        guest = guest_of(host.fs, sid)
        if guest is not None and guest.node == host.name and resource.get("state", "started") in ("started", "enabled"):
            set_running(guest, True)
