#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# The libFuzzer targets (tests/fuzz/), each for a bounded time with its
# seed corpus, in their own clang build (-Dfuzz=true, ASan+UBSan).
#
#   scripts/fuzz.sh BUILD_DIR [SECONDS_PER_TARGET (default 20)] [TARGET...]
#
# The corpus in the tree is read, never written: new inputs go to a scratch
# corpus under BUILD_DIR.  A crash, leak or sanitizer report fails the run
# and leaves the input as BUILD_DIR/fuzz-out/<target>/crash-*; replay it
# with BUILD_DIR/tests/fuzz/fuzz-<target> FILE.  Prints the executions of
# each target and the total.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bdir=${1:?usage: scripts/fuzz.sh BUILD_DIR [SECONDS] [TARGET...]}
secs=${2:-20}
shift $(($# >= 2 ? 2 : 1))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(iova-ranges type1-info region-info hw-info fault sysfs names uevent tool-args handover)

if [ ! -d "$bdir" ]; then
	CC=clang CXX=clang++ meson setup "$bdir" "$root" -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fno-sanitize-recover=undefined -Dexamples=false -Dvm_tests=false >/dev/null
fi
ninja -C "$bdir" $(printf 'tests/fuzz/fuzz-%s ' "${targets[@]}") >/dev/null

total=0 bad=0
report=()
for t in "${targets[@]}"; do
	out=$bdir/fuzz-out/$t
	rm -rf "$out"
	mkdir -p "$out/corpus"
	set +e
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$bdir/tests/fuzz/fuzz-$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -close_fd_mask=3 -artifact_prefix="$out/" \
		"$out/corpus" "$root/tests/fuzz/corpus/$t" >"$out/log" 2>&1
	rc=$?
	set -e
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -n 1)
	runs=${runs:-0}
	total=$((total + runs))
	if [ "$rc" -ne 0 ] || [ "$runs" -eq 0 ]; then
		bad=$((bad + 1))
		report+=("$(printf '%-12s %10s executions  FAILED (exit %d)' "$t" "$runs" "$rc")")
		echo "---- fuzz-$t failed; its log ends:"
		grep -E 'ERROR|SUMMARY|Test unit written|#[0-9]+ +in ' "$out/log" | head -n 20 || tail -n 20 "$out/log"
	else
		report+=("$(printf '%-12s %10s executions  ok' "$t" "$runs")")
	fi
done
echo "fuzz targets (${secs} s each):"
printf '  %s\n' "${report[@]}"
echo "fuzz: ${#targets[@]} targets, $total executions, $bad failed" | tee "$bdir/fuzz-out/summary"
[ "$bad" -eq 0 ]
