"""Node API: /nodes, status and power, DNS, hosts, time, config, subscription,
certificates, wake-on-LAN, apt update, CPU capabilities and RRD data.

Node-local state lives on the :class:`Host` (``dns``, ``hosts_text``, ``timezone``,
``node_config``, ``subscription``, certificates); ``{node}`` is resolved as seen from
the receiving host, so only members of its own cluster exist.

Subscription keys are checked offline, deterministically (no shop to ask):
a key of the right format is ``active`` unless its hex part ends in ``dead``
(``invalid``, "Invalid Server ID") or ``0ff`` (``expired``), or the host has more CPU
sockets than the key covers (``invalid``, "wrong number of sockets"). ``sim.faults.shop_unreachable``
makes the check fail (500) after a PUT wrote the key with status ``new``.
"""

import datetime
import hashlib
import ipaddress
import math
import re
import time
import zoneinfo

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from pvesim.certs import fingerprint
from pvesim.domain.cpu_models import cpu_flags, cpu_models, host_arch
from pvesim.domain.nodes import (node_certificate_fingerprint, power_off, schedule_boot, status_cpuinfo,
                                 subscription_level, uptime)
from pvesim.domain.releases import release
from pvesim.errors import ApiError, assert_if_modified
from pvesim.routing import RouteTable

routes = RouteTable()

# the pve-manager version, kernel and Debian release come from pvesim.domain.releases
# (RELEASES), per the scenario's pve_version

REBOOT_SECONDS = 60  # simulated time a rebooting node stays down
WAKE_SECONDS = 45  # simulated boot time after a wake-on-LAN packet

_TIMEZONES = None

# What pveproxy answers when the node a request is for cannot be reached (as pvesim.dispatch).
PROXY_ERROR = (595, "No route to host")


def _timezones():
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = zoneinfo.available_timezones()
    return _TIMEZONES


def target(req, online=True):
    """The Host ``{node}`` names, as the receiving host sees the cluster.

    PVE proxies most node calls to that node; when it is down the proxy cannot connect.
    """
    host = req.sim.node_of(req.host, req.params["node"])
    if online and not host.online:
        raise ApiError(*PROXY_ERROR)
    return host


# --- /nodes ---------------------------------------------------------------------

@routes("GET", "/nodes")
def nodes_index(req):
    sim, fs = req.sim, req.fs
    names = set(fs.corosync_nodes) if fs.cluster_name else set()
    names.update(h.name for h in sim.members(fs))
    result = []
    for name in sorted(names):
        # every user sees the nodes; the load figures only with Sys.Audit on the node (as PVE)
        audit = req.sim.access is None or req.identity is None or req.has_priv("/nodes/%s" % name, "Sys.Audit")
        host = sim.hosts.get(name)
        item = {"node": name, "id": "node/%s" % name, "type": "node"}
        if host is None or host.fs is not fs:
            item["status"] = "unknown" if host is None else "offline"
            result.append(item)
            continue
        item["ssl_fingerprint"] = node_certificate_fingerprint(host)
        if host.online and not audit:
            item["status"] = "online"
        elif host.online:
            item.update({
                "status": "online", "cpu": round(host.cpu_fraction(), 6), "maxcpu": host.maxcpu,
                "mem": host.used_mem(), "maxmem": host.maxmem, "disk": host.disk, "maxdisk": host.maxdisk,
                "uptime": uptime(host), "level": subscription_level(host),
            })
        else:
            item["status"] = "offline"
        result.append(item)
    return result


_NODE_DIRS = [
    "aplinfo", "apt", "capabilities", "ceph", "certificates", "config", "disks", "dns", "execute", "firewall",
    "hardware", "hosts", "journal", "lxc", "migrateall", "netstat", "network", "qemu", "query-url-metadata",
    "replication", "report", "rrd", "rrddata", "scan", "sdn", "services", "spiceshell", "startall", "status",
    "stopall", "storage", "subscription", "suspendall", "syslog", "tasks", "termproxy", "time", "version",
    "vncshell", "vzdump", "wakeonlan",
]


@routes("GET", "/nodes/{node}")
def node_index(req):
    req.sim.node_of(req.host, req.params["node"])
    return [{"name": name} for name in _NODE_DIRS]


