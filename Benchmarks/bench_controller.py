"""`make bench`, section `controller` (issue 14): a controller pass over a converged 100k fleet
with a journal of about 1,000,000 entries, beside a one-shot dry run of the same fleet and state,
and the controller's peak RSS with a journal ten times shorter.

The fleet is `gen_fleet.py`'s 100k fleet (1,000 groups of 100) with every target on `adobe-dc/dc1`,
where the simulator seeds each instance: every instance is where it should be. The state is built
with sqlite3 from the rows one real apply writes (untimed: a 200-instance fleet of the same shape,
freeze failing once for one group so that it has a retry), copied for each of the 1,000 groups
with its names, addresses and wave, each cut-over completed and padded with more freeze retries
(intent + retry) to the entries wanted. The planner sees every group migrated.

(a) The controller (`sendpath controller --interval 1h --log-format json`) does its first pass;
then, `runs` times, a `reconcile --dry-run --output json` of the same fleet and state (timed as a
process) alternates with a controller pass (its `reconciled` line's `reconcile.duration_s`),
triggered by touching a manifest. Target: a pass at most 2x the dry run.
(b) The controller's peak RSS (`VmHWM`, read before SIGTERM) after its first pass and two more,
with the 1,000-entry cut-overs and with 100-entry ones (the same 1,000 cut-overs), alternated.
Target: not growing with the journal (at most 1.25x).
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import threading
import time

import bench as b

INSTANCES, PER_PREFIX = 100_000, 100
TEMPLATE_GROUP = 1                      # pfx-000001 of the template fleet: instances 100..199
LONG_ENTRIES, SHORT_ENTRIES = 1000, 100  # entries per cut-over, 1,000 cut-overs
FAULTS = "- instance: t0000-mkt-prod-000100\n  operation: freeze\n  effect: error\n  count: 1\n"


def converged_fleet(work: str) -> str:
    """The 100k fleet with every instance's target on adobe-dc/dc1 (where the simulator seeds it)."""
    folder = os.path.join(work, "fleet")
    b.generate(os.path.relpath(folder, b.OUT), INSTANCES, PER_PREFIX, 100)
    for name in os.listdir(folder):
        if name.startswith("instances-"):
            path = os.path.join(folder, name)
            with open(path) as handle:
                text = handle.read()
            text = text.replace("    infrastructure: aws\n    location: eu-west-1\n",
                                "    infrastructure: adobe-dc\n    location: dc1\n")
            with open(path, "w") as handle:
                handle.write(text)
    return folder


