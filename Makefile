# Sendpath. `make run` shows the main job on the sample fleet; `make test` builds and
# runs every test; `make bench` measures against the floors in Benchmarks/.
# Each target installs what it needs on a fresh Debian machine (run as root).

SWIFT ?= swift
BENCH_RUNS ?= 5

.PHONY: all deps postgres-deps validators lab-deps browser-deps smtp-sink-deps build test run bench clean soak fuzz check lab

all: build

export DEBIAN_FRONTEND := noninteractive

# System packages: libyaml (the manifest reader), SQLite headers (GRDB), libcurl headers (its SMTP
# client sends notices, docs/notices.md) and the sqlite3 shell (the
# simulator tests plant violations in fleet files with it); Python's jsonschema,
# PyYAML and openapi-spec-validator (the schema and provider-API tests). A Debian python3
# refuses a plain pip install (PEP 668), so pip is asked to install beside its packages.
PYTHON_TEST_PACKAGES := jsonschema PyYAML openapi-spec-validator
deps:
	@pkg-config --exists yaml-0.1 2>/dev/null && pkg-config --exists sqlite3 2>/dev/null && command -v sqlite3 >/dev/null && command -v jq >/dev/null || \
		{ apt-get update && apt-get install -y libyaml-dev libsqlite3-dev pkg-config sqlite3 jq; }
	@python3 -c 'import jsonschema, yaml, openapi_spec_validator' 2>/dev/null || \
		{ python3 -m pip --version >/dev/null 2>&1 || { apt-get update && apt-get install -y python3-pip; }; \
		  python3 -m pip install --quiet $(PYTHON_TEST_PACKAGES) 2>/dev/null || \
		  python3 -m pip install --quiet --break-system-packages $(PYTHON_TEST_PACKAGES); }

# The third-party validators `make test` runs (issue 10): schemathesis against
# docs/provider-api.yaml and `simulator serve`, check-jsonschema against `sendpath schema`, and
# promtool (Debian `prometheus`, the only package shipping it) against the controller's /metrics.
# Pinned: schemathesis 4 and check-jsonschema 0.39 run on the machine's Python 3.11.
VALIDATOR_PYTHON_PACKAGES := schemathesis==4.32.5 check-jsonschema==0.39.0
validators:
	@command -v promtool >/dev/null || { apt-get update && apt-get install -y --no-install-recommends prometheus; }
	@python3 -c 'import schemathesis.cli, check_jsonschema' 2>/dev/null || \
		{ python3 -m pip --version >/dev/null 2>&1 || { apt-get update && apt-get install -y python3-pip; }; \
		  python3 -m pip install --quiet $(VALIDATOR_PYTHON_PACKAGES) 2>/dev/null || \
		  python3 -m pip install --quiet --break-system-packages $(VALIDATOR_PYTHON_PACKAGES); }

# PostgreSQL server binaries and psql, for the tests that run against a real server; openssl
# for the test cluster's TLS certificate.
postgres-deps:
	@test -x "$$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)/initdb" && \
		command -v psql >/dev/null && command -v openssl >/dev/null || \
		{ apt-get update && apt-get install -y postgresql postgresql-client openssl; }

# Headless Chromium (Debian's `chromium`, without its recommends): the schedule page's tests render
# the page and check its DOM and a screenshot.
browser-deps:
	@command -v chromium >/dev/null || { apt-get update && apt-get install -y --no-install-recommends chromium; }

# The real daemons of the lab (docs/lab.md): Postfix (debconf "No configuration"), GoBGP and
# aiosmtpd from Debian's packages; the lab tests in `make test` start them on loopback.
lab-deps:
	@./scripts/lab.sh deps

# The SMTP sink `make run` delivers the sample tenants' notices to: Debian's python3-aiosmtpd
# (importable from /usr/bin/python3 only).
smtp-sink-deps:
	@/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || { apt-get update && apt-get install -y --no-install-recommends python3-aiosmtpd; }

build: deps
	$(SWIFT) build

# The tests start a throwaway PostgreSQL cluster on a free loopback port, and stop it after.
# Two passes: the in-process tests in parallel, then the end-to-end tests of the built binary
# one at a time. Those start servers, kill processes and wait on wall-clock timing; run beside
# each other on two cores, they starve one another and the in-process tests.
test: deps postgres-deps validators lab-deps browser-deps
	$(SWIFT) build --build-tests
	@dir=$$(mktemp -d /tmp/sendpath-pg.XXXXXX); \
	url=$$(./scripts/postgres-test-cluster.sh start "$$dir") || exit 1; \
	export SENDPATH_TEST_POSTGRES_URL="$$url"; \
	$(SWIFT) test --skip-build --skip SendpathCLITests && \
	$(SWIFT) test --skip-build --filter SendpathCLITests --no-parallel; code=$$?; \
	./scripts/postgres-test-cluster.sh stop "$$dir" >/dev/null 2>&1; rm -rf "$$dir"; exit $$code

