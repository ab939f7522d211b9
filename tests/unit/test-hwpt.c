/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * HWPTs, PASIDs, adoption by device ID and capability queries on the fake
 * kernel: the exact ioctl sequences, bad input, injected failures (state
 * unchanged), older kernels, the GROUP and TYPE1 answers, and the fork rule.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>

#include <cmocka.h>

#include "internal.h"
#include "kabi.h"
#include "fake-kernel.h"

#define PG 0x1000ULL
#define RW (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE)

struct t {
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev; /* FK_DEV_A, open on ioas */
	struct fk_logcap cap;
};

static struct t *mk(enum iommufd_backend b, const struct fk_config *cfg, uint8_t pasid_log2, bool no_dirty,
		    bool no_nest)
{
	struct t *t = calloc(1, sizeof(*t));
	struct fk_dev_desc d = { .name = "0000:00:0a.0", .group = 20, .max_pasid_log2 = pasid_log2,
				 .no_dirty = no_dirty, .no_nest = no_nest };

	assert_non_null(t);
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	fk_logcap_init(&t->cap);
	if (cfg) {
		/* fk_standard's devices on a configured kernel */
		t->fk = fake_kernel_create(cfg);
		assert_non_null(t->fk);
		assert_int_equal(fake_kernel_add_device(t->fk, &(struct fk_dev_desc){ .name = FK_DEV_A,
											 .group = FK_GROUP_A }), 0);
	} else {
		t->fk = fk_standard(FK_LINUX_7_3);
	}
	assert_int_equal(fake_kernel_add_device(t->fk, &d), 0);
	assert_int_equal(fk_ctx_create(t->fk, b, &t->cap, &t->ctx), 0);
	assert_int_equal(iommufd_ioas_create(t->ctx, &t->ioas), 0);
	assert_int_equal(iommufd_device_open(t->ioas, pasid_log2 || no_dirty || no_nest ? "0000:00:0a.0" : FK_DEV_A,
					     NULL, &t->dev), 0);
	fk_logcap_clear(&t->cap);
	fake_kernel_log_clear(t->fk);
	return t;
}

static void done(struct t *t)
{
	int fds;

	iommufd_ctx_destroy(t->ctx);
	fds = fake_kernel_open_fds(t->fk);
	assert_int_equal(fake_kernel_live_files(t->fk), 0);
	fake_kernel_destroy(t->fk);
	fk_logcap_free(&t->cap);
	free(t);
	assert_int_equal(fds, 0);
}

static int fk_teardown(void **state)
{
	(void)state;
	fake_kernel_destroy_current();
	return 0;
}

static uint32_t ioas_id(struct iommufd_ioas *ioas)
{
	return (uint32_t)iommufd_ioas_get_id(ioas);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	static char bufs[8][160];
	static int n;
	char *b = bufs[n++ % 8];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

/* ------------------------------------------------------------------------ */

static void test_lifecycle_trace(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_DIRTY_TRACKING };
	struct iommufd_hwpt *h;
	uint32_t devid = (uint32_t)iommufd_device_get_id(t->dev), io = ioas_id(t->ioas), hid;

	(void)state;
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), 0);
	hid = iommufd_hwpt_get_id(h);
	/* the kernel is probed for the call first (size 0: EINVAL = known) */
	fk_expect_trace(t->fk, "ioctl iommufd IOMMU_HWPT_ALLOC dev 0 pt 0 flags 0 fault 0 = EINVAL",
			fmt("ioctl iommufd IOMMU_HWPT_ALLOC dev %u pt %u flags %#x fault 0", devid, io,
			    IFD_K_IOMMU_HWPT_ALLOC_DIRTY_TRACKING));
	assert_ptr_equal(iommufd_hwpt_get_ioas(h), t->ioas);
	assert_int_equal(iommufd_hwpt_get_flags(h), IOMMUFD_HWPT_DIRTY_TRACKING);
	assert_int_equal(fake_kernel_hwpt_state(t->fk, iommufd_ctx_get_fd(t->ctx), hid), 1);

	/* replace: the IOAS's implicit HWPT -> the explicit one */
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, h), 0);
	fk_expect_trace(t->fk, fmt("ioctl cdev/" FK_DEV_A " VFIO_DEVICE_ATTACH_IOMMUFD_PT %u", hid),
			fmt("ioctl iommufd IOMMU_IOAS_IOVA_RANGES %u", io));
	assert_int_equal(fake_kernel_dev_hwpt(t->fk, FK_DEV_A), hid);
	assert_ptr_equal(iommufd_device_get_hwpt(t->dev), h);
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), t->ioas);
	/* attaching again to the same HWPT asks nothing */
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, h), 0);
	fk_expect_trace(t->fk, NULL);

	/* busy while attached: nothing reaches the kernel, nothing changes */
	assert_int_equal(iommufd_hwpt_destroy(h), -EBUSY);
	assert_int_equal(errno, EBUSY);
	assert_true(fk_logcap_has(&t->cap, "still has 1 device"));
	fk_expect_trace(t->fk, NULL);
	/* the IOAS cannot go while an HWPT mirrors it */
	assert_int_equal(iommufd_device_detach(t->dev), 0);
	fk_expect_trace(t->fk, "ioctl cdev/" FK_DEV_A " VFIO_DEVICE_DETACH_IOMMUFD_PT",
			fmt("ioctl iommufd IOMMU_IOAS_IOVA_RANGES %u", io));
	assert_null(iommufd_device_get_ioas(t->dev));
	assert_null(iommufd_device_get_hwpt(t->dev));
	assert_int_equal(fake_kernel_dev_ioas(t->fk, FK_DEV_A), 0);
	assert_int_equal(iommufd_ioas_destroy(t->ioas), -EBUSY);
	assert_true(fk_logcap_has(&t->cap, "still has HWPTs"));
	fk_expect_trace(t->fk, NULL);

	/* from detached back to the IOAS directly */
	assert_int_equal(iommufd_device_attach(t->dev, t->ioas), 0);
	fk_expect_trace(t->fk, fmt("ioctl cdev/" FK_DEV_A " VFIO_DEVICE_ATTACH_IOMMUFD_PT %u", io),
			fmt("ioctl iommufd IOMMU_IOAS_IOVA_RANGES %u", io));
	assert_int_equal(fake_kernel_dev_ioas(t->fk, FK_DEV_A), io);
	assert_int_equal(iommufd_hwpt_destroy(h), 0);
	fk_expect_trace(t->fk, fmt("ioctl iommufd IOMMU_DESTROY %u", hid));
	assert_int_equal(fake_kernel_hwpt_state(t->fk, iommufd_ctx_get_fd(t->ctx), hid), 0);
	assert_int_equal(iommufd_hwpt_destroy(NULL), 0);
	/* and now the IOAS is free to go once the device is */
	assert_int_equal(iommufd_device_destroy(t->dev), 0);
	assert_int_equal(iommufd_ioas_destroy(t->ioas), 0);
	done(t);
}

