#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# Soak: run the whole VM matrix N times and report every hang, timeout,
# kernel warning or RCU stall with the console log that shows it.
#
#   scripts/soak.sh [-n ROUNDS] [-c "CELL ..."] [-b BUILD_DIR] [-o OUT_DIR]
#
#   -n ROUNDS   rounds of the matrix (default 10)
#   -c CELLS    cells to run each round (default: every cell of
#               tests/vm/meson.build, one at a time, in its order)
#   -b BUILD    a configured meson build dir (default $IFD_BUILD_DIR, else
#               ./build); built first, then run with `meson test vm-CELL`
#   -o OUT      where each round's logs are kept (default BUILD/soak/DATE);
#               OUT/round-K/CELL.console.log etc.
#
# Not part of CI (a round of six cells takes 5-10 minutes on 2 cores).
# Exit status: 0 if every cell of every round passed, 1 otherwise.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=10
cells=()
build=${IFD_BUILD_DIR:-$root/build}
out=

usage() {
	sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-2}"
}
while getopts n:c:b:o:h opt; do
	case $opt in
	n) rounds=$OPTARG ;;
	c) read -r -a cells <<<"$OPTARG" ;;
	b) build=$OPTARG ;;
	o) out=$OPTARG ;;
	h) usage 0 ;;
	*) usage ;;
	esac
done
case "$rounds" in '' | *[!0-9]* | 0) echo "soak.sh: -n needs a whole number >= 1" >&2 && exit 2 ;; esac
[ -f "$build/build.ninja" ] || {
	echo "soak.sh: $build is not a configured meson build dir (meson setup $build)" >&2
	exit 2
}
build=$(cd "$build" && pwd)
if [ "${#cells[@]}" = 0 ]; then
	read -r -a cells <<<"$(sed -n "s/^ifd_vm_cells = \[\(.*\)\]/\1/p" "$root/tests/vm/meson.build" | tr -d "',")"
fi
[ "${#cells[@]}" -gt 0 ] || {
	echo "soak.sh: no cells (tests/vm/meson.build's ifd_vm_cells)" >&2
	exit 2
}
out=${out:-$build/soak/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

ninja -C "$build" >/dev/null

# What a console shows when the guest kernel is unwell.  run-cell.sh's own
# scan misses an RCU stall unless a backtrace follows it, so look here too.
kernel_re='Oops|BUG:|WARNING:|Kernel panic|general protection|Call Trace|detected stall|rcu_.*stall|soft lockup|hard LOCKUP|blocked for more than|hung_task'

declare -a problems=()
declare -A n_pass=() n_fail=()
stalls=0
t_all=$(date +%s)
for ((k = 1; k <= rounds; k++)); do
	rdir="$out/round-$k"
	mkdir -p "$rdir"
	for cell in "${cells[@]}"; do
		t0=$(date +%s)
		rc=0
		meson test -C "$build" --no-rebuild --suite vm "vm-$cell" >"$rdir/$cell.meson.log" 2>&1 || rc=$?
		t1=$(date +%s)
		for f in "$build/vm-logs/$cell".{console.log,markers.log,results}; do
			[ -f "$f" ] && cp "$f" "$rdir/"
		done
		con="$rdir/$cell.console.log"
		err="$build/meson-logs/testlog.txt"
		[ -f "$err" ] && cp "$err" "$rdir/$cell.testlog.txt"
		what=()
		[ "$rc" = 0 ] || what+=("meson test exit $rc")
		if [ -f "$con" ]; then
			hits=$(tr -d '\r' <"$con" | grep -cE "$kernel_re" || true)
			[ "$hits" = 0 ] || what+=("$hits kernel warning line(s), first: $(tr -d '\r' <"$con" | grep -m1 -E "$kernel_re")")
			if tr -d '\r' <"$con" | grep -qE 'detected stall|rcu_.*stall'; then
				stalls=$((stalls + 1))
				what+=("RCU STALL")
			fi
		else
			what+=("no console log")
		fi
		if [ -f "$rdir/$cell.results" ]; then
			bad=$(awk '$3 != "PASS" { printf "%s=%s ", $2, $3 }' "$rdir/$cell.results")
			[ -z "$bad" ] || what+=("not passed: $bad")
		fi
		grep -q 'did not finish within' "$rdir/$cell.testlog.txt" 2>/dev/null && what+=("HANG: the VM timed out")
		grep -q 'BEGIN but no END' "$rdir/$cell.testlog.txt" 2>/dev/null &&
			what+=("HANG: $(grep -m1 -o 'test [^ ]* has a BEGIN but no END' "$rdir/$cell.testlog.txt")")
		# meson's own per-test timeout (its summary always has a "Timeout:" line).
		grep -qE ' TIMEOUT |^Timeout: +[1-9]' "$rdir/$cell.meson.log" && what+=("meson timeout")
		if [ "${#what[@]}" = 0 ]; then
			n_pass[$cell]=$((${n_pass[$cell]:-0} + 1))
			printf 'soak: round %d/%d %-10s PASS  %3ds\n' "$k" "$rounds" "$cell" $((t1 - t0))
		else
			n_fail[$cell]=$((${n_fail[$cell]:-0} + 1))
			printf 'soak: round %d/%d %-10s FAIL  %3ds: %s\n' "$k" "$rounds" "$cell" $((t1 - t0)) "${what[*]}"
			printf 'soak:   console: %s\n' "$con"
			problems+=("round $k $cell: ${what[*]} (console: $con)")
		fi
	done
done

echo
echo "soak: $rounds round(s) of ${#cells[@]} cell(s) in $(($(date +%s) - t_all)) s; logs in $out"
for cell in "${cells[@]}"; do
	printf 'soak:   %-10s %d passed, %d failed\n' "$cell" "${n_pass[$cell]:-0}" "${n_fail[$cell]:-0}"
done
echo "soak: RCU stalls seen: $stalls"
if [ "${#problems[@]}" = 0 ]; then
	echo "soak: no hang, timeout or kernel warning"
	exit 0
fi
printf 'soak: problem: %s\n' "${problems[@]}"
exit 1
