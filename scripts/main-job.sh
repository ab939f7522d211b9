#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# The main job: the userspace NVMe driver (examples/nvme) on libiommufd, in
# the VM, on every backend: 7.3 with cdev, group and type1 forced, 7.3 auto
# (must pick cdev), stock 6.12 auto (must pick type1).
source "$(dirname "$0")/common.sh"
ifd_setup

logs=$build/main-job-logs
rm -rf "$logs"
mkdir -p "$logs"
fail=0
for cell in 7.3-cdev 7.3-group 7.3-type1 7.3-auto 6.12-auto; do
	step "NVMe example, cell $cell"
	if IFD_VM_LOGDIR=$logs bash "$root/tests/vm/run-cell.sh" "$cell" "$build/examples/nvme"; then
		:
	else
		fail=1
	fi
	# What the driver printed, from the guest console.
	sed -n '/@@IFD-BEGIN nvme/,/@@IFD-END nvme/p' "$logs/$cell.console.log" | grep -v '^@@' || true
done
step "summary"
bash "$root/tests/vm/summary.sh" "$logs" || fail=1
exit $fail
