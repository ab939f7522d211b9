/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * allow_iovas: iommufd_ioas_allow_iovas() ties the allocator to the
 * allowed ranges and keeps devices that would take them away out.
 *
 * IOAS 1 allows two windows under the edu's 28-bit limit, W1 (4 MiB) and W2
 * (16 MiB), before its device opens; every library-chosen IOVA falls inside
 * them (a 6 MiB buffer, which does not fit W1, lands in W2), a fixed map
 * outside them is still allowed, and the device does DMA through them.
 * With the device attached, allowing a range over the VT-d MSI window
 * (0xfee00000) -> -ERANGE, and the earlier promise still holds.  IOAS 2
 * allows a range over the MSI window before any device: opening the edu
 * pair there -> -ERANGE and nothing changes (iommufd refuses the reserved
 * region; TYPE1 undoes the attach, as the header documents); withdrawing
 * the promise (n = 0) lets it open.  Bad ranges -> -EINVAL.
 */
#include "itest.h"

#define P SZ_4K
#define W1_START 0x00800000ull
#define W1_LAST  0x00bfffffull
#define W2_START 0x02000000ull
#define W2_LAST  0x02ffffffull
#define SZ_1M 0x100000ull
#define MSI_BASE 0xfee00000ull

static const struct iommufd_iova_range allowed[] = { { W1_START, W1_LAST }, { W2_START, W2_LAST } };

static bool in_allowed(uint64_t iova, uint64_t len)
{
	return itest_in_ranges(allowed, 2, iova, len);
}

