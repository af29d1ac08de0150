"""Node API: list, status (cpuinfo from the scenario), power, DNS, hosts, time, config,
subscription, certificates, wake-on-LAN, apt, capabilities, RRD."""

import datetime
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pvesim import certs
from pvesim.testing import call, make_sim

from helpers import api_error, issue_certificates

GIB = 1024 ** 3

SKYLAKE = {"model": "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", "vendor": "GenuineIntel", "sockets": 2, "cores": 16,
           "cpus": 64, "mhz": "2100.000",
           "flags": "fpu vme sse sse2 ssse3 sse4_1 sse4_2 aes avx avx2 avx512f pcid pdpe1gb vmx md_clear ssbd"}
ICELAKE = {"model": "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "vendor": "GenuineIntel", "sockets": 2, "cores": 32,
           "cpus": 128, "mhz": "2000.000",
           "flags": "fpu vme sse sse2 ssse3 sse4_1 sse4_2 aes avx avx2 avx512f avx512_vnni gfni vaes pcid pdpe1gb vmx md_clear"}
EPYC = {"model": "AMD EPYC 7543 32-Core Processor", "vendor": "AuthenticAMD", "sockets": 1, "cores": 32, "cpus": 64,
        "mhz": "2800.000", "flags": "fpu vme sse sse2 ssse3 sse4_1 sse4_2 aes avx avx2 pdpe1gb svm ibpb ssbd"}

SCENARIO = {
    "name": "mixed hardware",
    "cluster_name": "lab",
    "cpuinfo": {"sky": SKYLAKE, "ice": ICELAKE, "epyc": EPYC},
    "resources": [
        {"type": "node", "node": "sky", "status": "online", "maxcpu": 64, "maxmem": 256 * GIB, "mem": 40 * GIB,
         "cpu": 0.1, "maxdisk": 100 * GIB, "disk": 20 * GIB},
        {"type": "node", "node": "ice", "status": "online", "maxcpu": 128, "maxmem": 512 * GIB, "mem": 60 * GIB,
         "cpu": 0.2},
        {"type": "node", "node": "epyc", "status": "online", "maxcpu": 64, "maxmem": 256 * GIB, "mem": 30 * GIB,
         "cpu": 0.05},
        {"type": "qemu", "vmid": 100, "node": "sky", "name": "web", "status": "running", "maxcpu": 4,
         "cpu": 0.5, "maxmem": 8 * GIB, "mem": 4 * GIB},
        {"type": "qemu", "vmid": 101, "node": "epyc", "name": "db", "status": "running", "maxcpu": 8,
         "cpu": 0.25, "maxmem": 16 * GIB, "mem": 12 * GIB},
    ],
}


@pytest.fixture
def sim():
    return make_sim(SCENARIO)


