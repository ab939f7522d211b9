/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * noiommu_dma: the unsafe no-IOMMU backend.
 *
 * In the 7.3-noiommu cell (no IOMMU in the VM, vfio.enable_unsafe_noiommu_mode=1,
 * an edu with a 64-bit dma_mask): on each kernel path the 7.3 kernel offers
 * (iommufd's no-IOMMU mode and VFIO's legacy no-IOMMU groups), map memory,
 * ask for its bus addresses, program the edu with them and check the DMA
 * round trip; a 2 MiB hugetlbfs page is one physically contiguous segment.
 * The IOMMU features are reported unsupported.
 *
 * In every other cell: the backend refuses cleanly (-ENODEV, logged), and
 * the bus addresses of a mapping are its IOVA.
 */
#include "itest.h"

/* The edu's own engine, without edu.h's 28-bit limit: bus addresses of a
 * 2 GiB guest lie above it, and this cell raises the edu's dma_mask. */
static bool dma_bus(struct itest_edu *x, uint64_t bus, uint32_t len, int to_ram)
{
	struct timespec t0, t;
	struct edu *e = &x->e;

	if (to_ram) {
		edu_wr64(e, EDU_REG_DMA_SRC, EDU_BUF_ADDR);
		edu_wr64(e, EDU_REG_DMA_DST, bus);
	} else {
		edu_wr64(e, EDU_REG_DMA_SRC, bus);
		edu_wr64(e, EDU_REG_DMA_DST, EDU_BUF_ADDR);
	}
	edu_wr64(e, EDU_REG_DMA_COUNT, len);
	edu_wr64(e, EDU_REG_DMA_CMD, EDU_DMA_START | (to_ram ? EDU_DMA_TO_RAM : 0));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (edu_rd64(e, EDU_REG_DMA_CMD) & EDU_DMA_START) {
		struct timespec nap = { 0, 1000000 };

		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ITEST_DMA_TIMEOUT_MS)
			return CHECK(false, "%s: DMA %s bus address 0x%" PRIx64 " completes", x->name,
				     to_ram ? "to" : "from", bus);
		nanosleep(&nap, NULL);
	}
	return true;
}

static bool roundtrip_bus(struct itest_edu *x, uint8_t *buf, uint64_t bus, unsigned int seed, const char *what)
{
	long d;

	itest_fill(buf, EDU_BUF_SIZE, seed);
	if (!dma_bus(x, bus, EDU_BUF_SIZE, 0))
		return false;
	memset(buf, 0, EDU_BUF_SIZE);
	if (!dma_bus(x, bus, EDU_BUF_SIZE, 1))
		return false;
	d = itest_pat_diff(buf, EDU_BUF_SIZE, seed);
	return CHECK(d < 0, "%s: DMA round trip through bus address 0x%" PRIx64 " returns the pattern", what, bus);
}

/* The one segment of a page-sized range, checked. */
static bool one_seg(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, struct iommufd_dma_segment *seg,
		    const char *what)
{
	int n = iommufd_ioas_get_bus_addrs(ioas, iova, len, seg, 1);

	return CHECK(n == 1 && seg->iova == iova && seg->len == len,
		     "%s: IOVA 0x%" PRIx64 "+0x%" PRIx64 " is one segment (count %d, bus 0x%" PRIx64 ")", what, iova,
		     len, n, n >= 1 ? seg->bus_addr : 0);
}

