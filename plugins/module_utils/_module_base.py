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
    ProxmoxError,
    client_from_options,
)
from ansible_collections.proxops.proxmox.plugins.module_utils._pve_formats import changed_options
from ansible_collections.proxops.proxmox.plugins.module_utils._resources import ResourceLookupError
from ansible_collections.proxops.proxmox.plugins.module_utils._pve_formats import normalize as normalize_value

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


def secret_paths(spec, prefix=""):
    """The option paths (``join.password``, ``certificate.key``) of every ``no_log`` option of an argument spec."""
    paths = []
    for name, option in spec.items():
        path = prefix + name
        if option.get("no_log"):
            paths.append(path)
        if option.get("options"):
            paths += secret_paths(option["options"], path + ".")
    return paths


def mask_secrets(value, secrets, path=""):
    """``value`` with every secret (by option path) replaced by a mark; None stays None: "not set" is no secret.

    A path in ``secrets`` matches exactly (``subscription.key``); a name without a dot
    (``password``) matches that key at any depth.
    """
    if isinstance(value, dict):
        return {key: mask_secrets(item, secrets, path + "." + key if path else key) for key, item in value.items()}
    if value is not None and (path in secrets or path.rsplit(".", 1)[-1] in secrets):
        return SECRET_MARK
    return value


def task_reasons(log):
    """The reasons a failed task lists in its log: PVE writes each as a line "* reason" or "! reason"."""
    return [line[2:].strip() for line in log if line[:2] in ("* ", "! ")]


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

    Secrets never enter a diff: every ``no_log`` option of the argument spec, by its path
    (``join.password``), and the paths or names in ``secret_options`` (for values that are
    not options, such as a key PVE holds).  ``set_options`` names the options PVE keeps as a
    set (a storage's ``content`` and ``nodes``): :meth:`changes` ignores their order.
    """

    argument_spec = {}
    module_kwargs = {}
    secret_options = ()
    set_options = ()

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.client = client_from_options(module.params)
        self.secrets = frozenset(secret_paths(self.argument_spec)) | frozenset(self.secret_options)
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
        except ResourceLookupError as err:
            instance.pass_on_warnings()
            module.fail_json(**instance.failure_result(str(err)))
        except ProxmoxError as err:
            instance.pass_on_warnings()
            module.fail_json(**instance.failure_result(instance.describe_error(err), **instance.error_details(err)))
        instance.pass_on_warnings()
        module.exit_json(**instance.exit_result())

    def pass_on_warnings(self):
        """The warnings of tasks that ended with PVE's "WARNINGS: N", as module warnings."""
        for warning in self.client.warnings:
            self.module.warn(warning)

    @staticmethod
    def option_errors(params):  # pylint: disable=unused-argument
        """What is wrong with the options beyond what the argument spec can say: one message per problem.

        A module sets this to a pure function beside its other helpers, testable without a module.
        """
        return []

    def validate(self):
        """Check the options before any request; every problem in one message."""
        errors = self.option_errors(self.params)
        if errors:
            self.fail("; ".join(errors))

    def run(self):
        raise NotImplementedError

    # --- comparing and writing -------------------------------------------
    normalize = staticmethod(normalize_value)

    def changes(self, current, desired):
        """The options of ``desired`` that the user set (not None) and that differ from ``current``."""
        return changed_options(current, desired, self.set_options)

    def record_diff(self, before, after, section=None):
        """Add the changed keys to the diff; secrets show as a mark, never as their value."""
        if section:
            before, after = {section: before}, {section: after}
        for side, values in (("before", before), ("after", after)):
            for key, value in mask_secrets(values, self.secrets).items():
                if section:
                    self.diff[side].setdefault(key, {}).update(value)
                else:
                    self.diff[side][key] = value

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
            reasons = task_reasons(err.log)
            return prefix + err.message + (": " + "; ".join(reasons) if reasons else "")
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
