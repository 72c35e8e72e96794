#!/usr/bin/python3
"""Check a lab migration from the outside: what the sink received, what the collector saw,
and (optionally) what Sendpath journaled. See docs/lab.md, "The report".

  report.py --lab DIR [--state STATE_DB] [--expect-site SITE | --expect-site INSTANCE=SITE ...]
            [--wait SECONDS] [--settle SECONDS] [--json]

Reads DIR/lab.json and the files it names (backlog, submitted, deliveries, routes) and,
with --state, Sendpath's SQLite state database (opened read-only, never written). Prints
one line per check, PASS or FAIL with figures, then the measured figures; exits 1 if any
check fails, 2 on a usage or input error.

Checks:
  delivered-once      every backlog and every submitted message delivered exactly once
  sending-ip          every delivery of a known message came from one of its instance's sending IPs
  expected-site       (--expect-site) every backlog message delivered by the expected site's MTA (HELO)
  final-origin        (--expect-site) each prefix whose instances all expect one site ends
                      advertised from that site's AS alone
  quiet-while-frozen  (--state) no delivery from a member's sending IP strictly between its
                      cut-over's freeze (done) and unfreeze (intent)
  single-origin       routes.jsonl never has a prefix held from two origin ASes at once
"""

import argparse
import collections
import datetime
import json
import os
import re
import sqlite3
import sys
import time

MAX_LISTED = 10
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class InputError(Exception):
    pass


# --- Reading -----------------------------------------------------------------------------

def rfc3339_ns(text):
    """Nanoseconds since the epoch of an RFC 3339 time ("...Z" or "+00:00", any fraction)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text.strip())
    if not match:
        raise InputError(f"not an RFC 3339 time: {text!r}")
    base, fraction, zone = match.groups()
    moment = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
    offset = datetime.timedelta(0)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    moment = moment.replace(tzinfo=datetime.timezone(offset))
    seconds = (moment - EPOCH) // datetime.timedelta(seconds=1)
    nanos = int((fraction or "0")[:9].ljust(9, "0"))
    return seconds * 1_000_000_000 + nanos


def ns_text(ns):
    """An instant for people: UTC with milliseconds."""
    if ns is None:
        return "-"
    moment = EPOCH + datetime.timedelta(microseconds=ns // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def read_jsonl(path, required, label):
    """The lines of a JSON-lines file; a missing optional file is empty. A torn last line
    (a writer mid-append) is ignored."""
    if not os.path.exists(path):
        if required:
            raise InputError(f"{label}: {path} does not exist")
        return []
    records = []
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            if number == len(lines):  # no newline yet: being written
                continue
            raise InputError(f"{path}:{number}: not JSON: {line[:120]!r}")
    return records


def load_lab(directory):
    path = os.path.join(directory, "lab.json")
    try:
        with open(path, encoding="utf-8") as handle:
            lab = json.load(handle)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror} (is a lab up in {directory}?)")
    except ValueError as error:
        raise InputError(f"{path}: not JSON: {error}")
    files = dict(lab.get("files") or {})
    for key in ("backlog", "deliveries", "routes", "submitted"):
        files.setdefault(key, os.path.join(directory, f"{key}.jsonl"))
    lab["files"] = files
    return lab


def load_records(lab):
    files = lab["files"]
    return {
        "backlog": read_jsonl(files["backlog"], True, "backlog"),
        "submitted": read_jsonl(files["submitted"], False, "submitted"),
        "deliveries": read_jsonl(files["deliveries"], True, "deliveries"),
        "routes": read_jsonl(files["routes"], True, "routes"),
    }


def load_state(path):
    """Cut-overs and their journal entries, from Sendpath's SQLite state database, read-only."""
    if not os.path.exists(path):
        raise InputError(f"--state {path}: no such file")
    uri = "file:" + os.path.abspath(path).replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=10)
    except sqlite3.Error as error:
        raise InputError(f"--state {path}: cannot open read-only: {error}")
    try:
        connection.row_factory = sqlite3.Row
        cutovers = [dict(row) for row in connection.execute(
            "SELECT id, group_id, wave, members, window_start, window_end, started_at, finished_at, "
            "outcome, reason FROM cutover ORDER BY started_at, id")]
        journal = [dict(row) for row in connection.execute(
            "SELECT id, cutover_id, group_id, step, is_rollback, phase, attempt, at, duration_ns, detail "
            "FROM journal ORDER BY at, id")]
    except sqlite3.Error as error:
        raise InputError(f"--state {path}: cannot read the cutover and journal tables: {error}")
    finally:
        connection.close()
    for cutover in cutovers:
        try:
            cutover["members"] = json.loads(cutover["members"] or "[]")
        except ValueError:
            raise InputError(f"--state {path}: cut-over {cutover['id']}: members is not JSON")
    return cutovers, journal


