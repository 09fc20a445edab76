#!/usr/bin/env bash
# Runs every dupfs test on a fresh Debian 12 machine: installs what the
# tests need (duplicity, rdiff, gnupg, fuse3, Swift), checks formatting and vet,
# runs unit and integration tests, and each fuzz target briefly.
# FUZZTIME (default 10s) sets how long each fuzz target runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

# The Swift tests (integration/saio and its users) fail rather than skip when
# the Swift packages are missing.
export DUPFS_REQUIRE_SWIFT=1
# Each test binary stops the Swift servers it started (saio.Main), and a
# server stops itself once its test binary is gone; this catches anything
# left in a slot no running test binary holds (flock on the slot's lock).
stop_test_swift() {
	local d
	for d in "${TMPDIR:-/tmp}"/dupfs-saio/*/; do
		[ -f "${d%/}.lock" ] || continue
		flock -n "${d%/}.lock" env SWIFT_SAIO_DIR="$d" bash integration/saio/saio.sh stop >/dev/null 2>&1 || true
	done
}
trap stop_test_swift EXIT

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== unit and integration tests"
# The fault-injection suite writes its summary table here (go test hides
# a passing package's output); printed pass or fail.
export DUPFS_FAULT_REPORT
DUPFS_FAULT_REPORT=$(mktemp)
status=0
go test -count=1 -timeout 25m ./... || status=$?
if [ -s "$DUPFS_FAULT_REPORT" ]; then
	echo "== fault-injection summary"; cat "$DUPFS_FAULT_REPORT"
fi
rm -f "$DUPFS_FAULT_REPORT"
[ "$status" -eq 0 ] || exit "$status"

echo "== race detector on the concurrent packages"
go test -count=1 -race -timeout 10m ./repo/... ./archive/replay/... ./restore/... ./verify/... ./cache/... ./points/... ./unseal/... ./fusefs/... ./backends/retry/... ./backends/multi/... ./backends/backendtest/...

echo "== fuzz targets (${FUZZTIME:-10s} each)"
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		echo "-- $pkg $target"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-10s}" -fuzzminimizetime 2s "$pkg" >/tmp/dupfs-fuzz.log 2>&1 || {
			cat /tmp/dupfs-fuzz.log; exit 1; }
	done
done
echo "all tests passed"
