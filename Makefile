# Sendpath. `make run` shows the main job on the sample fleet; `make test` builds and
# runs every test; `make bench` measures against the floors in Benchmarks/.
# Each target installs what it needs on a fresh Debian machine (run as root).

SWIFT ?= swift
BENCH_RUNS ?= 5

.PHONY: all deps build test run bench clean

all: build

# System packages: libyaml (the manifest reader), SQLite headers (GRDB), Python's
# jsonschema and PyYAML (the schema test), GNU time (benchmarks).
deps:
	@pkg-config --exists yaml-0.1 2>/dev/null && pkg-config --exists sqlite3 2>/dev/null || \
		{ apt-get update && apt-get install -y libyaml-dev libsqlite3-dev pkg-config; }
	@python3 -c 'import jsonschema, yaml' 2>/dev/null || python3 -m pip install --quiet jsonschema PyYAML

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

run: build
	./scripts/demo.sh

bench: deps
	@test -x /usr/bin/time || { apt-get update && apt-get install -y time; }
	mkdir -p Benchmarks/out
	cc -O2 -o Benchmarks/out/yaml_walk Benchmarks/yaml_walk.c $$(pkg-config --cflags --libs yaml-0.1)
	$(SWIFT) build -c release --product sendpath
	python3 Benchmarks/bench.py --runs $(BENCH_RUNS)

clean:
	rm -rf .build Benchmarks/out .sendpath
