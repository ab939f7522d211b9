/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Every kernel call of every scenario fails once.  A scenario is run once to
 * count its calls K; then for each N in 1..K, on a fresh fake kernel, the
 * N-th call fails with EIO and, separately, with the errno the kernel
 * really returns there.  The operation must then return a negative errno
 * (or succeed, when the library may legitimately shrug the failure off),
 * the objects involved must stay usable or cleanly destroyable, the library
 * and the kernel must agree about what is mapped and attached, and nothing
 * may stay open once everything is destroyed.
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
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "fake-kernel.h"

#define PG 0x1000ULL
#define RW (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE)

static uint8_t buf[64 * PG] __attribute__((aligned(PG)));

struct fx {
	enum iommufd_backend b;
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas, *ioas2;
	struct iommufd_device *dev, *dev2, *dev3;
	uint64_t iova[4];
	int fd;            /* the caller's fd in adopt scenarios, else -1 */
	int efd;           /* an eventfd, else -1 */
	struct fk_call hit; /* the call that failed */
	bool hit_munmap;
};

struct scenario {
	const char *name;
	unsigned int backends; /* bit (1 << backend) */
	void (*setup)(struct fx *x);
	int (*run)(struct fx *x);
	void (*after)(struct fx *x, int r);
	bool returns_void;
};

#define ALL ((1u << IOMMUFD_BACKEND_CDEV) | (1u << IOMMUFD_BACKEND_GROUP) | (1u << IOMMUFD_BACKEND_TYPE1))
#define CDEV (1u << IOMMUFD_BACKEND_CDEV)
#define GT ((1u << IOMMUFD_BACKEND_GROUP) | (1u << IOMMUFD_BACKEND_TYPE1))

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static uint32_t ioas_id(struct iommufd_ioas *ioas)
{
	int64_t id = iommufd_ioas_get_id(ioas);

	return id < 0 ? 0 : (uint32_t)id;
}

/* The kernel and the library agree about @ioas's mappings (a TYPE1
 * container without IOMMU holds none: the library records them). */
static void expect_consistent(struct fx *x, struct iommufd_ioas *ioas)
{
	int fd = iommufd_ioas_get_fd(ioas);
	struct fk_map m[32];
	size_t n = fake_kernel_get_maps(x->fk, fd, ioas_id(ioas), m, 32);
	bool deferred = x->b == IOMMUFD_BACKEND_TYPE1 && fake_kernel_container_iommu(x->fk, fd) == 0;

	if (deferred) {
		assert_int_equal(n, 0);
		return;
	}
	for (size_t i = 0; i < n && i < 32; i++) {
		struct iommufd_map_info info;

		assert_int_equal(iommufd_ioas_find_iova(ioas, m[i].iova, &info), 0);
		assert_int_equal(info.iova, m[i].iova);
		assert_int_equal(info.len, m[i].len);
	}
	for (int i = 0; i < 4; i++) {
		struct iommufd_map_info info;
		bool found = false;

		if (!x->iova[i] || iommufd_ioas_find_iova(ioas, x->iova[i], &info) < 0)
			continue;
		for (size_t k = 0; k < n && k < 32; k++)
			found |= m[k].iova == info.iova && m[k].len == info.len;
		assert_true(found);
	}
}

/* A device handle works and the kernel agrees where it is attached. */
static void expect_device_ok(struct fx *x, struct iommufd_device *dev)
{
	uint32_t v = 0;
	const char *name = iommufd_device_get_name(dev);

	assert_non_null(name);
	assert_int_equal(iommufd_device_region_read(dev, 2, 0, &v, 4), 0);
	assert_int_equal(fake_kernel_dev_open_count(x->fk, name), 1);
	if (x->b != IOMMUFD_BACKEND_TYPE1)
		assert_int_equal(fake_kernel_dev_ioas(x->fk, name), ioas_id(iommufd_device_get_ioas(dev)));
}

