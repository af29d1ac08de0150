"""The cpu_baseline module, run by ansible-playbook against pvesim's CPU scenarios.

A mixed Intel/AMD cluster (the table and ``cluster_cpu_type`` against what the library says for
the same cpuinfo, read back through the API; least-privilege tokens; the guard; apply in check
mode, for real, again, with diff), an offline node, an aarch64 node, a PVE 8.4 cluster without
``vendor``, and bad input refused before any write.
"""

import json
import sys

import pytest
import yaml
from conftest import COLLECTIONS, _ensure_collection_link, connection_vars, run_playbook

from pvesim import scenario as pvesim_scenario
from pvesim.testing import running

# the expectations come from the library itself, imported as the modules import it
_ensure_collection_link()
if COLLECTIONS not in sys.path:
    sys.path.append(COLLECTIONS)
from ansible_collections.proxops.proxmox.plugins.module_utils._cpu_baseline.baseline import analyze_node, cluster_baseline  # noqa: E402

TOKENS = {"read": ("CpuRead", "Sys.Audit"), "guard": ("CpuGuard", "Sys.Audit,VM.Audit"),
          "apply": ("CpuApply", "Sys.Audit,VM.Audit,VM.Config.CPU")}
TOKEN_SECRET = "cpu-token-secret-4Kq"


def load(name, tokens=False):
    with open(pvesim_scenario.find(name), encoding="utf-8") as handle:
        data = json.load(handle)
    if tokens:
        # the user holds every role; each privilege-separated token only its own
        data["roles"] = {role: privs for role, privs in TOKENS.values()}
        data["users"] = [{"userid": "cpu@pve", "password": "cpu-user-pw"}]
        data["tokens"] = [{"tokenid": "cpu@pve!%s" % name, "secret": TOKEN_SECRET, "privsep": 1} for name in TOKENS]
        data["acl"] = [{"path": "/", "roleid": "CpuApply", "users": "cpu@pve", "propagate": 1}]
        data["acl"] += [{"path": "/", "roleid": role, "tokens": "cpu@pve!%s" % name, "propagate": 1}
                        for name, (role, _privs) in TOKENS.items()]
    return data


def library_nodes(data, skip=()):
    """The library's node dicts for a scenario's cpuinfo, as the module builds them from the status PVE answers."""
    nodes = []
    for name, info in sorted(data["cpuinfo"].items()):
        if name in skip:
            continue
        arch = data.get("node_arch", {}).get(name, "x86_64")
        node = {"name": name, "arch": arch, "flags": info.get("flags", "") if arch == "x86_64" else ""}
        if arch == "x86_64":
            node["model"] = info["model"]
            for key in ("vendor", "family"):  # PVE 8.4's read_cpuinfo has neither
                if key in info and data.get("pve_version") != "8.4":
                    node[key] = info[key]
        nodes.append(node)
    return nodes


def run(pve, tmp_path, name, args, check=False, diff=False, api_node=None, token=None):
    """One cpu_baseline task; the result (the run's output has no password or token secret)."""
    connection = {"api_host": "{{ pve_nodes['%s'] }}" % (api_node or sorted(pve.sim.hosts)[0]), "api_port": "{{ pve_api_port }}",
                  "ca_path": "{{ pve_ca_path }}"}
    if token:
        connection.update(api_user="cpu@pve", api_token_id=token, api_token_secret=TOKEN_SECRET)
    else:
        connection["api_password"] = "{{ pve_root_password }}"
    task = {"name": name, "proxops.proxmox.cpu_baseline": dict(connection, **args), "ignore_errors": True}
    if check:
        task["check_mode"] = True
    path = tmp_path / ("%s.yml" % name)
    path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}], sort_keys=False))
    result = run_playbook(str(path), connection_vars(pve), tmp_path, diff=diff)
    assert pve.password not in result.output and TOKEN_SECRET not in result.output
    return result.task(name)


def cpu_of(pve, node, vmid):
    return pve.client(node).nodes(node).qemu(vmid).config.get().get("cpu")


def writes(pve):
    stats = pve.sim.stats.snapshot()["by_route"]
    return sum(count for route, count in stats.items() if route.startswith(("PUT ", "POST /nodes", "DELETE ")))


