"""Fidelity checks of the calls the cluster, cluster_join_info and node modules make, each
against what PVE 9's own source does (the source file is named in each test)."""

import ssl

from pvesim import certs
from pvesim.routing import Identity
from pvesim.testing import call, make_sim, running

from conftest import core_scenario
from helpers import api_error, task_over_https


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


# --- POST /nodes/{node}/hosts (pve-common PVE/INotify.pm write_etc_hosts) -------------

def test_hosts_lines_must_be_an_ip_and_host_names():
    sim = make_sim(core_scenario())
    text = call(sim, "pve-a", "GET", "/nodes/pve-a/hosts")["data"]
    for line, error in (("10.0.0.300 bad", "Invalid IP '10.0.0.300'"),
                        ("10.0.0.9 good under_score", "Invalid Hostname 'under_score'"),
                        ("10.0.0.9 host # comment", "Invalid Hostname '#'"),
                        ("  10.0.0.9 indented", "Invalid IP ''")):
        err = api_error(call, sim, "pve-a", "POST", "/nodes/pve-a/hosts", data=text + line + "\n")
        assert (err.status, err.errors) == (400, {"data": error}), line
    # comments, blank lines and IPv6 are fine
    good = text + "# our hosts\n\n10.0.0.9 pve-z.example.com pve-z\nfd00::9 pve-z6\n"
    call(sim, "pve-a", "POST", "/nodes/pve-a/hosts", data=good)
    assert call(sim, "pve-a", "GET", "/nodes/pve-a/hosts")["data"] == good


# --- subscription (pve-manager PVE/API2/Subscription.pm) -------------------------------

def test_subscription_answers_without_a_key_and_without_sys_audit():
    sim = make_sim(core_scenario())
    root = call(sim, "pve-a", "GET", "/nodes/pve-a/subscription")
    assert set(root) == {"status", "message", "url", "serverid"} and root["status"] == "notfound"
    bob = Identity("bob@pve")  # no Sys.Audit on /nodes/pve-a (his group's ACL does not propagate)
    assert set(call(sim, "pve-a", "GET", "/nodes/pve-a/subscription", identity=bob)) == {"status", "message", "url"}
    call(sim, "pve-a", "PUT", "/nodes/pve-a/subscription", key="pve1c-0123456789")
    info = call(sim, "pve-a", "GET", "/nodes/pve-a/subscription")
    assert info["key"] == "pve1c-0123456789" and info["level"] == "c"  # the key is in the answer
    assert call(sim, "pve-a", "GET", "/nodes/pve-a/subscription", identity=bob) == {
        "status": "active", "message": info.get("message"), "url": info["url"]}


# --- a join (pve-cluster PVE/Cluster/Setup.pm finish_join, PVE/Cluster.pm
#     get_node_fingerprint, PVE/API2/ClusterConfig.pm join_info) -----------------------

def _served_fingerprint(pve, node):
    address, port = pve.host(node)
    return certs.fingerprint(ssl.get_server_certificate((address, port)))


def test_join_drops_the_joiners_node_files_and_join_info_matches_served_certificates():
    scenario = {"name": "three", "cluster_name": None,
                "resources": [{"type": "node", "node": n, "status": "online", "maxcpu": 2, "maxmem": 4 * 1024 ** 3}
                              for n in ("pve-a", "pve-b", "pve-c")]}
    with running(scenario) as pve:
        # pve-b serves a custom certificate and has a node config before it joins
        b = pve.client("pve-b")
        cert_pem, key_pem = pve.server.ca.issue("custom-b", pve.host("pve-b")[0])
        b.nodes("pve-b").certificates.custom.post(certificates=cert_pem, key=key_pem, restart=1)
        b.nodes("pve-b").config.put(description="rack 4", wakeonlan="aa:bb:cc:dd:ee:02")
        custom_fp = _served_fingerprint(pve, "pve-b")
        assert [c["filename"] for c in b.nodes("pve-b").certificates.info.get()][-1] == "pveproxy-ssl.pem"

        a = pve.client("pve-a")
        assert task_over_https(a, "pve-a", a.cluster.config.post(clustername="lab"))["exitstatus"] == "OK"
        info = a.cluster.config.join.get()
        upid = b.cluster.config.join.post(hostname=pve.host("pve-a")[0], fingerprint=info["nodelist"][0]["pve_fp"],
                                          password=pve.password)
        assert task_over_https(pve.client("pve-b"), "pve-b", upid)["exitstatus"] == "OK"

        b = pve.client("pve-b")
        files = [c["filename"] for c in b.nodes("pve-b").certificates.info.get()]
        assert files == ["pve-root-ca.pem", "pve-ssl.pem"]  # the custom certificate is gone
        assert "description" not in b.nodes("pve-b").config.get()  # and the node config
        served = _served_fingerprint(pve, "pve-b")
        assert served != custom_fp
        # every pve_fp of the join info is the certificate that node really serves
        for entry in a.cluster.config.join.get()["nodelist"]:
            assert entry["pve_fp"] == _served_fingerprint(pve, entry["name"]), entry["name"]
        # PVE (Cluster/Setup.pm finish_join, updatecerts_and_ssh): the joiner's new pve-ssl.pem
        # comes from the cluster's pve-root-ca, which is the CA of the node that created it
        info_b = {c["filename"]: c for c in b.nodes("pve-b").certificates.info.get()}
        root_a = next(c for c in a.nodes("pve-a").certificates.info.get() if c["filename"] == "pve-root-ca.pem")
        assert info_b["pve-ssl.pem"]["fingerprint"] == served
        assert info_b["pve-ssl.pem"]["issuer"] == root_a["subject"] == info_b["pve-root-ca.pem"]["subject"]
        assert root_a["subject"].endswith("CN=pvesim Root CA pve-a")
