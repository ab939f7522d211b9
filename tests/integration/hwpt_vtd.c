/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * hwpt_vtd: HWPTs on QEMU's emulated VT-d with the edu device.
 *
 * CDEV: hw_info (type VT-d, cap/ecap registers non-zero); an HWPT on the
 * device's IOAS, attached (a replace from the automatic one), a DMA round
 * trip through it; a second HWPT on a second IOAS with another buffer at
 * the same IOVA; replace between transfers: the DMA before lands in the
 * first buffer, the one after in the second, and back; detach blocks DMA
 * (the memory stays untouched); attach back to the IOAS; destroy -EBUSY
 * while attached.  NEST_PARENT and DIRTY_TRACKING: what the query says,
 * hwpt_create does (supported: created; not: -EOPNOTSUPP, reason IOMMU),
 * and DIRTY_TRACKING agrees with hw_info's capability bit.  PASID on the
 * edu: refused, reason DEVICE (no PASID capability).
 * GROUP and TYPE1: every HWPT call refused (BACKEND); DMA unaffected.
 */
#include "feature.h"

#define SENTINEL 0x5a

/* IOMMU_GET_HW_INFO's VT-d vendor data (struct iommu_hw_info_vtd). */
struct vtd_info {
	uint32_t flags;
	uint32_t reserved;
	uint64_t cap;
	uint64_t ecap;
};

#define VTD_ECAP_NEST  (1ull << 26)
#define VTD_ECAP_SLADS (1ull << 46)

/* Create with @flag as the query predicts; both ways. */
static void flag_agrees(struct iommufd_ctx *ctx, struct itest_edu *x, struct iommufd_ioas *ioas, uint32_t flag,
			enum iommufd_feature f, const char *fname)
{
	struct iommufd_feature_status st;
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = flag };
	struct iommufd_hwpt *h = NULL;
	int q = feature_get(ctx, x->dev, f, &st, fname);
	int r = iommufd_hwpt_create(x->dev, ioas, &o, &h);

	if (q == 1) {
		CHECK_RET(r, 0, "%s: supported by the query, and the HWPT is created", fname);
		CHECK_RET(iommufd_hwpt_destroy(h), 0, "destroy it");
	} else {
		CHECK_RET(r, -EOPNOTSUPP, "%s: unsupported by the query, and the HWPT is refused", fname);
		CHECK(st.reason == IOMMUFD_REASON_IOMMU, "%s: the reason is the IOMMU (%s)", fname,
		      feature_reason_name(st.reason));
		CHECK(!h, "no HWPT handed out");
	}
}

/* edu -> RAM at @iova must be blocked: the memory behind keeps @sentinel. */
static void dma_blocked(struct itest_edu *x, uint64_t iova, uint8_t *mem, const char *what)
{
	memset(mem, SENTINEL, SZ_4K);
	CHECK(itest_dma(x, iova, 0, EDU_BUF_SIZE, 1), "%s: the DMA completes on the device side", what);
	CHECK(itest_byte_diff(mem, SZ_4K, SENTINEL) < 0, "%s: the memory was not written", what);
}