/* A device on an HWPT, then moved back to its IOAS by iommufd_device_attach():
 * that call must move it even though dev->ioas is that IOAS already. */
static void test_attach_ioas_from_hwpt(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_hwpt *h;
	uint32_t io = ioas_id(t->ioas);

	(void)state;
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, NULL, &h), 0);
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, h), 0);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_attach(t->dev, t->ioas), 0);
	fk_expect_trace(t->fk, fmt("ioctl cdev/" FK_DEV_A " VFIO_DEVICE_ATTACH_IOMMUFD_PT %u", io),
			fmt("ioctl iommufd IOMMU_IOAS_IOVA_RANGES %u", io));
	assert_int_equal(fake_kernel_dev_hwpt(t->fk, FK_DEV_A), 0);
	assert_null(iommufd_device_get_hwpt(t->dev));
	/* the HWPT has no user any more */
	assert_int_equal(iommufd_hwpt_destroy(h), 0);
	done(t);
}

/* Replace keeps DMA going: the mappings of the IOAS are what the HWPT
 * holds, and a move between HWPTs of two IOAS keeps the counts right. */
static void test_replace_between_ioas(void **state)
{
	static uint8_t buf[0x2000] __attribute__((aligned(4096)));
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_ioas *io2;
	struct iommufd_hwpt *h1, *h2;
	struct fk_map m[4];
	uint64_t iova;
	int fd = iommufd_ctx_get_fd(t->ctx);

	(void)state;
	assert_int_equal(iommufd_ioas_map(t->ioas, buf, PG, RW, NULL, &iova), 0);
	assert_int_equal(iommufd_ioas_create(t->ctx, &io2), 0);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, NULL, &h1), 0);
	assert_int_equal(iommufd_hwpt_create(t->dev, io2, NULL, &h2), 0);
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, h1), 0);
	/* the device still sees the mapping through its IOAS */
	assert_int_equal(fake_kernel_dev_ioas(t->fk, FK_DEV_A), ioas_id(t->ioas));
	assert_int_equal(fake_kernel_get_maps(t->fk, fd, ioas_id(t->ioas), m, 4), 1);
	assert_int_equal(m[0].iova, iova);
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, h2), 0);
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), io2);
	assert_int_equal(fake_kernel_dev_ioas(t->fk, FK_DEV_A), ioas_id(io2));
	/* h1 is free, io2 has a device: its destroy is refused */
	assert_int_equal(iommufd_hwpt_destroy(h1), 0);
	assert_int_equal(iommufd_hwpt_destroy(h2), -EBUSY);
	assert_int_equal(iommufd_device_destroy(t->dev), 0);
	/* the device's destroy dropped its attachment */
	assert_int_equal(iommufd_hwpt_destroy(h2), 0);
	assert_int_equal(iommufd_ioas_destroy(io2), 0);
	assert_int_equal(iommufd_ioas_destroy(t->ioas), 0);
	done(t);
}

static void test_bad_args(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = 1u << 2 };
	struct { struct iommufd_hwpt_opts o; uint32_t extra; } big = { { .sz = sizeof(big) }, 1 };
	struct iommufd_hwpt *h = NULL;
	struct iommufd_device *d2 = NULL;
	struct iommufd_hw_info hi = { .sz = sizeof(hi) };
	struct iommufd_feature_status st = { .sz = 4 };
	int objs = fake_kernel_iommufd_objects(t->fk, iommufd_ctx_get_fd(t->ctx));

	(void)state;
	assert_int_equal(iommufd_hwpt_create(NULL, t->ioas, NULL, &h), -EINVAL);
	assert_int_equal(iommufd_hwpt_create(t->dev, NULL, NULL, &h), -EINVAL);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, NULL, NULL), -EINVAL);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), -EINVAL); /* FAULT_ID bit is not ours */
	o.flags = 0;
	o.sz = 2;
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), -EINVAL);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &big.o, &h), -EINVAL);
	assert_null(h);
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, NULL), -EINVAL);
	assert_int_equal(iommufd_device_attach_hwpt(NULL, NULL), -EINVAL);
	assert_int_equal(iommufd_device_detach(NULL), -EINVAL);
	assert_int_equal(iommufd_device_attach_pasid(t->dev, 1, NULL), -EINVAL);
	assert_int_equal(iommufd_device_detach_pasid(NULL, 1), -EINVAL);
	assert_null(iommufd_device_get_hwpt(NULL));
	assert_int_equal(iommufd_hwpt_get_id(NULL), 0);
	assert_null(iommufd_hwpt_get_ioas(NULL));
	assert_int_equal(iommufd_device_get_hw_info(NULL, &hi, NULL, 0), -EINVAL);
	assert_int_equal(iommufd_device_get_hw_info(t->dev, NULL, NULL, 0), -EINVAL);
	assert_int_equal(iommufd_device_get_hw_info(t->dev, &hi, NULL, 8), -EINVAL);
	hi.sz = 4;
	assert_int_equal(iommufd_device_get_hw_info(t->dev, &hi, NULL, 0), -EINVAL);
	assert_int_equal(iommufd_feature_query(NULL, NULL, IOMMUFD_FEATURE_HWPT, NULL), -EINVAL);
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_HWPT, &st), -EINVAL);
	assert_int_equal(iommufd_device_adopt_id(NULL, 1, -1, NULL, &d2), -EINVAL);
	assert_int_equal(iommufd_device_adopt_id(t->ctx, 1, -5, NULL, &d2), -EINVAL);
	assert_int_equal(iommufd_device_adopt_id(t->ctx, 1, -1, NULL, NULL), -EINVAL);
	assert_null(d2);
	/* nothing reached the kernel, nothing changed */
	fk_expect_trace(t->fk, NULL);
	assert_int_equal(fake_kernel_iommufd_objects(t->fk, iommufd_ctx_get_fd(t->ctx)), objs);
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), t->ioas);
	done(t);
}

