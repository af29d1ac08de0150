# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The shared argument spec and the module base class: with a stand-in module, and end to end with a real AnsibleModule."""

from __future__ import annotations

import contextlib
import json
import types

import pytest

from ansible.module_utils import basic

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import ProxmoxError
from ansible_collections.proxops.proxmox.plugins.module_utils._module_base import (
    SECRET_MARK,
    ProxmoxModule,
    proxmox_argument_spec,
)
from ansible_collections.proxops.proxmox.tests.unit.fake_pve_server import Reply

try:
    from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
except ImportError:
    patch_module_args = None

CONNECTION = dict(api_host="127.0.0.1", api_port=8006, api_user="root@pam", api_password="pw", api_otp=None,
                  api_token_id=None, api_token_secret=None, validate_certs=True, ca_path=None, api_timeout=30)


def fake_module(check_mode=False, diff=False, **params):
    """What ProxmoxModule reads of an AnsibleModule."""
    merged = dict(CONNECTION)
    merged.update(params)
    return types.SimpleNamespace(params=merged, check_mode=check_mode, _diff=diff)


class StorageModule(ProxmoxModule):
    secret_options = ("password",)
    set_options = ("content", "nodes")
    option_names = {"export": "nfs_export"}

    def subject(self):
        return "storage 'nfs1'"


# --- argument spec ---------------------------------------------------------------------------------


def test_argument_spec_options_defaults_and_secrets():
    spec = proxmox_argument_spec()
    assert set(spec) == {"api_host", "api_port", "api_user", "api_password", "api_otp", "api_token_id",
                         "api_token_secret", "validate_certs", "ca_path", "api_timeout"}
    assert spec["api_host"]["required"] is True
    assert spec["api_port"] == dict(spec["api_port"], type="int", default=8006)
    assert spec["api_user"]["default"] == "root@pam"
    assert spec["validate_certs"] == dict(spec["validate_certs"], type="bool", default=True)
    assert spec["ca_path"]["type"] == "path"
    assert spec["api_timeout"]["type"] == "int"
    secret = {name for name, option in spec.items() if option.get("no_log")}
    assert secret == {"api_password", "api_otp", "api_token_secret"}


def test_argument_spec_env_fallbacks():
    spec = proxmox_argument_spec()
    fallbacks = {name: option["fallback"] for name, option in spec.items() if "fallback" in option}
    assert {name: envs for name, (_fn, envs) in fallbacks.items()} == {
        "api_host": ["PROXMOX_HOST"],
        "api_port": ["PROXMOX_PORT"],
        "api_user": ["PROXMOX_USER"],
        "api_password": ["PROXMOX_PASSWORD"],
        "api_token_id": ["PROXMOX_TOKEN_ID"],
        "api_token_secret": ["PROXMOX_TOKEN_SECRET"],
        "validate_certs": ["PROXMOX_VALIDATE_CERTS"],
        "ca_path": ["PROXMOX_CA_PATH"],
    }
    assert all(fn is basic.env_fallback for fn, _envs in fallbacks.values())


def test_argument_spec_is_a_fresh_copy():
    spec = proxmox_argument_spec()
    spec["api_port"]["default"] = 1
    assert proxmox_argument_spec()["api_port"]["default"] == 8006


# --- comparing, writing, diff ------------------------------------------------------------------------


def test_changes_compares_only_set_options_normalised():
    module = StorageModule(fake_module())
    current = {"shared": 1, "port": "8006", "content": "images,iso", "comment": "old", "maxfiles": "3", "disable": 0}
    desired = {"shared": True, "port": 8006, "content": ["images", "iso"], "comment": None, "maxfiles": 3,
               "disable": True, "nodes": ["pve1", "pve2"], "mkdir": False}
    assert module.changes(current, desired) == {"disable": True, "nodes": ["pve1", "pve2"], "mkdir": False}
    assert module.changes(current, {"comment": None}) == {}
    assert module.changes({}, {"shared": False}) == {"shared": False}
    # PVE keeps content and nodes in a hash: it gives them back in its own order, each once
    assert module.changes({"content": "iso,images"}, {"content": ["images", "iso"]}) == {}
    assert module.changes({"content": "iso,images"}, {"content": ["images", "iso", "iso"]}) == {}
    assert module.changes({"nodes": "pve2,pve1"}, {"nodes": ["pve1", "pve2"]}) == {}
    assert module.changes({"content": "iso,images"}, {"content": ["images"]}) == {"content": ["images"]}
    assert module.changes({}, {"nodes": ["pve1"]}) == {"nodes": ["pve1"]}
    # an option that is not a set still compares in order
    assert module.changes({"comment": "a,b"}, {"comment": ["b", "a"]}) == {"comment": ["b", "a"]}