run: build smtp-sink-deps
	./scripts/demo.sh

bench: deps lab-deps
	@test -x /usr/bin/time || { apt-get update && apt-get install -y time; }
	mkdir -p Benchmarks/out
	cc -O2 -o Benchmarks/out/yaml_walk Benchmarks/yaml_walk.c $$(pkg-config --cflags --libs yaml-0.1)
	$(SWIFT) build -c release --product sendpath
	python3 Benchmarks/bench.py --runs $(BENCH_RUNS)

# Not part of `make test` or CI: SIGKILLs `reconcile` at SOAK_KILLS (default 200) random instants
# over a 120-instance, 3-wave simulated fleet with faults of every kind, then checks the evidence
# twice (docs/reliability.md). SOAK_SEED repeats a run's fleet, faults and kill delays. A debug
# build in its own scratch folder: the soak's time is the simulator's latency, not the CPU.
# It also runs the in-process property tests with more cases (SOAK_PROPERTY_CASES, default 5000;
# `make test` runs 500).
SOAK_PROPERTY_CASES ?= 5000
soak: deps
	$(SWIFT) build --product sendpath --scratch-path .build-soak
	SENDPATH=.build-soak/debug/sendpath ./scripts/soak.sh
	$(SWIFT) build --build-tests
	SENDPATH_PROPERTY_CASES=$(SOAK_PROPERTY_CASES) $(SWIFT) test --skip-build --filter CutoverProperties

# libFuzzer over the manifest loader and validator (Sources/SendpathFuzz), built with its own
# scratch folder: release, -sanitize=fuzzer,address, linked with lld (gold fails on it). Leak
# detection is off (libFuzzer's and ASan's at exit): the Swift runtime's one-time allocations of
# lazy globals read as leaks.
# New inputs go to .fuzz/corpus, crashes and hangs to .fuzz/crashes. FUZZ_SECONDS (1800).
FUZZ_SECONDS ?= 1800
fuzz: deps
	$(SWIFT) build --product sendpath-fuzz --scratch-path .build-fuzz -c release \
		-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DSENDPATH_FUZZ -Xswiftc -use-ld=lld
	mkdir -p .fuzz/corpus .fuzz/crashes
	ASAN_OPTIONS=detect_leaks=0 .build-fuzz/release/sendpath-fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-detect_leaks=0 -print_final_stats=1 -artifact_prefix=.fuzz/crashes/ \
		.fuzz/corpus Tests/Fixtures/fuzz-corpus Tests/Fixtures/fuzz-regressions Tests/Fixtures/hostile

# Not part of `make test` or CI (each sanitizer build takes minutes): the in-process tests under
# AddressSanitizer, then under ThreadSanitizer, each in its own scratch folder, against a
# throwaway PostgreSQL cluster. Leak detection is off, as for `make fuzz`; ASan ignores one
# overflow inside Foundation's Process (Tests/Fixtures/sanitizers/asan.supp); ThreadSanitizer
# reports every race rather than stopping at the first. SANITIZERS="address thread" by default.
SANITIZERS ?= address thread
check: deps postgres-deps
	@dir=$$(mktemp -d /tmp/sendpath-pg.XXXXXX); \
	url=$$(./scripts/postgres-test-cluster.sh start "$$dir") || exit 1; \
	export SENDPATH_TEST_POSTGRES_URL="$$url"; code=0; \
	for sanitizer in $(SANITIZERS); do \
		echo "== in-process tests under the $$sanitizer sanitizer"; \
		$(SWIFT) build --build-tests --sanitize=$$sanitizer --scratch-path .build-$$sanitizer && \
		ASAN_OPTIONS=detect_leaks=0:suppressions=$(CURDIR)/Tests/Fixtures/sanitizers/asan.supp TSAN_OPTIONS=halt_on_error=0 \
			$(SWIFT) test --skip-build --sanitize=$$sanitizer --scratch-path .build-$$sanitizer --skip SendpathCLITests || code=1; \
	done; \
	./scripts/postgres-test-cluster.sh stop "$$dir" >/dev/null 2>&1; rm -rf "$$dir"; exit $$code

# The README's story on real daemons: the lab up, a backlog on every instance, a dry run, the
# migration with the postfix-bgp provider, status, the lab's report from its sink and its route
# collector, the lab down (scripts/lab-story.sh, docs/lab.md).
lab: build lab-deps
	./scripts/lab-story.sh

clean:
	rm -rf .build Benchmarks/out .sendpath
