"""Faults on demand: failing, slow and dropped requests, failing tasks, offline nodes,
expired tickets and lost quorum.

Python API (``sim.faults``)::

    sim.faults.fail_next("/nodes/*/qemu/*/migrate", method="POST", count=2, status=595,
                         message="No route to host")
    sim.faults.add_latency(0.5, path="/cluster/resources")       # every matching request
    sim.faults.drop_next("/version", count=1)                     # close without answer
    sim.faults.fail_next_task(100, "migration aborted")           # next task on guest 100
    sim.faults.set_offline("pve2"); sim.faults.set_online("pve2")
    sim.faults.expire_tickets()
    sim.faults.lose_quorum("pve1"); sim.faults.restore_quorum("pve1")
    sim.faults.shop_unreachable(node="pve1", count=1)               # subscription checks fail
    sim.faults.storage_unreachable("10.0.0.5")                    # a storage server, or a storage id
    sim.faults.storage_reachable("10.0.0.5")
    sim.faults.set_lock(100, "backup"); sim.faults.set_lock(100, None)   # = sim.set_lock
    sim.faults.clear()

``path`` is a shell glob on the API path (``/nodes/*/status``) or a route template
(``/nodes/{node}/status``); ``method`` None matches every method, ``node`` limits a
rule to the host that receives the request.  The same actions can be given as JSON
(:meth:`Faults.apply`): scenario key ``faults``, ``PVESIM_FAULTS`` / ``--faults`` of
the CLI, and the CLI's control channel.
"""

import fnmatch
import threading
import time

from pvesim.errors import ApiError


