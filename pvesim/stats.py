"""Request accounting: how many API requests each host got, per method and route.

Benchmarks read it to report requests per module run: ``sim.stats.snapshot()``,
``sim.stats.reset()``, ``sim.stats.dump(path)``; a running ``python -m pvesim`` keeps
``<state-dir>/stats.json`` current and serves it on its control channel.
"""

import json
import os
import threading
from collections import Counter


class RequestStats:
    def __init__(self):
        self._lock = threading.Lock()
        self._counts = Counter()  # (node, method, template, status) -> n
        self.generation = 0  # bumps on every change, lets writers skip unchanged dumps

    def record(self, node, method, template, status):
        """Count one request; ``template`` is the route template (or raw path when unknown),
        ``status`` the HTTP status (0 for a dropped connection)."""
        with self._lock:
            self._counts[(node, method, template, int(status))] += 1
            self.generation += 1

    def reset(self):
        with self._lock:
            self._counts.clear()
            self.generation += 1

    def snapshot(self):
        """``{"total", "errors", "by_host": {node: n}, "by_route": {"GET /x": n},
        "by_host_route": {node: {"GET /x": n}}, "by_status": {"200": n}}``."""
        with self._lock:
            items = list(self._counts.items())
        out = {"total": 0, "errors": 0, "by_host": {}, "by_route": {}, "by_host_route": {}, "by_status": {}}
        for (node, method, template, status), n in sorted(items):
            key = "%s %s" % (method, template)
            out["total"] += n
            if status != 200:
                out["errors"] += n
            out["by_host"][node] = out["by_host"].get(node, 0) + n
            out["by_route"][key] = out["by_route"].get(key, 0) + n
            per_host = out["by_host_route"].setdefault(node, {})
            per_host[key] = per_host.get(key, 0) + n
            out["by_status"][str(status)] = out["by_status"].get(str(status), 0) + n
        return out

    def count(self, method=None, template=None, node=None):
        """Requests matching the given method / route template / node."""
        with self._lock:
            return sum(n for (h, m, t, _s), n in self._counts.items()
                       if (method is None or m == method) and (template is None or t == template)
                       and (node is None or h == node))

    def dump(self, path):
        """Write the snapshot as JSON (atomically: readers never see half a file)."""
        tmp = "%s.tmp%d" % (path, os.getpid())
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.snapshot(), handle, indent=1, sort_keys=True)
        os.replace(tmp, path)
