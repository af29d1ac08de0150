"""Every module's EXAMPLES, run as written by ansible-playbook against pvesim.

The project rule: documentation is true and examples run as written. Each module's ``EXAMPLES``
string is read with ``ast`` (the module file is never executed) and parsed as YAML tasks. The
tasks run in one playbook, on localhost, against three standalone pvesim hosts named like the
hosts of the examples (``pve-a`` holds guests, as a host that creates a cluster may), with the
corosync network addresses the examples use (scenario key ``node_addresses``).

What the test changes in an example task, and nothing else:

- the connection options (:data:`CONNECTION_OPTIONS`): ``api_host: pve-a.example.com`` becomes
  the pvesim address of node ``pve-a``; ``api_port`` and ``ca_path`` are added;
- the variables the examples expect from a vault or inventory are given as extra vars
  (:func:`_extra_vars`); files read with ``lookup('file', ...)`` are written beside the playbook.

The examples of all modules form one story, run in :data:`ORDER`: create a cluster, read its join
information, join the other hosts, manage node settings, and last shut a node down and remove it.
Every example must appear in :data:`ORDER` exactly once, so a new example fails this test until it
is placed. The whole story up to the removal runs twice in a row; the removal tasks, after which
the node is gone, run twice each. The second run of a task must not report a change, except for the
tasks in :data:`NEVER_IDEMPOTENT` (a reboot always reboots, as its documentation says).
"""

import ast
import copy
import json
import os

import pytest
import yaml
from conftest import REPO, _json_document, run_playbook

from pvesim import scenario
from pvesim.certs import fingerprint
from pvesim.testing import running

MODULES = ("cluster", "cluster_join_info", "node", "storage", "snapshot", "snapshot_info", "cpu_baseline", "balancer")
CONNECTION_OPTIONS = ("api_host", "api_port", "api_user", "api_password", "api_token_id", "api_token_secret",
                      "ca_path", "validate_certs")
EXAMPLE_DOMAIN = ".example.com"  # api_host: <node>.example.com

# The order the examples run in, as (module, task name). The story: the cluster is created, its
# join information read, the other hosts join; cluster_join_info's own join then finds pve-b in the
# cluster already (no change); node settings are made on pve-b; last pve-c is shut down and removed.
ORDER = [
    ("cluster", "Create the cluster on the first host"),
    ("cluster", "Read the join information from the first host"),
    ("cluster", "Join the second host"),
    ("cluster", "Join the third host through the first one's address on the cluster network"),
    ("cluster_join_info", "Read the join information of the cluster"),
    ("cluster_join_info", "Read the join information, if the host is in a cluster"),
    ("cluster_join_info", "Join another host with it"),
    ("node", "Resolver, time zone and notes"),
    ("node", "Cluster members in /etc/hosts"),
    ("node", "Subscription key from the vault"),
    ("node", "Custom API certificate"),
    ("node", "Reboot a node and wait until it is back"),
    ("node", "Wake a node up"),
    ("storage", "NFS share for ISO images and backups, on two nodes only"),
    ("storage", "Local directory for container templates"),
    ("storage", "Proxmox Backup Server, its password sent only when the storage is created"),
    ("storage", "Take the NFS share out of use for a while"),
    ("balancer", "Show what draining pve-c would do, without changing anything"),
    ("balancer", "Drain pve-c before its maintenance, keeping VMs 100 and 101 apart, two migrations at a time"),
    ("balancer", "Best node for a new VM of 4 GiB and 2 cores"),
    ("snapshot", "Daily snapshots of every guest, the last seven kept"),
    ("snapshot", "Snapshot a VM before an upgrade"),
    ("snapshot", "Snapshot a VM with its RAM, found by name"),
    ("snapshot", "Roll a VM back and start it"),
    ("snapshot", "Remove the hourly snapshots older than two days from the guests on pve-a, waiting for backups"),
    ("snapshot_info", "List every snapshot of the cluster"),
    ("snapshot_info", "Show the snapshots older than 30 days"),
    ("snapshot_info", "List the daily snapshots of the VMs on pve-a"),
    ("cpu_baseline", "Read the CPU baseline of the cluster"),
    ("cpu_baseline", "Show every node's CPU and what holds the cluster back"),
    ("cpu_baseline", "Read the baseline of the nodes that are online"),
    ("cpu_baseline", "List the VMs whose CPU type would block live migration"),
    ("cpu_baseline", "Fail when a VM cannot live-migrate to every node"),
    ("cpu_baseline", "Give two VMs the cluster's CPU type"),
    ("cpu_baseline", "Give a VM a chosen CPU type, keeping the flags of its cpu that every node runs"),
]
# After these the node is gone from the cluster: each runs twice in a row instead.
ORDER_LAST = [
    ("snapshot", "Remove the snapshot once the upgrade is good"),
    ("storage", "Remove the template directory's definition (its files stay)"),
    ("cluster", "Shut down a node that leaves the cluster for good"),
    ("cluster", "Remove a node that has been shut down for good"),
    ("balancer", "Balance memory and CPU across the nodes, by what the guests are given"),
]
NEVER_IDEMPOTENT = {("node", "Reboot a node and wait until it is back")}

