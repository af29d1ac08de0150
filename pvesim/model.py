"""The simulated world: hosts, their cluster file system, guests and tasks.

One :class:`Simulator` holds every simulated PVE host.  Each :class:`Host` has its own
HTTPS endpoint and node-local state (tasks, DNS, certificates, CPU).  What PVE keeps in
``/etc/pve`` (corosync config, users and ACLs, storage.cfg, guest configs, HA) lives in
a :class:`ClusterFS`: a standalone host has its own, the members of a cluster share one
object, so a write through any member is seen by all of them.

All state is guarded by ``Simulator.lock``; the server takes it around every request and
calls :meth:`Simulator.tick` first, so tasks that are due finish before anything reads.
"""

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field

from pvesim.errors import ApiError

GIB = 1024 ** 3

log = logging.getLogger("pvesim")


def monotonic_field():
    """A field holding a ``time.monotonic()`` value (or None).  Such a value means nothing in
    another process: ``pvesim.state_file`` saves it relative to the moment of saving."""
    return field(default=None, metadata={"monotonic": True})


def unsaved_field(why, **kwargs):
    """A field ``pvesim.state_file`` leaves out, for the reason ``why``."""
    return field(metadata={"not_saved": why}, **kwargs)


def _run_hook(hook, *args):
    # a broken hook is a pvesim bug: log it, but never let it break every later request
    try:
        hook(*args)
    except Exception:
        log.exception("pvesim: hook %s failed", getattr(hook, "__qualname__", hook))


@dataclass
class Snapshot:
    name: str
    description: str = ""
    snaptime: int = 0
    vmstate: int = 0
    parent: str = None
    config: dict = field(default_factory=dict)  # the guest config as it was


@dataclass
class Guest:
    vmid: int
    type: str  # "qemu" or "lxc"
    node: str
    name: str = ""
    status: str = "stopped"  # "running" / "stopped"
    maxcpu: int = 1
    cpu: float = 0.0  # fraction of maxcpu in use while running
    maxmem: int = GIB
    mem: int = 0  # bytes used while running
    maxdisk: int = 0
    disk: int = 0
    tags: str = None  # ";"-separated, as /cluster/resources gives them
    pool: str = None
    template: int = 0
    lock: str = None  # config lock held by a running task ("migrate", "snapshot", ...)
    config: dict = field(default_factory=dict)  # PVE config keys (cores, memory, net0, scsi0, ...)
    snapshots: dict = field(default_factory=dict)  # name -> Snapshot
    parent: str = None  # the snapshot the current state derives from
    uptime_since: float = None
    onboot: int = 0  # the config key onboot a scenario guest starts with (running ones: 1)
    address: str = None  # the IPv4 address the guest reports (agent, container interfaces); None: derived from vmid

    @property
    def id(self):
        return "%s/%d" % (self.type, self.vmid)

    @property
    def running(self):
        return self.status == "running"

    def used_mem(self):
        return self.mem if self.running else 0

    def used_cores(self):
        return self.cpu * self.maxcpu if self.running else 0.0


