"""Storage config (/storage) with PVE's per-type rules, and per-node storage status."""

import hashlib

import pytest

from pvesim.testing import make_sim

from helpers import GIB, api, refused


def scenario(**extra):
    node = {"type": "node", "status": "online", "maxcpu": 8, "maxmem": 64 * GIB, "maxdisk": 100 * GIB,
            "disk": 10 * GIB}
    data = {"cluster_name": "lab", "resources": [dict(node, node="pve1"), dict(node, node="pve2")]}
    data.update(extra)
    return data


@pytest.fixture
def sim():
    return make_sim(scenario())


def test_fresh_install_has_local_and_local_lvm(sim):
    listed = {s["storage"]: s for s in api(sim, "pve1", "GET", "/storage")}
    assert listed["local"]["type"] == "dir" and listed["local"]["path"] == "/var/lib/vz"
    # a set, in (simulated) Perl hash order: pve-storage Plugin.pm decode_value / encode_value
    assert listed["local"]["content"] == "import,backup,vztmpl,iso"
    assert listed["local-lvm"]["type"] == "lvmthin" and listed["local-lvm"]["content"] == "images,rootdir"
    assert [s["storage"] for s in api(sim, "pve1", "GET", "/storage", type="lvmthin")] == ["local-lvm"]


def test_create_with_default_content_and_duplicate(sim):
    answer = api(sim, "pve1", "POST", "/storage", storage="nfs1", type="nfs", server="10.0.0.5", export="/srv/pve")
    assert answer == {"storage": "nfs1", "type": "nfs"}
    section = api(sim, "pve2", "GET", "/storage/nfs1")  # cluster-wide config
    assert section["content"] == "images"  # the type's default
    assert section["path"] == "/mnt/pve/nfs1"  # PVE's default mount point
    assert section["shared"] == 1
    err = refused(sim, "pve1", "POST", "/storage", storage="nfs1", type="nfs", server="x", export="/y")
    # under the storage.cfg lock: API2/Storage/Config.pm create, lock_storage_config's prefix
    assert (err.status, err.message) == (500, "create storage failed: storage ID 'nfs1' already defined")


def test_required_unexpected_and_fixed_options(sim):
    err = refused(sim, "pve1", "POST", "/storage", storage="nf", type="nfs", server="10.0.0.5")
    assert (err.status, err.message) == (500, "missing value for required option 'export'")
    err = refused(sim, "pve1", "POST", "/storage", storage="lv", type="lvm", vgname="vg", krbd=1)
    assert (err.status, err.message) == (500, "unexpected property 'krbd'")
    # fixed for "dir" but changeable for "lvm": in the PUT schema, refused by the type's rules
    err = refused(sim, "pve1", "PUT", "/storage/local", **{"snapshot-as-volume-chain": 1})
    assert (err.status, err.message) == (
        500, "update storage failed: can't change value of fixed parameter 'snapshot-as-volume-chain'")
    # "path" is fixed for every type, so PVE's PUT schema does not even have it: a 400
    assert refused(sim, "pve1", "PUT", "/storage/local", path="/x").status == 400


def test_secrets_are_write_only(sim):
    api(sim, "pve1", "POST", "/storage", storage="smb", type="cifs", server="fs1", share="pve",
        username="svc", password="hunter2")
    api(sim, "pve1", "POST", "/storage", storage="backup", type="pbs", server="pbs1", datastore="main",
        username="root@pam", password="s3cret", **{"encryption-key": "autogen"})
    everything = repr(api(sim, "pve1", "GET", "/storage")) + repr(api(sim, "pve1", "GET", "/storage/smb"))
    everything += repr(api(sim, "pve1", "GET", "/storage/backup"))
    assert "hunter2" not in everything and "s3cret" not in everything
    assert "password" not in api(sim, "pve1", "GET", "/storage/smb")
    # PBSPlugin.pm on_add_hook: storage.cfg holds the key's fingerprint, never the key
    assert api(sim, "pve1", "GET", "/storage/backup")["encryption-key"].count(":") == 31
    api(sim, "pve1", "PUT", "/storage/smb", password="new-secret")
    assert "new-secret" not in repr(api(sim, "pve1", "GET", "/storage/smb"))
    assert sim.hosts["pve1"].fs.storage_secrets["smb"]["password"] == "new-secret"