@routes("GET", "/nodes/{node}/version")
def node_version(req):
    target(req)
    info = release(req.sim)
    return {"version": info["version"], "release": info["release"], "repoid": info["repoid"]}


# --- status and power -------------------------------------------------------------

def _loadavg(host):
    base = host.cpu_fraction() * host.maxcpu
    return ["%.2f" % (base * f) for f in (1.0, 0.95, 0.9)]


@routes("GET", "/nodes/{node}/status")
def node_status(req):
    host = target(req)
    cpuinfo = status_cpuinfo(req.sim, host)
    used = host.used_mem()
    swap_total = 8 * 1024 ** 3
    root_total = host.maxdisk
    root_used = host.disk
    cpu = host.cpu_fraction()
    info = release(req.sim)
    return {
        "uptime": uptime(host),
        "idle": 0,
        "wait": round(0.002 + cpu * 0.01, 6),
        "cpu": round(cpu, 6),
        "loadavg": _loadavg(host),
        "cpuinfo": cpuinfo,
        "memory": {"total": host.maxmem, "used": used, "free": host.maxmem - used, "available": host.maxmem - used},
        "swap": {"total": swap_total, "used": 0, "free": swap_total},
        "rootfs": {"total": root_total, "used": root_used, "free": root_total - root_used, "avail": root_total - root_used},
        "ksm": {"shared": 0},
        "kversion": "Linux %s %s" % (info["kernel_release"], info["kernel_version"]),
        "current-kernel": {"sysname": "Linux", "release": info["kernel_release"], "version": info["kernel_version"],
                           "machine": host_arch(host)},
        "boot-info": {"mode": "efi", "secureboot": 0},
        "pveversion": "pve-manager/%s/%s" % (info["version"], info["repoid"]),
    }


@routes("POST", "/nodes/{node}/status")
def node_power(req):
    host = target(req)
    command = req.params["command"]
    if command == "reboot":
        # PVE's default HA shutdown policy ("conditional"): a reboot freezes the node's HA
        # services, they are not recovered elsewhere and start again once it is back
        host.ha_frozen = True
    power_off(req.sim, host, REBOOT_SECONDS if command == "reboot" else None)
    return None


@routes("POST", "/nodes/{node}/wakeonlan")
def node_wakeonlan(req):
    name = req.params["node"]
    if name in ("localhost", req.host.name):
        raise ApiError(500, "'%s' is local node, cannot wake my self!" % name)
    host = req.sim.node_of(req.host, name)
    mac = _parse_wakeonlan(host.node_config.get("wakeonlan")).get("mac")
    if not mac:
        raise ApiError(500, "No wake on LAN MAC address defined for '%s'!" % name)
    if not host.online and host.online_at is None:
        schedule_boot(req.sim, host, WAKE_SECONDS)
    return mac


def _parse_wakeonlan(value):
    result = {}
    if not value:
        return result
    for part in str(value).split(","):
        key, sep, val = part.partition("=")
        if not sep:
            key, val = "mac", key
        result[key.strip()] = val.strip()
    return result


# --- DNS, hosts, time --------------------------------------------------------------

DEFAULT_DNS = {"search": "example.internal", "dns1": "192.0.2.53"}


def _dns(host):
    if not host.dns:
        host.dns = dict(DEFAULT_DNS)
    return host.dns


@routes("GET", "/nodes/{node}/dns")
def node_dns_get(req):
    return dict(_dns(target(req)))


@routes("PUT", "/nodes/{node}/dns")
def node_dns_set(req):
    host = target(req)
    # PVE rewrites search and the name servers; duplicates and 0.0.0.0 are dropped
    servers = []
    for key in ("dns1", "dns2", "dns3"):
        server = req.params.get(key)
        if server and server != "0.0.0.0" and server not in servers:
            servers.append(server)
    dns = {"search": req.params["search"]}
    for index, server in enumerate(servers, start=1):
        dns["dns%d" % index] = server
    host.dns = dns
    return None