# The hosts of the examples: names, and the corosync addresses the cluster examples give them.
NODE_ADDRESSES = {"pve-a": ["10.10.0.1", "10.20.0.1"], "pve-b": ["10.10.0.2", "10.20.0.2"],
                  "pve-c": ["10.10.0.3", "10.20.0.3"]}
SUBSCRIPTION_KEY = "pve2c-0123456789"
PBS_PASSWORD = "pbs-example-secret"


def load_examples(module):
    """The tasks of ``plugins/modules/<module>.py``'s EXAMPLES, without running the file."""
    path = os.path.join(REPO, "plugins", "modules", module + ".py")
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXAMPLES" for t in node.targets):
            tasks = yaml.safe_load(ast.literal_eval(node.value))
            assert isinstance(tasks, list) and tasks, "%s: EXAMPLES is not a list of tasks" % module
            return tasks
    raise AssertionError("%s has no EXAMPLES" % module)


def _module_args(task):
    """``(action, args)`` of a task of this collection's modules (None for other actions)."""
    for key, value in task.items():
        if key.startswith("proxops.proxmox."):
            return key, value
    return None, None


def _connect(task, pve):
    """``task`` with its connection options pointed at pvesim; everything else as written."""
    task = copy.deepcopy(task)
    action, args = _module_args(task)
    if action is None:
        return task
    api_host = args.get("api_host", "")
    node = api_host[:-len(EXAMPLE_DOMAIN)] if api_host.endswith(EXAMPLE_DOMAIN) else None
    assert node in pve.sim.hosts, "example %r: api_host %r names no host of the scenario" % (task["name"], api_host)
    host = pve.sim.hosts[node]
    args.update(api_host=host.address, api_port=host.port, ca_path=pve.ca_path)
    return task


def _extra_vars(pve):
    """What an inventory or vault gives the examples."""
    return {"root_password": pve.password, "vault_pve_b_subscription": SUBSCRIPTION_KEY, "pbs_password": PBS_PASSWORD,
            "pbs_fingerprint": ":".join(["5a"] * 32)}


def _ordered_examples():
    examples = {module: {task["name"]: task for task in load_examples(module)} for module in MODULES}
    listed = [(module, name) for module in MODULES for name in examples[module]]
    placed = ORDER + ORDER_LAST
    assert sorted(placed) == sorted(listed), (
        "every example runs exactly once in ORDER or ORDER_LAST; not placed: %s, placed but missing: %s"
        % (sorted(set(listed) - set(placed)), sorted(set(placed) - set(listed))))
    return examples


def test_every_example_is_placed_in_the_order():
    _ordered_examples()


@pytest.fixture(scope="module")
def pve():
    """pve-a, pve-b, pve-c: standalone, pve-a holds guests, each with the examples' corosync addresses."""
    with open(scenario.find("example-standalone-3.json"), encoding="utf-8") as handle:
        data = dict(json.load(handle), node_addresses=NODE_ADDRESSES)
    with running(data, time_scale=0.0) as handle:
        yield handle