/* A map, visible in both views, and its unmap. */
static void expect_ioas_ok(struct fx *x, struct iommufd_ioas *ioas)
{
	uint64_t iova = 0;

	assert_int_equal(iommufd_ioas_map(ioas, buf + 32 * PG, 2 * PG, RW, NULL, &iova), 0);
	x->iova[3] = iova;
	expect_consistent(x, ioas);
	assert_int_equal(iommufd_ioas_unmap(ioas, iova, 2 * PG, NULL), 0);
	x->iova[3] = 0;
	expect_consistent(x, ioas);
}

static int fake_open(struct fx *x, const char *path)
{
	int fd = fake_kernel_sys(x->fk)->open(path, O_RDWR | O_CLOEXEC, 0);

	assert_true(fd >= FK_FD_BASE);
	return fd;
}

static void new_ctx(struct fx *x)
{
	assert_int_equal(fk_ctx_create(x->fk, x->b, NULL, &x->ctx), 0);
}

static void new_ioas(struct fx *x)
{
	new_ctx(x);
	assert_int_equal(iommufd_ioas_create(x->ctx, &x->ioas), 0);
}

static void new_dev(struct fx *x)
{
	new_ioas(x);
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
}

/* ------------------------------------------------------------------------ */
/* Scenarios                                                                */

static int run_ctx_create(struct fx *x)
{
	return fk_ctx_create(x->fk, x->b, NULL, &x->ctx);
}

static void after_ctx_create(struct fx *x, int r)
{
	if (r < 0) {
		assert_null(x->ctx);
		return;
	}
	assert_int_equal(iommufd_ioas_create(x->ctx, &x->ioas), 0);
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	expect_ioas_ok(x, x->ioas);
}

static int run_ctx_auto(struct fx *x)
{
	return fk_ctx_create(x->fk, IOMMUFD_BACKEND_AUTO, NULL, &x->ctx);
}

static void after_ctx_auto(struct fx *x, int r)
{
	if (r == 0) /* a failed probe may choose another backend: still usable */
		x->b = iommufd_ctx_get_backend(x->ctx);
	after_ctx_create(x, r);
}

static void setup_adopt_ctx(struct fx *x)
{
	x->fd = fake_open(x, x->b == IOMMUFD_BACKEND_TYPE1 ? "/dev/vfio/vfio" : "/dev/iommu");
}

static int run_adopt_ctx(struct fx *x)
{
	struct iommufd_ctx_opts o = { .sz = sizeof(o), .backend = x->b };

	return ifd_ctx_create_sys(&o, fake_kernel_sys(x->fk), x->fd, &x->ctx);
}

static void after_adopt_ctx(struct fx *x, int r)
{
	if (r < 0) {
		/* the caller's fd is untouched and still the caller's */
		assert_true(fake_kernel_fd_is_open(x->fk, x->fd));
		assert_int_equal(fake_kernel_sys(x->fk)->close(x->fd), 0);
	}
	x->fd = -1;
	after_ctx_create(x, r);
}

static int run_ioas_create(struct fx *x)
{
	return iommufd_ioas_create(x->ctx, &x->ioas);
}

static void after_ioas_create(struct fx *x, int r)
{
	if (r < 0) {
		assert_null(x->ioas);
		assert_int_equal(iommufd_ioas_create(x->ctx, &x->ioas), 0);
	}
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	expect_ioas_ok(x, x->ioas);
}

static int run_ioas_create2(struct fx *x)
{
	return iommufd_ioas_create(x->ctx, &x->ioas2);
}

static void after_ioas_create2(struct fx *x, int r)
{
	if (r < 0) {
		assert_null(x->ioas2);
		assert_int_equal(iommufd_ioas_create(x->ctx, &x->ioas2), 0);
	}
	assert_int_equal(iommufd_device_open(x->ioas2, FK_DEV_A, NULL, &x->dev), 0);
	expect_ioas_ok(x, x->ioas2);
	expect_ioas_ok(x, x->ioas);
}

static void setup_dev_open(struct fx *x)
{
	new_ioas(x);
	/* a mapping made before: TYPE1 replays it, iommufd pins it at attach */
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[0]), 0);
}

