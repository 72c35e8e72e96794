#!/usr/bin/env python3
"""`make bench`: Sendpath's figures beside their floors, measured side by side in one run.

Each comparison alternates the two commands run by run (A, B, A, B, ...) so that a
noisy neighbour on a shared machine slows both alike, then reports medians and the
ratio. Fleets are generated under Benchmarks/out/ by gen_fleet.py.

Usage: python3 Benchmarks/bench.py [--runs 5] [--sizes 1000,10000,100000] [--only validate,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
SENDPATH = os.environ.get("SENDPATH", os.path.join(ROOT, ".build", "release", "sendpath"))
WALK = os.path.join(OUT, "yaml_walk")


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


def measure_once(command: list[str], env: dict | None = None) -> tuple[float, float, int]:
    """One run through measure.py: (wall seconds, peak RSS MiB, exit code)."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".jsonl") as record:
        subprocess.run([sys.executable, os.path.join(HERE, "measure.py"), "--runs", "1", "--label", "x",
                        "--json", record.name, "--", *command],
                       stdout=subprocess.DEVNULL, check=True, env=env)
        data = json.loads(record.read().strip().splitlines()[-1])
    return data["wall_s"], data["rss_mb"], data["exit_codes"][0]


def compare(label: str, floor: list[str], ours: list[str], runs: int, expect: int = 0) -> dict:
    """Alternates floor and ours `runs` times; returns medians and ratios."""
    measure_once(floor)  # warm the page cache
    measure_once(ours)
    floors, mine = [], []
    for _ in range(runs):
        floors.append(measure_once(floor))
        mine.append(measure_once(ours))
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
    parser.add_argument("--only", default="validate")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    only = set(args.only.split(","))
    print(f"Machine: {machine()}; median of {args.runs} alternating runs; release build.")
    if "validate" in only:
        rows = bench_validate(sizes, args.runs)
        print_table("Manifest load and validation (`sendpath validate`) against a C libyaml event walk",
                    "C walk", rows, "at 100k instances, <= 1.5x the C walk and <= 200 MB peak.")


if __name__ == "__main__":
    main()
