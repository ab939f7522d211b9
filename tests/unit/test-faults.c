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
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "kabi.h"
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
	int memfd;         /* file-map scenarios' file, else -1 */
	int nreal;         /* this process's open fds after setup */
	struct iommufd_ctx *ctx2; /* import: the new process's context */
	unsigned char blob[1024]; /* import: the exported description and fds */
	size_t blen, nfds;
	int fds[8];
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

/* ---- issue 8 and 10 functions, and the queries: each call fails in turn;
 * whatever failed, the device and the IOAS keep working and everything
 * goes away (fx_finish checks fds, files, mmaps and pins). */

static int g_line; /* the last call made by a multi-call scenario */
#define L(call) (g_line = __LINE__, (call))
static struct iommufd_hwpt *g_h1, *g_h2; /* the HWPTs of the hwpt scenarios */
static struct iommufd_fault_queue *g_q;

static void after_usable(struct fx *x, int r)
{
	(void)r;
	expect_device_ok(x, x->dev);
	expect_ioas_ok(x, x->ioas);
}

static int nonneg(int r)
{
	return r > 0 ? 0 : r;
}

/* Queries and calls that change nothing lasting. */
static int run_queries(struct fx *x)
{
	struct iommufd_iova_range rg[8];
	struct iommufd_region_info ri;
	struct iommufd_region_area ar[4];
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	struct iommufd_device_entry ent[16];
	struct iommufd_event ev[2];
	uint32_t type, sub, v = 0;
	uint64_t iova;
	int r = nonneg(L(iommufd_ioas_get_ranges(x->ioas, rg, 8)));

	if (!r)
		r = nonneg((int)iommufd_ioas_get_alignment(x->ioas));
	if (!r)
		r = L(iommufd_ioas_translate(x->ioas, buf, PG, &iova));
	if (!r) {
		struct iommufd_dma_segment seg;

		r = nonneg(L(iommufd_ioas_get_bus_addrs(x->ioas, iova, PG, &seg, 1)));
	}
	if (!r)
		r = nonneg(L(iommufd_device_get_num_regions(x->dev)));
	if (!r)
		r = L(iommufd_device_get_region_info(x->dev, 0, &ri));
	if (!r)
		r = nonneg(L(iommufd_device_get_region_areas(x->dev, 0, ar, 4)));
	if (!r) {
		r = L(iommufd_device_get_region_type(x->dev, 0, &type, &sub));
		r = r == -ENOENT ? 0 : r; /* BAR0 has no type capability */
	}
	if (!r)
		r = nonneg(L(iommufd_device_get_irq_count(x->dev, IOMMUFD_IRQ_MSIX)));
	if (!r)
		r = L(iommufd_device_config_read(x->dev, 4, &v, 2));
	if (!r)
		r = L(iommufd_device_config_write(x->dev, 4, &v, 2));
	if (!r)
		r = nonneg(L(iommufd_feature_query(x->ctx, x->dev, IOMMUFD_FEATURE_HWPT, &st)));
	if (!r)
		r = nonneg(L(iommufd_device_list(x->ctx, ent, 16)));
	if (!r)
		r = nonneg(L(iommufd_ctx_get_event_fd(x->ctx)));
	if (!r) {
		r = L(iommufd_ctx_read_events(x->ctx, ev, 2));
		r = r == -EAGAIN ? 0 : nonneg(r);
	}
	if (!r)
		r = nonneg(L(iommufd_ctx_get_pin_accounting(x->ctx)));
	if (!r)
		r = L(iommufd_ctx_set_log(x->ctx, NULL, NULL, IOMMUFD_LOG_ERR));
	return r;
}

static void setup_irq(struct fx *x)
{
	int fds[1];

	new_dev(x);
	x->efd = eventfd(0, EFD_CLOEXEC);
	assert_true(x->efd >= 0);
	fds[0] = x->efd;
	assert_int_equal(iommufd_device_irq_enable(x->dev, IOMMUFD_IRQ_INTX, 0, 1, fds), 0);
}

static int run_irq(struct fx *x)
{
	int r = L(iommufd_device_irq_unmask(x->dev, IOMMUFD_IRQ_INTX, 0));

	if (!r)
		r = L(iommufd_device_irq_disable(x->dev, IOMMUFD_IRQ_INTX));
	return r;
}

static void setup_ioas_ops(struct fx *x)
{
	new_dev(x);
	assert_int_equal(iommufd_ioas_create(x->ctx, &x->ioas2), 0);
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[0]), 0);
}

static int run_ioas_ops(struct fx *x)
{
	struct iommufd_iova_range allow = { .start = 0x100000, .last = 0x3fffffff };
	struct iommufd_map *m = NULL;
	uint64_t dst = 0;
	int r = L(iommufd_ioas_reserve(x->ioas, 0x40000000, 0x100000));

	if (!r)
		r = L(iommufd_ioas_unreserve(x->ioas, 0x40000000, 0x100000));
	if (!r)
		r = L(iommufd_ioas_set_huge_pages(x->ioas2, false)); /* empty: allowed */
	if (!r)
		r = L(iommufd_ioas_allow_iovas(x->ioas2, &allow, 1));
	if (!r)
		r = L(iommufd_ioas_copy(x->ioas2, x->ioas, x->iova[0], 4 * PG, RW, NULL, &dst));
	if (!r)
		r = L(iommufd_map_create(x->ioas, buf + 16 * PG, 2 * PG, RW, NULL, &m));
	if (!r)
		r = L(iommufd_map_destroy(m));
	return r;
}

