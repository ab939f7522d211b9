/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Dirty tracking: the HWPT calls, the IOAS-level calls on every backend
 * (CDEV: the union of the tracking HWPTs; TYPE1: VFIO_IOMMU_DIRTY_PAGES
 * with folding and chunking; GROUP: none), argument checks, older
 * kernels, injected failures and the fork rule.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "fake-kernel.h"

#define PG 0x1000ULL
#define RW (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE)
#define IOVA 0x400000ULL /* 2 MiB aligned */
#define JUNK 0xa5a5a5a5a5a5a5a5ULL

static uint8_t buf[16 * PG] __attribute__((aligned(PG)));

struct env {
	struct fake_kernel *fk;
	struct fk_logcap cap;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *a, *b;
	struct iommufd_hwpt *ha, *hb;
};

static int teardown(void **state)
{
	(void)state;
	fake_kernel_destroy_current();
	return 0;
}

static void env_start(struct env *e, const struct fk_config *cfg, enum iommufd_backend backend)
{
	memset(e, 0, sizeof(*e));
	if (cfg) {
		e->fk = fake_kernel_create(cfg);
		/* the standard machine's first two devices */
		struct fk_dev_desc a = { .name = FK_DEV_A, .group = FK_GROUP_A };
		struct fk_dev_desc b = { .name = FK_DEV_B, .group = FK_GROUP_B };

		assert_int_equal(fake_kernel_add_device(e->fk, &a), 0);
		assert_int_equal(fake_kernel_add_device(e->fk, &b), 0);
	} else {
		e->fk = fk_standard(FK_LINUX_7_3);
	}
	fk_logcap_init(&e->cap);
	assert_int_equal(fk_ctx_create(e->fk, backend, &e->cap, &e->ctx), 0);
	assert_int_equal(iommufd_ioas_create(e->ctx, &e->ioas), 0);
}

static void env_finish(struct env *e)
{
	iommufd_ctx_destroy(e->ctx);
	assert_int_equal(fake_kernel_open_fds(e->fk), 0);
	assert_int_equal(fake_kernel_live_files(e->fk), 0);
	fake_kernel_destroy(e->fk);
	fk_logcap_free(&e->cap);
}

static struct iommufd_hwpt *hwpt_on(struct env *e, struct iommufd_device *dev, uint32_t flags)
{
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = flags };
	struct iommufd_hwpt *h = NULL;

	assert_int_equal(iommufd_hwpt_create(dev, e->ioas, &o, &h), 0);
	assert_int_equal(iommufd_device_attach_hwpt(dev, h), 0);
	return h;
}

/* CDEV: device A on a tracking HWPT, 16 pages mapped at IOVA. */
static void cdev_one(struct env *e, const struct fk_config *cfg)
{
	uint64_t iova = IOVA;
	struct iommufd_map_opts mo = { .sz = sizeof(mo), .iova = IOVA };

	env_start(e, cfg, IOMMUFD_BACKEND_CDEV);
	assert_int_equal(iommufd_device_open(e->ioas, FK_DEV_A, NULL, &e->a), 0);
	e->ha = hwpt_on(e, e->a, IOMMUFD_HWPT_DIRTY_TRACKING);
	assert_int_equal(iommufd_ioas_map(e->ioas, buf, sizeof(buf), RW | IOMMUFD_MAP_FIXED, &mo, &iova), 0);
	assert_int_equal(iova, IOVA);
}

static int dirty(struct env *e, struct iommufd_hwpt *h, uint64_t off, uint64_t len)
{
	return fake_kernel_set_dirty(e->fk, e->ctx->fd, iommufd_hwpt_get_id(h), IOVA + off, len);
}

/* ------------------------------------------------------------------------ */
/* HWPT calls                                                                */

