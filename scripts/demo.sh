#!/usr/bin/env bash
# `make run`: the whole story on the sample fleet (manifests/) against the embedded fleet
# simulator, with the default state store (sqlite:.sendpath/state.db) and simulated fleet
# (sim:.sendpath/fleet.db). The windows are in 2023-2024, so each step runs "at" a time
# inside them (--at, allowed with the simulator).
set -uo pipefail
cd "$(dirname "$0")/.."
SENDPATH=${SENDPATH:-./.build/debug/sendpath}

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; }
run() {
  "$@"
  local code=$?
  case $code in
    0) echo "(exit 0: converged)";;
    2) echo "(exit 2: changes pending)";;
    3) echo "(exit 3: waiting: some groups are blocked by their window, notice or order; run again later)";;
    4) echo "(exit 4: a cut-over failed verification and was rolled back; nothing lost)";;
    5) echo "(exit 5: held: a cut-over needs a human)";;
    *) echo "(exit $code)"; exit "$code";;
  esac
}

echo "Starting from a fresh simulated fleet: removing .sendpath/"
rm -rf .sendpath

step "1. Check the manifests" sendpath validate manifests
run "$SENDPATH" validate manifests

step "1b. Tell the tenants before anything moves: one notice per tenant and wave, by email, through a local SMTP sink" \
  sendpath notify --wave WAVE --smtp smtp://127.0.0.1:PORT
# aiosmtpd (Debian's python3-aiosmtpd, `make smtp-sink-deps`) stands in for the mail relay and keeps
# every message it accepts in a Maildir (.sendpath/notices). The contacts are in manifests/contacts.yaml.
# The waves' notices were sent by another system in 2023 (notice.sentAt in waves.yaml): these
# deliveries do not move them, so the windows stay open.
sink=""
if /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p .sendpath
  /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox .sendpath/notices &
  sink=$!
  trap 'kill "$sink" 2>/dev/null' EXIT
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  for wave in nonprod-2023-10a nonprod-2023-10b prod-2024-01a prod-2024-01b; do
    "$SENDPATH" notify --wave "$wave" --smtp "smtp://127.0.0.1:$port" 2> >(grep -v ': warning: ' >&2) | grep -E '^(Delivered|Already|FAILED)'
  done
else
  echo "python3-aiosmtpd is not installed (make smtp-sink-deps); no notices are delivered"
fi

step "2. The plan in the first non-production window (14 Oct 2023, 21:00 UTC)" \
  sendpath reconcile --dry-run --at 2023-10-14T21:00:00Z
run "$SENDPATH" reconcile --dry-run --at 2023-10-14T21:00:00Z

step "3. Apply it; then the second non-production window" \
  sendpath reconcile --at 2023-10-14T21:00:00Z "&&" sendpath reconcile --at 2023-10-22T03:00:00Z
run "$SENDPATH" reconcile --at 2023-10-14T21:00:00Z --output json >/dev/null
run "$SENDPATH" reconcile --at 2023-10-22T03:00:00Z --output json >/dev/null

step "4. The plan inside the first production window (13 Jan 2024, 21:00 UTC): non-production has baked" \
  sendpath reconcile --dry-run --wave prod-2024-01a --at 2024-01-13T21:00:00Z
run "$SENDPATH" reconcile --dry-run --wave prod-2024-01a --at 2024-01-13T21:00:00Z

step "4b. The same moment as one self-contained page: every wave on a time axis, its notice, deadline and groups" \
  sendpath reconcile --dry-run --at 2024-01-13T21:00:00Z --output html ">" .sendpath/schedule.html
page() { "$SENDPATH" reconcile --dry-run --at 2024-01-13T21:00:00Z --output html > .sendpath/schedule.html; }
run page
echo "Wrote .sendpath/schedule.html ($(wc -c < .sendpath/schedule.html) bytes); open it in a browser (docs/schedule.png shows it)"

step "5. Apply inside the production window: freeze, snapshot, switch, verify, resend, unfreeze" \
  sendpath reconcile --wave prod-2024-01a --at 2024-01-13T21:00:00Z
run "$SENDPATH" reconcile --wave prod-2024-01a --at 2024-01-13T21:00:00Z

step "6. The last production window" sendpath reconcile --at 2024-01-27T04:00:00Z
run "$SENDPATH" reconcile --at 2024-01-27T04:00:00Z --output json >/dev/null

step "7. Status: desired, observed and journal side by side" sendpath status
run "$SENDPATH" status

step "8. The simulator's invariants: nothing lost, nothing sent twice, nothing frozen" sendpath simulator check
run "$SENDPATH" simulator check

step "9. Idempotent: reconciling again changes nothing" sendpath reconcile --at 2024-01-27T04:00:00Z
run "$SENDPATH" reconcile --at 2024-01-27T04:00:00Z --output json >/dev/null
run "$SENDPATH" simulator check | grep 'Mutating operations'

step "10. What the tenants received (the SMTP sink's Maildir), and a re-run that sends nothing twice" \
  sendpath notify --wave prod-2024-01a --smtp smtp://127.0.0.1:PORT
[ -n "$sink" ] || exit 0
echo "The sink holds $(cat .sendpath/notices/new/* | grep -c '^Message-ID: ') messages, to: $(cat .sendpath/notices/new/* | grep '^To: ' | sort -u | sed 's/^To: //' | paste -sd ';' -)"
"$SENDPATH" notify --wave prod-2024-01a --smtp "smtp://127.0.0.1:$port" 2> >(grep -v ': warning: ' >&2) | grep -E '^(Delivered|Already|FAILED)'
echo "acme's notice for prod-2024-01a, its text part:"
cat "$(grep -l '^Message-ID: <prod-2024-01a\..*\.acme@' .sendpath/notices/new/*)" | tr -d '\r' |
  awk '/^Subject: /{print; next} /^Content-Type: text\/plain/{p=1;next} p&&/^--sendpath-alt/{exit} p' | sed -n '1,30p'