/* A paging HWPT with the IOMMU driver's own data: all of it reaches the
 * kernel; half a description, or data the driver refuses, changes nothing. */
static void test_vendor_data(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	const uint32_t cfg[2] = { 0xbadbeef, 1 }; /* the mock's iotlb, its huge page table */
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .data_type = IOMMUFD_HWPT_DATA_SELFTEST, .data = cfg,
				       .data_len = sizeof(cfg) };
	struct iommufd_hwpt *h = NULL;
	int fd = iommufd_ctx_get_fd(t->ctx), objs = fake_kernel_iommufd_objects(t->fk, fd);
	uint32_t got[2] = { 0, 0 };

	(void)state;
	o.data = NULL;
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), -EINVAL);
	o.data = cfg;
	o.data_len = 0;
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), -EINVAL);
	o.data_len = 65537;
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), -EINVAL);
	o.data_type = 0;
	o.data_len = sizeof(cfg);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), -EINVAL);
	assert_null(h);
	assert_int_equal(fake_kernel_iommufd_objects(t->fk, fd), objs);

	/* a type the device's driver does not take: the kernel's EOPNOTSUPP, named */
	o.data_type = IOMMUFD_HWPT_DATA_VTD_S1;
	fk_logcap_clear(&t->cap);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "vendor data type 0x1"));
	assert_null(h);
	assert_int_equal(fake_kernel_iommufd_objects(t->fk, fd), objs);

	o.data_type = IOMMUFD_HWPT_DATA_SELFTEST;
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), 0);
	assert_int_equal(fake_kernel_hwpt_vendor(t->fk, fd, iommufd_hwpt_get_id(h), got, sizeof(got)), 8);
	assert_memory_equal(got, cfg, sizeof(cfg));
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, h), 0);
	assert_int_equal(iommufd_device_attach(t->dev, t->ioas), 0);
	assert_int_equal(iommufd_hwpt_destroy(h), 0);
	done(t);
}

/* Two contexts on one fake kernel: handles of one are refused by the other. */
static void test_other_context(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_ctx *c2;
	struct iommufd_ioas *io2;
	struct iommufd_hwpt *h;

	(void)state;
	assert_int_equal(fk_ctx_create(t->fk, IOMMUFD_BACKEND_CDEV, NULL, &c2), 0);
	assert_int_equal(iommufd_ioas_create(c2, &io2), 0);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_hwpt_create(t->dev, io2, NULL, &h), -EINVAL);
	assert_int_equal(iommufd_feature_query(c2, t->dev, IOMMUFD_FEATURE_HWPT, NULL), -EINVAL);
	fk_expect_trace(t->fk, NULL);
	iommufd_ctx_destroy(c2);
	done(t);
}

/* Injected failures of each kernel call leave every book as it was. */
static void test_injected_failures(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 4, false, false);
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_PASID };
	struct iommufd_hwpt *h = NULL, *h2;
	int fd = iommufd_ctx_get_fd(t->ctx);
	int objs = fake_kernel_iommufd_objects(t->fk, fd);
	const char *name = "0000:00:0a.0";

	(void)state;
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_HWPT, NULL), 1); /* probe done */
	fake_kernel_fail_match(t->fk, "IOMMU_HWPT_ALLOC", 1, EIO);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), -EIO);
	assert_null(h);
	assert_int_equal(fake_kernel_iommufd_objects(t->fk, fd), objs);
	assert_true(fk_logcap_has(&t->cap, "IOMMU_HWPT_ALLOC on IOAS"));
	fake_kernel_fail_clear(t->fk);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), 0);

	fake_kernel_fail_match(t->fk, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", 1, EIO);
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, h), -EIO);
	assert_null(iommufd_device_get_hwpt(t->dev));
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), t->ioas);
	assert_int_equal(fake_kernel_dev_hwpt(t->fk, name), 0);
	assert_int_equal(iommufd_hwpt_destroy(h), 0); /* no user: destroyable */
	fake_kernel_fail_clear(t->fk);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), 0);
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, h), 0);

	/* the IOVA-range refresh after the attach fails: back to where it was */
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h2), 0);
	fake_kernel_fail_match(t->fk, "IOMMU_IOAS_IOVA_RANGES", 1, EIO);
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, h2), -EIO);
	fake_kernel_fail_clear(t->fk);
	assert_ptr_equal(iommufd_device_get_hwpt(t->dev), h);
	assert_int_equal(fake_kernel_dev_hwpt(t->fk, name), iommufd_hwpt_get_id(h));
	assert_int_equal(iommufd_hwpt_destroy(h2), 0);

	fake_kernel_fail_match(t->fk, "VFIO_DEVICE_DETACH_IOMMUFD_PT", 1, EIO);
	assert_int_equal(iommufd_device_detach(t->dev), -EIO);
	assert_ptr_equal(iommufd_device_get_hwpt(t->dev), h);
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), t->ioas);
	fake_kernel_fail_clear(t->fk);

	/* PASIDs */
	fake_kernel_fail_match(t->fk, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", 1, EIO);
	assert_int_equal(iommufd_device_attach_pasid(t->dev, 3, h), -EIO);
	fake_kernel_fail_clear(t->fk);
	assert_int_equal(fake_kernel_dev_pasid_hwpt(t->fk, name, 3), 0);
	assert_int_equal(iommufd_device_detach_pasid(t->dev, 3), -ENOENT);
	assert_int_equal(iommufd_device_attach_pasid(t->dev, 3, h), 0);
	fake_kernel_fail_match(t->fk, "VFIO_DEVICE_DETACH_IOMMUFD_PT", 1, EIO);
	assert_int_equal(iommufd_device_detach_pasid(t->dev, 3), -EIO);
	fake_kernel_fail_clear(t->fk);
	assert_int_equal(fake_kernel_dev_pasid_hwpt(t->fk, name, 3), iommufd_hwpt_get_id(h));
	assert_int_equal(iommufd_device_detach_pasid(t->dev, 3), 0);
	assert_int_equal(iommufd_device_detach(t->dev), 0);

	/* IOMMU_DESTROY failing still frees the handle (logged) */
	fake_kernel_fail_match(t->fk, "IOMMU_DESTROY", 1, EIO);
	assert_int_equal(iommufd_hwpt_destroy(h), 0);
	fake_kernel_fail_clear(t->fk);
	assert_true(fk_logcap_has(&t->cap, "IOMMU_DESTROY of HWPT"));
	done(t);
}

