#!/usr/bin/env python3
"""Run a command several times; report the median wall time and the peak RSS.

Usage:
    python3 Benchmarks/measure.py [--runs 3] [--warmup 0] --label NAME [--json FILE]
        [--expect-exit N] [--timeout 600] [--rss auto|time|wait4] [--show-output]
        -- CMD [ARGS...]

Prints one line on stdout:

    NAME wall=0.321s rss=12.3MB

with ` exit=65` appended when the command did not exit 0 (several codes are joined
with '/'; -N means killed by signal N). `--json FILE` appends one JSON object per
line (JSON Lines) to FILE:

    {"label", "wall_s" (median), "rss_mb" (max), "runs", "exit_codes",
     "walls_s", "rss_mb_runs", "rss_method", "cmd"}

How it measures. Each run forks one child (stdin, stdout and stderr on /dev/null
unless --show-output). Wall time is time.perf_counter() from just before the fork
to just after the child is reaped, so it includes process start-up. "MB" is MiB
(2**20 bytes). Wall is the median over the runs, RSS the maximum.

Peak RSS comes from the kernel's ru_maxrss, read one of two ways:
  * time  — the child execs `/usr/bin/time -f '%M %x' -o TMP -- CMD`; GNU time forks
            CMD and reads its wait4 rusage. Exact down to about 1 MB.
  * wait4 — the child execs CMD itself and os.wait4 returns its rusage. Linux keeps
            ru_maxrss across exec, so this includes the pages the child inherited
            from this Python process at fork: every command reads at least about
            11 MB (the "floor", measured once with `true` and reported). Values at
            or near the floor are printed as rss<=X and are not the command's own.
  `--rss auto` (the default) uses time when /usr/bin/time is GNU time, else wait4.

Exit status: 0 normally; 1 if --expect-exit N is given and any run exited with
another code; 2 if the command cannot be started or a run hit --timeout (the
run's process group is killed with SIGKILL and the run is recorded as -9).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TIME = "/usr/bin/time"
RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # bytes per ru_maxrss unit (wait4)


class ExecFailed(Exception):
    pass


class Run:
    def __init__(self, wall: float, rss: int | None, code: int, timed_out: bool) -> None:
        self.wall, self.rss, self.code, self.timed_out = wall, rss, code, timed_out


def gnu_time_works() -> bool:
    if not os.access(TIME, os.X_OK) or not shutil.which("true"):
        return False
    with tempfile.NamedTemporaryFile(mode="r") as out:
        try:
            done = subprocess.run([TIME, "-f", "%M %x", "-o", out.name, "--", "true"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0 and parse_time_output(out.read()) is not None


def parse_time_output(text: str) -> tuple[int, int | None] | None:
    """GNU time's `-o` file -> (peak RSS bytes, exit code or None when signalled)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    fields = lines[-1].split()
    if len(fields) != 2 or not all(f.isdigit() for f in fields):
        return None
    code: int | None = int(fields[1])
    for line in lines[:-1]:
        if line.startswith("Command terminated by signal "):
            code = -int(line.rsplit(" ", 1)[1])
    return int(fields[0]) * 1024, code


def run_once(cmd: list[str], method: str, timeout: float | None, fds: tuple[int, int, int]) -> Run:
    """One run of cmd; fds are the child's (stdin, stdout, stderr)."""
    time_out = tempfile.NamedTemporaryFile(mode="r", prefix="measure-") if method == "time" else None
    argv = [TIME, "-f", "%M %x", "-o", time_out.name, "--", *cmd] if time_out else cmd
    report_r, report_w = os.pipe()  # close-on-exec: EOF without data means exec succeeded
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(report_r)
            os.setpgid(0, 0)  # its own process group, so a timeout kills everything it started
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            os.execvp(argv[0], argv)
        except OSError as error:
            os.write(report_w, f"{error.strerror}".encode(errors="replace"))
        finally:
            os._exit(127)
    os.close(report_w)
    report = os.read(report_r, 512)
    os.close(report_r)

    timed_out = False
    try:
        if timeout is not None and not report:
            timed_out = not wait_ready(pid, timeout)
            if timed_out:
                kill_group(pid)
        _, status, usage = os.wait4(pid, 0)
    except KeyboardInterrupt:
        kill_group(pid)
        os.wait4(pid, 0)
        raise
    wall = time.perf_counter() - start
    if report:
        raise ExecFailed(f"cannot run {argv[0]!r}: {report.decode(errors='replace')}")

    code = os.waitstatus_to_exitcode(status)
    rss: int | None = usage.ru_maxrss * RSS_UNIT
    if time_out:
        with time_out:
            parsed = parse_time_output(time_out.read())
        if parsed is None:  # killed before time wrote its report
            rss = None
        else:
            rss, inner = parsed
            code = inner if inner is not None else code
    if timed_out:
        code = -signal.SIGKILL
    return Run(wall, rss, code, timed_out)


