"""Each standalone host has its own pve-root-ca; a join re-issues the joiner's certificate
from the cluster's CA (review finding 9). ``ca.pem`` in the state dir stays the bundle
that verifies every host; ``ca-<node>.pem`` is one host's CA."""

import os
import socket
import ssl

from pvesim import certs
from pvesim.testing import running
from helpers import task_over_https

THREE = {"cluster_name": None, "root_password": "pw",
         "resources": [{"type": "node", "node": n} for n in ("pve-a", "pve-b", "pve-c")]}


def _verifies(pve, node, cafile):
    address, port = pve.host(node)
    context = ssl.create_default_context(cafile=cafile)
    try:
        with socket.create_connection((address, port), timeout=3) as raw:
            with context.wrap_socket(raw, server_hostname=address) as tls:
                return certs.fingerprint(ssl.DER_cert_to_PEM_cert(tls.getpeercert(True)))
    except ssl.SSLCertVerificationError:
        return None


def _ca_file(pve, node):
    return os.path.join(pve.state_dir, "ca-%s.pem" % node)


def test_standalone_hosts_have_their_own_ca_and_the_bundle_verifies_all():
    with running(THREE) as pve:
        for node in ("pve-a", "pve-b", "pve-c"):
            served = _verifies(pve, node, _ca_file(pve, node))
            assert served == pve.sim.hosts[node].fingerprint
            assert _verifies(pve, node, pve.ca_path) == served
        # PVE: a client trusting host A's CA cannot verify standalone host B
        assert _verifies(pve, "pve-b", _ca_file(pve, "pve-a")) is None
        root = {n: next(c for c in pve.client(n).nodes(n).certificates.info.get()
                        if c["filename"] == "pve-root-ca.pem")["fingerprint"] for n in ("pve-a", "pve-b")}
        assert root["pve-a"] != root["pve-b"]


def test_join_reissues_the_joiners_certificate_from_the_cluster_ca():
    with running(THREE) as pve:
        a, b = pve.client("pve-a"), pve.client("pve-b")
        assert task_over_https(a, "pve-a", a.cluster.config.post(clustername="lab"))["exitstatus"] == "OK"
        with open(_ca_file(pve, "pve-a"), encoding="utf-8") as handle:
            cluster_ca = handle.read()
        info = a.cluster.config.join.get()
        upid = b.cluster.config.join.post(hostname=pve.host("pve-a")[0], fingerprint=info["nodelist"][0]["pve_fp"],
                                          password=pve.password)
        assert task_over_https(pve.client("pve-b"), "pve-b", upid)["exitstatus"] == "OK"
        served = _verifies(pve, "pve-b", _ca_file(pve, "pve-a"))
        assert served is not None and _verifies(pve, "pve-b", pve.ca_path) == served
        with open(_ca_file(pve, "pve-b"), encoding="utf-8") as handle:
            assert handle.read() == cluster_ca
        pve_fp = {e["name"]: e["pve_fp"] for e in a.cluster.config.join.get()["nodelist"]}
        assert pve_fp["pve-b"] == served
        # the standalone pve-c keeps its own CA
        assert _verifies(pve, "pve-c", _ca_file(pve, "pve-a")) is None


def test_saved_state_keeps_each_hosts_ca(tmp_path):
    path = str(tmp_path / "world.json")
    with running(THREE) as pve:
        before = {}
        for node in ("pve-a", "pve-b", "pve-c"):
            with open(_ca_file(pve, node), encoding="utf-8") as handle:
                before[node] = handle.read()
        with open(pve.ca_path, encoding="utf-8") as handle:
            bundle = handle.read()
        pve.save_state(path)
    with running(load_state=path) as pve:
        for node in ("pve-a", "pve-b", "pve-c"):
            with open(_ca_file(pve, node), encoding="utf-8") as handle:
                assert handle.read() == before[node]
            assert _verifies(pve, node, _ca_file(pve, node)) == pve.sim.hosts[node].fingerprint
        with open(pve.ca_path, encoding="utf-8") as handle:
            assert handle.read() == bundle


def test_custom_certificates_from_the_simulator_ca_still_verify_with_the_bundle():
    node = "pve-a"
    with running(THREE) as pve:
        cert_pem, key_pem = pve.server.ca.issue(node, pve.host(node)[0])
        pve.client(node).nodes(node).certificates.custom.post(certificates=cert_pem, key=key_pem, restart=1)
        assert _verifies(pve, node, pve.ca_path) == certs.fingerprint(cert_pem)
