# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""scripts/gen_qemu_cpu_models.py on a small cpu.c-like excerpt, and the committed table against a QEMU tree when one is given."""

from __future__ import annotations

import importlib.util
import os

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))
TABLE = os.path.join(REPO, "plugins", "module_utils", "_cpu_baseline", "qemu_models.py")


def _generator():
    spec = importlib.util.spec_from_file_location("gen_qemu_cpu_models", os.path.join(REPO, "scripts", "gen_qemu_cpu_models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()

CPU_H = r"""
#define CPUID_FP87 (1U << 0)
#define CPUID_CX8  (1U << 8)
#define CPUID_SSE  (1U << 25)   /* sse */
#define CPUID_SSE2 (1U << 26)
#define CPUID_EXT_SSE3 (1U << 0)
#define CPUID_EXT_SSE41 (1U << 19)
#define CPUID_EXT_X2APIC BIT(21)
#define CPUID_EXT_MONITOR (1U << 3)
#define CPUID_7_0_EBX_HLE (1U << 4)
#define CPUID_7_0_EBX_RTM (1U << 11)
#define CPUID_VMX_EPT (1ULL << 33)
#define CPUID_VENDOR_INTEL "GenuineIntel"
#define MACRO_WITH_ARGS(x) ((x) + 1)
"""

CPU_C = r"""
/* the feature names of two words */
#define BASE_FEATURES (CPUID_FP87 | CPUID_CX8 | \
          CPUID_SSE)
FeatureWordInfo feature_word_info[FEATURE_WORDS] = {
    [FEAT_1_EDX] = {
        .type = CPUID_FEATURE_WORD,
        .feat_names = {
            "fpu", NULL, NULL, NULL,
            NULL, NULL, NULL, NULL,
            "cx8", NULL, NULL, NULL,
            NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, NULL,
            NULL, "sse", "sse2", NULL,
            NULL, NULL, NULL, NULL,
        },
        .cpuid = {.eax = 1, .reg = R_EDX, },
    },
    [FEAT_1_ECX] = {
        .feat_names = {
            "pni" /* Intel,AMD sse3 */, NULL, NULL, "monitor",
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, "sse4.1", NULL, "x2apic",
        },
    },
    [FEAT_7_0_EBX] = {
        .feat_names = { NULL, NULL, NULL, NULL, "hle", NULL, NULL, NULL, NULL, NULL, NULL, "rtm", },
    },
    [FEAT_VMX_SECONDARY_CTLS] = {
        .type = MSR_FEATURE_WORD,
        .feat_names = { [33] = "vmx-ept" },
    },
};

static const X86CPUDefinition builtin_x86_defs[] = {
    {
        .name = "Tiny",
        .vendor = CPUID_VENDOR_INTEL,
        .features[FEAT_1_EDX] = BASE_FEATURES,
        .model_id = "QEMU Virtual CPU version " QEMU_HW_VERSION,
    },
    {
        .name = "Bigger",
        .level = 0xd,
        .vendor = CPUID_VENDOR_INTEL,
        // a line comment with "a string" in it
        .features[FEAT_1_EDX] = BASE_FEATURES | CPUID_SSE2,
        .features[FEAT_1_ECX] =
            CPUID_EXT_SSE3 | CPUID_EXT_SSE41 | CPUID_EXT_X2APIC | CPUID_EXT_MONITOR,
        .features[FEAT_7_0_EBX] = CPUID_7_0_EBX_HLE | CPUID_7_0_EBX_RTM,
        .features[FEAT_VMX_SECONDARY_CTLS] = CPUID_VMX_EPT,
        .model_id = "Bigger CPU, {braces} and, commas",
        .versions = (X86CPUVersionDefinition[]) {
            { .version = 1 },
            {
                .version = 2,
                .alias = "Bigger-noTSX",
                .note = "no TSX",
                .props = (PropValue[]) {
                    { "hle", "off" },
                    { "rtm", "off" },
                    { "model-id", "Bigger CPU (no TSX)" },
                    { /* end of list */ }
                },
            },
            {
                .version = 3,
                .props = (PropValue[]) {
                    { "sse4_1", "off" },
                    { "vmx-ept", "off" },
                    { NULL, NULL },
                },
            },
            { /* end of list */ }
        }
    },
};

static void x86_cpu_initfn(Object *obj)
{
    object_property_add_alias(obj, "sse4_1", obj, "sse4.1");
    object_property_add_alias(obj, "sse3", obj, "pni");
}
"""


def _build(cpu_c=CPU_C):
    text, table = GEN.build(cpu_c.encode(), CPU_H.encode(), "0.0.1", "an inline test excerpt", {"Tiny": "GenuineIntel"}, "a test list")
    namespace = {}
    exec(compile(text, "qemu_models.py", "exec"), namespace)  # pylint: disable=exec-used
    return namespace, table


def test_models_words_and_versions_from_the_excerpt():
    table, _parsed = _build()
    models = table["MODELS"]
    assert list(models) == ["Tiny-v1", "Bigger-v1", "Bigger-v2", "Bigger-v3"]
    assert models["Tiny-v1"] == {"model": "Tiny", "version": 1, "vendor": "GenuineIntel", "aliases": ("Tiny",), "features": ("cx8", "fpu", "sse")}
    assert models["Bigger-v1"]["features"] == ("cx8", "fpu", "hle", "monitor", "pni", "rtm", "sse", "sse2", "sse4.1", "x2apic")
    # props apply cumulatively: v3 keeps v2's "hle off, rtm off" and also drops sse4.1 by its alias
    assert models["Bigger-v2"]["aliases"] == ("Bigger-noTSX",) and models["Bigger-v2"]["note"] == "no TSX"
    assert "hle" not in models["Bigger-v2"]["features"] and "sse4.1" in models["Bigger-v2"]["features"]
    assert models["Bigger-v3"]["features"] == ("cx8", "fpu", "monitor", "pni", "sse", "sse2", "x2apic")
    assert models["Bigger-v3"]["aliases"] == ()
    # the VMX words only count with nested virtualization: left out, and so are their props
    assert "vmx-ept" not in table["FEATURE_WORDS"]
    assert table["FEATURE_WORDS"]["hle"] == "FEAT_7_0_EBX"
    assert table["FEATURE_ALIASES"] == {"sse3": "pni", "sse4_1": "sse4.1"}
    assert table["PVE_MODELS"] == {"Tiny": "GenuineIntel"} and table["QEMU_VERSION"] == "0.0.1"


def test_header_names_the_exact_source_files():
    text, _table = GEN.build(CPU_C.encode(), CPU_H.encode(), "0.0.1", "an inline test excerpt")
    assert "git blob %s" % GEN.git_blob(CPU_C.encode()) in text
    assert GEN.git_blob(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's well-known empty blob
    assert all(len(line) <= 160 for line in text.splitlines())


def test_an_unknown_version_property_stops_the_generator():
    broken = CPU_C.replace('{ "rtm", "off" },', '{ "no-such-feature", "on" },')
    with pytest.raises(GEN.ParseError, match="no-such-feature"):
        _build(broken)


def test_a_bit_without_a_name_is_reported():
    _table, parsed = _build(CPU_C.replace("BASE_FEATURES | CPUID_SSE2", "BASE_FEATURES | CPUID_SSE2 | (1U << 30)"))
    assert parsed.unnamed == {"FEAT_1_EDX bit 30"}


def test_expressions_and_comments():
    evaluator = GEN.Evaluator(GEN.read_macros("#define A (1U << 3)\n#define B (A | \\\n 0x10)\n#define S \"x\"\n"))
    assert evaluator.value(GEN.tokenize("B | BIT_ULL(40) | ~0ULL & 1")) == (0x18 | 1 << 40 | 1)
    assert evaluator.value(GEN.tokenize("S")) == "x"
    assert GEN.strip_comments('a /* x\n y */ "/* kept */" // gone\nb') == 'a \n "/* kept */"  \nb'
    with pytest.raises(GEN.ParseError):
        evaluator.value(GEN.tokenize("UNDEFINED_MACRO"))


@pytest.mark.skipif(not os.environ.get("QEMU_SRC"), reason="set QEMU_SRC to a QEMU 10.2.0 tree to check the committed table")
def test_committed_table_is_what_the_generator_writes():
    source = os.environ["QEMU_SRC"]
    with open(os.path.join(source, "target", "i386", "cpu.c"), "rb") as handle:
        cpu_c = handle.read()
    with open(os.path.join(source, "target", "i386", "cpu.h"), "rb") as handle:
        cpu_h = handle.read()
    with open(TABLE, encoding="utf-8") as handle:
        committed = handle.read()
    namespace = {}
    exec(compile(committed, TABLE, "exec"), namespace)  # pylint: disable=exec-used
    text, _table = GEN.build(cpu_c, cpu_h, namespace["QEMU_VERSION"], namespace["QEMU_ORIGIN"], namespace["PVE_MODELS"], namespace["PVE_ORIGIN"])
    assert text == committed
