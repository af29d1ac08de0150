"""Fidelity checks of the calls the cluster, cluster_join_info and node modules make, each
against what PVE 9's own source does (the source file is named in each test)."""

import pytest
import requests

from pvesim.errors import ApiError
from pvesim.routing import Identity
from pvesim.testing import call, make_sim, running

from conftest import core_scenario
from helpers import api_error, cluster, issue_certificates, task


def url(pve, node, path):
    return pve.urls[node] + "/api2/json" + path


# --- permissions (pve-access-control RPCEnvironment.pm check_api2_permissions,
#     pve-manager PVE/HTTPServer.pm: a token's user name is its token ID) ---------------

def test_methods_without_permissions_are_for_root_at_pam_not_its_tokens():
    sim = make_sim(core_scenario())
    root_token = Identity("root@pam", tokenid="ci", privsep=False)
    # POST /cluster/config has no "permissions": root@pam only
    err = api_error(call, sim, "pve-a", "POST", "/cluster/config", clustername="lab", identity=root_token)
    assert (err.status, err.message) == (403, "Permission check failed (user != root@pam)")
    err = api_error(call, sim, "pve-a", "DELETE", "/cluster/config/nodes/pve-b", identity=Identity("alice@pve"))
    assert (err.status, err.message) == (403, "Permission check failed (user != root@pam)")
    # the same token passes checked methods with root's privileges (no privilege separation)
    assert call(sim, "pve-a", "GET", "/nodes/pve-a/dns", identity=root_token)["dns1"]
    assert not sim.hosts["pve-a"].fs.cluster_name


# --- POST /access/ticket (pve-access-control PVE/API2/AccessControl.pm) ---------------

def test_ticket_clustername_needs_sys_audit_and_path_privs_only_verifies():
    data = core_scenario()
    data["cluster_name"] = "lab"
    sim = make_sim(data)
    root = call(sim, "pve-a", "POST", "/access/ticket", username="root@pam", password="rootpw")
    assert root["clustername"] == "lab"
    # bob has no Sys.Audit on / (his group's ACL on /nodes does not propagate to /)
    bob = call(sim, "pve-a", "POST", "/access/ticket", username="bob@pve", password="bobpw")
    assert "clustername" not in bob and bob["ticket"].startswith("PVE:bob@pve:")
    # path + privs: credentials and privileges are checked, no ticket is made
    checked = call(sim, "pve-a", "POST", "/access/ticket", username="alice@pve", password="alicepw",
                   path="/vms/100", privs="VM.PowerMgmt")
    assert checked == {"username": "alice@pve", "clustername": "lab"}
    err = api_error(call, sim, "pve-a", "POST", "/access/ticket", username="alice@pve", password="alicepw",
                    path="/vms/101", privs="VM.PowerMgmt")
    assert (err.status, err.message) == (401, "authentication failure")


def test_root_ticket_renews_into_a_ticket_for_another_user():
    sim = make_sim(core_scenario())
    root_ticket = call(sim, "pve-a", "POST", "/access/ticket", username="root@pam", password="rootpw")["ticket"]
    alice_ticket = call(sim, "pve-a", "POST", "/access/ticket", username="alice@pve", password="alicepw")["ticket"]
    # "Note: root@pam can create tickets for other users"; alice cannot for bob
    assert call(sim, "pve-a", "POST", "/access/ticket", username="alice@pve", password=root_ticket,
                )["username"] == "alice@pve"
    assert api_error(call, sim, "pve-a", "POST", "/access/ticket", username="bob@pve", password=alice_ticket,
                     ).status == 401
