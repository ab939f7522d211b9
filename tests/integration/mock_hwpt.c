/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * mock_hwpt: HWPTs on the kernel's mock IOMMU, through a device adopted by
 * its iommufd ID (what a VMM handed a pre-bound device does).
 *
 * CDEV: adopt (twice: -EBUSY; unknown ID: -ENOENT), hw_info of the mock
 * (type 0xfeedbeef, its register value, dirty tracking), an HWPT with
 * NEST_PARENT | DIRTY_TRACKING (the mock has both), the mock device moved
 * onto it by the test op, mappings made and removed through the library
 * seen (or not) in the mock's page table, destroy -EBUSY while the mock
 * uses it, and a mock whose IOMMU lacks dirty tracking refused the
 * documented way.  GROUP: the adopt rules hold, HWPTs are refused
 * (BACKEND).  TYPE1 (7.3-type1, 6.12): everything is refused (BACKEND).
 */
#include "feature.h"

#define BUF_LEN  0x40000ull  /* 256 KiB */
#define IOVA_A   0x2000000ull /* inside the mock aperture (16 MiB .. 2 GiB) */
#define IOVA_B   0x3000000ull

static void hw_info_checks(struct mock_dev *m)
{
	struct iommufd_hw_info hi = { .sz = sizeof(hi) };
	struct mock_hw_info v;

	memset(&v, 0x5a, sizeof(v));
	REQUIRE_RET(iommufd_device_get_hw_info(m->dev, &hi, &v, sizeof(v)), 0, "hw_info of the mock device");
	CHECK(hi.type == MOCK_HW_INFO_TYPE, "hw_info type is the selftest's 0x%x (got 0x%x)", MOCK_HW_INFO_TYPE,
	      hi.type);
	CHECK(v.test_reg == MOCK_HW_INFO_REGVAL, "vendor data: test register 0x%x (got 0x%x)", MOCK_HW_INFO_REGVAL,
	      v.test_reg);
	CHECK(hi.vendor_len == sizeof(v), "vendor data length %zu (got %u)", sizeof(v), hi.vendor_len);
	CHECK(hi.capabilities & IOMMUFD_HW_CAP_DIRTY_TRACKING, "capabilities 0x%" PRIx64 " include dirty tracking",
	      hi.capabilities);
	CHECK(hi.max_pasid_log2 == 0, "a mock device without the PASID flag has no PASIDs (got %u bits)",
	      hi.max_pasid_log2);
}

/*
 * The selftest ABI grows with the kernel: 6.12's mock has no PASID ops and
 * no PASID device flag (6.12-src), 7.3's has both.  Probe it, then hold the
 * kernel to the answer.
 */
static void pasid_mock_checks(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, int fd)
{
	struct iommufd_hw_info hi = { .sz = sizeof(hi) };
	struct mock_hw_info v;
	struct mock_dev pm;
	uint32_t sd = 0;
	int has = mock_has_pasid(fd);

	CHECK(has == 0 || has == 1, "the mock's PASID ops probed (%d)", has);
	itest_note("the mock %s PASIDs", has == 1 ? "has" : "has no");
	if (has == 0) {
		CHECK_RET(mock_dev_create(fd, (uint32_t)iommufd_ioas_get_id(ioas), MOCK_DEV_PASID, &sd, NULL, NULL),
			  -EINVAL, "a mock without PASID ops refuses a PASID device");
		if (sd)
			mock_destroy(fd, sd);
	} else if (has == 1) {
		mock_dev_open(ctx, ioas, MOCK_DEV_PASID, &pm);
		CHECK_RET(iommufd_device_get_hw_info(pm.dev, &hi, &v, sizeof(v)), 0, "hw_info of the PASID mock");
		CHECK(hi.max_pasid_log2 == MOCK_PASID_BITS, "the PASID mock has %u PASID bits (got %u)",
		      MOCK_PASID_BITS, hi.max_pasid_log2);
		mock_dev_close(ctx, &pm);
	}
}

