"""Cluster life-cycle: /cluster/config (create, join, nodes, totem), /cluster/status.

The corosync configuration lives in the receiving host's :class:`ClusterFS`
(``cluster_name``, ``corosync_nodes``, ``totem``, ``config_version``).  A standalone
host has ``cluster_name`` None.  Joining makes the joiner's ``host.fs`` the very
ClusterFS object of the cluster, so every member sees the same /etc/pve.

Wording, task types and log lines follow PVE's ClusterConfig.pm, Cluster/Setup.pm
and APIClient/LWP.pm (the join is a worker on the joining host that logs in to the
peer with the root password, pins its certificate fingerprint and calls the peer's
``POST /cluster/config/nodes/{node}``).  Like PVE, every join failure is reported as
the task's exit status, not as an HTTP error.
"""

import copy
import dataclasses
import hashlib
import time

from pvesim import certs
from pvesim.domain.nodes import find_host, is_ip, local_addresses, node_certificate_fingerprint, subscription_level
from pvesim.errors import ApiError
from pvesim.model import ClusterFS
from pvesim.routing import RouteTable

routes = RouteTable()

CLUSTER_CONF = "/etc/pve/corosync.conf"
AUTHKEY = "/etc/corosync/authkey"
JOIN_API_VERSION = 1
MAX_LINK_INDEX = 7

# Simulated durations (seconds) of the async cluster tasks.
CREATE_SECONDS = 3
JOIN_SECONDS = 8


# --- corosync ----------------------------------------------------------------
# (permissions are checked by pvesim.dispatch from the schema's ``permissions``)

def parse_link(value):
    """A corosync link property string ``[address=]<IP>[,priority=N]`` as a dict."""
    link = {}
    for part in str(value).split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, val = part.partition("=")
        if not sep:
            key, val = "address", key
        if key not in ("address", "priority"):
            raise ApiError.param({"link": "invalid format - format error\nlink.%s: property is not defined in schema and the schema does not allow additional properties" % key})
        link[key] = int(val) if key == "priority" else val
    if "address" not in link:
        raise ApiError.param({"link": "invalid format - format error\nlink.address: property is missing and it is not optional"})
    return link


def link_args(params):
    """``{n: {"address", "priority"}}`` from the ``link0``..``link7`` parameters."""
    links = {}
    for n in range(MAX_LINK_INDEX + 1):
        value = params.get("link%d" % n)
        if value is not None:
            links[n] = parse_link(value)
    return links


def print_link(link):
    text = link["address"]
    if link.get("priority"):
        text += ",priority=%d" % link["priority"]
    return text


def totem_of(fs):
    """The totem section as PVE's corosync parser gives it (every value a string)."""
    if not fs.cluster_name:
        return None
    totem = copy.deepcopy(fs.totem)
    totem["cluster_name"] = fs.cluster_name
    totem["config_version"] = str(fs.config_version)
    return _stringify(totem)


def _stringify(value):
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    return str(value)


def node_entries(fs):
    """The corosync nodelist, values as strings like PVE's parser returns them."""
    return {name: _stringify(entry) for name, entry in fs.corosync_nodes.items()}


def corosync_conf_text(fs):
    """A corosync.conf rendering of the cluster (also the basis of ``config_digest``)."""
    lines = ["logging {", "  debug: off", "  to_syslog: yes", "}", "", "nodelist {"]
    for name in sorted(fs.corosync_nodes):
        entry = fs.corosync_nodes[name]
        lines.append("  node {")
        for key in ["name", "nodeid", "quorum_votes"] + sorted(k for k in entry if k.endswith("_addr")):
            if key in entry:
                lines.append("    %s: %s" % (key, entry[key]))
        lines.append("  }")
    lines += ["}", "", "quorum {", "  provider: corosync_votequorum", "}", "", "totem {"]
    totem = totem_of(fs) or {}
    for key in sorted(totem):
        if key == "interface":
            for number in sorted(totem[key]):
                lines.append("  interface {")
                for ikey, ivalue in sorted(totem[key][number].items()):
                    lines.append("    %s: %s" % (ikey, ivalue))
                lines.append("  }")
        else:
            lines.append("  %s: %s" % (key, totem[key]))
    lines.append("}")
    return "\n".join(lines) + "\n"


