// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The libiommufd authors
//
// tests/abi/clash-check.cc - the C++ twin of clash-check.c: the public
// header, lib/kabi.h, <linux/vfio.h> and <linux/iommufd.h> in one C++
// translation unit.  Here the KERNEL headers come first (clash-check.c puts
// ours first), so both include orders are compiled.  This also proves that
// lib/kabi.h and the public header are valid C++.
//
//   g++ -std=gnu++17 -Wall -Wextra -Werror -I include -I <uapi>/include
//       tests/abi/clash-check.cc -o clash-check-cc && ./clash-check-cc
//   (one command line)
//
// Define IFD_CLASH_REQUIRE_IOMMUFD_UAPI to make a missing <linux/iommufd.h>
// an error (see clash-check.c).
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

#include <libiommufd/libiommufd.h>
#include "../../lib/kabi.h"

#include <cstdio>

int main()
{
	struct ifd_k_ioas_map ours = {};
	struct ifd_k_vfio_device_bind_iommufd bind = {};
	struct ifd_k_hw_info hw = {};	// has an anonymous union
	struct vfio_device_info info = {};
	const unsigned long reqs[] = {
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

	ours.size = sizeof(ours);
	bind.argsz = sizeof(bind);
	hw.size = IFD_K_HW_INFO_SIZE_CAPS;
	hw.in_data_type = IFD_K_IOMMU_HW_INFO_TYPE_DEFAULT;
	info.argsz = sizeof(info);
#ifdef CLASH_HAVE_IOMMUFD_UAPI
	struct iommu_ioas_map theirs = {};
	static_assert(sizeof(theirs) == sizeof(ours), "iommu_ioas_map size");
	theirs.size = sizeof(theirs);
	if (theirs.size != ours.size)
		return 1;
#endif
	std::printf("clash-check (C++): linux/vfio.h%s + libiommufd.h + kabi.h "
		    "compile together; %zu request numbers, sizes %u/%u/%u/%u\n",
#ifdef CLASH_HAVE_IOMMUFD_UAPI
		    " + linux/iommufd.h",
#else
		    " (no linux/iommufd.h in these headers)",
#endif
		    sizeof(reqs) / sizeof(reqs[0]), ours.size, bind.argsz,
		    hw.size, info.argsz);
	return 0;
}
