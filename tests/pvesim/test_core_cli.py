"""The CLI contract: python -m pvesim as a subprocess, files in the state dir, SIGTERM."""

import json
import os
import time
import urllib.request

import pytest
from proxmoxer import ProxmoxAPI

from pvesim.scenario import PACKAGED_SCENARIOS
from pvesim.testing import free_address_base
from helpers import start_cli, stop_cli

SCENARIO = os.path.join(PACKAGED_SCENARIOS, "example-standalone-3.json")


def test_cli_runs_a_scenario_and_stops_on_sigterm(tmp_path):
    base = free_address_base(3)
    state = tmp_path / "state"
    proc, hosts = start_cli(["--scenario", SCENARIO, "--address-base", base, "--port", "8006"], state)
    try:
        assert [h["node"] for h in hosts] == ["pve-a", "pve-b", "pve-c"]
        assert hosts[0]["url"] == "https://%s:8006" % base
        assert len(hosts[0]["fingerprint"].split(":")) == 32
        creds = json.loads((state / "credentials.json").read_text())
        assert creds["user"] == "root@pam"
        assert (state / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")

        api = ProxmoxAPI(base, port=8006, user=creds["user"], password=creds["password"],
                         verify_ssl=str(state / "ca.pem"))
        assert api.version.get()["version"] == "9.1.9"

        # control channel: stats and faults from another process
        control = json.loads((state / "control.json").read_text())["url"]
        stats = json.load(urllib.request.urlopen(control + "/stats", timeout=5))
        assert stats["by_route"]["GET /version"] == 1
        request = urllib.request.Request(control + "/faults", method="POST", data=json.dumps(
            {"action": "fail_next", "path": "/version", "status": 595, "message": "No route to host"}).encode())
        assert json.load(urllib.request.urlopen(request, timeout=5)) == {"ok": True}
        with pytest.raises(Exception) as info:
            api.version.get()
        assert "595" in str(info.value)
        # stats.json follows within about a second
        deadline = time.monotonic() + 5
        while json.loads((state / "stats.json").read_text())["total"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        stop_cli(proc, timeout=10)
