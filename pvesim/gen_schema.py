"""Generate pvesim/data/api-schema.json and storage-types.json from the official data.

    python -m pvesim.gen_schema [--schema PATH] [--schema-pve84 PATH] [--storage-types PATH] [--check]

Keeps the schema entries of the routes registered in ``ROUTES`` only, without the
text meant for people (descriptions, typetext), except the descriptions of indexed
families (``net[n]``) that state the index range.  Of the ``returns`` schemas it keeps
what :mod:`pvesim.returns` checks: types, optional, properties, items, enums.
Output is deterministic (sorted keys, fixed layout), so reruns give the same file.

A second file, ``api-schema-pve8.4.json``, holds the PVE 8.4 entries of the same routes,
for scenarios with ``"pve_version": "8.4"``.  Routes PVE 8.4 does not have (the HA rules)
are left out of it: pvesim answers them with PVE's 501 in 8.4 mode.
"""

import argparse
import json
import sys
from pathlib import Path

from pvesim import registry, schema

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA = REPO.parent / "shared" / "pve-api" / "pve-api-schema.json"
DEFAULT_SCHEMA_PVE84 = REPO.parent / "shared" / "pve-api" / "pve-api-schema-pve8.4.json"
_SOURCES = {
    "9.1": "pve-api-schema.json (PVE 9.1, proxmox/pve-docs api-viewer/apidata.js); see SOURCE.md",
    "8.4": "pve-api-schema-pve8.4.json (PVE 8.4, proxmox/pve-docs stable-bookworm api-viewer/apidata.js); "
           "see SOURCE.md",
}
DEFAULT_STORAGE = REPO.parent / "shared" / "pve-api" / "storage-type-options.json"

_DROP = {"description", "typetext", "verbose_description", "format_description", "title", "renderer",
         "completion", "print_width", "instance-types", "type-property"}
_KEEP_METHOD = ("parameters", "permissions", "proxyto", "allowtoken", "protected", "returns")
_KEEP_RETURNS = ("type", "optional", "properties", "items", "additionalProperties", "enum")


def _strip(prop, name=""):
    out = {}
    for key, value in prop.items():
        if key in _DROP and not (key == "description" and name.endswith("[n]")):
            continue
        if key == "format" and isinstance(value, dict):
            value = {k: _strip(v, k) for k, v in value.items()}
        elif key == "items" and isinstance(value, dict):
            value = _strip(value)
        out[key] = value
    return out


def _strip_returns(prop, name=""):
    """The part of a ``returns`` schema the answer checker uses."""
    if not isinstance(prop, dict):
        return prop
    out = {}
    for key in _KEEP_RETURNS:
        if key not in prop:
            continue
        value = prop[key]
        if key == "properties":
            value = {n: _strip_returns(p, n) for n, p in value.items()}
        elif key in ("items", "additionalProperties"):
            value = _strip_returns(value)
        out[key] = value
    if name.endswith("[n]") and prop.get("description"):
        out["description"] = prop["description"]  # states the index range of the family
    return out


def _compact_method(info):
    out = {}
    for key in _KEEP_METHOD:
        if key not in info:
            continue
        value = info[key]
        if key == "permissions":
            value = {k: v for k, v in value.items() if k != "description"}
        elif key == "parameters":
            value = {k: v for k, v in value.items() if k != "description"}
            if "properties" in value:
                value["properties"] = {n: _strip(p, n) for n, p in value["properties"].items()}
        elif key == "returns":
            value = _strip_returns(value)
        out[key] = value
    return out


def build(schema_path=DEFAULT_SCHEMA, routes=None, version=schema.DEFAULT_VERSION):
    """The compact schema document for ``routes`` (default: every registered route) and
    the routes the official schema of ``version`` lacks.  For 9.1 a missing route is a
    pvesim bug; for 8.4 it is a route of a newer release, left out on purpose."""
    if routes is None:
        routes = registry.register_routes()
    index = schema.official_index(schema_path)
    result, missing = {}, []
    for method, template in sorted(routes):
        info = index.get(template, {}).get(method)
        if info is None:
            missing.append("%s %s" % (method, template))
            continue
        result.setdefault(template, {})[method] = _compact_method(info)
    doc = {"source": _SOURCES[version], "routes": result}
    return doc, missing


def render(doc):
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def build_storage(path=DEFAULT_STORAGE):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--schema", default=str(DEFAULT_SCHEMA))
    parser.add_argument("--schema-pve84", default=str(DEFAULT_SCHEMA_PVE84))
    parser.add_argument("--storage-types", default=str(DEFAULT_STORAGE))
    parser.add_argument("--check", action="store_true", help="only report whether the files are current")
    args = parser.parse_args(argv)
    doc, missing = build(args.schema)
    if missing:
        print("routes not in the official schema (fix them):\n  " + "\n  ".join(missing), file=sys.stderr)
    outputs = {schema.SCHEMA_FILE: render(doc)}
    if Path(args.schema_pve84).exists():
        doc84, _newer = build(args.schema_pve84, version="8.4")
        outputs[schema.SCHEMA_FILES["8.4"]] = render(doc84)
    if Path(args.storage_types).exists():
        outputs[schema.DATA_DIR / "storage-types.json"] = render(build_storage(args.storage_types))
    stale = False
    for path, text in outputs.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale = True
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                print("wrote %s" % path)
    if args.check and stale:
        print("generated data is out of date: run python -m pvesim.gen_schema", file=sys.stderr)
    return 1 if missing or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
