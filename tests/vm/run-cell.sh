#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# Run one cell of libiommufd's VM test matrix: boot a QEMU guest with a
# VT-d IOMMU and a fixed set of PCI devices, run every test program in it
# once, and judge the results.
#
#   tests/vm/run-cell.sh CELL [PROGRAM_OR_DIR...]
#
# CELL: 7.3-cdev 7.3-group 7.3-type1 7.3-auto 6.12-auto 7.3-viommu 7.3-noiommu
#   7.3-stock 7.3-compat 7.3-compat-auto 6.12-src 6.12-src-mock
#   (7.3-viommu: QEMU's virtio-iommu instead of VT-d, AUTO backend; a
#   second IOMMU model with other ranges and no interrupt remapping.
#   7.3-noiommu: no IOMMU at all, vfio.enable_unsafe_noiommu_mode=1 and the
#   unsafe NOIOMMU backend: VFIO devices get noiommu-N groups and
#   noiommu-vfioN cdevs, and the edus a 64-bit dma_mask, since they DMA to
#   physical addresses of a 2 GiB guest.
#   6.12-auto and 7.3-stock: Debian's own kernels, no iommufd.  7.3-compat
#   and 7.3-compat-auto: the test kernel with /dev/vfio/vfio as iommufd's
#   compat container, TYPE1 and AUTO backends.  6.12-src: Debian's 6.12
#   source built with the test kernel's fragment: iommufd and cdevs, an
#   older uAPI; every program but the mock IOMMU's.  6.12-src-mock: the same
#   kernel without the VT-d device, for the mock IOMMU's programs: 6.12
#   gives a device without firmware IOMMU data to the first IOMMU driver
#   registered (drivers/iommu/iommu.c, __iommu_probe_device()), so next to
#   VT-d the mock's devices get Intel's driver, which refuses them, and
#   IOMMU_TEST_OP_MOCK_DOMAIN fails with EINVAL.  The mock IOMMU's programs
#   are those named *mock* or run with --mock (their .args file).)
# PROGRAM_OR_DIR: test executables (run in the order given) or directories
#   (their executables, sorted by name). Default: the meson build dir's
#   tests/integration, tests/it-* and examples (build dir: $IFD_BUILD_DIR, else
#   <repo>/build).  A file PROGRAM.args next to a program holds its
#   arguments (lines starting with # are comments), expanded by the guest's
#   shell, so they may name the rig's variables: --write-lbas 0-63 "$IFD_NVME".
#
# Environment:
#   IFD_VM_LOGDIR     where <cell>.console.log/.markers.log/.results go
#                     (default: <build dir>/vm-logs)
#   IFD_VM_TIMEOUT    seconds for the whole VM run (default 600)
#   IFD_TEST_TIMEOUT  seconds per test program inside the guest (default 300)
#   IFD_VM_TESTS      space-separated test names: run only these
#   IFD_VM_VERBOSE=1  also stream the console to stderr while it runs
#   IFD_VM_APPEND     extra guest kernel parameters (e.g. "ignore_loglevel")
#   IFD_KERNEL_IN_TREE_MDMA=1  7.3 cells boot the kernel built with the mdma
#                     patches applied (kernel/build.sh --in-tree-mdma) and load
#                     its in-tree mdma.ko instead of the out-of-tree build
#   LIBIOMMUFD_CACHE  kernel/initramfs cache root (default /var/cache/libiommufd)
#
# Exit status: 0 only if every test passed; 1 if any test failed, skipped
# (exit 77 counts as a failure here), lost its END marker, the run timed out,
# the rig's own checks failed or the kernel oopsed/warned; 99 if the rig
# could not be set up at all.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
cache_root=${LIBIOMMUFD_CACHE:-/var/cache/libiommufd}

results=
die() {
	echo "run-cell.sh: error: $*" >&2
	# Record the failed cell so that summary.sh shows FAIL rather than "-".
	[ -n "$results" ] && echo "$cell @rig FAIL" >"$results"
	exit 99
}

