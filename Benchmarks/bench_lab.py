"""The lab row of `make bench`: a cut-over on real daemons (Postfix, GoBGP) by Sendpath's
postfix-bgp provider, beside the floor, the same raw operations run alone
(Benchmarks/lab_floor.py). Each run brings a fresh lab up, queues BACKLOG messages on each
instance of two groups, moves one group with Sendpath and the other with the floor script
(alternating which goes first), and brings the lab down."""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LAB = os.path.join(ROOT, "scripts", "lab.sh")
LAB_DIR = "/tmp/sendpath-bench-lab"
BACKLOG = 100


def lab(*args: str) -> None:
    subprocess.run([LAB, *args], check=True, stdout=subprocess.DEVNULL, env={**os.environ, "SENDPATH_LAB_DIR": LAB_DIR})


def sendpath_cutover(sendpath: str, work: str) -> tuple[float, int]:
    """Moves lab-pfx-a with `sendpath reconcile --instance lab-a1`; returns the cut-over's
    freeze-to-unfreeze duration (from the journal) and the messages it resent."""
    state = os.path.join(work, "state.db")
    subprocess.run([sendpath, "reconcile", "--instance", "lab-a1", "--provider", f"postfix-bgp:{LAB_DIR}/provider.yaml",
                    "--state", f"sqlite:{state}", f"{LAB_DIR}/manifests"], check=True, cwd=work,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    rows = db.execute("SELECT step, phase, at, detail FROM journal WHERE group_id = 'lab-pfx-a' AND is_rollback = 0 ORDER BY id").fetchall()
    start = min(at for step, phase, at, _ in rows if step == "freeze" and phase == "intent")
    end = max(at for step, phase, at, _ in rows if step == "unfreeze" and phase == "done")
    resent = 0
    for step, phase, _, detail in rows:
        if step == "resend-queue" and phase == "done" and detail:
            resent = sum(r.get("resent", 0) for r in json.loads(detail).get("resends", []))
    return (end - start) / 1e9, resent


def floor_cutover() -> tuple[float, int]:
    out = subprocess.run(["/usr/bin/python3", "-B", os.path.join(HERE, "lab_floor.py"), LAB_DIR, "lab-pfx-b"],
                         check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    return data["floor"], data["messages"]


def bench_lab(sendpath: str, runs: int) -> dict:
    ours, floors = [], []
    for run in range(runs):
        lab("down")
        lab("up")
        try:
            for name in ("lab-a1", "lab-a2", "lab-b1", "lab-b2"):
                lab("backlog", name, str(BACKLOG))
            with tempfile.TemporaryDirectory() as work:
                if run % 2 == 0:
                    ours.append(sendpath_cutover(sendpath, work))
                    floors.append(floor_cutover())
                else:
                    floors.append(floor_cutover())
                    ours.append(sendpath_cutover(sendpath, work))
        finally:
            lab("down")
    for seconds, messages in ours + floors:
        if messages != 2 * BACKLOG:
            raise SystemExit(f"lab: a cut-over moved {messages} messages, expected {2 * BACKLOG}")
    wall = statistics.median(s for s, _ in ours)
    floor = statistics.median(s for s, _ in floors)
    return {"wall": wall, "floor": floor, "ratio": wall / floor, "messages": 2 * BACKLOG,
            "walls": [s for s, _ in ours], "floors": [s for s, _ in floors]}


def print_lab_table(row: dict) -> None:
    print("\n### A cut-over on real daemons (postfix-bgp, the lab) beside the raw operations run alone\n")
    print("| case | floor: the Postfix and GoBGP operations alone | Sendpath: freeze to unfreeze | ratio | messages/s (Sendpath) | runs |")
    print("|---|---:|---:|---:|---:|---|")
    print(f"| 2 instances, 1 prefix, {row['messages']} queued | {row['floor']:.2f} s | {row['wall']:.2f} s | {row['ratio']:.2f}x "
          f"| {row['messages'] / row['wall']:.0f} | {', '.join(f'{w:.2f}' for w in row['walls'])} s |")
    print("\nTarget: at most 1.5x the floor.")