# --- a mixed Intel/AMD cluster ------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed():
    with running(load("cpu-mixed-3.json", tokens=True), time_scale=0.0) as handle:
        yield handle


def test_table_matches_the_library_and_the_api(mixed, tmp_path):
    data = load("cpu-mixed-3.json")
    expected = cluster_baseline(library_nodes(data))
    mixed.sim.stats.reset()
    result = run(mixed, tmp_path, "baseline", {}, token="read")  # Sys.Audit only
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    reads = mixed.sim.stats.snapshot()["by_route"]
    assert reads.get("GET /cluster/resources") == 1 and reads.get("GET /nodes/{node}/capabilities/qemu/cpu") == 1
    assert not [route for route in reads if "/qemu/{vmid}" in route]  # no guest is read for the baseline
    assert result["cluster_cpu_type"] == expected["cluster_cpu_type"] == "x86-64-v3"
    assert result["kind"] == "level" and result["level"] == "x86-64-v3" and result["model"] is None
    assert "vendors" in result["reason"]
    assert result["held_back_by"] == ["pve-milan"] and result["next_level"] == {"name": "x86-64-v4", "held_back_by": ["pve-milan"]}
    rows = {row["name"]: row for row in result["nodes"]}
    assert sorted(rows) == ["pve-ice", "pve-milan", "pve-sky"]
    library = {row["name"]: row for row in expected["nodes"]}
    for name, row in rows.items():
        status = mixed.client("pve-sky").nodes(name).status.get()  # read back: what PVE says of the node
        assert row["model_name"] == status["cpuinfo"]["model"] and row["vendor"] == status["cpuinfo"]["vendor"]
        assert row["cpus"] == status["cpuinfo"]["cpus"] and row["pve_version"] == "9.1"
        assert row["level"] == library[name]["level"] and row["model"] == library[name]["model"]
        assert row["cpu_type"] == library[name]["cpu_type"] and row["vendor_source"] == "given"
    assert rows["pve-milan"]["next_level"]["missing_flags"] == ["avx512bw", "avx512cd", "avx512dq", "avx512f", "avx512vl"]
    assert rows["pve-sky"]["next_level"]["missing_flags"] == []
    assert rows["pve-milan"]["model"] == analyze_node(library_nodes(data)[1])["model"] == "EPYC-Milan"
    assert {item["model"] for item in rows["pve-milan"]["unverified_models"]} >= {"EPYC-Milan-v2"}


def test_guard_lists_the_guests_that_block_migration(mixed, tmp_path):
    api = mixed.client("pve-sky")
    api.nodes("pve-sky").qemu(100).config.put(cpu="host")
    api.nodes("pve-ice").qemu(101).config.put(cpu="Icelake-Server-noTSX")
    api.nodes("pve-milan").qemu(102).config.put(cpu="x86-64-v3,flags=+aes")
    api.nodes("pve-milan").qemu(103).config.put(cpu="custom-lab-baseline")

    denied = run(mixed, tmp_path, "guard-no-vm-audit", {"guard": True, "vmids": [100]}, token="read")
    assert denied.get("failed") and "100" in denied["msg"] and "VM.Audit" in denied["msg"]

    result = run(mixed, tmp_path, "guard", {"guard": True, "all": True}, token="guard")
    assert not result.get("failed"), result.get("msg")
    rows = {row["vmid"]: row for row in result["guard_guests"]}
    assert result["blocking_guests"] == [100, 101]
    assert rows[100]["cpu"] == "host" and rows[100]["blocked_nodes"] == ["pve-ice", "pve-milan"]
    assert "mixed cluster" in rows[100]["reasons"]["pve-milan"]
    assert rows[101]["blocked_nodes"] == ["pve-milan", "pve-sky"] and "avx512f" in rows[101]["reasons"]["pve-milan"]
    assert "pve-ice" not in rows[101]["reasons"]
    assert rows[102]["ok"] is True and rows[102]["blocked_nodes"] == []
    # a custom model the API names without its definition: undecided, not blocking; with it, decided
    assert result["unverified_guests"] == [103] and rows[103]["unverified_nodes"] == ["pve-ice", "pve-milan", "pve-sky"]
    defined = run(mixed, tmp_path, "guard-custom", {"guard": True, "vmids": [103], "custom_models": {
        "lab-baseline": {"reported-model": "Skylake-Server-noTSX-IBRS", "flags": "-pcid;+aes"}}}, token="guard")
    row = defined["guard_guests"][0]
    # an AMD host lacks the Intel model; this Gold 6148 (kernel 3.10) shows no pku
    assert row["blocked_nodes"] == ["pve-milan", "pve-sky"] and "pku" in row["reasons"]["pve-sky"], row


