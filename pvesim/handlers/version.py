"""GET /version: the release row of :mod:`pvesim.domain.releases` for ``sim.pve_version``."""

from pvesim.domain.releases import release
from pvesim.routing import RouteTable

routes = RouteTable()


@routes("GET", "/version")
def version(req):
    info = release(req.sim)
    return {"version": info["version"], "release": info["release"], "repoid": info["repoid"], "console": "html5"}
