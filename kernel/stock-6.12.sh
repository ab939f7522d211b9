#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Copyright (C) 2026 The libiommufd authors
# Package Debian's stock 6.12 kernel (CONFIG_IOMMUFD not set: legacy VFIO
# groups + type1 only) for the VM rig.
#
#   kernel/stock-6.12.sh              last stdout line = cache dir
#   kernel/stock-6.12.sh --print-dir  print the cache dir, prepare nothing
#
# The cache dir holds bzImage, kernel.release and modules/ (the VFIO, mdev and
# NVMe modules plus their dependencies, decompressed, with depmod's indexes and a
# load-order file for insmod). See kernel/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
self="$here/$(basename "${BASH_SOURCE[0]}")"
cache_root=${LIBIOMMUFD_CACHE:-/var/cache/libiommufd}

# The rig binds devices to vfio-pci and keeps one NVMe on its host driver.
# vfio_iommu_type1 is only a soft dependency of vfio, so it must be named.
# mdev is the mediated-device core the rig's mdma.ko (built out of tree
# against /usr/src/linux-headers-<version>) needs; it comes after vfio.
wanted=(vfio vfio_iommu_type1 irqbypass vfio-pci-core vfio-pci nvme mdev)

die() {
	echo "kernel/stock-6.12.sh: $*" >&2
	exit 1
}

print_dir=0
case "${1:-}" in
"") ;;
--print-dir) print_dir=1 ;;
-h | --help)
	sed -n '4,12s/^# \{0,1\}//p' "$self"
	exit 0
	;;
*) die "unknown argument '$1' (try --help)" ;;
esac

if [ -n "${IFD_STOCK_VERSION:-}" ]; then
	ver=$IFD_STOCK_VERSION
else
	ver=$(find /boot -maxdepth 1 -name 'vmlinuz-6.12.*+deb12-amd64' -printf '%f\n' |
		sed 's/^vmlinuz-//' | sort -V | tail -n 1)
fi
[ -n "$ver" ] || die "no /boot/vmlinuz-6.12.*+deb12-amd64; run scripts/setup-host.sh (linux-image-6.12.*+deb12-amd64-unsigned)"
vmlinuz=/boot/vmlinuz-$ver
moddir=/lib/modules/$ver
[ -f "$vmlinuz" ] || die "$vmlinuz not found"
[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep not found (is the linux-image package fully installed?)"

# Keyed by version, plus the kernel image's identity (a rebuilt package with
# the same version) and this script (a changed module list).
key=$(
	{
		echo "$ver $(stat -L -c '%s %Y' "$vmlinuz")"
		sha256sum <"$self"
	} | sha256sum | cut -c1-8
)
final="$cache_root/stock-$ver-$key"

if [ "$print_dir" = 1 ]; then
	echo "$final"
	exit 0
fi
if [ -f "$final/bzImage" ] && [ -f "$final/modules/load-order" ]; then
	echo "$final"
	exit 0
fi

for tool in xz depmod flock; do
	command -v "$tool" >/dev/null || die "'$tool' is missing; run scripts/setup-host.sh"
done
mkdir -p "$cache_root" || die "cannot create cache root $cache_root (set LIBIOMMUFD_CACHE)"
exec 9>"$cache_root/.stock-$ver-$key.lock"
flock 9
if [ -f "$final/bzImage" ] && [ -f "$final/modules/load-order" ]; then
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
mv -T "$out" "$final"
echo "kernel/stock-6.12.sh: staged $ver with $(wc -l <"$final/modules/load-order") modules" >&2
echo "$final"