int main(void)
{
	struct itest_edu x = { 0 }, p0 = { 0 };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL, *ioas2 = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_iova_range bad[2];
	enum { NB = 6 };
	static const size_t lens[NB] = { SZ_4K, 64 * SZ_4K, SZ_2M, 3 * SZ_4K, SZ_2M, SZ_4K };
	uint8_t *bufs[NB], *big, *fx;
	uint64_t iovas[NB], big_iova, fx_iova;
	char pa[32], pb[32];

	itest_start("allow_iovas");
	const char *edu_bdf = itest_env_req("IFD_EDU");
	itest_pair(pa, pb);

	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "create IOAS 1");

	/* ---- bad arguments */
	bad[0] = (struct iommufd_iova_range){ W1_START + 1, W1_LAST };
	CHECK_RET(iommufd_ioas_allow_iovas(ioas, bad, 1), -EINVAL, "an unaligned start");
	bad[0] = (struct iommufd_iova_range){ W1_START, W1_LAST - 1 };
	CHECK_RET(iommufd_ioas_allow_iovas(ioas, bad, 1), -EINVAL, "a last byte that does not end a page");
	bad[0] = (struct iommufd_iova_range){ W1_LAST + 1, W1_START - 1 };
	CHECK_RET(iommufd_ioas_allow_iovas(ioas, bad, 1), -EINVAL, "start after last");
	CHECK_RET(iommufd_ioas_allow_iovas(ioas, NULL, 1), -EINVAL, "NULL ranges with n = 1");

	/* ---- the allowed windows, before the device */
	REQUIRE_RET(iommufd_ioas_allow_iovas(ioas, allowed, 2), 0, "allow W1 [0x%llx, 0x%llx] and W2 [0x%llx, 0x%llx]",
		    W1_START, W1_LAST, W2_START, W2_LAST);
	itest_edu_open(&x, ioas, edu_bdf);
	itest_print_ranges(ioas, "IOAS 1");

	for (int i = 0; i < NB; i++) {
		bufs[i] = itest_alloc(lens[i], SZ_2M);
		iovas[i] = itest_map(ioas, bufs[i], lens[i], EDU_IOVA_MAX, "a buffer");
		CHECK(in_allowed(iovas[i], lens[i]), "chosen IOVA 0x%" PRIx64 " (0x%zx bytes) lies inside W1 or W2",
		      iovas[i], lens[i]);
	}
	big = itest_alloc(6 * SZ_1M, SZ_2M);
	big_iova = itest_map(ioas, big, 6 * SZ_1M, EDU_IOVA_MAX, "6 MiB buffer");
	CHECK(big_iova >= W2_START && big_iova + 6 * SZ_1M - 1 <= W2_LAST,
	      "the 6 MiB buffer (too big for W1) lands in W2 at 0x%" PRIx64, big_iova);
	{
		uint8_t *huge = itest_alloc(16 * SZ_1M, SZ_2M);
		uint64_t hi = 0;
		struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };

		CHECK_RET(iommufd_ioas_map(ioas, huge, 16 * SZ_1M, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &hi),
			  -ENOSPC, "a 16 MiB buffer fits in no allowed window");
		itest_free(huge, 16 * SZ_1M);
	}
	fx = itest_alloc(P, P);
	fx_iova = itest_free_iova(ioas, 0x04000000, EDU_IOVA_MAX, P, P);
	REQUIRE(fx_iova && !in_allowed(fx_iova, P), "a free IOVA outside the windows: 0x%" PRIx64, fx_iova);
	itest_map_fixed(ioas, fx, P, fx_iova, "fixed map outside the allowed windows");

	itest_edu_roundtrip(&x, bufs[0], iovas[0], EDU_BUF_SIZE, 80, "first buffer, in an allowed window");
	itest_edu_roundtrip(&x, big + 5 * SZ_1M - P, big_iova + 5 * SZ_1M - P, EDU_BUF_SIZE, 81,
			    "6 MiB buffer, near its end");
	itest_edu_roundtrip(&x, fx, fx_iova, EDU_BUF_SIZE, 82, "the fixed map outside the windows");

	/* ---- with the device attached, the MSI window cannot be allowed */
	{
		struct iommufd_iova_range over_msi[] = { { W1_START, W1_LAST }, { 0xfe000000ull, 0xfeffffffull } };

		/* Without an IOMMU the device reserves no MSI window: nothing to
		 * refuse here (IOAS 2 below shows the window is usable). */
		if (!itest_is_noiommu(ctx))
			CHECK_RET(iommufd_ioas_allow_iovas(ioas, over_msi, 2), -ERANGE,
				  "allowing [0xfe000000, 0xfeffffff] with the device attached (its MSI window is "
				  "reserved)");
	}
	{
		uint8_t *b = itest_alloc(P, P);
		uint64_t i2 = itest_map(ioas, b, P, EDU_IOVA_MAX, "a buffer after the refused allow");

		CHECK(in_allowed(i2, P), "the earlier windows still hold: 0x%" PRIx64 " is inside W1 or W2", i2);
		itest_unmap(ioas, i2, P, "it");
		itest_free(b, P);
	}

	/* ---- IOAS 2: the MSI window allowed before any device */
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas2), 0, "create IOAS 2");
	{
		struct iommufd_iova_range msi[] = { { 0x00100000ull, 0x0fffffffull }, { MSI_BASE, MSI_BASE + 0xfffff } };

		REQUIRE_RET(iommufd_ioas_allow_iovas(ioas2, msi, 2), 0,
			    "IOAS 2 allows [0x100000, 0xfffffff] and the MSI window [0xfee00000, 0xfeefffff]");
	}
	itest_log_clear();
	if (itest_is_noiommu(ctx)) {
		CHECK_RET(iommufd_device_open(ioas2, pa, NULL, &dev), 0,
			  "no IOMMU: %s reserves no MSI window, so it opens into IOAS 2, whose allowed ranges cover "
			  "0xfee00000", pa);
		if (dev)
			CHECK_RET(iommufd_device_destroy(dev), 0, "close %s", pa);
		dev = NULL;
	} else {
		CHECK_RET(iommufd_device_open(ioas2, pa, NULL, &dev), -ERANGE,
			  "opening %s into IOAS 2, whose allowed ranges cover its reserved MSI window", pa);
	}
	CHECK(dev == NULL, "no device handle was returned");
	CHECK(iommufd_ioas_destroy(ioas2) == 0 ? (ioas2 = NULL, true) : false,
	      "IOAS 2 has no device after the refused open (destroy returns 0)");
	if (!ioas2)
		REQUIRE_RET(iommufd_ioas_create(ctx, &ioas2), 0, "create IOAS 2 again");
	{
		struct iommufd_iova_range msi[] = { { MSI_BASE, MSI_BASE + 0xfffff } };

		REQUIRE_RET(iommufd_ioas_allow_iovas(ioas2, msi, 1), 0, "IOAS 2 allows the MSI window again");
	}
	if (!itest_is_noiommu(ctx))
		CHECK_RET(iommufd_device_open(ioas2, pa, NULL, &dev), -ERANGE, "and the open is refused again");
	CHECK_RET(iommufd_ioas_allow_iovas(ioas2, NULL, 0), 0, "withdraw IOAS 2's promise (n = 0)");
	itest_edu_open(&p0, ioas2, pa);
	{
		uint8_t *b = itest_alloc(P, P);
		uint64_t i2 = itest_map(ioas2, b, P, EDU_IOVA_MAX, "a buffer in IOAS 2");

		itest_edu_roundtrip(&p0, b, i2, EDU_BUF_SIZE, 83, "the pair device in IOAS 2 after the withdrawal");
		itest_unmap(ioas2, i2, P, "it");
		itest_free(b, P);
	}
	itest_edu_close(&p0);

	for (int i = 0; i < NB; i++) {
		itest_unmap(ioas, iovas[i], lens[i], "a buffer");
		itest_free(bufs[i], lens[i]);
	}
	itest_unmap(ioas, big_iova, 6 * SZ_1M, "6 MiB buffer");
	itest_unmap(ioas, fx_iova, P, "fixed map");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "destroy IOAS 1");
	CHECK_RET(iommufd_ioas_destroy(ioas2), 0, "destroy IOAS 2");
	iommufd_ctx_destroy(ctx);
	itest_free(big, 6 * SZ_1M);
	itest_free(fx, P);
	return itest_finish();
}
