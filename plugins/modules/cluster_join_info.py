#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_join_info
short_description: Read the information a host needs to join a Proxmox VE cluster
version_added: 0.1.0
description:
  - Reads the join information of the cluster O(api_host) belongs to (C(GET /cluster/config/join)),
    that is the members with their API certificate fingerprints, the preferred node, the totem settings and the
    configuration digest.
  - Feed RV(join_info) to O(proxops.proxmox.cluster#module:join.join_info) to join another host.
  - Fails with a clear message when O(api_host) is not in a cluster, unless O(allow_standalone=true).
author:
  - proxops.proxmox contributors (@proxops)
extends_documentation_fragment:
  - proxops.proxmox.api
  - proxops.proxmox.attributes.info_module
  - proxops.proxmox.attributes.actiongroup_proxmox
options:
  node:
    description:
      - The member to join through (the RV(preferred_node)). Defaults to the node O(api_host) points at.
    type: str
  allow_standalone:
    description:
      - Answer RV(in_cluster=false) instead of failing when O(api_host) is not in a cluster.
      - For a check mode run of a whole build (see the guide's playbook), where the task that creates the
        cluster only predicts it, so the cluster does not exist yet when its join information is read.
    type: bool
    default: false
notes:
  - Privileges. C(Sys.Audit) on C(/).
  - Makes one API call after logging in.
seealso:
  - module: proxops.proxmox.cluster
"""

EXAMPLES = r"""
# In check mode of a whole build the cluster is not created yet: do not fail on that
- name: Read the join information, if the host is in a cluster
  proxops.proxmox.cluster_join_info:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    allow_standalone: true
  register: maybe_join

- name: Read the join information of the cluster
  proxops.proxmox.cluster_join_info:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
  register: prod_join

# On a cluster with more than one corosync link, also give the host's links
# (see the examples of proxops.proxmox.cluster).
- name: Join another host with it
  proxops.proxmox.cluster:
    api_host: pve-b.example.com
    api_password: "{{ root_password }}"
    join:
      join_info: "{{ prod_join.join_info }}"
      password: "{{ root_password }}"
"""

RETURN = r"""
in_cluster:
  description:
    - Whether O(api_host) is in a cluster. Only with O(allow_standalone=true) can it be V(false); the other return
      values are then V(null) (RV(nodes) empty).
  returned: always
  type: bool
  sample: true
join_info:
  description:
    - The join information as PVE gives it, ready for O(proxops.proxmox.cluster#module:join.join_info).
  returned: success
  type: dict
  contains:
    nodelist:
      description: The members, with C(name), C(nodeid), C(quorum_votes), C(ring0_addr) (and further links),
        C(pve_addr) (API address) and C(pve_fp) (API certificate fingerprint).
      type: list
      elements: dict
    preferred_node:
      description: The member to join through.
      type: str
      sample: pve-a
    totem:
      description: The corosync totem settings (C(cluster_name), C(config_version), C(interface), ...).
      type: dict
    config_digest:
      description: Digest of the corosync configuration.
      type: str
cluster_name:
  description: Name of the cluster.
  returned: success
  type: str
  sample: prod
preferred_node:
  description: The member to join through.
  returned: success
  type: str
  sample: pve-a
master_host:
  description: API address of RV(preferred_node), for O(proxops.proxmox.cluster#module:join.master_host).
  returned: success
  type: str
  sample: 10.10.0.1
fingerprint:
  description: SHA-256 fingerprint of the API certificate of RV(preferred_node),
    for O(proxops.proxmox.cluster#module:join.fingerprint).
  returned: success
  type: str
  sample: "8A:3C:...:F1"
nodes:
  description: Names of the members.
  returned: success
  type: list
  elements: str
  sample: [pve-a, pve-b]
"""

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxError
from ansible_collections.proxops.proxmox.plugins.module_utils._cluster import join_info_cluster_name, join_target
from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import ProxmoxModule
from ansible_collections.proxops.proxmox.plugins.module_utils._pve_formats import is_node_name


class ClusterJoinInfoModule(ProxmoxModule):
    argument_spec = dict(node=dict(type="str"), allow_standalone=dict(type="bool", default=False))

    def subject(self):
        return "join information of %s" % self.params["api_host"]

    def validate(self):
        if self.params["node"] is not None and not is_node_name(self.params["node"]):
            self.fail("node: %r is not a node name" % self.params["node"])

    def run(self):
        params = {"node": self.params["node"]} if self.params["node"] else {}
        try:
            info = self.client.get("/cluster/config/join", **params)
        except ProxmoxError as err:  # PVE answers a standalone host with 424
            if err.status == 424 or "not in a cluster" in str(err):
                if self.params["allow_standalone"]:
                    self.result.update(in_cluster=False, join_info=None, cluster_name=None, preferred_node=None,
                                       master_host=None, fingerprint=None, nodes=[])
                    return
                self.fail("%s is not in a cluster, so there is no join information: create a cluster there "
                          "first with proxops.proxmox.cluster (cluster_name)" % self.params["api_host"])
            raise
        master_host, fingerprint = join_target(info)
        self.result.update(
            in_cluster=True,
            join_info=info,
            cluster_name=join_info_cluster_name(info),
            preferred_node=info.get("preferred_node"),
            master_host=master_host,
            fingerprint=fingerprint,
            nodes=sorted(entry.get("name") for entry in info.get("nodelist") or []),
        )


def main():
    ClusterJoinInfoModule.execute()


if __name__ == "__main__":
    main()