static int run_dev_open(struct fx *x)
{
	return iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev);
}

static void after_dev_open(struct fx *x, int r)
{
	if (r < 0) {
		assert_null(x->dev);
		assert_int_equal(fake_kernel_dev_open_count(x->fk, FK_DEV_A), 0);
		expect_consistent(x, x->ioas);
		/* nothing held: the IOAS could go, and the device opens now */
		assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	}
	expect_device_ok(x, x->dev);
	expect_consistent(x, x->ioas);
	expect_ioas_ok(x, x->ioas);
	assert_int_equal(iommufd_device_destroy(x->dev), 0);
	x->dev = NULL;
	assert_int_equal(iommufd_ioas_destroy(x->ioas), 0);
	x->ioas = NULL;
}

static int run_dev_open_cdev_path(struct fx *x)
{
	return iommufd_device_open(x->ioas, fake_kernel_cdev_path(x->fk, FK_DEV_A), NULL, &x->dev);
}

static int run_dev_open_mdev(struct fx *x)
{
	return iommufd_device_open(x->ioas, FK_MDEV, NULL, &x->dev2);
}

static void after_dev_open_mdev(struct fx *x, int r)
{
	if (r < 0) {
		assert_null(x->dev2);
		assert_int_equal(iommufd_device_open(x->ioas, FK_MDEV, NULL, &x->dev2), 0);
	}
	expect_device_ok(x, x->dev2);
	expect_consistent(x, x->ioas);
}

/* The second device of a group already open. */
static void setup_dev_open_shared(struct fx *x)
{
	new_ioas(x);
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_B, NULL, &x->dev), 0);
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[0]), 0);
}

static int run_dev_open_shared(struct fx *x)
{
	return iommufd_device_open(x->ioas, FK_DEV_B2, NULL, &x->dev2);
}

static void after_dev_open_shared(struct fx *x, int r)
{
	/* the first device is unharmed in any case */
	expect_device_ok(x, x->dev);
	if (r < 0) {
		assert_null(x->dev2);
		assert_int_equal(fake_kernel_dev_open_count(x->fk, FK_DEV_B2), 0);
		assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_B2, NULL, &x->dev2), 0);
	}
	expect_device_ok(x, x->dev2);
	expect_consistent(x, x->ioas);
	assert_int_equal(iommufd_device_destroy(x->dev), 0);
	x->dev = NULL;
	expect_device_ok(x, x->dev2);
	expect_ioas_ok(x, x->ioas);
}

static void setup_adopt_cdev(struct fx *x)
{
	new_ioas(x);
	x->fd = fake_open(x, fake_kernel_cdev_path(x->fk, FK_DEV_A));
}

static int run_adopt_cdev(struct fx *x)
{
	return iommufd_device_adopt_cdev_fd(x->ioas, x->fd, NULL, &x->dev);
}

/* On failure the caller's fd stays open; bound only if the bind had
 * succeeded (iommufd_device_adopt_cdev_fd(3)), then only closing it helps. */
static void after_adopt_cdev(struct fx *x, int r)
{
	if (r < 0) {
		assert_null(x->dev);
		assert_true(fake_kernel_fd_is_open(x->fk, x->fd));
		if (fake_kernel_cdev_bound(x->fk, x->fd) == 1) {
			assert_int_equal(fake_kernel_sys(x->fk)->close(x->fd), 0);
			assert_int_equal(fake_kernel_dev_open_count(x->fk, FK_DEV_A), 0);
			x->fd = fake_open(x, fake_kernel_cdev_path(x->fk, FK_DEV_A));
		}
		assert_int_equal(iommufd_device_adopt_cdev_fd(x->ioas, x->fd, NULL, &x->dev), 0);
	}
	assert_int_equal(iommufd_device_get_fd(x->dev), x->fd);
	x->fd = -1;
	expect_device_ok(x, x->dev);
}

static void setup_adopt_group(struct fx *x)
{
	new_ioas(x);
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[0]), 0);
	x->fd = fake_open(x, "/dev/vfio/6");
}

