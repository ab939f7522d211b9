#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# iommufdctl against a fake sysfs/dev/proc tree (IOMMUFDCTL_SYSROOT): what
# it lists, what it writes to bind and unbind, and what it refuses.  The
# tree has no kernel behind it, so a write to drivers_probe binds nothing:
# the test checks the writes, then plays the kernel's part (relinks the
# driver) and checks that the next call sees it.
set -eu
tool=$1
R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
export IOMMUFDCTL_SYSROOT="$R"
unset LIBIOMMUFD_BACKEND

fails=0
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); echo "not ok $n - $1"; fails=$((fails + 1)); }
check() { # check DESCRIPTION COMMAND...
	d=$1; shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}
# run EXPECTED_RC ARGS...: output in $out, exit code checked.
run() {
	want=$1; shift
	set +e
	out=$("$tool" "$@" 2>&1)
	rc=$?
	set -e
	if [ "$rc" = "$want" ]; then ok "iommufdctl $* exits $want"; else
		bad "iommufdctl $* exits $want (got $rc)"; echo "$out" | sed 's/^/# /'; fi
}
has() { printf '%s\n' "$out" | grep -qE -- "$1"; }
content() { [ "$(cat "$R$1")" = "$2" ]; }

# --- the fake tree --------------------------------------------------------
S=$R/sys
mkdir -p "$S/bus/pci/devices" "$S/bus/pci/drivers" "$S/bus/mdev/devices" "$S/kernel/iommu_groups" \
	"$S/class/net" "$S/block" "$S/module/vfio_iommu_type1" "$R/dev/vfio/devices" "$R/proc/self" \
	"$S/devices/pci0000:00"
: >"$S/bus/pci/drivers_probe"
for drv in e1000e nvme vfio-pci pcieport edu 'we"ird\drv'; do
	mkdir -p "$S/bus/pci/drivers/$drv"
	: >"$S/bus/pci/drivers/$drv/bind"
	: >"$S/bus/pci/drivers/$drv/unbind"
done
# dev BDF VENDOR DEVICE GROUP DRIVER|-
dev() {
	p="$S/devices/pci0000:00/$1"
	mkdir -p "$p"
	echo "$2" >"$p/vendor"
	echo "$3" >"$p/device"
	echo "(null)" >"$p/driver_override"
	ln -s "../../../devices/pci0000:00/$1" "$S/bus/pci/devices/$1"
	mkdir -p "$S/kernel/iommu_groups/$4/devices"
	ln -s "../../../kernel/iommu_groups/$4" "$p/iommu_group"
	ln -s "../../../../devices/pci0000:00/$1" "$S/kernel/iommu_groups/$4/devices/$1"
	[ "$5" = - ] || ln -s "../../../bus/pci/drivers/$5" "$p/driver"
	echo "0x00000000fee00000 0x00000000feefffff msi" >"$S/kernel/iommu_groups/$4/reserved_regions"
}
relink() { # relink BDF DRIVER|-: what the kernel does on a successful probe
	rm -f "$S/bus/pci/devices/$1/driver"
	[ "$2" = - ] || ln -s "../../../bus/pci/drivers/$2" "$S/bus/pci/devices/$1/driver"
}
dev 0000:00:02.0 0x8086 0x10d3 1 e1000e
dev 0000:00:03.0 0x1234 0x11e8 2 vfio-pci
dev 0000:00:04.0 0x1b36 0x0010 3 nvme
dev 0000:00:05.0 0x1b36 0x000e 4 pcieport
dev 0000:01:01.0 0x1234 0x11e8 4 edu
dev 0000:01:02.0 0x1234 0x11e8 4 vfio-pci
dev 0000:00:06.0 0x1234 0x11e8 6 'we"ird\drv'
# e1000e's interface, up (IFF_UP is bit 0 of flags)
mkdir -p "$S/devices/pci0000:00/0000:00:02.0/net/eth0"
echo 0x1003 >"$S/devices/pci0000:00/0000:00:02.0/net/eth0/flags"
ln -s "../../devices/pci0000:00/0000:00:02.0/net/eth0" "$S/class/net/eth0"
ln -s ../../../devices/pci0000:00/0000:00:02.0 "$S/devices/pci0000:00/0000:00:02.0/net/eth0/device"
# a virtual interface with no device
mkdir -p "$S/devices/virtual/net/lo" && ln -s ../../devices/virtual/net/lo "$S/class/net/lo"
# the edu's VFIO nodes
mkdir -p "$S/devices/pci0000:00/0000:00:03.0/vfio-dev/vfio0"
: >"$R/dev/vfio/2"; : >"$R/dev/vfio/devices/vfio0"; : >"$R/dev/vfio/vfio"; : >"$R/dev/iommu"
# nvme disk with one partition
nd="$S/devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1"
mkdir -p "$nd/nvme0n1p1" "$nd/holders" "$nd/nvme0n1p1/holders"
echo 259:0 >"$nd/dev"; echo 259:1 >"$nd/nvme0n1p1/dev"; echo 1 >"$nd/nvme0n1p1/partition"
ln -s ../devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1 "$S/block/nvme0n1"
# an mdev in its own group
U=c0ffee00-1234-4567-89ab-0123456789ab
mkdir -p "$S/devices/virtual/mtty/$U/vfio-dev/vfio1" "$S/bus/mdev/drivers/vfio_mdev" "$S/kernel/iommu_groups/5/devices"
ln -s "../../../devices/virtual/mtty/$U" "$S/bus/mdev/devices/$U"
ln -s ../../../../bus/mdev/drivers/vfio_mdev "$S/devices/virtual/mtty/$U/driver"
ln -s ../../../../kernel/iommu_groups/5 "$S/devices/virtual/mtty/$U/iommu_group"
ln -s "../../../../devices/virtual/mtty/$U" "$S/kernel/iommu_groups/5/devices/$U"
printf 'Character devices:\n  1 mem\n 10 misc\n235 vfio-dev\n236 vfio\n\nBlock devices:\n259 blkext\n' >"$R/proc/devices"
echo '21 1 0:20 / / rw - tmpfs tmpfs rw' >"$R/proc/self/mountinfo"
: >"$R/proc/swaps"

