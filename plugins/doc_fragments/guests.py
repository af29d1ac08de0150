# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # How a module chooses guests, from one /cluster/resources read (module_utils/_resources.py).
    DOCUMENTATION = r"""
options:
  vmid:
    description:
      - ID of the one guest to work on.
    type: int
  name:
    description:
      - Name of the one guest to work on, as C(/cluster/resources) shows it.
      - A name that several guests of the cluster have is an error listing them; give O(vmid) then.
    type: str
  vmids:
    description:
      - IDs of the guests to work on. An ID that is not in the cluster is an error.
      - Combines with O(tags), O(pool), O(node) and O(types); a guest must match all of them.
    type: list
    elements: int
  tags:
    description:
      - The guests that have every one of these tags.
    type: list
    elements: str
  pool:
    description:
      - The guests of this resource pool.
    type: str
  node:
    description:
      - The guests on this node.
    type: str
  types:
    description:
      - The guests of these types only.
    type: list
    elements: str
    choices: [qemu, lxc]
"""
