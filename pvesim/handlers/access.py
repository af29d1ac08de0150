"""Login and permission queries (/access/ticket, /access/permissions).

Tickets, privileges and the users a scenario sets up are :mod:`pvesim.access`.
"""

from pvesim.access import ROOT
from pvesim.errors import ApiError
from pvesim.routing import Identity, RouteTable

routes = RouteTable()


def _caps(sim, fs, identity):
    """The ``cap`` object of a login answer: privileges by GUI area."""
    def pick(path, prefixes, extra=()):
        privs = sim.access.privileges(fs, identity, path)
        return {p: 1 for p in sorted(privs) if p.startswith(prefixes) or p in extra}

    return {
        "vms": pick("/vms", ("VM.",), ("Permissions.Modify",)),
        "storage": pick("/storage", ("Datastore.",), ("Permissions.Modify",)),
        "access": pick("/access", ("User.", "Group.", "Realm."), ("Permissions.Modify",)),
        "nodes": pick("/nodes", ("Sys.",), ("Permissions.Modify",)),
        "dc": pick("/", ("SDN.",), ("Sys.Audit", "Sys.Modify", "Permissions.Modify")),
        "sdn": pick("/sdn", ("SDN.",), ("Permissions.Modify",)),
        "mapping": pick("/mapping", ("Mapping.",), ("Permissions.Modify",)),
    }


@routes("POST", "/access/ticket")
def create_ticket(req):
    """PVE's create_ticket (pve-access-control API2/AccessControl.pm).

    - ``password`` may be a valid ticket of the user (or of root@pam): it is renewed.
    - A user with TOTP who sends no ``otp`` gets a half ticket and ``NeedTFA: 1``; the
      login completes with ``tfa-challenge`` = that ticket and ``password`` =
      ``totp:<code>`` (what proxmoxer does). ``otp`` = ``totp:<code>`` completes it at once.
    - With ``path`` and ``privs`` the credentials and privileges are only checked: the
      answer is ``{"username"}``, no ticket.
    - Every failure is 401 ``authentication failure``; ``cap`` comes with complete logins,
      ``clustername`` only for users with Sys.Audit on ``/``.
    """
    sim, fs, p = req.sim, req.fs, req.params
    username = p["username"]
    if p.get("realm") and "@" not in username:
        username = "%s@%s" % (username, p["realm"])
    password = p["password"]
    tfa_challenge = p.get("tfa-challenge")
    challenge = None
    renewed = None
    if tfa_challenge is None and password.startswith("PVE:"):
        renewed = sim.access.verify_ticket(fs, password)
        if sim.access.is_tfa_ticket(fs, password):
            raise ApiError(401, "authentication failure")  # "incomplete ticket"
    if renewed is not None and renewed in (username, ROOT) and sim.access.user(fs, username) is not None \
            and sim.access._user_usable(sim.access.user(fs, username)):
        userid = username  # "Note: root@pam can create tickets for other users"
    else:
        userid, challenge = sim.access.authenticate(fs, username, password, otp=p.get("otp"),
                                                    tfa_challenge=tfa_challenge)
    identity = Identity(userid=userid)
    if p.get("path") and p.get("privs"):
        if challenge is not None:
            raise ApiError(401, "authentication failure")
        privs = [x for x in p["privs"].replace(";", ",").split(",") if x]
        held = sim.access.privileges(fs, identity, p["path"])
        if not privs or not set(privs) <= held:
            raise ApiError(401, "authentication failure")  # "no permission (path, privs)"
        answer = {"username": userid}
    elif challenge is not None:
        answer = {"username": userid, "ticket": sim.access.make_tfa_ticket(fs, userid, challenge),
                  "CSRFPreventionToken": sim.access.make_csrf(fs, userid), "NeedTFA": 1}
    else:
        answer = {"username": userid, "ticket": sim.access.make_ticket(fs, userid),
                  "CSRFPreventionToken": sim.access.make_csrf(fs, userid), "cap": _caps(sim, fs, identity)}
    if fs.cluster_name and "Sys.Audit" in sim.access.privileges(fs, identity, "/"):
        answer["clustername"] = fs.cluster_name
    return answer


@routes("GET", "/access/ticket")
def get_ticket(req):
    return None


@routes("GET", "/access")
def access_index(req):
    return [{"subdir": s} for s in ("users", "groups", "roles", "acl", "domains", "openid", "tfa", "ticket",
                                    "password", "permissions", "vncticket")]


@routes("GET", "/access/permissions")
def permissions(req):
    sim, fs, caller = req.sim, req.fs, req.identity
    target = caller
    userid = req.params.get("userid")
    if userid and userid != caller.authid:
        user_part, _, token = userid.partition("!")
        own_token = caller.tokenid is None and user_part == caller.userid
        if not own_token and not req.has_priv("/access", "Sys.Audit"):
            raise ApiError.forbidden("/access", "Sys.Audit")
        privsep = True
        if token:
            info = (fs.users.get(user_part) or {}).get("tokens", {}).get(token)
            if info is None:
                raise ApiError(500, "no such token '%s' for user '%s'" % (token, user_part))
            privsep = bool(int(info.get("privsep", 1)))
        elif user_part != ROOT and user_part not in fs.users:
            raise ApiError(500, "no such user '%s'" % user_part)
        target = Identity(userid=user_part, tokenid=token or None, privsep=privsep)
    return sim.access.permissions(fs, target, req.params.get("path"))