if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	awk 'NR > 3 && /^#/ { sub(/^# ?/, ""); print; next } NR > 3 { exit }' "$self"
	[ $# -ge 1 ] && exit 0
	exit 99
fi

cell=$1
shift
iommu=vtd
# kbuild: test (kernel/build.sh: iommufd, cdevs, the selftest mock, fault
# injection), compat (the same with iommufd's compat container as
# /dev/vfio/vfio) or stock (Debian's own: groups and type1 only).
kbuild='test'
# all, without or only: which of the mock IOMMU's programs the cell runs.
mockset=all
case "$cell" in
7.3-viommu) kver=7.3 backend=auto expect=cdev iommu=virtio ;;
7.3-cdev) kver=7.3 backend=cdev expect=cdev ;;
7.3-group) kver=7.3 backend=group expect=group ;;
7.3-type1) kver=7.3 backend=type1 expect=type1 ;;
7.3-auto) kver=7.3 backend=auto expect=cdev ;;
6.12-auto) kver=6.12 backend=auto expect=type1 kbuild=stock ;;
7.3-stock) kver=7.3 backend=auto expect=type1 kbuild=stock ;;
7.3-compat) kver=7.3 backend=type1 expect=type1 kbuild=compat ;;
7.3-compat-auto) kver=7.3 backend=auto expect=cdev kbuild=compat ;;
6.12-src) kver=6.12 backend=auto expect=cdev mockset=without ;;
6.12-src-mock) kver=6.12 backend=cdev expect=cdev iommu=none mockset=only ;;
7.3-noiommu) kver=7.3 backend=noiommu expect=noiommu iommu=none ;;
*) die "unknown cell '$cell' (cells: 7.3-cdev 7.3-group 7.3-type1 7.3-auto 6.12-auto 7.3-viommu 7.3-noiommu 7.3-stock 7.3-compat 7.3-compat-auto 6.12-src 6.12-src-mock)" ;;
esac

build_dir=${IFD_BUILD_DIR:-$repo/build}
logdir=${IFD_VM_LOGDIR:-$build_dir/vm-logs}
vm_timeout=${IFD_VM_TIMEOUT:-600}
test_timeout=${IFD_TEST_TIMEOUT:-300}
case "$vm_timeout$test_timeout" in *[!0-9]*) die "IFD_VM_TIMEOUT and IFD_TEST_TIMEOUT must be whole seconds" ;; esac

mkdir -p "$logdir" || die "cannot create log dir $logdir"
logdir=$(cd "$logdir" && pwd)
console="$logdir/$cell.console.log"
markers="$logdir/$cell.markers.log"
results="$logdir/$cell.results"
# A stale results file from an earlier run must never be read as this run's.
rm -f "$console" "$markers" "$results"

for tool in qemu-system-x86_64 cpio gzip flock ldd; do
	command -v "$tool" >/dev/null || die "'$tool' is missing; run scripts/setup-host.sh"
done
# ldd prints "=>" or names a loader only for dynamically linked programs.
is_dynamic() { ldd "$1" 2>/dev/null | grep -qE '=>|ld-linux'; }
busybox_bin=/bin/busybox
# The guest has no libc, so busybox must be the static build.
[ -x "$busybox_bin" ] && ! is_dynamic "$busybox_bin" ||
	die "no static $busybox_bin (package busybox-static); run scripts/setup-host.sh"

