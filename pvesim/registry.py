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
from pvesim.domain import (cluster_options, cpu_models, guests, ha_config, ha_manager, nodes, pools, snapshots,
                           storage_config)
from pvesim.handlers import access as access_routes
from pvesim.handlers import cluster_options as cluster_option_routes
from pvesim.handlers import (cluster, guest_agent, guest_config, guest_migration, guest_power, guest_snapshots, ha,
                             resources, storage, tasks, version)
from pvesim.handlers import pools as pool_routes
from pvesim.handlers import nodes as node_routes
from pvesim.model import Simulator

HANDLER_MODULES = (access_routes, cluster, cluster_option_routes, guest_config, guest_power, guest_snapshots,
                   guest_migration, guest_agent, ha, node_routes, pool_routes, resources, storage, tasks, version)

SCENARIO_KEYS = (
    # first, as before this list existed (pvesim.faults was imported before the handlers):
    # the fault actions need nothing the other keys build
    ("faults", faults.load_scenario_faults),
    # groups before users, users before tokens, all before the ACLs that name them
    ("groups", access.load_groups),
    ("users", access.load_users),
    ("roles", access.load_roles),
    ("tokens", access.load_tokens),
    ("acl", access.load_acl),
    ("node_addresses", nodes.load_node_addresses),
    ("host_names", nodes.load_host_names),
    # the architecture first: an aarch64 node's cpuinfo is checked against it
    ("node_arch", nodes.load_node_arch),
    ("cpuinfo", nodes.load_cpuinfo),
    ("custom_cpu_models", cpu_models.load_custom_cpu_models),
    ("snapshots", snapshots.load_snapshots),
    ("guest_addresses", guests.load_guest_addresses),
    ("ha_rules", ha_config.load_rules),
    # a guest's hastate makes it an HA resource; ha_resources then replace those, and
    # ha_groups (migrated to rules in PVE 9) read the resources' groups
    ("resources", ha_config.load_hastate),
    ("ha_resources", ha_config.load_resources),
    ("ha_groups", ha_config.load_groups),
    ("maintenance", ha_manager.load_maintenance),
    ("cluster_options", cluster_options.load_cluster_options),
    ("resources", pools.load_pools),
    ("storage", storage_config.load_storage),
)

# The onboot guests start before the HA manager starts the HA services (PVE's startall
# leaves HA guests to the CRM).
BOOT_HOOKS = (guests.start_onboot, ha_manager.thaw)
# Fencing and recovery first, then the CRM's round (queued migrations, misplaced services).
TICK_HOOKS = (ha_manager.fence_and_recover, ha_manager.crm_round)


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
