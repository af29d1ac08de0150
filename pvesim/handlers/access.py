"""The /access routes: login, permission queries, users, API tokens, groups, roles, ACLs
and passwords (pve-access-control PVE/API2/AccessControl.pm, User.pm, Group.pm, Role.pm,
ACL.pm).

What they do to user.cfg, and every privilege, is :mod:`pvesim.access`.
"""

from pvesim import access
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
    """AccessControl.pm permissions: a caller may read its own privileges and those of its
    user's tokens; others' need Sys.Audit on /access. An unknown user or token holds nothing."""
    sim, fs, caller = req.sim, req.fs, req.identity
    userid = req.params.get("userid") or caller.authid
    user_part, _, token = userid.partition("!")
    if not (userid == caller.authid or (token and user_part == caller.authid)):
        req.require("/access", "Sys.Audit")
    target = Identity(userid=user_part, tokenid=token or None)
    return sim.access.permissions(fs, target, req.params.get("path"))


# --- users (User.pm) ------------------------------------------------------------------
@routes("GET", "/access/users")
def list_users(req):
    return access.list_users(req.sim.access, req.fs, req.identity, req.params.get("enabled"),
                             req.params.get("full", 0))


@routes("POST", "/access/users")
def create_user(req):
    access.create_user(req.fs, req.params)


@routes("GET", "/access/users/{userid}")
def read_user(req):
    return access.read_user(req.fs, req.params["userid"])


@routes("PUT", "/access/users/{userid}")
def update_user(req):
    access.update_user(req.fs, req.params)


@routes("DELETE", "/access/users/{userid}")
def delete_user(req):
    access.delete_user(req.fs, req.params["userid"])


# --- API tokens (User.pm) ---------------------------------------------------------------
@routes("GET", "/access/users/{userid}/token")
def list_tokens(req):
    return access.list_tokens(req.fs, req.params["userid"])


@routes("GET", "/access/users/{userid}/token/{tokenid}")
def read_token(req):
    return access.read_token(req.fs, req.params["userid"], req.params["tokenid"])


@routes("POST", "/access/users/{userid}/token/{tokenid}")
def generate_token(req):
    return access.generate_token(req.fs, req.params)


@routes("PUT", "/access/users/{userid}/token/{tokenid}")
def update_token(req):
    return access.update_token(req.fs, req.params)


@routes("DELETE", "/access/users/{userid}/token/{tokenid}")
def remove_token(req):
    access.remove_token(req.fs, req.params["userid"], req.params["tokenid"])


# --- groups (Group.pm) --------------------------------------------------------------------
@routes("GET", "/access/groups")
def list_groups(req):
    return access.list_groups(req.sim.access, req.fs, req.identity)


@routes("POST", "/access/groups")
def create_group(req):
    access.create_group(req.fs, req.params)


@routes("GET", "/access/groups/{groupid}")
def read_group(req):
    return access.read_group(req.sim.access, req.fs, req.params["groupid"])


@routes("PUT", "/access/groups/{groupid}")
def update_group(req):
    access.update_group(req.fs, req.params)


@routes("DELETE", "/access/groups/{groupid}")
def delete_group(req):
    access.delete_group(req.fs, req.params["groupid"])


# --- roles (Role.pm) ----------------------------------------------------------------------
@routes("GET", "/access/roles")
def list_roles(req):
    return access.list_roles(req.sim.access, req.fs)


@routes("POST", "/access/roles")
def create_role(req):
    access.create_role(req.sim.access, req.fs, req.params)


@routes("GET", "/access/roles/{roleid}")
def read_role(req):
    return access.read_role(req.sim.access, req.fs, req.params["roleid"])


@routes("PUT", "/access/roles/{roleid}")
def update_role(req):
    access.update_role(req.sim.access, req.fs, req.params)


@routes("DELETE", "/access/roles/{roleid}")
def delete_role(req):
    access.delete_role(req.sim.access, req.fs, req.params["roleid"])


# --- ACLs (ACL.pm) ------------------------------------------------------------------------
@routes("GET", "/access/acl")
def read_acl(req):
    return access.read_acl(req.sim.access, req.fs, req.identity)


@routes("PUT", "/access/acl")
def update_acl(req):
    access.update_acl(req.sim.access, req.fs, req.identity, req.params)


# --- passwords (AccessControl.pm) ------------------------------------------------------------
@routes("PUT", "/access/password")
def change_password(req):
    access.change_password(req.sim.access, req.fs, req.identity or Identity(ROOT), req.params)
