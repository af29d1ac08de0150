"""The items of GET /cluster/resources: nodes, guests and storage, computed from the current
state so that a migration or a start changes what the next read shows."""

import time

from pvesim.domain.guests import ensure_config, uptime
from pvesim.domain.ha_manager import hastate
from pvesim.domain.storage_config import available_on, storage_cfg, storage_status


def node_item(sim, host):
    item = {"id": "node/%s" % host.name, "type": "node", "node": host.name, "level": "",
            "maxcpu": host.maxcpu, "maxmem": host.maxmem, "maxdisk": host.maxdisk}
    if host.online:
        item.update(status="online", cpu=round(host.cpu_fraction(), 6), mem=host.used_mem(), disk=host.disk,
                    uptime=max(int(time.time() - host.boot_time), 0), **{"cgroup-mode": 2})
    else:
        item.update(status="offline", cpu=0, mem=0, disk=0, uptime=0)
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


def storage_items(sim, fs, host):
    items = []
    for storeid, section in sorted(storage_cfg(fs).items()):
        if not available_on(section, host.name):
            continue
        status = storage_status(sim, fs, host, storeid)
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
