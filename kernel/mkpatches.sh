#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Copyright (C) 2026 The libiommufd authors
# Generate kernel/patches/: the mdma driver (kernel/drivers/vfio-mdma/) as a
# git format-patch series against the Linux 7.3 source, adding it to
# samples/vfio-mdev/ with its Kconfig entry, Makefile line, documentation
# and MAINTAINERS entry.  kernel/drivers/vfio-mdma/ is the one source; the
# patches are generated from it and never edited by hand.
#
#   kernel/mkpatches.sh           write kernel/patches/*.patch
#   kernel/mkpatches.sh --check   regenerate into a temporary directory and
#                                 fail if it differs from kernel/patches/, or
#                                 if tests/integration/mdma.h and mdma.c
#                                 disagree about a register definition
#   kernel/mkpatches.sh --out DIR write the series into DIR instead
#
# Needs the 7.3 source tarball (IFD_KERNEL_TARBALL, default
# /usr/src/linux-source-7.3.tar.xz) for the four files the series changes;
# they are extracted once into $LIBIOMMUFD_CACHE (default
# /var/cache/libiommufd).  The output depends only on the inputs: fixed
# author, dates and commit IDs (--zero-commit), no user or system git config.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)
self="$here/$(basename "${BASH_SOURCE[0]}")"
drv="$here/drivers/vfio-mdma"
tarball=${IFD_KERNEL_TARBALL:-/usr/src/linux-source-7.3.tar.xz}
cache_root=${LIBIOMMUFD_CACHE:-/var/cache/libiommufd}
author=${MDMA_PATCH_AUTHOR:-libiommufd developers <maintainers@users.noreply.h-seed-cfb72a64.example>}
date="2025-11-22 00:00:00 +0000"

die() {
	echo "kernel/mkpatches.sh: $*" >&2
	exit 1
}

mode="write"
out="$here/patches"
while [ $# -gt 0 ]; do
	case "$1" in
	--check) mode=check ;;
	--out)
		[ $# -ge 2 ] || die "--out needs a directory"
		out=$2
		shift
		;;
	-h | --help)
		sed -n '4,21s/^# \{0,1\}//p' "$self"
		exit 0
		;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
	shift
done

for f in mdma.c Kconfig mdma.rst; do
	[ -f "$drv/$f" ] || die "$drv/$f is missing"
done
command -v git >/dev/null || die "git is missing"

# ------------------------------------------------ register definitions
# The tests' mirror of the register layout must say what the driver says.
check_regs() {
	local hdr="$repo/tests/integration/mdma.h" c_defs h_defs
	[ -f "$hdr" ] || die "$hdr is missing"
	# "NAME VALUE" for every MDMA_{REG,CMD,STATUS}_ and a few limits;
	# BIT_ULL(n) and (1ull << n) both become 1<<n.
	norm() {
		sed -nE 's/^#define[[:space:]]+(MDMA_(REG|CMD|STATUS)_[A-Z_]+|MDMA_ID|MDMA_VERSION|MDMA_REGION_SIZE|MDMA_MAX_PINS|MDMA_MAX_DELAY_US)[[:space:]]+(.*)$/\1 \3/p' "$1" |
			grep -v '^MDMA_STATUS_STICKY ' |
			sed -E 's#[[:space:]]*/\*.*\*/##; s/BIT_ULL\(([0-9]+)\)/1<<\1/; s/\(1ull << ([0-9]+)\)/1<<\1/; s/ULL$//; s/[[:space:]]+$//'
	}
	c_defs=$(norm "$drv/mdma.c" | LC_ALL=C sort)
	h_defs=$(norm "$hdr" | LC_ALL=C sort)
	[ -n "$c_defs" ] || die "found no MDMA_* definitions in mdma.c"
	if [ "$c_defs" != "$h_defs" ]; then
		echo "kernel/mkpatches.sh: tests/integration/mdma.h disagrees with mdma.c (< mdma.c, > mdma.h):" >&2
		diff <(echo "$c_defs") <(echo "$h_defs") >&2 || true
		return 1
	fi
	echo "kernel/mkpatches.sh: the $(echo "$c_defs" | wc -l) register definitions of mdma.h match mdma.c" >&2
}