static void cdev_cell(struct iommufd_ctx *ctx, const char *bdf)
{
	struct iommufd_hw_info hi = { .sz = sizeof(hi) };
	struct iommufd_ioas *ioas1 = NULL, *ioas2 = NULL;
	struct iommufd_hwpt *h1 = NULL, *h2 = NULL, *hp = NULL;
	struct iommufd_feature_status st;
	struct itest_edu x = { 0 };
	struct vtd_info v;
	uint8_t *a, *b;
	uint64_t iova;
	int r;

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas1), 0, "IOAS 1");
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas2), 0, "IOAS 2");
	itest_edu_open(&x, ioas1, bdf);

	/* ---- hw_info */
	memset(&v, 0, sizeof(v));
	REQUIRE_RET(iommufd_device_get_hw_info(x.dev, &hi, &v, sizeof(v)), 0, "hw_info of %s", bdf);
	if (itest_env("IFD_IOMMU") && !strcmp(itest_env("IFD_IOMMU"), "virtio")) {
		/* virtio-iommu has no hardware information to pass through. */
		CHECK(hi.type == IOMMUFD_HW_TYPE_NONE && hi.vendor_len == 0,
		      "virtio-iommu: IOMMU type NONE (%u), no vendor data (%u bytes)", hi.type, hi.vendor_len);
	} else {
		CHECK(hi.type == IOMMUFD_HW_TYPE_VTD, "IOMMU type is VT-d (%u)", hi.type);
		CHECK(v.cap != 0 && v.ecap != 0, "VT-d cap 0x%" PRIx64 " and ecap 0x%" PRIx64 " are non-zero", v.cap,
		      v.ecap);
		CHECK(hi.vendor_len >= sizeof(v), "vendor data of %u bytes (>= %zu)", hi.vendor_len, sizeof(v));
	}
	CHECK(hi.max_pasid_log2 == 0, "the edu has no PASIDs (%u bits)", hi.max_pasid_log2);
	itest_note("VT-d capabilities 0x%" PRIx64 ", ecap nesting %d, second-level A/D %d", hi.capabilities,
		   !!(v.ecap & VTD_ECAP_NEST), !!(v.ecap & VTD_ECAP_SLADS));

	/* ---- NEST_PARENT, DIRTY_TRACKING: the query, hw_info and create agree */
	r = feature_get(ctx, x.dev, IOMMUFD_FEATURE_DIRTY_TRACKING, &st, "DIRTY_TRACKING");
	CHECK(r == !!(hi.capabilities & IOMMUFD_HW_CAP_DIRTY_TRACKING),
	      "DIRTY_TRACKING query (%d) agrees with hw_info's capability bit", r);
	flag_agrees(ctx, &x, ioas1, IOMMUFD_HWPT_DIRTY_TRACKING, IOMMUFD_FEATURE_DIRTY_TRACKING, "DIRTY_TRACKING");
	flag_agrees(ctx, &x, ioas1, IOMMUFD_HWPT_NEST_PARENT, IOMMUFD_FEATURE_NEST_PARENT, "NEST_PARENT");

	/* ---- HWPT 1 on IOAS 1, attached; round trip */
	a = itest_alloc(SZ_4K, SZ_4K);
	b = itest_alloc(SZ_4K, SZ_4K);
	iova = itest_map(ioas1, a, SZ_4K, EDU_IOVA_MAX, "buffer A in IOAS 1");
	itest_map_fixed(ioas2, b, SZ_4K, iova, "buffer B in IOAS 2, same IOVA");
	REQUIRE_RET(iommufd_hwpt_create(x.dev, ioas1, NULL, &h1), 0, "HWPT 1 on IOAS 1");
	REQUIRE_RET(iommufd_device_attach_hwpt(x.dev, h1), 0, "attach the edu to HWPT 1 (replacing its automatic HWPT)");
	CHECK(iommufd_device_get_hwpt(x.dev) == h1, "the device reports HWPT 1");
	itest_edu_roundtrip(&x, a, iova, EDU_BUF_SIZE, 1, "through HWPT 1");

	/* ---- HWPT 2 on IOAS 2; replace between transfers */
	REQUIRE_RET(iommufd_hwpt_create(x.dev, ioas2, NULL, &h2), 0, "HWPT 2 on IOAS 2");
	itest_fill(a, SZ_4K, 2);
	memset(b, SENTINEL, SZ_4K);
	itest_dma(&x, iova, 0, EDU_BUF_SIZE, 0); /* edu <- A (pattern 2), through HWPT 1 */
	memset(a, 0, SZ_4K);
	CHECK_RET(iommufd_device_attach_hwpt(x.dev, h2), 0, "replace HWPT 1 by HWPT 2");
	CHECK(iommufd_device_get_hwpt(x.dev) == h2, "the device reports HWPT 2");
	itest_dma(&x, iova, 0, EDU_BUF_SIZE, 1); /* edu -> B */
	CHECK(itest_pat_diff(b, SZ_4K, 2) < 0, "after the replace the DMA lands in buffer B");
	CHECK(itest_byte_diff(a, SZ_4K, 0) < 0, "buffer A was not written");
	itest_fill(b, SZ_4K, 3);
	itest_dma(&x, iova, 0, EDU_BUF_SIZE, 0); /* edu <- B (pattern 3) */
	CHECK_RET(iommufd_device_attach_hwpt(x.dev, h1), 0, "replace HWPT 2 by HWPT 1");
	itest_dma(&x, iova, 0, EDU_BUF_SIZE, 1); /* edu -> A */
	CHECK(itest_pat_diff(a, SZ_4K, 3) < 0, "after replacing back the DMA lands in buffer A");
	CHECK(itest_pat_diff(b, SZ_4K, 3) < 0, "buffer B kept its content");

	/* ---- destroy while attached */
	CHECK_RET(iommufd_hwpt_destroy(h1), -EBUSY, "destroy HWPT 1 while the edu is attached to it");
	CHECK(iommufd_device_get_hwpt(x.dev) == h1, "the edu is still on HWPT 1");
	itest_edu_roundtrip(&x, a, iova, EDU_BUF_SIZE, 4, "HWPT 1 still works");

	/* ---- detach: DMA blocked */
	CHECK_RET(iommufd_device_detach(x.dev), 0, "detach the edu");
	CHECK(iommufd_device_get_hwpt(x.dev) == NULL && iommufd_device_get_ioas(x.dev) == NULL,
	      "a detached device reports no HWPT and no IOAS");
	dma_blocked(&x, iova, a, "detached");

	/* ---- attach back to the IOAS */
	CHECK_RET(iommufd_device_attach(x.dev, ioas1), 0, "attach the edu back to IOAS 1");
	CHECK(iommufd_device_get_ioas(x.dev) == ioas1 && iommufd_device_get_hwpt(x.dev) == NULL,
	      "it reports IOAS 1 and no explicit HWPT");
	itest_edu_roundtrip(&x, a, iova, EDU_BUF_SIZE, 5, "back on IOAS 1");
	CHECK_RET(iommufd_hwpt_destroy(h1), 0, "HWPT 1 is destroyed once unused");
	CHECK_RET(iommufd_hwpt_destroy(h2), 0, "HWPT 2 is destroyed");

	/* ---- PASID: the edu has none */
	{
		struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_PASID };
		struct iommufd_hwpt *use;

		r = iommufd_hwpt_create(x.dev, ioas1, &o, &hp);
		CHECK(r == 0 || r == -EOPNOTSUPP, "a PASID-capable HWPT is created or refused as unsupported (%d)", r);
		if (r != 0)
			REQUIRE_RET(iommufd_hwpt_create(x.dev, ioas1, NULL, &hp), 0, "a plain HWPT instead");
		use = hp;
		feature_check_refused(iommufd_device_attach_pasid(x.dev, 1, use), ctx, x.dev, IOMMUFD_FEATURE_PASID,
				      R_BIT(IOMMUFD_REASON_DEVICE), "PASID", "attach PASID 1 of the edu");
		CHECK_RET(iommufd_device_detach_pasid(x.dev, 1), -ENOENT, "detach a PASID never attached");
		CHECK_RET(iommufd_hwpt_destroy(hp), 0, "destroy that HWPT");
	}
	itest_edu_roundtrip(&x, a, iova, EDU_BUF_SIZE, 6, "the edu still works");

	itest_unmap(ioas2, iova, SZ_4K, "buffer B");
	itest_unmap(ioas1, iova, SZ_4K, "buffer A");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas2), 0, "destroy IOAS 2");
	CHECK_RET(iommufd_ioas_destroy(ioas1), 0, "destroy IOAS 1");
	itest_free(a, SZ_4K);
	itest_free(b, SZ_4K);
}

