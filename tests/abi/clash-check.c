/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * tests/abi/clash-check.c - libiommufd's headers and the kernel's uAPI
 * headers must coexist in one C translation unit.
 *
 * Included together: the public header <libiommufd/libiommufd.h>, the
 * internal lib/kabi.h, <linux/vfio.h> and (when the headers have it)
 * <linux/iommufd.h>.  Ours come FIRST here; clash-check.cc does the same in
 * C++ with the kernel's first, so both orders are compiled.  Any clashing
 * struct tag, typedef, enumerator or macro breaks the build (-Werror turns a
 * macro redefinition warning into an error too).
 *
 *   gcc -std=gnu11 -Wall -Wextra -Werror -I include -I <uapi>/include \
 *       tests/abi/clash-check.c -o clash-check-c && ./clash-check-c
 *
 * Define IFD_CLASH_REQUIRE_IOMMUFD_UAPI to make missing <linux/iommufd.h> an
 * error (use it when building against the 7.3 headers; without it the test
 * also runs against Debian 12's 6.1 headers, which have no iommufd.h).
 */
#include <libiommufd/libiommufd.h>
#include "../../lib/kabi.h"

#include <linux/vfio.h>
#if defined(__has_include)
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#define CLASH_HAVE_IOMMUFD_UAPI 1
#endif
#endif
#if defined(IFD_CLASH_REQUIRE_IOMMUFD_UAPI) && !defined(CLASH_HAVE_IOMMUFD_UAPI)
#error "<linux/iommufd.h> is required but was not found in the include path"
#endif

#include <stdio.h>

int main(void)
{
	/* Use kernel and library definitions side by side. */
	struct ifd_k_ioas_map ours = { .size = sizeof(ours) };
	struct ifd_k_vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	unsigned long reqs[] = {
		IFD_K_IOMMU_IOAS_MAP,
		IFD_K_VFIO_DEVICE_BIND_IOMMUFD,
		VFIO_DEVICE_GET_INFO,
#ifdef CLASH_HAVE_IOMMUFD_UAPI
		IOMMU_IOAS_MAP,
#endif
#ifdef VFIO_DEVICE_BIND_IOMMUFD
		VFIO_DEVICE_BIND_IOMMUFD,
#endif
	};
#ifdef CLASH_HAVE_IOMMUFD_UAPI
	struct iommu_ioas_map theirs = { .size = sizeof(theirs) };

	if (sizeof(theirs) != sizeof(ours))
		return 1;
#endif
	printf("clash-check (C): libiommufd.h + kabi.h + linux/vfio.h%s "
	       "compile together; %zu request numbers, sizes %u/%u/%u\n",
#ifdef CLASH_HAVE_IOMMUFD_UAPI
	       " + linux/iommufd.h",
#else
	       " (no linux/iommufd.h in these headers)",
#endif
	       sizeof(reqs) / sizeof(reqs[0]), ours.size, bind.argsz,
	       info.argsz);
	return 0;
}
