"""/cluster/resources for offline and maintenance nodes (FIDELITY row 10).

pve-manager ``API2/Cluster.pm`` ``resources`` (node ``hastate`` from the HA manager status,
storages via ``storage_check_enabled``, item order), ``API2Tools.pm`` ``extract_node_stats``.
"""

import time

from pvesim.domain.storage_config import storage_cfg
from pvesim.testing import make_sim

from helpers import api, cluster


def _nodes(sim, node="pve1"):
    return {i["node"]: i for i in api(sim, node, "GET", "/cluster/resources", type="node")}


def test_extract_node_stats_offline_node_has_no_figures():
    sim = cluster()
    sim.faults.set_offline("pve3")
    item = _nodes(sim)["pve3"]
    assert item["status"] == "offline"
    assert not {"cpu", "mem", "disk", "uptime"} & set(item)
    assert {"maxcpu", "maxmem", "maxdisk"} <= set(item)
    assert {"cpu", "mem", "disk", "uptime"} <= set(_nodes(sim)["pve1"])


def test_node_hastate_from_the_ha_manager():
    sim = cluster()
    assert "hastate" not in _nodes(sim)["pve1"]  # no HA service: no CRM, no manager status
    api(sim, "pve1", "POST", "/cluster/ha/resources", sid="vm:101")
    assert {n: i["hastate"] for n, i in _nodes(sim).items()} == {"pve1": "online", "pve2": "online",
                                                               "pve3": "online"}


def test_scenario_maintenance_node():
    sim = make_sim("example-small-drain.json")
    nodes = _nodes(sim, "pve01")
    assert nodes["pve03"]["hastate"] == "maintenance" and nodes["pve01"]["hastate"] == "online"


def test_maintenance_node_is_drained_of_ha_services():
    sim = cluster()
    api(sim, "pve1", "POST", "/cluster/ha/resources", sid="vm:100")
    sim.hosts["pve1"].ha_maintenance = True
    api(sim, "pve2", "GET", "/version")  # a CRM round
    assert sim.guest(100).node in ("pve2", "pve3") and sim.guest(101).node == "pve1"


def test_storage_check_enabled_leaves_disabled_storages_out():
    sim = cluster()
    storage_cfg(sim.hosts["pve1"].fs)["local-lvm"]["disable"] = 1
    storages = {i["storage"] for i in api(sim, "pve1", "GET", "/cluster/resources", type="storage")}
    assert storages == {"local"}


def test_item_order_as_api2_cluster_pm():
    sim = cluster()
    sim.guest(100).pool = "prod"
    sim.guest(100).uptime_since = time.time() - 100
    sim.hosts["pve1"].fs.pools["prod"] = {}
    types = [i["type"] for i in api(sim, "pve1", "GET", "/cluster/resources")]
    order = ["pool", "qemu", "lxc", "node", "storage", "sdn"]
    firsts = [t for i, t in enumerate(types) if t not in types[:i]]
    assert firsts == order
    pool = [i for i in api(sim, "pve1", "GET", "/cluster/resources") if i["type"] == "pool"][0]
    assert pool["id"] == "/pool/prod" and pool["maxmem"] == sim.guest(100).maxmem  # running members add up
