#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# Every test: unit tests (plain, ASan+UBSan, valgrind), the ABI checks
# against the 7.3 headers, and the whole VM matrix.  A skipped VM test fails.
source "$(dirname "$0")/common.sh"
ifd_setup

# Debian's 6.12 source with the test fragment (cells 6.12-src and
# 6.12-src-mock, last in the VM matrix): on a kernel-cache miss it builds
# here in the background at the lowest priority, on the CPU the host stages
# leave idle; run-cell.sh waits for it (kernel/build.sh's lock).  Cached,
# this returns at once.
k612_log=$build/kernel-6.12-src.log
mkdir -p "$build"
nice -n 19 bash "$root/kernel/build.sh" --source 6.12 >"$k612_log" 2>&1 &
k612_pid=$!

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

# Shell-script tests (suite scripts) are left out: valgrind would trace
# the shell, not the library.
run "unit tests under valgrind" meson test -C "$build" --suite unit --no-suite scripts --print-errorlogs \
	--timeout-multiplier 10 \
	--wrapper 'valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99'

# ---- issue 12: fuzzing and TSan (scripts/fuzz.sh, tests/tsan.supp) ----
# Each libFuzzer target for IFD_FUZZ_SECONDS (default 10) with its corpus,
# in a clang ASan+UBSan build; any crash fails.  The unit suite under TSan.
fuzz_secs=${IFD_FUZZ_SECONDS:-10}
run "fuzz targets (scripts/fuzz.sh, $fuzz_secs s each)" bash "$root/scripts/fuzz.sh" "$build-fuzz" "$fuzz_secs"
tsan=$build-tsan
[ -d "$tsan" ] || CC=clang CXX=clang++ meson setup "$tsan" -Db_sanitize=thread -Db_lundef=false \
	-Dexamples=false -Dvm_tests=false >/dev/null
run "unit tests under TSan" env TSAN_OPTIONS="halt_on_error=1:suppressions=$root/tests/tsan.supp" \
	meson test -C "$tsan" --suite unit --print-errorlogs
# ---- end issue 12 block ----

# Deterministic instruction and memory counts of the data path (callgrind).
run "host counts (bench/host-count.sh)" meson test -C "$build" --suite bench --print-errorlogs
run "benchmarks, short form (bench/run.sh --short: runs, never judges a time)" bash "$root/bench/run.sh" --short -B "$build" -o "$build/bench-short"

rm -rf "$build/vm-logs"
# Two cells at a time: each guest is one TCG thread, so one at a time
# leaves a core idle.
run "VM matrix" meson test -C "$build" --suite vm --print-errorlogs --num-processes 2
step "VM results"
bash "$root/tests/vm/summary.sh" "$build/vm-logs" || true

# ---- issue 12: the VM programs built with ASan+UBSan (dynamic: the
# runtimes copied into the guest) in the 7.3-cdev cell ----
vmasan=$build-vmasan
[ -d "$vmasan" ] || meson setup "$vmasan" -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all -Dkernel_headers="$kdir/headers/include" >/dev/null
rm -rf "$vmasan/vm-logs"
run "VM programs under ASan+UBSan (vm-7.3-cdev-asan-ubsan)" \
	meson test -C "$vmasan" --suite vm --print-errorlogs vm-7.3-cdev-asan-ubsan
bash "$root/tests/vm/summary.sh" "$vmasan/vm-logs" 7.3-cdev || true
# ---- end issue 12 block ----

# ---- Debian packages (debian/; scripts/build-deb.sh) ----------------------
# dpkg-buildpackage -b from a scratch copy under /tmp (the clone stays
# clean), the unit suite in dh_auto_test, the symbols files checked, then
# lintian: no error, no warning.
run "Debian packages and lintian" bash "$root/scripts/build-deb.sh"
# ---- end of the Debian packages block -------------------------------------

if ! wait "$k612_pid"; then
	echo "FAILED: the 6.12 source kernel (kernel/build.sh --source 6.12; log $k612_log)"
	tail -n 30 "$k612_log"
	failed=$((failed + 1))
fi

step "Counts"
if [ -f "$build-fuzz/fuzz-out/summary" ]; then cat "$build-fuzz/fuzz-out/summary"; fi
# The kernel's own allocation failures injected under the library, per cell
# (tests/integration/fail_nth.c prints one total line per cell).
for log in "$build"/vm-logs/*.console.log; do
	[ -f "$log" ] || continue
	n=$(grep -ahoE 'fail_nth: [0-9]+ kernel failures injected' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
	echo "kernel failures injected in $(basename "$log" .console.log): ${n:-none}"
done
echo "VM cells run: $(ls "$build"/vm-logs/*.results 2>/dev/null | wc -l) (+ $(ls "$vmasan"/vm-logs/*.results 2>/dev/null | wc -l) under ASan+UBSan)"

step_times
# Why a VM cell failed, last: a log read from its end shows it first.
for f in "$build"/vm-logs/*.problems "$vmasan"/vm-logs/*.problems; do
	[ -s "$f" ] || continue
	echo
	echo "VM cell $(basename "$f" .problems) FAILED (console: ${f%.problems}.console.log):"
	cat "$f"
done
echo
echo "test-all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
