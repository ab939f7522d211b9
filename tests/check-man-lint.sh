#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# Every man page is mandoc -Tlint clean (all levels, style included), with
# two messages allowed on purpose:
#  - "lower case character in document title": a function's page is titled
#    with the function's name, as the Linux man-pages project does;
#  - ".so is fragile": a page that documents several functions is linked
#    with a one-line .so page, which check-man.sh verifies and man-db and
#    the install (copies, no symlinks) both handle.
#   check-man-lint.sh SOURCE_ROOT [MANDOC]
set -eu
src=$(cd "$1" && pwd)
mandoc=${2:-mandoc}
cd "$src/man"
# .so paths are relative to man/, as man(1) resolves them.
pages=$(find . -type f -name '*.[1-9]' | sed 's|^\./||' | LC_ALL=C sort)
[ -n "$pages" ] || { echo "not ok - no man pages under $src/man"; exit 1; }
# shellcheck disable=SC2086 # one page per word
out=$("$mandoc" -Tlint $pages 2>&1 || true)
bad=$(printf '%s\n' "$out" | grep -v \
	-e ': STYLE: lower case character in document title: ' \
	-e ': WARNING: \.so is fragile, better use ln(1): ' | grep . || true)
if [ -n "$bad" ]; then
	echo "not ok - mandoc -Tlint reports (run it from man/ to see them in place):"
	printf '%s\n' "$bad"
	exit 1
fi
echo "ok - $(echo "$pages" | wc -l) man pages are mandoc -Tlint clean"