# ---------------------------------------------------------------- programs
declare -a progs=() names=()
declare -A by_name=() args_of=()
add_prog() {
	local p=$1 n
	n=$(basename "$p")
	case "$n" in *[[:space:]]* | .*) die "test program name '$n' must not contain spaces or start with '.'" ;; esac
	if [ -n "${by_name[$n]:-}" ]; then
		[ "${by_name[$n]}" = "$p" ] && return 0
		die "two test programs are both named '$n': ${by_name[$n]} and $p"
	fi
	if [ -n "${IFD_VM_TESTS:-}" ] && ! [[ " $IFD_VM_TESTS " == *" $n "* ]]; then
		return 0
	fi
	if [ "$mockset" != all ]; then
		local mock=0
		if [[ "$n" == *mock* ]] || { [ -f "$p.args" ] && grep -qE '^[^#]*(^|[[:space:]])--mock([[:space:]]|$)' "$p.args"; }; then
			mock=1
		fi
		[ "$mockset" = only ] && [ "$mock" = 0 ] && return 0
		[ "$mockset" = without ] && [ "$mock" = 1 ] && return 0
	fi
	by_name[$n]=$p
	if [ -f "$p.args" ]; then
		args_of[$n]=$p.args
	fi
	progs+=("$p")
	names+=("$n")
}
add_dir() {
	local f
	while IFS= read -r f; do
		case "$f" in *.so | *.so.* | *.a | *.o) continue ;; esac
		if [ -x "$f" ]; then
			add_prog "$f"
		fi
	done < <(find "$1" -mindepth 1 -maxdepth 1 -type f | LC_ALL=C sort)
}
if [ $# -eq 0 ]; then
	found=0
	for d in "$build_dir/tests/integration" "$build_dir/examples"; do
		if [ -d "$d" ]; then
			add_dir "$d"
			found=1
		fi
	done
	# meson builds the integration programs as <build>/tests/it-NAME (the
	# unit tests beside them never run in the guest).
	while IFS= read -r f; do
		add_prog "$f"
		found=1
	done < <(find "$build_dir/tests" -mindepth 1 -maxdepth 1 -type f -name 'it-*' -perm -u+x 2>/dev/null |
		LC_ALL=C sort)
	[ "$found" = 1 ] ||
		die "no test programs given and neither $build_dir/tests/integration nor $build_dir/examples exists"
else
	for a in "$@"; do
		if [ -d "$a" ]; then
			add_dir "$(cd "$a" && pwd)"
		elif [ -f "$a" ] && [ -x "$a" ]; then
			add_prog "$(cd "$(dirname "$a")" && pwd)/$(basename "$a")"
		else
			die "'$a' is neither a directory nor an executable file"
		fi
	done
fi
[ "${#progs[@]}" -gt 0 ] ||
	echo "run-cell.sh: warning: no test programs; only the rig's own checks will run" >&2

# ------------------------------------------------------------------ kernel
case "$kbuild" in
stock) kdir=$("$repo/kernel/stock.sh" "$kver" | tail -n 1) || die "kernel/stock.sh $kver failed" ;;
*)
	# The in-tree mdma variant exists for the 7.3 source only.
	in_tree=${IFD_KERNEL_IN_TREE_MDMA:-0}
	[ "$kver" = 7.3 ] || in_tree=0
	kdir=$(IFD_KERNEL_IN_TREE_MDMA=$in_tree "$repo/kernel/build.sh" --source "$kver" | tail -n 1) ||
		die "kernel/build.sh --source $kver failed"
	;;
esac
# The compat variant is the same release built in the same tree: modules
# (mdma.ko) built against the base kernel's build/ load into it.
mdma_kdir=$kdir
[ "$kbuild" = compat ] && kdir=$kdir/compat
[ -f "$kdir/bzImage" ] || die "kernel dir '$kdir' has no bzImage"
krel=$(cat "$kdir/kernel.release")
# The mdma mediated device (kernel/drivers/vfio-mdma/) for this kernel: the
# guest loads it and creates the instances the mdma_* tests use.
mdma_ko=$("$repo/kernel/drivers/vfio-mdma/build-module.sh" "$mdma_kdir" | tail -n 1) ||
	die "building mdma.ko for $krel failed"
[ -f "$mdma_ko" ] || die "no mdma.ko for $krel ($mdma_ko)"