def test_normalize():
    assert ProxmoxModule.normalize(True) == "1"
    assert ProxmoxModule.normalize(False) == "0"
    assert ProxmoxModule.normalize(8006) == "8006"
    assert ProxmoxModule.normalize(("a", "b")) == "a,b"
    assert ProxmoxModule.normalize(None) is None


def test_record_diff_masks_secret_options():
    module = StorageModule(fake_module())
    module.record_diff({"password": "old-pw", "server": "10.0.0.1"}, {"password": "new-pw", "server": "10.0.0.2"})
    module.record_diff({"password": None}, {"password": "x"}, section="nodes")

    assert module.diff == {
        "before": {"password": SECRET_MARK, "server": "10.0.0.1", "nodes": {"password": None}},
        "after": {"password": SECRET_MARK, "server": "10.0.0.2", "nodes": {"password": SECRET_MARK}},
    }
    assert "old-pw" not in json.dumps(module.diff) and "new-pw" not in json.dumps(module.diff)


def test_write_in_check_mode_marks_changed_without_calling():
    calls = []
    module = StorageModule(fake_module(check_mode=True))

    assert module.write("created storage nfs1", calls.append, "x") is None

    assert calls == []
    assert module.changed is True
    assert module.done == []


@pytest.mark.parametrize("error, changed", [
    (ProxmoxError("storage 'x' already defined", status=500), False),  # refused: nothing happened
    (ProxmoxError("task qmcreate failed: no space", upid="UPID:pve1:1:2:3:qmcreate:100:root@pam:",
                  exitstatus="no space"), True),  # a task ran and may have done part of its work
])
def test_write_that_fails(error, changed):
    module = StorageModule(fake_module())

    def refuse():
        raise error

    with pytest.raises(ProxmoxError):
        module.write("created storage nfs1", refuse)
    assert module.changed is changed
    assert module.done == []


def test_write_calls_and_records():
    calls = []
    module = StorageModule(fake_module())
    assert module.changed is False

    module.write("created storage nfs1", lambda *args, **kwargs: calls.append((args, kwargs)) or "UPID:x", 1, a=2)

    assert calls == [((1,), {"a": 2})]
    assert module.changed is True
    assert module.done == ["created storage nfs1"]


def test_exit_result_has_diff_only_when_asked():
    module = StorageModule(fake_module(diff=False))
    module.result["storage"] = {"storage": "nfs1"}
    assert module.exit_result() == {"storage": {"storage": "nfs1"}, "changed": False}

    module = StorageModule(fake_module(diff=True))
    module.record_diff({"a": 1}, {"a": 2})
    assert module.exit_result() == {"changed": False, "diff": {"before": {"a": 1}, "after": {"a": 2}}}


# --- errors ----------------------------------------------------------------------------------------


def test_describe_error_field_errors_use_option_names():
    module = StorageModule(fake_module())
    err = ProxmoxError("Parameter verification failed.", status=400, errors={
        "export": "property is missing and it is not optional\n",
        "foo": "property is not defined in schema and the schema does not allow additional properties",
        "port": "value must be at most 65535",
    })
    assert module.describe_error(err) == (
        "storage 'nfs1': option 'nfs_export' is required; option 'foo' is not accepted here; option 'port' value must be at most 65535")


