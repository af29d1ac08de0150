"""pvesim as a package for users' CI: the wheel, the `pvesim` command, and the CI example of docs/guides run as written."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GUIDE = REPO / "docs" / "guides" / "testing-with-pvesim.md"
PVESIM_GIT = '"pvesim @ git+https://github.com/proxops/proxmox.git#subdirectory=pvesim"'
GALAXY_INSTALL = "ansible-galaxy collection install proxops.proxmox"


def guide_block(heading):
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## " + heading, 1)[1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))


def github_commands():
    job = guide_block("GitHub Actions")["jobs"]["pvesim"]
    return [line for step in job["steps"] if "run" in step for line in step["run"].strip().splitlines()]


@pytest.fixture(scope="module")
def wheel():
    wheels = sorted((REPO / "build" / "wheels").glob("pvesim-*.whl"))
    assert wheels, "make pvesim-wheel builds it (make packaging depends on it)"
    return wheels[-1]


def test_wheel_holds_the_package_its_data_and_the_command(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("pvesim/__main__.py", "pvesim/domain/guests.py", "pvesim/handlers/cluster.py",
                   "pvesim/data/api-schema.json", "pvesim/scenarios/example-standalone-3.json"):
        assert needed in names, needed
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "pvesim = pvesim.__main__:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any("tests/" in name or name.startswith("build/") for name in names)


def test_gitlab_job_runs_the_github_commands():
    assert guide_block("GitLab CI")["playbooks"]["script"] == github_commands()


def test_ci_example_runs_as_written(wheel, tmp_path):
    """A new virtualenv, the GitHub steps' commands in order; only the two install sources are local."""
    artifact_dir = tmp_path / "artifact"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(artifact_dir), str(REPO)],
                   check=True, capture_output=True, text=True)
    (artifact,) = artifact_dir.glob("proxops-proxmox-*.tar.gz")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(REPO / "docs" / "playbooks" / "build-cluster.yml", work / "build-cluster.yml")
    script = "\n".join(["set -euo pipefail"] + github_commands())
    assert PVESIM_GIT in script and GALAXY_INSTALL in script
    script = script.replace(PVESIM_GIT, str(wheel))
    script = script.replace(GALAXY_INSTALL, "ansible-galaxy collection install %s" % artifact)
    # a home of its own: the collection goes to ~/.ansible/collections as on a CI runner
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "PYTHONPATH", "VIRTUAL_ENV"))}
    env.update(PATH="%s:%s" % (venv / "bin", os.environ["PATH"]), HOME=str(tmp_path / "home"))
    try:
        done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=900,
                              check=False)
    finally:
        subprocess.run(["pkill", "-f", "%s/bin/pvesim" % venv], check=False)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:], (work / "pvesim.log").read_text()[-2000:])
    assert "changed=0" in (work / "second-run.txt").read_text()
