# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the cluster and node logic: option checks, link strings, /etc/hosts, fingerprints."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from ansible_collections.proxops.proxmox.plugins.module_utils import _certificates, _cluster, _node, _pve_formats
from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import ModuleFailure
from ansible_collections.proxops.proxmox.plugins.modules.cluster import ClusterModule
from ansible_collections.proxops.proxmox.plugins.modules.node import NodeModule

FINGERPRINT = ":".join(["AB"] * 32)


def make(cls, **params):
    """A module instance without AnsibleModule or a connection: enough for validate()."""
    spec = dict(cls.argument_spec)
    full = {name: option.get("default") for name, option in spec.items()}
    for name, option in spec.items():
        if option.get("type") == "dict" and params.get(name) is not None:
            sub = {key: o.get("default") for key, o in option["options"].items()}
            sub.update(params[name])
            params[name] = sub
        if option.get("elements") == "dict" and params.get(name) is not None:
            params[name] = [dict({key: o.get("default") for key, o in option["options"].items()}, **item)
                            for item in params[name]]
    full.update(api_host="pve-a", power_timeout=600)
    full.update(params)
    instance = cls.__new__(cls)
    instance.params = full
    instance.check_mode = False
    return instance


def failure(cls, **params):
    with pytest.raises(ModuleFailure) as info:
        make(cls, **params).validate()
    return info.value.msg


class TestClusterOptions:
    def test_present_needs_an_intent(self):
        msg = failure(ClusterModule, state="present")
        assert "cluster_name" in msg and "join" in msg

    def test_half_given_join_is_an_error_not_a_create(self):
        msg = failure(ClusterModule, cluster_name="lab", join={"password": "x"})
        assert "master_host" in msg and "join_info" in msg

    def test_bad_fingerprint_and_link(self):
        msg = failure(ClusterModule, join={"master_host": "10.0.0.1", "password": "x", "fingerprint": "AB:CD"},
                      links=[{"address": "10.0.0.300"}])
        assert "join.fingerprint" in msg and "links[0].address" in msg

    def test_priority_only_for_create(self):
        msg = failure(ClusterModule, join={"master_host": "10.0.0.1", "password": "x"},
                      links=[{"address": "10.0.0.2", "priority": 3}])
        assert "links[0].priority" in msg
        make(ClusterModule, cluster_name="lab", links=[{"address": "10.0.0.2", "priority": 3}]).validate()

    def test_cluster_name_rules(self):
        assert "cluster_name" in failure(ClusterModule, cluster_name="a" * 16)
        assert "cluster_name" in failure(ClusterModule, cluster_name="under_score")

    def test_absent_takes_only_node_and_force(self):
        assert "cluster_name" in failure(ClusterModule, state="absent", node="pve-c", cluster_name="lab")
        make(ClusterModule, state="absent", node="pve-c").validate()

    def test_node_only_with_absent(self):
        assert "state=absent" in failure(ClusterModule, cluster_name="lab", node="pve-c")

    def test_valid_join(self):
        make(ClusterModule, join={"master_host": "10.0.0.1", "password": "x", "fingerprint": FINGERPRINT}).validate()


class TestNodeOptions:
    def test_bad_values_named(self):
        msg = failure(NodeModule, node="pve-a", dns={"servers": ["1.1.1.1"] * 4}, wakeonlan="nope",
                      hosts=[{"address": "x", "names": []}])
        for part in ("dns.servers", "wakeonlan", "hosts[0].address", "hosts[0].names"):
            assert part in msg

    def test_subscription_key_never_echoed(self):
        msg = failure(NodeModule, node="pve-a", subscription={"key": "secret-ish-value"})
        assert "subscription.key" in msg and "secret-ish-value" not in msg

    def test_repeated_name_servers_refused(self):
        # PVE keeps each name server once: a repeated one would report a change on every run
        msg = failure(NodeModule, node="pve-a", dns={"servers": ["10.0.0.53", "10.0.1.53", "10.0.0.53"]})
        assert "dns.servers" in msg and "'10.0.0.53' is given twice" in msg
        assert "twice" in failure(NodeModule, node="pve-a", dns={"servers": ["fe80::1", "fe80:0::1"]})
        make(NodeModule, node="pve-a", dns={"servers": ["10.0.0.53", "10.0.1.53"]}).validate()

    def test_certificate_needs_pem(self):
        assert "certificate.certificates" in failure(NodeModule, node="pve-a", certificate={"certificates": "x"})


