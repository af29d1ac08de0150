"""GET/PUT /cluster/options: datacenter.cfg as pve-manager API2/Cluster.pm get_options/set_options answer it;
PVE/DataCenterConfig.pm parses property-string keys (crs, ha, migration, ...) into objects when it reads the file."""

import json

import pytest
from proxmoxer.core import ResourceException

from pvesim import scenario
from pvesim.testing import running


@pytest.fixture
def pve():
    with running("example-small-base.json", cluster_name="lab") as handle:
        yield handle


def test_options_from_the_scenario_and_property_strings_as_objects():
    with open(scenario.find("example-small-base.json"), encoding="utf-8") as handle:
        data = dict(json.load(handle), cluster_options={"crs": "ha=static,ha-auto-rebalance=1", "keyboard": "de"})
    with running(data) as pve:
        options = pve.client().cluster.options.get()
    assert options["crs"] == {"ha": "static", "ha-auto-rebalance": 1}
    assert options["keyboard"] == "de"


def test_put_sets_and_deletes(pve):
    api = pve.client()
    api.cluster.options.put(crs="ha=static,ha-auto-rebalance=1", keyboard="en-us")
    assert api.cluster.options.get() == {"crs": {"ha": "static", "ha-auto-rebalance": 1}, "keyboard": "en-us"}
    api.cluster.options.put(delete="keyboard")
    assert "keyboard" not in api.cluster.options.get()


def test_sys_audit_to_read_sys_modify_to_write(pve):
    api = pve.client()
    api.access.roles.post(roleid="OptRead", privs="Sys.Audit")
    secret = api.access.users("root@pam").token("opts").post(privsep=1)["value"]
    api.access.acl.put(path="/", roles="OptRead", tokens="root@pam!opts")
    token = pve.client(token=("root@pam!opts", secret))
    assert token.cluster.options.get() == {}
    with pytest.raises(ResourceException) as caught:
        token.cluster.options.put(keyboard="de")
    assert "Sys.Modify" in str(caught.value)