def config_digest(fs):
    return hashlib.sha1(corosync_conf_text(fs).encode()).hexdigest()


def served_fingerprint(host):
    """The SHA-256 fingerprint of the certificate the host's HTTPS endpoint presents
    (the server keeps ``host.fingerprint`` in step with what it serves)."""
    return host.fingerprint


# What a host removed from a cluster does not keep of the cluster's /etc/pve: the cluster
# itself, its guests and HA, and the ticket key (a separated node gets its own keys).
NOT_KEPT_BY_A_REMOVED_NODE = {"cluster_name", "corosync_nodes", "totem", "config_version", "guests",
                              "ha_resources", "ha_rules", "ha_groups", "authkey", "quorum_lost"}


def fresh_fs(sim, template):
    """A new /etc/pve for a host leaving a cluster: it keeps a copy of the access and
    storage configuration it had (as a separated node keeps its local copy), and its CA."""
    factory = getattr(sim, "new_cluster_fs", None)
    fs = factory() if callable(factory) else ClusterFS()
    for item in dataclasses.fields(ClusterFS):
        if item.name not in NOT_KEPT_BY_A_REMOVED_NODE:
            setattr(fs, item.name, copy.deepcopy(getattr(template, item.name)))
    return fs


def _bump_version(fs):
    fs.config_version += 1
    fs.totem["config_version"] = fs.config_version


# --- /cluster/config ----------------------------------------------------------

@routes("GET", "/cluster/config")
def config_index(req):
    return [{"name": "nodes"}, {"name": "totem"}, {"name": "join"}, {"name": "qdevice"}, {"name": "apiversion"}]


@routes("GET", "/cluster/config/apiversion")
def config_apiversion(req):
    return JOIN_API_VERSION


@routes("POST", "/cluster/config")
def config_create(req):
    """Create a cluster on a standalone host (task ``clustercreate``)."""
    host, sim, params = req.host, req.sim, req.params
    if host.fs.cluster_name:
        raise ApiError(500, "cluster config '%s' already exists" % CLUSTER_CONF)
    name = params["clustername"]
    links = link_args(params)
    if not links:
        links = {0: {"address": host.address}}  # PVE falls back to the node's own IP as link0
    nodeid = params.get("nodeid") or 1
    votes = params.get("votes") or 1

    def finish(task):
        fs = host.fs
        if fs.cluster_name:  # another create won the race while this one ran
            raise ApiError(500, "cluster config '%s' already exists" % CLUSTER_CONF)
        task.log("Writing corosync config to %s" % CLUSTER_CONF)
        entry = {"name": host.name, "nodeid": nodeid, "quorum_votes": votes}
        interfaces = {}
        for number, link in sorted(links.items()):
            entry["ring%d_addr" % number] = link["address"]
            interfaces[str(number)] = {"linknumber": str(number)}
            if link.get("priority"):
                interfaces[str(number)]["knet_link_priority"] = str(link["priority"])
        fs.cluster_name = name
        fs.corosync_nodes = {host.name: entry}
        fs.totem = {"cluster_name": name, "config_version": 1, "interface": interfaces, "ip_version": "ipv4-6",
                    "link_mode": "passive", "secauth": "on", "version": "2"}
        if params.get("token-coefficient") is not None:
            fs.totem["token_coefficient"] = params["token-coefficient"]
        fs.config_version = 1
        task.log("Restart corosync and cluster filesystem")

    return sim.start_task(host, "clustercreate", name, req.identity.authid if req.identity else "root@pam",
                          CREATE_SECONDS, finish)