def _hosts_text(host):
    if not host.hosts_text:
        host.hosts_text = (
            "127.0.0.1 localhost.localdomain localhost\n"
            "%s %s.example.internal %s\n\n"
            "# The following lines are desirable for IPv6 capable hosts\n\n"
            "::1     ip6-localhost ip6-loopback\n"
            "fe00::0 ip6-localnet\n"
            "ff00::0 ip6-mcastprefix\n"
            "ff02::1 ip6-allnodes\n"
            "ff02::2 ip6-allrouters\n"
            "ff02::3 ip6-allhosts\n" % (host.address, host.name, host.name)
        )
    return host.hosts_text


def _sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()


@routes("GET", "/nodes/{node}/hosts")
def node_hosts_get(req):
    text = _hosts_text(target(req))
    return {"data": text, "digest": _sha1(text)}


def _check_hosts_text(text):
    """PVE::INotify::write_etc_hosts: every line that is no comment or blank must be an IP
    address and host names (split on whitespace as Perl does: leading blanks make an empty
    first field, so such a line has an invalid IP)."""
    for line in text.split("\n"):
        if re.match(r"^\s*#", line) or re.match(r"^\s*$", line):
            continue
        fields = re.split(r"\s+", line)
        while fields and fields[-1] == "":
            fields.pop()
        address, names = fields[0], fields[1:]
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ApiError.param({"data": "Invalid IP '%s'" % address}) from None
        for name in names:
            if not re.fullmatch(r"[.\-a-zA-Z0-9]+", name):
                raise ApiError.param({"data": "Invalid Hostname '%s'" % name})


@routes("POST", "/nodes/{node}/hosts")
def node_hosts_set(req):
    host = target(req)
    assert_if_modified(req.params.get("digest"), _sha1(_hosts_text(host)))
    _check_hosts_text(req.params["data"])
    host.hosts_text = req.params["data"]
    return None


@routes("GET", "/nodes/{node}/time")
def node_time_get(req):
    host = target(req)
    now = int(time.time())
    offset = datetime.datetime.now(zoneinfo.ZoneInfo(host.timezone)).utcoffset() or datetime.timedelta(0)
    return {"timezone": host.timezone, "time": now, "localtime": now + int(offset.total_seconds())}


@routes("PUT", "/nodes/{node}/time")
def node_time_set(req):
    host = target(req)
    zone = req.params["timezone"]
    if zone not in _timezones():
        raise ApiError.param({"timezone": "No such timezone"})
    host.timezone = zone
    return None


# --- node config (/etc/pve/nodes/<node>/config) ------------------------------------

def _config_digest(config):
    text = "".join("%s: %s\n" % (k, config[k]) for k in sorted(config))
    return _sha1(text)


@routes("GET", "/nodes/{node}/config")
def node_config_get(req):
    host = req.sim.node_of(req.host, req.params["node"])  # lives in /etc/pve: readable while the node is down
    config = dict(host.node_config)
    prop = req.params.get("property")
    if prop and prop != "all":
        return {prop: config[prop]} if prop in config else {}
    config["digest"] = _config_digest(host.node_config)
    return config


_NODE_CONFIG_KEYS = {"acme", "ballooning-target", "description", "startall-onboot-delay", "wakeonlan"} | {
    "acmedomain%d" % n for n in range(6)}


@routes("PUT", "/nodes/{node}/config")
def node_config_set(req):
    host = target(req)
    req.sim.require_quorum(req.fs)
    assert_if_modified(req.params.get("digest"), _config_digest(host.node_config))
    updated = dict(host.node_config)
    for key, value in req.params.items():
        if key in _NODE_CONFIG_KEYS:
            updated[key] = value
    for key in re.split(r"[,;\s]+", req.params.get("delete") or ""):
        if key:
            updated.pop(key, None)
    if "wakeonlan" in updated:
        mac = _parse_wakeonlan(updated["wakeonlan"]).get("mac", "")
        if not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", mac):
            raise ApiError.param({"wakeonlan": "invalid format - value does not look like a valid MAC address"})
    host.node_config = updated
    return None


# --- subscription ----------------------------------------------------------------

_KEY_RE = re.compile(r"^pve([1248])([cbsp])-([0-9a-f]{10})$")
_LEVEL_NAMES = {"c": "Community", "b": "Basic", "s": "Standard", "p": "Premium"}
SHOP_URL = "https://www.proxmox.com/en/proxmox-virtual-environment/pricing"


