#!/usr/bin/env python3
"""`make bench`: Sendpath's figures beside their floors, measured side by side in one run.

Each comparison alternates the two commands run by run (A, B, A, B, ...) so that a
noisy neighbour on a shared machine slows both alike, then reports medians and the
ratio. Fleets are generated under Benchmarks/out/ by gen_fleet.py.

Sections (--only, comma-separated; default all of them):
  validate  `sendpath validate` against the C libyaml walk, per fleet size.
  dryrun    `sendpath reconcile --dry-run` of 100k instances (1,000 groups) against the C walk,
            with a seeded simulator; checks the dry run changed nothing.
  outputs   `reconcile --dry-run --output json` and `status --output json` of 100k instances
            against the C walk (streamed JSON, issue 14), and the JSON dry run's peak RSS at
            200k beside 100k (memory grows at most linearly).
  apply     a full apply of 1,000 instances in 500 groups from a fresh state and a fresh
            simulator: (a) latency 0, the journal's cost per step, beside a dry run;
            (b) latency 20ms with --max-parallel 16, the makespan against its lower bound.
  http      the same apply (latency 0) over HTTP against `sendpath simulator serve`, beside the
            embedded `sim:` provider: the client's and server's cost per provider call.
  replicas  the same apply against `simulator serve` on SQLite and on PostgreSQL, with 1 and
            with 3 reconcilers at once: journal writes per second (latency 0) and the
            makespan (latency 20ms). Starts a throwaway PostgreSQL on loopback.
  controller  a controller pass over a converged 100k fleet whose SQLite journal holds 1,002,000
            entries (1,000 completed cut-overs), beside `reconcile --dry-run --output json` of the
            same fleet and state (target: a pass after the first <= 2x), and the controller's peak
            RSS with that journal beside one ten times shorter (target: <= 1.25x).
            Benchmarks/bench_controller.py.
  lab       a cut-over on real daemons (scripts/lab.sh: Postfix, GoBGP) by the postfix-bgp provider,
            freeze to unfreeze, beside the same Postfix and GoBGP operations run alone
            (Benchmarks/lab_floor.py); 2 instances with 100 queued messages each.

The binary is $SENDPATH (default .build/release/sendpath, what `make bench` builds).

Usage: python3 Benchmarks/bench.py [--runs 5] [--sizes 1000,10000,100000]
           [--only validate,dryrun,outputs,apply,http,replicas,controller,lab] [--dryrun-instances 100000]
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import time
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
SENDPATH = os.environ.get("SENDPATH", os.path.join(ROOT, ".build", "release", "sendpath"))
WALK = os.path.join(OUT, "yaml_walk")
SECTIONS = ("validate", "dryrun", "outputs", "apply", "http", "replicas", "controller", "lab")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} {platform.release()}"


def measure_once(command: list[str], env: dict | None = None, timeout: float = 600) -> tuple[float, float, int]:
    """One run through measure.py: (wall seconds, peak RSS MiB, exit code)."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".jsonl") as record:
        subprocess.run([sys.executable, os.path.join(HERE, "measure.py"), "--runs", "1", "--label", "x",
                        "--timeout", str(timeout), "--json", record.name, "--", *command],
                       stdout=subprocess.DEVNULL, check=True, env=env)
        data = json.loads(record.read().strip().splitlines()[-1])
    return data["wall_s"], data["rss_mb"], data["exit_codes"][0]


def compare(label: str, floor: list[str], ours: list[str], runs: int, expect: int = 0, timeout: float = 600) -> dict:
    """Alternates floor and ours `runs` times; returns medians and ratios."""
    measure_once(floor, timeout=timeout)  # warm the page cache
    measure_once(ours, timeout=timeout)
    floors, mine = [], []
    for _ in range(runs):
        floors.append(measure_once(floor, timeout=timeout))
        mine.append(measure_once(ours, timeout=timeout))
    for wall, rss, code in mine:
        if code != expect:
            raise SystemExit(f"{label}: {' '.join(ours)} exited {code}, expected {expect}")
    result = {
        "label": label,
        "floor_wall": statistics.median(w for w, _, _ in floors),
        "floor_rss": max(r for _, r, _ in floors),
        "wall": statistics.median(w for w, _, _ in mine),
        "rss": max(r for _, r, _ in mine),
    }
    result["ratio"] = result["wall"] / result["floor_wall"]
    return result


