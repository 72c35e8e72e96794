#!/usr/bin/env python3
"""The soak's independent check: reads the simulator's evidence log straight from the fleet
file with SQL and recomputes the migration's promises, without any of Sendpath's code. What
was declared (instances, their IPs, the prefixes) comes from the soak's own fleet.json, not
from the simulator. Then it compares its figures with `sendpath simulator check --output json`.

Usage: soak_check.py --fleet-db FLEET.db --fleet-json fleet.json --sim-check check.json
                     [--held NAME ...] [--output result.json]

Promises checked (each from the log `event`, in the order it was written, `id`):
  - every enqueued message delivered exactly once, or reported expired and never delivered:
    none lost, none twice (a message still waiting is allowed only on a member of a
    cut-over an operator keeps held, or in the queue of an instance that has not moved);
  - no prefix advertised from two places at once: the announce/withdraw intervals of one
    prefix at different places never overlap (by log order, and by time);
  - no prefix left unadvertised for a while (a gap), nor at the end;
  - no instance frozen at the end outside a held cut-over (--held);
  - no delivery from a place where a prefix of its sending IPs, or of the instance's
    declared IPs, was not advertised at that moment; none from undeclared IPs; no own send
    while frozen; no move of an instance that was sending;
  - the log agrees with the fleet's final state (advertisements, frozen flags, places).
Exit 0: every promise holds and simulator check agrees; 1: a promise is broken;
2: the two checks disagree (a bug in one of them).
"""
import argparse
import ipaddress
import json
import sqlite3
import sys
from collections import Counter, defaultdict