def _self_signed(common_name="custom.example.com", key=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


# --- list and status -------------------------------------------------------------

def test_nodes_list(sim):
    nodes = call(sim, "sky", "GET", "/nodes")
    assert [n["node"] for n in nodes] == ["epyc", "ice", "sky"]
    sky = next(n for n in nodes if n["node"] == "sky")
    assert sky["status"] == "online" and sky["type"] == "node" and sky["id"] == "node/sky"
    assert sky["maxcpu"] == 64 and sky["maxmem"] == 256 * GIB
    assert sky["mem"] == 40 * GIB  # the scenario's host-wide figure
    assert abs(sky["cpu"] - 0.1) < 1e-6 and sky["uptime"] > 0
    assert sky["level"] == ""
    sim.hosts["ice"].online = False
    ice = next(n for n in call(sim, "sky", "GET", "/nodes") if n["node"] == "ice")
    assert ice["status"] == "offline" and "cpu" not in ice


def test_status_cpuinfo_from_scenario(sim):
    for node, info in (("sky", SKYLAKE), ("ice", ICELAKE), ("epyc", EPYC)):
        status = call(sim, "sky", "GET", "/nodes/%s/status" % node)
        cpuinfo = status["cpuinfo"]
        for key in ("model", "vendor", "sockets", "cores", "cpus", "mhz", "flags"):
            assert cpuinfo[key] == info[key]
        assert status["pveversion"].startswith("pve-manager/9.1.9/")
        assert status["memory"]["total"] == sim.hosts[node].maxmem
        assert status["memory"]["used"] + status["memory"]["free"] == status["memory"]["total"]
        assert len(status["loadavg"]) == 3 and status["current-kernel"]["sysname"] == "Linux"
        assert status["boot-info"]["mode"] in ("efi", "legacy-bios")
        assert {"swap", "rootfs", "ksm", "wait", "idle", "kversion", "uptime", "cpu"} <= set(status)


def test_unknown_node(sim):
    err = api_error(call, sim, "sky", "GET", "/nodes/nope/status")
    assert (err.status, err.message) == (500, "no such cluster node 'nope'")


def test_cpu_flags_are_the_same_on_every_node(sim):
    # qemu-server's get_supported_cpu_flags: a fixed list, not the host's /proc flags
    # (more in tests/pvesim/test_cpu_capabilities.py)
    sky = call(sim, "sky", "GET", "/nodes/sky/capabilities/qemu/cpu-flags")
    assert call(sim, "sky", "GET", "/nodes/epyc/capabilities/qemu/cpu-flags") == sky
    assert sky[0]["name"] == "nested-virt" and len(sky) == 13


def test_cpu_models(sim):
    models = call(sim, "sky", "GET", "/nodes/sky/capabilities/qemu/cpu")
    by_name = {m["name"]: m for m in models}
    assert by_name["host"] == {"name": "host", "vendor": "default", "custom": 0}
    assert by_name["EPYC-Milan"]["vendor"] == "AuthenticAMD"
    assert by_name["Skylake-Server"]["vendor"] == "GenuineIntel"
    assert by_name["x86-64-v2-AES"]["vendor"] == "default"


def test_rrddata(sim):
    hour = call(sim, "sky", "GET", "/nodes/sky/rrddata", timeframe="hour")
    assert len(hour) == 70 and hour[1]["time"] - hour[0]["time"] == 60
    assert {"cpu", "memused", "memtotal", "loadavg", "netin", "netout", "rootused"} <= set(hour[-1])
    assert all(0 <= p["cpu"] <= 1 for p in hour)
    peak = call(sim, "sky", "GET", "/nodes/sky/rrddata", timeframe="day", cf="MAX")
    assert peak[1]["time"] - peak[0]["time"] == 1800
    err = api_error(call, sim, "sky", "GET", "/nodes/sky/rrddata", timeframe="century")
    assert err.status == 400 and "timeframe" in err.errors


def test_apt_update_is_a_task(sim):
    upid = call(sim, "sky", "POST", "/nodes/ice/apt/update")
    assert upid.startswith("UPID:ice:") and ":aptupdate::" in upid
    task = sim.hosts["ice"].tasks[upid]
    assert task.exitstatus == "OK" and "starting apt-get update" in task.lines
    assert call(sim, "sky", "GET", "/nodes/ice/apt/update") == []


# --- power ----------------------------------------------------------------------------

def test_reboot_takes_node_down_and_back():
    sim = make_sim(SCENARIO, time_scale=0.005)  # reboot: 60 simulated s = 0.3 s
    call(sim, "ice", "POST", "/nodes/sky/status", command="reboot")
    sky = sim.hosts["sky"]
    assert not sky.online and sky.online_at is not None
    assert not sky.fs.guests[100].running  # guests stop with the host
    err = api_error(call, sim, "ice", "GET", "/nodes/sky/status")
    assert err.status == 595
    assert next(n for n in call(sim, "ice", "GET", "/nodes") if n["node"] == "sky")["status"] == "offline"
    assert call(sim, "ice", "GET", "/cluster/status")[0]["quorate"] == 1  # 2 of 3 votes
    time.sleep(0.4)
    status = call(sim, "ice", "GET", "/nodes/sky/status")
    assert sky.online and status["uptime"] < 5


def test_shutdown_stays_off_until_woken():
    sim = make_sim(SCENARIO, time_scale=0.005)  # wake: 45 simulated s = 0.225 s
    err = api_error(call, sim, "ice", "POST", "/nodes/epyc/wakeonlan")
    assert err.message == "No wake on LAN MAC address defined for 'epyc'!"
    call(sim, "ice", "PUT", "/nodes/epyc/config", wakeonlan="aa:bb:cc:dd:ee:01")
    call(sim, "ice", "POST", "/nodes/epyc/status", command="shutdown")
    assert not sim.hosts["epyc"].online and sim.hosts["epyc"].online_at is None
    time.sleep(0.1)
    assert api_error(call, sim, "ice", "GET", "/nodes/epyc/status").status == 595
    assert not sim.hosts["epyc"].online
    err = api_error(call, sim, "ice", "POST", "/nodes/ice/wakeonlan")
    assert err.message == "'ice' is local node, cannot wake my self!"
    assert call(sim, "ice", "POST", "/nodes/epyc/wakeonlan") == "aa:bb:cc:dd:ee:01"
    assert not sim.hosts["epyc"].online  # still booting
    time.sleep(0.3)
    assert call(sim, "ice", "GET", "/nodes/epyc/status")["cpuinfo"]["model"] == EPYC["model"]
    # guest 101 ran in the scenario, so it has onboot=1: it starts again with its node
    assert sim.hosts["epyc"].fs.guests[101].running


def test_power_command_is_validated(sim):
    err = api_error(call, sim, "sky", "POST", "/nodes/sky/status", command="hibernate")
    assert err.status == 400 and "command" in err.errors


# --- DNS, hosts, time ---------------------------------------------------------------------

def test_dns_round_trip(sim):
    assert set(call(sim, "sky", "GET", "/nodes/ice/dns")) >= {"search", "dns1"}
    call(sim, "sky", "PUT", "/nodes/ice/dns", search="lab.example", dns1="10.0.0.53", dns2="10.0.0.53",
         dns3="10.0.1.53")
    assert call(sim, "sky", "GET", "/nodes/ice/dns") == {"search": "lab.example", "dns1": "10.0.0.53",
                                                        "dns2": "10.0.1.53"}
    assert call(sim, "sky", "GET", "/nodes/sky/dns")["search"] != "lab.example"  # node-local
    err = api_error(call, sim, "sky", "PUT", "/nodes/ice/dns", dns1="10.0.0.53")
    assert err.status == 400 and "search" in err.errors
    err = api_error(call, sim, "sky", "PUT", "/nodes/ice/dns", search="x", dns1="not-an-ip")
    assert err.status == 400 and "dns1" in err.errors


def test_hosts_round_trip_with_digest(sim):
    current = call(sim, "sky", "GET", "/nodes/sky/hosts")
    assert "localhost" in current["data"] and current["digest"]
    new = current["data"] + "10.0.0.9 extra.example extra\n"
    call(sim, "sky", "POST", "/nodes/sky/hosts", data=new, digest=current["digest"])
    after = call(sim, "sky", "GET", "/nodes/sky/hosts")
    assert after["data"] == new and after["digest"] != current["digest"]
    err = api_error(call, sim, "sky", "POST", "/nodes/sky/hosts", data="x", digest=current["digest"])
    assert err.message == "detected modified configuration - file changed by other user? Try again."
    assert call(sim, "sky", "GET", "/nodes/sky/hosts")["data"] == new


def test_time_round_trip(sim):
    before = call(sim, "sky", "GET", "/nodes/sky/time")
    assert before["timezone"] == "UTC" and before["localtime"] == before["time"]
    call(sim, "sky", "PUT", "/nodes/sky/time", timezone="Asia/Kolkata")
    after = call(sim, "sky", "GET", "/nodes/sky/time")
    assert after["timezone"] == "Asia/Kolkata" and after["localtime"] - after["time"] == 19800
    err = api_error(call, sim, "sky", "PUT", "/nodes/sky/time", timezone="Mars/Olympus")
    assert (err.status, err.errors) == (400, {"timezone": "No such timezone"})


# --- node config -------------------------------------------------------------------------------

def test_node_config_round_trip(sim):
    empty = call(sim, "sky", "GET", "/nodes/ice/config")
    assert set(empty) == {"digest"}
    call(sim, "sky", "PUT", "/nodes/ice/config", description="rack 4\nrow B",
         wakeonlan="mac=aa:bb:cc:dd:ee:ff,broadcast-address=10.0.0.255")
    conf = call(sim, "sky", "GET", "/nodes/ice/config")
    assert conf["description"] == "rack 4\nrow B"
    assert conf["wakeonlan"] == "mac=aa:bb:cc:dd:ee:ff,broadcast-address=10.0.0.255"
    assert conf["digest"] != empty["digest"]
    assert call(sim, "sky", "GET", "/nodes/ice/config", property="description") == {"description": "rack 4\nrow B"}
    err = api_error(call, sim, "sky", "PUT", "/nodes/ice/config", description="x", digest=empty["digest"])
    assert err.message == "detected modified configuration - file changed by other user? Try again."
    call(sim, "sky", "PUT", "/nodes/ice/config", delete="description", digest=conf["digest"])
    assert "description" not in call(sim, "sky", "GET", "/nodes/ice/config")
    err = api_error(call, sim, "sky", "PUT", "/nodes/ice/config", wakeonlan="not-a-mac")
    assert err.status == 400 and "wakeonlan" in err.errors


# --- subscription ----------------------------------------------------------------------------------

def test_subscription_life_cycle(sim):
    info = call(sim, "sky", "GET", "/nodes/sky/subscription")
    assert info["status"] == "notfound" and info["message"] == "There is no subscription key"
    call(sim, "sky", "PUT", "/nodes/sky/subscription", key="pve2c-0123456789")
    info = call(sim, "sky", "GET", "/nodes/sky/subscription")
    assert info["status"] == "active" and info["level"] == "c" and info["key"] == "pve2c-0123456789"
    assert info["productname"] == "Proxmox VE Community Subscription 2 CPUs/year"
    assert {"serverid", "sockets", "checktime", "nextduedate", "regdate"} <= set(info)
    # the level shows up in the node list and the cluster status
    assert next(n for n in call(sim, "ice", "GET", "/nodes") if n["node"] == "sky")["level"] == "c"
    assert next(s for s in call(sim, "ice", "GET", "/cluster/status") if s["name"] == "sky")["level"] == "c"
    call(sim, "sky", "POST", "/nodes/sky/subscription", force=1)
    assert call(sim, "sky", "GET", "/nodes/sky/subscription")["status"] == "active"
    call(sim, "sky", "DELETE", "/nodes/sky/subscription")
    assert call(sim, "sky", "GET", "/nodes/sky/subscription")["status"] == "notfound"


def test_subscription_key_checks(sim):
    err = api_error(call, sim, "sky", "PUT", "/nodes/sky/subscription", key="pve3c-0123456789")
    assert err.status == 400 and "key" in err.errors
    call(sim, "sky", "PUT", "/nodes/sky/subscription", key="pve4p-012345dead")
    info = call(sim, "sky", "GET", "/nodes/sky/subscription")
    assert info["status"] == "invalid" and "level" not in info
    # sky has 2 sockets: PVE's check_key refuses the key before it writes anything
    err = api_error(call, sim, "sky", "PUT", "/nodes/sky/subscription", key="pve1s-0123456789")
    assert (err.status, err.message) == (500, "wrong number of sockets (1 < 2)")
    assert call(sim, "sky", "GET", "/nodes/sky/subscription")["key"] == "pve4p-012345dead"
    call(sim, "sky", "PUT", "/nodes/sky/subscription", key=" pve8b-00000000ff ")  # PVE trims the key
    assert call(sim, "sky", "GET", "/nodes/sky/subscription")["status"] == "expired"


def test_subscription_check_without_the_shop_leaves_the_new_key(sim):
    """PVE's set writes the key with status "new", then asks the shop: when that fails the PUT is a 500
    and the new key stays, unchecked; POST (update) fails the same way and changes nothing."""
    call(sim, "sky", "PUT", "/nodes/sky/subscription", key="pve2c-0123456789")
    sim.faults.shop_unreachable(node="sky", count=2)
    err = api_error(call, sim, "sky", "PUT", "/nodes/sky/subscription", key="pve2b-0123456789")
    assert err.status == 500 and "shop" in err.message
    info = call(sim, "sky", "GET", "/nodes/sky/subscription")
    assert (info["key"], info["status"]) == ("pve2b-0123456789", "new") and "level" not in info
    err = api_error(call, sim, "sky", "POST", "/nodes/sky/subscription", force=1)
    assert err.status == 500
    assert call(sim, "sky", "GET", "/nodes/sky/subscription")["status"] == "new"
    # the shop is back (count used up): a forced update checks the key
    call(sim, "sky", "POST", "/nodes/sky/subscription", force=1)
    assert call(sim, "sky", "GET", "/nodes/sky/subscription")["status"] == "active"
    # only the named host's checks fail
    sim.faults.shop_unreachable(node="ice")
    call(sim, "sky", "PUT", "/nodes/sky/subscription", key="pve2c-0123456789")
    assert api_error(call, sim, "sky", "PUT", "/nodes/ice/subscription", key="pve2c-0123456789").status == 500
    assert sim.faults.describe()["rules"][0]["kind"] == "shop"
    sim.faults.apply({"action": "clear"})
    call(sim, "sky", "PUT", "/nodes/ice/subscription", key="pve2c-0123456789")


# --- certificates -------------------------------------------------------------------------------------

def test_certificate_info(sim):
    issue_certificates(sim)
    [info] = call(sim, "sky", "GET", "/nodes/ice/certificates/info")
    assert info["filename"] == "pve-ssl.pem" and info["fingerprint"] == sim.hosts["ice"].fingerprint
    assert info["subject"].endswith("CN=ice.pvesim") and info["issuer"].endswith("CN=pvesim Root CA")
    assert info["notbefore"] < time.time() < info["notafter"]
    assert "ice" in info["san"] and info["public-key-type"] == "id-ecPublicKey" and info["public-key-bits"] == 256
    assert info["pem"].startswith("-----BEGIN CERTIFICATE-----")


def test_custom_certificate_upload_and_delete(sim):
    issue_certificates(sim)
    original = sim.hosts["ice"].fingerprint
    cert_pem, key_pem = _self_signed()
    _, other_key = _self_signed()
    err = api_error(call, sim, "sky", "POST", "/nodes/ice/certificates/custom", certificates=cert_pem)
    assert err.errors == {"key": "Attempted to upload custom certificate without (existing) key."}
    err = api_error(call, sim, "sky", "POST", "/nodes/ice/certificates/custom", certificates=cert_pem, key=other_key)
    assert err.message == "Failed to validate private key and certificate"
    err = api_error(call, sim, "sky", "POST", "/nodes/ice/certificates/custom", certificates="garbage", key=key_pem)
    assert err.status == 400 and "certificates" in err.errors

    info = call(sim, "sky", "POST", "/nodes/ice/certificates/custom", certificates=cert_pem, key=key_pem, restart=1)
    assert info["filename"] == "pveproxy-ssl.pem" and info["subject"] == "/CN=custom.example.com"
    assert info["fingerprint"] == certs.fingerprint(cert_pem) == sim.hosts["ice"].fingerprint != original
    listed = call(sim, "sky", "GET", "/nodes/ice/certificates/info")
    assert [c["filename"] for c in listed] == ["pve-ssl.pem", "pveproxy-ssl.pem"]
    # /nodes reports the custom certificate's fingerprint, as PVE does
    ice = next(n for n in call(sim, "sky", "GET", "/nodes") if n["node"] == "ice")
    assert ice["ssl_fingerprint"] == info["fingerprint"]

    err = api_error(call, sim, "sky", "POST", "/nodes/ice/certificates/custom", certificates=cert_pem, key=key_pem)
    assert err.message == "Custom certificate file exists but force flag is not set."
    call(sim, "sky", "POST", "/nodes/ice/certificates/custom", certificates=cert_pem, force=1)  # keeps the key

    call(sim, "sky", "DELETE", "/nodes/ice/certificates/custom", restart=1)
    assert sim.hosts["ice"].fingerprint == original
    assert [c["filename"] for c in call(sim, "sky", "GET", "/nodes/ice/certificates/info")] == ["pve-ssl.pem"]


def test_subscription_key_needs_audit(sim):
    from pvesim.routing import Identity

    call(sim, "sky", "PUT", "/nodes/sky/subscription", key="pve2c-0123456789")
    sim.hosts["sky"].fs.users["carol@pve"] = {"enable": 1, "expire": 0, "password": "x", "tokens": {}}
    info = call(sim, "sky", "GET", "/nodes/sky/subscription", identity=Identity(userid="carol@pve"))
    # only status, message and url without Sys.Audit (PVE's Subscription.pm)
    assert set(info) == {"status", "message", "url"} and info["status"] == "active"
    # the node list still shows the nodes to her, without their load
    nodes = call(sim, "sky", "GET", "/nodes", identity=Identity(userid="carol@pve"))
    assert {n["node"]: n["status"] for n in nodes} == {"epyc": "online", "ice": "online", "sky": "online"}
    assert all("cpu" not in n for n in nodes)
