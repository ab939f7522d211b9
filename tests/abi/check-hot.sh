#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# The data path's code shares one section (lib/compiler.h, IFD_HOT), which
# the linker lays out in one piece: check that the archive users link has
# each data-path function there, and that the section stays within two
# pages (8 KiB), so a map+unmap never spreads over more.
#
#   check-hot.sh OBJDUMP libiommufd.a [MAX_BYTES]
#
# MAX_BYTES (8192) is for optimized builds without sanitizers; 0 skips the
# size check (an -O0 or instrumented build's code is several times larger).
set -eu

[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: $0 OBJDUMP LIB [MAX_BYTES]" >&2; exit 2; }
objdump=$1 lib=$2 max=${3:-8192}
sec=.text.hot.libiommufd
want="iommufd_ioas_map iommufd_ioas_unmap iommufd_map_create iommufd_map_destroy iommufd_map_get_iova
iommufd_ioas_translate ifd_midx_alloc_new ifd_midx_release ifd_midx_first ifd_midx_translate
ifd_midx_claim_new type1_map type1_unmap ifd_iommufd_map ifd_iommufd_unmap"

# objdump -t: ADDR FLAGS(7 columns) SECTION<tab>SIZE [.hidden] NAME
syms=$("$objdump" -t "$lib" | awk -v s="$sec" '
	length($0) > 25 {
		rest = substr($0, 26)
		split(rest, f, /[ \t]+/)
		if (f[1] == s) print f[length(f)]
	}')
fail=0
for fn in $want; do
	if ! grep -qx "$fn" <<<"$syms"; then
		echo "FAIL: $fn is not in $sec of $lib (mark it IFD_HOT)" >&2
		fail=1
	fi
done
hex=$("$objdump" -h "$lib" | awk -v s="$sec" '$2 == s { print $3 }' | head -1)
if [ -z "$hex" ]; then
	echo "FAIL: $lib has no $sec section" >&2
	exit 1
fi
size=$((16#$hex))
if [ "$max" -gt 0 ] && [ "$size" -gt "$max" ]; then
	echo "FAIL: $sec is $size bytes, more than $max: move the cold branches out of line" >&2
	fail=1
fi
[ $fail -eq 0 ] && echo "ok: $(wc -w <<<"$want") data-path functions in $sec ($size bytes; limit: ${max/#0/none})"
exit $fail
