#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Copyright (C) 2026 The libiommufd authors
# Build libiommufd's Linux 7.3 test kernel, or return it from the cache.
#
#   kernel/build.sh                  build if needed; last stdout line = cache dir
#   kernel/build.sh --print-dir      print the cache dir it would use, build nothing
#   kernel/build.sh --in-tree-mdma   the variant with kernel/patches/ applied and
#                                    the mdma sample built in the tree (a module)
#   kernel/build.sh --source 6.12    build Debian's linux-source-6.12 with the
#                                    same fragments instead (options that kernel
#                                    does not know are left out, and listed in
#                                    the cache dir's unknown-options)
#
# The default 7.3 build also produces compat/: the same kernel with
# IOMMUFD_VFIO_CONTAINER=y and VFIO_CONTAINER off (/dev/vfio/vfio is
# iommufd's compat container), built incrementally in the same tree, so it
# costs a relink and the few files that test those options, not a second
# kernel build.
#
# The cache lives outside the clone so that every checkout, worktree and CI
# run on the machine shares one build (about 17 CPU-minutes: 9 minutes or
# more on 2 cores).  Each build keeps an external-module build tree (build/)
# so that out-of-tree modules (mdma.ko) build against it with make M=.
# IFD_KERNEL_IN_TREE_MDMA=1 in the environment is the same as --in-tree-mdma.
# See kernel/README.md for the layout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
source_ver=7.3
cache_root=${LIBIOMMUFD_CACHE:-/var/cache/libiommufd}

die() {
	echo "kernel/build.sh: $*" >&2
	exit 1
}

print_dir=0
in_tree=0
[ "${IFD_KERNEL_IN_TREE_MDMA:-0}" = 1 ] && in_tree=1
while [ $# -gt 0 ]; do
	case "$1" in
	--print-dir) print_dir=1 ;;
	--in-tree-mdma) in_tree=1 ;;
	--source)
		[ $# -ge 2 ] || die "--source needs a version (7.3 or 6.12)"
		source_ver=$2
		shift
		;;
	-h | --help)
		sed -n '4,/^set -e/{/^#/s/^# \{0,1\}//p}' "$self"
		exit 0
		;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
	shift
done

case "$source_ver" in
7.3 | 6.12) ;;
*) die "--source $source_ver: only 7.3 and 6.12 are supported" ;;
esac
[ "$in_tree" = 1 ] && [ "$source_ver" != 7.3 ] && die "--in-tree-mdma is for the 7.3 source only"
tarball=${IFD_KERNEL_TARBALL:-/usr/src/linux-source-$source_ver.tar.xz}
[ -f "$tarball" ] || die "kernel source $tarball not found; run scripts/setup-host.sh (package linux-source-$source_ver)"
# Only the default 7.3 build carries the compat-container variant.
compat=0
[ "$source_ver" = 7.3 ] && [ "$in_tree" = 0 ] && compat=1