static void run_path(const char *edu_bdf, uint32_t path, const char *pname)
{
	struct iommufd_ctx_opts o = itest_ctx_opts();
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct itest_edu x = { 0 };
	struct iommufd_dma_segment seg, segs[8];
	uint8_t *page, *huge;
	uint64_t iova, hiova;
	int n;

	o.backend = IOMMUFD_BACKEND_NOIOMMU;
	o.noiommu_path = path;
	itest_log_clear();
	REQUIRE_RET(iommufd_ctx_create(&o, &ctx), 0, "%s path: iommufd_ctx_create(NOIOMMU)", pname);
	CHECK(iommufd_ctx_get_backend(ctx) == IOMMUFD_BACKEND_NOIOMMU, "%s path: backend is noiommu", pname);
	CHECK(itest_log_has("UNSAFE", NULL), "%s path: the context logged the unsafe mode", pname);
	if (path == IOMMUFD_NOIOMMU_PATH_IOMMUFD)
		CHECK(iommufd_ctx_get_fd(ctx) >= 0, "iommufd path: the context drives /dev/iommu");
	else
		CHECK_RET(iommufd_ctx_get_fd(ctx), -EOPNOTSUPP, "legacy path: no /dev/iommu");
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "%s path: iommufd_ioas_create", pname);

	page = itest_alloc(SZ_4K, SZ_4K);
	iova = itest_map(ioas, page, SZ_4K, 0, "4 KiB page");
	if (path == IOMMUFD_NOIOMMU_PATH_IOMMUFD)
		CHECK_RET(iommufd_ioas_get_bus_addrs(ioas, iova, SZ_4K, &seg, 1), -ENODEV,
			  "iommufd path: no bus address before a device is attached (nothing pinned yet)");
	itest_edu_open(&x, ioas, edu_bdf);
	itest_note("%s path: %s opened", pname, edu_bdf);

	if (one_seg(ioas, iova, SZ_4K, &seg, "4 KiB page")) {
		CHECK(seg.bus_addr % SZ_4K == 0 && seg.bus_addr != 0, "the page's bus address 0x%" PRIx64
		      " is page aligned", seg.bus_addr);
		roundtrip_bus(&x, page, seg.bus_addr, 1, "4 KiB page");
		/* Still the same after a transfer: the page is pinned. */
		struct iommufd_dma_segment again;

		CHECK(iommufd_ioas_get_bus_addrs(ioas, iova, SZ_4K, &again, 1) == 1 &&
			      again.bus_addr == seg.bus_addr, "the bus address is stable");
	}
	/* From inside the page: the offset carries over. */
	CHECK(iommufd_ioas_get_bus_addrs(ioas, iova + 0x100, 0x10, segs, 8) == 1 &&
		      segs[0].bus_addr == seg.bus_addr + 0x100, "bus address of IOVA + 0x100 is the page's + 0x100");

	/* A 2 MiB hugetlbfs page: physically contiguous, one segment. */
	huge = itest_mmap_aligned(SZ_2M, SZ_2M, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
	if (CHECK(huge != NULL, "a 2 MiB hugetlbfs page (the rig reserves 64)")) {
		memset(huge, 0, SZ_2M);
		hiova = itest_map(ioas, huge, SZ_2M, 0, "2 MiB hugetlbfs page");
		if (one_seg(ioas, hiova, SZ_2M, &seg, "2 MiB hugetlbfs page")) {
			CHECK(seg.bus_addr % SZ_2M == 0, "its bus address 0x%" PRIx64 " is 2 MiB aligned", seg.bus_addr);
			roundtrip_bus(&x, huge + SZ_2M - SZ_4K, seg.bus_addr + SZ_2M - SZ_4K, 2,
				      "last 4 KiB of the hugetlbfs page");
			roundtrip_bus(&x, huge + 0x123000, seg.bus_addr + 0x123000, 3, "a middle page of it");
		}
		/* Two mappings: a range over both gives a segment for each
		 * (or one, if they happen to be physically adjacent). */
		n = iommufd_ioas_get_bus_addrs(ioas, iova < hiova ? iova : hiova, 0, NULL, 0);
		CHECK_RET(n, -EINVAL, "a zero length is refused");
		itest_unmap(ioas, hiova, SZ_2M, "2 MiB hugetlbfs page");
		CHECK_RET(iommufd_ioas_get_bus_addrs(ioas, hiova, SZ_4K, &seg, 1), -ENOENT,
			  "no bus address once unmapped");
		itest_free(huge, SZ_2M);
	}

	/* 64 KiB of ordinary pages: segments cover the range exactly. */
	{
		uint8_t *buf = itest_alloc(16 * SZ_4K, SZ_4K);
		uint64_t biova = itest_map(ioas, buf, 16 * SZ_4K, 0, "64 KiB buffer"), sum = 0, at = biova;
		bool inorder = true;

		n = iommufd_ioas_get_bus_addrs(ioas, biova, 16 * SZ_4K, segs, 8);
		CHECK(n >= 1 && n <= 16, "64 KiB in %d segment(s)", n);
		for (int i = 0; i < n && i < 8; i++) {
			inorder &= segs[i].iova == at;
			at += segs[i].len;
			sum += segs[i].len;
		}
		if (n <= 8)
			CHECK(inorder && sum == 16 * SZ_4K, "the segments cover the 64 KiB in IOVA order");
		if (n >= 1) /* the last page of the first segment */
			roundtrip_bus(&x, buf + segs[0].len - SZ_4K, segs[0].bus_addr + segs[0].len - SZ_4K, 4,
				      "64 KiB buffer, last page of its first segment");
		itest_unmap(ioas, biova, 16 * SZ_4K, "64 KiB buffer");
		itest_free(buf, 16 * SZ_4K);
	}

	/* No IOMMU, no IOMMU features: said so, with the reason. */
	CHECK(iommufd_feature_query(ctx, x.dev, IOMMUFD_FEATURE_HWPT, &st) == 0 &&
		      st.reason == IOMMUFD_REASON_BACKEND, "%s path: HWPTs reported unsupported (%s)", pname, st.why);
	CHECK(iommufd_feature_query(ctx, x.dev, IOMMUFD_FEATURE_DIRTY_TRACKING, &st) == 0 &&
		      st.reason == IOMMUFD_REASON_BACKEND, "%s path: dirty tracking reported unsupported", pname);

	itest_unmap(ioas, iova, SZ_4K, "4 KiB page");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "%s path: iommufd_ioas_destroy", pname);
	iommufd_ctx_destroy(ctx);
	itest_free(page, SZ_4K);
}