static void test_hwpt_exact_clear_noclear(void **state)
{
	struct env e;
	uint64_t bm[2];

	(void)state;
	cdev_one(&e, NULL);
	assert_int_equal(iommufd_hwpt_set_dirty_tracking(e.ha, true), 0);
	assert_int_equal(fake_kernel_hwpt_state(e.fk, e.ctx->fd, iommufd_hwpt_get_id(e.ha)), 2);
	assert_true(e.ha->dirty_enabled);
	assert_int_equal(dirty(&e, e.ha, 1 * PG, PG), 1);
	assert_int_equal(dirty(&e, e.ha, 5 * PG, 2 * PG), 2);
	assert_int_equal(dirty(&e, e.ha, 15 * PG, PG), 1);

	/* the caller's words are garbage: only the dirty pages read 1, and
	 * the word past the bitmap is not touched */
	bm[0] = JUNK;
	bm[1] = JUNK;
	assert_int_equal(iommufd_hwpt_get_dirty_bitmap(e.ha, IOVA, 16 * PG, PG, bm, IOMMUFD_DIRTY_NO_CLEAR), 0);
	assert_int_equal(bm[0], (1ull << 1) | (1ull << 5) | (1ull << 6) | (1ull << 15));
	assert_int_equal(bm[1], JUNK);
	/* NO_CLEAR kept them */
	bm[0] = JUNK;
	assert_int_equal(iommufd_hwpt_get_dirty_bitmap(e.ha, IOVA, 16 * PG, PG, bm, 0), 0);
	assert_int_equal(bm[0], (1ull << 1) | (1ull << 5) | (1ull << 6) | (1ull << 15));
	/* that read cleared them */
	bm[0] = JUNK;
	assert_int_equal(iommufd_hwpt_get_dirty_bitmap(e.ha, IOVA, 16 * PG, PG, bm, 0), 0);
	assert_int_equal(bm[0], 0);
	/* a sub-range reads from its own first page */
	assert_int_equal(dirty(&e, e.ha, 9 * PG, PG), 1);
	assert_int_equal(iommufd_hwpt_get_dirty_bitmap(e.ha, IOVA + 8 * PG, 4 * PG, PG, bm, 0), 0);
	assert_int_equal(bm[0], 1ull << 1);

	assert_int_equal(iommufd_hwpt_set_dirty_tracking(e.ha, false), 0);
	assert_int_equal(fake_kernel_hwpt_state(e.fk, e.ctx->fd, iommufd_hwpt_get_id(e.ha)), 1);
	assert_false(e.ha->dirty_enabled);
	env_finish(&e);
}

static void test_hwpt_page_sizes(void **state)
{
	const size_t big = 4u << 20;
	struct iommufd_map_opts mo = { .sz = sizeof(mo), .iova = 0x40000000ULL };
	uint64_t iova = 0, bm[1];
	struct env e;
	void *mem;

	(void)state;
	cdev_one(&e, NULL);
	assert_int_equal(iommufd_hwpt_set_dirty_tracking(e.ha, true), 0);
	assert_int_equal(dirty(&e, e.ha, 1 * PG, PG), 1);
	assert_int_equal(dirty(&e, e.ha, 5 * PG, PG), 1);
	assert_int_equal(dirty(&e, e.ha, 6 * PG, PG), 1);
	/* 8 KiB: pages 1 -> 0, 5 and 6 -> 2 and 3 */
	bm[0] = JUNK;
	assert_int_equal(iommufd_hwpt_get_dirty_bitmap(e.ha, IOVA, 16 * PG, 2 * PG, bm, IOMMUFD_DIRTY_NO_CLEAR), 0);
	assert_int_equal(bm[0], (1ull << 0) | (1ull << 2) | (1ull << 3));
	/* 2 MiB: one bit for the whole 16 pages */
	bm[0] = JUNK;
	assert_int_equal(iommufd_hwpt_get_dirty_bitmap(e.ha, IOVA, 2u << 20, 2u << 20, bm, 0), 0);
	assert_int_equal(bm[0], 1);

	/* 2 MiB pages over a 4 MiB mapping: a write in the second half */
	mem = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(mem != MAP_FAILED);
	assert_int_equal(iommufd_ioas_map(e.ioas, mem, big, RW | IOMMUFD_MAP_FIXED, &mo, &iova), 0);
	assert_int_equal(fake_kernel_set_dirty(e.fk, e.ctx->fd, iommufd_hwpt_get_id(e.ha), iova + (2u << 20) + PG,
					       PG), 1);
	bm[0] = JUNK;
	assert_int_equal(iommufd_hwpt_get_dirty_bitmap(e.ha, iova, big, 2u << 20, bm, 0), 0);
	assert_int_equal(bm[0], 2);
	assert_int_equal(iommufd_ioas_unmap(e.ioas, iova, big, NULL), 0);
	munmap(mem, big);
	env_finish(&e);
}