static int run_adopt_group(struct fx *x)
{
	return iommufd_device_adopt_group_fd(x->ioas, x->fd, FK_DEV_B, NULL, &x->dev);
}

static void after_adopt_group(struct fx *x, int r)
{
	if (r < 0) {
		assert_null(x->dev);
		/* the caller's fd is untouched: open, in no container */
		assert_true(fake_kernel_fd_is_open(x->fk, x->fd));
		assert_int_equal(fake_kernel_group_state(x->fk, x->fd), 0);
		expect_consistent(x, x->ioas);
		assert_int_equal(iommufd_device_adopt_group_fd(x->ioas, x->fd, FK_DEV_B, NULL, &x->dev), 0);
	}
	x->fd = -1;
	expect_device_ok(x, x->dev);
	expect_consistent(x, x->ioas);
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_B2, NULL, &x->dev2), 0);
}

static void setup_map(struct fx *x)
{
	new_dev(x);
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[0]), 0);
}

static int run_map(struct fx *x)
{
	return iommufd_ioas_map(x->ioas, buf + 8 * PG, 4 * PG, IOMMUFD_MAP_READ, NULL, &x->iova[1]);
}

static void after_map(struct fx *x, int r)
{
	if (r < 0) {
		assert_int_equal(x->iova[1], 0);
		/* nothing recorded, the IOVA went back */
		assert_int_equal(iommufd_ioas_find_iova(x->ioas, 5 * PG, NULL), -ENOENT);
		expect_consistent(x, x->ioas);
		assert_int_equal(iommufd_ioas_map(x->ioas, buf + 8 * PG, 4 * PG, IOMMUFD_MAP_READ, NULL, &x->iova[1]), 0);
	}
	assert_int_equal(x->iova[1], 5 * PG);
	expect_consistent(x, x->ioas);
	assert_int_equal(iommufd_ioas_unmap(x->ioas, x->iova[1], 4 * PG, NULL), 0);
	x->iova[1] = 0;
	expect_consistent(x, x->ioas);
}

static void setup_map_fixed(struct fx *x)
{
	new_dev(x);
}

static int run_map_fixed(struct fx *x)
{
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = 0x200000 };

	return iommufd_ioas_map(x->ioas, buf, 2 * PG, RW | IOMMUFD_MAP_FIXED, &o, &x->iova[0]);
}

static void after_map_fixed(struct fx *x, int r)
{
	if (r < 0) {
		/* the fixed IOVA is free again */
		expect_consistent(x, x->ioas);
		assert_int_equal(run_map_fixed(x), 0);
	}
	assert_int_equal(x->iova[0], 0x200000);
	expect_consistent(x, x->ioas);
}

static void setup_unmap(struct fx *x)
{
	new_dev(x);
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[0]), 0);
	assert_int_equal(iommufd_ioas_map(x->ioas, buf + 4 * PG, 2 * PG, RW, NULL, &x->iova[1]), 0);
}

static int run_unmap(struct fx *x)
{
	return iommufd_ioas_unmap(x->ioas, x->iova[0], 4 * PG, NULL);
}

static void after_unmap(struct fx *x, int r)
{
	if (r < 0) {
		/* still mapped, in both views */
		assert_int_equal(iommufd_ioas_find_iova(x->ioas, x->iova[0], NULL), 0);
		expect_consistent(x, x->ioas);
		assert_int_equal(run_unmap(x), 0);
	}
	assert_int_equal(iommufd_ioas_find_iova(x->ioas, x->iova[0], NULL), -ENOENT);
	expect_consistent(x, x->ioas);
	/* the IOVA is reusable */
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[2]), 0);
	assert_int_equal(x->iova[2], x->iova[0]);
	expect_consistent(x, x->ioas);
}

static void setup_unmap_all(struct fx *x)
{
	new_dev(x);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iommufd_ioas_map(x->ioas, buf + i * 4 * PG, PG, RW, NULL, &x->iova[i]), 0);
}

static int run_unmap_all(struct fx *x)
{
	int r = iommufd_ioas_unmap_all(x->ioas);

	return r > 0 ? 0 : r;
}

