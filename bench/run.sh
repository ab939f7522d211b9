#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (C) 2026 The libiommufd authors
# The benchmarks, one command: build them, run the host ones, boot the VM
# rig's cells one at a time with the VM ones, and write the report (a table
# on stdout and in RESULTS/report.md, a plot RESULTS/bench.png and, in the
# full form, docs/performance.md).  Timings are reported, never judged: the
# exit status says only whether every program ran and the report was made.
#
#   bench/run.sh [--short] [--no-setup] [--cells "CELL..."] [-B BUILD_DIR] [-o RESULTS]
#   bench/run.sh --report-only [-B BUILD_DIR] [-o RESULTS]
#
# --short      few repetitions, small sizes, one cell (7.3-cdev), no
#              docs/performance.md: what CI runs (scripts/test-all.sh) to
#              keep the harness working.
# --no-setup   skip scripts/setup-host.sh and the kernel builds (cached).
# --cells      the VM cells (default: all six of tests/vm/run-cell.sh).
# --report-only  make the report again from RESULTS (results.txt, machine.md).
# -B           build dir (default build-bench/, a release build; set up here).
# -o           results dir (default BUILD_DIR/bench-results).
# IFD_BENCH_RUN_CELL: the cell runner (default tests/vm/run-cell.sh).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
all_cells="7.3-cdev 7.3-group 7.3-type1 7.3-auto 6.12-auto 7.3-viommu"
short=0 setup=1 cells=$all_cells build="" out="" report_only=0
while [ $# -gt 0 ]; do
	case "$1" in
	--short) short=1 ;;
	--no-setup) setup=0 ;;
	--report-only) report_only=1 ;;
	--cells) cells=$2; shift ;;
	-B) build=$2; shift ;;
	-o) out=$2; shift ;;
	-h | --help) sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$short" = 1 ]; then
	[ "$cells" = "$all_cells" ] && cells=7.3-cdev
	setup=0