@dataclass
class ClusterFS:
    """What PVE keeps in /etc/pve: shared by the members of one cluster."""

    cluster_name: str = None  # None: a standalone host
    corosync_nodes: dict = field(default_factory=dict)  # node -> {"nodeid", "quorum_votes", "ring0_addr", ...}
    totem: dict = field(default_factory=dict)
    config_version: int = 0
    users: dict = field(default_factory=dict)  # userid -> {"password", "enable", "expire", "tokens": {...}, ...}
    groups: dict = field(default_factory=dict)
    roles: dict = field(default_factory=dict)  # custom roles; built-in roles are fixed
    acl: list = field(default_factory=list)  # [{"path", "type": user|group|token, "ugid", "roleid", "propagate"}]
    pools: dict = field(default_factory=dict)
    storage: dict = field(default_factory=dict)  # storeid -> storage.cfg section as a dict
    guests: dict = field(default_factory=dict)  # vmid -> Guest
    ha_resources: dict = field(default_factory=dict)  # sid ("vm:100") -> config dict
    ha_rules: dict = field(default_factory=dict)  # rule id -> config dict (PVE 9)
    ha_groups: dict = field(default_factory=dict)  # group -> config dict (PVE 8)
    datacenter: dict = field(default_factory=dict)  # datacenter.cfg keys as written (property strings as text)
    # authkey.key: the key tickets and CSRF tokens are signed with (pvesim.access, made on first use)
    authkey: bytes = None
    ca: dict = None  # pve-root-ca: {"cert_pem", "key_pem"} (pvesim.certs.ca_of, made on first use)
    quorum_lost: bool = False  # fault injection: sim.faults.lose_quorum
    storage_initialized: bool = False  # storage.cfg has been filled with PVE's defaults or the scenario's
    storage_secrets: dict = field(default_factory=dict)  # storeid -> write-only options (/etc/pve/priv)
    storage_sizes: dict = field(default_factory=dict)  # storeid -> {"total", "used"} a scenario gives
    corosync_authkey: str = "c2ltdWxhdGVkIGNvcm9zeW5jIGF1dGhrZXk=\n"  # what a join hands out, base64
    custom_cpu_models: dict = field(default_factory=dict)  # name -> {"vendor", ...} (cpu-models.conf)
    # /etc/pve/ha/crm_commands: commands queued for the CRM's next round (pvesim.domain.ha_manager):
    # [{"cmd": "migrate"|"relocate", "sid", "node", "queued": wall time}]
    ha_crm_commands: list = field(default_factory=list)

    def digest(self, obj):
        """A stable SHA-1 digest of a config object, as PVE returns it."""
        return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Task:
    upid: str
    node: str
    type: str  # e.g. "qmigrate", "clustercreate"
    id: str  # e.g. "100", "" for node tasks
    user: str  # authid that started it
    starttime: int
    # monotonic time when it finishes; a saved task has finished
    end_at: float = unsaved_field("a saved task has finished", default=0.0)
    # callable(task) applying the effect; raising fails the task
    finish: object = unsaved_field("code, not data", default=None)
    # callable(task) undoing what the task's start did, when it fails (not when its node dies)
    abort: object = unsaved_field("code, not data", default=None)
    guest: Guest = unsaved_field("the lock is kept on the guest", default=None)  # the guest whose config it locks
    status: str = "running"
    exitstatus: str = None
    endtime: int = None
    lines: list = field(default_factory=list)
    pid: int = 0
    pstart: int = 0
    fail_with: str = None  # fault injection: the task ends with this error, its effect not applied

    def log(self, line):
        self.lines.append(line)


@dataclass
class Host:
    """One simulated PVE host (a node once it is clustered)."""

    name: str
    address: str  # loopback address it listens on, e.g. 127.0.0.2
    port: int
    fs: ClusterFS
    maxcpu: int = 8
    maxmem: int = 64 * GIB
    maxdisk: int = 200 * GIB
    disk: int = 10 * GIB
    base_mem: int = 2 * GIB  # memory the host uses for itself
    base_cpu: float = 0.01  # fraction of maxcpu the host uses for itself
    cpuinfo: dict = field(default_factory=dict)
    online: bool = True
    online_at: float = monotonic_field()  # when an offline host comes back (reboot)
    cert_pem: str = None
    key_pem: str = None
    fingerprint: str = None  # SHA-256, "AA:BB:..."
    custom_cert: dict = None  # {"cert_pem", "key_pem", "fingerprint"} when uploaded
    dns: dict = field(default_factory=dict)
    hosts_text: str = ""
    timezone: str = "UTC"
    node_config: dict = field(default_factory=dict)  # /nodes/{node}/config keys (description, wakeonlan, ...)
    subscription: dict = field(default_factory=dict)
    tasks: dict = field(default_factory=dict)  # upid -> Task, in start order
    boot_time: float = field(default_factory=time.time)
    addresses: list = field(default_factory=list)  # further IP addresses (scenario node_addresses)
    names: list = field(default_factory=list)  # DNS names that resolve to the host (scenario host_names)
    uptime_offset: int = None  # seconds added to the uptime; None: a scenario host up for days
    powered_off: bool = False  # shut down or rebooting: the next time it is up is a boot
    ha_frozen: bool = False  # rebooted through the API: the HA manager freezes its services
    ha_down_since: float = monotonic_field()  # since when the HA manager sees the host down
    apt_updated: int = None  # wall time of the last apt update
    ha_maintenance: bool = False  # HA node maintenance (ha-manager crm-command node-maintenance enable)

    @property
    def url(self):
        return "https://%s:%d" % (self.address, self.port)

    def guests(self):
        return [g for g in self.fs.guests.values() if g.node == self.name]

    def used_mem(self):
        return self.base_mem + sum(g.used_mem() for g in self.guests()) if self.online else 0

    def cpu_fraction(self):
        if not self.online:
            return 0.0
        used = self.base_cpu * self.maxcpu + sum(g.used_cores() for g in self.guests())
        return min(1.0, used / self.maxcpu)


