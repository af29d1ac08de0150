"""Schema data and parameter validation: PVE's checks and wording."""

import json

import pytest

from pvesim import gen_schema, schema
from pvesim.errors import ApiError
from pvesim.registry import register_routes
from pvesim.routing import ROUTES
from pvesim.testing import call, make_sim

from conftest import core_scenario


@pytest.fixture(scope="module")
def sim():
    return make_sim(core_scenario())


def errors_of(sim, method, path, /, **params):
    with pytest.raises(ApiError) as info:
        call(sim, "pve-a", method, path, **params)
    assert info.value.status == 400, info.value.message
    assert info.value.message == "Parameter verification failed."
    return info.value.errors


# --- the data files -------------------------------------------------------------------

needs_shared = pytest.mark.skipif(not gen_schema.DEFAULT_SCHEMA.exists(), reason="../shared/pve-api not present")


@needs_shared
def test_every_route_exists_in_the_official_schema():
    register_routes()
    index = schema.official_index(gen_schema.DEFAULT_SCHEMA)
    missing = ["%s %s" % key for key in sorted(ROUTES) if key[0] not in index.get(key[1], {})]
    assert not missing, "routes PVE does not have: %s" % missing


@needs_shared
def test_committed_schema_data_is_current():
    doc, missing = gen_schema.build(gen_schema.DEFAULT_SCHEMA)
    assert not missing
    committed = schema.SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == gen_schema.render(doc), "run: python -m pvesim.gen_schema"
    storage = (schema.DATA_DIR / "storage-types.json").read_text(encoding="utf-8")
    assert storage == gen_schema.render(gen_schema.build_storage())


def test_committed_schema_covers_the_core_routes():
    routes = json.loads(schema.SCHEMA_FILE.read_text(encoding="utf-8"))["routes"]
    for method, template in [("POST", "/access/ticket"), ("GET", "/version"), ("GET", "/nodes/{node}/tasks"),
                             ("GET", "/nodes/{node}/tasks/{upid}/status"), ("DELETE", "/nodes/{node}/tasks/{upid}")]:
        assert method in routes[template]
    # descriptions are stripped, except where an index range lives
    text = schema.SCHEMA_FILE.read_text(encoding="utf-8")
    assert '"typetext"' not in text


def test_generation_is_deterministic():
    if not gen_schema.DEFAULT_SCHEMA.exists():
        pytest.skip("../shared/pve-api not present")
    first = gen_schema.render(gen_schema.build(gen_schema.DEFAULT_SCHEMA)[0])
    second = gen_schema.render(gen_schema.build(gen_schema.DEFAULT_SCHEMA)[0])
    assert first == second


# --- validation through dispatch ---------------------------------------------------------

def test_unknown_parameter(sim):
    errors = errors_of(sim, "GET", "/nodes/pve-a/tasks", bogus="1")
    assert errors == {"bogus": "property is not defined in schema and the schema does not allow additional properties"}


def test_missing_required(sim):
    errors = errors_of(sim, "POST", "/access/ticket", username="root@pam")
    assert errors == {"password": "property is missing and it is not optional"}


def test_enum_minimum_and_type(sim):
    errors = errors_of(sim, "GET", "/nodes/pve-a/tasks", source="x", limit="-1", start="abc", errors="maybe")
    assert errors["source"] == "value 'x' does not have a value in the enumeration 'archive, active, all'"
    assert errors["limit"] == "value must have a minimum value of 0"
    assert errors["start"] == "type check ('integer') failed - got 'abc'"
    assert errors["errors"] == "type check ('boolean') failed - got 'maybe'"


def test_vmid_range_and_format(sim):
    # PVE checks the format before the range
    errors = errors_of(sim, "GET", "/nodes/pve-a/tasks", vmid="99")
    assert errors == {"vmid": "invalid format - value does not look like a valid VM ID\n"}
    errors = errors_of(sim, "GET", "/nodes/pve-a/tasks", vmid="1000000000")
    assert errors == {"vmid": "invalid format - value does not look like a valid VM ID\n"}


def test_bad_node_name_format(sim):
    # a method that is not proxied validates {node} like any parameter ...
    errors = errors_of(sim, "POST", "/nodes/bad_name/wakeonlan")
    assert errors == {"node": "invalid format - value does not look like a valid node name\n"}
    # ... a proxied one first looks for the node to send it to (PVE::HTTPServer::rest_handler
    # proxies before the target node validates the parameters)
    with pytest.raises(ApiError) as info:
        call(sim, "pve-a", "GET", "/nodes/bad_name/tasks")
    assert info.value.status == 500


def test_repeated_key_for_a_string_is_an_array(sim):
    errors = errors_of(sim, "GET", "/nodes/pve-a/tasks", typefilter=["a", "b"])
    assert errors == {"typefilter": "type check ('string') failed - got ARRAY"}


def test_max_length_and_requires(sim):
    errors = errors_of(sim, "POST", "/access/ticket", username="x" * 65, password="p", path="/")
    assert errors["username"] == "value may only be 64 characters long"
    assert errors["privs"] == "missing property - 'path' requires this property"


