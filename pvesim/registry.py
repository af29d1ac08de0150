"""What pvesim is made of, declared in one place and in order.

- :data:`HANDLER_MODULES`: the route modules; :func:`register_routes` adds their routes to
  ``pvesim.routing.ROUTES`` in this order.
- :data:`SCENARIO_KEYS`: the scenario keys of pvesim's own and their loaders, run in this
  order by ``pvesim.scenario.build`` after the hosts and guests exist.
- :data:`BOOT_HOOKS` and :data:`TICK_HOOKS`: what happens on its own when a host boots and
  at the end of every tick, in this order (``Simulator.power_on`` / ``Simulator.tick``).

Nothing registers itself on import: a module only defines what this file lists.
"""

from pvesim import access, faults, routing, schema
from pvesim.handlers import access as access_routes
from pvesim.handlers import cluster, guests, ha, nodes, resources, storage, tasks, version
from pvesim.model import Simulator

HANDLER_MODULES = (access_routes, cluster, guests, ha, nodes, resources, storage, tasks, version)

SCENARIO_KEYS = (
    ("faults", faults.load_scenario_faults),
    # groups before users, users before tokens, all before the ACLs that name them
    ("groups", access_routes.load_groups),
    ("users", access_routes.load_users),
    ("roles", access_routes.load_roles),
    ("tokens", access_routes.load_tokens),
    ("acl", access_routes.load_acl),
    ("node_addresses", cluster.load_node_addresses),
    ("host_names", cluster.load_host_names),
    ("snapshots", guests.load_snapshots),
    ("ha_rules", ha.load_rules),
    # a guest's hastate makes it an HA resource; ha_resources then replace those, and
    # ha_groups (migrated to rules in PVE 9) read the resources' groups
    ("resources", ha.load_hastate),
    ("ha_resources", ha.load_resources),
    ("ha_groups", ha.load_groups),
    ("storage", storage.load_storage),
)

# The onboot guests start before the HA manager starts the HA services (PVE's startall
# leaves HA guests to the CRM).
BOOT_HOOKS = (guests.start_onboot, ha.thaw)
TICK_HOOKS = (ha.fence_and_recover,)


def register_routes():
    """Serve the routes of :data:`HANDLER_MODULES`, in that order (again: no change)."""
    for module in HANDLER_MODULES:
        routing.register(module.routes)
    # the schema's pve-priv-list format checks against PVE's privileges
    schema.KNOWN_PRIVILEGES.update(access.VALID_PRIVILEGES)
    return routing.ROUTES


def new_simulator(time_scale=0.0):
    """An empty :class:`Simulator` with the routes served and the declared hooks."""
    register_routes()
    return Simulator(time_scale=time_scale, boot_hooks=BOOT_HOOKS, tick_hooks=TICK_HOOKS)


def load_scenario_keys(sim, scenario):
    """Run the loader of every key of :data:`SCENARIO_KEYS` that ``scenario`` has."""
    for key, loader in SCENARIO_KEYS:
        if key in scenario:
            loader(sim, scenario[key])