/* Every bad argument: -EINVAL, the bitmap as it was, no kernel call. */
static void test_bad_arguments(void **state)
{
	struct iommufd_hwpt *plain;
	uint64_t bm[2] = { JUNK, JUNK };
	struct env e;
	static const struct {
		uint64_t iova, len, pgsz;
		uint32_t flags;
	} bad[] = {
		{ IOVA, 0, PG, 0 },                       /* empty */
		{ IOVA, 16 * PG, 0, 0 },                  /* no page size */
		{ IOVA, 16 * PG, 3 * PG, 0 },             /* not a power of two */
		{ IOVA + 0x800, 16 * PG, PG, 0 },         /* iova unaligned */
		{ IOVA, 16 * PG + 0x800, PG, 0 },         /* length unaligned */
		{ ~0ull - PG + 1, 2 * PG, PG, 0 },        /* wraps */
		{ IOVA, 16 * PG, PG, 2 },                 /* unknown flag */
	};

	(void)state;
	cdev_one(&e, NULL);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), 0);
	fake_kernel_log_clear(e.fk);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(iommufd_hwpt_get_dirty_bitmap(e.ha, bad[i].iova, bad[i].len, bad[i].pgsz, bm,
							       bad[i].flags), -EINVAL);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, bad[i].iova, bad[i].len, bad[i].pgsz, bm,
							       bad[i].flags), -EINVAL);
	}
	assert_int_equal(iommufd_hwpt_get_dirty_bitmap(e.ha, IOVA, 16 * PG, PG, NULL, 0), -EINVAL);
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 16 * PG, PG, NULL, 0), -EINVAL);
	assert_int_equal(iommufd_hwpt_get_dirty_bitmap(NULL, IOVA, 16 * PG, PG, bm, 0), -EINVAL);
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(NULL, IOVA, 16 * PG, PG, bm, 0), -EINVAL);
	assert_int_equal(iommufd_hwpt_set_dirty_tracking(NULL, true), -EINVAL);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(NULL, true), -EINVAL);
	assert_int_equal(bm[0], JUNK);
	assert_int_equal(bm[1], JUNK);
	assert_int_equal(fake_kernel_log_find(e.fk, "ioctl", NULL), 0);

	/* an HWPT without the flag: refused by the library, named in the log */
	assert_int_equal(iommufd_hwpt_create(e.a, e.ioas, NULL, &plain), 0);
	fake_kernel_log_clear(e.fk);
	fk_logcap_clear(&e.cap);
	assert_int_equal(iommufd_hwpt_set_dirty_tracking(plain, true), -EINVAL);
	assert_int_equal(iommufd_hwpt_get_dirty_bitmap(plain, IOVA, 16 * PG, PG, bm, 0), -EINVAL);
	assert_true(fk_logcap_has(&e.cap, "IOMMUFD_HWPT_DIRTY_TRACKING"));
	assert_int_equal(bm[0], JUNK);
	assert_int_equal(fake_kernel_log_find(e.fk, "ioctl", NULL), 0);
	assert_int_equal(iommufd_hwpt_destroy(plain), 0);
	env_finish(&e);
}

/* ------------------------------------------------------------------------ */
/* IOAS level on CDEV                                                        */

