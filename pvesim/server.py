"""HTTPS endpoints: one threaded server per simulated host, on its own loopback address.

Each request is turned into a :func:`pvesim.dispatch.dispatch` call: authentication
(ticket cookie or API token, CSRF token on writes) is resolved here, everything else
happens in dispatch.  Answers are PVE's: ``{"data": ...}``, the error text in the HTTP
reason phrase, 400 answers with the per-parameter ``errors`` object.
"""

import json
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from pvesim import certs
from pvesim.access import AccessControl
from pvesim.dispatch import dispatch, not_implemented
from pvesim.errors import ApiError
from pvesim.faults import Faults
from pvesim.routing import Identity, match
from pvesim.stats import RequestStats

log = logging.getLogger("pvesim")

API_PREFIX = "/api2/json"
WRITE_METHODS = ("POST", "PUT", "DELETE")


class _DropConnection(Exception):
    """Close the connection without an answer (fault injection, offline host)."""


def _reason(message):
    # A reason phrase is one latin-1 line.
    text = " ".join(str(message).split())
    return text.encode("latin-1", "replace").decode("latin-1")


def parse_params(pairs):
    """Form/query pairs to {name: value}; a repeated key becomes a list."""
    params = {}
    for key, value in pairs:
        if key in params:
            if not isinstance(params[key], list):
                params[key] = [params[key]]
            params[key].append(value)
        else:
            params[key] = value
    return params


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pve-api-daemon/3.0"
    sys_version = ""
    # an idle keep-alive connection is closed after this many seconds, so a forgotten client
    # never pins a handler thread (pveproxy closes idle connections too)
    timeout = 30

    def log_message(self, fmt, *args):  # quiet: tests and benchmarks make many requests
        log.debug("%s %s", self.server.host.name, fmt % args)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    # --- the pipeline ------------------------------------------------------
    def _handle(self, method):
        server = self.server
        sim, host = server.sim, server.host
        url = urlsplit(self.path)
        api_path = url.path[len(API_PREFIX):] if url.path.startswith(API_PREFIX + "/") else None
        template = None
        status = 200
        self._recorded = False

        def record(code):
            # counted before the answer goes out, so a client that has its answer sees it counted
            if sim.stats is not None and not self._recorded:
                self._recorded = True
                sim.stats.record(host.name, method, template or (api_path or url.path), code)

        self._record = record
        try:
            if not host.online:
                raise _DropConnection()
            body = self._read_body()
            if api_path is None:
                raise not_implemented(method, url.path)
            api_path = "/" + "/".join(unquote(part) for part in api_path.split("/") if part)
            found = match(method, api_path)
            template = found[0] if found else None
            if sim.faults is not None:
                delay, drop = sim.faults.http_action(host, method, api_path, template)
                if delay:
                    time.sleep(delay)
                if drop:
                    raise _DropConnection()
            params = parse_params(parse_qsl(url.query, keep_blank_values=True))
            if body:
                if method in ("GET", "DELETE"):
                    raise ApiError(501, "Unexpected content for method '%s'" % method)
                params.update(self._parse_body(body))
            with sim.lock:
                # what is due happens first: a join that has finished has already swapped
                # this host's /etc/pve, and with it the key its tickets are checked with
                sim.tick()
                identity, auth_error = self._authenticate(method)
            try:
                data = dispatch(sim, host, method, api_path, params, identity)
            except ApiError as err:
                if err.status == 401 and auth_error and err.message == "No ticket":
                    err = ApiError(401, auth_error)
                raise err
            self._send(200, "OK", {"data": data})
        except _DropConnection:
            status = 0
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        except ApiError as err:
            status = err.status
            if err.status == 401 and (method, template) == ("POST", "/access/ticket"):
                # a failed login is the handler's error, formatted as JSON like any other
                # (pve-http-server / pve-manager Formatter prepare_response_data: {"data": null})
                self._send(401, err.message, {"data": None})
            elif err.status == 401:
                self._send(401, err.message, None)  # pveproxy's auth_handler 401s carry no body
            else:
                # PVE's JSON formatter gives only data (and errors): the text is in the reason phrase
                body = {"data": None}
                if err.errors:
                    body["errors"] = err.errors
                self._send(err.status, err.message, body)
        except Exception as err:  # a handler bug: answer like PVE's 500, keep the trace in the log
            status = 500
            log.error("pvesim: %s %s failed:\n%s", method, self.path, traceback.format_exc())
            self._send(500, str(err) or err.__class__.__name__, {"data": None})
        finally:
            record(status)

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _parse_body(self, body):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        text = body.decode("utf-8", "replace")
        if ctype == "application/json":
            try:
                value = json.loads(text)
            except ValueError:
                raise ApiError(400, "malformed JSON body") from None
            if not isinstance(value, dict):
                raise ApiError(400, "malformed JSON body - not an object")
            return value
        return parse_params(parse_qsl(text, keep_blank_values=True))

    def _authenticate(self, method):
        """``(identity, error text)``: identity None when there are no valid credentials."""
        sim, host = self.server.sim, self.server.host
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("PVEAPIToken"):
            value = auth[len("PVEAPIToken"):].lstrip(" =")
            identity = sim.access.token_identity(host.fs, value)
            return (identity, None) if identity else (None, "invalid token value!")
        ticket = None
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "PVEAuthCookie":
                ticket = unquote(value)
        if ticket is None and auth.startswith("PVEAuthCookie="):
            ticket = unquote(auth[len("PVEAuthCookie="):])
        if ticket is None:
            return None, "No ticket"
        userid = sim.access.verify_ticket(host.fs, ticket)
        if userid is None:
            if sim.access.is_tfa_ticket(host.fs, ticket):
                return None, "No ticket"  # a half ticket: the second factor is still missing
            return None, "invalid PVE ticket"
        # PVE/HTTPServer.pm auth_handler: check_user_enabled after the ticket verifies, so a
        # ticket stops working once its user is disabled, expired or deleted
        user = sim.access.user(host.fs, userid)
        if user is None:
            return None, "no such user ('%s')" % userid
        if not int(user.get("enable", 1)):
            return None, "user '%s' is disabled" % userid
        if int(user.get("expire") or 0) and int(user["expire"]) < sim.access.now():
            return None, "user '%s' access expired" % userid
        if method in WRITE_METHODS:
            token = self.headers.get("CSRFPreventionToken")
            if not sim.access.verify_csrf(host.fs, userid, token):
                return None, "Permission denied - invalid csrf token"
        return Identity(userid=userid), None

    def _send(self, status, reason, payload):
        data = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        self._record(status)
        self.send_response(status, _reason(reason))
        if payload is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "max-age=0")
        self.send_header("Pragma", "no-cache")
        self.end_headers()
        if data:
            self.wfile.write(data)


