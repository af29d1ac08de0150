#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster
short_description: Create a Proxmox VE cluster, join a host to one, or remove a node
version_added: 0.1.0
description:
  - With O(state=present) and O(cluster_name) alone, creates a cluster on the host O(api_host) points at.
  - With O(state=present) and O(join), joins the host O(api_host) points at to an existing cluster.
    Which of the two happens is always what the options say; a half-given join is an error, never a create.
  - Waits for PVE's create or join task and fails with the task's error when it fails; then waits until
    the host is in the cluster and the cluster is quorate, up to O(timeout) seconds from the start.
  - A join restarts the host's API, replaces its ticket key and its certificate; the task is polled
    through that. When its end cannot be seen, the host being in the cluster afterwards counts as success
    (with a warning).
  - With O(state=absent), removes O(node) from the cluster of O(api_host).
  - A host already in the wanted cluster is left alone (RV(ignore:changed=false)); a host in another cluster is an error.
author:
  - proxops.proxmox contributors (@proxops)
extends_documentation_fragment:
  - proxops.proxmox.api
  - proxops.proxmox.attributes
  - proxops.proxmox.attributes.actiongroup_proxmox
options:
  state:
    description:
      - V(present) creates the cluster or joins it; V(absent) removes O(node) from the cluster.
    type: str
    choices: [present, absent]
    default: present
  cluster_name:
    description:
      - Name of the cluster, up to 15 letters, digits and hyphens.
      - Without O(join), the cluster to create on O(api_host).
      - With O(join), optional; the name the cluster joined must have (checked before joining
        when the join information is at hand, and on later runs).
    type: str
  links:
    description:
      - The corosync links of this host, in order (the first is C(link0)); up to 8.
      - When joining, give one address for each link the cluster has. Without O(links), PVE uses
        the address the host name resolves to, on a single link.
    type: list
    elements: dict
    suboptions:
      address:
        description:
          - IP address or host name of this host on that link.
        type: str
        required: true
      priority:
        description:
          - Priority of the link in knet passive mode, 0 to 255; lower is preferred.
          - Only when creating a cluster; PVE ignores link priorities of a joining node, so giving one with O(join) is an error.
        type: int
  nodeid:
    description:
      - Corosync node ID of this host, 1 or more. PVE picks the lowest free one when not given.
    type: int
  votes:
    description:
      - Quorum votes of this host. At least 1 when creating, 0 or more when joining. PVE's default is 1.
    type: int
  join:
    description:
      - Join the host O(api_host) points at to an existing cluster.
      - Give O(join.master_host) or O(join.join_info) (the RV(proxops.proxmox.cluster_join_info#module:join_info)
        of M(proxops.proxmox.cluster_join_info)), and O(join.password).
    type: dict
    suboptions:
      master_host:
        description:
          - Host name or IP address of a member of the cluster to join, as PVE on the joining host reaches it.
          - Defaults to the API address of the preferred node of O(join.join_info).
        type: str
      join_info:
        description:
          - The join information of the cluster, as M(proxops.proxmox.cluster_join_info) returns it.
          - Gives the fingerprint (and O(join.master_host) when not set) without another request.
        type: dict
      fingerprint:
        description:
          - SHA-256 fingerprint of the API certificate of O(join.master_host), as C(AA:BB:...) (32 pairs).
          - When not given, read from O(join.join_info), or else fetched from O(join.master_host)'s API,
            logging in as C(root@pam) with O(join.password) on O(api_port) and checking its certificate
            as O(validate_certs) and O(ca_path) say. The fetched join information is that of
            O(join.master_host) itself, so O(join.master_host) may be any name of it, an FQDN included.
        type: str
      force:
        description:
          - Finish a join that failed halfway, after the cluster had added this host's node (PVE joins in two
            steps; a rerun then fails with C(can't add existing node)). PVE's C(force) is passed only when the
            join information, read from O(join.master_host) for this, lists the node; PVE then re-adds it when
            O(nodeid) and O(votes) match the listed ones.
          - Without it, a join whose cluster already lists the node fails before any change, saying so.
          - PVE's C(force) also lets a join go on despite failed checks of the joining host (such as guests on
            it), which is why the module passes it only in the case above.
        type: bool
        default: false
      password:
        description:
          - Password of C(root@pam) of the cluster to join.
          - Never shown in output, logs or diffs.
        type: str
        required: true
  node:
    description:
      - With O(state=absent), the node to remove from the cluster.
      - Refused when it is the node O(api_host) points at (talk to another member), and when it is
        online unless O(force=true). Shut a node down before removing it, and do not start it again
        as it is; reinstall it before it rejoins.
    type: str
  force:
    description:
      - With O(state=absent), remove O(node) even though the cluster sees it online.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for the create or join task and then for the host to be in a quorate cluster.
    type: int
    default: 600
notes:
  - Privileges. Creating, joining and removing need C(root@pam) with its password
    (PVE allows these calls to no other user and to no API token). Reading needs C(Sys.Audit) on C(/).
  - A no-change run makes two API calls (C(/cluster/status) and C(/cluster/config/nodes)) after logging in.
    A join's rerun whose O(join.master_host) is no name or address the cluster holds (an FQDN, say), and no
    O(cluster_name), reads the join information of O(join.master_host) once to compare the cluster names.
  - A joining host must hold no guests, as PVE requires.
  - PVE gives a joined host a new API certificate signed by the cluster's CA. Give a O(ca_path) that holds
    the CA of the cluster as well when the host was standalone before.
seealso:
  - module: proxops.proxmox.cluster_join_info
  - module: proxops.proxmox.node
  - name: Cluster Manager (pvecm)
    description: Proxmox VE documentation of clusters.
    link: https://pve.proxmox.com/pve-docs/chapter-pvecm.html
"""

EXAMPLES = r"""
- name: Create the cluster on the first host
  proxops.proxmox.cluster:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    cluster_name: prod
    links:
      - address: 10.10.0.1
      - address: 10.20.0.1
        priority: 10

- name: Read the join information from the first host
  proxops.proxmox.cluster_join_info:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
  register: prod_join

- name: Join the second host
  proxops.proxmox.cluster:
    api_host: pve-b.example.com
    api_password: "{{ root_password }}"
    cluster_name: prod
    links:
      - address: 10.10.0.2
      - address: 10.20.0.2
    join:
      join_info: "{{ prod_join.join_info }}"
      password: "{{ root_password }}"

# A host joining a cluster with two links gives its address on each of them.
- name: Join the third host through the first one's address on the cluster network
  proxops.proxmox.cluster:
    api_host: pve-c.example.com
    api_password: "{{ root_password }}"
    cluster_name: prod
    links:
      - address: 10.10.0.3
      - address: 10.20.0.3
    join:
      master_host: 10.10.0.1  # pve-a as pve-c reaches it; its fingerprint comes from the join information
      join_info: "{{ prod_join.join_info }}"
      password: "{{ root_password }}"

- name: Shut down a node that leaves the cluster for good
  proxops.proxmox.node:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    node: pve-c
    power_state: shutdown

- name: Remove a node that has been shut down for good
  proxops.proxmox.cluster:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    state: absent
    node: pve-c
"""

RETURN = r"""
cluster:
  description:
    - The cluster of O(api_host) after the change (predicted in check mode).
  returned: success
  type: dict
  contains:
    name:
      description: Name of the cluster; V(null) for a standalone host.
      type: str
      sample: prod
    quorate:
      description: Whether the cluster has quorum.
      type: bool
      sample: true
    version:
      description: Version of the corosync configuration.
      type: int
      sample: 3
    local_node:
      description: Name of the node O(api_host) points at.
      type: str
      sample: pve-a
    nodes:
      description: The members, by node ID.
      type: list
      elements: dict
      contains:
        name:
          description: Node name.
          type: str
          sample: pve-a
        nodeid:
          description: Corosync node ID.
          type: int
          sample: 1
        online:
          description: Whether the cluster sees the node online.
          type: bool
          sample: true
        local:
          description: Whether it is the node O(api_host) points at.
          type: bool
          sample: true
        ip:
          description: The node's address as the cluster resolves its name.
          type: str
          sample: 10.10.0.1
        links:
          description: Its corosync link addresses, C(link0) first.
          type: list
          elements: str
          sample: [10.10.0.1, 10.20.0.1]
        votes:
          description: Its quorum votes.
          type: int
          sample: 1
  sample:
    name: prod
    quorate: true
    version: 3
    local_node: pve-a
    nodes:
      - {name: pve-a, nodeid: 1, online: true, local: true, ip: 10.10.0.1, links: [10.10.0.1, 10.20.0.1], votes: 1}
"""

import time

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxError, client_from_options
from ansible_collections.proxops.proxmox.plugins.module_utils._cluster import (
    find_member,
    intent,
    join_info_cluster_name,
    join_info_lists,
    join_plan,
    link_count_errors,
    link_params,
    not_joined_message,
    option_errors,
    predicted_cluster,
    read_cluster,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import ProxmoxModule


class ClusterModule(ProxmoxModule):
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        cluster_name=dict(type="str"),
        links=dict(type="list", elements="dict", options=dict(
            address=dict(type="str", required=True),
            priority=dict(type="int"),
        )),
        nodeid=dict(type="int"),
        votes=dict(type="int"),
        join=dict(type="dict", options=dict(
            master_host=dict(type="str"),
            join_info=dict(type="dict"),
            fingerprint=dict(type="str"),
            password=dict(type="str", required=True, no_log=True),
            force=dict(type="bool", default=False),
        )),
        node=dict(type="str"),
        force=dict(type="bool", default=False),
        timeout=dict(type="int", default=600),
    )
    module_kwargs = dict(required_if=[("state", "absent", ("node",))])
    option_names = {"clustername": "cluster_name", "hostname": "join.master_host", "fingerprint": "join.fingerprint",
                    "password": "join.password"}

    def subject(self):
        return "cluster"

    option_errors = staticmethod(option_errors)

    # --- the run -----------------------------------------------------------
    def run(self):
        if self.params["state"] == "absent":
            self.ensure_removed()
        elif self.params["join"] is not None:
            self.ensure_joined()
        else:
            self.ensure_created()

    def ensure_created(self):
        name = self.params["cluster_name"]
        cluster = read_cluster(self.client)
        if cluster["name"] == name:
            self.result["cluster"] = cluster
            return
        if cluster["name"]:
            self.fail("host %s (node %s) is already in cluster %r, not %r; a node leaves a cluster only by being "
                      "removed and reinstalled" % (self.params["api_host"], cluster["local_node"], cluster["name"], name))
        params = dict(clustername=name, nodeid=self.params["nodeid"], votes=self.params["votes"])
        params.update(link_params(self.params["links"]))
        self.record_diff({"cluster_name": None}, intent(name, self.params["links"]))
        self._run_and_settle("created cluster %r on node %s" % (name, cluster["local_node"]), "/cluster/config",
                             params, name, cluster)

    def ensure_joined(self):
        join = self.params["join"]
        cluster = read_cluster(self.client)
        expected_name = self.params["cluster_name"] or (join_info_cluster_name(join["join_info"]) if join["join_info"] else None)
        if cluster["name"]:
            self._check_already_joined(cluster, expected_name)
            self.result["cluster"] = cluster
            return
        fetched = None
        if not join["join_info"] and not join["fingerprint"]:
            fetched = self._fetch_join_info(join["master_host"])
            if fetched is None:  # check mode, and the cluster is yet to be created there
                self._predict_join_through_standalone(cluster, expected_name)
                return
        join_info = join["join_info"] or fetched
        if join_info is not None:
            # PVE would refuse it in its task: say so before anything is sent
            errors = link_count_errors(join_info, self.params["links"])
            if errors:
                self.fail("; ".join(errors) + "; nothing was changed")
        master_host, fingerprint, found_name, problem = join_plan(join, join_info, fetched is not None, self.params["cluster_name"])
        if problem:
            self.fail(problem)
        expected_name = expected_name or found_name
        force = self._join_force(cluster["local_node"], master_host, join_info, fetched)
        params = dict(hostname=master_host, fingerprint=fingerprint, password=join["password"],
                      nodeid=self.params["nodeid"], votes=self.params["votes"], force=True if force else None)
        params.update(link_params(self.params["links"]))
        self.record_diff({"cluster_name": None}, dict(intent(expected_name, self.params["links"]), master_host=master_host))
        try:
            self._run_and_settle("joined node %s to the cluster of %s" % (cluster["local_node"], master_host),
                                 "/cluster/config/join", params, expected_name, cluster)
        except ProxmoxError as err:
            if any("can't add existing node" in line for line in err.log):
                hint = ("the cluster of %s already lists node %s: set join.force=true to finish an earlier join, "
                        "or remove the node from the cluster first" % (master_host, cluster["local_node"]))
                self.fail("%s; %s" % (self.describe_error(err), hint), **self.error_details(err))
            raise

    def _judge_failed_task(self, err):
        """A create or join task failed: a change only if the host is in a cluster now (PVE refuses most joins before any)."""
        try:
            after = read_cluster(self.client, with_links=False)
        except ProxmoxError:
            return  # cannot tell: the task may have done part of its work, so it stays a change
        self.changed = bool(after["name"])
        if self.changed:
            self.done.append("node %s is in cluster %r, but PVE's task failed (%s)" % (
                after["local_node"], after["name"], err.exitstatus))

    def _predict_join_through_standalone(self, cluster, expected_name):
        """Check mode of a whole build: master_host is not in a cluster yet, an earlier task of the run creates it."""
        master_host = self.params["join"]["master_host"]
        self.module.warn("join.master_host: %s is not in a cluster yet; check mode predicts the join assuming an earlier "
                         "task creates the cluster there" % master_host)
        self.record_diff({"cluster_name": None}, dict(intent(expected_name, self.params["links"]), master_host=master_host))
        self.changed = True
        self.result["cluster"] = self._predicted(cluster, expected_name)

    def _join_force(self, local_node, master_host, join_info, fetched):
        """Whether to pass PVE's ``force``: only to finish a join after which the cluster already lists this node.

        (PVE's force also lets a join go on despite failed checks of the joining host, guests on it among them.)
        """
        force = self.params["join"]["force"]
        if force and fetched is None:
            fetched = self._fetch_join_info(master_host)  # a given join_info may be older than the failed join
        listed = join_info_lists(fetched or join_info or {}, local_node)
        if listed and not force:
            self.fail("the cluster of %s already lists node %s, from a join that did not finish (the cluster added "
                      "the node, then the joining host failed); set join.force=true to finish the join, or remove "
                      "node %s from the cluster (state=absent) first; nothing was changed"
                      % (master_host, local_node, local_node))
        if force and not listed:
            self.module.warn("join.force: the cluster of %s does not list node %s, so the join goes without PVE's "
                             "force" % (master_host, local_node))
        return force and listed

    def _run_and_settle(self, what, path, params, expected_name, before):
        """Start PVE's create or join task, wait for it, then until the host is in the cluster and it is quorate."""
        deadline = time.monotonic() + self.params["timeout"]
        try:
            # done only once the task has ended well: a POST that returns a task id has changed nothing yet
            unseen = self.write(what, self._start_task, path, params)
        except ProxmoxError as err:
            if err.exitstatus is not None:
                self._judge_failed_task(err)
            raise
        if self.check_mode:
            self.result["cluster"] = self._predicted(before, expected_name)
            return
        self.result["cluster"] = self._settle(expected_name, deadline, unseen)

    def _start_task(self, path, params):
        """POST the create or join and wait for its task; the error that hid the task's end, if one did."""
        upid = self.client.post(path, **params)
        if not (isinstance(upid, str) and upid.startswith("UPID:")):
            return None
        try:
            # a join replaces the ticket key, restarts pmxcfs and pveproxy, and gives the node a
            # certificate from the cluster's CA: every failed poll is repeated until the deadline
            self.client.wait_for_task(upid, timeout=self.params["timeout"], through_restart=True)
        except ProxmoxError as err:
            if err.exitstatus is not None:
                raise  # the task failed: PVE says why
            return err  # its end could not be seen: where the host is now decides
        return None

    def _settle(self, expected_name, deadline, unseen):
        """Poll the cluster status until the host is in the cluster (``expected_name``, or any) and it is quorate.

        PVE's create task ends right after restarting corosync and pmxcfs, before quorum.
        """
        last = {"cluster": None, "error": None}

        def joined_and_quorate():
            try:
                last["cluster"], last["error"] = read_cluster(self.client), None
            except ProxmoxError as err:
                last["cluster"], last["error"] = None, err
                return err.tls  # a certificate that cannot be verified is never waited out
            cluster = last["cluster"]
            return bool(cluster["name"] and expected_name in (None, cluster["name"]) and cluster["quorate"])

        self.client.wait_until(joined_and_quorate, max(0.0, deadline - time.monotonic()), max_interval=2.0)
        cluster, error = last["cluster"], last["error"]
        if not (cluster and cluster["name"] and expected_name in (None, cluster["name"])):
            self.fail(not_joined_message(self.params["api_host"], expected_name, self.params["timeout"], cluster, error, unseen))
        if unseen is not None:
            self.module.warn("the end of PVE's task could not be seen (%s), but host %s is now in cluster %r"
                             % (unseen, self.params["api_host"], cluster["name"]))
        if not cluster["quorate"]:
            self.module.warn("cluster %r has no quorum yet, %d seconds (timeout) after the task started"
                             % (cluster["name"], self.params["timeout"]))
        return cluster

    def _check_already_joined(self, cluster, expected_name):
        """A clustered host is fine when it is in the cluster the options name, else an error."""
        master_host = self.params["join"]["master_host"]
        if expected_name:
            if cluster["name"] == expected_name:
                return
            self.fail("host %s (node %s) is already in cluster %r, not %r; nothing was changed"
                      % (self.params["api_host"], cluster["local_node"], cluster["name"], expected_name))
        if not master_host or find_member(cluster, master_host):
            return
        # master_host is a name the cluster does not hold (an FQDN, say): ask it which cluster it is in
        other = join_info_cluster_name(self._fetch_join_info(master_host) or {})
        if other == cluster["name"]:
            return
        self.fail("host %s (node %s) is already in cluster %r, but %s is in cluster %r; nothing was changed"
                  % (self.params["api_host"], cluster["local_node"], cluster["name"], master_host, other))

    def _fetch_join_info(self, master_host):
        """Read the join information from the cluster member, as root with the join password."""
        p = self.params
        member = client_from_options(dict(p, api_host=master_host, api_user="root@pam", api_password=p["join"]["password"],
                                          api_otp=None, api_token_id=None, api_token_secret=None))
        try:
            return member.get("/cluster/config/join")
        except ProxmoxError as err:
            if err.status == 401:
                self.fail("join.password: logging in to %s as root@pam failed; give the root password of the "
                          "cluster; nothing was changed" % master_host)
            if err.status == 424 or "not in a cluster" in str(err):
                if self.check_mode:
                    return None
                self.fail("join.master_host: %s is not in a cluster; create the cluster there first; "
                          "nothing was changed" % master_host)
            self.fail("cannot read the join information (and fingerprint) from %s: %s; give join.fingerprint "
                      "or join.join_info; nothing was changed" % (master_host, err))

    def _predicted(self, before, name):
        return predicted_cluster(before["local_node"], name, self.params["links"], self.params["nodeid"], self.params["votes"])

    def ensure_removed(self):
        name = self.params["node"]
        cluster = read_cluster(self.client)
        if not cluster["name"]:
            self.fail("host %s (node %s) is not in a cluster; point api_host at a member of the cluster %s belongs to"
                      % (self.params["api_host"], cluster["local_node"], name))
        member = next((node for node in cluster["nodes"] if node["name"] == name), None)
        if member is None:
            self.result["cluster"] = cluster
            return
        if member["local"]:
            self.fail("node %s is the node api_host (%s) points at; PVE cannot remove the node it runs on: point "
                      "api_host at another member" % (name, self.params["api_host"]))
        if member["online"] and not self.params["force"]:
            self.fail("node %s is online; shut it down before removing it (it must not come back as it is), "
                      "or set force=true" % name)
        names = [node["name"] for node in cluster["nodes"]]
        self.record_diff({"nodes": names}, {"nodes": [n for n in names if n != name]})
        self.write("removed node %s from cluster %r" % (name, cluster["name"]),
                   self.client.delete, "/cluster/config/nodes/%s" % name, idempotent=False)
        if self.check_mode:
            cluster["nodes"] = [node for node in cluster["nodes"] if node["name"] != name]
            self.result["cluster"] = cluster
        else:
            self.result["cluster"] = read_cluster(self.client)


def main():
    ClusterModule.execute()


if __name__ == "__main__":
    main()
