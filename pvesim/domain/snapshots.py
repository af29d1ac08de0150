"""Guest snapshots: taking, removing and rolling back, and the config a snapshot saved.

``Guest.snapshots`` maps a name to a :class:`~pvesim.model.Snapshot`; ``Guest.parent`` is
the snapshot the current state derives from.  A snapshot's ``config`` is the guest config
as it was, plus pvesim's own ``_running`` (whether the guest ran, for a RAM snapshot).
"""

import copy
import re
import time

from pvesim.domain.guests import set_running, sync_figures
from pvesim.errors import ApiError
from pvesim.model import Snapshot

_CONFIGID_RE = re.compile(r"^[a-z][a-z0-9_-]+$", re.I)


def check_snapname(name):
    """PVE's pve-configid check on a new snapshot name."""
    if len(name) > 40:
        raise ApiError.param({"snapname": "value may only be 40 characters long"})
    if not _CONFIGID_RE.match(name):
        raise ApiError.param({"snapname": "invalid format - invalid configuration ID '%s'\n" % name})


def snapshot_of(guest, name):
    """The snapshot ``name`` of the guest, with PVE's error when there is none."""
    snap = guest.snapshots.get(name)
    if snap is None:
        raise ApiError(500, "snapshot '%s' does not exist" % name)
    return snap


def saved_config(guest, snap):
    """The config section a snapshot saved, with its snapshot keys (pvesim's own ``_`` keys left out)."""
    answer = {k: v for k, v in snap.config.items() if not k.startswith("_")}
    answer["snaptime"] = snap.snaptime
    if snap.description:
        answer["description"] = snap.description
    if snap.parent:
        answer["parent"] = snap.parent
    if snap.vmstate:
        answer["vmstate"] = "local:%d/vm-%d-state-%s.raw" % (guest.vmid, guest.vmid, snap.name)
    return answer


def take(guest, name, description, vmstate):
    """Save the guest's current config as snapshot ``name``, the new parent of its state."""
    snap = Snapshot(name=name, description=description, snaptime=int(time.time()), vmstate=vmstate,
                    parent=guest.parent, config=copy.deepcopy(guest.config))
    snap.config["_running"] = int(guest.running)
    guest.snapshots[name] = snap
    guest.parent = name


def remove(guest, name):
    """Drop snapshot ``name``; its children and the current state take its parent."""
    snap = guest.snapshots.pop(name)
    for other in guest.snapshots.values():
        if other.parent == name:
            other.parent = snap.parent
    if guest.parent == name:
        guest.parent = snap.parent


def roll_back(sim, guest, snap, start):
    """Restore the config ``snap`` saved.  A RAM snapshot resumes where it was; otherwise
    ``start`` decides whether the guest runs."""
    config = copy.deepcopy(snap.config)
    was_running = config.pop("_running", 0)
    guest.config = config
    guest.parent = snap.name
    sync_figures(sim, guest)
    set_running(guest, bool(snap.vmstate and was_running) or start)


def load_snapshots(sim, value):
    """Scenario ``snapshots``: ``{vmid: [{name, description, snaptime, vmstate, parent}, ...]}``
    in creation order; the last one listed is the current state's parent."""
    guests = {}
    for host in sim.hosts.values():
        guests.update(host.fs.guests)
    for vmid, snaps in value.items():
        guest = guests.get(int(vmid))
        if guest is None:
            raise ValueError("snapshots for unknown guest %s" % vmid)
        previous = None
        for raw in snaps:
            snap = Snapshot(name=raw["name"], description=raw.get("description", ""),
                            snaptime=int(raw.get("snaptime", time.time())), vmstate=int(raw.get("vmstate", 0)),
                            parent=raw.get("parent", previous))
            guest.snapshots[snap.name] = snap
            previous = snap.name
        guest.parent = previous
