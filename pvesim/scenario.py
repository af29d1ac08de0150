"""Build a :class:`~pvesim.model.Simulator` from a scenario file.

The format is ``shared/scenarios/FORMAT.md``: ``resources`` as ``/cluster/resources``
returns them, optional ``cluster_name``, ``cpuinfo``, ``root_password``, ``ha_rules``
and ``maintenance``.  pvesim reads a few keys of its own too (``users``, ``tokens``,
``acl``, ``storage``, ``snapshots``, ``faults``, ``ha_groups``), each handled by a loader of
the area owning it, run in the order ``pvesim.registry.SCENARIO_KEYS`` declares, and
``pve_version`` (``"9.1"``, the default, or ``"8.4"``), the release pvesim answers as, read
here before the loaders run.
"""

import json
import os
import secrets

from pvesim import registry, schema
from pvesim.model import ClusterFS, Guest, Host

# A PVE-like Intel host, used for nodes whose CPU the scenario does not give.
DEFAULT_CPUINFO = {
    "model": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
    "vendor": "GenuineIntel",
    "family": "6",
    "sockets": 1,
    "cores": 8,
    "cpus": 8,
    "mhz": "2100.000",
    "hvm": "1",
    "user_hz": 100,
    "flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 "
    "ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq vmx ssse3 fma "
    "cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor "
    "lahf_lm abm 3dnowprefetch fsgsbase bmi1 hle avx2 smep bmi2 erms invpcid rtm avx512f avx512dq rdseed adx "
    "smap clflushopt clwb avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves arat pku ospke "
    "avx512_vnni md_clear arch_capabilities",
}


PACKAGED_SCENARIOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios")
SHARED_SCENARIOS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "shared", "scenarios")


def find(name):
    """A scenario path: as given when it exists, else a file name in pvesim/scenarios, else in ../shared."""
    name = str(name)
    for candidate in (name, os.path.join(PACKAGED_SCENARIOS, name), os.path.join(SHARED_SCENARIOS, name)):
        if os.path.exists(candidate):
            return candidate
    raise FileNotFoundError("no scenario %r (looked in %s and %s)" % (name, PACKAGED_SCENARIOS, SHARED_SCENARIOS))


def load_file(path, **kwargs):
    with open(find(path), encoding="utf-8") as handle:
        return build(json.load(handle), **kwargs)


def build(scenario, time_scale=0.0, address_of=None, port=8006, cluster_name=None):
    """Create the simulator a scenario describes.

    ``address_of(index)`` gives the loopback address of the index-th host
    (default ``127.0.0.<index + 2>``); every host listens on ``port``.
    """
    address_of = address_of or (lambda index: "127.0.0.%d" % (index + 2))
    sim = registry.new_simulator(time_scale=time_scale)
    sim.root_password = scenario.get("root_password") or secrets.token_urlsafe(12)
    sim.pve_version = str(scenario.get("pve_version") or schema.DEFAULT_VERSION)
    if sim.pve_version not in schema.SCHEMA_FILES:
        raise ValueError("pve_version %r: pvesim answers as PVE %s" % (sim.pve_version, " or ".join(schema.SCHEMA_FILES)))
    name = cluster_name if cluster_name is not None else scenario.get("cluster_name")

    resources = scenario.get("resources", [])
    node_items = [r for r in resources if r.get("type") == "node"]
    shared = ClusterFS(cluster_name=name) if name else None
    for index, item in enumerate(node_items):
        fs = shared or ClusterFS()
        host = Host(name=item["node"], address=address_of(index), port=port, fs=fs)
        host.maxcpu = int(item.get("maxcpu", host.maxcpu))
        host.maxmem = int(item.get("maxmem", host.maxmem))
        host.maxdisk = int(item.get("maxdisk", host.maxdisk))
        host.disk = int(item.get("disk", host.disk))
        host.online = item.get("status", "online") == "online"
        cpuinfo = dict(DEFAULT_CPUINFO)
        cpuinfo.update({"cpus": host.maxcpu, "cores": host.maxcpu})
        cpuinfo.update((scenario.get("cpuinfo") or {}).get(host.name, {}))
        host.cpuinfo = cpuinfo
        sim.hosts[host.name] = host

    if shared is not None:
        for nodeid, host in enumerate(sim.hosts.values(), start=1):
            shared.corosync_nodes[host.name] = {
                "name": host.name, "nodeid": nodeid, "quorum_votes": 1, "ring0_addr": host.address,
            }
        shared.totem = {"cluster_name": name, "config_version": len(sim.hosts), "interface": {"0": {"linknumber": "0"}},
                        "ip_version": "ipv4-6", "link_mode": "passive", "secauth": "on", "version": "2"}
        shared.config_version = len(sim.hosts)

    for item in resources:
        if item.get("type") not in ("qemu", "lxc"):
            continue
        host = sim.hosts.get(item.get("node"))
        if host is None:
            raise ValueError("guest %s is on unknown node %r" % (item.get("vmid"), item.get("node")))
        guest = Guest(
            vmid=int(item["vmid"]), type=item["type"], node=host.name, name=item.get("name", ""),
            status=item.get("status", "stopped"), maxcpu=int(item.get("maxcpu", 1)), cpu=float(item.get("cpu", 0)),
            maxmem=int(item.get("maxmem", 0)), mem=int(item.get("mem", 0)), maxdisk=int(item.get("maxdisk", 0)),
            disk=int(item.get("disk", 0)), tags=item.get("tags"), pool=item.get("pool"),
            template=int(item.get("template", 0) or 0),
            lock=item.get("lock") or None,  # /cluster/resources reports a guest's config lock
            # a guest that runs is one that comes back after its node boots
            onboot=int(item.get("onboot", item.get("status") == "running")),
        )
        host.fs.guests[guest.vmid] = guest

    # A node's scenario figures are host-wide; what its guests do not explain is the host's own.
    for item in node_items:
        host = sim.hosts[item["node"]]
        guest_mem = sum(g.used_mem() for g in host.guests())
        guest_cores = sum(g.used_cores() for g in host.guests())
        host.base_mem = max(int(item.get("mem", 0)) - guest_mem, 1024 ** 3)
        host.base_cpu = max(float(item.get("cpu", 0)) * host.maxcpu - guest_cores, 0.0) / host.maxcpu or 0.01

    registry.load_scenario_keys(sim, scenario)
    return sim