def parse_expectations(values, lab):
    """--expect-site values -> ({instance: site} for every instance, or {} without any)."""
    instances = lab.get("instances") or {}
    default = None
    per_instance = {}
    for value in values:
        name, sep, site = value.partition("=")
        if not sep:
            name, site = None, value
        if name is not None and name not in instances:
            raise InputError(f"--expect-site {value}: no instance {name!r} in lab.json "
                             f"({', '.join(sorted(instances))})")
        sites = ((instances.get(name) or {}).get("sites") if name
                 else {s: 1 for i in instances.values() for s in (i.get("sites") or {})}) or {}
        if site not in sites:
            raise InputError(f"--expect-site {value}: no site {site!r} in lab.json ({', '.join(sorted(sites))})")
        if name is None:
            if default is not None and default != site:
                raise InputError(f"--expect-site given twice without an instance ({default}, {site})")
            default = site
        else:
            per_instance[name] = site
    if default is None and not per_instance:
        return {}
    return {name: per_instance.get(name, default) for name in instances if per_instance.get(name, default)}


# --- Checks ------------------------------------------------------------------------------

def check(name, ok, summary, **details):
    return {"name": name, "ok": bool(ok), "summary": summary, **details}


def expected_messages(records):
    """{messageId: {"kind": backlog|submitted, "instance": NAME, ...}} and repeated ids."""
    known = {}
    repeated = []
    for kind in ("backlog", "submitted"):
        for record in records[kind]:
            message_id = record.get("messageId")
            if message_id in known:
                repeated.append(message_id)
                continue
            known[message_id] = {"kind": kind, "instance": record.get("instance"), "site": record.get("site"),
                                 "time": record.get("time")}
    return known, repeated


def deliveries_by_id(records):
    result = collections.defaultdict(list)
    for delivery in records["deliveries"]:
        result[delivery.get("messageId")].append(delivery)
    return result


def check_delivered_once(known, repeated, delivered, records):
    missing = [m for m in known if not delivered.get(m)]
    duplicated = {m: len(delivered[m]) for m in known if len(delivered.get(m, ())) > 1}
    backlog = sum(1 for v in known.values() if v["kind"] == "backlog")
    submitted = len(known) - backlog
    once = len(known) - len(missing) - len(duplicated)
    other = sum(len(v) for m, v in delivered.items() if m not in known)
    summary = (f"{once} of {len(known)} messages delivered exactly once ({backlog} backlog, {submitted} submitted); "
               f"{len(missing)} missing, {len(duplicated)} duplicated; {len(records['deliveries'])} deliveries"
               + (f", {other} of messages neither backlog nor submitted" if other else ""))
    if repeated:
        summary += f"; {len(repeated)} Message-IDs listed twice in backlog/submitted"
    missing_by_instance = collections.Counter(known[m]["instance"] for m in missing)
    return check("delivered-once", not missing and not duplicated and not repeated, summary,
                 expected=len(known), backlog=backlog, submitted=submitted, deliveredOnce=once,
                 missingCount=len(missing), duplicatedCount=len(duplicated),
                 missing=missing[:MAX_LISTED], missingByInstance=dict(missing_by_instance),
                 duplicated=[{"messageId": m, "deliveries": n} for m, n in list(duplicated.items())[:MAX_LISTED]],
                 otherDeliveries=other, listedTwice=repeated[:MAX_LISTED])