work=$(mktemp -d "${TMPDIR:-/tmp}/ifd-vm-$cell.XXXXXX")
qemu_pid=
tail_pid=
cleanup() {
	[ -n "$qemu_pid" ] && kill -KILL "$qemu_pid" 2>/dev/null
	[ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --------------------------------------------------------------- initramfs
# Two concatenated cpio archives (the kernel unpacks them in turn): a cached
# base (busybox, /init, kernel modules) that only changes with the kernel or
# this rig, and the per-run part (test programs + this cell's settings),
# left uncompressed: it is rebuilt every run, and gzip made no measurable
# difference to boot time with 15 MB of programs.
base_key=$(
	{
		echo "kernel $kdir $krel"
		[ -f "$kdir/modules/load-order" ] && sha256sum <"$kdir/modules/load-order"
		find "$kdir/modules" -type f -printf '%P %s %T@\n' 2>/dev/null | LC_ALL=C sort
		echo "busybox $(stat -L -c '%s %Y' "$busybox_bin")"
		sha256sum <"$here/guest-init.sh"
		sha256sum <"$self"
	} | sha256sum | cut -c1-16
)
base="$cache_root/initramfs-$base_key.cpio.gz"
make_cpio() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0); }
if [ ! -f "$base" ]; then
	mkdir -p "$cache_root" || die "cannot create cache root $cache_root (set LIBIOMMUFD_CACHE)"
	(
		flock 9
		[ -f "$base" ] && exit 0
		st="$work/base"
		mkdir -p "$st"/{bin,sbin,etc,proc,sys,dev,tmp,tests,usr/bin,usr/sbin}
		cp "$busybox_bin" "$st/bin/busybox"
		for applet in $("$busybox_bin" --list); do
			[ "$applet" = busybox ] || ln -s busybox "$st/bin/$applet"
		done
		# The kernel opens /dev/console for PID 1 before /init can mount
		# devtmpfs; the kernel's built-in cpio usually has it, but not always.
		mknod -m 600 "$st/dev/console" c 5 1 2>/dev/null || true
		install -m 755 "$here/guest-init.sh" "$st/init"
		if [ -d "$kdir/modules" ]; then
			cp -a "$kdir/modules/." "$st/"
			[ -f "$st/load-order" ] && mv "$st/load-order" "$st/etc/ifd-load-order"
		fi
		make_cpio "$st" | gzip -1 >"$base.tmp.$$"
		mv "$base.tmp.$$" "$base"
	) 9>"$cache_root/.initramfs.lock" || die "building the base initramfs failed"
fi
# Every change to the rig or a kernel makes a new base; forget unused ones.
touch "$base"
find "$cache_root" -maxdepth 1 -name 'initramfs-*.cpio.gz' -mtime +14 -delete 2>/dev/null || true

st="$work/tests"
mkdir -p "$st/tests" "$st/etc" "$st/lib/ifd-extra"
cp "$mdma_ko" "$st/lib/ifd-extra/mdma.ko"
: >"$st/tests/.order"
for i in "${!progs[@]}"; do
	p=${progs[$i]}
	n=${names[$i]}
	cp -L "$p" "$st/tests/$n"
	chmod 755 "$st/tests/$n"
	if [ -n "${args_of[$n]:-}" ]; then
		cp -L "${args_of[$n]}" "$st/tests/$n.args"
	fi
	echo "$n" >>"$st/tests/.order"
	# Static binaries are the plan, but a dynamic one still runs if its
	# libraries (and loader) come along at their host paths.
	if is_dynamic "$p"; then
		echo "run-cell.sh: note: $n is dynamically linked; copying its libraries into the guest" >&2
		while IFS= read -r lib; do
			[ -f "$lib" ] || continue
			mkdir -p "$st$(dirname "$lib")"
			cp -L "$lib" "$st$lib"
		done < <(ldd "$p" 2>/dev/null | grep -oE '/[^ ]+' | LC_ALL=C sort -u)
	fi
done

# The mdma instances the guest creates (fixed, so logs are comparable).
mdma_uuids='6d646d61-0000-4000-8000-000000000001 6d646d61-0000-4000-8000-000000000002'