static void after_unmap_all(struct fx *x, int r)
{
	expect_consistent(x, x->ioas);
	if (r < 0)
		assert_true(iommufd_ioas_unmap_all(x->ioas) >= 1);
	expect_consistent(x, x->ioas);
	for (int i = 0; i < 3; i++)
		assert_int_equal(iommufd_ioas_find_iova(x->ioas, x->iova[i], NULL), -ENOENT);
}

static void setup_dev_destroy(struct fx *x)
{
	int fds[1];
	void *p;
	size_t len;

	new_dev(x);
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[0]), 0);
	assert_int_equal(iommufd_device_map_region(x->dev, 0, &p, &len), 0);
	x->efd = eventfd(0, EFD_CLOEXEC);
	assert_true(x->efd >= 0);
	fds[0] = x->efd;
	assert_int_equal(iommufd_device_irq_enable(x->dev, IOMMUFD_IRQ_MSIX, 0, 1, fds), 0);
}

static int run_dev_destroy(struct fx *x)
{
	return iommufd_device_destroy(x->dev);
}

static void after_dev_destroy(struct fx *x, int r)
{
	assert_int_equal(r, 0);
	x->dev = NULL; /* freed: a second destroy would be undefined */
	if (x->hit_munmap)
		return; /* the BAR mapping keeps the device file alive */
	assert_int_equal(fake_kernel_dev_open_count(x->fk, FK_DEV_A), 0);
	assert_int_equal(fake_kernel_dev_irq_fd(x->fk, FK_DEV_A, IOMMUFD_IRQ_MSIX, 0), -1);
	expect_consistent(x, x->ioas);
	/* it opens again, and the mapping is there for it */
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	expect_device_ok(x, x->dev);
	expect_consistent(x, x->ioas);
	assert_int_equal(iommufd_ioas_find_iova(x->ioas, x->iova[0], NULL), 0);
}

static void setup_ioas_destroy(struct fx *x)
{
	new_ioas(x);
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[0]), 0);
}

static int run_ioas_destroy(struct fx *x)
{
	return iommufd_ioas_destroy(x->ioas);
}

static void after_ioas_destroy(struct fx *x, int r)
{
	assert_int_equal(r, 0);
	x->ioas = NULL; /* freed: a second destroy would be undefined, like free() */
	assert_int_equal(iommufd_ioas_create(x->ctx, &x->ioas), 0);
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	expect_ioas_ok(x, x->ioas);
}

static void setup_ctx_destroy(struct fx *x)
{
	void *p;
	size_t len;

	new_ioas(x);
	assert_int_equal(iommufd_ioas_create(x->ctx, &x->ioas2), 0);
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[0]), 0);
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	assert_int_equal(iommufd_device_open(x->ioas2, FK_DEV_B, NULL, &x->dev2), 0);
	assert_int_equal(iommufd_device_open(x->ioas2, FK_DEV_B2, NULL, &x->dev3), 0);
	assert_int_equal(iommufd_ioas_map(x->ioas2, buf, 8 * PG, RW, NULL, &x->iova[1]), 0);
	assert_int_equal(iommufd_device_map_region(x->dev2, 0, &p, &len), 0);
}

static int run_ctx_destroy(struct fx *x)
{
	iommufd_ctx_destroy(x->ctx);
	x->ctx = NULL;
	return 0;
}

static void after_ctx_destroy(struct fx *x, int r)
{
	(void)x;
	(void)r;
}

static void setup_move(struct fx *x)
{
	new_dev(x);
	assert_int_equal(iommufd_ioas_create(x->ctx, &x->ioas2), 0);
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[0]), 0);
	assert_int_equal(iommufd_ioas_map(x->ioas2, buf, 2 * PG, RW, NULL, &x->iova[1]), 0);
}

static int run_move(struct fx *x)
{
	return iommufd_device_attach(x->dev, x->ioas2);
}