def check_sending_ip(known, delivered, lab):
    instances = lab.get("instances") or {}
    checked = 0
    wrong = []
    for message_id, info in known.items():
        allowed = set((instances.get(info["instance"]) or {}).get("sendingIPs") or [])
        for delivery in delivered.get(message_id, ()):
            checked += 1
            if delivery.get("peer") not in allowed:
                wrong.append({"messageId": message_id, "instance": info["instance"], "peer": delivery.get("peer"),
                              "allowed": sorted(allowed), "time": delivery.get("time"), "helo": delivery.get("helo")})
    summary = f"{checked - len(wrong)} of {checked} deliveries of known messages came from their instance's sending IP"
    return check("sending-ip", not wrong, summary, checked=checked, wrongCount=len(wrong), wrong=wrong[:MAX_LISTED])


def helo_sites(lab):
    """{helo: (instance, site)}"""
    return {site_info.get("helo"): (name, site)
            for name, info in (lab.get("instances") or {}).items()
            for site, site_info in (info.get("sites") or {}).items()}


def frozen_since(windows):
    """{instance: [freeze done ns of each of its cut-overs]}"""
    result = collections.defaultdict(list)
    for window in windows:
        if window["freezeDone"] is not None:
            for member in window["cutover"]["members"]:
                result[member].append(window["freezeDone"])
    return result


def check_expected_site(known, delivered, lab, expect, windows):
    """Backlog messages, and (with --state) messages submitted after their instance's
    cut-over froze it: mail that arrives during or after the freeze must leave from the
    target (docs/postfix-bgp.md, "Mail that arrives at any time")."""
    instances = lab.get("instances") or {}
    by_helo = helo_sites(lab)
    froze = frozen_since(windows)
    checked = collections.Counter()
    wrong = []
    per_site = {"backlog": collections.Counter(), "submitted after the freeze": collections.Counter()}
    for message_id, info in known.items():
        if info["instance"] not in expect:
            continue
        if info["kind"] == "backlog":
            kind = "backlog"
        else:
            stamp = known_time(info)
            if stamp is None or not any(stamp > t for t in froze.get(info["instance"], ())):
                continue
            kind = "submitted after the freeze"
        site = expect[info["instance"]]
        want = ((instances.get(info["instance"]) or {}).get("sites") or {}).get(site, {}).get("helo")
        for delivery in delivered.get(message_id, ()):
            checked[kind] += 1
            found = by_helo.get(delivery.get("helo"))
            per_site[kind][found[1] if found else delivery.get("helo")] += 1
            if delivery.get("helo") != want:
                wrong.append({"messageId": message_id, "kind": info["kind"], "instance": info["instance"],
                              "expected": site, "helo": delivery.get("helo"), "site": found[1] if found else None,
                              "time": delivery.get("time")})
    sites = sorted(set(expect.values()))
    expected_text = sites[0] if len(sites) == 1 else ", ".join(f"{k}={v}" for k, v in sorted(expect.items()))
    total = sum(checked.values())
    parts = [f"{kind} " + ", ".join(f"{n} by {s}" for s, n in sorted(counts.items()))
             for kind, counts in per_site.items() if counts]
    summary = (f"{total - len(wrong)} of {total} deliveries of backlog messages"
               + (" and of messages submitted after their instance froze" if windows else "")
               + f" came from the expected site's MTA ({expected_text}); {'; '.join(parts) or 'none'}")
    return check("expected-site", not wrong, summary, expect=expect, checked=dict(checked),
                 bySite={k: dict(v) for k, v in per_site.items()}, wrongCount=len(wrong), wrong=wrong[:MAX_LISTED])


def known_time(info):
    try:
        return rfc3339_ns(info["time"]) if info.get("time") else None
    except InputError:
        return None


def submitted_by_site(known, delivered, lab):
    """Where submitted messages were delivered from: {site or helo: count}."""
    by_helo = helo_sites(lab)
    counts = collections.Counter()
    for message_id, info in known.items():
        if info["kind"] == "submitted":
            for delivery in delivered.get(message_id, ()):
                found = by_helo.get(delivery.get("helo"))
                counts[found[1] if found else delivery.get("helo")] += 1
    return dict(counts)


