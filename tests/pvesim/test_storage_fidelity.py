"""/storage as PVE 9 answers it: FIDELITY.md rows 16-22.

pve-storage ``PVE/API2/Storage/Config.pm`` (create, update, delete), ``PVE/Storage.pm``
(lock_storage_config, activate_storage, storage_is_used), ``PVE/Storage/Plugin.pm``
(decode_value, encode_value, parse_config), ``DirPlugin.pm`` check_config, ``PBSPlugin.pm``
and ``ESXiPlugin.pm`` on_add_hook / on_update_hook, pve-access-control
``remove_storage_access``, pve-common ``extract_sensitive_params``.
"""

import json

import pytest

from pvesim.testing import make_sim

from helpers import GIB, api, refused

KEY = json.dumps({"kdf": None, "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
                  "data": "00" * 32, "fingerprint": "aa:bb:cc"})
PBS = {"type": "pbs", "server": "10.0.0.9", "datastore": "main", "username": "backup@pbs", "password": "pw"}


def scenario(**extra):
    node = {"type": "node", "status": "online", "maxcpu": 8, "maxmem": 64 * GIB, "maxdisk": 100 * GIB,
            "disk": 10 * GIB}
    data = {"cluster_name": "lab", "resources": [dict(node, node="pve1"), dict(node, node="pve2")]}
    data.update(extra)
    return data


@pytest.fixture
def sim():
    return make_sim(scenario())


def create(sim, storeid, **options):
    return api(sim, "pve1", "POST", "/storage", storage=storeid, **options)


def create_error(sim, storeid, **options):
    return refused(sim, "pve1", "POST", "/storage", storage=storeid, **options)


# --- row 16: PBS encryption-key and master-pubkey ---------------------------------------------
def test_pbs_hooks_write_the_key_fingerprint_and_master_pubkey(sim):
    """PBSPlugin.pm ``on_add_hook``: storage.cfg gets ``encryption-key <fingerprint>`` (1 for a
    key without one) and ``master-pubkey 1``; ``config.encryption-key`` answers any key."""
    answer = create(sim, "pbs1", **PBS, **{"encryption-key": KEY, "master-pubkey": "LS0tLS1CRUdJTg=="})
    assert answer == {"storage": "pbs1", "type": "pbs", "config": {"encryption-key": KEY}}
    section = api(sim, "pve1", "GET", "/storage/pbs1")
    assert section["encryption-key"] == "aa:bb:cc" and section["master-pubkey"] == 1
    assert "00" * 32 not in json.dumps(section) and "password" not in section
    no_fingerprint = json.dumps({"data": "00"})
    create(sim, "pbs2", **PBS, **{"encryption-key": no_fingerprint})
    assert api(sim, "pve1", "GET", "/storage/pbs2")["encryption-key"] == 1
    # on_update_hook: a new key is answered and its fingerprint written; delete removes it
    answer = api(sim, "pve1", "PUT", "/storage/pbs2", **{"encryption-key": "autogen"})
    assert json.loads(answer["config"]["encryption-key"])["fingerprint"] == \
        api(sim, "pve1", "GET", "/storage/pbs2")["encryption-key"]
    api(sim, "pve1", "PUT", "/storage/pbs1", delete="encryption-key,master-pubkey")
    section = api(sim, "pve1", "GET", "/storage/pbs1")
    assert "encryption-key" not in section and "master-pubkey" not in section
    assert "encryption-key" not in sim.hosts["pve1"].fs.storage_secrets["pbs1"]


def test_pbs_hooks_refuse_bad_keys(sim):
    """PBSPlugin.pm ``on_add_hook``, under the config lock: a key that is not JSON with
    ``data``, and ``master-pubkey`` without ``encryption-key``; nothing is stored."""
    err = create_error(sim, "pbs1", **PBS, **{"encryption-key": "not json"})
    assert (err.status, err.message) == (
        500, "create storage failed: Value does not seems like a valid, JSON formatted encryption key!")
    err = create_error(sim, "pbs1", **PBS, **{"master-pubkey": "LS0tLS1CRUdJTg=="})
    assert err.message == "create storage failed: 'master-pubkey' can only be used together with 'encryption-key'"
    assert "pbs1" not in [s["storage"] for s in api(sim, "pve1", "GET", "/storage")]
    assert "pbs1" not in sim.hosts["pve1"].fs.storage_secrets


# --- row 17: ESXi ----------------------------------------------------------------------------------
def test_esxi_needs_a_password(sim):
    """ESXiPlugin.pm ``on_add_hook``: "missing password"."""
    err = create_error(sim, "esx", type="esxi", server="10.0.0.20", username="root")
    assert (err.status, err.message) == (500, "create storage failed: missing password")
    create(sim, "esx", type="esxi", server="10.0.0.20", username="root", password="vmware")
    assert api(sim, "pve1", "GET", "/storage/esx")["content"] == "import"


