/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * two_ioas: two I/O address spaces keep their translations apart, and a
 * device moves between them only where the kernel path allows it.
 *
 * IOAS 1 holds IFD_EDU; IOAS 2 holds both edu devices of IFD_EDU_PAIR
 * (they share one IOMMU group, so they must share one IOAS).  The same IOVA
 * X maps memory M1 in IOAS 1 and M2 in IOAS 2: each device reads and writes
 * its own IOAS's memory only.  Then IFD_EDU moves to IOAS 2 with
 * iommufd_device_attach() while X stays mapped in both:
 *   cdev (and noiommu on /dev/iommu: iommufd_feature_query(HWPT_REPLACE)
 *   says which): succeeds; the device's DMA at X now reaches M2; and back.
 *   group/type1: -EOPNOTSUPP; the device still works in IOAS 1.
 */
#include "itest.h"

#define LEN EDU_BUF_SIZE

struct space {
	struct iommufd_ioas *ioas;
	uint8_t *m, *v;       /* M at X; verification buffer V at y */
	uint64_t y;
};

/* @x reads X into the edu, then writes it out to V (in the device's IOAS). */
static bool reads(struct itest_edu *x, uint64_t iova_x, struct space *s, unsigned int seed, const char *what)
{
	memset(s->v, 0, LEN);
	if (!itest_dma_copy(x, iova_x, s->y, LEN))
		return false;
	return CHECK(itest_pat_diff(s->v, LEN, seed) < 0, "%s: %s reads IOVA 0x%" PRIx64 " and sees pattern %u",
		     x->name, what, iova_x, seed);
}

/* @x writes pattern @seed (carried in through V) to X. */
static bool writes(struct itest_edu *x, uint64_t iova_x, struct space *s, unsigned int seed)
{
	itest_fill(s->v, LEN, seed);
	return itest_dma_copy(x, s->y, iova_x, LEN);
}