def test_apply_check_real_and_again(mixed, tmp_path):
    api = mixed.client("pve-sky")
    api.nodes("pve-sky").qemu(100).config.put(cpu="host")
    api.nodes("pve-ice").qemu(101).config.put(cpu="Icelake-Server-noTSX,flags=+md-clear;-pcid")
    before = {100: cpu_of(mixed, "pve-sky", 100), 101: cpu_of(mixed, "pve-ice", 101)}
    args = {"apply": True, "vmids": [100, 101]}

    count = writes(mixed)
    check = run(mixed, tmp_path, "apply-check", args, check=True, diff=True, token="apply")
    assert not check.get("failed"), check.get("msg")
    assert check["changed"] is True and writes(mixed) == count
    assert {100: cpu_of(mixed, "pve-sky", 100), 101: cpu_of(mixed, "pve-ice", 101)} == before
    assert check["diff"]["before"]["qemu 100"] == {"cpu": "host"} and check["diff"]["after"]["qemu 100"] == {"cpu": "x86-64-v3"}

    real = run(mixed, tmp_path, "apply", args, diff=True, token="apply")
    assert not real.get("failed"), real.get("msg")
    assert real["changed"] is True and real["cpu_type_applied"] == "x86-64-v3"
    rows = {row["vmid"]: row for row in real["apply_guests"]}
    # md-clear is not on pve-sky and pve-milan: dropped; taking pcid away stays
    assert rows[101]["after"] == "x86-64-v3,flags=-pcid" and rows[101]["dropped_flags"] == ["+md-clear"]
    assert rows[100]["pending"] is True and any("next cold start" in w for w in real.get("warnings", []))
    assert real["diff"]["before"]["qemu 101"] == {"cpu": before[101]}
    assert real["diff"]["after"]["qemu 101"] == {"cpu": "x86-64-v3,flags=-pcid"}
    assert cpu_of(mixed, "pve-sky", 100) == "x86-64-v3" and cpu_of(mixed, "pve-ice", 101) == "x86-64-v3,flags=-pcid"

    again = run(mixed, tmp_path, "apply-again", args, diff=True, token="apply")
    assert not again.get("failed") and again["changed"] is False
    assert again["diff"] == {"before": {}, "after": {}}

    guard = run(mixed, tmp_path, "guard-after", {"guard": True, "vmids": [100, 101]}, token="guard")
    assert guard["blocking_guests"] == []


def test_bad_input_is_refused_before_any_write(mixed, tmp_path):
    count = writes(mixed)
    before = cpu_of(mixed, "pve-milan", 102)
    cases = [
        ({"vmids": [102]}, "vmids"),
        ({"apply": True}, "apply"),
        ({"apply": True, "vmids": [102], "cpu_type": "x86-64-v3,flags=+aes"}, "cpu_type"),
        ({"apply": True, "vmids": [102], "cpu_type": "Pentium9000"}, "cpu_type"),
        ({"cpu_type": "x86-64-v3"}, "cpu_type"),
        ({"guard": True, "all": True, "node": "pve-sky"}, "all"),
        ({"guard": True, "all": True, "parallel": 0}, "parallel"),
        ({"apply": True, "vmids": [102, 999]}, "vmids"),
        ({"offline": "ignore"}, "offline"),
    ]
    for args, option in cases:
        result = run(mixed, tmp_path, "bad-%s" % option, args)
        assert result.get("failed") and option in result["msg"], (args, result.get("msg"))
    # a type some node cannot run: refused before the first write, naming the nodes
    refused = run(mixed, tmp_path, "bad-type", {"apply": True, "vmids": [102, 103], "cpu_type": "EPYC-Milan"})
    assert refused.get("failed") and "pve-sky" in refused["msg"] and "nothing was changed" in refused["msg"]
    assert writes(mixed) == count and cpu_of(mixed, "pve-milan", 102) == before


