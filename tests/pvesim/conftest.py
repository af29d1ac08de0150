"""Shared fixtures for pvesim tests.

``core_scenario()`` is a two-host standalone setup with users, a group, a custom role,
tokens and ACLs; ``pve`` serves it over HTTPS for one test module.
"""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

# The collection's own client (test_collection_client.py) is imported as
# ansible_collections.proxops.proxmox: link the repo there, as the Makefile's setup and
# tests/integration/runner/conftest.py do, so those tests run whatever PYTHONPATH is.
COLLECTIONS = os.path.join(REPO, ".state", "collections")
_LINK = os.path.join(COLLECTIONS, "ansible_collections", "proxops", "proxmox")
if not os.path.exists(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(REPO, _LINK)
if COLLECTIONS not in sys.path:
    sys.path.append(COLLECTIONS)

# Every answer of every test is checked against the official returns schema
# (pvesim.returns): a mismatch raises, so the test that met it fails.
os.environ.setdefault("PVESIM_CHECK_RETURNS", "1")

from pvesim.testing import running  # noqa: E402

TOTP_SECRET = "JBSWY3DPEHPK3PXP"


def core_scenario():
    node = {"type": "node", "status": "online", "maxcpu": 4, "maxmem": 8 * 1024 ** 3}
    return {
        "name": "core tests",
        "cluster_name": None,
        "root_password": "rootpw",
        "resources": [dict(node, node="pve-a"), dict(node, node="pve-b"),
                      {"type": "qemu", "vmid": 100, "node": "pve-a", "name": "web", "status": "running",
                       "maxcpu": 1, "maxmem": 1024 ** 3, "mem": 512 * 1024 ** 2},
                      {"type": "qemu", "vmid": 101, "node": "pve-a", "name": "db", "status": "stopped",
                       "maxcpu": 1, "maxmem": 1024 ** 3, "pool": "prod"}],
        "users": [
            {"userid": "alice@pve", "password": "alicepw"},
            {"userid": "bob@pve", "password": "bobpw", "groups": ["ops"]},
            {"userid": "carol@pve", "password": "carolpw", "totp": TOTP_SECRET},
            {"userid": "dave@pve", "password": "davepw", "enable": 0},
        ],
        "groups": [{"groupid": "ops", "comment": "operators"}],
        "roles": {"Watcher": "VM.Audit,Sys.Audit"},
        "tokens": [
            {"tokenid": "alice@pve!full", "secret": "alice-full-secret", "privsep": 0},
            {"tokenid": "alice@pve!narrow", "secret": "alice-narrow-secret", "privsep": 1},
            {"tokenid": "root@pam!ci", "secret": "root-ci-secret", "privsep": 0},
        ],
        "acl": [
            {"path": "/", "roleid": "PVEAuditor", "users": "alice@pve"},
            {"path": "/vms/100", "roleid": "PVEVMAdmin", "users": "alice@pve"},
            {"path": "/vms/100", "roleid": "PVEAuditor", "tokens": "alice@pve!narrow"},
            {"path": "/nodes", "roleid": "Watcher", "groups": "ops", "propagate": 0},
            {"path": "/pool/prod", "roleid": "PVEVMUser", "groups": "ops"},
        ],
    }


@pytest.fixture(scope="module")
def pve():
    with running(core_scenario()) as handle:
        yield handle
