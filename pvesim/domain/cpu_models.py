"""QEMU CPU models and VM CPU flags as qemu-server lists them, and the custom CPU models of
``/etc/pve/virtual-guest/cpu-models.conf`` (the scenario key ``custom_cpu_models``).

The model lists are data: ``pvesim/data/qemu-cpu-models-<release>.json``, one file per PVE
release pvesim answers as, each naming the qemu-server version and commit it was read from.

- ``GET /nodes/{node}/capabilities/qemu/cpu`` follows ``get_cpu_models`` (qemu-server
  ``PVE/QemuServer/CPUConfig.pm``): the models of the architecture (default: the answering
  node's), then the built-in ``x86-64-vN`` profiles (vendor of their reported model, qemu64),
  then, for callers with Sys.Audit on ``/nodes`` (``API2/Qemu/CPU.pm``), the custom models as
  ``custom-<id>`` with ``custom: 1`` and the vendor of their ``reported-model`` (default kvm64).
  Each group comes out of a Perl hash (``keys``), so in hash order; pvesim orders by SHA-1 of
  the name, as it does for storage.cfg sets. ``host`` exists only for the answering node's
  architecture.
- ``GET /nodes/{node}/capabilities/qemu/cpu-flags`` is ``get_supported_cpu_flags``: a fixed list
  per architecture (the answering node's by default), the same on every node; none for aarch64.

Neither route has ``proxyto``: the node that receives the request answers, whatever ``{node}``
names, so ``host`` and the default architecture are the receiving node's.
"""

import hashlib
import json
import os
import re

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
_DATA = {}

# what qemu-server accepts in a cpu-models.conf section ($cpu_fmt, CPUConfig.pm; cputype is the id)
CUSTOM_MODEL_OPTIONS = ("reported-model", "hidden", "hv-vendor-id", "flags", "guest-phys-bits", "phys-bits")
DEFAULT_REPORTED_MODEL = "kvm64"  # $cpu_fmt->{'reported-model'}->{default}
_SECTION_ID = re.compile(r"^[a-z][a-z0-9_-]+$", re.IGNORECASE)  # SectionConfig: pve-configid


def release_data(release):
    """The model and flag lists of a PVE release (``pvesim/data/qemu-cpu-models-<release>.json``)."""
    if release not in _DATA:
        with open(os.path.join(DATA_DIR, "qemu-cpu-models-%s.json" % release), encoding="utf-8") as handle:
            _DATA[release] = json.load(handle)
    return _DATA[release]


def host_arch(host):
    """The architecture a node runs on (``uname -m``): scenario key ``node_arch``, else x86_64."""
    return host.cpuinfo.get("arch") or "x86_64"


def hash_order(names):
    """The order Perl's ``keys`` gives, stood in for by the SHA-1 of each name (reproducible)."""
    return sorted(names, key=lambda name: hashlib.sha1(name.encode()).hexdigest())


def models_of(release, arch, answering_arch):
    """``{model: vendor}`` of one architecture, with ``host`` when it is the answering node's."""
    models = dict(release_data(release)["models"].get(arch, {}))
    if arch == answering_arch:
        models["host"] = "default"
    return models


def all_models(release, answering_arch):
    """``get_all_cpu_models``: every architecture's models (and ``host``), name -> vendor."""
    result = {}
    for arch in release_data(release)["models"]:
        result.update(models_of(release, arch, answering_arch))
    return result


def cpu_models(sim, host, arch=None, include_custom=False):
    """What ``GET .../capabilities/qemu/cpu`` answers on ``host`` (``get_cpu_models``)."""
    release = sim.pve_version
    answering = host_arch(host)
    arch = arch or answering
    vendors = models_of(release, arch, answering)
    result = [{"name": name, "custom": 0, "vendor": vendors[name]} for name in hash_order(vendors)]
    builtin = release_data(release)["builtin_models"].get(arch, {})
    result += [{"name": name, "custom": 0, "vendor": vendors.get(builtin[name])} for name in hash_order(builtin)]
    if include_custom:
        everything = all_models(release, answering)
        custom = host.fs.custom_cpu_models
        for name in hash_order(custom):
            reported = custom[name].get("reported-model") or DEFAULT_REPORTED_MODEL
            result.append({"name": "custom-%s" % name, "custom": 1, "vendor": everything.get(reported)})
    return result


def cpu_flags(sim, host, arch=None):
    """What ``GET .../capabilities/qemu/cpu-flags`` answers on ``host`` (``get_supported_cpu_flags``)."""
    flags = release_data(sim.pve_version)["cpu_flags"] or {}
    return [dict(item) for item in flags.get(arch or host_arch(host), [])]


def load_custom_cpu_models(sim, value):
    """Scenario ``custom_cpu_models``: the sections of ``/etc/pve/virtual-guest/cpu-models.conf``,
    ``{"id": {"reported-model": "EPYC-Milan", "flags": "+aes;-pcid", ...}}`` (the id without
    ``custom-``). Every host's /etc/pve gets them; the API lists them as ``custom-<id>``."""
    release = sim.pve_version
    known = set()
    for arch in release_data(release)["models"]:
        known.update(models_of(release, arch, arch))
    for name, options in value.items():
        if not _SECTION_ID.match(name):
            raise ValueError("custom_cpu_models: %r is not a valid section id" % name)
        unknown = sorted(set(options) - set(CUSTOM_MODEL_OPTIONS))
        if unknown:
            raise ValueError("custom_cpu_models: %s: unknown option(s) %s" % (name, ", ".join(unknown)))
        reported = options.get("reported-model", DEFAULT_REPORTED_MODEL)
        if reported not in known:
            raise ValueError("custom_cpu_models: %s: reported-model %r is not a QEMU/KVM model of PVE %s"
                             % (name, reported, release))
    for fs in {id(h.fs): h.fs for h in sim.hosts.values()}.values():
        fs.custom_cpu_models = {name: dict(options) for name, options in value.items()}
