"""A node's own state that several areas read: its addresses and DNS names, the fingerprint
of its certificate, its subscription level, its power (off, boot, uptime), and its CPU as
``/proc/cpuinfo`` and ``uname`` show it (the ``cpuinfo`` of ``GET /nodes/{node}/status``)."""

import hashlib
import ipaddress
import re
import time

from pvesim import certs
from pvesim.domain.cpu_models import host_arch, release_data


def is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


# --- addresses and names ----------------------------------------------------------------
def local_addresses(host):
    """Every IP address of ``host``: the one its API listens on, then its scenario ``node_addresses``."""
    return [host.address] + list(host.addresses)


def find_host(sim, hostname):
    """The host a name or address reaches (as PVE on one host resolves another), or None."""
    for other in sim.hosts.values():
        if hostname == other.name or hostname in local_addresses(other) or hostname in other.names:
            return other
    return None


def load_node_addresses(sim, value):
    """Scenario ``node_addresses``: ``{node: ["10.10.0.1", ...]}``, further IP addresses of a host
    (its corosync networks, say) besides the loopback address its API listens on.

    A join takes them as the host's own link addresses, and PVE on one host reaches another's API
    on them (``hostname`` of a join). Only the simulated hosts route them: clients still connect
    to the loopback address.
    """
    for name, addresses in value.items():
        if name not in sim.hosts:
            raise ValueError("node_addresses: no node %r in the scenario" % name)
        bad = [address for address in addresses if not is_ip(address)]
        if bad:
            raise ValueError("node_addresses: %s of %s is not an IP address" % (", ".join(bad), name))
        sim.hosts[name].addresses = list(addresses)


