"""The HA configuration: resources, rules (PVE 9) and groups (PVE 8).

``fs.ha_resources``: sid (``vm:100``/``ct:101``) -> config (``type``, ``state``, ``comment``,
``max_restart``, ``max_relocate``, ``failback``).  ``fs.ha_rules``: rule id -> config
(``type`` node-affinity/resource-affinity, ``resources``, ``nodes``, ``strict``,
``affinity``, ``disable``, ``comment``, ``order``).

HA groups are the PVE 8 API (``fs.ha_groups``: group -> ``nodes`` "node[:prio],...",
``restricted``, ``nofailback``, ``comment``), served when the scenario says
``"pve_version": "8.4"``; an HA resource's ``group`` then decides where it may fail over to.
PVE 9 migrated groups to node-affinity rules: a scenario's ``ha_groups`` are migrated the
way PVE 9's CRM does it.
"""

import re

from pvesim.errors import ApiError

SID_RE = re.compile(r"^(?:(vm|ct):)?(\d+)$")
RESOURCE_OPTIONS = ("comment", "failback", "group", "max_relocate", "max_restart", "state")
RULE_OPTIONS = ("affinity", "comment", "disable", "nodes", "resources", "strict")
GROUP_OPTIONS = ("comment", "nodes", "nofailback", "restricted")
GROUPS_MIGRATED = "ha groups have been migrated to rules"


def groups_api(sim):
    """True when HA groups are the PVE 8 API (pve_version 8.4), False in PVE 9."""
    return sim.pve_version == "8.4"


def split_list(value):
    return [p for p in re.split(r"[,;\s]+", str(value or "")) if p]


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
    """The guest an HA resource id names, or None."""
    _sid, kind, vmid = parse_sid(fs, sid)
    guest = fs.guests.get(vmid)
    wanted = "qemu" if kind == "vm" else "lxc"
    if guest is None or guest.type != wanted:
        return None
    return guest


def managed(fs, sid):
    """The HA resource config of ``sid``; PVE's error when it is not HA-managed."""
    if sid not in fs.ha_resources:
        raise ApiError(500, "resource '%s' is not HA managed" % sid)
    return fs.ha_resources[sid]


def enabled_rules(fs, sid, rule_type):
    """``(name, rule)`` of the enabled rules of ``rule_type`` naming ``sid``, in rule order.
    As the CRM's compiled rules (HA/Config.pm read_and_compile_rules_config, Rules.pm
    transform), a rule that makes the rule set infeasible counts as not there."""
    infeasible = rule_errors(fs)
    for name, rule in sorted(fs.ha_rules.items(), key=lambda item: (item[1].get("order", 0), item[0])):
        if rule.get("type") != rule_type or int(rule.get("disable", 0) or 0) or name in infeasible:
            continue
        if sid in split_list(rule.get("resources")):
            yield name, rule


def allowed_by_node_affinity(fs, sid, node):
    """None when ``node`` is fine; else the name of the strict rule that keeps ``sid`` off it."""
    for name, rule in enabled_rules(fs, sid, "node-affinity"):
        if not int(rule.get("strict", 0) or 0):
            continue
        nodes = [n.split(":", 1)[0] for n in split_list(rule.get("nodes"))]
        if node not in nodes:
            return name
    return None


# --- rules: encoding and feasibility (pve-ha-manager HA/Rules.pm and its plugins) -------------
def encode_resources(value):
    """HA/Rules.pm ``decode_value``/``encode_value`` of ``resources``: a set, written sorted."""
    return ",".join(sorted(set(split_list(value))))


def encode_nodes(value):
    """HA/Rules/NodeAffinity.pm ``decode_plugin_value``/``encode_plugin_value`` of ``nodes``:
    a hash node -> priority, written sorted by node, ``node:prio`` or ``node`` for priority 0."""
    nodes = group_nodes(value)
    return ",".join("%s:%d" % (n, nodes[n]) if nodes[n] else n for n in sorted(nodes))


def _active_rules(fs, rule_type):
    """The enabled rules of a type, as ``get_plugin_check_arguments`` collects them
    (``exclude_disabled_rules``)."""
    return {name: rule for name, rule in fs.ha_rules.items()
            if rule.get("type") == rule_type and not int(rule.get("disable", 0) or 0)}


def _disjoint_positive_sets(positive):
    """HA/Rules/Helpers.pm ``find_disjoint_rules_resource_sets``: positive rules that share a
    resource merge into one set."""
    entries = []
    for name in sorted(positive):
        resources, ruleids = set(split_list(positive[name].get("resources"))), [name]
        for entry in [e for e in entries if e["resources"] & resources]:
            entries.remove(entry)
            resources |= entry["resources"]
            ruleids += entry["ruleids"]
        entries.append({"resources": resources, "ruleids": sorted(ruleids)})
    return entries