# --- an offline node ------------------------------------------------------------------
def test_offline_node_fails_by_default_and_is_skipped_on_request(tmp_path):
    data = load("cpu-offline-node.json")
    with running(data, time_scale=0.0) as pve:
        failed = run(pve, tmp_path, "offline-fail", {}, api_node="pve-ice")
        assert failed.get("failed") and "pve-milan" in failed["msg"] and "offline=skip" in failed["msg"]

        result = run(pve, tmp_path, "offline-skip", {"offline": "skip", "guard": True, "all": True}, api_node="pve-ice")
        assert not result.get("failed"), result.get("msg")
        assert result["excluded_nodes"] == [{"name": "pve-milan", "reason": "offline"}]
        assert any("pve-milan" in warning for warning in result.get("warnings", []))
        expected = cluster_baseline(library_nodes(data, skip=("pve-milan",)))
        assert [row["name"] for row in result["nodes"]] == ["pve-ice", "pve-sky"]
        assert result["cluster_cpu_type"] == expected["cluster_cpu_type"] and result["kind"] == expected["kind"]
        assert result["vendor"] == "GenuineIntel"
        assert result["skipped_guests"] == [{"vmid": 102, "reason": "on pve-milan, which is offline"}]
        assert [row["vmid"] for row in result["guard_guests"]] == [100, 101]


# --- an aarch64 node ---------------------------------------------------------------------
def test_arm_node_means_no_common_type(tmp_path):
    with running(load("cpu-arm-mixed.json"), time_scale=0.0) as pve:
        result = run(pve, tmp_path, "arm", {"guard": True, "vmids": [100, 200]}, api_node="pve-ice")
        assert not result.get("failed"), result.get("msg")
        assert result["cluster_cpu_type"] is None and result["architecture"] is None
        assert "mix architectures" in result["reason"] and "pve-arm" in result["reason"]
        rows = {row["name"]: row for row in result["nodes"]}
        assert rows["pve-arm"]["arch"] == "aarch64" and rows["pve-arm"]["level"] is None and "aarch64" in rows["pve-arm"]["note"]
        assert rows["pve-ice"]["level"] == "x86-64-v4"
        guard = {row["vmid"]: row for row in result["guard_guests"]}
        assert guard[200]["arch"] == "aarch64" and "pve-ice" in guard[200]["blocked_nodes"]
        assert "pve-arm" in guard[100]["blocked_nodes"]

        refused = run(pve, tmp_path, "arm-apply", {"apply": True, "vmids": [100]}, api_node="pve-ice")
        assert refused.get("failed") and "share no CPU type" in refused["msg"] and "cpu_type" in refused["msg"]


# --- PVE 8.4, no vendor in cpuinfo ------------------------------------------------------
def test_pve84_without_vendor(tmp_path):
    data = load("cpu-pve84.json")
    with running(data, time_scale=0.0) as pve:
        result = run(pve, tmp_path, "pve84", {}, api_node="pve-sky")
        assert not result.get("failed"), result.get("msg")
        expected = cluster_baseline(library_nodes(data))
        assert result["cluster_cpu_type"] == expected["cluster_cpu_type"] == "x86-64-v3"
        rows = {row["name"]: row for row in result["nodes"]}
        offered = {item["name"] for item in pve.client("pve-sky").nodes("pve-sky").capabilities.qemu.cpu.get()}
        for name, row in rows.items():
            assert row["pve_version"] == "8.4" and row["vendor_source"] == "model name"
            assert row["model"] is None or row["model"] in offered
            assert all(model in offered for model in row["models"])
        assert rows["pve-milan"]["vendor"] == "AuthenticAMD" and rows["pve-sky"]["vendor"] == "GenuineIntel"
