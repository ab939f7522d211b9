/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The exact kernel calls each backend makes for each step of an object's
 * life: a regression here changes what runs on real kernels.  Only device
 * nodes and ioctls are compared (sysfs and /proc reads are left out); ioctl
 * lines carry the arguments that matter (IDs, IOVA+length, R/W/Fixed).
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
/* Every region is described once, at open (the fake device has 9). */
#define REGION_INFOS(f)                                                                                      \
	"ioctl " f " VFIO_DEVICE_GET_REGION_INFO 0", "ioctl " f " VFIO_DEVICE_GET_REGION_INFO 1",             \
		"ioctl " f " VFIO_DEVICE_GET_REGION_INFO 2", "ioctl " f " VFIO_DEVICE_GET_REGION_INFO 3",     \
		"ioctl " f " VFIO_DEVICE_GET_REGION_INFO 4", "ioctl " f " VFIO_DEVICE_GET_REGION_INFO 5",     \
		"ioctl " f " VFIO_DEVICE_GET_REGION_INFO 6", "ioctl " f " VFIO_DEVICE_GET_REGION_INFO 7",     \
		"ioctl " f " VFIO_DEVICE_GET_REGION_INFO 8 = EINVAL"

static uint8_t buf[16 * PG] __attribute__((aligned(PG)));

static int teardown(void **state)
{
	(void)state;
	unsetenv("LIBIOMMUFD_BACKEND");
	fake_kernel_destroy_current();
	return 0;
}

static struct fake_kernel *start(enum iommufd_backend b, struct iommufd_ctx **ctx)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);

	unsetenv("LIBIOMMUFD_BACKEND");
	assert_int_equal(fk_ctx_create(fk, b, NULL, ctx), 0);
	return fk;
}

static void finish(struct fake_kernel *fk)
{
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	assert_int_equal(fake_kernel_live_files(fk), 0);
	fake_kernel_destroy(fk);
}

/* ------------------------------------------------------------------------ */

static void test_cdev_lifecycle(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fake_kernel *fk;
	uint64_t iova = 0;

	(void)state;
	fk = start(IOMMUFD_BACKEND_CDEV, &ctx);
	/* the accounting in force is learnt once (nothing to set by default) */
	fk_expect_trace(fk, "open /dev/iommu", "ioctl iommufd IOMMU_OPTION RLIMIT_MODE GET 0 0");

	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	fk_expect_trace(fk, "ioctl iommufd IOMMU_IOAS_ALLOC", "ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1");

	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	fk_expect_trace(fk, "open /dev/vfio/devices/vfio0", "ioctl cdev/0000:00:04.0 VFIO_DEVICE_BIND_IOMMUFD",
			"ioctl cdev/0000:00:04.0 VFIO_DEVICE_ATTACH_IOMMUFD_PT 1",
			"ioctl cdev/0000:00:04.0 VFIO_DEVICE_GET_INFO", REGION_INFOS("cdev/0000:00:04.0"), "ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1");

	assert_int_equal(iommufd_ioas_map(ioas, buf, 4 * PG, RW, NULL, &iova), 0);
	fk_expect_trace(fk, "ioctl iommufd IOMMU_IOAS_MAP 1 0x1000+0x4000 FRW");
	assert_int_equal(iommufd_ioas_map(ioas, buf, PG, IOMMUFD_MAP_READ, NULL, &iova), 0);
	fk_expect_trace(fk, "ioctl iommufd IOMMU_IOAS_MAP 1 0x5000+0x1000 FR");

	assert_int_equal(iommufd_ioas_unmap(ioas, 0x1000, 4 * PG, NULL), 0);
	fk_expect_trace(fk, "ioctl iommufd IOMMU_IOAS_UNMAP 1 0x1000+0x4000");

	/* close() detaches and unbinds; then the ranges widen */
	assert_int_equal(iommufd_device_destroy(dev), 0);
	fk_expect_trace(fk, "close cdev/0000:00:04.0", "ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1");

	/* destroying the IOAS drops its mappings with it */
	assert_int_equal(iommufd_ioas_destroy(ioas), 0);
	fk_expect_trace(fk, "ioctl iommufd IOMMU_DESTROY 1");

	iommufd_ctx_destroy(ctx);
	fk_expect_trace(fk, "close iommufd");
	finish(fk);
}

