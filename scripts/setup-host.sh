#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The libiommufd authors
# Prepare a fresh Debian 12 machine (as root) for building libiommufd and
# running its VM rig. Idempotent: a second run costs seconds.
#
# The backports suites are pinned at priority 100 so that adding them never
# upgrades anything already installed; we ask for the packages we want from
# them by name with -t.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "setup-host: run as root (it installs Debian packages)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for another apt (unattended upgrades, a second session) instead of failing.
apt_get() { apt-get -o DPkg::Lock::Timeout=900 "$@"; }
stamp=/var/lib/libiommufd-setup.stamp
want_rev=10

src=/etc/apt/sources.list.d/libiommufd-backports.sources
if [ ! -f "$src" ]; then
	cat >"$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports trixie-backports trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	cat >/etc/apt/preferences.d/libiommufd-backports <<'PIN'
Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100

Package: *
Pin: release n=trixie-backports
Pin-Priority: 100

Package: *
Pin: release n=trixie
Pin-Priority: 50
PIN
	rm -f "$stamp"
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_rev" ]; then
	exit 0
fi

apt_get update -q

# Library build and unit tests.
apt_get install -y -q --no-install-recommends \
	meson ninja-build pkg-config gcc g++ libc6-dev libcmocka-dev \
	libudev-dev libglib2.0-dev libnl-3-dev libnl-route-3-dev valgrind \
	python3 git ca-certificates xz-utils man-db groff-base mandoc python3-ply python3-git
apt_get install -y -q --no-install-recommends python3-matplotlib # bench/run.sh draws its plot with it

# Fuzzing (tests/fuzz, libFuzzer) and the TSan unit run: clang and its
# sanitizer runtimes.
apt_get install -y -q --no-install-recommends clang libclang-rt-dev
# Debian packaging (scripts/build-deb.sh, run by test-all.sh).
apt_get install -y -q --no-install-recommends \
	debhelper dpkg-dev fakeroot lintian devscripts

# Test-kernel build (rig-facts: headers_install needs rsync; kernel/build.sh
# applies kernel/patches/*.patch with patch(1)).
apt_get install -y -q --no-install-recommends \
	bc flex bison libelf-dev libssl-dev rsync cpio make kmod dwarves patch

# Guest userland and the emulator.
apt_get install -y -q --no-install-recommends busybox-static
apt_get install -y -q --no-install-recommends -t bookworm-backports qemu-system-x86 ||
	apt_get install -y -q --no-install-recommends qemu-system-x86

# Kernel source for the iommufd kernel (7.3).  Not installed as a package:
# linux-source-7.3 depends on the 7.3 linux-libc-dev, which would replace
# Debian 12's 6.1 uAPI headers, and the library must build against those.
if [ ! -f /usr/src/linux-source-7.3.tar.xz ]; then
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -q linux-source-7.3/trixie-backports)
	dpkg-deb --fsys-tarfile "$tmp"/linux-source-7.3_*.deb |
		tar -x -C / ./usr/src/linux-source-7.3.tar.xz
	rm -rf "$tmp"
fi
if dpkg -s linux-source-7.3 >/dev/null 2>&1; then
	apt_get remove -y -q linux-source-7.3
	# remove deletes the tarball it owned; fetch it back the clean way.
	exec bash "$0" "$@"
fi
# Put Debian 12's own uAPI headers back if anything upgraded them.
deb12_libc_dev=$(apt-cache madison linux-libc-dev |
	awk -F'|' '$3 ~ / bookworm(-security|-updates)?\// {gsub(/ /, "", $2); print $2; exit}')
cur_libc_dev=$(dpkg-query -W -f='${Version}' linux-libc-dev 2>/dev/null || true)
if [ -n "$deb12_libc_dev" ] && [ "$cur_libc_dev" != "$deb12_libc_dev" ]; then
	apt_get install -y -q --allow-downgrades --no-install-recommends "linux-libc-dev=$deb12_libc_dev"
fi

# Debian 12's 6.12 source, built with the test fragment for the 6.12-src
# cell (kernel/build.sh --source 6.12).  Its package depends on nothing
# that touches the uAPI headers.
if [ ! -f /usr/src/linux-source-6.12.tar.xz ]; then
	apt_get install -y -q --no-install-recommends linux-source-6.12
fi

# The stock legacy-only kernel (6.12, no iommufd) and its headers.
k612=$(apt-cache search --names-only '^linux-image-6\.12\..*\+deb12-amd64-unsigned$' |
	awk '{print $1}' | sort -V | tail -n 1)
if [ -n "$k612" ]; then
	apt_get install -y -q --no-install-recommends "$k612"
	hdr=${k612/linux-image-/linux-headers-}
	hdr=${hdr%-unsigned}
	# The rig builds the mdma module against them for the 6.12 cell.
	apt_get install -y -q --no-install-recommends "$hdr"
else
	echo "setup-host: no linux-image-6.12.*+deb12-amd64-unsigned found in bookworm-security" >&2
	exit 1
fi

# Debian's own 7.3 (trixie-backports; no iommufd either) for the 7.3-stock
# cell: unpacked, never installed (it depends on trixie's libc and
# gcc-14).  kernel/stock.sh 7.3 stages it from here.
stock_root=/var/lib/libiommufd/debian-kernels
bin73=$(apt-cache search --names-only '^linux-binary-unsigned-7\.3\.[0-9]+\+deb13-amd64$' |
	awk '{print $1}' | sort -V | tail -n 1)
if [ -z "$bin73" ]; then
	echo "setup-host: no linux-binary-unsigned-7.3.*+deb13-amd64 found in trixie-backports" >&2
	exit 1
fi
krel73=${bin73#linux-binary-unsigned-}
if [ ! -f "$stock_root/usr/lib/modules/$krel73/modules.dep" ]; then
	abi=${krel73%-amd64}
	tmp=$(mktemp -d)
	chmod 755 "$tmp" # apt's download user must be able to write there
	# The image, its modules and config, and the headers (amd64 + common +
	# kbuild) that the rig's mdma.ko builds against.
	(cd "$tmp" && apt-get download -q "$bin73/trixie-backports" \
		"linux-modules-$krel73/trixie-backports" "linux-base-$krel73/trixie-backports" \
		"linux-headers-$krel73/trixie-backports" "linux-headers-$abi-common/trixie-backports" \
		"linux-kbuild-$abi/trixie-backports")
	rm -rf "$stock_root.tmp"
	mkdir -p "$stock_root.tmp"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$stock_root.tmp"
	done
	rm -rf "$tmp"
	# Not shipped: depmod -b looks under lib/modules of its base.
	ln -sfn usr/lib "$stock_root.tmp/lib"
	depmod -b "$stock_root.tmp" "$krel73"
	rm -rf "$stock_root"
	mv "$stock_root.tmp" "$stock_root"
fi

echo "$want_rev" >"$stamp"
