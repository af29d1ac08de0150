"""Run pvesim in the foreground:

    python -m pvesim --scenario FILE --state-dir DIR [--time-scale X]
                     [--address-base 127.0.0.2] [--port 8006] [--cluster-name NAME]
                     [--control-port N] [--faults FILE] [--save-state FILE]
    python -m pvesim --load-state FILE --state-dir DIR [--time-scale X] [--save-state FILE] ...

``--load-state`` serves a world saved by ``--save-state`` (or ``POST /state/save`` on the
control channel): same addresses, certificates, users, guests and tasks.  ``--save-state``
writes the state when SIGTERM or SIGINT stops pvesim (atomically: temp file + rename).

Once every host answers it writes, in DIR: ``hosts.json`` (``[{"node", "url",
"fingerprint"}]``), ``ca.pem``, ``credentials.json`` (``{"user", "password"}``),
``control.json`` (``{"url"}`` of the control channel) and keeps ``stats.json``
current.  SIGTERM or SIGINT stops it; it exits 0.
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pvesim import state_file
from pvesim.server import SimServer
from pvesim.testing import make_sim


def _write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


class ControlHandler(BaseHTTPRequestHandler):
    """Plain HTTP on 127.0.0.1: ``GET /stats``, ``POST /stats/reset``, ``GET /faults``,
    ``POST /faults`` (JSON body: one fault action or a list, see pvesim.faults),
    ``GET /hosts``, ``POST /state/save`` (JSON body ``{"path": ...}`` optional, default the
    ``--save-state`` file)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        logging.getLogger("pvesim").debug("control: " + fmt, *args)

    def _answer(self, status, value):
        data = json.dumps(value, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        sim = self.server.sim
        if self.path == "/stats":
            self._answer(200, sim.stats.snapshot())
        elif self.path == "/faults":
            self._answer(200, sim.faults.describe())
        elif self.path == "/hosts":
            self._answer(200, self.server.hosts_doc())
        else:
            self._answer(404, {"error": "unknown control path"})

    def do_POST(self):
        sim = self.server.sim
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            if self.path == "/stats/reset":
                sim.stats.reset()
            elif self.path == "/faults":
                sim.faults.apply(json.loads(body or b"[]"))
            elif self.path == "/state/save":
                request = json.loads(body or b"{}")
                if not isinstance(request, dict):
                    raise ValueError("the body is a JSON object: {\"path\": FILE}")
                path = request.get("path") or self.server.save_path
                if not path:
                    raise ValueError("no path: give {\"path\": FILE} or start pvesim with --save-state FILE")
                try:
                    written = state_file.save(sim, path)
                except (OSError, TypeError) as err:
                    self._answer(500, {"error": "saving the state failed: %s" % err})
                    return
                self._answer(200, {"ok": True, "path": os.path.abspath(written)})
                return
            else:
                self._answer(404, {"error": "unknown control path"})
                return
        except (ValueError, TypeError, KeyError) as err:
            self._answer(400, {"error": str(err)})
            return
        self._answer(200, {"ok": True})


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m pvesim", description="Proxmox VE API simulator")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--scenario", help="scenario JSON file (shared/scenarios/FORMAT.md), or a name in pvesim/scenarios")
    source.add_argument("--load-state", metavar="FILE",
                        help="serve a world saved with --save-state (instead of --scenario)")
    parser.add_argument("--save-state", metavar="FILE",
                        help="write the whole simulated world to FILE when stopped by SIGTERM/SIGINT")
    parser.add_argument("--state-dir", required=True, help="where hosts.json, ca.pem, credentials.json go")
    parser.add_argument("--time-scale", type=float, default=None,
                        help="real seconds per simulated second of task time (0, the default: tasks finish at once;"
                             " with --load-state: the saved one)")
    parser.add_argument("--address-base", default=None, help="loopback address of the first host (default 127.0.0.2)")
    parser.add_argument("--port", type=int, default=None, help="port of every host (default 8006)")
    parser.add_argument("--cluster-name", default=None, help="override the scenario's cluster_name")
    parser.add_argument("--control-port", type=int, default=0, help="control channel port on 127.0.0.1 (0: any)")
    parser.add_argument("--faults", default=os.environ.get("PVESIM_FAULTS_FILE"),
                        help="JSON file of fault actions applied at start")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.load_state:
        given = [flag for flag, value in (("--address-base", args.address_base), ("--port", args.port),
                                          ("--cluster-name", args.cluster_name)) if value is not None]
        if given:  # the saved certificates name the saved addresses; corosync names the saved cluster
            parser.error("%s cannot be used with --load-state (a saved world keeps its addresses, "
                         "port and cluster name)" % ", ".join(given))
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    os.makedirs(args.state_dir, exist_ok=True)
    for stale in ("hosts.json", "control.json"):  # a waiting client must not read a previous run's files
        if os.path.exists(os.path.join(args.state_dir, stale)):
            os.remove(os.path.join(args.state_dir, stale))
    if args.load_state:
        try:
            sim = state_file.load(args.load_state, time_scale=args.time_scale)
        except (OSError, state_file.StateFileError) as err:
            print("pvesim: cannot load state: %s" % err, file=sys.stderr)
            return 2
    else:
        sim = make_sim(args.scenario, time_scale=args.time_scale or 0.0, address_base=args.address_base or "127.0.0.2",
                       port=args.port or 8006, cluster_name=args.cluster_name)
    if args.faults:
        with open(args.faults, encoding="utf-8") as handle:
            sim.faults.apply(json.load(handle))
    if os.environ.get("PVESIM_FAULTS"):
        sim.faults.apply(json.loads(os.environ["PVESIM_FAULTS"]))

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    server = SimServer(sim, state_dir=args.state_dir)
    server.start()

    def hosts_doc():
        with sim.lock:
            return [{"node": h.name, "url": h.url, "fingerprint": h.fingerprint} for h in sim.hosts.values()]

    control = ThreadingHTTPServer(("127.0.0.1", args.control_port), ControlHandler)
    control.daemon_threads = True
    control.sim, control.hosts_doc = sim, hosts_doc
    control.save_path = args.save_state
    threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()

    stats_path = os.path.join(args.state_dir, "stats.json")
    _write_json(os.path.join(args.state_dir, "credentials.json"), {"user": "root@pam", "password": sim.root_password})
    _write_json(os.path.join(args.state_dir, "control.json"), {"url": "http://127.0.0.1:%d" % control.server_port})
    sim.stats.dump(stats_path)
    # hosts.json last: its presence tells a waiting client that everything is ready.
    _write_json(os.path.join(args.state_dir, "hosts.json"), hosts_doc())

    written = sim.stats.generation
    code = 0
    try:
        while not stop.wait(1.0):
            if sim.stats.generation != written:
                written = sim.stats.generation
                sim.stats.dump(stats_path)
    finally:
        control.shutdown()
        control.server_close()
        server.stop()
        sim.stats.dump(stats_path)
        if args.save_state:
            try:
                state_file.save(sim, args.save_state)
            except (OSError, TypeError) as err:
                print("pvesim: saving the state to %s failed: %s" % (args.save_state, err), file=sys.stderr)
                code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
