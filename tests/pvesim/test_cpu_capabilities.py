"""``GET /nodes/{node}/capabilities/qemu/cpu`` and ``.../cpu-flags`` (FIDELITY rows 24 and 25).

qemu-server ``PVE/QemuServer/CPUConfig.pm``: ``get_cpu_models`` and ``get_supported_cpu_flags``;
``PVE/API2/Qemu/CPU.pm`` (custom models only with Sys.Audit on ``/nodes``) and
``PVE/API2/Qemu/CPUFlags.pm``. Neither route has ``proxyto`` (pve-manager
``PVE/API2/Capabilities.pm``): the receiving node answers.
"""

import json
import os

import pytest

from pvesim.domain import cpu_models
from pvesim.routing import Identity
from pvesim.testing import call, make_sim

from helpers import api_error

GIB = 1024 ** 3
DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "pvesim", "data")

# qemu-server 9.1.4 (0538c83c, "update CPU models for QEMU 10.1") added these 14 x86 models
ADDED_IN_914 = {"ClearwaterForest", "EPYC-Genoa-v2", "EPYC-Milan-v3", "EPYC-Rome-v5", "EPYC-Turin", "EPYC-v5",
                "GraniteRapids-v2", "GraniteRapids-v3", "Icelake-Server-v7", "SapphireRapids-v3", "SapphireRapids-v4",
                "SierraForest", "SierraForest-v2", "SierraForest-v3"}
FLAG_NAMES = ["nested-virt", "md-clear", "pcid", "spec-ctrl", "ssbd", "ibpb", "virt-ssbd", "amd-ssbd", "amd-no-ssb",
              "pdpe1gb", "hv-tlbflush", "hv-evmcs", "aes"]


def _names(models):
    return [m["name"] for m in models]


@pytest.fixture
def mixed():
    return make_sim("cpu-mixed-3.json")


# --- cpu-flags (row 24) ---------------------------------------------------------------------

def test_get_supported_cpu_flags_is_one_fixed_list(mixed):
    """get_supported_cpu_flags: the same 13 flags, nested-virt first, on every node."""
    answers = [call(mixed, "pve-sky", "GET", "/nodes/%s/capabilities/qemu/cpu-flags" % node)
               for node in ("pve-sky", "pve-ice", "pve-milan")]
    assert _names(answers[0]) == FLAG_NAMES
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0]["description"].startswith("Controls nested virtualization, namely 'svm' for AMD CPUs")
    assert call(mixed, "pve-milan", "GET", "/nodes/pve-milan/capabilities/qemu/cpu-flags") == answers[0]


def test_get_supported_cpu_flags_aarch64_is_empty(mixed):
    """get_supported_cpu_flags('aarch64'): []."""
    assert call(mixed, "pve-sky", "GET", "/nodes/pve-sky/capabilities/qemu/cpu-flags", arch="aarch64") == []
    assert _names(call(mixed, "pve-sky", "GET", "/nodes/pve-sky/capabilities/qemu/cpu-flags",
                       arch="x86_64")) == FLAG_NAMES


def test_get_supported_cpu_flags_default_arch_is_the_answering_nodes():
    """$arch //= get_host_arch(): an aarch64 node answers [] without arch, wherever {node} points."""
    sim = make_sim("cpu-arm-mixed.json")
    assert call(sim, "pve-arm", "GET", "/nodes/pve-ice/capabilities/qemu/cpu-flags") == []
    assert _names(call(sim, "pve-ice", "GET", "/nodes/pve-arm/capabilities/qemu/cpu-flags")) == FLAG_NAMES


def test_cpu_flags_arch_enum_checked(mixed):
    err = api_error(call, mixed, "pve-sky", "GET", "/nodes/pve-sky/capabilities/qemu/cpu-flags", arch="riscv64")
    assert err.status == 400 and "arch" in err.errors


def test_cpu_flags_not_in_pve84():
    """PVE 8.4 has no cpu-flags endpoint (not in its schema)."""
    sim = make_sim("cpu-pve84.json")
    err = api_error(call, sim, "pve-sky", "GET", "/nodes/pve-sky/capabilities/qemu/cpu-flags")
    assert err.status == 501