# --- usage ----------------------------------------------------------------
run 2
run 2 frobnicate
run 2 list --force
run 2 bind
run 4 bind 0000:00:09.0
check "a missing device points to list" has "iommufdctl list"
run 4 bind not-a-device/x
check "a bad name lists the forms" has "not a PCI address"
run 4 bind lo
check "a virtual interface is named as such" has "virtual network interface"

# --- list -----------------------------------------------------------------
run 0 list
check "list: kernel paths header" has "iommufd \(/dev/iommu\): +yes"
check "list: cdev and groups from /proc/devices" sh -c 'printf "%s\n" "$1" | grep -qE "device cdevs.*yes" &&
	printf "%s\n" "$1" | grep -qE "VFIO groups.*yes"' - "$out"
check "list: legacy type1 container" has "/dev/vfio/vfio container: +vfio-type1"
check "list: edu row" has "^0000:00:03.0 +1234:11e8 +2 +vfio-pci +/dev/vfio/2 +/dev/vfio/devices/vfio0 +0000:00:03.0$"
check "list: e1000e without VFIO nodes" has "^0000:00:02.0 +8086:10d3 +1 +e1000e +- +- +0000:00:02.0$"
check "list: shared group members" has "^0000:01:01.0 .* 4 +edu .*0000:00:05.0,0000:01:01.0,0000:01:02.0$"
check "list: mdev with its cdev" has "^$U +mdev +5 +vfio_mdev +- +/dev/vfio/devices/vfio1"

run 0 list --json
check "list --json is valid JSON" sh -c 'printf "%s" "$1" | python3 -m json.tool >/dev/null' - "$out"
check "list --json: values" python3 -c '
import json, sys
j = json.loads(sys.argv[1])
d = {x["name"]: x for x in j["devices"]}
assert j["kernel"] == {"iommufd": True, "vfio_cdev": True, "vfio_groups": True, "container": "vfio-type1",
	"noiommu_supported": False, "noiommu_enabled": False}, j["kernel"]
assert d["0000:00:03.0"]["iommu_group"] == 2 and d["0000:00:03.0"]["group_node"] == "/dev/vfio/2"
assert d["0000:00:03.0"]["cdev_node"] == "/dev/vfio/devices/vfio0"
assert d["0000:00:02.0"]["driver"] == "e1000e" and d["0000:00:02.0"]["cdev_node"] is None
assert d["0000:00:02.0"]["driver_override"] is None
assert d["0000:01:02.0"]["group_members"] == ["0000:00:05.0", "0000:01:01.0", "0000:01:02.0"]
assert d["0000:00:06.0"]["driver"] == "we\"ird\\drv", d["0000:00:06.0"]["driver"]
assert d[sys.argv[2]]["bus"] == "mdev" and d[sys.argv[2]]["iommu_group"] == 5
assert len(d) == 8
' "$out" "$U"

