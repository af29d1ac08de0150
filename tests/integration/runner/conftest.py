"""Run the collection's integration targets with real ``ansible-playbook`` against pvesim.

Each test module gets its own simulator (``pvesim.testing.running``) on a free loopback
address range; :func:`run_playbook` writes the connection variables beside the playbook and
runs it with the collection found through ``ANSIBLE_COLLECTIONS_PATH``.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from pvesim.testing import running

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TARGETS = os.path.join(REPO, "tests", "integration", "targets")
GUIDE_PLAYBOOK = os.path.join(REPO, "docs", "playbooks", "build-cluster.yml")
COLLECTIONS = os.path.join(REPO, ".state", "collections")
STANDALONE_3 = "example-standalone-3.json"


def _ensure_collection_link():
    link = os.path.join(COLLECTIONS, "ansible_collections", "proxops", "proxmox")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str
    results: dict  # task name -> list of per-host results (json callback), when json=True

    @property
    def output(self):
        return self.stdout + self.stderr

    def task(self, name):
        """The result of the task named ``name`` on localhost (the last one if repeated)."""
        found = self.results.get(name)
        assert found, "no task %r ran; tasks: %s" % (name, sorted(self.results))
        return found[-1]

    def stats(self):
        return _json_document(self.stdout).get("stats", {}).get("localhost", {})


def _json_document(stdout):
    """The results document the callback prints last (verbose runs print other lines first)."""
    start = stdout.rfind("\n{\n") + 1 if not stdout.startswith("{") else 0
    try:
        return json.loads(stdout[start:])
    except ValueError:
        return {}


def connection_vars(pve):
    """The variables the guide playbook and the targets take, for a running pvesim."""
    return {
        "pve_api_hosts": [pve.sim.hosts[name].address for name in pve.sim.hosts],
        "pve_nodes": {name: host.address for name, host in pve.sim.hosts.items()},
        "pve_api_port": next(iter(pve.sim.hosts.values())).port,
        "pve_ca_path": pve.ca_path,
        "pve_root_password": pve.password,
    }


_RESOLVER = """import json, os, socket
_names = json.loads(os.environ.get("PVESIM_TEST_HOST_NAMES") or "{}")
_getaddrinfo = socket.getaddrinfo


def _resolve(host, *args, **kwargs):
    return _getaddrinfo(_names.get(host, host), *args, **kwargs)


if _names:
    socket.getaddrinfo = _resolve
"""


def run_playbook(playbook, extra_vars, tmp_path, check=False, diff=False, verbosity=0, json_output=True, tags=None,
                 host_names=None):
    """Run ``playbook`` on localhost; the variables go in a file (never on the command line).

    ``host_names`` ({name: IP address}) makes the Python processes of the run (the modules among them)
    resolve those names, through a ``sitecustomize`` on ``PYTHONPATH``: for names like an FQDN of a host.
    """
    _ensure_collection_link()
    vars_file = os.path.join(str(tmp_path), "vars-%d.json" % os.getpid())
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(extra_vars, handle)
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_HOME=os.path.join(str(tmp_path), "ansible-home"),
    )
    if host_names:
        resolver_dir = os.path.join(str(tmp_path), "resolver")
        os.makedirs(resolver_dir, exist_ok=True)
        with open(os.path.join(resolver_dir, "sitecustomize.py"), "w", encoding="utf-8") as handle:
            handle.write(_RESOLVER)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [resolver_dir, env.get("PYTHONPATH")]))
        env["PVESIM_TEST_HOST_NAMES"] = json.dumps(host_names)
    if json_output:
        env["ANSIBLE_CALLBACK_PLUGINS"] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_plugins")
        env["ANSIBLE_STDOUT_CALLBACK"] = "results_json"
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", "@" + vars_file, playbook]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if verbosity:
        command.append("-" + "v" * verbosity)
    if tags:
        command += ["--tags", tags]
    proc = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    results = {}
    if json_output:
        data = _json_document(proc.stdout)
        for play in data.get("plays", []):
            for task in play.get("tasks", []):
                results.setdefault(task["task"]["name"], []).append(task["hosts"].get("localhost", {}))
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, results)


def target_playbook(name, tmp_path):
    """A playbook running target ``name``'s tasks/main.yml on localhost."""
    path = os.path.join(str(tmp_path), "run-%s.yml" % name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                     "    - ansible.builtin.import_tasks: %s\n" % os.path.join(TARGETS, name, "tasks", "main.yml"))
    return path


@pytest.fixture(scope="module")
def pve():
    """Three standalone pvesim hosts (pve-a holds guests), instant tasks."""
    with running(STANDALONE_3, time_scale=0.0) as handle:
        yield handle
