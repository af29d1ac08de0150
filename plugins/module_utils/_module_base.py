# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The shared argument spec and the base class every module of the collection builds on."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.proxops.proxmox.plugins.module_utils._api_client import (
    HAS_PROXMOXER,
    PROXMOXER_IMPORT_ERROR,
    ProxmoxClient,
    ProxmoxError,
)

SECRET_MARK = "********"

# PVE's wording of a parameter error, and what a module user needs to read instead.
_PVE_PHRASES = {
    "property is missing and it is not optional": "is required",
    "property is not defined in schema and the schema does not allow additional properties": "is not accepted here",
}


def proxmox_argument_spec():
    """The API connection options every module takes, with their environment fallbacks."""
    return dict(
        api_host=dict(type="str", required=True, fallback=(env_fallback, ["PROXMOX_HOST"])),
        api_port=dict(type="int", default=8006, fallback=(env_fallback, ["PROXMOX_PORT"])),
        api_user=dict(type="str", default="root@pam", fallback=(env_fallback, ["PROXMOX_USER"])),
        api_password=dict(type="str", no_log=True, fallback=(env_fallback, ["PROXMOX_PASSWORD"])),
        api_otp=dict(type="str", no_log=True),
        api_token_id=dict(type="str", no_log=False, fallback=(env_fallback, ["PROXMOX_TOKEN_ID"])),
        api_token_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["PROXMOX_TOKEN_SECRET"])),
        validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["PROXMOX_VALIDATE_CERTS"])),
        ca_path=dict(type="path", fallback=(env_fallback, ["PROXMOX_CA_PATH"])),
        api_timeout=dict(type="int", default=30),
    )


PROXMOX_REQUIRED_TOGETHER = [("api_token_id", "api_token_secret")]
PROXMOX_REQUIRED_ONE_OF = [("api_password", "api_token_id")]


def client_from_params(params):
    return ProxmoxClient(
        host=params["api_host"], port=params["api_port"], user=params["api_user"],
        password=params.get("api_password"), otp=params.get("api_otp"),
        token_id=params.get("api_token_id"), token_secret=params.get("api_token_secret"),
        validate_certs=params["validate_certs"], ca_path=params.get("ca_path"), timeout=params["api_timeout"],
    )


