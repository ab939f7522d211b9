#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Copyright (C) 2026 The libiommufd authors
# Package one of Debian's own kernels for the VM rig.  Neither has iommufd
# (CONFIG_IOMMUFD is not set): VFIO groups + type1 only, as Debian users get.
#
#   kernel/stock.sh VERSION              last stdout line = cache dir
#   kernel/stock.sh VERSION --print-dir  print the cache dir, prepare nothing
#
# VERSION 6.12: bookworm-security's linux-image-6.12.*+deb12-amd64-unsigned,
#   installed (/boot, /lib/modules; headers in /usr/src).
# VERSION 7.3: trixie-backports' 7.3.*+deb13-amd64, unpacked (never installed:
#   it needs trixie's libc) under $IFD_STOCK_ROOT (default
#   /var/lib/libiommufd/debian-kernels) by scripts/setup-host.sh.
# The cache dir holds bzImage, kernel.release, config and modules/ (the VFIO,
# mdev, NVMe and KVM modules plus their dependencies, decompressed, with
# depmod's indexes and a load-order file for insmod); for 7.3 also build/, an
# external-module tree that builds on this bookworm host (see kernel/README.md).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
self="$here/$(basename "${BASH_SOURCE[0]}")"
cache_root=${LIBIOMMUFD_CACHE:-/var/cache/libiommufd}

# The rig binds devices to vfio-pci and keeps one NVMe on its host driver.
# vfio_iommu_type1 is only a soft dependency of vfio, so it must be named.
# mdev is the mediated-device core the rig's mdma.ko (built out of tree)
# needs; it comes after vfio.  kvm-amd gives the guest /dev/kvm (TCG's
# -cpu max offers SVM; ccp is its SEV dependency and loads without hardware).
wanted=(vfio vfio_iommu_type1 irqbypass vfio-pci-core vfio-pci nvme mdev kvm ccp kvm-amd)

die() {
	echo "kernel/stock.sh: $*" >&2
	exit 1
}

print_dir=0
series=
for arg in "$@"; do
	case "$arg" in
	6.12 | 7.3) series=$arg ;;
	--print-dir) print_dir=1 ;;
	-h | --help)
		sed -n '4,/^set -e/{/^#/s/^# \{0,1\}//p}' "$self"
		exit 0
		;;
	*) die "unknown argument '$arg' (try --help)" ;;
	esac
done
[ -n "$series" ] || die "which kernel? 6.12 or 7.3 (try --help)"

stock_root=${IFD_STOCK_ROOT:-/var/lib/libiommufd/debian-kernels}
case "$series" in
6.12)
	ver=${IFD_STOCK_VERSION:-$(find /boot -maxdepth 1 -name 'vmlinuz-6.12.*+deb12-amd64' -printf '%f\n' |
		sed 's/^vmlinuz-//' | sort -V | tail -n 1)}
	[ -n "$ver" ] || die "no /boot/vmlinuz-6.12.*+deb12-amd64; run scripts/setup-host.sh (linux-image-6.12.*+deb12-amd64-unsigned)"
	vmlinuz=/boot/vmlinuz-$ver
	moddir=/lib/modules/$ver
	;;
7.3)
	ver=${IFD_STOCK_VERSION:-$(find "$stock_root/usr/lib/modules" -mindepth 1 -maxdepth 1 \
		-name '7.3.*+deb13-amd64' -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)}
	[ -n "$ver" ] || die "no Debian 7.3 kernel unpacked in $stock_root; run scripts/setup-host.sh"
	vmlinuz=$stock_root/usr/lib/modules/$ver/vmlinuz.unsigned
	moddir=$stock_root/usr/lib/modules/$ver
	;;
