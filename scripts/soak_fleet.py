#!/usr/bin/env python3
"""Writes the soak's fleet: manifests for 120 instances in 3 waves, a faults file with every
fault effect spread over steps, instances and waves, and fleet.json (what was declared, for
the independent check, which must not learn it from Sendpath or its simulator).

Usage: soak_fleet.py DIR SEED [INSTANCES]

Everything is drawn from random.Random(SEED): the same seed gives the same files.
"""
import json
import random
import sys
from pathlib import Path

TARGET = ("aws", "eu-west-1")
BUILD = "7.3.5 build 9368"

# Three waves in three windows a week or two apart (simulated time: runs use --at inside
# them). w2 and w3 are production: each tenant's prod waits for its non-prod (wave w1) to
# have migrated and baked (bakeTime 7d). `after` chains the waves as an operator would.
WAVES = [
    {"name": "w1-nonprod", "start": "2024-03-02T20:00:00Z", "end": "2024-03-03T04:00:00Z", "after": []},
    {"name": "w2-prod", "start": "2024-03-16T20:00:00Z", "end": "2024-03-17T04:00:00Z", "after": ["w1-nonprod"]},
    {"name": "w3-prod", "start": "2024-03-23T20:00:00Z", "end": "2024-03-24T04:00:00Z", "after": ["w2-prod"]},
]
NOTICE = "2024-01-15T09:00:00Z"  # 47 days before w1: enough for prod's 30d lead time
TENANTS = 8
MAX_PARALLEL = 2

ALL_STEPS = ["prepare-target", "freeze", "snapshot-queue", "switch-path", "verify-ips", "verify-build",
             "resend-queue", "unfreeze", "rollback-path"]
MUTATING = ["prepare-target", "freeze", "snapshot-queue", "switch-path", "resend-queue", "unfreeze", "rollback-path"]
# Where each effect may fire (FaultRule.swift refuses the rest), narrowed where a fault would
# break the world rather than test Sendpath: change-ips and change-build fire only where the
# instance is on the target afterwards (a source misconfigured behind Sendpath's back would
# make the data center send from undeclared IPs after a rollback, which no controller can
# prevent), and not on unfreeze (after the last check Sendpath can make).
EFFECT_STEPS = {
    "error": ALL_STEPS,
    "timeout": ALL_STEPS,
    "change-ips": ["switch-path", "verify-ips", "verify-build", "resend-queue"],
    "change-build": ["switch-path", "verify-ips", "verify-build", "resend-queue"],
    "partial": ["switch-path", "rollback-path"],
    "late": MUTATING,
    "duplicate": MUTATING,
    "arrivals": ALL_STEPS,
}
# Counts: with the default 4 attempts per step, 4 or more exhausts a step (turn back before
# the point of no return, hold after it); fewer is ridden out by retries.
COUNTS = {
    "error": [1, 1, 2, 2, 3, 4, 5],
    "timeout": [1, 1, 2, 3, 4],
    "late": [1, 1, 2, 4],
    "partial": [1, 1, 2, 4],
    "duplicate": [1, 1, 2],
    "arrivals": [1, 1, 2],
    "change-ips": [1],
    "change-build": [1],
}


def groups_for_wave(rng, wave_index, size, ip_counter):
    """Cut-over groups of 1 to 3 instances, some linked by two prefixes, some on IPv6."""
    shapes = ["one", "two", "three", "linked", "v6", "two"]
    groups = []
    left = size
    while left > 0:
        shape = rng.choice(shapes)
        need = {"one": 1, "two": 2, "three": 3, "linked": 2, "v6": 1}[shape]
        if need > left:
            shape, need = ("one", 1) if left == 1 else ("two", 2)
        groups.append(shape)
        left -= need
    return groups


