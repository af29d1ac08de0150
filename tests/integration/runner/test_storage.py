"""The storage module for every storage type PVE 9 offers, run by ansible-playbook against pvesim.

Each phase is one playbook looping over the types; between phases the storage configuration is read
back through the API: check mode changes nothing, a second run changes nothing, bad input is refused
before any write.
"""

import json

import pytest
import yaml
from conftest import STANDALONE_3, connection_vars, run_playbook

from pvesim.testing import running

SECRET = "storage-secret-Zq8"  # every password of this test: it must never reach the output

# type -> (options to create it, an update PVE allows, the value the update leaves in storage.cfg, bad input -> the option named)
TYPES = {
    "dir": ({"path": "/srv/dir1", "content": ["images", "iso"]}, {"content": ["iso", "images", "backup"]},
            ("content", {"images", "iso", "backup"}), ({"path": "/srv/d 2"}, "path")),
    "btrfs": ({"path": "/srv/btrfs1"}, {"nocow": True}, ("nocow", 1), ({"content": ["images", "cdrom"]}, "content")),
    "nfs": ({"server": "10.10.0.50", "export": "/srv/nfs", "content": ["backup"]}, {"options": "vers=4.2"},
            ("options", "vers=4.2"), ({"vgname": "vg0"}, "vgname")),
    "cifs": ({"server": "10.10.0.51", "share": "pve", "username": "svc", "password": SECRET}, {"domain": "LAB"},
             ("domain", "LAB"), ({"smbversion": "3.0", "export": "/x"}, "export")),
    "iscsi": ({"portal": "10.10.0.52", "target": "iqn.2026-01.lab:t1"}, {"nodes": ["pve-a"]}, ("nodes", {"pve-a"}),
              ({"content": ["rootdir"]}, "content")),
    "iscsidirect": ({"portal": "10.10.0.53", "target": "iqn.2026-01.lab:t2"}, {"disable": True}, ("disable", 1),
                    ({"path": "/x"}, "path")),
    "lvm": ({"vgname": "vg-data", "content": ["images", "rootdir"]}, {"saferemove": True}, ("saferemove", 1),
            ({"thinpool": "data"}, "thinpool")),
    "lvmthin": ({"vgname": "pve", "thinpool": "data2"}, {"content": ["rootdir"]}, ("content", {"rootdir"}),
                ({"content": ["backup"]}, "content")),
    "zfspool": ({"pool": "tank/vm"}, {"sparse": True}, ("sparse", 1), ({"format": "qcow2"}, "format")),
    "zfs": ({"pool": "tank", "portal": "10.10.0.54", "target": "iqn.2026-01.lab:zfs", "iscsiprovider": "LIO",
             "blocksize": "8k", "lio_tpg": "tpg1"}, {"nowritecache": True}, ("nowritecache", 1),
            ({"server": "10.0.0.1"}, "server")),
    "rbd": ({"pool": "rbd", "monhost": "10.10.0.61 10.10.0.62", "username": "admin", "keyring": SECRET},
            {"krbd": True}, ("krbd", 1), ({"fuse": True}, "fuse")),
    "cephfs": ({"monhost": "10.10.0.61", "username": "admin", "keyring": SECRET, "content": ["backup", "iso"]},
               {"fuse": True}, ("fuse", 1), ({"content": ["images"]}, "content")),
    "pbs": ({"server": "10.10.0.70", "datastore": "store1", "username": "backup@pbs", "password": SECRET},
            {"namespace": "lab"}, ("namespace", "lab"), ({"prune_backups": {"keep_all": True, "keep_last": 3}}, "prune_backups")),
    "esxi": ({"server": "10.10.0.80", "username": "root", "password": SECRET, "skip_cert_verification": True},
             {"port": 8443}, ("port", 8443), ({"port": 70000}, "port")),
}


def storage_id(kind):
    return "st-%s" % kind


def phase_playbook(tmp_path, name, items, check=False):
    """One task looping over (storage name, options) items, each given as the module's options."""
    task = {"name": name, "proxops.proxmox.storage": "{{ item }}", "loop": items, "ignore_errors": True,
            "loop_control": {"label": "{{ item.name }}"}}
    if check:
        task["check_mode"] = True
    play = {"hosts": "localhost", "gather_facts": False, "tasks": [task], "module_defaults": {"group/proxops.proxmox.proxmox": {
        "api_host": "{{ pve_nodes['pve-a'] }}", "api_port": "{{ pve_api_port }}", "api_password": "{{ pve_root_password }}",
        "ca_path": "{{ pve_ca_path }}"}}}
    path = tmp_path / ("%s.yml" % name)
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return str(path)


