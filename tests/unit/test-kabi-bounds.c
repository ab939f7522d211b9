/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The backends against the kernel's answers, good and bad: malformed
 * answers must be refused without reading outside the buffers (defect 4),
 * an allocation failure must not leak (defect 5), a pin failure at attach
 * must name the limit and whose it is (defect 6); and the backend calls of
 * Core v2 (record map, range unmap, unmap all, copy, allow_iovas, options)
 * on each backend, at the ioctl level.
 *
 * Linked with -Wl,--wrap=calloc,--wrap=free: the library's callocs can be
 * failed and the blocks they return followed until freed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "fake-kernel.h"

#define PG 0x1000ULL
#define RW (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE)

static uint8_t buf[64 * PG] __attribute__((aligned(PG)));

/* ---- calloc failure injection and leak tracking ---- */

void *__real_calloc(size_t n, size_t sz);
void __real_free(void *p);
void *__wrap_calloc(size_t n, size_t sz);
void __wrap_free(void *p);

#define NTRACK 64
static struct {
	bool on;
	bool in_kernel;        /* the fake kernel's own allocations are not the library's */
	unsigned long fail_at; /* 1 = the next calloc fails; 0 = none */
	unsigned long calls;
	void *live[NTRACK];
} wrap;

void *__wrap_calloc(size_t n, size_t sz)
{
	void *p;

	if (!wrap.on || wrap.in_kernel)
		return __real_calloc(n, sz);
	if (++wrap.calls == wrap.fail_at)
		return NULL;
	p = __real_calloc(n, sz);
	for (int i = 0; p && i < NTRACK; i++) {
		if (!wrap.live[i]) {
			wrap.live[i] = p;
			break;
		}
	}
	return p;
}

void __wrap_free(void *p)
{
	for (int i = 0; p && i < NTRACK; i++)
		if (wrap.live[i] == p)
			wrap.live[i] = NULL;
	__real_free(p);
}

static const struct ifd_sys *kernel_sys;

static int ioctl_marked(int fd, unsigned long req, void *arg)
{
	int r;

	wrap.in_kernel = true;
	r = kernel_sys->ioctl(fd, req, arg);
	wrap.in_kernel = false;
	return r;
}

/* The fake kernel's calls, with its ioctls marked as the kernel's. */
static const struct ifd_sys *marked_sys(struct fake_kernel *fk)
{
	static struct ifd_sys sys;

	kernel_sys = fake_kernel_sys(fk);
	sys = *kernel_sys;
	sys.ioctl = ioctl_marked;
	return &sys;
}

static void track(unsigned long fail_at)
{
	memset(&wrap, 0, sizeof(wrap));
	wrap.fail_at = fail_at;
	wrap.on = true;
}

/* Blocks calloc'ed since track() and not freed. */
static int untrack(void)
{
	int n = 0;

	wrap.on = false;
	for (int i = 0; i < NTRACK; i++)
		n += wrap.live[i] != NULL;
	return n;
}

/* ---- helpers ---- */

static int teardown(void **state)
{
	(void)state;
	wrap.on = false;
	fake_kernel_destroy_current();
	return 0;
}

static int ctx_with(struct fake_kernel *fk, enum iommufd_backend b, enum iommufd_pin_accounting acct,
		    struct fk_logcap *cap, struct iommufd_ctx **out)
{
	struct iommufd_ctx_opts o = {
		.sz = sizeof(o),
		.backend = b,
		.log_fn = cap ? fk_logcap_fn : NULL,
		.log_data = cap,
		.log_level = cap ? IOMMUFD_LOG_DEBUG : 0,
		.pin_accounting = acct,
	};

	return ifd_ctx_create_sys(&o, fake_kernel_sys(fk), -1, out);
}

static void finish(struct fake_kernel *fk)
{
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	assert_int_equal(fake_kernel_live_files(fk), 0);
	fake_kernel_destroy(fk);
}

static struct iommufd_map rec(uint64_t iova, uint64_t len, const void *va, uint32_t flags)
{
	return (struct iommufd_map){ .iova = iova, .len = len, .vaddr = (uintptr_t)va, .flags = flags };
}

/* ------------------------------------------------------------------------ */
/* Defect 4: malformed answers                                               */

