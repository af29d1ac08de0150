"""PVE API methods, one module per area; each registers its routes with ``@route``."""