def canonical_ips(text):
    return frozenset(str(ipaddress.ip_address(part.strip())) for part in text.split(",") if part.strip())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fleet-db", required=True)
    parser.add_argument("--fleet-json", required=True)
    parser.add_argument("--sim-check", required=True)
    parser.add_argument("--held", nargs="*", default=[])
    parser.add_argument("--output")
    args = parser.parse_args()

    fleet = json.load(open(args.fleet_json))
    sim = json.load(open(args.sim_check))
    held = set(args.held)
    networks = {p["cidr"]: ipaddress.ip_network(p["cidr"]) for p in fleet["prefixes"]}
    # The canonical spelling the simulator logs a CIDR in may differ from ours: key by network.
    declared = {i["name"]: frozenset(str(ipaddress.ip_address(ip)) for ip in i["ips"]) for i in fleet["instances"]}
    members_of = defaultdict(set)   # network -> instances
    prefixes_of = defaultdict(set)  # instance -> networks
    for name, ips in declared.items():
        for ip in ips:
            for network in networks.values():
                if ipaddress.ip_address(ip) in network:
                    members_of[network].add(name)
                    prefixes_of[name].add(network)
    ip_prefix_cache = {}

    def prefixes_of_ips(ips):
        if ips not in ip_prefix_cache:
            ip_prefix_cache[ips] = {n for ip in ips for n in networks.values() if ipaddress.ip_address(ip) in n}
        return ip_prefix_cache[ips]

    db = sqlite3.connect(f"file:{args.fleet_db}?mode=ro", uri=True)
    events = db.execute("""SELECT id, at, kind, instance, message, cidr, infrastructure, location, ips, cause
                           FROM event ORDER BY id""").fetchall()

    # --- replay the log ---
    places = defaultdict(set)       # network -> places advertising it now
    open_interval = {}              # (network, place) -> (announce id, at)
    intervals = defaultdict(list)   # network -> [(place, announce id, announce at, withdraw id, withdraw at)]
    empty_since = {}                # network -> time it became advertised from nowhere
    frozen = set()
    place_of = {}
    deliveries = Counter()
    expiries = set()
    enqueued = set()
    sends_by_path = Counter()
    gaps = 0
    counts = Counter()
    doubled_by_order = set()
    breaches = defaultdict(list)    # kind -> a few examples

    def example(kind, text):
        if len(breaches[kind]) < 5:
            breaches[kind].append(text)

    def changing(network):
        here = places[network]
        if len(here) != 1:
            return True
        return any(place_of.get(m) is not None and place_of[m] not in here for m in members_of[network])

    for id_, at, kind, instance, message, cidr, infra, location, ips, cause in events:
        where = f"{infra}/{location}" if infra is not None and location is not None else None
        if kind == "enqueue":
            enqueued.add(message)
        elif kind == "expire":
            expiries.add(message)
        elif kind in ("announce", "withdraw"):
            network = ipaddress.ip_network(cidr)
            if kind == "announce":
                places[network].add(where)
                open_interval[(network, where)] = (id_, at)
                if len(places[network]) > 1:
                    doubled_by_order.add(network)
                    example("doubleAdvertisement", f"event {id_}: {cidr} announced at {where} while at {sorted(places[network] - {where})}")
                since = empty_since.pop(network, None)
                if since is not None and at > since:
                    gaps += 1
                    example("advertisementGap", f"event {id_}: {cidr} advertised from nowhere for {(at - since) / 1e9:.3f}s")
            else:
                places[network].discard(where)
                start = open_interval.pop((network, where), None)
                if start is not None:
                    intervals[network].append((where, start[0], start[1], id_, at))
                if not places[network]:
                    empty_since[network] = at
        elif kind == "freeze":
            frozen.add(instance)
        elif kind == "unfreeze":
            frozen.discard(instance)
        elif kind in ("place", "move"):
            if kind == "move" and instance not in frozen:
                counts["movesWhileSending"] += 1
                example("movesWhileSending", f"event {id_}: {instance} moved to {where} while not frozen")
            place_of[instance] = where
        elif kind == "deliver":
            deliveries[message] += 1
            if where is None or ips is None:
                continue
            sends_by_path[where] += 1
            sent_from = canonical_ips(ips)
            if sent_from != declared.get(instance):
                counts["sendsFromUndeclaredIPs"] += 1
                example("sendsFromUndeclaredIPs", f"event {id_}: {message} from {sorted(sent_from)}")
            if any(where not in places[n] for n in prefixes_of_ips(sent_from)):
                counts["sendsWithoutRoute"] += 1
                example("sendsWithoutRoute", f"event {id_}: {message} from {where}, {sorted(sent_from)}")
            if any(where not in places[n] for n in prefixes_of[instance]):
                counts["sendsOutsideDeclaredRoute"] += 1
                example("sendsOutsideDeclaredRoute", f"event {id_}: {message} of {instance} from {where}, "
                        f"its prefixes at {[sorted(places[n]) for n in prefixes_of[instance]]}")
            if instance in frozen and not (cause or "").startswith("resend:"):
                counts["sendsWhileFrozen"] += 1
                example("sendsWhileFrozen", f"event {id_}: {message} of frozen {instance} ({cause})")
            if any(changing(n) for n in prefixes_of[instance]):
                counts["sendsDuringPathChange"] += 1
                example("sendsDuringPathChange", f"event {id_}: {message} of {instance} from {where}")

    for (network, where), (id_, at) in open_interval.items():
        intervals[network].append((where, id_, at, None, None))
    # Overlapping intervals of one prefix at two places, by log order and by time.
    doubled_by_interval, doubled_by_time = set(), set()
    for network, spans in intervals.items():
        for i, a in enumerate(spans):
            for b in spans[i + 1:]:
                if a[0] == b[0]:
                    continue
                a_end, b_end = a[3] if a[3] is not None else float("inf"), b[3] if b[3] is not None else float("inf")
                if a[1] < b_end and b[1] < a_end:
                    doubled_by_interval.add(network)
                a_tend, b_tend = a[4] if a[4] is not None else float("inf"), b[4] if b[4] is not None else float("inf")
                if a[2] < b_tend and b[2] < a_tend:
                    doubled_by_time.add(network)
    unadvertised_now = {n for n in members_of if not places[n]}
    gaps += len(unadvertised_now)
    for n in unadvertised_now:
        example("advertisementGap", f"{n} is advertised from nowhere at the end")

    # --- messages ---
    delivered = {m for m, c in deliveries.items() if c >= 1}
    duplicated = {m for m, c in deliveries.items() if c > 1}
    expired_only = expiries - delivered
    delivered_and_expired = expiries & delivered
    no_outcome = enqueued - delivered - expiries
    waiting_rows = dict(((m, (s, i)) for m, s, i in db.execute(
        "SELECT id, state, instance FROM message WHERE state IN ('queued', 'snapshot')")))
    lost = {m for m in no_outcome if m not in waiting_rows}
    target = fleet["target"]

    def may_wait(message):
        # Still in a queue: fine on a member of a held cut-over, or on an instance that has
        # not moved yet (its mail goes with it when it does). In a snapshot: only while a
        # hold keeps its instance frozen, or else nobody resends it.
        state, instance = waiting_rows[message]
        if instance in held:
            return True
        return state == "queued" and place_of.get(instance) != target
    waiting_held = {m for m in no_outcome if m in waiting_rows and may_wait(m)}
    waiting_elsewhere = {m for m in no_outcome if m in waiting_rows and not may_wait(m)}
    never_enqueued = set(deliveries) - enqueued
    for m in sorted(duplicated)[:5]:
        example("duplicated", f"{m} delivered {deliveries[m]} times")
    for m in sorted(lost)[:5]:
        example("lost", f"{m}: enqueued, never delivered nor reported expired, in no queue")
    for m in sorted(waiting_elsewhere)[:5]:
        example("waitingOutsideHold", f"{m}: still {waiting_rows[m][0]} on {waiting_rows[m][1]}, which has moved and no hold keeps")

    # --- the end state, from the log, against the fleet's tables ---
    table_ads = {(ipaddress.ip_network(c), f"{i}/{l}") for c, i, l in db.execute(
        "SELECT cidr, infrastructure, location FROM advertisement")}
    log_ads = {(n, p) for n, ps in places.items() for p in ps}
    table_frozen = {r[0] for r in db.execute("SELECT name FROM instance WHERE frozen = 1")}
    table_place = {n: f"{i}/{l}" for n, i, l in db.execute("SELECT name, infrastructure, location FROM instance")}
    if table_ads != log_ads:
        example("logDisagreesWithState", f"advertisements: log-only {sorted(map(str, log_ads - table_ads))[:3]}, "
                f"table-only {sorted(map(str, table_ads - log_ads))[:3]}")
    if table_frozen != frozen:
        example("logDisagreesWithState", f"frozen: log {sorted(frozen)[:5]}, table {sorted(table_frozen)[:5]}")
    if any(place_of.get(n) != p for n, p in table_place.items()):
        example("logDisagreesWithState", "instance places differ between the log and the instance table")
    unrouted = sorted(i for i in declared if i not in frozen and any(place_of.get(i) not in places[n] for n in prefixes_of[i]))
    frozen_outside_hold = sorted(frozen - held)
    for name in frozen_outside_hold[:5]:
        example("frozenOutsideHold", f"{name} is frozen and no held cut-over keeps it")
    violations = db.execute("SELECT kind, instance, detail FROM violation ORDER BY id").fetchall()
    for v in violations[:5]:
        example("violations", f"{v[0]} on {v[1]}: {v[2]}")
    on_target = sum(1 for i in declared if place_of.get(i) == target)

    mine = {
        "enqueued": len(enqueued), "delivered": len(delivered), "duplicated": len(duplicated),
        "expired": len(expired_only), "lost": len(lost),
        "doubleAdvertisements": len(doubled_by_order | doubled_by_interval | doubled_by_time),
        "advertisementGaps": gaps,
        "sendsWithoutRoute": counts["sendsWithoutRoute"],
        "sendsFromUndeclaredIPs": counts["sendsFromUndeclaredIPs"],
        "sendsWhileFrozen": counts["sendsWhileFrozen"],
        "sendsDuringPathChange": counts["sendsDuringPathChange"],
        "movesWhileSending": counts["movesWhileSending"],
        "unroutedInstances": unrouted, "frozen": sorted(frozen),
        "sendsByPath": dict(sorted(sends_by_path.items())),
        "violations": len(violations),
    }
    extra = {
        "deliveredOnce": len(delivered) - len(duplicated), "deliveredAndExpired": len(delivered_and_expired),
        "deliveredNeverEnqueued": len(never_enqueued), "waitingOnHeldOrUnmoved": len(waiting_held),
        "waitingOutsideHold": len(waiting_elsewhere), "sendsOutsideDeclaredRoute": counts["sendsOutsideDeclaredRoute"],
        "frozenOutsideHold": frozen_outside_hold, "doubleAdvertisementsByInterval": len(doubled_by_interval),
        "doubleAdvertisementsByTime": len(doubled_by_time), "advertisementIntervals": sum(len(s) for s in intervals.values()),
        "deliveries": sum(deliveries.values()), "instancesOnTarget": on_target, "instances": len(declared),
        "events": len(events),
    }

    # --- the promises ---
    broken = []
    for key in ("duplicated", "lost", "doubleAdvertisements", "advertisementGaps", "sendsWithoutRoute",
                "sendsFromUndeclaredIPs", "sendsWhileFrozen", "sendsDuringPathChange", "movesWhileSending", "violations"):
        if mine[key]:
            broken.append(key)
    if mine["unroutedInstances"]:
        broken.append("unroutedInstances")
    for key in ("deliveredAndExpired", "deliveredNeverEnqueued", "waitingOutsideHold", "sendsOutsideDeclaredRoute"):
        if extra[key]:
            broken.append(key)
    if frozen_outside_hold:
        broken.append("frozenOutsideHold")
    if breaches.get("logDisagreesWithState"):
        broken.append("logDisagreesWithState")
    if len(delivered_and_expired) == 0 and len(enqueued) != len(delivered) + len(expired_only) + len(no_outcome):
        broken.append("messageAccounting")

    # --- agreement with simulator check ---
    theirs = {
        "enqueued": sim["messages"]["enqueued"], "delivered": sim["messages"]["delivered"],
        "duplicated": sim["messages"]["duplicated"], "expired": sim["messages"]["expired"],
        "lost": sim["messages"]["lost"], "doubleAdvertisements": sim["doubleAdvertisements"],
        "advertisementGaps": sim["advertisementGaps"], "sendsWithoutRoute": sim["sendsWithoutRoute"],
        "sendsFromUndeclaredIPs": sim["sendsFromUndeclaredIPs"], "sendsWhileFrozen": sim["sendsWhileFrozen"],
        "sendsDuringPathChange": sim["sendsDuringPathChange"], "movesWhileSending": sim["movesWhileSending"],
        "unroutedInstances": sorted(sim["unroutedInstances"]), "frozen": sorted(sim["frozen"]),
        "sendsByPath": dict(sorted(sim["sendsByPath"].items())), "violations": len(sim["violations"]),
    }
    disagreements = {k: {"independent": mine[k], "simulatorCheck": theirs[k]} for k in mine if mine[k] != theirs[k]}
    # Verdicts: simulator check may only be broken by `frozen`, and only for held members.
    sim_ok = sim["ok"] or (set(sim["broken"]) == {"frozen"} and set(sim["frozen"]) <= held)
    mine_ok = not broken
    if sim_ok != mine_ok:
        disagreements["verdict"] = {"independent": mine_ok, "simulatorCheck": sim_ok}

    result = {"ok": mine_ok and sim_ok and not disagreements, "independent": {**mine, **extra},
              "broken": broken, "examples": dict(breaches), "simulatorCheck": {"ok": sim["ok"], "broken": sim["broken"]},
              "held": sorted(held), "disagreements": disagreements}
    if args.output:
        json.dump(result, open(args.output, "w"), indent=1)
    print(f"independent check: {len(enqueued)} messages enqueued, {len(delivered) - len(duplicated)} delivered once, "
          f"{len(duplicated)} more than once, {len(expired_only)} expired, {len(lost)} lost, "
          f"{len(waiting_held)} waiting (on held or unmoved instances), {len(waiting_elsewhere)} stuck")
    print(f"independent check: {extra['advertisementIntervals']} advertisement intervals, "
          f"{mine['doubleAdvertisements']} prefixes ever advertised from two places, {gaps} gaps; "
          f"{extra['deliveries']} deliveries, {mine['sendsWithoutRoute']} without a route, "
          f"{extra['sendsOutsideDeclaredRoute']} outside the declared prefixes' route, "
          f"{mine['sendsFromUndeclaredIPs']} from undeclared IPs, {mine['sendsWhileFrozen']} while frozen; "
          f"{len(frozen)} frozen at the end ({len(frozen_outside_hold)} outside a held cut-over); "
          f"{on_target}/{len(declared)} instances on {target}")
    print("independent check: " + ("every promise holds" if mine_ok else "BROKEN: " + ", ".join(broken)))
    for kind, texts in breaches.items():
        for text in texts:
            print(f"  {kind}: {text}")
    print("simulator check: " + ("ok" if sim["ok"] else "broken: " + ", ".join(sim["broken"]))
          + ("" if sim["ok"] or not sim_ok else " (only the members of held cut-overs)"))
    if disagreements:
        print("DISAGREEMENT between the independent check and simulator check:")
        for key, values in disagreements.items():
            print(f"  {key}: independent {values['independent']}, simulator check {values['simulatorCheck']}")
        sys.exit(2)
    sys.exit(0 if mine_ok and sim_ok else 1)


if __name__ == "__main__":
    main()