static void after_ioas_ops(struct fx *x, int r)
{
	(void)r;
	expect_device_ok(x, x->dev);
	expect_consistent(x, x->ioas);
	expect_consistent(x, x->ioas2);
	expect_ioas_ok(x, x->ioas);
	expect_ioas_ok(x, x->ioas2);
}

static void setup_hwpt(struct fx *x)
{
	new_dev(x);
	g_h1 = g_h2 = NULL;
	g_q = NULL;
	assert_int_equal(iommufd_ioas_map(x->ioas, buf, 4 * PG, RW, NULL, &x->iova[0]), 0);
}

/* create, attach (replace from the IOAS), replace, detach, back, destroy */
static int run_hwpt(struct fx *x)
{
	struct iommufd_hw_info hi = { .sz = sizeof(hi) };
	uint64_t vendor[4];
	int r = L(iommufd_device_get_hw_info(x->dev, &hi, vendor, sizeof(vendor)));

	if (!r)
		r = L(iommufd_hwpt_create(x->dev, x->ioas, NULL, &g_h1));
	if (!r)
		r = L(iommufd_hwpt_create(x->dev, x->ioas, NULL, &g_h2));
	if (!r)
		r = L(iommufd_device_attach_hwpt(x->dev, g_h1));
	if (!r)
		r = L(iommufd_device_attach_hwpt(x->dev, g_h2));
	if (!r)
		r = L(iommufd_device_detach(x->dev));
	if (!r)
		r = L(iommufd_device_attach(x->dev, x->ioas));
	if (!r && !(r = iommufd_hwpt_destroy(g_h1)))
		g_h1 = NULL;
	if (!r && !(r = iommufd_hwpt_destroy(g_h2)))
		g_h2 = NULL;
	return r;
}

static void after_hwpt(struct fx *x, int r)
{
	struct iommufd_hwpt *on = iommufd_device_get_hwpt(x->dev);
	uint32_t kh = fake_kernel_dev_hwpt(x->fk, FK_DEV_A);

	(void)r;
	/* the library and the kernel agree where the device is */
	assert_int_equal(on ? iommufd_hwpt_get_id(on) : 0, kh);
	if (!iommufd_device_get_ioas(x->dev) && !on)
		assert_int_equal(iommufd_device_attach(x->dev, x->ioas), 0);
	else if (on)
		assert_int_equal(iommufd_device_attach(x->dev, x->ioas), 0);
	assert_int_equal(fake_kernel_dev_hwpt(x->fk, FK_DEV_A), 0);
	/* a failed destroy that kept the handle: it goes now */
	assert_int_equal(iommufd_hwpt_destroy(g_h1), 0);
	assert_int_equal(iommufd_hwpt_destroy(g_h2), 0);
	g_h1 = g_h2 = NULL;
	expect_device_ok(x, x->dev);
	expect_ioas_ok(x, x->ioas);
}

/* dirty tracking on an HWPT and on the IOAS, and a fault queue's life */
static void setup_dirty(struct fx *x)
{
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_DIRTY_TRACKING };

	setup_hwpt(x);
	assert_int_equal(iommufd_hwpt_create(x->dev, x->ioas, &o, &g_h1), 0);
	assert_int_equal(iommufd_device_attach_hwpt(x->dev, g_h1), 0);
}

static int run_dirty(struct fx *x)
{
	uint64_t bm[1] = { 0 };
	struct iommufd_fault_queue_stats st = { .sz = sizeof(st) };
	struct iommufd_page_request req[2];
	int r = L(iommufd_hwpt_set_dirty_tracking(g_h1, true));

	if (!r)
		r = L(iommufd_hwpt_get_dirty_bitmap(g_h1, x->iova[0], 4 * PG, PG, bm, 0));
	if (!r)
		r = L(iommufd_hwpt_set_dirty_tracking(g_h1, false));
	if (!r)
		r = L(iommufd_ioas_set_dirty_tracking(x->ioas, true));
	if (!r)
		r = L(iommufd_ioas_get_dirty_bitmap(x->ioas, x->iova[0], 4 * PG, PG, bm, IOMMUFD_DIRTY_NO_CLEAR));
	if (!r)
		r = L(iommufd_ioas_set_dirty_tracking(x->ioas, false));
	if (!r)
		r = L(iommufd_fault_queue_create(x->ctx, NULL, &g_q));
	if (!r) {
		r = L(iommufd_fault_queue_read(g_q, req, 2));
		r = r == -EAGAIN ? 0 : nonneg(r);
	}
	if (!r)
		r = nonneg(L(iommufd_fault_queue_respond(g_q, NULL, 0))); /* nothing to answer */
	if (!r)
		r = L(iommufd_fault_queue_get_stats(g_q, &st));
	if (!r && !(r = iommufd_fault_queue_destroy(g_q)))
		g_q = NULL;
	return r;
}

