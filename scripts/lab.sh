#!/usr/bin/env bash
# The real-daemon lab: 12 Postfix MTAs (6 instances x sites adobe-dc and aws), GoBGP
# speakers for both sites and a route collector, an SMTP sink; loopback only, as root.
# See docs/lab.md.
#
#   scripts/lab.sh deps                  install postfix, gobgpd, python3-aiosmtpd if missing
#   scripts/lab.sh up                    deps, then start the lab in $SENDPATH_LAB_DIR
#   scripts/lab.sh status                what runs; exit 0 only if everything is up
#   scripts/lab.sh backlog INSTANCE N    N held messages in INSTANCE's queue (SENDPATH_LAB_SITE)
#   scripts/lab.sh submit INSTANCE N [SITE]  N ordinary messages to INSTANCE's MTA at SITE
#                                        (default adobe-dc), listed in submitted.jsonl
#   scripts/lab.sh down                  stop everything, remove the folder
#
# Environment: SENDPATH_LAB_DIR (default /tmp/sendpath-lab), SENDPATH_LAB_RELAY=HOST:PORT,
# SENDPATH_LAB_OBSERVER=ADDRESS:ASN (+ SENDPATH_LAB_OBSERVER_PORT, default 179),
# SENDPATH_LAB_SITE=adobe-dc|aws (backlog), SENDPATH_BIN (sendpath binary for validate).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

missing_packages() {
  local missing=()
  command -v postfix >/dev/null 2>&1 && command -v postconf >/dev/null 2>&1 || missing+=(postfix)
  command -v gobgpd >/dev/null 2>&1 && command -v gobgp >/dev/null 2>&1 || missing+=(gobgpd)
  [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
  echo "${missing[*]:-}"
}

# The Debian package may start a system Postfix (on :25, config /etc/postfix). The lab
# never uses it: make sure it is stopped and stays disabled.
quiet_system_postfix() {
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    if systemctl is-active --quiet postfix 2>/dev/null || systemctl is-enabled --quiet postfix 2>/dev/null; then
      echo "lab: stopping and disabling the system postfix service"
      systemctl disable --now postfix >/dev/null 2>&1 || true
    fi
  fi
  if [ -f /etc/postfix/main.cf ] && postfix status >/dev/null 2>&1; then
    echo "lab: stopping the system postfix (/etc/postfix)"
    postfix stop >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 15))
    while postfix status >/dev/null 2>&1; do
      if [ $SECONDS -ge $deadline ]; then echo "lab: error: the system postfix does not stop" >&2; return 1; fi
      sleep 0.1
    done
  fi
  if [ ! -d /run/systemd/system ] && command -v update-rc.d >/dev/null 2>&1 && [ -x /etc/init.d/postfix ]; then
    update-rc.d postfix disable >/dev/null 2>&1 || true
  fi
}

deps() {
  if [ "$(id -u)" != 0 ]; then echo "lab: error: the lab runs as root (Postfix, ports)" >&2; exit 1; fi
  local missing
  missing="$(missing_packages)"
  if [ -n "$missing" ]; then
    echo "lab: installing $missing"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      postfix gobgpd python3-aiosmtpd >/dev/null
    missing="$(missing_packages)"
    if [ -n "$missing" ]; then echo "lab: error: still missing after apt-get: $missing" >&2; exit 1; fi
  fi
  quiet_system_postfix
}

cmd="${1:-}"
case "$cmd" in
  deps)
    [ $# -eq 1 ] || { echo "usage: scripts/lab.sh deps" >&2; exit 2; }
    deps ;;
  up)
    deps
    exec /usr/bin/python3 -B "$here/lab/labctl.py" "$@" ;;
  down|status|backlog|submit)
    exec /usr/bin/python3 -B "$here/lab/labctl.py" "$@" ;;
  *)
    echo "usage: scripts/lab.sh up | down | status | backlog INSTANCE N | submit INSTANCE N [SITE] | deps" >&2
    exit 2 ;;
esac
