#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# PID 1 of the VM rig's guest (busybox ash). run-cell.sh packs it as /init.
#
# It prepares the devices, runs every program listed in /tests/.order and
# powers off. Protocol lines (@@IFD-...) go to the console and, as a clean
# copy that kernel messages cannot interleave with, to the second serial port
# (ttyS1), which the host parses.
#
# No `set -e`: if PID 1 exits the kernel panics and the host would only see a
# timeout, so every failure here is reported and the run goes on.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The kernel only auto-mounts devtmpfs on a real root fs, never on initramfs.
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp /dev/shm /dev/hugepages /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
mount -t hugetlbfs hugetlbfs /dev/hugepages
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

if [ -c /dev/ttyS1 ] && (exec 3>/dev/ttyS1) 2>/dev/null; then
	exec 3>/dev/ttyS1
else
	exec 3>/dev/null
	echo "ifd-rig: no /dev/ttyS1; the host will parse markers from the console"
fi

mark() {
	echo "$*"
	echo "$*" >&3
}
rig_fail() {
	mark "@@IFD-RIG-FAIL $*"
}
uptime_s() {
	read -r up _ </proc/uptime
	echo "$up"
}

# A test that outlives its timeout's SIGKILL sleeps in the kernel where no
# signal reaches it (a VFIO device removal waiting for its users, say), and
# the test loop's wait for it would never return.  Name every such task and where it
# sleeps, then tell run-cell.sh, which ends the VM at once: what hung is
# the failure, and it must be visible in CI's log.  (The kernels here have
# no CONFIG_STACKTRACE: wchan is the one frame they give.)
watchdog() {
	sleep $((IFD_TEST_TIMEOUT + 20))
	kill -0 "$2" 2>/dev/null || return 0
	echo "ifd-rig: $1 still runs $((IFD_TEST_TIMEOUT + 20))s after it started, 15s after its SIGKILL"
	for st in /proc/[0-9]*/status; do
		d=${st%/status}
		grep -qs '^State:[[:space:]]*D' "$st" || continue
		echo "ifd-rig: hung: pid ${d#/proc/} $(cat "$d/comm" 2>/dev/null)" \
			"in $(cat "$d/wchan" 2>/dev/null) syscall $(cut -d' ' -f1-3 "$d/syscall" 2>/dev/null)"
		for f in "$d"/fd/*; do
			[ -e "$f" ] && echo "ifd-rig: hung:   fd ${f##*/} -> $(readlink "$f")"
		done
	done
	mark "@@IFD-HUNG $1"
}

# Written by run-cell.sh: IFD_* variables for the tests and the rig. (A
# failed `.` would end this shell, hence the test.)
if [ -f /etc/ifd-rig.env ]; then
	. /etc/ifd-rig.env
else
	rig_fail "/etc/ifd-rig.env is missing (the per-run initramfs part was not unpacked)"
fi

mark "@@IFD-RIG-START $IFD_CELL $(uname -r) uptime=$(uptime_s)"

echo 64 >/proc/sys/vm/nr_hugepages
hp=$(cat /proc/sys/vm/nr_hugepages)
[ "$hp" = 64 ] || rig_fail "reserved only $hp of 64 hugepages"

# Failure-injection sweeps would otherwise print a stack trace per injected
# failure, which the host's kernel-warning scan cannot tell from a real one.
for f in /sys/kernel/debug/fail*/verbose; do
	[ -f "$f" ] && echo 0 >"$f"
done

# Set before the drivers load so that, on the modular kernel, vfio-pci
# claims these devices when it registers and nvme never touches 00:04.0.
for bdf in $IFD_VFIO_DEVICES; do
	[ -f "/sys/bus/pci/devices/$bdf/driver_override" ] &&
		echo vfio-pci >"/sys/bus/pci/devices/$bdf/driver_override"
done