/* TYPE1: the device attach reads the container's ranges (VFIO_IOMMU_GET_INFO). */
static void type1_malformed(enum fk_malform what)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fk_logcap cap;

	fk_logcap_init(&cap);
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_TYPE1, 0, &cap, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	fake_kernel_set_malform(fk, what);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), -EPROTO);
	assert_null(dev);
	assert_true(fk_logcap_has(&cap, "malformed capability chain"));
	/* nothing is left half-done: a good answer lets the same attach work */
	fake_kernel_set_malform(fk, FK_MALFORM_NONE);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);
}

static void test_type1_cap_past_argsz(void **state)
{
	(void)state;
	type1_malformed(FK_MALFORM_CAP_PAST_ARGSZ);
}

static void test_type1_cap_misaligned(void **state)
{
	(void)state;
	type1_malformed(FK_MALFORM_CAP_MISALIGNED);
}

static void test_type1_nr_iovas_huge(void **state)
{
	(void)state;
	type1_malformed(FK_MALFORM_NR_IOVAS_HUGE);
}

static void test_type1_cap_loop(void **state)
{
	(void)state;
	type1_malformed(FK_MALFORM_CAP_LOOP);
}

/* iommufd: a success that claims more ranges than the buffer held. */
static void test_iova_ranges_num_over(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_CDEV, 0, &cap, &ctx), 0);
	fake_kernel_set_malform(fk, FK_MALFORM_NUM_IOVAS_OVER);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), -EPROTO);
	assert_null(ioas);
	assert_true(fk_logcap_has(&cap, "implausible"));
	fake_kernel_set_malform(fk, FK_MALFORM_NONE);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);
}

/* ------------------------------------------------------------------------ */
/* Defect 5: type1_query frees its ranges when a later allocation fails      */

static void test_type1_query_enomem_no_leak(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct ifd_iova_range *r = (void *)1;
	uint64_t align;
	size_t n;

	struct iommufd_ctx_opts o = { .sz = sizeof(o), .backend = IOMMUFD_BACKEND_TYPE1 };

	(void)state;
	assert_int_equal(ifd_ctx_create_sys(&o, marked_sys(fk), -1, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	/* the query works, and frees everything it does not hand back */
	track(0);
	assert_int_equal(ctx->ops->ioas_query(ioas, &r, &n, &align), 0);
	assert_true(n >= 2); /* the MSI window splits the space */
	free(r);
	assert_int_equal(untrack(), 0);
	/* each of its allocations failing in turn: -ENOMEM, nothing kept */
	for (unsigned long k = 1; k <= 3; k++) {
		track(k);
		r = (void *)1;
		assert_int_equal(ctx->ops->ioas_query(ioas, &r, &n, &align), -ENOMEM);
		assert_null(r);
		assert_int_equal(untrack(), 0);
	}
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

/* ------------------------------------------------------------------------ */
/* Defect 6 and RLIMIT_MODE: the pin failure at attach, per accounting      */

static void attach_enomem(enum iommufd_backend b, bool cap_sys_resource, enum iommufd_pin_accounting acct,
			  const char *whose)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .cap_sys_resource = cap_sys_resource };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fk_logcap cap;
	uint64_t iova;

	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = 5 });
	fk_logcap_init(&cap);
	assert_int_equal(ctx_with(fk, b, acct, &cap, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	/* no device yet: iommufd pins nothing at map time */
	assert_int_equal(iommufd_ioas_map(ioas, buf, 8 * PG, RW, NULL, &iova), 0);
	assert_int_equal(fake_kernel_pinned(fk), 0);
	fake_kernel_set_memlock(fk, 4 * PG);
	fk_logcap_clear(&cap);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), -ENOMEM);
	assert_true(fk_logcap_has(&cap, "RLIMIT_MEMLOCK"));
	assert_true(fk_logcap_has(&cap, whose));
	assert_true(fk_logcap_has(&cap, "32768 bytes")); /* what the attach pins */
	assert_int_equal(fake_kernel_pinned(fk), 0);
	fake_kernel_set_memlock(fk, 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(fake_kernel_pinned(fk), 8 * PG);
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);
}

static void test_cdev_attach_enomem_user(void **state)
{
	(void)state;
	attach_enomem(IOMMUFD_BACKEND_CDEV, false, IOMMUFD_PIN_ACCOUNT_DEFAULT, "every process of this user");
}

