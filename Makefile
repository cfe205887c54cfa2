# Arca: `make demo` shows the main job end to end; `make test` runs the whole test suite.
# Both install what they need first (Debian 12, as root).

SHELL := /bin/bash
export PATH := $(if $(wildcard /opt/swift/usr/bin),/opt/swift/usr/bin:,)$(PATH)
SWIFT_BUILD_FLAGS ?=

.PHONY: all deps build build-tests test demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	swift build $(SWIFT_BUILD_FLAGS)

# One build serves every test tier (--skip-build below).
build-tests: deps
	swift build --build-tests $(SWIFT_BUILD_FLAGS)

test: build-tests
	@bash scripts/test.sh

demo: build
	@bash scripts/demo.sh

bench: build
	@ARCA_BENCH_DEPS=1 bash scripts/install-deps.sh
	@bash bench/run.sh

clean:
	rm -rf .build
