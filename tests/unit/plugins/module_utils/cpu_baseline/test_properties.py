# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Properties over random clusters drawn (seeded) from real flag sets: the baseline runs everywhere and never rises."""

from __future__ import annotations

import random

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline import catalog
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.baseline import analyze_node, cluster_baseline, node_level
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.baseline import model_status
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.features import CPUINFO_FLAGS, KVM_DEFAULT_OFF, KVM_PROVIDED, read_node
from ansible_collections.proxops.proxmox.tests.unit.plugins.module_utils.cpu_baseline.cpu_samples import X86_SAMPLES, node

SEEDS = range(40)


def _random_node(rng, index, vendor=None):
    """A real sample with some flags dropped (as firmware, kernels or hypervisors do), and sometimes without its bugs line."""
    choices = [name for name in X86_SAMPLES if vendor is None or node(name).get("vendor") == vendor]
    data = node(rng.choice(choices))
    drop = rng.choice((0.0, 0.0, 0.02, 0.1, 0.3))
    data["flags"] = " ".join(flag for flag in data["flags"].split() if rng.random() >= drop)
    if rng.random() < 0.5:
        data.pop("bugs", None)
    data["name"] = "node%d" % index
    return data


def _cluster(rng, size, vendor=None):
    return [_random_node(rng, index, vendor) for index in range(size)]


def _shown(feature, data):
    """Independent check from the facts: KVM provides it, or Linux prints it and the flags hold it, or a vendor/bug rule holds."""
    flags = set(data["flags"].split())
    bugs = set(data["bugs"].split()) if data.get("bugs") is not None else None
    if feature in KVM_PROVIDED:
        return True
    if feature in CPUINFO_FLAGS:
        return set(CPUINFO_FLAGS[feature]) <= flags
    if feature in ("ssbd", "amd-ssbd"):
        return "ssbd" in flags
    if feature == "ibrs-all":
        return "ibrs_enhanced" in flags and data.get("vendor") == "GenuineIntel"
    if feature == "taa-no":
        return "rtm" in flags and bugs is not None and "taa" not in bugs
    bug = {"rdctl-no": "cpu_meltdown", "mds-no": "mds", "ssb-no": "spec_store_bypass", "amd-no-ssb": "spec_store_bypass",
           "skip-l1dfl-vmentry": "l1tf"}.get(feature)
    return bug is not None and bugs is not None and bug not in bugs


@pytest.mark.parametrize("seed", SEEDS)
def test_the_baseline_runs_on_every_node(seed):
    rng = random.Random(seed)
    vendor = rng.choice((None, "GenuineIntel", "AuthenticAMD"))
    nodes = _cluster(rng, rng.randint(1, 4), vendor)
    result = cluster_baseline(nodes)
    if result["level"] is not None:
        for data in nodes:
            assert set(catalog.level_flags(result["level"])) <= set(data["flags"].split()), data["name"]
            assert all(_shown(feature, data) for feature in catalog.level_features(result["level"]))
    if result["qemu_model"] is not None:
        wanted = set(catalog.model_features(result["qemu_model"])) - KVM_DEFAULT_OFF
        for data in nodes:
            assert [feature for feature in sorted(wanted) if not _shown(feature, data)] == [], (data["name"], result["qemu_model"])
    if result["cluster_cpu_type"] is not None:
        assert result["cluster_cpu_type"] in (result["model"], catalog.level_cpu_type(result["level"]))


def _common(nodes):
    cpus = [read_node(data) for data in nodes]
    vendors = {cpu["vendor"] for cpu in cpus}
    if len(vendors) != 1 or None in vendors:
        return set()
    return {key for key in catalog.named_models(vendors.pop()) if all(not any(model_status(cpu, key).values()) for cpu in cpus)}


@pytest.mark.parametrize("seed", SEEDS)
def test_adding_a_node_never_raises_the_baseline(seed):
    rng = random.Random(1000 + seed)
    vendor = rng.choice(("GenuineIntel", "AuthenticAMD"))
    nodes = _cluster(rng, rng.randint(1, 3), vendor)
    grown = nodes + [_random_node(rng, 99, vendor if rng.random() < 0.8 else None)]
    before, after = cluster_baseline(nodes), cluster_baseline(grown)
    assert catalog.level_index(after["level"]) <= catalog.level_index(before["level"])
    assert _common(grown) <= _common(nodes)
    if after["qemu_model"] is not None:
        assert before["qemu_model"] is not None and catalog.rank(after["qemu_model"]) <= catalog.rank(before["qemu_model"])


@pytest.mark.parametrize("seed", SEEDS)
def test_removing_a_flag_never_raises_a_node(seed):
    rng = random.Random(2000 + seed)
    data = _random_node(rng, 0)
    before = analyze_node(data)
    for _round in range(5):
        flags = data["flags"].split()
        data = dict(data, flags=" ".join(flag for flag in flags if flag != rng.choice(flags)))
        after = analyze_node(data)
        assert catalog.level_index(after["level"]) <= catalog.level_index(before["level"])
        assert set(after["models"]) <= set(before["models"])
        assert catalog.level_index(node_level(read_node(data))) == catalog.level_index(after["level"])
        before = after
