# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The CPU baseline of a PVE cluster: the best CPU type every node runs, so live migration is safe.

Plain data in, plain data out; no Ansible imports.  A node is a dict with ``name`` and its CPU
``flags`` (/proc/cpuinfo ``flags``, PVE's ``cpuinfo.flags``), optionally ``vendor`` and ``model``
(or ``model_name``), ``bugs`` (the /proc/cpuinfo ``bugs`` line) and ``kvm_flags`` (the QEMU
flags KVM reports for the host CPU, as pvestatd stores them for PVE's cpu-flags API).

analyze_node(node)
    One node: ``arch``, ``vendor``, ``level`` (x86-64-v1 .. x86-64-v4), ``model`` (the best named
    QEMU model as PVE names it), ``cpu_type``, ``models`` and ``unverified_models``.
cluster_baseline(nodes)
    ``cluster_cpu_type`` every node runs (a named model when all nodes share a vendor and one
    fits and gives at least the common level, else the level), ``next_level`` and
    ``next_model`` with the nodes that hold the cluster back, and per node ``lacks``.  Nodes
    of different architectures give ``cluster_cpu_type: None`` and a ``reason``.
check_guest_cpu(cpu_option, nodes, ...)
    For a guest's cpu option (``host``, ``x86-64-v2-AES``, ``cputype=Haswell,flags=+aes;-pcid``,
    ``custom-foo``), which nodes could not run it and why.

How a node is judged.  PVE starts every x86 CPU type but host with QEMU's ``enforce``, so a
model runs on a node only if KVM there offers every feature the model asks for.  The features
are QEMU's (qemu_models.py, generated from QEMU's target/i386/cpu.c).  For each one the library
asks what the node's data shows:

* KVM provides some features whatever the host has (x2apic, tsc-deadline, arat, tsc-adjust,
  arch-capabilities, pschange-mc-no, hypervisor, the kvm* leaves): always available.
* Features Linux prints in /proc/cpuinfo (most of them, some under other names: pni is sse3,
  abm is lzcnt, tsc_deadline_timer, ibrs+ibpb for spec-ctrl) are available when the flag is
  there and missing when it is not; the kernel clears a flag it disables (TSX off removes hle
  and rtm), and KVM bases what it offers on the kernel's flags.
* Features Linux does not print (fdp-excptn-only, zero-fcs-fds, stibp-always-on, amd-psfd, the
  CPUID 0x80000021 bits of EPYC-Milan-v2 and later such as auto-ibrs and null-sel-clr-base, most
  ARCH_CAPABILITIES bits such as fbsdp-no or bhi-no, the AVX10 version), or that KVM offers
  only on some kernels (overflow-recov, succor, perfmon-v2), or that depend on a setting
  (ssbd on AMD, skip-l1dfl-vmentry on l1tf hosts) are *unverified*.  ARCH_CAPABILITIES bits KVM
  derives from the kernel's bug list (rdctl-no, mds-no, ssb-no, skip-l1dfl-vmentry, taa-no) are
  decided when the node's ``bugs`` line is given; taa-no is missing on any host without rtm,
  because KVM withholds it when TSX is off.

The decision is conservative: a model with any missing or unverified feature is never the
answer; it is reported instead (``unverified_models``, per node ``lacks``) with the features the
data could not decide, so the module can say where flags alone cannot decide.  Given
``kvm_flags``, KVM's own list decides every feature.  The named models are those PVE offers
(pve-qemu's model list) that the QEMU table describes; PVE 9 also lists some newer versions
(e.g. SapphireRapids-v5, DiamondRapids) that QEMU 10.2 lacks: those are never recommended and
the guard reports them as unverified.
"""

from __future__ import annotations

from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.baseline import analyze_node, cluster_baseline, node_level
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.catalog import LEVEL_NAMES, level_flags
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.features import read_node
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.guard import check_guest_cpu, parse_cpu_option

__all__ = ["LEVEL_NAMES", "analyze_node", "check_guest_cpu", "cluster_baseline", "level_flags", "node_level", "parse_cpu_option", "read_node"]