def run_phase(pve, tmp_path, name, items, check=False, diff=True):
    run = run_playbook(phase_playbook(tmp_path, name, items, check=check), connection_vars(pve), tmp_path, diff=diff)
    results = run.task(name).get("results", [])
    assert len(results) == len(items), run.output[-3000:]
    # the loop echoes each item as given (the test's own input); everything the module says must be clean
    said = [{key: value for key, value in result.items() if key != "item"} for result in results]
    assert SECRET not in json.dumps(said) and SECRET not in run.stderr
    return {result["item"]["name"]: result for result in results}


def api_storages(pve):
    """storage.cfg as the API shows it: id -> config."""
    return {item["storage"]: item for item in pve.client("pve-a").storage.get()}


@pytest.fixture(scope="module")
def pve():
    with running(STANDALONE_3) as handle:
        yield handle


def item(kind, **options):
    return dict({"name": storage_id(kind), "type": kind}, **options)


def test_every_type_round_trip(pve, tmp_path):
    created = [item(kind, **spec[0]) for kind, spec in TYPES.items()]
    updated = [item(kind, **spec[1]) for kind, spec in TYPES.items()]
    names = {storage_id(kind) for kind in TYPES}
    untouched = api_storages(pve)

    # create: check mode predicts, writes nothing
    results = run_phase(pve, tmp_path, "create-check", created, check=True)
    assert all(result["changed"] and not result.get("failed") for result in results.values()), results
    assert not names & set(api_storages(pve))

    results = run_phase(pve, tmp_path, "create", created)
    failed = {name: result["msg"] for name, result in results.items() if result.get("failed")}
    assert not failed, failed
    assert all(result["changed"] for result in results.values())
    storages = api_storages(pve)
    for kind, (options, _update, _after, _bad) in TYPES.items():
        config = storages[storage_id(kind)]
        assert config["type"] == kind
        for key in ("server", "export", "vgname", "thinpool", "portal", "target", "datastore", "pool"):
            if key in options:
                assert config[key] == options[key], (kind, key, config)
        assert "password" not in config and "keyring" not in config  # write-only
        diff_after = results[storage_id(kind)]["diff"]["after"]
        for secret in ("password", "keyring"):
            if secret in options:
                assert diff_after[secret] == "********"

    # the same again: no change, and each run read the storage once (plus the login)
    pve.sim.stats.reset()
    results = run_phase(pve, tmp_path, "create-again", created)
    assert [name for name, result in results.items() if result["changed"] or result.get("failed")] == []
    snapshot = pve.sim.stats.snapshot()["by_route"]
    assert snapshot == {"POST /access/ticket": len(TYPES), "GET /storage/{storage}": len(TYPES)}, snapshot

    # update: check mode, then for real, then again
    before = api_storages(pve)
    results = run_phase(pve, tmp_path, "update-check", updated, check=True)
    assert all(result["changed"] for result in results.values()), results
    assert api_storages(pve) == before
    results = run_phase(pve, tmp_path, "update", updated)
    assert all(result["changed"] and not result.get("failed") for result in results.values()), results
    storages = api_storages(pve)
    for kind, (_options, update, (key, value), _bad) in TYPES.items():
        shown = storages[storage_id(kind)].get(key)
        assert (set(shown.split(",")) if isinstance(value, set) else shown) == value, (kind, key, shown)
        diff = results[storage_id(kind)]["diff"]
        assert set(diff["after"]) == set(update), (kind, diff)
    results = run_phase(pve, tmp_path, "update-again", updated)
    assert [name for name, result in results.items() if result["changed"] or result.get("failed")] == []

    # bad input per type: refused before any write, naming the option
    before = api_storages(pve)
    pve.sim.stats.reset()
    results = run_phase(pve, tmp_path, "bad", [item(kind, **spec[3][0]) for kind, spec in TYPES.items()])
    for kind, (_options, _update, _after, (_bad, option)) in TYPES.items():
        result = results[storage_id(kind)]
        assert result.get("failed") and not result["changed"], (kind, result)
        assert result["msg"].startswith(option) or ("%s:" % option) in result["msg"], (kind, option, result["msg"])
    assert api_storages(pve) == before
    writes = {route: count for route, count in pve.sim.stats.snapshot()["by_route"].items()
              if not route.startswith("GET ") and route != "POST /access/ticket"}
    assert writes == {}, writes

    # delete: check mode, then for real, then again
    gone = [{"name": storage_id(kind), "state": "absent"} for kind in TYPES]
    results = run_phase(pve, tmp_path, "delete-check", gone, check=True)
    assert all(result["changed"] for result in results.values())
    assert names <= set(api_storages(pve))
    results = run_phase(pve, tmp_path, "delete", gone)
    assert all(result["changed"] and result["storage"] is None for result in results.values()), results
    results = run_phase(pve, tmp_path, "delete-again", gone)
    assert not any(result["changed"] for result in results.values())
    assert api_storages(pve) == untouched