def test_describe_error_other_cases():
    module = StorageModule(fake_module())
    forbidden = ProxmoxError("Permission check failed (/storage, Datastore.Allocate)", status=403, method="POST", path="/storage")
    assert module.describe_error(forbidden) == (
        "storage 'nfs1': Permission check failed (/storage, Datastore.Allocate); user root@pam lacks this privilege")

    token_module = StorageModule(fake_module(api_password=None, api_token_id="root@pam!ci", api_token_secret="s"))
    assert token_module.describe_error(forbidden).endswith("; API token root@pam!ci lacks this privilege")

    failed_task = ProxmoxError("task qmcreate failed: no space", upid="UPID:x", exitstatus="no space")
    assert module.describe_error(failed_task) == "storage 'nfs1': task qmcreate failed: no space"

    auth = ProxmoxError("authentication failed for user root@pam", status=401)
    assert module.describe_error(auth) == "storage 'nfs1': authentication failed for user root@pam"

    missing = ProxmoxError("storage 'x' does not exist", status=500, method="GET", path="/storage/x")
    assert module.describe_error(missing) == "storage 'nfs1': storage 'x' does not exist [GET /storage/x, HTTP 500]"

    plain = ProxmoxModule(fake_module())
    assert plain.describe_error(missing) == "storage 'x' does not exist [GET /storage/x, HTTP 500]"


def test_error_details():
    err = ProxmoxError("task failed", upid="UPID:x", exitstatus="boom", log=["a", "b"])
    assert ProxmoxModule.error_details(err) == {"upid": "UPID:x", "task_log": ["a", "b"], "exitstatus": "boom"}
    err = ProxmoxError("bad", status=400, errors={"x": "y"})
    assert ProxmoxModule.error_details(err) == {"status": 400, "errors": {"x": "y"}}


def test_failure_result_lists_what_was_done():
    module = StorageModule(fake_module())
    assert module.failure_result("boom", status=500) == {"msg": "boom", "changed": False, "status": 500}

    module.write("created storage nfs1", lambda: None)
    module.write("enabled storage nfs1 on pve2", lambda: None)
    result = module.failure_result("cannot mount", status=500)
    assert result == {
        "msg": "cannot mount (already done: created storage nfs1; enabled storage nfs1 on pve2)",
        "changed": True,
        "status": 500,
        "done": ["created storage nfs1", "enabled storage nfs1 on pve2"],
    }


# --- end to end with a real AnsibleModule -------------------------------------------------------------


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


@contextlib.contextmanager
def module_args(args):
    """Give AnsibleModule its arguments, on ansible-core 2.19+ and before."""
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    saved = basic._ANSIBLE_ARGS  # pylint: disable=protected-access
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()  # pylint: disable=protected-access
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = saved  # pylint: disable=protected-access


