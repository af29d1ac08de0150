# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: pve
short_description: Guests (and nodes) of one or many Proxmox VE clusters as an inventory
version_added: 0.1.0
description:
  - Reads each cluster's C(/cluster/resources) once and makes a host of every QEMU and LXC guest (and, with
    O(include_nodes), of every node), with C(proxmox_*) host variables and groups by cluster, node, pool, tag, type
    and status.
  - One source file lists any number of clusters, each with its own API host and credentials; they are read in parallel.
  - A cluster that cannot be read is a warning and is left out, unless O(strict=true).
  - Guest IP addresses come from the QEMU guest agent and from LXC's interfaces, only when O(want_ips=true), at one
    more request per running guest.
  - The source file's name ends in C(.pve.yml) or C(.pve.yaml).
author:
  - proxops.proxmox contributors (@proxops)
extends_documentation_fragment:
  - constructed
  - inventory_cache
requirements:
  - proxmoxer >= 2.0
  - requests
options:
  plugin:
    description: The name of this plugin, so that Ansible picks it for the file.
    type: str
    required: true
    choices: [proxops.proxmox.pve]
  clusters:
    description:
      - The clusters to read. Each entry takes O(clusters[].name) and the connection options; those not given come
        from the options of the same name at the top of the file (and their environment variables).
      - Any value may be a template, such as C("{{ lookup('ansible.builtin.env', 'PVE_B_SECRET') }}"), so secrets need
        not be written into the file.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The cluster's name in the inventory (group C(proxmox_cluster_<name>)). Defaults to O(clusters[].api_host).
        type: str
      api_host:
        description: Host name or IP address of one node of the cluster.
        type: str
      api_port:
        description: API port.
        type: int
      api_user:
        description: User, such as V(root@pam).
        type: str
      api_password:
        description: The user's password.
        type: str
      api_token_id:
        description: API token name (or C(user@realm!name)).
        type: str
      api_token_secret:
        description: API token secret.
        type: str
      validate_certs:
        description: Verify the API's TLS certificate.
        type: bool
      ca_path:
        description: CA bundle to verify the API's certificate with.
        type: path
      api_timeout:
        description: Seconds to wait for an answer.
        type: int
  api_host:
    description: Default API host for the clusters that give none.
    type: str
    env:
      - name: PROXMOX_HOST
  api_port:
    description: Default API port.
    type: int
    default: 8006
    env:
      - name: PROXMOX_PORT
  api_user:
    description: Default user.
    type: str
    default: root@pam
    env:
      - name: PROXMOX_USER
  api_password:
    description: Default password.
    type: str
    env:
      - name: PROXMOX_PASSWORD
  api_token_id:
    description: Default API token name.
    type: str
    env:
      - name: PROXMOX_TOKEN_ID
  api_token_secret:
    description: Default API token secret.
    type: str
    env:
      - name: PROXMOX_TOKEN_SECRET
  validate_certs:
    description: Verify the API's TLS certificate (by default).
    type: bool
    default: true
    env:
      - name: PROXMOX_VALIDATE_CERTS
  ca_path:
    description: Default CA bundle.
    type: path
    env:
      - name: PROXMOX_CA_PATH
  api_timeout:
    description: Default seconds to wait for an answer.
    type: int
    default: 30
  include_nodes:
    description: Also make a host of every node (group C(proxmox_nodes)).
    type: bool
    default: false
  include_templates:
    description: Make hosts of templates too (group C(proxmox_templates)).
    type: bool
    default: false
  want_ips:
    description:
      - Read each running guest's IP addresses (QEMU through the guest agent, LXC from its interfaces) into
        C(proxmox_ips), and set C(ansible_host) to the first one that is not a loopback or link-local address.
      - One more request per running guest; a guest without an agent simply has none.
    type: bool
    default: false
  filters:
    description:
      - Conditionals (Jinja2 expressions over the C(proxmox_*) host variables); a guest or node becomes a host only
        when every one is true, such as V(proxmox_status == 'running') or V('prod' in proxmox_tags).
    type: list
    elements: str
    default: []
  strict:
    description:
      - Fail when a cluster cannot be read (or a O(compose), O(groups), O(keyed_groups) or O(filters) expression fails),
        instead of warning and going on.
    type: bool
    default: false
  max_workers:
    description: How many clusters are read at the same time.
    type: int
    default: 8
