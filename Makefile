# make demo  — set up, start pvesim with a 3-node cluster, run the demo playbook, show what it did
# make test  — set up, run every test (unit, pvesim, integration, ansible-test sanity on 2.16 and 2.21)

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
STATE       := .state
COLLECTIONS := $(CURDIR)/$(STATE)/collections
COLL_LINK   := $(COLLECTIONS)/ansible_collections/proxops/proxmox
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONPATH := $(CURDIR):$(COLLECTIONS)

.PHONY: help setup collection demo test bench unit pvesim-test pvesim-wheel packaging integration sanity sanity-2.16 sanity-2.21 build clean docs docs-lint

help:
	@sed -n 's/^# //p' Makefile | head -2

$(VENV)/.installed: requirements-dev.txt requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed collection

# Ansible finds the collection through ANSIBLE_COLLECTIONS_PATH; a link keeps edits live.
collection:
	@mkdir -p $(dir $(COLL_LINK))
	@ln -sfn $(CURDIR) $(COLL_LINK)

unit: setup
	$(PY) -m pytest -q tests/unit

pvesim-test: setup
	$(PY) -m pytest -q tests/pvesim

# pvesim as a wheel of its own (pvesim/pyproject.toml), built from a copy so no build files land in pvesim/
pvesim-wheel: setup
	@rm -rf build/pvesim-src build/wheels && mkdir -p build/wheels
	@cp -r pvesim build/pvesim-src && find build/pvesim-src -name __pycache__ -prune -exec rm -rf {} +
	$(VENV)/bin/pip wheel --quiet --no-deps -w build/wheels build/pvesim-src

packaging: setup pvesim-wheel
	$(PY) -m pytest -q tests/packaging

integration: setup
	$(PY) -m pytest -q tests/integration/runner

sanity: sanity-2.16 sanity-2.21

sanity-2.16: setup
	scripts/ansible-test-sanity.sh 2.16 3.11

sanity-2.21: setup
	scripts/ansible-test-sanity.sh 2.21 3.13

# The documentation site: antsibull-docs renders the plugins' docs and docs/docsite/ (extra docs), Sphinx builds HTML.
DOCS_VENV := .venv-docs
DOCS_ENV  := env PATH=$(CURDIR)/$(DOCS_VENV)/bin:$$PATH
DOCSITE   := build/docsite

$(DOCS_VENV)/.installed: requirements-docs.txt
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/pip install --quiet --upgrade pip
	$(DOCS_VENV)/bin/pip install --quiet -r requirements-docs.txt
	touch $@

docs-lint: setup $(DOCS_VENV)/.installed
	$(DOCS_ENV) antsibull-docs lint-collection-docs --plugin-docs $(COLL_LINK)

# Links into Ansible's own docs (intersphinx) resolve only where docs.ansible.com can be reached: warnings here.
docs: docs-lint
	@rm -rf $(DOCSITE) && mkdir -p $(DOCSITE) && chmod 700 $(DOCSITE)
	$(DOCS_ENV) antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --dest-dir $(DOCSITE) proxops.proxmox >/dev/null
	@mkdir -p $(DOCSITE)/rst && chmod og-w $(DOCSITE)/rst
	$(DOCS_ENV) antsibull-docs --config-file $(DOCSITE)/antsibull-docs.cfg collection --cleanup everything --fail-on-error \
		--use-current --squash-hierarchy --dest-dir $(DOCSITE)/rst proxops.proxmox
	$(DOCS_ENV) sphinx-build -M html $(DOCSITE)/rst $(DOCSITE)/build -c $(DOCSITE) -q 2>$(DOCSITE)/sphinx-warnings.txt
	@test -f $(DOCSITE)/build/html/docsite/quickstart.html && test -f $(DOCSITE)/build/html/storage_module.html
	@echo "docs: $(DOCSITE)/build/html/index.html ($$(wc -l < $(DOCSITE)/sphinx-warnings.txt) warnings, see $(DOCSITE)/sphinx-warnings.txt)"

build: setup
	@mkdir -p build
	$(VENV)/bin/ansible-galaxy collection build --force --output-path build .

test: setup unit pvesim-test packaging integration docs sanity
	@echo "make test: all suites passed"

bench: setup
	$(PY) benchmarks/requests_per_task.py
	$(PY) benchmarks/snapshot_retention.py
	$(PY) benchmarks/pvesim_resources.py
	$(PY) benchmarks/inventory.py
	$(PY) benchmarks/balancer.py --families --sizes 3x30,8x300,32x3000,100x10000

demo: setup
	$(PY) demo/run.py

clean:
	rm -rf $(STATE) build tests/output .pytest_cache