fi
build=${build:-$root/build-bench}
out=${out:-$build/bench-results}
say() { printf '\n== bench: %s\n' "$*"; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
res=$out/results.txt
fails=()
[ "$report_only" = 0 ] || setup=0

if [ "$setup" = 1 ]; then
	say "host packages and kernels (cached)"
	bash "$root/scripts/setup-host.sh"
	bash "$root/kernel/build.sh" | tail -n 1
	bash "$root/kernel/stock-6.12.sh" | tail -n 1
fi

if [ "$report_only" = 1 ]; then
	if [ ! -f "$out/results.txt" ] || [ ! -f "$out/machine.md" ]; then
		echo "bench/run.sh: no results.txt and machine.md in $out to report" >&2
		exit 2
	fi
else
	if [ ! -f "$build/build.ninja" ]; then
		say "configuring $build (release)"
		meson setup "$build" "$root" -Dbuildtype=release -Dvm_tests=true >/dev/null
	fi
	say "building"
	ninja -C "$build" bench/map-bench bench/mock-bench bench/translate-bench examples/nvme >/dev/null
	have_hc=0
	if ninja -C "$build" tests/host-count >/dev/null 2>&1; then
		have_hc=1
	fi

	# Only ever empty a results dir of ours.
	if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ ! -f "$out/results.txt" ]; then
		echo "bench/run.sh: $out is not empty and holds no results.txt: not removing it" >&2
		exit 2
	fi
	rm -rf "$out"
	mkdir -p "$out/progs" "$out/vm-logs"
	: >"$res"

	# ------------------------------------------------------------------ host
	# shellcheck disable=SC2054 # the commas are translate-bench's lists
	if [ "$short" = 1 ]; then
		tb_args=(--reps 2 --iters 20000 --live 1000,10000 --threads 1,4)
		hc_env=(HOST_COUNT_SIZES="1000 10000" HOST_COUNT_ITERS=200)
	else
		tb_args=(--reps 5 --iters 200000 --live 1000,100000 --threads 1,4)
		hc_env=()
	fi
	say "translate and map-handle IOVA lookups on the host (translate-bench ${tb_args[*]})"
	if "$build/bench/translate-bench" "${tb_args[@]}" | tee "$out/translate-bench.log" | grep '^@@BENCH' >>"$res"; then
		:
	else
		fails+=("translate-bench")
	fi

	if [ "$have_hc" = 1 ] && command -v valgrind >/dev/null; then
		say "host counts (bench/host-count.sh, callgrind)"
		for api in engine public; do
			rc=0
			env "${hc_env[@]}" sh "$root/bench/host-count.sh" "$build/tests/host-count" "$api" \
				>"$out/host-count-$api.log" 2>&1 || rc=$?
			cat "$out/host-count-$api.log"
			# A gate missed at 1e6 is a number to report here, not a harness
			# failure; the bench suite of the tests gates it.
			[ "$rc" = 0 ] || [ "$rc" = 1 ] || fails+=("host-count $api (exit $rc)")
			awk '$1 ~ /^(engine|public)$/ && $3 ~ /^[0-9]+$/ {
				printf "@@BENCH name=hostcount cell=host api=%s layout=%s live=%s pair=%s pairva=%s alloc=%s translate=%s vabuild=%s bytes=%s\n",
					$1, $2, $3, $4, $5, $6, $7, $8, $10 }' "$out/host-count-$api.log" >>"$res"
		done
	else
		echo "@@BENCH name=hostcount cell=host unsupported=no-valgrind-or-callgrind-header" >>"$res"
	fi

	# ------------------------------------------------------------------- VM
	# Each VM program gets its arguments from PROGRAM.args next to it (the
	# guest's shell expands them): links to the build's programs with our own.
	ln -sf "$build/bench/map-bench" "$out/progs/map-bench"
	# Five map-bench processes per cell in the full form: a process's
	# address layout alone moves its ratios by a few per cent under TCG,
	# and the median of three still moved by 0.01 between runs of one
	# binary (report.py merges them; docs/performance.md, "Processes").
	benches=("$out/progs/map-bench")
	if [ "$short" != 1 ]; then
		for p in 2 3 4 5; do
			ln -sf "$build/bench/map-bench" "$out/progs/map-bench-$p"
			benches+=("$out/progs/map-bench-$p")
		done
	fi
	ln -sf "$build/bench/mock-bench" "$out/progs/mock-bench"
	ln -sf "$build/examples/nvme" "$out/progs/nvme"
	# shellcheck disable=SC2016 # $IFD_NVME is the guest's to expand
	if [ "$short" = 1 ]; then
		echo '--reps 2 --iters 20 --sizes 4K,2M --live 100' >"$out/progs/map-bench.args"
		echo '--reps 2 --faults 32 --dirty-mib 16' >"$out/progs/mock-bench.args"
		echo '--perf 0.05 "$IFD_NVME"' >"$out/progs/nvme.args"
	else
		echo '--reps 7 --iters 2000 --sizes 4K,64K,2M,64M --live 1000' >"$out/progs/map-bench.args"
		for p in 2 3 4 5; do
			cp "$out/progs/map-bench.args" "$out/progs/map-bench-$p.args"
		done
		echo '--reps 15 --faults 256 --dirty-mib 16384' >"$out/progs/mock-bench.args"
		echo '--perf 1 "$IFD_NVME"' >"$out/progs/nvme.args"
	fi
	for cell in $cells; do
		say "cell $cell (tests/vm/run-cell.sh; one cell at a time)"
		rc=0
		IFD_VM_LOGDIR="$out/vm-logs" IFD_BUILD_DIR="$build" IFD_VM_TIMEOUT=${IFD_VM_TIMEOUT:-1500} \
			IFD_TEST_TIMEOUT=${IFD_TEST_TIMEOUT:-600} \
			"${IFD_BENCH_RUN_CELL:-$root/tests/vm/run-cell.sh}" "$cell" \
			"${benches[@]}" "$out/progs/mock-bench" "$out/progs/nvme" \
			2> >(tee "$out/vm-logs/$cell.run.log" >&2) || rc=$?
		[ "$rc" = 0 ] || fails+=("cell $cell (run-cell.sh exit $rc; $out/vm-logs/$cell.console.log)")
		# Kernel messages may share a console line: keep from the marker on,
		# and only lines of key=value fields.
		tr -d '\r' <"$out/vm-logs/$cell.console.log" | grep -oE '@@BENCH( [a-z_0-9]+=[^ ]+)+$' |
			sed "s/ cell=[^ ]*//; s/^@@BENCH /@@BENCH cell=$cell /" >>"$res" || true
	done

	# --------------------------------------------------------------- report
	say "report"
	machine() {
		echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
		echo "- host: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, $(free -g | awk '/Mem:/ { print $2 }') GiB, kernel $(uname -r)"
		local load_end cores c k
		load_end=$(cut -d' ' -f1-3 /proc/loadavg)
		cores=$(nproc)
		echo "- load average (1, 5, 15 min) at the start: $load_start; at the end: $load_end"
		echo "- QEMU: $(qemu-system-x86_64 --version 2>/dev/null | head -n 1) (TCG, one vCPU thread)"
		echo "- build: $(meson introspect --buildoptions "$build" 2>/dev/null | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' 2>/dev/null || echo '?'); form: $([ "$short" = 1 ] && echo short || echo full); cells: $cells"
		for c in $cells; do
			k=$(sed -n "s/^run-cell.sh: $c: kernel \(.*\), [0-9]* test program.*/\1/p" "$out/vm-logs/$c.run.log" 2>/dev/null | head -n 1)
			echo "- cell $c: kernel ${k:-?}"
		done
		# The bench itself keeps about one CPU busy (one guest's TCG
		# thread, QEMU's I/O threads, the host programs before it): the
		# load at the end counts it, so only more than that says someone
		# else was running.  At the start nothing of ours runs yet.
		if awk -v a="${load_start%% *}" -v b="${load_end%% *}" -v n="$cores" \
			'BEGIN { exit !(a > n / 2 || b > n + 1) }'; then
			echo
			echo "**The machine was busy (load average at the start above half its $cores CPUs, or at the"
			echo "end above $cores + 1, the bench's own share): these numbers show that the harness works,"
			echo "not how fast the library is.  Run again on a quiet machine.**"
		fi
	}
	machine >"$out/machine.md"
fi
doc=()
[ "$short" = 1 ] || doc=(--doc "$root/docs/performance.md")
# Debian's python3 has python3-matplotlib (scripts/setup-host.sh); another
# python3 earlier in PATH may not.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" "$root/bench/report.py" "$res" --machine "$out/machine.md" --out "$out" "${doc[@]}" \
	--expect-cells "$([ "$report_only" = 1 ] || echo "$cells")" ||
	fails+=("bench/report.py")

if [ "${#fails[@]}" -gt 0 ]; then
	say "FAILED:"
	printf '  - %s\n' "${fails[@]}"
	exit 1
fi
say "done: $out/report.md, $out/bench.png$([ "$short" = 1 ] || echo ", docs/performance.md")"
