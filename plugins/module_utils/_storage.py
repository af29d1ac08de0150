# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Storage definitions as plain data: module options to PVE's keys, the per-type checks, and comparing with storage.cfg."""

from __future__ import annotations

import re

from ansible_collections.proxops.proxmox.plugins.module_utils._pve_formats import (
    is_node_name,
    is_storage_id,
    normalize,
    parse_property_string,
    same_value,
    split_list,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._storage_types import OPTIONS, TYPES

SET_OPTIONS = ("content", "nodes")  # pve-storage keeps them in a hash: order and repeats do not count
# Options the module takes as a dict and PVE as a property string ("keep-last=3,keep-daily=7").
DICT_OPTIONS = ("prune-backups", "bwlimit", "content-dirs")
PRUNE_KEYS = ("keep-all", "keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")
# pve-storage DirPlugin check_config (dir and btrfs paths)
_DIRECTORY_PATH = re.compile(r"^/[-/a-zA-Z0-9_.@]+$")
# nfs, cifs and cephfs mount at /mnt/pve/<storage> when no path is given (check_config)
_PATH_DEFAULTS = ("nfs", "cifs", "cephfs")
# Secrets a type cannot be added without, though its options() mark them optional: ESXiPlugin on_add_hook
# dies "missing password".
CREATE_NEEDS_SECRETS = {"esxi": ("password",)}
FIXED_KINDS = ("required-fixed", "optional-fixed")
REQUIRED_KINDS = ("required", "required-fixed")


def option_name(key):
    """The module option for a PVE storage key: ``prune-backups`` -> ``prune_backups``."""
    return key.replace("-", "_")


KEYS = {option_name(key): key for key in OPTIONS}  # module option -> PVE key


def wanted_config(params):
    """The PVE keys and values the user set (None: not managed), in the module's forms (lists, dicts, bools)."""
    wanted = {}
    for option, key in KEYS.items():
        value = params.get(option)
        if value is None:
            continue
        if isinstance(value, dict):
            value = {sub: item for sub, item in value.items() if item is not None}
        wanted[key] = value
    return wanted


def encode(key, value):
    """A value as PVE takes it: dicts become property strings, paths lose a trailing slash (PVE's canonpath)."""
    if key in DICT_OPTIONS and isinstance(value, dict):
        return ",".join("%s=%s" % (option_key(key, sub), normalize(value[sub])) for sub in sorted(value))
    if key == "path" and isinstance(value, str) and len(value) > 1:
        return value.rstrip("/")
    return value


def option_key(key, sub):
    """The key inside a property string: prune-backups takes keep-last, the module keep_last."""
    return sub.replace("_", "-") if key == "prune-backups" else sub


def _as_dict(key, value):
    if isinstance(value, dict):
        return {option_key(key, sub): normalize(item) for sub, item in value.items() if item is not None}
    return {sub: normalize(item) for sub, item in parse_property_string(value, None).items()}


def differs(key, current, wanted):
    """Whether PVE's ``current`` value of ``key`` (None: not in storage.cfg) is not ``wanted``."""
    if current is None and "default" in OPTIONS.get(key, {}):
        current = OPTIONS[key]["default"]
    if key in DICT_OPTIONS:
        return _as_dict(key, current or "") != _as_dict(key, wanted)
    if key == "path" and isinstance(current, str) and isinstance(wanted, str):
        return current.rstrip("/") != wanted.rstrip("/")
    if OPTIONS.get(key, {}).get("type") == "boolean" and current is None:
        current = False
    return not same_value(current, wanted, as_set=key in SET_OPTIONS)


def compare(current, wanted, storage_type, update_secrets=False):
    """``(changes, fixed)``: the wanted keys that differ from storage.cfg, and among them those PVE cannot change.

    Secrets never come back from PVE, so they cannot be compared: they count as changes only
    with ``update_secrets``.
    """
    rule = TYPES[storage_type]
    changes, fixed = {}, {}
    for key, value in wanted.items():
        if key in rule["sensitive"]:
            if update_secrets:
                changes[key] = value
            continue
        if differs(key, current.get(key), value):
            if rule["options"].get(key) in FIXED_KINDS or not OPTIONS[key]["updatable"]:
                fixed[key] = value
            else:
                changes[key] = value
    return changes, fixed


def _type_accepts(storage_type):
    return ", ".join(sorted(option_name(key) for key in TYPES[storage_type]["options"]))


def option_errors(params):
    """What is wrong with the storage module's options, before any request: one message per problem."""
    errors = []
    if not is_storage_id(params["name"]):
        errors.append("name: %r is not a storage ID (a letter, then letters, digits, '-', '_' or '.', "
                      "not ending in '-', '_' or '.')" % params["name"])
    if params["state"] == "absent":
        return errors
    storage_type = params.get("type")
    if storage_type is None:
        return errors + ["type: required with state=present, one of %s" % ", ".join(sorted(TYPES))]
    rule = TYPES[storage_type]
    wanted = wanted_config(params)
    for key in sorted(wanted):
        if key not in rule["options"]:
            errors.append("%s: does not apply to %s storage, which takes %s"
                          % (option_name(key), storage_type, _type_accepts(storage_type)))
    errors += _value_errors(storage_type, wanted)
    return errors


def _value_errors(storage_type, wanted):
    rule = TYPES[storage_type]
    errors = []
    if "content" in wanted and "content" in rule["options"]:
        allowed = rule.get("content", {}).get("allowed", [])
        content = split_list(wanted["content"])
        wrong = [item for item in content if item not in allowed]
        if wrong:
            errors.append("content: %s %s not a content type of %s storage, which takes %s"
                          % (", ".join(repr(item) for item in wrong), "is" if len(wrong) == 1 else "are", storage_type,
                             ", ".join(allowed)))
        elif "none" in content and len(content) > 1:
            errors.append("content: 'none' stands alone (a storage for no content)")
    if "format" in wanted and "format" in rule["options"]:
        allowed = rule.get("format", {}).get("allowed", [])
        if wanted["format"] not in allowed:
            errors.append("format: %r is not a format of %s storage, which takes %s"
                          % (wanted["format"], storage_type, ", ".join(allowed)))
    for node in split_list(wanted.get("nodes")):
        if not is_node_name(node):
            errors.append("nodes: %r is not a node name" % node)
    path = wanted.get("path")
    if path is not None and storage_type in ("dir", "btrfs") and not _DIRECTORY_PATH.match(path):
        errors.append("path: %r is not a path PVE takes for %s storage: an absolute path of letters, digits and "
                      "- / _ . @" % (path, storage_type))
    prune = wanted.get("prune-backups")
    if prune and prune.get("keep_all") and len(prune) > 1:
        errors.append("prune_backups: keep_all keeps every backup, so it takes no other keep_ setting")
    for key, value in sorted(wanted.items()):
        schema = OPTIONS.get(key, {})
        if isinstance(value, int) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"] or "maximum" in schema and value > schema["maximum"]:
                errors.append("%s: %d is out of range, give %s to %s" % (option_name(key), value, schema.get("minimum", "any"),
                                                                         schema.get("maximum", "any")))
    return errors


def create_errors(storage_type, wanted):
    """The options a new storage of ``storage_type`` needs that ``wanted`` lacks."""
    missing = [key for key, kind in sorted(TYPES[storage_type]["options"].items())
               if kind in REQUIRED_KINDS and key not in wanted and not (key == "path" and storage_type in _PATH_DEFAULTS)]
    missing += [key for key in CREATE_NEEDS_SECRETS.get(storage_type, ()) if key not in wanted]
    if not missing:
        return []
    return ["%s storage needs %s to be created" % (storage_type, ", ".join(option_name(key) for key in missing))]


def pve_params(values):
    """Values by PVE key, encoded for the API (lists stay lists: the client joins them with commas)."""
    return {key: encode(key, value) for key, value in values.items()}


def shown(values):
    """Values by module option name, for diffs and messages (the base class masks the secrets among them)."""
    return {option_name(key): value for key, value in values.items()}


def argument_spec():
    """The storage options of the module, one per PVE key, from the type table."""
    secrets = {key for rule in TYPES.values() for key in rule["sensitive"]}
    spec = {}
    for key, schema in OPTIONS.items():
        if key in SET_OPTIONS:
            option = dict(type="list", elements="str")
        elif key == "prune-backups":
            option = dict(type="dict", options={option_name(sub): dict(type="bool" if sub == "keep-all" else "int")
                                                for sub in PRUNE_KEYS})
        elif key == "bwlimit":
            option = dict(type="dict", options={sub: dict(type="int") for sub in schema["keys"]})
        elif key == "content-dirs":
            option = dict(type="dict")
        else:
            option = dict(type={"boolean": "bool", "integer": "int"}.get(schema["type"], "str"))
            if schema.get("enum"):
                option["choices"] = [int(item) for item in schema["enum"]] if option["type"] == "int" else list(schema["enum"])
        if key in secrets:
            option["no_log"] = True
        spec[option_name(key)] = option
    return spec
