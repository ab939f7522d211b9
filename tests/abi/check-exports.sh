#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# What a user can link against must be the API in lib/libiommufd.map and
# nothing else, whether they link the archive or the shared object.
#
#   check-exports.sh static NM libiommufd.a  libiommufd.map
#       the archive's global defined symbols are all iommufd_*, and are
#       exactly the map's names (internal ifd_* helpers must be local);
#   check-exports.sh shared NM libiommufd.so libiommufd.map
#       the dynamic symbols are exactly the map's names, each in the
#       version node the map puts it in.
set -eu

[ $# -eq 4 ] || { echo "usage: $0 static|shared NM LIB MAP" >&2; exit 2; }
mode=$1 nm=$2 lib=$3 map=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name@NODE for every name in a global: section of the version script.
awk '
	{ line = $0 }
	incomment {
		if (sub(/.*\*\//, "", line)) incomment = 0; else next
	}
	{
		gsub(/\/\*.*\*\//, "", line)
		if (sub(/\/\*.*/, "", line)) incomment = 1
	}
	line ~ /^[ \t]*[A-Za-z_][A-Za-z0-9_.]*[ \t]*\{/ {
		node = line; sub(/^[ \t]*/, "", node); sub(/[ \t]*\{.*/, "", node); global = 0; next
	}
	line ~ /^[ \t]*global:/ { global = 1; next }
	line ~ /^[ \t]*local:/ { global = 0; next }
	line ~ /^[ \t]*\}/ { global = 0; next }
	global && line ~ /^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*;/ {
		sym = line; gsub(/[ \t;]/, "", sym); print sym "@" node
	}
' "$map" | sort >"$tmp/map"
[ -s "$tmp/map" ] || { echo "FAIL: no global symbols parsed from $map" >&2; exit 1; }

fail=0
case $mode in
static)
	# Member headers ("x.o:") and blank lines have fewer than 3 fields.
	"$nm" -g --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sort >"$tmp/lib"
	[ -s "$tmp/lib" ] || { echo "FAIL: $lib defines no global symbol" >&2; exit 1; }
	if grep -v '^iommufd_' "$tmp/lib" >"$tmp/bad"; then
		echo "FAIL: $lib exports names outside iommufd_* (make them static or hidden):" >&2
		sed 's/^/  /' "$tmp/bad" >&2
		fail=1
	fi
	sed 's/@.*//' "$tmp/map" | sort >"$tmp/want"
	;;
shared)
	# Type A entries are the version nodes themselves, not symbols.
	# Older binutils print versions only when asked, newer ones always.
	{ "$nm" -D --defined-only --with-symbol-versions "$lib" 2>/dev/null ||
		"$nm" -D --defined-only "$lib"; } |
		awk 'NF >= 3 && $2 != "A" { sub(/@@/, "@", $3); print $3 }' | sort >"$tmp/lib"
	[ -s "$tmp/lib" ] || { echo "FAIL: $lib exports no dynamic symbol" >&2; exit 1; }
	# Unversioned names fail below: each must carry the map's node.
	cp "$tmp/map" "$tmp/want"
	;;
*)
	echo "usage: $0 static|shared NM LIB MAP" >&2
	exit 2
	;;
esac

if ! cmp -s "$tmp/want" "$tmp/lib"; then
	echo "FAIL: $lib does not export exactly the symbols of $map" >&2
	echo "  (-: in the map, not exported; +: exported, not in the map)" >&2
	diff "$tmp/want" "$tmp/lib" | sed -n 's/^< /  - /p; s/^> /  + /p' >&2
	fail=1
fi
[ $fail -eq 0 ] || exit 1
echo "ok: $lib exports the $(wc -l <"$tmp/want") symbols of $(basename "$map") and nothing else"
