"""GET /cluster/resources: what the caller may see of the items
:mod:`pvesim.domain.cluster_resources` computes, in pve-manager ``API2/Cluster.pm``
``resources`` order: pools, guests, nodes, storage, SDN."""

from pvesim.domain.cluster_resources import add_to_pool, guest_item, node_item, pool_item, sdn_item, storage_items
from pvesim.domain.storage_config import volume_usage
from pvesim.routing import RouteTable

routes = RouteTable()


@routes("GET", "/cluster/resources")
def cluster_resources(req):
    sim, fs = req.sim, req.fs
    wanted = req.params.get("type")
    members = sorted(sim.members(fs), key=lambda h: h.name)
    result = []
    pools = {}
    if wanted is None:  # pool items come only without a type filter ('pool' is not in its enum)
        for pool in sorted(fs.pools):
            if req.allowed("/pool/%s" % pool, "Pool.Audit"):
                pools[pool] = pool_item(pool)
                result.append(pools[pool])
    if wanted in (None, "vm"):
        for guest in sorted(fs.guests.values(), key=lambda g: str(g.vmid)):  # Perl sorts VMIDs as strings
            item = guest_item(sim, fs, guest)
            if guest.pool in pools:  # a pool's figures count every guest, seen or not
                add_to_pool(pools[guest.pool], item)
            if not req.allowed("/vms/%d" % guest.vmid, "VM.Audit"):
                continue
            if "pool" in item and not req.allowed("/pool/%s" % item["pool"], "Pool.Audit"):
                del item["pool"]
            result.append(item)
    if wanted in (None, "node"):
        for host in members:
            result.append(node_item(sim, host, audit=req.allowed("/nodes/%s" % host.name, "Sys.Audit")))
    if wanted in (None, "storage"):
        usage = volume_usage(fs)  # once, not once per node: a cluster of 100 nodes and 10,000 guests stays fast
        items = [item for host in members for item in storage_items(sim, fs, host, usage)]
        for item in sorted(items, key=lambda i: i["storage"]):  # each storage, then each node
            if req.allowed("/storage/%s" % item["storage"], "Datastore.Audit", "Datastore.AllocateSpace"):
                result.append(item)
    if wanted in (None, "sdn"):
        for host in members:
            if req.allowed("/sdn/zones/localnetwork", "SDN.Audit"):
                result.append(sdn_item(host))
    return result