static void test_group_lifecycle(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fake_kernel *fk;
	uint64_t iova = 0;

	(void)state;
	fk = start(IOMMUFD_BACKEND_GROUP, &ctx);
	fk_expect_trace(fk, "open /dev/iommu", "ioctl iommufd IOMMU_OPTION RLIMIT_MODE GET 0 0");

	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	fk_expect_trace(fk, "ioctl iommufd IOMMU_IOAS_ALLOC", "ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1");

	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	fk_expect_trace(fk, "open /dev/vfio/5", "ioctl group/5 VFIO_GROUP_GET_STATUS",
			"ioctl iommufd IOMMU_VFIO_IOAS SET 1", "ioctl group/5 VFIO_GROUP_SET_CONTAINER",
			"ioctl group/5 VFIO_GROUP_GET_DEVICE_FD 0000:00:04.0",
			"ioctl device/0000:00:04.0 VFIO_DEVICE_GET_INFO", REGION_INFOS("device/0000:00:04.0"), "ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1");

	assert_int_equal(iommufd_ioas_map(ioas, buf, 4 * PG, IOMMUFD_MAP_WRITE, NULL, &iova), 0);
	fk_expect_trace(fk, "ioctl iommufd IOMMU_IOAS_MAP 1 0x1000+0x4000 FW");

	assert_int_equal(iommufd_ioas_unmap(ioas, 0x1000, 4 * PG, NULL), 0);
	fk_expect_trace(fk, "ioctl iommufd IOMMU_IOAS_UNMAP 1 0x1000+0x4000");

	assert_int_equal(iommufd_device_destroy(dev), 0);
	fk_expect_trace(fk, "close device/0000:00:04.0", "ioctl group/5 VFIO_GROUP_UNSET_CONTAINER", "close group/5",
			"ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1");

	assert_int_equal(iommufd_ioas_destroy(ioas), 0);
	fk_expect_trace(fk, "ioctl iommufd IOMMU_DESTROY 1");

	iommufd_ctx_destroy(ctx);
	fk_expect_trace(fk, "close iommufd");
	finish(fk);
}

static void test_type1_lifecycle(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fake_kernel *fk;
	uint64_t iova = 0;

	(void)state;
	fk = start(IOMMUFD_BACKEND_TYPE1, &ctx);
	/* the probe: API version, then type1v2 (VFIO_TYPE1v2_IOMMU = 3) */
	fk_expect_trace(fk, "open /dev/vfio/vfio", "ioctl container VFIO_GET_API_VERSION",
			"ioctl container VFIO_CHECK_EXTENSION 3");

	/* the first IOAS takes the probed container: no call at all */
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(fake_kernel_log_count(fk), 0);

	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	/* GET_INFO twice: the first learns how big the capability chain is */
	fk_expect_trace(fk, "open /dev/vfio/5", "ioctl group/5 VFIO_GROUP_GET_STATUS",
			"ioctl group/5 VFIO_GROUP_SET_CONTAINER", "ioctl container VFIO_CHECK_EXTENSION 3",
			"ioctl container VFIO_SET_IOMMU 3", "ioctl container VFIO_CHECK_EXTENSION 9",
			"ioctl group/5 VFIO_GROUP_GET_DEVICE_FD 0000:00:04.0",
			"ioctl device/0000:00:04.0 VFIO_DEVICE_GET_INFO", REGION_INFOS("device/0000:00:04.0"),
			"ioctl container VFIO_IOMMU_GET_INFO",
			"ioctl container VFIO_IOMMU_GET_INFO");

	assert_int_equal(iommufd_ioas_map(ioas, buf, 4 * PG, RW, NULL, &iova), 0);
	fk_expect_trace(fk, "ioctl container VFIO_IOMMU_MAP_DMA 0x1000+0x4000 RW");

	assert_int_equal(iommufd_ioas_unmap(ioas, 0x1000, 4 * PG, NULL), 0);
	fk_expect_trace(fk, "ioctl container VFIO_IOMMU_UNMAP_DMA 0x1000+0x4000");

	/* the container loses its IOMMU with its last group; emptied first,
	 * as iommufd's compat container would keep the mappings */
	assert_int_equal(iommufd_device_destroy(dev), 0);
	fk_expect_trace(fk, "close device/0000:00:04.0", "ioctl container VFIO_IOMMU_UNMAP_DMA 0+0 ALL",
			"ioctl group/5 VFIO_GROUP_UNSET_CONTAINER", "close group/5");

	assert_int_equal(iommufd_ioas_destroy(ioas), 0);
	fk_expect_trace(fk, "close container");

	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_log_count(fk), 0);
	finish(fk);
}

