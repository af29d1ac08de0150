"""Authentication and privileges: tickets, CSRF tokens, API tokens, roles and ACLs.

Users, groups, custom roles, tokens and ACLs live in the host's :class:`ClusterFS`
(``fs.users``, ``fs.groups``, ``fs.roles``, ``fs.acl``), so a cluster shares them.

Shapes kept in the ClusterFS:

- ``fs.users[userid] = {"password", "enable": 1, "expire": 0, "groups": [...],
  "totp": base32 secret or None, "email", "comment", "firstname", "lastname",
  "tokens": {name: {"secret", "privsep": 1, "expire": 0, "comment"}}}``
- ``fs.groups[groupid] = {"comment": ""}`` (members are in the users' ``groups``)
- ``fs.roles[roleid] = set of privileges`` (custom roles only)
- ``fs.acl = [{"path", "type": "user"|"group"|"token", "ugid", "roleid", "propagate": 1}]``
- ``fs.authkey``: the key tickets and CSRF tokens are signed with (made on first use)

root@pam always exists; its password is ``sim.root_password`` on every host and it
holds every privilege everywhere, like on PVE.

Scenario keys (see pvesim/README.md), loaded by the ``load_*`` functions at the end:

- ``users``: list of ``{"userid": "alice@pve", "password", "enable": 1, "expire": 0,
  "groups": ["ops"], "totp": "BASE32SECRET", "email", "comment", "firstname", "lastname"}``
- ``groups``: list of ``{"groupid", "comment", "users": ["alice@pve"]}``
- ``roles``: ``{"RoleName": ["VM.Audit", ...] or "VM.Audit,Sys.Audit"}``
- ``tokens``: list of ``{"tokenid": "alice@pve!ci", "secret", "privsep": 1, "expire": 0, "comment"}``
- ``acl``: list of ``{"path", "roleid", "users"|"groups"|"tokens": "a,b", "propagate": 1}``
  (the PUT /access/acl form) or ``{"path", "type", "ugid", "roleid", "propagate"}``
  (the GET /access/acl form)
"""

import base64
import hashlib
import hmac
import re
import secrets
import struct
import time
import uuid
from urllib.parse import quote, unquote

from pvesim.errors import ApiError
from pvesim.routing import Identity

TICKET_LIFETIME = 2 * 3600  # PVE: 2 hours
ROOT = "root@pam"
# The TFA challenge of a user with TOTP only, as PVE's half ticket carries it.
TOTP_CHALLENGE = '{"totp":true}'

# PVE 9 privilege groups (pve-access-control, PVE::AccessControl $privgroups):
# "admin"/"user"/"audit" privileges make up the PVE<cat>Admin / PVE<cat>User roles.
_PRIVGROUPS = {
    "VM": {
        "root": [],
        "admin": ["VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.HWType",
                  "VM.Config.Options", "VM.Allocate", "VM.Clone", "VM.Migrate", "VM.Snapshot",
                  "VM.Snapshot.Rollback", "VM.Replicate", "VM.GuestAgent.FileRead", "VM.GuestAgent.FileWrite",
                  "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.Unrestricted"],
        "user": ["VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.Backup", "VM.PowerMgmt",
                 "VM.GuestAgent.Audit"],
        "audit": ["VM.Audit"],
    },
    "Sys": {
        "root": ["Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork"],
        "admin": ["Sys.Console", "Sys.Syslog"],
        "user": [],
        "audit": ["Sys.Audit"],
    },
    "Datastore": {
        "root": [],
        "admin": ["Datastore.Allocate", "Datastore.AllocateTemplate"],
        "user": ["Datastore.AllocateSpace"],
        "audit": ["Datastore.Audit"],
    },
    "SDN": {"root": [], "admin": ["SDN.Allocate", "SDN.Audit"], "user": ["SDN.Use"], "audit": ["SDN.Audit"]},
    "User": {"root": ["Realm.Allocate"], "admin": ["User.Modify", "Group.Allocate", "Realm.AllocateUser"],
             "user": [], "audit": []},
    "Pool": {"root": [], "admin": ["Pool.Allocate"], "user": ["Pool.Audit"], "audit": ["Pool.Audit"]},
    "Mapping": {"root": [], "admin": ["Mapping.Modify"], "user": ["Mapping.Use"], "audit": ["Mapping.Audit"]},
}