static void after_move(struct fx *x, int r)
{
	struct iommufd_ioas *where = iommufd_device_get_ioas(x->dev);

	/* the library and the kernel agree where the device is */
	assert_ptr_equal(where, r < 0 ? x->ioas : x->ioas2);
	expect_device_ok(x, x->dev);
	expect_consistent(x, x->ioas);
	expect_consistent(x, x->ioas2);
	if (r < 0)
		assert_int_equal(iommufd_device_attach(x->dev, x->ioas2), 0);
	assert_int_equal(iommufd_ioas_destroy(x->ioas), 0);
	x->ioas = NULL;
	expect_device_ok(x, x->dev);
	expect_ioas_ok(x, x->ioas2);
}

static int run_device_io(struct fx *x)
{
	uint32_t v;
	int r, fds[1] = { -1 };
	void *p;
	size_t len;

	r = iommufd_device_set_bus_master(x->dev, true);
	if (!r)
		r = iommufd_device_region_write(x->dev, 2, 8, &r, 4);
	if (!r)
		r = iommufd_device_region_read(x->dev, 2, 6, &v, 4);
	if (!r)
		r = iommufd_device_map_region(x->dev, 0, &p, &len);
	if (!r)
		r = iommufd_device_irq_enable(x->dev, IOMMUFD_IRQ_MSIX, 0, 1, fds);
	if (!r)
		r = iommufd_device_reset(x->dev);
	if (!r)
		r = iommufd_device_unmap_region(x->dev, 0);
	return r;
}

static void after_device_io(struct fx *x, int r)
{
	(void)r;
	/* whatever failed, the device still works and still goes away */
	expect_device_ok(x, x->dev);
	assert_int_equal(iommufd_device_reset(x->dev), 0);
}

static const struct scenario scenarios[] = {
	{ "ctx create", ALL, NULL, run_ctx_create, after_ctx_create, false },
	{ "ctx create auto", CDEV, NULL, run_ctx_auto, after_ctx_auto, false },
	{ "ctx adopt", ALL, setup_adopt_ctx, run_adopt_ctx, after_adopt_ctx, false },
	{ "ioas create", ALL, new_ctx, run_ioas_create, after_ioas_create, false },
	{ "ioas create (second)", ALL, new_ioas, run_ioas_create2, after_ioas_create2, false },
	{ "device open by BDF", ALL, setup_dev_open, run_dev_open, after_dev_open, false },
	{ "device open by cdev path", ALL, setup_dev_open, run_dev_open_cdev_path, after_dev_open, false },
	{ "device open mdev", ALL, new_ioas, run_dev_open_mdev, after_dev_open_mdev, false },
	{ "device open, group shared", GT, setup_dev_open_shared, run_dev_open_shared, after_dev_open_shared, false },
	{ "device adopt cdev fd", CDEV, setup_adopt_cdev, run_adopt_cdev, after_adopt_cdev, false },
	{ "device adopt group fd", GT, setup_adopt_group, run_adopt_group, after_adopt_group, false },
	{ "map", ALL, setup_map, run_map, after_map, false },
	{ "map fixed", ALL, setup_map_fixed, run_map_fixed, after_map_fixed, false },
	{ "unmap", ALL, setup_unmap, run_unmap, after_unmap, false },
	{ "unmap all", ALL, setup_unmap_all, run_unmap_all, after_unmap_all, false },
	{ "device move", CDEV, setup_move, run_move, after_move, false },
	{ "device io", ALL, new_dev, run_device_io, after_device_io, false },
	{ "device destroy", ALL, setup_dev_destroy, run_dev_destroy, after_dev_destroy, true },
	{ "ioas destroy", ALL, setup_ioas_destroy, run_ioas_destroy, after_ioas_destroy, true },
	{ "ctx destroy with live objects", ALL, setup_ctx_destroy, run_ctx_destroy, after_ctx_destroy, true },
};

/* ------------------------------------------------------------------------ */
/* The errno the kernel really uses for a failing call                      */

