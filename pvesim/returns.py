"""Answer checking: does what a handler returns agree with the method's ``returns`` schema?

Real PVE verifies answers against ``returns`` only in its CLI (``pvesh``), with
PVE::JSONSchema::validate.  pvesim checks every answer in its own test suite
(``sim.check_returns``), so a handler that drifts from PVE's shapes fails loudly.

The check is on the JSON the client receives, so it is a little stricter than Perl's
(where ``"5"`` passes as an integer): an ``integer`` must be a JSON integer, a
``number`` an integer or float, a ``string`` a string.  Where PVE's own schema is loose
it is lenient, as PVE::JSONSchema is:

- ``additionalProperties`` absent means extra keys are allowed;
- ``optional`` properties may be absent (a ``null`` value counts as absent);
- ``type: "null"`` and an absent ``type`` accept anything (several PVE methods declare
  ``null`` and return a value);
- ``boolean`` accepts 0/1 and true/false.

Where the official schema is wrong about what real PVE sends, :data:`EXCEPTIONS` says
so, with the reason; those mismatches are not reported.
"""

import re

from pvesim import schema

# (method, template, key path glob) -> why the schema is wrong about real PVE.
# Key paths look like "data.nodelist[1].quorum_votes"; "[*]" stands for any index.
EXCEPTIONS = {
    # PVE::Corosync::parse_conf keeps every corosync.conf value as the text it read, and
    # the join information hands the nodelist on as parsed: "nodeid": "1", "quorum_votes": "1".
    ("GET", "/cluster/config/join", "data.nodelist[*].nodeid"): "corosync.conf values are strings",
    ("GET", "/cluster/config/join", "data.nodelist[*].quorum_votes"): "corosync.conf values are strings",
    # A standalone host has no corosync.conf: the totem section is undef, the answer null.
    ("GET", "/cluster/config/totem", "data"): "null without corosync.conf",
    # qemu-server foreach_volid sets size only from the drive's size option: unused disks and
    # vmstate volumes have none, and check_vm_disks_local lists them as they are.
    ("GET", "/nodes/{node}/qemu/{vmid}/migrate", "data.local_disks[*].size"): "no size for unused/vmstate volumes",
}


class ReturnsMismatch(Exception):
    """A handler's answer disagrees with the official ``returns`` schema (a pvesim bug)."""

    def __init__(self, method, template, problems):
        self.method, self.template, self.problems = method, template, problems
        text = "; ".join("%s: %s" % (path, message) for path, message in problems)
        super().__init__("answer of %s %s does not match the official returns schema: %s" % (method, template, text))


def _type_ok(ptype, value):
    if ptype in (None, "null", "any"):
        return True
    if ptype == "string":
        return isinstance(value, str)
    if ptype == "integer":
        return isinstance(value, int)  # bool is an int; dispatch has made them 0/1 already
    if ptype == "number":
        return isinstance(value, (int, float))
    if ptype == "boolean":
        return isinstance(value, bool) or (isinstance(value, int) and value in (0, 1))
    if ptype == "object":
        return isinstance(value, dict)
    if ptype == "array":
        return isinstance(value, list)
    return True  # a type pvesim does not know: accept


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def check(spec, value, path="data"):
    """Problems of ``value`` against the returns schema ``spec``: ``[(key path, text)]``."""
    problems = []
    _check(spec or {}, value, path, problems)
    return problems


def _check(spec, value, path, problems):
    ptype = spec.get("type")
    if ptype in (None, "null", "any"):
        return
    types = ptype if isinstance(ptype, list) else [ptype]
    if "null" in types and value is None:
        return
    if not any(_type_ok(t, value) for t in types):
        problems.append((path, "type check ('%s') failed - got %s %r" % ("|".join(types), _json_type(value), value)))
        return
    if spec.get("enum") and not isinstance(value, (dict, list)) and str(value) not in [str(e) for e in spec["enum"]]:
        problems.append((path, "value %r is not in the enumeration %s" % (value, ", ".join(map(str, spec["enum"])))))
    if isinstance(value, list) and isinstance(spec.get("items"), dict):
        for index, item in enumerate(value):
            _check(spec["items"], item, "%s[%d]" % (path, index), problems)
    if isinstance(value, dict):
        _check_object(spec, value, path, problems)


def _check_object(spec, value, path, problems):
    properties = spec.get("properties") or {}
    for name, prop in sorted(properties.items()):
        if name.endswith("[n]"):
            continue
        if value.get(name) is None:
            if not prop.get("optional"):
                problems.append(("%s.%s" % (path, name), "property is missing and it is not optional"))
            continue
        _check(prop, value[name], "%s.%s" % (path, name), problems)
    additional = spec.get("additionalProperties")
    for name in sorted(value):
        if name in properties:
            continue
        family = schema._lookup_property(properties, name)
        if family is not None:
            if value[name] is not None:
                _check(family, value[name], "%s.%s" % (path, name), problems)
            continue
        if additional is not None and not additional:
            problems.append(("%s.%s" % (path, name), "property is not defined in schema and the schema does not "
                                                     "allow additional properties"))
        elif isinstance(additional, dict) and value[name] is not None:
            _check(additional, value[name], "%s.%s" % (path, name), problems)


def excused(method, template, key_path):
    """The documented reason when the schema is known to be wrong at ``key_path``, else None."""
    general = re.sub(r"\[\d+\]", "[*]", key_path)
    return EXCEPTIONS.get((method, template, general))


def verify(method, template, info, answer):
    """Raise :class:`ReturnsMismatch` when ``answer`` disagrees with ``info["returns"]``."""
    spec = (info or {}).get("returns")
    if not spec:
        return
    problems = [(path, text) for path, text in check(spec, answer) if not excused(method, template, path)]
    if problems:
        raise ReturnsMismatch(method, template, problems)