def freeze_windows(cutovers, journal):
    """Per cut-over: the freeze interval (first freeze entry .. last unfreeze done) and the
    silent window (first freeze done .. first unfreeze intent after it)."""
    entries = collections.defaultdict(list)
    for entry in journal:
        if entry["cutover_id"]:
            entries[entry["cutover_id"]].append(entry)
    windows = []
    for cutover in cutovers:
        mine = entries.get(cutover["id"], [])
        freezes = [e for e in mine if e["step"] == "freeze"]
        unfreezes = [e for e in mine if e["step"] == "unfreeze"]
        freeze_start = freezes[0]["at"] if freezes else None
        freeze_done = next((e["at"] for e in freezes if e["phase"] == "done"), None)
        unfreeze_dones = [e["at"] for e in unfreezes if e["phase"] == "done"]
        unfreeze_done = unfreeze_dones[-1] if unfreeze_dones else None
        # The silent window ends at the FIRST unfreeze intent after the freeze: a run killed
        # after asking for the unfreeze (before journalling it done) may have released the
        # instance already; the run that finishes the cut-over asks again, later.
        intents = [e["at"] for e in unfreezes if e["phase"] == "intent"
                   and (freeze_done is None or e["at"] >= freeze_done)]
        unfreeze_intent = intents[0] if intents else None
        windows.append({"cutover": cutover, "entries": mine, "freezeStart": freeze_start, "freezeDone": freeze_done,
                        "unfreezeIntent": unfreeze_intent, "unfreezeDone": unfreeze_done})
    return windows


def check_quiet_while_frozen(windows, records, lab):
    instances = lab.get("instances") or {}
    violations = []
    checked = []
    notes = []
    deliveries = [(rfc3339_ns(d["time"]), d) for d in records["deliveries"] if d.get("time")]
    for window in windows:
        cutover = window["cutover"]
        if window["freezeStart"] is None:
            continue  # never froze: nothing to check
        if window["freezeDone"] is None:
            notes.append(f"{cutover['id']}: freeze never done (not checked)")
            continue
        start = window["freezeDone"]
        end = window["unfreezeIntent"]  # None: still frozen (open interval)
        ips = {}
        for member in cutover["members"]:
            if member not in instances:
                notes.append(f"{cutover['id']}: member {member} is not in lab.json")
            for ip in (instances.get(member) or {}).get("sendingIPs") or []:
                ips[ip] = member
        checked.append(cutover["id"])
        for moment, delivery in deliveries:
            if delivery.get("peer") in ips and start < moment and (end is None or moment < end):
                violations.append({"cutover": cutover["id"], "instance": ips[delivery.get("peer")],
                                   "time": delivery.get("time"), "peer": delivery.get("peer"),
                                   "helo": delivery.get("helo"), "messageId": delivery.get("messageId"),
                                   "frozenFrom": ns_text(start), "frozenUntil": ns_text(end) if end else None})
    open_ones = [w["cutover"]["id"] for w in windows if w["freezeDone"] is not None and w["unfreezeIntent"] is None]
    summary = (f"{len(violations)} deliveries from a member's sending IP while its cut-over was frozen "
               f"({len(checked)} cut-overs checked" + (f", still frozen: {', '.join(open_ones)}" if open_ones else "")
               + ")")
    if notes:
        summary += "; " + "; ".join(notes)
    return check("quiet-while-frozen", not violations, summary, cutovers=checked, stillFrozen=open_ones,
                 notes=notes, violationCount=len(violations), violations=violations[:MAX_LISTED])


def replay_routes(routes):
    """Replay announcements and withdrawals per (prefix, originAS). Returns (final
    {prefix: {origin: since}}, overlaps [{prefix, origins, start, end}], ignored withdrawals)."""
    held = collections.defaultdict(dict)
    open_overlap = {}
    overlaps = []
    stray = []
    for record in routes:
        prefix, origin, moment = record.get("prefix"), record.get("originAS"), record.get("time")
        paths = held[prefix]
        if record.get("withdrawal"):
            if origin not in paths:
                stray.append(record)
                continue
            del paths[origin]
            if prefix in open_overlap and len(paths) < 2:
                overlap = open_overlap.pop(prefix)
                overlap["end"] = moment
                overlaps.append(overlap)
        else:
            if origin in paths:
                continue  # re-announcement from the same origin
            paths[origin] = moment
            if len(paths) >= 2:
                if prefix in open_overlap:
                    open_overlap[prefix]["origins"] = sorted(set(open_overlap[prefix]["origins"]) | {origin})
                else:
                    open_overlap[prefix] = {"prefix": prefix, "origins": sorted(paths), "start": moment, "end": None}
    overlaps.extend(open_overlap.values())
    return held, overlaps, stray