static int natural_errno(const struct fk_call *c)
{
	static const struct {
		const char *what;
		int err;
	} ioctls[] = {
		{ "IOMMU_IOAS_ALLOC", ENOMEM },
		{ "IOMMU_IOAS_IOVA_RANGES", ENOENT },
		{ "IOMMU_IOAS_MAP", ENOMEM },
		{ "IOMMU_IOAS_UNMAP", EBUSY },
		{ "IOMMU_DESTROY", EBUSY },
		{ "IOMMU_VFIO_IOAS", ENOENT },
		{ "VFIO_DEVICE_BIND_IOMMUFD", EBUSY },
		{ "VFIO_DEVICE_ATTACH_IOMMUFD_PT", EADDRINUSE },
		{ "VFIO_DEVICE_GET_INFO", EFAULT },
		{ "VFIO_DEVICE_GET_REGION_INFO", EINVAL },
		{ "VFIO_DEVICE_GET_IRQ_INFO", EINVAL },
		{ "VFIO_DEVICE_SET_IRQS", EINVAL },
		{ "VFIO_DEVICE_RESET", EIO },
		{ "VFIO_GROUP_GET_STATUS", ENODEV },
		{ "VFIO_GROUP_SET_CONTAINER", EBUSY },
		{ "VFIO_GROUP_UNSET_CONTAINER", EBUSY },
		{ "VFIO_GROUP_GET_DEVICE_FD", EBUSY },
		{ "VFIO_SET_IOMMU", ENODEV },
		{ "VFIO_CHECK_EXTENSION", ENOTTY },
		{ "VFIO_GET_API_VERSION", ENOTTY },
		{ "VFIO_IOMMU_GET_INFO", EFAULT },
		{ "VFIO_IOMMU_MAP_DMA", ENOMEM },
		{ "VFIO_IOMMU_UNMAP_DMA", EINVAL },
	};

	if (!strcmp(c->op, "ioctl")) {
		for (size_t i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
			if (!strncmp(c->detail, ioctls[i].what, strlen(ioctls[i].what)))
				return ioctls[i].err;
		return EINVAL;
	}
	if (!strcmp(c->op, "open"))
		return strncmp(c->target, "/dev/", 5) ? ENOENT : EACCES;
	if (!strcmp(c->op, "close"))
		return EINTR;
	if (!strcmp(c->op, "dup"))
		return EMFILE;
	if (!strcmp(c->op, "mmap"))
		return ENOMEM;
	if (!strcmp(c->op, "munmap"))
		return EINVAL;
	if (!strcmp(c->op, "fstat"))
		return EBADF;
	if (!strcmp(c->op, "readlink") || !strcmp(c->op, "stat") || !strcmp(c->op, "listdir"))
		return ENOENT;
	return EIO;
}

/* ------------------------------------------------------------------------ */
/* The driver                                                               */

/* What runs now, for the report when an assertion fails (cmocka longjmps
 * to the teardown, which prints it). */
static char g_what[256];
static bool g_busy;
static struct fx g_x;          /* the run in progress */
static struct fk_call *g_calls; /* the calls of the scenario being swept */

static void fx_start(struct fx *x, enum iommufd_backend b)
{
	memset(x, 0, sizeof(*x));
	x->b = b;
	x->fd = -1;
	x->efd = -1;
	x->fk = fk_standard(FK_LINUX_7_3);
}

/* Destroy everything and check nothing stayed open. */
static void fx_finish(struct fx *x, const char *what)
{
	int fds, files, mmaps;
	uint64_t pinned;

	iommufd_ctx_destroy(x->ctx);
	x->ctx = NULL;
	if (x->fd >= 0)
		fake_kernel_sys(x->fk)->close(x->fd);
	x->fd = -1;
	fds = fake_kernel_open_fds(x->fk);
	files = fake_kernel_live_files(x->fk);
	mmaps = fake_kernel_live_mmaps(x->fk);
	pinned = fake_kernel_pinned(x->fk);
	fake_kernel_destroy(x->fk);
	x->fk = NULL;
	if (x->efd >= 0)
		close(x->efd);
	x->efd = -1;
	if (fds || ((files || mmaps || pinned) && !x->hit_munmap))
		fail_msg("%s: after destroying everything: %d fds, %d files, %d mmaps, %llu bytes pinned", what, fds,
			 files, mmaps, (unsigned long long)pinned);
}

static void sweep(const struct scenario *s, enum iommufd_backend b)
{
	struct fk_call *calls;
	unsigned long k;
	char what[256];
	int r;

	/* count */
	snprintf(g_what, sizeof(g_what), "%s (%s) without faults", s->name, iommufd_backend_name(b));
	g_busy = true;
	fx_start(&g_x, b);
	if (s->setup)
		s->setup(&g_x);
	fake_kernel_log_clear(g_x.fk);
	k = fake_kernel_calls(g_x.fk);
	r = s->run(&g_x);
	if (r)
		fail_msg("%s (%s): fails without faults: %d", s->name, iommufd_backend_name(b), r);
	k = fake_kernel_calls(g_x.fk) - k;
	assert_int_equal(fake_kernel_log_count(g_x.fk), k);
	calls = g_calls = calloc(k + 1, sizeof(*calls));
	assert_non_null(calls);
	for (unsigned long i = 0; i < k; i++)
		assert_true(fake_kernel_log_get(g_x.fk, i, &calls[i]));
	s->after(&g_x, 0);
	fx_finish(&g_x, s->name);
	g_busy = false;

	for (unsigned long n = 1; n <= k; n++) {
		int errs[2] = { EIO, natural_errno(&calls[n - 1]) };

		for (int e = 0; e < (errs[1] == EIO ? 1 : 2); e++) {
			snprintf(what, sizeof(what), "%s (%s), call %lu/%lu \"%s %s %s\" failing with %s", s->name,
				 iommufd_backend_name(b), n, k, calls[n - 1].op, calls[n - 1].target,
				 calls[n - 1].detail, strerrorname_np(errs[e]));
			snprintf(g_what, sizeof(g_what), "%s", what);
			g_busy = true;
			fx_start(&g_x, b);
			if (s->setup)
				s->setup(&g_x);
			g_x.hit = calls[n - 1];
			g_x.hit_munmap = !strcmp(calls[n - 1].op, "munmap");
			fake_kernel_fail_nth(g_x.fk, n, errs[e]);
			r = s->run(&g_x);
			if (!fake_kernel_fault_fired(g_x.fk))
				fail_msg("%s: the call was never made", what);
			fake_kernel_fail_clear(g_x.fk);
			if (!s->returns_void && (r > 0 || r < -4095))
				fail_msg("%s: returned %d, not 0 or a negative errno", what, r);
			if (getenv("FK_VERBOSE"))
				print_message("  %s -> %d\n", what, r);
			s->after(&g_x, r);
			fx_finish(&g_x, what);
			g_busy = false;
		}
	}
	free(calls);
	g_calls = NULL;
}

static void test_scenario(void **state)
{
	const struct scenario *s = *state;

	for (enum iommufd_backend b = IOMMUFD_BACKEND_CDEV; b <= IOMMUFD_BACKEND_TYPE1; b++)
		if (s->backends & (1u << b))
			sweep(s, b);
}

static int teardown(void **state)
{
	(void)state;
	if (g_busy)
		print_error("failed in: %s\n", g_what);
	g_busy = false;
	/* what a failed run left behind */
	if (g_x.fk) {
		iommufd_ctx_destroy(g_x.ctx);
		if (g_x.efd >= 0)
			close(g_x.efd);
	}
	memset(&g_x, 0, sizeof(g_x));
	g_x.fd = g_x.efd = -1;
	free(g_calls);
	g_calls = NULL;
	fake_kernel_destroy_current();
	return 0;
}

int main(void)
{
	struct CMUnitTest tests[sizeof(scenarios) / sizeof(scenarios[0])];

	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	g_x.fd = g_x.efd = -1;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		tests[i] = (struct CMUnitTest){
			.name = scenarios[i].name,
			.test_func = test_scenario,
			.teardown_func = teardown,
			.initial_state = (void *)&scenarios[i],
		};
	}
	return _cmocka_run_group_tests("faults", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}