class Simulator:
    """Every simulated host, the clock, and the services handlers use.

    What happens on its own as simulated time passes comes from ``pvesim.registry``, in
    the order it declares: ``boot_hooks`` run as ``hook(sim, host)`` when a host boots (see
    :meth:`power_on`: guests with onboot=1 start, HA services return), ``tick_hooks`` as
    ``hook(sim)`` at the end of every :meth:`tick` (the HA manager recovers a dead node's
    services)."""

    def __init__(self, time_scale=0.0, boot_hooks=(), tick_hooks=()):
        self.lock = threading.RLock()
        self.boot_hooks = list(boot_hooks)
        self.tick_hooks = list(tick_hooks)
        self.time_scale = time_scale  # real seconds per simulated second; 0 = instant
        self.hosts = {}  # node name -> Host
        self.root_password = None
        self.access = None  # pvesim.access.AccessControl, set up by the server
        self.faults = None  # pvesim.faults.Faults
        self.stats = None  # pvesim.stats.RequestStats
        self.server = None  # pvesim.server.SimServer while served over HTTPS (reload_certificate)
        self.ca = None  # pvesim.certs.CertificateAuthority: made by the first SimServer, or from a state file
        self.ca_bundle = []  # PEMs of every CA that signed a served certificate: the state dir's ca.pem
        # Check every answer against the official ``returns`` schema (pvesim.returns); the
        # pvesim test suite turns it on with PVESIM_CHECK_RETURNS=1.
        self.check_returns = os.environ.get("PVESIM_CHECK_RETURNS", "") not in ("", "0")
        self.pve_version = "9.1"  # the PVE release answered as: "9.1" or "8.4" (scenario key pve_version)
        self._pid = 1000

    # --- hosts -------------------------------------------------------------
    def host(self, name):
        """The host named ``name``; PVE's error when there is none."""
        host = self.hosts.get(name)
        if host is None:
            raise ApiError.not_found("no such node '%s'" % name)
        return host

    def filesystems(self, node=None):
        """Every distinct ClusterFS, in host order (each cluster's once); with ``node``, only
        that host's."""
        hosts = [self.hosts[node]] if node else self.hosts.values()
        return list({id(h.fs): h.fs for h in hosts}.values())

    def members(self, fs):
        """The hosts that share ``fs`` (a cluster's members, or one standalone host)."""
        return [h for h in self.hosts.values() if h.fs is fs]

    def guest(self, vmid):
        """The guest ``vmid`` (of any cluster), or None."""
        for fs in self.filesystems():
            if int(vmid) in fs.guests:
                return fs.guests[int(vmid)]
        return None

    def set_lock(self, vmid, lock):
        """Write ``lock: <lock>`` into guest ``vmid``'s config, as another tool would (a backup
        job: ``backup``); None removes it, as ``qm unlock`` / ``pct unlock`` do.  Calls that
        check the lock (snapshot, rollback, config, migrate) refuse the guest meanwhile with
        PVE's ``VM is locked (backup)`` / ``CT is locked (backup)``.  Returns the old lock."""
        with self.lock:
            guest = self.guest(vmid)
            if guest is None:
                raise KeyError("no guest %s" % vmid)
            old, guest.lock = guest.lock, lock or None
            return old

    def node_of(self, host, name):
        """Resolve ``{node}`` as seen from ``host``: only nodes of its own cluster exist."""
        other = self.hosts.get(name)
        if other is None or other.fs is not host.fs:
            raise ApiError.not_found("no such cluster node '%s'" % name)
        return other

    def quorate(self, fs):
        """Whether the cluster ``fs`` belongs to has quorum (a standalone host always has)."""
        if not fs.cluster_name:
            return True
        if fs.quorum_lost:  # fault injection
            return False
        votes = {name: int(n.get("quorum_votes", 1)) for name, n in fs.corosync_nodes.items()}
        online = sum(v for name, v in votes.items() if name in self.hosts and self.hosts[name].online)
        return online * 2 > sum(votes.values())

    def require_quorum(self, fs):
        """PVE refuses writes to /etc/pve without quorum."""
        if not self.quorate(fs):
            raise ApiError(500, "cluster not ready - no quorum?")

    # --- time and tasks ----------------------------------------------------
    def delay(self, simulated_seconds):
        """Real seconds a simulated duration takes."""
        return simulated_seconds * self.time_scale

    def start_task(self, host, task_type, task_id, user, duration, finish=None, guest=None, lock=None,
                   abort=None):
        """Start an async task on ``host`` and return its UPID.

        ``finish(task)`` runs when the task is due (on the next :meth:`tick`); whatever
        it raises ends the task with that message as ``exitstatus``, and then ``abort(task)``
        runs, if given.  With ``guest`` and ``lock`` the guest's config is locked while the
        task runs.
        """
        if guest is not None and lock:
            if guest.lock:
                raise ApiError(500, "VM is locked (%s)" % guest.lock)
            guest.lock = lock
        self._pid += 1
        now = time.time()
        starttime = int(now)
        pstart = int((now - host.boot_time) * 100) & 0xFFFFFFFF
        upid = "UPID:%s:%08X:%08X:%08X:%s:%s:%s:" % (host.name, self._pid, pstart, starttime, task_type, task_id, user)
        task = Task(
            upid=upid, node=host.name, type=task_type, id=str(task_id), user=user, starttime=starttime,
            end_at=time.monotonic() + self.delay(duration), finish=finish, guest=guest if lock else None,
            pid=self._pid, pstart=pstart, abort=abort,
        )
        if self.faults is not None:  # sim.faults.fail_next_task(vmid, message)
            task.fail_with = self.faults.take_task_failure(guest.vmid if guest is not None else task_id)
        host.tasks[upid] = task
        if duration <= 0 or self.time_scale <= 0:
            self._finish(task)
        return upid

    def tick(self):
        """Finish the tasks that are due and bring rebooted hosts back."""
        now = time.monotonic()
        for host in self.hosts.values():
            if not host.online and host.online_at is not None and now >= host.online_at:
                self.power_on(host)
            for task in list(host.tasks.values()):
                if task.status == "running" and now >= task.end_at:
                    self._finish(task)
        for hook in self.tick_hooks:
            _run_hook(hook, self)

    def host_down(self, host):
        """``host`` stops answering (shut down, rebooting or unreachable).  The HA manager's
        fence clock (``host.ha_down_since``) starts now, not at the next request."""
        host.online = False
        if host.ha_down_since is None:
            host.ha_down_since = time.monotonic()

    def power_on(self, host):
        """``host`` answers again.  When it had been powered off (``host.powered_off``, set by
        a shutdown or reboot) this is a boot and the ``boot_hooks`` run; the end of a network
        outage is not."""
        host.online, host.online_at = True, None
        host.boot_time = time.time()
        booted, host.powered_off = host.powered_off, False
        if booted:
            for hook in self.boot_hooks:
                _run_hook(hook, self, host)

    def kill_tasks(self, host):
        """``host`` lost power: its running tasks' workers die, their effect never happens.
        PVE reads the status of such a task from a log without an end line: ``unexpected
        status``.  Unlike PVE, the guest lock a task held is released (PVE leaves it in the
        config until ``qm unlock``)."""
        for task in host.tasks.values():
            if task.status == "running":
                task.exitstatus = "unexpected status"
                task.status = "stopped"
                task.endtime = int(time.time())
                if task.guest is not None:
                    task.guest.lock = None

    def _finish(self, task):
        try:
            if task.fail_with:
                raise ApiError(500, task.fail_with)
            if task.finish is not None:
                task.finish(task)
            task.exitstatus = "OK"
        except ApiError as err:
            task.exitstatus = err.message
        except Exception as err:  # a task's failure text, whatever raised it
            task.exitstatus = str(err)
        if task.exitstatus != "OK":
            if task.abort is not None:
                task.abort(task)
            task.log("TASK ERROR: %s" % task.exitstatus)
        else:
            task.log("TASK OK")
        if task.guest is not None:
            task.guest.lock = None
        task.status = "stopped"
        task.endtime = int(time.time())