def asn_sites(lab):
    return {info.get("asn"): site for site, info in (lab.get("bgp") or {}).items()}


def origin_text(asn, sites):
    return f"AS{asn} ({sites[asn]})" if asn in sites else f"AS{asn}"


def check_single_origin(records, lab):
    held, overlaps, stray = replay_routes(records["routes"])
    sites = asn_sites(lab)
    for overlap in overlaps:
        if overlap["end"]:
            overlap["durationSeconds"] = round((rfc3339_ns(overlap["end"]) - rfc3339_ns(overlap["start"])) / 1e9, 6)
    final = {prefix: sorted(paths) for prefix, paths in sorted(held.items())}
    final_text = "; ".join(f"{prefix} from {' + '.join(origin_text(a, sites) for a in origins) or 'nobody'}"
                           for prefix, origins in final.items())
    summary = (f"{len(overlaps)} overlaps in {len(records['routes'])} route changes"
               + ("".join(f"; {o['prefix']} from {' + '.join(origin_text(a, sites) for a in o['origins'])} "
                          f"{o['start']} .. {o['end'] or 'end of log'}" for o in overlaps[:MAX_LISTED]))
               + f"; final: {final_text or 'no routes'}")
    return check("single-origin", not overlaps, summary, changes=len(records["routes"]), overlapCount=len(overlaps),
                 overlaps=overlaps[:MAX_LISTED], final={p: o for p, o in final.items()},
                 strayWithdrawals=len(stray)), final


def check_final_origin(final, lab, expect):
    """Each prefix whose lab instances all expect the same site: advertised from that site's
    AS alone at the end of routes.jsonl."""
    sites = asn_sites(lab)
    results = []
    wrong = []
    for name, info in sorted((lab.get("prefixes") or {}).items()):
        wanted = {expect.get(member) for member in info.get("instances") or []}
        if len(wanted) != 1 or None in wanted:
            continue
        site = wanted.pop()
        asn = ((lab.get("bgp") or {}).get(site) or {}).get("asn")
        got = final.get(info.get("cidr"), [])
        results.append({"prefix": name, "cidr": info.get("cidr"), "expected": asn, "final": got})
        if got != [asn]:
            wrong.append(results[-1])
    summary = (f"{len(results) - len(wrong)} of {len(results)} prefixes end advertised from the expected site alone"
               + "".join(f"; {w['prefix']} {w['cidr']}: {' + '.join(origin_text(a, sites) for a in w['final']) or 'nobody'}"
                         f", expected {origin_text(w['expected'], sites)}" for w in wrong[:MAX_LISTED]))
    return check("final-origin", not wrong, summary, prefixes=results, wrongCount=len(wrong))


# --- Figures -----------------------------------------------------------------------------

def moved_counts(detail):
    """(resent, expired) from a resend-queue detail: a top-level count, else the sum over
    nested per-instance results (resends, results, ...), else "N resent" in the message."""
    try:
        doc = json.loads(detail) if detail else None
    except ValueError:
        doc = None

    def total(node, key):
        if isinstance(node, dict):
            if isinstance(node.get(key), int) and not isinstance(node.get(key), bool):
                return node[key]
            found = [total(v, key) for k, v in node.items() if isinstance(v, (dict, list))]
            found = [f for f in found if f is not None]
            return sum(found) if found else None
        if isinstance(node, list):
            found = [f for f in (total(v, key) for v in node) if f is not None]
            return sum(found) if found else None
        return None

    resent = total(doc, "resent")
    expired = total(doc, "expired")
    if resent is None:
        text = doc.get("message", "") if isinstance(doc, dict) else (detail or "")
        match = re.search(r"(\d+) resent", text)
        resent = int(match.group(1)) if match else None
    return resent, expired


