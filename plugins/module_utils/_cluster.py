# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cluster membership: the option checks of the cluster module, corosync link strings, join information, the cluster as one plain dict."""

from __future__ import annotations

from ansible_collections.proxops.proxmox.plugins.module_utils._pve_formats import is_address, is_fingerprint, is_node_name

MAX_LINKS = 8  # corosync knet: link0 .. link7


def link_errors(links, allow_priority=True):
    """Messages for each bad entry of the ``links`` option (empty when all are fine)."""
    errors = []
    if len(links) > MAX_LINKS:
        errors.append("links: at most %d links (link0 to link%d), got %d" % (MAX_LINKS, MAX_LINKS - 1, len(links)))
    for number, link in enumerate(links):
        address = link.get("address")
        if not is_address(address):
            errors.append("links[%d].address (link%d): %r is not an IP address or host name" % (number, number, address))
        priority = link.get("priority")
        if priority is not None:
            if not allow_priority:
                errors.append("links[%d].priority: a link priority is set when a cluster is created, "
                              "PVE ignores it when a node joins; remove it" % number)
            elif not 0 <= priority <= 255:
                errors.append("links[%d].priority: %d is out of range, give 0 to 255 (lower is preferred)" % (number, priority))
    return errors


CREATE_OPTIONS = ("cluster_name", "links", "nodeid", "votes")


def option_errors(params):
    """What is wrong with the cluster module's options, before any request: one message per problem."""
    if params["state"] == "absent":
        given = [name for name in CREATE_OPTIONS + ("join",) if params[name] is not None]
        if given:
            return ["state=absent removes a node and takes node (and force), not %s" % ", ".join(given)]
        if not is_node_name(params["node"]):
            return ["node: %r is not a node name" % params["node"]]
        return []
    if params["node"] is not None:
        return ["node is for state=absent (the node to remove); to join a host, point api_host at it and give join"]
    join = params["join"]
    if join is None and not params["cluster_name"]:
        return ["state=present needs cluster_name (to create a cluster on api_host) "
                "or join (to join api_host to an existing cluster)"]
    errors = []
    name = params["cluster_name"]
    if name is not None and not (is_node_name(name) and len(name) <= 15):
        errors.append("cluster_name: %r is not valid, give up to 15 letters, digits and inner hyphens" % name)
    if params["nodeid"] is not None and params["nodeid"] < 1:
        errors.append("nodeid: %d is not valid, give 1 or more" % params["nodeid"])
    minimum_votes = 0 if join else 1
    if params["votes"] is not None and params["votes"] < minimum_votes:
        errors.append("votes: %d is not valid, give %d or more" % (params["votes"], minimum_votes))
    errors.extend(link_errors(params["links"] or [], allow_priority=join is None))
    if join is not None:
        errors.extend(_join_errors(join))
    return errors


def _join_errors(join):
    errors = []
    if not join["master_host"] and not join["join_info"]:
        errors.append("join needs master_host (a member of the cluster) or join_info "
                      "(from proxops.proxmox.cluster_join_info), besides password")
    if join["join_info"] is not None and not join["join_info"].get("nodelist"):
        errors.append("join.join_info has no nodelist: give the join_info that proxops.proxmox.cluster_join_info returns")
    if join["fingerprint"] is not None and not is_fingerprint(join["fingerprint"]):
        errors.append("join.fingerprint: %r is not a SHA-256 fingerprint (32 hex pairs joined by ':')" % join["fingerprint"])
    return errors


def link_count_errors(join_info, links):
    """The joining host needs one address per corosync link of the cluster (none on a single-link cluster: PVE uses its IP)."""
    wanted = cluster_link_count(join_info)
    given = len(links or [])
    if wanted and given not in (0, wanted) or wanted > 1 and not given:
        return ["links: the cluster has %d corosync link%s (link0%s), so the joining host needs %s, got %d"
                % (wanted, "s" if wanted > 1 else "", " to link%d" % (wanted - 1) if wanted > 1 else "",
                   "one address for each" if wanted > 1 else "one address or none", given)]
    return []


def cluster_link_count(join_info):
    """How many corosync links the cluster of a join information object has (its totem interfaces)."""
    interfaces = (join_info.get("totem") or {}).get("interface") or {}
    if interfaces:
        return len(interfaces)
    return max((len(ring_addresses(entry)) for entry in join_info.get("nodelist") or []), default=0)


def link_params(links):
    """``{"link0": "address=10.0.0.1,priority=10", ...}`` as PVE's create and join take them."""
    params = {}
    for number, link in enumerate(links or []):
        value = "address=%s" % link["address"]
        if link.get("priority") is not None:
            value += ",priority=%d" % link["priority"]
        params["link%d" % number] = value
    return params


def ring_addresses(corosync_node):
    """The link addresses of a corosync node entry, link0 first."""
    return [corosync_node["ring%d_addr" % number] for number in range(MAX_LINKS)
            if corosync_node.get("ring%d_addr" % number)]