/* GROUP, TYPE1: the device works, HWPTs do not exist. */
static void legacy_cell(struct iommufd_ctx *ctx, const char *bdf)
{
	struct iommufd_hw_info hi = { .sz = sizeof(hi) };
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_hwpt *h = NULL;
	struct itest_edu x = { 0 };
	uint32_t reasons = feature_backend_reasons();
	uint8_t *a;
	uint64_t iova;

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	itest_edu_open(&x, ioas, bdf);
	a = itest_alloc(SZ_4K, SZ_4K);
	iova = itest_map(ioas, a, SZ_4K, EDU_IOVA_MAX, "buffer");
	itest_edu_roundtrip(&x, a, iova, EDU_BUF_SIZE, 1, "DMA works");

	feature_check_refused(iommufd_device_get_hw_info(x.dev, &hi, NULL, 0), ctx, x.dev, IOMMUFD_FEATURE_HW_INFO,
			      reasons, "HW_INFO", "hw_info");
	feature_check_refused(iommufd_hwpt_create(x.dev, ioas, NULL, &h), ctx, x.dev, IOMMUFD_FEATURE_HWPT, reasons,
			      "HWPT", "iommufd_hwpt_create");
	CHECK(!h, "no HWPT handed out");
	feature_check_no(ctx, x.dev, IOMMUFD_FEATURE_NEST_PARENT, reasons, "NEST_PARENT");
	feature_check_no(ctx, x.dev, IOMMUFD_FEATURE_PASID, reasons, "PASID");
	if (itest_is_noiommu(ctx) && iommufd_ctx_get_fd(ctx) >= 0) {
		struct iommufd_feature_status st;

		/* iommufd moves a no-IOMMU device between IOASes (nothing to
		 * reprogram), so the library offers it. */
		CHECK(feature_get(ctx, x.dev, IOMMUFD_FEATURE_HWPT_REPLACE, &st, "HWPT_REPLACE") == 1,
		      "noiommu on /dev/iommu: moving a device to another IOAS is offered");
	} else {
		feature_check_no(ctx, x.dev, IOMMUFD_FEATURE_HWPT_REPLACE, reasons, "HWPT_REPLACE");
	}
	CHECK_RET(iommufd_device_detach(x.dev), -EOPNOTSUPP, "iommufd_device_detach");
	CHECK(iommufd_device_get_ioas(x.dev) == ioas, "the refused detach changed nothing");
	itest_edu_roundtrip(&x, a, iova, EDU_BUF_SIZE, 2, "DMA still works");

	itest_unmap(ioas, iova, SZ_4K, "buffer");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	itest_free(a, SZ_4K);
}

int main(void)
{
	struct iommufd_ctx *ctx;

	itest_start("hwpt_vtd");
	const char *bdf = itest_env_req("IFD_EDU");

	ctx = itest_ctx();
	if (cell_kind(ctx) == CELL_CDEV)
		cdev_cell(ctx, bdf);
	else
		legacy_cell(ctx, bdf);
	iommufd_ctx_destroy(ctx);
	return itest_finish();
}
