#!/usr/bin/python3
"""The lab's route log: every route change the collector sees, one JSON line each.

Streams `gobgp -p PORT monitor adj-in -a ipv4 --current -j` (the collector's
Adj-RIB-In: every path each speaker announces or withdraws, per neighbour; not only
best-path changes as `monitor global rib` would) and appends to OUT, flushed and fsync'd:

  {"time": "2026-12-05T14:02:56.123456Z", "prefix": "127.10.1.0/24",
   "originAS": 65001, "withdrawal": false}

originAS is the last AS in the path's AS_PATH (else the neighbour's ASN, from
--neighbor). A withdrawal carries no attributes, so its originAS is the one last
announced by that neighbour for that prefix; a withdrawal of a path the log never saw
announced is not a change and is not logged (GoBGP reports one for an update it
"treated as withdraw", e.g. for an invalid next hop), nor is an announcement of the
same origin for a path already held. GoBGP's monitor does not report the routes that a
session takes down with it, so the collector's neighbours are also polled (every
--poll seconds): when one leaves Established, a withdrawal is logged for every prefix
it had announced. If the monitor stream ends (collector restarted), it is restarted;
--current replays what the collector holds, so nothing is missed.
"""

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import threading
import time

ESTABLISHED = 6  # gobgp -j neighbor: state.session_state


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def origin_as(path):
    for attr in path.get("attrs") or []:
        if attr.get("type") == 2:  # AS_PATH
            asns = [asn for segment in attr.get("as_paths") or [] for asn in segment.get("asns") or []]
            if asns:
                return asns[-1]
    return None


class RouteLog:
    def __init__(self, args):
        self.args = args
        self.host, _, port = args.api.rpartition(":")
        self.port = port
        self.neighbor_asn = {}
        for item in args.neighbor:
            address, _, asn = item.partition("=")
            self.neighbor_asn[address] = int(asn)
        self.known = {}  # (neighbor, prefix) -> originAS
        self.lock = threading.Lock()
        self.fd = os.open(args.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.stopping = threading.Event()
        self.monitor = None
        self.monitor_started = threading.Event()
        self.neighbors_polled = threading.Event()

    def gobgp(self, *words):
        return ["gobgp", "-u", self.host, "-p", self.port, *words]

    def write(self, prefix, asn, withdrawal):
        line = json.dumps({"time": now_rfc3339(), "prefix": prefix, "originAS": asn,
                           "withdrawal": withdrawal}, separators=(", ", ": ")) + "\n"
        data = line.encode()
        written = 0
        while written < len(data):
            written += os.write(self.fd, data[written:])
        os.fsync(self.fd)

    def handle(self, path):
        prefix = (path.get("nlri") or {}).get("prefix")
        neighbor = path.get("neighbor-ip") or path.get("source-id") or ""
        if not prefix:
            return
        withdrawal = bool(path.get("withdrawal"))
        with self.lock:
            key = (neighbor, prefix)
            if withdrawal:
                if key not in self.known:
                    # Not a change: nothing was held for it. GoBGP reports such withdrawals
                    # for updates it "treated as withdraw" (e.g. an invalid next hop).
                    return
                asn = self.known.pop(key)
            else:
                asn = origin_as(path)
                if asn is None:
                    asn = self.neighbor_asn.get(neighbor)
                if self.known.get(key, object()) == asn:
                    return  # the same path again (e.g. --current after a restart): no change
                self.known[key] = asn
            self.write(prefix, asn, withdrawal)

    def run_monitor(self):
        while not self.stopping.is_set():
            try:
                self.monitor = subprocess.Popen(
                    self.gobgp("monitor", "adj-in", "-a", "ipv4", "--current", "-j"),
                    stdout=subprocess.PIPE, stderr=sys.stderr, stdin=subprocess.DEVNULL, text=True)
            except OSError as error:
                print(f"routelog: cannot run gobgp: {error}", file=sys.stderr, flush=True)
                self.stopping.wait(1)
                continue
            self.monitor_started.set()
            for line in self.monitor.stdout:
                line = line.strip()
                if not line:
                    continue
                try:
                    paths = json.loads(line)
                except ValueError:
                    print(f"routelog: not JSON from gobgp monitor: {line[:200]}", file=sys.stderr, flush=True)
                    continue
                for path in paths if isinstance(paths, list) else [paths]:
                    if isinstance(path, dict):
                        self.handle(path)
            code = self.monitor.wait()
            if not self.stopping.is_set():
                print(f"routelog: gobgp monitor ended (exit {code}); restarting", file=sys.stderr, flush=True)
                self.monitor_started.clear()
                self.stopping.wait(0.5)

    def poll_neighbors(self):
        while not self.stopping.is_set():
            try:
                out = subprocess.run(self.gobgp("-j", "neighbor"), capture_output=True, text=True, timeout=10)
                neighbors = json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else None
            except (subprocess.TimeoutExpired, ValueError, OSError):
                neighbors = None
            if neighbors is not None:
                down = set()
                for neighbor in neighbors:
                    state = neighbor.get("state") or {}
                    address = state.get("neighbor_address") or (neighbor.get("conf") or {}).get("neighbor_address")
                    if state.get("session_state") != ESTABLISHED:
                        down.add(address)
                with self.lock:
                    for key in sorted(k for k in self.known if k[0] in down):
                        asn = self.known.pop(key)
                        self.write(key[1], asn, True)
                self.neighbors_polled.set()
            self.stopping.wait(self.args.poll)

    def run(self):
        threads = [threading.Thread(target=self.run_monitor, daemon=True),
                   threading.Thread(target=self.poll_neighbors, daemon=True)]
        for thread in threads:
            thread.start()
        if self.args.ready:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not self.stopping.is_set():
                if self.monitor_started.is_set() and self.neighbors_polled.is_set():
                    with open(self.args.ready, "w") as ready:
                        ready.write(f"{os.getpid()}\n")
                    break
                self.stopping.wait(0.05)
        print(f"routelog: following {self.args.api}, recording to {self.args.out}", flush=True)
        self.stopping.wait()
        if self.monitor and self.monitor.poll() is None:
            self.monitor.terminate()
            try:
                self.monitor.wait(5)
            except subprocess.TimeoutExpired:
                self.monitor.kill()
        print("routelog: stopped", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="the collector's gobgpd API, HOST:PORT")
    parser.add_argument("--out", required=True, help="routes.jsonl to append to")
    parser.add_argument("--neighbor", action="append", default=[], help="ADDRESS=ASN of a collector neighbour")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between neighbour polls")
    parser.add_argument("--ready", help="file written once the stream and the first poll are up")
    args = parser.parse_args()
    log = RouteLog(args)
    signal.signal(signal.SIGTERM, lambda *_: log.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: log.stopping.set())
    log.run()


if __name__ == "__main__":
    main()
