"""The collection's API client against pvesim: the contract both sides must keep.

These run ``plugins/module_utils/_api_client.py`` (not proxmoxer alone) over HTTPS against
the simulator: logins with a one-time password, API tokens, permission errors as the
modules report them, and the one task waiter on a task that takes time.
"""

import time

import pytest

from pvesim.access import totp_code
from pvesim.testing import running
from conftest import TOTP_SECRET, core_scenario

# conftest.py puts the collection on sys.path: these tests must run, never be skipped
from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import (  # noqa: E402
    ProxmoxClient, ProxmoxError)


def client(pve, **options):
    address, port = pve.host("pve-a")
    settings = dict(host=address, port=port, ca_path=pve.ca_path, timeout=5, sleep=lambda _seconds: None)
    settings.update(options)
    return ProxmoxClient(**settings)


def test_totp_login_with_a_current_code(pve):
    api = client(pve, user="carol@pve", password="carolpw", otp=totp_code(TOTP_SECRET))
    assert api.get("/version")["release"]


@pytest.mark.parametrize("otp", [None, "not-a-code"])
def test_totp_login_refused_names_api_otp(pve, otp):
    with pytest.raises(ProxmoxError) as caught:
        client(pve, user="carol@pve", password="carolpw", otp=otp).get("/version")
    assert caught.value.status == 401 and "api_otp" in str(caught.value)
    assert "carolpw" not in str(caught.value)


def test_token_and_permission_error(pve):
    narrow = client(pve, user="alice@pve", token_id="narrow", token_secret="alice-narrow-secret")
    assert narrow.get("/nodes/pve-a/qemu/100/status/current")["vmid"] == 100
    with pytest.raises(ProxmoxError) as caught:
        narrow.get("/nodes/pve-a/dns")
    assert caught.value.status == 403
    assert caught.value.message == "Permission check failed (/nodes/pve-a, Sys.Audit)"


def test_parameter_errors_come_per_field(pve):
    root = client(pve, user="root@pam", password="rootpw")
    with pytest.raises(ProxmoxError) as caught:
        root.put("/nodes/pve-a/time", timezone="Mars/Olympus_Mons")
    assert caught.value.status == 400 and set(caught.value.errors) == {"timezone"}


def test_task_waiter_on_a_task_that_takes_time():
    with running(dict(core_scenario(), cluster_name="lab"), time_scale=0.05) as pve:
        root = client(pve, user="root@pam", password="rootpw", sleep=time.sleep)
        live = {"online": 1, "with-local-disks": 1}
        started = time.monotonic()
        status = root.run("POST", "/nodes/pve-a/qemu/100/migrate", target="pve-b", **live)
        assert status.startswith("UPID:pve-a:") and ":qmigrate:100:" in status
        assert time.monotonic() - started > 0.05  # it waited for the task
        assert pve.sim.hosts["pve-a"].fs.guests[100].node == "pve-b"

        pve.sim.faults.fail_next_task(100, "migration aborted")
        with pytest.raises(ProxmoxError) as caught:
            root.run("POST", "/nodes/pve-b/qemu/100/migrate", target="pve-a", **live)
        assert caught.value.exitstatus == "migration aborted"
        assert any("migration aborted" in line for line in caught.value.log)