def load_host_names(sim, value):
    """Scenario ``host_names``: ``{node: ["pve-a.lab.example", ...]}``, DNS names the simulated hosts
    resolve to that host (as the ``hostname`` of a join). Clients still connect to the loopback address.
    """
    for name, names in value.items():
        if name not in sim.hosts:
            raise ValueError("host_names: no node %r in the scenario" % name)
        bad = [item for item in names if is_ip(item) or not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", item)]
        if bad:
            raise ValueError("host_names: %s of %s is not a DNS name" % (", ".join(bad), name))
        sim.hosts[name].names = list(names)


# --- certificate and subscription -------------------------------------------------------
def node_certificate_fingerprint(host):
    """What PVE's get_node_fingerprint reads: the custom certificate (pveproxy-ssl.pem)
    if one is uploaded, else the cluster-issued pve-ssl.pem -- restarted or not.
    A host of an in-process simulator (no HTTPS, no certificate) gets a stable stand-in,
    as every real node has a certificate."""
    if host.custom_cert and host.custom_cert.get("cert_pem"):
        return certs.fingerprint(host.custom_cert["cert_pem"])
    if host.cert_pem:
        return certs.fingerprint(host.cert_pem)
    if host.fingerprint:
        return host.fingerprint
    digest = hashlib.sha256(("pvesim-no-certificate:" + host.name).encode()).digest()
    return ":".join("%02X" % b for b in digest)


def subscription_level(host):
    sub = host.subscription or {}
    return sub.get("level", "") if sub.get("status") == "active" else ""


# --- power --------------------------------------------------------------------------------
def uptime(host):
    """Seconds since boot; hosts the scenario starts with have been up a few days already
    (a deterministic figure per node) until they are first powered off."""
    if not host.online:
        return 0
    offset = host.uptime_offset
    if offset is None:
        offset = 3 * 86400 + int(hashlib.md5(host.name.encode()).hexdigest()[:5], 16) % 86400
    return int(time.time() - host.boot_time) + offset


def power_off(sim, host, come_back_after=None):
    """Take ``host`` down: its running guests stop; ``come_back_after`` simulated seconds
    later it boots again (None: it stays off until woken)."""
    sim.kill_tasks(host)
    for guest in host.guests():
        if guest.running:
            guest.status = "stopped"
            guest.uptime_since = None
    sim.host_down(host)
    host.uptime_offset = 0  # from now on uptime counts from the next boot
    host.powered_off = True  # the next time it is up is a boot (onboot guests start)
    if come_back_after is not None:
        schedule_boot(sim, host, come_back_after)
    else:
        host.online_at = None


def schedule_boot(sim, host, after):
    """Bring ``host`` back ``after`` simulated seconds from now.  The next tick does it;
    the host's own endpoint ticks before it looks at a new connection, so the host answers
    again even when nobody calls another host in between."""
    host.online_at = time.monotonic() + sim.delay(after)


# --- CPU: /proc/cpuinfo as pve-common's read_cpuinfo reports it ----------------------------
# PVE::ProcFSTools::read_cpuinfo (pve-common) returns these keys. `vendor` and `family` came
# with pve-common 9.1.6 (commit d2582a9, "procfs tools: cpuinfo: also return CPU vendor and
# family", 2026-01-19): PVE 8.x, 9.0 and 9.1 before it have neither. pvesim's 9.1 is
# pve-manager 9.1.9, whose pve-common (9.1.9 and later) has them; its 8.4 does not.
CPUINFO_VENDOR_FAMILY = {"9.1": True, "8.4": False}
ARCHES = ("x86_64", "aarch64")
# what an arm64 /proc/cpuinfo cannot give: it has no `model name`, `vendor_id`, `cpu family`,
# `cpu MHz`, `flags` or `physical id` lines (its CPU features are the `Features` line)
AARCH64_REFUSED = ("model", "vendor", "family", "mhz", "flags", "sockets", "cores", "hvm")


def _hvm(flags):
    """read_cpuinfo: ``$res->{hvm} = $res->{flags} =~ m/\\s(vmx|svm)\\s/`` -- a Perl boolean, which
    JSON encodes as the string "1" or "" (a flag at either end of the line does not count)."""
    return "1" if re.search(r"\s(vmx|svm)\s", flags) else ""


def load_node_arch(sim, value):
    """Scenario ``node_arch``: ``{node: "aarch64"}`` (default x86_64), the machine ``uname`` reports.

    Runs before ``cpuinfo``. An aarch64 node's ``cpuinfo`` is what PVE 9.1 reads from an arm64
    ``/proc/cpuinfo``: the processor count only, the rest read_cpuinfo's defaults. PVE 8.4's
    qemu-server has no aarch64 models, so an 8.4 scenario cannot have such a node.
    """
    for name, arch in value.items():
        host = sim.hosts.get(name)
        if host is None:
            raise ValueError("node_arch: no node %r in the scenario" % name)
        if arch not in ARCHES:
            raise ValueError("node_arch: %s of %s is not one of %s" % (arch, name, ", ".join(ARCHES)))
        if arch == "aarch64":
            if "aarch64" not in release_data(sim.pve_version)["models"]:
                raise ValueError("node_arch: PVE %s has no aarch64 support (%s)" % (sim.pve_version, name))
            host.cpuinfo = {"cpus": host.maxcpu}  # not pvesim's default Intel host
        host.cpuinfo["arch"] = arch


def load_cpuinfo(sim, value):
    """Scenario ``cpuinfo``: ``{node: cpuinfo object}`` as ``GET /nodes/{node}/status`` returns it.

    A node with an object answers what the object gives and nothing it leaves out: no
    ``vendor``/``family`` unless given (a node whose pve-common predates them). ``cpus`` and
    ``cores`` default to the node's ``maxcpu``, ``sockets`` to 1, ``model`` to PVE's "unknown",
    ``flags`` to "". ``hvm`` always follows the flags. A node without an object keeps pvesim's
    default Intel host. An aarch64 node (``node_arch``) may give only ``cpus`` and
    ``features`` (the kernel's ``Features`` line, which PVE does not read: kept, never answered).
    """
    for name, info in value.items():
        host = sim.hosts.get(name)
        if host is None:
            raise ValueError("cpuinfo: no node %r in the scenario" % name)
        arch = host.cpuinfo.get("arch")
        if arch == "aarch64":
            refused = [key for key in AARCH64_REFUSED if key in info]
            if refused:
                raise ValueError("cpuinfo: %s is aarch64, whose /proc/cpuinfo has no line for %s (PVE reads only "
                                 "the processor count; give the Features line as `features`)"
                                 % (name, ", ".join(refused)))
        record = {"cpus": host.maxcpu, "cores": host.maxcpu}
        record.update(info)
        record.pop("hvm", None)  # always worked out from the flags, as read_cpuinfo does
        if arch:
            record["arch"] = arch
        host.cpuinfo = record


def status_cpuinfo(sim, host):
    """The ``cpuinfo`` of ``GET /nodes/{node}/status``: read_cpuinfo of the release's pve-common."""
    info = host.cpuinfo
    with_vendor = CPUINFO_VENDOR_FAMILY.get(sim.pve_version, True)
    if host_arch(host) == "aarch64":
        # no `model name`/`vendor_id`/`cpu family`/`cpu MHz`/`flags`/`physical id` lines:
        # read_cpuinfo's defaults (the ARM model names came only with pve-common 9.2.0)
        result = {"user_hz": 100, "model": "unknown", "mhz": 0, "cpus": int(info.get("cpus", host.maxcpu)),
                  "sockets": 1, "cores": 1, "flags": "", "hvm": ""}
        if with_vendor:
            result.update({"vendor": "unknown", "family": 0})
        return result
    flags = str(info.get("flags", ""))
    mhz = info.get("mhz", 0)
    if isinstance(mhz, (int, float)) and mhz:
        mhz = "%.3f" % mhz  # a captured `cpu MHz` (\d+\.\d+) is a string; without the line, the number 0
    result = {
        "user_hz": int(info.get("user_hz", 100)),
        "model": str(info.get("model", "unknown")),
        "mhz": mhz,
        "cpus": int(info.get("cpus", host.maxcpu)),
        "sockets": int(info.get("sockets", 1)),
        "cores": int(info.get("cores", host.maxcpu)),
        "flags": flags,
        "hvm": _hvm(flags),
    }
    if with_vendor:
        if "vendor" in info:
            result["vendor"] = str(info["vendor"])
        if "family" in info:
            # a captured `cpu family` (\d+) is a string; read_cpuinfo's default is the number 0
            result["family"] = str(info["family"]) if info["family"] else 0
    return result
