"""The tasks API of a node: list, status, log, stop.

Tasks themselves run in the model's task engine (``Simulator.start_task`` / ``tick``).
"""

import re

from pvesim.errors import ApiError
from pvesim.routing import RouteTable

routes = RouteTable()

_UPID = re.compile(r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
                   r"([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$")


def _task(req):
    upid = req.params["upid"]
    # pve-manager PVE/API2/Tasks.pm: raise_param_exc({upid => ...}), a 400 naming the parameter
    if not _UPID.match(upid):
        raise ApiError.param({"upid": "unable to parse worker upid"})
    task = req.host.tasks.get(upid)
    if task is None:
        raise ApiError.param({"upid": "no such task"})
    return task


def _owns(identity, task):
    """pve-manager PVE/API2/Tasks.pm check_task_user: a token only owns the tasks it started;
    a user owns its own tasks and those of its tokens."""
    if "!" in task.user:
        return identity.authid in (task.user, task.user.split("!", 1)[0])
    return identity.authid == task.user


def _may_see(req, task, privilege="Sys.Audit"):
    """Owners see their tasks; others need ``privilege`` on the node (PVE's rule)."""
    if not _owns(req.identity, task) and not req.has_priv("/nodes/%s" % task.node, privilege):
        raise ApiError.forbidden("/nodes/%s" % task.node, privilege)


def _status_text(task):
    return task.exitstatus if task.status == "stopped" else "running"


def _summary(task):
    item = {"upid": task.upid, "node": task.node, "pid": task.pid, "pstart": task.pstart,
            "starttime": task.starttime, "type": task.type, "id": task.id, "user": task.user,
            "status": _status_text(task)}
    if task.endtime is not None:
        item["endtime"] = task.endtime
    return item


def _status_class(task):
    # statusfilter classes: ok, warning, error, unknown (and running for active tasks)
    if task.status != "stopped":
        return "running"
    if task.exitstatus == "OK":
        return "ok"
    if task.exitstatus and task.exitstatus.startswith("WARNINGS"):
        return "warning"
    return "error"


@routes("GET", "/nodes/{node}/tasks")
def list_tasks(req):
    p = req.params
    see_all = req.has_priv("/nodes/%s" % req.host.name, "Sys.Audit")
    source = p.get("source", "archive")
    statusfilter = None
    if p.get("statusfilter"):
        statusfilter = {s.lower() for s in re.split(r"[\s,;]+", p["statusfilter"]) if s}
    out = []
    for task in sorted(req.host.tasks.values(), key=lambda t: (t.starttime, t.pid), reverse=True):
        running = task.status != "stopped"
        if (source == "archive" and running) or (source == "active" and not running):
            continue
        if not see_all and not _owns(req.identity, task):
            continue
        if p.get("errors") and (running or task.exitstatus == "OK"):
            continue
        if p.get("typefilter") and task.type != p["typefilter"]:
            continue
        if p.get("vmid") is not None and task.id != str(p["vmid"]):
            continue
        if p.get("userfilter") and p["userfilter"].lower() not in task.user.lower():
            continue
        if p.get("since") is not None and task.starttime < p["since"]:
            continue
        if p.get("until") is not None and task.starttime > p["until"]:
            continue
        if statusfilter is not None and _status_class(task) not in statusfilter:
            continue
        out.append(_summary(task))
    start = p.get("start", 0)
    limit = p.get("limit", 50)
    return out[start:start + limit]


@routes("GET", "/nodes/{node}/tasks/{upid}")
def task_index(req):
    _task(req)
    return [{"name": "log"}, {"name": "status"}]


@routes("GET", "/nodes/{node}/tasks/{upid}/status")
def task_status(req):
    task = _task(req)
    _may_see(req, task)
    out = {"upid": task.upid, "node": task.node, "pid": task.pid, "pstart": task.pstart,
           "starttime": task.starttime, "type": task.type, "id": task.id, "user": task.user,
           "status": task.status}
    if task.status == "stopped":
        out["exitstatus"] = task.exitstatus
    return out


@routes("GET", "/nodes/{node}/tasks/{upid}/log")
def task_log(req):
    task = _task(req)
    _may_see(req, task)
    start = req.params.get("start", 0)
    limit = req.params.get("limit", 50)
    lines = task.lines or ["no content"]
    return [{"n": n, "t": text} for n, text in enumerate(lines, start=1)][start:start + limit]


@routes("DELETE", "/nodes/{node}/tasks/{upid}")
def stop_task(req):
    task = _task(req)
    _may_see(req, task, "Sys.Modify")
    if task.status == "running":
        # PVE's worker dies on the signal with this message as its exit status.
        task.log("received interrupt")
        task.fail_with = "interrupted by signal"
        req.sim._finish(task)
    return None