# the compat container: iommufd provides /dev/vfio/vfio (no type1 module)
rmdir "$S/module/vfio_iommu_type1"
run 0 list
check "list: compat container told apart" has "/dev/vfio/vfio container: +iommufd-compat"
mkdir -p "$S/module/vfio/parameters" && echo Y >"$S/module/vfio/parameters/enable_unsafe_noiommu_mode"
run 0 list --json
check "list --json: no-IOMMU mode on" sh -c 'printf "%s" "$1" | grep -q "\"noiommu_enabled\": true"' - "$out"

# --- refusals -------------------------------------------------------------
run 3 bind 0000:00:02.0
check "up interface named" has "network interface eth0 is up"
check "refusal names --force" has "--force"
check "refused bind writes nothing" sh -c '[ "$(cat "$1")" = "(null)" ] && [ ! -s "$2" ] && [ ! -s "$3" ]' - \
	"$S/bus/pci/devices/0000:00:02.0/driver_override" "$S/bus/pci/drivers/e1000e/unbind" "$S/bus/pci/drivers_probe"
run 3 bind eth0
check "bind by interface name resolves to its device" has "^iommufdctl: 0000:00:02.0: network interface eth0 is up"
echo 0x1002 >"$S/devices/pci0000:00/0000:00:02.0/net/eth0/flags"

echo '36 21 259:1 / /data rw,relatime - ext4 /dev/nvme0n1p1 rw' >>"$R/proc/self/mountinfo"
run 3 bind 00:04.0
check "mounted partition named" has "/dev/nvme0n1p1 is mounted on /data"
mkdir -p "$nd/nvme0n1p1/holders/dm-0"
sed -i '$d' "$R/proc/self/mountinfo"
run 3 bind 00:04.0
check "device-mapper holder named" has "nvme0n1p1 is in use by dm-0"
rmdir "$nd/nvme0n1p1/holders/dm-0"
echo '/dev/nvme0n1 partition 1024 0 -2' >"$R/proc/swaps"
run 3 bind 00:04.0
check "swap named" has "/dev/nvme0n1 is in use as swap"
: >"$R/proc/swaps"

# --- bind / unbind --------------------------------------------------------
run 1 bind /sys/bus/pci/devices/0000:00:04.0
check "bind: driver_override" content /sys/bus/pci/devices/0000:00:04.0/driver_override vfio-pci
check "bind: unbound from nvme" content /sys/bus/pci/drivers/nvme/unbind 0000:00:04.0
check "bind: drivers_probe" content /sys/bus/pci/drivers_probe 0000:00:04.0
check "bind: previous driver remembered" content /run/iommufdctl/0000:00:04.0 nvme
check "bind: a probe that binds nothing is an error" has "did not bind it to vfio-pci"
relink 0000:00:04.0 vfio-pci
: >"$S/bus/pci/drivers_probe"; : >"$S/bus/pci/drivers/nvme/unbind"
run 0 bind 0000:00:04.0
check "bind is idempotent" has "already bound to vfio-pci"
check "idempotent bind writes nothing" sh -c '[ ! -s "$1" ] && [ ! -s "$2" ]' - "$S/bus/pci/drivers_probe" \
	"$S/bus/pci/drivers/nvme/unbind"

run 1 unbind 0000:00:04.0
check "unbind: driver_override cleared" content /sys/bus/pci/devices/0000:00:04.0/driver_override ""
check "unbind: unbound from vfio-pci" content /sys/bus/pci/drivers/vfio-pci/unbind 0000:00:04.0
check "unbind: given back to the remembered driver" content /sys/bus/pci/drivers/nvme/bind 0000:00:04.0
relink 0000:00:04.0 nvme
: >"$S/bus/pci/drivers/nvme/bind"
run 0 unbind 0000:00:04.0
check "unbind is idempotent" has "not bound to vfio-pci"
check "unbind forgets the previous driver" sh -c '[ ! -e "$1" ] && [ ! -s "$2" ]' - \
	"$R/run/iommufdctl/0000:00:04.0" "$S/bus/pci/drivers/nvme/bind"

# unbind of a device bound before the tool existed: the kernel picks the driver
: >"$S/bus/pci/drivers/vfio-pci/unbind"
run 0 unbind 00:03.0
check "unknown previous driver: drivers_probe" content /sys/bus/pci/drivers_probe 0000:00:03.0
check "unknown previous driver: vfio-pci unbind" content /sys/bus/pci/drivers/vfio-pci/unbind 0000:00:03.0

