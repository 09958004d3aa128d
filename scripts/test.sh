#!/usr/bin/env bash
# Runs every c1m test on a fresh machine: Go unit and integration tests (with
# the race detector), short fuzz runs of the parsers, the Node and headless
# Chromium suites, and the benchmark smoke test. Installs what it needs
# (Debian packages with apt-get, npm packages with npm ci, Go modules).
#
#   scripts/test.sh            everything
#   scripts/test.sh --go       Go tests only (no fuzz, JS or bench)
#   FUZZTIME=200000x scripts/test.sh   executions per fuzz target (default 40000x)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

only_go=0
[[ "${1:-}" == "--go" ]] && only_go=1
FUZZTIME="${FUZZTIME:-40000x}" # a count: see the fuzz step
if [[ ! "$FUZZTIME" =~ ^[1-9][0-9]*x$ ]]; then
	echo "FUZZTIME must be an execution count such as 40000x, not '$FUZZTIME'" >&2; exit 2
fi

step() { printf '\n==== %s ====\n' "$*"; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [[ -n "$unformatted" ]]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...
(cd bench/peers && go vet ./...)

step "go mod tidy (go.mod and go.sum must already be tidy)"
go mod tidy -diff
(cd bench/peers && go mod tidy -diff)

step "python3-stomp (stomp.py for server/stomp_python_test.go)"
# The STOMP test with a client from another ecosystem runs Debian's stomp.py
# under /usr/bin/python3 (not a pyenv python first on PATH); with
# C1M_REQUIRE_PYSTOMP=1 it fails rather than skips when stomp.py is missing.
if ! /usr/bin/python3 -c 'import stomp' 2>/dev/null; then
	echo "installing python3-stomp with apt-get"
	sudo=""
	[[ "$(id -u)" == 0 ]] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-stomp >/dev/null
fi
export C1M_REQUIRE_PYSTOMP=1

step "go test -race (main module)"
go test -race -shuffle=on -count=1 -timeout 20m ./...

step "go test (bench/peers module)"
(cd bench/peers && go test -count=1 -timeout 10m ./...)

[[ $only_go == 1 ]] && { echo; echo "Go tests passed."; exit 0; }

step "fuzz: the protocol parsers ($FUZZTIME executions each)"
# A count, not a duration: a time-based -fuzztime now and then fails with
# "context deadline exceeded" and no crasher (a race in Go's fuzzing
# coordinator at the deadline). -fuzzminimizetime bounds the minimisation of
# each new-coverage input: by default it may take up to 60 s (or half the count)
# of byte-deletion passes, quadratic in the input's length, during which the
# workers do not fuzz and the log shows 0 execs/s. About 5 s per target on 2 cores.
for pt in wsframe:FuzzParser wsframe:FuzzHandshake poller:FuzzChunked proto/stomp:FuzzParse \
	proto/socketio:FuzzDecode proto/engineio:FuzzSplitPayload proto/sockjs:FuzzDecode; do
	go test "./${pt%%:*}/" -run '^$' -fuzz "^${pt#*:}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 100x -parallel 2
done

step "Node and Chromium suites"
test/run-js-tests.sh

step "bench smoke (scripts/bench.sh --quick)"
scripts/bench.sh --quick

echo
echo "All tests passed."