# --- row 18: content ------------------------------------------------------------------------------
def test_unsupported_content_is_dropped_and_empty_content_is_none(sim):
    """Plugin.pm ``decode_value`` warns and drops a content type the storage does not support;
    ``encode_value`` writes an empty set as ``none``; a type without ``none`` refuses it."""
    create(sim, "pbs1", **dict(PBS, content="images"))
    assert api(sim, "pve1", "GET", "/storage/pbs1")["content"] == "none"
    err = create_error(sim, "nas", type="nfs", server="10.0.0.5", export="/pve", content="none")
    assert (err.status, err.message) == (500, "storage does not support content type 'none'")
    api(sim, "pve1", "PUT", "/storage/local", content="iso,images,vztmpl,iso")
    err = refused(sim, "pve1", "PUT", "/storage/local", content="none,iso")
    assert err.message == "update storage failed: unable to combine 'none' with other content types"


# --- row 19: directory paths -------------------------------------------------------------------------
def test_directory_path_rules_and_canonpath(sim):
    """DirPlugin.pm ``check_config`` (also BTRFSPlugin's): "illegal path for directory storage"
    unless the path matches ``^/[-/a-zA-Z0-9_.@]+$``; File::Spec->canonpath drops a trailing
    and repeated slashes."""
    err = create_error(sim, "d2", type="dir", path="/srv/d 2")
    assert (err.status, err.message) == (500, "illegal path for directory storage: /srv/d 2")
    create(sim, "d1", type="dir", path="/srv//d1/")
    assert api(sim, "pve1", "GET", "/storage/d1")["path"] == "/srv/d1"
    create(sim, "b1", type="btrfs", path="/mnt/b1/")
    assert api(sim, "pve1", "GET", "/storage/b1")["path"] == "/mnt/b1"
    assert create_error(sim, "b2", type="btrfs", path="/mnt/b$2").message == \
        "illegal path for directory storage: /mnt/b$2"


# --- row 20: activation on create, nodes, format ----------------------------------------------------
def test_create_activates_and_fails_for_an_unreachable_server(sim):
    """API2/Storage/Config.pm ``create`` activates a storage enabled on the node;
    ``PVE::Storage::activate_storage``: "storage 'x' is not online" when ``check_connection``
    fails (NFS, CIFS, iSCSI, ESXi); PBSPlugin's activation: "x: error fetching datastores - ...".
    The storage is not written.  A disabled storage, or one not on this node, is not activated."""
    sim.faults.storage_unreachable("10.0.0.5")
    err = create_error(sim, "nas", type="nfs", server="10.0.0.5", export="/pve")
    assert (err.status, err.message) == (500, "create storage failed: storage 'nas' is not online")
    assert "nas" not in [s["storage"] for s in api(sim, "pve1", "GET", "/storage")]
    create(sim, "nas", type="nfs", server="10.0.0.5", export="/pve", disable=1)
    create(sim, "nas2", type="nfs", server="10.0.0.5", export="/pve", nodes="pve2")
    api(sim, "pve1", "PUT", "/storage/nas", delete="disable")
    status = {s["storage"]: s for s in api(sim, "pve1", "GET", "/nodes/pve1/storage")}["nas"]
    assert status["active"] == 0 and "total" not in status
    sim.faults.storage_unreachable("pbs1")  # a storage id works as well
    err = create_error(sim, "pbs1", **PBS)
    assert err.message.startswith("create storage failed: pbs1: error fetching datastores - ")
    sim.faults.storage_reachable("10.0.0.5")
    create(sim, "nas3", type="nfs", server="10.0.0.5", export="/pve")
    assert {s["storage"]: s for s in api(sim, "pve1", "GET", "/nodes/pve1/storage")}["nas"]["active"] == 1


def test_scenario_fault_and_base_storage_activation():
    """``activate_storage`` activates a ``base`` storage first: an LVM on an unreachable iSCSI
    target fails.  The fault is a scenario ``faults`` action too."""
    sim = make_sim(scenario(faults=[{"action": "storage_unreachable", "target": "10.0.0.30"}]))
    err = create_error(sim, "san", type="iscsi", portal="10.0.0.30", target="iqn.2026-01.lab:t1")
    assert err.message == "create storage failed: storage 'san' is not online"
    sim.faults.clear()
    create(sim, "san", type="iscsi", portal="10.0.0.30:3260", target="iqn.2026-01.lab:t1")
    sim.faults.storage_unreachable("10.0.0.30")
    err = create_error(sim, "vg", type="lvm", vgname="vg0", base="san:0.0.1.scsi-36001")
    assert err.message == "create storage failed: storage 'san' is not online"