static void test_ioas_union(void **state)
{
	uint64_t bm[1];
	struct env e;

	(void)state;
	cdev_one(&e, NULL);
	assert_int_equal(iommufd_device_open(e.ioas, FK_DEV_B, NULL, &e.b), 0);
	e.hb = hwpt_on(&e, e.b, IOMMUFD_HWPT_DIRTY_TRACKING);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), 0);
	assert_int_equal(fake_kernel_hwpt_state(e.fk, e.ctx->fd, iommufd_hwpt_get_id(e.ha)), 2);
	assert_int_equal(fake_kernel_hwpt_state(e.fk, e.ctx->fd, iommufd_hwpt_get_id(e.hb)), 2);
	assert_int_equal(dirty(&e, e.ha, 1 * PG, PG), 1);
	assert_int_equal(dirty(&e, e.hb, 3 * PG, PG), 1);
	assert_int_equal(dirty(&e, e.hb, 1 * PG, PG), 1); /* both saw page 1 */

	bm[0] = JUNK;
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 16 * PG, PG, bm, IOMMUFD_DIRTY_NO_CLEAR), 0);
	assert_int_equal(bm[0], (1ull << 1) | (1ull << 3));
	bm[0] = JUNK;
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 16 * PG, 2 * PG, bm, 0), 0);
	assert_int_equal(bm[0], (1ull << 0) | (1ull << 1));
	bm[0] = JUNK;
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 16 * PG, PG, bm, 0), 0);
	assert_int_equal(bm[0], 0);

	/* enabling again must not clear what was recorded meanwhile */
	assert_int_equal(dirty(&e, e.hb, 7 * PG, PG), 1);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), 0);
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 16 * PG, PG, bm, 0), 0);
	assert_int_equal(bm[0], 1ull << 7);

	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, false), 0);
	assert_int_equal(fake_kernel_hwpt_state(e.fk, e.ctx->fd, iommufd_hwpt_get_id(e.ha)), 1);
	assert_int_equal(fake_kernel_hwpt_state(e.fk, e.ctx->fd, iommufd_hwpt_get_id(e.hb)), 1);
	/* a read with tracking off would silently miss writes: refused */
	fk_logcap_clear(&e.cap);
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 16 * PG, PG, bm, 0), -EINVAL);
	assert_true(fk_logcap_has(&e.cap, "dirty tracking is off"));
	env_finish(&e);
}

/* A device whose writes no tracking HWPT sees makes the IOAS untrackable. */
static void test_ioas_untracked_device(void **state)
{
	struct iommufd_hwpt *plain;
	uint64_t bm[1] = { JUNK };
	struct env e;

	(void)state;
	cdev_one(&e, NULL);
	/* B straight on the IOAS (its implicit HWPT) */
	assert_int_equal(iommufd_device_open(e.ioas, FK_DEV_B, NULL, &e.b), 0);
	fake_kernel_log_clear(e.fk);
	fk_logcap_clear(&e.cap);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), -EOPNOTSUPP);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_true(fk_logcap_has(&e.cap, FK_DEV_B));
	assert_true(fk_logcap_has(&e.cap, "IOMMUFD_HWPT_DIRTY_TRACKING"));
	assert_int_equal(fake_kernel_log_find(e.fk, "ioctl", "IOMMU_HWPT_SET_DIRTY_TRACKING"), 0);
	assert_int_equal(fake_kernel_hwpt_state(e.fk, e.ctx->fd, iommufd_hwpt_get_id(e.ha)), 1);
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 16 * PG, PG, bm, 0), -EOPNOTSUPP);
	assert_int_equal(bm[0], JUNK);

	/* B on an HWPT without the flag: the same */
	plain = hwpt_on(&e, e.b, 0);
	fk_logcap_clear(&e.cap);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&e.cap, FK_DEV_B));
	assert_int_equal(fake_kernel_log_find(e.fk, "ioctl", "IOMMU_HWPT_SET_DIRTY_TRACKING"), 0);

	/* B moved to a tracking HWPT: now it works */
	e.hb = hwpt_on(&e, e.b, IOMMUFD_HWPT_DIRTY_TRACKING);
	assert_int_equal(iommufd_hwpt_destroy(plain), 0);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), 0);
	env_finish(&e);
}