class Faults:
    def __init__(self, sim):
        self.sim = sim
        self._lock = threading.Lock()
        self.rules = []  # dicts: kind (fail|latency|drop), path, method, node, count (None = forever), ...
        self.task_failures = {}  # vmid -> [messages], consumed by Simulator.start_task
        self.unreachable_storage = set()  # storage servers (address or name) or storage ids that do not answer

    # --- request faults ------------------------------------------------------
    def _add(self, kind, path, method, count, node, **extra):
        if count is not None and int(count) < 1:
            raise ValueError("count must be at least 1, or None for every matching request (got %r)" % (count,))
        count = None if count is None else int(count)
        rule = {"kind": kind, "path": path or "*", "method": method.upper() if method else None,
                "count": count, "node": node, **extra}
        with self._lock:
            self.rules.append(rule)
        return rule

    def fail_next(self, path="*", method=None, count=1, status=500, message="simulated failure", node=None):
        """The next ``count`` matching requests fail with ``status`` and ``message``."""
        return self._add("fail", path, method, count, node, status=int(status), message=message)

    def add_latency(self, seconds, path="*", method=None, count=None, node=None):
        """Matching requests wait ``seconds`` before they are handled (``count`` None: always)."""
        return self._add("latency", path, method, count, node, seconds=float(seconds))

    def drop_next(self, path="*", method=None, count=1, node=None):
        """The next ``count`` matching requests get their connection closed, no answer."""
        return self._add("drop", path, method, count, node)

    @staticmethod
    def _matches(rule, node, method, path, template):
        if rule["node"] and rule["node"] != node:
            return False
        if rule["method"] and rule["method"] != method:
            return False
        pattern = rule["path"]
        return pattern == template or fnmatch.fnmatchcase(path, pattern)

    def _take(self, kinds, node, method, path, template, first_only=False):
        """Matching rules of ``kinds``, with their counts consumed; with ``first_only`` only the
        oldest matching rule is taken, so overlapping rules apply one request each."""
        taken = []
        with self._lock:
            for rule in list(self.rules):
                if first_only and taken:
                    break
                if rule["kind"] in kinds and self._matches(rule, node, method, path, template):
                    taken.append(rule)
                    if rule["count"] is not None:
                        rule["count"] -= 1
                        if rule["count"] <= 0:
                            self.rules.remove(rule)
        return taken

    def http_action(self, host, method, path, template):
        """``(delay seconds, drop?)`` for a request arriving over HTTPS."""
        # latencies add up; a request is dropped once, using up only the first matching drop rule
        delay = sum(rule["seconds"] for rule in self._take(("latency",), host.name, method, path, template))
        drop = bool(self._take(("drop",), host.name, method, path, template, first_only=True))
        return delay, drop

    def before_dispatch(self, host, method, path, template):
        """Raise the failure a ``fail`` rule asks for (HTTP and in-process calls alike)."""
        # one request fails once: only the first matching rule is used up
        for rule in self._take(("fail",), host.name, method, path, template, first_only=True):
            raise ApiError(rule["status"], rule["message"])

    def shop_unreachable(self, node=None, count=None):
        """Subscription checks of ``node`` (default: every host) cannot reach the Proxmox shop, the
        next ``count`` times (None: until cleared). PUT .../subscription then fails with 500 after
        writing the new key with status ``new``, as PVE's does; POST .../subscription fails with 500."""
        return self._add("shop", "*", None, count, node)

    def shop_down(self, node):
        """For the subscription handlers: True when a check on ``node`` cannot reach the shop (consumes one)."""
        return bool(self._take(("shop",), node, None, "*", None, first_only=True))

    # --- storage servers and guest locks -----------------------------------------
    def storage_unreachable(self, target):
        """The network storage server ``target`` (its ``server``/``portal``/``monhost`` as
        storage.cfg names it) or every server of the storage with id ``target`` stops
        answering: activating such a storage fails (``storage 'x' is not online``, a PBS
        storage ``x: error fetching datastores - ...``), so ``POST /storage`` fails, and
        its status on every node is inactive.  Until :meth:`storage_reachable` or
        :meth:`clear`."""
        with self._lock:
            self.unreachable_storage.add(str(target))

    def storage_reachable(self, target):
        with self._lock:
            self.unreachable_storage.discard(str(target))

    def storage_down(self, storeid, section):
        """For the storage domain: whether storage ``storeid`` cannot be reached."""
        with self._lock:
            if not self.unreachable_storage:
                return False
            servers = {storeid}
            for key in ("server", "portal", "monhost"):
                servers.update(part.split(":")[0] if key == "portal" else part
                               for part in str(section.get(key) or "").replace(";", ",").replace(" ", ",").split(",")
                               if part)
            return bool(servers & self.unreachable_storage)

    def set_lock(self, vmid, lock=None):
        """Put ``lock`` on guest ``vmid`` (None takes it off): :meth:`pvesim.model.Simulator.set_lock`."""
        return self.sim.set_lock(vmid, lock)

    # --- task, node, ticket and quorum faults -----------------------------------
    def fail_next_task(self, vmid, message="simulated task failure"):
        """The next task started on guest ``vmid`` ends with ``message`` as its exit status."""
        with self._lock:
            self.task_failures.setdefault(int(vmid), []).append(message)

    def take_task_failure(self, task_id):
        """Called by the task engine when a task starts; the message, or None."""
        try:
            vmid = int(task_id)
        except (TypeError, ValueError):
            return None
        with self._lock:
            pending = self.task_failures.get(vmid)
            if not pending:
                return None
            message = pending.pop(0)
            if not pending:
                del self.task_failures[vmid]
            return message

    def set_offline(self, node, seconds=None):
        """Take a host offline (its endpoint drops connections); back after ``seconds`` if given."""
        with self.sim.lock:
            host = self.sim.hosts[node]
            self.sim.host_down(host)
            host.online_at = time.monotonic() + seconds if seconds else None

    def set_online(self, node):
        """Bring a host back; one that was shut down boots (its onboot guests start)."""
        with self.sim.lock:
            self.sim.power_on(self.sim.hosts[node])

    def expire_tickets(self):
        """Every ticket issued so far stops working (clients must log in again)."""
        self.sim.access.expire_all_tickets()

    # These change the simulated world, possibly from the CLI's control-channel thread:
    # under sim.lock, like every request.
    def lose_quorum(self, node=None):
        """The cluster of ``node`` (default: every cluster) loses quorum."""
        with self.sim.lock:
            for fs in self.sim.filesystems(node):
                fs.quorum_lost = True

    def restore_quorum(self, node=None):
        with self.sim.lock:
            for fs in self.sim.filesystems(node):
                fs.quorum_lost = False

    def clear(self):
        with self._lock:
            self.rules.clear()
            self.task_failures.clear()
            self.unreachable_storage.clear()

    def describe(self):
        with self._lock:
            return {"rules": [dict(r) for r in self.rules],
                    "task_failures": {str(k): list(v) for k, v in self.task_failures.items()},
                    "unreachable_storage": sorted(self.unreachable_storage)}

    # --- JSON form ----------------------------------------------------------------
    def apply(self, spec):
        """Apply one action or a list of them, each a dict with ``action`` and the keyword
        arguments of the method of that name: ``fail_next``, ``add_latency``, ``drop_next``,
        ``fail_next_task``, ``set_offline``, ``set_online``, ``expire_tickets``,
        ``lose_quorum``, ``restore_quorum``, ``shop_unreachable``, ``storage_unreachable``,
        ``storage_reachable``, ``set_lock``, ``clear``.  Example:
        ``{"action": "fail_next", "path": "/version", "status": 595, "message": "No route to host"}``.
        """
        actions = spec if isinstance(spec, list) else [spec]
        allowed = {"fail_next", "add_latency", "drop_next", "fail_next_task", "set_offline", "set_online",
                   "expire_tickets", "lose_quorum", "restore_quorum", "shop_unreachable", "storage_unreachable",
                   "storage_reachable", "set_lock", "clear"}
        for action in actions:
            args = dict(action)
            name = args.pop("action", None)
            if name not in allowed:
                raise ValueError("unknown fault action %r (known: %s)" % (name, ", ".join(sorted(allowed))))
            getattr(self, name)(**args)


def load_scenario_faults(sim, value):
    """Scenario key ``faults``: a list of fault actions, as :meth:`Faults.apply` takes them."""
    # Loaded before the server exists: keep the actions until it sets up sim.faults.
    if sim.faults is None:
        sim.faults = Faults(sim)
    sim.faults.apply(value)