static void test_group_attach_enomem_user(void **state)
{
	(void)state;
	attach_enomem(IOMMUFD_BACKEND_GROUP, false, IOMMUFD_PIN_ACCOUNT_DEFAULT, "every process of this user");
}

static void test_cdev_attach_enomem_process(void **state)
{
	(void)state;
	attach_enomem(IOMMUFD_BACKEND_CDEV, true, IOMMUFD_PIN_ACCOUNT_PROCESS, "this process's RLIMIT_MEMLOCK");
}

static void test_type1_attach_enomem(void **state)
{
	(void)state;
	/* type1 pins the recorded maps at the first attach (replay) */
	attach_enomem(IOMMUFD_BACKEND_TYPE1, false, IOMMUFD_PIN_ACCOUNT_DEFAULT, "charges each process");
}

static void test_pin_accounting(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3 };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_ctx *ctx = NULL;
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	/* default: the mode in force is learnt, nothing is set */
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_CDEV, IOMMUFD_PIN_ACCOUNT_DEFAULT, &cap, &ctx), 0);
	assert_int_equal(ctx->pin_mode, IOMMUFD_PIN_ACCOUNT_USER);
	assert_int_equal(fake_kernel_log_find(fk, "ioctl", "IOMMU_OPTION RLIMIT_MODE SET"), 0);
	iommufd_ctx_destroy(ctx);
	/* USER is already in force: no SET, so no privilege needed */
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_CDEV, IOMMUFD_PIN_ACCOUNT_USER, &cap, &ctx), 0);
	assert_int_equal(fake_kernel_log_find(fk, "ioctl", "IOMMU_OPTION RLIMIT_MODE SET"), 0);
	iommufd_ctx_destroy(ctx);
	/* PROCESS without CAP_SYS_RESOURCE: the kernel's -EPERM, explained */
	ctx = NULL;
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_CDEV, IOMMUFD_PIN_ACCOUNT_PROCESS, &cap, &ctx), -EPERM);
	assert_null(ctx);
	assert_true(fk_logcap_has(&cap, "CAP_SYS_RESOURCE"));
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	/* TYPE1 cannot charge the user */
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_TYPE1, IOMMUFD_PIN_ACCOUNT_USER, &cap, &ctx), -EOPNOTSUPP);
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_TYPE1, IOMMUFD_PIN_ACCOUNT_DEFAULT, &cap, &ctx), 0);
	assert_int_equal(ctx->pin_mode, IOMMUFD_PIN_ACCOUNT_PROCESS);
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);

	cfg.cap_sys_resource = true;
	fk = fake_kernel_create(&cfg);
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_GROUP, IOMMUFD_PIN_ACCOUNT_PROCESS, NULL, &ctx), 0);
	assert_int_equal(ctx->pin_mode, IOMMUFD_PIN_ACCOUNT_PROCESS);
	assert_int_equal(fake_kernel_rlimit_mode(fk, ctx->fd), 1);
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

/* ------------------------------------------------------------------------ */
/* The Core v2 backend calls, at the ioctl level                             */