# --- cpu models (row 25) ------------------------------------------------------------------------

def test_get_cpu_models_91_lists_the_914_models(mixed):
    """get_cpu_models (qemu-server 9.1.9): 89 x86 models + host + 4 x86-64-vN profiles; the 14
    models of 9.1.4, and Icelake-Client/-noTSX (kept in every 9.x for old configs)."""
    models = call(mixed, "pve-sky", "GET", "/nodes/pve-sky/capabilities/qemu/cpu")
    names = _names(models)
    assert len(names) == len(set(names)) == 94 + 1  # + the scenario's custom model (root has Sys.Audit)
    assert ADDED_IN_914 <= set(names)
    assert {"Icelake-Client", "Icelake-Client-noTSX", "host", "x86-64-v2-AES", "EPYC-Milan"} <= set(names)
    by_name = {m["name"]: m for m in models}
    assert by_name["host"] == {"name": "host", "custom": 0, "vendor": "default"}
    assert by_name["EPYC-Turin"]["vendor"] == "AuthenticAMD"
    assert by_name["SierraForest-v3"]["vendor"] == "GenuineIntel"
    assert by_name["x86-64-v4"]["vendor"] == "default"  # vendor of its reported-model qemu64
    assert not any(n in names for n in ("neoverse-n1", "cortex-a72"))


def test_get_cpu_models_hash_order(mixed):
    """Each group (models, x86-64-vN profiles, custom) comes from Perl `keys`: not sorted; pvesim's
    stand-in order is reproducible."""
    names = _names(call(mixed, "pve-sky", "GET", "/nodes/pve-sky/capabilities/qemu/cpu"))
    assert names != sorted(names)
    assert names == _names(call(mixed, "pve-ice", "GET", "/nodes/pve-ice/capabilities/qemu/cpu"))
    assert names[-5:-1] == cpu_models.hash_order(["x86-64-v2", "x86-64-v2-AES", "x86-64-v3", "x86-64-v4"])
    assert names[-1] == "custom-lab-baseline"


def test_get_cpu_models_pve84():
    """qemu-server 8.4.10 ($cpu_vendor_list): 75 models + host + 4 profiles, none of the 9.1.4 ones."""
    sim = make_sim("cpu-pve84.json")
    names = _names(call(sim, "pve-sky", "GET", "/nodes/pve-sky/capabilities/qemu/cpu"))
    assert len(names) == 80 and not ADDED_IN_914 & set(names)
    assert {"Icelake-Client", "host", "x86-64-v3", "EPYC-Genoa"} <= set(names)


def test_get_cpu_models_arch_parameter_not_in_pve84():
    sim = make_sim("cpu-pve84.json")
    err = api_error(call, sim, "pve-sky", "GET", "/nodes/pve-sky/capabilities/qemu/cpu", arch="x86_64")
    assert err.status == 400 and "arch" in err.errors


def test_get_cpu_models_aarch64(mixed):
    """get_cpu_models(arch => 'aarch64') on an x86 node: the 12 ARM models, no host, no profiles."""
    models = call(mixed, "pve-sky", "GET", "/nodes/pve-sky/capabilities/qemu/cpu", arch="aarch64")
    plain = [m for m in models if not m["custom"]]
    assert len(plain) == 12 and "host" not in _names(plain)
    assert {m["name"]: m["vendor"] for m in plain}["neoverse-n1"] == "ARM"
    assert {m["name"]: m["vendor"] for m in plain}["max"] == "default"


def test_get_cpu_models_on_an_aarch64_node():
    """initialize_cpu_models: host belongs to the answering node's arch, which is also the default."""
    sim = make_sim("cpu-arm-mixed.json")
    arm = _names(call(sim, "pve-arm", "GET", "/nodes/pve-arm/capabilities/qemu/cpu"))
    assert len(arm) == 13 and "host" in arm and "neoverse-n1" in arm and "EPYC-Milan" not in arm
    x86_on_arm = _names(call(sim, "pve-arm", "GET", "/nodes/pve-arm/capabilities/qemu/cpu", arch="x86_64"))
    assert "host" not in x86_on_arm and len(x86_on_arm) == 93
    # no proxyto: pve-ice answers for {node} pve-arm with its own x86_64 list
    assert "host" in _names(call(sim, "pve-ice", "GET", "/nodes/pve-arm/capabilities/qemu/cpu"))


