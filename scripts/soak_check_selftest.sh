#!/usr/bin/env bash
# Shows that the soak's two checks can fail, and fail alike: plants one violation at a time
# in a copy of a soak's fleet file (written directly with the sqlite3 shell), then runs
# `sendpath simulator check` and scripts/soak_check.py on it. Each must exit non-zero and name
# the violation, and the two must agree (soak_check.py exits 2 when they do not).
# Usage: scripts/soak_check_selftest.sh SOAK_DIR   (the folder a passing `make soak` left)
set -uo pipefail
cd "$(dirname "$0")/.."
SENDPATH=${SENDPATH:-./.build-soak/debug/sendpath}
SOAK=${1:?usage: $0 SOAK_DIR}
WORK=$(mktemp -d /tmp/sendpath-soak-selftest.XXXXXX)
failed=0
LAST_DELIVERY="FROM event WHERE kind='deliver' ORDER BY id DESC LIMIT 1"
LAST_ANNOUNCE="FROM event WHERE kind='announce' ORDER BY id DESC LIMIT 1"
plant() {
  local name=$1 expected=$2 sql=$3
  rm -f "$WORK"/fleet.db*; cp "$SOAK/fleet.db" "$WORK/fleet.db"
  sqlite3 "$WORK/fleet.db" "$sql" || { echo "$name: could not plant"; failed=1; return; }
  "$SENDPATH" simulator check --fleet "$WORK/fleet.db" --output json > "$WORK/check.json"
  local simulator=$?
  python3 scripts/soak_check.py --fleet-db "$WORK/fleet.db" --fleet-json "$SOAK/fleet.json" \
    --sim-check "$WORK/check.json" > "$WORK/out.txt"
  local independent=$?
  local broken; broken=$(grep -E '^independent check: BROKEN' "$WORK/out.txt" | sed 's/.*BROKEN: //')
  if [ "$simulator" -ne 0 ] && [ "$independent" -eq 1 ] && [[ ",${broken// /}," == *",$expected,"* ]]; then
    echo "$name: caught by both (independent: $broken; simulator check: $(python3 -c 'import json,sys; print(", ".join(json.load(open(sys.argv[1]))["broken"]))' "$WORK/check.json"))"
  else
    echo "$name: NOT caught as expected (simulator check exit $simulator, independent exit $independent)"; cat "$WORK/out.txt"; failed=1
  fi
}
plant "a message delivered twice" duplicated \
  "INSERT INTO event (at, kind, instance, message, infrastructure, location, ips, cause) SELECT at+1, kind, instance, message, infrastructure, location, ips, cause $LAST_DELIVERY"
plant "a delivery erased (lost)" lost "DELETE FROM event WHERE id = (SELECT max(id) FROM event WHERE kind='deliver')"
plant "a prefix announced at a second place" doubleAdvertisements \
  "INSERT INTO event (at, kind, cidr, infrastructure, location) SELECT at+1, 'announce', cidr, 'adobe-dc', 'dc9' $LAST_ANNOUNCE"
plant "a prefix withdrawn, announced 4 ns later" advertisementGaps \
  "INSERT INTO event (at, kind, cidr, infrastructure, location) SELECT at+1, 'withdraw', cidr, infrastructure, location $LAST_ANNOUNCE;
   INSERT INTO event (at, kind, cidr, infrastructure, location) SELECT at+5, 'announce', cidr, infrastructure, location $LAST_ANNOUNCE"
plant "an instance left frozen" frozenOutsideHold \
  "UPDATE instance SET frozen=1 WHERE name=(SELECT min(name) FROM instance);
   INSERT INTO event (at, kind, instance) SELECT 1900000000000000000, 'freeze', min(name) FROM instance"
plant "a send from the data center after the move" sendsWithoutRoute \
  "INSERT INTO event (at, kind, instance, message, cause) SELECT 0, 'enqueue', instance, 'planted/1', 'seed' $LAST_DELIVERY;
   INSERT INTO event (at, kind, instance, message, infrastructure, location, ips, cause) SELECT at+1, 'deliver', instance, 'planted/1', 'adobe-dc', 'dc1', ips, 'send' FROM event WHERE kind='deliver' ORDER BY id DESC LIMIT 1"
plant "an instance's own send while frozen" sendsWhileFrozen \
  "INSERT INTO event (at, kind, instance, message, cause) SELECT 0, 'enqueue', instance, 'planted/2', 'seed' $LAST_DELIVERY;
   INSERT INTO event (at, kind, instance) SELECT at, 'freeze', instance $LAST_DELIVERY;
   INSERT INTO event (at, kind, instance, message, infrastructure, location, ips, cause) SELECT at+1, 'deliver', instance, 'planted/2', infrastructure, location, ips, 'send' $LAST_DELIVERY;
   INSERT INTO event (at, kind, instance) SELECT at+2, 'unfreeze', instance $LAST_DELIVERY"
rm -rf "$WORK"
exit $failed
