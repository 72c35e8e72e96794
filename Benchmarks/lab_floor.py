#!/usr/bin/python3
"""The floor of a cut-over on the lab: the raw Postfix and GoBGP operations that the
postfix-bgp provider performs for one group, run alone, one after the other, each timed.

  lab_floor.py LAB_DIR PREFIX_NAME   ->  prints one JSON object:
  {"floor": seconds (sum of the commands' own wall times and the collector's convergence),
   "wall": seconds (the whole script), "messages": moved, "commands": count}

The operations, per instance of the group (docs/postfix-bgp.md): the target holds; the
source holds (postconf -e, reload, postsuper -h ALL, postqueue -j until all held); the
snapshot (postqueue -j, postcat -h per message); the prefix moves (gobgp del at the source,
the collector polled until it is gone, gobgp add at the target, polled until it arrives);
each message is copied (postcat -bh | sendmail -C; senders and Message-IDs read in batches
with postcat -e -h) and, once held at the target
(postqueue -j polled), deleted at the source (postsuper -d - hold); the target releases
(postconf -e, reload, postsuper -H ALL, postqueue -f, postqueue -j until the queue manager
has taken every released message up). Python's own time between commands is
not counted: the floor is the daemons' work and the tools' start-up, nothing else.
"""

import json
import os
import subprocess
import sys
import time

spent = 0.0
commands = 0


def run(args, stdin=None, check=True):
    global spent, commands
    started = time.monotonic()
    result = subprocess.run(args, input=stdin, capture_output=True, timeout=60)
    spent += time.monotonic() - started
    commands += 1
    if check and result.returncode != 0:
        raise SystemExit(f"lab_floor: {' '.join(args)} exited {result.returncode}: {result.stderr.decode(errors='replace')}")
    return result.stdout


def poll(condition, what, timeout=60):
    """Counts the time spent waiting as the daemons' (a convergence), polling every 10 ms."""
    global spent
    started = time.monotonic()
    while True:
        if condition():
            return
        if time.monotonic() - started > timeout:
            raise SystemExit(f"lab_floor: timed out waiting for {what}")
        pause = time.monotonic()
        time.sleep(0.01)
        spent += time.monotonic() - pause


def backdate(directory):
    moment = time.time() - 5
    os.utime(os.path.join(directory, "main.cf"), (moment, moment))


def set_checks(directory, value):
    run(["postconf", "-c", directory, "-e", f"header_checks = {value}"])
    backdate(directory)
    run(["postfix", "-c", directory, "reload"])


def awaits_queue_manager(message):
    """In maildrop or incoming, or deferred with no reason (released, not yet taken up)."""
    if message["queue_name"] in ("maildrop", "incoming"):
        return True
    return message["queue_name"] == "deferred" and not any(r.get("delay_reason") for r in message.get("recipients", []))


def queue(directory):
    return [json.loads(line) for line in run(["postqueue", "-c", directory, "-j"]).decode().splitlines() if line.strip()]


def envelopes(directory, queue_ids):
    """{queue id: sender} from one `postcat -e -h` call per 200 ids (as the provider reads them)."""
    senders = {}
    for start in range(0, len(queue_ids), 200):
        current = None
        text = run(["postcat", "-c", directory, "-e", "-h", "-q", *queue_ids[start:start + 200]], check=False)
        for line in text.decode(errors="replace").splitlines():
            if line.startswith("*** ENVELOPE RECORDS "):
                current = line.split("/")[-1].split(" ")[0]
            elif current and line.startswith("sender:") and current not in senders:
                senders[current] = line.split(":", 1)[1].strip()
    return senders


def collector_origins(api, cidr):
    rib = json.loads(run(["gobgp", "-u", "127.0.0.1", "-p", str(api), "-j", "global", "rib", "-a", "ipv4"]) or b"{}") or {}
    origins = set()
    for path in rib.get(cidr, []):
        for attribute in path.get("attrs", []):
            if attribute.get("type") == 2:
                asns = [a for segment in attribute.get("as_paths", []) for a in segment.get("asns", [])]
                if asns:
                    origins.add(asns[-1])
    return origins


def main():
    lab_dir, prefix = sys.argv[1], sys.argv[2]
    lab = json.load(open(os.path.join(lab_dir, "lab.json")))
    cidr = lab["prefixes"][prefix]["cidr"]
    members = lab["prefixes"][prefix]["instances"]
    source, target = "adobe-dc", "aws"
    src_api, dst_api = (int(lab["speakers"][s]["api"].split(":")[1]) for s in (source, target))
    collector = int(lab["collector"]["api"].split(":")[1])
    src_asn, dst_asn = lab["bgp"][source]["asn"], lab["bgp"][target]["asn"]
    directory = lambda name, site: lab["mta"][name][site]["configDirectory"]
    wall = time.monotonic()
    moved = 0
    for name in members:  # freeze
        set_checks(directory(name, source), "static:HOLD")
        src = directory(name, source)
        run(["postsuper", "-c", src, "-h", "ALL"])
        poll(lambda: all(m["queue_name"] == "hold" for m in queue(src)), f"{name} frozen")
    snapshots = {}
    for name in members:  # snapshot
        src = directory(name, source)
        held = [m for m in queue(src) if m["queue_name"] == "hold" and m["recipients"]]
        senders = envelopes(src, [m["queue_id"] for m in held])
        snapshots[name] = [(m, senders.get(m["queue_id"], "")) for m in held]
    run(["gobgp", "-u", "127.0.0.1", "-p", str(src_api), "global", "rib", "del", "-a", "ipv4", cidr])  # switch
    poll(lambda: src_asn not in collector_origins(collector, cidr), "withdrawal at the collector")
    run(["gobgp", "-u", "127.0.0.1", "-p", str(dst_api), "global", "rib", "add", "-a", "ipv4", cidr, "origin", "igp"])
    poll(lambda: collector_origins(collector, cidr) == {dst_asn}, "announcement at the collector")
    for name in members:  # resend
        src, dst = directory(name, source), directory(name, target)
        before = sum(1 for m in queue(dst) if m["queue_name"] == "hold")
        for entry, sender in snapshots[name]:
            content = run(["postcat", "-c", src, "-bh", "-q", entry["queue_id"]])
            run(["sendmail", "-C", dst, "-f", sender, "-i", "--"] + [r["address"] for r in entry["recipients"]], stdin=content)
        count = len(snapshots[name])
        poll(lambda: sum(1 for m in queue(dst) if m["queue_name"] == "hold") >= before + count, f"{name}'s copies held")
        if count:
            run(["postsuper", "-c", src, "-d", "-", "hold"], stdin="".join(e["queue_id"] + "\n" for e, _ in snapshots[name]).encode())
        moved += count
    for name in members:  # unfreeze
        dst = directory(name, target)
        set_checks(dst, "")
        run(["postsuper", "-c", dst, "-H", "ALL"])
        # Flushed until the queue manager has taken every released message up, again every
        # 500 ms (as the provider does: a reload can swallow a flush, docs/lab.md pitfall 3).
        for _ in range(60):
            run(["postqueue", "-c", dst, "-f"])
            try:
                poll(lambda: not any(awaits_queue_manager(m) for m in queue(dst)), f"{name}'s released mail taken up", timeout=0.5)
                break
            except SystemExit:
                continue
    print(json.dumps({"floor": round(spent, 3), "wall": round(time.monotonic() - wall, 3), "messages": moved, "commands": commands}))


if __name__ == "__main__":
    main()
