/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * type1_dirty: the migration loop's IOAS-level dirty calls with the edu
 * attached.
 *
 * TYPE1 (7.3-type1, 6.12-auto, 7.3-stock): VFIO_IOMMU_DIRTY_PAGES; on
 * iommufd's compat container (7.3-compat) refused, reason KERNEL.  The emulated
 * VT-d tracks nothing, so type1 reports every mapped page dirty, on every
 * read (its rule for devices that do not pin pages): check exactly that at
 * 4 KiB and folded at 8 KiB, with DMA still working while tracking is on;
 * NO_CLEAR refused (-EOPNOTSUPP: type1 always clears), a range that splits
 * a mapping refused (-EINVAL), a page smaller than the IOMMU's refused.
 * CDEV: the edu sits on its IOAS's automatic HWPT, not on a tracking one:
 * refused (-EOPNOTSUPP, the log naming the device).  GROUP: refused
 * (BACKEND).
 */
#include "feature.h"

#define BUF_LEN 0x10000ull /* 64 KiB: 16 pages */

static bool all_set(const uint64_t *bm, uint64_t nbits)
{
	for (uint64_t i = 0; i < nbits; i++)
		if (!((bm[i / 64] >> (i % 64)) & 1))
			return false;
	return true;
}

static void type1_cell(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, struct itest_edu *x)
{
	struct iommufd_feature_status st;
	uint64_t bm[2], iova;
	uint8_t *buf = itest_alloc(BUF_LEN, SZ_4K);

	/* At a 64 KiB-aligned IOVA, so that every page size read below
	 * (4 and 8 KiB) divides it: the calls' alignment rule. */
	iova = itest_map_fixed(ioas, buf, BUF_LEN, 0x100000, "64 KiB buffer at IOVA 1 MiB");
	CHECK(feature_get(ctx, x->dev, IOMMUFD_FEATURE_DIRTY_TRACKING, &st, "DIRTY_TRACKING") == 1,
	      "TYPE1 offers dirty pages (VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION)");
	REQUIRE_RET(iommufd_ioas_set_dirty_tracking(ioas, true), 0, "start dirty tracking (VFIO_IOMMU_DIRTY_PAGES)");
	itest_edu_roundtrip(x, buf, iova, EDU_BUF_SIZE, 3, "DMA while tracking");

	bm[0] = bm[1] = 0;
	CHECK_RET(iommufd_ioas_get_dirty_bitmap(ioas, iova, BUF_LEN, SZ_4K, bm, 0), 0, "read the bitmap at 4 KiB");
	CHECK(all_set(bm, BUF_LEN / SZ_4K), "every mapped page is dirty (0x%" PRIx64 ")", bm[0]);
	bm[0] = 0;
	CHECK_RET(iommufd_ioas_get_dirty_bitmap(ioas, iova, BUF_LEN, SZ_4K, bm, 0), 0, "read again");
	CHECK(all_set(bm, BUF_LEN / SZ_4K), "still every page: type1 cannot see writes, so it says all (0x%" PRIx64 ")",
	      bm[0]);
	bm[0] = 0;
	CHECK_RET(iommufd_ioas_get_dirty_bitmap(ioas, iova, BUF_LEN, 2 * SZ_4K, bm, 0), 0, "read at 8 KiB (folded)");
	CHECK(all_set(bm, BUF_LEN / (2 * SZ_4K)), "every 8 KiB unit is dirty (0x%" PRIx64 ")", bm[0]);

	CHECK_RET(iommufd_ioas_get_dirty_bitmap(ioas, iova, BUF_LEN, SZ_4K, bm, IOMMUFD_DIRTY_NO_CLEAR), -EOPNOTSUPP,
		  "NO_CLEAR is not offered on TYPE1");
	CHECK_RET(iommufd_ioas_get_dirty_bitmap(ioas, iova, BUF_LEN / 2, SZ_4K, bm, 0), -EINVAL,
		  "a range that splits a mapping");
	CHECK_RET(iommufd_ioas_get_dirty_bitmap(ioas, iova, BUF_LEN, SZ_4K / 2, bm, 0), -EINVAL,
		  "a page smaller than the container's IOMMU page");
	CHECK_RET(iommufd_ioas_set_dirty_tracking(ioas, false), 0, "stop dirty tracking");
	itest_edu_roundtrip(x, buf, iova, EDU_BUF_SIZE, 4, "DMA after tracking stopped");
	itest_unmap(ioas, iova, BUF_LEN, "buffer");
	itest_free(buf, BUF_LEN);
}

