# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Proxmox VE API client: proxmoxer's HTTPS backend plus retries, task waiting and one error type."""

from __future__ import annotations

import random
import re
import ssl
import threading
import time
import traceback

from ansible_collections.proxops.proxmox.plugins.module_utils._pve_formats import encode_params

try:
    import requests
    from proxmoxer import ProxmoxAPI
    from proxmoxer.core import AuthenticationError, ResourceException

    HAS_PROXMOXER = True
    PROXMOXER_IMPORT_ERROR = None
except ImportError:
    HAS_PROXMOXER = False
    PROXMOXER_IMPORT_ERROR = traceback.format_exc()

# Statuses worth another try on an idempotent call: gateway trouble and PVE's proxy
# errors (595/596: the node the call was forwarded to did not answer). PVE answers most
# real failures, "does not exist" among them, with a plain 500: repeating those is waste.
RETRY_STATUSES = frozenset((502, 503, 504, 595, 596))
IDEMPOTENT_METHODS = frozenset(("GET", "PUT", "DELETE"))
# Seconds to wait for a connection (and its TLS handshake); api_timeout is the wait for an answer.
CONNECT_TIMEOUT = 10.0
# Retries of one call stop when they would run past api_timeout plus this many seconds.
RETRY_BUDGET = 15.0


class ProxmoxError(Exception):
    """Any failure of a Proxmox VE API call, a task, or the connection.

    ``status`` is the HTTP status (None when no answer came), ``message`` PVE's own text
    (the HTTP reason phrase), ``errors`` PVE's per-parameter messages of a 400 answer.
    For a failed task, ``upid``, ``exitstatus`` and the last ``log`` lines are set.
    ``transient`` marks a failure that may pass by itself: no connection, or a proxy or
    gateway status; ``tls`` one that will not: the server's certificate could not be verified.
    """

    def __init__(self, message, status=None, errors=None, method=None, path=None, upid=None, exitstatus=None, log=None,
                 transient=False, tls=False):
        super().__init__(message)
        self.transient = transient
        self.tls = tls
        self.message = message
        self.status = status
        self.errors = errors or {}
        self.method = method
        self.path = path
        self.upid = upid
        self.exitstatus = exitstatus
        self.log = log or []

    def __str__(self):
        text = self.message
        if self.errors:
            text += " (%s)" % "; ".join("%s: %s" % (name, self.errors[name]) for name in sorted(self.errors))
        if self.method and self.path:
            text += " [%s %s%s]" % (self.method, self.path, ", HTTP %s" % self.status if self.status else "")
        return text


