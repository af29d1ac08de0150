"""The proxops.proxmox.pve inventory: two pvesim clusters in one source, read by ansible-inventory."""

import json
import os
import subprocess
import sys

import pytest
from conftest import COLLECTIONS, REPO, _ensure_collection_link

from pvesim.testing import running

TOKEN_SECRET_ENV = "PVE_BETA_PASSWORD_FOR_TEST"


@pytest.fixture(scope="module")
def clusters():
    with running("example-small-base.json", cluster_name="alpha") as alpha, \
            running("example-small-drain.json", cluster_name="beta") as beta:
        yield alpha, beta


def source(tmp_path, alpha, beta, **extra):
    """A two-cluster source; beta's password comes from the environment through a template."""
    with open(alpha.ca_path, encoding="utf-8") as first, open(beta.ca_path, encoding="utf-8") as second:
        (tmp_path / "ca.pem").write_text(first.read() + second.read())
    config = {
        "plugin": "proxops.proxmox.pve",
        "ca_path": str(tmp_path / "ca.pem"),
        "api_port": next(iter(alpha.sim.hosts.values())).port,
        "clusters": [
            {"name": "alpha", "api_host": next(iter(alpha.sim.hosts.values())).address, "api_password": alpha.password},
            {"name": "beta", "api_host": next(iter(beta.sim.hosts.values())).address,
             "api_password": "{{ lookup('ansible.builtin.env', '%s') }}" % TOKEN_SECRET_ENV},
        ],
    }
    config.update(extra)
    path = tmp_path / "two_clusters.pve.yml"
    path.write_text(json.dumps(config))
    return str(path)


