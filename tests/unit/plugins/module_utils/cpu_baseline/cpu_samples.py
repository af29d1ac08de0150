# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Published /proc/cpuinfo (or lscpu) data of real CPUs, each with where it comes from."""

from __future__ import annotations

# Each sample: the fields a node gives the library (flags, vendor, model name, family/model number and bugs where the dump has them)
# and "source".  The flag lists are copied as published; where a page wrapped them, the source says how they were rejoined.

SAMPLES = {
    'ivybridge_e5_2680v2': {
        'vendor': 'GenuineIntel',
        'model': 'Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz',
        'family': 6,
        'model_number': 62,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe '
            'syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon pebs bts rep_good xtopology nonstop_tsc aperfmperf pni pclmulqdq '
            'dtes64 monitor ds_cpl vmx smx est tm2 ssse3 cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic popcnt tsc_deadline_timer aes '
            'xsave avx f16c rdrand lahf_lm ida arat epb xsaveopt pln pts dts tpr_shadow vnmi flexpriority ept vpid fsgsbase smep erms'
        ),
        "source": (
            'newrelic/newrelic-ruby-agent (formerly newrelic/rpm), test/new_relic/agent/system_info_test.rb, test_2pack_10core_hyper: '
            'a bare-metal /proc/cpuinfo of an older kernel (no bugs line, no speculation-control flags)'
        ),
    },
    'skylake_gold_6140': {
        'vendor': 'GenuineIntel',
        'model': 'Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz',
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe '
            'syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc aperfmperf '
            'eagerfpu pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic '
            'movbe popcnt tsc_deadline_timer xsave avx f16c rdrand lahf_lm abm 3dnowprefetch epb cat_l3 cdp_l3 invpcid_single '
            'intel_ppin intel_pt ssbd mba ibrs ibpb stibp tpr_shadow vnmi flexpriority ept vpid fsgsbase tsc_adjust bmi1 hle avx2 '
            'smep bmi2 erms invpcid rtm cqm mpx rdt_a avx512f avx512dq rdseed adx smap clflushopt clwb avx512cd avx512bw avx512vl '
            'xsaveopt xsavec xgetbv1 cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local dtherm ida arat pln pts pku ospke md_clear '
            'spec_ctrl intel_stibp flush_l1d'
        ),
        "source": (
            "a public README of ESPResSo build notes for the VSC Genius cluster ('grep flags /proc/cpuinfo | sort | uniq' on a RHEL 7 "
            "node); note: no aes flag, AES-NI is off in that node's firmware"
        ),
    },
    'skylake_gold_6132': {
        'vendor': 'GenuineIntel',
        'model': 'Intel(R) Xeon(R) Gold 6132 CPU @ 2.60GHz',
        'family': 6,
        'model_number': 85,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe '
            'syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc aperfmperf '
            'eagerfpu pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic '
            'movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch epb cat_l3 cdp_l3 invpcid_single '
            'intel_pt tpr_shadow vnmi flexpriority ept vpid fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm cqm mpx '
            'rdt_a avx512f avx512dq rdseed adx smap clflushopt clwb avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 cqm_llc '
            'cqm_occup_llc cqm_mbm_total cqm_mbm_local ibpb ibrs stibp dtherm ida arat pln pts spec_ctrl intel_stibp ssbd'
        ),
        "source": (
            'archspec/archspec-json, tests/targets/linux-rhel7-skylake_avx512 (commit 90b453f4): bare metal, RHEL 7 kernel (no xsaves '
            'flag)'
        ),
    },
    'cascadelake_8260m': {
        'vendor': 'GenuineIntel',
        'model': 'Intel(R) Xeon(R) Platinum 8260M CPU @ 2.40GHz',
        'family': 6,
        'model_number': 85,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe '
            'syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc aperfmperf '
            'eagerfpu pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic '
            'movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch epb cat_l3 cdp_l3 intel_ppin '
            'intel_pt ssbd mba ibrs ibpb stibp ibrs_enhanced tpr_shadow vnmi flexpriority ept vpid fsgsbase tsc_adjust bmi1 hle avx2 '
            'smep bmi2 erms invpcid rtm cqm mpx rdt_a avx512f avx512dq rdseed adx smap clflushopt clwb avx512cd avx512bw avx512vl '
            'xsaveopt xsavec xgetbv1 cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local dtherm ida arat pln pts hwp hwp_act_window '
            'hwp_epp hwp_pkg_req pku ospke avx512_vnni md_clear spec_ctrl intel_stibp flush_l1d arch_capabilities'
        ),
        "source": (
            'archspec/archspec-json, tests/targets/linux-centos7-cascadelake: bare metal, CentOS 7 kernel (no xsaves flag)'
        ),
    },
    'icelake_gold_5318y': {
        'vendor': 'GenuineIntel',
        'model': 'Intel(R) Xeon(R) Gold 5318Y CPU @ 2.10GHz',
        'family': 6,
        'model_number': 106,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe '
            'syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf '
            'pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe '
            'popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l3 invpcid_single '
            'intel_ppin ssbd mba ibrs ibpb stibp ibrs_enhanced tpr_shadow flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 avx2 '
            'smep bmi2 erms invpcid cqm rdt_a avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb intel_pt avx512cd sha_ni '
            'avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local split_lock_detect '
            'wbnoinvd dtherm ida arat pln pts vnmi avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni '
            'avx512_bitalg tme avx512_vpopcntdq la57 rdpid fsrm md_clear pconfig flush_l1d arch_capabilities'
        ),
        "source": (
            'SASUKE40/LLM-starter, khoury-device.md: lscpu of a bare-metal Ice Lake-SP node (RHEL 9, 5.14), its wrapped Flags lines '
            'joined; Ice Lake-SP like the Gold 6338 (CPUID 6/106), whose flags we found no public dump of'
        ),
    },
    'sapphirerapids_8480plus': {
        'vendor': 'GenuineIntel',
        'model': 'Intel(R) Xeon(R) Platinum 8480+',
        'family': 6,
        'model_number': 143,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe '
            'syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf '
            'tsc_known_freq pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 '
            'x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l3 cat_l2 '
            'cdp_l3 invpcid_single intel_ppin cdp_l2 ssbd mba ibrs ibpb stibp ibrs_enhanced tpr_shadow vnmi flexpriority ept vpid '
            'ept_ad fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid cqm rdt_a avx512f avx512dq rdseed adx smap avx512ifma '
            'clflushopt clwb intel_pt avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc '
            'cqm_mbm_total cqm_mbm_local split_lock_detect avx_vnni avx512_bf16 wbnoinvd dtherm ida arat pln pts hwp hwp_act_window '
            'hwp_epp hwp_pkg_req avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg tme '
            'avx512_vpopcntdq la57 rdpid bus_lock_detect cldemote movdiri movdir64b enqcmd fsrm md_clear serialize tsxldtrk pconfig '
            'arch_lbr amx_bf16 avx512_fp16 amx_tile amx_int8 flush_l1d arch_capabilities'
        ),
        'bugs': (
            'spectre_v1 spectre_v2 spec_store_bypass swapgs eibrs_pbrsb'
        ),
        "source": (
            'archspec/archspec-json, tests/targets/linux-unknown-sapphirerapids: bare metal, TSX off (no hle, rtm)'
        ),
    },
    'alderlake_i7_12700': {
        'vendor': 'GenuineIntel',
        'model': '12th Gen Intel(R) Core(TM) i7-12700',
        'family': 6,
        'model_number': 151,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe '
            'syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf '
            'tsc_known_freq pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid sse4_1 sse4_2 '
            'x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb '
            'invpcid_single ssbd ibrs ibpb stibp ibrs_enhanced tpr_shadow vnmi flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 '
            'avx2 smep bmi2 erms invpcid rdseed adx smap clflushopt clwb intel_pt sha_ni xsaveopt xsavec xgetbv1 xsaves '
            'split_lock_detect avx_vnni dtherm ida arat pln pts hwp hwp_notify hwp_act_window hwp_epp hwp_pkg_req umip pku ospke '
            'waitpkg gfni vaes vpclmulqdq tme rdpid movdiri movdir64b fsrm md_clear serialize pconfig arch_lbr flush_l1d '
            'arch_capabilities'
        ),
        'bugs': (
            'spectre_v1 spectre_v2 spec_store_bypass swapgs'
        ),
        "source": (
            "a public GitHub README of a CUDA lab course ('Programacion de GPUs con CUDA', machine profess11, more /proc/cpuinfo): "
            "bare metal; the page's wrapping split four flags (sys call, pclm ulqdq, xsa ves, vpc lmulqdq), rejoined here"
        ),
    },
    'naples_epyc_7301': {
        'vendor': 'AuthenticAMD',
        'model': 'AMD EPYC 7301 16-Core Processor',
        'family': 23,
        'model_number': 1,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext '
            'fxsr_opt pdpe1gb rdtscp lm constant_tsc art rep_good nopl nonstop_tsc extd_apicid amd_dcm aperfmperf eagerfpu pni '
            'pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic '
            'cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_l2 cpb '
            'hw_pstate retpoline_amd ssbd ibpb vmmcall fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap clflushopt sha_ni xsaveopt xsavec '
            'xgetbv1 clzero irperf xsaveerptr arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists '
            'pausefilter pfthreshold avic v_vmsave_vmload vgif overflow_recov succor smca'
        ),
        "source": (
            'archspec/archspec-json, tests/targets/linux-rhel7-zen: bare metal, RHEL 7 kernel'
        ),
    },
    'zen2_renoir': {
        'vendor': 'AuthenticAMD',
        'model': 'AMD Ryzen 5 Microsoft Surface (R) Edition',
        'family': 23,
        'model_number': 96,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext '
            'fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid aperfmperf rapl pni pclmulqdq '
            'monitor ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy '
            'abm sse4a misalignsse 3dnowprefetch osvw ibs skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx cpb '
            'cat_l3 cdp_l3 hw_pstate ssbd mba ibrs ibpb stibp vmmcall fsgsbase bmi1 avx2 smep bmi2 cqm rdt_a rdseed adx smap '
            'clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local clzero irperf '
            'xsaveerptr rdpru wbnoinvd cppc arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists '
            'pausefilter pfthreshold avic v_vmsave_vmload vgif v_spec_ctrl umip rdpid overflow_recov succor smca'
        ),
        "source": (
            'rathee-19/-Matrix-Vector-Multiplication-Optimization, matrix-vector/lscpu.md: lscpu of a bare-metal Zen 2 (Renoir) with '
            'a kernel that disables XSAVES on Zen 1/2 (erratum 1386); Zen 2 like the EPYC 7302 (Rome), whose bare-metal flags we '
            'found no public dump of'
        ),
    },
    'zen3_ryzen_5950x': {
        'vendor': 'AuthenticAMD',
        'model': 'AMD Ryzen 9 5950X 16-Core Processor',
        'family': 25,
        'model_number': 33,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext '
            'fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid aperfmperf pni pclmulqdq monitor '
            'ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a '
            'misalignsse 3dnowprefetch osvw ibs skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx cpb cat_l3 '
            'cdp_l3 hw_pstate ssbd mba ibrs ibpb stibp vmmcall fsgsbase bmi1 avx2 smep bmi2 erms invpcid cqm rdt_a rdseed adx smap '
            'clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local clzero irperf '
            'xsaveerptr wbnoinvd arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists pausefilter '
            'pfthreshold avic v_vmsave_vmload vgif umip pku ospke vaes vpclmulqdq rdpid overflow_recov succor smca'
        ),
        'bugs': (
            'sysret_ss_attrs spectre_v1 spectre_v2 spec_store_bypass'
        ),
        "source": (
            'archspec/archspec-json, tests/targets/linux-ubuntu20.04-zen3: bare-metal Zen 3 like the EPYC 7763 (Milan), whose bare- '
            'metal flags we found no public dump of'
        ),
    },
    'genoa_epyc_9654': {
        'vendor': 'AuthenticAMD',
        'model': 'AMD EPYC 9654 96-Core Processor',
        'family': 25,
        'model_number': 17,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext '
            'fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid aperfmperf pni pclmulqdq monitor '
            'ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic '
            'cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw ibs skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc '
            'mwaitx cpb cat_l3 cdp_l3 invpcid_single hw_pstate ssbd mba ibrs ibpb stibp vmmcall fsgsbase bmi1 avx2 smep bmi2 erms '
            'invpcid cqm rdt_a avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt '
            'xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local avx512_bf16 clzero irperf xsaveerptr wbnoinvd '
            'amd_ppin arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists pausefilter pfthreshold avic '
            'v_vmsave_vmload vgif v_spec_ctrl avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg '
            'avx512_vpopcntdq la57 rdpid overflow_recov succor smca fsrm flush_l1d sme sev sev_es'
        ),
        'bugs': (
            'sysret_ss_attrs spectre_v1 spectre_v2 spec_store_bypass'
        ),
        "source": (
            'archspec/archspec-json, tests/targets/linux-rocky8.5-zen4: bare metal, Rocky 8.5 kernel'
        ),
    },
    'bergamo_epyc_9754': {
        'vendor': 'AuthenticAMD',
        'model': 'AMD EPYC 9754 128-Core Processor',
        'family': 25,
        'model_number': 160,
        'flags': (
            'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext '
            'fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good amd_lbr_v2 nopl nonstop_tsc cpuid extd_apicid aperfmperf rapl pni '
            'pclmulqdq monitor ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm '
            'extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw ibs skinit wdt tce topoext perfctr_core perfctr_nb bpext '
            'perfctr_llc mwaitx cpb cat_l3 cdp_l3 hw_pstate ssbd mba perfmon_v2 ibrs ibpb stibp ibrs_enhanced vmmcall fsgsbase bmi1 '
            'avx2 smep bmi2 erms invpcid cqm rdt_a avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni '
            'avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local user_shstk '
            'avx512_bf16 clzero irperf xsaveerptr rdpru wbnoinvd amd_ppin cppc arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean '
            'flushbyasid decodeassists pausefilter pfthreshold avic v_vmsave_vmload vgif x2avic v_spec_ctrl vnmi avx512vbmi umip pku '
            'ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq la57 rdpid overflow_recov succor smca '
            'fsrm flush_l1d debug_swap'
        ),
        'bugs': (
            'sysret_ss_attrs spectre_v1 spectre_v2 spec_store_bypass srso'
        ),
        "source": (
            "ollama/ollama, discover/cpu_linux_test.go, case '#5554 LXC direct output' (host /proc/cpuinfo seen from a PVE LXC): bare "
            'metal, recent kernel'
        ),
    },
    'ampere_altra': {
        'flags': (
            'fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp'
        ),
        "source": (
            "llvm/llvm-zorg pull request 354 (lscpu Flags of Linaro's Ampere Altra 'Mt Jade' builders, Neoverse-N1)"
        ),
    },
    'graviton2': {
        'flags': (
            'fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs'
        ),
        "source": (
            'archspec/archspec-json, tests/targets/linux-amazon-neoverse_n1 (AWS Graviton2, Neoverse-N1)'
        ),
    },
}


def node(name, **changes):
    """A sample as the node dict the library takes, named after the sample; ``changes`` replace or (as None) drop fields."""
    result = {key: value for key, value in SAMPLES[name].items() if key != "source"}
    result["name"] = name
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


X86_SAMPLES = tuple(name for name, sample in SAMPLES.items() if " lm " in " %s " % sample["flags"])