def _server_id(host):
    return hashlib.md5(("pvesim-ssh-host-key-" + host.name).encode()).hexdigest().upper()


def _sockets(host):
    return int(host.cpuinfo.get("sockets", 1) or 1)


def _check_key(host, key):
    """The subscription info a check against the shop would give, decided offline."""
    match = _KEY_RE.match(key)
    sockets, level, hexpart = int(match.group(1)), match.group(2), match.group(3)
    now = int(time.time())
    info = {"key": key, "checktime": now, "serverid": _server_id(host), "sockets": _sockets(host), "url": SHOP_URL}
    if hexpart.endswith("dead"):
        info.update(status="invalid", message="Invalid Server ID")
    elif hexpart.endswith("0ff"):
        info.update(status="expired", message="subscription expired")
    elif sockets < _sockets(host):
        # only reachable on re-checks (POST), PUT refuses such a key before this
        info.update(status="invalid", message="wrong number of sockets (%d < %d)" % (sockets, _sockets(host)))
    else:
        regdate = time.strftime("%Y-%m-%d 00:00:00", time.gmtime(now - 86400 * 30))
        due = time.strftime("%Y-%m-%d", time.gmtime(now + 86400 * 335))
        info.update(status="active", level=level, regdate=regdate, nextduedate=due,
                    productname="Proxmox VE %s Subscription %d CPU%s/year" % (_LEVEL_NAMES[level], sockets, "" if sockets == 1 else "s"))
    return info


@routes("GET", "/nodes/{node}/subscription")
def node_subscription_get(req):
    host = target(req)
    # PVE's Subscription.pm: every user may read the status; all the rest (key, level,
    # server ID, ...) needs Sys.Audit on the node
    audit = req.sim.access is None or req.identity is None or req.has_priv("/nodes/%s" % host.name, "Sys.Audit")
    if not host.subscription:
        info = {"status": "notfound", "message": "There is no subscription key", "url": SHOP_URL}
        if audit:
            info["serverid"] = _server_id(host)
        return info
    if not audit:
        return {"status": host.subscription["status"], "message": host.subscription.get("message"), "url": SHOP_URL}
    info = dict(host.subscription)
    info.update(serverid=_server_id(host), sockets=_sockets(host), url=SHOP_URL)
    return info


@routes("PUT", "/nodes/{node}/subscription")
def node_subscription_set(req):
    host = target(req)
    key = req.params["key"].strip()
    match = _KEY_RE.match(key)
    if not match:
        raise ApiError(500, "Wrong subscription key format")
    # check_key before anything is written: a key for fewer sockets is refused outright
    if int(match.group(1)) < _sockets(host):
        raise ApiError(500, "wrong number of sockets (%s < %d)" % (match.group(1), _sockets(host)))
    # PVE writes the key with status "new" first, then asks the shop (check_subscription)
    host.subscription = {"key": key, "status": "new", "checktime": int(time.time())}
    _ask_shop(req, host)
    host.subscription = _check_key(host, key)
    return None


SHOP_UNREACHABLE = "Error checking subscription: the Proxmox shop could not be reached (simulated)"


def _ask_shop(req, host):
    """The check against the shop; fails as ``sim.faults.shop_unreachable`` says."""
    faults = getattr(req.sim, "faults", None)
    if faults is not None and faults.shop_down(host.name):
        raise ApiError(500, SHOP_UNREACHABLE)


@routes("POST", "/nodes/{node}/subscription")
def node_subscription_update(req):
    host = target(req)
    if host.subscription:
        _ask_shop(req, host)
        host.subscription = _check_key(host, host.subscription["key"])
    return None


@routes("DELETE", "/nodes/{node}/subscription")
def node_subscription_delete(req):
    host = target(req)
    host.subscription = {}
    return None


# --- certificates --------------------------------------------------------------------

def _load_cert(pem):
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def _oneline(name):
    # Net::SSLeay's X509_NAME_oneline form: /C=AT/O=.../CN=...
    return "".join("/%s=%s" % (attr.rfc4514_attribute_name, attr.value) for attr in name)