/* ------------------------------------------------------------------------ */

static void test_auto_probes(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct fake_kernel *fk;

	(void)state;
	unsetenv("LIBIOMMUFD_BACKEND");
	/* without iommufd, AUTO tries /dev/iommu, then the container */
	fk = fk_standard(FK_LINUX_6_12);
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_AUTO, NULL, &ctx), 0);
	fk_expect_trace(fk, "open /dev/iommu = ENOENT", "open /dev/vfio/vfio", "ioctl container VFIO_GET_API_VERSION",
			"ioctl container VFIO_CHECK_EXTENSION 3");
	iommufd_ctx_destroy(ctx);
	fk_expect_trace(fk, "close container");
	finish(fk);

	/* iommufd without VFIO: /dev/iommu is opened, given up, then the container */
	fk = fk_standard(FK_LINUX_IOMMUFD_ONLY);
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_AUTO, NULL, &ctx), -ENODEV);
	fk_expect_trace(fk, "open /dev/iommu", "close iommufd", "open /dev/vfio/vfio = ENOENT");
	finish(fk);
}

static void test_type1_v1_probe(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_6_12, .type1_v1_only = true };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;

	(void)state;
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = 5 });
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_TYPE1, NULL, &ctx), 0);
	/* no type1v2: falls back to type1 (VFIO_TYPE1_IOMMU = 1) */
	fk_expect_trace(fk, "open /dev/vfio/vfio", "ioctl container VFIO_GET_API_VERSION",
			"ioctl container VFIO_CHECK_EXTENSION 3", "ioctl container VFIO_CHECK_EXTENSION 1");
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(fake_kernel_log_find(fk, "ioctl", "VFIO_SET_IOMMU 1"), 1);
	assert_int_equal(fake_kernel_log_find(fk, "ioctl", "VFIO_SET_IOMMU 3"), 0);
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