static void test_pasid(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 4, false, false);
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_PASID };
	struct iommufd_hwpt *h, *h2, *plain;
	const char *name = "0000:00:0a.0";
	uint32_t devid = (uint32_t)iommufd_device_get_id(t->dev), hid, hid2;

	(void)state;
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), 0);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h2), 0);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, NULL, &plain), 0);
	hid = iommufd_hwpt_get_id(h);
	hid2 = iommufd_hwpt_get_id(h2);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_attach_pasid(t->dev, 5, h), 0);
	/* the width is probed first, once */
	fk_expect_trace(t->fk, fmt("ioctl iommufd IOMMU_GET_HW_INFO dev %u", devid),
			fmt("ioctl cdev/%s VFIO_DEVICE_ATTACH_IOMMUFD_PT %u pasid 5", name, hid));
	assert_int_equal(fake_kernel_dev_pasid_hwpt(t->fk, name, 5), hid);
	/* replace */
	assert_int_equal(iommufd_device_attach_pasid(t->dev, 5, h2), 0);
	fk_expect_trace(t->fk, fmt("ioctl cdev/%s VFIO_DEVICE_ATTACH_IOMMUFD_PT %u pasid 5", name, hid2));
	assert_int_equal(fake_kernel_dev_pasid_hwpt(t->fk, name, 5), hid2);
	assert_int_equal(iommufd_hwpt_destroy(h), 0); /* no longer used */
	assert_int_equal(iommufd_hwpt_destroy(h2), -EBUSY);
	fake_kernel_log_clear(t->fk);
	/* an HWPT without IOMMUFD_HWPT_PASID, a PASID beyond the 4-bit width */
	assert_int_equal(iommufd_device_attach_pasid(t->dev, 6, plain), -EINVAL);
	assert_int_equal(iommufd_device_attach_pasid(t->dev, 16, h2), -ERANGE);
	assert_true(fk_logcap_has(&t->cap, "4-bit PASID width"));
	assert_int_equal(iommufd_device_detach_pasid(t->dev, 6), -ENOENT);
	fk_expect_trace(t->fk, NULL);
	assert_int_equal(iommufd_device_detach_pasid(t->dev, 5), 0);
	fk_expect_trace(t->fk, fmt("ioctl cdev/%s VFIO_DEVICE_DETACH_IOMMUFD_PT pasid 5", name));
	assert_int_equal(fake_kernel_dev_pasid_hwpt(t->fk, name, 5), 0);
	assert_int_equal(iommufd_hwpt_destroy(h2), 0);
	/* a PASID attached when the device goes: its HWPT is free afterwards */
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), 0);
	assert_int_equal(iommufd_device_attach_pasid(t->dev, 1, h), 0);
	assert_int_equal(iommufd_device_attach_pasid(t->dev, 2, h), 0);
	assert_int_equal(iommufd_hwpt_destroy(h), -EBUSY);
	assert_int_equal(iommufd_device_destroy(t->dev), 0);
	assert_int_equal(iommufd_hwpt_destroy(h), 0);
	assert_int_equal(iommufd_hwpt_destroy(plain), 0);
	done(t);
}

/* The RID forms use the 6.6 argsz, the PASID forms the longer one: a spy
 * between the library and the fake kernel records what was passed. */
static int (*real_ioctl)(int fd, unsigned long req, void *arg);
static uint32_t spy_argsz[16], spy_flags[16];
static unsigned int spy_n;

static int spy_ioctl(int fd, unsigned long req, void *arg)
{
	if ((req == IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT || req == IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT) && spy_n < 16) {
		spy_argsz[spy_n] = ((uint32_t *)arg)[0];
		spy_flags[spy_n++] = ((uint32_t *)arg)[1];
	}
	return real_ioctl(fd, req, arg);
}

static void test_argsz(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct fk_dev_desc dd = { .name = "0000:00:0a.0", .group = 20, .max_pasid_log2 = 4 };
	struct ifd_sys spy = *fake_kernel_sys(fk);
	struct iommufd_ctx_opts co = { .sz = sizeof(co), .backend = IOMMUFD_BACKEND_CDEV };
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_PASID };
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev;
	struct iommufd_hwpt *h;
	static const uint32_t want_sz[] = { 12, 12, 16, 12, 8 }, want_fl[] = { 0, 0, 1, 1, 0 };

	(void)state;
	assert_int_equal(fake_kernel_add_device(fk, &dd), 0);
	real_ioctl = spy.ioctl;
	spy.ioctl = spy_ioctl;
	spy_n = 0;
	assert_int_equal(ifd_ctx_create_sys(&co, &spy, -1, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, "0000:00:0a.0", NULL, &dev), 0); /* RID attach at open */
	assert_int_equal(iommufd_hwpt_create(dev, ioas, &o, &h), 0);
	assert_int_equal(iommufd_device_attach_hwpt(dev, h), 0);
	assert_int_equal(iommufd_device_attach_pasid(dev, 1, h), 0);
	assert_int_equal(iommufd_device_detach_pasid(dev, 1), 0);
	assert_int_equal(iommufd_device_detach(dev), 0);
	assert_int_equal(spy_n, 5);
	for (unsigned int i = 0; i < 5; i++) {
		assert_int_equal(spy_argsz[i], want_sz[i]);
		assert_int_equal(spy_flags[i], want_fl[i]);
	}
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
}

static void test_no_pasid_width(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_PASID };
	struct iommufd_hwpt *h = NULL;
	struct iommufd_feature_status st = { .sz = sizeof(st) };

	(void)state;
	/* the IOMMU refuses a PASID-capable HWPT for a device without PASIDs */
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "PASID"));
	assert_int_equal(iommufd_feature_query(t->ctx, t->dev, IOMMUFD_FEATURE_PASID, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_DEVICE);
	assert_non_null(strstr(st.why, "max_pasid_log2"));
	done(t);
}

/* A PASID HWPT exists but the device has no PASID width: refused before the
 * kernel is asked to attach. */
