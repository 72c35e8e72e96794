#!/usr/bin/env bash
# A cut-over by hand on the running lab, with Postfix's and GoBGP's own tools only: the
# reference for what the postfix-bgp provider automates, and a check of docs/lab.md.
#
#   scripts/lab/manual-cutover.sh [PREFIX_NAME [FROM_SITE TO_SITE]]
#   e.g. scripts/lab/manual-cutover.sh lab-pfx-a adobe-dc aws    (the default)
#
# Moves every instance of the prefix: freeze both MTAs of each instance, copy each queued
# message held to the target MTA (same headers, envelope and Message-ID), delete it at
# the source, move the prefix (withdraw at FROM, announce at TO), check IPs and build,
# then release the target. The source MTA stays frozen (as the aws MTAs start).
# Every wait is a poll with a deadline. As root, on a lab started by scripts/lab.sh up.
set -euo pipefail
LAB_DIR="${SENDPATH_LAB_DIR:-/tmp/sendpath-lab}"
PREFIX="${1:-lab-pfx-a}" FROM="${2:-adobe-dc}" TO="${3:-aws}"
PY=/usr/bin/python3
lab() { "$PY" -c "import json,sys; d=json.load(open('$LAB_DIR/lab.json')); $1"; }
now() { date +%s.%N; }
since() { "$PY" -c "print(f'{$(now) - $1:.3f}s')"; }
say() { echo "cutover: $*"; }

cidr=$(lab "print(d['prefixes']['$PREFIX']['cidr'])")
read -r -a members <<<"$(lab "print(' '.join(d['prefixes']['$PREFIX']['instances']))")"
from_api=$(lab "print(d['speakers']['$FROM']['api'].split(':')[1])")
to_api=$(lab "print(d['speakers']['$TO']['api'].split(':')[1])")
collector_api=$(lab "print(d['collector']['api'].split(':')[1])")
from_asn=$(lab "print(d['bgp']['$FROM']['asn'])")
to_asn=$(lab "print(d['bgp']['$TO']['asn'])")
dir() { lab "print(d['mta']['$1']['$2']['configDirectory'])"; }

# poll CONDITION-COMMAND TIMEOUT-SECONDS WHAT
poll() {
  local deadline pause=0.02
  deadline=$("$PY" -c "print($(now) + $2)")
  until eval "$1"; do
    if "$PY" -c "import sys; sys.exit(0 if $(now) > $deadline else 1)"; then
      echo "cutover: timed out after $2 s waiting for $3" >&2; return 1
    fi
    sleep "$pause"
  done
}

# header_checks on or off, and make it take effect. Postfix programs wait until main.cf
# is ~2 s old before reading it: backdating the file saves those 2 s on each command.
set_hold() { # DIR VALUE
  postconf -c "$1" -e "header_checks = $2"
  touch -d "@$(( $(date +%s) - 3 ))" "$1/main.cf"
  postfix -c "$1" reload >/dev/null 2>&1
}

# Messages of a queue: "QUEUE_NAME QUEUE_ID RECIPIENT_COUNT" per line.
queue_lines() { postqueue -c "$1" -j | "$PY" -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line); print(m["queue_name"], m["queue_id"], len(m["recipients"]))'; }

# Frozen = header_checks holds new mail, nothing is outside the hold queue, and no queue
# file is locked by a delivery agent (a delivery in flight when its message was held still
# finishes and marks its recipients done: such a message has 0 recipients left). A queue
# listing can miss a message that moves while it is taken (the reload's new qmgr moves
# active back to incoming), so the caller asks twice, 0.1 s apart.
frozen() { # DIR
  postsuper -c "$1" -h ALL >/dev/null 2>&1 || true
  local q locked
  q=$(postconf -c "$1" -h queue_directory)
  [ -z "$(queue_lines "$1" | awk '$1 != "hold"')" ] || return 1
  locked=" $(awk '{ if ($2 == "->") n = $7; else n = $6; split(n, a, ":"); printf "%s ", a[3] }' /proc/locks) "
  while read -r inode; do
    case "$locked" in *" $inode "*) return 1;; esac
  done < <(find "$q/incoming" "$q/active" "$q/deferred" "$q/hold" -type f -printf '%i\n')
}
frozen_twice() { frozen "$1" && sleep 0.1 && frozen "$1"; }

message_id() { postcat -c "$1" -h -q "$2" | sed -n 's/^[Mm]essage-[Ii][Dd]:[[:space:]]*//p' | head -n 1; }
held_ids() { # DIR -> Message-IDs of held messages
  local _ id
  queue_lines "$1" | while read -r queue id _; do [ "$queue" = hold ] && message_id "$1" "$id"; done; true
}
collector_has() { # CIDR ASN
  gobgp -p "$collector_api" -j global rib -a ipv4 | "$PY" -c "
import json, sys
rib = json.load(sys.stdin) or {}
asns = [[a for at in p['attrs'] if at['type'] == 2 for s in at['as_paths'] for a in s['asns']][-1] for p in rib.get('$1', [])]
sys.exit(0 if $2 in asns else 1)"
}

