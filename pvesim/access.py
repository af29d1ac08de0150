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

# PVE 9.1 privilege groups (pve-access-control 9.1.1, PVE::AccessControl $privgroups):
# "admin"/"user"/"audit" privileges make up the PVE<cat>Admin / PVE<cat>User roles.
_PRIVGROUPS = {
    "VM": {
        "root": [],
        "admin": ["VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.HWType",
                  "VM.Config.Options", "VM.Allocate", "VM.Clone", "VM.GuestAgent.Unrestricted", "VM.Migrate",
                  "VM.Replicate", "VM.Snapshot", "VM.Snapshot.Rollback"],
        "user": ["VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.Backup", "VM.GuestAgent.FileRead",
                 "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.FileWrite", "VM.PowerMgmt"],
        "audit": ["VM.Audit", "VM.GuestAgent.Audit"],
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


# PVE 8.4 (pve-access-control 8.2.2): VM.Monitor instead of the VM.GuestAgent.* privileges
# (commits 922f710 "add VM.GuestAgent privileges", 0706945 "privileges: drop VM.Monitor"),
# and no VM.Replicate (5f7544f).
_PRIVGROUPS_84 = dict(_PRIVGROUPS, VM={
    "root": [],
    "admin": ["VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.HWType",
              "VM.Config.Options", "VM.Allocate", "VM.Clone", "VM.Migrate", "VM.Monitor", "VM.Snapshot",
              "VM.Snapshot.Rollback"],
    "user": ["VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.Backup", "VM.PowerMgmt"],
    "audit": ["VM.Audit"],
})


def _builtin_roles(privgroups=_PRIVGROUPS):
    """AccessControl::create_roles: ``(valid privileges, built-in roles)``."""
    valid = {"Permissions.Modify"}  # in no group: only Administrator has it
    roles = {"NoAccess": set()}
    for cat, groups in privgroups.items():
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


# By release (Simulator.pve_version; a release not listed has 9.1's): (privileges, built-in roles).
PRIVILEGE_TABLES = {"9.1": _builtin_roles(), "8.4": _builtin_roles(_PRIVGROUPS_84)}
BUILTIN_ROLES = PRIVILEGE_TABLES["9.1"][1]  # PVE 9.1's, the default release
# Every privilege a served release knows: what the schema's pve-priv format accepts
# (pvesim.registry); a method refuses those its release does not know, as that release's
# schema would. AccessControl.valid_privileges is the release's own set.
VALID_PRIVILEGES = frozenset().union(*(valid for valid, _ in PRIVILEGE_TABLES.values()))


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


def pve_normalize_path(path):
    """AccessControl::normalize_path: None for an empty path or one with other characters
    than letters, digits, ``.-_/``."""
    if not path:
        return None
    path = re.sub(r"/+", "/", path)
    path = re.sub(r"/$", "", path) or "/"
    if not path.startswith("/"):
        path = "/" + path
    return path if re.fullmatch(r"[A-Za-z0-9.\-_/]+", path) else None


# AccessControl::check_path: the paths an ACL may be set on
_ACL_PATH = re.compile(r"""^(
    /|/access|/access/groups|/access/groups/[A-Za-z0-9._-]+|/access/realm|/access/realm/[A-Za-z0-9._-]+
    |/nodes|/nodes/[A-Za-z0-9._-]+|/pool|/pool/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+){0,2}
    |/sdn|/sdn/controllers|/sdn/controllers/[A-Za-z0-9_-]+|/sdn/dns|/sdn/dns/[A-Za-z0-9]+
    |/sdn/fabrics|/sdn/fabrics/[A-Za-z0-9]+|/sdn/ipams|/sdn/ipams/[A-Za-z0-9]+
    |/sdn/prefix-lists|/sdn/prefix-lists/[A-Za-z0-9]+|/sdn/route-maps|/sdn/route-maps/[A-Za-z0-9]+
    |/sdn/zones|/sdn/zones/[A-Za-z0-9._-]+|/sdn/zones/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+
    |/sdn/zones/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/[1-9][0-9]{0,3}
    |/storage|/storage/[A-Za-z0-9._-]+|/vms|/vms/[1-9][0-9]{2,}
    |/mapping|/mapping/[A-Za-z0-9._-]+|/mapping/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+
)$""", re.X)


def check_path(path):
    return bool(_ACL_PATH.match(path))


_USER_RE = re.compile(r"([^\s:/]+)@([A-Za-z][A-Za-z0-9.\-_]+)")
_TOKEN_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9.\-_]+")


def verify_username(userid, noerr=False):
    """PVE::Auth::Plugin::verify_username: ``(userid, name, realm)``; PVE's plain die (500)
    for a bad one, or None with ``noerr``."""
    userid = userid or ""
    problem = None
    if len(userid) < 3:
        problem = "user name '%s' is too short" % userid
    elif len(userid) > 64:
        problem = "user name '%s' is too long (%d > 64)" % (userid, len(userid))
    else:
        m = _USER_RE.fullmatch(userid)
        if m:
            return userid, m.group(1), m.group(2)
        problem = "value '%s' does not look like a valid user name" % userid
    if noerr:
        return None
    raise ApiError(500, problem)


def split_list(text):
    """PVE::Tools::split_list."""
    return [item for item in re.split(r"[\s,;\0]+", str(text or "").strip()) if item]


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
    # pve-access-control AccessControl.pm ``roles`` and RPCEnvironment.pm ``permissions`` /
    # ``compile_acl_path``: privileges come with PVE's propagate flag (1 when a propagating role
    # grants them), which ``GET /access/permissions`` answers and ``PUT /access/acl`` checks.
    @property
    def valid_privileges(self):
        """The privileges of the simulated release (AccessControl's $valid_privs)."""
        return PRIVILEGE_TABLES.get(getattr(self.sim, "pve_version", None), PRIVILEGE_TABLES["9.1"])[0]

    @property
    def builtin_roles(self):
        """The built-in ("special") roles of the simulated release."""
        return PRIVILEGE_TABLES.get(getattr(self.sim, "pve_version", None), PRIVILEGE_TABLES["9.1"])[1]

    def role_privs(self, fs, roleid):
        if roleid in self.builtin_roles:
            return self.builtin_roles[roleid]
        return set(fs.roles.get(roleid, ())) & self.valid_privileges

    def role_exists(self, fs, roleid):
        return roleid in self.builtin_roles or roleid in fs.roles

    def acl_entries(self, fs):
        """The ACL entries user.cfg keeps: PVE's parser drops entries of roles that do not
        exist and of tokens that do not exist (``parse_user_config``)."""
        for entry in fs.acl:
            if not self.role_exists(fs, entry["roleid"]):
                continue
            if entry["type"] == "token":
                userid, _, name = entry["ugid"].partition("!")
                if name not in ((fs.users.get(userid) or {}).get("tokens") or {}):
                    continue
            yield entry

    def _roles_on_path(self, fs, authid, path):
        """AccessControl::roles: ``{roleid: propagate}`` of ``authid`` (a user or a token ID)
        on ``path``. From / down to ``path``, a level with entries for the subject replaces
        what higher levels granted; non-propagating entries count only at ``path`` itself;
        token entries, then user entries, then group entries: the first kind found at a level
        wins there. NoAccess wins over every other role."""
        target = normalize_path(path)
        parts = [p for p in target.split("/") if p]
        levels = ["/"] + ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        userid = authid.partition("!")[0]
        groups = set() if "!" in authid else set(((fs.users.get(userid) or {}).get("groups")) or ())
        by_level = {}
        for entry in self.acl_entries(fs):
            by_level.setdefault(normalize_path(entry["path"]), []).append(entry)
        roles = {}
        for level in levels:
            final = level == target
            found = {"token": {}, "user": {}, "group": {}}
            for entry in by_level.get(level, ()):
                propagate = 1 if int(entry.get("propagate", 1)) else 0
                if not (final or propagate):
                    continue
                kind, ugid = entry["type"], entry["ugid"]
                if (kind in ("token", "user") and ugid == authid) or (kind == "group" and ugid in groups):
                    found[kind][entry["roleid"]] = propagate
            for kind in ("token", "user", "group"):
                if found[kind]:
                    roles = found[kind]
                    break
        if "NoAccess" in roles:
            return {"NoAccess": roles["NoAccess"]}
        return roles

    def _pool_roles(self, fs, authid, path):
        """Roles the pools of the object at ``path`` grant (compile_acl_path's poolroles):
        a guest or storage in pool P gets the roles on /pool/P, never propagating."""
        pools = set()
        parts = [p for p in path.split("/") if p]
        if len(parts) == 2 and parts[0] == "vms" and parts[1].isdigit():
            guest = fs.guests.get(int(parts[1]))
            if guest is not None and getattr(guest, "pool", None):
                pools.add(guest.pool)
        elif len(parts) == 2 and parts[0] == "storage":
            for pool, data in fs.pools.items():
                members = data.get("storage") if isinstance(data, dict) else None
                if members and parts[1] in members:
                    pools.add(pool)
        roles = {}
        for pool in pools:
            for role in self._roles_on_path(fs, authid, "/pool/" + pool):
                roles[role] = 1
        return roles

    def _privilege_map_of(self, fs, authid, path):
        roles = self._roles_on_path(fs, authid, path)
        pool_roles = self._pool_roles(fs, authid, path)
        if pool_roles and "NoAccess" not in roles:
            if "NoAccess" in pool_roles:
                roles = {"NoAccess": 0}  # a pool's NoAccess trumps the regular ACL
            else:
                for role in pool_roles:
                    roles.setdefault(role, 0)  # pool-derived roles never propagate
        privs = {}
        for role, propagate in roles.items():
            for priv in self.role_privs(fs, role):
                privs[priv] = privs.get(priv, 0) or propagate
        return privs

    def privilege_map(self, fs, identity, path):
        """RPCEnvironment::permissions: ``{privilege: propagate}`` of ``identity`` on ``path``.
        root@pam holds every privilege; a token without privsep holds its user's; a privsep
        token holds those its own ACLs grant that its user holds too."""
        if identity is None:
            return {}
        path = normalize_path(path)
        if identity.authid == ROOT:
            return {priv: 1 for priv in self.valid_privileges}
        user_privs = ({priv: 1 for priv in self.valid_privileges} if identity.userid == ROOT
                      else self._privilege_map_of(fs, identity.userid, path))
        if not identity.tokenid:
            return user_privs
        token = ((self.user(fs, identity.userid) or {}).get("tokens") or {}).get(identity.tokenid)
        if token is None:
            return {}
        if not int(token.get("privsep", 1)):
            return user_privs
        token_privs = self._privilege_map_of(fs, identity.authid, path)
        if identity.userid == ROOT:
            return token_privs  # compile_acl_path: no intersection for root@pam's tokens
        return {priv: (user_privs[priv] and flag) for priv, flag in token_privs.items() if priv in user_privs}

    def privileges(self, fs, identity, path):
        """The set of privileges ``identity`` holds on ACL ``path``."""
        return set(self.privilege_map(fs, identity, path))

    def has_priv(self, fs, identity, path, privilege):
        return privilege in self.privileges(fs, identity, path)

    def acl_paths(self, fs):
        """RPCEnvironment::get_effective_permissions' paths: the top-level ones, every node of
        the ACL tree (each prefix of an ACL path), and the guests and storages of pools."""
        paths = {"/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms"}
        for entry in fs.acl:
            parts = [p for p in normalize_path(entry["path"]).split("/") if p]
            paths.update("/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1))
        paths.update("/vms/%d" % vmid for vmid, guest in fs.guests.items() if getattr(guest, "pool", None))
        for data in fs.pools.values():
            members = data.get("storage") if isinstance(data, dict) else None
            paths.update("/storage/%s" % s for s in (members or ()))
        return sorted(paths)

    def permissions(self, fs, identity, path=None):
        """``{path: {privilege: propagate}}`` as ``GET /access/permissions`` answers it: with
        ``path`` that path alone (even without privileges), else every path of
        :meth:`acl_paths` where ``identity`` holds something."""
        if path:
            return {path: dict(sorted(self.privilege_map(fs, identity, path).items()))}
        out = {}
        for one in self.acl_paths(fs):
            privs = self.privilege_map(fs, identity, one)
            if privs:
                out[one] = dict(sorted(privs.items()))
        return out

    # --- schema permission checks ------------------------------------------
    def check_permissions(self, fs, identity, permissions, params):
        """RPCEnvironment::check_api2_permissions: evaluate a schema entry's ``permissions``
        and raise PVE's error when they fail."""
        permissions = permissions or {}
        user = permissions.get("user")
        if user == "world":
            return
        if identity is None:
            raise ApiError(401, "authentication failure")
        # the user root@pam may do anything; a token's user name is its token ID
        # ("root@pam!ci"), so root's tokens are not root@pam
        if identity.authid == ROOT:
            return
        if not permissions:
            # a method without a permission entry is for root@pam only
            raise ApiError(403, "Permission check failed (user != root@pam)")
        # "user => 'all'" allows before any check
        if user == "all":
            return
        check = permissions.get("check")
        if check is None:
            raise ApiError(403, "Permission check failed")
        # Only exceptions refuse: the result is not looked at (an unnormalizable
        # perm-modify path returns 0 and the method itself refuses the path).
        self._check(fs, identity, check, params, raise_error=True)

    def _check_privs(self, fs, identity, path, privs, any_of, raise_error):
        """RPCEnvironment::check / check_any."""
        held = self.privilege_map(fs, identity, path)
        if any_of:
            if any(priv in held for priv in privs):
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

    @staticmethod
    def _template_path(template, params):
        path = template
        for name, value in params.items():
            path = path.replace("{%s}" % name, str(value))
        return path

    def _user_exists(self, fs, userid, raise_error):
        """RPCEnvironment::check_user_exist: PVE's plain die, a 500, unless ``noerr``."""
        if verify_username(userid, noerr=not raise_error) is None:
            return False
        if userid == ROOT or userid in fs.users:
            return True
        if raise_error:
            raise ApiError(500, "no such user ('%s')" % userid)
        return False

    def groups_with(self, fs, identity, privs):
        """RPCEnvironment::filter_groups with ``any``: the groups on whose
        /access/groups/<group> ``identity`` holds one of ``privs``."""
        return {g for g in fs.groups
                if self._check_privs(fs, identity, "/access/groups/" + g, privs, True, False)}

    def group_members(self, fs, groups):
        return {u for u, entry in fs.users.items() if set(entry.get("groups") or ()) & set(groups)}

    def _check(self, fs, identity, check, params, raise_error):
        """RPCEnvironment::exec_api2_perm_check; ``raise_error`` is PVE's ``!$noerr``."""
        kind = check[0]
        username = identity.authid  # PVE's user name there is the token ID for a token
        if kind == "and":
            for sub in check[1:]:
                self._check(fs, identity, sub, params, raise_error=True)  # always without noerr
            return True
        if kind == "or":
            for sub in check[1:]:
                if self._check(fs, identity, sub, params, raise_error=False):
                    return True
            return self._refuse(raise_error)
        if kind == "perm":
            path_template, privs = check[1], check[2]
            options = dict(zip(check[3::2], check[4::2]))
            required_param = options.get("require_param")
            if required_param and params.get(required_param) is None:
                return self._refuse(raise_error)
            path = normalize_path(self._template_path(path_template, params))
            return self._check_privs(fs, identity, path, privs, options.get("any"), raise_error)
        if kind == "userid-group":
            userid = params.get("userid")
            privs = check[1]
            options = dict(zip(check[2::2], check[3::2]))
            check_existing_user = options.get("groups_param") != "create"
            if check_existing_user and not self._user_exists(fs, userid, raise_error):
                return False
            if self._check_privs(fs, identity, "/access/groups", privs, True, False):
                return True  # privileges on every group, and so on every user
            allowed = self.groups_with(fs, identity, privs)
            wanted = "|".join(privs)
            if options.get("groups_param"):
                given = split_list(str(params.get("groups") or ""))
                if not given:
                    raise ApiError.forbidden("/access/groups", wanted)
                for group in given:
                    if group not in allowed:
                        raise ApiError.forbidden("/access/groups/" + group, wanted)
            if check_existing_user and userid not in self.group_members(fs, allowed):
                return self._refuse(raise_error)
            return True
        if kind == "userid-param":
            userid = str(params.get("userid") or "")
            _, _, realm = verify_username(userid)
            if check[1] == "self":
                if not self._user_exists(fs, userid, raise_error):
                    return False
                return username == userid or self._refuse(raise_error)
            if check[1] == "Realm.AllocateUser":
                return self._check_privs(fs, identity, "/access/realm/" + realm, ["Realm.AllocateUser"],
                                         False, raise_error)
            raise ApiError(500, "unknown userid-param test")
        if kind == "perm-modify":
            path = pve_normalize_path(self._template_path(check[1], params))
            if path is None:
                return False  # "should already die in API2::ACL"
            return self.check_perm_modify(fs, identity, path, raise_error)
        raise ApiError(500, "unknown permission test")

    def check_perm_modify(self, fs, identity, path, raise_error=False):
        """RPCEnvironment::check_perm_modify: Permissions.Modify on ``path``, or the
        allocation privilege of a storage, guest or pool there."""
        privs = ["Permissions.Modify"]
        if re.match(r"^/storage/.+$", path):
            privs.append("Datastore.Allocate")
        elif re.match(r"^/vms/.+$", path):
            privs.append("VM.Allocate")
        elif re.match(r"^/pool/.+$", path):
            privs.append("Pool.Allocate")
        return self._check_privs(fs, identity, path, privs, True, raise_error)

    @staticmethod
    def _refuse(raise_error):
        if raise_error:
            raise ApiError(403, "Permission check failed")
        return False


# --- user.cfg through the API (pve-access-control API2/User.pm, Group.pm, Role.pm, ACL.pm) ---
# The functions below are what the /access routes do: the routes (pvesim.handlers.access) pass
# the typed parameters, these change the ClusterFS as PVE changes user.cfg, with PVE's errors.
# Errors raised inside PVE's lock_user_config carry its prefix ("create user failed: ...");
# a parameter error raised there is a plain 500 whose first line is
# "<prefix>: 400 Parameter verification failed." (PVE::Exception stringified), which is
# all the reason phrase shows.

# domains.cfg of a fresh PVE install: realm -> type
REALMS = {"pam": "pam", "pve": "pve"}
_USER_FIELDS = ("firstname", "lastname", "email", "comment", "keys")


def _all_users(fs):
    """user.cfg's users: root@pam always exists (userconfig_force_defaults)."""
    users = dict(fs.users)
    users.setdefault(ROOT, {"enable": 1, "expire": 0, "groups": [], "tokens": {}})
    return users


def _stored_user(fs, userid):
    """The writable entry of ``userid`` (root@pam's made on first write)."""
    if userid == ROOT:
        return fs.users.setdefault(ROOT, {"enable": 1, "expire": 0, "groups": [], "tokens": {}})
    return fs.users[userid]


def check_user_exist(fs, userid, prefix=""):
    """AccessControl::check_user_exist: the user's entry, or PVE's 500."""
    verify_username(userid)
    users = _all_users(fs)
    if userid not in users:
        raise ApiError(500, prefix + "no such user ('%s')" % userid)
    return users[userid]


def check_token_exist(fs, userid, tokenid, prefix=""):
    user = check_user_exist(fs, userid, prefix)
    token = (user.get("tokens") or {}).get(tokenid)
    if token is None:
        raise ApiError(500, prefix + "no such token '%s' for user '%s'" % (tokenid, userid))
    return token


def token_info(token):
    """A token as user.cfg holds it: privsep and expire always, a comment when it has one."""
    info = {"privsep": 1 if int(token.get("privsep", 1)) else 0, "expire": int(token.get("expire") or 0)}
    if token.get("comment"):
        info["comment"] = token["comment"]
    return info


def _user_data(user, full):
    """User.pm's extract_user_data, on the entry as parse_user_config reads it."""
    res = {"enable": 1 if int(user.get("enable", 1)) else 0, "expire": int(user.get("expire") or 0)}
    for key in _USER_FIELDS:
        if user.get(key):
            res[key] = user[key]
    if not full:
        return res
    res["groups"] = sorted(user.get("groups") or ())
    tokens = user.get("tokens")
    res["tokens"] = {name: token_info(t) for name, t in sorted(tokens.items())} if tokens else None
    return res


def list_users(access, fs, identity, enabled=None, full=0):
    """User.pm index: users the caller may see (User.Modify or Sys.Audit on /access/groups
    or on one of their groups), and always the caller."""
    privs = ["User.Modify", "Sys.Audit"]
    can_modify = access._check_privs(fs, identity, "/access/groups", privs, True, False)
    allowed = access.group_members(fs, access.groups_with(fs, identity, privs))
    out = []
    for userid, user in sorted(_all_users(fs).items()):
        if not (can_modify or userid == identity.authid or userid in allowed):
            continue
        entry = _user_data(user, full)
        if enabled is not None and bool(entry["enable"]) != bool(enabled):
            continue
        if full:
            entry["groups"] = ",".join(entry["groups"])
            if entry["tokens"] is not None:
                entry["tokens"] = [dict(info, tokenid=name) for name, info in entry["tokens"].items()]
        realm = userid.rpartition("@")[2]
        if realm in REALMS:
            entry["realm-type"] = REALMS[realm]
        entry["userid"] = userid
        out.append(entry)
    return out


def _check_groups(fs, groups, prefix):
    for group in split_list(groups):
        if group not in fs.groups:
            raise ApiError(500, prefix + "no such group '%s'" % group)
    return split_list(groups)


def _set_password(fs, userid, password, prefix=""):
    """AccessControl::domain_set_password: the realm's plugin stores it (pve: priv/shadow.cfg;
    pam: the node's /etc/shadow, which pvesim keeps with the user)."""
    realm = userid.rpartition("@")[2]
    if realm not in REALMS:
        raise ApiError(500, prefix + "auth domain '%s' does not exist" % realm)
    if userid == ROOT:
        raise ApiError(500, prefix + "pvesim: changing root@pam's password is not simulated")
    _stored_user(fs, userid)["password"] = password


def create_user(fs, p):
    prefix = "create user failed: "
    userid = p["userid"]
    verify_username(userid)
    if userid in _all_users(fs):
        raise ApiError(500, prefix + "user '%s' already exists" % userid)
    if p.get("password") is not None:
        realm = userid.rpartition("@")[2]
        if realm not in REALMS:
            raise ApiError(500, prefix + "auth domain '%s' does not exist" % realm)
    groups = _check_groups(fs, p.get("groups"), prefix)
    user = {"enable": 1 if p.get("enable", 1) else 0, "expire": int(p.get("expire") or 0), "groups": [],
            "tokens": {}}
    for group in groups:
        if group not in user["groups"]:
            user["groups"].append(group)
    for key in _USER_FIELDS:
        if p.get(key):
            user[key] = p[key]
    fs.users[userid] = user
    if p.get("password") is not None:
        _set_password(fs, userid, p["password"], prefix)


def read_user(fs, userid):
    return _user_data(check_user_exist(fs, userid), full=True)


def update_user(fs, p):
    prefix = "update user failed: "
    userid = p["userid"]
    check_user_exist(fs, userid, prefix)
    groups = _check_groups(fs, p.get("groups"), prefix)
    user = _stored_user(fs, userid)
    if p.get("enable") is not None:
        user["enable"] = 1 if p["enable"] else 0
    if p.get("expire") is not None:
        user["expire"] = int(p["expire"])
    if not p.get("append") and p.get("groups") is not None:
        user["groups"] = []
    for group in groups:
        if group not in user.setdefault("groups", []):
            user["groups"].append(group)
    for key in _USER_FIELDS:
        if p.get(key) is not None:
            if p[key]:
                user[key] = p[key]
            else:
                user.pop(key, None)  # an empty value is no value in user.cfg


def delete_user(fs, userid):
    """User.pm delete_user: there is no existence check (the permission check makes one for
    everyone but root@pam). The user's groups, ACLs, tokens and their ACLs go."""
    verify_username(userid)
    fs.users.pop(userid, None)
    fs.acl[:] = [e for e in fs.acl
                 if not ((e["type"] == "user" and e["ugid"] == userid)
                         or (e["type"] == "token" and e["ugid"].partition("!")[0] == userid))]


def list_tokens(fs, userid):
    user = check_user_exist(fs, userid)
    return [dict(token_info(t), tokenid=name) for name, t in sorted((user.get("tokens") or {}).items())]


def read_token(fs, userid, tokenid):
    return token_info(check_token_exist(fs, userid, tokenid))


def generate_token(fs, p):
    """User.pm generate_token: the secret is answered once, as ``value``."""
    userid, tokenid = p["userid"], p["tokenid"]
    user = check_user_exist(fs, userid)
    if tokenid in (user.get("tokens") or {}):
        raise ApiError.param({"tokenid": "Token already exists."})
    full = "%s!%s" % (userid, tokenid)
    if not _TOKEN_NAME_RE.fullmatch(tokenid) or verify_username(userid, noerr=True) is None:
        raise ApiError(500, "generating token failed: value '%s' does not look like a valid token ID" % full)
    value = str(uuid.uuid4())
    info = {"privsep": 1 if p.get("privsep", 1) else 0}
    if p.get("expire") is not None:
        info["expire"] = int(p["expire"])
    if p.get("comment"):
        info["comment"] = p["comment"]
    _stored_user(fs, userid).setdefault("tokens", {})[tokenid] = dict(info, secret=value)
    return {"full-tokenid": full, "info": info, "value": value}


def update_token(fs, p):
    userid, tokenid = p["userid"], p["tokenid"]
    token = check_token_exist(fs, userid, tokenid)
    deletes = split_list(p.get("delete"))
    for key in deletes:
        if key != "comment":
            # raise_param_exc({delete => "unknown option '...'"}) inside lock_user_config: a
            # plain 500 whose reason phrase is the stringified exception's first line
            raise ApiError(500, "updating token info failed: 400 Parameter verification failed.")
    if p.get("privsep") is not None:
        token["privsep"] = 1 if p["privsep"] else 0
    if p.get("expire") is not None:
        token["expire"] = int(p["expire"])
    if p.get("comment") is not None:
        token["comment"] = p["comment"]
    if not token.get("comment") or "comment" in deletes:
        token.pop("comment", None)
    return token_info(token)


def remove_token(fs, userid, tokenid):
    check_token_exist(fs, userid, tokenid)
    del _stored_user(fs, userid)["tokens"][tokenid]
    full = "%s!%s" % (userid, tokenid)
    # PVE's next read of user.cfg drops the ACL entries of a token that is gone
    fs.acl[:] = [e for e in fs.acl if not (e["type"] == "token" and e["ugid"] == full)]


def list_roles(access, fs):
    roles = dict(access.builtin_roles)
    roles.update({role: access.role_privs(fs, role) for role in fs.roles})
    return [{"roleid": role, "privs": ",".join(sorted(privs)), "special": 1 if role in access.builtin_roles else 0}
            for role, privs in sorted(roles.items())]


def _role_privs_param(access, privs):
    """AccessControl::add_role_privs. The schema's pve-priv format knows every served
    release's privileges; one this release lacks is refused as its schema would."""
    out = set()
    for priv in split_list(privs):
        if priv not in access.valid_privileges:
            raise ApiError.param({"privs": "invalid format - invalid privilege '%s'\n" % priv})
        out.add(priv)
    return out


def create_role(access, fs, p):
    role = p["roleid"]
    privs = _role_privs_param(access, p.get("privs"))
    if role.upper().startswith("PVE"):
        raise ApiError.param({"roleid": "cannot use role ID starting with the (case-insensitive) 'PVE' namespace"})
    if access.role_exists(fs, role):
        raise ApiError(500, "create role failed: role '%s' already exists" % role)
    fs.roles[role] = privs


def update_role(access, fs, p):
    role = p["roleid"]
    privs = _role_privs_param(access, p.get("privs"))
    if role in access.builtin_roles:
        raise ApiError(500, "auto-generated role '%s' cannot be modified" % role)
    if role not in fs.roles:
        raise ApiError(500, "update role failed: role '%s' does not exist" % role)
    fs.roles[role] = (set(fs.roles[role]) if p.get("append") else set()) | privs


def read_role(access, fs, roleid):
    if not access.role_exists(fs, roleid):
        raise ApiError(500, "role '%s' does not exist" % roleid)
    return {priv: 1 for priv in sorted(access.role_privs(fs, roleid))}


def delete_role(access, fs, roleid):
    if roleid in access.builtin_roles:
        raise ApiError(500, "auto-generated role '%s' cannot be deleted" % roleid)
    if roleid not in fs.roles:
        raise ApiError(500, "delete role failed: role '%s' does not exist" % roleid)
    del fs.roles[roleid]
    # PVE leaves the ACL lines ("fixme: delete role from acl?"); its next read of user.cfg
    # drops them, as the role is gone
    fs.acl[:] = [e for e in fs.acl if e["roleid"] != roleid]


def _acl_key(entry):
    return tuple(p for p in normalize_path(entry["path"]).split("/") if p)


def read_acl(access, fs, identity):
    """ACL.pm read_acl: the entries on paths where the caller may modify permissions (or
    every entry with Sys.Audit on /access), in the order of PVE's ACL tree walk."""
    audit = access._check_privs(fs, identity, "/access", ["Sys.Audit"], False, False)
    by_path = {}
    for entry in access.acl_entries(fs):
        by_path.setdefault(_acl_key(entry), []).append(entry)
    out = []
    for key in sorted(by_path):
        path = "/" + "/".join(key)
        for kind in ("user", "group", "token"):
            entries = [e for e in by_path[key] if e["type"] == kind]
            if not entries or not (audit or access.check_perm_modify(fs, identity, path)):
                continue
            seen = {}
            for e in entries:
                seen[(e["ugid"], e["roleid"])] = 1 if int(e.get("propagate", 1)) else 0
            out.extend({"path": path, "type": kind, "ugid": ugid, "roleid": role, "propagate": flag}
                       for (ugid, role), flag in sorted(seen.items()))
    return out


def update_acl(access, fs, identity, p):
    """ACL.pm update_acl: add (or with ``delete`` remove) ``roles`` on ``path`` for
    ``users``, ``groups`` and ``tokens``. Without Permissions.Modify on the path, the caller
    may only hand out roles whose privileges it holds there (propagated, to propagate)."""
    if not (p.get("users") or p.get("groups") or p.get("tokens")):
        raise ApiError.param({k: "either 'users', 'groups' or 'tokens' is required."
                              for k in ("users", "groups", "tokens")})
    path = pve_normalize_path(p["path"])
    if path is None or (not p.get("delete") and not check_path(path)):
        raise ApiError.param({"path": "invalid ACL path '%s'" % p["path"]})
    prefix = "ACL update failed: "
    delete = bool(p.get("delete"))
    propagate = 1 if p.get("propagate", 1) else 0
    held = access.privilege_map(fs, identity, path)
    users = _all_users(fs)
    changes = []
    for role in split_list(p["roles"]):
        if not access.role_exists(fs, role):
            raise ApiError(500, prefix + "role '%s' does not exist" % role)
        if "Permissions.Modify" not in held:
            verb = "remove" if delete else "add"
            refused = None
            for priv in sorted(access.role_privs(fs, role)):
                if priv not in held:
                    refused = "Cannot %s role '%s' - requires 'Permissions.Modify' or superset of privileges." % (
                        verb, role)
                elif propagate and held[priv] != propagate and not delete:
                    refused = ("Cannot %s role '%s' with propagation - requires 'Permissions.Modify' or "
                               "propagated superset of privileges." % (verb, role))
                if refused:
                    break
            if refused is None and role == "NoAccess":
                refused = "Cannot %s role '%s' - requires 'Permissions.Modify'" % (verb, role)
            if refused:
                # raise_param_exc({role => ...}) inside lock_user_config: a plain 500 whose
                # reason phrase is the stringified exception's first line; the text is lost
                error = ApiError(500, prefix + "400 Parameter verification failed.")
                error.detail = "role: " + refused  # what PVE's exception says further down
                raise error
        for group in split_list(p.get("groups")):
            if group not in fs.groups:
                raise ApiError(500, prefix + "group '%s' does not exist" % group)
            changes.append(("group", group, role))
        for userid in split_list(p.get("users")):
            verify_username(userid)
            if userid not in users:
                raise ApiError(500, prefix + "user '%s' does not exist" % userid)
            changes.append(("user", userid, role))
        for tokenid in split_list(p.get("tokens")):
            userid, _, name = tokenid.partition("!")
            check_token_exist(fs, userid, name, prefix)
            changes.append(("token", tokenid, role))
    for kind, ugid, role in changes:
        same = [e for e in fs.acl if normalize_path(e["path"]) == path and e["type"] == kind
                and e["ugid"] == ugid and e["roleid"] == role]
        if delete:
            fs.acl[:] = [e for e in fs.acl if not any(e is s for s in same)]
        elif same:
            same[0]["propagate"] = propagate
        else:
            fs.acl.append({"path": path, "type": kind, "ugid": ugid, "roleid": role, "propagate": propagate})


def list_groups(access, fs, identity):
    """Group.pm index: the groups on which the caller holds User.Modify, Sys.Audit or
    Group.Allocate."""
    visible = access.groups_with(fs, identity, ["User.Modify", "Sys.Audit", "Group.Allocate"])
    out = []
    for group in sorted(visible):
        entry = {"groupid": group}
        if fs.groups[group].get("comment"):
            entry["comment"] = fs.groups[group]["comment"]
        entry["users"] = ",".join(sorted(access.group_members(fs, [group])))
        out.append(entry)
    return out


def create_group(fs, p):
    group = p["groupid"]
    if group in fs.groups:
        raise ApiError(500, "create group failed: group '%s' already exists" % group)
    fs.groups[group] = {"comment": p.get("comment") or ""}


def update_group(fs, p):
    group = p["groupid"]
    if group not in fs.groups:
        raise ApiError(500, "update group failed: group '%s' does not exist" % group)
    if p.get("comment") is not None:
        fs.groups[group]["comment"] = p["comment"]


def read_group(access, fs, groupid):
    if groupid not in fs.groups:
        raise ApiError(500, "group '%s' does not exist" % groupid)
    res = {"members": sorted(access.group_members(fs, [groupid]))}
    if fs.groups[groupid].get("comment"):
        res["comment"] = fs.groups[groupid]["comment"]
    return res


def delete_group(fs, groupid):
    if groupid not in fs.groups:
        raise ApiError(500, "delete group failed: group '%s' does not exist" % groupid)
    del fs.groups[groupid]
    for user in fs.users.values():
        if groupid in (user.get("groups") or ()):
            user["groups"] = [g for g in user["groups"] if g != groupid]
    fs.acl[:] = [e for e in fs.acl if not (e["type"] == "group" and e["ugid"] == groupid)]


def change_password(access, fs, identity, p):
    """AccessControl.pm change_password (PUT /access/password) with
    reauth_user_for_user_modification: a caller other than root@pam confirms with its own
    password; no one but root@pam changes root@pam's or another pam user's password."""
    userid = p["userid"]
    authuser = identity.authid
    check_user_exist(fs, userid)
    if userid == ROOT and authuser != ROOT:
        raise ApiError(403, "Permission check failed")
    if authuser != ROOT:
        confirmation = p.get("confirmation-password")
        if confirmation is None:
            raise ApiError.param({"confirmation-password": "password is required to modify user"})
        realm = authuser.rpartition("@")[2]
        if realm not in REALMS:
            raise ApiError(500, "auth domain '%s' does not exist" % realm)
        stored = (fs.users.get(authuser) or {}).get("password")
        if not confirmation:
            raise ApiError(500, "no password")
        if stored is None:
            raise ApiError(500, "no password set")
        if not hmac.compare_digest(str(stored), str(confirmation)):
            raise ApiError(500, "invalid credentials")
        if authuser == userid:
            user = access.user(fs, userid)
            if not int(user.get("enable", 1)):
                raise ApiError(500, "user '%s' is disabled" % userid)
            if int(user.get("expire") or 0) and int(user["expire"]) < access.now():
                raise ApiError(500, "user '%s' access expired" % userid)
        elif userid.rpartition("@")[2] == "pam":
            raise ApiError(403, "Permission check failed")
    _set_password(fs, userid, p["password"])


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
