"""PVE API methods, one module per area; each declares its routes in a ``RouteTable``
(``routes``), which ``pvesim.registry`` registers in its declared order."""
