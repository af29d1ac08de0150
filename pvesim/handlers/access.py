"""Login and permission queries (/access/ticket, /access/permissions) and the scenario
keys that set up users, groups, roles, tokens and ACLs.

Scenario keys (see pvesim/README.md):

- ``users``: list of ``{"userid": "alice@pve", "password", "enable": 1, "expire": 0,
  "groups": ["ops"], "totp": "BASE32SECRET", "email", "comment", "firstname", "lastname"}``
- ``groups``: list of ``{"groupid", "comment", "users": ["alice@pve"]}``
- ``roles``: ``{"RoleName": ["VM.Audit", ...] or "VM.Audit,Sys.Audit"}``
- ``tokens``: list of ``{"tokenid": "alice@pve!ci", "secret", "privsep": 1, "expire": 0, "comment"}``
- ``acl``: list of ``{"path", "roleid", "users"|"groups"|"tokens": "a,b", "propagate": 1}``
  (the PUT /access/acl form) or ``{"path", "type", "ugid", "roleid", "propagate"}``
  (the GET /access/acl form)
"""

import uuid

from pvesim.access import ROOT, normalize_path
from pvesim.errors import ApiError
from pvesim.routing import Identity, RouteTable

routes = RouteTable()


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.replace(";", ",").split(",") if v]
    return list(value)


def _items(value, key):
    """A list of dicts, or a dict keyed by id, as a list of dicts carrying ``key``."""
    if isinstance(value, dict):
        return [dict(v or {}, **{key: k}) for k, v in value.items()]
    return list(value)


def load_groups(sim, value):
    for fs in sim.filesystems():
        for item in _items(value, "groupid"):
            fs.groups[item["groupid"]] = {"comment": item.get("comment", "")}
            for userid in _as_list(item.get("users")):
                user = fs.users.setdefault(userid, {"enable": 1, "expire": 0, "groups": [], "tokens": {}})
                if item["groupid"] not in user.setdefault("groups", []):
                    user["groups"].append(item["groupid"])


def load_users(sim, value):
    for fs in sim.filesystems():
        for item in _items(value, "userid"):
            user = fs.users.setdefault(item["userid"], {"groups": [], "tokens": {}})
            user.update({k: v for k, v in item.items() if k not in ("userid", "groups", "tokens")})
            user.setdefault("enable", 1)
            user.setdefault("expire", 0)
            for group in _as_list(item.get("groups")):
                fs.groups.setdefault(group, {"comment": ""})
                if group not in user["groups"]:
                    user["groups"].append(group)


def load_roles(sim, value):
    for fs in sim.filesystems():
        for roleid, privs in value.items():
            fs.roles[roleid] = set(_as_list(privs))


def load_tokens(sim, value):
    for fs in sim.filesystems():
        for item in _items(value, "tokenid"):
            userid, _, name = item["tokenid"].partition("!")
            user = fs.users.setdefault(userid, {"enable": 1, "expire": 0, "groups": [], "tokens": {}})
            user.setdefault("tokens", {})[name] = {
                "secret": item.get("secret") or item.get("value") or str(uuid.uuid4()),
                "privsep": int(item.get("privsep", 1)), "expire": int(item.get("expire", 0)),
                "comment": item.get("comment", ""),
            }


def load_acl(sim, value):
    for fs in sim.filesystems():
        for item in value:
            propagate = int(item.get("propagate", 1))
            entries = []
            if "ugid" in item:
                entries.append((item["type"], item["ugid"]))
            for kind, key in (("user", "users"), ("group", "groups"), ("token", "tokens")):
                entries.extend((kind, ugid) for ugid in _as_list(item.get(key)))
            for role in _as_list(item.get("roleid") or item.get("roles")):
                for kind, ugid in entries:
                    fs.acl.append({"path": normalize_path(item["path"]), "type": kind, "ugid": ugid,
                                   "roleid": role, "propagate": propagate})


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