def wait_ready(pid: int, timeout: float) -> bool:
    """Waits until the child has exited, without reaping it, or the timeout passes."""
    if hasattr(os, "pidfd_open"):
        fd = os.pidfd_open(pid)
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            return bool(ready)
        finally:
            os.close(fd)
    deadline = time.monotonic() + timeout  # no pidfd (macOS): poll without reaping
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.001)
    return False


def kill_group(pid: int) -> None:
    # The child is not reaped yet, so its pid (the process group id) cannot have been reused.
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> int:
    if "--" in argv:
        split = argv.index("--")
        options, cmd = argv[:split], argv[split + 1:]
    else:
        options, cmd = argv, []
    parser = argparse.ArgumentParser(
        description="Run a command N times; print the median wall time and the peak RSS.",
        usage="%(prog)s [options] --label NAME -- CMD [ARGS...]")
    parser.add_argument("--runs", type=int, default=3, help="measured runs (default 3)")
    parser.add_argument("--warmup", type=int, default=0,
                        help="unmeasured runs first, e.g. to warm the page cache (default 0)")
    parser.add_argument("--label", required=True, help="name printed at the start of the line and stored in JSON")
    parser.add_argument("--json", metavar="FILE", help="append one JSON record (a line) to FILE")
    parser.add_argument("--expect-exit", type=int, metavar="N", help="exit 1 if any run exits with another code")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds per run before it is killed (default 600; 0 for none)")
    parser.add_argument("--rss", choices=("auto", "time", "wait4"), default="auto",
                        help="how peak RSS is read (default auto: GNU /usr/bin/time if present, else wait4)")
    parser.add_argument("--show-output", action="store_true",
                        help="echo the last run's stdout and stderr (first 20 lines each) to stderr")
    args = parser.parse_args(options)
    if not cmd:
        parser.error("give the command after --")
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    timeout = args.timeout if args.timeout > 0 else None

    method = args.rss
    if method == "auto":
        method = "time" if gnu_time_works() else "wait4"
    elif method == "time" and not gnu_time_works():
        parser.error(f"--rss time needs GNU time at {TIME}")
    if method == "time" and not shutil.which(cmd[0]):
        # GNU time would report this as exit 127; say it plainly instead.
        print(f"measure: {args.label}: cannot run {cmd[0]!r}: not found or not executable", file=sys.stderr)
        return 2

    runs: list[Run] = []
    captured = [tempfile.TemporaryFile() for _ in range(2)] if args.show_output else []
    devnull = os.open(os.devnull, os.O_RDWR)
    floor: int | None = None
    try:
        if method == "wait4" and shutil.which("true"):
            floor = run_once([shutil.which("true")], "wait4", 10.0, (devnull, devnull, devnull)).rss
        for index in range(args.warmup + args.runs):
            for handle in captured:
                handle.seek(0)
                handle.truncate()
            out = (captured[0].fileno(), captured[1].fileno()) if captured else (devnull, devnull)
            run = run_once(cmd, method, timeout, (devnull, *out))
            if index < args.warmup:
                continue
            runs.append(run)
            if run.timed_out:
                print(f"measure: {args.label}: run {len(runs)} killed after {timeout:g}s", file=sys.stderr)
    except ExecFailed as error:
        print(f"measure: {args.label}: {error}", file=sys.stderr)
        return 2
    finally:
        os.close(devnull)

    for name, handle in zip(("stdout", "stderr"), captured):
        handle.seek(0)
        lines = handle.read().decode(errors="replace").splitlines()
        for line in lines[:20]:
            print(f"  [{name}] {line}", file=sys.stderr)
        if len(lines) > 20:
            print(f"  [{name}] ... {len(lines) - 20} more lines", file=sys.stderr)
        handle.close()

    codes = [run.code for run in runs]
    wall_s = statistics.median(run.wall for run in runs)
    known = [run.rss for run in runs if run.rss is not None]
    rss_mb = max(known) / 2**20 if known else None
    at_floor = floor is not None and known and max(known) <= floor * 1.05
    if rss_mb is None:
        rss_text = "rss=?"
    else:
        rss_text = f"rss{'<=' if at_floor else '='}{rss_mb:.1f}MB"
    line = f"{args.label} wall={wall_s:.3f}s {rss_text}"
    distinct = sorted(set(codes), key=codes.index)
    if distinct != [0]:
        line += " exit=" + "/".join(str(code) for code in distinct)
    print(line, flush=True)

    if args.json:
        record = {
            "label": args.label,
            "wall_s": round(wall_s, 4),
            "rss_mb": None if rss_mb is None else round(rss_mb, 1),
            "runs": args.runs,
            "exit_codes": codes,
            "walls_s": [round(run.wall, 4) for run in runs],
            "rss_mb_runs": [None if run.rss is None else round(run.rss / 2**20, 1) for run in runs],
            "rss_method": method,
            "cmd": cmd,
        }
        if floor is not None:
            record["rss_floor_mb"] = round(floor / 2**20, 1)
        with open(args.json, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    if any(run.timed_out for run in runs):
        return 2
    if args.expect_exit is not None and any(code != args.expect_exit for code in codes):
        print(f"measure: {args.label}: expected exit {args.expect_exit}, got {codes}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
