# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Guests from /cluster/resources (by vmid, name, selectors) and bounded parallel jobs."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils import _resources as resources
from ansible_collections.proxops.proxmox.plugins.module_utils._task_pool import run_bounded, summary

RESOURCES = [
    {"type": "node", "node": "pve2", "status": "online"},
    {"type": "node", "node": "pve1", "status": "online"},
    {"type": "storage", "storage": "local", "node": "pve1"},
    {"type": "lxc", "vmid": 201, "name": "dns", "node": "pve2", "status": "running", "tags": "infra;prod", "pool": "ops"},
    {"type": "qemu", "vmid": 101, "name": "web", "node": "pve1", "status": "running", "tags": "prod;web"},
    {"type": "qemu", "vmid": 102, "name": "web", "node": "pve2", "status": "stopped", "tags": "web"},
    {"type": "qemu", "vmid": 9000, "name": "tmpl", "node": "pve1", "status": "stopped", "template": 1},
]


class Client:
    def __init__(self):
        self.calls = []

    def get(self, path, **params):
        self.calls.append((path, params))
        return RESOURCES


def vmids(guests):
    return [guest["vmid"] for guest in guests]


def test_one_read_with_an_optional_type():
    client = Client()
    assert resources.read_resources(client) is RESOURCES
    resources.read_resources(client, "vm")
    assert client.calls == [("/cluster/resources", {}), ("/cluster/resources", {"type": "vm"})]


def test_guests_sorted_by_vmid_and_nodes_by_name():
    assert vmids(resources.guests_of(RESOURCES)) == [101, 102, 201, 9000]
    assert [node["node"] for node in resources.nodes_of(RESOURCES)] == ["pve1", "pve2"]


def test_find_guest_by_vmid_or_unique_name():
    assert resources.find_guest(RESOURCES, vmid=201)["name"] == "dns"
    assert resources.find_guest(RESOURCES, vmid="101")["node"] == "pve1"
    assert resources.find_guest(RESOURCES, name="dns")["vmid"] == 201
    assert resources.guest_path(resources.find_guest(RESOURCES, name="dns")) == "/nodes/pve2/lxc/201"


def test_find_guest_errors_name_the_option():
    with pytest.raises(resources.ResourceLookupError, match="vmid: no guest 555"):
        resources.find_guest(RESOURCES, vmid=555)
    with pytest.raises(resources.ResourceLookupError, match="name: no guest named 'mail'"):
        resources.find_guest(RESOURCES, name="mail")
    with pytest.raises(resources.ResourceLookupError) as caught:
        resources.find_guest(RESOURCES, name="web")
    assert "qemu 101 (web) on pve1" in str(caught.value) and "qemu 102 (web) on pve2" in str(caught.value)
    assert "give vmid" in str(caught.value)


def test_selectors_all_must_match():
    assert vmids(resources.select_guests(RESOURCES)) == [101, 102, 201, 9000]
    assert vmids(resources.select_guests(RESOURCES, tags=["prod"])) == [101, 201]
    assert vmids(resources.select_guests(RESOURCES, tags=["prod", "web"])) == [101]
    assert vmids(resources.select_guests(RESOURCES, pool="ops")) == [201]
    assert vmids(resources.select_guests(RESOURCES, node="pve2", types=["qemu"])) == [102]
    assert vmids(resources.select_guests(RESOURCES, status="stopped", templates=False)) == [102]
    assert vmids(resources.select_guests(RESOURCES, vmids=[201, 101], tags=["web"])) == [101]


def test_selecting_unknown_vmids_is_an_error():
    with pytest.raises(resources.ResourceLookupError, match="vmids: no guest 7, 8"):
        resources.select_guests(RESOURCES, vmids=[101, 8, 7])


def test_guest_tags_any_separator():
    assert resources.guest_tags({"tags": "a;b, c d"}) == ["a", "b", "c", "d"]
    assert resources.guest_tags({}) == []


# --- bounded parallel jobs -------------------------------------------------------------------------


def test_at_most_n_at_once_results_in_input_order():
    running, most = [0], [0]
    lock = threading.Lock()

    def job(item):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02 * (item % 3))
        with lock:
            running[0] -= 1
        return item * 10

    outcomes = run_bounded(range(12), job, parallel=4)

    assert [outcome.result for outcome in outcomes] == [item * 10 for item in range(12)]
    assert all(outcome.state == "done" for outcome in outcomes)
    assert most[0] == 4


def test_stop_at_first_failure_waits_for_running_and_starts_no_more():
    started = []

    def job(item):
        started.append(item)
        if item == 2:
            raise RuntimeError("snapshot of 2 failed")
        time.sleep(0.05)
        return item

    outcomes = run_bounded(range(10), job, parallel=2, stop_on_failure=True)
    states = [outcome.state for outcome in outcomes]

    assert states[2] == "failed" and str(outcomes[2].error) == "snapshot of 2 failed"
    assert states.count("not_started") == 10 - len(started)
    assert len(started) <= 4  # 0, 1, 2 and at most the one started beside 2
    assert all(states[item] == "done" for item in started if item != 2)
    result = summary(outcomes)
    assert result["failed"] == [{"item": "2", "error": "snapshot of 2 failed"}]
    assert len(result["done"]) + len(result["not_started"]) == 9


def test_go_on_after_failures():
    def job(item):
        if item % 2:
            raise ValueError("odd %d" % item)
        return item

    outcomes = run_bounded([1, 2, 3, 4], job, parallel=3, stop_on_failure=False)

    assert [outcome.state for outcome in outcomes] == ["failed", "done", "failed", "done"]
    assert summary(outcomes, describe=lambda item: "vm %d" % item) == {
        "done": ["vm 2", "vm 4"], "failed": [{"item": "vm 1", "error": "odd 1"}, {"item": "vm 3", "error": "odd 3"}],
        "not_started": []}


def test_nothing_to_do():
    assert run_bounded([], lambda item: item, parallel=8) == []
