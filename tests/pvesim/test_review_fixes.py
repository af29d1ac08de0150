"""Fixes from the pvesim review: request pipeline, faults, tasks and permission details.
Each test names the PVE source the behaviour follows."""

import pytest

from helpers import api, refused
from pvesim.testing import make_sim

LONE = {"resources": [{"type": "node", "node": "pve1"}], "root_password": "pw"}


@pytest.fixture
def sim():
    return make_sim(LONE)


def test_parameter_conflicting_with_the_path_is_refused(sim):
    # pve-manager PVE/HTTPServer.pm rest_handler: raise_param_exc({$p => "duplicate parameter
    # (already defined in URI) with conflicting values!"}); the same value is accepted
    err = refused(sim, "pve1", "GET", "/nodes/pve1/status", node="pve2")
    assert (err.status, err.message) == (400, "Parameter verification failed.")
    assert err.errors == {"node": "duplicate parameter (already defined in URI) with conflicting values!"}
    assert api(sim, "pve1", "GET", "/nodes/pve1/status", node="pve1")["cpuinfo"]
