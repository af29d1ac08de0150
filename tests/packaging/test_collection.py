"""The collection as it ships: the Galaxy artifact, the module docs, the action group, the changelog."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")

# What a Galaxy artifact of this collection may hold at its top level.
COLLECTION_TOP_LEVEL = {"MANIFEST.json", "FILES.json", "README.md", "LICENSE", "requirements.txt",
                        "meta", "plugins", "docs", "changelogs", "tests"}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(REPO)],
                   check=True, capture_output=True, text=True)
    (path,) = out.glob("proxops-proxmox-*.tar.gz")
    with tarfile.open(path) as tar:
        return [member.name for member in tar.getmembers()]


def test_artifact_holds_only_the_collection(artifact):
    top = {name.split("/")[0] for name in artifact}
    assert top <= COLLECTION_TOP_LEVEL, top - COLLECTION_TOP_LEVEL
    for name in artifact:
        assert not name.startswith(("pvesim/", "demo/", "benchmarks/", "scripts/", ".venv", "build/", ".state/")), name
        assert not name.startswith(("tests/pvesim/", "tests/integration/runner/", "tests/packaging/")), name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
    for module in MODULES:
        assert "plugins/modules/%s.py" % module in artifact


def test_galaxy_metadata():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))
    assert (galaxy["namespace"], galaxy["name"]) == ("proxops", "proxmox")
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    assert {"infrastructure", "virtualization", "proxmox"} <= set(galaxy["tags"])


def test_action_group_lists_every_module():
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    assert runtime["requires_ansible"] == ">=2.16.0"
    assert sorted(runtime["action_groups"]["proxmox"]) == MODULES


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_works(module):
    answer = subprocess.run([str(BIN / "ansible-doc"), "--json", "proxops.proxmox." + module],
                            check=True, capture_output=True, text=True, env=dict(os.environ))
    doc = json.loads(answer.stdout)["proxops.proxmox." + module]
    assert doc["doc"]["short_description"]
    assert doc["examples"].strip()
    assert "api_host" in doc["doc"]["options"]
    assert doc["doc"]["attributes"]["action_group"]["membership"] == ["proxops.proxmox.proxmox"]


def test_changelog_fragments_lint():
    answer = subprocess.run([str(BIN / "antsibull-changelog"), "lint"], cwd=REPO, capture_output=True, text=True)
    assert answer.returncode == 0 and not answer.stdout.strip(), answer.stdout + answer.stderr
