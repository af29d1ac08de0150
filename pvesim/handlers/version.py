"""GET /version."""

from pvesim.routing import route

PVE_VERSION = "9.1.9"
PVE_RELEASE = "9.1"
# pve-manager's short git revision; a fixed value, real hosts report their build's.
PVE_REPOID = "0f6a6bd3"


@route("GET", "/version")
def version(req):
    return {"version": PVE_VERSION, "release": PVE_RELEASE, "repoid": PVE_REPOID, "console": "html5"}
