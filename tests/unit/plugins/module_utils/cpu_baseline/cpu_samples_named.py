# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Published /proc/cpuinfo (or lscpu) data of the CPU models the project's issue names, each with where it comes from.

The same format as cpu_samples.py (whose same-core stand-ins these complement).  Of the three models the issue names,
the Xeon Gold 6338 (Ice Lake-SP) and the EPYC 7302 (Rome, the two-socket part) still have no published flags line here:
see the comment above EXPECTED in test_real_cpus.py.
"""

from __future__ import annotations

NAMED_SAMPLES = {
    'milan_epyc_7763': {
        'vendor': 'AuthenticAMD',
        'model': 'AMD EPYC 7763 64-Core Processor',
        'family': 25,
        'model_number': 1,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext '
            'fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid aperfmperf pni pclmulqdq monitor '
            'ssse3 fma cx16 pcid sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm '
            'sse4a misalignsse 3dnowprefetch osvw ibs skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx cpb '
            'cat_l3 cdp_l3 invpcid_single hw_pstate ssbd mba ibrs ibpb stibp vmmcall fsgsbase bmi1 avx2 smep bmi2 erms invpcid cqm '
            'rdt_a rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total '
            'cqm_mbm_local clzero irperf xsaveerptr wbnoinvd amd_ppin brs arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean '
            'flushbyasid decodeassists pausefilter pfthreshold v_vmsave_vmload vgif v_spec_ctrl umip pku ospke vaes vpclmulqdq rdpid '
            'overflow_recov succor smca fsrm'
        ),
        "source": (
            'Mjvolk3/torchcell, notes/scratch.2024.04.02.194056.md (commit 1f4b2777): lscpu on gpub001, a GPU node of the NCSA '
            'Delta cluster, bare metal (Virtualization: AMD-V, no hypervisor flag), SMT off; lscpu, so no bugs line; an older '
            'kernel (no rdpru flag)'
        ),
    },
    'rome_epyc_7302p': {
        'vendor': 'AuthenticAMD',
        'model': 'AMD EPYC 7302P 16-Core Processor',
        'family': 23,
        'model_number': 49,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext '
            'fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid aperfmperf pni pclmulqdq monitor '
            'ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a '
            'misalignsse 3dnowprefetch osvw ibs skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx cpb cat_l3 '
            'cdp_l3 hw_pstate sme ssbd mba sev ibrs ibpb stibp vmmcall sev_es fsgsbase bmi1 avx2 smep bmi2 cqm rdt_a rdseed adx smap '
            'clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local clzero irperf '
            'xsaveerptr rdpru wbnoinvd amd_ppin arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists '
            'pausefilter pfthreshold avic v_vmsave_vmload vgif umip rdpid overflow_recov succor smca'
        ),
        'bugs': (
            'sysret_ss_attrs spectre_v1 spectre_v2 spec_store_bypass'
        ),
        "source": (
            'a Debian installation report posted to LKML on 2021-06-18, Message-Id '
            '<20210618203554.EE0AD808DD42@huitzilopochtli.metztli.it> (Supermicro H12SSW-NT, installer kernel 5.10.42): the '
            'installer\'s /proc/cpuinfo, bare metal; the EPYC 7302P is the one-socket part of the EPYC 7302, the same Rome die '
            '(CPUID family 17h, model 31h)'
        ),
    },
}


def named_node(name, **changes):
    """A sample as the node dict the library takes, as cpu_samples.node does; ``changes`` replace or (as None) drop fields."""
    result = {key: value for key, value in NAMED_SAMPLES[name].items() if key != "source"}
    result["name"] = name
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result