static void test_pasid_probe_first(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 4, false, false);
	struct iommufd_device *a;
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_PASID };
	struct iommufd_hwpt *h;

	(void)state;
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &a), 0);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), 0);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_attach_pasid(a, 1, h), -EOPNOTSUPP);
	fk_expect_trace(t->fk, fmt("ioctl iommufd IOMMU_GET_HW_INFO dev %u", (uint32_t)iommufd_device_get_id(a)));
	assert_true(fk_logcap_has(&t->cap, "cannot use PASIDs"));
	/* cached: a second try asks nothing */
	assert_int_equal(iommufd_device_attach_pasid(a, 1, h), -EOPNOTSUPP);
	fk_expect_trace(t->fk, NULL);
	assert_int_equal(iommufd_hwpt_destroy(h), 0);
	done(t);
}

static void test_hw_info(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_hw_info hi = { .sz = sizeof(hi) };
	struct ifd_k_hw_info_vtd vtd;
	uint8_t big[64], small[4];

	(void)state;
	memset(big, 0xaa, sizeof(big));
	assert_int_equal(iommufd_device_get_hw_info(t->dev, &hi, big, sizeof(big)), 0);
	fk_expect_trace(t->fk, fmt("ioctl iommufd IOMMU_GET_HW_INFO dev %u", (uint32_t)iommufd_device_get_id(t->dev)));
	assert_int_equal(hi.type, IOMMUFD_HW_TYPE_VTD);
	assert_int_equal(hi.vendor_len, sizeof(vtd));
	assert_true(hi.capabilities & IOMMUFD_HW_CAP_DIRTY_TRACKING);
	assert_int_equal(hi.max_pasid_log2, 0);
	memcpy(&vtd, big, sizeof(vtd));
	assert_int_equal(vtd.cap_reg, FK_VTD_CAP);
	assert_int_equal(vtd.ecap_reg, FK_VTD_ECAP);
	for (size_t i = sizeof(vtd); i < sizeof(big); i++)
		assert_int_equal(big[i], 0); /* zero-filled */
	/* cached; a short buffer gets the head */
	assert_int_equal(iommufd_device_get_hw_info(t->dev, &hi, small, sizeof(small)), 0);
	assert_memory_equal(small, big, sizeof(small));
	assert_int_equal(iommufd_device_get_hw_info(t->dev, &hi, NULL, 0), 0);
	fk_expect_trace(t->fk, NULL);
	done(t);
}

static void test_feature_query_73(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	size_t probes;

	(void)state;
	for (int f = IOMMUFD_FEATURE_IOMMUFD; f <= IOMMUFD_FEATURE_CHANGE_PROCESS; f++) {
		memset(st.why, 'x', sizeof(st.why));
		st.reason = 99;
		int r = iommufd_feature_query(t->ctx, t->dev, (enum iommufd_feature)f, &st);

		if (f == IOMMUFD_FEATURE_PASID) {
			assert_int_equal(r, 0);
			assert_int_equal(st.reason, IOMMUFD_REASON_DEVICE);
		} else if (f >= IOMMUFD_FEATURE_MAP_FILE && r == 0) {
			/* issue-9 calls the fake kernel may not model: a kernel answer */
			assert_int_equal(st.reason, IOMMUFD_REASON_KERNEL);
			assert_non_null(strstr(st.why, "kernel lacks IOMMU_"));
		} else {
			if (r != 1)
				fail_msg("feature %d: %d (%s)", f, r, st.why);
			assert_int_equal(st.reason, IOMMUFD_REASON_NONE);
			assert_string_equal(st.why, "");
		}
	}
	/* context-wide: device-dependent features say NEED_DEVICE */
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_DIRTY_TRACKING, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_NEED_DEVICE);
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_NEST_PARENT, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_NEED_DEVICE);
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_HWPT, NULL), 1);
	/* unknown feature */
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, (enum iommufd_feature)999, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_LIBRARY);
	/* every answer cached: asking all again reaches the kernel not once */
	fake_kernel_log_clear(t->fk);
	for (int f = IOMMUFD_FEATURE_IOMMUFD; f <= IOMMUFD_FEATURE_CHANGE_PROCESS; f++)
		iommufd_feature_query(t->ctx, t->dev, (enum iommufd_feature)f, NULL);
	probes = fake_kernel_log_count(t->fk);
	assert_int_equal(probes, 0);
	done(t);
}

/* The probe of an ioctl: one call with size 0, not repeated. */
static void test_probe_trace(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	int objs = fake_kernel_iommufd_objects(t->fk, iommufd_ctx_get_fd(t->ctx));
	struct fk_call c;

	(void)state;
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_IOAS_COPY, NULL), 1);
	assert_int_equal(fake_kernel_log_count(t->fk), 1);
	assert_true(fake_kernel_log_get(t->fk, 0, &c));
	assert_int_equal(c.err, EINVAL); /* known, size below its minimum */
	assert_string_equal(c.target, "iommufd");
	assert_int_equal(fake_kernel_iommufd_objects(t->fk, iommufd_ctx_get_fd(t->ctx)), objs);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_IOAS_COPY, NULL), 1);
	assert_int_equal(fake_kernel_log_count(t->fk), 0);
	/* an error that is not an answer is not cached */
	fake_kernel_fail_match(t->fk, "", 1, EIO);
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_FAULT_QUEUE, NULL), -EIO);
	assert_int_equal(errno, EIO);
	fake_kernel_fail_clear(t->fk);
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_FAULT_QUEUE, NULL), 1);
	/* an unknown command (older kernel) is ENOTTY: cached as absent */
	fake_kernel_log_clear(t->fk);
	{
		struct fk_config cfg = { .iommufd_max_cmd = 0x93 };
		int r;

		done(t);
		t = mk(IOMMUFD_BACKEND_CDEV, &cfg, 0, false, false);
		r = iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_HW_QUEUE, NULL);
		assert_int_equal(r, 0);
		assert_int_equal(fake_kernel_log_count(t->fk), 1);
		assert_true(fake_kernel_log_get(t->fk, 0, &c));
		assert_int_equal(c.err, ENOTTY);
		fake_kernel_log_clear(t->fk);
		assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_HW_QUEUE, NULL), 0);
		assert_int_equal(fake_kernel_log_count(t->fk), 0);
	}
	done(t);
}

/* Dirty tracking and nesting per device: from hw_info, and by trying on a
 * scratch IOAS (destroyed again). */