class HostServer(ThreadingHTTPServer):
    """The HTTPS endpoint of one host.  TLS is set up per connection in the worker
    thread, so a slow or dropped handshake never blocks the accept loop.

    Accepted connections and their threads are tracked, so :meth:`close_all` ends them:
    a stopped simulator must not go on answering on connections it accepted earlier."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    HANDSHAKE_TIMEOUT = 10  # seconds a client may take for the TLS handshake

    def __init__(self, sim, host, ssl_context):
        self.sim, self.host = sim, host
        self.ssl_context = ssl_context
        self._conn_lock = threading.Lock()
        self._connections = set()  # accepted sockets still open
        self._workers = set()  # their handler threads
        self._closing = False
        super().__init__((host.address, host.port), ApiHandler)

    def process_request(self, request, client_address):
        with self._conn_lock:
            if self._closing:
                request.close()
                return
            self._connections.add(request)
            thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                      name="pvesim-%s-conn" % self.host.name, daemon=True)
            self._workers.add(thread)
        thread.start()

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._connections.discard(request)
                self._workers.discard(threading.current_thread())

    def close_all(self, join_timeout=2.0):
        """Cut every open connection and wait for the handler threads to end."""
        with self._conn_lock:
            self._closing = True
            connections, workers = list(self._connections), list(self._workers)
        for request in connections:
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + join_timeout
        for thread in workers:
            thread.join(max(0.0, deadline - time.monotonic()))

    def finish_request(self, request, client_address):
        with self.sim.lock:
            # what is due happens first: a host whose outage or reboot has ended answers
            # this connection even when no other request ticked the simulator meanwhile
            self.sim.tick()
            online = self.host.online
        if not online:
            request.close()  # an offline host: connection closed without an answer
            return
        try:
            # headers and body go out as separate writes: without NODELAY, Nagle's algorithm
            # holds the body until the client's delayed ACK, about 40 ms per request
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request.settimeout(self.HANDSHAKE_TIMEOUT)
            wrapped = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        # wrap_socket took over the file descriptor: close_all() must cut the TLS socket
        with self._conn_lock:
            self._connections.discard(request)
            self._connections.add(wrapped)
            closing = self._closing
        try:
            if not closing:
                super().finish_request(wrapped, client_address)
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            with self._conn_lock:
                self._connections.discard(wrapped)
            wrapped.close()

    def handle_error(self, request, client_address):  # clients that vanish are normal here
        log.debug("connection error from %s", client_address, exc_info=True)


def attach_services(sim):
    """Give ``sim`` the services every request goes through (access control, faults, request
    stats) unless it has them already. The HTTPS servers and in-process calls
    (``pvesim.testing``) both need them."""
    if sim.access is None:
        sim.access = AccessControl(sim)
    if sim.faults is None:
        sim.faults = Faults(sim)
    if sim.stats is None:
        sim.stats = RequestStats()
    return sim


class SimServer:
    """Runs a :class:`~pvesim.model.Simulator`: one HTTPS server per host.

    ``state_dir`` receives the CA bundle (``ca.pem``) and the per-host key files; a
    temporary directory is used when none is given.
    """

    def __init__(self, sim, state_dir=None):
        self.sim = sim
        self._tmp = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="pvesim-")
            state_dir = self._tmp.name
        self.state_dir = str(state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        attach_services(sim)
        # The simulator's own CA (tests make "custom" certificates with it): kept from a loaded
        # state file or a restarted server. Each host's pve-ssl certificate comes from the CA of
        # its /etc/pve (certs.ca_of): its own while standalone, the cluster's after a join.
        if getattr(sim, "ca", None) is None:
            sim.ca = certs.CertificateAuthority()
        self.ca = sim.ca
        for fs in sim.filesystems():
            if not fs.ca and any(h.cert_pem for h in sim.members(fs)):
                # a state file from before per-host CAs: sim.ca signed every host's certificate
                fs.ca = {"cert_pem": self.ca.cert_pem, "key_pem": self.ca.key_pem}
        # ca.pem is the bundle of every CA that signed a served certificate (the CLI contract:
        # it verifies every host); only ever added to, so a client's copy stays useful
        self.ca_path = os.path.join(self.state_dir, "ca.pem")
        self._bundle = sim.ca_bundle  # kept by a state file, so ca.pem stays the same after a load
        self._write(self.ca_path, "".join(self._bundle))
        self._trust(self.ca)
        self.servers = {}  # node name -> HostServer
        self._threads = []
        sim.server = self  # handlers reach reload_certificate() through the simulator

    def _context(self, host):
        if host.custom_cert:
            cert_pem, key_pem = host.custom_cert["cert_pem"], host.custom_cert["key_pem"]
        else:
            cert_pem, key_pem = host.cert_pem, host.key_pem
        # Write the chain beside the key: ssl only loads certificates from files.
        base = os.path.join(self.state_dir, "%s-%s" % (host.name, "custom" if host.custom_cert else "pve-ssl"))
        with open(base + ".pem", "w", encoding="utf-8") as handle:
            handle.write(cert_pem if cert_pem.endswith("\n") else cert_pem + "\n")
        fd = os.open(base + ".key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(base + ".pem", base + ".key")
        return context

    def _trust(self, ca):
        """Add ``ca`` to the ca.pem bundle (rewritten atomically) unless it is there."""
        if ca.cert_pem in self._bundle:
            return
        self._bundle.append(ca.cert_pem)
        self._write(self.ca_path, "".join(self._bundle))

    def _write(self, path, text):
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)

    def host_ca(self, host):
        """The CA that issues ``host``'s pve-ssl certificate (its pve-root-ca), trusted in
        ca.pem and written to ``ca-<node>.pem``."""
        ca = certs.ca_of(host.fs, host.name)
        self._trust(ca)
        self._write(os.path.join(self.state_dir, "ca-%s.pem" % host.name), ca.cert_pem)
        return ca

    def issue_certificate(self, host):
        host.cert_pem, host.key_pem = self.host_ca(host).issue(host.name, host.address)
        host.fingerprint = certs.fingerprint(host.cert_pem)

    def start_host(self, host):
        if not host.cert_pem:
            self.issue_certificate(host)
        else:
            self.host_ca(host)
        server = HostServer(self.sim, host, self._context(host))
        self.servers[host.name] = server
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                  name="pvesim-%s" % host.name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return server

    def start(self):
        """Start every host's endpoint; if one cannot (its address is taken, say), the ones
        already started are stopped again before the error goes on."""
        try:
            for host in list(self.sim.hosts.values()):
                self.start_host(host)
        except BaseException:
            self.stop()
            raise
        return self

    def reload_certificate(self, host):
        """Serve ``host.custom_cert`` (or the pvesim-issued certificate) from now on;
        updates ``host.fingerprint`` to the served certificate's."""
        cert_pem = host.custom_cert["cert_pem"] if host.custom_cert else host.cert_pem
        host.fingerprint = certs.fingerprint(cert_pem)
        if host.custom_cert is not None:
            host.custom_cert["fingerprint"] = host.fingerprint
        server = self.servers.get(host.name)
        if server is not None:
            server.ssl_context = self._context(host)

    def stop(self):
        for server in self.servers.values():
            server.shutdown()
            server.server_close()
            server.close_all()
        self.servers.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