/*
 * TYPE1 on iommufd's compat container (7.3-compat): it has no
 * VFIO_IOMMU_DIRTY_PAGES and no migration capability, so the library
 * reports the feature missing (KERNEL) and refuses the calls; DMA goes on.
 */
static void compat_cell(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, struct itest_edu *x)
{
	uint64_t bm[2], iova;
	uint8_t *buf = itest_alloc(BUF_LEN, SZ_4K);

	iova = itest_map_fixed(ioas, buf, BUF_LEN, 0x100000, "64 KiB buffer at IOVA 1 MiB");
	feature_check_refused(iommufd_ioas_set_dirty_tracking(ioas, true), ctx, x->dev, IOMMUFD_FEATURE_DIRTY_TRACKING,
			      R_BIT(IOMMUFD_REASON_KERNEL), "DIRTY_TRACKING", "dirty tracking on the compat container");
	CHECK_RET(iommufd_ioas_get_dirty_bitmap(ioas, iova, BUF_LEN, SZ_4K, bm, 0), -EOPNOTSUPP,
		  "no dirty bitmap from the compat container");
	itest_edu_roundtrip(x, buf, iova, EDU_BUF_SIZE, 6, "DMA unaffected");
	itest_unmap(ioas, iova, BUF_LEN, "buffer");
	itest_free(buf, BUF_LEN);
}

static void iommufd_cell(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, struct itest_edu *x, bool cdev)
{
	uint64_t bm[1], iova;
	uint8_t *buf = itest_alloc(BUF_LEN, SZ_4K);

	/* At a 64 KiB-aligned IOVA, so that every page size read below
	 * (4 and 8 KiB) divides it: the calls' alignment rule. */
	iova = itest_map_fixed(ioas, buf, BUF_LEN, 0x100000, "64 KiB buffer at IOVA 1 MiB");
	itest_log_clear();
	if (cdev) {
		CHECK_RET(iommufd_ioas_set_dirty_tracking(ioas, true), -EOPNOTSUPP,
			  "IOAS-level tracking with the edu on no tracking HWPT");
		CHECK(itest_log_has(itest_short_bdf(x->name), NULL),
		      "the log names the device whose writes would go unseen (%s)", x->name);
	} else {
		feature_check_refused(iommufd_ioas_set_dirty_tracking(ioas, true), ctx, x->dev,
				      IOMMUFD_FEATURE_DIRTY_TRACKING, R_BIT(IOMMUFD_REASON_BACKEND), "DIRTY_TRACKING",
				      "IOAS-level dirty tracking without HWPTs (GROUP, NOIOMMU)");
	}
	CHECK_RET(iommufd_ioas_get_dirty_bitmap(ioas, iova, BUF_LEN, SZ_4K, bm, 0), -EOPNOTSUPP,
		  "IOAS-level dirty bitmap without a tracking HWPT");
	itest_edu_roundtrip(x, buf, iova, EDU_BUF_SIZE, 5, "DMA unaffected");
	itest_unmap(ioas, iova, BUF_LEN, "buffer");
	itest_free(buf, BUF_LEN);
	(void)ctx;
}

int main(void)
{
	struct itest_edu x = { 0 };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;

	itest_start("type1_dirty");
	const char *edu_bdf = itest_env_req("IFD_EDU");

	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	itest_edu_open(&x, ioas, edu_bdf);
	switch (cell_kind(ctx)) {
	case CELL_TYPE1:
		if (!strcmp(itest_env_req("IFD_KERNEL_BUILD"), "compat"))
			compat_cell(ctx, ioas, &x);
		else
			type1_cell(ctx, ioas, &x);
		break;
	case CELL_CDEV:
		iommufd_cell(ctx, ioas, &x, true);
		break;
	case CELL_GROUP:
	case CELL_NOIOMMU: /* no HWPTs either, and no IOMMU to track */
		iommufd_cell(ctx, ioas, &x, false);
		break;
	}
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);
	return itest_finish();
}