static void test_ioas_no_tracking_hwpt(void **state)
{
	struct env e;

	(void)state;
	env_start(&e, NULL, IOMMUFD_BACKEND_CDEV);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&e.cap, "create an HWPT with IOMMUFD_HWPT_DIRTY_TRACKING"));
	env_finish(&e);
}

/* The second HWPT's enable fails: the first is switched back off. */
static void test_ioas_set_rollback_and_read_failure(void **state)
{
	uint64_t bm[1];
	struct env e;

	(void)state;
	cdev_one(&e, NULL);
	assert_int_equal(iommufd_device_open(e.ioas, FK_DEV_B, NULL, &e.b), 0);
	e.hb = hwpt_on(&e, e.b, IOMMUFD_HWPT_DIRTY_TRACKING);
	fake_kernel_fail_match(e.fk, "IOMMU_HWPT_SET_DIRTY_TRACKING", 2, EIO);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), -EIO);
	assert_true(fake_kernel_fault_fired(e.fk));
	assert_int_equal(fake_kernel_hwpt_state(e.fk, e.ctx->fd, iommufd_hwpt_get_id(e.ha)), 1);
	assert_int_equal(fake_kernel_hwpt_state(e.fk, e.ctx->fd, iommufd_hwpt_get_id(e.hb)), 1);
	assert_false(e.ha->dirty_enabled);
	assert_false(e.hb->dirty_enabled);
	fake_kernel_fail_clear(e.fk);

	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), 0);
	fake_kernel_fail_match(e.fk, "IOMMU_HWPT_GET_DIRTY_BITMAP", 1, EFAULT);
	fk_logcap_clear(&e.cap);
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 16 * PG, PG, bm, 0), -EFAULT);
	assert_true(fk_logcap_has(&e.cap, "IOMMU_HWPT_GET_DIRTY_BITMAP"));
	fake_kernel_fail_match(e.fk, "IOMMU_HWPT_SET_DIRTY_TRACKING", 1, EIO);
	assert_int_equal(iommufd_hwpt_set_dirty_tracking(e.ha, false), -EIO);
	assert_true(e.ha->dirty_enabled); /* the books follow the kernel */
	fake_kernel_fail_clear(e.fk);
	env_finish(&e);
}

/* A 6.6 kernel: HWPTs, but no dirty-tracking ioctls. */
static void test_old_kernel(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .iommufd_max_cmd = 0x8a };
	uint64_t bm[1] = { JUNK };
	struct env e;

	(void)state;
	cdev_one(&e, &cfg);
	fk_logcap_clear(&e.cap);
	assert_int_equal(iommufd_hwpt_set_dirty_tracking(e.ha, true), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&e.cap, "6.7"));
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), -EOPNOTSUPP);
	assert_int_equal(iommufd_hwpt_get_dirty_bitmap(e.ha, IOVA, 16 * PG, PG, bm, 0), -EOPNOTSUPP);
	assert_int_equal(errno, EOPNOTSUPP);
	env_finish(&e);
}

/* ------------------------------------------------------------------------ */
/* GROUP and TYPE1                                                           */

static void test_group_backend(void **state)
{
	uint64_t bm[1] = { JUNK };
	struct env e;

	(void)state;
	env_start(&e, NULL, IOMMUFD_BACKEND_GROUP);
	assert_int_equal(iommufd_device_open(e.ioas, FK_DEV_A, NULL, &e.a), 0);
	fake_kernel_log_clear(e.fk);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), -EOPNOTSUPP);
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 16 * PG, PG, bm, 0), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&e.cap, "group backend has no dirty tracking"));
	assert_int_equal(bm[0], JUNK);
	assert_int_equal(fake_kernel_log_find(e.fk, "ioctl", NULL), 0);
	env_finish(&e);
}