# Device map: BDF,vendor,device,driver ("-": any driver, checked elsewhere).
# The e1000e is on no driver on 6.12 (its module is not staged) and on
# e1000e on the 7.3 test kernel (E1000E=y, for iommufdctl's bind by name).
# VT-d: devices behind a conventional-PCI bridge share the bridge's group.
# virtio-iommu gives such devices no group at all (rig-facts), so there the
# shared and the non-viable groups are multifunction slots instead.
if [ "$iommu" = virtio ]; then
	rig_expect="0000:00:02.0,8086,10d3,-
0000:00:03.0,1234,11e8,vfio-pci
0000:00:04.0,1b36,0010,vfio-pci
0000:00:05.0,1234,11e8,vfio-pci
0000:00:05.1,1234,11e8,vfio-pci
0000:00:06.0,1234,11e8,vfio-pci
0000:00:06.1,1b36,0010,nvme
0000:00:08.0,1af4,1110,vfio-pci
0000:01:00.0,8086,10c9,-"
	edu_pair='0000:00:05.0 0000:00:05.1' edu_nonviable='0000:00:06.0' nvme_host='0000:00:06.1'
	igb_pf='0000:01:00.0'
else
	rig_expect="0000:00:02.0,8086,10d3,-
0000:00:03.0,1234,11e8,vfio-pci
0000:00:04.0,1b36,0010,vfio-pci
0000:00:05.0,1b36,000e,-
0000:01:01.0,1234,11e8,vfio-pci
0000:01:02.0,1234,11e8,vfio-pci
0000:00:06.0,1b36,000e,-
0000:02:01.0,1234,11e8,vfio-pci
0000:02:02.0,1b36,0010,nvme
0000:00:08.0,1af4,1110,vfio-pci
0000:03:00.0,8086,10c9,-"
	edu_pair='0000:01:01.0 0000:01:02.0' edu_nonviable='0000:02:01.0' nvme_host='0000:02:02.0'
	igb_pf='0000:03:00.0'
fi
{
	echo "export IFD_CELL='$cell'"
	echo "export IFD_KERNEL='$kver'"
	echo "export IFD_KERNEL_BUILD='$kbuild'"
	echo "export IFD_IOMMU='$iommu'"
	echo "export LIBIOMMUFD_BACKEND='$backend'"
	echo "export IFD_EXPECT_BACKEND='$expect'"
	echo "export IFD_EDU='0000:00:03.0'"
	echo "export IFD_NVME='0000:00:04.0'"
	echo "export IFD_EDU_PAIR='$edu_pair'"
	echo "export IFD_EDU_NONVIABLE='$edu_nonviable'"
	echo "export IFD_NVME_HOST='$nvme_host'"
	echo "export IFD_MDMA='$mdma_uuids'"
	echo "export IFD_UNBOUND='0000:00:02.0'"
	# ivshmem-plain: BAR 2 is 1 MiB of plain memory, a peer-to-peer DMA
	# target (bound to vfio-pci).  igb: an SR-IOV PF (7 VFs at most) left
	# on no driver, for the VF-token tests to bind and enable.
	echo "export IFD_IVSHMEM='0000:00:08.0'"
	echo "export IFD_IGB_PF='$igb_pf'"
	echo "export IFD_TEST_TIMEOUT='$test_timeout'"
	# examples/edu.h: the dma_mask this cell gives the edus.
	if [ "$iommu" = none ]; then
		echo "export EDU_DMA_MASK='0xffffffffffffffff'"
	fi
	# A sanitizer build's programs (the vm-7.3-cdev-asan cell) take the
	# host's options; set by tests/vm/meson.build.
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
		[ -z "${!v:-}" ] || echo "export $v='${!v}'"
	done
	echo "IFD_VFIO_DEVICES='0000:00:03.0 0000:00:04.0 $edu_pair $edu_nonviable 0000:00:08.0'"
	echo "IFD_RIG_EXPECT='$(echo "$rig_expect" | tr '\n' ' ')'"
} >"$st/etc/ifd-rig.env"
make_cpio "$st" >"$work/tests.cpio"
# An uncompressed archive is only recognised at a 4-byte aligned offset; the
# kernel skips the zero padding between archives.
base_size=$(stat -c %s "$base")
{
	cat "$base"
	head -c $(((4 - base_size % 4) % 4)) /dev/zero
	cat "$work/tests.cpio"
} >"$work/initrd"