class TestHelpers:
    def test_link_params(self):
        links = [{"address": "10.0.0.1", "priority": 10}, {"address": "10.1.0.1", "priority": None}]
        assert _cluster.link_params(links) == {"link0": "address=10.0.0.1,priority=10", "link1": "address=10.1.0.1"}

    @pytest.mark.parametrize("text,ok", [("10.0.0.1", True), ("fe80::1", True), ("pve-a.example", True),
                                         ("10.0.0.300", False), ("not an address", False), ("", False)])
    def test_is_address(self, text, ok):
        assert _pve_formats.is_address(text) is ok

    def test_join_target_prefers_named_member(self):
        info = {"preferred_node": "a", "nodelist": [
            {"name": "a", "pve_addr": "10.0.0.1", "pve_fp": "FA", "ring0_addr": "10.9.0.1"},
            {"name": "b", "pve_addr": "10.0.0.2", "pve_fp": "FB"}]}
        assert _cluster.join_target(info) == ("10.0.0.1", "FA")
        assert _cluster.join_target(info, "10.0.0.2") == ("10.0.0.2", "FB")
        assert _cluster.join_target(info, "10.9.0.1") == ("10.9.0.1", "FA")

    def test_join_target_of_join_info_read_from_master_host(self):
        # master_host an FQDN the join information does not hold: read from it, so it is the preferred node
        info = {"preferred_node": "a", "nodelist": [
            {"name": "b", "pve_addr": "10.0.0.2", "pve_fp": "FB"},
            {"name": "a", "pve_addr": "10.0.0.1", "pve_fp": "FA", "ring0_addr": "10.9.0.1"}]}
        assert _cluster.join_target(info, "a.example.com") == ("a.example.com", None)
        assert _cluster.join_target(info, "a.example.com", answered_by_master=True) == ("a.example.com", "FA")
        assert _cluster.join_target(info, "10.0.0.2", answered_by_master=True) == ("10.0.0.2", "FB")

    def test_join_info_lists(self):
        info = {"nodelist": [{"name": "a"}, {"name": "b"}]}
        assert _cluster.join_info_lists(info, "b") and not _cluster.join_info_lists(info, "c")
        assert not _cluster.join_info_lists({}, "a")

    def test_hosts_entries(self):
        text = "127.0.0.1 localhost\n10.0.0.1 old-name\n10.0.0.1 dup\n# 10.0.0.1 comment\n"
        updated = _node.apply_hosts_entries(text, [{"address": "10.0.0.1", "names": ["a.example", "a"]},
                                                   {"address": "10.0.0.2", "names": ["b"]}])
        assert updated == "127.0.0.1 localhost\n10.0.0.1 a.example a\n# 10.0.0.1 comment\n10.0.0.2 b\n"
        assert _node.apply_hosts_entries(updated, [{"address": "10.0.0.2", "names": ["b"]}]) == updated

    def test_property_string_round_trip(self):
        values = _pve_formats.parse_property_string("aa:bb:cc:dd:ee:ff,broadcast-address=10.0.0.255", "mac")
        assert values == {"mac": "aa:bb:cc:dd:ee:ff", "broadcast-address": "10.0.0.255"}
        assert _pve_formats.print_property_string(values, "mac") == "mac=aa:bb:cc:dd:ee:ff,broadcast-address=10.0.0.255"

    def test_certificate_fingerprint(self):
        der = b"\x30\x03\x02\x01\x01"
        pem = "junk\n-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % base64.b64encode(der).decode()
        expected = ":".join("%02X" % b for b in hashlib.sha256(der).digest())
        assert _certificates.certificate_fingerprint(pem + pem.replace("junk", "")) == expected
        assert _certificates.certificate_fingerprint("no pem") is None


def _certificate(key, serial):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pve-b")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_bytes(serialization.Encoding.PEM).decode(), spki


class TestCertificatePublicKey:
    """Whether a certificate can go without its key: its public key, read without the cryptography library."""

    @pytest.mark.parametrize("kind", ["rsa", "ec"])
    def test_public_key_of_the_first_certificate(self, kind):
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        new_key = (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)) if kind == "rsa" else (
            lambda: ec.generate_private_key(ec.SECP256R1()))
        key = new_key()
        first, spki = _certificate(key, 1)
        renewed, _spki = _certificate(key, 2)  # same key, another certificate
        other, _other_spki = _certificate(new_key(), 3)
        assert _certificates.certificate_public_key(first + other) == spki
        assert _certificates.certificate_public_key(renewed) == spki
        assert _certificates.certificate_fingerprint(renewed) != _certificates.certificate_fingerprint(first)
        assert _certificates.certificate_public_key(other) != spki

    def test_unreadable(self):
        assert _certificates.certificate_public_key(None) is None
        assert _certificates.certificate_public_key("no pem") is None
        der = b"\x30\x82\x05\x00\x30"  # cut short
        pem = "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % base64.b64encode(der).decode()
        assert _certificates.certificate_public_key(pem) is None


def test_join_settles_at_once_on_a_certificate_error():
    """After a join PVE serves a certificate from the cluster CA: a ca_path without it fails at once, saying so."""
    from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxClient, ProxmoxError

    reads = []

    class Client:
        wait_until = ProxmoxClient.wait_until
        _sleep = staticmethod(time.sleep)

        def get(self, path, **_params):
            reads.append(path)
            raise ProxmoxError("TLS certificate of pve-b:8006 could not be verified", tls=True)

    instance = make(ClusterModule, cluster_name="lab", timeout=600)
    instance.client = Client()
    with pytest.raises(ModuleFailure) as caught:
        instance._settle("lab", deadline=time.monotonic() + 3, unseen=None)  # pylint: disable=protected-access
    assert "ca_path must hold that CA" in caught.value.msg
    assert reads == ["/cluster/status"]