def test_digest_and_delete(sim):
    api(sim, "pve1", "POST", "/storage", storage="dd", type="dir", path="/srv/d", content="iso,backup",
        **{"prune-backups": "keep-last=3"})
    digest = api(sim, "pve1", "GET", "/storage/dd")["digest"]
    api(sim, "pve1", "PUT", "/storage/dd", digest=digest, disable=1)
    err = refused(sim, "pve1", "PUT", "/storage/dd", digest=digest, disable=0)  # stale now
    assert err.message == "update storage failed: detected modified configuration - file changed by other user? Try again."
    api(sim, "pve1", "PUT", "/storage/dd", delete="disable,content")
    section = api(sim, "pve1", "GET", "/storage/dd")
    assert "disable" not in section and section["content"] == "images,rootdir"  # back to the default
    assert section["prune-backups"] == "keep-last=3"
    assert refused(sim, "pve1", "PUT", "/storage/dd", delete="path").message == \
        "update storage failed: unable to delete required option 'path'"
    api(sim, "pve1", "DELETE", "/storage/dd")
    assert refused(sim, "pve1", "GET", "/storage/dd").message == "storage 'dd' does not exist"


def test_content_checked_against_the_type(sim):
    """pve-storage Plugin.pm ``decode_value``: a content type the storage does not support is
    warned about and dropped; ``none`` with others dies, a plain 500 (SectionConfig
    ``check_config`` runs before the lock on create, so no prefix)."""
    api(sim, "pve1", "POST", "/storage", storage="tt", type="lvmthin", vgname="pve", thinpool="t",
        content="images,iso")
    assert api(sim, "pve1", "GET", "/storage/tt")["content"] == "images"
    err = refused(sim, "pve1", "POST", "/storage", storage="t2", type="dir", path="/t", content="none,iso")
    assert (err.status, err.message) == (500, "unable to combine 'none' with other content types")


def test_nodes_restrict_where_a_storage_exists(sim):
    api(sim, "pve1", "POST", "/storage", storage="only1", type="dir", path="/o", nodes="pve1", content="iso")
    on1 = [s["storage"] for s in api(sim, "pve1", "GET", "/nodes/pve1/storage")]
    on2 = [s["storage"] for s in api(sim, "pve1", "GET", "/nodes/pve2/storage")]
    assert "only1" in on1 and "only1" not in on2
    assert refused(sim, "pve1", "POST", "/storage", storage="bad", type="dir", path="/b", nodes="pve_1!").status == 400
    api(sim, "pve1", "PUT", "/storage/only1", delete="nodes")
    assert "only1" in [s["storage"] for s in api(sim, "pve2", "GET", "/nodes/pve2/storage")]


def test_node_storage_status_fields(sim):
    items = {s["storage"]: s for s in api(sim, "pve1", "GET", "/nodes/pve1/storage")}
    local = items["local"]
    for key in ("storage", "type", "content", "active", "enabled", "shared", "total", "used", "avail",
                "used_fraction"):
        assert key in local
    assert local["total"] == 100 * GIB and local["used"] == 10 * GIB
    assert local["avail"] == local["total"] - local["used"]
    assert local["used_fraction"] == pytest.approx(0.1)
    status = api(sim, "pve1", "GET", "/nodes/pve1/storage/local/status")
    assert status["total"] == local["total"] and status["type"] == "dir"
    api(sim, "pve1", "PUT", "/storage/local", disable=1)
    disabled = {s["storage"]: s for s in api(sim, "pve1", "GET", "/nodes/pve1/storage")}["local"]
    assert disabled["enabled"] == 0 and disabled["active"] == 0
    enabled_only = api(sim, "pve1", "GET", "/nodes/pve1/storage", enabled=1)
    assert "local" not in [s["storage"] for s in enabled_only]
    images = api(sim, "pve1", "GET", "/nodes/pve1/storage", content="images")
    assert [s["storage"] for s in images] == ["local-lvm"]


