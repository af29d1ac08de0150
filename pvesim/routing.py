"""Route registry: maps (method, path template) to a handler function.

Handlers live in ``pvesim/handlers/*.py`` and register with ``@route``.  A handler
takes a :class:`Request` and returns the value that goes under ``"data"``; it raises
:class:`pvesim.errors.ApiError` for failures.  Parameters arrive already validated
against the official schema and converted to Python types (integers and booleans as
``int``, numbers as ``float``), path placeholders included.
"""

import re
from dataclasses import dataclass, field

ROUTES = {}


def route(method, template):
    """Register ``handler`` for ``method`` on ``template`` (e.g. ``/nodes/{node}/status``)."""

    def register(handler):
        key = (method, template)
        if key in ROUTES:
            raise RuntimeError("route registered twice: %s %s" % key)
        ROUTES[key] = handler
        return handler

    return register


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
    extra: dict = field(default_factory=dict)

    @property
    def fs(self):
        """The cluster file system (/etc/pve) the receiving host sees."""
        return self.host.fs

    def has_priv(self, path, privilege):
        """True when the caller holds ``privilege`` on ACL ``path``."""
        return self.sim.access.has_priv(self.fs, self.identity, path, privilege)

    def require(self, path, privilege):
        from pvesim.errors import ApiError

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


def load_all_handlers():
    """Import every handler module so that its routes register."""
    import importlib
    import pkgutil

    import pvesim.handlers

    for info in pkgutil.iter_modules(pvesim.handlers.__path__):
        importlib.import_module("pvesim.handlers." + info.name)
    return ROUTES