def cutover_figures(windows, known, delivered):
    figures = []
    for window in windows:
        cutover = window["cutover"]
        entries = window["entries"]
        steps = {}
        for entry in entries:
            if entry["phase"] == "done" and entry["duration_ns"] is not None and not entry["is_rollback"]:
                steps[entry["step"]] = round(entry["duration_ns"] / 1e9, 3)
        resends = [e for e in entries if e["step"] == "resend-queue" and e["phase"] == "done"]
        forward = [e for e in resends if not e["is_rollback"]]
        back = [e for e in resends if e["is_rollback"]]
        moved, expired = moved_counts(forward[-1]["detail"]) if forward else (None, None)
        moved_back = moved_counts(back[-1]["detail"])[0] if back else None
        start, end = window["freezeStart"], window["unfreezeDone"]
        duration = (end - start) / 1e9 if start is not None and end is not None else None
        rate = moved / duration if moved is not None and duration else None
        # The members' backlog: when its last delivery came, after the unfreeze.
        members = set(cutover["members"])
        times = [rfc3339_ns(d["time"]) for m, info in known.items()
                 if info["kind"] == "backlog" and info["instance"] in members for d in delivered.get(m, ())]
        drained = (max(times) - end) / 1e9 if times and end is not None and max(times) > end else None
        figures.append({
            "cutover": cutover["id"], "group": cutover["group_id"], "members": cutover["members"],
            "outcome": cutover["outcome"], "reason": cutover["reason"],
            "freezeStart": ns_text(start), "unfreezeDone": ns_text(end) if end is not None else None,
            "frozenSeconds": round(duration, 3) if duration is not None else None,
            "messagesMoved": moved, "expired": expired, "movedBack": moved_back,
            "messagesPerSecond": round(rate, 1) if rate is not None else None,
            "lastBacklogDeliveryAfterUnfreezeSeconds": round(drained, 3) if drained is not None else None,
            "stepSeconds": steps,
            "retries": sum(1 for e in entries if e["attempt"] and e["attempt"] > 1 and e["phase"] == "intent"),
        })
    return figures


def totals(figures):
    starts = [f["freezeStart"] for f in figures if f["freezeStart"] != "-"]
    ends = [f["unfreezeDone"] for f in figures if f["unfreezeDone"]]
    moved = sum(f["messagesMoved"] or 0 for f in figures)
    span = (rfc3339_ns(max(ends)) - rfc3339_ns(min(starts))) / 1e9 if starts and ends else None
    frozen = [f["frozenSeconds"] for f in figures if f["frozenSeconds"] is not None]
    return {
        "cutovers": len(figures),
        "outcomes": dict(collections.Counter(f["outcome"] or "unfinished" for f in figures)),
        "messagesMoved": moved,
        "spanSeconds": round(span, 3) if span is not None else None,
        "messagesPerSecond": round(moved / span, 1) if span else None,
        "longestFrozenSeconds": max(frozen) if frozen else None,
    }


# --- Main --------------------------------------------------------------------------------

def wait_for_deliveries(lab, seconds, settle):
    """Poll until every backlog and submitted message has a delivery or the deadline
    passes; then wait `settle` seconds more, for late duplicates. Returns the seconds waited."""
    started = time.monotonic()
    deadline = started + seconds
    while True:
        records = load_records(lab)
        known, _ = expected_messages(records)
        delivered = {d.get("messageId") for d in records["deliveries"]}
        if all(m in delivered for m in known) or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    if settle > 0:
        time.sleep(settle)
    return time.monotonic() - started


def build_report(args):
    lab = load_lab(args.lab)
    expect = parse_expectations(args.expect_site, lab)
    waited = wait_for_deliveries(lab, args.wait, args.settle) if args.wait > 0 else 0.0
    records = load_records(lab)
    known, repeated = expected_messages(records)
    delivered = deliveries_by_id(records)
    windows = []
    if args.state:
        cutovers, journal = load_state(args.state)
        windows = freeze_windows(cutovers, journal)
    checks = [check_delivered_once(known, repeated, delivered, records),
              check_sending_ip(known, delivered, lab)]
    if expect:
        checks.append(check_expected_site(known, delivered, lab, expect, windows))
    if args.state:
        checks.append(check_quiet_while_frozen(windows, records, lab))
    single, final = check_single_origin(records, lab)
    checks.append(single)
    if expect:
        checks.append(check_final_origin(final, lab, expect))
    figures = cutover_figures(windows, known, delivered) if args.state else []
    return {
        "lab": os.path.abspath(args.lab),
        "state": os.path.abspath(args.state) if args.state else None,
        "waitedSeconds": round(waited, 2),
        "ok": all(c["ok"] for c in checks),
        "checks": checks,
        "submittedBySite": submitted_by_site(known, delivered, lab),
        "cutovers": figures,
        "totals": totals(figures) if args.state else None,
    }


