# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster's resources from one /cluster/resources read: guests found by vmid or name, and selected by tags, pool, node, type or status."""

from __future__ import annotations

import re

GUEST_TYPES = ("qemu", "lxc")


def guest_selector_spec():
    """The options that choose guests (documented by the doc fragment proxops.proxmox.guests)."""
    return dict(
        vmid=dict(type="int"),
        name=dict(type="str"),
        vmids=dict(type="list", elements="int"),
        tags=dict(type="list", elements="str"),
        pool=dict(type="str"),
        node=dict(type="str"),
        types=dict(type="list", elements="str", choices=["qemu", "lxc"]),
    )


class ResourceLookupError(Exception):
    """A guest the options name cannot be found, or a name that fits several guests."""


def read_resources(client, kind=None):
    """``GET /cluster/resources``, optionally of one ``kind`` (PVE's ``type``: vm, node, storage, sdn)."""
    if kind is None:
        return client.get("/cluster/resources") or []
    return client.get("/cluster/resources", type=kind) or []


def guests_of(resources):
    """The QEMU and LXC guests among resources, by vmid."""
    return sorted((item for item in resources if item.get("type") in GUEST_TYPES), key=lambda item: int(item["vmid"]))


def guest_tags(guest):
    """A guest's tags as a list: PVE joins them with ';' in resources (',' and blanks also occur in configs)."""
    return [tag for tag in re.split(r"[;,\s]+", guest.get("tags") or "") if tag]


def guest_path(guest):
    """The API path of a guest, e.g. ``/nodes/pve1/qemu/100``."""
    return "/nodes/%s/%s/%s" % (guest["node"], guest["type"], guest["vmid"])


def describe_guest(guest):
    name = " (%s)" % guest["name"] if guest.get("name") else ""
    return "%s %s%s on %s" % (guest["type"], guest["vmid"], name, guest.get("node"))


def find_guest(resources, vmid=None, name=None):
    """The one guest with ``vmid``, or else with ``name``; ResourceLookupError when there is none or (by name) several."""
    guests = guests_of(resources)
    if vmid is not None:
        for guest in guests:
            if int(guest["vmid"]) == int(vmid):
                return guest
        raise ResourceLookupError("vmid: no guest %s in the cluster" % vmid)
    matches = [guest for guest in guests if guest.get("name") == name]
    if not matches:
        raise ResourceLookupError("name: no guest named %r in the cluster" % name)
    if len(matches) > 1:
        raise ResourceLookupError("name: %r names %d guests: %s; give vmid instead"
                                  % (name, len(matches), ", ".join(describe_guest(guest) for guest in matches)))
    return matches[0]


def select_guests(resources, vmids=None, tags=None, pool=None, node=None, types=None, status=None, templates=True):
    """The guests that match every criterion given (None: any), by vmid.

    ``tags``: the guest has every one of them; ``types``: ``qemu``/``lxc``; ``status``:
    ``running``/``stopped``/...; ``templates=False`` leaves templates out.  A vmid in
    ``vmids`` that is not in the cluster is a ResourceLookupError: a typo must not pass as
    "nothing to do".
    """
    guests = guests_of(resources)
    if vmids is not None:
        known = {int(guest["vmid"]) for guest in guests}
        missing = sorted(int(vmid) for vmid in vmids if int(vmid) not in known)
        if missing:
            raise ResourceLookupError("vmids: no guest %s in the cluster" % ", ".join(str(vmid) for vmid in missing))
        wanted = {int(vmid) for vmid in vmids}
        guests = [guest for guest in guests if int(guest["vmid"]) in wanted]
    if tags:
        guests = [guest for guest in guests if set(tags) <= set(guest_tags(guest))]
    if pool is not None:
        guests = [guest for guest in guests if guest.get("pool") == pool]
    if node is not None:
        guests = [guest for guest in guests if guest.get("node") == node]
    if types:
        guests = [guest for guest in guests if guest["type"] in types]
    if status is not None:
        guests = [guest for guest in guests if guest.get("status") == status]
    if not templates:
        guests = [guest for guest in guests if not int(guest.get("template") or 0)]
    return guests


def nodes_of(resources):
    """The node items of resources, by name."""
    return sorted((item for item in resources if item.get("type") == "node"), key=lambda item: item["node"])
