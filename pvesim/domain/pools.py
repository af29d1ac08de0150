"""Resource pools (user.cfg ``pool:`` entries) and their members, as pve-manager's
``PVE/API2/Pool.pm`` lists them.

``fs.pools``: poolid -> ``{"comment": text (optional), "storage": [storeid, ...]}``.  A guest's
pool is ``Guest.pool`` (user.cfg's ``vms`` map: a guest is in at most one pool), so the VM
members of a pool are the guests that name it.
"""

from pvesim.domain.cluster_resources import guest_item
from pvesim.domain.storage_config import available_on, content_of, is_shared, storage_cfg, storage_status
from pvesim.errors import ApiError

# API2Tools.pm extract_vm_stats: what a guest member carries (no lock, tags, pool or hastate)
VM_STATS_KEYS = ("id", "vmid", "node", "type", "status", "uptime", "name", "template", "maxcpu", "cpu", "maxmem",
                 "mem", "maxdisk", "disk", "netin", "netout", "diskread", "diskwrite", "memhost")


def pool_ids(fs):
    return sorted(fs.pools)


def vm_member(sim, fs, guest):
    """``extract_vm_stats``: the guest's figures as ``/cluster/resources`` has them."""
    item = guest_item(sim, fs, guest)
    return {key: item[key] for key in VM_STATS_KEYS if key in item}


def storage_member(sim, fs, storeid, section, local_node):
    """``extract_storage_stats`` for the local node, or the first node the storage is
    configured for when that is not the local one."""
    node = local_node
    nodes = sorted(n for n in str(section.get("nodes") or "").split(",") if n)
    if nodes and not available_on(section, node):
        node = nodes[0]
    item = {"id": "storage/%s/%s" % (node, storeid), "storage": storeid, "node": node, "type": "storage",
            "plugintype": section["type"], "status": "unknown", "shared": int(is_shared(section)),
            "content": ",".join(content_of(section))}
    host = sim.hosts.get(node)
    if host is not None and host.fs is fs and host.online:
        status = storage_status(sim, fs, host, storeid)
        if status.get("active"):
            item.update(maxdisk=status["total"], disk=status["used"], status="available")
    return item


def pool_info(sim, fs, poolid, local_node, member_type=None):
    """One pool as ``GET /pools?poolid=`` lists it (Pool.pm ``index``): ``members`` (its guests
    by VMID, then its storages, both sorted; ``type`` keeps one kind), ``comment`` when set,
    ``poolid``."""
    pool = fs.pools.get(poolid)
    if pool is None:
        raise ApiError(500, "pool '%s' does not exist" % poolid)
    members = []
    for vmid in sorted(str(v) for v in fs.guests):  # Perl sorts the VMIDs as strings
        guest = fs.guests[int(vmid)]
        if guest.pool != poolid or (member_type and member_type != guest.type):
            continue
        members.append(vm_member(sim, fs, guest))
    if member_type in (None, "storage"):
        cfg = storage_cfg(fs)
        for storeid in sorted(pool.get("storage") or []):
            if storeid in cfg:
                members.append(storage_member(sim, fs, storeid, cfg[storeid], local_node))
    info = {"members": members}
    if pool.get("comment") is not None:
        info["comment"] = pool["comment"]
    info["poolid"] = poolid
    return info


def load_pools(sim, resources):
    """Scenario ``resources``: the ``pool`` items and the pools the guests name become
    user.cfg pools of their cluster."""
    for fs in sim.filesystems():
        for item in resources:
            if item.get("type") == "pool" and item.get("pool"):
                fs.pools.setdefault(item["pool"], {})
        for guest in fs.guests.values():
            if guest.pool:
                fs.pools.setdefault(guest.pool, {})
