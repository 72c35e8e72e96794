#!/usr/bin/python3
"""The real-daemon lab: Postfix MTAs, GoBGP speakers and a collector, an SMTP sink.

Called by scripts/lab.sh (which installs the Debian packages first); see docs/lab.md.

  labctl.py up | down | status | backlog INSTANCE N | submit INSTANCE N [SITE]

Every wait is a poll on a condition with a deadline. Everything runs on loopback.
"""

import concurrent.futures
import datetime
import json
import os
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LAB_DIR = os.path.abspath(os.environ.get("SENDPATH_LAB_DIR") or "/tmp/sendpath-lab")
PYTHON = "/usr/bin/python3"  # the one that can import aiosmtpd

# --- The lab's fixed layout (docs/lab.md has the same table) -----------------------------

BUILD = "7.3.5 build 9368"
GROUPS = [  # (suffix, cidr, tenant)
    ("a", "127.10.1.0/24", "lab-tenant-a"),
    ("b", "127.10.2.0/24", "lab-tenant-b"),
    ("c", "127.10.3.0/24", "lab-tenant-c"),
]
SITE_NAMES = ["adobe-dc", "aws"]
SITES = {
    "adobe-dc": {"octet": 1, "asn": 65001, "address": "127.30.0.1", "port": 1791, "api": 50071,
                 "location": "or1", "infrastructure": "adobe-dc", "nexthop": "192.0.2.1"},
    "aws": {"octet": 2, "asn": 65002, "address": "127.30.0.2", "port": 1792, "api": 50072,
            "location": "us-east-1", "infrastructure": "aws", "nexthop": "192.0.2.2"},
}
COLLECTOR = {"asn": 65100, "address": "127.30.0.3", "port": 1793, "api": 50073}
SINK_HOST, SINK_PORT = "127.40.0.1", 2525
SUBMIT_PORT = 2525  # smtpd, normal submission
HOLD_PORT = 2526    # smtpd whose cleanup holds everything (used by `backlog`)
API_HOST = "127.0.0.1"


def instances():
    """[(name, index 1..6, group suffix, cidr, tenant, sending IP)]"""
    result = []
    index = 0
    for suffix, cidr, tenant in GROUPS:
        base = cidr.split("/")[0].rsplit(".", 1)[0]
        for member in (1, 2):
            index += 1
            result.append((f"lab-{suffix}{member}", index, suffix, cidr, tenant, f"{base}.{10 + member}"))
    return result


INSTANCES = instances()
INSTANCE_NAMES = [i[0] for i in INSTANCES]


def mta_dir(name, site):
    return os.path.join(LAB_DIR, "mta", name, site)


def spool_dir(name, site):
    """Queue, data directory and maillog of an MTA: outside its config directory, which
    postfix-script wants owned by root throughout (else a warning per queue folder)."""
    return os.path.join(LAB_DIR, "spool", name, site)


def master_pidfile(name, site):
    """Where the MTA's master writes its pid: under the queue_directory its main.cf names."""
    queue = os.path.join(spool_dir(name, site), "queue")
    try:
        with open(os.path.join(mta_dir(name, site), "main.cf")) as handle:
            for line in handle:
                key, sep, value = line.partition("=")
                if sep and key.strip() == "queue_directory":
                    queue = value.strip()
    except OSError:
        pass
    return os.path.join(queue, "pid", "master.pid")


def submit_host(index, site):
    return f"127.20.{index}.{SITES[site]['octet']}"


def helo(name, site):
    return f"{name}.{site}.lab.invalid"


def paths():
    return {
        "manifests": os.path.join(LAB_DIR, "manifests"),
        "provider": os.path.join(LAB_DIR, "provider.yaml"),
        "providerState": os.path.join(LAB_DIR, "provider"),
        "lab": os.path.join(LAB_DIR, "lab.json"),
        "run": os.path.join(LAB_DIR, "run"),
        "bgp": os.path.join(LAB_DIR, "bgp"),
        "backlog": os.path.join(LAB_DIR, "backlog.jsonl"),
        "deliveries": os.path.join(LAB_DIR, "deliveries.jsonl"),
        "routes": os.path.join(LAB_DIR, "routes.jsonl"),
        "submitted": os.path.join(LAB_DIR, "submitted.jsonl"),
    }


# --- Small helpers -----------------------------------------------------------------------

class LabError(Exception):
    pass


def say(message):
    print(f"lab: {message}", flush=True)


