#!/usr/bin/env bash
# Runs every c1m test on a fresh machine: Go unit and integration tests (with
# the race detector), short fuzz runs of the parsers, the Node and headless
# Chromium suites, and the benchmark smoke test. Installs what it needs
# (Debian packages with apt-get, npm packages with npm ci, Go modules).
#
#   scripts/test.sh            everything
#   scripts/test.sh --go       Go tests only (no fuzz, JS or bench)
#   FUZZTIME=30s scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

only_go=0
[[ "${1:-}" == "--go" ]] && only_go=1
FUZZTIME="${FUZZTIME:-10s}"

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

step "go test -race (main module)"
go test -race -shuffle=on -count=1 -timeout 20m ./...

step "go test (bench/peers module)"
(cd bench/peers && go test -count=1 -timeout 10m ./...)

[[ $only_go == 1 ]] && { echo; echo "Go tests passed."; exit 0; }

step "fuzz: frame parser and handshake ($FUZZTIME each)"
go test ./wsframe/ -run '^$' -fuzz '^FuzzParser$' -fuzztime "$FUZZTIME"
go test ./wsframe/ -run '^$' -fuzz '^FuzzHandshake$' -fuzztime "$FUZZTIME"

step "Node and Chromium suites"
test/run-js-tests.sh

step "bench smoke (scripts/bench.sh --quick)"
scripts/bench.sh --quick

echo
echo "All tests passed."
