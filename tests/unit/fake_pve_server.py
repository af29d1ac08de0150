# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A tiny scriptable Proxmox VE API over real HTTPS on 127.0.0.1, for the client's unit tests."""

from __future__ import annotations

import json
import ssl
import threading
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

API_PREFIX = "/api2/json"


class Reply:
    """One scripted answer: a status with PVE's text as the reason phrase and a JSON body.

    ``drop=True`` closes the connection after reading the request, without any answer.
    ``body`` (bytes) replaces the JSON body as is.
    """

    def __init__(self, status=200, reason=None, data=None, errors=None, body=None, drop=False):
        self.status = status
        self.reason = reason
        self.data = data
        self.errors = errors
        self.body = body
        self.drop = drop

    def payload(self):
        if self.body is not None:
            return self.body
        if self.status == 401:
            return b""  # PVE's 401 answers carry no body
        document = {"data": self.data}
        if self.errors is not None:
            document["errors"] = self.errors
        return json.dumps(document).encode("utf-8")


class Seen:
    """A request as the server received it (path without the /api2/json prefix, decoded)."""

    def __init__(self, method, path, query, form, body, headers, cookies):
        self.method = method
        self.path = path
        self.query = query
        self.form = form
        self.body = body
        self.headers = headers
        self.cookies = cookies

    def __repr__(self):
        return "<%s %s query=%r form=%r>" % (self.method, self.path, self.query, self.form)


class FakePVE:
    """Answers from a per-test script; records every request.

    ``users`` maps user to password for ``POST /access/ticket``; ``tokens`` maps
    ``user@realm!name`` to its secret; ``tfa`` maps user to the TOTP code it needs.
    Every other call needs a valid ticket cookie (plus the CSRF token on writes) or token.
    Past ``limit`` requests every answer is a 599, so that a client caught in a loop fails
    the test instead of hanging it.
    """

    def __init__(self, context, users=None, tokens=None, tfa=None, listen=True, limit=100):
        self.users = dict(users or {"root@pam": "s3cret-pw"})
        self.tokens = dict(tokens or {})
        self.tfa = dict(tfa or {})
        self.limit = limit
        self.requests = []
        self.tickets = {}  # ticket -> CSRF token
        self._routes = {}
        self._login_failures = []  # scripted answers for the next ticket requests
        self._lock = threading.Lock()
        self._count = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self._httpd.daemon_threads = True
        self._httpd.fake = self
        self._httpd.server_bind()
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = None
        if listen:
            self.start()

    def start(self):
        """Listen and serve (a bound server that does not listen yet refuses connections)."""
        if self._thread is None:
            self._httpd.server_activate()
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
            self._thread.start()

    def close(self):
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()

    # --- the script --------------------------------------------------------
    def route(self, method, path, *replies):
        """Answer ``method path`` with ``replies`` in turn; the last one answers from then on."""
        self._routes[(method.upper(), path)] = list(replies)

    def calls(self, method=None, path=None):
        return [seen for seen in self.requests
                if (method is None or seen.method == method) and (path is None or seen.path == path)]

    def expire_tickets(self):
        self.tickets.clear()

    def fail_logins(self, *replies):
        """Answer the next ticket requests with ``replies``, one each; real logins after that."""
        self._login_failures.extend(replies)

    # --- answering ---------------------------------------------------------
    def answer(self, seen):
        with self._lock:
            self.requests.append(seen)
            if len(self.requests) > self.limit:
                return Reply(599, "fake PVE: more than %d requests" % self.limit)
            if seen.method == "POST" and seen.path == "/access/ticket":
                if self._login_failures:
                    return self._login_failures.pop(0)
                return self._ticket(seen.form)
            denied = self._check_auth(seen)
            if denied:
                return denied
            replies = self._routes.get((seen.method, seen.path))
            if not replies:
                return Reply(501, "Method '%s %s' not implemented" % (seen.method, seen.path))
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _new_ticket(self, user, prefix=""):
        self._count += 1
        ticket = "PVE:%s%s:6543ABC%d::c2lnbmF0dXJl" % (prefix, user, self._count)
        self.tickets[ticket] = "6543ABC%d:csrf-%d" % (self._count, self._count)
        return ticket

    def _ticket(self, form):
        user = form.get("username")
        challenge = form.get("tfa-challenge")
        if challenge is not None:
            if challenge in self.tickets and form.get("password") == "totp:%s" % self.tfa.get(user):
                del self.tickets[challenge]
                ticket = self._new_ticket(user)
                return Reply(data={"ticket": ticket, "CSRFPreventionToken": self.tickets[ticket], "username": user})
            return Reply(401, "authentication failure")
        if user not in self.users or form.get("password") != self.users[user]:
            return Reply(401, "authentication failure")
        if user in self.tfa:
            ticket = self._new_ticket(user, prefix="!tfa!")
            return Reply(data={"ticket": ticket, "CSRFPreventionToken": self.tickets[ticket], "username": user, "NeedTFA": 1})
        ticket = self._new_ticket(user)
        return Reply(data={"ticket": ticket, "CSRFPreventionToken": self.tickets[ticket], "username": user})

    def _check_auth(self, seen):
        authorization = seen.headers.get("authorization")
        if authorization:
            scheme, _sep, credentials = authorization.partition("=")
            token_id, _sep, secret = credentials.partition("=")
            if scheme == "PVEAPIToken" and self.tokens.get(token_id) == secret:
                return None
            return Reply(401, "invalid token value!")
        ticket = seen.cookies.get("PVEAuthCookie")
        if ticket not in self.tickets or "!tfa!" in ticket:
            return Reply(401, "No ticket")
        if seen.method != "GET" and seen.headers.get("csrfpreventiontoken") != self.tickets[ticket]:
            return Reply(401, "Permission denied - invalid csrf token")
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: no stale keep-alive sockets

    def _serve(self):
        split = urlsplit(self.path)
        path = unquote(split.path)
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX):]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        cookies = SimpleCookie(self.headers.get("Cookie") or "")
        seen = Seen(
            method=self.command,
            path=path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            form=dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)),
            body=body,
            headers={name.lower(): value for name, value in self.headers.items()},
            cookies={name: morsel.value for name, morsel in cookies.items()},
        )
        reply = self.server.fake.answer(seen)
        if reply.drop:
            self.close_connection = True
            return
        payload = reply.payload()
        self.send_response(reply.status, reply.reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


def server_context(cert):
    """A server-side TLS context presenting a ``trustme`` leaf certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context