static void after_dirty(struct fx *x, int r)
{
	(void)r;
	assert_int_equal(iommufd_fault_queue_destroy(g_q), 0);
	g_q = NULL;
	assert_int_equal(iommufd_device_attach(x->dev, x->ioas), 0);
	assert_int_equal(iommufd_hwpt_destroy(g_h1), 0);
	g_h1 = NULL;
	expect_device_ok(x, x->dev);
	expect_ioas_ok(x, x->ioas);
}

/* PASIDs, on a device that has them */
#define FK_DEV_PASID "0000:00:0a.0"

static void setup_pasid(struct fx *x)
{
	struct fk_dev_desc d = { .name = FK_DEV_PASID, .group = 20, .max_pasid_log2 = 4 };
	struct iommufd_hwpt_opts o = { .sz = sizeof(o), .flags = IOMMUFD_HWPT_PASID };

	assert_int_equal(fake_kernel_add_device(x->fk, &d), 0);
	new_ioas(x);
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_PASID, NULL, &x->dev), 0);
	assert_int_equal(iommufd_hwpt_create(x->dev, x->ioas, &o, &g_h1), 0);
}

static int run_pasid(struct fx *x)
{
	int r = L(iommufd_device_attach_pasid(x->dev, 3, g_h1));

	if (!r)
		r = L(iommufd_device_detach_pasid(x->dev, 3));
	return r;
}

static void after_pasid(struct fx *x, int r)
{
	uint32_t k = fake_kernel_dev_pasid_hwpt(x->fk, FK_DEV_PASID, 3);

	(void)r;
	if (k) /* the detach failed: still attached, and it detaches now */
		assert_int_equal(iommufd_device_detach_pasid(x->dev, 3), 0);
	assert_int_equal(fake_kernel_dev_pasid_hwpt(x->fk, FK_DEV_PASID, 3), 0);
	assert_int_equal(iommufd_device_attach_pasid(x->dev, 3, g_h1), 0);
	assert_int_equal(iommufd_device_detach_pasid(x->dev, 3), 0);
	assert_int_equal(iommufd_hwpt_destroy(g_h1), 0);
	g_h1 = NULL;
}

/* SR-IOV: the PF's user sets the VF token, the VF opens with it. */
#define VF_NAME "0000:00:0a.0"
#define VF_TOKEN "bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3"

static void setup_vf(struct fx *x)
{
	struct fk_dev_desc vf = { .name = VF_NAME, .group = 12 };

	assert_int_equal(fake_kernel_add_device(x->fk, &vf), 0);
	assert_int_equal(fake_kernel_add_vf(x->fk, FK_DEV_A, VF_NAME), 0);
	new_dev(x);
}

static int run_vf(struct fx *x)
{
	struct iommufd_device_opts o = { .sz = sizeof(o), .vf_token = VF_TOKEN };
	char name[16];
	int r = iommufd_device_set_vf_token(x->dev, VF_TOKEN);

	if (!r)
		r = iommufd_device_open(x->ioas, VF_NAME, &o, &x->dev2);
	if (!r)
		r = iommufd_device_get_vf_name(x->dev, 0, name, sizeof(name));
	return r;
}

static void after_vf(struct fx *x, int r)
{
	struct iommufd_device_opts o = { .sz = sizeof(o), .vf_token = VF_TOKEN };
	char name[16];

	(void)r;
	if (!x->dev2) {
		/* nothing of the VF is left open, and everything works again */
		assert_int_equal(fake_kernel_dev_open_count(x->fk, VF_NAME), 0);
		assert_int_equal(iommufd_device_set_vf_token(x->dev, VF_TOKEN), 0);
		assert_int_equal(iommufd_device_open(x->ioas, VF_NAME, &o, &x->dev2), 0);
	}
	expect_device_ok(x, x->dev2);
	assert_int_equal(iommufd_device_get_vf_name(x->dev, 0, name, sizeof(name)), 0);
	assert_string_equal(name, VF_NAME);
}

/* A device bound to the context's iommufd by someone else, adopted by ID. */
static void setup_adopt_id(struct fx *x)
{
	struct ifd_k_vfio_device_bind_iommufd bind = { .argsz = IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_BASE };
	const struct ifd_sys *sys;

	new_ioas(x);
	sys = fake_kernel_sys(x->fk);
	x->fd = fake_open(x, fake_kernel_cdev_path(x->fk, FK_DEV_B));
	bind.iommufd = iommufd_ctx_get_fd(x->ctx);
	assert_int_equal(sys->ioctl(x->fd, IFD_K_VFIO_DEVICE_BIND_IOMMUFD, &bind), 0);
	x->iova[3] = bind.out_devid; /* the device ID, kept for run */
}

static int run_adopt_id(struct fx *x)
{
	return iommufd_device_adopt_id(x->ctx, (uint32_t)x->iova[3], x->fd, NULL, &x->dev);
}

