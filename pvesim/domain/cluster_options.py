"""datacenter.cfg: the cluster-wide options of GET/PUT /cluster/options (pve-manager
``API2/Cluster.pm`` ``get_options``/``set_options``; pve-cluster
``PVE/DataCenterConfig.pm`` parses property-string keys into hashes when it reads the file)."""


# datacenter.cfg keys whose value is a property string: DataCenterConfig.pm's read parses them
# into hashes, so GET answers them as objects.
PROPERTY_KEYS = ("bwlimit", "crs", "ha", "migration", "next-id", "notify", "tag-style", "u2f", "user-tag-access", "webauthn")


def parse_property(text):
    """``k=v,k2=v2`` as a dict; numbers as numbers, as PVE's schema-typed parse gives them."""
    result = {}
    for part in str(text).split(","):
        key, sep, value = part.partition("=")
        if not sep:
            continue
        value = value.strip()
        result[key.strip()] = int(value) if value.lstrip("-").isdigit() else value
    return result


def options_answer(fs):
    """GET /cluster/options: the file's keys, property strings as objects."""
    return {key: parse_property(value) if key in PROPERTY_KEYS else value for key, value in fs.datacenter.items()}


def set_options(fs, params):
    """PUT /cluster/options: set the given keys, remove those in ``delete``."""
    for key in [item for item in str(params.get("delete") or "").replace(";", ",").split(",") if item.strip()]:
        fs.datacenter.pop(key.strip(), None)
    for key, value in params.items():
        if key in ("delete", "digest"):
            continue
        fs.datacenter[key] = value


def load_cluster_options(sim, value):
    """Scenario ``cluster_options``: datacenter.cfg keys, e.g. ``{"crs": "ha=static,ha-auto-rebalance=1"}``."""
    for fs in sim.filesystems():
        fs.datacenter.update(value)