static void test_type1_replay_order(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = 0x100000 };
	struct fake_kernel *fk;
	uint64_t iova = 0;

	(void)state;
	fk = start(IOMMUFD_BACKEND_TYPE1, &ctx);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	fake_kernel_log_clear(fk);
	assert_int_equal(iommufd_ioas_map(ioas, buf, 2 * PG, RW, NULL, &iova), 0);
	assert_int_equal(iommufd_ioas_map(ioas, buf, PG, IOMMUFD_MAP_READ | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	assert_int_equal(fake_kernel_log_count(fk), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	/* checked against the container's ranges, then replayed in IOVA order
	 * right after SET_IOMMU, before the device fd */
	fk_expect_trace(fk, "open /dev/vfio/5", "ioctl group/5 VFIO_GROUP_GET_STATUS",
			"ioctl group/5 VFIO_GROUP_SET_CONTAINER", "ioctl container VFIO_CHECK_EXTENSION 3",
			"ioctl container VFIO_SET_IOMMU 3", "ioctl container VFIO_CHECK_EXTENSION 9",
			"ioctl container VFIO_IOMMU_GET_INFO", "ioctl container VFIO_IOMMU_GET_INFO",
			"ioctl container VFIO_IOMMU_MAP_DMA 0x1000+0x2000 RW",
			"ioctl container VFIO_IOMMU_MAP_DMA 0x100000+0x1000 R",
			"ioctl group/5 VFIO_GROUP_GET_DEVICE_FD 0000:00:04.0",
			"ioctl device/0000:00:04.0 VFIO_DEVICE_GET_INFO", REGION_INFOS("device/0000:00:04.0"), "ioctl container VFIO_IOMMU_GET_INFO",
			"ioctl container VFIO_IOMMU_GET_INFO");
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

/* The container loses its mappings with its last group; the records stay
 * and the next first device gets them all back, old and new. */
static void test_type1_replay_after_leave(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fake_kernel *fk;
	uint64_t a = 0, b = 0;

	(void)state;
	fk = start(IOMMUFD_BACKEND_TYPE1, &ctx);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_ioas_map(ioas, buf, PG, RW, NULL, &a), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_device_destroy(dev), 0);
	assert_int_equal(fake_kernel_pinned(fk), 0);
	assert_int_equal(iommufd_ioas_map(ioas, buf + PG, PG, RW, NULL, &b), 0);
	fake_kernel_log_clear(fk);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(fake_kernel_log_find(fk, "ioctl", "VFIO_IOMMU_MAP_DMA"), 2);
	assert_int_equal(fake_kernel_pinned(fk), 2 * PG);
	/* and nothing twice: a map made with the IOMMU set is not replayed again */
	assert_int_equal(iommufd_ioas_unmap(ioas, a, PG, NULL), 0);
	assert_int_equal(fake_kernel_pinned(fk), PG);
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

/*
 * iommufd's compat container (CONFIG_IOMMUFD_VFIO_CONTAINER) keeps its
 * IOAS and mappings when the last group leaves: what the library unmapped
 * while no device was there must be gone from the kernel too, or the next
 * first device's replay collides with it (-EEXIST).
 */
static void test_type1_compat_leave(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .compat_container = true };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = 0x100000 };
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	uint64_t iova = 0;

	(void)state;
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = 5 });
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_TYPE1, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_ioas_map(ioas, buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_device_destroy(dev), 0);
	assert_int_equal(fake_kernel_pinned(fk), 0);
	assert_int_equal(iommufd_ioas_unmap(ioas, iova, PG, NULL), 0);
	assert_int_equal(iommufd_ioas_map(ioas, buf + PG, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	dev = NULL;
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(fake_kernel_pinned(fk), PG);
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

/* On the compat container a mapping in the device's MSI window is found
 * only at the attach (GET_DEVICE_FD: -EADDRINUSE): the caller is owed the
 * -ERANGE the other backends give, and nothing is left behind. */
static void test_type1_compat_msi_window(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .compat_container = true };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = FK_MSI_START };
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	uint64_t iova = 0;

	(void)state;
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = 5 });
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_TYPE1, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_ioas_map(ioas, buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), -ERANGE);
	assert_null(dev);
	assert_int_equal(fake_kernel_pinned(fk), 0);
	assert_int_equal(iommufd_ioas_unmap(ioas, iova, PG, NULL), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

/* The compat container pins what was mapped when the first device attaches
 * (GET_DEVICE_FD): an -ENOMEM there is explained as the pin it is. */
static void test_type1_compat_attach_enomem(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .compat_container = true };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fk_logcap cap;
	uint64_t iova = 0;

	(void)state;
	fk_logcap_init(&cap);
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = 5 });
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_TYPE1, &cap, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_ioas_map(ioas, buf, 2 * PG, RW, NULL, &iova), 0);
	fake_kernel_fail_match(fk, "VFIO_GROUP_GET_DEVICE_FD", 1, ENOMEM);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), -ENOMEM);
	assert_true(fk_logcap_has(&cap, "RLIMIT_MEMLOCK"));
	assert_true(fk_logcap_has(&cap, "pinning 8192 bytes"));
	assert_int_equal(fake_kernel_pinned(fk), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);
}