def test_empty_nodes_dropped_and_unsupported_format_ignored(sim):
    """``create`` deletes an empty ``nodes``; Plugin.pm ``decode_value`` only warns about a
    format the type does not support, and its ``next`` leaves the key out."""
    create(sim, "d1", type="dir", path="/srv/d1", nodes="")
    assert "nodes" not in api(sim, "pve1", "GET", "/storage/d1")
    create(sim, "nas", type="nfs", server="10.0.0.5", export="/pve", format="subvol")
    assert "format" not in api(sim, "pve1", "GET", "/storage/nas")
    create(sim, "nas2", type="nfs", server="10.0.0.5", export="/pve", format="qcow2")
    assert api(sim, "pve1", "GET", "/storage/nas2")["format"] == "qcow2"


# --- row 21: delete ---------------------------------------------------------------------------------
def test_delete_refuses_a_base_and_removes_the_acls():
    """API2/Storage/Config.pm ``delete``: ``storage_is_used`` refuses a storage that is the
    ``base`` of another; ``remove_storage_access`` drops the storage's ACLs afterwards."""
    sim = make_sim(scenario(users=[{"userid": "alice@pve", "password": "pw"}], acl=[
        {"path": "/storage/vg", "roleid": "PVEDatastoreUser", "users": "alice@pve"},
        {"path": "/storage/san", "roleid": "PVEDatastoreUser", "users": "alice@pve"}]))
    create(sim, "san", type="iscsi", portal="10.0.0.30", target="iqn.2026-01.lab:t1")
    create(sim, "vg", type="lvm", vgname="vg0", base="san:0.0.1.scsi-36001")
    err = refused(sim, "pve1", "DELETE", "/storage/san")
    assert (err.status, err.message) == (
        500, "delete storage failed: can't remove storage - storage is used as base of another storage")
    api(sim, "pve1", "DELETE", "/storage/vg")
    paths = [entry["path"] for entry in sim.hosts["pve1"].fs.acl]
    assert "/storage/vg" not in paths and "/storage/san" in paths
    api(sim, "pve1", "DELETE", "/storage/san")
    assert refused(sim, "pve1", "DELETE", "/storage/san").message == \
        "delete storage failed: storage 'san' does not exist"


def test_local_comes_back_as_pves_builtin(sim):
    """Plugin.pm ``parse_config``: without a ``local`` dir at /var/lib/vz, every read has PVE's
    built-in one (with its content), and ``local`` never has node restrictions."""
    api(sim, "pve1", "DELETE", "/storage/local")
    local = api(sim, "pve1", "GET", "/storage/local")
    assert (local["type"], local["path"]) == ("dir", "/var/lib/vz")
    assert set(local["content"].split(",")) == {"backup", "images", "iso", "rootdir", "snippets", "vztmpl"}
    assert local["prune-backups"] == "keep-all=1"
    api(sim, "pve1", "PUT", "/storage/local", nodes="pve1")
    assert "nodes" not in api(sim, "pve1", "GET", "/storage/local")


# --- row 22: error prefixes, sensitive options ----------------------------------------------------
def test_update_errors_carry_the_prefix_and_secrets_can_be_set_and_deleted(sim):
    """``lock_storage_config($code, "update storage failed")`` prefixes every error of
    ``update``; ``extract_sensitive_params`` lets a value override a ``delete`` of the same
    write-only option, while a plain option set and deleted at once is refused."""
    create(sim, "smb", type="cifs", server="fs1", share="pve", username="svc", password="old")
    api(sim, "pve1", "PUT", "/storage/smb", password="new", delete="password")
    assert sim.hosts["pve1"].fs.storage_secrets["smb"]["password"] == "new"
    api(sim, "pve1", "PUT", "/storage/smb", delete="password")
    assert "password" not in sim.hosts["pve1"].fs.storage_secrets.get("smb", {})
    err = refused(sim, "pve1", "PUT", "/storage/smb", domain="LAB", delete="domain")
    assert err.message == "update storage failed: cannot set and delete property 'domain' at the same time!"
    err = refused(sim, "pve1", "PUT", "/storage/nope", disable=1)
    assert (err.status, err.message) == (500, "update storage failed: storage 'nope' does not exist")
    err = refused(sim, "pve1", "PUT", "/storage/smb", delete="nothing")
    assert err.message == "update storage failed: no such option 'nothing'"