# -------------------------------------------------------------------- QEMU
truncate -s 64M "$work/nvme0.img" "$work/nvme1.img"
# Single-threaded TCG: with one host thread per vCPU, QEMU 10.0 once died with
# "iotlb_to_section: Assertion `section_index < d->map.sections_nb' failed"
# while a vfio-pci reset remapped BARs (a race in its memory map, not ours).
# loglevel=5 keeps boot quiet but prints KERN_WARNING: a WARN() splat must
# reach the console the rig scans.
append="console=ttyS0 loglevel=5 panic=-1"
# Under host load TCG can miss the kernel's IO-APIC timer check, which then
# panics ("timer doesn't work through Interrupt-remapped IO-APIC", seen
# with a kernel build running beside the matrix): the emulated timer is
# known good, skip the check.
append="$append no_timer_check"
# Debian's kernel leaves VT-d off unless asked (INTEL_IOMMU_DEFAULT_ON unset).
[ "$kbuild" = stock ] && append="$append intel_iommu=on"
# virtio-iommu has no interrupt remapping: VFIO and iommufd refuse such an
# IOMMU unless told that the (emulated) platform's MSIs are trusted.
[ "$iommu" = virtio ] &&
	append="$append iommufd.allow_unsafe_interrupts=1 vfio_iommu_type1.allow_unsafe_interrupts=1"
# No IOMMU: VFIO hands devices out only in its unsafe mode, which must be on
# before vfio-pci binds them.
[ "$iommu" = none ] && append="$append vfio.enable_unsafe_noiommu_mode=1"
[ -n "${IFD_VM_APPEND:-}" ] && append="$append $IFD_VM_APPEND"
# The edu masks DMA addresses to 28 bits by default; without an IOMMU it is
# programmed with physical addresses, which reach 2 GiB here.
edu_opt=
[ "$iommu" = none ] && edu_opt=,dma_mask=0xffffffffffffffff
if [ "$iommu" = virtio ]; then
	iommu_dev=(-device virtio-iommu-pci,bus=pcie.0,addr=07.0)
	# Multifunction slots: the functions of one slot share a group.
	topology=(
		-device edu,bus=pcie.0,addr=05.0,multifunction=on
		-device edu,bus=pcie.0,addr=05.1
		-device edu,bus=pcie.0,addr=06.0,multifunction=on
		-drive "file=$work/nvme1.img,if=none,id=nvm1,format=raw"
		-device nvme,serial=cafef00d,drive=nvm1,bus=pcie.0,addr=06.1
	)
else
	iommu_dev=(-device intel-iommu,intremap=on,caching-mode=on)
	[ "$iommu" = none ] && iommu_dev=()
	topology=(
		# A conventional-PCI bridge: devices behind it share the bridge's
		# requester ID, so IOMMU groups span the whole secondary bus.
		-device pcie-pci-bridge,id=br1,bus=pcie.0,addr=05.0
		-device "edu,bus=br1,addr=01.0$edu_opt"
		-device "edu,bus=br1,addr=02.0$edu_opt"
		-device pcie-pci-bridge,id=br2,bus=pcie.0,addr=06.0
		-device "edu,bus=br2,addr=01.0$edu_opt"
		-drive "file=$work/nvme1.img,if=none,id=nvm1,format=raw"
		-device nvme,serial=cafef00d,drive=nvm1,bus=br2,addr=02.0
	)