def test_scenario_storage_key():
    sim = make_sim(scenario(storage=[
        {"storage": "local", "type": "dir", "path": "/var/lib/vz", "content": "iso"},
        {"storage": "ceph", "type": "rbd", "pool": "rbd", "content": "images", "keyring": "KEY",
         "total": 1000 * GIB, "used": 250 * GIB},
    ]))
    names = [s["storage"] for s in api(sim, "pve1", "GET", "/storage")]
    assert names == ["ceph", "local"]
    ceph = api(sim, "pve1", "GET", "/nodes/pve2/storage/ceph/status")
    assert (ceph["total"], ceph["used"], ceph["shared"]) == (1000 * GIB, 250 * GIB, 1)
    assert "KEY" not in repr(api(sim, "pve1", "GET", "/storage/ceph"))


# pve-storage PVE/Storage/Plugin.pm: decode_value parses content and nodes into a Perl hash,
# encode_value writes them back with join(',', keys %$hash): no duplicates, hash order (which
# pvesim simulates by the SHA-1 of each item: reproducible, but not the order given).
def _hash_order(*items):
    return ",".join(sorted(set(items), key=lambda item: hashlib.sha1(item.encode()).hexdigest()))


def test_content_and_nodes_are_sets_in_hash_order(sim):
    given_content, given_nodes = "vztmpl,iso,images,iso,backup", "pve1,pve2,pve1"
    content, nodes = _hash_order("vztmpl", "iso", "images", "backup"), _hash_order("pve1", "pve2")
    assert content == "images,backup,vztmpl,iso" and nodes == "pve2,pve1"  # neither is the order given
    api(sim, "pve1", "POST", "/storage", storage="s1", type="dir", path="/srv/s1", content=given_content,
        nodes=given_nodes)
    section = api(sim, "pve1", "GET", "/storage/s1")
    assert (section["content"], section["nodes"]) == (content, nodes)
    listed = [s for s in api(sim, "pve1", "GET", "/storage") if s["storage"] == "s1"][0]
    assert (listed["content"], listed["nodes"]) == (content, nodes)
    # storage_info (content_hash_to_string) for the node's storage list, and /cluster/resources
    on_node = [s for s in api(sim, "pve1", "GET", "/nodes/pve1/storage") if s["storage"] == "s1"][0]
    assert on_node["content"] == content
    resources = [r for r in api(sim, "pve1", "GET", "/cluster/resources", type="storage")
                 if r["storage"] == "s1" and r["node"] == "pve1"]
    assert resources[0]["content"] == content
    # an update is a set as well
    api(sim, "pve1", "PUT", "/storage/s1", content="iso,images,images", nodes="pve2,pve1,pve2")
    section = api(sim, "pve1", "GET", "/storage/s1")
    assert (section["content"], section["nodes"]) == (_hash_order("iso", "images"), nodes)
    # what depends on membership still works: the storage is on both nodes, and offers images
    for node in ("pve1", "pve2"):
        assert "s1" in [s["storage"] for s in api(sim, node, "GET", "/nodes/%s/storage" % node, content="images")]


def test_scenario_and_default_content_are_sets_too():
    sim = make_sim(scenario(storage=[{"storage": "tank", "type": "zfspool", "pool": "tank",
                                      "content": ["rootdir", "images", "rootdir"], "nodes": "pve2,pve1"}]))
    section = api(sim, "pve1", "GET", "/storage/tank")
    assert (section["content"], section["nodes"]) == (_hash_order("rootdir", "images"), _hash_order("pve1", "pve2"))
    api(sim, "pve1", "POST", "/storage", storage="plain", type="dir", path="/srv/plain")  # the type's default
    assert api(sim, "pve1", "GET", "/storage/plain")["content"] == _hash_order("images", "rootdir")
