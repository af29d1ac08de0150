"""What each PVE release pvesim answers as calls itself.

``sim.pve_version`` (scenario key ``pve_version``) picks the row of :data:`RELEASES`;
``/version``, ``/nodes/{node}/version`` and ``/nodes/{node}/status`` read the same row.
"""

# pve-manager version, short git revision (a fixed value: real hosts report their build's),
# the kernel and the Debian release the PVE release runs on.
RELEASES = {
    "9.1": {"version": "9.1.9", "release": "9.1", "repoid": "0f6a6bd3", "debian": "trixie",
            "kernel_release": "6.17.2-1-pve",
            "kernel_version": "#1 SMP PREEMPT_DYNAMIC PMX 6.17.2-1 (2025-10-21T11:55Z)"},
    "8.4": {"version": "8.4.14", "release": "8.4", "repoid": "b502d23c", "debian": "bookworm",
            "kernel_release": "6.8.12-15-pve",
            "kernel_version": "#1 SMP PREEMPT_DYNAMIC PMX 6.8.12-15 (2025-09-12T11:02Z)"},
}
PVE_VERSION = RELEASES["9.1"]["version"]
PVE_RELEASE = RELEASES["9.1"]["release"]
PVE_REPOID = RELEASES["9.1"]["repoid"]


def release(sim):
    """The :data:`RELEASES` row of the PVE release ``sim`` answers as."""
    return RELEASES[sim.pve_version]