@pytest.fixture
def run_module(monkeypatch):
    """Run ``cls.execute()`` with ``args``; return (``"exit"`` or ``"fail"``, the result)."""
    def exit_json(_self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(_self, **kwargs):
        raise FailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def run(cls, args):
        with module_args(args):
            try:
                cls.execute()
            except ExitJson as exited:
                return "exit", exited.args[0]
            except FailJson as failed:
                return "fail", failed.args[0]
        raise AssertionError("the module neither exited nor failed")

    return run


class DnsModule(ProxmoxModule):
    """A small real module: the DNS search domain of a node."""

    argument_spec = dict(node=dict(type="str", required=True), search=dict(type="str"), dns1=dict(type="str"))

    def subject(self):
        return "DNS of node '%s'" % self.params["node"]

    def run(self):
        path = "/nodes/%s/dns" % self.params["node"]
        current = self.client.get(path)
        changes = self.changes(current, {"search": self.params["search"], "dns1": self.params["dns1"]})
        if changes:
            self.record_diff({key: current.get(key) for key in changes}, changes)
            self.write("updated %s" % path, self.client.put, path, **changes)
        self.result["dns"] = dict(current, **changes)


def dns_args(pve, ca_path, **args):
    base = dict(api_host="127.0.0.1", api_port=pve.port, api_token_id="root@pam!ci", api_token_secret="tok-secret",
                ca_path=ca_path, node="pve1")
    base.update(args)
    return base


def test_execute_changes_and_reports(pve, ca_path, run_module):
    pve.route("GET", "/nodes/pve1/dns", Reply(data={"search": "old.example", "dns1": "10.0.0.1"}))
    pve.route("PUT", "/nodes/pve1/dns", Reply(data=None))

    outcome, result = run_module(DnsModule, dns_args(pve, ca_path, search="new.example", dns1="10.0.0.1", _ansible_diff=True))

    assert outcome == "exit"
    assert result["changed"] is True
    assert result["dns"] == {"search": "new.example", "dns1": "10.0.0.1"}
    assert result["diff"] == {"before": {"search": "old.example"}, "after": {"search": "new.example"}}
    (put,) = pve.calls("PUT")
    assert put.form == {"search": "new.example"}


def test_execute_unchanged_makes_one_read(pve, ca_path, run_module):
    pve.route("GET", "/nodes/pve1/dns", Reply(data={"search": "example.com"}))

    outcome, result = run_module(DnsModule, dns_args(pve, ca_path, search="example.com"))

    assert (outcome, result["changed"]) == ("exit", False)
    assert "diff" not in result
    assert len(pve.requests) == 1


def test_execute_check_mode_writes_nothing(pve, ca_path, run_module):
    pve.route("GET", "/nodes/pve1/dns", Reply(data={"search": "old.example"}))

    outcome, result = run_module(DnsModule, dns_args(pve, ca_path, search="new.example", _ansible_check_mode=True))

    assert (outcome, result["changed"]) == ("exit", True)
    assert [seen.method for seen in pve.requests] == ["GET"]


def test_execute_failure_describes_the_error(pve, ca_path, run_module):
    pve.route("GET", "/nodes/pve1/dns", Reply(data={"search": "old.example"}))
    pve.route("PUT", "/nodes/pve1/dns", Reply(400, "Parameter verification failed.", errors={"search": "value too long"}))

    outcome, result = run_module(DnsModule, dns_args(pve, ca_path, search="x" * 10))

    assert outcome == "fail"
    assert result["msg"] == "DNS of node 'pve1': option 'search' value too long"
    assert result["status"] == 400
    assert result["errors"] == {"search": "value too long"}
    assert result["changed"] is False  # PVE refused the write: nothing changed
    assert "done" not in result


def test_execute_connection_options_from_environment(pve, ca_path, run_module, monkeypatch):
    pve.route("GET", "/nodes/pve1/dns", Reply(data={"search": "example.com"}))
    monkeypatch.setenv("PROXMOX_HOST", "127.0.0.1")
    monkeypatch.setenv("PROXMOX_PORT", str(pve.port))
    monkeypatch.setenv("PROXMOX_USER", "root@pam")
    monkeypatch.setenv("PROXMOX_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("PROXMOX_CA_PATH", ca_path)
    monkeypatch.setenv("PROXMOX_VALIDATE_CERTS", "true")

    outcome, result = run_module(DnsModule, {"node": "pve1", "search": "example.com"})

    assert (outcome, result["changed"]) == ("exit", False)
    login, read = pve.requests
    assert login.form == {"username": "root@pam", "password": "s3cret-pw"}
    assert read.cookies["PVEAuthCookie"] in pve.tickets


def test_execute_token_from_environment_and_validate_certs_off(monkeypatch, run_module):
    monkeypatch.setenv("PROXMOX_TOKEN_ID", "root@pam!ci")
    monkeypatch.setenv("PROXMOX_TOKEN_SECRET", "tok-secret")
    monkeypatch.setenv("PROXMOX_VALIDATE_CERTS", "false")
    seen = {}

    class Probe(ProxmoxModule):
        def run(self):
            seen.update(vars(self.client))

    outcome, _result = run_module(Probe, {"api_host": "pve.example"})

    assert outcome == "exit"
    assert seen["verify"] is False
    assert (seen["user"], seen["_token_id"], seen["_token_secret"]) == ("root@pam", "ci", "tok-secret")
    assert (seen["port"], seen["timeout"]) == (8006, 30)


@pytest.mark.parametrize("args, message", [
    ({"api_host": "h"}, "one of the following is required: api_password, api_token_id"),
    ({"api_host": "h", "api_token_id": "root@pam!ci"}, "parameters are required together: api_token_id, api_token_secret"),
])
def test_execute_connection_constraints(run_module, monkeypatch, args, message):
    for name in ("PROXMOX_PASSWORD", "PROXMOX_TOKEN_ID", "PROXMOX_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)

    outcome, result = run_module(DnsModule, dict(args, node="pve1"))

    assert outcome == "fail"
    assert message in result["msg"]


def test_task_warnings_become_module_warnings():
    warned = []
    module = StorageModule(fake_module())
    module.module.warn = warned.append
    module.client.warnings.append("task clustercreate: WARN: no quorum yet")

    module.pass_on_warnings()

    assert warned == ["task clustercreate: WARN: no quorum yet"]
