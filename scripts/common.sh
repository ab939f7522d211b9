# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# Sourced by main-job.sh and test-all.sh: set-up shared by both README
# commands.  Kernel builds are cached outside the clone (kernel/build.sh).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${IFD_BUILD_DIR:-$root/build}

# Each step's wall time, printed by step_times (the README quotes them).
step_names=()
step_starts=()
step() {
	step_names+=("$*")
	step_starts+=("$(date +%s)")
	printf '\n==== %s\n' "$*"
}
step_times() {
	local i n=${#step_names[@]} end t0
	t0=${step_starts[0]:-$(date +%s)}
	printf '\n==== Time per step\n'
	for ((i = 0; i < n; i++)); do
		if ((i + 1 < n)); then end=${step_starts[i + 1]}; else end=$(date +%s); fi
		printf '%6d s  %s\n' $((end - step_starts[i])) "${step_names[i]}"
	done
	printf '%6d s  total\n' $(($(date +%s) - t0))
}

ifd_setup() {
	step "host packages (scripts/setup-host.sh)"
	bash "$root/scripts/setup-host.sh"

	step "test kernel 7.3 (kernel/build.sh; cached by hash)"
	kdir=$(bash "$root/kernel/build.sh" | tail -n 1)
	echo "kernel: $kdir"
	# The 6.12 source kernel (kernel/build.sh --source 6.12) is built by
	# run-cell.sh when its cell (6.12-src, not in the matrix yet) runs.
	step "stock kernel 6.12 (kernel/stock.sh)"
	bash "$root/kernel/stock.sh" 6.12 | tail -n 1
	step "stock kernel 7.3 (kernel/stock.sh)"
	bash "$root/kernel/stock.sh" 7.3 | tail -n 1

	step "library (meson)"
	# The project's own checks: warnings are errors here (never in a
	# distribution's default build), and the VM suite is required.
	local opts=(-Dkernel_headers="$kdir/headers/include" -Dwerror=true -Dvm_tests=true)
	if [ -d "$build" ]; then
		meson configure "$build" "${opts[@]}" >/dev/null
	else
		meson setup "$build" "${opts[@]}"
	fi
	ninja -C "$build"
}
