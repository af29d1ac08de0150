# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures for the module_utils tests: a CA, a fake PVE API over HTTPS, a no-op sleep recorder."""

from __future__ import annotations

import pytest
import trustme

from ansible_collections.proxops.proxmox.tests.unit.fake_pve_server import FakePVE, server_context


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """Loopback calls must not go through a proxy of the environment."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture(scope="session")
def ca():
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_path(ca, tmp_path_factory):
    path = tmp_path_factory.mktemp("pki") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def tls_context(ca):
    return server_context(ca.issue_cert("127.0.0.1"))


@pytest.fixture
def make_server(tls_context):
    """Start fake PVE servers (closed at the end of the test): ``make_server(context=None, **kwargs)``."""
    servers = []

    def make(context=None, **kwargs):
        server = FakePVE(context or tls_context, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def pve(make_server):
    """A fake PVE with user root@pam (password s3cret-pw) and token root@pam!ci (secret tok-secret)."""
    return make_server(tokens={"root@pam!ci": "tok-secret"})


class SleepRecorder:
    """Stands in for time.sleep: records the delays, waits for nothing."""

    def __init__(self):
        self.delays = []

    def __call__(self, seconds):
        self.delays.append(seconds)


@pytest.fixture
def sleeps():
    return SleepRecorder()
