"""The request pipeline short of HTTP: tick, route, validate, authorise, proxy, handle.

:func:`dispatch` is what both the HTTPS servers and in-process test calls use, so a
handler behaves the same whichever way it is reached.
"""

from pvesim import returns, schema
from pvesim.errors import ApiError
from pvesim.routing import Request, match

# The calls pveproxy serves without a ticket (PVE/HTTPServer.pm auth_handler, $require_auth = 0).
NO_AUTH = {("GET", "/access/domains"), ("GET", "/access/ticket"), ("POST", "/access/ticket"),
           ("POST", "/access/vncticket"), ("POST", "/access/openid/login"), ("POST", "/access/openid/auth-url")}

# PVE's proxy error when pveproxy cannot reach the node a request is for.
PROXY_ERROR = (595, "No route to host")


def not_implemented(method, path):
    return ApiError(501, "Method '%s %s' not implemented" % (method, path))


def to_pve_json(value):
    """Booleans as 0/1, as PVE's JSON answers carry them."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict):
        return {k: to_pve_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_pve_json(v) for v in value]
    return value


def resolve(method, path, version=schema.DEFAULT_VERSION):
    """``(template, path_params, handler, schema_info)`` or raise PVE's 501."""
    found = match(method, path)
    if found is None or found[2] is None:
        raise not_implemented(method, path)
    template, path_params, handler = found
    info = schema.method_info(template, method, version)
    if info is None:  # a route this PVE release does not have (PVE 8.4: HA rules), reported as PVE would
        raise not_implemented(method, path)
    return template, path_params, handler, info


def dispatch(sim, host, method, path, params, identity):
    """Run one API call on ``host`` and return what goes under ``"data"``.

    ``path`` is the API path without ``/api2/json`` (e.g. ``/nodes/pve1/status``);
    ``params`` maps names to strings, lists of strings (repeated form keys) or JSON
    values; ``identity`` is the authenticated caller (None: not authenticated).
    Raises :class:`ApiError` with PVE's status and message.
    """
    method = method.upper()
    with sim.lock:
        sim.tick()
        # pve-manager PVE/HTTPServer.pm auth_handler runs before the route lookup, and only a
        # fixed list of calls goes without a ticket: an unknown path without one is 401 too
        if identity is None and (method, path) not in NO_AUTH:
            raise ApiError(401, "No ticket")
        template, path_params, handler, info = resolve(method, path, sim.pve_version)
        if sim.faults is not None:
            sim.faults.before_dispatch(host, method, path, template)
        # Like pveproxy: who is asking is settled before the parameters are looked at.
        permissions = info.get("permissions") or {}
        if permissions.get("user") != "world" and identity is None:
            raise ApiError(401, "No ticket")
        # pve-manager PVE/HTTPServer.pm rest_handler: a parameter the URI already defines must
        # carry the same value; a conflicting one is refused before anything else is checked
        for name, value in (params or {}).items():
            if name in path_params and value != path_params[name]:
                raise ApiError.param({name: "duplicate parameter (already defined in URI) with conflicting values!"})
        if identity is not None and identity.tokenid and not int(info.get("allowtoken", 1)):
            # PVE::HTTPServer's raise_perm_exc; the reason phrase is the first line of
            # "Permission check failed (URI '...' not available ..., need proper ticket.\n)"
            raise ApiError(403, "Permission check failed (URI '%s' not available with API token, "
                                "need proper ticket." % path)

        raw = dict(params or {})
        raw.update(path_params)  # same values as any same-named parameter (checked above)
        # PVE's order: permissions (on the raw parameters), then the proxy to the target
        # node, then the target validates the parameters and runs the method.
        if sim.access is not None:
            sim.access.check_permissions(host.fs, identity, permissions, raw)

        target = host
        proxyto = info.get("proxyto")
        if proxyto and isinstance(raw.get(proxyto), str) and raw[proxyto] != host.name:
            target = sim.node_of(host, raw[proxyto])
            if not target.online:
                raise ApiError(*PROXY_ERROR)
        typed = schema.validate(info, raw)
        request = Request(method=method, template=template, path=path, params=typed, sim=sim,
                          host=target, identity=identity, received_by=host.name)
        answer = to_pve_json(handler(request))
        if sim.check_returns:
            returns.verify(method, template, info, answer)
        return answer