def test_content_in_another_order_than_pve_returns_it_is_no_change(pve, tmp_path):
    """PVE keeps content and nodes in a hash: it answers in its own order, each item once."""
    options = item("dir", path="/srv/order", content=["snippets", "images", "iso", "backup", "vztmpl"], nodes=["pve-c", "pve-a", "pve-b"])
    run_phase(pve, tmp_path, "order-create", [options])
    stored = api_storages(pve)[storage_id("dir")]
    assert set(stored["content"].split(",")) == set(options["content"])
    # pvesim answers as PVE does, in its own order: a module comparing in order would see a change
    assert stored["content"].split(",") != options["content"] and stored["nodes"].split(",") != options["nodes"], stored
    reordered = dict(options, content=list(reversed(options["content"])) + ["iso"], nodes=sorted(options["nodes"]))
    results = run_phase(pve, tmp_path, "order-again", [reordered, options])
    assert [result["changed"] for result in results.values()] == [False], results
    run_phase(pve, tmp_path, "order-delete", [{"name": storage_id("dir"), "state": "absent"}])


def test_fixed_option_is_an_error_unless_recreate(pve, tmp_path):
    original = item("nfs", server="10.10.0.50", export="/srv/a")
    moved = dict(original, export="/srv/b")
    run_phase(pve, tmp_path, "fixed-create", [original])
    results = run_phase(pve, tmp_path, "fixed-refused", [moved])
    result = results[storage_id("nfs")]
    assert result.get("failed") and not result["changed"]
    assert "export (is '/srv/a', wanted '/srv/b') cannot change" in result["msg"] and "on_fixed_change=recreate" in result["msg"]
    assert api_storages(pve)[storage_id("nfs")]["export"] == "/srv/a"

    results = run_phase(pve, tmp_path, "fixed-recreate", [dict(moved, on_fixed_change="recreate")])
    assert results[storage_id("nfs")]["changed"] and not results[storage_id("nfs")].get("failed")
    assert api_storages(pve)[storage_id("nfs")]["export"] == "/srv/b"
    results = run_phase(pve, tmp_path, "fixed-again", [dict(moved, on_fixed_change="recreate")])
    assert not results[storage_id("nfs")]["changed"]
    run_phase(pve, tmp_path, "fixed-delete", [{"name": storage_id("nfs"), "state": "absent"}])


def test_secrets_only_on_create_unless_always(pve, tmp_path):
    pbs = item("pbs", server="10.10.0.70", datastore="store2", username="backup@pbs", password=SECRET)
    run_phase(pve, tmp_path, "secret-create", [pbs])
    pve.sim.stats.reset()
    assert not run_phase(pve, tmp_path, "secret-again", [pbs])[storage_id("pbs")]["changed"]
    assert pve.sim.stats.count(method="PUT") == 0
    results = run_phase(pve, tmp_path, "secret-always", [dict(pbs, update_secrets="always")])
    result = results[storage_id("pbs")]
    assert result["changed"] and result["diff"]["after"] == {"password": "********"}
    assert pve.sim.stats.count(method="PUT") == 1
    run_phase(pve, tmp_path, "secret-delete", [{"name": storage_id("pbs"), "state": "absent"}])


def test_type_is_required_and_cannot_change(pve, tmp_path):
    results = run_phase(pve, tmp_path, "no-type", [{"name": "st-x"}])
    assert "type: required with state=present" in results["st-x"]["msg"]
    run_phase(pve, tmp_path, "type-create", [item("dir", path="/srv/t")])
    results = run_phase(pve, tmp_path, "type-change", [item("btrfs", name=storage_id("dir"), path="/srv/t")])
    assert "is of type dir, not btrfs" in results[storage_id("dir")]["msg"]
    missing = run_phase(pve, tmp_path, "missing", [item("nfs", name="st-missing", server="10.0.0.1")])["st-missing"]
    assert missing.get("failed") and "nfs storage needs export to be created" in missing["msg"], missing
    assert "st-missing" not in api_storages(pve)
    run_phase(pve, tmp_path, "type-delete", [{"name": storage_id("dir"), "state": "absent"}])
    print(json.dumps(results))
