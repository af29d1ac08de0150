"""Answers agree with the official ``returns`` schemas (pvesim.returns)."""

import json
import re
from pathlib import Path

import pytest

from pvesim import returns, schema, testing
from pvesim.errors import ApiError
from pvesim.registry import register_routes
from pvesim.routing import ROUTES, Identity
from pvesim.testing import call, make_sim


def problems(spec, value):
    return dict(returns.check(spec, value))


# --- the checker ------------------------------------------------------------------------

OBJ = {"type": "object", "properties": {
    "vmid": {"type": "integer"},
    "name": {"type": "string", "optional": 1},
    "cpu": {"type": "number", "optional": 1},
    "template": {"type": "boolean", "optional": 1},
    "status": {"type": "string", "enum": ["running", "stopped"], "optional": 1},
    "net[n]": {"type": "string", "optional": 1, "description": "Network device (n is 0 to 31)."},
}}


def test_integers_must_be_json_integers():
    assert problems(OBJ, {"vmid": 100}) == {}
    assert problems(OBJ, {"vmid": "100"}) == {"data.vmid": "type check ('integer') failed - got string '100'"}
    assert "data.vmid" in problems(OBJ, {"vmid": 1.5})


def test_numbers_strings_and_booleans():
    assert problems(OBJ, {"vmid": 1, "cpu": 0, "template": 1, "name": "web"}) == {}
    assert problems(OBJ, {"vmid": 1, "cpu": 0.25, "template": False}) == {}
    found = problems(OBJ, {"vmid": 1, "cpu": "0.2", "template": 2, "name": 7})
    assert set(found) == {"data.cpu", "data.template", "data.name"}


def test_required_properties_and_optional_ones():
    assert problems(OBJ, {}) == {"data.vmid": "property is missing and it is not optional"}
    assert problems(OBJ, {"vmid": None}) == {"data.vmid": "property is missing and it is not optional"}
    assert problems(OBJ, {"vmid": 1, "name": None}) == {}  # an optional null counts as absent


def test_enums_arrays_and_families():
    assert "data.status" in problems(OBJ, {"vmid": 1, "status": "paused"})
    listing = {"type": "array", "items": OBJ}
    assert problems(listing, [{"vmid": 1}, {"vmid": 2}]) == {}
    assert set(problems(listing, [{"vmid": 1}, {"vmid": "2"}])) == {"data[1].vmid"}
    assert "data" in problems(listing, {"vmid": 1})
    # net0 is checked as a member of the net[n] family; net99 is beyond it (extra key, allowed)
    assert set(problems(OBJ, {"vmid": 1, "net0": 5})) == {"data.net0"}
    assert problems(OBJ, {"vmid": 1, "net99": 5}) == {}


def test_lenient_where_pve_is():
    assert problems({"type": "null"}, "UPID:...") == {}
    assert problems({}, {"anything": 1}) == {}
    assert problems(OBJ, {"vmid": 1, "extra": [1]}) == {}  # additionalProperties absent: allowed
    closed = dict(OBJ, additionalProperties=0)
    assert set(problems(closed, {"vmid": 1, "extra": 1})) == {"data.extra"}


# --- in the pipeline --------------------------------------------------------------------

@pytest.fixture
def sim():
    return make_sim({"root_password": "pw", "resources": [{"type": "node", "node": "pve-a", "status": "online"}]})


def test_a_drifting_handler_fails_loudly(sim, monkeypatch):
    register_routes()
    monkeypatch.setitem(ROUTES, ("GET", "/version"), lambda req: {"version": "9.1.1", "release": 9, "repoid": "x"})
    sim.check_returns = True
    with pytest.raises(returns.ReturnsMismatch) as info:
        call(sim, "pve-a", "GET", "/version")
    assert "GET /version" in str(info.value) and "data.release" in str(info.value)
    sim.check_returns = False
    assert call(sim, "pve-a", "GET", "/version")["release"] == 9


def test_the_test_suite_checks_answers(sim):
    assert sim.check_returns  # tests/pvesim/conftest.py sets PVESIM_CHECK_RETURNS=1


def test_documented_exceptions_name_served_routes_and_schema_keys():
    register_routes()
    for (method, template, key_path), reason in returns.EXCEPTIONS.items():
        assert (method, template) in ROUTES and reason
        spec = schema.method_info(template, method)["returns"]
        for part in re.findall(r"\.([\w-]+)", key_path):
            spec = spec.get("items", spec) if spec.get("type") == "array" else spec
            spec = spec["properties"][part]  # the exception names a key the schema has