def generate(name: str, instances: int, per_prefix: int, files: int, extra: list[str] | None = None) -> str:
    folder = os.path.join(OUT, name)
    subprocess.run([sys.executable, os.path.join(HERE, "gen_fleet.py"), "--instances", str(instances),
                    "--per-prefix", str(per_prefix), "--files", str(files), "--out", folder, *(extra or [])],
                   check=True, stdout=subprocess.DEVNULL)
    return folder


def bench_validate(sizes: list[int], runs: int) -> list[dict]:
    rows = []
    for size in sizes:
        folder = generate(f"fleet-{size}", size, 100, 100)
        rows.append(compare(f"validate {size:,} instances", [WALK, folder], [SENDPATH, "validate", folder], runs))
    return rows


# --- reconcile ----------------------------------------------------------------------------

# gen_fleet's default window is [2024-01-16T20:00:00Z, +8h] and its notices go out 40 days
# before (prod needs 30): an hour into the window every wave is open, announced, and long
# enough for a group's expected duration plus the rollback reserve.
AT = "2024-01-16T21:00:00Z"
APPLY_INSTANCES, APPLY_PER_PREFIX, APPLY_PARALLEL = 1000, 2, 16
APPLY_LATENCY_MS = 20
# Provider calls one group makes in sequence in a forward cut-over (StepExecutor.perform and
# GroupRunner): prepareTarget, freeze, snapshotQueue, switchPath, observeInstances (verify-ips),
# observeInstances (verify-build), resend, observeInstances (unfreeze's check that the sending
# IPs are still the declared ones), unfreeze. The simulator sleeps `latency` before each.
PROVIDER_CALLS_PER_GROUP = 9


