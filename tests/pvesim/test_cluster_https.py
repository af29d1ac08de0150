"""The cluster build of ``make demo`` over HTTPS with a real client (proxmoxer):
create on one host, read join info there, join two others with its fingerprint."""


import pytest
from proxmoxer.core import ResourceException

from pvesim.testing import running
from helpers import task_over_https


@pytest.fixture(scope="module")
def pve():
    scenario = {
        "name": "five standalone hosts",
        "cluster_name": None,
        "resources": [{"type": "node", "node": n, "status": "online", "maxcpu": 4, "maxmem": 8 * 1024 ** 3}
                      for n in ("pve-a", "pve-b", "pve-c", "pve-d", "pve-e")]
        + [{"type": "qemu", "vmid": 100, "node": "pve-d", "name": "busy", "status": "running",
            "maxcpu": 1, "maxmem": 1024 ** 3, "mem": 512 * 1024 ** 2}],
    }
    with running(scenario) as handle:
        yield handle


def test_create_and_join_over_https(pve):
    a = pve.client("pve-a")
    upid = a.cluster.config.post(clustername="demo")
    assert upid.startswith("UPID:pve-a:") and ":clustercreate:demo:" in upid
    assert task_over_https(a, "pve-a", upid)["exitstatus"] == "OK"

    info = a.cluster.config.join.get()
    fingerprint = info["nodelist"][0]["pve_fp"]
    # the fingerprint join info gives is the one the endpoint really serves
    assert fingerprint == pve.sim.hosts["pve-a"].fingerprint
    address_a = pve.sim.hosts["pve-a"].address

    fingerprint_b = pve.sim.hosts["pve-b"].fingerprint
    for node in ("pve-b", "pve-c"):
        api = pve.client(node)
        upid = api.cluster.config.join.post(hostname=address_a, fingerprint=fingerprint, password=pve.password)
        assert ":clusterjoin::" in upid
        # the joiner now has the cluster's /etc/pve and its ticket key: the old ticket is
        # refused, a new login polls the join task (time_scale 0: it has finished already)
        with pytest.raises(ResourceException) as err:
            api.nodes(node).tasks(upid).status.get()
        assert err.value.status_code == 401
        assert task_over_https(pve.client(node), node, upid)["exitstatus"] == "OK"

    # the joiners got new node certificates; join info and /nodes show them
    info = a.cluster.config.join.get()
    fp_of = {n["name"]: n["pve_fp"] for n in info["nodelist"]}
    assert fp_of["pve-b"] == pve.sim.hosts["pve-b"].fingerprint != fingerprint_b
    assert {n["node"]: n["ssl_fingerprint"] for n in a.nodes.get()} == fp_of

    for node in ("pve-a", "pve-b", "pve-c"):
        status = pve.client(node).cluster.status.get()
        cluster = status[0]
        assert (cluster["type"], cluster["name"], cluster["nodes"], cluster["quorate"]) == ("cluster", "demo", 3, 1)
        assert sorted(s["name"] for s in status[1:]) == ["pve-a", "pve-b", "pve-c"]
        assert [s["name"] for s in status[1:] if s["local"]] == [node]

    # one cluster: a member answers for another
    c_status = pve.client("pve-b").nodes("pve-c").status.get()
    assert c_status["cpuinfo"]["cpus"] == 4

    # refusals come back as the task's exit status, worded like PVE
    e = pve.client("pve-e")
    upid = e.cluster.config.join.post(hostname=address_a, fingerprint=":".join(["00"] * 32), password=pve.password)
    assert task_over_https(e, "pve-e", upid)["exitstatus"] == "fingerprint '%s' not verified, abort!" % fingerprint
    upid = e.cluster.config.join.post(hostname=address_a, fingerprint=fingerprint, password="wrong")
    assert task_over_https(e, "pve-e", upid)["exitstatus"] == "401 authentication failure"
    d = pve.client("pve-d")
    upid = d.cluster.config.join.post(hostname=address_a, fingerprint=fingerprint, password=pve.password)
    assert task_over_https(d, "pve-d", upid)["exitstatus"] == "Check if node may join a cluster failed!"
    log = [line["t"] for line in d.nodes("pve-d").tasks(upid).log.get()]
    assert "* this host already contains virtual guests" in log

    b = pve.client("pve-b")
    upid = b.cluster.config.join.post(hostname=address_a, fingerprint=fingerprint, password=pve.password)
    assert task_over_https(b, "pve-b", upid)["exitstatus"] == "Check if node may join a cluster failed!"

    # creating again on a member is refused synchronously
    with pytest.raises(ResourceException) as err:
        b.cluster.config.post(clustername="again")
    assert err.value.status_code == 500
    assert "cluster config '/etc/pve/corosync.conf' already exists" in str(err.value)
