"""Routes, scenario keys and hooks are registered in the order pvesim.registry declares,
never as a side effect of importing a module."""

import os
import subprocess
import sys

from pvesim import registry, routing
from pvesim.testing import call, make_sim

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_importing_every_pvesim_module_registers_nothing():
    code = (
        "import importlib, pkgutil, pvesim\n"
        "names = [i.name for i in pkgutil.walk_packages(pvesim.__path__, 'pvesim.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "from pvesim import registry, routing, schema\n"
        "assert {'pvesim.handlers.nodes', 'pvesim.registry', 'pvesim.testing'} <= set(names), names\n"
        "assert routing.ROUTES == {} and schema.KNOWN_PRIVILEGES == set()\n"
        "registry.register_routes()\n"
        "assert routing.ROUTES and schema.KNOWN_PRIVILEGES\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_routes_are_served_in_the_declared_module_order():
    registry.register_routes()
    declared = [(method, template) for module in registry.HANDLER_MODULES
                for method, template, _handler in module.routes.entries]
    assert list(routing.ROUTES) == declared
    assert len(set(declared)) == len(declared)
    registry.register_routes()  # again: nothing changes, nothing is registered twice
    assert list(routing.ROUTES) == declared


def test_a_route_defined_twice_is_refused():
    table = routing.RouteTable()
    table.add("GET", "/version", lambda req: None)
    try:
        routing.register(table)
    except RuntimeError as err:
        assert "route registered twice: GET /version" in str(err)
    else:
        raise AssertionError("a second GET /version was accepted")


def test_every_simulator_gets_the_declared_hooks_in_order():
    sim = make_sim({"resources": [{"type": "node", "node": "pve1"}]})
    assert sim.boot_hooks == list(registry.BOOT_HOOKS)
    assert sim.tick_hooks == list(registry.TICK_HOOKS)
    ran = []
    sim.boot_hooks = [lambda sim, host: ran.append("first"), lambda sim, host: ran.append("second")]
    sim.tick_hooks = [lambda sim: ran.append("tick")]
    call(sim, "pve1", "POST", "/nodes/pve1/status", command="reboot")  # time scale 0: back at the next tick
    ran.clear()
    sim.tick()
    assert ran == ["first", "second", "tick"]


def test_scenario_keys_load_in_the_declared_order(monkeypatch):
    loaded = []

    def recording(key, loader):
        def load(sim, value):
            loaded.append(key)
            loader(sim, value)
        return load

    monkeypatch.setattr(registry, "SCENARIO_KEYS",
                        tuple((key, recording(key, loader)) for key, loader in registry.SCENARIO_KEYS))
    scenario = {
        "resources": [{"type": "node", "node": "pve1"}, {"type": "node", "node": "pve2"},
                      {"type": "qemu", "vmid": 100, "node": "pve1", "hastate": "started"}],
        "cluster_name": "c",
        # given in another order than the declared one
        "storage": [{"storage": "local", "type": "dir", "path": "/var/lib/vz"}],
        "acl": [], "tokens": [], "users": [], "groups": [], "roles": {},
        "ha_resources": [{"sid": "vm:100"}], "ha_rules": [], "snapshots": {},
        "host_names": {}, "node_addresses": {}, "faults": [],
    }
    make_sim(scenario)
    assert loaded == [key for key, _loader in registry.SCENARIO_KEYS if key in scenario]
    assert loaded[0] == "faults" and loaded.index("resources") < loaded.index("ha_resources")
