# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The helpers the cluster and node modules moved out of their classes: join plans, messages, power checks."""

from __future__ import annotations

import time

from ansible_collections.proxops.proxmox.plugins.module_utils import _cluster, _node
from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxError

FP = ":".join(["AB"] * 32)
INFO = {"preferred_node": "a", "totem": {"cluster_name": "lab"},
        "nodelist": [{"name": "a", "pve_addr": "10.0.0.1", "pve_fp": FP}]}


def join(**options):
    return dict(dict(master_host=None, join_info=None, fingerprint=None, password="x", force=False), **options)


def test_join_plan_from_join_information():
    assert _cluster.join_plan(join(join_info=INFO), INFO, False) == ("10.0.0.1", FP, "lab", None)
    assert _cluster.join_plan(join(master_host="a.example", fingerprint="CD"), None, False) == ("a.example", "CD", None, None)


def test_join_plan_problems():
    assert "cluster_name is 'prod' but the cluster of 10.0.0.1 is 'lab'" in _cluster.join_plan(join(join_info=INFO), INFO, False, "prod")[3]
    assert "give join.fingerprint" in _cluster.join_plan(join(master_host="10.9.9.9"), None, False)[3]
    no_address = dict(INFO, preferred_node="z")
    assert "give join.master_host" in _cluster.join_plan(join(join_info=no_address), no_address, False)[3]


def test_predicted_cluster_and_intent():
    links = [{"address": "10.0.0.2", "priority": None}]
    assert _cluster.intent("lab", links) == {"cluster_name": "lab", "links": ["10.0.0.2"]}
    assert _cluster.intent("lab", None) == {"cluster_name": "lab"}
    predicted = _cluster.predicted_cluster("pve-b", "lab", links, votes=1)
    assert predicted["name"] == "lab" and predicted["nodes"][0]["links"] == ["10.0.0.2"] and predicted["nodes"][0]["votes"] == 1


def test_not_joined_message_names_where_the_host_is():
    standalone = {"name": None}
    assert _cluster.not_joined_message("h", "lab", 60, standalone, None, None) == (
        "PVE's task ended, and host h is not in cluster 'lab' after 60 seconds: it is standalone")
    tls = ProxmoxError("TLS certificate could not be verified", tls=True)
    message = _cluster.not_joined_message("h", None, 60, None, tls, None)
    assert "its cluster status could not be read" in message and "ca_path must hold that CA" in message


class StatusClient:
    def __init__(self, online, uptime=100, fail=None):
        self.online, self.uptime, self.fail = online, uptime, fail

    def get(self, path, **_params):
        if self.fail:
            raise self.fail
        if path == "/cluster/status":
            return [{"type": "cluster", "name": "lab"}, {"type": "node", "name": "pve-b", "online": int(self.online)}]
        return {"uptime": self.uptime}


def test_power_reached():
    assert _node.power_reached(StatusClient(True), "pve-b", online=True, local=False)
    assert not _node.power_reached(StatusClient(False), "pve-b", online=True, local=False)
    assert _node.power_reached(StatusClient(False), "pve-b", online=False, local=False)
    # rebooted: only once the node's uptime starts after the reboot
    assert not _node.power_reached(StatusClient(True, uptime=3600), "pve-b", online=True, local=False, booted_after=time.time() - 60)
    assert _node.power_reached(StatusClient(True, uptime=5), "pve-b", online=True, local=False, booted_after=time.time() - 60)
    # the node the client talks to gives no answer: it is down
    gone = ProxmoxError("cannot reach", transient=True)
    assert _node.power_reached(StatusClient(True, fail=gone), "pve-b", online=False, local=True)
    assert not _node.power_reached(StatusClient(True, fail=gone), "pve-b", online=False, local=False)
    assert _node.node_status(StatusClient(True), "pve-x") is None


def test_kept_key_problem_without_a_custom_certificate():
    assert "no custom certificate" in _node.kept_key_problem(None, "pem")