def _builtin_roles():
    valid = {"Permissions.Modify"}  # in no group: only Administrator has it
    roles = {"NoAccess": set()}
    for cat, groups in _PRIVGROUPS.items():
        valid.update(groups["root"] + groups["admin"] + groups["user"] + groups["audit"])
        for priv in groups["admin"] + groups["user"] + groups["audit"]:
            roles.setdefault("PVE%sAdmin" % cat, set()).add(priv)
            roles.setdefault("PVEAdmin", set()).add(priv)
        if groups["user"]:
            roles["PVE%sUser" % cat] = set(groups["user"] + groups["audit"])
        roles.setdefault("PVEAuditor", set()).update(groups["audit"])
    roles["PVEAdmin"].discard("Mapping.Modify")  # PVE keeps it to Administrator / PVEMappingAdmin
    roles["PVETemplateUser"] = {"VM.Clone", "VM.Audit"}
    roles["Administrator"] = set(valid)
    return valid, roles


VALID_PRIVILEGES, BUILTIN_ROLES = _builtin_roles()


def totp_code(secret_b32, at=None, step=30, digits=6):
    """The RFC 6238 TOTP code of a base32 secret at time ``at``."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return "%0*d" % (digits, value % 10 ** digits)


def normalize_path(path):
    parts = [p for p in (path or "/").split("/") if p]
    return "/" + "/".join(parts)


class AccessControl:
    """Checks credentials and privileges for every host of a simulator."""

    def __init__(self, sim):
        self.sim = sim
        self.clock_offset = 0  # seconds added to "now", lets tests age tickets

    def now(self):
        return time.time() + self.clock_offset

    # --- tickets and CSRF tokens ------------------------------------------
    # Like PVE, the signing key lives in /etc/pve (authkey.key, pve-www.key): a ticket from
    # one member is good on every member, a standalone host's tickets are good on no other
    # host, and a host that joins a cluster takes the cluster's key, so its old tickets die.
    @staticmethod
    def _key(fs):
        if fs.authkey is None:
            fs.authkey = secrets.token_bytes(32)
        return fs.authkey

    def _sign(self, fs, text):
        return base64.b64encode(hmac.new(self._key(fs), text.encode(), hashlib.sha256).digest()).decode().rstrip("=")

    def make_ticket(self, fs, userid):
        """``PVE:user@realm:HEXTIME::signature``, PVE's ticket layout, signed with ``fs``'s key."""
        plain = "PVE:%s:%08X" % (userid, int(self.now()))
        return plain + "::" + self._sign(fs, plain)

    def make_tfa_ticket(self, fs, userid, challenge):
        """The half ticket of a login that still needs its second factor:
        ``PVE:!tfa!<challenge>:HEXTIME::signature``. As PVE signs it with the user name as
        additional data, it only completes a login of that user."""
        plain = "PVE:!tfa!%s:%08X" % (quote(challenge, safe=""), int(self.now()))
        # signed over the unescaped text: cookies arrive URI-unescaped (as pveproxy reads them)
        return plain + "::" + self._sign(fs, unquote(plain) + "\0" + userid)

    def _ticket_parts(self, ticket):
        """``(plain, data, issued, signature)`` of a well-formed, unexpired ticket, else None."""
        if not ticket or "::" not in ticket:
            return None
        plain, _, signature = ticket.partition("::")
        try:
            prefix, rest = plain.split(":", 1)
            data, hextime = rest.rsplit(":", 1)
            issued = int(hextime, 16)
        except ValueError:
            return None
        age = self.now() - issued
        if prefix != "PVE" or age > TICKET_LIFETIME or age < -300:
            return None
        return plain, data, signature

    def verify_ticket(self, fs, ticket):
        """The userid a ticket was issued to, or None when it is forged, expired, was
        signed with another /etc/pve's key, or is a half (TFA) ticket."""
        parts = self._ticket_parts(ticket)
        if parts is None or parts[1].startswith("!tfa!"):
            return None
        plain, userid, signature = parts
        if not hmac.compare_digest(signature, self._sign(fs, plain)):
            return None
        return userid

    def is_tfa_ticket(self, fs, ticket):
        """Whether ``ticket`` is a valid half ticket of some user (PVE answers "No ticket"
        when one is used for anything but completing the login)."""
        parts = self._ticket_parts(ticket)
        if parts is None or not parts[1].startswith("!tfa!"):
            return False
        plain, _, signature = parts
        return any(hmac.compare_digest(signature, self._sign(fs, unquote(plain) + "\0" + userid))
                   for userid in list(fs.users) + [ROOT])

    def verify_tfa_ticket(self, fs, ticket, userid):
        """The challenge of ``userid``'s half ticket, or None."""
        parts = self._ticket_parts(ticket)
        if parts is None or not parts[1].startswith("!tfa!"):
            return None
        plain, data, signature = parts
        if not hmac.compare_digest(signature, self._sign(fs, unquote(plain) + "\0" + userid)):
            return None
        return unquote(data[len("!tfa!"):])

    def make_csrf(self, fs, userid):
        plain = "%08X" % int(self.now())
        return plain + ":" + self._sign(fs, "csrf:%s:%s" % (plain, userid))

    def verify_csrf(self, fs, userid, token):
        if not token or ":" not in token:
            return False
        plain, _, signature = token.partition(":")
        try:
            issued = int(plain, 16)
        except ValueError:
            return False
        if self.now() - issued > TICKET_LIFETIME:
            return False
        return hmac.compare_digest(signature, self._sign(fs, "csrf:%s:%s" % (plain, userid)))

    def expire_all_tickets(self):
        # A new key in every /etc/pve: every ticket and CSRF token issued so far stops
        # verifying, new logins work at once.
        with self.sim.lock:  # also called from the CLI's control-channel thread
            for fs in self.sim.filesystems():
                fs.authkey = secrets.token_bytes(32)

    # --- users --------------------------------------------------------------
    def user(self, fs, userid):
        if userid == ROOT:
            entry = fs.users.get(ROOT, {})
            return {"enable": 1, "expire": 0, "groups": [], "tokens": {}, **entry, "password": self.sim.root_password}
        return fs.users.get(userid)

    def _user_usable(self, user):
        if not user or not int(user.get("enable", 1)):
            return False
        expire = int(user.get("expire") or 0)
        return not expire or expire > self.now()

    def _tfa_response_ok(self, user, response):
        """A second-factor answer as PVE 7+ takes it: ``totp:<code>``. (Recovery keys,
        WebAuthn and Yubico are not simulated.)"""
        kind, sep, code = str(response or "").partition(":")
        if not sep or kind != "totp":
            return False
        # One accepted step either side, as PVE's TOTP check allows some clock skew.
        now = self.now()
        return code in {totp_code(user["totp"], now + delta) for delta in (-30, 0, 30)}

    def authenticate(self, fs, userid, password, otp=None, tfa_challenge=None):
        """PVE's create_ticket/authenticate_user: ``(userid, challenge)``, where challenge
        is None when the login is complete and else the TFA challenge a half ticket
        carries (the user has TOTP and sent no ``otp``). With ``tfa_challenge`` (a half
        ticket), ``password`` is the second factor (``totp:<code>``). Every failure is
        PVE's 401 ``authentication failure``."""
        failure = ApiError(401, "authentication failure")
        if "@" not in userid:
            raise failure
        user = self.user(fs, userid)
        if not self._user_usable(user):
            raise failure
        if tfa_challenge is not None:
            # "TFA response should be in 'password', not 'otp' when 'tfa-challenge' is set"
            if otp is not None or self.verify_tfa_ticket(fs, tfa_challenge, userid) is None:
                raise failure
            if not user.get("totp") or not self._tfa_response_ok(user, password):
                raise failure
            return userid, None
        if user.get("password") is None or not hmac.compare_digest(str(user["password"]), str(password)):
            raise failure
        if not user.get("totp"):
            return userid, None  # a user without TFA: any otp is ignored
        if otp is None:
            return userid, TOTP_CHALLENGE
        if not self._tfa_response_ok(user, otp):  # a bare code is no valid TFA response
            raise failure
        return userid, None

    def login(self, fs, username, password, realm=None, otp=None):
        """A complete login (password, and ``totp:<code>`` for TOTP users) in one step:
        the userid, or PVE's 401."""
        userid = username if "@" in username or not realm else "%s@%s" % (username, realm)
        userid, challenge = self.authenticate(fs, userid, password, otp=otp)
        if challenge is not None:
            raise ApiError(401, "authentication failure")
        return userid

    def token_identity(self, fs, header_value):
        """Identity for ``user@realm!name=secret`` (what follows ``PVEAPIToken=``), or None."""
        tokenid, sep, secret = header_value.partition("=")
        if not sep or "!" not in tokenid:
            return None
        userid, _, name = tokenid.partition("!")
        user = self.user(fs, userid)
        if not self._user_usable(user):
            return None
        token = (fs.users.get(userid) or {}).get("tokens", {}).get(name)
        if token is None or not hmac.compare_digest(str(token.get("secret", "")), secret):
            return None
        expire = int(token.get("expire") or 0)
        if expire and expire < self.now():
            return None
        return Identity(userid=userid, tokenid=name, privsep=bool(int(token.get("privsep", 1))))

    # --- privileges ---------------------------------------------------------
    def role_privs(self, fs, roleid):
        if roleid in BUILTIN_ROLES:
            return BUILTIN_ROLES[roleid]
        return set(fs.roles.get(roleid, ()))

    def _roles_on_path(self, fs, kind, ugids, path):
        """PVE's ACL walk: from / down to ``path``, a level with entries for the subject
        replaces what higher levels granted; non-propagating entries count only at
        ``path`` itself; user entries at a level win over group entries there."""
        target = normalize_path(path)
        parts = [p for p in target.split("/") if p]
        levels = ["/"] + ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        roles = set()
        for level in levels:
            final = level == target
            found_direct = set()
            found_group = set()
            for entry in fs.acl:
                if normalize_path(entry["path"]) != level:
                    continue
                if not final and not int(entry.get("propagate", 1)):
                    continue
                if entry["type"] == kind and entry["ugid"] in ugids:
                    found_direct.add(entry["roleid"])
                elif kind == "user" and entry["type"] == "group" and entry["ugid"] in ugids.groups:
                    found_group.add(entry["roleid"])
            if found_direct:
                roles = found_direct
            elif found_group:
                roles = found_group
        return roles

    def _privs_for(self, fs, kind, subject, groups, path):
        class _Subjects(set):
            pass

        ugids = _Subjects([subject])
        ugids.groups = set(groups)
        roles = self._roles_on_path(fs, kind, ugids, path)
        if "NoAccess" in roles:
            return set()
        privs = set()
        for role in roles:
            privs |= self.role_privs(fs, role)
        return privs

    def privileges(self, fs, identity, path):
        """The set of privileges ``identity`` holds on ACL ``path``."""
        if identity is None:
            return set()
        path = normalize_path(path)
        paths = [path]
        # A guest's privileges include those its pool grants (/pool/<pool>).
        if path.startswith("/vms/"):
            try:
                guest = fs.guests.get(int(path.split("/")[2]))
            except ValueError:
                guest = None
            if guest is not None and guest.pool:
                paths.append("/pool/" + guest.pool)
        user = self.user(fs, identity.userid)
        if not self._user_usable(user):
            return set()
        if identity.userid == ROOT:
            user_privs = set(VALID_PRIVILEGES)
        else:
            user_privs = set()
            for one in paths:
                user_privs |= self._privs_for(fs, "user", identity.userid, user.get("groups", []), one)
        if identity.tokenid and identity.privsep:
            token_privs = set()
            for one in paths:
                token_privs |= self._privs_for(fs, "token", identity.authid, [], one)
            return user_privs & token_privs
        return user_privs

    def has_priv(self, fs, identity, path, privilege):
        return privilege in self.privileges(fs, identity, path)

    def acl_paths(self, fs):
        """Every path with an ACL entry, plus the paths of existing objects."""
        paths = {"/", "/access", "/access/groups", "/nodes", "/pool", "/storage", "/vms", "/sdn", "/mapping"}
        paths.update(normalize_path(e["path"]) for e in fs.acl)
        paths.update("/vms/%d" % vmid for vmid in fs.guests)
        paths.update("/storage/%s" % s for s in fs.storage)
        paths.update("/nodes/%s" % h.name for h in self.sim.members(fs))
        paths.update("/pool/%s" % p for p in fs.pools)
        return sorted(paths)

    def permissions(self, fs, identity, path=None):
        """``{path: {privilege: 1}}`` as ``GET /access/permissions`` answers it."""
        out = {}
        for one in [normalize_path(path)] if path else self.acl_paths(fs):
            privs = self.privileges(fs, identity, one)
            if privs or path:
                out[one] = {p: 1 for p in sorted(privs)}
        return out

    # --- schema permission checks ------------------------------------------
    def check_permissions(self, fs, identity, permissions, params):
        """Evaluate a schema entry's ``permissions``; raise PVE's 403 when they fail."""
        permissions = permissions or {}
        user = permissions.get("user")
        if user == "world":
            return
        if identity is None:
            raise ApiError(401, "authentication failure")
        # PVE's check_api2_permissions: the user root@pam may do anything; a token's
        # user name is its token ID ("root@pam!ci"), so root's tokens are not root@pam
        if identity.userid == ROOT and identity.tokenid is None:
            return
        if not permissions:
            # a method without a permission entry is for root@pam only
            raise ApiError(403, "Permission check failed (user != root@pam)")
        # RPCEnvironment::check_api2_permissions: "user => 'all'" allows before any check
        if user == "all":
            return
        check = permissions.get("check")
        if check is None or not self._check(fs, identity, check, params, raise_error=True):
            raise ApiError(403, "Permission check failed")

    def _check(self, fs, identity, check, params, raise_error):
        kind = check[0]
        if kind in ("and", "or"):
            results = []
            for sub in check[1:]:
                ok = self._check(fs, identity, sub, params, raise_error and kind == "and")
                if kind == "or" and ok:
                    return True
                if kind == "and" and not ok:
                    return False
                results.append(ok)
            return kind == "and"
        if kind == "perm":
            path_template, privs = check[1], check[2]
            options = dict(zip(check[3::2], check[4::2]))
            required_param = options.get("require_param")
            if required_param and params.get(required_param) is None:
                return False
            path = path_template
            for name, value in params.items():
                path = path.replace("{%s}" % name, str(value))
            path = normalize_path(path)
            held = self.privileges(fs, identity, path)
            if options.get("any"):
                if held & set(privs):
                    return True
                if raise_error:
                    raise ApiError.forbidden(path, "|".join(privs))
                return False
            for priv in privs:
                if priv not in held:
                    if raise_error:
                        raise ApiError.forbidden(path, priv)
                    return False
            return True
        # RPCEnvironment::exec_api2_perm_check; PVE's user name there is the token ID for a token
        if kind == "userid-param":
            target = str(params.get("userid") or "")
            if target not in fs.users and target != ROOT:
                return self._refuse(raise_error)
            if check[1] == "self":
                return target == identity.authid or self._refuse(raise_error)
            if check[1] == "Realm.AllocateUser":
                realm = target.rpartition("@")[2]
                return self._check(fs, identity, ["perm", "/access/realm/" + realm, ["Realm.AllocateUser"]],
                                   params, raise_error)
            raise ApiError(500, "unknown userid-param test")
        if kind == "userid-group":
            privs = check[1]
            options = dict(zip(check[2::2], check[3::2]))
            target = params.get("userid")
            # groups_param is a mode flag: the groups come from the parameter "groups"
            if not options.get("groups_param") and target not in fs.users:
                return self._refuse(raise_error)
            if self.privileges(fs, identity, "/access/groups") & set(privs):
                return True
            allowed = {g for g in fs.groups
                       if self.privileges(fs, identity, "/access/groups/" + g) & set(privs)}
            wanted = "|".join(privs)
            if options.get("groups_param"):
                given = [g for g in re.split(r"[\s,;]+", str(params.get("groups") or "")) if g]
                if not given:
                    if raise_error:
                        raise ApiError.forbidden("/access/groups", wanted)
                    return False
                for group in given:
                    if group not in allowed:
                        if raise_error:
                            raise ApiError.forbidden("/access/groups/" + group, wanted)
                        return False
                return True
            members = {u for u, entry in fs.users.items() if set(entry.get("groups", [])) & allowed}
            return target in members or self._refuse(raise_error)
        # perm-modify and anything else: not simulated; refuse loudly rather than guess
        raise ApiError(500, "unknown permission test '%s' (not simulated by pvesim)" % kind)

    @staticmethod
    def _refuse(raise_error):
        if raise_error:
            raise ApiError(403, "Permission check failed")
        return False


# --- scenario --------------------------------------------------------------------
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