# --- every GET pvesim serves, on a cluster and on a standalone host -----------------------

EXTRA_PARAMS = {"/nodes/{node}/rrddata": {"timeframe": "hour"}}


def _fill(sim, node, template):
    fs = sim.hosts[node].fs
    guests = sorted((g for g in fs.guests.values() if g.node == node), key=lambda g: g.vmid)
    kind = "lxc" if "/lxc/" in template else "qemu"
    guest = next((g for g in guests if g.type == kind and g.snapshots), None) or \
        next((g for g in guests if g.type == kind), None)
    values = {"node": node, "storage": next(iter(fs.storage), "local"), "vmid": "999", "snapname": "none"}
    if guest is not None:
        values["vmid"] = str(guest.vmid)
        values["snapname"] = next(iter(guest.snapshots), "none")
    tasks = list(sim.hosts[node].tasks)
    values["upid"] = tasks[-1] if tasks else "none"
    values["sid"] = next(iter(sorted(fs.ha_resources)), "vm:1")
    values["rule"] = next(iter(sorted(fs.ha_rules)), "none")
    values["group"] = next(iter(sorted(fs.ha_groups)), "none")
    values["poolid"] = next(iter(sorted(fs.pools)), "none")
    values.update(userid="root@pam", tokenid=next(iter(sorted((fs.users.get("root@pam") or {}).get("tokens") or {})),
                                                  "none"),
                  groupid=next(iter(sorted(fs.groups)), "none"), roleid="PVEAuditor")
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def _pve84(name):
    """A shared scenario as PVE 8.4 would hold it: HA groups instead of rules."""
    data = json.loads((Path(testing.__file__).parent / "scenarios" / name).read_text(encoding="utf-8"))
    data.pop("ha_rules", None)
    data["pve_version"] = "8.4"
    data["ha_groups"] = [{"group": "g1", "nodes": "pve02:2,pve03", "restricted": 1}]
    sids = ["%s:%d" % ("vm" if r["type"] == "qemu" else "ct", r["vmid"]) for r in data["resources"] if r.get("hastate")]
    data["ha_resources"] = [{"sid": sid, "group": "g1"} for sid in sids[:3]]
    return data


@pytest.mark.parametrize("scenario, cluster_name, user", [("example-medium-rules.json", "lab", None),
                                                          ("example-medium-rules.json", "lab", "vmuser@pve"),
                                                          ("example-standalone-3.json", None, None),
                                                          ("8.4:example-medium-rules.json", "lab", None)])
def test_every_get_answer_matches_the_schema(scenario, cluster_name, user):
    """As root, as a user who may see one guest only (lists shrink, load figures go), and
    as PVE 8.4 (its own schema, HA groups)."""
    register_routes()
    if scenario.startswith("8.4:"):
        scenario = _pve84(scenario[4:])
    sim = make_sim(scenario, cluster_name=cluster_name)
    assert sim.check_returns
    node = sorted(sim.hosts)[0]
    fs = sim.hosts[node].fs
    # something in every area: a task, a snapshot on a VM and a CT of this node
    for kind in ("qemu", "lxc"):
        guest = next((g for g in sorted(fs.guests.values(), key=lambda g: g.vmid)
                      if g.node == node and g.type == kind), None)
        if guest is not None:
            call(sim, node, "POST", "/nodes/%s/%s/%d/snapshot" % (node, kind, guest.vmid), snapname="sweep")
    identity = None
    if user:
        vmid = min(g.vmid for g in fs.guests.values() if g.node == node)
        fs.users[user] = {"password": "pw", "enable": 1, "expire": 0, "groups": [], "tokens": {}}
        fs.acl.append({"path": "/vms/%d" % vmid, "type": "user", "ugid": user, "roleid": "PVEVMUser", "propagate": 1})
        identity = Identity(user)
    checked = 0
    for method, template in sorted(ROUTES):
        if method != "GET":
            continue
        path = _fill(sim, node, template)
        try:
            call(sim, node, "GET", path, identity=identity, **EXTRA_PARAMS.get(template, {}))
        except ApiError as err:
            print("not checked: GET %s: %s %s" % (path, err.status, err.message))
            continue  # refused or not found here: nothing to check
        checked += 1
    assert checked > (15 if user else 40)