shopt -s nullglob
fragments=("$here"/config/*.config)
[ "${#fragments[@]}" -gt 0 ] || die "no Kconfig fragments in $here/config"
# kernel/patches/ holds the mdma driver as a patch series (kernel/mkpatches.sh
# generates it): only the in-tree variant applies it, so that editing the
# driver does not rebuild the default kernel (mdma.ko builds out of tree).
patches=()
if [ "$in_tree" = 1 ]; then
	patches=("$here"/patches/*.patch)
	[ "${#patches[@]}" -gt 0 ] || die "no patches in $here/patches (run kernel/mkpatches.sh)"
	fragments+=("$here/config/in-tree-mdma.fragment")
	[ -f "${fragments[-1]}" ] || die "${fragments[-1]} is missing"
fi
shopt -u nullglob

# The key covers everything that changes the output. The tarball is
# identified by size+mtime rather than its sha256 so a cache hit stays
# instant; a reinstalled or upgraded package changes its mtime.
key=$(
	{
		echo "tarball $(basename "$tarball") $(stat -L -c '%s %Y' "$tarball")"
		[ "$in_tree" = 1 ] && echo "variant in-tree-mdma"
		# Only the option lines of a fragment (CONFIG_X=v, "# CONFIG_X is
		# not set") change the kernel: its comments (licence lines,
		# explanations) never cost a rebuild.
		for f in "${fragments[@]}"; do
			echo "fragment $(basename "$f") $(grep -E '^(CONFIG_|# CONFIG_[A-Za-z0-9_]+ is not set)' "$f" |
				sha256sum | cut -d' ' -f1)"
		done
		for p in "${patches[@]}"; do
			echo "patch $(basename "$p") $(sha256sum <"$p" | cut -d' ' -f1)"
		done
		echo "source $source_ver"
		if [ "$source_ver" != 7.3 ] && [ -f "$here/config/source-$source_ver.skip" ]; then
			echo "skip $(grep -oE '^CONFIG_[A-Za-z0-9_]+' "$here/config/source-$source_ver.skip" |
				sha256sum | cut -d' ' -f1)"
		fi
		echo "build.sh $(sha256sum <"$self" | cut -d' ' -f1)"
	} | sha256sum | cut -c1-16
)
final="$cache_root/kernel-$key"

if [ "$print_dir" = 1 ]; then
	echo "$final"
	exit 0
fi

cache_hit() {
	[ -f "$final/bzImage" ] && [ -f "$final/kernel.release" ] &&
		[ -f "$final/headers/include/linux/iommufd.h" ] &&
		[ -f "$final/build/Makefile" ] && [ -f "$final/build/Module.symvers" ] &&
		{ [ "$compat" = 0 ] || [ -f "$final/compat/bzImage" ]; }
}

if cache_hit; then
	echo "$final"
	exit 0
fi

for tool in make gcc flex bison bc rsync cpio xz perl depmod flock; do
	command -v "$tool" >/dev/null ||
		die "'$tool' is missing; run scripts/setup-host.sh"
done

mkdir -p "$cache_root" || die "cannot create cache root $cache_root (set LIBIOMMUFD_CACHE)"

# Two concurrent callers (e.g. meson running cells, or two checkouts) must
# not both spend five minutes building the same kernel.
exec 9>"$cache_root/.kernel-$key.lock"
if ! flock -n 9; then
	echo "kernel/build.sh: another build of kernel-$key is running; waiting" >&2
	flock 9
fi
if cache_hit; then
	echo "$final"
	exit 0
fi
# Leftovers of a build that was killed: nobody else holds the lock.
rm -rf "$cache_root/.kernel-$key.tmp."*

log="$cache_root/kernel-$key.log"
tmp=$(mktemp -d "$cache_root/.kernel-$key.tmp.XXXXXX")
: >"$log"

on_exit() {
	local rc=$?
	if [ "$rc" != 0 ]; then
		echo "kernel/build.sh: build FAILED (exit $rc); last 60 lines of $log:" >&2
		tail -n 60 "$log" >&2 || true
	fi
	rm -rf "$tmp"
}
trap on_exit EXIT

step() {
	echo "kernel/build.sh: $*" >&2
	echo "=== $(date '+%F %T') $*" >>"$log"
}

start=$(date +%s)
step "building kernel-$key from $tarball (log: $log)"

step "extracting source"
mkdir "$tmp/src"
tar -C "$tmp/src" --strip-components=1 -xf "$tarball" >>"$log" 2>&1
src="$tmp/src"
[ -f "$src/Makefile" ] || die "$tarball did not unpack to a kernel tree"

for p in "${patches[@]}"; do
	step "applying $(basename "$p")"
	patch -d "$src" -p1 --batch --forward <"$p" >>"$log" 2>&1
done

# Reproducible-ish identity strings: the banner otherwise names this host.
export KBUILD_BUILD_USER=libiommufd KBUILD_BUILD_HOST=test-kernel
kmake() { make -C "$src" "$@" >>"$log" 2>&1; }

step "configuring (tinyconfig + ${fragments[*]##*/})"
kmake tinyconfig
(cd "$src" && scripts/kconfig/merge_config.sh -m .config "${fragments[@]}") >>"$log" 2>&1
kmake olddefconfig

# merge_config.sh only warns when Kconfig silently drops an option (unmet
# dependency, renamed symbol); a dropped option would make some test skip or
# fail much later for a reason nobody would guess, so refuse here instead.
# Another source (6.12) may not know some options at all: those are left
# out and listed, an option it knows but cannot set is still an error,
# unless kernel/config/source-VERSION.skip names it (an option that exists
# there but only matters to a feature that source lacks).
skip_list=()
if [ "$source_ver" != 7.3 ] && [ -f "$here/config/source-$source_ver.skip" ]; then
	mapfile -t skip_list < <(grep -oE '^CONFIG_[A-Za-z0-9_]+' "$here/config/source-$source_ver.skip")
