#!/usr/bin/env bash
# `make lab`: the README's story on real daemons (docs/lab.md, "The story"). Starts the
# lab, queues a backlog on every instance, plans and applies the migration with the
# postfix-bgp provider, shows the status, then checks from the outside with
# scripts/lab/report.py (every message delivered once, from its sending IP, by the aws
# MTAs; nothing sent while frozen; one origin per prefix at a time). The lab is brought
# down on any exit. Exits non-zero if any step or the report fails. As root (Debian 12).
#
# Environment: SENDPATH (default ./.build/debug/sendpath), SENDPATH_LAB_DIR (default
# /tmp/sendpath-lab), SENDPATH_LAB_BACKLOG (messages per instance, default 100),
# SENDPATH_LAB_EXTRA=N (also submit N ordinary messages to lab-a1 at adobe-dc while the
# migration runs; default 0) and SENDPATH_LAB_EXTRA_AT (when: "freeze", default, = as
# soon as lab-a1's adobe-dc MTA is frozen; or a number of seconds after reconcile starts).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
SENDPATH=${SENDPATH:-./.build/debug/sendpath}
case "$SENDPATH" in
  /*) ;;
  */*) SENDPATH="$repo/$SENDPATH" ;;
  *) SENDPATH=$(command -v "$SENDPATH" || echo "$SENDPATH") ;;
esac
export SENDPATH_LAB_DIR=${SENDPATH_LAB_DIR:-/tmp/sendpath-lab}
export SENDPATH_BIN="$SENDPATH"          # `up` validates the generated manifests with it
LAB=$SENDPATH_LAB_DIR
BACKLOG=${SENDPATH_LAB_BACKLOG:-100}
EXTRA=${SENDPATH_LAB_EXTRA:-0}
EXTRA_AT=${SENDPATH_LAB_EXTRA_AT:-freeze}
PY=/usr/bin/python3
INSTANCES="lab-a1 lab-a2 lab-b1 lab-b2 lab-c1 lab-c2"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; }
die() { echo "lab-story: $*" >&2; exit 1; }

[ -x "$SENDPATH" ] || die "no sendpath binary at $SENDPATH (swift build, or set SENDPATH)"
[ "$(id -u)" = 0 ] || die "the lab runs as root"
if [ -e "$LAB/lab.json" ] && scripts/lab.sh status >/dev/null 2>&1; then
  die "a lab already runs in $LAB; not touching it (scripts/lab.sh down, or set SENDPATH_LAB_DIR)"
fi

work=$(mktemp -d /tmp/sendpath-lab-story.XXXXXX)
STATE=$work/.sendpath/state.db
lab_started=0
failed=0
extra_pid=""

finish() {
  local code=$?
  trap - EXIT INT TERM
  [ -n "$extra_pid" ] && kill "$extra_pid" 2>/dev/null
  if [ "$lab_started" = 1 ]; then
    if [ "$code" != 0 ] && [ -d "$LAB" ]; then
      # Keep the evidence: `down` removes the lab folder.
      mkdir -p "$work/lab-records"
      (cd "$LAB" && cp -p lab.json provider.yaml ./*.jsonl ./*.log "$work/lab-records/" 2>/dev/null
       cp -rp bgp "$work/lab-records/" 2>/dev/null
       for log in spool/*/*/maillog; do
         [ -f "$log" ] && mkdir -p "$work/lab-records/$(dirname "$log")" && cp -p "$log" "$work/lab-records/$log"
       done)
      echo "lab-story: failed (exit $code); the working folder, state database and lab records are kept in $work"
    fi
    step "Bring the lab down" scripts/lab.sh down
    "$repo/scripts/lab.sh" down || code=1
  fi
  [ "$code" = 0 ] && rm -rf "$work"
  exit "$code"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "1. Start the lab: 12 Postfix MTAs, GoBGP speakers and collector, SMTP sink (in $LAB)" scripts/lab.sh up
lab_started=1
scripts/lab.sh up || exit 1

step "2. A backlog on every instance: $BACKLOG held messages at each adobe-dc MTA" \
  "for i in $INSTANCES; do scripts/lab.sh backlog \$i $BACKLOG; done"
for instance in $INSTANCES; do
  scripts/lab.sh backlog "$instance" "$BACKLOG" || exit 1
done

cd "$work" || exit 1
provider="postfix-bgp:$LAB/provider.yaml"
echo
echo "(working folder $work; state database sqlite:$STATE)"

step "3. The plan: what an apply would run now" \
  sendpath reconcile --dry-run --provider "$provider" "$LAB/manifests"
"$SENDPATH" reconcile --dry-run --provider "$provider" "$LAB/manifests"
code=$?
echo "(exit $code)"
case $code in 0|2) ;; *) exit "$code" ;; esac

# Extra mail during the migration: a background submit to lab-a1 at adobe-dc.
submit_extra() {
  local deadline=$((SECONDS + 60))
  if [ "$EXTRA_AT" = freeze ]; then
    until grep -qE '^header_checks *= *static:HOLD' "$LAB/mta/lab-a1/adobe-dc/main.cf" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then echo "lab-story: lab-a1/adobe-dc was not frozen within 60 s" >&2; return 1; fi
      sleep 0.02
    done
    echo "(lab-a1/adobe-dc is frozen: submitting $EXTRA messages)"
  else
    sleep "$EXTRA_AT"
  fi
  "$repo/scripts/lab.sh" submit lab-a1 "$EXTRA"
}

step "4. Apply: freeze, snapshot, switch the prefixes to aws, verify, resend, unfreeze" \
  sendpath reconcile --provider "$provider" "$LAB/manifests"
if [ "$EXTRA" -gt 0 ]; then
  echo "(meanwhile: scripts/lab.sh submit lab-a1 $EXTRA, at: $EXTRA_AT)"
  submit_extra &
  extra_pid=$!
fi
started=$EPOCHREALTIME
"$SENDPATH" reconcile --provider "$provider" "$LAB/manifests"
code=$?
awk -v code="$code" -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "(exit %s, %.1f s)\n", code, b - a }' 
[ "$code" = 0 ] || { echo "lab-story: reconcile did not converge (exit $code)"; failed=1; }
if [ -n "$extra_pid" ]; then
  deadline=$((SECONDS + 90))
  while kill -0 "$extra_pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then echo "lab-story: the extra submit is still running after 90 s"; kill "$extra_pid"; break; fi
    sleep 0.1
  done
  wait "$extra_pid" || { echo "lab-story: the extra submit failed"; failed=1; }
  extra_pid=""
fi

step "5. Status: desired, observed and journal side by side" \
  sendpath status --provider "$provider" "$LAB/manifests"
"$SENDPATH" status --provider "$provider" "$LAB/manifests"
code=$?
echo "(exit $code)"
[ "$code" = 0 ] || { echo "lab-story: status does not say converged (exit $code)"; failed=1; }

step "6. Check from the outside: sink, collector and journal" \
  scripts/lab/report.py --lab "$LAB" --state "$STATE" --expect-site aws --wait 60
"$PY" -B "$repo/scripts/lab/report.py" --lab "$LAB" --state "$STATE" --expect-site aws --wait 60
code=$?
[ "$code" = 0 ] || { echo "lab-story: the report failed (exit $code)"; failed=1; }

cd "$repo" || exit 1
if [ "$failed" != 0 ]; then exit 1; fi
step "7. Bring the lab down" scripts/lab.sh down
lab_started=0
scripts/lab.sh down || exit 1
rm -rf "$work"
echo
echo "lab story: PASS"
