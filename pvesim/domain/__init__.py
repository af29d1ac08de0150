"""What PVE does, apart from its HTTP routes: guests, storage.cfg, migration, the HA manager,
cluster resources, node power.  The route modules in ``pvesim/handlers`` call these; these
never import a route module."""