def cert_info(pem, filename):
    """PVE's pve-certificate-info for the first certificate of ``pem``."""
    cert = _load_cert(pem)
    san = []
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san = [str(v) for v in ext.get_values_for_type(x509.DNSName)]
        san += [str(v) for v in ext.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_type, bits = "rsaEncryption", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type, bits = "id-ecPublicKey", key.curve.key_size
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key_type, bits = "ED25519", 253
    else:
        key_type, bits = "unknown", 0
    not_before = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return {
        "filename": filename, "fingerprint": fingerprint(pem), "subject": _oneline(cert.subject),
        "issuer": _oneline(cert.issuer), "notbefore": int(not_before.timestamp()), "notafter": int(not_after.timestamp()),
        "san": san, "pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "public-key-type": key_type, "public-key-bits": bits,
    }


def _ca_pem(sim, host):
    # pve-root-ca.pem lives in /etc/pve: the host's own CA, or its cluster's after a join
    stored = host.fs.ca
    if stored:
        return stored["cert_pem"]
    return getattr(getattr(sim, "ca", None), "cert_pem", None)


@routes("GET", "/nodes/{node}/certificates")
def node_certificates_index(req):
    req.sim.node_of(req.host, req.params["node"])
    return [{"name": "acme"}, {"name": "custom"}, {"name": "info"}]


@routes("GET", "/nodes/{node}/certificates/info")
def node_certificates_info(req):
    host = target(req)
    result = []
    ca = _ca_pem(req.sim, host)
    for pem, filename in ((ca, "pve-root-ca.pem"), (host.cert_pem, "pve-ssl.pem"),
                          ((host.custom_cert or {}).get("cert_pem"), "pveproxy-ssl.pem")):
        if pem:
            try:
                result.append(cert_info(pem, filename))
            except ValueError:
                continue  # PVE skips files it cannot read
    return result


_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s*[0-9A-Za-z+/=\s]+-----END CERTIFICATE-----\s*")
_PEM_ANY = re.compile(r"-----BEGIN ([A-Z ]+)-----\s*[0-9A-Za-z+/=\s]+-----END \1-----\s*")


def _strip_leading_text(text):
    start = text.find("-----BEGIN ")
    return text[start:] if start >= 0 else text


def _reload_tls(sim, host):
    """Make the host's HTTPS endpoint serve its current certificate (pveproxy restart);
    ``host.fingerprint`` follows the served certificate."""
    server = getattr(sim, "server", None)
    if server is not None:
        server.reload_certificate(host)
    else:
        pem = host.custom_cert["cert_pem"] if host.custom_cert else host.cert_pem
        if pem:
            host.fingerprint = fingerprint(pem)


def _key_matches(cert_pem, key_pem):
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return False
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = key.public_key().public_bytes(serialization.Encoding.PEM, spki)
    theirs = _load_cert(cert_pem).public_key().public_bytes(serialization.Encoding.PEM, spki)
    return ours == theirs


@routes("POST", "/nodes/{node}/certificates/custom")
def node_certificates_upload(req):
    host = target(req)
    req.sim.require_quorum(req.fs)
    certs = _strip_leading_text(req.params["certificates"])
    if not re.fullmatch(r"(%s)+" % _PEM_CERT.pattern, certs):
        raise ApiError.param({"certificates": "not a valid PEM-formatted string."})
    key = req.params.get("key")
    if key:
        key = _strip_leading_text(key)
        if not _PEM_ANY.fullmatch(key):
            raise ApiError.param({"key": "not a valid PEM-formatted string."})
    elif not host.custom_cert:
        raise ApiError.param({"key": "Attempted to upload custom certificate without (existing) key."})
    else:
        key = host.custom_cert["key_pem"]
    if host.custom_cert and not req.params.get("force"):
        raise ApiError(500, "Custom certificate file exists but force flag is not set.")
    try:
        info = cert_info(certs, "pveproxy-ssl.pem")
    except ValueError:
        raise ApiError(500, "Setting certificate files failed - unable to read certificate from "
                            "'/etc/pve/nodes/%s/pveproxy-ssl.pem'" % host.name)
    if not _key_matches(certs, key):
        raise ApiError(500, "Failed to validate private key and certificate")
    host.custom_cert = {"cert_pem": certs, "key_pem": key, "fingerprint": info["fingerprint"]}
    if req.params.get("restart"):
        _reload_tls(req.sim, host)
    return info


@routes("DELETE", "/nodes/{node}/certificates/custom")
def node_certificates_delete(req):
    host = target(req)
    req.sim.require_quorum(req.fs)
    host.custom_cert = None
    if req.params.get("restart"):
        _reload_tls(req.sim, host)
    return None


# --- apt ----------------------------------------------------------------------------------

@routes("POST", "/nodes/{node}/apt/update")
def node_apt_update(req):
    host = target(req)

    def finish(task):
        task.log("starting apt-get update")
        suite = release(req.sim)["debian"]
        task.log("Hit:1 http://deb.debian.org/debian %s InRelease" % suite)
        task.log("Hit:2 http://deb.debian.org/debian %s-updates InRelease" % suite)
        task.log("Hit:3 http://security.debian.org/debian-security %s-security InRelease" % suite)
        task.log("Hit:4 http://download.proxmox.com/debian/pve %s InRelease" % suite)
        task.log("Reading package lists...")
        host.apt_updated = int(time.time())

    user = req.identity.authid if req.identity else "root@pam"
    return req.sim.start_task(host, "aptupdate", "", user, 5, finish)


@routes("GET", "/nodes/{node}/apt/update")
def node_apt_list(req):
    target(req)
    return []  # the simulated hosts are always up to date


# --- capabilities ------------------------------------------------------------------------

@routes("GET", "/nodes/{node}/capabilities")
def node_capabilities(req):
    req.sim.node_of(req.host, req.params["node"])
    return [{"name": "qemu"}]


@routes("GET", "/nodes/{node}/capabilities/qemu")
def node_capabilities_qemu(req):
    req.sim.node_of(req.host, req.params["node"])
    return [{"name": "cpu"}, {"name": "cpu-flags"}, {"name": "machines"}, {"name": "migration"}]


# Neither route has proxyto (pve-manager API2/Capabilities.pm mounts qemu-server's
# API2/Qemu/CPU.pm and CPUFlags.pm): the receiving node answers, whatever {node} names.

@routes("GET", "/nodes/{node}/capabilities/qemu/cpu")
def node_cpu_models(req):
    # API2/Qemu/CPU.pm: custom models only with Sys.Audit on /nodes (not /nodes/{node})
    include_custom = req.allowed("/nodes", "Sys.Audit")
    return cpu_models(req.sim, req.host, req.params.get("arch"), include_custom)


@routes("GET", "/nodes/{node}/capabilities/qemu/cpu-flags")
def node_cpu_flags(req):
    return cpu_flags(req.sim, req.host, req.params.get("arch"))


# --- RRD ------------------------------------------------------------------------------------

_RRD_STEP = {"hour": 60, "day": 1800, "week": 10800, "month": 43200, "year": 604800, "decade": 6048000}


@routes("GET", "/nodes/{node}/rrddata")
def node_rrddata(req):
    host = req.sim.node_of(req.host, req.params["node"])
    step = _RRD_STEP[req.params["timeframe"]]
    peak = req.params.get("cf") == "MAX"
    now = int(time.time()) // step * step
    seed = int(hashlib.md5(host.name.encode()).hexdigest()[:6], 16)
    cpu_now = host.cpu_fraction()
    mem_now = host.used_mem() or host.base_mem
    points = []
    for index in range(70):
        stamp = now - (69 - index) * step
        # a gentle deterministic wave around the current load, higher for MAX
        wave = 1.0 + 0.15 * math.sin((stamp / step + seed) / 5.0) + (0.1 if peak else 0.0)
        if not host.online and index == 69:
            points.append({"time": stamp})
            continue
        cpu = min(1.0, max(0.0, cpu_now * wave))
        points.append({
            "time": stamp, "cpu": round(cpu, 6), "maxcpu": host.maxcpu, "iowait": round(cpu * 0.02, 6),
            "loadavg": round(cpu * host.maxcpu, 2), "memtotal": host.maxmem,
            "memused": int(min(host.maxmem, mem_now * wave)), "swaptotal": 8 * 1024 ** 3, "swapused": 0,
            "roottotal": host.maxdisk, "rootused": host.disk,
            "netin": round(50000 * wave, 2), "netout": round(30000 * wave, 2),
        })
    return points