static void after_adopt_id(struct fx *x, int r)
{
	uint32_t id = (uint32_t)x->iova[3];

	x->iova[3] = 0;
	if (r < 0) {
		/* the caller's fd stays the caller's, still bound */
		assert_null(x->dev);
		assert_true(fake_kernel_fd_is_open(x->fk, x->fd));
		assert_int_equal(iommufd_device_adopt_id(x->ctx, id, x->fd, NULL, &x->dev), 0);
	}
	x->fd = -1;
	assert_int_equal(iommufd_device_get_id(x->dev), id);
	assert_int_equal(iommufd_device_attach(x->dev, x->ioas), 0);
	expect_ioas_ok(x, x->ioas);
}

/* KVM: the books of a shared (GROUP, TYPE1) or per-device (CDEV)
 * registration through add, del, destroy and a new add; x->fd is the KVM
 * VFIO device (its VM closed: the device keeps it). */
static void setup_kvm(struct fx *x)
{
	new_ioas(x);
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_B, NULL, &x->dev), 0);
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_B2, NULL, &x->dev2), 0);
	x->fd = fake_kernel_kvm_create_vm(x->fk);
}

static int run_kvm(struct fx *x)
{
	int r = L(iommufd_kvm_vfio_create(x->ctx, x->fd));

	if (r < 0)
		return r; /* x->fd: the VM, closed at the end */
	fake_kernel_sys(x->fk)->close(x->fd);
	x->fd = r;
	r = L(iommufd_device_kvm_add(x->dev, x->fd));
	if (!r)
		r = L(iommufd_device_kvm_add(x->dev2, x->fd));
	if (!r)
		r = L(iommufd_device_kvm_del(x->dev));
	if (!r) {
		iommufd_device_destroy(x->dev2);
		x->dev2 = NULL;
		r = L(iommufd_device_kvm_add(x->dev, x->fd));
	}
	return r;
}

static int kvm_file(struct fx *x, struct iommufd_device *d)
{
	return x->b == IOMMUFD_BACKEND_CDEV ? d->fd : d->group->fd;
}

static void after_kvm(struct fx *x, int r)
{
	bool del_failed = !strcmp(x->hit.op, "ioctl") && strstr(x->hit.detail, "FILE_DEL");
	int held;

	if (r < 0 && fake_kernel_kvm_vfio_files(x->fk, x->fd) < 0) {
		after_usable(x, r); /* the create failed: x->fd is the VM */
		return;
	}
	/* What the library believes, KVM holds. */
	assert_int_equal(fake_kernel_kvm_vfio_holds(x->fk, x->fd, kvm_file(x, x->dev)),
			 x->dev->kvm_added || (x->dev2 && x->dev2->kvm_added && x->b != IOMMUFD_BACKEND_CDEV) ||
				 (del_failed && !x->dev2 && x->b != IOMMUFD_BACKEND_CDEV));
	if (x->dev2)
		assert_int_equal(fake_kernel_kvm_vfio_holds(x->fk, x->fd, kvm_file(x, x->dev2)),
				 x->dev2->kvm_added || (x->dev->kvm_added && x->b != IOMMUFD_BACKEND_CDEV));
	/* Everything the library added it deletes; only a failed DEL of a
	 * destroyed device leaves KVM a file (until the KVM device goes). */
	if (x->dev->kvm_added)
		assert_int_equal(iommufd_device_kvm_del(x->dev), 0);
	if (x->dev2 && x->dev2->kvm_added)
		assert_int_equal(iommufd_device_kvm_del(x->dev2), 0);
	held = fake_kernel_kvm_vfio_files(x->fk, x->fd);
	assert_int_equal(held, del_failed && !x->dev2 ? 1 : 0);
	if (!held) {
		assert_int_equal(iommufd_device_kvm_add(x->dev, x->fd), 0);
		assert_int_equal(fake_kernel_kvm_vfio_files(x->fk, x->fd), 1);
	}
	after_usable(x, r);
}

/* ---- P2P: the dma-buf export, and the BAR map (a dma-buf through
 * IOMMU_IOAS_MAP_FILE on CDEV/GROUP, the BAR's mmap on TYPE1). */

static int run_p2p_export(struct fx *x)
{
	int fd = -1, r = iommufd_device_export_dmabuf(x->dev, 0, 0, PG, &fd);

	if (r == 0)
		r = fake_kernel_sys(x->fk)->close(fd) < 0 ? -errno : 0;
	return r;
}

static void setup_p2p_map(struct fx *x)
{
	new_dev(x);
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_B, NULL, &x->dev2), 0);
}

static int run_p2p_map(struct fx *x)
{
	int r = iommufd_ioas_map_bar(x->ioas, x->dev2, 0, 0, PG, RW, NULL, &x->iova[0]);

	if (r == 0 && iommufd_ioas_bar_revoked(x->ioas, x->iova[0]) != 0)
		fail_msg("a fresh BAR mapping is not live");
	return r;
}

static void after_p2p_map(struct fx *x, int r)
{
	if (r < 0) {
		assert_int_equal(x->iova[0], 0);
		assert_int_equal(iommufd_ioas_bar_revoked(x->ioas, PG), -ENOENT);
		expect_consistent(x, x->ioas);
		assert_int_equal(iommufd_ioas_map_bar(x->ioas, x->dev2, 0, 0, PG, RW, NULL, &x->iova[0]), 0);
	}
	expect_consistent(x, x->ioas);
	assert_int_equal(iommufd_ioas_bar_revoked(x->ioas, x->iova[0]), 0);
	assert_int_equal(iommufd_ioas_unmap(x->ioas, x->iova[0], PG, NULL), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(x->ioas, x->iova[0]), -ENOENT);
	expect_consistent(x, x->ioas);
}