int main(void)
{
	struct itest_edu e1 = { 0 }, p0 = { 0 }, p1 = { 0 };
	struct space s1 = { 0 }, s2 = { 0 };
	struct iommufd_iova_range r[32];
	struct iommufd_ctx *ctx;
	uint64_t x;
	char pa[32], pb[32];
	int n, rc;

	itest_start("two_ioas");
	const char *edu_bdf = itest_env_req("IFD_EDU");
	itest_pair(pa, pb);

	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &s1.ioas), 0, "create IOAS 1");
	REQUIRE_RET(iommufd_ioas_create(ctx, &s2.ioas), 0, "create IOAS 2");
	CHECK(s1.ioas != s2.ioas, "two distinct IOAS handles");
	if (!itest_is_cdev(ctx) && iommufd_ctx_get_backend(ctx) != IOMMUFD_BACKEND_TYPE1)
		CHECK(iommufd_ioas_get_id(s1.ioas) != iommufd_ioas_get_id(s2.ioas), "distinct IOAS IDs");
	itest_edu_open(&e1, s1.ioas, edu_bdf);
	itest_edu_open(&p0, s2.ioas, pa);
	itest_edu_open(&p1, s2.ioas, pb);
	itest_print_ranges(s1.ioas, "IOAS 1");
	itest_print_ranges(s2.ioas, "IOAS 2");

	s1.m = itest_alloc(LEN, SZ_4K);
	s2.m = itest_alloc(LEN, SZ_4K);
	s1.v = itest_alloc(LEN, SZ_4K);
	s2.v = itest_alloc(LEN, SZ_4K);
	itest_fill(s1.m, LEN, 1);
	itest_fill(s2.m, LEN, 3);

	x = itest_map(s1.ioas, s1.m, LEN, EDU_IOVA_MAX, "M1 in IOAS 1");
	n = itest_ranges(s2.ioas, r, 32);
	REQUIRE(itest_in_ranges(r, n, x, LEN), "IOVA 0x%" PRIx64 " is usable in IOAS 2 too", x);
	itest_map_fixed(s2.ioas, s2.m, LEN, x, "M2 in IOAS 2 at the same IOVA");
	s1.y = itest_map(s1.ioas, s1.v, LEN, EDU_IOVA_MAX, "V1 in IOAS 1");
	s2.y = itest_map(s2.ioas, s2.v, LEN, EDU_IOVA_MAX, "V2 in IOAS 2");
	itest_note("X = 0x%" PRIx64 ", V1 at 0x%" PRIx64 ", V2 at 0x%" PRIx64, x, s1.y, s2.y);

	/* Each device reads its own IOAS's memory at X. */
	reads(&e1, x, &s1, 1, "IOAS 1 device");
	reads(&p0, x, &s2, 3, "IOAS 2 device");
	reads(&p1, x, &s2, 3, "IOAS 2 device (second of the group)");

	/* Writes land in the writer's IOAS only. */
	if (writes(&e1, x, &s1, 5)) {
		CHECK(itest_pat_diff(s1.m, LEN, 5) < 0, "%s's write to X lands in M1", e1.name);
		CHECK(itest_pat_diff(s2.m, LEN, 3) < 0, "M2 is untouched by it");
	}
	if (writes(&p0, x, &s2, 7)) {
		CHECK(itest_pat_diff(s2.m, LEN, 7) < 0, "%s's write to X lands in M2", p0.name);
		CHECK(itest_pat_diff(s1.m, LEN, 5) < 0, "M1 is untouched by it");
	}

	CHECK_RET(iommufd_ioas_destroy(s1.ioas), -EBUSY, "destroying IOAS 1 while a device is attached");

	/* Move IFD_EDU to IOAS 2 while X is mapped in both. */
	itest_fill(s1.m, LEN, 9);
	itest_fill(s2.m, LEN, 11);
	bool can_move = itest_can_move(ctx, e1.dev);

	rc = iommufd_device_attach(e1.dev, s2.ioas);
	if (can_move) {
		CHECK_RET(rc, 0, "%s: move %s from IOAS 1 to IOAS 2 while mapped",
			  iommufd_backend_name(iommufd_ctx_get_backend(ctx)), edu_bdf);
		CHECK(iommufd_device_get_ioas(e1.dev) == s2.ioas, "the device reports IOAS 2");
		reads(&e1, x, &s2, 11, "after the move");
		if (writes(&e1, x, &s2, 13)) {
			CHECK(itest_pat_diff(s2.m, LEN, 13) < 0, "after the move %s's write to X lands in M2", edu_bdf);
			CHECK(itest_pat_diff(s1.m, LEN, 9) < 0, "M1 is untouched");
		}
		/* The pair keeps working beside it. */
		reads(&p0, x, &s2, 13, "IOAS 2 device beside the moved one");
		/* IOAS 1 is empty of devices now: destroyable in principle;
		 * move back instead and see M1 again. */
		CHECK_RET(iommufd_device_attach(e1.dev, s1.ioas), 0, "move %s back to IOAS 1", edu_bdf);
		CHECK(iommufd_device_get_ioas(e1.dev) == s1.ioas, "the device reports IOAS 1 again");
		reads(&e1, x, &s1, 9, "after moving back");
		CHECK_RET(iommufd_device_attach(e1.dev, s1.ioas), 0, "attaching to the current IOAS is a no-op");
	} else {
		CHECK_RET(rc, -EOPNOTSUPP, "%s: moving an open device to another IOAS",
			  iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
		CHECK(iommufd_device_get_ioas(e1.dev) == s1.ioas, "the device still reports IOAS 1");
		reads(&e1, x, &s1, 9, "after the refused move");
		if (writes(&e1, x, &s1, 15)) {
			CHECK(itest_pat_diff(s1.m, LEN, 15) < 0, "%s still writes M1", edu_bdf);
			CHECK(itest_pat_diff(s2.m, LEN, 11) < 0, "M2 is untouched");
		}
		reads(&p1, x, &s2, 11, "IOAS 2 device after the refused move");
		CHECK_RET(iommufd_device_attach(e1.dev, s1.ioas), 0, "attaching to the current IOAS returns 0");
	}

	itest_unmap(s1.ioas, x, LEN, "M1");
	itest_unmap(s2.ioas, x, LEN, "M2");
	itest_unmap(s1.ioas, s1.y, LEN, "V1");
	itest_unmap(s2.ioas, s2.y, LEN, "V2");
	itest_edu_close(&e1);
	itest_edu_close(&p0);
	itest_edu_close(&p1);
	CHECK_RET(iommufd_ioas_destroy(s1.ioas), 0, "destroy IOAS 1");
	CHECK_RET(iommufd_ioas_destroy(s2.ioas), 0, "destroy IOAS 2");
	iommufd_ctx_destroy(ctx);
	return itest_finish();
}