@routes("GET", "/cluster/config/nodes")
def config_nodes(req):
    result = []
    for name, entry in node_entries(req.fs).items():
        item = dict(entry)
        item["node"] = name
        result.append(item)
    return result


@routes("GET", "/cluster/config/totem")
def config_totem(req):
    return totem_of(req.fs)


@routes("GET", "/cluster/config/qdevice")
def config_qdevice(req):
    return {}  # no QDevice is ever configured in the simulator


@routes("GET", "/cluster/config/join")
def config_join_info(req):
    fs = req.fs
    if not fs.cluster_name:
        # PVE answers 424 (HTTP_FAILED_DEPENDENCY) here
        raise ApiError(424, "node is not in a cluster, no join info available!")
    nodename = req.params.get("node") or req.host.name
    if nodename not in fs.corosync_nodes:
        raise ApiError(500, "unknown node '%s'" % nodename)
    nodelist = []
    for name, entry in node_entries(fs).items():
        item = dict(entry)
        member = req.sim.hosts.get(name)
        if member is not None:
            item["pve_fp"] = node_certificate_fingerprint(member)
            item["pve_addr"] = member.address
        nodelist.append(item)
    return {"nodelist": nodelist, "preferred_node": nodename, "totem": totem_of(fs), "config_digest": config_digest(fs)}


def add_node(sim, fs, name, params, log=None):
    """PVE's addnode on the cluster ``fs``: validate and add ``name`` to the nodelist.

    Returns the warnings list.  Raises ApiError with PVE's wording on failure.
    """
    apiversion = params.get("apiversion") or 0
    sim.require_quorum(fs)
    if not fs.cluster_name or not fs.corosync_nodes:
        # verify_conf on a host without corosync.conf
        raise ApiError(500, "invalid corosync.conf", {"error0": "no nodes found"})
    nodelist = fs.corosync_nodes
    links = link_args(params)

    for link in links.values():
        addr = link["address"]
        for other, entry in nodelist.items():
            if other == name:
                continue  # re-adding a node with force may reuse its own address
            for number in range(MAX_LINK_INDEX + 1):
                key = "ring%d_addr" % number
                if entry.get(key) == addr:
                    raise ApiError(500, "corosync: address '%s' already used on link %s by node '%s'" % (addr, key, other))

    cluster_links = set()
    any_node = next(iter(nodelist.values()))
    for key in any_node:
        if key.startswith("ring") and key.endswith("_addr"):
            cluster_links.add(int(key[4:-5]))

    new_node_ip = params.get("new_node_ip")
    if not new_node_ip and len(links) == 1 and apiversion == 0:
        new_node_ip = links.pop(next(iter(links)))["address"]  # legacy single-link fallback
    if links:
        for number in range(MAX_LINK_INDEX + 1):
            if number in cluster_links and number not in links:
                raise ApiError(500, "corosync: link %d exists in cluster config but wasn't specified for new node" % number)
            if number not in cluster_links and number in links:
                raise ApiError(500, "corosync: link %d specified for new node doesn't exist in cluster config" % number)
    else:
        if not new_node_ip:
            raise ApiError(500, "no links and no fallback ip (new_node_ip) given, cannot join cluster")
        if len(cluster_links) != 1:
            raise ApiError(500, "no links given but multiple links found on other nodes, fallback only supported on single-link clusters")
        links = {next(iter(cluster_links)): {"address": new_node_ip}}

    nodeid = params.get("nodeid")
    votes = params.get("votes")
    existing = nodelist.get(name)
    if existing is not None:
        nodeid = nodeid or int(existing["nodeid"])
        votes = int(existing.get("quorum_votes", 1)) if votes is None else votes
        if int(existing.get("quorum_votes", 1)) == votes and int(existing["nodeid"]) == nodeid and params.get("force"):
            if log:
                log("forcing overwrite of configured node '%s'" % name)
        else:
            raise ApiError(500, "can't add existing node '%s'" % name)
    elif not nodeid:
        used = {int(e["nodeid"]) for e in nodelist.values()}
        nodeid = 1
        while nodeid in used:
            nodeid += 1
    if votes is None:
        votes = 1

    entry = {"name": name, "nodeid": nodeid}
    if votes:
        entry["quorum_votes"] = votes
    for number, link in links.items():
        entry["ring%d_addr" % number] = link["address"]
    nodelist[name] = entry
    _bump_version(fs)
    return []


