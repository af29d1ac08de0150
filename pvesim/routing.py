"""Route registry: maps (method, path template) to a handler function.

Each handler module in ``pvesim/handlers/`` declares its routes in a :class:`RouteTable`
(``routes = RouteTable()``, ``@routes("GET", "/version")``); importing it serves nothing.
:func:`pvesim.registry.register_routes` adds the tables to :data:`ROUTES` in the order
``pvesim.registry.HANDLER_MODULES`` declares.  A handler takes a :class:`Request` and
returns the value that goes under ``"data"``; it raises :class:`pvesim.errors.ApiError`
for failures.  Parameters arrive already validated against the official schema and
converted to Python types (integers and booleans as ``int``, numbers as ``float``),
path placeholders included.
"""

import re
from dataclasses import dataclass

from pvesim.errors import ApiError

ROUTES = {}  # (method, template) -> handler, filled by register()
_REGISTERED_TABLES = []  # the RouteTables already in ROUTES


class RouteTable:
    """The routes one handler module defines, in the order it defines them."""

    def __init__(self):
        self.entries = []  # [(method, template, handler)]

    def __call__(self, method, template):
        """Decorator: ``@routes("GET", "/nodes/{node}/status")``."""

        def add(handler):
            self.add(method, template, handler)
            return handler

        return add

    def add(self, method, template, handler, *args):
        """Serve ``handler(req, *args)`` for ``method`` on ``template``."""
        if args:
            bound = handler

            def handler(req):
                return bound(req, *args)

        self.entries.append((method, template, handler))


def register(table):
    """Add ``table``'s routes to :data:`ROUTES` (a table already added is left alone)."""
    if any(table is done for done in _REGISTERED_TABLES):
        return
    for method, template, handler in table.entries:
        key = (method, template)
        if key in ROUTES:
            raise RuntimeError("route registered twice: %s %s" % key)
        ROUTES[key] = handler
    _REGISTERED_TABLES.append(table)


@dataclass
class Identity:
    """Who is calling: a user, or an API token of that user."""

    userid: str  # e.g. "root@pam"
    tokenid: str = None  # "name" of "root@pam!name", when a token authenticated
    privsep: bool = False  # token privileges limited to the token's own ACLs

    @property
    def authid(self):
        return "%s!%s" % (self.userid, self.tokenid) if self.tokenid else self.userid


@dataclass
class Request:
    method: str
    template: str  # the matched path template, e.g. "/nodes/{node}/status"
    path: str  # the concrete path, e.g. "/nodes/pve-a/status"
    params: dict  # validated, typed parameters (path placeholders included)
    sim: object  # the Simulator
    host: object  # the Host whose endpoint received the request
    identity: Identity = None  # None only for "world" methods (POST /access/ticket)
    received_by: str = None  # the node whose endpoint received it (``host`` is the proxy target)

    @property
    def fs(self):
        """The cluster file system (/etc/pve) the receiving host sees."""
        return self.host.fs

    def has_priv(self, path, privilege):
        """True when the caller holds ``privilege`` on ACL ``path``."""
        return self.sim.access.has_priv(self.fs, self.identity, path, privilege)

    def allowed(self, path, *privileges):
        """True when the caller holds any of ``privileges`` on ``path``; always for in-process
        calls without access control or caller (what a list shows them)."""
        if self.sim.access is None or self.identity is None:
            return True
        return any(self.has_priv(path, privilege) for privilege in privileges)

    @property
    def authid(self):
        """Who a task started by this request runs as (root@pam for a call without a caller)."""
        return self.identity.authid if self.identity is not None else "root@pam"

    def require(self, path, privilege):
        if not self.has_priv(path, privilege):
            raise ApiError.forbidden(path, privilege)


_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
_COMPILED = {}


def _compile(template):
    pattern = _COMPILED.get(template)
    if pattern is None:
        parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ...
        regex = "".join(re.escape(part) if i % 2 == 0 else "(?P<%s>[^/]+)" % part for i, part in enumerate(parts))
        pattern = _COMPILED[template] = re.compile("^" + regex + "$")
    return pattern


def match(method, path):
    """Find the route for a concrete path.

    Returns ``(template, path_params, handler)``; ``handler`` is None when the path
    exists for other methods only; the whole result is None for an unknown path.
    Literal templates win over placeholders (``/nodes/{node}/tasks`` vs ``/nodes/x/tasks``).
    """
    found = None
    for (route_method, template), handler in ROUTES.items():
        m = _compile(template).match(path)
        if not m:
            continue
        literal_score = len(_PLACEHOLDER.sub("", template))
        candidate = (literal_score, template, m.groupdict(), handler if route_method == method else None)
        if found is None or candidate[0] > found[0] or (candidate[0] == found[0] and found[3] is None and candidate[3] is not None):
            found = candidate
    if found is None:
        return None
    return found[1], found[2], found[3]

