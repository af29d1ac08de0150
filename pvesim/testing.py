"""Helpers to run pvesim inside a test process.

    from pvesim.testing import running, call, make_sim

    with running("example-standalone-3.json") as pve:   # a file, or a name in pvesim/scenarios
        pve.urls          # {"node": "https://127.31.7.2:8006", ...}
        pve.ca_path       # CA bundle for TLS verification
        pve.user, pve.password   # root@pam and its password
        pve.sim           # the Simulator (state, faults, stats)
        api = pve.client("pve1")  # a proxmoxer.ProxmoxAPI logged in as root@pam

    sim = make_sim({"resources": [...]})          # no HTTP at all
    call(sim, "pve1", "GET", "/nodes/pve1/status")  # in-process, as root@pam

``pvesim_fixture(scenario, scope="module")`` turns the same into a pytest fixture.
``pve.save_state(path)`` saves the served world; ``running(load_state=path)`` serves it again.
"""

import contextlib
import errno
import json
import os
import random
import socket
from dataclasses import dataclass, field

from pvesim import scenario as scenario_mod
from pvesim import state_file
from pvesim.access import ROOT
from pvesim.dispatch import dispatch
from pvesim.routing import Identity
from pvesim.server import SimServer, attach_services


def _load(scenario):
    if isinstance(scenario, dict):
        return scenario
    with open(scenario_mod.find(scenario), encoding="utf-8") as handle:
        return json.load(handle)


def make_sim(scenario, time_scale=0.0, address_base="127.0.0.2", port=8006, cluster_name=None):
    """A :class:`Simulator` for a scenario (dict, file path, or a name in shared/scenarios),
    with access control, faults and stats set up, but no HTTP servers."""
    data = _load(scenario)
    address_of = address_allocator(address_base)
    sim = scenario_mod.build(data, time_scale=time_scale, address_of=address_of, port=port,
                             cluster_name=cluster_name)
    return attach_services(sim)


def address_allocator(base):
    """``index -> address``: ``127.0.0.2`` as base gives 127.0.0.2, 127.0.0.3, ..."""
    parts = [int(p) for p in base.split(".")]

    def address_of(index):
        value = (parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]) + index
        return ".".join(str(value >> shift & 0xFF) for shift in (24, 16, 8, 0))

    return address_of


def free_address_base(count, port=8006, attempts=50):
    """A loopback base address 127.X.Y.2 whose next ``count`` addresses have ``port`` free,
    so parallel test runs do not collide."""
    rng = random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "little"))
    for _ in range(attempts):
        base = "127.%d.%d.2" % (rng.randint(20, 250), rng.randint(0, 250))
        address_of = address_allocator(base)
        sockets = []
        try:
            for index in range(count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((address_of(index), port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free loopback address range for %d hosts on port %d" % (count, port))


def call(sim, node, method, path, /, identity=None, **params):
    """Run one API call in-process on host ``node`` (default caller: root@pam).

    The first four arguments are positional-only, so PVE parameters named ``path``
    or ``method`` can be passed as keywords."""
    attach_services(sim)
    return dispatch(sim, sim.hosts[node], method, path, params, identity or Identity(userid=ROOT))


@dataclass
class Running:
    sim: object
    server: object
    ca_path: str
    user: str
    password: str
    state_dir: str
    urls: dict = field(default_factory=dict)  # node -> "https://address:port"

    def save_state(self, path):
        """Write the whole simulated world to ``path`` (see :mod:`pvesim.state_file`)."""
        return state_file.save(self.sim, path)

    def host(self, node):
        """``(address, port)`` of a node's endpoint."""
        h = self.sim.hosts[node]
        return h.address, h.port

    def client(self, node=None, user=None, password=None, token=None, **kwargs):
        """A proxmoxer ``ProxmoxAPI`` for ``node`` (default: the first host).

        ``token`` is ``("user@realm!name", "secret")`` for API token auth."""
        from proxmoxer import ProxmoxAPI

        node = node or next(iter(self.sim.hosts))
        address, port = self.host(node)
        if token:
            tokenid, secret = token
            userid, _, name = tokenid.partition("!")
            return ProxmoxAPI(address, port=port, user=userid, token_name=name, token_value=secret,
                              verify_ssl=self.ca_path, **kwargs)
        return ProxmoxAPI(address, port=port, user=user or self.user, password=password or self.password,
                          verify_ssl=self.ca_path, **kwargs)


@contextlib.contextmanager
def running(scenario=None, time_scale=None, address_base=None, port=8006, state_dir=None, cluster_name=None,
            load_state=None):
    """Serve a scenario over HTTPS for the duration of the ``with`` block.

    With ``load_state`` (a file written by :func:`pvesim.state_file.save` or
    ``Running.save_state``) instead of a scenario, the saved world is served: same
    addresses, certificates, users, guests, tasks; ``time_scale`` replaces the saved one
    when given."""
    if (scenario is None) == (load_state is None):
        raise TypeError("running() takes a scenario or load_state, not both")
    if load_state is not None:
        if address_base is not None or cluster_name is not None:
            raise TypeError("a loaded state keeps its addresses and cluster names")
        sim = state_file.load(load_state, time_scale=time_scale)
        server = SimServer(sim, state_dir=state_dir).start()  # stops what it started if it fails
    else:
        data = _load(scenario)
        count = sum(1 for r in data.get("resources", []) if r.get("type") == "node")
        for attempt in range(1, 4):
            base = address_base or free_address_base(max(count, 1), port)
            sim = make_sim(data, time_scale=time_scale or 0.0, address_base=base, port=port,
                           cluster_name=cluster_name)
            try:
                server = SimServer(sim, state_dir=state_dir).start()
                break
            except OSError as err:
                # another test run took a free-looking address between the probe and the bind:
                # try a fresh range (only when the range was ours to choose)
                if address_base is not None or err.errno != errno.EADDRINUSE or attempt == 3:
                    raise
    try:
        yield Running(sim=sim, server=server, ca_path=server.ca_path, user=ROOT, password=sim.root_password,
                      state_dir=server.state_dir, urls={name: h.url for name, h in sim.hosts.items()})
    finally:
        server.stop()


def pvesim_fixture(scenario, scope="module", **kwargs):
    """A pytest fixture serving ``scenario`` (see :func:`running`) for its scope."""
    import pytest

    @pytest.fixture(scope=scope)
    def _fixture():
        with running(scenario, **kwargs) as handle:
            yield handle

    return _fixture