/* Cells with an IOMMU: the backend refuses, bus addresses are IOVAs. */
static void elsewhere(const char *edu_bdf)
{
	struct iommufd_ctx_opts o = itest_ctx_opts();
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct itest_edu x = { 0 };
	struct iommufd_dma_segment seg;
	uint8_t *page;
	uint64_t iova;

	o.backend = IOMMUFD_BACKEND_NOIOMMU;
	itest_log_clear();
	CHECK_RET(iommufd_ctx_create(&o, &ctx), -ENODEV, "the noiommu backend refuses a machine with an IOMMU");
	CHECK(itest_log_has("no-IOMMU", NULL), "and the log says why");

	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	itest_edu_open(&x, ioas, edu_bdf);
	page = itest_alloc(SZ_4K, SZ_4K);
	iova = itest_map(ioas, page, SZ_4K, EDU_IOVA_MAX, "4 KiB page");
	CHECK(iommufd_ioas_get_bus_addrs(ioas, iova, SZ_4K, &seg, 1) == 1 && seg.bus_addr == iova &&
		      seg.len == SZ_4K, "behind an IOMMU the bus address is the IOVA");
	itest_edu_roundtrip(&x, page, seg.bus_addr, EDU_BUF_SIZE, 5, "4 KiB page at its bus address");
	itest_unmap(ioas, iova, SZ_4K, "4 KiB page");
	itest_edu_close(&x);
	iommufd_ctx_destroy(ctx);
	itest_free(page, SZ_4K);
}

int main(void)
{
	const char *edu_bdf;

	itest_start("noiommu_dma");
	edu_bdf = itest_env_req("IFD_EDU");
	if (itest_expected_backend() != IOMMUFD_BACKEND_NOIOMMU) {
		elsewhere(edu_bdf);
		return itest_finish();
	}
	run_path(edu_bdf, IOMMUFD_NOIOMMU_PATH_IOMMUFD, "iommufd");
	run_path(edu_bdf, IOMMUFD_NOIOMMU_PATH_LEGACY, "legacy");
	return itest_finish();
}