static void type1_start(struct env *e, const struct fk_config *cfg)
{
	struct iommufd_map_opts mo = { .sz = sizeof(mo), .iova = IOVA };
	uint64_t iova;

	env_start(e, cfg, IOMMUFD_BACKEND_TYPE1);
	assert_int_equal(iommufd_device_open(e->ioas, FK_DEV_A, NULL, &e->a), 0);
	/* two mappings: 8 pages at IOVA, 4 pages at IOVA + 2 MiB */
	assert_int_equal(iommufd_ioas_map(e->ioas, buf, 8 * PG, RW | IOMMUFD_MAP_FIXED, &mo, &iova), 0);
	mo.iova = IOVA + (2u << 20);
	assert_int_equal(iommufd_ioas_map(e->ioas, buf + 8 * PG, 4 * PG, RW | IOMMUFD_MAP_FIXED, &mo, &iova), 0);
}

static void test_type1_dirty(void **state)
{
	uint64_t bm[8];
	struct env e;
	int cfd;

	(void)state;
	type1_start(&e, NULL);
	cfd = e.ioas->container_fd;
	/* not started: the kernel refuses the read */
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 8 * PG, PG, bm, 0), -EINVAL);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), 0);
	assert_int_equal(fake_kernel_type1_dirty(e.fk, cfd), 1);

	/* no IOMMU scoping the pins: every mapped page is dirty */
	memset(bm, 0xa5, sizeof(bm));
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 8 * PG, PG, bm, 0), 0);
	assert_int_equal(bm[0], 0xff);
	assert_int_equal(bm[1], JUNK);
	/* folded to 8 KiB */
	memset(bm, 0xa5, sizeof(bm));
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 8 * PG, 2 * PG, bm, 0), 0);
	assert_int_equal(bm[0], 0xf);
	/* a range with a hole, at 4 KiB: bits 0-7 and 512-515 (9 words) */
	{
		uint64_t big[10];

		memset(big, 0xa5, sizeof(big));
		assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, (2u << 20) + 4 * PG, PG, big, 0), 0);
		assert_int_equal(big[0], 0xff);
		for (int i = 1; i < 8; i++)
			assert_int_equal(big[i], 0);
		assert_int_equal(big[8], 0xf);
		assert_int_equal(big[9], JUNK);
	}
	/* folded to 2 MiB over both mappings */
	memset(bm, 0xa5, sizeof(bm));
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 4u << 20, 2u << 20, bm, 0), 0);
	assert_int_equal(bm[0], 3);

	/* NO_CLEAR: type1 cannot; nothing touched, no call */
	fake_kernel_log_clear(e.fk);
	fk_logcap_clear(&e.cap);
	bm[0] = JUNK;
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 8 * PG, PG, bm, IOMMUFD_DIRTY_NO_CLEAR),
			 -EOPNOTSUPP);
	assert_int_equal(bm[0], JUNK);
	assert_true(fk_logcap_has(&e.cap, "without clearing"));
	/* a range that splits a mapping, and a page below the IOMMU's */
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA + PG, 4 * PG, PG, bm, 0), -EINVAL);
	assert_true(fk_logcap_has(&e.cap, "splits the mapping"));
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 4 * PG, PG, bm, 0), -EINVAL);
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 8 * PG, PG / 2, bm, 0), -EINVAL);
	assert_int_equal(bm[0], JUNK);
	assert_int_equal(fake_kernel_log_find(e.fk, "ioctl", "VFIO_IOMMU_DIRTY_PAGES"), 0);

	/* injected failure of the read */
	fake_kernel_fail_match(e.fk, "VFIO_IOMMU_DIRTY_PAGES", 1, EFAULT);
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 8 * PG, PG, bm, 0), -EFAULT);
	assert_int_equal(bm[0], JUNK);
	fake_kernel_fail_clear(e.fk);

	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, false), 0);
	assert_int_equal(fake_kernel_type1_dirty(e.fk, cfd), 0);
	env_finish(&e);
}

