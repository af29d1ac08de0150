"""Parameter validation against the official PVE API schema.

The schema entries come from ``pvesim/data/api-schema.json`` (PVE 9.1) and
``api-schema-pve8.4.json`` (PVE 8.4, for scenarios with ``"pve_version": "8.4"``), generated
by ``python -m pvesim.gen_schema`` from the official API viewer data.  While other routes
are being added, an entry missing from those files is looked up in the full official
schema of the release in ``../shared/pve-api`` when it is there.

:func:`validate` mirrors PVE's own checker (PVE::JSONSchema): the same checks in the
same order, and the same error wording, so that clients see what real PVE answers.
"""

import ipaddress
import json
import re
from pathlib import Path

from pvesim.errors import ApiError

DATA_DIR = Path(__file__).resolve().parent / "data"
SHARED_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "pve-api"

# The PVE releases pvesim can answer as (scenario key ``pve_version``), and the schema of each.
DEFAULT_VERSION = "9.1"
SCHEMA_FILES = {"9.1": DATA_DIR / "api-schema.json", "8.4": DATA_DIR / "api-schema-pve8.4.json"}
SHARED_SCHEMAS = {"9.1": SHARED_DIR / "pve-api-schema.json", "8.4": SHARED_DIR / "pve-api-schema-pve8.4.json"}
SCHEMA_FILE = SCHEMA_FILES[DEFAULT_VERSION]
SHARED_SCHEMA = SHARED_SCHEMAS[DEFAULT_VERSION]

_compact = {}  # version -> {template: {METHOD: info}}
_official = {}


def _load_compact(version=DEFAULT_VERSION):
    if version not in _compact:
        try:
            with open(SCHEMA_FILES[version], encoding="utf-8") as handle:
                _compact[version] = json.load(handle)["routes"]
        except FileNotFoundError:
            _compact[version] = {}
    return _compact[version]


def official_index(path=None, version=DEFAULT_VERSION):
    """``{path: {METHOD: info}}`` of the full official schema, or {} when absent."""
    if path is not None:
        return _index_tree(json.loads(Path(path).read_text(encoding="utf-8")))
    if version not in _official:
        shared = SHARED_SCHEMAS[version]
        _official[version] = _index_tree(json.loads(shared.read_text(encoding="utf-8"))) if shared.exists() else {}
    return _official[version]


def _index_tree(tree):
    index = {}
    stack = list(tree)
    while stack:
        node = stack.pop()
        if node.get("info"):
            index[node["path"]] = node["info"]
        stack.extend(node.get("children") or [])
    return index


def method_info(template, method, version=DEFAULT_VERSION):
    """The schema entry of ``method`` on ``template`` in PVE ``version``, or None when that
    release has no such method."""
    info = _load_compact(version).get(template, {}).get(method)
    if info is None:
        info = official_index(version=version).get(template, {}).get(method)
    return info


# --- indexed parameter families ("net[n]" -> net0..net31) ------------------------

# Ranges PVE's descriptions do not state; from the limits in qemu-server / pve-container.
_FAMILY_DEFAULT_MAX = {
    "hostpci": 15, "ipconfig": 31, "net": 31, "numa": 7, "unused": 255, "virtiofs": 9,
    "dev": 255, "mp": 255, "acmedomain": 4, "usb": 13, "link": 7,
}


def family_range(name, prop):
    """(first, last) index of the parameter family ``name`` ("link[n]")."""
    prefix = name[:-3]
    text = prop.get("description") or ""
    # "link0..link7" / "(n is 0 to 30)" / "up to 8 links"
    m = re.search(re.escape(prefix) + r"(\d+)\.\." + re.escape(prefix) + r"(\d+)", text)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = re.search(r"n is (\d+) to (\d+)", text)
    if m:
        last = int(m.group(2))
        # usb: "n can be up to 14" for newer machine types: PVE accepts the larger range
        m2 = re.search(r"n can be up to (\d+)", text)
        return int(m.group(1)), int(m2.group(1)) if m2 else last
    m = re.search(r"up to (\d+)", text)
    if m:
        return 0, int(m.group(1)) - 1
    return 0, _FAMILY_DEFAULT_MAX.get(prefix, 31)


def _lookup_property(properties, name):
    prop = properties.get(name)
    if prop is not None:
        return prop
    m = re.match(r"^([a-z]+)(\d+)$", name)
    if m:
        fam = properties.get(m.group(1) + "[n]")
        if fam is not None:
            first, last = family_range(m.group(1) + "[n]", fam)
            if first <= int(m.group(2)) <= last and str(int(m.group(2))) == m.group(2):
                return fam
    return None


