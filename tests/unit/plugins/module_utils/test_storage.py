# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Storage definitions as plain data: per-type checks, comparing with storage.cfg, and the generated type table."""

from __future__ import annotations

import os

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils import _storage as storage
from ansible_collections.proxops.proxmox.plugins.module_utils._storage_types import OPTIONS, TYPES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "pve-api")


def params(**options):
    full = {name: None for name in storage.KEYS}
    full.update(name="nfs1", state="present", type="nfs")
    full.update(options)
    return full


def test_table_is_what_the_generator_writes():
    if not os.path.exists(os.path.join(SHARED, "storage-type-options.json")):
        pytest.skip("../shared/pve-api is not beside the checkout")
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_storage_types", os.path.join(REPO, "scripts", "gen_storage_types.py"))
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    with open(os.path.join(REPO, "plugins", "module_utils", "_storage_types.py"), encoding="utf-8") as handle:
        assert handle.read() == generator.build(SHARED)


def test_table_facts():
    assert len(TYPES) == 14
    assert TYPES["nfs"]["options"]["export"] == "required-fixed"
    assert TYPES["pbs"]["sensitive"] == ["encryption-key", "master-pubkey", "password"]
    assert OPTIONS["create-base-path"]["default"] is True and OPTIONS["krbd"]["default"] is False
    assert not OPTIONS["path"]["updatable"] and OPTIONS["content"]["updatable"]


def test_every_option_has_a_module_option_of_the_right_kind():
    spec = storage.argument_spec()
    assert set(spec) == {key.replace("-", "_") for key in OPTIONS}
    assert spec["content"] == {"type": "list", "elements": "str"}
    assert spec["password"]["no_log"] and spec["keyring"]["no_log"] and spec["encryption_key"]["no_log"]
    assert "no_log" not in spec["fingerprint"]
    assert spec["saferemove_stepsize"]["choices"] == [1, 2, 4, 8, 16, 32]
    assert set(spec["prune_backups"]["options"]) == {"keep_all", "keep_last", "keep_hourly", "keep_daily", "keep_weekly",
                                                     "keep_monthly", "keep_yearly"}


def test_checks_name_the_option_and_what_the_type_takes():
    errors = storage.option_errors(params(name="9bad", vgname="vg0", content=["images", "cdrom"], format="subvol"))
    assert errors[0].startswith("name: '9bad' is not a storage ID")
    assert errors[1].startswith("vgname: does not apply to nfs storage, which takes bwlimit, content,")
    assert errors[2] == ("content: 'cdrom' is not a content type of nfs storage, which takes images, rootdir, vztmpl, iso, "
                         "backup, snippets, import")
    assert errors[3] == "format: 'subvol' is not a format of nfs storage, which takes raw, qcow2, vmdk"
    assert storage.option_errors(params(type=None))[0].startswith("type: required with state=present")
    assert storage.option_errors(params(type=None, state="absent")) == []


@pytest.mark.parametrize("options, message", [
    ({"type": "dir", "path": "/srv/d 2"}, "path: '/srv/d 2' is not a path PVE takes for dir storage"),
    ({"type": "pbs", "content": ["backup", "none"]}, "content: 'none' stands alone"),
    ({"type": "pbs", "prune_backups": {"keep_all": True, "keep_last": 2}}, "prune_backups: keep_all keeps every backup"),
    ({"type": "pbs", "port": 0}, "port: 0 is out of range, give 1 to 65535"),
    ({"type": "dir", "path": "/srv", "nodes": ["pve_a"]}, "nodes: 'pve_a' is not a node name"),
])
def test_value_checks(options, message):
    assert any(error.startswith(message) for error in storage.option_errors(params(**options))), storage.option_errors(params(**options))


def test_create_needs_the_required_options():
    assert storage.create_errors("nfs", {"server": "x"}) == ["nfs storage needs export to be created"]  # path has a default
    assert storage.create_errors("dir", {}) == ["dir storage needs path to be created"]
    assert storage.create_errors("esxi", {"server": "x", "username": "root"}) == ["esxi storage needs password to be created"]
    assert storage.create_errors("rbd", {}) == []


def test_compare_sets_defaults_dicts_and_secrets():
    current = {"type": "nfs", "content": "iso,backup", "nodes": "b,a", "prune-backups": "keep-last=3,keep-daily=7",
               "path": "/mnt/pve/nfs1", "server": "10.0.0.5", "export": "/srv"}
    wanted = {"content": ["backup", "iso", "iso"], "nodes": ["a", "b"], "prune-backups": {"keep_daily": 7, "keep_last": 3},
              "create-base-path": True, "path": "/mnt/pve/nfs1/", "server": "10.0.0.5"}
    assert storage.compare(current, wanted, "nfs") == ({}, {})
    changes, fixed = storage.compare(current, dict(wanted, disable=True, server="10.0.0.6", **{"create-subdirs": False}), "nfs")
    assert changes == {"disable": True, "create-subdirs": False} and fixed == {"server": "10.0.0.6"}
    pbs = {"type": "pbs", "server": "s", "datastore": "d", "fingerprint": "AA"}
    assert storage.compare(pbs, {"password": "x", "fingerprint": "AA"}, "pbs") == ({}, {})
    assert storage.compare(pbs, {"password": "x", "fingerprint": "BB"}, "pbs", update_secrets=True) == (
        {"password": "x", "fingerprint": "BB"}, {})


def test_encoding_for_pve():
    assert storage.pve_params({"prune-backups": {"keep_last": 3, "keep_all": False}, "bwlimit": {"default": 100, "clone": 50},
                               "path": "/srv/x/", "content": ["iso"]}) == {
        "prune-backups": "keep-all=0,keep-last=3", "bwlimit": "clone=50,default=100", "path": "/srv/x", "content": ["iso"]}
    assert storage.wanted_config(params(prune_backups={"keep_last": 2, "keep_daily": None}, content=["iso"])) == {
        "prune-backups": {"keep_last": 2}, "content": ["iso"]}
