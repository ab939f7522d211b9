/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * mdma_two_ioas: two mdma instances in two IOAS never reach each other's
 * memory.
 *
 * Both IOAS map different memory at the same IOVAs.  Instance A (IOAS 1)
 * and instance B (IOAS 2) copy between those IOVAs: each copy lands in its
 * own IOAS's memory only.  An IOVA mapped only in IOAS 2 faults for A.  A pin
 * held by A is untouched by unmaps in IOAS 2 (A is not even called), and is
 * released by the unmap of its own IOVA in IOAS 1.  On TYPE1 each IOAS is its
 * own container, on GROUP and CDEV an iommufd IOAS.
 */
#include "mdma.h"

#define LEN (4 * SZ_4K)

struct side {
	const char *name;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev;
	uint8_t *x, *y, *z; /* memory at IOVA X, Y (both IOAS) and Z (IOAS 2 only) */
};

static void map_side(struct side *s, uint64_t x, uint64_t y)
{
	s->x = itest_alloc(LEN, SZ_4K);
	s->y = itest_alloc(LEN, SZ_4K);
	itest_map_fixed(s->ioas, s->x, LEN, x, "X");
	itest_map_fixed(s->ioas, s->y, LEN, y, "Y");
}

int main(void)
{
	struct iommufd_ctx *ctx;
	struct side A = { 0 }, B = { 0 };
	char ua[40], ub[40];
	uint64_t x, y, z, st, calls_a;
	long long sys0;

	itest_start("mdma_two_ioas");
	mdma_uuids(ua, ub);
	A.name = ua;
	B.name = ub;
	ctx = itest_ctx();
	if (mdma_refused_without_iommu(ctx, ua)) {
		iommufd_ctx_destroy(ctx);
		return itest_finish();
	}
	REQUIRE_RET(iommufd_ioas_create(ctx, &A.ioas), 0, "IOAS 1");
	REQUIRE_RET(iommufd_ioas_create(ctx, &B.ioas), 0, "IOAS 2");
	A.dev = mdma_open(A.ioas, ua);
	B.dev = mdma_open(B.ioas, ub);
	CHECK(iommufd_device_get_ioas(A.dev) == A.ioas && iommufd_device_get_ioas(B.dev) == B.ioas,
	      "each instance reports its own IOAS");
	if (!itest_is_cdev(ctx) || iommufd_device_get_group(A.dev) >= 0)
		CHECK(iommufd_device_get_group(A.dev) != iommufd_device_get_group(B.dev),
		      "the two instances are in different IOMMU groups (%d, %d)", iommufd_device_get_group(A.dev),
		      iommufd_device_get_group(B.dev));
	sys0 = mdma_sysfs(NULL, "pinned_pages");

	/* The same IOVAs in both, free in both. */
	x = itest_free_iova(A.ioas, 0x100000, 0xffffffff, LEN, SZ_2M);
	REQUIRE(x != 0, "a free IOVA X");
	y = x + SZ_2M;
	z = x + 2 * SZ_2M;
	map_side(&A, x, y);
	map_side(&B, x, y);
	B.z = itest_alloc(LEN, SZ_4K);
	itest_map_fixed(B.ioas, B.z, LEN, z, "Z, in IOAS 2 only");

	itest_fill(A.x, LEN, 1);
	itest_fill(B.x, LEN, 2);

	/* 1. Same IOVAs, different memory. */
	st = mdma_copy(A.dev, x, y, LEN);
	CHECK(mdma_ok(st) && itest_pat_diff(A.y, LEN, 1) < 0, "A: COPY X -> Y lands in IOAS 1's Y (status %s)",
	      mdma_status_str(st));
	CHECK(itest_byte_diff(B.y, LEN, 0) < 0 && itest_pat_diff(B.x, LEN, 2) < 0, "IOAS 2's memory is untouched");
	st = mdma_copy(B.dev, x, y, LEN);
	CHECK(mdma_ok(st) && itest_pat_diff(B.y, LEN, 2) < 0, "B: COPY X -> Y lands in IOAS 2's Y (status %s)",
	      mdma_status_str(st));
	CHECK(itest_pat_diff(A.y, LEN, 1) < 0 && itest_pat_diff(A.x, LEN, 1) < 0, "IOAS 1's memory is untouched");

	/* 2. An IOVA only IOAS 2 has. */
	st = mdma_copy(A.dev, x, z, LEN);
	CHECK(mdma_faulted(st) && itest_byte_diff(B.z, LEN, 0) < 0,
	      "A: COPY to Z (mapped only in IOAS 2) faults, IOAS 2's Z untouched (status %s)", mdma_status_str(st));
	st = mdma_copy(A.dev, z, y, LEN);
	CHECK(mdma_faulted(st) && itest_pat_diff(A.y, LEN, 1) < 0, "A: COPY from Z faults (status %s)",
	      mdma_status_str(st));
	st = mdma_pin(A.dev, z, SZ_4K);
	CHECK_MDMA_FAULT(st, "A: PIN of Z faults (status %s)", mdma_status_str(st));
	st = mdma_copy(B.dev, x, z, LEN);
	CHECK(mdma_ok(st) && itest_pat_diff(B.z, LEN, 2) < 0, "B: COPY X -> Z works (status %s)", mdma_status_str(st));

	/* 3. Pins are per IOAS: A pins X in IOAS 1; unmapping X in IOAS 2
	 * does not touch it (A is not even called). */
	st = mdma_pin(A.dev, x, LEN);
	CHECK(mdma_ok(st) && mdma_rd(A.dev, MDMA_REG_PINNED_PAGES) == 4, "A: PIN X (4 pages)");
	st = mdma_pin(B.dev, x, SZ_4K);
	CHECK(mdma_ok(st) && mdma_rd(B.dev, MDMA_REG_PINNED_PAGES) == 1, "B: PIN X (1 page)");
	CHECK(mdma_sysfs(NULL, "pinned_pages") == sys0 + 5, "5 pages pinned in all");
	calls_a = mdma_rd(A.dev, MDMA_REG_UNMAP_CALLS);
	CHECK_RET(iommufd_ioas_unmap(B.ioas, x, LEN, NULL), 0, "unmap X in IOAS 2 while both pin their X");
	CHECK(mdma_rd(B.dev, MDMA_REG_PINNED_PAGES) == 0 && (mdma_rd(B.dev, MDMA_REG_STATUS) & MDMA_STATUS_UNMAPPED),
	      "B's pin was released");
	CHECK(mdma_rd(A.dev, MDMA_REG_PINNED_PAGES) == 4 && mdma_rd(A.dev, MDMA_REG_UNMAP_CALLS) == calls_a &&
		      !(mdma_rd(A.dev, MDMA_REG_STATUS) & MDMA_STATUS_UNMAPPED),
	      "A keeps its pin and got no callback");
	st = mdma_fill(A.dev, x, LEN, 0x3c);
	CHECK(mdma_ok(st) && itest_byte_diff(A.x, LEN, 0x3c) < 0 && itest_pat_diff(B.x, LEN, 2) < 0,
	      "A: FILL through its pin writes IOAS 1's X only (status %s)", mdma_status_str(st));
	st = mdma_copy(B.dev, y, x, LEN);
	CHECK(mdma_faulted(st) && itest_byte_diff(A.x, LEN, 0x3c) < 0,
	      "B: COPY to X (gone from IOAS 2) faults and does not reach IOAS 1's X (status %s)", mdma_status_str(st));
	CHECK_RET(iommufd_ioas_unmap(A.ioas, x, LEN, NULL), 0, "unmap X in IOAS 1 while A pins it");
	CHECK(mdma_rd(A.dev, MDMA_REG_PINNED_PAGES) == 0 && mdma_rd(A.dev, MDMA_REG_UNMAP_CALLS) == calls_a + 1,
	      "now A's pin was released by its callback");
	CHECK(mdma_sysfs(NULL, "pinned_pages") == sys0, "nothing pinned in all");

	/* 4. Remap X in IOAS 2 only: B sees it, A does not. */
	itest_map_fixed(B.ioas, B.x, LEN, x, "X again, IOAS 2 only");
	st = mdma_copy(A.dev, y, x, SZ_4K);
	CHECK(mdma_faulted(st) && itest_pat_diff(B.x, LEN, 2) < 0, "A: X is still unmapped for A (status %s)",
	      mdma_status_str(st));
	itest_fill(B.y, LEN, 3);
	st = mdma_copy(B.dev, y, x, LEN);
	CHECK(mdma_ok(st) && itest_pat_diff(B.x, LEN, 3) < 0, "B: COPY Y -> X into the remapped X (status %s)",
	      mdma_status_str(st));

	CHECK_RET(iommufd_device_destroy(A.dev), 0, "destroy A");
	CHECK_RET(iommufd_device_destroy(B.dev), 0, "destroy B");
	CHECK_RET(iommufd_ioas_destroy(A.ioas), 0, "destroy IOAS 1");
	CHECK_RET(iommufd_ioas_destroy(B.ioas), 0, "destroy IOAS 2");
	iommufd_ctx_destroy(ctx);
	CHECK(mdma_sysfs(NULL, "pinned_pages") == 0, "no pages pinned at the end");
	itest_free(A.x, LEN);
	itest_free(A.y, LEN);
	itest_free(B.x, LEN);
	itest_free(B.y, LEN);
	itest_free(B.z, LEN);
	return itest_finish();
}