# --- named formats ----------------------------------------------------------------

class FormatError(Exception):
    """A value that does not fit its format; ``errors`` for property strings."""

    def __init__(self, message, errors=None):
        super().__init__(message)
        self.message = message
        self.errors = errors

    def text(self):
        # PVE::Exception stringifies as the message followed by "key: text" lines.
        out = self.message
        for key in sorted(self.errors or {}):
            out += "%s: %s\n" % (key, self.errors[key])
        return out


def _regex_check(regex, message):
    compiled = re.compile(regex)

    def check(value):
        if not compiled.fullmatch(value):
            raise FormatError(message.replace("{v}", value) + "\n")

    return check


def _ip_check(version, message):
    def check(value):
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            raise FormatError(message + "\n") from None
        if version and addr.version != version:
            raise FormatError(message + "\n")

    return check


def _cidr_check(version, message):
    def check(value):
        try:
            addr, prefix = value.split("/")
            ip = ipaddress.ip_address(addr)
            bits = int(prefix)
        except ValueError:
            raise FormatError(message + "\n") from None
        limit = 32 if ip.version == 4 else 128
        if (version and ip.version != version) or not (7 < bits <= limit) or not prefix.isdigit():
            raise FormatError(message + "\n")

    return check


_DNS_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?"
_REALM = r"[A-Za-z][A-Za-z0-9\.\-_]+"
_USER = r"[^\s:/]+@" + _REALM
_TOKEN_NAME = r"[A-Za-z][A-Za-z0-9\.\-_]+"

# Privileges PVE knows (PVE::AccessControl): pvesim.registry adds pvesim.access.VALID_PRIVILEGES.
KNOWN_PRIVILEGES = set()


def _check_address(value):
    try:
        _FORMATS["ip"](value)
        return
    except FormatError:
        pass
    try:
        _FORMATS["dns-name"](value)
    except FormatError:
        raise FormatError("value does not look like a valid address: %s\n" % value) from None


def _check_priv(value):
    if KNOWN_PRIVILEGES and value not in KNOWN_PRIVILEGES:
        raise FormatError("invalid privilege '%s'\n" % value)


def _check_userid(value):
    if len(value) > 64:
        raise FormatError("user ID '%s' is too long (> 64 chars)\n" % value)
    if not re.fullmatch(_USER, value):
        raise FormatError("value '%s' does not look like a valid user name\n" % value)


def _check_tokenid(value):
    if not re.fullmatch(_USER + "!" + _TOKEN_NAME, value):
        raise FormatError("value '%s' does not look like a valid token ID\n" % value)


def _check_size(value):
    if not re.fullmatch(r"\d+(\.\d+)?[KMGT]?", value):
        raise FormatError("value does not look like a valid disk size: %s\n" % value)


