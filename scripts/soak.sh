#!/usr/bin/env bash
# `make soak`: SIGKILLs `sendpath reconcile` at SOAK_KILLS random instants over a 120-instance,
# 3-wave fleet in the embedded simulator with faults of every kind, reconciles each wave to
# completion (acting as the operator for groups that need a human), then checks the fleet
# file's evidence twice: `sendpath simulator check`, and scripts/soak_check.py, which reads the
# log with SQL on its own and must agree. See docs/reliability.md.
#
# Environment: SOAK_KILLS (default 200), SOAK_SEED (default: the current time; printed),
# SOAK_LATENCY (simulator latency per provider call, default 200ms), SOAK_KILL_MIN_MS and
# SOAK_KILL_MAX_MS (the kill instant after a run's start, default 50 and 1500),
# SOAK_INSTANCES (default 120), SOAK_DIR (default: a new folder under /tmp, kept),
# SOAK_TIMEOUT (seconds for the whole soak, default 5400), SENDPATH (the binary).
# Exit 0 only when the driving went as planned and both checks found every promise kept.
set -uo pipefail
cd "$(dirname "$0")/.."
SENDPATH=${SENDPATH:-./.build-soak/debug/sendpath}
KILLS=${SOAK_KILLS:-200}
SEED=${SOAK_SEED:-$(date +%s)}
LATENCY=${SOAK_LATENCY:-200ms}
MIN_MS=${SOAK_KILL_MIN_MS:-50}
MAX_MS=${SOAK_KILL_MAX_MS:-1500}
INSTANCES=${SOAK_INSTANCES:-120}
TIMEOUT=${SOAK_TIMEOUT:-5400}
DIR=${SOAK_DIR:-$(mktemp -d /tmp/sendpath-soak.XXXXXX)}
PYTHON=${PYTHON:-python3}

[ -x "$SENDPATH" ] || { echo "soak: no binary at $SENDPATH (make soak builds it)" >&2; exit 1; }
mkdir -p "$DIR"
SENDPATH=$(cd "$(dirname "$SENDPATH")" && pwd)/$(basename "$SENDPATH")
started=$(date +%s)
echo "soak: seed $SEED, $KILLS kills, latency $LATENCY, kills $MIN_MS-$MAX_MS ms after a run's start, folder $DIR"
echo "soak: reproduce with SOAK_SEED=$SEED SOAK_KILLS=$KILLS SOAK_LATENCY=$LATENCY make soak"

"$PYTHON" scripts/soak_fleet.py "$DIR" "$SEED" "$INSTANCES" || exit 1
# The generated prefixes are private (10/8) and documentation (2001:db8::/32) space: validate
# warns about each (non-public-address), which is expected here, so its output goes to a file.
"$SENDPATH" validate "$DIR/manifests" >"$DIR/validate.txt" 2>&1 || { cat "$DIR/validate.txt" >&2; echo "soak: the generated manifests are invalid" >&2; exit 1; }

# The whole soak is bounded: the driver stops its kills at the deadline, and `timeout` ends
# it (and the run it waits on, which it kills) if it overruns even so.
timeout --kill-after=30 "$TIMEOUT" "$PYTHON" scripts/soak_run.py --dir "$DIR" --sendpath "$SENDPATH" \
  --kills "$KILLS" --seed "$SEED" --latency "$LATENCY" --min-ms "$MIN_MS" --max-ms "$MAX_MS" \
  --deadline $((started + TIMEOUT - 300))
driven=$?

"$SENDPATH" simulator check --fleet "$DIR/fleet.db" --output json > "$DIR/check.json"
simulator=$?
"$SENDPATH" simulator check --fleet "$DIR/fleet.db" | tail -n 1
mapfile -t held < <("$PYTHON" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1])).get("heldMembers", [])))' "$DIR/summary.json" 2>/dev/null | sed '/^$/d')
"$PYTHON" scripts/soak_check.py --fleet-db "$DIR/fleet.db" --fleet-json "$DIR/fleet.json" --sim-check "$DIR/check.json" \
  --held "${held[@]}" --output "$DIR/independent.json"
independent=$?

elapsed=$(( $(date +%s) - started ))
echo "soak: driver exit $driven, simulator check exit $simulator, independent check exit $independent, ${elapsed}s; files in $DIR"
if [ "$driven" -ne 0 ] || [ "$independent" -ne 0 ]; then
  echo "soak: FAILED (seed $SEED). The kills are in $DIR/kills.jsonl (with the journal's last entry after each), the runs in $DIR/runs.jsonl and $DIR/runs/, the journal in $DIR/state.db." >&2
  exit 1
fi
echo "soak: passed"
