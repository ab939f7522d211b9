#!/bin/sh
# Every exported symbol has its man page, and every page renders cleanly.
set -eu
src=$1
fail=0
for s in $(sed -n 's/^[[:space:]]*\(iommufd_[a-z0-9_]*\);/\1/p' "$src/lib/libiommufd.map"); do
	page="$src/man/man3/$s.3"
	if [ ! -f "$page" ]; then
		echo "not ok - $s has no man page"
		fail=1
		continue
	fi
	for sec in NAME SYNOPSIS DESCRIPTION "RETURN VALUE" ERRORS "THREAD SAFETY" "SEE ALSO"; do
		grep -q "^\.SH \"\?$sec\"\?$" "$page" || { echo "not ok - $s.3 lacks $sec"; fail=1; }
	done
	if command -v man >/dev/null 2>&1; then
		w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
		[ -z "$w" ] || { echo "not ok - $s.3 renders with warnings: $w"; fail=1; }
	fi
	# The symbol must also be declared in the public header.
	grep -q "\b$s(" "$src/include/libiommufd/libiommufd.h" || { echo "not ok - $s not in the header"; fail=1; }
done
[ $fail -eq 0 ] && echo "ok - every export has a complete man page"
exit $fail