if [ -f /etc/ifd-load-order ]; then
	while read -r ko; do
		[ -n "$ko" ] || continue
		insmod "/$ko" || rig_fail "insmod $ko failed"
	done </etc/ifd-load-order
	echo "ifd-rig: modules loaded at $(uptime_s)s"
	# Debian's kernels have KVM as modules (staged by kernel/stock.sh).
	if grep -q '/kvm-amd\.ko$' /etc/ifd-load-order; then
		[ -c /dev/kvm ] || rig_fail "kvm-amd loaded but there is no /dev/kvm"
	fi
fi

driver_of() {
	if [ -e "/sys/bus/pci/devices/$1/driver" ]; then
		basename "$(readlink "/sys/bus/pci/devices/$1/driver")"
	else
		echo none
	fi
}

for bdf in $IFD_VFIO_DEVICES; do
	d=/sys/bus/pci/devices/$bdf
	[ -d "$d" ] || continue
	drv=$(driver_of "$bdf")
	if [ "$drv" != vfio-pci ]; then
		[ "$drv" != none ] && echo "$bdf" >"$d/driver/unbind"
		echo vfio-pci >"$d/driver_override"
		echo "$bdf" >/sys/bus/pci/drivers_probe
	fi
	drv=$(driver_of "$bdf")
	[ "$drv" = vfio-pci ] || rig_fail "$bdf is bound to '$drv', not vfio-pci"
done

echo "ifd-rig: devices bound at $(uptime_s)s"