/* File maps, their move to another process, export and import. */

static int real_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < FK_FD_BASE; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static void setup_file(struct fx *x)
{
	new_dev(x);
	x->memfd = memfd_create("test-faults", MFD_CLOEXEC);
	assert_true(x->memfd >= 0);
	assert_int_equal(ftruncate(x->memfd, 16 * PG), 0);
	x->nreal = real_fds();
}

static int run_file_map(struct fx *x)
{
	return iommufd_ioas_map_file(x->ioas, x->memfd, 4 * PG, 4 * PG, RW, NULL, &x->iova[1]);
}

static void after_file_map(struct fx *x, int r)
{
	if (r < 0) {
		assert_int_equal(x->iova[1], 0);
		assert_int_equal(iommufd_ioas_find_iova(x->ioas, PG, NULL), -ENOENT);
		assert_int_equal(real_fds(), x->nreal); /* no duplicate, no mmap left behind */
		expect_consistent(x, x->ioas);
		assert_int_equal(run_file_map(x), 0);
	}
	assert_true(iommufd_ioas_find_file(x->ioas, x->iova[1], NULL) >= 0);
	expect_consistent(x, x->ioas);
	assert_int_equal(iommufd_ioas_unmap(x->ioas, x->iova[1], 4 * PG, NULL), 0);
	x->iova[1] = 0;
	assert_int_equal(real_fds(), x->nreal);
	expect_consistent(x, x->ioas);
}

static int run_file_handle(struct fx *x)
{
	struct iommufd_map *m = NULL;
	int r = iommufd_map_create_file(x->ioas, x->memfd, 0, 2 * PG, IOMMUFD_MAP_READ, NULL, &m);

	if (r < 0)
		return r;
	x->iova[1] = iommufd_map_get_iova(m);
	return iommufd_map_destroy(m);
}

static void after_file_handle(struct fx *x, int r)
{
	if (r < 0 && x->iova[1]) {
		/* The destroy failed: the mapping stays, unmapped by IOVA. */
		expect_consistent(x, x->ioas);
		assert_int_equal(iommufd_ioas_unmap(x->ioas, x->iova[1], 2 * PG, NULL), r == 0 ? -ENOENT : 0);
	}
	x->iova[1] = 0;
	assert_int_equal(iommufd_ioas_find_iova(x->ioas, PG, NULL), -ENOENT);
	expect_consistent(x, x->ioas);
	assert_int_equal(real_fds(), x->nreal);
}

static void setup_chproc(struct fx *x)
{
	setup_file(x);
	assert_int_equal(run_file_map(x), 0);
}

static int run_chproc(struct fx *x)
{
	return iommufd_ctx_change_process(x->ctx);
}

static void after_chproc(struct fx *x, int r)
{
	if (r < 0)
		assert_int_equal(iommufd_ctx_change_process(x->ctx), 0);
	assert_true(fake_kernel_change_process_calls(x->fk) >= 1);
	expect_consistent(x, x->ioas);
}

static int run_export(struct fx *x)
{
	x->blen = sizeof(x->blob);
	x->nfds = 8;
	return iommufd_ctx_export(x->ctx, x->blob, &x->blen, x->fds, &x->nfds);
}

static void after_export(struct fx *x, int r)
{
	uint64_t iova;

	if (r < 0) {
		/* Not handed over: the context still works, and can try again. */
		assert_int_equal(iommufd_ioas_map_file(x->ioas, x->memfd, 0, PG, RW, NULL, &iova), 0);
		assert_int_equal(iommufd_ioas_unmap(x->ioas, iova, PG, NULL), 0);
		assert_int_equal(run_export(x), 0);
	}
	assert_int_equal(x->nfds, x->b == IOMMUFD_BACKEND_GROUP ? 4 : 3); /* GROUP: the group's fd too */
	assert_int_equal(iommufd_ioas_map_file(x->ioas, x->memfd, 0, PG, RW, NULL, &iova), -ECHILD);
}

static void setup_import(struct fx *x)
{
	setup_chproc(x);
	assert_int_equal(run_export(x), 0);
	for (size_t i = 0; i < x->nfds; i++)
		x->fds[i] = fake_kernel_sys(x->fk)->dup(x->fds[i]); /* as SCM_RIGHTS would */
	/* The old process goes; its destroy leaves the kernel objects. */
	iommufd_ctx_destroy(x->ctx);
	x->ctx = NULL;
	x->ioas = NULL;
	x->dev = NULL;
	x->iova[1] = 0;
}

static int run_import(struct fx *x)
{
	return ifd_ctx_import_sys(x->blob, x->blen, x->fds, x->nfds, NULL, fake_kernel_sys(x->fk), &x->ctx2);
}

