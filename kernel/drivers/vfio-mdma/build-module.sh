#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Copyright (C) 2026 The libiommufd authors
# Build mdma.ko for one of the rig's kernels, or return it from the cache.
#
#   kernel/drivers/vfio-mdma/build-module.sh KDIR   last stdout line = mdma.ko
#
# KDIR is a kernel cache dir as kernel/build.sh or kernel/stock.sh print
# it.  If that kernel was built with mdma in the tree (kernel/build.sh
# --in-tree-mdma) its own mdma.ko is returned.  Otherwise this builds
# kernel/drivers/vfio-mdma/ out of tree against KDIR/build (the 7.3 test
# kernel's external-module build tree) or /usr/src/linux-headers-<release>
# (Debian's kernels; package linux-headers-<release>), into
# $LIBIOMMUFD_CACHE/mdma-ko-<key>/ (<key>: the kernel dir, the build tree,
# the driver's sources and this script), stripped of debug info.  A cache hit
# takes a few milliseconds; a build about 10 s.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
self="$here/$(basename "${BASH_SOURCE[0]}")"
cache_root=${LIBIOMMUFD_CACHE:-/var/cache/libiommufd}

die() {
	echo "build-module.sh: $*" >&2
	exit 1
}

case "${1:-}" in
-h | --help | "")
	sed -n '4,17s/^# \{0,1\}//p' "$self"
	[ -n "${1:-}" ] && exit 0
	exit 1
	;;
esac
kdir=$(cd "$1" && pwd -P) || die "no kernel dir '$1'"
[ -f "$kdir/kernel.release" ] || die "$kdir has no kernel.release (not a kernel/build.sh or stock.sh dir)"
krel=$(cat "$kdir/kernel.release")

intree="$kdir/modules/lib/modules/$krel/kernel/samples/vfio-mdev/mdma.ko"
if [ -f "$intree" ]; then
	echo "$intree"
	exit 0
fi

if [ -f "$kdir/build/Makefile" ]; then
	ktree="$kdir/build"
elif [ -f "/usr/src/linux-headers-$krel/Makefile" ]; then
	ktree="/usr/src/linux-headers-$krel"
else
	die "no build tree for $krel: neither $kdir/build (rebuild with kernel/build.sh) nor /usr/src/linux-headers-$krel (install linux-headers-$krel; scripts/setup-host.sh does)"
fi

key=$(
	{
		echo "$kdir $krel $ktree"
		stat -L -c '%s %Y' "$ktree/Module.symvers" 2>/dev/null || echo "no Module.symvers"
		for f in mdma.c Kbuild; do
			sha256sum <"$here/$f"
		done
		sha256sum <"$self"
	} | sha256sum | cut -c1-16
)
final="$cache_root/mdma-ko-$key"
if [ -f "$final/mdma.ko" ]; then
	echo "$final/mdma.ko"
	exit 0
fi

command -v make >/dev/null || die "make is missing; run scripts/setup-host.sh"
mkdir -p "$cache_root" || die "cannot create cache root $cache_root (set LIBIOMMUFD_CACHE)"
exec 9>"$cache_root/.mdma-ko-$key.lock"
flock 9
if [ -f "$final/mdma.ko" ]; then
	echo "$final/mdma.ko"
	exit 0
fi
rm -rf "$cache_root/.mdma-ko-$key.tmp."*
tmp=$(mktemp -d "$cache_root/.mdma-ko-$key.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src" "$tmp/out"
cp "$here/mdma.c" "$here/Kbuild" "$tmp/src/"
if ! make -C "$ktree" M="$tmp/src" modules >"$tmp/build.log" 2>&1; then
	cat "$tmp/build.log" >&2
	die "building mdma.ko against $ktree failed"
fi
# Warnings are errors here: the driver must build cleanly on every kernel.
if grep -E 'warning:|error:' "$tmp/build.log" >&2; then
	die "building mdma.ko against $ktree gave warnings (above)"
fi
strip --strip-debug -o "$tmp/out/mdma.ko" "$tmp/src/mdma.ko"
cp "$tmp/build.log" "$tmp/out/build.log"
mv -T "$tmp/out" "$final"
echo "build-module.sh: built $final/mdma.ko for $krel against $ktree" >&2
echo "$final/mdma.ko"
