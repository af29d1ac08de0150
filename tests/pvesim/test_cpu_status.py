"""The ``cpuinfo`` of ``GET /nodes/{node}/status`` (FIDELITY row 23).

PVE returns ``PVE::ProcFSTools::read_cpuinfo()`` (pve-common ``src/PVE/ProcFSTools.pm``) as
it is (pve-manager ``PVE/API2/Nodes.pm`` status). ``vendor`` and ``family`` exist only from
pve-common 9.1.6 on (commit d2582a9); ``hvm`` is ``flags =~ m/\\s(vmx|svm)\\s/``.
"""

import pytest

from pvesim.testing import call, make_sim

from helpers import api_error

GIB = 1024 ** 3


def _node(name, maxcpu=16, status="online"):
    return {"type": "node", "node": name, "status": status, "maxcpu": maxcpu, "maxmem": 64 * GIB, "mem": 4 * GIB,
            "cpu": 0.05}


EPYC_NO_VENDOR = {"model": "AMD EPYC 7763 64-Core Processor", "sockets": 1, "cores": 64, "cpus": 128,
                  "mhz": "2445.406", "flags": "fpu vme de pse sse sse2 svm npt avx2"}


def _status(sim, node):
    return call(sim, node, "GET", "/nodes/%s/status" % node)


def test_read_cpuinfo_vendor_and_family_on_91():
    """read_cpuinfo (pve-common >= 9.1.6): vendor_id and cpu family, both strings as captured."""
    sim = make_sim({"cluster_name": "lab", "resources": [_node("a")],
                    "cpuinfo": {"a": dict(EPYC_NO_VENDOR, vendor="AuthenticAMD", family=25)}})
    info = _status(sim, "a")["cpuinfo"]
    assert (info["vendor"], info["family"]) == ("AuthenticAMD", "25")


def test_read_cpuinfo_never_invents_vendor():
    """A cpuinfo object without vendor/family (pve-common before 9.1.6): none answered, even on 9.1,
    and an AMD host does not become GenuineIntel."""
    sim = make_sim({"cluster_name": "lab", "resources": [_node("a")], "cpuinfo": {"a": EPYC_NO_VENDOR}})
    info = _status(sim, "a")["cpuinfo"]
    assert "vendor" not in info and "family" not in info
    assert info["model"] == "AMD EPYC 7763 64-Core Processor"


def test_read_cpuinfo_pve84_has_no_vendor_or_family():
    """PVE 8.4's read_cpuinfo (pve-common stable-bookworm) has neither key, whatever the scenario says."""
    sim = make_sim({"cluster_name": "lab", "pve_version": "8.4", "resources": [_node("a"), _node("b")],
                    "cpuinfo": {"a": dict(EPYC_NO_VENDOR, vendor="AuthenticAMD", family="25")}})
    for node in ("a", "b"):  # b: pvesim's default Intel host
        info = _status(sim, node)["cpuinfo"]
        assert "vendor" not in info and "family" not in info


def test_default_host_has_vendor_and_family_on_91():
    sim = make_sim({"cluster_name": "lab", "resources": [_node("a")]})
    info = _status(sim, "a")["cpuinfo"]
    assert (info["vendor"], info["family"], info["hvm"]) == ("GenuineIntel", "6", "1")


@pytest.mark.parametrize("flags, hvm", [
    ("fpu vme svm npt avx2", "1"),
    ("fpu vme vmx ept avx2", "1"),
    ("fpu vme sse avx2 hypervisor", ""),
    ("svm fpu vme", ""),  # read_cpuinfo's regex needs whitespace on both sides
    ("fpu vme vmx", ""),
    ("", ""),
])
def test_read_cpuinfo_hvm_follows_vmx_svm(flags, hvm):
    """read_cpuinfo: hvm = flags =~ m/\\s(vmx|svm)\\s/, JSON "1" or "" (a Perl boolean), whatever
    the scenario says about hvm."""
    sim = make_sim({"cluster_name": "lab", "resources": [_node("a")],
                    "cpuinfo": {"a": {"model": "x", "flags": flags, "hvm": "1"}}})
    assert _status(sim, "a")["cpuinfo"]["hvm"] == hvm


def test_shipped_amd_hosts_without_svm_are_not_hvm():
    """example-standalone-3.json's EPYC flags lack svm (a guest's view): read_cpuinfo says hvm ''."""
    sim = make_sim("example-standalone-3.json")
    assert _status(sim, "pve-a")["cpuinfo"]["hvm"] == ""