fi
known_sym() {
	local s
	for s in "${skip_list[@]}"; do
		[ "$s" = "CONFIG_$1" ] && return 1
	done
	grep -rqsE --include='Kconfig*' "^[[:space:]]*(menu)?config[[:space:]]+$1\$" "$src"
}
dropped=()
unknown=()
for f in "${fragments[@]}"; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*)
			if [ "$source_ver" != 7.3 ] && ! grep -qxF -- "$line" "$src/.config"; then
				sym=${line%%=*}
				if ! known_sym "${sym#CONFIG_}"; then
					unknown+=("$sym")
					continue
				fi
			fi
			grep -qxF -- "$line" "$src/.config" ||
				dropped+=("$line (got: $(grep -E "^(# )?${line%%=*}[= ]" "$src/.config" || echo absent))")
			;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			if grep -qE "^$sym=" "$src/.config"; then
				dropped+=("$line (got: $(grep -E "^$sym=" "$src/.config"))")
			fi
			;;
		esac
	done <"$f"
done
if [ "${#dropped[@]}" -gt 0 ]; then
	{
		echo "kernel/build.sh: olddefconfig did not keep these fragment options:"
		printf '  %s\n' "${dropped[@]}"
		echo "(fix their dependencies in kernel/config/*.config)"
	} | tee -a "$log" >&2
	exit 1
fi

jobs=$(nproc)
step "make -j$jobs bzImage modules"
kmake -j"$jobs" bzImage modules

out="$tmp/out"
mkdir -p "$out/modules" "$out/headers"
step "installing modules and UAPI headers"
kmake modules_install INSTALL_MOD_PATH="$out/modules"
kmake headers_install INSTALL_HDR_PATH="$out/headers"
# What "make M=dir" needs to build a module for this kernel, and nothing
# else (~70 MB instead of the 2 GB tree): the kernel's own recipe for
# linux-headers packages.  It refers to no absolute path, so it stays valid
# after the rename below.
step "installing the external-module build tree"
# shellcheck disable=SC2016 # ${srctree} is for make to expand
kmake run-command KBUILD_RUN_COMMAND='${srctree}/scripts/package/install-extmod-build '"$out/build"
[ -f "$out/build/Makefile" ] && [ -f "$out/build/Module.symvers" ] ||
	die "install-extmod-build produced no build/Makefile or build/Module.symvers"
cp "$src/arch/x86/boot/bzImage" "$out/bzImage"
cp "$src/.config" "$out/config"
make -s -C "$src" kernelrelease >"$out/kernel.release" 2>>"$log"
[ -s "$out/kernel.release" ] || die "could not determine the kernel release"
[ -f "$out/headers/include/linux/iommufd.h" ] || die "headers_install produced no linux/iommufd.h"
if [ "$in_tree" = 1 ]; then
	ko="$out/modules/lib/modules/$(cat "$out/kernel.release")/kernel/samples/vfio-mdev/mdma.ko"
	[ -f "$ko" ] || die "the in-tree build produced no $ko"
fi

if [ "${#unknown[@]}" -gt 0 ]; then
	printf '%s\n' "${unknown[@]}" >"$out/unknown-options"
else
	: >"$out/unknown-options"
fi

if [ "$compat" = 1 ]; then
	# Same tree, two options flipped: kbuild recompiles only what depends
	# on them, so this variant costs about a minute, not a kernel build.
	step "compat-container variant (IOMMUFD_VFIO_CONTAINER=y, VFIO_CONTAINER off)"
	"$src/scripts/config" --file "$src/.config" -d VFIO_CONTAINER -e IOMMUFD_VFIO_CONTAINER >>"$log" 2>&1
	kmake olddefconfig
	for want in 'CONFIG_IOMMUFD_VFIO_CONTAINER=y' '# CONFIG_VFIO_CONTAINER is not set' 'CONFIG_VFIO_NOIOMMU=y'; do
		grep -qxF -- "$want" "$src/.config" || die "compat variant: olddefconfig did not keep '$want'"
	done
	kmake -j"$jobs" bzImage modules
	mkdir -p "$out/compat/modules"
	kmake modules_install INSTALL_MOD_PATH="$out/compat/modules"
	cp "$src/arch/x86/boot/bzImage" "$out/compat/bzImage"
	cp "$src/.config" "$out/compat/config"
	make -s -C "$src" kernelrelease >"$out/compat/kernel.release" 2>>"$log"
	cmp -s "$out/kernel.release" "$out/compat/kernel.release" ||
		die "compat variant: kernel release differs from the base build's"
fi

# Rename within one filesystem: readers see either no directory or a whole one.
mv -T "$out" "$final"
step "done in $(($(date +%s) - start)) s: $final ($(cat "$final/kernel.release"))"
echo "$final"
