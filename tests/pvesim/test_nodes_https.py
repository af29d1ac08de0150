"""Node power and certificates seen by a real client over HTTPS."""

import datetime
import hashlib
import socket
import ssl
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pvesim.testing import running

GIB = 1024 ** 3

SCENARIO = {
    "name": "three clustered nodes",
    "cluster_name": "lab",
    "resources": [{"type": "node", "node": n, "status": "online", "maxcpu": 8, "maxmem": 32 * GIB}
                  for n in ("n1", "n2", "n3")],
}


def _self_signed(common_name):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=90)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def _served_fingerprint(address, port):
    pem = ssl.get_server_certificate((address, port))
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


def _refuses(address, port):
    """True when the endpoint gives no TLS answer (what an offline host looks like)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), timeout=2) as sock:
            with context.wrap_socket(sock) as tls:
                tls.sendall(b"GET /api2/json/version HTTP/1.0\r\n\r\n")
                return tls.recv(10) == b""
    except (OSError, ssl.SSLError):
        return True


@pytest.fixture(scope="module")
def pve():
    with running(SCENARIO, time_scale=0.005) as handle:  # wake-up boot: 45 simulated s = 0.225 s
        yield handle


def test_shutdown_and_wake_over_https(pve):
    n1 = pve.client("n1")
    n1.nodes("n3").config.put(wakeonlan="aa:bb:cc:dd:ee:03")
    n1.nodes("n3").status.post(command="shutdown")
    address, port = pve.host("n3")
    assert _refuses(address, port)
    states = {n["node"]: n["status"] for n in n1.nodes.get()}
    assert states == {"n1": "online", "n2": "online", "n3": "offline"}
    assert n1.nodes("n3").wakeonlan.post() == "aa:bb:cc:dd:ee:03"
    deadline = time.monotonic() + 3
    # polled at its own address: nothing else talks to the simulator meanwhile
    while _refuses(address, port):
        assert time.monotonic() < deadline, "n3 did not come back"
        time.sleep(0.05)
    assert {n["node"]: n["status"] for n in n1.nodes.get()}["n3"] == "online"
    assert pve.client("n3").nodes("n3").status.get()["uptime"] < 5


def test_custom_certificate_is_served_after_restart(pve):
    address, port = pve.host("n2")
    original = _served_fingerprint(address, port)
    assert original == pve.sim.hosts["n2"].fingerprint
    cert_pem, key_pem = _self_signed("n2.example.com")
    n1 = pve.client("n1")
    info = n1.nodes("n2").certificates.custom.post(certificates=cert_pem, key=key_pem, restart=1)
    assert _served_fingerprint(address, port) == info["fingerprint"] != original
    n1.nodes("n2").certificates.custom.delete(restart=1)
    assert _served_fingerprint(address, port) == original