def _request_never_sent(error):
    """True when a connection error happened before the request could reach the server."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError):
        text = str(error)
        return "NewConnectionError" in text or "Failed to establish a new connection" in text or "Connection refused" in text
    return False


def _certificate_not_verified(error):
    """True when a TLS error is a failed certificate check, not a handshake cut short (a server going down).

    requests wraps the ssl module's error in urllib3's, and those in its own: the chain is
    followed through ``args``, ``reason``, ``__cause__`` and ``__context__``.
    """
    seen, pending = set(), [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if isinstance(current, BaseException):
            text = str(current)
            if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
                return True
            pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
            pending += [getattr(current, "reason", None), current.__cause__, current.__context__]
    return False


def task_node(upid):
    """The node a UPID (``UPID:node:pid:pstart:starttime:type:id:user:``) ran on."""
    parts = upid.split(":")
    if len(parts) < 9 or parts[0] != "UPID":
        raise ProxmoxError("not a task id (UPID): %r" % upid)
    return parts[1]


class ProxmoxClient:
    """A connection to one Proxmox VE API endpoint.

    Authenticates lazily on the first call, with an API token or with a password
    (plus OTP) ticket; renews an expired ticket once and repeats the call.  Reads and
    other idempotent calls are retried with exponential backoff and jitter on connection
    errors and gateway/proxy statuses; a POST is repeated only when it certainly never
    reached the server.
    """

    def __init__(self, host, port=8006, user="root@pam", password=None, otp=None, token_id=None, token_secret=None,
                 validate_certs=True, ca_path=None, timeout=30, retries=3, backoff=0.5, max_backoff=8.0, sleep=time.sleep,
                 retry_budget=RETRY_BUDGET):
        if not HAS_PROXMOXER:
            raise ProxmoxError("the proxmoxer and requests Python libraries are required")
        if token_id and "!" in token_id:  # "user@realm!name" given whole
            user, token_id = token_id.split("!", 1)
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self._otp = otp
        self._token_id = token_id
        self._token_secret = token_secret
        self.verify = (ca_path or True) if validate_certs else False
        self.timeout = timeout
        self.retries = retries
        self.retry_budget = retry_budget
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._api = None
        # one client may serve several threads (bounded parallel tasks): the login and its
        # renewal happen once, under this lock, and requests share proxmoxer's session
        self._lock = threading.RLock()
        self.warnings = []  # warnings of tasks that ended with "WARNINGS: N"

    @property
    def auth_description(self):
        if self._token_id:
            return "API token %s!%s" % (self.user, self._token_id)
        return "user %s" % self.user

    # --- connection ------------------------------------------------------
    def _connect(self):
        kwargs = dict(host=self.host, port=self.port, user=self.user, verify_ssl=self.verify,
                      timeout=(min(self.timeout, CONNECT_TIMEOUT), self.timeout))
        started = time.monotonic()
        if self._token_id:
            kwargs.update(token_name=self._token_id, token_value=self._token_secret)
        else:
            kwargs.update(password=self._password, otp=self._otp)
        for attempt in range(self.retries + 1):
            try:
                return ProxmoxAPI(**kwargs)
            except AuthenticationError as err:
                # proxmoxer reports any failed ticket request this way; its text holds the HTTP code.
                code = re.search(r"code: (\d+)", str(err))
                status = int(code.group(1)) if code else 401
                if status in RETRY_STATUSES and self._may_retry(attempt, started):
                    self._pause(attempt)
                    continue
                if status != 401:
                    raise ProxmoxError("logging in to %s:%s as %s failed with HTTP %s"
                                       % (self.host, self.port, self.auth_description, status), status=status,
                                       transient=status in RETRY_STATUSES)
                raise ProxmoxError(
                    "authentication failed for %s at %s:%s: check api_user, api_password/api_otp or the API token"
                    % (self.auth_description, self.host, self.port), status=401)
            except ValueError:
                # proxmoxer reads the login answers as JSON. PVE refuses a wrong or missing
                # one-time password with an empty 401; a proxy may answer with a page.
                raise ProxmoxError(
                    "authentication failed for %s at %s:%s: the login answer was not the API's JSON; for a user "
                    "with two-factor authentication this means %s"
                    % (self.auth_description, self.host, self.port,
                       "the one-time password in api_otp was not accepted" if self._otp else "api_otp is not set"),
                    status=401)
            except requests.exceptions.ReadTimeout:
                raise self._no_answer("POST", "/access/ticket")
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
                if _certificate_not_verified(err):
                    raise self._tls_error(err)
                # Asking for a ticket changes nothing on the server: safe to repeat
                # (a TLS handshake cut short included: a host going down or restarting pveproxy).
                if not self._may_retry(attempt, started):
                    raise self._connection_error(err)
                self._pause(attempt)
        raise AssertionError("unreachable")

    @property
    def api(self):
        with self._lock:
            if self._api is None:
                self._api = self._connect()
            return self._api

    def _forget_login(self, api):
        """Log in again on the next call, unless another thread already did since ``api`` failed."""
        with self._lock:
            if self._api is api:
                self._api = None

    def _tls_error(self, err):
        return ProxmoxError(
            "TLS certificate of %s:%s could not be verified (%s); give the CA with ca_path, "
            "or set validate_certs=false only for a host you trust" % (self.host, self.port, err), tls=True)

    def _connection_error(self, err):
        return ProxmoxError("cannot reach the Proxmox VE API at %s:%s: %s" % (self.host, self.port, err), transient=True)

    def _no_answer(self, method, path):
        # the server took the request and said nothing: asking again would wait as long again
        return ProxmoxError("no answer from %s:%s within %s seconds (api_timeout)" % (self.host, self.port, self.timeout),
                            method=method, path=path, transient=True)

    def _may_retry(self, attempt, started):
        """Whether another try fits: retries left, and its pause within api_timeout plus the retry budget."""
        if attempt >= self.retries:
            return False
        pause = min(self.max_backoff, self.backoff * (2 ** attempt))
        return time.monotonic() - started + pause < self.timeout + self.retry_budget

    def _pause(self, attempt):
        delay = min(self.max_backoff, self.backoff * (2 ** attempt))
        self._sleep(delay * random.uniform(0.5, 1.0))

    # --- calls -----------------------------------------------------------
    def request(self, method, path, /, idempotent=None, **params):
        """Call ``method`` on ``path`` (e.g. ``/nodes/pve1/dns``) and return its ``data``.

        ``method`` and ``path`` are positional only: PVE has parameters of those names.
        ``idempotent=False`` marks a PUT or DELETE that must not be sent twice (one with a
        ``digest``, one that removes something); a POST is never idempotent unless said so.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        params = encode_params(params)
        renewed = False
        attempt = 0
        started = time.monotonic()
        while True:
            api = None
            try:
                api = self.api
                resource = api(path.lstrip("/"))
                if method in ("GET", "DELETE"):
                    return resource._request(method, params=dict(params))
                return resource._request(method, data=dict(params))
            except (ResourceException, AuthenticationError) as err:
                # proxmoxer renews an old ticket by itself and reports a refusal as AuthenticationError
                status = err.status_code if isinstance(err, ResourceException) else 401
                if status == 401 and not renewed and not self._token_id:
                    renewed = True  # the ticket expired or its key changed: log in again once; nothing ran
                    self._forget_login(api)
                    continue
                if idempotent and status in RETRY_STATUSES and self._may_retry(attempt, started):
                    self._pause(attempt)
                    attempt += 1
                    continue
                raise self._answer_error(err, method, path)
            except requests.exceptions.ReadTimeout:
                raise self._no_answer(method, path)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
                if _certificate_not_verified(err):
                    raise self._tls_error(err)
                if (idempotent or _request_never_sent(err)) and self._may_retry(attempt, started):
                    self._pause(attempt)
                    attempt += 1
                    continue
                error = self._connection_error(err)
                error.method, error.path = method, path
                raise error
            except requests.exceptions.RequestException as err:  # an answer cut short
                if idempotent and self._may_retry(attempt, started):
                    self._pause(attempt)
                    attempt += 1
                    continue
                raise ProxmoxError("the answer of %s:%s broke off: %s" % (self.host, self.port, err),
                                   method=method, path=path, transient=True)
            except ValueError:
                raise ProxmoxError("the answer of %s:%s was not the JSON the Proxmox VE API gives; is api_host/api_port "
                                   "the API (or a proxy in front of it)?" % (self.host, self.port), method=method, path=path)

    @staticmethod
    def _answer_error(err, method, path):
        if isinstance(err, AuthenticationError):
            return ProxmoxError("authentication failed (the API refused the renewed ticket)", status=401,
                                method=method, path=path)
        errors = err.errors if isinstance(err.errors, dict) else None
        if errors and isinstance(errors.get("errors"), bytes):
            errors = None  # proxmoxer's stand-in for a body that is not JSON (a proxy's page, nothing)
        return ProxmoxError(err.content or err.status_message or "HTTP %s" % err.status_code,
                            status=err.status_code, errors=errors, method=method, path=path,
                            transient=err.status_code in RETRY_STATUSES)

    def get(self, path, /, **params):
        return self.request("GET", path, **params)

    def post(self, path, /, **params):
        return self.request("POST", path, **params)

    def put(self, path, /, **params):
        return self.request("PUT", path, **params)

    def delete(self, path, /, **params):
        return self.request("DELETE", path, **params)

    # --- waiting ---------------------------------------------------------
    def wait_until(self, condition, timeout, first_interval=0.2, max_interval=3.0):
        """Call ``condition()`` until it returns a true value, and return that; None after ``timeout`` seconds.

        The pauses between calls double from ``first_interval`` up to ``max_interval``; the last
        call is made at the deadline.  What ``condition`` raises ends the wait: it decides which
        failures mean "not yet".
        """
        deadline = time.monotonic() + timeout
        interval = first_interval
        while True:
            value = condition()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._sleep(min(interval, remaining))
            interval = min(max_interval, interval * 2)

    # --- tasks -----------------------------------------------------------
    def wait_for_task(self, upid, timeout=600, first_interval=0.1, max_interval=3.0, log_lines=10, through_restart=False):
        """Poll a task until it stops; return its final status.

        A task that ends with ``WARNINGS: N`` succeeded: its warning lines are added to
        :attr:`warnings`, for the module to pass on.  Raises :class:`ProxmoxError` carrying
        ``exitstatus`` and the last ``log_lines`` lines of the task log when the task fails,
        or when it is still running after ``timeout`` seconds.

        Polls that fail transiently (no connection, a proxy error) are repeated until the
        deadline.  ``through_restart`` also repeats polls that get an error answer: for tasks
        that restart the API they are polled through (a cluster join restarts pmxcfs and
        pveproxy and replaces the ticket key).  A certificate that cannot be verified is never
        waited out: after a join the node presents one from the cluster CA, which only a
        different ``ca_path`` fixes.
        """
        node = task_node(upid)
        path = "/nodes/%s/tasks/%s/status" % (node, upid)
        failed_poll = []

        def stopped():
            try:
                status = self.get(path)
            except ProxmoxError as err:
                if not (err.transient or (through_restart and not err.tls)):
                    raise
                failed_poll[:] = [err]
                return None
            failed_poll[:] = []
            return status if status.get("status") == "stopped" else None

        status = self.wait_until(stopped, timeout, first_interval=first_interval, max_interval=max_interval)
        if status is None:
            if failed_poll:
                raise failed_poll[0]  # the last poll failed: say why, not "still running"
            raise ProxmoxError("task %s still running after %s seconds" % (upid, timeout), upid=upid,
                               log=self.task_log_tail(node, upid, log_lines))
        exitstatus = status.get("exitstatus")
        if exitstatus == "OK":
            return status
        if exitstatus and exitstatus.startswith("WARNINGS"):  # "WARNINGS: 2": done, with warnings logged
            lines = self.task_log_tail(node, upid, lines=50)
            with self._lock:
                self.warnings.extend("task %s: %s" % (status.get("type", upid), line)
                                     for line in lines if line.startswith("WARN"))
            return status
        raise ProxmoxError("task %s failed: %s" % (status.get("type", upid), exitstatus), upid=upid,
                           exitstatus=exitstatus, log=self.task_log_tail(node, upid, log_lines))

    def task_log_tail(self, node, upid, lines=10, window=5000):
        """The last ``lines`` lines of a task's log (best effort: [] when it cannot be read)."""
        path = "/nodes/%s/tasks/%s/log" % (node, upid)
        tail, start = [], 0
        try:
            while True:  # PVE gives the log in windows from the start; the end is in the last one
                entries = self.get(path, start=start, limit=window)
                tail = (tail + [entry.get("t", "") for entry in entries])[-lines:]
                if len(entries) < window:
                    return tail
                start += len(entries)
        except ProxmoxError:
            return tail

    def run(self, method, path, /, task_timeout=600, through_restart=False, **params):
        """Call an API method and, when it answers with a task id, wait up to ``task_timeout`` seconds for it.

        (Not ``timeout``: some PVE methods take a parameter of that name.)  ``through_restart``
        as for :meth:`wait_for_task`.
        """
        result = self.request(method, path, **params)
        if isinstance(result, str) and result.startswith("UPID:"):
            self.wait_for_task(result, timeout=task_timeout, through_restart=through_restart)
        return result


def client_from_options(options):
    """A client from the connection options (``api_host``, ``api_port``, ... as the modules take them), no AnsibleModule needed."""
    return ProxmoxClient(
        host=options["api_host"], port=options.get("api_port") or 8006, user=options.get("api_user") or "root@pam",
        password=options.get("api_password"), otp=options.get("api_otp"),
        token_id=options.get("api_token_id"), token_secret=options.get("api_token_secret"),
        validate_certs=options.get("validate_certs", True) is not False, ca_path=options.get("ca_path"),
        timeout=options.get("api_timeout") or 30,
    )
