#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# Every exported symbol and every function of the public header has its man
# page, and every page renders cleanly.  A page may be a one-line ".so"
# link to another page (as for the iommufd_map_get_* family); the linked
# page must then name the symbol in its NAME section.
set -eu
src=$(cd "$1" && pwd)
hdr="$src/include/libiommufd/libiommufd.h"
fail=0
# Render as man(1) does for an 80-column terminal and print any warning.
# groff directly is several times faster than man -l per page, which
# matters with 60 pages under a 30 s test timeout; -wmac is what
# man --warnings enables.  .so is resolved relative to man/.
render() {
	if command -v groff >/dev/null 2>&1; then
		(cd "$src/man" && LC_ALL=C.UTF-8 groff -t -man -Tutf8 -wmac -rLL=78n -z "$1" 2>&1 || true)
	elif command -v man >/dev/null 2>&1; then
		(cd "$src/man" && LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null || true)
	fi
}
# The header counts as well as the map file: a function declared but not yet
# exported (or the reverse) still needs its page.
hdr_syms=$(grep -oE '^[a-z][a-z0-9_ *]*[ *]iommufd_[a-z0-9_]+\(' "$hdr" | sed -E 's/.*(iommufd_[a-z0-9_]+)\(/\1/')
hdr_syms=$(echo $hdr_syms)
syms=$( {
	sed -n 's/^[[:space:]]*\(iommufd_[a-z0-9_]*\);/\1/p' "$src/lib/libiommufd.map"
	for h in $hdr_syms; do echo "$h"; done
} | sort -u)
for s in $syms; do
	page="$src/man/man3/$s.3"
	if [ ! -f "$page" ]; then
		echo "not ok - $s has no man page"
		fail=1
		continue
	fi
	link=$(sed -n 's/^\.so[[:space:]]\{1,\}\(man3\/[a-z0-9_]*\.3\)[[:space:]]*$/\1/p' "$page")
	if [ -n "$link" ]; then
		if [ "$(grep -cv '^\.\\"' "$page")" -ne 1 ]; then
			echo "not ok - $s.3 has more than its .so line"
			fail=1
		fi
		page="$src/man/$link"
		if [ ! -f "$page" ]; then
			echo "not ok - $s.3 links to missing $link"
			fail=1
			continue
		fi
		sed -n '/^\.SH NAME$/,/^\.SH /p' "$page" | grep -q "\b$s\b" ||
			{ echo "not ok - $link does not name $s"; fail=1; }
	fi
	# One awk per page: process start-up dominates on a loaded machine.
	missing=$(awk 'BEGIN { n = split("NAME|SYNOPSIS|DESCRIPTION|RETURN VALUE|ERRORS|THREAD SAFETY|SEE ALSO", want, "|") }
		/^\.SH / { t = substr($0, 5); gsub(/"/, "", t); have[t] = 1 }
		END { for (i = 1; i <= n; i++) if (!(want[i] in have)) print want[i] }' "$page")
	if [ -n "$missing" ]; then
		echo "not ok - $s.3 lacks:" $missing
		fail=1
	fi
	w=$(render "$page")
	[ -z "$w" ] || { echo "not ok - $s.3 renders with warnings: $w"; fail=1; }
	case " $hdr_syms " in
	*" $s "*) ;;
	*) echo "not ok - $s not in the header"; fail=1 ;;
	esac
done
for page in "$src"/man/man7/*.7 "$src"/man/man1/*.1; do
	w=$(render "$page")
	[ -z "$w" ] || { echo "not ok - ${page##*/} renders with warnings: $w"; fail=1; }
done
[ $fail -eq 0 ] && echo "ok - every export has a complete man page"
exit $fail