# ------------------------------------------------------- base files
base_files=(MAINTAINERS samples/Kconfig samples/vfio-mdev/Makefile Documentation/driver-api/index.rst)
[ -f "$tarball" ] || die "kernel source $tarball not found; run scripts/setup-host.sh (package linux-source-7.3)"
base_key=$(
	{
		echo "$(basename "$tarball") $(stat -L -c '%s %Y' "$tarball")"
		printf '%s\n' "${base_files[@]}"
	} | sha256sum | cut -c1-16
)
base="$cache_root/mdma-base-$base_key"
if [ ! -f "$base/.complete" ]; then
	mkdir -p "$cache_root" || die "cannot create $cache_root (set LIBIOMMUFD_CACHE)"
	(
		flock 9
		[ -f "$base/.complete" ] && exit 0
		rm -rf "$base.tmp"
		mkdir -p "$base.tmp"
		echo "kernel/mkpatches.sh: extracting ${base_files[*]} from $tarball (once)" >&2
		tar -C "$base.tmp" -xf "$tarball" --strip-components=1 --wildcards --no-wildcards-match-slash \
			"${base_files[@]/#/*/}"
		for f in "${base_files[@]}"; do
			[ -f "$base.tmp/$f" ] || die "$tarball has no $f"
		done
		touch "$base.tmp/.complete"
		rm -rf "$base"
		mv "$base.tmp" "$base"
	) 9>"$cache_root/.mdma-base.lock" || die "extracting the base files failed"
fi

# ---------------------------------------------------------- the series
work=$(mktemp -d "${TMPDIR:-/tmp}/mkpatches.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree="$work/linux"
mkdir -p "$tree"
for f in "${base_files[@]}"; do
	mkdir -p "$tree/$(dirname "$f")"
	cp "$base/$f" "$tree/$f"
done

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME="$work"
export GIT_AUTHOR_NAME="${author% <*}" GIT_AUTHOR_EMAIL="${author##*<}"
GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL%>}
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date"
g() { git -C "$tree" "$@"; }
g init -q -b mdma
g add -A
g commit -q -m base
g tag base

# insert_before FILE PATTERN TEXTFILE: put TEXTFILE's lines before the first
# line matching the extended regex PATTERN (which must exist).
insert_before() {
	local file=$1 pat=$2 text=$3
	grep -qE "$pat" "$file" || die "$file has no line matching /$pat/ (did the 7.3 source change?)"
	awk -v pat="$pat" -v text="$text" '
		!done && $0 ~ pat { while ((getline l < text) > 0) print l; done = 1 }
		{ print }' "$file" >"$file.new"
	mv "$file.new" "$file"
}
# insert_after FILE PATTERN TEXTFILE
insert_after() {
	local file=$1 pat=$2 text=$3
	grep -qE "$pat" "$file" || die "$file has no line matching /$pat/ (did the 7.3 source change?)"
	awk -v pat="$pat" -v text="$text" '
		{ print }
		!done && $0 ~ pat { while ((getline l < text) > 0) print l; done = 1 }' "$file" >"$file.new"
	mv "$file.new" "$file"
}

# Patch 1: the driver.  In the tree it is code for the version it is merged
# into (checkpatch: no LINUX_VERSION_CODE): drop the out-of-tree block
# between the mdma-compat-begin/-end comments (and the blank line after it)
# and resolve "#if MDMA_CORE_REGION_INFO" as true (a plain unifdef).
awk '
	/^\/\* mdma-compat-begin/ { skip = 1; next }
	skip { if (/^\/\* mdma-compat-end \*\/$/) { skip = 0; blank = 1 }; next }
	blank { blank = 0; if ($0 == "") next }
	/^#if MDMA_CORE_REGION_INFO$/ { cond = "keep"; next }
	/^#if !MDMA_CORE_REGION_INFO$/ { cond = "drop"; next }
	cond != "" && /^#endif/ { cond = ""; next }
	cond == "drop" { next }
	{ print }
	END { if (skip || cond != "") exit 1 }' "$drv/mdma.c" >"$tree/samples/vfio-mdev/mdma.c" ||
	die "mdma.c: unbalanced mdma-compat block or #if MDMA_CORE_REGION_INFO"
if grep -nE 'MDMA_CORE_REGION_INFO|LINUX_VERSION_CODE|mdma-compat|linux/version\.h' "$tree/samples/vfio-mdev/mdma.c" >&2; then
	die "mdma.c: out-of-tree compatibility code left in the in-tree copy (lines above)"