def inventory(path, beta, *args, **extra_env):
    _ensure_collection_link()
    env = dict(os.environ, **extra_env)
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_INVENTORY_ENABLED="proxops.proxmox.pve",
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=os.path.join(os.path.dirname(path), "ansible-home"))
    env[TOKEN_SECRET_ENV] = beta.password
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", path] + list(args)
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def plain(value):
    """ansible-inventory --list marks text from an inventory plugin as unsafe ({"__ansible_unsafe": text}): unwrap it."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def listed(run):
    assert run.returncode == 0, run.stderr[-3000:]
    return plain(json.loads(run.stdout))


def guests(pve):
    return [item for item in pve.client().cluster.resources.get(type="vm")]


def test_two_clusters_grouped_with_one_read_each(clusters, tmp_path):
    alpha, beta = clusters
    for pve in clusters:
        pve.sim.stats.reset()
    data = listed(inventory(source(tmp_path, alpha, beta), beta, "--list"))
    hostvars = data["_meta"]["hostvars"]
    expected = len(guests(alpha)) + len(guests(beta))
    for pve in clusters:
        pve.sim.stats.reset()
    # every guest of both clusters is a host (templates aside), with its cluster's variables
    by_cluster = {}
    for host, variables in hostvars.items():
        by_cluster.setdefault(variables["proxmox_cluster"], []).append(variables["proxmox_vmid"])
    templates = sum(1 for pve in clusters for guest in guests(pve) if guest.get("template"))
    assert len(hostvars) == expected - templates
    assert sorted(by_cluster["alpha"]) == sorted(g["vmid"] for g in guests(alpha) if not g.get("template"))
    assert sorted(by_cluster["beta"]) == sorted(g["vmid"] for g in guests(beta) if not g.get("template"))
    # groups by cluster, node, pool, type, status
    alpha_guest = next(g for g in guests(alpha) if g.get("pool") and not g.get("template"))
    host = next(h for h, v in hostvars.items() if v["proxmox_cluster"] == "alpha" and v["proxmox_vmid"] == alpha_guest["vmid"])
    for group in ("proxmox_cluster_alpha", "proxmox_node_%s" % alpha_guest["node"], "proxmox_pool_%s" % alpha_guest["pool"],
                  "proxmox_%s" % alpha_guest["type"], "proxmox_%s" % alpha_guest["status"]):
        assert host in data[group]["hosts"], group
    assert hostvars[host]["proxmox_node"] == alpha_guest["node"] and hostvars[host]["proxmox_tags"] == []


def test_one_resources_read_per_cluster_and_graph(clusters, tmp_path):
    alpha, beta = clusters
    for pve in clusters:
        pve.sim.stats.reset()
    run = inventory(source(tmp_path, alpha, beta), beta, "--graph", "-vvvv")
    assert run.returncode == 0, run.stderr[-3000:]
    for pve in clusters:
        snapshot = pve.sim.stats.snapshot()["by_route"]
        assert snapshot == {"POST /access/ticket": 1, "GET /cluster/resources": 1}, snapshot
    assert "@proxmox_cluster_alpha:" in run.stdout and "@proxmox_cluster_beta:" in run.stdout
    # the password of beta came from the environment and shows nowhere, even at -vvvv
    assert beta.password not in run.stdout + run.stderr and alpha.password not in run.stdout + run.stderr


def test_names_shared_across_clusters_stay_apart(clusters, tmp_path):
    alpha, beta = clusters
    hostvars = listed(inventory(source(tmp_path, alpha, beta), beta, "--list"))["_meta"]["hostvars"]
    names = {}
    for pve, cluster in ((alpha, "alpha"), (beta, "beta")):
        for guest in guests(pve):
            names.setdefault(guest.get("name"), []).append((cluster, guest["vmid"]))
    shared = [name for name, owners in names.items() if len(owners) > 1]
    assert shared, "the two scenarios should share guest names"
    for cluster, vmid in names[shared[0]]:
        assert hostvars["%s-%s-%s" % (shared[0], cluster, vmid)]["proxmox_cluster"] == cluster


def test_filters_compose_keyed_groups_and_nodes(clusters, tmp_path):
    alpha, beta = clusters
    path = source(tmp_path, alpha, beta, include_nodes=True, filters=["proxmox_status == 'running' or proxmox_type == 'node'"],
                  compose={"memory_gib": "(proxmox_maxmem | int) // 1073741824"},
                  keyed_groups=[{"key": "proxmox_pool", "prefix": "pool", "default_value": "none"}],
                  groups={"big": "(proxmox_maxmem | int) > 8589934592"})
    data = listed(inventory(path, beta, "--list"))
    hostvars = data["_meta"]["hostvars"]
    assert all(v["proxmox_status"] in ("running", "online") for v in hostvars.values())
    assert "alpha-%s" % next(iter(alpha.sim.hosts)) in data["proxmox_nodes"]["hosts"]
    some = next(h for h, v in hostvars.items() if v["proxmox_type"] != "node")
    assert hostvars[some]["memory_gib"] == hostvars[some]["proxmox_maxmem"] // 1073741824
    assert any(group.startswith("pool_") for group in data)
    if any(v["proxmox_maxmem"] > 8589934592 for v in hostvars.values()):
        assert data["big"]["hosts"]


def test_an_unreachable_cluster_is_a_warning_unless_strict(clusters, tmp_path):
    alpha, beta = clusters
    path = source(tmp_path, alpha, beta)
    config = json.loads(open(path, encoding="utf-8").read())
    config["clusters"].append({"name": "gone", "api_host": "127.0.0.1", "api_port": 1, "api_password": "x", "api_timeout": 2})
    open(path, "w", encoding="utf-8").write(json.dumps(config))
    run = inventory(path, beta, "--list")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "cluster gone (127.0.0.1)" in run.stderr and "cannot reach" in run.stderr
    assert len(listed(run)["_meta"]["hostvars"]) > 0
    config["strict"] = True
    open(path, "w", encoding="utf-8").write(json.dumps(config))
    # strict: the source fails (ansible-inventory fails on it when unparsed sources are errors)
    run = inventory(path, beta, "--list", ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
    assert run.returncode != 0 and "cluster gone (127.0.0.1)" in run.stderr, run.stderr[-2000:]


def test_cache_spares_the_api(clusters, tmp_path):
    alpha, beta = clusters
    path = source(tmp_path, alpha, beta, cache=True, cache_plugin="ansible.builtin.jsonfile",
                  cache_connection=str(tmp_path / "cache"), cache_timeout=600)
    first = listed(inventory(path, beta, "--list"))
    for pve in clusters:
        pve.sim.stats.reset()
    second = listed(inventory(path, beta, "--list"))
    assert second["_meta"]["hostvars"] == first["_meta"]["hostvars"]
    assert [pve.sim.stats.snapshot()["total"] for pve in clusters] == [0, 0]
    # the cache holds what the API said, never a password
    cached = "".join(path.read_text() for path in (tmp_path / "cache").iterdir())
    assert alpha.password not in cached and beta.password not in cached


def test_want_ips_from_the_agent_and_container_interfaces(clusters, tmp_path):
    alpha, beta = clusters
    api = alpha.client()
    alpha_guests = guests(alpha)
    running_vms = [g for g in alpha_guests if g["type"] == "qemu" and g["status"] == "running"]
    container = next(g for g in alpha_guests if g["type"] == "lxc" and g["status"] == "running")
    running_count = sum(1 for g in alpha_guests if g["status"] == "running" and not g.get("template"))
    with_agent = running_vms[0]
    api.nodes(with_agent["node"]).qemu(with_agent["vmid"]).config.put(agent=1)
    for pve in clusters:
        pve.sim.stats.reset()

    data = listed(inventory(source(tmp_path, alpha, beta, want_ips=True), beta, "--list"))

    by_vmid = {(v["proxmox_cluster"], v["proxmox_vmid"]): v for v in data["_meta"]["hostvars"].values()}

    def address(vmid):
        return "10.0.%d.%d" % (vmid // 256, vmid % 256)

    agent_vm = by_vmid[("alpha", with_agent["vmid"])]
    assert address(with_agent["vmid"]) in agent_vm["proxmox_ips"] and agent_vm["ansible_host"] == address(with_agent["vmid"])
    assert by_vmid[("alpha", running_vms[1]["vmid"])]["proxmox_ips"] == []  # no agent: no addresses, no error
    assert by_vmid[("alpha", container["vmid"])]["ansible_host"] == address(container["vmid"])
    # only what the option asks for: one address read per running guest, besides the one resources read
    routes = alpha.sim.stats.snapshot()["by_route"]
    reads = sum(count for route, count in routes.items() if route.endswith(("network-get-interfaces", "/interfaces")))
    assert reads == running_count and routes["GET /cluster/resources"] == 1
