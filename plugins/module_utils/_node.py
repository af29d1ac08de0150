# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Node settings as plain data: /etc/hosts entries, property strings, PEM fingerprints and public keys, subscription keys."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

SUBSCRIPTION_KEY = re.compile(r"^pve[1248][cbsp]-[0-9a-f]{10}$")
MAC_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)

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


# --- property strings ---------------------------------------------------------------
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
    parts = ["%s=%s" % (default_key, values[default_key])] if default_key in values else []
    parts += ["%s=%s" % (key, values[key]) for key in sorted(values) if key != default_key]
    return ",".join(parts)


# --- certificates ---------------------------------------------------------------------
def pem_blocks(text, kind=None):
    """The (kind, DER bytes) of the PEM blocks in ``text``; only ``kind`` ones when given."""
    blocks = []
    for match in _PEM_BLOCK.finditer(text or ""):
        if kind is not None and match.group(1) != kind:
            continue
        try:
            der = base64.b64decode("".join(match.group(2).split()), validate=True)
        except (binascii.Error, ValueError):
            continue
        blocks.append((match.group(1), der))
    return blocks


def certificate_fingerprint(pem_chain):
    """SHA-256 fingerprint (``AA:BB:...``) of the first certificate of a PEM chain, None if there is none."""
    blocks = pem_blocks(pem_chain, "CERTIFICATE")
    if not blocks:
        return None
    return ":".join("%02X" % byte for byte in bytearray(hashlib.sha256(blocks[0][1]).digest()))


def _der_element(der, offset):
    """``(tag, content start, end)`` of the DER element at ``offset``; IndexError/ValueError if cut short."""
    tag, length = der[offset], der[offset + 1]
    offset += 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or offset + size > len(der):
            raise ValueError("bad DER length")
        length = int.from_bytes(der[offset:offset + size], "big")
        offset += size
    if offset + length > len(der):
        raise ValueError("DER element runs past the end")
    return tag, offset, offset + length


def certificate_public_key(pem_chain):
    """The DER SubjectPublicKeyInfo of the first certificate of a PEM chain, None if it cannot be read.

    Certificate = SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... } (RFC 5280).
    """
    blocks = pem_blocks(pem_chain, "CERTIFICATE")
    if not blocks:
        return None
    der = bytearray(blocks[0][1])
    try:
        tag, start, _end = _der_element(der, 0)
        if tag != 0x30:
            return None
        tag, position, _end = _der_element(der, start)
        if tag != 0x30:
            return None
        tag, _start, end = _der_element(der, position)
        if tag == 0xA0:  # explicit version
            position = end
        for _field in range(5):  # serialNumber, signature, issuer, validity, subject
            _tag, _start, position = _der_element(der, position)
        tag, _start, end = _der_element(der, position)
    except (IndexError, ValueError):
        return None
    return bytes(der[position:end]) if tag == 0x30 else None


def is_private_key_pem(text):
    return any(kind.endswith("PRIVATE KEY") for kind, _der in pem_blocks(text))


def pick(mapping, fields):
    return {key: mapping[key] for key in fields if key in mapping}
