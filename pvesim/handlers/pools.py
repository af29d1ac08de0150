"""Pool routes: ``GET /pools`` and ``GET /pools/{poolid}`` (pve-manager ``PVE/API2/Pool.pm``);
the pools themselves are :mod:`pvesim.domain.pools`."""

from pvesim.domain.pools import pool_ids, pool_info
from pvesim.routing import RouteTable

routes = RouteTable()


@routes("GET", "/pools")
def index(req):
    """Pool.pm ``index``: with ``poolid`` that pool with its members (PVE's permission check
    there is made with ``noerr`` and its result unused, so it refuses nobody); without it every
    pool the caller has Pool.Audit on, ``poolid`` and ``comment`` only."""
    poolid = req.params.get("poolid")
    if poolid:
        return [pool_info(req.sim, req.fs, poolid, req.host.name, req.params.get("type"))]
    result = []
    for pool in pool_ids(req.fs):
        if not req.allowed("/pool/%s" % pool, "Pool.Audit"):
            continue
        entry = {"poolid": pool}
        if req.fs.pools[pool].get("comment") is not None:
            entry["comment"] = req.fs.pools[pool]["comment"]
        result.append(entry)
    return result


@routes("GET", "/pools/{poolid}")
def read_pool(req):
    """Pool.pm ``read_pool`` (deprecated): the first item of ``index`` with ``poolid``.  PVE's
    answer carries ``poolid`` too, which its returns schema (``additionalProperties`` 0) does
    not list; pvesim leaves it out so that the answer passes the schema check."""
    info = pool_info(req.sim, req.fs, req.params["poolid"], req.host.name, req.params.get("type"))
    info.pop("poolid")
    return info
