# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PVE's value formats: encoding, set-valued comparison, property strings, name and address checks."""

from __future__ import annotations

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils import _pve_formats as formats


def test_encode_params_booleans_lists_and_none():
    assert formats.encode_params({"a": True, "b": False, "c": None, "d": ["x", 1, True], "e": 0, "f": ""}) == {
        "a": 1, "b": 0, "d": "x,1,1", "e": 0, "f": ""}


@pytest.mark.parametrize("value, items", [
    ("images,iso", ["images", "iso"]),
    ("images;iso  backup", ["images", "iso", "backup"]),  # pve-common split_list
    (["images", True], ["images", "1"]),
    ("", []),
    (None, []),
])
def test_split_list(value, items):
    assert formats.split_list(value) == items


def test_same_value_as_set_ignores_order_and_repeats():
    assert formats.same_value("iso,images", ["images", "iso"], as_set=True)
    assert formats.same_value("iso,images", ["images", "iso", "images"], as_set=True)
    assert formats.same_value("pve2,pve1", "pve1,pve2", as_set=True)
    assert not formats.same_value("iso,images", ["images"], as_set=True)
    assert not formats.same_value(None, ["images"], as_set=True)
    assert not formats.same_value("iso,images", ["images", "iso"])  # in order when not a set


def test_same_value_normalises_numbers_and_booleans():
    assert formats.same_value(1, True) and formats.same_value("0", False) and formats.same_value("8006", 8006)
    assert not formats.same_value(None, False)


def test_changed_options_only_set_and_different():
    current = {"content": "iso,images", "nodes": "b,a", "shared": 1, "comment": "x"}
    desired = {"content": ["images", "iso"], "nodes": ["a", "b", "c"], "shared": True, "comment": None, "disable": False}
    assert formats.changed_options(current, desired, set_options=("content", "nodes")) == {
        "nodes": ["a", "b", "c"], "disable": False}


def test_property_string_round_trip():
    values = formats.parse_property_string("aa:bb:cc:dd:ee:ff, broadcast-address=10.0.0.255,,", "mac")
    assert values == {"mac": "aa:bb:cc:dd:ee:ff", "broadcast-address": "10.0.0.255"}
    assert formats.print_property_string(values, "mac") == "mac=aa:bb:cc:dd:ee:ff,broadcast-address=10.0.0.255"
    assert formats.parse_property_string(None, "mac") == {}


@pytest.mark.parametrize("check, good, bad", [
    (formats.is_ip, ["10.0.0.1", "fe80::1"], ["10.0.0.300", "pve-a", ""]),
    (formats.is_address, ["10.0.0.1", "pve-a.example.com", "fe80::1"], ["10.0.0", "-x", "a b", "", None]),
    (formats.is_fingerprint, [":".join(["ab"] * 32)], [":".join(["ab"] * 31), "AB:CD", None]),
    (formats.is_node_name, ["pve-a", "n1"], ["pve_a", "-a", "a-", "a" * 64, "", None]),
    (formats.is_mac_address, ["aa:bb:cc:dd:ee:ff"], ["aa:bb:cc:dd:ee", "aa-bb-cc-dd-ee-ff", None]),
    (formats.is_config_id, ["daily-2026", "before_upgrade"], ["a", "1st", "has space", "x.y", None]),
    (formats.is_storage_id, ["local-lvm", "nfs.backup", "ab"], ["a", "1nfs", "nfs-", "has space", None]),
    (formats.is_vmid, [100, 999999999], [99, 1000000000, "100", True, None]),
])
def test_checks(check, good, bad):
    assert all(check(value) for value in good), good
    assert not any(check(value) for value in bad), bad