# Host drivers may probe asynchronously: give the NVMe left on the host
# driver a moment before judging.
i=0
while [ "$(driver_of "$IFD_NVME_HOST")" = none ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done

echo "ifd-rig: host NVMe driver checked at $(uptime_s)s"

# The addresses are pinned on the QEMU command line; prove it. Format of
# IFD_RIG_EXPECT: "bdf,vendor,device,driver ..." (driver "-" = don't care).
group_of() {
	if [ -e "/sys/bus/pci/devices/$1/iommu_group" ]; then
		basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"
	else
		echo none
	fi
}
echo "ifd-rig: device       vendor:device driver     iommu_group"
for spec in $IFD_RIG_EXPECT; do
	old_ifs=$IFS
	IFS=,
	set -- $spec
	IFS=$old_ifs
	bdf=$1 want_vendor=$2 want_device=$3 want_drv=$4
	d=/sys/bus/pci/devices/$bdf
	if [ ! -d "$d" ]; then
		rig_fail "no PCI device at $bdf"
		continue
	fi
	v=$(cat "$d/vendor")
	dv=$(cat "$d/device")
	drv=$(driver_of "$bdf")
	grp=$(group_of "$bdf")
	echo "ifd-rig: $bdf ${v#0x}:${dv#0x}     $drv $grp"
	[ "$v" = "0x$want_vendor" ] && [ "$dv" = "0x$want_device" ] ||
		rig_fail "$bdf is $v:$dv, expected $want_vendor:$want_device"
	[ "$want_drv" = - ] || [ "$drv" = "$want_drv" ] ||
		rig_fail "$bdf has driver '$drv', expected '$want_drv'"
	# Without an IOMMU only VFIO's own no-IOMMU groups exist (checked below).
	[ "$grp" != none ] || [ "$IFD_IOMMU" = none ] || rig_fail "$bdf has no IOMMU group (is the IOMMU on?)"
done

# Group nodes: /dev/vfio/N, or /dev/vfio/noiommu-N without an IOMMU.
gpfx=
[ "$IFD_IOMMU" = none ] && gpfx=noiommu-
if [ "$IFD_IOMMU" = none ]; then
	# One no-IOMMU group per VFIO device; the topology's shared and
	# non-viable groups do not exist.
	for bdf in $IFD_VFIO_DEVICES; do
		g=$(group_of "$bdf")
		[ "$g" != none ] || rig_fail "$bdf has no VFIO no-IOMMU group (vfio.enable_unsafe_noiommu_mode?)"
		[ "$(cat "/sys/kernel/iommu_groups/$g/name" 2>/dev/null)" = vfio-noiommu ] ||
			rig_fail "$bdf: group $g is not a VFIO no-IOMMU group"
	done
else
set -- $IFD_EDU_PAIR
g1=$(group_of "$1")
g2=$(group_of "$2")
[ "$g1" = "$g2" ] || rig_fail "$1 (group $g1) and $2 (group $g2) should share a group"
g3=$(group_of "$IFD_EDU_NONVIABLE")
g4=$(group_of "$IFD_NVME_HOST")
[ "$g3" = "$g4" ] || rig_fail "$IFD_EDU_NONVIABLE (group $g3) and $IFD_NVME_HOST (group $g4) should share a group"
[ "$g1" != "$g3" ] || rig_fail "the two bridged groups are the same group $g1"
for bdf in "$IFD_EDU" "$IFD_NVME"; do
	g=$(group_of "$bdf")
	[ "$g" != "$g1" ] && [ "$g" != "$g3" ] || rig_fail "$bdf unexpectedly shares group $g"
done
fi

# What each kernel must offer: the test kernels (test, compat) have both
# uAPIs, Debian's own (stock) only the legacy one.
[ -c /dev/vfio/vfio ] || rig_fail "/dev/vfio/vfio is missing"
for bdf in $IFD_VFIO_DEVICES; do
	[ -c "/dev/vfio/$gpfx$(group_of "$bdf")" ] || rig_fail "no /dev/vfio/$gpfx<group> for $bdf"
done
case "$IFD_KERNEL_BUILD" in
test | compat)
	[ -c /dev/iommu ] || rig_fail "/dev/iommu is missing on the $IFD_KERNEL $IFD_KERNEL_BUILD kernel"
	# 6.12's VFIO gives a no-IOMMU device no cdev (drivers/vfio/vfio.h:
	# "cdev does not support noiommu device"); iommufd's no-IOMMU mode
	# (noiommu-vfioN) came later.
	if [ "$IFD_IOMMU" = none ] && [ "$IFD_KERNEL" = 6.12 ]; then
		for bdf in $IFD_VFIO_DEVICES; do
			cdev=$(ls "/sys/bus/pci/devices/$bdf/vfio-dev" 2>/dev/null)
			[ -z "$cdev" ] || [ ! -e "/dev/vfio/devices/$cdev" ] ||
				rig_fail "$bdf: 6.12 gave the no-IOMMU device a cdev (/dev/vfio/devices/$cdev)"
		done
	else
	for bdf in $IFD_VFIO_DEVICES; do
		cdev=$(ls "/sys/bus/pci/devices/$bdf/vfio-dev" 2>/dev/null)
		[ -n "$cdev" ] && [ -c "/dev/vfio/devices/$cdev" ] ||
			rig_fail "no /dev/vfio/devices/${gpfx}vfioN for $bdf"
		case "$cdev" in "${gpfx}vfio"[0-9]*) ;; *) rig_fail "$bdf: cdev '$cdev' is not ${gpfx}vfioN" ;; esac
	done
	fi
	;;
stock)
	[ ! -e /dev/iommu ] || rig_fail "/dev/iommu exists on the legacy-only kernel"
	;;
esac

# The mdma mediated device (kernel/drivers/vfio-mdma/): run-cell.sh built
# mdma.ko for this kernel; load it and create the instances of IFD_MDMA.
# Each is an emulated-IOMMU VFIO device with its own group, /dev/vfio/<group>
# and (7.3) a cdev; the library opens it by UUID.
mdma_type=/sys/class/mdev_bus/mdma/mdev_supported_types/mdma-dma
if [ ! -f /lib/ifd-extra/mdma.ko ]; then
	rig_fail "no /lib/ifd-extra/mdma.ko in the initramfs"
elif ! insmod /lib/ifd-extra/mdma.ko; then
	rig_fail "insmod mdma.ko failed (see the console)"