static void after_import(struct fx *x, int r)
{
	if (r < 0) {
		/* The caller's fds are still the caller's, the kernel's objects intact. */
		assert_null(x->ctx2);
		for (size_t i = 0; i < x->nfds; i++)
			if (x->fds[i] >= FK_FD_BASE)
				assert_true(fake_kernel_fd_is_open(x->fk, x->fds[i]));
			else
				assert_true(fcntl(x->fds[i], F_GETFD) >= 0);
		assert_int_equal(fake_kernel_get_maps(x->fk, x->fds[0], 1, NULL, 0), 1);
		assert_int_equal(run_import(x), 0);
	}
	/* The new context owns everything: fx_finish checks it closes it all. */
	x->ctx = x->ctx2;
	x->ctx2 = NULL;
	x->dev = iommufd_ctx_find_device(x->ctx, FK_DEV_A);
	assert_non_null(x->dev);
	x->ioas = iommufd_device_get_ioas(x->dev);
	assert_non_null(x->ioas);
	expect_device_ok(x, x->dev);
	assert_int_equal(iommufd_ctx_change_process(x->ctx), 0);
	expect_consistent(x, x->ioas);
	assert_int_equal(iommufd_ioas_unmap_all(x->ioas), 1);
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
	{ "queries", CDEV, setup_map, run_queries, after_usable, false },
	{ "irq unmask, disable", ALL, setup_irq, run_irq, after_usable, false },
	{ "ioas reserve, allow, copy, map handle", CDEV, setup_ioas_ops, run_ioas_ops, after_ioas_ops, false },
	{ "hwpt life cycle", CDEV, setup_hwpt, run_hwpt, after_hwpt, false },
	{ "dirty tracking, fault queue", CDEV, setup_dirty, run_dirty, after_dirty, false },
	{ "pasid attach, detach", CDEV, setup_pasid, run_pasid, after_pasid, false },
	{ "device adopt id", CDEV, setup_adopt_id, run_adopt_id, after_adopt_id, false },
	{ "vf token", ALL, setup_vf, run_vf, after_vf, false },
	{ "kvm add, del, destroy", ALL, setup_kvm, run_kvm, after_kvm, false },
	{ "p2p export", ALL, new_dev, run_p2p_export, after_usable, false },
	{ "p2p map bar", ALL, setup_p2p_map, run_p2p_map, after_p2p_map, false },
	{ "file map", ALL, setup_file, run_file_map, after_file_map, false },
	{ "file map handle", ALL, setup_file, run_file_handle, after_file_handle, false },
	{ "change process", CDEV | (1u << IOMMUFD_BACKEND_GROUP), setup_chproc, run_chproc, after_chproc, false },
	{ "export", CDEV | (1u << IOMMUFD_BACKEND_GROUP), setup_chproc, run_export, after_export, false },
	{ "import", CDEV | (1u << IOMMUFD_BACKEND_GROUP), setup_import, run_import, after_import, false },
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
	x->memfd = -1;
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
	if (x->memfd >= 0)
		close(x->memfd);
	x->memfd = -1;
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
		fail_msg("%s (%s): fails without faults: %d (line %d)", s->name, iommufd_backend_name(b), r, g_line);
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

/* ------------------------------------------------------------------------ */
/* Every public function is swept                                           */

/*
 * Each exported function (lib/libiommufd.map) and the scenario whose
 * sweep calls it; NULL: it makes no kernel call (a getter, or a pure
 * computation), which test_coverage checks on the fake kernel's counter.
 * A function exported but missing here fails the test.
 */
static const struct {
	const char *fn, *scenario;
} coverage[] = {
	{ "iommufd_hw_queue_create", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_hw_queue_destroy", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_hw_queue_get_id", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_hwpt_create_nested", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_hwpt_get_parent", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_hwpt_invalidate", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_vdevice_create", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_vdevice_destroy", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_vdevice_get_id", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_veventq_create", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_veventq_destroy", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_veventq_get_fd", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_veventq_get_id", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_veventq_get_stats", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_veventq_read", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_viommu_create", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_viommu_destroy", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_viommu_get_id", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_viommu_invalidate", NULL }, /* swept in test-viommu (issue 9), not here yet */
	{ "iommufd_backend_name", NULL },
	{ "iommufd_ctx_adopt_fd", "ctx adopt" },
	{ "iommufd_ctx_create", "ctx create" },
	{ "iommufd_ctx_change_process", "change process" },
	{ "iommufd_ctx_destroy", "ctx destroy with live objects" },
	{ "iommufd_ctx_export", "export" },
	{ "iommufd_ctx_find_device", NULL },
	{ "iommufd_ctx_find_ioas", NULL },
	{ "iommufd_ctx_get_backend", NULL },
	{ "iommufd_ctx_get_event_fd", "queries" },
	{ "iommufd_ctx_get_fd", NULL },
	{ "iommufd_ctx_get_pin_accounting", "queries" },
	{ "iommufd_ctx_import", "import" },
	{ "iommufd_ctx_read_events", "queries" },
	{ "iommufd_ctx_set_log", "queries" },
	{ "iommufd_device_adopt_cdev_fd", "device adopt cdev fd" },
	{ "iommufd_device_adopt_group_fd", "device adopt group fd" },
	{ "iommufd_device_adopt_id", "device adopt id" },
	{ "iommufd_device_attach", "device move" },
	{ "iommufd_device_attach_hwpt", "hwpt life cycle" },
	{ "iommufd_device_attach_pasid", "pasid attach, detach" },
	{ "iommufd_device_config_read", "queries" },
	{ "iommufd_device_config_write", "queries" },
	{ "iommufd_device_destroy", "device destroy" },
	{ "iommufd_device_detach", "hwpt life cycle" },
	{ "iommufd_device_detach_pasid", "pasid attach, detach" },
	{ "iommufd_device_export_dmabuf", "p2p export" },
	{ "iommufd_device_get_fd", NULL },
	{ "iommufd_device_get_group", NULL },
	{ "iommufd_device_get_hw_info", "hwpt life cycle" },
	{ "iommufd_device_get_hwpt", NULL },
	{ "iommufd_device_get_id", NULL },
	{ "iommufd_device_get_ioas", NULL },
	{ "iommufd_device_get_irq_count", "queries" },
	{ "iommufd_device_get_name", NULL },
	{ "iommufd_device_get_num_regions", "queries" },
	{ "iommufd_device_get_region_areas", "queries" },
	{ "iommufd_device_get_region_info", "queries" },
	{ "iommufd_device_get_region_type", "queries" },
	{ "iommufd_device_get_vf_name", "vf token" },
	{ "iommufd_device_irq_disable", "irq unmask, disable" },
	{ "iommufd_device_irq_enable", "device io" },
	{ "iommufd_device_irq_unmask", "irq unmask, disable" },
	{ "iommufd_device_kvm_add", "kvm add, del, destroy" },
	{ "iommufd_device_kvm_del", "kvm add, del, destroy" },
	{ "iommufd_device_list", "queries" },
	{ "iommufd_device_map_region", "device io" },
	{ "iommufd_device_open", "device open by BDF" },
	{ "iommufd_device_region_read", "device io" },
	{ "iommufd_device_region_write", "device io" },
	{ "iommufd_device_reset", "device io" },
	{ "iommufd_device_set_bus_master", "device io" },
	{ "iommufd_device_set_vf_token", "vf token" },
	{ "iommufd_device_unmap_region", "device io" },
	{ "iommufd_fault_queue_create", "dirty tracking, fault queue" },
	{ "iommufd_fault_queue_destroy", "dirty tracking, fault queue" },
	{ "iommufd_fault_queue_get_fd", NULL },
	{ "iommufd_fault_queue_get_id", NULL },
	{ "iommufd_fault_queue_get_stats", "dirty tracking, fault queue" },
	{ "iommufd_fault_queue_read", "dirty tracking, fault queue" },
	{ "iommufd_fault_queue_respond", "dirty tracking, fault queue" },
	{ "iommufd_feature_query", "queries" },
	{ "iommufd_hwpt_create", "hwpt life cycle" },
	{ "iommufd_hwpt_destroy", "hwpt life cycle" },
	{ "iommufd_hwpt_get_dirty_bitmap", "dirty tracking, fault queue" },
	{ "iommufd_hwpt_get_flags", NULL },
	{ "iommufd_hwpt_get_id", NULL },
	{ "iommufd_hwpt_get_ioas", NULL },
	{ "iommufd_hwpt_set_dirty_tracking", "dirty tracking, fault queue" },
	{ "iommufd_ioas_allow_iovas", "ioas reserve, allow, copy, map handle" },
	{ "iommufd_ioas_bar_revoked", NULL },
	{ "iommufd_ioas_copy", "ioas reserve, allow, copy, map handle" },
	{ "iommufd_ioas_create", "ioas create" },
	{ "iommufd_ioas_destroy", "ioas destroy" },
	{ "iommufd_ioas_find_file", NULL },
	{ "iommufd_ioas_find_iova", NULL },
	{ "iommufd_ioas_get_alignment", "queries" },
	{ "iommufd_ioas_get_bus_addrs", "queries" },
	{ "iommufd_ioas_get_ctx", NULL },
	{ "iommufd_ioas_get_dirty_bitmap", "dirty tracking, fault queue" },
	{ "iommufd_ioas_get_fd", NULL },
	{ "iommufd_ioas_get_id", NULL },
	{ "iommufd_ioas_get_ranges", "queries" },
	{ "iommufd_ioas_map", "map" },
	{ "iommufd_ioas_map_bar", "p2p map bar" },
	{ "iommufd_ioas_map_file", "file map" },
	{ "iommufd_ioas_reserve", "ioas reserve, allow, copy, map handle" },
	{ "iommufd_ioas_set_dirty_tracking", "dirty tracking, fault queue" },
	{ "iommufd_ioas_set_huge_pages", "ioas reserve, allow, copy, map handle" },
	{ "iommufd_ioas_translate", "queries" },
	{ "iommufd_ioas_unmap", "unmap" },
	{ "iommufd_ioas_unmap_all", "unmap all" },
	{ "iommufd_ioas_unreserve", "ioas reserve, allow, copy, map handle" },
	{ "iommufd_kvm_vfio_create", "kvm add, del, destroy" },
	{ "iommufd_map_create", "ioas reserve, allow, copy, map handle" },
	{ "iommufd_map_create_file", "file map handle" },
	{ "iommufd_map_destroy", "ioas reserve, allow, copy, map handle" },
	{ "iommufd_map_get_flags", NULL },
	{ "iommufd_map_get_ioas", NULL },
	{ "iommufd_map_get_iova", NULL },
	{ "iommufd_map_get_len", NULL },
	{ "iommufd_map_get_vaddr", NULL },
	{ "iommufd_version", NULL },
};

/* The map's exported names against the list, and the list's scenarios
 * against the table: a new public function must be added to a sweep. */
static void test_coverage(void **state)
{
	FILE *f = fopen(IFD_MAPFILE, "re");
	char line[256];
	unsigned int nmap = 0, missing = 0;

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char name[128];
		bool found = false;

		if (sscanf(line, " %127[a-z0-9_];", name) != 1 || strncmp(name, "iommufd_", 8))
			continue;
		nmap++;
		for (size_t i = 0; i < sizeof(coverage) / sizeof(coverage[0]) && !found; i++)
			found = !strcmp(coverage[i].fn, name);
		if (!found) {
			print_error("%s is exported but no sweep names it (tests/unit/test-faults.c: coverage)\n", name);
			missing++;
		}
	}
	fclose(f);
	assert_int_equal(missing, 0);
	assert_int_equal(nmap, sizeof(coverage) / sizeof(coverage[0]));
	for (size_t i = 0; i < sizeof(coverage) / sizeof(coverage[0]); i++) {
		bool found = !coverage[i].scenario;

		for (size_t k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]) && !found; k++)
			found = !strcmp(scenarios[k].name, coverage[i].scenario);
		if (!found)
			fail_msg("%s: no scenario \"%s\"", coverage[i].fn, coverage[i].scenario);
	}
}