def test_read_cpuinfo_types():
    """Types as read_cpuinfo gives them and the returns schema wants (cores/cpus/sockets integers)."""
    sim = make_sim({"cluster_name": "lab", "resources": [_node("a", maxcpu=12)],
                    "cpuinfo": {"a": {"model": "m", "mhz": 2100, "flags": "fpu vmx sse"}}})
    info = _status(sim, "a")["cpuinfo"]
    assert info == {"user_hz": 100, "model": "m", "mhz": "2100.000", "cpus": 12, "sockets": 1, "cores": 12,
                    "flags": "fpu vmx sse", "hvm": "1"}


def test_read_cpuinfo_defaults_for_missing_lines():
    """A scenario object without model/flags: read_cpuinfo's defaults 'unknown' and ''."""
    sim = make_sim({"cluster_name": "lab", "resources": [_node("a")], "cpuinfo": {"a": {"cpus": 4}}})
    info = _status(sim, "a")["cpuinfo"]
    assert (info["model"], info["flags"], info["hvm"], info["mhz"], info["cpus"]) == ("unknown", "", "", 0, 4)


def test_read_cpuinfo_on_aarch64_91():
    """An arm64 /proc/cpuinfo has no model name, vendor_id, cpu family, cpu MHz or flags line
    (its features are the `Features` line, which read_cpuinfo does not read): PVE 9.1's
    read_cpuinfo keeps its defaults; the ARM model name needs pve-common 9.2.0 (6ffccea)."""
    sim = make_sim("cpu-arm-mixed.json")
    status = _status(sim, "pve-arm")
    assert status["current-kernel"]["machine"] == "aarch64"
    assert status["cpuinfo"] == {"user_hz": 100, "model": "unknown", "vendor": "unknown", "family": 0, "mhz": 0,
                                 "cpus": 80, "sockets": 1, "cores": 1, "flags": "", "hvm": ""}
    assert _status(sim, "pve-ice")["current-kernel"]["machine"] == "x86_64"


@pytest.mark.parametrize("info", [{"flags": "fp asimd"}, {"model": "Ampere Altra"}, {"vendor": "ARM"}])
def test_aarch64_cpuinfo_refuses_what_arm64_has_no_line_for(info):
    with pytest.raises(ValueError, match="aarch64"):
        make_sim({"cluster_name": "lab", "resources": [_node("arm")], "node_arch": {"arm": "aarch64"},
                  "cpuinfo": {"arm": info}})


def test_aarch64_needs_pve91():
    with pytest.raises(ValueError, match="no aarch64 support"):
        make_sim({"cluster_name": "lab", "pve_version": "8.4", "resources": [_node("arm")],
                  "node_arch": {"arm": "aarch64"}})


def test_cpuinfo_for_unknown_node_is_refused():
    with pytest.raises(ValueError, match="no node 'nope'"):
        make_sim({"cluster_name": "lab", "resources": [_node("a")], "cpuinfo": {"nope": {}}})


def test_pve84_scenario_answers_without_vendor():
    sim = make_sim("cpu-pve84.json")
    for node in ("pve-sky", "pve-ice", "pve-milan"):
        info = _status(sim, node)["cpuinfo"]
        assert "vendor" not in info and "family" not in info and info["hvm"] == "1"


def test_mixed_scenario_vendors_and_hvm():
    sim = make_sim("cpu-mixed-3.json")
    answers = {node: call(sim, "pve-sky", "GET", "/nodes/%s/status" % node)["cpuinfo"]
               for node in ("pve-sky", "pve-ice", "pve-milan")}
    assert {n: (i["vendor"], i["family"], i["hvm"]) for n, i in answers.items()} == {
        "pve-sky": ("GenuineIntel", "6", "1"), "pve-ice": ("GenuineIntel", "6", "1"),
        "pve-milan": ("AuthenticAMD", "25", "1")}
    assert "avx512f" in answers["pve-sky"]["flags"].split() and "avx512f" not in answers["pve-milan"]["flags"].split()


def test_offline_node_status_is_unreachable():
    """status has proxyto node: an offline node gives pveproxy's 595."""
    sim = make_sim("cpu-offline-node.json")
    err = api_error(call, sim, "pve-sky", "GET", "/nodes/pve-milan/status")
    assert err.status == 595