static void cdev_cell(struct iommufd_ctx *ctx)
{
	struct iommufd_feature_status st;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_hwpt *hp = NULL, *h2 = NULL, *bad = NULL;
	struct iommufd_device *again = NULL;
	struct mock_dev m, nd;
	uint8_t *a, *b;
	int fd;

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	mock_dev_open(ctx, ioas, 0, &m);
	fd = iommufd_ctx_get_fd(ctx);

	/* ---- adopt rules */
	CHECK_RET(iommufd_device_adopt_id(ctx, m.idev_id, -1, NULL, &again), -EBUSY, "adopt the same ID twice");
	CHECK(!again, "the second adopt leaves the out pointer alone");
	CHECK_RET(iommufd_device_adopt_id(ctx, m.idev_id + 1000, -1, NULL, &again), -ENOENT, "adopt an unknown ID");
	CHECK_RET(iommufd_device_adopt_id(ctx, (uint32_t)iommufd_ioas_get_id(ioas), -1, NULL, &again), -ENOENT,
		  "adopt the ID of an IOAS (not a device)");
	CHECK(iommufd_device_get_ioas(m.dev) == NULL, "an adopted device is not attached as far as the library knows");
	CHECK(iommufd_device_get_hwpt(m.dev) == NULL, "an adopted device has no library HWPT");

	hw_info_checks(&m);
	CHECK(feature_get(ctx, NULL, IOMMUFD_FEATURE_HWPT, &st, "HWPT") == 1, "HWPTs are supported on CDEV");
	/* The library cannot attach a device adopted without its fd. */
	feature_check_no(ctx, m.dev, IOMMUFD_FEATURE_HWPT, R_BIT(IOMMUFD_REASON_DEVICE), "HWPT (device without its fd)");
	CHECK(feature_get(ctx, m.dev, IOMMUFD_FEATURE_NEST_PARENT, &st, "NEST_PARENT") == 1,
	      "the mock IOMMU can be a nesting parent");
	CHECK(feature_get(ctx, m.dev, IOMMUFD_FEATURE_DIRTY_TRACKING, &st, "DIRTY_TRACKING") == 1,
	      "the mock IOMMU tracks dirty pages");
	feature_check_no(ctx, m.dev, IOMMUFD_FEATURE_PASID, R_BIT(IOMMUFD_REASON_DEVICE), "PASID (mock without PASIDs)");
	feature_check_no(ctx, NULL, IOMMUFD_FEATURE_DIRTY_TRACKING, R_BIT(IOMMUFD_REASON_NEED_DEVICE),
			 "DIRTY_TRACKING without a device");
	pasid_mock_checks(ctx, ioas, fd);

	/* ---- bad arguments change nothing */
	{
		struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = 1u << 7 };

		CHECK_RET(iommufd_hwpt_create(m.dev, ioas, &o, &bad), -EINVAL, "HWPT with an unknown flag");
		CHECK(!bad, "no HWPT handed out");
	}

	/* ---- HWPT with NEST_PARENT | DIRTY_TRACKING */
	{
		struct iommufd_hwpt_opts o = { .sz = sizeof(o),
					       .flags = IOMMUFD_HWPT_NEST_PARENT | IOMMUFD_HWPT_DIRTY_TRACKING };

		REQUIRE_RET(iommufd_hwpt_create(m.dev, ioas, &o, &hp), 0, "HWPT with NEST_PARENT | DIRTY_TRACKING");
	}
	CHECK(iommufd_hwpt_get_flags(hp) == (IOMMUFD_HWPT_NEST_PARENT | IOMMUFD_HWPT_DIRTY_TRACKING),
	      "the HWPT reports its flags (0x%x)", iommufd_hwpt_get_flags(hp));
	CHECK(iommufd_hwpt_get_ioas(hp) == ioas, "the HWPT reports its IOAS");
	CHECK(iommufd_hwpt_get_id(hp) != 0 && iommufd_hwpt_get_id(hp) != m.hwpt_id,
	      "the HWPT has its own ID (%u; the automatic one is %u)", iommufd_hwpt_get_id(hp), m.hwpt_id);
	CHECK_RET(iommufd_device_attach_hwpt(m.dev, hp), -EOPNOTSUPP,
		  "attach of a device adopted without its fd is refused (the caller keeps it)");
	CHECK_RET(mock_replace(fd, m.stdev_id, iommufd_hwpt_get_id(hp), NULL), 0,
		  "the mock device moves onto the library's HWPT (test op)");

	/* ---- mappings through the library, seen in the mock page table */
	a = itest_alloc(BUF_LEN, SZ_2M);
	b = itest_alloc(BUF_LEN, SZ_2M);
	itest_fill(a, BUF_LEN, 1);
	itest_fill(b, BUF_LEN, 2);
	itest_map_fixed(ioas, a, BUF_LEN, IOVA_A, "buffer A");
	CHECK_RET(mock_check_map(fd, iommufd_hwpt_get_id(hp), IOVA_A, BUF_LEN, a), 0,
		  "the mock page table maps IOVA 0x%llx..+256K to buffer A", IOVA_A);
	CHECK_RET(mock_check_map(fd, iommufd_hwpt_get_id(hp), IOVA_A, BUF_LEN, b), -EINVAL,
		  "... and not to buffer B (the check can fail)");
	CHECK_RET(mock_check_map(fd, iommufd_hwpt_get_id(hp), IOVA_B, SZ_4K, b), -EINVAL,
		  "IOVA 0x%llx is not mapped yet", IOVA_B);
	itest_map_fixed(ioas, b, BUF_LEN, IOVA_B, "buffer B");
	CHECK_RET(mock_check_map(fd, iommufd_hwpt_get_id(hp), IOVA_B, BUF_LEN, b), 0,
		  "after the map the mock page table maps IOVA 0x%llx to buffer B", IOVA_B);
	itest_unmap(ioas, IOVA_B, BUF_LEN, "buffer B");
	CHECK_RET(mock_check_map(fd, iommufd_hwpt_get_id(hp), IOVA_B, SZ_4K, b), -EINVAL,
		  "after the unmap IOVA 0x%llx is gone from the mock page table", IOVA_B);
	CHECK_RET(mock_check_map(fd, iommufd_hwpt_get_id(hp), IOVA_A, BUF_LEN, a), 0, "buffer A is still mapped");

	/* ---- destroy while the mock uses it: the kernel says -EBUSY */
	{
		uint32_t hp_id = iommufd_hwpt_get_id(hp);
		int r = iommufd_hwpt_destroy(hp);

		CHECK_RET(r, -EBUSY, "destroy the HWPT while the mock device is attached to it");
		if (r != -EBUSY)
			hp = NULL; /* the library let the handle go: never touch it again */
		CHECK_RET(mock_check_map(fd, hp_id, IOVA_A, BUF_LEN, a), 0,
			  "the kernel's HWPT %u is still there (the mock uses it)", hp_id);
	}

	/* ---- a second HWPT (no flags), the mock moved over, the first freed */
	REQUIRE_RET(iommufd_hwpt_create(m.dev, ioas, NULL, &h2), 0, "a second HWPT (no flags)");
	CHECK(iommufd_hwpt_get_flags(h2) == 0, "its flags are 0");
	CHECK_RET(mock_replace(fd, m.stdev_id, iommufd_hwpt_get_id(h2), NULL), 0, "the mock moves to the second HWPT");
	CHECK_RET(mock_check_map(fd, iommufd_hwpt_get_id(h2), IOVA_A, BUF_LEN, a), 0,
		  "the second HWPT mirrors the IOAS's mapping too");
	if (hp)
		CHECK_RET(iommufd_hwpt_destroy(hp), 0, "the first HWPT is destroyed once nothing uses it");
	CHECK_RET(mock_replace(fd, m.stdev_id, (uint32_t)iommufd_ioas_get_id(ioas), NULL), 0,
		  "the mock goes back to the IOAS");
	CHECK_RET(iommufd_hwpt_destroy(h2), 0, "the second HWPT is destroyed");

	/* ---- an IOMMU without dirty tracking: refused both ways */
	mock_dev_open(ctx, ioas, MOCK_DEV_NO_DIRTY, &nd);
	{
		struct iommufd_hw_info hi = { .sz = sizeof(hi) };
		struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_DIRTY_TRACKING };

		CHECK_RET(iommufd_device_get_hw_info(nd.dev, &hi, NULL, 0), 0, "hw_info of the no-dirty mock");
		CHECK(!(hi.capabilities & IOMMUFD_HW_CAP_DIRTY_TRACKING), "its capabilities lack dirty tracking (0x%" PRIx64 ")",
		      hi.capabilities);
		feature_check_refused(iommufd_hwpt_create(nd.dev, ioas, &o, &bad), ctx, nd.dev,
				      IOMMUFD_FEATURE_DIRTY_TRACKING, R_BIT(IOMMUFD_REASON_IOMMU), "DIRTY_TRACKING",
				      "HWPT with DIRTY_TRACKING on the no-dirty mock");
		CHECK(!bad, "no HWPT handed out");
		o.flags = 0;
		CHECK_RET(iommufd_hwpt_create(nd.dev, ioas, &o, &bad), 0, "a plain HWPT on it works");
		CHECK_RET(iommufd_hwpt_destroy(bad), 0, "and is destroyed");
	}
	mock_dev_close(ctx, &nd);

	itest_unmap(ioas, IOVA_A, BUF_LEN, "buffer A");
	mock_dev_close(ctx, &m);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	itest_free(a, BUF_LEN);
	itest_free(b, BUF_LEN);
}