esac
[ -f "$vmlinuz" ] || die "$vmlinuz not found"
[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep not found (scripts/setup-host.sh installs or unpacks the kernel and runs depmod)"

# Debian's 7.3 headers need gcc-14, trixie's libc (their modpost and objtool)
# and a newer pahole than bookworm has.  The 7.3 test kernel's build tree has
# modpost and objtool from the same source built on this host: borrow them.
tools_tree=
if [ "$series" = 7.3 ]; then
	if [ "$print_dir" = 1 ]; then
		tools_tree=$("$here/build.sh" --print-dir)/build
	else
		tools_tree=$("$here/build.sh" | tail -n 1)/build || die "kernel/build.sh failed (its build tree has the host tools)"
	fi
fi

# Keyed by version, plus the kernel image's identity (a rebuilt package with
# the same version), the borrowed tools and this script (a changed module list).
key=$(
	{
		echo "$ver $(stat -L -c '%s %Y' "$vmlinuz") $tools_tree"
		sha256sum <"$self"
	} | sha256sum | cut -c1-8
)
final="$cache_root/stock-$ver-$key"

cache_hit() {
	[ -f "$final/bzImage" ] && [ -f "$final/modules/load-order" ] &&
		{ [ "$series" != 7.3 ] || [ -f "$final/build/Makefile" ]; }
}

if [ "$print_dir" = 1 ]; then
	echo "$final"
	exit 0
fi
if cache_hit; then
	echo "$final"
	exit 0
fi

for tool in xz depmod flock; do
	command -v "$tool" >/dev/null || die "'$tool' is missing; run scripts/setup-host.sh"
done
mkdir -p "$cache_root" || die "cannot create cache root $cache_root (set LIBIOMMUFD_CACHE)"
exec 9>"$cache_root/.stock-$ver-$key.lock"
flock 9
if cache_hit; then
	echo "$final"
	exit 0
fi
rm -rf "$cache_root/.stock-$ver-$key.tmp."*
tmp=$(mktemp -d "$cache_root/.stock-$ver-$key.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# modules.dep maps "path: dep dep ..." with paths relative to $moddir.
declare -A deps_of=() path_of=()
while IFS= read -r line; do
	path=${line%%:*}
	base=${path##*/}
	base=${base%%.ko*}
	# modprobe treats '-' and '_' in module names as the same.
	name=${base//-/_}
	path_of[$name]=$path
	deps_of[$path]=${line#*:}
done <"$moddir/modules.dep"

# Post-order walk: every module comes after everything it needs.
declare -A seen=()
order=()
visit() {
	local p=$1 d
	[ -n "${seen[$p]:-}" ] && return 0
	seen[$p]=1
	for d in ${deps_of[$p]}; do
		visit "$d"
	done
	order+=("$p")
}
for m in "${wanted[@]}"; do
	n=${m//-/_}
	if [ -z "${path_of[$n]:-}" ]; then
		# Built into this kernel: nothing to load.
		grep -qE "/${m}\.ko$|/${n}\.ko$" "$moddir/modules.builtin" 2>/dev/null && continue
		die "module $m is neither in $moddir/modules.dep nor built in"
	fi
	visit "${path_of[$n]}"
done

out="$tmp/out"
mdir="$out/modules/lib/modules/$ver"
mkdir -p "$mdir"
: >"$out/modules/load-order"
for p in "${order[@]}"; do
	dst=${p%.xz}
	dst=${dst%.zst}
	dst=${dst%.gz}
	mkdir -p "$mdir/$(dirname "$dst")"
	case "$p" in
	*.xz) xz -dc "$moddir/$p" >"$mdir/$dst" ;;
	*.zst) zstd -qdc "$moddir/$p" >"$mdir/$dst" ;;
	*.gz) gzip -dc "$moddir/$p" >"$mdir/$dst" ;;
	*) cp "$moddir/$p" "$mdir/$dst" ;;
	esac
	echo "lib/modules/$ver/$dst" >>"$out/modules/load-order"
done
# depmod needs these to tell built-in modules from missing ones.
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$moddir/$f" ] && cp "$moddir/$f" "$mdir/"
done
depmod -b "$out/modules" "$ver" || die "depmod failed on the staged modules"

cp "$vmlinuz" "$out/bzImage"
echo "$ver" >"$out/kernel.release"
cp "$moddir/config" "$out/config" 2>/dev/null || cp "/boot/config-$ver" "$out/config" 2>/dev/null || true

if [ "$series" = 7.3 ]; then
	# An external-module tree (make -C build M=dir) from the unpacked
	# linux-headers-$ver: the objtree is copied (it is small) and edited,
	# the shared source half (-common) is used where it lies.
	hdr=$stock_root/usr/src/linux-headers-$ver
	kbuild=$(readlink -f "$hdr/scripts") && kbuild=${kbuild%/scripts}
	common=$(sed -n 's/^include \(.*\)\/Makefile$/\1/p' "$hdr/Makefile")
	common=$stock_root$common
	[ -f "$hdr/Module.symvers" ] && [ -f "$common/Makefile" ] && [ -d "$kbuild/scripts" ] ||
		die "incomplete linux-headers-$ver under $stock_root; run scripts/setup-host.sh"
	for t in scripts/mod/modpost tools/objtool/objtool; do
		[ -x "$tools_tree/$t" ] || die "$tools_tree/$t is missing (kernel/build.sh's build tree)"
	done
	b="$out/build"
	mkdir -p "$b"
	(cd "$hdr" && tar --exclude=./vmlinux --exclude=./scripts --exclude=./tools \
		--exclude=./Makefile --exclude=./.kernelvariables -cf - .) | tar -C "$b" -xf -
	cp -a "$kbuild/scripts" "$kbuild/tools" "$b/"
	# Debian's ones are wrappers around binaries that need GLIBC_2.38.
	cp "$tools_tree/scripts/mod/modpost" "$b/scripts/mod/modpost"
	cp "$tools_tree/tools/objtool/objtool" "$b/tools/objtool/objtool"
	ln -s "$common" "$out/common"
	# CURDIR: the tree stays valid when $out is renamed to $final.
	# shellcheck disable=SC2016 # $(CURDIR) is for make to expand
	printf '%s\n' 'KBUILD_OUTPUT := $(CURDIR)' 'include $(CURDIR)/../common/Makefile' >"$b/Makefile"
	# gcc-12 instead of the gcc-14 the kernel was built with; Debian's
	# Makefile lets us skip the compiler-version check.
	{
		echo 'override ARCH = x86'
		echo "override KERNELRELEASE = $ver"
		echo 'CC = gcc'
		echo 'DEBIAN_KERNEL_NO_CC_VERSION_CHECK = y'
	} >"$b/.kernelvariables"
	# Makefile-side options only (include/config/auto.conf), never the C
	# side (autoconf.h: struct module has BTF fields, for one): gcc-12
	# rejects -fmin-function-alignment (it gets -falign-functions, the same
	# alignment); bookworm's pahole cannot make module BTF, and the Makefile
	# warns unless the pahole versions match.
	pv=$("$common/scripts/pahole-version.sh" pahole)
	sed -i -e '/^CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=/d' -e '/^CONFIG_DEBUG_INFO_BTF_MODULES=/d' \
		-e "s/^CONFIG_PAHOLE_VERSION=.*/CONFIG_PAHOLE_VERSION=$pv/" "$b/include/config/auto.conf"
fi
mv -T "$out" "$final"
echo "kernel/stock.sh: staged $ver with $(wc -l <"$final/modules/load-order") modules" >&2
echo "$final"
