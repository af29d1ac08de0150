#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node
short_description: Manage the settings and power state of one Proxmox VE node
version_added: 0.1.0
description:
  - Manages the settings of one node; each area only when its option is given, so a task
    that sets O(dns) leaves the time zone, the subscription and everything else alone.
  - Areas are applied in the order of the options below; O(power_state) comes last.
  - Powering on (through Wake-on-LAN sent by another node), rebooting and shutting down wait
    until C(/cluster/status) shows the node online or offline, up to O(power_timeout) seconds;
    powering on and rebooting also until the node's own API answers (C(/nodes/<node>/status)).
author:
  - proxops.proxmox contributors (@proxops)
extends_documentation_fragment:
  - proxops.proxmox.api
  - proxops.proxmox.attributes
  - proxops.proxmox.attributes.actiongroup_proxmox
options:
  node:
    description:
      - Name of the node to manage, as the cluster of O(api_host) knows it.
    type: str
    required: true
  dns:
    description:
      - DNS resolver settings of the node (C(/etc/resolv.conf)).
    type: dict
    suboptions:
      search:
        description:
          - Search domain. Kept as it is when not given.
        type: str
      servers:
        description:
          - IP addresses of up to three name servers, in order; the complete list. Kept as it is when not given.
          - Each address at most once (PVE drops repeated ones).
        type: list
        elements: str
  timezone:
    description:
      - Time zone of the node, such as V(Europe/Vienna) or V(UTC).
    type: str
  hosts:
    description:
      - Entries of the node's C(/etc/hosts). Each address is made to map to exactly its O(hosts[].names);
        other lines stay as they are.
    type: list
    elements: dict
    suboptions:
      address:
        description:
          - IP address of the entry.
        type: str
        required: true
      names:
        description:
          - Host names of the address, canonical name first.
        type: list
        elements: str
        required: true
  description:
    description:
      - Notes of the node, shown in the web interface.
    type: str
  wakeonlan:
    description:
      - MAC address Wake-on-LAN packets for the node go to, such as V(aa:bb:cc:dd:ee:ff).
      - Needed before O(power_state=online) can wake the node.
    type: str
  subscription:
    description:
      - The node's Proxmox VE subscription key.
      - The key never appears in output or diff.
    type: dict
    suboptions:
      state:
        description:
          - V(present) sets O(subscription.key); V(absent) removes the key the node has.
        type: str
        choices: [present, absent]
        default: present
      key:
        description:
          - Subscription key, such as C(pve2c-0123456789), for O(subscription.state=present).
          - When PVE does not find the key active, or setting it fails after PVE wrote it (PVE writes the key,
            then asks the Proxmox shop), the key the node had before is put back (or the key removed when there
            was none) and the task fails.
          - When the node already has the key but PVE does not find it active (for example still C(new) because
            the shop could not be reached), PVE is asked to check it again, and the task fails unless it is then active.
        type: str
  certificate:
    description:
      - A custom API certificate of the node (C(pveproxy-ssl.pem)), compared by fingerprint.
      - The certificate key never appears in output or diff.
    type: dict
    suboptions:
      state:
        description:
          - V(present) uploads O(certificate.certificates) unless the node already serves it; V(absent) removes
            a custom certificate, so the node uses its cluster-issued one again.
        type: str
        choices: [present, absent]
        default: present
      certificates:
        description:
          - PEM certificate chain, the node's certificate first.
        type: str
      key:
        description:
          - PEM private key of the certificate.
          - Can be left out only when the node has a custom certificate with the same public key (a renewed
            certificate for the same key); PVE then keeps that key. Otherwise the task fails before any change,
            in check mode too.
        type: str
      restart:
        description:
          - Restart C(pveproxy) so that it serves the new certificate at once.
          - Later requests retry while the proxy restarts. When O(api_host) is this node,
            O(ca_path) must hold the CA of the new certificate.
        type: bool
        default: true
  power_state:
    description:
      - V(online) wakes the node through Wake-on-LAN (sent by the node O(api_host) points at, which must be
        another member) unless it is online; needs O(wakeonlan) set on the node.
      - V(shutdown) shuts the node down unless it is offline.
      - V(reboot) always reboots the node (never idempotent) and waits until it is back.
    type: str
    choices: [online, reboot, shutdown]
  power_timeout:
    description:
      - Seconds to wait for the node to come online or go offline after O(power_state) changed it.
    type: int
    default: 600