/* GROUP: /dev/iommu is there, so mock devices can be adopted by ID, but
 * the backend has no HWPTs. */
static void group_cell(struct iommufd_ctx *ctx)
{
	struct iommufd_feature_status st;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_hwpt *hp = NULL;
	struct iommufd_device *again = NULL;
	struct mock_dev m;
	int q;

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	CHECK(feature_get(ctx, NULL, IOMMUFD_FEATURE_DEVICE_ADOPT_ID, &st, "DEVICE_ADOPT_ID") == 1,
	      "adopting by ID is supported on GROUP (the context has /dev/iommu)");
	mock_dev_open(ctx, ioas, 0, &m);
	CHECK_RET(iommufd_device_adopt_id(ctx, m.idev_id, -1, NULL, &again), -EBUSY, "adopt the same ID twice");
	CHECK_RET(iommufd_device_adopt_id(ctx, m.idev_id + 1000, -1, NULL, &again), -ENOENT, "adopt an unknown ID");
	CHECK(!again, "no device handed out");

	/* hw_info: the header leaves it to the query; the two must agree. */
	q = feature_get(ctx, m.dev, IOMMUFD_FEATURE_HW_INFO, &st, "HW_INFO");
	{
		struct iommufd_hw_info hi = { .sz = sizeof(hi) };
		int r = iommufd_device_get_hw_info(m.dev, &hi, NULL, 0);

		if (q == 1)
			CHECK(r == 0 && hi.type == MOCK_HW_INFO_TYPE, "hw_info works as the query says (r %d, type 0x%x)", r,
			      hi.type);
		else
			CHECK_RET(r, -EOPNOTSUPP, "hw_info is refused as the query says");
	}
	feature_check_refused(iommufd_hwpt_create(m.dev, ioas, NULL, &hp), ctx, m.dev, IOMMUFD_FEATURE_HWPT,
			      R_BIT(IOMMUFD_REASON_BACKEND), "HWPT", "iommufd_hwpt_create on GROUP");
	CHECK(!hp, "no HWPT handed out");
	feature_check_no(ctx, m.dev, IOMMUFD_FEATURE_NEST_PARENT, R_BIT(IOMMUFD_REASON_BACKEND), "NEST_PARENT");
	mock_dev_close(ctx, &m);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
}

int main(void)
{
	return feature_main("mock_hwpt", cdev_cell, group_cell);
}