def test_examples_run_as_written_and_are_idempotent(pve, tmp_path):
    examples = _ordered_examples()
    # the files the certificate example reads: a certificate for pve-b from the cluster's CA
    host_b = pve.sim.hosts["pve-b"]
    cert_pem, key_pem = pve.server.ca.issue("pve-b", host_b.address)
    files = tmp_path / "files"
    files.mkdir()
    (files / "pve-b.crt").write_text(cert_pem)
    (files / "pve-b.key").write_text(key_pem)

    runs = [(step, 1) for step in ORDER] + [(step, 2) for step in ORDER]
    runs += [(step, n) for step in ORDER_LAST for n in (1, 2)]
    tasks = [_connect(examples[module][name], pve) for (module, name), _ in runs]
    playbook = tmp_path / "examples.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Module examples", "hosts": "localhost", "gather_facts": False,
                                         "tasks": tasks}], sort_keys=False))
    run = run_playbook(str(playbook), _extra_vars(pve), tmp_path)

    document = _json_document(run.stdout)
    results = [task["hosts"].get("localhost", {}) for play in document.get("plays", []) for task in play["tasks"]]
    for ((module, name), attempt), result in zip(runs, results):
        where = "%s example %r (run %d)" % (module, name, attempt)
        assert not result.get("failed"), "%s failed: %s" % (where, result.get("msg"))
        if attempt == 2 and (module, name) not in NEVER_IDEMPOTENT:
            assert result.get("changed") is False, "%s changed again: %s" % (where, result.get("diff") or result)
    assert len(results) == len(runs), "only %d of %d example runs happened:\n%s" % (
        len(results), len(runs), run.output[-3000:])
    assert run.returncode == 0, run.output[-3000:]

    # what the examples said happened did happen
    by_name = {(module, name, attempt): result for ((module, name), attempt), result in zip(runs, results)}
    first = lambda module, name: by_name[(module, name, 1)]  # noqa: E731
    assert first("cluster", "Create the cluster on the first host")["changed"] is True
    hosts = pve.sim.hosts
    fs = hosts["pve-a"].fs
    assert fs.cluster_name == "prod"
    assert fs.corosync_nodes["pve-b"]["ring1_addr"] == "10.20.0.2"
    assert fs.corosync_nodes["pve-a"]["ring0_addr"] == "10.10.0.1"
    assert hosts["pve-b"].fs is fs
    assert hosts["pve-c"].fs is not fs and not hosts["pve-c"].online  # shut down, then removed
    assert sorted(fs.corosync_nodes) == ["pve-a", "pve-b"]
    assert hosts["pve-b"].timezone == "Europe/Vienna"
    assert hosts["pve-b"].node_config["description"] == "Rack 4, slot 12"
    assert hosts["pve-b"].subscription.get("key") == SUBSCRIPTION_KEY
    assert hosts["pve-b"].custom_cert["fingerprint"] == fingerprint(cert_pem)
    assert "aa:bb:cc:dd:ee:ff" in hosts["pve-b"].node_config["wakeonlan"]
    assert first("node", "Reboot a node and wait until it is back")["changed"] is True
    # the secrets never reach the output
    storages = {item["storage"]: item for item in pve.client("pve-a").storage.get()}
    assert storages["nfs-backup"]["disable"] == 1 and set(storages["nfs-backup"]["content"].split(",")) == {"iso", "backup"}
    assert storages["pbs1"]["datastore"] == "store1" and "templates" not in storages
    for secret in (pve.password, SUBSCRIPTION_KEY, PBS_PASSWORD, "".join(key_pem.strip().splitlines()[1:-1])[:40]):
        assert secret not in run.output.replace("\\n", "")


def _example_playbook(tmp_path, pve, module, name, check=False):
    task = _connect({task["name"]: task for task in load_examples(module)}[name], pve)
    if check:
        task["check_mode"] = True
    playbook = tmp_path / ("%s-%s.yml" % (name.replace(" ", "-"), "check" if check else "run"))
    playbook.write_text(yaml.safe_dump([{"name": name, "hosts": "localhost", "gather_facts": False, "tasks": [task]}],
                                       sort_keys=False))
    return str(playbook)


def test_wake_example_on_a_node_that_is_off(pve, tmp_path):
    """Waking must not need the node: PVE proxies the node's config to it, so the module wakes it first.

    Runs after the story above (pve-b has its Wake-on-LAN address); pve-b is shut down through the API.
    """
    api = pve.client("pve-a")
    api.nodes("pve-b").status.post(command="shutdown")
    assert not pve.sim.hosts["pve-b"].online

    check = run_playbook(_example_playbook(tmp_path, pve, "node", "Wake a node up", check=True), _extra_vars(pve), tmp_path)
    assert check.returncode == 0, check.output[-3000:]
    assert check.task("Wake a node up")["changed"] is True
    assert not pve.sim.hosts["pve-b"].online  # check mode sent nothing

    for attempt, changed in ((1, True), (2, False)):
        run = run_playbook(_example_playbook(tmp_path, pve, "node", "Wake a node up"), _extra_vars(pve), tmp_path)
        assert run.returncode == 0, (attempt, run.output[-3000:])
        result = run.task("Wake a node up")
        assert result["changed"] is changed, (attempt, result)
        assert result["node"]["online"] is True and result["node"]["wakeonlan"] == "aa:bb:cc:dd:ee:ff"
    assert pve.sim.hosts["pve-b"].online