static void test_feature_query_iommu(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, true, true);
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	int fd = iommufd_ctx_get_fd(t->ctx);
	int objs = fake_kernel_iommufd_objects(t->fk, fd);
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_DIRTY_TRACKING };
	struct iommufd_hwpt *h = NULL;

	(void)state;
	assert_int_equal(iommufd_feature_query(t->ctx, t->dev, IOMMUFD_FEATURE_DIRTY_TRACKING, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_IOMMU);
	assert_non_null(strstr(st.why, "0000:00:0a.0 cannot track dirty pages"));
	assert_int_equal(iommufd_feature_query(t->ctx, t->dev, IOMMUFD_FEATURE_NEST_PARENT, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_IOMMU);
	assert_non_null(strstr(st.why, "nesting parent"));
	assert_int_equal(fake_kernel_iommufd_objects(t->fk, fd), objs); /* scratch objects gone */
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "dirty-tracking"));
	assert_null(h);
	done(t);
}

static void test_nest_probe_yes(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	int fd = iommufd_ctx_get_fd(t->ctx);
	int objs = fake_kernel_iommufd_objects(t->fk, fd);
	uint32_t devid = (uint32_t)iommufd_device_get_id(t->dev);

	(void)state;
	/* the kernel probes (GET_DIRTY_BITMAP, HWPT_ALLOC) first answer EINVAL */
	assert_int_equal(iommufd_feature_query(t->ctx, t->dev, IOMMUFD_FEATURE_NEST_PARENT, NULL), 1);
	assert_int_equal(fake_kernel_iommufd_objects(t->fk, fd), objs);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", fmt("IOMMU_HWPT_ALLOC dev %u pt", devid)), 1);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", "IOMMU_GET_HW_INFO"), 1);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", "IOMMU_DESTROY"), 2);
	done(t);
}

/* Older kernels: what they lack is KERNEL, and HWPT calls say EOPNOTSUPP. */
static void test_old_kernels(void **state)
{
	static const struct { unsigned int max; int hwpt, hw_info, dirty_kernel, fault, copy, adopt; } k[] = {
		{ 0x88, 0, 0, 0, 0, 1, 0 }, /* 6.2 */
		{ 0x8a, 1, 1, 0, 0, 1, 1 }, /* 6.6 */
		{ 0x8d, 1, 1, 1, 0, 1, 1 }, /* 6.8 */
		{ 0x8e, 1, 1, 1, 1, 1, 1 }, /* 6.11 */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		struct fk_config cfg = { .flavour = FK_LINUX_7_3, .iommufd_max_cmd = k[i].max };
		struct t *t = mk(IOMMUFD_BACKEND_CDEV, &cfg, 0, false, false);
		struct iommufd_feature_status st = { .sz = sizeof(st) };
		struct iommufd_hwpt *h = NULL;
		struct iommufd_hw_info hi = { .sz = sizeof(hi) };
		int r;

		assert_int_equal(iommufd_feature_query(t->ctx, t->dev, IOMMUFD_FEATURE_HWPT, &st), k[i].hwpt);
		if (!k[i].hwpt) {
			assert_int_equal(st.reason, IOMMUFD_REASON_KERNEL);
			assert_non_null(strstr(st.why, "kernel lacks IOMMU_HWPT_ALLOC (needs Linux 6.6+"));
			assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, NULL, &h), -EOPNOTSUPP);
			assert_true(fk_logcap_has(&t->cap, "kernel lacks IOMMU_HWPT_ALLOC"));
			assert_null(h);
		}
		assert_int_equal(iommufd_feature_query(t->ctx, t->dev, IOMMUFD_FEATURE_HW_INFO, NULL), k[i].hw_info);
		r = iommufd_device_get_hw_info(t->dev, &hi, NULL, 0);
		assert_int_equal(r, k[i].hw_info ? 0 : -EOPNOTSUPP);
		r = iommufd_feature_query(t->ctx, t->dev, IOMMUFD_FEATURE_DIRTY_TRACKING, &st);
		assert_int_equal(r, k[i].dirty_kernel);
		if (!r)
			assert_int_equal(st.reason, IOMMUFD_REASON_KERNEL);
		r = iommufd_feature_query(t->ctx, t->dev, IOMMUFD_FEATURE_FAULT_QUEUE, &st);
		assert_int_equal(r, k[i].fault);
		if (!r) {
			assert_int_equal(st.reason, IOMMUFD_REASON_KERNEL);
			assert_non_null(strstr(st.why, "kernel lacks"));
		}
		assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_IOAS_COPY, NULL), k[i].copy);
		assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_DEVICE_ADOPT_ID, NULL),
				 k[i].adopt);
		assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_MAP_FILE, &st), 0);
		assert_int_equal(st.reason, IOMMUFD_REASON_KERNEL);
		done(t);
	}
}

static void test_group_backend(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_GROUP, NULL, 0, false, false);
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	struct iommufd_hwpt *h = NULL;
	struct iommufd_hw_info hi = { .sz = sizeof(hi) };
	static const enum iommufd_feature no[] = { IOMMUFD_FEATURE_HWPT, IOMMUFD_FEATURE_HWPT_REPLACE,
						   IOMMUFD_FEATURE_NEST_PARENT, IOMMUFD_FEATURE_DIRTY_TRACKING,
						   IOMMUFD_FEATURE_PASID };

	(void)state;
	/* Fault queues are the iommufd's: they exist on GROUP too (what they
	 * serve needs HWPTs, which GROUP devices cannot have). */
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_FAULT_QUEUE, NULL), 1);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_int_equal(iommufd_feature_query(t->ctx, t->dev, no[i], &st), 0);
		assert_int_equal(st.reason, IOMMUFD_REASON_BACKEND);
		assert_non_null(strstr(st.why, "group backend"));
	}
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_IOMMUFD, NULL), 1);
	assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_IOAS_COPY, NULL), 1);
	assert_int_equal(iommufd_feature_query(t->ctx, t->dev, IOMMUFD_FEATURE_HW_INFO, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_BACKEND);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, NULL, &h), -EOPNOTSUPP);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "the group backend has no HWPTs"));
	assert_int_equal(iommufd_device_detach(t->dev), -EOPNOTSUPP);
	assert_int_equal(iommufd_device_detach_pasid(t->dev, 1), -EOPNOTSUPP);
	assert_int_equal(iommufd_device_get_hw_info(t->dev, &hi, NULL, 0), -EOPNOTSUPP);
	fk_expect_trace(t->fk, NULL);
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), t->ioas);
	done(t);
}