fi
qemu=(
	qemu-system-x86_64 -accel tcg,thread=single -cpu max -m 2G -smp 2
	-machine q35,kernel-irqchip=split
	-display none -vga none -monitor none -no-reboot
	-serial stdio -serial "file:$markers"
	"${iommu_dev[@]}"
	# The NIC only has to exist; "restrict" keeps the user-mode backend,
	# which is there to avoid a no-peer warning, from reaching anything.
	-netdev user,id=net0,restrict=on
	-device e1000e,netdev=net0,bus=pcie.0,addr=02.0
	-device "edu,bus=pcie.0,addr=03.0$edu_opt"
	-drive "file=$work/nvme0.img,if=none,id=nvm0,format=raw"
	-device nvme,serial=deadbeef,drive=nvm0,bus=pcie.0,addr=04.0
	-object memory-backend-memfd,id=shm0,size=1M,share=on
	-device ivshmem-plain,memdev=shm0,bus=pcie.0,addr=08.0
	-netdev user,id=net1,restrict=on
	-device pcie-root-port,id=rp1,bus=pcie.0,addr=09.0,chassis=9
	-device igb,netdev=net1,bus=rp1
	"${topology[@]}"
	-kernel "$kdir/bzImage" -initrd "$work/initrd" -append "$append"
)

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# later_than T0 T1 S: is T1 more than S seconds after T0?
later_than() { awk -v a="$1" -v b="$2" -v s="$3" 'BEGIN { exit !(b - a > s) }'; }
seen() {
	if [ -s "$markers" ]; then
		grep -qs -- "$1" "$markers"
	else
		grep -qs -- "$1" "$console"
	fi
}

echo "run-cell.sh: $cell: kernel $krel ($kdir), ${#progs[@]} test program(s); console: $console" >&2
t_start=$(now)
"${qemu[@]}" </dev/null >"$console" 2>&1 &
qemu_pid=$!
if [ "${IFD_VM_VERBOSE:-0}" = 1 ]; then
	tail -n +1 -f "$console" >&2 &
	tail_pid=$!
fi

# Poll rather than block on qemu: it lets us time the boot, and if the guest
# finished but poweroff did not end QEMU we stop it instead of waiting for
# the timeout.
t_ready='' t_done='' t_hung='' timed_out=0 forced_off=0
while kill -0 "$qemu_pid" 2>/dev/null; do
	t=$(now)
	if [ -z "$t_ready" ] && seen '@@IFD-RIG-READY'; then
		t_ready=$t
	fi
	if [ -z "$t_done" ] && seen '@@IFD-DONE'; then
		t_done=$t
	fi
	# A test stuck in the kernel: nothing more will run (see guest-init.sh).
	if [ -z "$t_hung" ] && seen '@@IFD-HUNG'; then
		t_hung=$t
	fi
	if [ -n "$t_hung" ] && later_than "$t_hung" "$t" 2; then
		kill -KILL "$qemu_pid" 2>/dev/null || true
		break
	fi
	if [ -n "$t_done" ] && later_than "$t_done" "$t" 15; then
		forced_off=1
		kill -KILL "$qemu_pid" 2>/dev/null || true
		break
	fi
	if [ "${t%.*}" -ge $((${t_start%.*} + vm_timeout)) ]; then
		timed_out=1
		kill -KILL "$qemu_pid" 2>/dev/null || true
		break
	fi
	sleep 0.2
done
qemu_rc=0
wait "$qemu_pid" 2>/dev/null || qemu_rc=$?
qemu_pid=
t_end=$(now)
if [ -n "$tail_pid" ]; then
	kill "$tail_pid" 2>/dev/null || true
	tail_pid=
fi

