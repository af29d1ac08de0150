# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PVE's value formats: encoding for the API, comparing with what PVE holds, property strings, name and address checks."""

from __future__ import annotations

import ipaddress
import re

# A DNS name as PVE's "address" format accepts it: dot-separated labels of letters,
# digits and inner hyphens.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_FINGERPRINT = re.compile(r"^([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}$")
_NODE_NAME = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")
MAC_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
# pve-common JSONSchema: pve_verify_configid (snapshot names, ...) and parse_storage_id.
_CONFIG_ID = re.compile(r"^[a-z][a-z0-9_-]+$", re.I)
_STORAGE_ID = re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", re.I)
VMID_RANGE = (100, 999999999)  # pve-common: pve-vmid


# --- encoding ---------------------------------------------------------------------------
def encode_value(value):
    """PVE takes booleans as 0/1 and ``*-list`` values as one comma-joined string."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(encode_value(item)) for item in value)
    return value


def encode_params(params):
    """The parameters of an API call as PVE takes them; None means "not given" and is left out."""
    return {key: encode_value(value) for key, value in params.items() if value is not None}


def split_list(value):
    """The items of a PVE ``*-list`` value (pve-common ``split_list``: commas, semicolons or blanks)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(normalize(item)) for item in value]
    return [item for item in re.split(r"[,;\s]+", str(value)) if item]


# --- comparing --------------------------------------------------------------------------
def normalize(value):
    """The form two values are compared in: PVE gives numbers and 0/1 booleans, often as strings."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if value is None:
        return None
    return str(value)


def same_value(current, desired, as_set=False):
    """Whether PVE's ``current`` value already is ``desired``.

    ``as_set``: the option is a list PVE keeps in a hash (storage ``content`` and ``nodes``,
    pve-storage ``decode_value``/``encode_value``): it gives the items back in hash order and
    each once, so order and repeats do not count.
    """
    if as_set:
        if current is None:
            return desired is None
        return set(split_list(current)) == set(split_list(desired))
    return normalize(current) == normalize(desired)


def changed_options(current, desired, set_options=()):
    """The options of ``desired`` that are set (not None) and differ from ``current``."""
    return {
        key: value for key, value in desired.items()
        if value is not None and not same_value(current.get(key), value, as_set=key in set_options)
    }


# --- property strings -------------------------------------------------------------------
def parse_property_string(value, default_key):
    """PVE's ``key=value,...`` string (the first bare value belongs to ``default_key``) as a dict."""
    result = {}
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, item = part.partition("=")
        if not sep:
            key, item = default_key, key
        result[key.strip()] = item.strip()
    return result


def print_property_string(values, default_key):
    """A property string with ``default_key`` first and the other keys sorted."""
    parts = ["%s=%s" % (default_key, values[default_key])] if default_key in values else []
    parts += ["%s=%s" % (key, values[key]) for key in sorted(values) if key != default_key]
    return ",".join(parts)


# --- checks -----------------------------------------------------------------------------
def is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_address(text):
    """An IP address, or a host name (not something that only looks like a broken IPv4 address)."""
    if not isinstance(text, str) or not text:
        return False
    if is_ip(text):
        return True
    if re.match(r"^[0-9.]+$", text):  # 10.0.0.300, 10.0.0: meant as IPv4, and wrong
        return False
    return bool(_HOSTNAME.match(text))


def is_fingerprint(text):
    """A SHA-256 fingerprint as PVE writes it: 32 hex pairs joined by ':'."""
    return bool(text) and bool(_FINGERPRINT.match(text))


def is_node_name(text):
    return bool(text) and bool(_NODE_NAME.match(text))


def is_mac_address(text):
    return bool(text) and bool(MAC_ADDRESS.match(text))


def is_config_id(text):
    """A name PVE takes for a snapshot and other configuration IDs (pve-configid)."""
    return isinstance(text, str) and bool(_CONFIG_ID.match(text))


def is_storage_id(text):
    return isinstance(text, str) and bool(_STORAGE_ID.match(text))


def is_vmid(value):
    return isinstance(value, int) and not isinstance(value, bool) and VMID_RANGE[0] <= value <= VMID_RANGE[1]
