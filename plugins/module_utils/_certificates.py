# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Certificates without the cryptography library: PEM blocks, SHA-256 fingerprints, the public key of a certificate."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


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


def der_fingerprint(der):
    """SHA-256 fingerprint of DER bytes as PVE writes it: ``AA:BB:...`` (32 upper-case hex pairs)."""
    return ":".join("%02X" % byte for byte in bytearray(hashlib.sha256(der).digest()))


def certificate_fingerprint(pem_chain):
    """SHA-256 fingerprint (``AA:BB:...``) of the first certificate of a PEM chain, None if there is none."""
    blocks = pem_blocks(pem_chain, "CERTIFICATE")
    if not blocks:
        return None
    return der_fingerprint(blocks[0][1])


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