def template_rows(work: str) -> tuple[tuple, list[tuple], list[tuple]]:
    """One real apply of 200 instances in 2 groups; returns pfx-000001's cut-over row, its
    journal rows and its preparation rows (without ids)."""
    folder = os.path.join(work, "template")
    b.generate(os.path.relpath(folder, b.OUT), 2 * PER_PREFIX, PER_PREFIX, 2)
    faults = os.path.join(work, "faults.yaml")
    with open(faults, "w") as handle:
        handle.write(FAULTS)
    fleet_db, state_db = os.path.join(work, "template-sim.db"), os.path.join(work, "template-state.db")
    b.remove_db(fleet_db)
    b.remove_db(state_db)
    subprocess.run([b.SENDPATH, "simulator", "seed", "--fleet", fleet_db, folder], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, report = b.sendpath_json(["reconcile", "--at", b.AT, "--retry-delay", "1ms", "--state", f"sqlite:{state_db}",
                                 "--provider", f"sim:{fleet_db}?faults={faults}", folder])
    if report["summary"].get("migrated") != 2 * PER_PREFIX:
        raise SystemExit(f"controller: the template apply did not migrate every instance: {report['summary']}")
    group = f"pfx-{TEMPLATE_GROUP:06d}"
    columns = "cutover_id, group_id, step, is_rollback, phase, attempt, idempotency_key, fencing_token, at, duration_ns, detail, holder"
    with sqlite3.connect(state_db) as db:
        cutover = db.execute("SELECT id, group_id, wave, members, window_start, window_end, started_at, finished_at, "
                             "outcome, reason, baseline FROM cutover WHERE group_id = ?", (group,)).fetchone()
        entries = db.execute(f"SELECT {columns} FROM journal WHERE cutover_id = ? ORDER BY id", (cutover[0],)).fetchall()
        preparations = db.execute(f"SELECT {columns} FROM journal WHERE cutover_id IS NULL AND group_id = ? ORDER BY id",
                                  (group,)).fetchall()
    if [e[4] for e in entries[:3]] != ["intent", "retry", "intent"] or entries[0][2] != "freeze":
        raise SystemExit(f"controller: the template cut-over should begin with a freeze retried: {[e[2:6] for e in entries[:4]]}")
    return cutover, entries, preparations


def for_group(row: tuple, k: int) -> tuple:
    """A template row with group pfx-000001's names, addresses and wave replaced by group k's."""
    net = f"10.{k >> 8}.{k & 255}"
    tenant = f"t{k // 10:04d}"

    def one(value):
        if not isinstance(value, str):
            return value
        value = re.sub(r"t\d{4}-mkt-prod-(\d{6})",
                       lambda m: f"{tenant}-mkt-prod-{int(m.group(1)) - TEMPLATE_GROUP * PER_PREFIX + k * PER_PREFIX:06d}", value)
        value = value.replace("10.0.1.", net + ".").replace(f"pfx-{TEMPLATE_GROUP:06d}", f"pfx-{k:06d}")
        return value.replace(f"wave-{TEMPLATE_GROUP:03d}", f"wave-{k % 10:03d}")
    return tuple(one(value) for value in row)


def build_state(path: str, template: tuple, per_cutover: int) -> int:
    """A state with one completed cut-over of `per_cutover` entries per group; returns the
    journal's entries."""
    cutover, entries, preparations = template
    b.fresh_state(path)
    groups = -(-INSTANCES // PER_PREFIX)
    padding = (per_cutover - len(entries)) // 2
    with sqlite3.connect(path) as db:
        for k in range(groups):
            shift = (k - TEMPLATE_GROUP) * 30_000_000_000  # a group every 30 s
            record = list(for_group(cutover, k))
            record[6] += shift
            record[7] += shift
            db.execute("INSERT INTO cutover (id, group_id, wave, members, window_start, window_end, started_at, "
                       "finished_at, outcome, reason, baseline) VALUES (?,?,?,?,?,?,?,?,?,?,?)", record)
            rows = [for_group(entry, k) for entry in preparations + entries]
            rows = [row[:8] + (row[8] + shift,) + row[9:] for row in rows]
            # More freeze retries after the first: intent + retry, attempts 2, 3, ...
            intent, retry = rows[len(preparations)], rows[len(preparations) + 1]
            extra = []
            for attempt in range(2, 2 + padding):
                extra.append(intent[:5] + (attempt,) + intent[6:])
                extra.append(retry[:5] + (attempt,) + retry[6:])
            final = [row[:5] + (row[5] + padding,) + row[6:] if row[2] == "freeze" else row
                     for row in rows[len(preparations) + 2:]]
            db.executemany("INSERT INTO journal (cutover_id, group_id, step, is_rollback, phase, attempt, idempotency_key, "
                           "fencing_token, at, duration_ns, detail, holder) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                           rows[:len(preparations) + 2] + extra + final)
        return db.execute("SELECT count(*) FROM journal").fetchone()[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Controller:
    """`sendpath controller` on a state, its JSON log lines read as they come; passes are started
    by touching a manifest (the interval is an hour)."""

    def __init__(self, folder: str, state_db: str, fleet_db: str):
        self.folder = folder
        self.process = subprocess.Popen(
            [b.SENDPATH, "controller", "--interval", "1h", "--log-format", "json", "--listen", f"127.0.0.1:{free_port()}",
             "--state", f"sqlite:{state_db}", "--provider", f"sim:{fleet_db}", folder],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.passes: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message") == "reconciled":
                self.passes.put(record)
            elif record.get("level") in ("error", "critical"):
                self.passes.put(record)
        self.passes.put(None)

    def next_pass(self, timeout: float = 600) -> float:
        """Waits for the next `reconciled` line; returns its duration in seconds."""
        record = self.passes.get(timeout=timeout)
        if record is None or record.get("message") != "reconciled":
            self.stop()
            raise SystemExit(f"controller: expected a reconciled line, got {record}")
        metadata = record.get("metadata", record)
        if metadata.get("reconcile.outcome") != "converged" or "migrated=100000" not in metadata.get("reconcile.summary", ""):
            self.stop()
            raise SystemExit(f"controller: the pass did not find the fleet converged: {record}")
        return float(metadata["reconcile.duration_s"])

    def trigger(self) -> float:
        """Touches a manifest and waits for the pass that follows."""
        policy = os.path.join(self.folder, "policy.yaml")
        now = time.time()
        os.utime(policy, (now, now))
        return self.next_pass()

    def peak_rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def bench_controller(runs: int) -> tuple[dict, dict, list[str]]:
    work = os.path.join(b.OUT, f"controller-{INSTANCES}")
    os.makedirs(work, exist_ok=True)
    folder = converged_fleet(work)
    template = template_rows(work)
    long_db, short_db, fleet_db = (os.path.join(work, name) for name in ("state-long.db", "state-short.db", "sim.db"))
    entries = {long_db: build_state(long_db, template, LONG_ENTRIES), short_db: build_state(short_db, template, SHORT_ENTRIES)}
    seeded = b.seed(fleet_db, folder)
    dry = [b.SENDPATH, "reconcile", "--dry-run", "--output", "json", "--state", f"sqlite:{long_db}", "--provider",
           f"sim:{fleet_db}", folder]
    # Untimed: the planner sees every group migrated.
    _, report = b.sendpath_json(["reconcile", "--dry-run", "--state", f"sqlite:{long_db}", "--provider", f"sim:{fleet_db}", folder])
    if report["outcome"] != "converged" or report["summary"] != {"migrated": INSTANCES}:
        raise SystemExit(f"controller: the dry run should find {INSTANCES} migrated, got {report['outcome']} {report['summary']}")
    del report

    # (a) a pass after the first, alternated with the one-shot dry run.
    b.measure_once(dry, timeout=1800)  # warm the page cache
    controller = Controller(folder, long_db, fleet_db)
    try:
        first = controller.next_pass()
        drys, passes = [], []
        for _ in range(runs):
            wall, rss, code = b.measure_once(dry, timeout=1800)
            if code != 0:
                raise SystemExit(f"controller: the dry run exited {code}")
            drys.append((wall, rss))
            passes.append(controller.trigger())
    finally:
        controller.stop()
    steady = {
        "label": f"{INSTANCES:,} instances converged, {entries[long_db]:,} journal entries (SQLite)",
        "floor_wall": statistics.median(w for w, _ in drys), "floor_rss": max(r for _, r in drys),
        "wall": statistics.median(passes), "first": first, "passes": sorted(passes),
    }
    steady["ratio"] = steady["wall"] / steady["floor_wall"]

    # (b) peak RSS after three passes, the short journal and the long one alternated.
    peaks: dict[str, list[float]] = {short_db: [], long_db: []}
    for _ in range(max(1, runs // 2)):
        for state in (short_db, long_db):
            controller = Controller(folder, state, fleet_db)
            try:
                controller.next_pass()
                controller.trigger()
                controller.trigger()
                peaks[state].append(controller.peak_rss_mb())
            finally:
                controller.stop()
    memory = {
        "short": entries[short_db], "long": entries[long_db],
        "short_rss": max(peaks[short_db]), "long_rss": max(peaks[long_db]),
    }
    memory["ratio"] = memory["long_rss"] / memory["short_rss"]
    notes = [f"Fleet: `gen_fleet.py --instances {INSTANCES} --per-prefix {PER_PREFIX} --files 100` with every target "
             f"on adobe-dc/dc1 (where `simulator seed` puts each instance; seeded once, {seeded:.2f} s, untimed). "
             f"State: 1,000 completed cut-overs (one per group) copied from a real apply's rows, padded with freeze "
             f"retries to {LONG_ENTRIES:,} entries each ({entries[long_db]:,} journal rows with the preparations) or "
             f"{SHORT_ENTRIES} ({entries[short_db]:,}).",
             f"Controller: `sendpath controller --interval 1h --log-format json --state sqlite:STATE --provider "
             f"sim:FLEET DIR`, a pass started by touching `policy.yaml`, its time from the `reconciled` line; "
             f"dry run: `sendpath reconcile --dry-run --output json --state sqlite:STATE --provider sim:FLEET DIR` "
             f"(whole process, output to /dev/null). Passes: {', '.join(f'{p:.2f}' for p in steady['passes'])} s; "
             f"the first {first:.2f} s.",
             f"Peak RSS: the controller's VmHWM after its first pass and two more, {max(1, runs // 2)} run(s) per "
             f"journal, alternated; the dry run's peak RSS: {steady['floor_rss']:.0f} MB."]
    return steady, memory, notes


def print_controller_tables(steady: dict, memory: dict) -> None:
    print("\n### A controller pass over a converged fleet with a long journal, beside a one-shot dry run\n")
    print("| case | dry run wall | pass wall (median) | ratio | first pass | dry run peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| {steady['label']} | {steady['floor_wall']:.3f} s | {steady['wall']:.3f} s | {steady['ratio']:.2f}x "
          f"| {steady['first']:.3f} s | {steady['floor_rss']:.0f} MB |")
    print("\nTarget: a pass after the first <= 2x the dry run.")
    print("\n### The controller's peak RSS with a journal ten times longer (the same 1,000 cut-overs)\n")
    print("| journal entries | controller peak RSS | journal entries | controller peak RSS | ratio |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {memory['short']:,} | {memory['short_rss']:.0f} MB | {memory['long']:,} | {memory['long_rss']:.0f} MB "
          f"| {memory['ratio']:.2f}x |")
    print("\nTarget: not growing with the journal (<= 1.25x).")