_STORAGE_CONTENT = {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import", "none"}


def _check_content(value):
    if value not in _STORAGE_CONTENT:
        raise FormatError("invalid content type '%s'\n" % value)


def _check_startup(value):
    for part in value.split(","):
        if part.strip() and not re.fullmatch(r"(order=)?\d+|up=\d+|down=\d+", part):
            raise FormatError("unable to parse startup options\n")


def _check_storage_pair(value):
    # PVE::JSONSchema storage-pair (parse_idmap): "target", or "source:target", with storage IDs
    if value == "1":  # parse_idmap: "1" maps every storage to itself
        return
    ids = value.split(":")
    if len(ids) > 2 or not all(re.fullmatch(r"(?i)[a-z][a-z0-9\-_.]*[a-z0-9]", i) for i in ids):
        raise FormatError("invalid format - value does not look like a valid storage mapping: %s\n" % value)


_PRUNE_KEYS = ("keep-all", "keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")


def _check_prune_backups(value):
    # PVE::JSONSchema prune-backups: keep-* counts (integers >= 0), keep-all a boolean that
    # excludes the others (validate_prune_backups)
    seen = {}
    for item in (part for part in value.split(",") if part):
        key, sep, text = item.partition("=")
        if not sep or key not in _PRUNE_KEYS:
            raise FormatError("invalid format - unknown key '%s'\n" % key if sep else
                              "invalid format - missing key in '%s'\n" % item)
        if key == "keep-all":
            if text not in ("0", "1"):
                raise FormatError("invalid format - keep-all: type check ('boolean') failed\n")
        elif not text.isdigit():
            raise FormatError("invalid format - %s: type check ('integer') failed - got '%s'\n" % (key, text))
        seen[key] = text
    if seen.get("keep-all") == "1" and len(seen) > 1:
        raise FormatError("keep-all cannot be set together with other options.\n")


_FORMATS = {
    # pve-manager PVE/API2/Tasks.pm (statusfilter); the regex is PVE's, the wording pvesim's
    "pve-task-status-type": _regex_check(r"(?i)ok|error|warning|unknown", "invalid status type '{v}'"),
    # PVE::JSONSchema $PVE_TAG_RE
    "pve-tag": _regex_check(r"(?i)[a-z0-9_][a-z0-9_\-+.]*", "invalid characters in tag"),
    # PVE::HA::Tools pve_verify_ha_resource_id / _or_vm_id, pve_verify_ha_node
    "pve-ha-resource-id": _regex_check(r"[a-z]+:\S+", "value does not look like a valid ha resource id"),
    "pve-ha-resource-or-vm-id": _regex_check(r"[a-z]+:\S+|[1-9][0-9]{2,8}",
                                             "value does not look like a valid ha resource id"),
    "pve-ha-node": _regex_check(r"[a-zA-Z0-9\-]+(:\d+)?", "value does not look like a valid ha node"),
    "storage-pair": _check_storage_pair,
    # PVE::Storage pve_verify_path: an absolute path
    "pve-storage-path": _regex_check(r"/[^;()]+", "value does not look like a valid absolute path"),
    "pve-qm-bootdisk": _regex_check(r"(ide|sata|scsi|virtio|efidisk|tpmstate)\d+", "invalid boot disk '{v}'"),
    "prune-backups": _check_prune_backups,
    "pve-node": _regex_check(r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", "value does not look like a valid node name"),
    "pve-vmid": _regex_check(r"[1-9][0-9]{2,8}", "value does not look like a valid VM ID"),
    "pve-storage-id": _regex_check(r"[a-z][a-z0-9\-_.]*[a-z0-9]", "storage ID '{v}' contains illegal characters"),
    # Current pve-common allows hyphens (snapshot names like "pre-upgrade", delete=prune-backups).
    "pve-configid": _regex_check(r"(?i)[a-z][a-z0-9_-]+", "invalid configuration ID '{v}'"),
    "pve-iface": _regex_check(r"[a-zA-Z][a-zA-Z0-9_]{1,20}([:.]\d+)?", "invalid network interface name '{v}'"),
    "pve-realm": _regex_check(_REALM, "value does not look like a valid realm"),
    "pve-userid": _check_userid,
    "pve-tokenid": _check_tokenid,
    "pve-groupid": _regex_check(r"[A-Za-z0-9\.\-_]+", "group name '{v}' contains illegal characters"),
    "pve-roleid": _regex_check(r"[A-Za-z0-9\.\-_]+", "role name '{v}' contains illegal characters"),
    "pve-poolid": _regex_check(r"[A-Za-z0-9_][A-Za-z0-9_\-/]*", "pool name '{v}' contains illegal characters"),
    "pve-priv": _check_priv,
    "pve-storage-content": _check_content,
    "pve-startup-order": _check_startup,
    "dns-name": _regex_check(r"(%s\.)*%s" % (_DNS_LABEL, _DNS_LABEL), "value does not look like a valid DNS name"),
    "email": _regex_check(r"(\w+)([\-+.][\w]+)*@(\w[\-\w]*\.){1,5}([A-Za-z]){2,63}",
                          "value does not look like a valid email address"),
    "mac-addr": _regex_check(r"(?i)[a-f0-9][02468ace](?::[a-f0-9]{2}){5}",
                             "value does not look like a valid unicast MAC address"),
    "urlencoded": _regex_check(r"[-%a-zA-Z0-9_.!~*'()]*", "invalid urlencoded string: {v}"),
    "disk-size": _check_size,
    "ip": _ip_check(None, "value does not look like a valid IP address"),
    "ipv4": _ip_check(4, "value does not look like a valid IPv4 address"),
    "ipv6": _ip_check(6, "value does not look like a valid IPv6 address"),
    "CIDR": _cidr_check(None, "value does not look like a valid CIDR network"),
    "CIDRv4": _cidr_check(4, "value does not look like a valid IPv4 CIDR network"),
    "CIDRv6": _cidr_check(6, "value does not look like a valid IPv6 CIDR network"),
    "address": _check_address,
    # PVE::HA::Tools::pve_verify_ha_group_node (PVE 8's group node lists)
    "pve-ha-group-node": _regex_check(r"[a-zA-Z0-9\-]+(:\d+)?", "value does not look like a valid ha group node"),
    "string": lambda value: None,
}


def split_list(text):
    """PVE's split_list: items separated by commas, semicolons, NULs or white space."""
    return [item for item in re.split(r"[\s,;\0]+", text.strip()) if item]


def check_format(fmt, value, path):
    """Raise :class:`FormatError` when ``value`` does not fit ``fmt``.

    Formats pvesim does not know are accepted: they concern areas the simulator does
    not model (SDN, firewall, notification ids), and a false rejection would be worse.
    """
    if isinstance(fmt, dict):
        parse_property_string(fmt, value, path)
        return
    check = _FORMATS.get(fmt)
    if check is not None:
        check(value)
        return
    m = re.fullmatch(r"(.*)-a?list", fmt)
    if m and m.group(1) in _FORMATS:
        for item in split_list(value):
            _FORMATS[m.group(1)](item)
        return
    m = re.fullmatch(r"(.*)-opt", fmt)
    if m and m.group(1) in _FORMATS:
        if value:
            _FORMATS[m.group(1)](value)


_BOOL_TRUE = {"1", "on", "yes", "true"}
_BOOL_FALSE = {"0", "off", "no", "false"}


def parse_boolean(text):
    low = str(text).lower()
    if low in _BOOL_TRUE:
        return 1
    if low in _BOOL_FALSE:
        return 0
    return None


def parse_property_string(fmt, data, path=""):
    """Parse ``k=v,k2=v2`` against the sub-key schema ``fmt``; returns the dict."""
    result = {}
    default_key = None
    for part in data.split(","):
        if not part.strip():
            continue
        m = re.fullmatch(r"([^=]+)=(.+)", part, re.S)
        if m:
            key, val = m.group(1), m.group(2)
            if key in result:
                raise FormatError("duplicate key in comma-separated list property: %s\n" % key)
            sub = fmt.get(key)
            if sub and sub.get("alias"):
                if sub.get("keyAlias"):
                    if sub["keyAlias"] in result:
                        raise FormatError("key alias '%s' is already defined\n" % sub["keyAlias"])
                    result[sub["keyAlias"]] = key
                key = sub["alias"]
                sub = fmt.get(key)
            if not sub:
                raise FormatError("invalid key in comma-separated list property: %s\n" % key)
            if sub.get("type") == "boolean":
                parsed = parse_boolean(val)
                val = str(parsed) if parsed is not None else val
            result[key] = val
        elif "=" not in part:
            if default_key is not None:
                raise FormatError("duplicate key in comma-separated list property: %s\n" % default_key)
            for key in sorted(fmt):
                if fmt[key].get("default_key"):
                    default_key = key
                    if key in result:
                        raise FormatError("duplicate key in comma-separated list property: %s\n" % key)
                    result[key] = part
                    break
            if default_key is None:
                raise FormatError("value without key, but schema does not define a default key\n")
        else:
            raise FormatError("missing key in comma-separated list property\n")
    errors = {}
    typed = _check_object(path, fmt, result, False, errors)
    if errors:
        raise FormatError("format error\n", errors)
    return typed


# --- the checker --------------------------------------------------------------------

def _perl_regex(pattern):
    # PVE's schema shows Perl-stringified regexes such as "(?^:...)" or "(?^i:...)".
    return re.sub(r"\(\?\^([a-z]*):", lambda m: "(?%s:" % m.group(1) if m.group(1) else "(?:", pattern)


_PATTERNS = {}


def _pattern_matches(pattern, value):
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        try:
            compiled = re.compile(_perl_regex(pattern))
        except re.error:
            compiled = False  # a Perl-only construct: accept rather than reject wrongly
        _PATTERNS[pattern] = compiled
    return compiled is False or compiled.fullmatch(value) is not None


def _add_error(errors, path, message):
    path = path or "_root"
    errors[path] = errors[path] + "\n" + message if path in errors else message


def _as_text(value):
    """A JSON scalar as the text PVE's checker would see; None for an absent value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if not isinstance(value, (list, dict)) else value


_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?")


def check_prop(value, prop, path, errors):
    """Check one value; return it typed (int/float/str/list) or None after adding an error."""
    if value is None or (isinstance(value, list) and prop.get("type") != "array" and not value):
        if not prop.get("optional") and not prop.get("alias"):
            _add_error(errors, path, "property is missing and it is not optional")
        return None
    ptype = prop.get("type")
    if ptype == "array":
        items = value if isinstance(value, list) else [value]
        out = []
        for index, item in enumerate(items):
            out.append(check_prop(item, prop.get("items") or {"type": "string"}, "%s[%d]" % (path, index), errors))
        return out
    if isinstance(value, (list, dict)):
        _add_error(errors, path, "type check ('%s') failed - got %s" % (ptype, "ARRAY" if isinstance(value, list) else "HASH"))
        return None
    text = _as_text(value)
    typed = text
    if ptype == "boolean":
        typed = parse_boolean(text)
        if typed is None:
            _add_error(errors, path, "type check ('boolean') failed - got '%s'" % text)
            return None
        text = str(typed)
    elif ptype == "integer":
        if not _INTEGER.fullmatch(text):
            _add_error(errors, path, "type check ('integer') failed - got '%s'" % text)
            return None
        typed = int(text)
    elif ptype == "number":
        if not _NUMBER.fullmatch(text):
            _add_error(errors, path, "type check ('number') failed - got '%s'" % text)
            return None
        typed = float(text)
    fmt = prop.get("format")
    if fmt:
        try:
            parsed = check_format(fmt, text, path)
        except FormatError as err:
            _add_error(errors, path, "invalid format - " + err.text())
            return None
        del parsed  # property strings are handed to handlers as the original text
    if prop.get("pattern") and not _pattern_matches(prop["pattern"], text):
        _add_error(errors, path, "value does not match the regex pattern")
        return None
    if prop.get("maxLength") is not None and len(text) > int(prop["maxLength"]):
        _add_error(errors, path, "value may only be %s characters long" % prop["maxLength"])
        return None
    if prop.get("minLength") is not None and len(text) < int(prop["minLength"]):
        _add_error(errors, path, "value must be at least %s characters long" % prop["minLength"])
        return None
    if _NUMBER.fullmatch(text):
        number = float(text)
        if prop.get("maximum") is not None and number > float(prop["maximum"]):
            _add_error(errors, path, "value must have a maximum value of %s" % prop["maximum"])
            return None
        if prop.get("minimum") is not None and number < float(prop["minimum"]):
            _add_error(errors, path, "value must have a minimum value of %s" % prop["minimum"])
            return None
    if prop.get("enum") and text not in [str(e) for e in prop["enum"]]:
        _add_error(errors, path, "value '%s' does not have a value in the enumeration '%s'"
                   % (text, ", ".join(str(e) for e in prop["enum"])))
        return None
    return typed


def _check_object(path, properties, values, additional, errors):
    typed = {}
    concrete = {}  # family members present ("link0") are checked under their own names
    for name in values:
        if name not in properties and _lookup_property(properties, name) is not None:
            concrete[name] = _lookup_property(properties, name)
    for name, prop in sorted(properties.items()):
        if name.endswith("[n]"):
            continue
        result = check_prop(values.get(name), prop, "%s.%s" % (path, name) if path else name, errors)
        if result is not None:
            typed[name] = result
    for name, prop in sorted(concrete.items()):
        result = check_prop(values[name], prop, "%s.%s" % (path, name) if path else name, errors)
        if result is not None:
            typed[name] = result
    for name in values:
        full = "%s.%s" % (path, name) if path else name
        prop = properties.get(name) or concrete.get(name)
        if prop is not None:
            requires = prop.get("requires")
            if isinstance(requires, str) and values.get(requires) is None:
                _add_error(errors, "%s.%s" % (path, requires) if path else requires,
                           "missing property - '%s' requires this property" % full)
            continue
        if not additional:
            _add_error(errors, full, "property is not defined in schema and the schema does not allow additional properties")
    return typed


def validate(info, params):
    """Check ``params`` (name -> text, list of texts, or JSON scalar) against a schema
    entry; return them typed, or raise PVE's 400 with the per-parameter errors."""
    spec = info.get("parameters") or {}
    properties = spec.get("properties") or {}
    additional = spec.get("additionalProperties", 1)
    errors = {}
    typed = _check_object("", properties, params, additional, errors)
    if errors:
        raise ApiError.param(errors)
    if additional:  # extra parameters pass through untyped, as PVE hands them on
        for name, value in params.items():
            if name not in typed and _lookup_property(properties, name) is None:
                typed[name] = _as_text(value)
    return typed
