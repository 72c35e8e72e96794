#!/usr/bin/env python3
"""Checks docs/provider-api.yaml against a running `sendpath simulator serve`.

1. The document is valid OpenAPI 3.1 (openapi-spec-validator).
2. A scripted session of real calls (every operation, a replay, a key reused for another
   body, a stale fencing token, a missing token, missing headers, an unknown instance, an
   oversized body) gets, for each call, the status the session expects, a status the
   document lists for that operation, and a body that matches the documented schema.

Usage: check_openapi.py SPEC BASE_URL INSTANCE INSTANCE CIDR
The bearer token comes from SENDPATH_PROVIDER_TOKEN. Prints one JSON object,
{"calls": N, "problems": [...]}, and exits 0 only when there is no problem.
"""

import json
import os
import sys
import urllib.error
import urllib.request

import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec


def main() -> int:
    spec_path, base, first, second, cidr = sys.argv[1:6]
    token = os.environ["SENDPATH_PROVIDER_TOKEN"]
    with open(spec_path) as handle:
        spec = yaml.safe_load(handle)
    problems: list[str] = []
    try:
        validate_spec(spec)
    except Exception as error:  # noqa: BLE001 - any validation error is a problem to report
        problems.append(f"the document is not valid OpenAPI 3.1: {error}")
    components = spec.get("components", {})
    calls = 0

    def resolve(node):
        while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/components/responses/"):
            node = components["responses"][node["$ref"].split("/")[-1]]
        return node

    def call(operation, body, *, key=None, fencing=None, step=None, auth=True, raw=None, expect=200):
        nonlocal calls
        calls += 1
        data = raw if raw is not None else json.dumps(body).encode()
        request = urllib.request.Request(f"{base}/v1/{operation}", data=data, method="POST")
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {token}")
        if key is not None:
            request.add_header("Idempotency-Key", key)
        if fencing is not None:
            request.add_header("Sendpath-Fencing-Token", str(fencing))
        if step is not None:
            request.add_header("Sendpath-Step", step)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        label = f"{operation} (expected {expect})"
        if status != expect:
            problems.append(f"{label}: got HTTP {status}: {text[:300]!r}")
        try:
            answer = json.loads(text) if text else None
        except ValueError:
            problems.append(f"{label}: the body is not JSON: {text[:200]!r}")
            return status, None
        responses = spec["paths"].get(f"/v1/{operation}", {}).get("post", {}).get("responses", {})
        documented = responses.get(str(status)) or (responses.get("5XX") if status >= 500 else None)
        if documented is None:
            problems.append(f"{label}: HTTP {status} is not documented for /v1/{operation}")
            return status, answer
        schema = resolve(documented).get("content", {}).get("application/json", {}).get("schema")
        if schema is not None:
            validator = Draft202012Validator({**schema, "components": components})
            for error in validator.iter_errors(answer):
                problems.append(f"{label}: the body does not match the document at "
                                f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}")
        return status, answer

    group = [first, second]
    # Observations.
    _, observed = call("instances/observe", {"names": group, "step": "verify-ips"})
    call("prefixes/observe", {"cidrs": [cidr]})
    source = (observed or {}).get("instances", [{}])[0].get("path", {"infrastructure": "adobe-dc", "location": "dc1"})
    target = {"infrastructure": "aws", "location": "eu-west-1"}
    # Refusals before any change.
    call("instances/observe", {"names": group}, auth=False, expect=401)
    call("freeze", {"instances": group}, expect=400)
    call("freeze", {"instances": ["no-such-instance"]}, key="c/unknown", fencing=5, step="freeze", expect=404)
    call("freeze", {"instances": group}, key="c/big", fencing=5, step="freeze",
         raw=json.dumps({"instances": group, "pad": "x" * (2 << 20)}).encode(), expect=413)
    # A whole cut-over, with a replay, a reused key and a stale token on the way.
    to_target = {"group": "contract", "instances": {name: target for name in group}, "prefixes": {cidr: target}}
    call("prepare-target", to_target, key="c/prepare", fencing=5, step="prepare-target")
    _, first_answer = call("freeze", {"instances": group}, key="c/freeze", fencing=5, step="freeze")
    _, replayed = call("freeze", {"instances": group}, key="c/freeze", fencing=5, step="freeze")
    if replayed != first_answer:
        problems.append(f"a replayed freeze answered {replayed}, not the first answer {first_answer}")
    call("freeze", {"instances": [first]}, key="c/freeze", fencing=5, step="freeze", expect=422)
    call("unfreeze", {"instances": group}, key="c/stale", fencing=4, step="unfreeze", expect=409)
    _, snapshot = call("snapshot-queue", {"instances": group}, key="c/snapshot", fencing=5, step="snapshot-queue")
    for taken in (snapshot or {}).get("snapshots", []):
        if len(taken.get("messages", [])) != taken.get("messageCount"):
            problems.append(f"the snapshot of {taken.get('instance')} lists {len(taken.get('messages', []))} "
                            f"messages for a count of {taken.get('messageCount')}")
    call("switch-path", to_target, key="c/switch", fencing=5, step="switch-path")
    call("resend", {"instances": group, "snapshotKey": "c/snapshot", "maxAgeSeconds": 302400},
         key="c/resend", fencing=5, step="resend-queue")
    call("unfreeze", {"instances": group}, key="c/unfreeze", fencing=5, step="unfreeze")
    # And back, as a rollback does.
    back = {"group": "contract", "instances": {name: source for name in group}, "prefixes": {cidr: source}}
    call("freeze", {"instances": group}, key="c/freeze-2", fencing=6, step="freeze")
    call("rollback-path", back, key="c/rollback", fencing=6, step="rollback-path")
    call("unfreeze", {"instances": group}, key="c/unfreeze-2", fencing=6, step="unfreeze")
    print(json.dumps({"calls": calls, "problems": problems}, indent=2))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