# a group whose other member has a driver
run 3 bind 0000:01:02.0
check "group refusal names the member and --yes" has "also holds 0000:01:01.0 \(driver edu\).*--yes"
check "group refusal writes nothing" sh -c '[ ! -s "$1" ]' - "$S/bus/pci/drivers/edu/unbind"
run 1 bind 0000:01:02.0 --yes
check "--yes binds the member" content /sys/bus/pci/drivers/edu/unbind 0000:01:01.0
check "--yes: member's override" content /sys/bus/pci/devices/0000:01:01.0/driver_override vfio-pci
check "--yes leaves the bridge (pcieport) alone" sh -c '[ ! -s "$1" ]' - "$S/bus/pci/drivers/pcieport/unbind"
relink 0000:01:01.0 vfio-pci
run 0 bind 0000:01:02.0
check "viable group: nothing to do" has "already bound"
run 1 unbind 0000:01:02.0 --yes
check "unbind --yes gives the member back" content /sys/bus/pci/drivers/edu/bind 0000:01:01.0

run 0 bind "$U"
check "mdev: nothing to bind" has "nothing to bind"

# --- info -----------------------------------------------------------------
run 1 info 0000:00:02.0
check "info: blocker and fix" has "bound to e1000e, not vfio-pci: iommufdctl bind 0000:00:02.0"
check "info: reserved regions" has "0x00000000fee00000 0x00000000feefffff msi"
check "info: AUTO choice explained" has "Backend AUTO would pick: cdev"
relink 0000:01:02.0 vfio-pci
relink 0000:01:01.0 edu
run 1 info 0000:01:02.0
check "info: non-viable group names the member" has "member 0000:01:01.0 is bound to edu: iommufdctl bind 0000:01:02.0 --yes"
run 0 info 00:03.0
check "info: nothing blocks the edu" has "^  none$"
LIBIOMMUFD_BACKEND=type1 run 0 info 00:03.0
check "info: a forced backend is explained" has "type1, because LIBIOMMUFD_BACKEND=type1"

# --- setup-user -----------------------------------------------------------
run 0 setup-user nobody 00:03.0
check "setup-user: cdev rule by parent" has 'SUBSYSTEM=="vfio-dev", KERNELS=="0000:00:03.0", OWNER="nobody"'
check "setup-user: group rule" has 'SUBSYSTEM=="vfio", KERNEL=="2", OWNER="nobody"'
check "setup-user: limits.d in KiB" has "^nobody - memlock 1048576$"
check "setup-user: systemd" has "^LimitMEMLOCK=1073741824$"
check "setup-user prints only" sh -c '[ ! -e "$1" ]' - "$R/etc"
run 2 setup-user no-such-user-xyz 00:03.0
run 2 setup-user nobody 00:03.0 --memlock 12Q
run 0 setup-user nobody 00:03.0 --apply --memlock 2G
check "--apply: rule file" grep -q 'KERNELS=="0000:00:03.0"' "$R/etc/udev/rules.d/70-iommufdctl-nobody-0000:00:03.0.rules"
check "--apply: limits file" grep -qx 'nobody - memlock 2097152' "$R/etc/security/limits.d/70-iommufdctl-nobody.conf"

# --- a device without an IOMMU group -----------------------------------------
p="$S/devices/pci0000:00/0000:00:07.0"
mkdir -p "$p" && echo 0x1234 >"$p/vendor" && echo 0x11e8 >"$p/device" && echo "(null)" >"$p/driver_override"
ln -s ../../../devices/pci0000:00/0000:00:07.0 "$S/bus/pci/devices/0000:00:07.0"
echo N >"$S/module/vfio/parameters/enable_unsafe_noiommu_mode"
run 1 bind 0000:00:07.0
check "bind: no group and no no-IOMMU mode: the IOMMU is off" has "has no IOMMU group: the IOMMU is off"
check "that refusal writes nothing" content /sys/bus/pci/devices/0000:00:07.0/driver_override "(null)"
echo Y >"$S/module/vfio/parameters/enable_unsafe_noiommu_mode"
# The fake tree binds nothing on drivers_probe: the bind is tried (exit 1).
run 1 bind 0000:00:07.0
check "bind: no group in no-IOMMU mode is warned about" has "unsafe no-IOMMU mode gives it a group of its own"
check "and vfio-pci is asked to take it" content /sys/bus/pci/devices/0000:00:07.0/driver_override vfio-pci

echo "1..$n"
[ "$fails" -eq 0 ]