@routes("POST", "/cluster/config/nodes/{node}")
def config_add_node(req):
    """The API half of a join (PVE: "for internal use"); only edits the nodelist."""
    add_node(req.sim, req.fs, req.params["node"], req.params)
    return {"corosync_authkey": req.fs.corosync_authkey,
            "corosync_conf": corosync_conf_text(req.fs), "warnings": []}


@routes("DELETE", "/cluster/config/nodes/{node}")
def config_delete_node(req):
    """Remove a node from corosync; the removed host becomes a standalone host."""
    sim, fs, target = req.sim, req.fs, req.params["node"]
    if target == req.host.name:
        raise ApiError(500, "Cannot delete myself from cluster!")
    sim.require_quorum(fs)
    found = None
    for name, entry in fs.corosync_nodes.items():
        if target in (name, entry.get("ring0_addr"), entry.get("ring1_addr")):
            found = name
            break
    if found is None:
        raise ApiError(500, "Node/IP: %s is not a known host of the cluster." % target)
    del fs.corosync_nodes[found]
    _bump_version(fs)
    removed = sim.hosts.get(found)
    if removed is not None and removed.fs is fs:
        separate = fresh_fs(sim, fs)
        for vmid, guest in list(fs.guests.items()):
            if guest.node == found:  # its guest configs stay with it
                separate.guests[vmid] = fs.guests.pop(vmid)
        removed.fs = separate
    return None


# --- joining (runs on the joining host) ---------------------------------------

@routes("POST", "/cluster/config/join")
def config_join(req):
    host, sim = req.host, req.sim
    params = dict(req.params)
    user = req.identity.authid if req.identity else "root@pam"

    def finish(task):
        _join(sim, host, params, task)

    return sim.start_task(host, "clusterjoin", "", user, JOIN_SECONDS, finish)


