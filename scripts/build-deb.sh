#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# Build the Debian packages from a scratch copy of this tree and check them
# with lintian (no error, no warning).  The clone stays clean: the source
# is `git archive` of HEAD plus uncommitted changes to tracked files
# (`git stash create`, which touches no ref and no file), unpacked under
# OUT (default: a new /tmp/libiommufd-deb.XXXXXX).  The .debs, the build
# log and lintian's report stay in OUT; the unpacked tree is removed after
# a successful build.
#
#   build-deb.sh [OUT]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$(mktemp -d /tmp/libiommufd-deb.XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for t in dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null ||
		{ echo "build-deb: $t not found: install debhelper, lintian and dpkg-dev (scripts/setup-host.sh)" >&2; exit 1; }
done

version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
upstream=${version%-*}
src=$out/libiommufd-$upstream
rm -rf "$src"
tree=$(git -C "$root" stash create 2>/dev/null || true)
git -C "$root" archive --prefix="libiommufd-$upstream/" "${tree:-HEAD}" | tar -x -C "$out"

# libiommufd-glib's packages need glib/; a tree without it (before that
# work lands) builds the others, through the noglib build profile.
profiles=()
[ -f "$src/glib/meson.build" ] || profiles=(-Pnoglib)

start=$SECONDS
echo "build-deb: dpkg-buildpackage -us -uc -b ${profiles[*]} in $src (log: $out/build.log)"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b "${profiles[@]}") >"$out/build.log" 2>&1; then
	tail -n 60 "$out/build.log"
	echo "build-deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
fi
echo "build-deb: built in $((SECONDS - start)) s:"
(cd "$out" && ls -- *.deb)

changes=("$out"/libiommufd_"${version}"_*.changes)
# Informational and pedantic tags are shown, never fatal.
if ! lintian --pedantic --display-info --fail-on error,warning "${changes[@]}" >"$out/lintian.txt" 2>&1; then
	cat "$out/lintian.txt"
	echo "build-deb: lintian reports errors or warnings (above; $out/lintian.txt)" >&2
	exit 1
fi
cat "$out/lintian.txt"
echo "build-deb: lintian: no error, no warning ($out/lintian.txt)"
rm -rf "$src"