notes:
  - Privileges, from PVE's permissions of each call the module makes, on C(/nodes/<node>) unless said otherwise.
    O(dns) and O(timezone), C(Sys.Audit) to read and C(Sys.Modify) to change.
    O(hosts), C(Sys.Audit) on C(/) to read and C(Sys.Modify) to change.
    O(description) and O(wakeonlan), C(Sys.Audit) on C(/) to read and C(Sys.Modify) on C(/) to change.
    O(subscription), C(Sys.Modify) to change; with O(subscription.state=present) also C(Sys.Audit), without
    which PVE does not show the key the node has (the task then fails rather than set the key on every run).
    O(certificate), C(Sys.Modify) to change; reading needs none.
    O(power_state), C(Sys.Audit) on C(/) (C(/cluster/status)) and C(Sys.PowerMgmt) to change; for V(online)
    and V(reboot) also C(Sys.Audit), to see the node's API answer.
  - Each area given costs one read, so a no-change run of a task that manages two areas makes two API calls
    after logging in; a write happens only for an area that differs.
seealso:
  - module: proxops.proxmox.cluster
"""

EXAMPLES = r"""
- name: Resolver, time zone and notes
  proxops.proxmox.node:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    node: pve-b
    dns:
      search: example.com
      servers: [10.0.0.53, 10.0.1.53]
    timezone: Europe/Vienna
    description: Rack 4, slot 12

- name: Cluster members in /etc/hosts
  proxops.proxmox.node:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    node: pve-b
    hosts:
      - address: 10.10.0.1
        names: [pve-a.example.com, pve-a]

- name: Subscription key from the vault
  proxops.proxmox.node:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    node: pve-b
    subscription:
      key: "{{ vault_pve_b_subscription }}"

- name: Custom API certificate
  proxops.proxmox.node:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    node: pve-b
    certificate:
      certificates: "{{ lookup('file', 'pve-b.crt') }}"
      key: "{{ lookup('file', 'pve-b.key') }}"

- name: Reboot a node and wait until it is back
  proxops.proxmox.node:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    node: pve-b
    power_state: reboot

- name: Wake a node up
  proxops.proxmox.node:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    node: pve-b
    wakeonlan: "aa:bb:cc:dd:ee:ff"
    power_state: online
"""

RETURN = r"""
node:
  description:
    - The node after the change (predicted in check mode), with only the areas the task manages.
  returned: success
  type: dict
  contains:
    name:
      description: Node name.
      type: str
      sample: pve-b
    dns:
      description: Search domain and name servers.
      type: dict
      returned: when O(dns) is given
      sample: {search: example.com, servers: [10.0.0.53, 10.0.1.53]}
    timezone:
      description: Time zone.
      type: str
      returned: when O(timezone) is given
      sample: Europe/Vienna
    hosts:
      description: The C(/etc/hosts) lines of the managed addresses.
      type: list
      elements: str
      returned: when O(hosts) is given
      sample: ["10.10.0.1 pve-a.example.com pve-a"]
    description:
      description: Notes of the node.
      type: str
      returned: when O(description) is given
    wakeonlan:
      description: Wake-on-LAN MAC address.
      type: str
      returned: when O(wakeonlan) is given
      sample: "aa:bb:cc:dd:ee:ff"
    subscription:
      description: Subscription status (C(status), C(level), C(productname), C(message), C(nextduedate), ...), never the key.
      type: dict
      returned: when O(subscription) is given
      sample: {status: active, level: c, productname: Proxmox VE Community Subscription 1 CPU/year}
    certificate:
      description: The custom certificate (C(fingerprint), C(subject), C(issuer), C(notafter), C(san), ...); empty when there is none.
      type: dict
      returned: when O(certificate) is given
    online:
      description: Whether the cluster sees the node online.
      type: bool
      returned: when O(power_state) is given
      sample: true