def main():
    folder = Path(sys.argv[1])
    seed = int(sys.argv[2])
    total = int(sys.argv[3]) if len(sys.argv) > 3 else 120
    rng = random.Random(seed)
    per_wave = [total // 3 + (1 if i < total % 3 else 0) for i in range(3)]

    prefixes = []   # {name, cidr}
    instances = []  # {name, tenant, environment, wave, ips, group}
    groups = []     # {wave, prefixes, members}
    v4, v6 = 0, 0
    for w, wave in enumerate(WAVES):
        count = 0
        for shape in groups_for_wave(rng, w, per_wave[w], None):
            g = len(groups)
            tenant = f"t{rng.randrange(TENANTS)}"
            environment = "prod" if w > 0 else rng.choice(["dev", "staging"])

            def new_v4():
                nonlocal v4
                cidr = f"10.{v4 // 256}.{v4 % 256}.0/24"
                base = f"10.{v4 // 256}.{v4 % 256}."
                v4 += 1
                name = f"pfx-{len(prefixes)}"
                prefixes.append({"name": name, "cidr": cidr})
                return name, base

            def new_instance(ips, prefix_names):
                nonlocal count
                name = f"{wave['name'].split('-')[0]}-{tenant}-{environment}-{count:02d}"
                count += 1
                instances.append({"name": name, "tenant": tenant, "environment": environment,
                                  "wave": wave["name"], "ips": ips, "group": g})
                return name

            members, names = [], []
            if shape in ("one", "two", "three"):
                p, base = new_v4()
                names.append(p)
                for i in range({"one": 1, "two": 2, "three": 3}[shape]):
                    members.append(new_instance([base + str(10 + i)], [p]))
            elif shape == "linked":
                # The first member sends from both prefixes, which links them into one group.
                p1, b1 = new_v4()
                p2, b2 = new_v4()
                names += [p1, p2]
                members.append(new_instance([b1 + "10", b2 + "10"], [p1, p2]))
                members.append(new_instance([b2 + "11"], [p2]))
            else:
                cidr = f"2001:db8:{0x100 + v6:x}::/48"
                base = f"2001:db8:{0x100 + v6:x}::"
                v6 += 1
                name = f"pfx-{len(prefixes)}"
                prefixes.append({"name": name, "cidr": cidr})
                names.append(name)
                members.append(new_instance([base + "10"], [name]))
            groups.append({"wave": wave["name"], "prefixes": names, "members": members})

    # Faults: in every wave, each effect on at least one instance (on a random step it may
    # fire on), then more at random until about 45% of the instances have one or two.
    faults = []
    by_wave = {wave["name"]: [i["name"] for i in instances if i["wave"] == wave["name"]] for wave in WAVES}
    faulted = {}

    def add(instance, effect, step=None):
        step = step or rng.choice(EFFECT_STEPS[effect])
        count = rng.choice(COUNTS[effect])
        faults.append({"instance": instance, "operation": step, "effect": effect, "count": count})
        faulted[instance] = faulted.get(instance, 0) + 1

    for wave in WAVES:
        names = by_wave[wave["name"]]
        for effect in EFFECT_STEPS:
            add(rng.choice(names), effect)
    names = [i["name"] for i in instances]
    while len(faulted) < int(0.45 * len(names)):
        candidate = rng.choice(names)
        if faulted.get(candidate, 0) >= 2:
            continue
        add(candidate, rng.choice(list(EFFECT_STEPS)))
    # A fault on rollback-path fires only if the group turns back: give some groups a cause
    # to (an exhausted error before the point of no return) and a fault on the way back.
    for instance in rng.sample(names, 6):
        faults.append({"instance": instance, "operation": rng.choice(["switch-path", "verify-ips", "snapshot-queue"]),
                       "effect": "error", "count": 4})
        effect = rng.choice(["partial", "late", "duplicate", "timeout", "error", "arrivals"])
        faults.append({"instance": instance, "operation": "rollback-path", "effect": effect,
                       "count": rng.choice(COUNTS[effect])})

    write_manifests(folder, prefixes, instances)
    with open(folder / "faults.yaml", "w") as out:
        out.write(f"# soak faults, seed {seed}: {len(faults)} rules\n")
        for f in faults:
            out.write(f"- {{instance: {f['instance']}, operation: {f['operation']}, effect: {f['effect']}, count: {f['count']}}}\n")
    with open(folder / "fleet.json", "w") as out:
        json.dump({"seed": seed, "target": "/".join(TARGET), "waves": WAVES, "prefixes": prefixes,
                   "instances": instances, "groups": groups, "faults": faults}, out, indent=1)
    print(f"{len(instances)} instances, {len(groups)} groups, {len(prefixes)} prefixes, {len(faults)} faults")


def write_manifests(folder, prefixes, instances):
    manifests = folder / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    with open(manifests / "prefixes.yaml", "w") as out:
        for p in prefixes:
            out.write(f"---\napiVersion: sendpath/v1\nkind: AddressPrefix\nmetadata: {{name: {p['name']}}}\n"
                      f"spec: {{cidr: \"{p['cidr']}\"}}\n")
    with open(manifests / "instances.yaml", "w") as out:
        for i in instances:
            ips = ", ".join(f'"{ip}"' for ip in i["ips"])
            out.write(f"""---
apiVersion: sendpath/v1
kind: Instance
metadata: {{name: {i['name']}}}
spec:
  tenant: {i['tenant']}
  product: campaign-classic-v7
  hosting: managed-services
  environment: {i['environment']}
  build: "{BUILD}"
  sendingIPs: [{ips}]
  sendingPath: {{infrastructure: {TARGET[0]}, location: {TARGET[1]}}}
  wave: {i['wave']}
""")
    with open(manifests / "waves.yaml", "w") as out:
        for wave in WAVES:
            after = ", ".join(wave["after"])
            out.write(f"""---
apiVersion: sendpath/v1
kind: Wave
metadata: {{name: {wave['name']}}}
spec:
  window: {{start: "{wave['start']}", end: "{wave['end']}"}}
  maxParallel: {MAX_PARALLEL}
  after: [{after}]
  notice: {{sentAt: "{NOTICE}"}}
""")


if __name__ == "__main__":
    main()
