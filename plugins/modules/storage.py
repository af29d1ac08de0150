#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: storage
short_description: Manage a Proxmox VE storage definition of any type
version_added: 0.1.0
description:
  - Adds, updates and removes a storage of the cluster (C(/storage), that is C(/etc/pve/storage.cfg)), for every
    storage type PVE 9 offers - V(dir), V(nfs), V(cifs), V(iscsi), V(iscsidirect), V(lvm), V(lvmthin), V(zfspool),
    V(zfs) (ZFS over iSCSI), V(rbd), V(cephfs), V(pbs), V(btrfs) and V(esxi).
  - The options of each type are checked before any request, from PVE's own rules (pve-storage's storage plugins).
    An option that does not apply to the type, a missing required one, a O(content) or O(format) the type does not
    take are one clear error naming the option and what the type accepts.
  - Drift is corrected. Options that are set and differ from C(storage.cfg) are updated in one C(PUT), guarded by PVE's
    digest. Options PVE fixes at creation (O(path), O(server), O(export), O(vgname), ...) cannot be updated, so a
    difference is an error, unless O(on_fixed_change=recreate).
  - Options that are not set are left as they are. O(content) and O(nodes) are compared as sets, as PVE keeps them.
  - Secrets (O(password), O(keyring), O(encryption_key), O(master_pubkey)) are write-only in PVE and cannot be
    compared; see O(update_secrets). They never appear in the output or the diff.
  - Removing a storage removes its definition only; PVE does not delete the data on it.
author:
  - proxops.proxmox contributors (@proxops)
extends_documentation_fragment:
  - proxops.proxmox.api
  - proxops.proxmox.attributes
  - proxops.proxmox.attributes.actiongroup_proxmox