notes:
  - Privileges. C(VM.Audit) on the guests (and C(Sys.Audit) on the nodes) the inventory should show; PVE leaves out of
    C(/cluster/resources) what the user may not see. O(want_ips) needs C(VM.GuestAgent.Audit) (PVE 9; C(VM.Monitor)
    before) for QEMU guests.
  - Host names are the guests' names. A name that several guests of the inventory share (in one cluster or in
    several) becomes C(<name>-<cluster>-<vmid>) for each of them; a guest without a name is C(vm-<cluster>-<vmid>).
    Nodes are C(<cluster>-<node>) hosts.
"""

EXAMPLES = r"""
# two_clusters.pve.yml
plugin: proxops.proxmox.pve
api_user: inventory@pve
api_token_id: ansible
clusters:
  - name: prod
    api_host: pve-prod.example.com
    ca_path: /etc/ssl/pve-prod-ca.pem
    api_token_secret: "{{ lookup('ansible.builtin.env', 'PVE_PROD_TOKEN') }}"
  - name: lab
    api_host: pve-lab.example.com
    ca_path: /etc/ssl/pve-lab-ca.pem
    api_token_secret: "{{ lookup('ansible.builtin.env', 'PVE_LAB_TOKEN') }}"
filters:
  - proxmox_status == 'running'
keyed_groups:
  - key: proxmox_tags
    prefix: tag
compose:
  ansible_user: "'root' if proxmox_type == 'lxc' else 'admin'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible-pve