def test_priv_list_format(sim):
    errors = errors_of(sim, "POST", "/access/ticket", username="root@pam", password="rootpw", path="/",
                       privs="VM.Audit,Bogus.Priv")
    assert errors == {"privs": "invalid format - invalid privilege 'Bogus.Priv'\n"}


def test_booleans_accept_pve_spellings(sim):
    for spelling in ("1", "yes", "true", "on", "0", "no", "false", "off", True, 0):
        call(sim, "pve-a", "GET", "/nodes/pve-a/tasks", errors=spelling)


def test_unknown_path_and_method_are_501(sim):
    with pytest.raises(ApiError) as info:
        call(sim, "pve-a", "GET", "/no/such/path")
    assert (info.value.status, info.value.message) == (501, "Method 'GET /no/such/path' not implemented")
    with pytest.raises(ApiError) as info:
        call(sim, "pve-a", "PUT", "/version")
    assert info.value.status == 501


# --- the checker directly: property strings, families, formats ---------------------------

LINK_INFO = {"parameters": {"additionalProperties": 0, "properties": {
    "link[n]": {"description": "(up to 8 links supported; link0..link7)", "optional": 1, "type": "string",
                "format": {"address": {"default_key": 1, "format": "address", "type": "string"},
                           "priority": {"optional": 1, "type": "integer", "minimum": 0, "maximum": 255}}},
    "net[n]": {"description": "Specifies network interfaces.", "optional": 1, "type": "string"},
    "ip": {"optional": 1, "type": "string", "format": "ip"},
    "cidr": {"optional": 1, "type": "string", "format": "CIDR"},
    "mac": {"optional": 1, "type": "string", "format": "mac-addr"},
    "user": {"optional": 1, "type": "string", "format": "pve-userid"},
    "content": {"optional": 1, "type": "string", "format": "pve-storage-content-list"},
    "ids": {"optional": 1, "type": "string", "format": "pve-configid-list"},
    "storage": {"optional": 1, "type": "string", "format": "pve-storage-id"},
    "mail": {"optional": 1, "type": "string", "format": "email"},
    "weird": {"optional": 1, "type": "string", "format": "some-format-pvesim-does-not-know"},
    "pat": {"optional": 1, "type": "string", "pattern": "(?^:^[a-z]+$)"},
}}}


def bad(**params):
    with pytest.raises(ApiError) as info:
        schema.validate(LINK_INFO, params)
    return info.value.errors


def test_property_string_and_default_key():
    typed = schema.validate(LINK_INFO, {"link0": "10.0.0.1", "link7": "address=host-b,priority=3"})
    assert typed == {"link0": "10.0.0.1", "link7": "address=host-b,priority=3"}
    assert schema.parse_property_string(LINK_INFO["parameters"]["properties"]["link[n]"]["format"],
                                        "10.0.0.1,priority=7") == {"address": "10.0.0.1", "priority": 7}


def test_property_string_errors():
    errors = bad(link0="address=10.0.0.1,priority=300")
    assert errors == {"link0": "invalid format - format error\nlink0.priority: value must have a maximum value of 255\n"}
    errors = bad(link1="address=10.0.0.1,colour=red")
    assert errors == {"link1": "invalid format - invalid key in comma-separated list property: colour\n"}
    errors = bad(link1="priority=1")
    assert errors == {"link1": "invalid format - format error\nlink1.address: property is missing and it is not optional\n"}


def test_indexed_family_ranges():
    assert "link8" in bad(link8="10.0.0.1")  # link0..link7 only
    schema.validate(LINK_INFO, {"net31": "virtio"})
    assert "net32" in bad(net32="virtio")


def test_named_formats():
    schema.validate(LINK_INFO, {"ip": "fd00::1", "cidr": "10.0.0.0/24", "mac": "BC:24:11:00:00:01",
                                "user": "alice@pve", "content": "images,rootdir", "ids": "net0,scsi0",
                                "storage": "local-lvm", "mail": "a@example.com", "weird": "anything at all",
                                "pat": "abc"})
    assert bad(ip="300.1.1.1") == {"ip": "invalid format - value does not look like a valid IP address\n"}
    assert bad(cidr="10.0.0.0/99")["cidr"].startswith("invalid format - value does not look like a valid CIDR")
    assert "unicast MAC" in bad(mac="01:00:00:00:00:00")["mac"]
    assert bad(user="alice")["user"] == "invalid format - value 'alice' does not look like a valid user name\n"
    assert bad(content="images,music")["content"] == "invalid format - invalid content type 'music'\n"
    assert bad(ids="net0,0bad")["ids"] == "invalid format - invalid configuration ID '0bad'\n"
    assert "illegal characters" in bad(storage="-x")["storage"]
    assert bad(pat="ABC") == {"pat": "value does not match the regex pattern"}


def test_json_values_are_typed():
    info = {"parameters": {"properties": {"n": {"type": "integer"}, "f": {"type": "number", "optional": 1},
                                          "b": {"type": "boolean", "optional": 1}}}}
    assert schema.validate(info, {"n": 5, "f": 1.5, "b": True}) == {"n": 5, "f": 1.5, "b": 1}
    assert schema.validate(info, {"n": "7", "b": "off"}) == {"n": 7, "b": 0}
