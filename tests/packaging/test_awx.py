"""What AWX / automation controller needs: the execution environment definition, the collection's EE metadata, the credential type."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AWX = REPO / "docs" / "awx"


def test_ansible_builder_creates_a_build_context(tmp_path):
    context = tmp_path / "context"
    done = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(AWX / "execution-environment.yml"),
                           "--context", str(context)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    containerfile = next(path for path in (context / "Containerfile", context / "Dockerfile") if path.exists()).read_text()
    assert "ghcr.io/ansible-community/community-ee-base" in containerfile
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert {"name": "proxops.proxmox", "version": ">=0.1.0"} in requirements["collections"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The collection as ansible-galaxy installs it from its artifact."""
    build = tmp_path_factory.mktemp("artifact")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(build), str(REPO)],
                   check=True, capture_output=True, text=True)
    target = tmp_path_factory.mktemp("collections")
    (artifact,) = build.glob("proxops-proxmox-*.tar.gz")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "--force", "-p", str(target), str(artifact)],
                   check=True, capture_output=True, text=True)
    return target


def test_introspection_finds_the_collections_python_needs(installed):
    done = subprocess.run([str(BIN / "ansible-builder"), "introspect", str(installed)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"proxmoxer>=2\.0.*# from collection proxops\.proxmox", done.stdout), done.stdout
    assert re.search(r"requests>=2\.25.*# from collection proxops\.proxmox", done.stdout), done.stdout


def test_credential_type_injects_what_the_modules_read():
    credential = yaml.safe_load((AWX / "credential-type.yml").read_text())
    fields = {field["id"]: field for field in credential["inputs"]["fields"]}
    assert all(fields[name].get("secret") for name in ("password", "token_secret"))
    injected = set(credential["injectors"]["env"])
    from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import proxmox_argument_spec

    fallbacks = {name for option in proxmox_argument_spec().values() for name in (option.get("fallback") or (None, []))[1]}
    assert injected == fallbacks
    for template in credential["injectors"]["env"].values():
        names = re.findall(r"\{\{\s*([a-z_.]+)\s*\}\}", template)
        assert all(name.split(".")[-1] in fields for name in names), template


def test_project_requirements_name_the_collection():
    requirements = yaml.safe_load((AWX / "requirements.yml").read_text())
    assert requirements["collections"][0]["name"] == "proxops.proxmox"