def read_cluster(client, with_links=True):
    """The cluster the API host belongs to, as a plain dict.

    ``name`` is None for a standalone host. One call (``/cluster/status``) for a standalone
    host, two for a member (``/cluster/config/nodes`` adds link addresses and votes) unless
    ``with_links`` is false.
    """
    status = client.get("/cluster/status") or []
    summary = next((item for item in status if item.get("type") == "cluster"), None)
    nodes = {}
    local = None
    for item in status:
        if item.get("type") != "node":
            continue
        name = item.get("name")
        nodes[name] = dict(name=name, nodeid=item.get("nodeid"), online=bool(item.get("online")),
                           local=bool(item.get("local")), ip=item.get("ip"), links=[], votes=None)
        if item.get("local"):
            local = name
    cluster = dict(name=None, quorate=True, version=None, local_node=local, nodes=[])
    if summary is None:
        cluster["nodes"] = list(nodes.values())
        return cluster
    cluster.update(name=summary.get("name"), quorate=bool(summary.get("quorate")), version=summary.get("version"))
    if with_links:
        for entry in client.get("/cluster/config/nodes") or []:
            name = entry.get("name") or entry.get("node")
            node = nodes.setdefault(name, dict(name=name, nodeid=None, online=False, local=False, ip=None, links=[], votes=None))
            node["links"] = ring_addresses(entry)
            if entry.get("nodeid") is not None:
                node["nodeid"] = int(entry["nodeid"])
            if entry.get("quorum_votes") is not None:
                node["votes"] = int(entry["quorum_votes"])
    cluster["nodes"] = sorted(nodes.values(), key=lambda node: (node["nodeid"] or 0, node["name"]))
    return cluster


def find_member(cluster, host):
    """The member of ``cluster`` that ``host`` (name, API IP or link address) names, or None."""
    for node in cluster["nodes"]:
        if host == node["name"] or host == node.get("ip") or host in node.get("links", []):
            return node
    return None


def join_target(join_info, master_host=None, answered_by_master=False):
    """From a join information object: (address to join through, its fingerprint).

    With ``master_host`` the entry for that host (name, API address or link address) is
    used, else the preferred node's. ``answered_by_master``: the join information was read
    from ``master_host`` itself, so the preferred node (the member that answered) is that
    host, whatever name (an FQDN, say) it was reached by.
    """
    entries = join_info.get("nodelist") or []
    preferred = join_info.get("preferred_node")
    wanted = master_host or preferred
    for entry in entries:
        addresses = [entry.get("name"), entry.get("pve_addr")] + ring_addresses(entry)
        if wanted in addresses:
            return master_host or entry.get("pve_addr") or entry.get("name"), entry.get("pve_fp")
    if master_host and answered_by_master:
        for entry in entries:
            if entry.get("name") == preferred:
                return master_host, entry.get("pve_fp")
    return master_host, None


def join_info_lists(join_info, node_name):
    """Whether the cluster of a join information object lists the node ``node_name``."""
    return any(entry.get("name") == node_name for entry in join_info.get("nodelist") or [])


def join_info_cluster_name(join_info):
    totem = join_info.get("totem") or {}
    return totem.get("cluster_name")


def join_plan(join, join_info, answered_by_master, cluster_name=None):
    """What a join goes through: ``(master_host, fingerprint, expected cluster name, problem)``.

    ``join`` is the module's join option, ``join_info`` the join information given or read from
    master_host (``answered_by_master``), ``cluster_name`` the module's option.  ``problem`` is a
    message when the join cannot go ahead as given, else None.
    """
    master_host, fingerprint = join["master_host"], join["fingerprint"]
    expected = cluster_name
    if join_info is not None:
        # join information read from master_host itself: its preferred node is master_host,
        # even when master_host is a name (an FQDN) the join information does not hold
        master_host, info_fingerprint = join_target(join_info, master_host, answered_by_master=answered_by_master)
        fingerprint = fingerprint or info_fingerprint
        found = join_info_cluster_name(join_info)
        if cluster_name and found and found != cluster_name:
            return master_host, fingerprint, expected, ("cluster_name is %r but the cluster of %s is %r; nothing was changed"
                                                        % (cluster_name, master_host, found))
        expected = expected or found
    if not master_host:
        return None, fingerprint, expected, "join.join_info names no preferred node with an address; give join.master_host"
    if not fingerprint:
        return master_host, None, expected, "no fingerprint of %s in join.join_info; give join.fingerprint" % master_host
    return master_host, fingerprint, expected, None


def intent(name, links):
    """The diff's "after" of a create or join: the cluster name and the link addresses given."""
    wanted = {"cluster_name": name}
    if links:
        wanted["links"] = [link["address"] for link in links]
    return wanted


def predicted_cluster(local_node, name, links, nodeid=None, votes=None):
    """The cluster after a create or join, as check mode predicts it."""
    local = dict(name=local_node, nodeid=nodeid, online=True, local=True, ip=None,
                 links=[link["address"] for link in links or []], votes=votes)
    return dict(name=name, quorate=True, version=None, local_node=local_node, nodes=[local])


def not_joined_message(api_host, expected_name, timeout, cluster, error, unseen):
    """Why a host is not in the cluster after its create or join: the task's end, where the host is, a CA hint."""
    wanted = "cluster %r" % expected_name if expected_name else "a cluster"
    cause = error or unseen
    hint = ""
    if cause is not None and cause.tls:
        hint = "; the host now presents a certificate from the cluster's CA: ca_path must hold that CA"
    ended = "the end of PVE's task could not be seen (%s)" % unseen if unseen is not None else "PVE's task ended"
    where = ("its cluster status could not be read (%s)" % error if error is not None
             else "it is in %r" % cluster["name"] if cluster["name"] else "it is standalone")
    return "%s, and host %s is not in %s after %d seconds: %s%s" % (ended, api_host, wanted, timeout, where, hint)