def test_custom_models_need_sys_audit_on_nodes():
    """API2/Qemu/CPU.pm: $rpcenv->check($authuser, "/nodes", ['Sys.Audit'], 1)."""
    scenario = json.load(open(os.path.join(DATA, "..", "scenarios", "cpu-mixed-3.json")))
    scenario.update({
        "users": [{"userid": "aud@pve", "password": "pw"}, {"userid": "nodeonly@pve", "password": "pw"},
                  {"userid": "none@pve", "password": "pw"}],
        "acl": [{"path": "/", "roleid": "PVEAuditor", "users": "aud@pve", "propagate": 1},
                {"path": "/nodes/pve-sky", "roleid": "PVEAuditor", "users": "nodeonly@pve", "propagate": 1}],
    })
    sim = make_sim(scenario)

    def customs(user):
        models = call(sim, "pve-sky", "GET", "/nodes/pve-sky/capabilities/qemu/cpu", identity=Identity(user))
        return [m for m in models if m["custom"]]

    assert customs("root@pam") == [{"name": "custom-lab-baseline", "custom": 1, "vendor": "GenuineIntel"}]
    assert customs("aud@pve") == customs("root@pam")
    assert customs("nodeonly@pve") == []  # Sys.Audit on /nodes/pve-sky is not on /nodes
    assert customs("none@pve") == []
    assert len(call(sim, "pve-sky", "GET", "/nodes/pve-sky/capabilities/qemu/cpu", identity=Identity("none@pve"))) == 94


def test_custom_model_vendor_defaults_to_kvm64():
    """get_cpu_models: reported-model //= kvm64, whose vendor is 'default'; 9.1.9 lists custom
    models for either arch (the arch filter came with qemu-server 9.1.15, aa8e225a)."""
    sim = make_sim({"cluster_name": "lab", "custom_cpu_models": {"plain": {"flags": "+aes"},
                                                                  "arm": {"reported-model": "neoverse-n1"}},
                    "resources": [{"type": "node", "node": "a", "status": "online", "maxcpu": 4}]})
    for arch in ("x86_64", "aarch64"):
        models = call(sim, "a", "GET", "/nodes/a/capabilities/qemu/cpu", arch=arch)
        assert {m["name"]: m["vendor"] for m in models if m["custom"]} == {"custom-plain": "default",
                                                                           "custom-arm": "ARM"}


@pytest.mark.parametrize("models, match", [
    ({"xx": {"reported-model": "NoSuchCPU"}}, "reported-model"),
    ({"xx": {"bogus": 1}}, "unknown option"),
    ({"1x": {}}, "section id"),
])
def test_custom_cpu_models_checked(models, match):
    with pytest.raises(ValueError, match=match):
        make_sim({"cluster_name": "lab", "custom_cpu_models": models,
                  "resources": [{"type": "node", "node": "a", "status": "online", "maxcpu": 4}]})


def test_capabilities_answer_for_an_offline_node():
    """No proxyto: the receiving node answers even when {node} is down (status would be 595)."""
    sim = make_sim("cpu-offline-node.json")
    assert _names(call(sim, "pve-sky", "GET", "/nodes/pve-milan/capabilities/qemu/cpu-flags")) == FLAG_NAMES
    assert "host" in _names(call(sim, "pve-sky", "GET", "/nodes/pve-milan/capabilities/qemu/cpu"))


def test_data_files_name_their_source():
    for release, version in (("9.1", "qemu-server 9.1.9"), ("8.4", "qemu-server 8.4.10")):
        data = cpu_models.release_data(release)
        assert version in data["source"]
    assert set(cpu_models.release_data("9.1")["added_in_9.1.4"]) == ADDED_IN_914