/* The functions listed as making no kernel call make none. */
static void test_getters_make_no_call(void **state)
{
	struct fx *x = &g_x;
	struct iommufd_map *m = NULL;
	struct iommufd_hwpt *h = NULL;
	struct iommufd_fault_queue *q = NULL;
	unsigned long k;

	(void)state;
	fx_start(x, IOMMUFD_BACKEND_CDEV);
	new_dev(x);
	assert_int_equal(iommufd_map_create(x->ioas, buf, PG, RW, NULL, &m), 0);
	assert_int_equal(iommufd_hwpt_create(x->dev, x->ioas, NULL, &h), 0);
	assert_int_equal(iommufd_fault_queue_create(x->ctx, NULL, &q), 0);
	k = fake_kernel_calls(x->fk);
	assert_non_null(iommufd_backend_name(IOMMUFD_BACKEND_CDEV));
	assert_int_equal(iommufd_ctx_get_backend(x->ctx), IOMMUFD_BACKEND_CDEV);
	assert_true(iommufd_ctx_get_fd(x->ctx) >= 0);
	assert_true(iommufd_device_get_fd(x->dev) >= 0);
	(void)iommufd_device_get_group(x->dev);
	assert_null(iommufd_device_get_hwpt(x->dev));
	assert_true(iommufd_device_get_id(x->dev) > 0);
	assert_ptr_equal(iommufd_device_get_ioas(x->dev), x->ioas);
	assert_non_null(iommufd_device_get_name(x->dev));
	assert_true(iommufd_fault_queue_get_fd(q) >= 0);
	assert_true(iommufd_fault_queue_get_id(q) > 0);
	assert_int_equal(iommufd_hwpt_get_flags(h), 0);
	assert_true(iommufd_hwpt_get_id(h) > 0);
	assert_ptr_equal(iommufd_hwpt_get_ioas(h), x->ioas);
	assert_int_equal(iommufd_ioas_find_iova(x->ioas, iommufd_map_get_iova(m), NULL), 0);
	assert_ptr_equal(iommufd_ioas_get_ctx(x->ioas), x->ctx);
	assert_true(iommufd_ioas_get_fd(x->ioas) >= 0);
	assert_true(iommufd_ioas_get_id(x->ioas) > 0);
	assert_int_equal(iommufd_map_get_flags(m), RW);
	assert_ptr_equal(iommufd_map_get_ioas(m), x->ioas);
	assert_int_equal(iommufd_map_get_len(m), PG);
	assert_ptr_equal(iommufd_map_get_vaddr(m), buf);
	assert_true(iommufd_version() > 0);
	assert_int_equal(fake_kernel_calls(x->fk), k);
	fx_finish(x, "getters");
}

int main(void)
{
	struct CMUnitTest tests[sizeof(scenarios) / sizeof(scenarios[0]) + 2];
	size_t nt = sizeof(scenarios) / sizeof(scenarios[0]);

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
	tests[nt++] = (struct CMUnitTest){ .name = "every public function is swept", .test_func = test_coverage };
	tests[nt++] = (struct CMUnitTest){ .name = "getters make no kernel call", .test_func = test_getters_make_no_call,
					   .teardown_func = teardown };
	return _cmocka_run_group_tests("faults", tests, nt, NULL, NULL);
}