/* Far apart mappings: the read goes in pieces cut between mappings. */
static void test_type1_chunks(void **state)
{
	const uint64_t far = 64ull << 30; /* 2^24 pages past IOVA: beyond one piece */
	struct iommufd_map_opts mo = { .sz = sizeof(mo), .iova = IOVA + far };
	uint64_t iova, len = far + 4 * PG, words = (len / PG + 63) / 64, *bm;
	struct env e;

	(void)state;
	type1_start(&e, NULL);
	assert_int_equal(iommufd_ioas_map(e.ioas, buf + 12 * PG, 4 * PG, RW | IOMMUFD_MAP_FIXED, &mo, &iova), 0);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), 0);
	bm = malloc(words * sizeof(*bm));
	assert_non_null(bm);
	memset(bm, 0xa5, words * sizeof(*bm));
	fake_kernel_log_clear(e.fk);
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, len, PG, bm, 0), 0);
	assert_int_equal(fake_kernel_log_find(e.fk, "ioctl", "VFIO_IOMMU_DIRTY_PAGES"), 2);
	assert_int_equal(bm[0], 0xff);
	assert_int_equal(bm[8], 0xf);
	assert_int_equal(bm[far / PG / 64], 0xf);
	for (uint64_t w = 1; w < words; w++)
		if (w != 8 && w != far / PG / 64)
			assert_int_equal(bm[w], 0);
	/* the same folded to 1 GiB pages: bits 0 and 64 */
	memset(bm, 0xa5, 2 * sizeof(*bm));
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, 0, far + (1ull << 30), 1ull << 30, bm, 0), 0);
	assert_int_equal(bm[0], 1);
	assert_int_equal(bm[1], 1);
	free(bm);
	env_finish(&e);
}

static void test_type1_no_cap_no_device(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .no_type1_dirty = true };
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	uint64_t bm[1] = { JUNK };
	struct iommufd_ioas *empty;
	struct env e;

	(void)state;
	type1_start(&e, &cfg);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&e.cap, "this kernel's type1 has no dirty page tracking"));
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 8 * PG, PG, bm, 0), -EOPNOTSUPP);
	assert_int_equal(bm[0], JUNK);
	assert_int_equal(fake_kernel_log_find(e.fk, "ioctl", "VFIO_IOMMU_DIRTY_PAGES"), 0);
	assert_int_equal(iommufd_feature_query(e.ctx, e.a, IOMMUFD_FEATURE_DIRTY_TRACKING, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_KERNEL);

	/* an IOAS whose container has no IOMMU yet */
	assert_int_equal(iommufd_ioas_create(e.ctx, &empty), 0);
	fk_logcap_clear(&e.cap);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(empty, true), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&e.cap, "attach a device first"));
	env_finish(&e);
}

