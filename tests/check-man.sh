#!/bin/sh
# Every exported symbol and every function of the public header has its man
# page, and every page renders cleanly.  A page may be a one-line ".so"
# link to another page (as for the iommufd_map_get_* family); the linked
# page must then name the symbol in its NAME section.
set -eu
src=$(cd "$1" && pwd)
hdr="$src/include/libiommufd/libiommufd.h"
fail=0
# The header counts as well as the map file: a function declared but not yet
# exported (or the reverse) still needs its page.
syms=$( {
	sed -n 's/^[[:space:]]*\(iommufd_[a-z0-9_]*\);/\1/p' "$src/lib/libiommufd.map"
	grep -oE '^[a-z][a-z0-9_ *]*[ *]iommufd_[a-z0-9_]+\(' "$hdr" | sed -E 's/.*(iommufd_[a-z0-9_]+)\(/\1/'
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
	for sec in NAME SYNOPSIS DESCRIPTION "RETURN VALUE" ERRORS "THREAD SAFETY" "SEE ALSO"; do
		grep -q "^\.SH \"\?$sec\"\?$" "$page" || { echo "not ok - $s.3 lacks $sec"; fail=1; }
	done
	if command -v man >/dev/null 2>&1; then
		# man -l resolves .so relative to the current directory.
		w=$(cd "$src/man" && LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
		[ -z "$w" ] || { echo "not ok - $s.3 renders with warnings: $w"; fail=1; }
	fi
	grep -q "\b$s(" "$hdr" || { echo "not ok - $s not in the header"; fail=1; }
done
for page in "$src"/man/man7/*.7; do
	if command -v man >/dev/null 2>&1; then
		w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
		[ -z "$w" ] || { echo "not ok - ${page##*/} renders with warnings: $w"; fail=1; }
	fi
done
[ $fail -eq 0 ] && echo "ok - every export has a complete man page"
exit $fail