"""

import time

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxError
from ansible_collections.proxops.proxmox.plugins.module_utils._certificates import certificate_fingerprint
from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import ProxmoxModule
from ansible_collections.proxops.proxmox.plugins.module_utils._node import (
    CERTIFICATE_FIELDS,
    CUSTOM_CERTIFICATE_FILE,
    SUBSCRIPTION_FIELDS,
    apply_hosts_entries,
    hosts_lines_for,
    kept_key_problem,
    node_status,
    option_errors,
    pick,
    power_reached,
    restore_subscription,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._pve_formats import parse_property_string, print_property_string


class NodeModule(ProxmoxModule):
    argument_spec = dict(
        node=dict(type="str", required=True),
        dns=dict(type="dict", options=dict(
            search=dict(type="str"),
            servers=dict(type="list", elements="str"),
        )),
        timezone=dict(type="str"),
        hosts=dict(type="list", elements="dict", options=dict(
            address=dict(type="str", required=True),
            names=dict(type="list", elements="str", required=True),
        )),
        description=dict(type="str"),
        wakeonlan=dict(type="str"),
        subscription=dict(type="dict", options=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            key=dict(type="str", no_log=True),
        )),
        certificate=dict(type="dict", options=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            certificates=dict(type="str"),
            key=dict(type="str", no_log=True),
            restart=dict(type="bool", default=True),
        )),
        power_state=dict(type="str", choices=["online", "reboot", "shutdown"]),
        power_timeout=dict(type="int", default=600),
    )
    option_names = {"search": "dns.search", "dns1": "dns.servers[0]", "dns2": "dns.servers[1]",
                    "dns3": "dns.servers[2]", "data": "hosts", "certificates": "certificate.certificates",
                    "key": "certificate.key or subscription.key"}

    def __init__(self, module):
        super().__init__(module)
        self.name = self.params["node"]
        self.path = "/nodes/%s" % self.name
        self.result["node"] = {"name": self.name}

    def subject(self):
        return "node %s" % self.name

    option_errors = staticmethod(option_errors)

    # --- the run -----------------------------------------------------------------
    SETTINGS = ("dns", "timezone", "hosts", "description", "wakeonlan", "subscription", "certificate")

    def run(self):
        p = self.params
        power_status = node_status(self.client, self.name) if p["power_state"] is not None else None
        woken = p["power_state"] == "online" and not (power_status or {}).get("online")
        if woken:
            # a node that is off cannot answer for its settings (PVE proxies those calls to it): wake it first
            self.ensure_power(power_status)
            settings = [name for name in self.SETTINGS if p[name] is not None]
            if self.check_mode and settings:
                self.module.warn("node %s is off: check mode cannot read its %s until it is woken"
                                 % (self.name, ", ".join(settings)))
                return
        if p["dns"] is not None:
            self.ensure_dns()
        if p["timezone"] is not None:
            self.ensure_timezone()
        if p["hosts"] is not None:
            self.ensure_hosts()
        if p["description"] is not None or p["wakeonlan"] is not None:
            self.ensure_config()
        if p["subscription"] is not None:
            self.ensure_subscription()
        if p["certificate"] is not None:
            self.ensure_certificate()
        if p["power_state"] is not None and not woken:
            self.ensure_power(power_status)

    def report(self, area, value):
        self.result["node"][area] = value

    def ensure_dns(self):
        current = self.client.get(self.path + "/dns") or {}
        before = {"search": current.get("search"),
                  "servers": [current[k] for k in ("dns1", "dns2", "dns3") if current.get(k)]}
        wanted = self.params["dns"]
        after = {"search": wanted["search"] if wanted["search"] is not None else before["search"],
                 "servers": list(wanted["servers"]) if wanted["servers"] is not None else before["servers"]}
        if after != before:
            if not after["search"]:
                self.fail("dns.search: the node has no search domain and PVE needs one; give dns.search")
            params = {"search": after["search"]}
            params.update(("dns%d" % (i + 1), server) for i, server in enumerate(after["servers"]))
            self.record_diff(before, after, "dns")
            self.write("set DNS", self.client.put, self.path + "/dns", **params)
        self.report("dns", after)

    def ensure_timezone(self):
        current = (self.client.get(self.path + "/time") or {}).get("timezone")
        wanted = self.params["timezone"]
        if current != wanted:
            self.record_diff({"timezone": current}, {"timezone": wanted})
            self.write("set time zone", self.client.put, self.path + "/time", timezone=wanted)
        self.report("timezone", wanted)

    def ensure_hosts(self):
        current = self.client.get(self.path + "/hosts") or {}
        text = current.get("data") or ""
        entries = self.params["hosts"]
        updated = apply_hosts_entries(text, entries)
        before = [line for entry in entries for line in hosts_lines_for(text, entry["address"])]
        after = [line for entry in entries for line in hosts_lines_for(updated, entry["address"])]
        if updated.rstrip("\n") != text.rstrip("\n"):
            self.record_diff({"hosts": before}, {"hosts": after})
            # the digest makes PVE refuse the write if someone changed the file since the read
            self.write("wrote /etc/hosts", self.client.post, self.path + "/hosts", data=updated,
                       digest=current.get("digest"))
        self.report("hosts", after)

    def ensure_config(self):
        current = self.client.get(self.path + "/config") or {}
        before, after, params = {}, {}, {}
        description = self.params["description"]
        if description is not None:
            self.report("description", description)
            # PVE keeps the notes as comment lines: a trailing newline does not survive
            if (current.get("description") or "").rstrip("\n") != description.rstrip("\n"):
                before["description"], after["description"] = current.get("description"), description
                params["description"] = description
        mac = self.params["wakeonlan"]
        if mac is not None:
            self.report("wakeonlan", mac)
            wol = parse_property_string(current.get("wakeonlan"), "mac")
            if wol.get("mac", "").lower() != mac.lower():
                before["wakeonlan"], after["wakeonlan"] = wol.get("mac"), mac
                wol["mac"] = mac  # keeps bind-interface and broadcast-address
                params["wakeonlan"] = print_property_string(wol, "mac")
        if params:
            self.record_diff(before, after)
            # with the digest, a repeated PUT would be refused once the first one went through
            self.write("set %s" % " and ".join(sorted(after)), self.client.put, self.path + "/config",
                       digest=current.get("digest"), idempotent=False, **params)

    def ensure_subscription(self):
        wanted = self.params["subscription"]
        path = self.path + "/subscription"
        current = self.client.get(path) or {}
        current_key = (current.get("key") or "").strip()
        status = current.get("status")
        if wanted["state"] == "absent":
            if current_key or status not in (None, "notfound"):
                self.record_diff({"key": current_key or None, "status": status}, {"key": None, "status": "notfound"},
                                 "subscription")
                self.write("removed the subscription key", self.client.delete, path)
                current = {"status": "notfound"}
            self.report("subscription", pick(current, SUBSCRIPTION_FIELDS))
            return
        if not current_key and (status not in (None, "notfound") or "serverid" not in current):
            # PVE's Subscription.pm: without Sys.Audit on the node only status, message and url
            # (a notfound answer lacks the server ID then)
            self.fail("subscription: PVE shows the node's subscription key only with Sys.Audit on /nodes/%s, which "
                      "%s lacks; without it the key cannot be compared and would be set (and checked with the shop) "
                      "again on every run; nothing was changed" % (self.name, self.client.auth_description))
        key = wanted["key"].strip()
        if current_key != key:
            self._set_subscription(current, key)
        elif status == "active":
            self.report("subscription", pick(current, SUBSCRIPTION_FIELDS))
        else:
            self._recheck_subscription(current)

    def _set_subscription(self, current, key):
        """PUT the key; put the previous one back when PVE does not find the new one active."""
        path = self.path + "/subscription"
        previous_key = (current.get("key") or "").strip()
        self.record_diff({"key": previous_key or None, "status": current.get("status")}, {"key": key}, "subscription")
        try:
            # PVE writes the key (status "new") and asks the shop: never sent twice
            self.write("set the subscription key", self.client.put, path, key=key, idempotent=False)
        except ProxmoxError as err:
            # a check that could not reach the shop fails the PUT after the new key was written
            after = self.client.get(path) or {}
            after_key = (after.get("key") or "").strip()
            if after_key != key and (after_key or after.get("status") in (None, "notfound")):
                raise  # nothing was written
            self.changed = True
            self.fail("subscription.key: setting the key failed: %s; %s" % (
                self.describe_error(err), restore_subscription(self.client, self.name, previous_key)), **self.error_details(err))
        if self.check_mode:
            self.report("subscription", {"status": "new"})
            return
        after = self.client.get(path) or {}
        self.report("subscription", pick(after, SUBSCRIPTION_FIELDS))
        if after.get("status") != "active":
            # an invalid key is worse than the one the node had: put that one back
            restored = restore_subscription(self.client, self.name, previous_key)
            self.done[-1] = "set the subscription key and undid it"
            self.fail("subscription.key: PVE finds the key %s (%s); %s" % (
                after.get("status"), after.get("message") or "no reason given", restored))

    def _recheck_subscription(self, current):
        """The node has the key but PVE does not find it active (still "new" after a failed check, say): check again."""
        path = self.path + "/subscription"
        self.record_diff({"subscription": {"status": current.get("status")}}, {"subscription": {"status": "active"}})
        # POST with force: PVE asks the shop again and rewrites /etc/subscription
        self.write("checked the subscription key again", self.client.post, path, force=True)
        if self.check_mode:
            self.report("subscription", pick(current, SUBSCRIPTION_FIELDS))
            return
        after = self.client.get(path) or {}
        self.report("subscription", pick(after, SUBSCRIPTION_FIELDS))
        if after.get("status") != "active":
            self.fail("subscription.key: the node has the key, but PVE finds it %s after checking it again (%s)"
                      % (after.get("status"), after.get("message") or "no reason given"))

    def ensure_certificate(self):
        wanted = self.params["certificate"]
        infos = self.client.get(self.path + "/certificates/info") or []
        custom = next((info for info in infos if info.get("filename") == CUSTOM_CERTIFICATE_FILE), None)
        current_fp = (custom or {}).get("fingerprint")
        if wanted["state"] == "absent":
            if custom is not None:
                self.record_diff({"certificate": {"fingerprint": current_fp}}, {"certificate": {"fingerprint": None}})
                self.write("removed the custom certificate", self.client.delete, self.path + "/certificates/custom",
                           restart=wanted["restart"])
            self.report("certificate", {})
            return
        fingerprint = certificate_fingerprint(wanted["certificates"])
        if current_fp and current_fp.upper() == fingerprint:
            self.report("certificate", pick(custom, CERTIFICATE_FIELDS))
            return
        problem = kept_key_problem(custom, wanted["certificates"]) if wanted["key"] is None else None
        if problem:
            self.fail("certificate.key: required, %s; nothing was changed" % problem)
        self.record_diff({"certificate": {"fingerprint": current_fp}}, {"certificate": {"fingerprint": fingerprint}})
        info = self.write("uploaded a custom certificate", self.client.post, self.path + "/certificates/custom",
                          certificates=wanted["certificates"], key=wanted["key"], restart=wanted["restart"],
                          force=custom is not None)
        self.report("certificate", pick(info or {"filename": CUSTOM_CERTIFICATE_FILE, "fingerprint": fingerprint},
                                        CERTIFICATE_FIELDS))

    # --- power ------------------------------------------------------------------
    def ensure_power(self, status):
        """Bring the node to power_state, from its ``status`` (its /cluster/status entry, None if not there)."""
        state = self.params["power_state"]
        if status is None:
            self.fail("node %s is not a member of the cluster of %s" % (self.name, self.params["api_host"]))
        online, local = bool(status.get("online")), bool(status.get("local"))
        self.report("online", online)
        if state == "online" and online or state == "shutdown" and not online:
            return
        if state == "online":
            self.record_diff({"online": False}, {"online": True})
            self.write("sent Wake-on-LAN", self.client.post, self.path + "/wakeonlan")
            self._wait_for(online=True)
        elif state == "shutdown":
            self.record_diff({"online": True}, {"online": False})
            self.write("shut down", self.client.post, self.path + "/status", command="shutdown")
            self._wait_for(online=False, local=local)
        else:
            if not online:
                self.fail("node %s is offline and cannot reboot; use power_state=online to wake it" % self.name)
            self.record_diff({"rebooted": False}, {"rebooted": True})
            started = time.time()
            self.write("rebooted", self.client.post, self.path + "/status", command="reboot")
            self._wait_for(online=True, local=local, booted_after=started)
        self.report("online", state != "shutdown")

    def _wait_for(self, online, local=False, booted_after=None):
        """Poll until the node is online (and, for a reboot, booted since ``booted_after``) or offline."""
        if self.check_mode:
            return
        if not self.client.wait_until(lambda: power_reached(self.client, self.name, online, local, booted_after),
                                      self.params["power_timeout"], max_interval=5.0):
            self.fail("node %s is not %s after %d seconds (power_timeout)" % (
                self.name, "back online" if online else "offline", self.params["power_timeout"]))


def main():
    NodeModule.execute()


if __name__ == "__main__":
    main()