static void test_type1_backend(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_TYPE1, NULL, 0, false, false);
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	struct iommufd_hwpt *h = NULL;
	struct iommufd_device *d = NULL;

	(void)state;
	for (int f = IOMMUFD_FEATURE_IOMMUFD; f <= IOMMUFD_FEATURE_CHANGE_PROCESS; f++) {
		if (f == IOMMUFD_FEATURE_DIRTY_TRACKING && t->ctx->ops->feature_query)
			continue; /* the type1 backend's own answer (dirty.c) */
		assert_int_equal(iommufd_feature_query(t->ctx, t->dev, (enum iommufd_feature)f, &st), 0);
		assert_int_equal(st.reason, IOMMUFD_REASON_BACKEND);
		assert_non_null(strstr(st.why, "type1"));
	}
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, NULL, &h), -EOPNOTSUPP);
	assert_int_equal(iommufd_device_adopt_id(t->ctx, 1, -1, NULL, &d), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "needs /dev/iommu"));
	assert_int_equal(iommufd_device_detach(t->dev), -EOPNOTSUPP);
	assert_null(d);
	assert_null(h);
	fk_expect_trace(t->fk, NULL);
	done(t);
}

/* Bind a cdev behind the library's back, as a VMM's management layer would. */
static uint32_t bind_elsewhere(struct t *t, const char *name, int *fd_out)
{
	const struct ifd_sys *sys = fake_kernel_sys(t->fk);
	struct ifd_k_vfio_device_bind_iommufd b = { .argsz = IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_BASE,
						    .iommufd = iommufd_ctx_get_fd(t->ctx) };
	int fd = sys->open(fake_kernel_cdev_path(t->fk, name), O_RDWR | O_CLOEXEC, 0);

	assert_true(fd >= FK_FD_BASE);
	assert_int_equal(sys->ioctl(fd, IFD_K_VFIO_DEVICE_BIND_IOMMUFD, &b), 0);
	*fd_out = fd;
	return b.out_devid;
}

static void test_adopt_id(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_device *d = NULL, *d2 = NULL;
	struct iommufd_hwpt *h;
	int fd, nfds;
	uint32_t id = bind_elsewhere(t, FK_DEV_B, &fd);

	(void)state;
	/* unknown ID */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_adopt_id(t->ctx, id + 100, -1, NULL, &d), -ENOENT);
	assert_true(fk_logcap_has(&t->cap, "no device with iommufd device ID"));
	fk_expect_trace(t->fk, fmt("ioctl iommufd IOMMU_GET_HW_INFO dev %u = ENOENT", id + 100));
	assert_null(d);
	/* the library's own device: already in this context */
	assert_int_equal(iommufd_device_adopt_id(t->ctx, (uint32_t)iommufd_device_get_id(t->dev), -1, NULL, &d),
			 -EBUSY);
	nfds = fake_kernel_open_fds(t->fk);
	assert_int_equal(iommufd_device_adopt_id(t->ctx, id, fd, NULL, &d), 0);
	assert_int_equal(fake_kernel_open_fds(t->fk), nfds); /* the caller's fd, no duplicate kept */
	assert_int_equal(iommufd_device_get_fd(d), fd);
	assert_string_equal(iommufd_device_get_name(d), FK_DEV_B);
	assert_int_equal(iommufd_device_get_id(d), id);
	assert_null(iommufd_device_get_ioas(d));
	assert_true(iommufd_device_get_num_regions(d) > 0);
	assert_int_equal(iommufd_device_adopt_id(t->ctx, id, -1, NULL, &d2), -EBUSY);
	/* attach it to an HWPT and back to the IOAS; destroy unbinds */
	assert_int_equal(iommufd_hwpt_create(d, t->ioas, NULL, &h), 0);
	assert_int_equal(iommufd_device_attach_hwpt(d, h), 0);
	assert_ptr_equal(iommufd_device_get_ioas(d), t->ioas);
	assert_int_equal(iommufd_ioas_destroy(t->ioas), -EBUSY);
	assert_int_equal(iommufd_device_attach(d, t->ioas), 0);
	assert_int_equal(fake_kernel_dev_ioas(t->fk, FK_DEV_B), ioas_id(t->ioas));
	assert_int_equal(iommufd_device_destroy(d), 0);
	assert_false(fake_kernel_fd_is_open(t->fk, fd));
	assert_int_equal(iommufd_hwpt_destroy(h), 0);
	done(t);
}

/* Adopted without its fd: the library reads, never attaches. */
static void test_adopt_id_no_fd(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_device *d = NULL;
	struct iommufd_hwpt *h;
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	struct iommufd_hw_info hi = { .sz = sizeof(hi) };
	int fd;
	uint32_t id = bind_elsewhere(t, FK_DEV_B, &fd);

	(void)state;
	assert_int_equal(iommufd_device_adopt_id(t->ctx, id, -1, NULL, &d), 0);
	assert_int_equal(iommufd_device_get_hw_info(d, &hi, NULL, 0), 0); /* cached by the adopt */
	assert_int_equal(iommufd_hwpt_create(d, t->ioas, NULL, &h), 0);     /* only the ID is needed */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_device_attach_hwpt(d, h), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "adopted by ID without its VFIO fd"));
	assert_int_equal(iommufd_device_attach(d, t->ioas), -EOPNOTSUPP);
	assert_int_equal(iommufd_device_detach(d), -EOPNOTSUPP);
	assert_int_equal(iommufd_device_attach_pasid(d, 1, h), -EOPNOTSUPP); /* no fd: the device cannot */
	fk_expect_trace(t->fk, NULL);
	assert_int_equal(iommufd_feature_query(t->ctx, d, IOMMUFD_FEATURE_HWPT, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_DEVICE);
	assert_int_equal(iommufd_hwpt_destroy(h), 0);
	assert_int_equal(iommufd_device_destroy(d), 0);
	/* the caller's binding is untouched */
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	assert_int_equal(fake_kernel_cdev_bound(t->fk, fd), 1);
	fake_kernel_sys(t->fk)->close(fd);
	done(t);
}

