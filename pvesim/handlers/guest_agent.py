"""What a running guest tells about its network: the QEMU guest agent's network-get-interfaces
(qemu-server ``API2/Qemu/Agent.pm``) and a container's interfaces (pve-container ``API2/LXC.pm``
``ip``/``interfaces``), as inventories read them for guest IP addresses."""

from pvesim.domain.guests import ensure_config, find_guest, guest_address, mac_address
from pvesim.errors import ApiError
from pvesim.routing import RouteTable

routes = RouteTable()


@routes("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces")
def qemu_agent_interfaces(req):
    _host, guest = find_guest(req.sim, req.host, req.params, "qemu")
    ensure_config(req.fs, guest)
    # PVE::QemuServer::Agent::agent_cmd: a stopped VM, then an agent not enabled in the config
    if not guest.running:
        raise ApiError(500, "VM %d is not running" % guest.vmid)
    if str(guest.config.get("agent", "0")).split(",")[0] not in ("1", "enabled=1"):
        raise ApiError(500, "No QEMU guest agent configured")
    loopback = {"name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [
        {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
        {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128}]}
    eth0 = {"name": "eth0", "hardware-address": mac_address(guest.vmid).lower(), "ip-addresses": [
        {"ip-address": guest_address(guest), "ip-address-type": "ipv4", "prefix": 24},
        {"ip-address": "fe80::be24:11ff:fe00:%x" % (guest.vmid % 65536), "ip-address-type": "ipv6", "prefix": 64}]}
    return {"result": [loopback, eth0]}


@routes("GET", "/nodes/{node}/lxc/{vmid}/interfaces")
def lxc_interfaces(req):
    _host, guest = find_guest(req.sim, req.host, req.params, "lxc")
    # PVE::LXC::get_interfaces is only answered for a running container
    if not guest.running:
        raise ApiError(500, "CT %d is not running" % guest.vmid)
    # PVE 9 gives each interface both the old keys (hwaddr, inet, inet6) and the agent's (hardware-address, ip-addresses)
    address, mac = guest_address(guest), mac_address(guest.vmid).lower()
    return [
        {"name": "lo", "hwaddr": "00:00:00:00:00:00", "hardware-address": "00:00:00:00:00:00", "inet": "127.0.0.1/8",
         "inet6": "::1/128", "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "inet", "prefix": 8},
                                             {"ip-address": "::1", "ip-address-type": "inet6", "prefix": 128}]},
        {"name": "eth0", "hwaddr": mac, "hardware-address": mac, "inet": "%s/24" % address,
         "ip-addresses": [{"ip-address": address, "ip-address-type": "inet", "prefix": 24}]},
    ]