static void test_type1_second_ioas(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *a = NULL, *b = NULL;
	struct fake_kernel *fk;

	(void)state;
	fk = start(IOMMUFD_BACKEND_TYPE1, &ctx);
	assert_int_equal(iommufd_ioas_create(ctx, &a), 0);
	fake_kernel_log_clear(fk);
	/* one container per IOAS: the second one probes its own */
	assert_int_equal(iommufd_ioas_create(ctx, &b), 0);
	fk_expect_trace(fk, "open /dev/vfio/vfio", "ioctl container VFIO_GET_API_VERSION",
			"ioctl container VFIO_CHECK_EXTENSION 3");
	assert_int_equal(iommufd_ioas_destroy(a), 0);
	assert_int_equal(iommufd_ioas_destroy(b), 0);
	fk_expect_trace(fk, "close container", "close container");
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

static void test_group_second_device(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *b = NULL, *b2 = NULL;
	struct fake_kernel *fk;

	(void)state;
	fk = start(IOMMUFD_BACKEND_GROUP, &ctx);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_B, NULL, &b), 0);
	fake_kernel_log_clear(fk);
	/* the group is open and joined already */
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_B2, NULL, &b2), 0);
	fk_expect_trace(fk, "ioctl iommufd IOMMU_VFIO_IOAS SET 1", "ioctl group/6 VFIO_GROUP_GET_DEVICE_FD 0000:00:05.1",
			"ioctl device/0000:00:05.1 VFIO_DEVICE_GET_INFO", REGION_INFOS("device/0000:00:05.1"), "ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1");
	/* the group fd outlives the first device */
	assert_int_equal(iommufd_device_destroy(b), 0);
	fk_expect_trace(fk, "close device/0000:00:05.0", "ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1");
	iommufd_ctx_destroy(ctx);
	fk_expect_trace(fk, "close device/0000:00:05.1", "ioctl group/6 VFIO_GROUP_UNSET_CONTAINER", "close group/6",
			"ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1", "ioctl iommufd IOMMU_DESTROY 1", "close iommufd");
	finish(fk);
}

static void test_type1_second_device(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *b = NULL, *b2 = NULL;
	struct fake_kernel *fk;

	(void)state;
	fk = start(IOMMUFD_BACKEND_TYPE1, &ctx);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_B, NULL, &b), 0);
	fake_kernel_log_clear(fk);
	/* same group, same container, IOMMU already set */
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_B2, NULL, &b2), 0);
	fk_expect_trace(fk, "ioctl group/6 VFIO_GROUP_GET_DEVICE_FD 0000:00:05.1",
			"ioctl device/0000:00:05.1 VFIO_DEVICE_GET_INFO", REGION_INFOS("device/0000:00:05.1"), "ioctl container VFIO_IOMMU_GET_INFO",
			"ioctl container VFIO_IOMMU_GET_INFO");
	iommufd_ctx_destroy(ctx);
	fk_expect_trace(fk, "close device/0000:00:05.0", "ioctl container VFIO_IOMMU_GET_INFO",
			"ioctl container VFIO_IOMMU_GET_INFO", "close device/0000:00:05.1",
			"ioctl container VFIO_IOMMU_UNMAP_DMA 0+0 ALL", "ioctl group/6 VFIO_GROUP_UNSET_CONTAINER",
			"close group/6", "close container");
	finish(fk);
}

static void test_cdev_move(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *a = NULL, *b = NULL;
	struct iommufd_device *dev = NULL;
	struct fake_kernel *fk;

	(void)state;
	fk = start(IOMMUFD_BACKEND_CDEV, &ctx);
	assert_int_equal(iommufd_ioas_create(ctx, &a), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &b), 0);
	assert_int_equal(iommufd_device_open(a, FK_DEV_A, NULL, &dev), 0);
	fake_kernel_log_clear(fk);
	/* one ATTACH replaces the domain; both IOAS re-read their ranges */
	assert_int_equal(iommufd_device_attach(dev, b), 0);
	fk_expect_trace(fk, "ioctl cdev/0000:00:04.0 VFIO_DEVICE_ATTACH_IOMMUFD_PT 2",
			"ioctl iommufd IOMMU_IOAS_IOVA_RANGES 2", "ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1");
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