def rfc3339(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_until(condition, timeout, what, interval=0.05):
    """Poll condition() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)


def run(argv, check=True, timeout=30, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` exited {result.returncode}: {(result.stderr or result.stdout).strip()}")
    return result


def proc_stat(pid):
    """(state, session id) of a live process, or None (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[0], int(fields[3])


def session_members(sid):
    """Live processes of session sid (the daemons we start are session leaders)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat and stat[1] == sid:
                members.append(int(entry))
    return members


def listeners():
    """Set of (ip, port) in LISTEN state, from /proc/net/tcp."""
    found = set()
    try:
        with open("/proc/net/tcp") as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                if fields[3] != "0A":
                    continue
                address, port = fields[1].split(":")
                raw = bytes.fromhex(address)[::-1]
                found.add((socket.inet_ntoa(raw), int(port, 16)))
    except OSError:
        pass
    return found


def is_listening(host, port, current=None):
    current = listeners() if current is None else current
    return (host, port) in current


def busy(host, port, current):
    return (host, port) in current or ("0.0.0.0", port) in current


def read_pidfile(path):
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def write_file(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def backdate(*files):
    """Set mtimes 5 s in the past. Every Postfix program (postfix, postconf, postqueue,
    sendmail...) waits until main.cf is about 2 s old before it reads it (0.3 s polls, to
    avoid reading a file mid-edit): without this, `postfix start` of a fresh config takes
    2 s more."""
    moment = time.time() - 5
    for path in files:
        os.utime(path, (moment, moment))


def spawn(name, argv, log):
    """Start a daemon in its own session; record its pid in run/NAME.pid."""
    out = open(log, "ab")
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True, close_fds=True)
    out.close()
    write_file(os.path.join(paths()["run"], f"{name}.pid"), f"{process.pid}\n")
    return process.pid


def relay():
    value = os.environ.get("SENDPATH_LAB_RELAY", "").strip()
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise LabError(f"SENDPATH_LAB_RELAY={value!r}: expected HOST:PORT, e.g. 127.41.0.1:2525")
    return host.strip("[]"), int(port)


def observer():
    value = os.environ.get("SENDPATH_LAB_OBSERVER", "").strip()
    if not value:
        return None
    address, sep, asn = value.rpartition(":")
    try:
        socket.inet_aton(address)
        asn = int(asn)
    except (OSError, ValueError):
        raise LabError(f"SENDPATH_LAB_OBSERVER={value!r}: expected IPV4ADDRESS:ASN, e.g. 127.31.0.1:65200")
    port = os.environ.get("SENDPATH_LAB_OBSERVER_PORT", "179")
    if not port.isdigit():
        raise LabError(f"SENDPATH_LAB_OBSERVER_PORT={port!r}: expected a port number")
    return {"address": address, "asn": asn, "port": int(port)}


# --- Generated files ---------------------------------------------------------------------

def manifests_yaml(now):
    start = rfc3339(now - datetime.timedelta(hours=1))
    end = rfc3339(now + datetime.timedelta(hours=6))
    notice = rfc3339(now - datetime.timedelta(days=31))
    docs = [f"""# The lab fleet, generated by scripts/lab.sh up at {rfc3339(now)}.
# 6 instances in 3 cut-over groups (one shared /24 per pair), one wave whose window is
# open now (start = up - 1h, end = up + 6h) and whose notice went out 31 days ago.
# Loopback space: `sendpath validate` warns that it is not publicly routable; that is
# expected in a lab.
apiVersion: sendpath/v1
kind: Wave
metadata:
  name: lab-wave
  labels: {{lab: sendpath}}
spec:
  window:
    start: "{start}"
    end: "{end}"
  maxParallel: 3
  notice:
    sentAt: "{notice}"
"""]
    for suffix, cidr, tenant in GROUPS:
        docs.append(f"""apiVersion: sendpath/v1
kind: AddressPrefix
metadata:
  name: lab-pfx-{suffix}
  labels: {{lab: sendpath, tenant: {tenant}}}
spec:
  cidr: {cidr}
  awsRegion: us-east-1
""")
    for name, index, suffix, cidr, tenant, ip in INSTANCES:
        docs.append(f"""apiVersion: sendpath/v1
kind: Instance
metadata:
  name: {name}
  labels: {{lab: sendpath, tenant: {tenant}}}
spec:
  tenant: {tenant}
  product: campaign-classic-v7
  hosting: managed-services
  environment: prod
  build: "{BUILD}"
  sendingIPs: [{ip}]
  sendingPath: {{infrastructure: aws, location: us-east-1}}
  wave: lab-wave
""")
    return "---\n".join(docs)


MASTER_CF = """# master.cf of a sendpath lab MTA (written by scripts/lab.sh). No chroot (column 5 = n).
# service type  private unpriv  chroot  wakeup  maxproc command + args
{submit} inet n       -       n       -       -       smtpd
# `scripts/lab.sh backlog` submits here: its own cleanup holds every message it accepts.
{hold} inet n       -       n       -       -       smtpd
  -o cleanup_service_name=holdcleanup
holdcleanup unix n      -       n       -       0       cleanup
  -o header_checks=static:HOLD
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def main_cf(name, index, site, ip, relay_to):
    directory = mta_dir(name, site)
    spool = spool_dir(name, site)
    frozen = site == "aws"
    return f"""# main.cf of the sendpath lab MTA {name} at {site} (written by scripts/lab.sh up).
compatibility_level = 3.6
config_directory = {directory}
queue_directory = {spool}/queue
data_directory = {spool}/data
maillog_file = {spool}/maillog
maillog_file_prefixes = {LAB_DIR}
myhostname = {name}-{site}.lab.invalid
mydomain = lab.invalid
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery in the sendpath lab
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [{relay_to[0]}]:{relay_to[1]}
default_transport = smtp
# Send from the instance's sending IP, and fail rather than use another address.
smtp_bind_address = {ip}
smtp_bind_address_enforce = yes
smtp_helo_name = {helo(name, site)}
smtp_tls_security_level = none
smtpd_tls_security_level = none
# Frozen (static:HOLD: everything accepted goes to the hold queue) or not (empty).
header_checks = {"static:HOLD" if frozen else ""}
# Short retry timings so the lab is quick; nothing expires during a lab run.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
maximal_queue_lifetime = 30d
bounce_queue_lifetime = 30d
delay_warning_time = 0h
biff = no
"""


def speaker_toml(site, watcher):
    info = SITES[site]
    neighbors = [dict(address=COLLECTOR["address"], asn=COLLECTOR["asn"], port=COLLECTOR["port"],
                      description="lab collector")]
    if watcher:
        neighbors.append(dict(address=watcher["address"], asn=watcher["asn"], port=watcher["port"],
                              description="outside observer (SENDPATH_LAB_OBSERVER)"))
    text = f"""# GoBGP speaker of site {site} (written by scripts/lab.sh up).
[global.config]
  as = {info['asn']}
  router-id = "{info['address']}"
  port = {info['port']}
  local-address-list = ["{info['address']}"]
[global.apply-policy.config]
  # GoBGP refuses loopback next hops: every route leaves with a documentation next hop.
  export-policy-list = ["lab-next-hop"]
  default-export-policy = "accept-route"
"""
    for neighbor in neighbors:
        text += f"""
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{neighbor['address']}"
    peer-as = {neighbor['asn']}
    description = "{neighbor['description']}"
  [neighbors.timers.config]
    connect-retry = 1
  [neighbors.transport.config]
    local-address = "{info['address']}"
    remote-port = {neighbor['port']}
"""
    text += f"""
[[policy-definitions]]
  name = "lab-next-hop"
  [[policy-definitions.statements]]
    name = "documentation-next-hop"
    [policy-definitions.statements.actions]
      route-disposition = "accept-route"
    [policy-definitions.statements.actions.bgp-actions]
      set-next-hop = "{info['nexthop']}"
"""
    return text


def collector_toml():
    text = f"""# GoBGP route collector (written by scripts/lab.sh up). It only listens and learns:
# it exports nothing (default-export-policy = reject-route).
[global.config]
  as = {COLLECTOR['asn']}
  router-id = "{COLLECTOR['address']}"
  port = {COLLECTOR['port']}
  local-address-list = ["{COLLECTOR['address']}"]
[global.apply-policy.config]
  default-export-policy = "reject-route"
"""
    for site in SITE_NAMES:
        info = SITES[site]
        text += f"""
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{info['address']}"
    peer-as = {info['asn']}
    description = "speaker {site}"
  [neighbors.transport.config]
    local-address = "{COLLECTOR['address']}"
    passive-mode = true
"""
    return text


def provider_yaml():
    p = paths()
    lines = [
        "# sendpath postfix-bgp provider configuration (written by scripts/lab.sh)",
        f"stateDirectory: {p['providerState']}",
        "commandTimeout: 15s",
        "routeTimeout: 30s",
        "collector:",
        f"  api: {API_HOST}:{COLLECTOR['api']}",
        "sites:",
    ]
    for site in SITE_NAMES:
        info = SITES[site]
        lines += [f"  {site}:", f"    location: {info['location']}",
                  f"    bgp: {{api: {API_HOST}:{info['api']}, asn: {info['asn']}}}"]
    lines.append("instances:")
    for name, *_ in INSTANCES:
        lines += [f"  {name}:", "    mta:"]
        for site in SITE_NAMES:
            lines.append(f"      {site}: {mta_dir(name, site)}")
    return "\n".join(lines) + "\n"


def lab_json(relay_to, watcher):
    p = paths()
    doc = {
        "manifests": p["manifests"],
        "provider": f"postfix-bgp:{p['provider']}",
        "instances": {},
        "bgp": {site: {"address": SITES[site]["address"], "asn": SITES[site]["asn"]} for site in SITE_NAMES},
        "files": {"backlog": p["backlog"], "deliveries": p["deliveries"], "routes": p["routes"],
                  "submitted": p["submitted"]},
        # Extra keys (not in SPEC section 5), for scripts and people:
        "labDirectory": LAB_DIR,
        "prefixes": {f"lab-pfx-{suffix}": {"cidr": cidr, "instances": [i[0] for i in INSTANCES if i[2] == suffix]}
                     for suffix, cidr, _ in GROUPS},
        "mta": {},
        "speakers": {site: {"api": f"{API_HOST}:{SITES[site]['api']}",
                            "listen": f"{SITES[site]['address']}:{SITES[site]['port']}",
                            "nextHop": SITES[site]["nexthop"]} for site in SITE_NAMES},
        "collector": {"api": f"{API_HOST}:{COLLECTOR['api']}", "address": COLLECTOR["address"],
                      "listen": f"{COLLECTOR['address']}:{COLLECTOR['port']}", "asn": COLLECTOR["asn"]},
        "sink": {"listen": None if relay_to else f"{SINK_HOST}:{SINK_PORT}",
                 "relay": f"{relay_to[0]}:{relay_to[1]}" if relay_to else None},
        "observer": watcher,
    }
    for name, index, suffix, cidr, tenant, ip in INSTANCES:
        doc["instances"][name] = {
            "sendingIPs": [ip],
            "sites": {site: {"submit": f"{submit_host(index, site)}:{SUBMIT_PORT}", "helo": helo(name, site)}
                      for site in SITE_NAMES},
        }
        doc["mta"][name] = {site: {"configDirectory": mta_dir(name, site),
                                   "holdSubmit": f"{submit_host(index, site)}:{HOLD_PORT}",
                                   "queueDirectory": os.path.join(spool_dir(name, site), "queue"),
                                   "maillog": os.path.join(spool_dir(name, site), "maillog"),
                                   "frozenAtStart": site == "aws"} for site in SITE_NAMES}
    return doc


# --- Processes ---------------------------------------------------------------------------

def daemon_pids():
    """{label: pid} of every daemon a lab in LAB_DIR started (alive or not)."""
    found = {}
    run_dir = paths()["run"]
    if os.path.isdir(run_dir):
        for entry in sorted(os.listdir(run_dir)):
            if entry.endswith(".pid"):
                pid = read_pidfile(os.path.join(run_dir, entry))
                if pid:
                    found[entry[:-4]] = pid
    for name in INSTANCE_NAMES:
        for site in SITE_NAMES:
            pid = read_pidfile(master_pidfile(name, site))
            if pid:
                found[f"postfix {name}/{site}"] = pid
    return found


def alive_daemons():
    return {label: pid for label, pid in daemon_pids().items() if session_members(pid)}


def endpoints(relay_to):
    """Every (host, port, what) the lab listens on."""
    result = []
    for name, index, *_ in INSTANCES:
        for site in SITE_NAMES:
            host = submit_host(index, site)
            result.append((host, SUBMIT_PORT, f"MTA {name}/{site} submit"))
            result.append((host, HOLD_PORT, f"MTA {name}/{site} hold-submit"))
    for site in SITE_NAMES:
        result.append((SITES[site]["address"], SITES[site]["port"], f"BGP speaker {site}"))
        result.append((API_HOST, SITES[site]["api"], f"gobgpd API {site}"))
    result.append((COLLECTOR["address"], COLLECTOR["port"], "BGP collector"))
    result.append((API_HOST, COLLECTOR["api"], "gobgpd API collector"))
    if not relay_to:
        result.append((SINK_HOST, SINK_PORT, "SMTP sink"))
    return result


def gobgp(port, *words, check=True, timeout=10):
    return run(["gobgp", "-u", API_HOST, "-p", str(port), *words], check=check, timeout=timeout)


def neighbor_states(port):
    """{neighbor address: session_state int}, or None if the API does not answer."""
    try:
        result = gobgp(port, "-j", "neighbor", check=False, timeout=5)
        if result.returncode != 0:
            return None
        return {n["state"]["neighbor_address"]: n["state"].get("session_state", 0)
                for n in json.loads(result.stdout or "[]")}
    except (subprocess.TimeoutExpired, ValueError, KeyError):
        return None


STATE_NAMES = {0: "UNKNOWN", 1: "IDLE", 2: "CONNECT", 3: "ACTIVE", 4: "OPENSENT", 5: "OPENCONFIRM",
               6: "ESTABLISHED"}


def collector_paths():
    """{(prefix, originAS)} the collector holds (every path, not only the best)."""
    result = gobgp(COLLECTOR["api"], "-j", "global", "rib", "-a", "ipv4", check=False, timeout=5)
    if result.returncode != 0:
        return None
    held = set()
    for prefix, routes in (json.loads(result.stdout or "{}") or {}).items():
        for route in routes:
            asns = [a for attr in route.get("attrs", []) if attr.get("type") == 2
                    for seg in attr.get("as_paths", []) for a in seg.get("asns", [])]
            held.add((prefix, asns[-1] if asns else None))
    return held


def postfix_start(name, site):
    directory = mta_dir(name, site)
    spool = spool_dir(name, site)
    result = run(["postfix", "-c", directory, "start"], check=False, timeout=30)
    if result.returncode != 0:
        log = os.path.join(spool, "maillog")
        tail = ""
        if os.path.exists(log):
            with open(log, errors="replace") as handle:
                tail = "".join(handle.readlines()[-5:])
        raise LabError(f"postfix -c {directory} start exited {result.returncode}:\n{tail}")


def stop_all():
    """Stop every daemon of the lab in LAB_DIR and wait until all are gone."""
    pids = daemon_pids()
    postfix_mtas = [(n, s) for n in INSTANCE_NAMES for s in SITE_NAMES if os.path.exists(master_pidfile(n, s))]

    def stop_postfix(mta):
        pid = read_pidfile(master_pidfile(*mta))
        if pid and session_members(pid):
            run(["postfix", "-c", mta_dir(*mta), "stop"], check=False, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(stop_postfix, postfix_mtas))
    for label, pid in pids.items():
        if not label.startswith("postfix ") and session_members(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def remaining():
        return {label: pid for label, pid in pids.items() if session_members(pid)}

    try:
        wait_until(lambda: not remaining(), 20, "the lab's processes to exit")
    except LabError:
        left = remaining()
        say(f"still running after 20s, killing: {', '.join(f'{k} ({v})' for k, v in left.items())}")
        for pid in left.values():
            for member in session_members(pid):
                try:
                    os.kill(member, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        wait_until(lambda: not remaining(), 10, "the killed processes to go")
    # Children of a session leader may outlive it for a moment (postfix services).
    wait_until(lambda: not any(session_members(pid) for pid in pids.values()), 10,
               "every process of the lab to exit")
    ports = [(h, p) for h, p, _ in endpoints(None)]
    wait_until(lambda: not any(is_listening(h, p, cur) for cur in [listeners()] for h, p in ports), 10,
               "the lab's ports to be released")


# --- Commands ----------------------------------------------------------------------------

def cmd_up():
    started = time.monotonic()
    p = paths()
    relay_to = relay()
    watcher = observer()
    if os.path.exists(LAB_DIR):
        running = alive_daemons()
        if running:
            raise LabError(f"a lab is already running in {LAB_DIR} ({', '.join(sorted(running))}); "
                           f"run `scripts/lab.sh down` first (or set SENDPATH_LAB_DIR)")
        if not (os.path.exists(p["lab"]) or os.path.isdir(p["run"]) or os.path.isdir(os.path.join(LAB_DIR, "mta"))):
            if os.listdir(LAB_DIR):
                raise LabError(f"{LAB_DIR} exists and is not a lab folder; remove it or set SENDPATH_LAB_DIR")
        say(f"removing the stale lab folder {LAB_DIR} (nothing of it runs)")
        shutil.rmtree(LAB_DIR)
    current = listeners()
    taken = [f"{h}:{port} ({what})" for h, port, what in endpoints(relay_to) if busy(h, port, current)]
    if taken:
        shown = "; ".join(taken[:6]) + (f"; and {len(taken) - 6} more" if len(taken) > 6 else "")
        raise LabError(f"{len(taken)} of the lab's ports are in use (another lab, or another program), "
                       f"not starting: {shown}")

    os.makedirs(LAB_DIR, mode=0o755)
    os.chmod(LAB_DIR, 0o755)  # Postfix's daemons (user postfix) read below it
    for d in (p["run"], p["bgp"], p["manifests"]):
        os.makedirs(d, exist_ok=True)
    for f in (p["backlog"], p["deliveries"], p["routes"], p["submitted"]):
        write_file(f, "")
    try:
        start_everything(relay_to, watcher)
    except BaseException:
        say("up failed; stopping what was started (logs stay in the folder until the next up or down)")
        try:
            stop_all()
        except LabError as error:
            say(f"while stopping: {error}")
        raise
    say(f"up in {time.monotonic() - started:.1f}s: {p['lab']}")


def start_everything(relay_to, watcher):
    p = paths()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    # BGP first: sessions take seconds to come up, the MTAs start meanwhile.
    write_file(os.path.join(p["bgp"], "collector.toml"), collector_toml())
    for site in SITE_NAMES:
        write_file(os.path.join(p["bgp"], f"{site}.toml"), speaker_toml(site, watcher))

    def gobgpd(label, port):
        spawn(label, ["gobgpd", "-f", os.path.join(p["bgp"], f"{label}.toml"), "-t", "toml",
                      "--api-hosts", f"{API_HOST}:{port}", "--pprof-disable"],
              os.path.join(p["bgp"], f"{label}.log"))

    gobgpd("collector", COLLECTOR["api"])
    wait_until(lambda: neighbor_states(COLLECTOR["api"]) is not None, 15, "the collector's API")
    spawn("routelog", [PYTHON, "-B", os.path.join(HERE, "routelog.py"), "--api", f"{API_HOST}:{COLLECTOR['api']}",
                       "--out", p["routes"], "--ready", os.path.join(p["run"], "routelog.ready"),
                       *[f"--neighbor={SITES[s]['address']}={SITES[s]['asn']}" for s in SITE_NAMES]],
          os.path.join(LAB_DIR, "routelog.log"))
    for site in SITE_NAMES:
        gobgpd(site, SITES[site]["api"])

    # Manifests.
    write_file(os.path.join(p["manifests"], "lab-fleet.yaml"), manifests_yaml(now))

    # Check the manifests with the project's own validator, if it is built.
    binary = os.environ.get("SENDPATH_BIN") or os.path.join(REPO, ".build", "debug", "sendpath")
    if os.access(binary, os.X_OK):
        result = run([binary, "validate", p["manifests"]], check=False, timeout=60)
        if result.returncode != 0:
            raise LabError(f"the generated manifests do not validate ({binary} exited {result.returncode}):\n"
                           f"{result.stderr.strip()}")
    else:
        say(f"note: {binary} not built; the generated manifests were not validated")

    # Sink.
    if not relay_to:
        spawn("sink", [PYTHON, "-B", os.path.join(HERE, "sink.py"), "--listen", f"{SINK_HOST}:{SINK_PORT}",
                       "--out", p["deliveries"]], os.path.join(LAB_DIR, "sink.log"))
    target = relay_to or (SINK_HOST, SINK_PORT)

    # MTAs.
    for name, index, suffix, cidr, tenant, ip in INSTANCES:
        for site in SITE_NAMES:
            directory = mta_dir(name, site)
            host = submit_host(index, site)
            write_file(os.path.join(directory, "main.cf"), main_cf(name, index, site, ip, target))
            write_file(os.path.join(directory, "master.cf"),
                       MASTER_CF.format(submit=f"{host}:{SUBMIT_PORT}", hold=f"{host}:{HOLD_PORT}"))
            write_file(os.path.join(directory, "sendpath-build"), BUILD + "\n")
            backdate(os.path.join(directory, "main.cf"), os.path.join(directory, "master.cf"))
            spool = spool_dir(name, site)
            os.makedirs(os.path.join(spool, "queue"), exist_ok=True)  # root's; postfix fills it
            os.makedirs(os.path.join(spool, "data"), exist_ok=True)
            shutil.chown(os.path.join(spool, "data"), user="postfix")
            # Owned by postfix: with the master down (no postlogd), postsuper logs to the
            # file itself after dropping to the postfix user, and exits 1 if it cannot.
            write_file(os.path.join(spool, "maillog"), "")
            shutil.chown(os.path.join(spool, "maillog"), user="postfix")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda pair: postfix_start(*pair), [(n, s) for n in INSTANCE_NAMES for s in SITE_NAMES]))
    wanted = [(h, port) for h, port, what in endpoints(relay_to) if "MTA" in what or "sink" in what]
    wait_until(lambda: all(is_listening(h, port, cur) for cur in [listeners()] for h, port in wanted), 20,
               "every MTA and the sink to listen")

    # The route log must follow the collector before anything is announced.
    wait_until(lambda: os.path.exists(os.path.join(p["run"], "routelog.ready")), 15, "the route log")

    def established():
        states = neighbor_states(COLLECTOR["api"]) or {}
        return all(states.get(SITES[s]["address"]) == 6 for s in SITE_NAMES)

    t0 = time.monotonic()
    wait_until(established, 45, "both speakers' sessions with the collector to be Established", interval=0.2)
    say(f"BGP sessions Established ({time.monotonic() - t0:.1f}s after the MTAs were up)")

    # Starting state: every lab prefix is advertised from the data center.
    for _, cidr, _ in GROUPS:
        gobgp(SITES["adobe-dc"]["api"], "global", "rib", "add", "-a", "ipv4", cidr, "origin", "igp")
    want = {(cidr, SITES["adobe-dc"]["asn"]) for _, cidr, _ in GROUPS}
    wait_until(lambda: want <= (collector_paths() or set()), 15, "the collector to learn the lab prefixes")

    def logged():
        with open(p["routes"]) as handle:
            seen = {(r["prefix"], r["originAS"]) for r in map(json.loads, filter(str.strip, handle))
                    if not r["withdrawal"]}
        return want <= seen
    wait_until(logged, 10, "routes.jsonl to record the announcements")

    write_file(p["provider"], provider_yaml())
    write_file(p["lab"], json.dumps(lab_json(relay_to, watcher), indent=2) + "\n")


def cmd_down():
    if not os.path.exists(LAB_DIR):
        say(f"no lab in {LAB_DIR}; nothing to stop")
        return 0
    if not (os.path.exists(paths()["lab"]) or os.path.isdir(paths()["run"]) or os.path.isdir(os.path.join(LAB_DIR, "mta"))):
        raise LabError(f"{LAB_DIR} is not a lab folder; not touching it")
    started = time.monotonic()
    stop_all()
    shutil.rmtree(LAB_DIR)
    say(f"down in {time.monotonic() - started:.1f}s; removed {LAB_DIR}")
    return 0


def queue_summary(directory):
    result = run(["postqueue", "-c", directory, "-j"], check=False, timeout=15)
    if result.returncode != 0:
        return None
    counts = {}
    for line in result.stdout.splitlines():
        if line.strip():
            queue = json.loads(line)["queue_name"]
            counts[queue] = counts.get(queue, 0) + 1
    return counts


def cmd_status():
    p = paths()
    if not os.path.exists(p["lab"]):
        print(f"no lab is up in {LAB_DIR} (no lab.json)")
        return 1
    with open(p["lab"]) as handle:
        lab = json.load(handle)
    ok = True
    pids = daemon_pids()
    current = listeners()
    print(f"lab {LAB_DIR}")
    print("MTAs (site: state, header_checks, queue):")
    for name, index, *_ in INSTANCES:
        for site in SITE_NAMES:
            directory = mta_dir(name, site)
            pid = pids.get(f"postfix {name}/{site}")
            up = bool(pid and session_members(pid)) and is_listening(submit_host(index, site), SUBMIT_PORT, current)
            ok &= up
            checks = run(["postconf", "-c", directory, "-h", "header_checks"], check=False).stdout.strip() if up else "-"
            queue = queue_summary(directory) if up else None
            queue_text = ", ".join(f"{k} {v}" for k, v in sorted(queue.items())) if queue else "empty"
            print(f"  {name:7} {site:8} {'running' if up else 'DOWN':8} pid {pid or '-':<7} "
                  f"{submit_host(index, site)}:{SUBMIT_PORT}  header_checks={checks or '(none)'}  "
                  f"queue: {queue_text if up else '-'}")
    print("BGP:")
    for label, port in [(s, SITES[s]["api"]) for s in SITE_NAMES] + [("collector", COLLECTOR["api"])]:
        pid = pids.get(label)
        states = neighbor_states(port) if pid and session_members(pid) else None
        if states is None:
            ok = False
            print(f"  {label:9} DOWN (api {API_HOST}:{port})")
            continue
        sessions = ", ".join(f"{addr} {STATE_NAMES.get(st, st)}" for addr, st in sorted(states.items()))
        watcher = lab.get("observer") or {}
        for addr, st in states.items():
            if st != 6 and addr != watcher.get("address"):
                ok = False
        rib = gobgp(port, "-j", "global", "rib", "-a", "ipv4", check=False, timeout=5)
        try:
            prefixes = sorted(json.loads(rib.stdout or "{}").keys())
        except ValueError:
            prefixes = ["?"]
        what = "holds" if label == "collector" else "announces"
        print(f"  {label:9} running pid {pid} api {API_HOST}:{port}; sessions: {sessions or 'none'}; "
              f"{what}: {' '.join(prefixes) or 'nothing'}")
    held = collector_paths() or set()
    for prefix, asn in sorted(held, key=lambda x: (x[0], x[1] or 0)):
        site = next((s for s in SITE_NAMES if SITES[s]["asn"] == asn), f"AS{asn}")
        print(f"    collector path {prefix} from AS{asn} ({site})")
    routelog = pids.get("routelog")
    routelog_up = bool(routelog and session_members(routelog))
    ok &= routelog_up
    print(f"route log: {'running' if routelog_up else 'DOWN'} pid {routelog or '-'} -> {p['routes']}")
    if lab.get("sink", {}).get("relay"):
        print(f"sink: none (MTAs relay to {lab['sink']['relay']}, SENDPATH_LAB_RELAY)")
    else:
        sink = pids.get("sink")
        sink_up = bool(sink and session_members(sink)) and is_listening(SINK_HOST, SINK_PORT, current)
        ok &= sink_up
        print(f"sink: {'running' if sink_up else 'DOWN'} pid {sink or '-'} {SINK_HOST}:{SINK_PORT} -> {p['deliveries']}")
    for key in ("backlog", "submitted", "deliveries", "routes"):
        try:
            with open(p[key]) as handle:
                count = sum(1 for line in handle if line.strip())
        except OSError:
            count = "missing"
        print(f"  {key}.jsonl: {count} lines")
    print("all up" if ok else "NOT all up")
    return 0 if ok else 1


def cmd_backlog(name, count):
    p = paths()
    if name not in INSTANCE_NAMES:
        raise LabError(f"unknown instance {name!r}; the lab has {', '.join(INSTANCE_NAMES)}")
    if count < 0:
        raise LabError("N must be 0 or more")
    site = os.environ.get("SENDPATH_LAB_SITE", "adobe-dc")
    if site not in SITE_NAMES:
        raise LabError(f"SENDPATH_LAB_SITE={site!r}: expected one of {', '.join(SITE_NAMES)}")
    if not os.path.exists(p["lab"]):
        raise LabError(f"no lab is up in {LAB_DIR}; run `scripts/lab.sh up` first")
    index = INSTANCE_NAMES.index(name) + 1
    host = submit_host(index, site)
    directory = mta_dir(name, site)
    started = time.monotonic()
    run_token = secrets.token_hex(4)
    messages = [(f"<backlog-{name}-{i}-{run_token}{secrets.token_hex(4)}@lab.invalid>", i) for i in range(1, count + 1)]

    def submit(batch):
        queued = []
        with smtplib.SMTP(host, HOLD_PORT, local_hostname="backlog.lab.invalid", timeout=30) as smtp:
            smtp.ehlo()
            for message_id, i in batch:
                sender = f"backlog@{name}.lab.invalid"
                rcpt = f"customer-{i}@recipients.lab.invalid"
                body = (f"From: {name} backlog <{sender}>\r\nTo: <{rcpt}>\r\n"
                        f"Subject: sendpath lab backlog {i} of {count} for {name}\r\n"
                        f"Date: {email_date()}\r\nMessage-ID: {message_id}\r\n"
                        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
                        f"Backlog message {i} of {count}, queued at {site} before the cut-over.\r\n")
                code, reply = smtp.mail(sender)
                if code != 250:
                    raise LabError(f"MAIL FROM refused by {host}:{HOLD_PORT}: {code} {reply!r}")
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise LabError(f"RCPT TO refused by {host}:{HOLD_PORT}: {code} {reply!r}")
                code, reply = smtp.data(body.encode())
                if code != 250:
                    raise LabError(f"DATA refused by {host}:{HOLD_PORT}: {code} {reply!r}")
                text = reply.decode(errors="replace")
                queued.append((message_id, text.rsplit(" ", 1)[-1]))
        return queued

    workers = max(1, min(4, count // 25 or 1))
    batches = [messages[k::workers] for k in range(workers)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        queued = [item for result in pool.map(submit, batches) for item in result]
    queued.sort(key=lambda item: int(item[0].split("-")[-2]))  # by message number
    ids = {queue_id for _, queue_id in queued}

    def all_held():
        result = run(["postqueue", "-c", directory, "-j"], check=False, timeout=15)
        held = {json.loads(line)["queue_id"] for line in result.stdout.splitlines()
                if line.strip() and json.loads(line)["queue_name"] == "hold"}
        return ids <= held
    wait_until(all_held, 15, f"the {count} messages to be in {name}/{site}'s hold queue")
    with open(p["backlog"], "a") as handle:
        for message_id, _ in queued:
            handle.write(json.dumps({"instance": name, "messageId": message_id}, separators=(", ", ": ")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    say(f"{count} messages queued on hold at {name}/{site} ({host}:{HOLD_PORT}) in "
        f"{time.monotonic() - started:.1f}s; listed in {p['backlog']}")
    return 0


def cmd_submit(name, count, site):
    """N ordinary messages (not held: the MTA delivers them, or holds them only if it is
    frozen) over one SMTP session to the submit port of NAME's MTA at SITE. Each accepted
    message is appended to submitted.jsonl at once (one write on an O_APPEND descriptor, so
    concurrent submits never interleave lines), fsync'd at the end."""
    p = paths()
    if name not in INSTANCE_NAMES:
        raise LabError(f"unknown instance {name!r}; the lab has {', '.join(INSTANCE_NAMES)}")
    if count < 0:
        raise LabError("N must be 0 or more")
    if site not in SITE_NAMES:
        raise LabError(f"unknown site {site!r}; expected one of {', '.join(SITE_NAMES)}")
    if not os.path.exists(p["lab"]):
        raise LabError(f"no lab is up in {LAB_DIR}; run `scripts/lab.sh up` first")
    index = INSTANCE_NAMES.index(name) + 1
    host = submit_host(index, site)
    started = time.monotonic()
    run_token = secrets.token_hex(4)
    sender = f"submit@{name}.lab.invalid"
    fd = os.open(p["submitted"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    accepted = 0
    try:
        with smtplib.SMTP(host, SUBMIT_PORT, local_hostname="submit.lab.invalid", timeout=30) as smtp:
            smtp.ehlo()
            for i in range(1, count + 1):
                message_id = f"<submit-{name}-{i}-{run_token}{secrets.token_hex(4)}@lab.invalid>"
                rcpt = f"subscriber-{i}@recipients.lab.invalid"
                body = (f"From: {name} <{sender}>\r\nTo: <{rcpt}>\r\n"
                        f"Subject: sendpath lab message {i} of {count} for {name}\r\n"
                        f"Date: {email_date()}\r\nMessage-ID: {message_id}\r\n"
                        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
                        f"Message {i} of {count}, submitted to {name} at {site}.\r\n")
                code, reply = smtp.mail(sender)
                if code != 250:
                    raise LabError(f"MAIL FROM refused by {host}:{SUBMIT_PORT}: {code} {reply!r}")
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise LabError(f"RCPT TO refused by {host}:{SUBMIT_PORT}: {code} {reply!r}")
                code, reply = smtp.data(body.encode())
                if code != 250:
                    raise LabError(f"DATA refused by {host}:{SUBMIT_PORT}: {code} {reply!r}")
                moment = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                line = json.dumps({"instance": name, "messageId": message_id, "site": site, "time": moment},
                                  separators=(", ", ": ")) + "\n"
                os.write(fd, line.encode())
                accepted += 1
    except (OSError, smtplib.SMTPException) as error:
        raise LabError(f"submitting to {host}:{SUBMIT_PORT} after {accepted} of {count} messages: {error}")
    finally:
        os.fsync(fd)
        os.close(fd)
    elapsed = time.monotonic() - started
    say(f"{count} messages submitted to {name}/{site} ({host}:{SUBMIT_PORT}) in {elapsed:.2f}s; "
        f"listed in {p['submitted']}")
    return 0


def email_date():
    import email.utils
    return email.utils.formatdate(localtime=False)


def main(argv):
    usage = "usage: scripts/lab.sh up | down | status | backlog INSTANCE N | submit INSTANCE N [SITE] | deps"
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "up" and len(argv) == 1:
            cmd_up()
            return 0
        if argv[0] == "down" and len(argv) == 1:
            return cmd_down()
        if argv[0] == "status" and len(argv) == 1:
            return cmd_status()
        if argv[0] == "backlog" and len(argv) == 3:
            try:
                count = int(argv[2])
            except ValueError:
                raise LabError(f"N must be a whole number, not {argv[2]!r}")
            return cmd_backlog(argv[1], count)
        if argv[0] == "submit" and len(argv) in (3, 4):
            try:
                count = int(argv[2])
            except ValueError:
                raise LabError(f"N must be a whole number, not {argv[2]!r}")
            return cmd_submit(argv[1], count, argv[3] if len(argv) == 4 else "adobe-dc")
        print(usage, file=sys.stderr)
        return 2
    except LabError as error:
        print(f"lab: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
