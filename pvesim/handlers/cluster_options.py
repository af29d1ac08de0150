"""GET and PUT /cluster/options (pve-manager ``API2/Cluster.pm`` get_options/set_options)."""

from pvesim.domain.cluster_options import options_answer, set_options
from pvesim.routing import RouteTable

routes = RouteTable()


@routes("GET", "/cluster/options")
def get_options(req):
    return options_answer(req.fs)


@routes("PUT", "/cluster/options")
def put_options(req):
    set_options(req.fs, dict(req.params))
    return None
