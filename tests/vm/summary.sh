#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# Print the VM test matrix from the <cell>.results files run-cell.sh wrote:
# one row per test, one column per cell, entries PASS/FAIL/SKIP or "-" (not
# run in that cell). The "@rig" row is the cell's own health (rig checks,
# timeout, kernel oops/warnings).
#
#   tests/vm/summary.sh LOGDIR [CELL...]
#
# CELLs: the cells to expect (default: the six of the main matrix).
# Exits 1 if any cell's results are missing or any entry is not PASS.
set -euo pipefail

cells=(7.3-cdev 7.3-group 7.3-type1 7.3-auto 6.12-auto 7.3-viommu)

if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	sed -n '4,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	[ $# -eq 1 ] && exit 0
	exit 2
fi
logdir=$1
shift
[ $# -eq 0 ] || cells=("$@")
[ -d "$logdir" ] || {
	echo "summary.sh: no such directory: $logdir" >&2
	exit 1
}

declare -A status=() have_cell=()
tests=()
declare -A known=()
for c in "${cells[@]}"; do
	f="$logdir/$c.results"
	[ -f "$f" ] || continue
	have_cell[$c]=1
	while read -r cell name st _; do
		[ -n "${name:-}" ] || continue
		if [ "$cell" != "$c" ]; then
			echo "summary.sh: $f has a line for cell '$cell'; ignored" >&2
			continue
		fi
		status[$c/$name]=$st
		if [ -z "${known[$name]:-}" ] && [ "$name" != @rig ]; then
			known[$name]=1
			tests+=("$name")
		fi
	done <"$f"
done
tests+=(@rig)

width=4
for t in "${tests[@]}"; do
	[ "${#t}" -gt "$width" ] && width=${#t}
done

bad=0
printf "%-${width}s" test
for c in "${cells[@]}"; do printf "  %-9s" "$c"; done
echo
for t in "${tests[@]}"; do
	printf "%-${width}s" "$t"
	for c in "${cells[@]}"; do
		st=${status[$c/$t]:--}
		[ "$st" = PASS ] || bad=1
		printf "  %-9s" "$st"
	done
	echo
done

missing=()
for c in "${cells[@]}"; do
	[ -n "${have_cell[$c]:-}" ] || missing+=("$c")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "summary.sh: no results for cell(s): ${missing[*]}" >&2
	bad=1
fi
[ "$bad" = 0 ] || {
	echo "summary.sh: not everything passed" >&2
	exit 1
}
echo "summary.sh: all ${#cells[@]} cells passed"
