#!/usr/bin/env bash
# Run `ansible-test sanity` for one ansible-core release on the collection as it ships.
#
#   scripts/ansible-test-sanity.sh CORE_VERSION PYTHON_VERSION     e.g. 2.16 3.11
#
# ansible-test needs the tree at ansible_collections/proxops/proxmox (a real copy, not a
# link): we build the Galaxy artifact and unpack it there, so sanity sees exactly what is
# shipped. Its venvs bootstrap pip with a script it would download; this machine cannot,
# so a local stand-in is put in its cache first.
set -euo pipefail

core="${1:?ansible-core version, e.g. 2.16}"
py="${2:?python version, e.g. 3.11}"
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"

# pyenv's own build first (its shims fail for versions that are not selected), then PATH.
python_bin=""
for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$py".*/bin/python"$py" "$(command -v "python$py" || true)"; do
    if [ -x "$candidate" ] && "$candidate" -c pass 2>/dev/null; then python_bin="$candidate"; fi
done
[ -n "$python_bin" ] || { echo "python $py not found (needed for ansible-core $core sanity)" >&2; exit 1; }

venv=".venv-sanity-$core"
if [ ! -x "$venv/bin/ansible-test" ]; then
    "$python_bin" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet "ansible-core==$core.*"
fi

# Stand-ins for ansible-test's pip bootstrap scripts (get_pip_<pip version>.py).
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
for pip_version in 23_1_2 24_2 25_2; do
    cat > "$cache/get_pip_$pip_version.py" <<'PY'
"""Local stand-in for get-pip.py: ensurepip, then pip install --upgrade with our arguments."""
import subprocess
import sys

# get-pip's own switches, which pip install does not know.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

# ensurepip runs in its own process: in-process it drops this machine's pip settings.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
arguments = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade"] + arguments)
PY
done

work="$top/build/sanity-$core"
rm -rf "$work"
mkdir -p "$work/artifact" "$work/ansible_collections/proxops/proxmox"
.venv/bin/ansible-galaxy collection build --force --output-path "$work/artifact" . >/dev/null
tar -xzf "$work"/artifact/proxops-proxmox-*.tar.gz -C "$work/ansible_collections/proxops/proxmox"
rm -f "$work/ansible_collections/proxops/proxmox/FILES.json"  # MANIFEST.json stays: it gives ansible-test the version

cd "$work/ansible_collections/proxops/proxmox"
# A repository of its own: otherwise ansible-test lists files through the enclosing
# checkout, where build/ is ignored, and finds nothing to test.
git init --quiet . && echo "/tests/output/" > .git/info/exclude && git add --all && git -c user.name=sanity -c user.email=sanity@localhost commit --quiet -m sanity
echo "ansible-test sanity: ansible-core $core, python $py"
"$top/$venv/bin/ansible-test" sanity --venv --python "$py" --color no "${@:3}"