def sendpath_json(args: list[str], expect: tuple[int, ...] = (0,)) -> tuple[int, dict]:
    """Runs sendpath with --output json (untimed); returns (exit code, parsed stdout)."""
    done = subprocess.run([SENDPATH, *args, "--output", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    if done.returncode not in expect:
        raise SystemExit(f"sendpath {' '.join(args)} exited {done.returncode}, expected {expect}:\n{done.stderr[-2000:]}")
    return done.returncode, json.loads(done.stdout)


def simulator_check(fleet_db: str) -> dict:
    """`sendpath simulator check --output json` (exit 0 only if every invariant held)."""
    return sendpath_json(["simulator", "check", "--fleet", fleet_db], expect=(0, 1))[1]


def remove_db(path: str) -> None:
    """An SQLite file and its WAL companions."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


def copy_db(source: str, target: str) -> None:
    """A closed SQLite database (with its WAL, if one was left) to a fresh path."""
    remove_db(target)
    shutil.copyfile(source, target)
    if os.path.exists(source + "-wal"):
        shutil.copyfile(source + "-wal", target + "-wal")


def fresh_state(state_db: str) -> None:
    """An empty state database: commands that only read (a dry run, status) never create one, so
    `sendpath resume` (which records one resume, changing no plan) creates and migrates it."""
    remove_db(state_db)
    done = subprocess.run([SENDPATH, "resume", "--state", f"sqlite:{state_db}", "--by", "bench"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sendpath resume --state sqlite:{state_db} exited {done.returncode}: {done.stderr[-500:]}")


def seed(fleet_db: str, folder: str) -> float:
    """Seeds a new simulator file from the manifests; returns the wall seconds it took."""
    remove_db(fleet_db)
    wall, _, code = measure_once([SENDPATH, "simulator", "seed", "--fleet", fleet_db, folder], timeout=1800)
    if code != 0:
        raise SystemExit(f"sendpath simulator seed --fleet {fleet_db} {folder} exited {code}")
    return wall


def bench_dryrun(instances: int, runs: int) -> tuple[list[dict], list[str]]:
    folder = generate(f"fleet-{instances}", instances, 100, 100)
    work = os.path.join(OUT, f"dryrun-{instances}")
    os.makedirs(work, exist_ok=True)
    fleet_db, state_db = os.path.join(work, "sim.db"), os.path.join(work, "state.db")
    fresh_state(state_db)
    seeded = seed(fleet_db, folder)
    before = simulator_check(fleet_db)["mutatingOperations"]
    plan = ["reconcile", "--dry-run", "--at", AT, "--state", f"sqlite:{state_db}", "--provider", f"sim:{fleet_db}", folder]

    # What the timed command prints as text, once as JSON: every instance pending, exit 0.
    _, report = sendpath_json(plan)
    pending = report["summary"].get("pending", 0)
    if report["outcome"] != "converged" or pending != instances:
        raise SystemExit(f"dryrun: expected {instances} pending and outcome converged, got {report['outcome']} "
                         f"and summary {report['summary']}")
    steps = {len(i["steps"]) for i in report["instances"]}

    row = compare(f"reconcile --dry-run, {instances:,} instances, {-(-instances // 100):,} groups",
                  [WALK, folder], [SENDPATH, *plan], runs, timeout=1800)
    after = simulator_check(fleet_db)["mutatingOperations"]
    if after != before or before != 0:
        raise SystemExit(f"dryrun: the simulator's mutatingOperations went {before} -> {after}; a dry run must change nothing")
    notes = [f"`sendpath reconcile --dry-run --at {AT} --state sqlite:STATE --provider sim:FLEET DIR` "
             f"(text output to /dev/null); exit 0, {pending:,} instances pending with "
             f"{'/'.join(map(str, sorted(steps)))} steps each; simulator mutatingOperations {before} before "
             f"and {after} after {runs + 2} dry runs.",
             f"Seeding the simulator once (`sendpath simulator seed`, untimed above): {seeded:.2f} s."]
    return [row], notes


def bench_outputs(instances: int, runs: int) -> tuple[list[dict], list[str]]:
    """The JSON outputs pipelines read, against the C walk; then the same dry run at twice the size."""
    rows, notes, peaks = [], [], {}
    for size in (instances, 2 * instances):
        folder = generate(f"fleet-{size}", size, 100, 100)
        work = os.path.join(OUT, f"outputs-{size}")
        os.makedirs(work, exist_ok=True)
        fleet_db, state_db = os.path.join(work, "sim.db"), os.path.join(work, "state.db")
        fresh_state(state_db)
        seed(fleet_db, folder)
        common = ["--at", AT, "--state", f"sqlite:{state_db}", "--provider", f"sim:{fleet_db}", "--output", "json", folder]
        dry = [SENDPATH, "reconcile", "--dry-run", *common]
        status = [SENDPATH, "status", *common]
        # Untimed: the documents parse, with every instance in them.
        for command in (dry, status):
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            report = json.loads(done.stdout)
            if done.returncode != 0 or len(report["instances"]) != size:
                raise SystemExit(f"outputs: {' '.join(command)} exited {done.returncode} with "
                                 f"{len(report['instances'])} instances, expected 0 and {size}")
            if size == instances:
                words = command[1:command.index("--at")]
                notes.append(f"`sendpath {' '.join(words)} ... --output json`: {len(done.stdout) / 2**20:.0f} MiB of JSON.")
            del report, done
        groups = -(-size // 100)
        if size == instances:
            rows.append(compare(f"reconcile --dry-run --output json, {size:,} instances, {groups:,} groups",
                                [WALK, folder], dry, runs, timeout=1800))
            rows.append(compare(f"status --output json, {size:,} instances, {groups:,} groups",
                                [WALK, folder], status, runs, timeout=1800))
            peaks[size] = rows[0]["rss"]
        else:
            row = compare(f"reconcile --dry-run --output json, {size:,} instances, {groups:,} groups",
                          [WALK, folder], dry, max(1, runs // 2), timeout=1800)
            rows.append(row)
            peaks[size] = row["rss"]
        remove_db(fleet_db)
        if size != instances:
            shutil.rmtree(folder, ignore_errors=True)
    small, large = peaks[instances], peaks[2 * instances]
    notes.append(f"Peak RSS of the JSON dry run: {small:.0f} MB at {instances:,} instances, {large:.0f} MB at "
                 f"{2 * instances:,} ({large / small:.2f}x for twice the fleet; linear would be at most 2x).")
    return rows, notes


def apply_run(command: list[str], template: str, fleet_db: str, state_db: str) -> tuple[float, float, int]:
    """One timed run from a fresh state and a fresh copy of the seeded simulator."""
    copy_db(template, fleet_db)
    remove_db(state_db)
    return measure_once(command)


def check_apply(label: str, fleet_db: str, operations: int, code: int) -> None:
    if code != 0:
        raise SystemExit(f"apply: {label} exited {code}, expected 0")
    report = simulator_check(fleet_db)
    if report["mutatingOperations"] != operations or not report.get("ok", True) or report["frozen"]:
        raise SystemExit(f"apply: {label}: simulator check after the run: mutatingOperations "
                         f"{report['mutatingOperations']} (expected {operations}), frozen {report['frozen']}, "
                         f"ok {report.get('ok')}")


def bench_apply(runs: int) -> tuple[dict, dict, list[str]]:
    groups = -(-APPLY_INSTANCES // APPLY_PER_PREFIX)
    folder = generate(f"groups-{groups}-mp{APPLY_PARALLEL}", APPLY_INSTANCES, APPLY_PER_PREFIX, 100,
                      ["--max-parallel", str(APPLY_PARALLEL)])
    work = os.path.join(OUT, f"apply-{groups}")
    os.makedirs(work, exist_ok=True)
    template, fleet_db, state_db = (os.path.join(work, name) for name in ("sim-template.db", "sim.db", "state.db"))
    seeded = seed(template, folder)

    def reconcile(latency_ms: int, dry_run: bool = False) -> list[str]:
        return ["reconcile", *(["--dry-run"] if dry_run else []), "--at", AT, "--max-parallel", str(APPLY_PARALLEL),
                "--state", f"sqlite:{state_db}", "--provider", f"sim:{fleet_db}?latency={latency_ms}ms", folder]

    # One untimed apply, to count the work: the steps each group journals (from the JSON
    # report) and the mutating provider calls (from the simulator).
    copy_db(template, fleet_db)
    remove_db(state_db)
    _, report = sendpath_json(reconcile(0))
    migrated = report["summary"].get("migrated", 0)
    if report["outcome"] != "converged" or migrated != APPLY_INSTANCES:
        raise SystemExit(f"apply: expected {APPLY_INSTANCES} migrated and outcome converged, got {report['outcome']} "
                         f"and summary {report['summary']}")
    step_counts = {len([s for s in i["steps"] if s["state"] == "done"]) for i in report["instances"]}
    if len(step_counts) != 1:
        raise SystemExit(f"apply: instances report different numbers of done steps: {sorted(step_counts)}")
    steps = step_counts.pop()
    operations = simulator_check(fleet_db)["mutatingOperations"]
    check_apply("the first apply", fleet_db, operations, 0)
    # The same plan before the apply, as a dry run from the same fresh state and simulator.
    copy_db(template, fleet_db)
    remove_db(state_db)
    _, plan = sendpath_json(reconcile(0, dry_run=True))
    if plan["summary"].get("pending", 0) != APPLY_INSTANCES:
        raise SystemExit(f"apply: the dry run should list every instance pending, got {plan['summary']}")

    # (a) latency 0: the apply's cost over the dry run is journal + simulator work.
    dry, wet = [], []
    apply_run([SENDPATH, *reconcile(0, dry_run=True)], template, fleet_db, state_db)  # warm-up
    for _ in range(runs):
        dry.append(apply_run([SENDPATH, *reconcile(0, dry_run=True)], template, fleet_db, state_db))
        if dry[-1][2] != 0:
            raise SystemExit(f"apply: the dry run exited {dry[-1][2]}, expected 0")
        wet.append(apply_run([SENDPATH, *reconcile(0)], template, fleet_db, state_db))
        check_apply("apply at latency 0", fleet_db, operations, wet[-1][2])
    journal = {
        "label": f"{APPLY_INSTANCES:,} instances, {groups} groups, latency 0, --max-parallel {APPLY_PARALLEL}",
        "floor_wall": statistics.median(w for w, _, _ in dry), "floor_rss": max(r for _, r, _ in dry),
        "wall": statistics.median(w for w, _, _ in wet), "rss": max(r for _, r, _ in wet),
        "groups": groups, "steps": steps,
    }
    journal["ratio"] = journal["wall"] / journal["floor_wall"]
    journal["per_step"] = journal["wall"] / (groups * steps)
    journal["per_step_net"] = (journal["wall"] - journal["floor_wall"]) / (groups * steps)

    # (b) latency 20ms: the makespan against ceil(groups / parallel) x calls x latency.
    timed = []
    for _ in range(runs):
        timed.append(apply_run([SENDPATH, *reconcile(APPLY_LATENCY_MS)], template, fleet_db, state_db))
        check_apply(f"apply at latency {APPLY_LATENCY_MS}ms", fleet_db, operations, timed[-1][2])
    bound = math.ceil(groups / APPLY_PARALLEL) * PROVIDER_CALLS_PER_GROUP * APPLY_LATENCY_MS / 1000
    makespan = {
        "label": f"{APPLY_INSTANCES:,} instances, {groups} groups, latency {APPLY_LATENCY_MS}ms, "
                 f"--max-parallel {APPLY_PARALLEL}",
        "bound": bound, "wall": statistics.median(w for w, _, _ in timed), "rss": max(r for _, r, _ in timed),
        "walls": sorted(w for w, _, _ in timed),
    }
    makespan["ratio"] = makespan["wall"] / bound
    notes = [f"Fleet: `gen_fleet.py --instances {APPLY_INSTANCES} --per-prefix {APPLY_PER_PREFIX} --files 100 "
             f"--max-parallel {APPLY_PARALLEL}` (10 waves, one window); every run starts from a fresh state file "
             f"and a copy of a simulator seeded once ({seeded:.2f} s, untimed), at `--at {AT}`.",
             f"Each apply: exit 0, {APPLY_INSTANCES:,} instances migrated, {steps} journalled steps per group "
             f"(intent + result each), {operations:,} mutating provider calls in all ({operations / groups:g} per "
             f"group), every invariant held afterwards (`simulator check`).",
             f"Lower bound: ceil({groups} / {APPLY_PARALLEL}) x {PROVIDER_CALLS_PER_GROUP} provider calls x "
             f"{APPLY_LATENCY_MS} ms = {bound:.2f} s; the plan's two observations (fleet and prefixes, "
             f"{2 * APPLY_LATENCY_MS} ms) and process start are not in it."]
    return journal, makespan, notes


# --- over HTTP, and with replicas ----------------------------------------------------------

TOKEN = "bench-token-not-a-secret"


class Server:
    """`sendpath simulator serve` on a free loopback port, over a copy of a seeded fleet."""

    def __init__(self, fleet_db: str, latency_ms: int):
        env = dict(os.environ, SENDPATH_PROVIDER_TOKEN=TOKEN)
        self.process = subprocess.Popen([SENDPATH, "simulator", "serve", "--fleet", fleet_db, "--latency", f"{latency_ms}ms",
                                         "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        env=env, text=True)
        line = self.process.stdout.readline()
        if "http://" not in line:
            self.process.kill()
            raise SystemExit(f"simulator serve did not start: {line!r}")
        self.url = line.strip().split()[-1]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_together(commands: list[list[str]], env: dict | None = None) -> tuple[float, float, list[int]]:
    """Starts the commands at once; returns the wall until the last one ends, the largest peak
    RSS among them (MiB, from GNU time, as measure.py does), and their exit codes."""
    with tempfile.TemporaryDirectory() as folder:
        reports = [os.path.join(folder, f"{index}.rss") for index in range(len(commands))]
        started = time.perf_counter()
        children = [subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", report, *command], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
                    for command, report in zip(commands, reports)]
        codes = [child.wait() for child in children]
        wall = time.perf_counter() - started
        rss = 0.0
        for report in reports:
            with open(report) as handle:
                lines = [line for line in handle.read().split() if line.isdigit()]
            rss = max(rss, int(lines[-1]) / 1024 if lines else 0.0)
    return wall, rss, codes


def journal_entries(state: str) -> int:
    if state.startswith("sqlite:"):
        with sqlite3.connect(state[len("sqlite:"):]) as db:
            return db.execute("SELECT count(*) FROM journal").fetchone()[0]
    url, _, query = state.partition("?")
    schema = dict(item.split("=", 1) for item in query.split("&") if item).get("schema", "public")
    done = subprocess.run(["psql", url, "-Atc", f"SELECT count(*) FROM {schema}.journal"], capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


def live_fleet() -> tuple[str, str, int, float]:
    """The `apply` section's fleet with its window open now (an apply over HTTP runs at the real
    time: `--at` is for simulators only), and a simulator seeded once from it."""
    groups = -(-APPLY_INSTANCES // APPLY_PER_PREFIX)
    start = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(time.time() - 3600))
    folder = generate(f"groups-{groups}-mp{APPLY_PARALLEL}-live", APPLY_INSTANCES, APPLY_PER_PREFIX, 100,
                      ["--max-parallel", str(APPLY_PARALLEL), "--window-start", start, "--window-hours", "12"])
    work = os.path.join(OUT, f"apply-{groups}-live")
    os.makedirs(work, exist_ok=True)
    template = os.path.join(work, "sim-template.db")
    seeded = seed(template, folder)
    return folder, work, groups, seeded


def reconcile_args(folder: str, state: str, provider: str) -> list[str]:
    return [SENDPATH, "reconcile", "--max-parallel", str(APPLY_PARALLEL), "--state", state, "--provider", provider, folder]


def bench_http(runs: int) -> tuple[dict, list[str]]:
    folder, work, groups, seeded = live_fleet()
    template = os.path.join(work, "sim-template.db")
    fleet_db, state_db = os.path.join(work, "http-sim.db"), os.path.join(work, "http-state.db")
    env = dict(os.environ, SENDPATH_PROVIDER_TOKEN=TOKEN)

    def embedded() -> tuple[float, float, int]:
        copy_db(template, fleet_db)
        remove_db(state_db)
        return measure_once(reconcile_args(folder, f"sqlite:{state_db}", f"sim:{fleet_db}?latency=0ms"))

    def over_http() -> tuple[float, float, int]:
        copy_db(template, fleet_db)
        remove_db(state_db)
        server = Server(fleet_db, 0)
        try:
            result = measure_once(reconcile_args(folder, f"sqlite:{state_db}", server.url), env=env)
        finally:
            server.stop()
        return result

    embedded()
    over_http()  # warm-up
    sims, https = [], []
    for _ in range(runs):
        sims.append(embedded())
        check_apply("embedded apply", fleet_db, groups * 6, sims[-1][2])
        https.append(over_http())
        check_apply("apply over HTTP", fleet_db, groups * 6, https[-1][2])
    calls = groups * PROVIDER_CALLS_PER_GROUP + 2
    row = {
        "label": f"{APPLY_INSTANCES:,} instances, {groups} groups, latency 0, --max-parallel {APPLY_PARALLEL}",
        "floor_wall": statistics.median(w for w, _, _ in sims), "floor_rss": max(r for _, r, _ in sims),
        "wall": statistics.median(w for w, _, _ in https), "rss": max(r for _, r, _ in https), "calls": calls,
    }
    row["ratio"] = row["wall"] / row["floor_wall"]
    row["per_call"] = (row["wall"] - row["floor_wall"]) / calls
    notes = [f"Both from a fresh state file and a fresh copy of one seeded simulator ({seeded:.2f} s to seed, untimed); "
             f"the HTTP run's server is started before the clock and stopped after. Each run: exit 0, every "
             f"invariant held, {groups * 6:,} mutating calls. About {calls:,} provider calls per apply "
             f"({PROVIDER_CALLS_PER_GROUP} per group and the plan's 2 observations). The reconciler's peak RSS is shown; "
             f"the server's is not."]
    return row, notes


def bench_replicas(runs: int) -> tuple[list[dict], list[str]]:
    folder, work, groups, seeded = live_fleet()
    template = os.path.join(work, "sim-template.db")
    fleet_db = os.path.join(work, "replicas-sim.db")
    cluster = tempfile.mkdtemp(prefix="sendpath-bench-pg-", dir="/tmp")
    script = os.path.join(ROOT, "scripts", "postgres-test-cluster.sh")
    base = subprocess.run(["bash", script, "start", cluster], capture_output=True, text=True, check=True).stdout.strip()
    env = dict(os.environ, SENDPATH_PROVIDER_TOKEN=TOKEN)
    counter = [0]

    def fresh_state(store: str) -> str:
        counter[0] += 1
        if store == "sqlite":
            path = os.path.join(work, "replicas-state.db")
            remove_db(path)
            return f"sqlite:{path}"
        return f"{base}?sslmode=disable&schema=bench_{os.getpid()}_{counter[0]}"

    def one(store: str, replicas: int, latency_ms: int) -> tuple[float, float, int, int]:
        """Passes of `replicas` reconcilers at once until the fleet has converged: (wall,
        peak RSS, journal entries, passes)."""
        copy_db(template, fleet_db)
        state = fresh_state(store)
        server = Server(fleet_db, latency_ms)
        wall, rss, passes = 0.0, 0.0, 0
        try:
            while True:
                passes += 1
                elapsed, peak, codes = run_together([reconcile_args(folder, state, server.url)] * replicas, env=env)
                wall, rss = wall + elapsed, max(rss, peak)
                if any(code not in (0, 3, 75) for code in codes):
                    raise SystemExit(f"replicas: {store} x{replicas}: exit codes {codes}")
                # Converged when every group has made its 6 mutating calls and nothing is frozen
                # (a reconciler that saw a group claimed by another exits 3 even if it then ended).
                report = simulator_check(fleet_db)
                if report["mutatingOperations"] == groups * 6 and not report["frozen"]:
                    break
                if passes >= 10:
                    raise SystemExit(f"replicas: {store} x{replicas}: not converged after {passes} passes ({codes})")
        finally:
            server.stop()
        check_apply(f"{store} x{replicas} at {latency_ms}ms", fleet_db, groups * 6, 0)
        return wall, rss, journal_entries(state), passes

    rows = []
    try:
        for store in ("sqlite", "postgres"):
            for replicas in (1, 3):
                one(store, replicas, 0)  # warm-up
                fast = [one(store, replicas, 0) for _ in range(runs)]
                slow = [one(store, replicas, APPLY_LATENCY_MS) for _ in range(runs)]
                wall = statistics.median(w for w, _, _, _ in fast)
                entries = fast[0][2]
                rows.append({
                    "store": "SQLite" if store == "sqlite" else "PostgreSQL", "replicas": replicas,
                    "entries": entries, "wall0": wall, "writes": entries / wall,
                    "passes0": max(p for _, _, _, p in fast),
                    "wall20": statistics.median(w for w, _, _, _ in slow),
                    "passes20": max(p for _, _, _, p in slow),
                    "rss": max(r for _, r, _, _ in fast + slow),
                })
    finally:
        subprocess.run(["bash", script, "stop", cluster], capture_output=True)
        shutil.rmtree(cluster, ignore_errors=True)
    bound = math.ceil(groups / APPLY_PARALLEL) * PROVIDER_CALLS_PER_GROUP * APPLY_LATENCY_MS / 1000
    notes = [f"Fleet and simulator as in `apply` ({groups} groups in 10 waves of `maxParallel: {APPLY_PARALLEL}`); the provider is "
             f"`simulator serve` on loopback, the state a fresh SQLite file or a fresh PostgreSQL schema (PostgreSQL 15 started by "
             f"the benchmark on loopback, fsync off) each run. Each reconciler runs `--max-parallel {APPLY_PARALLEL}`.",
             "Replicas are that many `sendpath reconcile` processes started at once, in passes until the fleet has converged "
             "(a pass ends when all of them have exited; between passes, untimed, `simulator check` tells whether every group "
             "has made its 6 mutating calls and nothing is frozen). With SQLite the store-wide lease lets one work and the others exit 75 "
             "(locked); with PostgreSQL they divide the groups by per-group leases and each wave's maxParallel is shared "
             "through slot leases. Every run ends with every invariant held and exactly "
             f"{groups * 6:,} mutating calls (no group worked twice).",
             "Journal writes per second: journal entries written (intent and result of every step, and the plan's records) "
             "divided by the wall time of the apply at latency 0.",
             f"The latency-20ms lower bound for one reconciler is ceil({groups} / {APPLY_PARALLEL}) x "
             f"{PROVIDER_CALLS_PER_GROUP} x {APPLY_LATENCY_MS} ms = {bound:.2f} s."]
    return rows, notes


def print_http_table(row: dict) -> None:
    print("\n### Apply over HTTP (`--provider http://…` to `simulator serve`) beside the embedded simulator\n")
    print("| case | embedded `sim:` wall | HTTP wall | ratio | provider calls | added per call | embedded peak RSS | HTTP peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {row['label']} | {row['floor_wall']:.3f} s | {row['wall']:.3f} s | {row['ratio']:.2f}x | {row['calls']:,} "
          f"| {row['per_call'] * 1e3:.2f} ms | {row['floor_rss']:.1f} MB | {row['rss']:.1f} MB |")


def print_replicas_table(rows: list[dict]) -> None:
    print("\n### Journal writes and makespan: SQLite and PostgreSQL, 1 and 3 reconcilers\n")
    print("| store | reconcilers | journal entries | apply wall, latency 0 | journal writes/s | passes | makespan, latency 20ms "
          "| passes | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['store']} | {row['replicas']} | {row['entries']:,} | {row['wall0']:.2f} s | {row['writes']:,.0f} "
              f"| {row['passes0']} | {row['wall20']:.2f} s | {row['passes20']} | {row['rss']:.1f} MB |")


def print_journal_table(row: dict) -> None:
    print("\n### Apply from a fresh state (`sendpath reconcile`, simulator latency 0) beside the same dry run\n")
    print("| case | dry-run wall | apply wall | ratio | groups x steps | apply wall per step "
          "| (apply - dry run) per step | dry-run peak RSS | apply peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {row['label']} | {row['floor_wall']:.3f} s | {row['wall']:.3f} s | {row['ratio']:.2f}x "
          f"| {row['groups']} x {row['steps']} | {row['per_step'] * 1e3:.2f} ms | {row['per_step_net'] * 1e3:.2f} ms "
          f"| {row['floor_rss']:.1f} MB | {row['rss']:.1f} MB |")


def print_makespan_table(row: dict) -> None:
    print(f"\n### Apply makespan with provider latency (`sendpath reconcile`, sim latency {APPLY_LATENCY_MS}ms)\n")
    print("| case | lower bound | makespan | ratio | runs | peak RSS |")
    print("|---|---:|---:|---:|---|---:|")
    print(f"| {row['label']} | {row['bound']:.3f} s | {row['wall']:.3f} s | {row['ratio']:.2f}x "
          f"| {', '.join(f'{w:.2f}' for w in row['walls'])} s | {row['rss']:.1f} MB |")
    print("\nTarget: makespan <= 1.2x the lower bound.")


def print_table(title: str, floor_name: str, rows: list[dict], targets: str) -> None:
    print(f"\n### {title}\n")
    print(f"| case | {floor_name} wall | sendpath wall | ratio | {floor_name} peak RSS | sendpath peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['label']} | {row['floor_wall']:.3f} s | {row['wall']:.3f} s | {row['ratio']:.2f}x "
              f"| {row['floor_rss']:.1f} MB | {row['rss']:.1f} MB |")
    print(f"\nTargets: {targets}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"sections to run, comma-separated: {', '.join(SECTIONS)} or all (default all)")
    parser.add_argument("--dryrun-instances", type=int, default=100000,
                        help="instances in the dryrun fleet, 100 per /24 (default 100000)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    only = set(SECTIONS) if args.only == "all" else set(args.only.split(","))
    if only - set(SECTIONS):
        parser.error(f"--only: unknown section {', '.join(sorted(only - set(SECTIONS)))} (known: {', '.join(SECTIONS)}, all)")
    if not os.access(SENDPATH, os.X_OK):
        parser.error(f"no sendpath binary at {SENDPATH}; build it (make bench) or set SENDPATH")
    print(f"Machine: {machine()}; median of {args.runs} alternating runs; release build.")
    if "validate" in only:
        rows = bench_validate(sizes, args.runs)
        print_table("Manifest load and validation (`sendpath validate`) against a C libyaml event walk",
                    "C walk", rows, "at 100k instances, <= 1.2x the C walk in wall time, on both cores (issue 14; "
                    "it was <= 1.5x), and <= 200 MB peak.")
    if "dryrun" in only:
        rows, notes = bench_dryrun(args.dryrun_instances, args.runs)
        print_table("Reconcile plan (`sendpath reconcile --dry-run`, seeded simulator) against a C libyaml event walk",
                    "C walk", rows, "at 100k instances, <= 3x the C walk and < 1 GB peak.")
        for note in notes:
            print(f"\n{note}")
    if "outputs" in only:
        rows, notes = bench_outputs(args.dryrun_instances, args.runs)
        print_table("JSON outputs (`--output json`, streamed; seeded simulator) against a C libyaml event walk",
                    "C walk", rows, "at 100k instances, <= 3x the C walk and <= 400 MB peak; at 200k, memory at most linear.")
        for note in notes:
            print(f"\n{note}")
    if "apply" in only:
        journal, makespan, notes = bench_apply(args.runs)
        print_journal_table(journal)
        print_makespan_table(makespan)
        for note in notes:
            print(f"\n{note}")
    if "http" in only:
        row, notes = bench_http(args.runs)
        print_http_table(row)
        for note in notes:
            print(f"\n{note}")
    if "replicas" in only:
        rows, notes = bench_replicas(args.runs)
        print_replicas_table(rows)
        for note in notes:
            print(f"\n{note}")
    if "controller" in only:
        from bench_controller import bench_controller, print_controller_tables
        steady, memory, notes = bench_controller(args.runs)
        print_controller_tables(steady, memory)
        for note in notes:
            print(f"\n{note}")
    if "lab" in only:
        from bench_lab import bench_lab, print_lab_table
        print_lab_table(bench_lab(SENDPATH, args.runs))


if __name__ == "__main__":
    main()