def rule_errors(fs, nodes=None):
    """``{ruleid: {"resources": [message, ...]}}`` for the rules that make the rule set
    infeasible: HA/Rules.pm ``check_feasibility`` with the checks PVE 9 registers, in its
    order: node affinity (NodeAffinity.pm ``check_single_resource_reference``), resource
    affinity (ResourceAffinity.pm: fewer than two resources, a negative rule with more
    resources than nodes, positive and negative rules sharing two resources), then the global
    ones of Rules.pm (a resource affinity rule next to a node affinity rule with several
    priorities; a positive set in several node affinity rules).  ``nodes`` are the nodes the CRM
    knows; by default the cluster's."""
    if nodes is None:
        nodes = list(fs.corosync_nodes) or [None]
    errors = {}

    def add(ruleid, message):
        errors.setdefault(ruleid, {}).setdefault("resources", []).append(message)

    node_rules = _active_rules(fs, "node-affinity")
    affinity_rules = _active_rules(fs, "resource-affinity")
    positive = {n: r for n, r in affinity_rules.items() if r.get("affinity") == "positive"}
    negative = {n: r for n, r in affinity_rules.items() if r.get("affinity") == "negative"}
    # NodeAffinity.pm check_single_resource_reference
    users = {}
    for name, rule in node_rules.items():
        for sid in set(split_list(rule.get("resources"))):
            users.setdefault(sid, []).append(name)
    conflicts = sorted((name, sid) for sid, names in users.items() if len(names) > 1 for name in names)
    for name, sid in conflicts:
        add(name, "resource '%s' is already used in another node affinity rule" % sid)
    # ResourceAffinity.pm check_resource_affinity_resources_count
    for name in sorted(affinity_rules):
        if len(set(split_list(affinity_rules[name].get("resources")))) < 2:
            add(name, "rule is ineffective as there are less than two resources")
    # ResourceAffinity.pm check_negative_resource_affinity_resources_count
    for name in sorted(negative):
        if len(set(split_list(negative[name].get("resources")))) > len(nodes):
            add(name, "rule defines more resources than available nodes")
    # ResourceAffinity.pm check_inter_resource_affinity_rules_consistency
    conflicts = set()
    for entry in _disjoint_positive_sets(positive):
        for name, rule in negative.items():
            if len(entry["resources"] & set(split_list(rule.get("resources")))) >= 2:
                conflicts.add(("negative", name))
                conflicts.update(("positive", r) for r in entry["ruleids"])
    for kind, name in sorted(conflicts):
        other = "positive" if kind == "negative" else "negative"
        add(name, "rule shares two or more resources with a %s resource affinity rule" % other)
    # Rules.pm check_single_priority_node_affinity_in_resource_affinity_rules
    conflicts = set()
    for name, rule in affinity_rules.items():
        resources = set(split_list(rule.get("resources")))
        paired = [n for n, r in node_rules.items() if resources & set(split_list(r.get("resources")))]
        if any(len(set(group_nodes(node_rules[n].get("nodes")).values())) > 1 for n in paired):
            conflicts.add(("resource-affinity", name))
            conflicts.update(("node-affinity", n) for n in paired)
    for kind, name in sorted(conflicts):
        if kind == "node-affinity":
            add(name, "resources are in a resource affinity rule and cannot be in a node affinity rule "
                      "with multiple priorities")
        else:
            add(name, "resources are in node affinity rules with multiple priorities")
    # Rules.pm check_single_node_affinity_per_positive_resource_affinity_rule
    conflicts = set()
    for entry in _disjoint_positive_sets(positive):
        paired = [n for n, r in node_rules.items() if entry["resources"] & set(split_list(r.get("resources")))]
        if len(paired) > 1:
            conflicts.update(("positive", r) for r in entry["ruleids"])
            conflicts.update(("node-affinity", n) for n in paired)
    for kind, name in sorted(conflicts):
        if kind == "node-affinity":
            add(name, "resources are in multiple node affinity rules")
        else:
            add(name, "at least one resource is in a positive resource affinity rule and there are other "
                      "resources in at least one other node affinity rule already")
    return errors


def group_nodes(value):
    """``{node: priority}`` of a group's ``nodes`` ("node[:prio],..."); no priority is 0."""
    result = {}
    for item in split_list(value):
        node, _, prio = item.partition(":")
        result[node] = int(prio) if prio.isdigit() else 0
    return result


def resource_value(key, value):
    """A resource option as the config keeps it."""
    if key in ("failback", "max_relocate", "max_restart"):
        return int(value)
    return value


def group_value(key, value):
    """A group option as the config keeps it."""
    if key in ("restricted", "nofailback"):
        return int(value)
    if key == "nodes":  # PVE keeps the node entries as a set
        return ",".join(sorted(set(split_list(value))))
    return value


# --- scenario ----------------------------------------------------------------------------------
def load_rules(sim, rules):
    """Scenario ``ha_rules``: items as GET /cluster/ha/rules returns them (PVE 9 only)."""
    if groups_api(sim):
        raise ValueError("ha_rules: PVE %s has no HA rules (use ha_groups)" % sim.pve_version)
    for fs in sim.filesystems():
        for order, raw in enumerate(rules, start=1):
            rule = {k: v for k, v in raw.items() if k not in ("rule", "digest", "errors")}
            rule.setdefault("order", order)
            # kept as PVE writes them: sets, sorted (HA/Rules.pm encode_value)
            if rule.get("resources"):
                rule["resources"] = encode_resources(rule["resources"])
            if rule.get("nodes"):
                rule["nodes"] = encode_nodes(rule["nodes"])
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
            config.update({k: resource_value(k, v) for k, v in raw.items() if k in RESOURCE_OPTIONS})
            fs.ha_resources[sid] = config


def load_groups(sim, groups):
    """Scenario ``ha_groups``: items as PVE 8's GET /cluster/ha/groups returns them.  In 9.1
    mode they are migrated to node-affinity rules, as PVE 9's CRM does: rule
    ``ha-group-<group>`` with the group's nodes, ``strict`` from ``restricted``, the
    resources of the group; a resource's ``failback`` from ``nofailback``."""
    for fs in sim.filesystems():
        for raw in groups:
            config = {k: group_value(k, raw[k]) for k in GROUP_OPTIONS if raw.get(k) is not None}
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
