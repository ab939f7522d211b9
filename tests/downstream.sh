#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# What a downstream project does: install the build into a temporary root,
# then build a program out of tree with nothing but
# `pkg-config --cflags --libs libiommufd`, once against the shared library
# and once fully static (`--static`), and run both.  The program checks the
# version it runs against and that a context either opens or fails cleanly
# (no /dev/iommu or VFIO here is the usual case).
#
#   downstream.sh BUILD_DIR VERSION [CC]
set -eu
build=$(cd "$1" && pwd)
version=$2
cc=${3:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ifd-downstream.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "not ok - $*"
	exit 1
}

meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/root" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "meson install --destdir failed"; }
pc=$(find "$tmp/root" -name libiommufd.pc -path '*/pkgconfig/*')
[ -n "$pc" ] || fail "no libiommufd.pc installed under $tmp/root"
# The .pc names the real prefix; point it at the temporary root.  Only our
# directory is searched, so an installed libiommufd cannot stand in.
prefix=$(sed -n 's/^prefix=//p' "$pc")
pkgconf() {
	PKG_CONFIG_LIBDIR=$(dirname "$pc") PKG_CONFIG_PATH='' \
		pkg-config --define-variable=prefix="$tmp/root$prefix" "$@" libiommufd
}
got=$(pkgconf --modversion) || fail "pkg-config does not find libiommufd in $(dirname "$pc")"
[ "$got" = "$version" ] || fail "the .pc says version $got, the project $version"
grep -q '^URL: [a-z]*://' "$pc" || fail "$pc has no URL field"
libdir=$(pkgconf --variable=libdir)
if [ ! -f "$libdir/libiommufd.a" ] || [ ! -e "$libdir/libiommufd.so" ]; then
	fail "libdir=$libdir from the .pc holds no libiommufd.a and libiommufd.so"
fi

cat >"$tmp/user.c" <<'PROG'
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libiommufd/libiommufd.h>

int main(int argc, char **argv)
{
	struct iommufd_ctx *ctx = NULL;
	unsigned int maj, min, pat;
	uint32_t v = iommufd_version();
	int r;

	if (argc != 2 || sscanf(argv[1], "%u.%u.%u", &maj, &min, &pat) != 3)
		return 2;
	if (v != LIBIOMMUFD_VERSION || v != LIBIOMMUFD_VERSION_CODE(maj, min, pat)) {
		fprintf(stderr, "version 0x%x at run time, 0x%x in the header, %s wanted\n", (unsigned)v,
			(unsigned)LIBIOMMUFD_VERSION, argv[1]);
		return 1;
	}
	errno = 0;
	r = iommufd_ctx_create(NULL, &ctx);
	if (r == 0) {
		printf("context: %s backend\n", iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
		iommufd_ctx_destroy(ctx);
		return 0;
	}
	if (r > 0 || errno != -r || ctx != NULL) {
		fprintf(stderr, "iommufd_ctx_create: %d, errno %d, ctx %p\n", r, errno, (void *)ctx);
		return 1;
	}
	printf("context: none here (%s)\n", strerror(-r));
	return 0;
}
PROG

# shellcheck disable=SC2046 # pkg-config output is a list of words
"$cc" -std=c11 -Wall -Werror -o "$tmp/user-shared" "$tmp/user.c" $(pkgconf --cflags) $(pkgconf --libs) ||
	fail "the shared build with pkg-config --cflags --libs failed"
LD_LIBRARY_PATH=$libdir ldd "$tmp/user-shared" | grep -q "=> $libdir/libiommufd.so" ||
	fail "user-shared does not load $libdir/libiommufd.so"
out=$(LD_LIBRARY_PATH=$libdir LIBIOMMUFD_DEBUG='' "$tmp/user-shared" "$version") ||
	fail "user-shared failed: $out"
echo "ok - shared: $out"

# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Werror -static -o "$tmp/user-static" "$tmp/user.c" $(pkgconf --cflags --static) \
	$(pkgconf --libs --static) || fail "the static build with pkg-config --static failed"
if ldd "$tmp/user-static" >/dev/null 2>&1; then
	fail "user-static is dynamically linked"
fi
out=$(LIBIOMMUFD_DEBUG='' "$tmp/user-static" "$version") || fail "user-static failed: $out"
echo "ok - static: $out"