def _join(sim, host, params, task):
    log = task.log
    links = link_args(params)
    force = bool(params.get("force"))

    # assert_joinable
    errors = []
    clustered = bool(host.fs.cluster_name)
    if clustered:
        errors.append("authentication key '%s' already exists" % AUTHKEY)
        errors.append("cluster config '%s' already exists" % CLUSTER_CONF)
    if host.fs.guests:
        errors.append("this host already contains virtual guests")
    if clustered:
        errors.append("corosync is already running, is this node already in a cluster?!")
    for number, link in sorted(links.items()):
        addr = link["address"]
        if not is_ip(addr) and addr == host.name:
            addr = host.address
        if not is_ip(addr):
            errors.append("link%d: cannot use '%s': hostname lookup '%s' failed - failed to get address info for: %s: Name or service not known" % (number, addr, addr, addr))
        elif addr not in local_addresses(host):
            errors.append("link%d: cannot use IP '%s', not found on local node!" % (number, addr))
    if errors:
        log("detected the following error(s):")
        for err in errors:
            log("* %s" % err)
        # a member of another cluster cannot be forced over in the simulator: it would
        # leave two clusters claiming the same host
        if not force or clustered:
            raise ApiError(500, "Check if node may join a cluster failed!")
        log("")
        log("WARNING : detected error but forced to continue!")

    hostname = params["hostname"]
    log("Establishing API connection with host '%s'" % hostname)
    peer = find_host(sim, hostname)
    if peer is None or not peer.online or peer is host:
        reason = "Connection refused" if peer is not None else "Name or service not known"
        raise ApiError(500, "500 Can't connect to %s:8006 (%s)" % (hostname, reason))
    fingerprint = served_fingerprint(peer)
    if fingerprint and params["fingerprint"].upper() != fingerprint.upper():
        raise ApiError(500, "fingerprint '%s' not verified, abort!" % fingerprint)
    if params.get("password") != sim.root_password:
        raise ApiError(500, "401 authentication failure")
    log("Login succeeded.")
    log("check cluster join API version")

    add_params = {"apiversion": JOIN_API_VERSION}
    for key in ("force", "nodeid", "votes"):
        if params.get(key) is not None:
            add_params[key] = params[key]
    for number, link in links.items():
        add_params["link%d" % number] = print_link(link)
    if not links:
        add_params["new_node_ip"] = host.address
        log("No cluster network links passed explicitly, fallback to local node IP '%s'" % host.address)

    log("Request addition of this node")
    cluster_fs = peer.fs
    try:
        add_node(sim, cluster_fs, host.name, add_params, log)
    except ApiError as err:
        log("An error occurred on the cluster node: %s" % err.message)
        for key in sorted(err.errors or {}):
            log("%s %s" % ("*" if key.startswith("warning") else "!", err.errors[key]))
        raise ApiError(500, "Cluster join aborted!")

    log("Join request OK, finishing setup locally")
    log("stopping pve-cluster service")
    log("backup old database to '/var/lib/pve-cluster/backup/config-%d.sql.gz'" % int(time.time()))
    log("waiting for quorum...OK")
    # The joiner's own /etc/pve is replaced by the cluster's: its guests, users and
    # tickets signed with its old key are gone; it now reads and writes the shared fs.
    host.fs = cluster_fs
    # PVE's finish_join deletes the joiner's old /etc/pve database, and its node directory
    # /etc/pve/nodes/<node> goes with it: a custom certificate (pveproxy-ssl.pem and key)
    # and the node config (description, wakeonlan, ...) are gone after a join
    host.custom_cert = None
    host.node_config = {}
    log("(re)generate node files")
    log("generate new node certificate")
    server = getattr(sim, "server", None)
    if server is not None:
        # like PVE (updatecerts_and_ssh(1)), the joiner gets a new pve-ssl certificate
        # from the cluster's CA and pveproxy restarts: its fingerprint changes
        server.issue_certificate(host)
        server.reload_certificate(host)
    elif host.cert_pem:
        host.fingerprint = certs.fingerprint(host.cert_pem)
    log("merge authorized SSH keys")
    log("generated new node certificate, restart pveproxy and pvedaemon services")
    log("successfully added node '%s' to cluster." % host.name)


# --- /cluster/status -----------------------------------------------------------

@routes("GET", "/cluster/status")
def cluster_status(req):
    sim, fs, local = req.sim, req.fs, req.host
    if not fs.cluster_name:
        # PVE's stand-in entry when no cluster is defined
        return [{"type": "node", "id": "node/%s" % local.name, "name": local.name, "ip": local.address,
                 "local": 1, "nodeid": 0, "online": 1, "level": subscription_level(local)}]
    result = [{"type": "cluster", "id": "cluster", "name": fs.cluster_name, "version": fs.config_version,
               "nodes": len(fs.corosync_nodes), "quorate": 1 if sim.quorate(fs) else 0}]
    for name in sorted(fs.corosync_nodes):
        entry = fs.corosync_nodes[name]
        member = sim.hosts.get(name)
        online = member is not None and member.online and member.fs is fs
        item = {"type": "node", "id": "node/%s" % name, "name": name, "nodeid": int(entry["nodeid"]),
                "local": 1 if name == local.name else 0, "online": 1 if online else 0}
        if member is not None:
            item["ip"] = member.address
        elif entry.get("ring0_addr"):
            item["ip"] = entry["ring0_addr"]
        if online:
            item["level"] = subscription_level(member)
        result.append(item)
    return result
