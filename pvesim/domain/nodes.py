"""A node's own state that several areas read: its addresses and DNS names, the fingerprint
of its certificate, its subscription level, and its power (off, boot, uptime)."""

import hashlib
import ipaddress
import re
import time

from pvesim import certs


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
