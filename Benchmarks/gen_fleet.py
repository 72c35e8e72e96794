#!/usr/bin/env python3
"""Generate a deterministic, valid Sendpath fleet for benchmarks.

Usage:
    python3 Benchmarks/gen_fleet.py --instances N --per-prefix P --files F --out DIR
        [--waves W] [--max-parallel K]
        [--window-start 2024-01-16T20:00:00Z] [--window-hours H]

Writes into DIR:
    instances-000.yaml ...  F files of Instance documents (multi-document YAML)
    prefixes.yaml           one AddressPrefix per /24
    waves.yaml              W Waves
    policy.yaml             one Policy with every default written out

The fleet follows the rules of SPEC.md section 2 and is valid by construction:
  * instance i lives in prefix k = i // P and is host j = i % P of it; it sends from
    10.(k>>8).(k&255).(2j+1) and .(2j+2), so P <= 127 and at most 65536 prefixes;
  * prefix k is 10.(k>>8).(k&255).0/24, named pfx-NNNNNN, awsRegion eu-west-1, and
    every declared prefix holds at least one instance (no unused-prefix warning);
  * tenant tNNNN = k // 10 (one tenant per 10 prefixes); instance names look like
    t0042-mkt-prod-000017 (tenant, then the global instance number);
  * product/hosting/build cycle with i over three supported combinations; every
    instance is prod and targets aws/eu-west-1, matching its prefix's awsRegion;
  * prefix k goes to wave k % W, so all instances of a prefix share a wave (prefix
    closure) and a cut-over group is exactly one prefix (N / P groups);
  * every wave has the same window [start, start + H hours], maxParallel K,
    after: [] and a notice sent 40 days before the start (prod needs 30 days).

No randomness and no clock: the same arguments give byte-identical files. Text is
written by hand (no PyYAML) so 100k instances take about a second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys

API = "apiVersion: sendpath/v1\n"
MAX_PER_PREFIX = 127          # 2 IPs per instance in .1 .. .254
MAX_PREFIXES = 65536          # 10.0.0.0/24 .. 10.255.255.0/24
PREFIXES_PER_TENANT = 10
NOTICE_LEAD = dt.timedelta(days=40)
REGION = "eu-west-1"
MAX_FILE_BYTES = 16 << 20     # sendpath's default per-file limit (ManifestLoader)

# (product, hosting, build), cycled by instance number.
FLAVOURS = (
    ("campaign-classic-v7", "managed-services", "7.3.5 build 9368"),
    ("campaign-v8", "managed-cloud-services", "8.9.2.9831.11d1c68"),
    ("campaign-standard", "on-demand", "24.3.1"),
)

INSTANCE = (
    API
    + "kind: Instance\n"
    "metadata:\n"
    "  name: {tenant}-mkt-prod-{number}\n"
    "  labels:\n"
    "    tenant: {tenant}\n"
    "spec:\n"
    "  tenant: {tenant}\n"
    "  product: {product}\n"
    "  hosting: {hosting}\n"
    "  environment: prod\n"
    '  build: "{build}"\n'
    "  sendingIPs:\n"
    "    - {net}.{ip1}\n"
    "    - {net}.{ip2}\n"
    "  sendingPath:\n"
    "    infrastructure: aws\n"
    "    location: " + REGION + "\n"
    "  wave: {wave}\n"
)

PREFIX = (
    API
    + "kind: AddressPrefix\n"
    "metadata:\n"
    "  name: {name}\n"
    "spec:\n"
    "  cidr: {net}.0/24\n"
    "  awsRegion: " + REGION + "\n"
)

WAVE = (
    API
    + "kind: Wave\n"
    "metadata:\n"
    "  name: {name}\n"
    "spec:\n"
    "  window:\n"
    "    start: {start}\n"
    "    end: {end}\n"
    "  maxParallel: {max_parallel}\n"
    "  after: []\n"
    "  notice:\n"
    "    sentAt: {sent_at}\n"
)

POLICY = (
    API
    + "kind: Policy\n"
    "metadata:\n"
    "  name: default\n"
    "spec:\n"
    "  noticeLeadTime:\n"
    "    dev: 7d\n"
    "    staging: 7d\n"
    "    prod: 30d\n"
    "  bakeTime: 7d\n"
    "  rollbackReserve: 15m\n"
    "  resendMaxAge: 84h\n"
    "  onVerificationFailure: rollback\n"
)

SEPARATOR = "---\n"
INSTANCE_FILE = re.compile(r"instances-[0-9]+\.yaml\Z")


def rfc3339(moment: dt.datetime) -> str:
    """UTC, whole seconds, with a Z."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    value = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give an offset or Z: {text!r}")
    if moment.microsecond:
        raise argparse.ArgumentTypeError(f"whole seconds only: {text!r}")
    return moment


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def positive_hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value > 24 * 366:
        raise argparse.ArgumentTypeError(f"must be > 0 and at most a year: {text!r}")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Generate a deterministic, valid Sendpath fleet.")
    parser.add_argument("--instances", type=positive_int, required=True, help="number of instances (N)")
    parser.add_argument("--per-prefix", type=positive_int, required=True,
                        help=f"instances per /24 prefix (P, at most {MAX_PER_PREFIX})")
    parser.add_argument("--files", type=positive_int, required=True, help="instance files (F, at most N)")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--waves", type=positive_int, default=10, help="number of waves (default 10)")
    parser.add_argument("--max-parallel", type=positive_int, default=1, help="maxParallel of every wave (default 1)")
    parser.add_argument("--window-start", type=parse_time, default=parse_time("2024-01-16T20:00:00Z"),
                        help="start of every wave's window, RFC 3339 (default 2024-01-16T20:00:00Z)")
    parser.add_argument("--window-hours", type=positive_hours, default=8.0,
                        help="window length in hours (default 8)")
    args = parser.parse_args(argv)
    if args.per_prefix > MAX_PER_PREFIX:
        parser.error(f"--per-prefix must be at most {MAX_PER_PREFIX} (2 IPs each in one /24)")
    prefixes = -(-args.instances // args.per_prefix)
    if prefixes > MAX_PREFIXES:
        parser.error(f"{args.instances} instances at {args.per_prefix} per prefix need {prefixes} prefixes; "
                     f"at most {MAX_PREFIXES} fit in 10.0.0.0/8")
    if args.files > args.instances:
        parser.error("--files must be at most --instances (no empty instance files)")
    return args


def write(path: str, text: str) -> int:
    data = text.encode("ascii")
    with open(path, "wb") as handle:
        handle.write(data)
    if len(data) > MAX_FILE_BYTES:
        print(f"gen_fleet: warning: {path} is {len(data) / 2**20:.1f} MiB, over sendpath's "
              f"{MAX_FILE_BYTES >> 20} MiB per-file limit; use more --files", file=sys.stderr)
    return len(data)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    n, per_prefix, n_files, n_waves = args.instances, args.per_prefix, args.files, args.waves
    n_prefixes = -(-n // per_prefix)
    number_width = max(6, len(str(n - 1)))
    file_width = max(3, len(str(n_files - 1)))
    wave_width = max(3, len(str(n_waves - 1)))
    wave_names = [f"wave-{w:0{wave_width}d}" for w in range(n_waves)]

    # Per-prefix strings, computed once.
    nets = [f"10.{k >> 8}.{k & 255}" for k in range(n_prefixes)]
    tenants = [f"t{k // PREFIXES_PER_TENANT:04d}" for k in range(n_prefixes)]
    prefix_waves = [wave_names[k % n_waves] for k in range(n_prefixes)]

    os.makedirs(args.out, exist_ok=True)
    instance_names = {f"instances-{f:0{file_width}d}.yaml" for f in range(n_files)}
    # Remove instance files left over from a larger earlier run, so the folder holds one fleet.
    for entry in sorted(os.listdir(args.out)):
        if INSTANCE_FILE.match(entry) and entry not in instance_names:
            os.remove(os.path.join(args.out, entry))
    ours = instance_names | {"prefixes.yaml", "waves.yaml", "policy.yaml"}
    strays = sorted(e for e in os.listdir(args.out)
                    if not e.startswith(".") and e not in ours
                    and (e.endswith((".yaml", ".yml")) or os.path.isdir(os.path.join(args.out, e))))
    if strays:
        print(f"gen_fleet: warning: {args.out} also holds {', '.join(strays)}; "
              "sendpath validate will read those too", file=sys.stderr)

    template = INSTANCE.format
    total_bytes = 0
    for f in range(n_files):
        lo, hi = f * n // n_files, (f + 1) * n // n_files
        docs = []
        for i in range(lo, hi):
            k, j = divmod(i, per_prefix)
            product, hosting, build = FLAVOURS[i % 3]
            docs.append(template(
                tenant=tenants[k], number=f"{i:0{number_width}d}", product=product, hosting=hosting,
                build=build, net=nets[k], ip1=2 * j + 1, ip2=2 * j + 2, wave=prefix_waves[k]))
        total_bytes += write(os.path.join(args.out, f"instances-{f:0{file_width}d}.yaml"), SEPARATOR.join(docs))

    total_bytes += write(os.path.join(args.out, "prefixes.yaml"), SEPARATOR.join(
        PREFIX.format(name=f"pfx-{k:06d}", net=nets[k]) for k in range(n_prefixes)))

    start = args.window_start
    end = start + dt.timedelta(hours=args.window_hours)
    if end.microsecond:
        end = end.replace(microsecond=0) + dt.timedelta(seconds=1)  # whole seconds, still after start
    wave_fields = dict(start=rfc3339(start), end=rfc3339(end), max_parallel=args.max_parallel,
                       sent_at=rfc3339(start - NOTICE_LEAD))
    total_bytes += write(os.path.join(args.out, "waves.yaml"), SEPARATOR.join(
        WAVE.format(name=name, **wave_fields) for name in wave_names))

    total_bytes += write(os.path.join(args.out, "policy.yaml"), POLICY)

    print(f"gen_fleet: {n} instances, {n_prefixes} prefixes ({n_prefixes} cut-over groups), "
          f"{n_waves} waves, {n_files} instance files, {total_bytes / 2**20:.1f} MiB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
