#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# Every test: unit tests (plain, ASan+UBSan, valgrind), the ABI checks
# against the 7.3 headers, and the whole VM matrix.  A skipped VM test fails.
source "$(dirname "$0")/common.sh"
ifd_setup

passed=0
failed=0
run() {
	local name=$1
	shift
	step "$name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAILED: $name"
	fi
}

run "unit tests" meson test -C "$build" --suite unit --print-errorlogs

asan=$build-asan
[ -d "$asan" ] || meson setup "$asan" -Db_sanitize=address,undefined -Dwerror=true \
	-Dexamples=false -Dvm_tests=false -Dkernel_headers="$kdir/headers/include" >/dev/null
run "unit tests under ASan+UBSan" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C "$asan" --suite unit --print-errorlogs

run "unit tests under valgrind" meson test -C "$build" --suite unit --print-errorlogs \
	--timeout-multiplier 10 \
	--wrapper 'valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99'

# Deterministic instruction and memory counts of the data path (callgrind).
run "host counts (bench/host-count.sh)" meson test -C "$build" --suite bench --print-errorlogs

rm -rf "$build/vm-logs"
run "VM matrix" meson test -C "$build" --suite vm --print-errorlogs
step "VM results"
bash "$root/tests/vm/summary.sh" "$build/vm-logs" || true

# ---- Debian packages (debian/; scripts/build-deb.sh) ----------------------
# dpkg-buildpackage -b from a scratch copy under /tmp (the clone stays
# clean), the unit suite in dh_auto_test, the symbols files checked, then
# lintian: no error, no warning.
run "Debian packages and lintian" bash "$root/scripts/build-deb.sh"
# ---- end of the Debian packages block -------------------------------------

echo
echo "test-all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