def print_text(report):
    for item in report["checks"]:
        print(f"{'PASS' if item['ok'] else 'FAIL'} {item['name']}: {item['summary']}")
        if item["name"] == "delivered-once":
            if item["missing"]:
                by = ", ".join(f"{k} {v}" for k, v in sorted(item["missingByInstance"].items()))
                print(f"     missing ({by}): {' '.join(item['missing'])}")
            for d in item["duplicated"]:
                print(f"     duplicated: {d['messageId']} delivered {d['deliveries']} times")
        for key in ("wrong", "violations"):
            for w in item.get(key) or []:
                print("     " + ", ".join(f"{k} {v}" for k, v in w.items()))
    if report["submittedBySite"]:
        print("submitted messages delivered by: "
              + ", ".join(f"{s} {n}" for s, n in sorted(report["submittedBySite"].items())))
    for f in report["cutovers"]:
        steps = ", ".join(f"{k} {v:.3f}s" for k, v in f["stepSeconds"].items())
        rate = f"{f['messagesPerSecond']:.1f}/s" if f["messagesPerSecond"] is not None else "-"
        frozen = f"{f['frozenSeconds']:.3f}s" if f["frozenSeconds"] is not None else "still frozen"
        drained = f["lastBacklogDeliveryAfterUnfreezeSeconds"]
        print(f"cut-over {f['cutover']} ({'+'.join(f['members'])}, {f['outcome'] or 'unfinished'}): "
              f"frozen {frozen} (freeze intent {f['freezeStart']} .. unfreeze done {f['unfreezeDone'] or '-'}), "
              f"{f['messagesMoved'] if f['messagesMoved'] is not None else '?'} messages moved, {rate}"
              + (f", {f['movedBack']} moved back" if f["movedBack"] else "")
              + (f", last backlog delivery {drained:.3f}s after the unfreeze" if drained is not None else "")
              + (f", {f['retries']} retries" if f["retries"] else ""))
        print(f"     steps: {steps}")
    t = report["totals"]
    if t:
        outcomes = ", ".join(f"{v} {k}" for k, v in sorted(t["outcomes"].items())) or "none"
        span = f"{t['spanSeconds']:.3f}s" if t["spanSeconds"] is not None else "-"
        rate = f"{t['messagesPerSecond']:.1f}/s" if t["messagesPerSecond"] is not None else "-"
        longest = f"{t['longestFrozenSeconds']:.3f}s" if t["longestFrozenSeconds"] is not None else "-"
        print(f"total: {t['cutovers']} cut-overs ({outcomes}), {t['messagesMoved']} messages moved in {span} "
              f"(first freeze to last unfreeze), {rate}; longest frozen {longest}")
    failed = [c["name"] for c in report["checks"] if not c["ok"]]
    print(f"report: {'PASS' if not failed else 'FAIL (' + ', '.join(failed) + ')'}"
          + (f" (waited {report['waitedSeconds']:.1f}s for deliveries)" if report["waitedSeconds"] else ""))


def main(argv):
    parser = argparse.ArgumentParser(prog="report.py", description=__doc__.splitlines()[0])
    parser.add_argument("--lab", required=True, metavar="DIR", help="the lab folder (with lab.json)")
    parser.add_argument("--state", metavar="PATH", help="Sendpath's SQLite state database (read-only)")
    parser.add_argument("--expect-site", action="append", default=[], metavar="SITE|INSTANCE=SITE",
                        help="the site whose MTA must deliver the backlog (repeatable per instance)")
    parser.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                        help="first poll until every message has a delivery, at most this long")
    parser.add_argument("--settle", type=float, default=2, metavar="SECONDS",
                        help="with --wait: then wait this long for late duplicates (default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    try:
        report = build_report(args)
    except InputError as error:
        print(f"report: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_text(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
