"""The items of GET /cluster/resources: pools, guests, nodes and storage, computed from the
current state so that a migration or a start changes what the next read shows.  pve-manager
``API2/Cluster.pm`` ``resources`` lists them in that order; the node items follow
``API2Tools.pm`` ``extract_node_stats``."""

import time

from pvesim.domain.guests import ensure_config, uptime
from pvesim.domain.ha_manager import hastate, node_hastate
from pvesim.domain.storage_config import available_on, is_enabled, storage_cfg, storage_status, volume_usage


def node_item(sim, host, audit=True):
    """``extract_node_stats``: an offline node has no ``cpu``, ``mem``, ``disk`` or ``uptime``
    (its last ``maxcpu``/``maxmem``/``maxdisk`` stay); without Sys.Audit on the node only
    ``id``, ``node``, ``type``, ``status`` and ``level``.  ``hastate`` is the CRM's node state
    (``online``, ``maintenance``, ``unknown``) while an HA manager runs."""
    item = {"id": "node/%s" % host.name, "type": "node", "node": host.name, "level": "",
            "status": "online" if host.online else "offline"}
    if audit:
        item.update(maxcpu=host.maxcpu, maxmem=host.maxmem, maxdisk=host.maxdisk)
        if host.online:
            item.update(cpu=round(host.cpu_fraction(), 6), mem=host.used_mem(), disk=host.disk,
                        uptime=max(int(time.time() - host.boot_time), 0))
    item["cgroup-mode"] = 2
    state = node_hastate(sim, host.fs, host)
    if state:
        item["hastate"] = state
    return item


def guest_item(sim, fs, guest):
    ensure_config(fs, guest)
    host = sim.hosts.get(guest.node)
    reachable = host is not None and host.online
    running = guest.running and reachable
    item = {
        "id": guest.id, "type": guest.type, "vmid": guest.vmid, "name": guest.name, "node": guest.node,
        "status": guest.status if reachable else "unknown",
        "cpu": round(guest.cpu, 6) if running else 0, "maxcpu": guest.maxcpu,
        "mem": guest.mem if running else 0, "maxmem": guest.maxmem,
        "disk": guest.disk, "maxdisk": guest.maxdisk, "uptime": uptime(sim, guest) if running else 0,
        "template": int(guest.template), "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
    }
    if guest.type == "qemu":
        item["memhost"] = item["mem"]
    if guest.tags:
        item["tags"] = guest.tags
    if guest.pool:
        item["pool"] = guest.pool
    if guest.lock:
        item["lock"] = guest.lock
    state = hastate(fs, guest)
    if state:
        item["hastate"] = state
    return item


def storage_items(sim, fs, host, usage=None):
    """The storage items of one node (``usage``: :func:`volume_usage`, computed once for all nodes)."""
    usage = volume_usage(fs) if usage is None else usage
    items = []
    for storeid, section in sorted(storage_cfg(fs).items()):
        # PVE::Storage::storage_check_enabled($cfg, $storeid, $node, 1): disabled storages and
        # storages not configured for the node are left out
        if not is_enabled(section) or not available_on(section, host.name):
            continue
        status = storage_status(sim, fs, host, storeid, usage)
        item = {"id": "storage/%s/%s" % (host.name, storeid), "type": "storage", "storage": storeid,
                "node": host.name, "plugintype": section["type"], "content": status["content"],
                "shared": status["shared"], "status": "available" if status["active"] else "unknown"}
        if status["active"]:
            item.update(disk=status["used"], maxdisk=status["total"])
        items.append(item)
    return items


def sdn_item(host):
    return {"id": "sdn/%s/localnetwork" % host.name, "type": "sdn", "sdn": "localnetwork",
            "node": host.name, "status": "ok" if host.online else "unknown"}


def pool_item(pool):
    """A pool's item (``type`` ``pool``); :func:`add_to_pool` adds its running guests' figures."""
    return {"id": "/pool/%s" % pool, "pool": pool, "type": "pool"}


def add_to_pool(pool_entry, guest_entry):
    """API2/Cluster.pm: a running guest of the pool adds to the pool item's uptime (the
    longest), mem, maxmem, maxcpu and cpu (weighted by maxcpu)."""
    if not guest_entry.get("uptime"):
        return
    pool_entry["uptime"] = max(pool_entry.get("uptime", 0), guest_entry["uptime"])
    pool_entry["mem"] = pool_entry.get("mem", 0) + guest_entry["mem"]
    pool_entry["maxmem"] = pool_entry.get("maxmem", 0) + guest_entry["maxmem"]
    cpu, maxcpu = pool_entry.get("cpu", 0), pool_entry.get("maxcpu", 0)
    total = maxcpu + guest_entry["maxcpu"]
    pool_entry["cpu"] = (cpu * maxcpu + guest_entry["cpu"] * guest_entry["maxcpu"]) / total if total else 0
    pool_entry["maxcpu"] = total
