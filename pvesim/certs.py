"""A private CA and per-host TLS certificates (SAN = IP address + node name)."""

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pvesim"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def fingerprint(cert_pem):
    """SHA-256 fingerprint as PVE shows it: ``AA:BB:...`` (of the first certificate of a
    PEM text or bytes).  The one place pvesim computes a fingerprint."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode() if isinstance(cert_pem, str) else cert_pem)
    return ":".join("%02X" % b for b in cert.fingerprint(hashes.SHA256()))


class CertificateAuthority:
    """A CA: a host's or cluster's pve-root-ca (kept in its /etc/pve, see :func:`ca_of`), or the
    simulator's own CA that tests use to make "custom" certificates (``sim.ca``)."""

    def __init__(self, cert_pem=None, key_pem=None, common_name="pvesim Root CA"):
        if cert_pem and key_pem:
            # an existing CA (a loaded state file): the hosts' certificates stay valid
            self.cert = x509.load_pem_x509_certificate(cert_pem.encode())
            self.key = serialization.load_pem_private_key(key_pem.encode(), password=None)
            return
        # EC keys: generating them is fast, which matters with many hosts and tests.
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self):
        return _pem_key(self.key)

    def issue(self, node, address):
        """``(cert_pem, key_pem)`` for a host: SAN holds its IP address and node name."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        san = [x509.DNSName(node), x509.DNSName("localhost")]
        try:
            san.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            san.append(x509.DNSName(address))
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("%s.pvesim" % node))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=700))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)


_LOADED = {}  # cert PEM -> CertificateAuthority, so a CA's key is parsed once


def ca_of(fs, name):
    """The pve-root-ca of the /etc/pve ``fs`` (``fs.ca``: cert and key PEM), made when
    it has none yet, as PVE's first boot does.  ``name`` (the node it is made for) goes in
    its subject, so the CAs of different hosts are told apart."""
    stored = fs.ca
    if not stored:
        ca = CertificateAuthority(common_name="pvesim Root CA %s" % name)
        fs.ca = {"cert_pem": ca.cert_pem, "key_pem": ca.key_pem}
        _LOADED[ca.cert_pem] = ca
        return ca
    ca = _LOADED.get(stored["cert_pem"])
    if ca is None:
        ca = _LOADED[stored["cert_pem"]] = CertificateAuthority(stored["cert_pem"], stored["key_pem"])
    return ca