fi
# shellcheck disable=SC2016 # a Makefile line, not a shell expansion
printf 'obj-$(CONFIG_SAMPLE_VFIO_MDEV_MDMA) += mdma.o\n' >"$work/make.txt"
insert_after "$tree/samples/vfio-mdev/Makefile" '^obj-\$\(CONFIG_SAMPLE_VFIO_MDEV_MBOCHS\)' "$work/make.txt"
# The entry goes after the mbochs one: before the first "config" line that
# follows "config SAMPLE_VFIO_MDEV_MBOCHS".
# Our Kconfig's licence header describes the file, not the entry: the entry
# joins samples/Kconfig, which has its own.
{
	sed '/^# SPDX-License-Identifier:/d; /^# Copyright (C)/d' "$drv/Kconfig"
	echo
} >"$work/kconfig.txt"
awk -v text="$work/kconfig.txt" '
	/^config SAMPLE_VFIO_MDEV_MBOCHS$/ { seen = 1; print; next }
	seen && !done && /^config / { while ((getline l < text) > 0) print l; done = 1 }
	{ print }
	END { if (!done) exit 1 }' "$tree/samples/Kconfig" >"$work/Kconfig.new" ||
	die "samples/Kconfig: no config entry after SAMPLE_VFIO_MDEV_MBOCHS (did the 7.3 source change?)"
mv "$work/Kconfig.new" "$tree/samples/Kconfig"
cat >"$work/maint.txt" <<EOF
VFIO MDMA MEDIATED DEVICE SAMPLE
M:	$author
L:	kvm@vger.kernel.org
S:	Maintained
F:	samples/vfio-mdev/mdma.c

EOF
insert_before "$tree/MAINTAINERS" '^VFIO MEDIATED DEVICE DRIVERS$' "$work/maint.txt"
g add -A
g commit -q -s -F - <<'EOF'
samples: vfio-mdev: add mdma, a software DMA engine

mdma is a mediated device whose instances are small DMA engines done in
software.  An instance has one 4 KiB register region, read and written
with pread/pwrite on the VFIO device fd: a source IOVA, a destination
IOVA and a length, and commands that copy between them with
vfio_dma_rw(), pin pages with vfio_pin_pages() and hold them, and write
through the pinned pages.  Its dma_unmap callback releases the pins an
unmap overlaps and records that it happened.  Errors a real device would
see are reported in a status register: a copy that touches an IOVA
which is not mapped faults and writes nothing.  Counters (pinned pages,
unmap callbacks, copies, faults, aborted copies) are in registers and in
sysfs, per instance and summed over the driver, so a test can check
that no pin leaked after its process is gone.

It uses the iommufd emulated-device ops and
vfio_register_emulated_iommu_dev(), so it works with VFIO device cdevs,
with VFIO groups on iommufd and with legacy type1 containers.  The other
mdev samples emulate a serial port or a display and do no DMA; mdma is
for testing userspace drivers of the mdev DMA path and the kernel's
emulated-IOMMU code that serves them.
EOF

# Patch 2: the documentation.
cp "$drv/mdma.rst" "$tree/Documentation/driver-api/vfio-mdev-mdma.rst"
printf '   vfio-mdev-mdma\n' >"$work/index.txt"
insert_after "$tree/Documentation/driver-api/index.rst" '^   vfio-mediated-device$' "$work/index.txt"
printf 'F:\tDocumentation/driver-api/vfio-mdev-mdma.rst\n' >"$work/maint-doc.txt"
insert_before "$tree/MAINTAINERS" '^F:	samples/vfio-mdev/mdma.c$' "$work/maint-doc.txt"
g add -A
g commit -q -s -F - <<'EOF'
docs: driver-api: describe the mdma mediated device sample

Describe what mdma is for, its registers, commands and status bits (from
the DOC: comments of samples/vfio-mdev/mdma.c, so they cannot drift from
the code), its sysfs counters, an example and its limits.
EOF

mkdir -p "$work/series"
g format-patch -q --zero-commit --full-index --no-signature --no-numbered-files -o "$work/series" base..HEAD >/dev/null
n=$(find "$work/series" -name '*.patch' | wc -l)
[ "$n" = 2 ] || die "expected 2 patches, got $n"

if [ "$mode" = check ]; then
	rc=0
	check_regs || rc=1
	if ! diff -ru "$here/patches" "$work/series" >"$work/diff" 2>&1; then
		echo "kernel/mkpatches.sh: kernel/patches/ is not what kernel/drivers/vfio-mdma/ generates; run kernel/mkpatches.sh:" >&2
		head -n 60 "$work/diff" >&2
		rc=1
	else
		echo "kernel/mkpatches.sh: kernel/patches/ matches the generated series ($n patches)" >&2
	fi
	exit $rc
fi

check_regs || die "fix tests/integration/mdma.h first"
mkdir -p "$out"
rm -f "$out"/*.patch
cp "$work/series"/*.patch "$out/"
echo "kernel/mkpatches.sh: wrote $n patches to $out:" >&2
ls "$out" >&2