options:
  name:
    description:
      - The storage ID, such as V(local-lvm) or V(backup-nfs).
    type: str
    required: true
    aliases: [storage]
  type:
    description:
      - The storage type. Required with O(state=present); it cannot change once the storage exists.
    type: str
    choices: [btrfs, cephfs, cifs, dir, esxi, iscsi, iscsidirect, lvm, lvmthin, nfs, pbs, rbd, zfs, zfspool]
  state:
    description:
      - V(present) adds the storage or brings the options that are set to their values; V(absent) removes it.
      - With V(absent) only O(name) counts; other options are not looked at.
    type: str
    choices: [present, absent]
    default: present
  update_secrets:
    description:
      - V(on_create) sends the secrets only when the storage is created (or recreated), so a run that changes nothing
        else reports no change.
      - V(always) sends them on every run, which then always reports a change, since PVE gives no way to compare them.
    type: str
    choices: [always, on_create]
    default: on_create
  on_fixed_change:
    description:
      - What to do when an option that PVE fixes at creation differs from the storage as it is.
      - V(fail) stops before any change and names the options.
      - V(recreate) removes the storage definition and adds it again with all the options given. PVE deletes no data
        when a definition is removed, but while it is gone guests whose disks are on it cannot start, and the new
        definition points at the new place (O(path), O(server), ...) without moving any volume there. The secrets must be
        given again.
    type: str
    choices: [fail, recreate]
    default: fail
  content:
    description:
      - Content types the storage holds, such as V(images), V(rootdir), V(iso), V(vztmpl), V(backup), V(snippets),
        V(import); V(none) alone for none. Each type takes some of them (the error lists which).
      - Compared as a set. Not set on creation, PVE uses the type's default.
    type: list
    elements: str
  nodes:
    description:
      - The nodes the storage is available on. Not set, on all nodes. Compared as a set.
    type: list
    elements: str
  disable:
    description:
      - Disable the storage (all types).
    type: bool
  shared:
    description:
      - Mark the storage as the same on all nodes (V(dir), V(btrfs), V(lvm), V(esxi)), for example a directory on a
        cluster file system. Network types are shared by nature and do not take it.
    type: bool
  path:
    description:
      - File system path (V(dir), V(btrfs); V(nfs), V(cifs), V(cephfs) mount there, by default at C(/mnt/pve/<name>)).
        Fixed at creation. For V(dir) and V(btrfs) an absolute path of letters, digits and C(- / _ . @).
    type: str
  server:
    description:
      - Server address (V(nfs), V(cifs), V(pbs) - fixed at creation - and V(esxi), where it is required).
    type: str
  export:
    description:
      - NFS export path (V(nfs), required, fixed at creation).
    type: str
  share:
    description:
      - CIFS share name (V(cifs), required, fixed at creation).
    type: str
  subdir:
    description:
      - Subdirectory of the share or file system to use (V(cifs), V(cephfs)).
    type: str
  domain:
    description:
      - CIFS domain (V(cifs)).
    type: str
  smbversion:
    description:
      - SMB protocol version (V(cifs)).
    type: str
    choices: ['default', '2.0', '2.1', '3', '3.0', '3.11']
  options:
    description:
      - Mount options (V(nfs), V(cifs), V(cephfs)), such as V(vers=4.2).
    type: str
  username:
    description:
      - User name (V(cifs), V(pbs), V(rbd), V(cephfs); V(esxi), where it is required).
    type: str
  password:
    description:
      - Password (V(cifs), V(pbs), V(esxi)). Write-only, see O(update_secrets).
    type: str
  keyring:
    description:
      - Ceph client keyring of an external cluster (V(rbd), V(cephfs)). Write-only, see O(update_secrets).
    type: str
  datastore:
    description:
      - Proxmox Backup Server datastore (V(pbs), required, fixed at creation).
    type: str
  namespace:
    description:
      - Namespace on the datastore (V(pbs)) or RBD namespace (V(rbd)).
    type: str
  fingerprint:
    description:
      - SHA-256 fingerprint of the Proxmox Backup Server's certificate (V(pbs)). Not a secret, so it is compared.
    type: str
  encryption_key:
    description:
      - Client-side encryption key for backups, as JSON, or V(autogen) (V(pbs)). Write-only, see O(update_secrets).
    type: str
  master_pubkey:
    description:
      - PEM public key of a master key that encrypts each backup's key (V(pbs)). Write-only, see O(update_secrets).
    type: str
  port:
    description:
      - Server port (V(pbs), V(esxi)).
    type: int
  skip_cert_verification:
    description:
      - Do not verify the ESXi host's certificate (V(esxi)).
    type: bool
  portal:
    description:
      - iSCSI portal address (V(iscsi), V(iscsidirect), V(zfs); required, fixed at creation).
    type: str
  target:
    description:
      - iSCSI target IQN (V(iscsi), V(iscsidirect), V(zfs); required, fixed at creation).
    type: str
  vgname:
    description:
      - LVM volume group (V(lvm), V(lvmthin); required, fixed at creation).
    type: str
  thinpool:
    description:
      - LVM thin pool (V(lvmthin), required, fixed at creation).
    type: str
  base:
    description:
      - Base volume the LVM volume group sits on, such as an iSCSI LUN (V(lvm), fixed at creation).
    type: str
  saferemove:
    description:
      - Zero removed volumes (V(lvm)).
    type: bool
  saferemove_stepsize:
    description:
      - Step size of zeroing, in MiB (V(lvm)).
    type: int
    choices: [1, 2, 4, 8, 16, 32]
  saferemove_throughput:
    description:
      - Throughput limit of zeroing, in bytes per second (V(lvm)).
    type: str
  tagged_only:
    description:
      - Only use logical volumes tagged C(pve-vm-ID) (V(lvm)).
    type: bool
  pool:
    description:
      - ZFS pool (V(zfspool), V(zfs); required, fixed at creation) or Ceph pool (V(rbd)).
    type: str
  data_pool:
    description:
      - Ceph data pool for erasure coding (V(rbd)).
    type: str
  blocksize:
    description:
      - ZFS block size (V(zfspool); V(zfs), where it is required and fixed at creation).
    type: str
  sparse:
    description:
      - Thin-provision ZFS volumes (V(zfspool), V(zfs)).
    type: bool
  mountpoint:
    description:
      - Where the ZFS pool is mounted, when not at its default (V(zfspool)).
    type: str
  iscsiprovider:
    description:
      - iSCSI target software on the ZFS host, such as V(LIO) or V(comstar) (V(zfs), required, fixed at creation).
    type: str
  comstar_hg:
    description:
      - COMSTAR host group (V(zfs)).
    type: str
  comstar_tg:
    description:
      - COMSTAR target group (V(zfs)).
    type: str
  lio_tpg:
    description:
      - LIO target portal group (V(zfs)).
    type: str
  nowritecache:
    description:
      - Disable the write cache on the target (V(zfs)).
    type: bool
  zfs_base_path:
    description:
      - Base path where ZFS volumes show up on the ZFS host (V(zfs)).
    type: str
  monhost:
    description:
      - Monitors of an external Ceph cluster (V(rbd), V(cephfs)).
    type: str
  krbd:
    description:
      - Use the kernel RBD client instead of librbd (V(rbd)).
    type: bool
  fs_name:
    description:
      - CephFS file system name (V(cephfs)).
    type: str
  fuse:
    description:
      - Mount CephFS with FUSE (V(cephfs)).
    type: bool
  format:
    description:
      - Default image format of the storage (V(dir), V(nfs), V(cifs), V(cephfs), V(btrfs); each takes some of the
        choices).
    type: str
    choices: [raw, qcow2, subvol, vmdk]
  preallocation:
    description:
      - Preallocation of raw and qcow2 images (V(dir), V(nfs), V(cifs), V(btrfs)).
    type: str
    choices: ['off', metadata, falloc, full]
  content_dirs:
    description:
      - Directories for content types other than the default ones, as content type to relative path
        (V(dir), V(nfs), V(cifs), V(cephfs)).
    type: dict
  create_base_path:
    description:
      - Create the base directory if it does not exist (directory-based types; PVE's default is yes).
    type: bool
  create_subdirs:
    description:
      - Create the content subdirectories (directory-based types; PVE's default is yes).
    type: bool
  mkdir:
    description:
      - Create the directory if it does not exist (directory-based types; replaced in PVE by O(create_base_path) and
        O(create_subdirs)).
    type: bool
  is_mountpoint:
    description:
      - The path is a mount point, so the storage is online only while something is mounted there; V(yes), or the
        mount point's path (V(dir), V(btrfs)).
    type: str
  nocow:
    description:
      - Set the no-copy-on-write flag on files (V(btrfs)).
    type: bool
  snapshot_as_volume_chain:
    description:
      - Take snapshots of qcow2 images as a chain of volumes (V(lvm); V(dir), V(nfs), V(cifs), where it is fixed at
        creation).
    type: bool
  max_protected_backups:
    description:
      - How many protected backups each guest may have; V(-1) for no limit (types that hold backups).
    type: int
  prune_backups:
    description:
      - Retention of backups on the storage (types that hold backups). Compared as a whole.
    type: dict
    suboptions:
      keep_all:
        description: Keep every backup; takes no other setting.
        type: bool
      keep_last:
        description: Keep the last N backups.
        type: int
      keep_hourly:
        description: Keep the last backup of each of the last N hours.
        type: int
      keep_daily:
        description: Keep the last backup of each of the last N days.
        type: int
      keep_weekly:
        description: Keep the last backup of each of the last N weeks.
        type: int
      keep_monthly:
        description: Keep the last backup of each of the last N months.
        type: int
      keep_yearly:
        description: Keep the last backup of each of the last N years.
        type: int
  bwlimit:
    description:
      - Bandwidth limits in KiB/s (most types). Compared as a whole.
    type: dict
    suboptions:
      default:
        description: Limit for all operations.
        type: int
      clone:
        description: Limit for cloning disks.
        type: int
      migration:
        description: Limit for migrating guests.
        type: int
      move:
        description: Limit for moving disks.
        type: int
      restore:
        description: Limit for restoring backups.
        type: int
notes:
  - Privileges. C(Datastore.Allocate) on C(/storage) (propagated) is all it needs. PVE asks for it on
    C(/storage/<name>) even to read a storage's configuration (C(GET /storage/<name>)), and on C(/storage) to add one.
  - Makes one API call after logging in when nothing changes (C(GET /storage/<name>)).
  - PVE activates a storage when it is added and refuses one it cannot reach (a network storage that is not online).
seealso:
  - name: Storage in the Proxmox VE administration guide
    description: What each storage type is and what it can hold.
    link: https://pve.proxmox.com/pve-docs/chapter-pvesm.html
"""

EXAMPLES = r"""
- name: NFS share for ISO images and backups, on two nodes only
  proxops.proxmox.storage:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    name: nfs-backup
    type: nfs
    server: 10.10.0.50
    export: /srv/pve
    content: [iso, backup]
    nodes: [pve-a, pve-b]
    prune_backups:
      keep_daily: 7
      keep_weekly: 4

- name: Local directory for container templates
  proxops.proxmox.storage:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    name: templates
    type: dir
    path: /srv/templates
    content: [vztmpl, iso]

- name: Proxmox Backup Server, its password sent only when the storage is created
  proxops.proxmox.storage:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    name: pbs1
    type: pbs
    server: 10.10.0.60
    datastore: store1
    username: backup@pbs
    password: "{{ pbs_password }}"
    fingerprint: "{{ pbs_fingerprint }}"

- name: Take the NFS share out of use for a while
  proxops.proxmox.storage:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    name: nfs-backup
    type: nfs
    disable: true

- name: Remove the template directory's definition (its files stay)
  proxops.proxmox.storage:
    api_host: pve-a.example.com
    api_password: "{{ root_password }}"
    name: templates
    state: absent
"""

RETURN = r"""
storage:
  description:
    - The storage's configuration as PVE reports it after the task (C(GET /storage/<name>)), without secrets, which
      PVE never returns; V(null) when it does not exist. In check mode, what it would be.
  returned: always
  type: dict
  sample:
    storage: nfs-backup
    type: nfs
    server: 10.10.0.50
    export: /srv/pve
    path: /mnt/pve/nfs-backup
    content: backup,iso
    nodes: pve-b,pve-a
    prune-backups: keep-daily=7,keep-weekly=4
    digest: 3f2a9c...
"""

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxError
from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import ProxmoxModule
from ansible_collections.proxops.proxmox.plugins.module_utils._storage import (
    SET_OPTIONS,
    argument_spec,
    compare,
    create_errors,
    option_errors,
    option_name,
    pve_params,
    shown,
    wanted_config,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._pve_formats import encode_value
from ansible_collections.proxops.proxmox.plugins.module_utils._storage_types import OPTIONS, TYPES


class StorageModule(ProxmoxModule):
    argument_spec = dict(
        argument_spec(),
        name=dict(type="str", required=True, aliases=["storage"]),
        type=dict(type="str", choices=sorted(TYPES)),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        update_secrets=dict(type="str", choices=["always", "on_create"], default="on_create"),
        on_fixed_change=dict(type="str", choices=["fail", "recreate"], default="fail"),
    )
    set_options = SET_OPTIONS
    option_errors = staticmethod(option_errors)
    option_names = {key: option_name(key) for key in OPTIONS if "-" in key}  # PVE's field errors name its keys

    def __init__(self, module):
        super().__init__(module)
        self.name = self.params["name"]
        self.path = "/storage/%s" % self.name

    def subject(self):
        return "storage '%s'" % self.name

    def run(self):
        current = self.read()
        if self.params["state"] == "absent":
            self.ensure_absent(current)
        elif current is None:
            self.ensure_created()
        else:
            self.ensure_updated(current)

    def read(self):
        """The storage's configuration, None when there is none."""
        try:
            return self.client.get(self.path)
        except ProxmoxError as err:
            if err.status == 500 and "does not exist" in err.message:  # PVE: "storage 'x' does not exist"
                return None
            raise

    def ensure_absent(self, current):
        self.result["storage"] = None
        if current is None:
            return
        self.record_diff({"storage": self.name, "type": current.get("type")}, {"storage": None})
        self.write("removed storage %s" % self.name, self.client.delete, self.path, idempotent=False)

    def ensure_created(self, after_removal=False):
        storage_type = self.params["type"]
        wanted = wanted_config(self.params)
        errors = create_errors(storage_type, wanted)
        if errors:
            self.fail("; ".join(errors) + "; nothing was changed")
        if not after_removal:
            self.record_diff({}, dict(shown(wanted), storage=self.name, type=storage_type))
        self.write("%s storage %s" % ("added again" if after_removal else "added", self.name), self.client.post, "/storage",
                   storage=self.name, type=storage_type, **pve_params(wanted))
        self.result["storage"] = self.predicted({}, wanted) if self.check_mode else self.read()

    def ensure_updated(self, current):
        storage_type = self.params["type"]
        if current.get("type") != storage_type:
            self.fail("type: storage %s is of type %s, not %s; the type cannot change (remove the storage first); "
                      "nothing was changed" % (self.name, current.get("type"), storage_type))
        wanted = wanted_config(self.params)
        changes, fixed = compare(current, wanted, storage_type, self.params["update_secrets"] == "always")
        if fixed:
            self.replace_for(current, fixed, wanted)
            return
        if not changes:
            self.result["storage"] = current
            return
        self.record_diff({option_name(key): current.get(key) for key in changes}, shown(changes))
        # with the digest PVE refuses the write if storage.cfg changed since the read; never sent twice
        self.write("updated storage %s (%s)" % (self.name, ", ".join(sorted(shown(changes)))), self.client.put, self.path,
                   digest=current.get("digest"), idempotent=False, **pve_params(changes))
        self.result["storage"] = self.predicted(current, changes) if self.check_mode else self.read()

    def replace_for(self, current, fixed, wanted):
        """Options PVE fixes at creation differ: an error, or (opted in) remove the definition and add it again."""
        names = ", ".join("%s (is %r, wanted %r)" % (option_name(key), current.get(key), value)
                          for key, value in sorted(fixed.items()) if key not in TYPES[current["type"]]["sensitive"])
        if self.params["on_fixed_change"] != "recreate":
            self.fail("%s cannot change once storage %s exists; set on_fixed_change=recreate to remove the definition and "
                      "add it again (see its documentation for what that does to guests); nothing was changed"
                      % (names, self.name))
        self.record_diff({option_name(key): current.get(key) for key in fixed}, shown(fixed))
        self.write("removed storage %s to add it again (%s)" % (self.name, names), self.client.delete, self.path,
                   idempotent=False)
        self.ensure_created(after_removal=True)
        if self.check_mode:
            self.result["storage"] = self.predicted(current, wanted)

    def predicted(self, current, changes):
        """What PVE would report after the write, for check mode (lists as PVE writes them, comma-joined)."""
        config = dict(current, storage=self.name, type=self.params["type"])
        for key, value in pve_params(changes).items():
            if key not in TYPES[self.params["type"]]["sensitive"]:
                config[key] = encode_value(value)
        return config


def main():
    StorageModule.execute()


if __name__ == "__main__":
    main()
