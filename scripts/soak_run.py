#!/usr/bin/env python3
"""The soak's driver: SIGKILLs `sendpath reconcile` at random instants, wave by wave, then
reconciles each wave to completion and acts as the operator for groups that need a human.

Usage: soak_run.py --dir DIR --sendpath BIN --kills N --seed S [--latency 20ms] [--min-ms 50]
                   [--max-ms 1500] [--deadline EPOCH]

Writes DIR/kills.jsonl (one line per kill: its number, wave, --at, delay and the journal's last
entry after it), DIR/runs.jsonl (every run: arguments, exit code, duration, calls it made),
DIR/runs/N.json (the report of each run that was not killed) and DIR/summary.json.
Exit 0 when the driving went as planned; 1 when a run did something no run may do (crashed
by itself, exited 64/65/75, or outlived its time bound), or the kills could not all land.
The invariants are judged afterwards by `simulator check` and scripts/soak_check.py.
"""
import argparse
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

RUN_TIMEOUT = 600  # seconds: a run that is not killed must end by itself within this


def log(message):
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Driver:
    def __init__(self, args):
        self.args = args
        self.dir = os.path.abspath(args.dir)
        self.rng = random.Random(args.seed)
        self.fleet = json.load(open(os.path.join(self.dir, "fleet.json")))
        self.fleet_db = os.path.join(self.dir, "fleet.db")
        self.state_db = os.path.join(self.dir, "state.db")
        self.provider = f"sim:{self.fleet_db}?latency={args.latency}&faults={os.path.join(self.dir, 'faults.yaml')}"
        self.kills = 0
        self.runs = 0
        self.ended_before_kill = 0
        self.anomalies = []
        self.operator_actions = []
        self.sim_now = None
        os.makedirs(os.path.join(self.dir, "runs"), exist_ok=True)
        self.kill_log = open(os.path.join(self.dir, "kills.jsonl"), "a")
        self.run_log = open(os.path.join(self.dir, "runs.jsonl"), "a")

    # --- what the files say (read-only SQL) ---

    def query(self, path, sql, default=None):
        if not os.path.exists(path):
            return default
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                return db.execute(sql).fetchall()
            finally:
                db.close()
        except sqlite3.OperationalError:
            return default

    def progress_mark(self):
        """Mutating calls the fleet received and journal entries written: a run that changes
        neither changed nothing."""
        calls = self.query(self.fleet_db, "SELECT count(*) FROM call", [[0]])[0][0]
        journal = self.query(self.state_db, "SELECT count(*) FROM journal", [[0]])[0][0]
        return (calls, journal)

    def last_journal_entry(self):
        rows = self.query(self.state_db, """SELECT id, cutover_id, step, is_rollback, phase, attempt, idempotency_key
                                            FROM journal ORDER BY id DESC LIMIT 1""", [])
        if not rows:
            return None
        id_, cutover, step, rollback, phase, attempt, key = rows[0]
        entry = {"id": id_, "cutover": cutover, "step": ("rollback/" if rollback else "") + step,
                 "phase": phase, "attempt": attempt, "key": key}
        if phase == "intent":
            # Did the provider do the call whose result the journal does not have? (Its answer is
            # stored under the key, or it waits as a late effect.)
            stored = self.query(self.fleet_db, "SELECT (SELECT count(*) FROM idempotency WHERE key = '%s') + "
                                "(SELECT count(*) FROM pendingEffect WHERE key = '%s')" % (key.replace("'", "''"), key.replace("'", "''")), [[0]])
            entry["providerDidIt"] = bool(stored[0][0])
        return entry

    # --- time: each run starts at a later simulated instant than the last one ended ---
    # A run's clock starts at its --at and passes normally, so the next run starts a second
    # after the simulated instant the last one ended at: the log's times never go back.

    def start_phase(self, wave):
        start = datetime.strptime(wave["start"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        self.sim_now = start + timedelta(minutes=30)

    def next_at(self):
        at = self.sim_now.replace(microsecond=0) + timedelta(seconds=1)
        self.sim_now = at
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def ran_for(self, seconds):
        self.sim_now = self.sim_now + timedelta(seconds=seconds)

    # --- runs ---

    def command(self, at, extra=()):
        return [self.args.sendpath, "reconcile", os.path.join(self.dir, "manifests"),
                "--state", f"sqlite:{self.state_db}", "--provider", self.provider,
                "--at", at, "--output", "json", "--retry-delay", "50ms", *extra]

    def run(self, wave, kill_after_ms=None, extra=()):
        """One reconcile. Returns (killed, exit code, report or None, changed)."""
        self.runs += 1
        number = self.runs
        at = self.next_at()
        before = self.progress_mark()
        out_path = os.path.join(self.dir, "runs", f"{number}.json")
        err_path = os.path.join(self.dir, "runs", f"{number}.err")
        began = time.monotonic()
        with open(out_path, "w") as out, open(err_path, "w") as err:
            process = subprocess.Popen(self.command(at, extra), stdout=out, stderr=err, cwd=self.dir)
            killed = False
            try:
                if kill_after_ms is not None:
                    process.wait(timeout=kill_after_ms / 1000)
                else:
                    process.wait(timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed = kill_after_ms is not None
                if not killed:
                    self.anomaly(f"run {number} (at {at}) did not end within {RUN_TIMEOUT}s; killed")
        duration = time.monotonic() - began
        self.ran_for(duration)
        code = process.returncode
        after = self.progress_mark()
        changed = after != before
        report = None
        if not killed:
            try:
                report = json.load(open(out_path))
            except (ValueError, OSError):
                report = None
            if code < 0:
                self.anomaly(f"run {number} (at {at}) died of signal {-code} by itself: see {err_path}")
            elif code not in (0, 1, 3, 4, 5):
                self.anomaly(f"run {number} (at {at}) exited {code}: see {err_path}")
            elif report is None:
                self.anomaly(f"run {number} (at {at}) exited {code} without a JSON report: see {err_path}")
        else:
            os.remove(out_path)
            if os.path.getsize(err_path) == 0:
                os.remove(err_path)
        self.run_log.write(json.dumps({"run": number, "wave": wave, "at": at, "extra": list(extra),
                                       "killAfterMs": kill_after_ms, "killed": killed, "exit": code,
                                       "seconds": round(duration, 3), "calls": after[0] - before[0],
                                       "journalEntries": after[1] - before[1]}) + "\n")
        self.run_log.flush()
        return killed, code, report, changed, at

    def anomaly(self, text):
        log("ANOMALY: " + text)
        self.anomalies.append(text)

    def kill_phase(self, wave, quota):
        """Runs killed at random instants until `quota` kills landed mid-run, or the wave has
        nothing left to do (a run ended by itself having changed nothing)."""
        done = 0
        while done < quota:
            if time.time() > self.args.deadline:
                self.anomaly("the soak's deadline passed during the kills")
                return done
            delay = self.rng.randint(self.args.min_ms, self.args.max_ms)
            before = self.query(self.state_db, "SELECT max(id) FROM journal", [[None]])[0][0]
            killed, code, _, changed, at = self.run(wave, kill_after_ms=delay)
            if killed:
                self.kills += 1
                done += 1
                self.kill_log.write(json.dumps({"kill": self.kills, "wave": wave, "run": self.runs, "at": at,
                                                "delayMs": delay, "journalBefore": before,
                                                "journalAfter": self.last_journal_entry()}) + "\n")
                self.kill_log.flush()
                if self.kills % 25 == 0:
                    log(f"{self.kills} kills ({wave}), {self.runs} runs")
            else:
                self.ended_before_kill += 1
                if not changed and code in (0, 3, 4, 5):
                    log(f"{wave}: a run ended by itself (exit {code}) having changed nothing: no work left here")
                    return done
        return done

    def finish(self, wave, extra=(), limit=40):
        """Reconciles without kills until a run changes nothing. Returns the last report."""
        report = None
        for _ in range(limit):
            killed, code, report, changed, at = self.run(wave, extra=extra)
            extra = ()
            if not changed:
                return report, code
        self.anomaly(f"{wave}: still changing after {limit} uninterrupted runs")
        return report, None

    def needing_a_human(self, report):
        """After a wave converged, the groups no run will carry on by itself: held ones, and
        rolled-back ones (they are retried automatically only up to 3 cut-overs a window)."""
        groups = {}
        for instance in (report or {}).get("instances", []):
            if instance.get("status") in ("held", "rolled-back"):
                groups.setdefault(instance["group"], []).append(instance["name"])
        return groups

    def drifted(self, report):
        """Instances on their target that a fault changed after the last check (a build
        changed during the resend): reported blocked with `drift`."""
        return sorted(i["name"] for i in (report or {}).get("instances", [])
                      if i.get("reasonCode") == "drift" and i.get("current") == i.get("target"))

    def repair(self, members):
        db = sqlite3.connect(self.fleet_db, timeout=30)
        marks = ",".join("?" * len(members))
        repaired = db.execute(f"DELETE FROM override WHERE instance IN ({marks})", members).rowcount
        db.commit()
        db.close()
        return repaired

    def operate(self, wave, report):
        """The operator: for each group that needs a human (held, or rolled back for good), repair what the simulated platform
        reports misconfigured on its members (the simulator's `override` rows: IPs or build a
        fault changed at the target; a real operator fixes the instance) and resume it with
        --resume-held. Holds caused by provider errors need no repair: the provider recovered
        (the fault is spent), so the operator just resumes."""
        for round_ in range(4):
            groups = self.needing_a_human(report)
            drifted = self.drifted(report)
            if drifted:
                repaired = self.repair(drifted)
                self.operator_actions.append({"wave": wave, "round": round_ + 1, "repairedDrift": drifted,
                                              "repairedOverrides": repaired})
                log(f"operator: repaired drift on {', '.join(drifted)} (already on target; nothing to resume)")
            if not groups:
                return report if not drifted else self.finish(wave)[0]
            statuses = {i["group"]: i["status"] for i in (report or {}).get("instances", [])}
            for group, members in sorted(groups.items()):
                repaired = self.repair(members)
                killed, code, resumed, changed, at = self.run(wave, extra=("--resume-held", group))
                action = {"wave": wave, "round": round_ + 1, "group": group, "status": statuses.get(group), "members": members,
                          "repairedOverrides": repaired, "resumeExit": code}
                self.operator_actions.append(action)
                log(f"operator: {group} ({statuses.get(group)}, {len(members)} members, {repaired} repairs): resumed, exit {code}")
            report, _ = self.finish(wave)
        return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--sendpath", required=True)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--latency", default="200ms")
    parser.add_argument("--min-ms", type=int, default=50)
    parser.add_argument("--max-ms", type=int, default=1500)
    parser.add_argument("--deadline", type=float, default=time.time() + 3 * 3600)
    args = parser.parse_args()
    driver = Driver(args)
    started = time.monotonic()
    waves = driver.fleet["waves"]
    per_wave = []
    for index, wave in enumerate(waves):
        name = wave["name"]
        driver.start_phase(wave)
        quota = math.ceil((args.kills - driver.kills) / (len(waves) - index))
        log(f"{name}: killing reconcile at random instants ({quota} kills wanted)")
        landed = driver.kill_phase(name, quota)
        report, code = driver.finish(name)
        report = driver.operate(name, report)
        summary = (report or {}).get("summary", {})
        per_wave.append({"wave": name, "kills": landed, "summary": summary})
        log(f"{name}: {landed} kills; then converged: {summary}")
    # Idempotence: one more run at the end of the last window changes nothing.
    _, code, final, changed, at = driver.run(waves[-1]["name"])
    if changed:
        driver.anomaly("a run after convergence still changed something")
    if driver.kills < args.kills:
        driver.anomaly(f"only {driver.kills} of {args.kills} kills landed mid-run: the waves converged first "
                       "(raise SOAK_LATENCY)")
    by_status = {}
    for instance in (final or {}).get("instances", []):
        by_status[instance["status"]] = by_status.get(instance["status"], 0) + 1
    held_members = sorted(i["name"] for i in (final or {}).get("instances", []) if i.get("status") == "held")
    groups = {}
    for instance in (final or {}).get("instances", []):
        groups.setdefault(instance["group"], set()).add(instance["status"])
    cutovers = driver.query(driver.state_db, "SELECT coalesce(outcome, 'open'), count(*) FROM cutover GROUP BY 1", [])
    # Where the kills landed: the journal's last entry after each.
    kills = [json.loads(line) for line in open(os.path.join(driver.dir, "kills.jsonl"))]
    landed = {"beforeAnyJournalEntryOfTheRun": 0, "stepInFlight": 0, "providerHadDoneTheCall": 0, "betweenSteps": 0}
    steps_in_flight = {}
    for kill in kills:
        entry = kill.get("journalAfter") or {}
        if entry.get("id") == kill.get("journalBefore"):
            landed["beforeAnyJournalEntryOfTheRun"] += 1
        elif entry.get("phase") == "intent":
            landed["stepInFlight"] += 1
            steps_in_flight[entry["step"]] = steps_in_flight.get(entry["step"], 0) + 1
            if entry.get("providerDidIt"):
                landed["providerHadDoneTheCall"] += 1
        else:
            landed["betweenSteps"] += 1
    # Which faults fired: the simulator keeps each rule's uses (instance|step|effect|...).
    fired = {}
    for rule, used in driver.query(driver.fleet_db, "SELECT rule, used FROM faultUse", []):
        effect = rule.split("|")[2] if rule.count("|") >= 2 else "?"
        stats = fired.setdefault(effect, {"rulesFired": 0, "firings": 0})
        stats["rulesFired"] += 1
        stats["firings"] += used
    for fault in driver.fleet["faults"]:
        fired.setdefault(fault["effect"], {"rulesFired": 0, "firings": 0})
        fired[fault["effect"]]["rules"] = fired[fault["effect"]].get("rules", 0) + 1
    summary = {
        "seed": args.seed, "killsWanted": args.kills, "kills": driver.kills, "runs": driver.runs,
        "runsEndedBeforeTheirKill": driver.ended_before_kill, "seconds": round(time.monotonic() - started, 1),
        "latency": args.latency, "killDelayMs": [args.min_ms, args.max_ms], "perWave": per_wave,
        "finalExit": code, "finalStatuses": by_status,
        "finalGroups": {status: sum(1 for s in groups.values() if s == {status}) for status in
                        sorted({x for s in groups.values() for x in s})},
        "cutoverOutcomes": {outcome: n for outcome, n in cutovers},
        "killsLanded": landed, "stepsInFlightAtKills": dict(sorted(steps_in_flight.items())),
        "faults": dict(sorted(fired.items())),
        "operatorResumes": {status: sum(1 for a in driver.operator_actions if a.get("status") == status)
                            for status in ("held", "rolled-back")},
        "operatorActions": driver.operator_actions, "heldMembers": held_members,
        "anomalies": driver.anomalies,
    }
    json.dump(summary, open(os.path.join(driver.dir, "summary.json"), "w"), indent=1)
    log(f"done: {driver.kills} kills in {driver.runs} runs, {summary['seconds']}s; final exit {code}; "
        f"statuses {by_status}; cut-overs {summary['cutoverOutcomes']}")
    sys.exit(1 if driver.anomalies else 0)


if __name__ == "__main__":
    main()