# ------------------------------------------------------------------ verdict
# The second serial port carries only protocol lines; fall back to the
# console copy if it never came up.
src=$markers
grep -qs '@@IFD-RIG-START' "$markers" || src=$console
declare -A began=() rc_of=()
rig_fails=() hung=()
done_seen=0
while read -r tag a b rest; do
	case "$tag" in
	@@IFD-BEGIN) began[$a]=1 ;;
	@@IFD-END) rc_of[$a]=$b ;;
	@@IFD-DONE) done_seen=1 ;;
	@@IFD-RIG-FAIL) rig_fails+=("$a $b $rest") ;;
	@@IFD-HUNG) hung+=("$a") ;;
	esac
done < <(tr -d '\r' <"$src" 2>/dev/null | grep -oE '@@IFD-[A-Z-]+( .*)?$' || true)

problems=()
: >"$results"
for n in "${names[@]}"; do
	if [ -n "${rc_of[$n]:-}" ]; then
		case "${rc_of[$n]}" in
		0) status=PASS ;;
		77)
			status=SKIP
			problems+=("test $n SKIPPED (exit 77); a skip is a failure in this project")
			;;
		*)
			status=FAIL
			problems+=("test $n FAILED with exit ${rc_of[$n]}")
			;;
		esac
	elif [ -n "${began[$n]:-}" ] && [[ " ${hung[*]} " == *" $n "* ]]; then
		status=FAIL
		problems+=("test $n HUNG: still alive after its timeout's SIGKILL (asleep in the kernel):
$(tr -d '\r' <"$console" | grep -E '^ifd-rig: (hung|'"$n"' still runs)|blocked until|currently in use' | head -n 40)")
	elif [ -n "${began[$n]:-}" ]; then
		status=FAIL
		problems+=("test $n has a BEGIN but no END marker (guest crashed, hung or timed out in it)")
	else
		status=FAIL
		problems+=("test $n never started")
	fi
	echo "$cell $n $status" >>"$results"
done

for f in "${rig_fails[@]}"; do
	problems+=("rig check failed in the guest: $f")
done
[ "$timed_out" = 1 ] && problems+=("the VM did not finish within IFD_VM_TIMEOUT=${vm_timeout}s")
[ "$done_seen" = 1 ] || problems+=("no @@IFD-DONE marker (QEMU exit status $qemu_rc)")
# Tests must not print these strings themselves: on the console they are
# indistinguishable from the kernel's.
kernel_bad=$(tr -d '\r' <"$console" |
	grep -nE 'Oops|BUG:|WARNING:|Kernel panic|general protection|Call Trace' | head -n 20 || true)
[ -z "$kernel_bad" ] || problems+=("the kernel reported a problem on the console:
$kernel_bad")

# A pseudo-test row so that summary.sh also sees rig and kernel failures.
if [ "${#rig_fails[@]}" = 0 ] && [ "$timed_out" = 0 ] && [ "$done_seen" = 1 ] && [ -z "$kernel_bad" ]; then
	echo "$cell @rig PASS" >>"$results"
else
	echo "$cell @rig FAIL" >>"$results"
fi

boot_msg="boot to tests: n/a"
[ -n "$t_ready" ] && boot_msg="boot to tests: $(elapsed "$t_start" "$t_ready") s"
echo "run-cell.sh: $cell: $boot_msg; VM total: $(elapsed "$t_start" "$t_end") s" >&2
[ "$forced_off" = 1 ] &&
	echo "run-cell.sh: warning: the guest finished but did not power off; QEMU was killed" >&2

problems_file="$logdir/$cell.problems"
rm -f "$problems_file"
if [ "${#problems[@]}" -eq 0 ]; then
	echo "run-cell.sh: $cell: all ${#names[@]} test(s) passed" >&2
	exit 0
fi
# Kept for test-all.sh, which repeats them at the very end of its output.
printf '  - %s\n' "${problems[@]}" >"$problems_file"

{
	echo "===== last 60 lines of $console ====="
	tail -n 60 "$console" | tr -d '\r'
	echo "===== results ($results) ====="
	cat "$results"
	echo "===== $cell FAILED ====="
	printf '  - %s\n' "${problems[@]}"
} >&2
exit 1