static void test_iommufd_range_unmap(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_map a = rec(0x10000, 2 * PG, buf, RW), b = rec(0x12000, PG, buf + 2 * PG, RW),
			   c = rec(0x20000, 4 * PG, buf + 4 * PG, IOMMUFD_MAP_READ);
	struct fk_map km[4];
	uint64_t got = 1;

	(void)state;
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_CDEV, 0, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(ctx->ops->map(ioas, &a), 0);
	assert_int_equal(ctx->ops->map(ioas, &b), 0);
	assert_int_equal(ctx->ops->map(ioas, &c), 0);
	assert_int_equal(fake_kernel_get_maps(fk, ctx->fd, ioas->id, km, 4), 3);
	assert_int_equal(km[2].prot, 1);
	/* a range that splits c: the kernel unmaps a and b, then -ENOENT */
	assert_int_equal(ctx->ops->unmap(ioas, 0x10000, 0x12000, &got), -ENOENT);
	assert_int_equal(got, 0);
	assert_int_equal(fake_kernel_get_maps(fk, ctx->fd, ioas->id, km, 4), 1);
	assert_int_equal(km[0].iova, 0x20000);
	/* nothing in the range */
	assert_int_equal(ctx->ops->unmap(ioas, 0x30000, PG, &got), -ENOENT);
	/* everything, in one call, with the bytes */
	assert_int_equal(ctx->ops->map(ioas, &a), 0);
	fake_kernel_log_clear(fk);
	assert_int_equal(ctx->ops->unmap_all(ioas, &got), 0);
	assert_int_equal(got, 6 * PG);
	assert_int_equal(fake_kernel_log_find(fk, "ioctl", "IOMMU_IOAS_UNMAP"), 1);
	assert_int_equal(fake_kernel_get_maps(fk, ctx->fd, ioas->id, km, 4), 0);
	/* all of an empty IOAS is not an error */
	assert_int_equal(ctx->ops->unmap_all(ioas, &got), 0);
	assert_int_equal(got, 0);
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

static void test_type1_range_unmap(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_map a = rec(0x10000, 2 * PG, buf, RW), b = rec(0x12000, PG, buf + 2 * PG, RW);
	struct fk_map km[4];
	uint64_t got = 1;

	(void)state;
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_TYPE1, 0, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	/* no IOMMU yet: recorded and marked, no call; unmapped from the records */
	fake_kernel_log_clear(fk);
	assert_int_equal(ctx->ops->map(ioas, &a), 0);
	assert_true(a.bstate != 0); /* the backend's mark: replay it on the first attach */
	assert_int_equal(fake_kernel_log_count(fk), 0);
	assert_int_equal(ctx->ops->unmap(ioas, a.iova, a.len, &got), 0);
	assert_int_equal(got, a.len);
	assert_int_equal(ctx->ops->unmap_all(ioas, &got), 0);
	assert_int_equal(fake_kernel_log_count(fk), 0);

	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	a.state = b.state = 0;
	a.bstate = b.bstate = 0;
	assert_int_equal(ctx->ops->map(ioas, &a), 0);
	assert_int_equal(ctx->ops->map(ioas, &b), 0);
	assert_true(a.bstate && b.bstate);
	/* type1v2: a range that splits a mapping changes nothing */
	assert_int_equal(ctx->ops->unmap(ioas, 0x11000, 2 * PG, &got), -EINVAL);
	assert_int_equal(fake_kernel_get_maps(fk, ioas->container_fd, 0, km, 4), 2);
	/* a union of whole mappings goes in one call */
	fake_kernel_log_clear(fk);
	assert_int_equal(ctx->ops->unmap(ioas, 0x10000, 3 * PG, &got), 0);
	assert_int_equal(got, 3 * PG);
	fk_expect_trace(fk, "ioctl container VFIO_IOMMU_UNMAP_DMA 0x10000+0x3000");
	/* everything: VFIO_DMA_UNMAP_FLAG_ALL (the container offers VFIO_UNMAP_ALL) */
	a.state = b.state = 0;
	a.bstate = b.bstate = 0;
	assert_int_equal(ctx->ops->map(ioas, &a), 0);
	assert_int_equal(ctx->ops->map(ioas, &b), 0);
	fake_kernel_log_clear(fk);
	assert_int_equal(ctx->ops->unmap_all(ioas, &got), 0);
	assert_int_equal(got, 3 * PG);
	fk_expect_trace(fk, "ioctl container VFIO_IOMMU_UNMAP_DMA 0+0 ALL");
	assert_int_equal(fake_kernel_pinned(fk), 0);
	/* and no such calls where the kernel has none */
	assert_null(ctx->ops->copy);
	assert_null(ctx->ops->allow_iovas);
	assert_null(ctx->ops->set_huge_pages);
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

static void test_iommufd_copy(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *src = NULL, *dst = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_map a = rec(0x10000, 2 * PG, buf, RW), b = rec(0x12000, 2 * PG, buf + 8 * PG, IOMMUFD_MAP_READ);
	struct fk_map km[4];
	uint64_t pinned;

	(void)state;
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_CDEV, 0, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &src), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &dst), 0);
	assert_int_equal(iommufd_device_open(src, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(ctx->ops->map(src, &a), 0);
	assert_int_equal(ctx->ops->map(src, &b), 0);
	pinned = fake_kernel_pinned(fk);
	assert_int_equal(pinned, 4 * PG);
	/* a range spanning part of a and part of b: two pieces, no new pin */
	assert_int_equal(ctx->ops->copy(dst, src, 0x11000, 2 * PG, 0x40000, IOMMUFD_MAP_READ), 0);
	assert_int_equal(fake_kernel_get_maps(fk, ctx->fd, dst->id, km, 4), 2);
	assert_int_equal(km[0].iova, 0x40000);
	assert_int_equal(km[0].len, PG);
	assert_int_equal(km[0].va, (uintptr_t)buf + PG);
	assert_int_equal(km[1].iova, 0x41000);
	assert_int_equal(km[1].va, (uintptr_t)buf + 8 * PG);
	assert_int_equal(fake_kernel_pinned(fk), pinned);
	/* write access the read-only source does not give */
	assert_int_equal(ctx->ops->copy(dst, src, 0x12000, PG, 0x50000, RW), -EPERM);
	/* a hole in the source */
	assert_int_equal(ctx->ops->copy(dst, src, 0x13000, 2 * PG, 0x50000, IOMMUFD_MAP_READ), -ENOENT);
	/* the destination taken */
	assert_int_equal(ctx->ops->copy(dst, src, 0x10000, PG, 0x41000, IOMMUFD_MAP_READ), -EEXIST);
	assert_int_equal(fake_kernel_get_maps(fk, ctx->fd, dst->id, km, 4), 2);
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

static void test_iommufd_allow_iovas(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct ifd_iova_range low = { 0x100000, 0x3fffffff }, msi = { 0xfee00000, 0xfeefffff };
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_CDEV, 0, &cap, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	/* allowing the MSI window: then a device with that window cannot attach */
	assert_int_equal(ctx->ops->allow_iovas(ioas, &msi, 1), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), -ERANGE);
	assert_int_equal(ctx->ops->allow_iovas(ioas, &low, 1), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	/* with the device there, the window is reserved: refused */
	assert_int_equal(ctx->ops->allow_iovas(ioas, &msi, 1), -EADDRINUSE);
	assert_int_equal(ctx->ops->allow_iovas(ioas, NULL, 0), 0);
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);
}

static void test_iommufd_huge_pages(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_map a = rec(0x10000, PG, buf, RW);

	(void)state;
	assert_int_equal(ctx_with(fk, IOMMUFD_BACKEND_GROUP, 0, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(fake_kernel_huge_pages(fk, ctx->fd, ioas->id), 1);
	assert_int_equal(ctx->ops->set_huge_pages(ioas, false), 0);
	assert_int_equal(fake_kernel_huge_pages(fk, ctx->fd, ioas->id), 0);
	assert_int_equal(ctx->ops->set_huge_pages(ioas, true), 0);
	/* a domain holding pages: the kernel's -EINVAL is "too late", -EBUSY */
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(ctx->ops->map(ioas, &a), 0);
	assert_int_equal(ctx->ops->set_huge_pages(ioas, false), -EBUSY);
	assert_int_equal(fake_kernel_huge_pages(fk, ctx->fd, ioas->id), 1);
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_type1_cap_past_argsz, teardown),
		cmocka_unit_test_teardown(test_type1_cap_misaligned, teardown),
		cmocka_unit_test_teardown(test_type1_nr_iovas_huge, teardown),
		cmocka_unit_test_teardown(test_type1_cap_loop, teardown),
		cmocka_unit_test_teardown(test_iova_ranges_num_over, teardown),
		cmocka_unit_test_teardown(test_type1_query_enomem_no_leak, teardown),
		cmocka_unit_test_teardown(test_cdev_attach_enomem_user, teardown),
		cmocka_unit_test_teardown(test_group_attach_enomem_user, teardown),
		cmocka_unit_test_teardown(test_cdev_attach_enomem_process, teardown),
		cmocka_unit_test_teardown(test_type1_attach_enomem, teardown),
		cmocka_unit_test_teardown(test_pin_accounting, teardown),
		cmocka_unit_test_teardown(test_iommufd_range_unmap, teardown),
		cmocka_unit_test_teardown(test_type1_range_unmap, teardown),
		cmocka_unit_test_teardown(test_iommufd_copy, teardown),
		cmocka_unit_test_teardown(test_iommufd_allow_iovas, teardown),
		cmocka_unit_test_teardown(test_iommufd_huge_pages, teardown),
	};

	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