static void test_region_and_irq_calls(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fake_kernel *fk;
	int fds[2] = { -1, -1 };
	uint32_t v;
	void *p;
	size_t len;

	(void)state;
	fk = start(IOMMUFD_BACKEND_CDEV, &ctx);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	fake_kernel_log_clear(fk);
	assert_int_equal(iommufd_device_region_read(dev, 2, 8, &v, 4), 0);
	assert_int_equal(iommufd_device_map_region(dev, 0, &p, &len), 0);
	assert_int_equal(iommufd_device_irq_enable(dev, IOMMUFD_IRQ_MSIX, 0, 2, fds), 0);
	assert_int_equal(iommufd_device_irq_disable(dev, IOMMUFD_IRQ_MSIX), 0);
	assert_int_equal(iommufd_device_set_bus_master(dev, true), 0);
	assert_int_equal(iommufd_device_reset(dev), 0);
	assert_int_equal(iommufd_device_destroy(dev), 0);
	/* one system call per access: the regions were described at open */
	fk_expect_trace(fk, "pread cdev/0000:00:04.0 r2+0x8/4", "mmap cdev/0000:00:04.0 r0+0x0/4096",
			"ioctl cdev/0000:00:04.0 VFIO_DEVICE_GET_IRQ_INFO 2",
			"ioctl cdev/0000:00:04.0 VFIO_DEVICE_SET_IRQS 2 0+2 0x24",
			"ioctl cdev/0000:00:04.0 VFIO_DEVICE_SET_IRQS 2 0+0 0x21",
			"pread cdev/0000:00:04.0 r7+0x4/2", "pwrite cdev/0000:00:04.0 r7+0x4/2",
			"ioctl cdev/0000:00:04.0 VFIO_DEVICE_GET_INFO", "ioctl cdev/0000:00:04.0 VFIO_DEVICE_RESET",
			"munmap cdev/0000:00:04.0", "close cdev/0000:00:04.0", "ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1");
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

/* Everything undone in reverse on a context destroyed with live objects. */
static void test_ctx_destroy_order(void **state)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fake_kernel *fk;
	uint64_t iova;

	(void)state;
	fk = start(IOMMUFD_BACKEND_CDEV, &ctx);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_ioas_map(ioas, buf, PG, RW, NULL, &iova), 0);
	fake_kernel_log_clear(fk);
	iommufd_ctx_destroy(ctx);
	/* devices first, then the IOAS (whose destroy drops the mapping), then the fd */
	fk_expect_trace(fk, "close cdev/0000:00:04.0", "ioctl iommufd IOMMU_IOAS_IOVA_RANGES 1",
			"ioctl iommufd IOMMU_DESTROY 1", "close iommufd");
	finish(fk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_cdev_lifecycle, teardown),
		cmocka_unit_test_teardown(test_group_lifecycle, teardown),
		cmocka_unit_test_teardown(test_type1_lifecycle, teardown),
		cmocka_unit_test_teardown(test_auto_probes, teardown),
		cmocka_unit_test_teardown(test_type1_v1_probe, teardown),
		cmocka_unit_test_teardown(test_type1_replay_order, teardown),
		cmocka_unit_test_teardown(test_type1_replay_after_leave, teardown),
		cmocka_unit_test_teardown(test_type1_compat_leave, teardown),
		cmocka_unit_test_teardown(test_type1_compat_msi_window, teardown),
		cmocka_unit_test_teardown(test_type1_compat_attach_enomem, teardown),
		cmocka_unit_test_teardown(test_type1_second_ioas, teardown),
		cmocka_unit_test_teardown(test_group_second_device, teardown),
		cmocka_unit_test_teardown(test_type1_second_device, teardown),
		cmocka_unit_test_teardown(test_cdev_move, teardown),
		cmocka_unit_test_teardown(test_region_and_irq_calls, teardown),
		cmocka_unit_test_teardown(test_ctx_destroy_order, teardown),
	};

	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