static void test_type1_feature_query(void **state)
{
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	struct env e;

	(void)state;
	type1_start(&e, NULL);
	assert_int_equal(iommufd_feature_query(e.ctx, e.a, IOMMUFD_FEATURE_DIRTY_TRACKING, &st), 1);
	assert_int_equal(st.reason, IOMMUFD_REASON_NONE);
	assert_int_equal(iommufd_feature_query(e.ctx, NULL, IOMMUFD_FEATURE_DIRTY_TRACKING, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_NEED_DEVICE);
	for (int f = IOMMUFD_FEATURE_IOMMUFD; f <= IOMMUFD_FEATURE_CHANGE_PROCESS; f++) {
		if (f == IOMMUFD_FEATURE_DIRTY_TRACKING)
			continue;
		memset(st.why, 0, sizeof(st.why));
		assert_int_equal(iommufd_feature_query(e.ctx, e.a, (enum iommufd_feature)f, &st), 0);
		assert_int_equal(st.reason, IOMMUFD_REASON_BACKEND);
		assert_true(strstr(st.why, "type1") != NULL);
	}
	/* values it does not know are left to caps.c */
	assert_int_equal(e.ctx->ops->feature_query(e.ctx, e.a, (enum iommufd_feature)999, &st), -ENOSYS);
	/* a failed probe is no answer */
	fake_kernel_fail_match(e.fk, "VFIO_IOMMU_GET_INFO", 1, EIO);
	assert_int_equal(iommufd_feature_query(e.ctx, e.a, IOMMUFD_FEATURE_DIRTY_TRACKING, &st), -EIO);
	fake_kernel_fail_clear(e.fk);
	env_finish(&e);
}

static void test_type1_v1(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .type1_v1_only = true };
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	struct env e;

	(void)state;
	type1_start(&e, &cfg);
	assert_int_equal(iommufd_feature_query(e.ctx, e.a, IOMMUFD_FEATURE_DIRTY_TRACKING, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_BACKEND);
	assert_true(strstr(st.why, "v1") != NULL);
	env_finish(&e);
}

/* ------------------------------------------------------------------------ */
/* Fork rule                                                                 */

static int child(struct env *e, struct env *t)
{
	uint64_t bm[1] = { JUNK };

	fake_kernel_log_clear(e->fk);
	if (iommufd_hwpt_set_dirty_tracking(e->ha, false) != -ECHILD || errno != ECHILD)
		return 1;
	if (iommufd_hwpt_get_dirty_bitmap(e->ha, IOVA, 16 * PG, PG, bm, 0) != -ECHILD)
		return 2;
	if (iommufd_ioas_set_dirty_tracking(e->ioas, false) != -ECHILD)
		return 3;
	if (iommufd_ioas_get_dirty_bitmap(e->ioas, IOVA, 16 * PG, PG, bm, 0) != -ECHILD)
		return 4;
	if (iommufd_ioas_set_dirty_tracking(t->ioas, false) != -ECHILD)
		return 5;
	if (iommufd_ioas_get_dirty_bitmap(t->ioas, IOVA, 8 * PG, PG, bm, 0) != -ECHILD)
		return 6;
	if (bm[0] != JUNK)
		return 7;
	if (fake_kernel_log_count(e->fk) != 0)
		return 8;
	return 0;
}

static void test_fork(void **state)
{
	struct env e, t;
	uint64_t bm[1];
	int status = -1;
	pid_t pid;

	(void)state;
	cdev_one(&e, NULL);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(e.ioas, true), 0);
	/* a TYPE1 context on the same fake kernel */
	memset(&t, 0, sizeof(t));
	t.fk = e.fk;
	assert_int_equal(fk_ctx_create(e.fk, IOMMUFD_BACKEND_TYPE1, NULL, &t.ctx), 0);
	assert_int_equal(iommufd_ioas_create(t.ctx, &t.ioas), 0);
	assert_int_equal(iommufd_device_open(t.ioas, FK_DEV_B, NULL, &t.a), 0);
	assert_int_equal(iommufd_ioas_set_dirty_tracking(t.ioas, true), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child(&e, &t));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the parent's tracking goes on */
	assert_int_equal(dirty(&e, e.ha, 2 * PG, PG), 1);
	assert_int_equal(iommufd_ioas_get_dirty_bitmap(e.ioas, IOVA, 16 * PG, PG, bm, 0), 0);
	assert_int_equal(bm[0], 1ull << 2);
	iommufd_ctx_destroy(t.ctx);
	env_finish(&e);
}

#define T(fn) cmocka_unit_test_teardown(fn, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_hwpt_exact_clear_noclear),
		T(test_hwpt_page_sizes),
		T(test_bad_arguments),
		T(test_ioas_union),
		T(test_ioas_untracked_device),
		T(test_ioas_no_tracking_hwpt),
		T(test_ioas_set_rollback_and_read_failure),
		T(test_old_kernel),
		T(test_group_backend),
		T(test_type1_dirty),
		T(test_type1_chunks),
		T(test_type1_no_cap_no_device),
		T(test_type1_feature_query),
		T(test_type1_v1),
		T(test_fork),
	};

	unsetenv("LIBIOMMUFD_DEBUG");
	unsetenv("LIBIOMMUFD_BACKEND");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
