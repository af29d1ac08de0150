# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: best_node
short_description: The best node of a Proxmox VE cluster for a new guest
version_added: 0.3.0
description:
  - Returns the name of the node where a new guest of O(memory) and O(cores) fits best, under the rules the balancer
    module honours (tags C(plb_pin_<node>), C(plb_affinity_<group>), C(plb_anti_affinity_<group>), PVE 9's HA rules,
    the memory limit, nodes offline or in maintenance), as M(proxops.proxmox.balancer) with O(proxops.proxmox.balancer#module:action=place).
  - Reads C(/cluster/resources), C(/cluster/ha/rules) and, with O(mode=used), each online node's status (KSM). Changes nothing.
  - Fails when no node can take the guest, with each node's reason.
  - Needs C(Sys.Audit) on C(/) and C(/nodes), and C(VM.Audit) on the guests (those the user cannot see are not counted).
author:
  - proxops.proxmox contributors (@proxops)
requirements:
  - proxmoxer >= 2.0
  - requests
options:
  _terms:
    description: Not used; give the options as keywords.
    required: false
  memory:
    description: The new guest's memory in MiB.
    type: int
    required: true
  cores:
    description: The new guest's vCPUs.
    type: int
    default: 1
  tags:
    description: The new guest's tags.
    type: list
    elements: str
    default: []
  vmid:
    description: The new guest's vmid, so that HA rules naming it apply.
    type: int
  pool:
    description: The new guest's pool (for O(pools_as)).
    type: str
  guest_type:
    description: The kind of the new guest.
    type: str
    choices: [qemu, lxc]
    default: qemu
  mode:
    description: V(used) or V(assigned), as the balancer's O(proxops.proxmox.balancer#module:mode).
    type: str
    choices: [used, assigned]
    default: used
  mem_limit:
    description: The fraction of a node's memory the guests may claim (default V(0.9) with O(mode=used), V(1.0) with O(mode=assigned)).
    type: float
  cpu_weight:
    description: Weight of CPU in the balance; V(0) places by memory alone.
    type: float
    default: 0.2
  pools_as:
    description: Treat pools as affinity or anti-affinity groups.
    type: str
    choices: [affinity, anti-affinity]
  maintenance_nodes:
    description: Nodes not to place on (besides those the HA manager has in maintenance).
    type: list
    elements: str
    default: []
  api_host:
    description: Host name or IP address of a node of the cluster.
    type: str
    required: true
    env:
      - name: PROXMOX_HOST
  api_port:
    description: API port.
    type: int
    default: 8006
    env:
      - name: PROXMOX_PORT
  api_user:
    description: User, in the form C(user@realm); with a token, its owner.
    type: str
    default: root@pam
    env:
      - name: PROXMOX_USER
  api_password:
    description: Password of O(api_user).
    type: str
    env:
      - name: PROXMOX_PASSWORD
  api_token_id:
    description: ID of an API token of O(api_user) (the part after C(!)).
    type: str
    env:
      - name: PROXMOX_TOKEN_ID
  api_token_secret:
    description: Secret of the API token.
    type: str
    env:
      - name: PROXMOX_TOKEN_SECRET
  validate_certs:
    description: Verify the API's TLS certificate.
    type: bool
    default: true
    env:
      - name: PROXMOX_VALIDATE_CERTS
  ca_path:
    description: PEM file of the CA that signed the API's certificate.
    type: path
    env:
      - name: PROXMOX_CA_PATH
  api_timeout:
    description: Seconds to wait for one API answer.
    type: int
    default: 30
seealso:
  - module: proxops.proxmox.balancer
"""

EXAMPLES = r"""
- name: Create a VM on the node with the most room for it
  ansible.builtin.debug:
    msg: "pvesh create /nodes/{{ node }}/qemu --vmid 300 --memory 8192 --cores 4"
  vars:
    node: "{{ lookup('proxops.proxmox.best_node', memory=8192, cores=4, tags=['plb_anti_affinity_web'],
                     api_host='pve-a.example.com', api_password=root_password) }}"
"""

RETURN = r"""
_raw:
  description: The name of the best node, as a list of one element.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import HAS_PROXMOXER, ProxmoxError, client_from_options
from ansible_collections.proxops.proxmox.plugins.module_utils._balancer import build_scenario, ha_maintenance_nodes, place_size
from ansible_collections.proxops.proxmox.plugins.module_utils._resources import nodes_of, read_resources
from ansible_collections.proxops.proxmox.plugins.module_utils._scheduler.placement import place
from ansible_collections.proxops.proxmox.plugins.module_utils._scheduler.scenario import ScenarioError

CONNECTION = ("api_host", "api_port", "api_user", "api_password", "api_token_id", "api_token_secret", "validate_certs",
              "ca_path", "api_timeout")


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if not HAS_PROXMOXER:
            raise AnsibleLookupError("proxops.proxmox.best_node needs proxmoxer and requests on the controller")
        memory, cores = self.get_option("memory"), self.get_option("cores")
        if memory is None or memory < 1:
            raise AnsibleLookupError("best_node: memory (MiB) must be 1 or more, got %r" % (memory,))
        if cores is None or cores < 1:
            raise AnsibleLookupError("best_node: cores must be 1 or more, got %r" % (cores,))
        options = {name: self.get_option(name) for name in CONNECTION}
        if not options["api_password"] and not (options["api_token_id"] and options["api_token_secret"]):
            raise AnsibleLookupError("best_node: give api_password, or api_token_id and api_token_secret")
        client = client_from_options(options)
        mode = self.get_option("mode")
        try:
            resources = read_resources(client)
            try:
                ha_rules = client.get("/cluster/ha/rules") or []
            except ProxmoxError as err:
                if err.status != 501:   # PVE 8 has no HA rules
                    raise
                ha_rules = []
            ksm = {}
            if mode == "used":
                for node in nodes_of(resources):
                    if node.get("status") == "online":
                        status = client.get("/nodes/%s/status" % node["node"]) or {}
                        ksm[node["node"]] = int((status.get("ksm") or {}).get("shared") or 0)
        except ProxmoxError as err:
            raise AnsibleLookupError("best_node: reading the cluster failed: %s" % err) from None
        maintenance = list(self.get_option("maintenance_nodes")) + ha_maintenance_nodes(resources)
        scenario = build_scenario(resources, ha_rules, maintenance, ksm)
        scheduler = {"mode": mode, "cpu_weight": self.get_option("cpu_weight"), "mem_limit": self.get_option("mem_limit"),
                     "pools_as": self.get_option("pools_as")}
        try:
            answer = place(scenario, place_size(memory, cores), tags=self.get_option("tags"), options=scheduler,
                           vmid=self.get_option("vmid"), pool=self.get_option("pool"), kind=self.get_option("guest_type"))
        except ScenarioError as err:
            raise AnsibleLookupError("best_node: %s" % err) from None
        if answer["node"] is None:
            raise AnsibleLookupError("best_node: no node can take a new guest of %d MiB and %d cores: %s" % (
                memory, cores, "; ".join("%s: %s" % item for item in sorted(answer["rejected"].items()))))
        return [answer["node"]]