fi
[ -d "$mdma_type" ] || rig_fail "mdma.ko registered no $mdma_type"
for u in $IFD_MDMA; do
	[ -d "$mdma_type" ] || break
	d=/sys/bus/mdev/devices/$u
	if ! echo "$u" >"$mdma_type/create" || [ ! -d "$d" ]; then
		rig_fail "could not create mdma instance $u"
		continue
	fi
	g=none
	[ -e "$d/iommu_group" ] && g=$(basename "$(readlink "$d/iommu_group")")
	[ -c "/dev/vfio/$g" ] || rig_fail "mdma instance $u: no /dev/vfio/<group> (group $g)"
	cdev=$(ls "$d/vfio-dev" 2>/dev/null)
	if [ "$IFD_KERNEL_BUILD" != stock ]; then
		[ -n "$cdev" ] && [ -c "/dev/vfio/devices/$cdev" ] ||
			rig_fail "mdma instance $u: no /dev/vfio/devices/vfioN"
	fi
	echo "ifd-rig: mdma $u group $g ${cdev:-(no cdev)}"
done

echo "ifd-rig: /dev/vfio:" $(ls /dev/vfio) "devices:" $(ls /dev/vfio/devices 2>/dev/null)

ulimit -l unlimited || rig_fail "ulimit -l unlimited failed"
unset LIBIOMMUFD_DEBUG

mark "@@IFD-RIG-READY uptime=$(uptime_s)"

if [ -f /tests/.order ]; then
	while read -r name; do
		[ -n "$name" ] || continue
		mark "@@IFD-BEGIN $name"
		t0=$(uptime_s)
		# A program that needs arguments (a device, what it may write)
		# comes with /tests/NAME.args; they are expanded here, so they may
		# name the rig's variables ("$IFD_NVME").
		set --
		if [ -f "/tests/$name.args" ]; then
			eval "set -- $(grep -v '^#' "/tests/$name.args" | tr '\n' ' ')"
			echo "ifd-rig: $name arguments: $*"
		fi
		# A test gets no stdin (it must not wait on the console) and not
		# the marker port.
		(cd /tmp && exec timeout -k 5 "$IFD_TEST_TIMEOUT" "/tests/$name" "$@") </dev/null 3>&- &
		tpid=$!
		watchdog "$name" "$tpid" &
		wpid=$!
		wait "$tpid"
		rc=$?
		pkill -P "$wpid" 2>/dev/null
		kill "$wpid" 2>/dev/null
		wait "$wpid" 2>/dev/null
		t1=$(uptime_s)
		mark "@@IFD-END $name $rc"
		case $rc in
		0) ;;
		77) echo "ifd-rig: $name SKIPPED (exit 77)" ;;
		143 | 137) echo "ifd-rig: $name FAILED: exit $rc (killed; after ${IFD_TEST_TIMEOUT}s timeout?)" ;;
		*) echo "ifd-rig: $name FAILED: exit $rc" ;;
		esac
		echo "ifd-rig: $name ran from ${t0}s to ${t1}s guest uptime"
		# Each test starts with an empty /tmp.
		rm -rf /tmp/* 2>/dev/null
	done </tests/.order
fi

# Whatever the tests did, the mdma driver must end with nothing pinned and
# no instance open, and must let its instances and itself go (an open
# instance would make the removal wait forever, so only then).
if [ -d /sys/class/mdev_bus/mdma ]; then
	pinned=$(cat /sys/class/mdev_bus/mdma/pinned_pages)
	open_n=$(cat /sys/class/mdev_bus/mdma/open_instances)
	echo "ifd-rig: after the tests mdma has $pinned pinned pages, $open_n open instances"
	if [ "$pinned" != 0 ] || [ "$open_n" != 0 ]; then
		rig_fail "after the tests mdma still has $pinned pinned pages and $open_n open instances"
	else
		for u in $IFD_MDMA; do
			[ -e "/sys/bus/mdev/devices/$u/remove" ] || continue
			echo 1 >"/sys/bus/mdev/devices/$u/remove" || rig_fail "removing mdma instance $u failed"
		done
		if grep -q '^mdma ' /proc/modules; then
			rmmod mdma || rig_fail "rmmod mdma failed"
		fi
	fi
fi

mark "@@IFD-DONE uptime=$(uptime_s)"
exec 3>&-
poweroff -f
# poweroff -f does not return; if it ever does, the host's timeout ends us.
while :; do sleep 3600; done
