"""A tiny HA manager (PVE's CRM and LRM): requested states, HA migration, fencing and recovery.

The CRM acts at once: a requested state starts or stops the guest, a migrate request
starts the migration task on the guest's node, the way the LRM would.

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


def hastate(fs, guest):
    """The CRM state /cluster/resources shows as ``hastate``, or None when not HA-managed."""
    resource = fs.ha_resources.get(sid_of(guest))
    if resource is None:
        return None
    if guest.lock == "migrate":
        return "migrate"
    state = resource.get("state", "started")
    return {"enabled": "started", "disabled": "stopped"}.get(state, state)


def motion_info(sim, fs, guest):
    """What HA says about moving ``guest``: dependent sids, blocking sids per node, refused nodes."""
    sid = sid_of(guest)
    if sid not in fs.ha_resources:
        return [], {}, set()
    dependent, blocking = [], {}
    for _name, rule in enabled_rules(fs, sid, "resource-affinity"):
        for other in split_list(rule.get("resources")):
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
    if state in ("started", "enabled"):
        set_running(guest, True)
    elif state in ("stopped", "disabled"):
        set_running(guest, False)


def ha_migrate(sim, fs, sid, target, relocate=False):
    """Ask the CRM to move ``sid`` (and its positive-affinity partners) to ``target``.

    Returns the answer of ``/cluster/ha/resources/{sid}/migrate``; raises when HA refuses.
    """
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
