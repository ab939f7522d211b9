/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * edu_dma: real DMA through library-chosen and fixed IOVAs.
 *
 * The edu device masks DMA addresses to 28 bits, so every chosen IOVA must
 * respect iova_max = EDU_IOVA_MAX and still be inside the usable ranges.
 * Memory: a 4 KiB page and a 2 MiB-aligned 2 MiB buffer (the library
 * aligns that IOVA to 2 MiB so the IOMMU can use a large page).  Also: the
 * usable ranges before and after the device attaches (the MSI window drops
 * out), and an attach refused because a mapping sits in that window.
 */
#include "itest.h"

#define MSI_WINDOW 0xfee00000ull /* x86: the IOMMU reserves 0xfee00000..0xfeefffff */

int main(void)
{
	struct itest_edu x = { 0 };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_iova_range r[32];
	struct iommufd_map_info info;
	const char *edu_bdf;
	uint8_t *page, *big, *fixed_buf, *msi;
	uint64_t iova, big_iova, fixed, t;
	int64_t align;
	long d;
	int n;

	itest_start("edu_dma");
	edu_bdf = itest_env_req("IFD_EDU");

	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");

	/* 0. Before any device the whole space is usable; a mapping where the
	 * device's reserved region lies (the x86 MSI window) must make the
	 * attach fail cleanly, and the device opens once it is gone. */
	msi = itest_alloc(SZ_4K, SZ_4K);
	itest_print_ranges(ioas, "IOAS without devices");
	n = itest_ranges(ioas, r, 32);
	if (CHECK(itest_in_ranges(r, n, MSI_WINDOW, SZ_4K), "IOVA 0x%llx is usable before any device attaches",
		  MSI_WINDOW)) {
		struct iommufd_device *dev = NULL;
		int rc;

		itest_map_fixed(ioas, msi, SZ_4K, MSI_WINDOW, "a page in the MSI window");
		rc = iommufd_device_open(ioas, edu_bdf, NULL, &dev);
		/* Without an IOMMU nothing reserves the window: the IOVA only
		 * names memory. */
		CHECK_RET(rc, itest_is_noiommu(ctx) ? 0 : -ERANGE, "opening %s while its MSI window 0x%llx holds a "
			  "mapping", edu_bdf, MSI_WINDOW);
		if (rc == 0)
			iommufd_device_destroy(dev);
		CHECK_RET(iommufd_ioas_find_iova(ioas, MSI_WINDOW, NULL), 0, "the mapping is still there");
		itest_unmap(ioas, MSI_WINDOW, SZ_4K, "the MSI window page");

		/* The same with a reservation there (the library's own record). */
		CHECK_RET(iommufd_ioas_reserve(ioas, MSI_WINDOW, SZ_4K), 0, "reserve a page in the MSI window");
		dev = NULL;
		rc = iommufd_device_open(ioas, edu_bdf, NULL, &dev);
		CHECK_RET(rc, itest_is_noiommu(ctx) ? 0 : -ERANGE, "opening %s while its MSI window holds a "
			  "reservation", edu_bdf);
		if (rc == 0)
			iommufd_device_destroy(dev);
		CHECK_RET(iommufd_ioas_unreserve(ioas, MSI_WINDOW, SZ_4K), 0, "unreserve it");
	}
	itest_edu_open(&x, ioas, edu_bdf);
	n = itest_ranges(ioas, r, 32);
	if (itest_is_noiommu(ctx))
		CHECK(itest_in_ranges(r, n, MSI_WINDOW, SZ_4K), "no IOMMU: the MSI window stays usable");
	else
		CHECK(!itest_in_ranges(r, n, MSI_WINDOW, SZ_4K), "with the device attached the MSI window is not usable");
	if (!itest_is_noiommu(ctx)) {
		struct iommufd_map_opts o = { .sz = sizeof(o), .iova = MSI_WINDOW };
		uint64_t got = 0;

		CHECK_RET(iommufd_ioas_map(ioas, msi, SZ_4K, IOMMUFD_MAP_READ | IOMMUFD_MAP_FIXED, &o, &got), -ERANGE,
			  "a fixed map in the MSI window with the device attached");
	}
	CHECK(iommufd_device_get_ioas(x.dev) == ioas, "device reports the IOAS it was opened into");
	CHECK(!strcmp(iommufd_device_get_name(x.dev) ? iommufd_device_get_name(x.dev) : "", edu_bdf),
	      "device name is %s", edu_bdf);
	CHECK(iommufd_device_get_group(x.dev) == itest_sysfs_group(edu_bdf), "device group %d matches sysfs (%d)",
	      iommufd_device_get_group(x.dev), itest_sysfs_group(edu_bdf));
	if (itest_is_cdev(ctx) || (itest_is_noiommu(ctx) && iommufd_ctx_get_fd(ctx) >= 0))
		CHECK(iommufd_device_get_id(x.dev) >= 0, "cdev: device has an iommufd ID (%" PRId64 ")",
		      iommufd_device_get_id(x.dev));
	else
		CHECK_RET(iommufd_device_get_id(x.dev), -EOPNOTSUPP, "%s: no iommufd device ID",
			  iommufd_backend_name(iommufd_ctx_get_backend(ctx)));

	itest_print_ranges(ioas, "IOAS with the edu attached");
	n = itest_ranges(ioas, r, 32);
	REQUIRE(n >= 1, "IOAS has at least one usable IOVA range (%d)", n);
	CHECK(itest_in_ranges(r, n, SZ_2M, SZ_2M), "low IOVAs (2 MiB..4 MiB) are usable, as the edu needs");
	align = iommufd_ioas_get_alignment(ioas);
	CHECK(align >= sysconf(_SC_PAGESIZE) && !(align & (align - 1)), "IOAS alignment 0x%" PRIx64
	      " is a power of two >= the page size", (uint64_t)align);

	/* 1. One page at a library-chosen IOVA under the 28-bit limit. */
	page = itest_alloc(SZ_4K, SZ_4K);
	iova = itest_map(ioas, page, SZ_4K, EDU_IOVA_MAX, "4 KiB page");
	CHECK_RET(iommufd_ioas_find_iova(ioas, iova + 100, &info), 0, "find_iova inside the page's mapping");
	CHECK(info.iova == iova && info.len == SZ_4K && info.vaddr == page &&
		      info.flags == (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE),
	      "find_iova reports the mapping (iova, len, vaddr, flags)");
	t = 0;
	CHECK(iommufd_ioas_translate(ioas, page + 16, 32, &t) == 0 && t == iova + 16,
	      "translate(vaddr + 16) = IOVA + 16");
	itest_edu_roundtrip(&x, page, iova, EDU_BUF_SIZE, 1, "4 KiB chosen IOVA");

	/* A transfer at an offset inside both the page and the edu buffer. */
	memset(page, 0xee, SZ_4K);
	if (itest_dma(&x, iova + 1024, 512, 256, 1)) {
		long before = itest_byte_diff(page, 1024, 0xee), after = itest_byte_diff(page + 1280, SZ_4K - 1280, 0xee);

		/* edu buffer byte k holds pattern byte k of seed 1. */
		d = -1;
		for (size_t i = 0; i < 256 && d < 0; i++)
			if (page[1024 + i] != itest_pat(512 + i, 1))
				d = (long)i;
		CHECK(d < 0 && before < 0 && after < 0,
		      "256-byte DMA from edu offset 512 lands at page offset 1024 and nowhere else");
	}

	/* 2. 2 MiB of 2 MiB-aligned memory: the chosen IOVA is 2 MiB aligned. */
	big = itest_alloc(SZ_2M, SZ_2M);
	big_iova = itest_map(ioas, big, SZ_2M, EDU_IOVA_MAX, "2 MiB buffer");
	CHECK(!(big_iova & (SZ_2M - 1)), "2 MiB buffer got a 2 MiB-aligned IOVA (0x%" PRIx64 ")", big_iova);
	CHECK(big_iova + SZ_2M <= iova || big_iova >= iova + SZ_4K, "the two mappings do not overlap");
	itest_edu_roundtrip(&x, big, big_iova, EDU_BUF_SIZE, 2, "first page of the 2 MiB buffer");
	itest_edu_roundtrip(&x, big + SZ_2M - SZ_4K, big_iova + SZ_2M - SZ_4K, EDU_BUF_SIZE, 3,
			    "last page of the 2 MiB buffer");
	itest_edu_roundtrip(&x, big + 0x123000, big_iova + 0x123000, EDU_BUF_SIZE, 4,
			    "a middle page of the 2 MiB buffer");
	CHECK(itest_byte_diff(big + SZ_4K, 0x122000, 0) < 0, "pages of the 2 MiB buffer no DMA touched are still zero");

	/* 3. A fixed IOVA round trip. */
	fixed_buf = itest_alloc(SZ_4K, SZ_4K);
	fixed = itest_free_iova(ioas, 0x01000000, EDU_IOVA_MAX, SZ_4K, 0x10000);
	REQUIRE(fixed != 0, "found a free IOVA under the edu limit for a fixed map");
	itest_map_fixed(ioas, fixed_buf, SZ_4K, fixed, "4 KiB page");
	itest_edu_roundtrip(&x, fixed_buf, fixed, EDU_BUF_SIZE, 5, "fixed IOVA");
	{
		struct iommufd_map_opts o = { .sz = sizeof(o), .iova = fixed };
		uint64_t got = 0;

		CHECK_RET(iommufd_ioas_map(ioas, page, SZ_4K, IOMMUFD_MAP_READ | IOMMUFD_MAP_FIXED, &o, &got), -EEXIST,
			  "a fixed map over a live mapping");
		o.iova = EDU_IOVA_MAX + 1;
		o.iova_max = EDU_IOVA_MAX;
		CHECK_RET(iommufd_ioas_map(ioas, page, SZ_4K, IOMMUFD_MAP_READ | IOMMUFD_MAP_FIXED, &o, &got), -ERANGE,
			  "a fixed IOVA above iova_max");
	}
	/* The earlier mappings still work after the others were added. */
	itest_edu_roundtrip(&x, page, iova, EDU_BUF_SIZE, 6, "4 KiB chosen IOVA again");

	itest_unmap(ioas, fixed, SZ_4K, "fixed page");
	itest_unmap(ioas, big_iova, SZ_2M, "2 MiB buffer");
	CHECK_RET(iommufd_ioas_unmap(ioas, iova, SZ_4K / 2, NULL), -EINVAL, "an unmap that would split a mapping");
	itest_unmap(ioas, iova, SZ_4K, "4 KiB page");
	CHECK_RET(iommufd_ioas_unmap(ioas, iova, SZ_4K, NULL), -ENOENT, "a second unmap of the same IOVA");
	CHECK_RET(iommufd_ioas_find_iova(ioas, iova, NULL), -ENOENT, "find_iova after unmap");

	CHECK_RET(iommufd_ioas_destroy(ioas), -EBUSY, "destroying an IOAS with a device attached");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);
	itest_free(page, SZ_4K);
	itest_free(big, SZ_2M);
	itest_free(fixed_buf, SZ_4K);
	itest_free(msi, SZ_4K);
	return itest_finish();
}