/* A failed adopt leaves the caller's fd open, bound and unduplicated. */
static void test_adopt_id_failure_keeps_fd(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_device *d = NULL;
	int fd, nfds;
	uint32_t id = bind_elsewhere(t, FK_DEV_B, &fd);

	(void)state;
	nfds = fake_kernel_open_fds(t->fk);
	fake_kernel_fail_match(t->fk, "VFIO_DEVICE_GET_INFO", 1, EIO);
	assert_int_equal(iommufd_device_adopt_id(t->ctx, id, fd, NULL, &d), -EIO);
	fake_kernel_fail_clear(t->fk);
	assert_null(d);
	assert_int_equal(fake_kernel_open_fds(t->fk), nfds);
	assert_true(fake_kernel_fd_is_open(t->fk, fd));
	assert_int_equal(iommufd_device_adopt_id(t->ctx, id, fd, NULL, &d), 0);
	done(t);
}

static void test_fork(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 4, false, false);
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_PASID };
	struct iommufd_hwpt *h, *h2;
	int status = -1;
	pid_t pid;

	(void)state;
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h), 0);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &o, &h2), 0);
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, h), 0);
	fake_kernel_log_clear(t->fk);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct iommufd_hwpt *x = NULL;
		struct iommufd_device *d = NULL;
		struct iommufd_hw_info hi = { .sz = sizeof(hi) };
		int bad = 0;

		bad |= iommufd_hwpt_create(t->dev, t->ioas, NULL, &x) != -ECHILD;
		bad |= (iommufd_device_attach_hwpt(t->dev, h2) != -ECHILD) << 1;
		bad |= (iommufd_device_detach(t->dev) != -ECHILD) << 2;
		bad |= (iommufd_device_attach_pasid(t->dev, 1, h2) != -ECHILD) << 3;
		bad |= (iommufd_device_detach_pasid(t->dev, 1) != -ECHILD) << 4;
		bad |= (iommufd_feature_query(t->ctx, t->dev, IOMMUFD_FEATURE_HWPT, NULL) != -ECHILD) << 5;
		bad |= (iommufd_device_get_hw_info(t->dev, &hi, NULL, 0) != -ECHILD) << 6;
		bad |= (iommufd_device_adopt_id(t->ctx, 1, -1, NULL, &d) != -ECHILD) << 7;
		bad |= (iommufd_device_attach(t->dev, t->ioas) != -ECHILD) << 8;
		/* destroy only frees: no IOMMU_DESTROY */
		bad |= (iommufd_hwpt_destroy(h2) != 0) << 9;
		bad |= (fake_kernel_log_find(t->fk, "ioctl", NULL) != 0) << 10;
		_exit(bad);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the parent goes on */
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, h2), 0);
	assert_int_equal(iommufd_device_detach(t->dev), 0);
	done(t);
}

/* Devices attach and detach on two threads while a third queries: the
 * books stay consistent (ctx->lock). */
struct thr {
	struct t *t;
	struct iommufd_device *dev;
	struct iommufd_hwpt *h;
	int err;
};

static void *thr_flip(void *arg)
{
	struct thr *a = arg;

	for (int i = 0; i < 200 && !a->err; i++) {
		if (iommufd_device_attach_hwpt(a->dev, a->h) < 0 || iommufd_device_attach(a->dev, a->t->ioas) < 0)
			a->err = errno;
	}
	return NULL;
}

static void *thr_query(void *arg)
{
	struct thr *a = arg;

	for (int i = 0; i < 200 && !a->err; i++)
		if (iommufd_feature_query(a->t->ctx, a->dev, IOMMUFD_FEATURE_DIRTY_TRACKING, NULL) != 1)
			a->err = EPROTO;
	return NULL;
}

static void test_threads(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, NULL, 0, false, false);
	struct iommufd_device *b;
	struct thr a[3];
	pthread_t th[3];

	(void)state;
	fake_kernel_log_enable(t->fk, false);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &b), 0);
	a[0] = (struct thr){ .t = t, .dev = t->dev };
	a[1] = (struct thr){ .t = t, .dev = b };
	a[2] = (struct thr){ .t = t, .dev = b };
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, NULL, &a[0].h), 0);
	assert_int_equal(iommufd_hwpt_create(b, t->ioas, NULL, &a[1].h), 0);
	assert_int_equal(pthread_create(&th[0], NULL, thr_flip, &a[0]), 0);
	assert_int_equal(pthread_create(&th[1], NULL, thr_flip, &a[1]), 0);
	assert_int_equal(pthread_create(&th[2], NULL, thr_query, &a[2]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(a[i].err, 0);
	assert_int_equal(t->ioas->ndevices, 2);
	assert_int_equal(iommufd_hwpt_destroy(a[0].h), 0);
	assert_int_equal(iommufd_hwpt_destroy(a[1].h), 0);
	done(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_lifecycle_trace, fk_teardown),
		cmocka_unit_test_teardown(test_attach_ioas_from_hwpt, fk_teardown),
		cmocka_unit_test_teardown(test_replace_between_ioas, fk_teardown),
		cmocka_unit_test_teardown(test_bad_args, fk_teardown),
		cmocka_unit_test_teardown(test_vendor_data, fk_teardown),
		cmocka_unit_test_teardown(test_other_context, fk_teardown),
		cmocka_unit_test_teardown(test_injected_failures, fk_teardown),
		cmocka_unit_test_teardown(test_pasid, fk_teardown),
		cmocka_unit_test_teardown(test_argsz, fk_teardown),
		cmocka_unit_test_teardown(test_no_pasid_width, fk_teardown),
		cmocka_unit_test_teardown(test_pasid_probe_first, fk_teardown),
		cmocka_unit_test_teardown(test_hw_info, fk_teardown),
		cmocka_unit_test_teardown(test_feature_query_73, fk_teardown),
		cmocka_unit_test_teardown(test_probe_trace, fk_teardown),
		cmocka_unit_test_teardown(test_feature_query_iommu, fk_teardown),
		cmocka_unit_test_teardown(test_nest_probe_yes, fk_teardown),
		cmocka_unit_test_teardown(test_old_kernels, fk_teardown),
		cmocka_unit_test_teardown(test_group_backend, fk_teardown),
		cmocka_unit_test_teardown(test_type1_backend, fk_teardown),
		cmocka_unit_test_teardown(test_adopt_id, fk_teardown),
		cmocka_unit_test_teardown(test_adopt_id_no_fd, fk_teardown),
		cmocka_unit_test_teardown(test_adopt_id_failure_keeps_fd, fk_teardown),
		cmocka_unit_test_teardown(test_fork, fk_teardown),
		cmocka_unit_test_teardown(test_threads, fk_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
