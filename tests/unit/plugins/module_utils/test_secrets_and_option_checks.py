# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Secrets masked by option path, and the modules' option checks as pure functions (no module instance)."""

from __future__ import annotations

import json
import types

from ansible_collections.proxops.proxmox.plugins.module_utils import _cluster, _node
from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import SECRET_MARK, ProxmoxModule, mask_secrets, secret_paths
from ansible_collections.proxops.proxmox.plugins.modules.cluster import ClusterModule
from ansible_collections.proxops.proxmox.plugins.modules.node import NodeModule

CONNECTION = dict(api_host="127.0.0.1", api_port=8006, api_user="root@pam", api_password="pw", api_otp=None,
                  api_token_id=None, api_token_secret=None, validate_certs=True, ca_path=None, api_timeout=30)
FINGERPRINT = ":".join(["AB"] * 32)


def test_secret_paths_of_the_modules_come_from_no_log():
    assert secret_paths(ClusterModule.argument_spec) == ["join.password"]
    assert sorted(secret_paths(NodeModule.argument_spec)) == ["certificate.key", "subscription.key"]
    spec = dict(password=dict(no_log=True), keyring=dict(no_log=True), options=dict(type="dict", options=dict(
        token=dict(no_log=True), name=dict())))
    assert secret_paths(spec) == ["password", "keyring", "options.token"]


def test_mask_by_path_and_by_bare_name():
    secrets = {"subscription.key", "password"}
    value = {"subscription": {"key": "pve2c-0123456789", "status": "active"}, "key": "not-a-secret",
             "nfs": {"password": "pw"}, "password": None}
    assert mask_secrets(value, secrets) == {"subscription": {"key": SECRET_MARK, "status": "active"}, "key": "not-a-secret",
                                            "nfs": {"password": SECRET_MARK}, "password": None}


def test_node_module_masks_the_subscription_key_in_its_diff_without_saying_so():
    module = NodeModule(types.SimpleNamespace(params=dict(CONNECTION, node="pve1"), check_mode=False, _diff=True))
    module.record_diff({"key": "pve2c-0123456789", "status": "active"}, {"key": "pve4p-abcdefabcd"}, "subscription")
    module.record_diff({"fingerprint": "AA"}, {"fingerprint": "BB"}, "certificate")
    assert module.diff == {
        "before": {"subscription": {"key": SECRET_MARK, "status": "active"}, "certificate": {"fingerprint": "AA"}},
        "after": {"subscription": {"key": SECRET_MARK}, "certificate": {"fingerprint": "BB"}}}
    assert "0123456789" not in json.dumps(module.diff) and "abcdefabcd" not in json.dumps(module.diff)


def test_no_option_checks_by_default():
    assert ProxmoxModule.option_errors({"anything": 1}) == []


# --- the cluster module's checks ----------------------------------------------------------------

def cluster_params(**params):
    full = dict(state="present", cluster_name=None, links=None, nodeid=None, votes=None, join=None, node=None, force=False)
    full.update(params)
    if full["join"] is not None:
        full["join"] = dict(dict(master_host=None, join_info=None, fingerprint=None, password="x", force=False), **full["join"])
    return full


def join_info(links):
    return {"preferred_node": "a", "totem": {"interface": {str(n): {"linknumber": str(n)} for n in range(links)}},
            "nodelist": [dict({"name": "a", "pve_addr": "10.0.0.1", "pve_fp": FINGERPRINT},
                              **{"ring%d_addr" % n: "10.%d.0.1" % n for n in range(links)})]}


def test_cluster_checks_collect_every_problem():
    errors = _cluster.option_errors(cluster_params(cluster_name="a" * 16, nodeid=0, votes=0,
                                                   links=[{"address": "10.0.0.300", "priority": 300}]))
    assert [error.split(":", maxsplit=1)[0] for error in errors] == [
        "cluster_name", "nodeid", "votes", "links[0].address (link0)", "links[0].priority"]
    assert _cluster.option_errors(cluster_params(cluster_name="lab")) == []


def test_join_needs_one_address_per_cluster_link():
    two_links = join_info(2)
    assert _cluster.link_count_errors(two_links, None) == [
        "links: the cluster has 2 corosync links (link0 to link1), so the joining host needs one address for each, got 0"]
    assert "got 1" in _cluster.link_count_errors(two_links, [{"address": "10.0.0.2"}])[0]
    assert _cluster.link_count_errors(two_links, [{"address": "10.0.0.2"}, {"address": "10.1.0.2"}]) == []
    one_link = join_info(1)
    assert _cluster.link_count_errors(one_link, []) == []  # PVE uses the host's IP
    assert _cluster.link_count_errors(one_link, [{"address": "10.0.0.2"}, {"address": "10.1.0.2"}]) == [
        "links: the cluster has 1 corosync link (link0), so the joining host needs one address or none, got 2"]


def test_link_count_from_the_nodelist_when_totem_has_no_interfaces():
    info = join_info(3)
    info["totem"] = {}
    assert _cluster.cluster_link_count(info) == 3


# --- the node module's checks -------------------------------------------------------------------

def node_params(**params):
    full = dict(node="pve1", dns=None, timezone=None, hosts=None, description=None, wakeonlan=None, subscription=None,
                certificate=None, power_state=None, power_timeout=600)
    full.update(params)
    return full


def test_node_checks_collect_every_problem():
    errors = _node.option_errors(node_params(node="pve_1", dns={"search": " ", "servers": ["1.1.1.1", "x"]},
                                             timezone="Mars/Base", wakeonlan="zz", power_timeout=0,
                                             hosts=[{"address": "10.0.0.1", "names": ["10.0.0.2"]}],
                                             subscription={"state": "absent", "key": "pve2c-0123456789"},
                                             certificate={"state": "absent", "certificates": "x", "key": None}))
    assert [error.split(":", maxsplit=1)[0] for error in errors] == [
        "node", "dns.servers", "dns.search", "timezone", "hosts[0].names", "wakeonlan", "subscription.key", "certificate",
        "power_timeout"]
    assert all("0123456789" not in error for error in errors)
    assert _node.option_errors(node_params(dns={"search": "example.com"}, timezone="UTC")) == []