"""

import ipaddress
import re
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import HAS_PROXMOXER, ProxmoxError, client_from_options
from ansible_collections.proxops.proxmox.plugins.module_utils._resources import guest_tags, guests_of, nodes_of

try:
    from ansible.template import trust_as_template  # ansible-core >= 2.19 templates only trusted text
except ImportError:
    def trust_as_template(value):
        return value

CONNECTION_OPTIONS = ("api_host", "api_port", "api_user", "api_password", "api_token_id", "api_token_secret",
                      "validate_certs", "ca_path", "api_timeout")
GUEST_FIELDS = ("vmid", "name", "node", "type", "status", "pool", "maxcpu", "maxmem", "maxdisk", "uptime", "hastate", "lock")


def _group_part(text):
    return re.sub(r"[^A-Za-z0-9_]", "_", str(text))


def _usable_ip(text):
    try:
        address = ipaddress.ip_address(text.split("/")[0])
    except ValueError:
        return False
    return not (address.is_loopback or address.is_link_local)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "proxops.proxmox.pve"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith((".pve.yml", ".pve.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        if not HAS_PROXMOXER:
            raise AnsibleError("the proxops.proxmox.pve inventory needs the proxmoxer and requests Python libraries")
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        data = None
        if use_cache:
            try:
                data = self._cache[cache_key]
            except KeyError:
                data = None
        if data is None:
            data = self._read_clusters()
            if self.get_option("cache"):
                self._cache[cache_key] = data
        self._populate(data)

    # --- reading ------------------------------------------------------------------------
    def _connection(self, entry):
        """One cluster's connection options: its own, else the file's top-level ones; templates rendered."""
        options = {}
        for name in CONNECTION_OPTIONS:
            value = entry.get(name)
            if value is None:
                value = self.get_option(name)
            if isinstance(value, str) and ("{{" in value or "{%" in value):
                value = self.templar.template(trust_as_template(value))
            options[name] = value
        if not options["api_host"]:
            raise AnsibleError("clusters: an entry has no api_host (and api_host / PROXMOX_HOST is not set)")
        return options

    def _read_clusters(self):
        """Every cluster's resources (and the IPs asked for), read in parallel: {name: data or error text}."""
        entries = self.get_option("clusters") or []
        named = []
        for entry in entries:
            connection = self._connection(entry)
            named.append((str(entry.get("name") or connection["api_host"]), connection))
        names = [name for name, _connection in named]
        if len(set(names)) != len(names):
            raise AnsibleError("clusters: each cluster needs a name of its own, got %s" % ", ".join(names))
        with ThreadPoolExecutor(max_workers=max(1, min(self.get_option("max_workers"), len(named) or 1))) as pool:
            results = list(pool.map(lambda item: self._read_cluster(*item), named))
        return dict(zip(names, results))

    def _read_cluster(self, name, connection):
        client = client_from_options(connection)
        try:
            resources = client.get("/cluster/resources")
        except ProxmoxError as err:
            return {"error": "cluster %s (%s): %s" % (name, connection["api_host"], err)}
        ips = {}
        if self.get_option("want_ips"):
            for guest in guests_of(resources):
                if guest.get("status") == "running" and not int(guest.get("template") or 0):
                    ips[str(guest["vmid"])] = self._guest_ips(client, guest)
        return {"resources": resources, "ips": ips}

    @staticmethod
    def _guest_ips(client, guest):
        """A running guest's addresses; [] when there is no agent or it does not answer."""
        base = "/nodes/%s/%s/%s" % (guest["node"], guest["type"], guest["vmid"])
        try:
            if guest["type"] == "qemu":
                answer = client.get(base + "/agent/network-get-interfaces") or {}
                interfaces = answer.get("result") or []
                return [address["ip-address"] for interface in interfaces
                        for address in interface.get("ip-addresses") or [] if address.get("ip-address")]
            interfaces = client.get(base + "/interfaces") or []
            # PVE 9 lists ip-addresses per interface; PVE 8 only inet/inet6 ("10.0.0.5/24")
            found = [address["ip-address"] for interface in interfaces
                     for address in interface.get("ip-addresses") or [] if address.get("ip-address")]
            return found or [interface[key].split("/")[0] for interface in interfaces for key in ("inet", "inet6")
                             if interface.get(key)]
        except ProxmoxError:
            return []

    # --- building the inventory ----------------------------------------------------------
    def _populate(self, data):
        strict = self.get_option("strict")
        counts = {}
        for result in data.values():
            for guest in guests_of(result.get("resources") or []):
                counts[guest.get("name")] = counts.get(guest.get("name"), 0) + 1
        for cluster, result in data.items():
            if "error" in result:
                if strict:
                    raise AnsibleError(result["error"])
                self.display.warning("%s; its guests are not in the inventory" % result["error"])
                continue
            cluster_group = self.inventory.add_group("proxmox_cluster_%s" % _group_part(cluster))
            guests = [guest for guest in guests_of(result["resources"])
                      if self.get_option("include_templates") or not int(guest.get("template") or 0)]
            for guest in guests:
                name = guest.get("name") or "vm"
                host = name if guest.get("name") and counts[name] == 1 else "%s-%s-%s" % (name, cluster, guest["vmid"])
                self._add_host(host, self._guest_vars(cluster, guest, result["ips"]), cluster_group, self._guest_groups(guest))
            if self.get_option("include_nodes"):
                for node in nodes_of(result["resources"]):
                    variables = {"proxmox_cluster": cluster, "proxmox_node": node["node"], "proxmox_type": "node",
                                 "proxmox_status": node.get("status"), "proxmox_maxcpu": node.get("maxcpu"),
                                 "proxmox_maxmem": node.get("maxmem")}
                    self._add_host("%s-%s" % (cluster, node["node"]), variables, cluster_group, ["proxmox_nodes"])

    @staticmethod
    def _guest_vars(cluster, guest, ips):
        variables = {"proxmox_" + field: guest.get(field) for field in GUEST_FIELDS}
        variables.update(proxmox_cluster=cluster, proxmox_tags=guest_tags(guest),
                         proxmox_template=bool(int(guest.get("template") or 0)))
        if str(guest["vmid"]) in ips:
            variables["proxmox_ips"] = ips[str(guest["vmid"])]
            usable = [ip for ip in variables["proxmox_ips"] if _usable_ip(ip)]
            if usable:
                variables["ansible_host"] = usable[0]
        return variables

    @staticmethod
    def _guest_groups(guest):
        groups = ["proxmox_node_%s" % _group_part(guest.get("node")), "proxmox_%s" % guest["type"],
                  "proxmox_%s" % _group_part(guest.get("status"))]
        if guest.get("pool"):
            groups.append("proxmox_pool_%s" % _group_part(guest["pool"]))
        groups += ["proxmox_tag_%s" % _group_part(tag) for tag in guest_tags(guest)]
        if int(guest.get("template") or 0):
            groups.append("proxmox_templates")
        return groups

    def _add_host(self, host, variables, cluster_group, groups):
        strict = self.get_option("strict")
        for condition in self.get_option("filters"):
            try:
                if not self._compose(trust_as_template(condition), variables):
                    return
            except Exception as err:  # pylint: disable=broad-exception-caught
                if strict:
                    raise AnsibleError("filters: %r failed for %s: %s" % (condition, host, err)) from err
                return
        self.inventory.add_host(host, group=cluster_group)
        for group in groups:
            self.inventory.add_child(self.inventory.add_group(group), host)
        for key, value in variables.items():
            self.inventory.set_variable(host, key, value)
        self._set_composite_vars(self.get_option("compose"), variables, host, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), variables, host, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, host, strict=strict)
