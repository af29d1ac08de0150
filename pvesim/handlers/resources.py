"""GET /cluster/resources: what the caller may see of the items
:mod:`pvesim.domain.cluster_resources` computes."""

from pvesim.domain.cluster_resources import guest_item, node_item, sdn_item, storage_items
from pvesim.routing import RouteTable

routes = RouteTable()


@routes("GET", "/cluster/resources")
def cluster_resources(req):
    sim, fs = req.sim, req.fs
    wanted = req.params.get("type")
    members = sorted(sim.members(fs), key=lambda h: h.name)
    result = []
    if wanted in (None, "node"):
        for host in members:
            if req.allowed("/nodes/%s" % host.name, "Sys.Audit"):
                result.append(node_item(sim, host))
    if wanted in (None, "vm"):
        for guest in sorted(fs.guests.values(), key=lambda g: g.vmid):
            if req.allowed("/vms/%d" % guest.vmid, "VM.Audit"):
                result.append(guest_item(sim, fs, guest))
    if wanted in (None, "storage"):
        for host in members:
            for item in storage_items(sim, fs, host):
                if req.allowed("/storage/%s" % item["storage"], "Datastore.Audit", "Datastore.AllocateSpace"):
                    result.append(item)
    if wanted in (None, "sdn"):
        for host in members:
            if req.allowed("/sdn/zones/localnetwork", "SDN.Audit"):
                result.append(sdn_item(host))
    return result