class ModuleFailure(Exception):
    """Raised by a module to stop with a message; the base class reports it."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class ProxmoxModule:
    """Base of every module: connection, compare-then-write, check mode, diff, errors.

    A subclass sets ``argument_spec`` (its own options) and ``module_kwargs`` (the
    ``AnsibleModule`` constraints) and implements :meth:`run`.  The pattern:

    * read current state once (``self.client.get``);
    * :meth:`changes` keeps only the options the user set that differ;
    * :meth:`write` performs a change unless in check mode, and marks the result changed;
    * :meth:`record_diff` adds the changed keys to ``before``/``after``.

    Options listed in ``secret_options`` never enter a diff or a return value.
    """

    argument_spec = {}
    module_kwargs = {}
    secret_options = ()

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.client = client_from_params(module.params)
        self.changed = False
        self.done = []  # what was written, for the report when a later step fails
        self.diff = {"before": {}, "after": {}}
        self.result = {}

    # --- the run ---------------------------------------------------------
    @classmethod
    def build_module(cls):
        spec = proxmox_argument_spec()
        spec.update(cls.argument_spec)
        kwargs = dict(cls.module_kwargs)
        kwargs["required_together"] = PROXMOX_REQUIRED_TOGETHER + list(kwargs.get("required_together", []))
        kwargs["required_one_of"] = PROXMOX_REQUIRED_ONE_OF + list(kwargs.get("required_one_of", []))
        kwargs.setdefault("supports_check_mode", True)
        return AnsibleModule(argument_spec=spec, **kwargs)

    @classmethod
    def execute(cls):
        """The whole ``main()`` of a module."""
        module = cls.build_module()
        if not HAS_PROXMOXER:
            module.fail_json(msg=missing_required_lib("proxmoxer and requests"), exception=PROXMOXER_IMPORT_ERROR)
        try:
            instance = cls(module)
        except ProxmoxError as err:
            module.fail_json(msg=str(err))
        try:
            instance.validate()
            instance.run()
        except ModuleFailure as failure:
            instance.pass_on_warnings()
            module.fail_json(**instance.failure_result(failure.msg, **failure.details))
        except ProxmoxError as err:
            instance.pass_on_warnings()
            module.fail_json(**instance.failure_result(instance.describe_error(err), **instance.error_details(err)))
        instance.pass_on_warnings()
        module.exit_json(**instance.exit_result())

    def pass_on_warnings(self):
        """The warnings of tasks that ended with PVE's "WARNINGS: N", as module warnings."""
        for warning in self.client.warnings:
            self.module.warn(warning)

    def validate(self):
        """Check the options beyond what the argument spec can say, before any request."""

    def run(self):
        raise NotImplementedError

    # --- comparing and writing -------------------------------------------
    @staticmethod
    def normalize(value):
        """The form two values are compared in: PVE gives numbers and 0/1 booleans, often as strings."""
        if isinstance(value, bool):
            return str(int(value))
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        if value is None:
            return None
        return str(value)

    def changes(self, current, desired):
        """The options of ``desired`` that the user set (not None) and that differ from ``current``."""
        return {
            key: value for key, value in desired.items()
            if value is not None and self.normalize(value) != self.normalize(current.get(key))
        }

    def record_diff(self, before, after, section=None):
        """Add the changed keys to the diff; secrets show as a mark, never as their value."""
        before = {key: self._mask(key, value) for key, value in before.items()}
        after = {key: self._mask(key, value) for key, value in after.items()}
        if section:
            self.diff["before"].setdefault(section, {}).update(before)
            self.diff["after"].setdefault(section, {}).update(after)
        else:
            self.diff["before"].update(before)
            self.diff["after"].update(after)

    def _mask(self, key, value):
        return SECRET_MARK if key in self.secret_options and value is not None else value

    def write(self, what, call, /, *args, **kwargs):
        """Make one change, described by ``what`` for the report: in check mode only predicted.

        The result is changed once the call returns; a call that fails leaves it as it was,
        unless it had started a task (which may have done part of its work before failing).
        """
        if self.check_mode:
            self.changed = True
            return None
        try:
            result = call(*args, **kwargs)
        except ProxmoxError as err:
            if err.upid:
                self.changed = True
            raise
        self.changed = True
        self.done.append(what)
        return result

    def fail(self, msg, **details):
        raise ModuleFailure(msg, **details)

    # --- results ---------------------------------------------------------
    def exit_result(self):
        result = dict(self.result)
        result["changed"] = self.changed
        if self.module._diff:
            result["diff"] = self.diff
        return result

    def failure_result(self, msg, **details):
        result = dict(details)
        result.update(msg=msg, changed=self.changed)
        if self.done:
            result["done"] = list(self.done)
            result["msg"] = "%s (already done: %s)" % (msg, "; ".join(self.done))
        return result

    # Module option names for API parameter names, where they differ.
    option_names = {}

    def subject(self):
        """What the module manages, for messages, e.g. "storage 'nfs1'"."""
        return ""

    def describe_error(self, err):
        """A message a person can act on, from an API or task error."""
        subject = self.subject()
        prefix = subject + ": " if subject else ""
        if err.errors:
            parts = []
            for name in sorted(err.errors):
                text = str(err.errors[name]).strip()
                text = _PVE_PHRASES.get(text, text)
                parts.append("option '%s' %s" % (self.option_names.get(name, name), text))
            return prefix + "; ".join(parts)
        if err.exitstatus:
            return prefix + err.message
        if err.status == 401:
            return prefix + err.message
        if err.status == 403:
            return prefix + "%s; %s lacks this privilege" % (err.message, self.client.auth_description)
        return prefix + str(err)

    @staticmethod
    def error_details(err):
        details = {}
        if err.status:
            details["status"] = err.status
        if err.errors:
            details["errors"] = err.errors
        if err.upid:
            details["upid"] = err.upid
            details["task_log"] = err.log
        if err.exitstatus:
            details["exitstatus"] = err.exitstatus
        return details