t0=$(now)
say "moving $PREFIX ($cidr: ${members[*]}) from $FROM (AS$from_asn) to $TO (AS$to_asn)"

# 1. Freeze both sides of every member (the target should already hold).
t=$(now)
for name in "${members[@]}"; do
  set_hold "$(dir "$name" "$TO")" static:HOLD
  set_hold "$(dir "$name" "$FROM")" static:HOLD
done
for name in "${members[@]}"; do
  src=$(dir "$name" "$FROM")
  poll "frozen_twice $src" 60 "$name at $FROM to be frozen"
done
say "1. frozen in $(since "$t")"

# 2. Snapshot and copy each pending message held to the target, then delete it at the
#    source. A rerun finds the copies already staged (by Message-ID) and only deletes.
#    postqueue -j lists only the recipients still pending, and shows the null sender as
#    "MAILER-DAEMON": the exact envelope sender is postcat -e's "sender:" record.
t=$(now); copied=0; done_already=0
for name in "${members[@]}"; do
  src=$(dir "$name" "$FROM"); dst=$(dir "$name" "$TO")
  staged=" $(held_ids "$dst" | tr '\n' ' ') "
  before=$(queue_lines "$dst" | awk '$1 == "hold" && $3 > 0' | wc -l)
  new=0; delete=()
  # QUEUE_ID TAB RECIPIENT... of every held message at the source, from one postqueue -j
  while IFS=$'\t' read -r -a fields; do
    id=${fields[0]}; rcpts=("${fields[@]:1}")
    delete+=("$id")
    if [ ${#rcpts[@]} -eq 0 ]; then done_already=$((done_already + 1)); continue; fi  # delivered while held
    mid=$(message_id "$src" "$id")
    [[ "$staged" == *" $mid "* ]] && continue
    sender=$(postcat -c "$src" -e -q "$id" | sed -n 's/^sender: //p' | head -n 1)
    postcat -c "$src" -bh -q "$id" | sendmail -C "$dst" -f "$sender" -i -- "${rcpts[@]}"
    new=$((new + 1))
  done < <(postqueue -c "$src" -j | "$PY" -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["queue_name"] == "hold":
        print("\t".join([m["queue_id"]] + [r["address"] for r in m["recipients"]]))')
  # sendmail returns once postdrop has the file; pickup and cleanup then hold it.
  poll '[ "$(queue_lines "$dst" | awk '"'"'$1 == "hold" && $3 > 0'"'"' | wc -l)" -ge $((before + new)) ]' 60 \
    "$new copies of $name to be held at $TO"
  [ ${#delete[@]} -eq 0 ] || printf '%s\n' "${delete[@]}" | postsuper -c "$src" -d - hold >/dev/null 2>&1
  copied=$((copied + new))
done
say "2. $copied messages copied held to $TO and deleted at $FROM ($done_already already delivered) in $(since "$t")"

# 3. Move the prefix: withdraw first (never advertised from two places), then announce.
t=$(now)
gobgp -p "$from_api" global rib del -a ipv4 "$cidr"
poll "! collector_has $cidr $from_asn" 30 "the collector to drop $cidr from AS$from_asn"
gobgp -p "$to_api" global rib add -a ipv4 "$cidr" origin igp
poll "collector_has $cidr $to_asn" 30 "the collector to learn $cidr from AS$to_asn"
say "3. $cidr now announced by AS$to_asn only, in $(since "$t")"

# 4. Verify: the same sending IP and build at the target.
for name in "${members[@]}"; do
  src=$(dir "$name" "$FROM"); dst=$(dir "$name" "$TO")
  [ "$(postconf -c "$src" -h smtp_bind_address)" = "$(postconf -c "$dst" -h smtp_bind_address)" ] ||
    { echo "cutover: $name: sending IP differs" >&2; exit 4; }
  cmp -s "$src/sendpath-build" "$dst/sendpath-build" || { echo "cutover: $name: build differs" >&2; exit 4; }
done
say "4. sending IPs and builds verified"

# 5. Release the target.
t=$(now)
for name in "${members[@]}"; do
  dst=$(dir "$name" "$TO")
  set_hold "$dst" ""
  postsuper -c "$dst" -H ALL >/dev/null 2>&1 || true
  postqueue -c "$dst" -f
done
for name in "${members[@]}"; do
  poll '[ -z "$(postqueue -c "$(dir "$name" "$TO")" -j)" ]' 120 "$name's queue at $TO to drain"
done
say "5. $TO released and its queues drained in $(since "$t")"
say "done in $(since "$t0")"
