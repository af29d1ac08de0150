"""Guest addresses as PVE reports them: the QEMU agent's network-get-interfaces (qemu-server API2/Qemu/Agent.pm,
PVE::QemuServer::Agent::agent_cmd) and a container's interfaces (pve-container API2/LXC.pm, PVE::LXC::get_interfaces)."""

import pytest
from proxmoxer.core import ResourceException

from pvesim.testing import running


@pytest.fixture(scope="module")
def pve():
    with running("example-small-base.json") as handle:
        yield handle


def guests(api, kind, status):
    return [g for g in api.cluster.resources.get(type="vm") if g["type"] == kind and g["status"] == status]


def test_agent_answers_only_for_a_running_vm_with_the_agent_enabled(pve):
    api = pve.client()
    vm = guests(api, "qemu", "running")[0]
    path = api.nodes(vm["node"]).qemu(vm["vmid"])
    with pytest.raises(ResourceException) as caught:
        path.agent("network-get-interfaces").get()
    assert "No QEMU guest agent configured" in str(caught.value)
    path.config.put(agent=1)
    result = path.agent("network-get-interfaces").get()["result"]
    eth0 = next(item for item in result if item["name"] == "eth0")
    ipv4 = [a["ip-address"] for a in eth0["ip-addresses"] if a["ip-address-type"] == "ipv4"]
    assert ipv4 == ["10.0.%d.%d" % (vm["vmid"] // 256, vm["vmid"] % 256)]
    assert result[0]["name"] == "lo"


def test_stopped_guests_are_refused(pve):
    api = pve.client()
    for kind, what in (("qemu", "VM"), ("lxc", "CT")):
        stopped = guests(api, kind, "stopped")
        if not stopped:
            continue
        guest = stopped[0]
        call = (api.nodes(guest["node"]).qemu(guest["vmid"]).agent("network-get-interfaces") if kind == "qemu"
                else api.nodes(guest["node"]).lxc(guest["vmid"]).interfaces)
        with pytest.raises(ResourceException) as caught:
            call.get()
        assert "%s %d" % (what, guest["vmid"]) in str(caught.value) and "not running" in str(caught.value)


def test_container_interfaces_carry_old_and_new_keys(pve):
    api = pve.client()
    running_cts = guests(api, "lxc", "running")
    if not running_cts:
        pytest.skip("no running container in the scenario")
    ct = running_cts[0]
    interfaces = api.nodes(ct["node"]).lxc(ct["vmid"]).interfaces.get()
    eth0 = next(item for item in interfaces if item["name"] == "eth0")
    assert eth0["inet"].split("/")[0] == eth0["ip-addresses"][0]["ip-address"]
    assert eth0["hwaddr"] == eth0["hardware-address"]
