# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Node settings as plain data: the option checks of the node module, /etc/hosts entries, subscription and certificate fields."""

from __future__ import annotations

import ipaddress
import re
import time

try:
    import zoneinfo
except ImportError:  # Python < 3.9 on the managed host: PVE checks the name instead
    zoneinfo = None

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxError
from ansible_collections.proxops.proxmox.plugins.module_utils._certificates import (
    certificate_fingerprint,
    certificate_public_key,
    is_private_key_pem,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._pve_formats import is_address, is_ip, is_mac_address, is_node_name

SUBSCRIPTION_KEY = re.compile(r"^pve[1248][cbsp]-[0-9a-f]{10}$")

# Subscription fields worth returning; the key itself (and its signature) never leave the module.
SUBSCRIPTION_FIELDS = ("status", "level", "productname", "message", "nextduedate", "regdate", "checktime",
                       "serverid", "sockets")
CERTIFICATE_FIELDS = ("filename", "fingerprint", "subject", "issuer", "notbefore", "notafter", "san",
                      "public-key-type", "public-key-bits")
CUSTOM_CERTIFICATE_FILE = "pveproxy-ssl.pem"


# --- /etc/hosts -------------------------------------------------------------------
def parse_hosts_line(line):
    """``(address, [names])`` of an /etc/hosts line, or None for comments and blank lines."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    fields = text.split()
    return fields[0], fields[1:]


def hosts_lines_for(text, address):
    return [line for line in text.splitlines() if (parse_hosts_line(line) or (None,))[0] == address]


def apply_hosts_entries(text, entries):
    """The /etc/hosts text with each entry's address mapped to exactly its names.

    The first line of an address is rewritten in place, further lines of it are dropped,
    an address not present is appended; every other line stays as it is.
    """
    lines = text.splitlines()
    for entry in entries:
        wanted = "%s %s" % (entry["address"], " ".join(entry["names"]))
        result, placed = [], False
        for line in lines:
            parsed = parse_hosts_line(line)
            if parsed and parsed[0] == entry["address"]:
                if not placed:
                    result.append(line if parsed[1] == list(entry["names"]) else wanted)
                    placed = True
                continue
            result.append(line)
        if not placed:
            result.append(wanted)
        lines = result
    return "\n".join(lines) + "\n"


def kept_key_problem(custom, certificates):
    """Why a new certificate cannot go without its key (None: it can).

    Without a key PVE pairs the new certificate with the key of the node's custom one, unchecked:
    only safe when ``custom`` (its certificate info, with ``pem``) has the same public key.
    """
    if custom is None:
        return "the node has no custom certificate whose key could be kept"
    new_key = certificate_public_key(certificates)
    if new_key is None or new_key != certificate_public_key(custom.get("pem")):
        return ("the public key of certificate %s is not the one of the node's custom certificate: PVE would keep the old "
                "key beside it and pveproxy could not serve the pair" % certificate_fingerprint(certificates))
    return None


def pick(mapping, fields):
    return {key: mapping[key] for key in fields if key in mapping}


# --- option checks ------------------------------------------------------------------
def option_errors(params):
    """What is wrong with the node module's options, before any request: one message per problem."""
    errors = []
    if not is_node_name(params["node"]):
        errors.append("node: %r is not a node name" % params["node"])
    if params.get("dns") is not None:
        errors += _dns_errors(params["dns"])
    timezone = params.get("timezone")
    if timezone is not None and zoneinfo is not None:
        known = zoneinfo.available_timezones()
        if known and timezone not in known:
            errors.append("timezone: %r is not a time zone name (such as UTC or Europe/Vienna)" % timezone)
    for index, entry in enumerate(params.get("hosts") or []):
        if not is_ip(entry["address"]):
            errors.append("hosts[%d].address: %r is not an IP address" % (index, entry["address"]))
        if not entry["names"]:
            errors.append("hosts[%d].names: give at least one host name" % index)
        errors += ["hosts[%d].names: %r is not a host name" % (index, name)
                   for name in entry["names"] if not is_address(name) or is_ip(name)]
    if params.get("wakeonlan") is not None and not is_mac_address(params["wakeonlan"]):
        errors.append("wakeonlan: %r is not a MAC address (aa:bb:cc:dd:ee:ff)" % params["wakeonlan"])
    if params.get("subscription") is not None:
        errors += _subscription_errors(params["subscription"])
    if params.get("certificate") is not None:
        errors += _certificate_errors(params["certificate"])
    if params.get("power_timeout") is not None and params["power_timeout"] < 1:
        errors.append("power_timeout: give 1 or more seconds")
    return errors


def _dns_errors(dns):
    errors = []
    servers = dns.get("servers")
    if servers is not None:
        if len(servers) > 3:
            errors.append("dns.servers: PVE takes at most 3 name servers, got %d" % len(servers))
        errors += ["dns.servers: %r is not an IP address" % server for server in servers if not is_ip(server)]
        seen = []
        for server in servers:
            if not is_ip(server):
                continue
            if ipaddress.ip_address(server) in seen:
                # PVE keeps each name server once: a repeated one would differ on every run
                errors.append("dns.servers: %r is given twice; PVE keeps each name server once" % server)
            else:
                seen.append(ipaddress.ip_address(server))
    if dns.get("search") is None and servers is None:
        errors.append("dns: give search, servers or both")
    elif dns.get("search") is not None and not dns["search"].strip():
        errors.append("dns.search: give a domain name")
    return errors


def _subscription_errors(subscription):
    key = (subscription.get("key") or "").strip()
    if subscription["state"] == "present" and not SUBSCRIPTION_KEY.match(key):
        # never repeat the key: it is a secret
        return ["subscription.key: %s; a key looks like pve2c-0123456789 (pve, sockets 1, 2, 4 or 8, level c, b, s or p, "
                "a hyphen, 10 hex digits)" % ("required with state=present" if not key else "not a Proxmox VE subscription key")]
    if subscription["state"] == "absent" and key:
        return ["subscription.key: not taken with state=absent"]
    return []


def _certificate_errors(certificate):
    errors = []
    if certificate["state"] == "present":
        if certificate_fingerprint(certificate.get("certificates")) is None:
            errors.append("certificate.certificates: required with state=present, a PEM certificate chain "
                          "(-----BEGIN CERTIFICATE-----)")
        if certificate.get("key") is not None and not is_private_key_pem(certificate["key"]):
            errors.append("certificate.key: not a PEM private key (-----BEGIN PRIVATE KEY-----)")
    elif certificate.get("certificates") is not None or certificate.get("key") is not None:
        errors.append("certificate: certificates and key are not taken with state=absent")
    return errors


# --- calls the node module makes more than once -----------------------------------------
def node_status(client, name):
    """The node's entry in /cluster/status; None when the cluster does not know it."""
    for item in client.get("/cluster/status") or []:
        if item.get("type") == "node" and item.get("name") == name:
            return item
    return None


def power_reached(client, name, online, local, booted_after=None):
    """Whether node ``name`` is online (its API answering, booted after ``booted_after`` when given) or offline.

    ``local``: the node is the one the client talks to, so no answer at all means it is down.
    """
    try:
        status = node_status(client, name)
        if not online:
            return status is not None and not status.get("online")
        if not status or not status.get("online"):
            return False
        # the cluster sees the node before its API answers: wait for that as well
        uptime = (client.get("/nodes/%s/status" % name) or {}).get("uptime")
        if booted_after is None:
            return True
        return uptime is not None and time.time() - uptime >= booted_after - 1
    except ProxmoxError as err:
        if err.transient:  # no answer, or the proxy could not reach the node: it is down
            return not online and local
        raise


def restore_subscription(client, name, previous_key):
    """Put ``previous_key`` back on node ``name`` (remove the key when there was none); what happened, for a message."""
    path = "/nodes/%s/subscription" % name
    try:
        if previous_key:
            client.put(path, key=previous_key, idempotent=False)
            return "the previous key was put back"
        client.delete(path)
        return "the key was removed again"
    except ProxmoxError as err:
        if not previous_key:
            return "removing the key again failed: %s" % err
        after = client.get(path) or {}
        if (after.get("key") or "").strip() == previous_key:
            return ("the previous key was written back, but PVE could not check it (%s): its status is %s until "
                    "PVE checks it again; run the task with the previous key to check it now" % (err, after.get("status")))
        return "putting the previous key back failed: %s" % err
