/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The NOIOMMU backend on the fake kernel: chosen only when asked for, its
 * two kernel paths, and the bus addresses of iommufd_ioas_get_bus_addrs()
 * against the fake's physical-address model (fake_kernel_phys(): contiguous
 * runs end at every FK_NIO_RUN-page boundary of the virtual address).
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
#define NIO_DEV "0000:00:0a.0"
#define NIO_DEV2 "0000:00:0b.0"
#define NIO_GROUP 0

/* 32 pages aligned to a run, so the runs are the pages 0-7, 8-15, ... */
static uint8_t buf[32 * PG] __attribute__((aligned(FK_NIO_RUN * PG)));

static int teardown(void **state)
{
	(void)state;
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_NOIOMMU_PATH");
	fake_kernel_destroy_current();
	return 0;
}

/* A machine without an IOMMU: two noiommu devices in groups 0 and 1. */
static struct fake_kernel *machine(bool mode, bool iommufd_path)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .noiommu_mode = mode, .noiommu_iommufd = iommufd_path };
	struct fake_kernel *fk = fake_kernel_create(&cfg);

	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = NIO_DEV, .group = NIO_GROUP, .noiommu = true });
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = NIO_DEV2, .group = 1, .noiommu = true });
	return fk;
}

static int nio_ctx(struct fake_kernel *fk, uint32_t path, struct fk_logcap *cap, struct iommufd_ctx **out)
{
	struct iommufd_ctx_opts o = {
		.sz = sizeof(o),
		.backend = IOMMUFD_BACKEND_NOIOMMU,
		.log_fn = cap ? fk_logcap_fn : NULL,
		.log_data = cap,
		.log_level = cap ? IOMMUFD_LOG_DEBUG : 0,
		.noiommu_path = path,
	};

	return ifd_ctx_create_sys(&o, fake_kernel_sys(fk), -1, out);
}

static void finish(struct fake_kernel *fk)
{
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	assert_int_equal(fake_kernel_live_files(fk), 0);
	fake_kernel_destroy(fk);
}

/* What the segments of [va, va + len) (IOVA @iova) must be: one per run. */
static size_t expected_segs(struct fake_kernel *fk, uint64_t va, uint64_t iova, uint64_t len,
			    struct iommufd_dma_segment *out, size_t max)
{
	size_t n = 0;

	while (len) {
		uint64_t run_end = (va / (FK_NIO_RUN * PG) + 1) * (FK_NIO_RUN * PG);
		uint64_t l = run_end - va < len ? run_end - va : len;

		if (n < max)
			out[n] = (struct iommufd_dma_segment){ iova, fake_kernel_phys(fk, va), l };
		n++;
		va += l;
		iova += l;
		len -= l;
	}
	return n;
}

static void check_segs(struct fake_kernel *fk, struct iommufd_ioas *ioas, uint64_t va, uint64_t iova, uint64_t len)
{
	struct iommufd_dma_segment got[8], want[8];
	size_t n = expected_segs(fk, va, iova, len, want, 8);

	assert_true(n <= 8);
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova, len, NULL, 0), (int)n);
	memset(got, 0xa5, sizeof(got));
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova, len, got, 8), (int)n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(got[i].iova, want[i].iova);
		assert_int_equal(got[i].bus_addr, want[i].bus_addr);
		assert_int_equal(got[i].len, want[i].len);
	}
	/* A short array gets the first ones and the full count. */
	memset(got, 0xa5, sizeof(got));
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova, len, got, 1), (int)n);
	assert_int_equal(got[0].bus_addr, want[0].bus_addr);
	assert_int_equal(got[0].len, want[0].len);
	assert_int_equal(got[1].iova, 0xa5a5a5a5a5a5a5a5ULL); /* untouched */
}

/* ------------------------------------------------------------------------ */

static void test_refused_without_mode(void **state)
{
	struct fake_kernel *fk = machine(false, true);
	struct iommufd_ctx *ctx = NULL;
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	assert_int_equal(nio_ctx(fk, 0, &cap, &ctx), -ENODEV);
	assert_null(ctx);
	assert_true(fk_logcap_has(&cap, "enable_unsafe_noiommu_mode"));
	fk_logcap_free(&cap);
	finish(fk);

	/* No VFIO at all: no module parameter either. */
	fk = fake_kernel_create(&(struct fk_config){ .flavour = FK_LINUX_IOMMUFD_ONLY });
	fk_logcap_init(&cap);
	assert_int_equal(nio_ctx(fk, 0, &cap, &ctx), -ENODEV);
	assert_true(fk_logcap_has(&cap, "CONFIG_VFIO_NOIOMMU"));
	fk_logcap_free(&cap);
	finish(fk);
}

static void test_never_auto(void **state)
{
	struct fake_kernel *fk = machine(true, true);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_AUTO, &cap, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_backend(ctx), IOMMUFD_BACKEND_CDEV);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	/* A protected context never takes a device without an IOMMU. */
	assert_int_equal(iommufd_device_open(ioas, NIO_DEV, NULL, &dev), -ENODEV);
	assert_true(fk_logcap_has(&cap, "LIBIOMMUFD_BACKEND=noiommu"));
	assert_int_equal(fake_kernel_dev_open_count(fk, NIO_DEV), 0);
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);

	/* The environment asks for it by name. */
	setenv("LIBIOMMUFD_BACKEND", "noiommu", 1);
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_AUTO, NULL, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_backend(ctx), IOMMUFD_BACKEND_NOIOMMU);
	assert_string_equal(iommufd_backend_name(iommufd_ctx_get_backend(ctx)), "noiommu");
	iommufd_ctx_destroy(ctx);
	unsetenv("LIBIOMMUFD_BACKEND");
	finish(fk);
}

static void test_bad_opts(void **state)
{
	struct fake_kernel *fk = machine(true, true);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ctx_opts o = { .sz = sizeof(o), .backend = IOMMUFD_BACKEND_NOIOMMU, .noiommu_path = 3 };

	(void)state;
	assert_int_equal(ifd_ctx_create_sys(&o, fake_kernel_sys(fk), -1, &ctx), -EINVAL);
	o = (struct iommufd_ctx_opts){ .sz = sizeof(o), .backend = IOMMUFD_BACKEND_CDEV,
				       .noiommu_path = IOMMUFD_NOIOMMU_PATH_LEGACY };
	assert_int_equal(ifd_ctx_create_sys(&o, fake_kernel_sys(fk), -1, &ctx), -EINVAL);
	setenv("LIBIOMMUFD_NOIOMMU_PATH", "bogus", 1);
	assert_int_equal(nio_ctx(fk, 0, NULL, &ctx), -EINVAL);
	unsetenv("LIBIOMMUFD_NOIOMMU_PATH");
	assert_null(ctx);
	/* The unsafe mode is never entered through an adopted fd. */
	o = (struct iommufd_ctx_opts){ .sz = sizeof(o), .backend = IOMMUFD_BACKEND_NOIOMMU };
	{
		int fd = fake_kernel_sys(fk)->open("/dev/iommu", 02, 0);

		assert_true(fd >= 0);
		assert_int_equal(ifd_ctx_create_sys(&o, fake_kernel_sys(fk), fd, &ctx), -EINVAL);
		fake_kernel_sys(fk)->close(fd);
	}
	finish(fk);
}

static void test_iommufd_path(void **state)
{
	struct fake_kernel *fk = machine(true, true);
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_dma_segment seg;
	struct fk_logcap cap;
	uint64_t iova = 0, va = (uintptr_t)buf;

	(void)state;
	fk_logcap_init(&cap);
	assert_int_equal(nio_ctx(fk, 0, &cap, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_backend(ctx), IOMMUFD_BACKEND_NOIOMMU);
	assert_true(iommufd_ctx_get_fd(ctx) >= 0); /* the iommufd path */
	assert_true(fk_logcap_has(&cap, "UNSAFE"));
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_ioas_map(ioas, buf, 20 * PG, RW, NULL, &iova), 0);
	/* Nothing pins or records the pages before a device attaches. */
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova, PG, &seg, 1), -ENODEV);
	assert_true(fk_logcap_has(&cap, "no device is attached"));

	assert_int_equal(iommufd_device_open(ioas, NIO_DEV, NULL, &dev), 0);
	assert_int_equal(fake_kernel_dev_open_count(fk, NIO_DEV), 1);
	assert_true(fake_kernel_cdev_bound(fk, iommufd_device_get_fd(dev)) == 1);
	check_segs(fk, ioas, va, iova, 20 * PG);
	/* From inside a page, across a run's end. */
	check_segs(fk, ioas, va + 7 * PG + 0x10, iova + 7 * PG + 0x10, PG);
	check_segs(fk, ioas, va + 3 * PG, iova + 3 * PG, 1);

	/* Not wholly mapped. */
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova + 19 * PG, 2 * PG, &seg, 1), -ENOENT);
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova + 20 * PG, PG, &seg, 1), -ENOENT);
	/* Bad arguments change nothing. */
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova, 0, &seg, 1), -EINVAL);
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, UINT64_MAX, 2, &seg, 1), -EINVAL);
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova, PG, NULL, 1), -EINVAL);
	assert_int_equal(iommufd_ioas_get_bus_addrs(NULL, iova, PG, &seg, 1), -EINVAL);

	/* What an IOMMU would add is reported missing, with the reason. */
	assert_int_equal(iommufd_feature_query(ctx, dev, IOMMUFD_FEATURE_HWPT, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_BACKEND);
	assert_non_null(strstr(st.why, "noiommu"));
	assert_int_equal(iommufd_feature_query(ctx, dev, IOMMUFD_FEATURE_PASID, &st), 0);
	assert_int_equal(iommufd_feature_query(ctx, dev, IOMMUFD_FEATURE_DIRTY_TRACKING, &st), 0);
	assert_int_equal(iommufd_feature_query(ctx, NULL, IOMMUFD_FEATURE_IOMMUFD, &st), 1);
	/* What the path's ops refuse, the query must not offer. */
	assert_int_equal(iommufd_feature_query(ctx, NULL, IOMMUFD_FEATURE_CHANGE_PROCESS, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_BACKEND);
	assert_int_equal(iommufd_ctx_change_process(ctx), -EOPNOTSUPP);
	assert_int_equal(iommufd_feature_query(ctx, NULL, IOMMUFD_FEATURE_MAP_FILE, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_BACKEND);
	/* The BAR map needs MAP_FILE: the query must not offer it either. */
	assert_int_equal(iommufd_feature_query(ctx, dev, IOMMUFD_FEATURE_P2P_DMABUF, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_BACKEND);

	assert_int_equal(iommufd_ioas_unmap(ioas, iova, 20 * PG, NULL), 0);
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova, PG, &seg, 1), -ENOENT);
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);
}

/* The kernel would allocate a fault queue in no-IOMMU mode; the library
 * refuses it as its query says, and the kernel is never asked. */
static void test_no_fault_queue(void **state)
{
	struct fake_kernel *fk = machine(true, true);
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	struct iommufd_fault_queue *q = (struct iommufd_fault_queue *)buf;
	struct iommufd_ctx *ctx = NULL;
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	assert_int_equal(nio_ctx(fk, 0, &cap, &ctx), 0);
	assert_true(iommufd_ctx_get_fd(ctx) >= 0);
	assert_int_equal(iommufd_feature_query(ctx, NULL, IOMMUFD_FEATURE_FAULT_QUEUE, &st), 0);
	assert_int_equal(st.reason, IOMMUFD_REASON_BACKEND);
	errno = 0;
	assert_int_equal(iommufd_fault_queue_create(ctx, NULL, &q), -EOPNOTSUPP);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_ptr_equal(q, (struct iommufd_fault_queue *)buf);
	assert_true(fk_logcap_has(&cap, "no I/O page faults"));
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);
}

/* A /dev/iommu this user may not open: AUTO reports it rather than
 * falling back to the legacy container, which any user opens. */
static void test_iommufd_denied_no_fallback(void **state)
{
	struct fake_kernel *fk = machine(true, true);
	struct iommufd_ctx *ctx = NULL;
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	fake_kernel_deny(fk, "/dev/iommu");
	errno = 0;
	assert_int_equal(nio_ctx(fk, 0, &cap, &ctx), -EACCES);
	assert_int_equal(errno, EACCES);
	assert_null(ctx);
	assert_true(fk_logcap_has(&cap, "/dev/iommu"));
	assert_false(fk_logcap_has(&cap, "UNSAFE"));
	fk_logcap_free(&cap);
	finish(fk);
}

/* No device goes to KVM without an IOMMU: the guest's addresses would
 * reach host memory.  Refused with the reason, KVM left untouched. */
static void test_no_kvm(void **state)
{
	struct fake_kernel *fk = machine(true, true);
	const struct ifd_sys *sys = fake_kernel_sys(fk);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fk_logcap cap;
	int vm, kv;

	(void)state;
	fk_logcap_init(&cap);
	assert_int_equal(nio_ctx(fk, 0, &cap, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, NIO_DEV, NULL, &dev), 0);
	vm = fake_kernel_kvm_create_vm(fk);
	assert_true(vm >= 0);
	kv = iommufd_kvm_vfio_create(ctx, vm);
	assert_true(kv >= 0);
	fk_logcap_clear(&cap);
	errno = 0;
	assert_int_equal(iommufd_device_kvm_add(dev, kv), -EOPNOTSUPP);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_true(fk_logcap_has(&cap, "noiommu backend gives no device to KVM"));
	assert_int_equal(fake_kernel_kvm_vfio_files(fk, kv), 0);
	assert_int_equal(iommufd_device_destroy(dev), 0);
	sys->close(kv);
	sys->close(vm);
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);
}

/* The device list shows a no-IOMMU device's cdev, named noiommu-vfioN. */
static void test_list_noiommu_cdev(void **state)
{
	struct fake_kernel *fk = machine(true, true);
	struct iommufd_device_entry e[8];
	struct iommufd_ctx *ctx = NULL;
	int n, found = 0;

	(void)state;
	assert_int_equal(nio_ctx(fk, 0, NULL, &ctx), 0);
	n = iommufd_device_list(ctx, e, 8);
	assert_true(n >= 2 && n <= 8);
	for (int i = 0; i < n; i++) {
		if (strcmp(e[i].name, NIO_DEV) && strcmp(e[i].name, NIO_DEV2))
			continue;
		found++;
		assert_memory_equal(e[i].cdev, "/dev/vfio/devices/noiommu-vfio", 30);
	}
	assert_int_equal(found, 2);
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

static void test_iommufd_path_no_rawio(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .noiommu_mode = true, .noiommu_iommufd = true,
				 .no_cap_rawio = true };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_dma_segment seg;
	struct fk_logcap cap;
	uint64_t iova;

	(void)state;
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = NIO_DEV, .group = NIO_GROUP, .noiommu = true });
	fk_logcap_init(&cap);
	assert_int_equal(nio_ctx(fk, 0, &cap, &ctx), 0);
	assert_true(iommufd_ctx_get_fd(ctx) >= 0); /* still recognised by its EPERM */
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, NIO_DEV, NULL, &dev), 0);
	assert_int_equal(iommufd_ioas_map(ioas, buf, PG, RW, NULL, &iova), 0);
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova, PG, &seg, 1), -EPERM);
	assert_true(fk_logcap_has(&cap, "CAP_SYS_RAWIO"));
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);
}

/* The legacy path: a kernel without iommufd's no-IOMMU mode. */
static void test_legacy_path(void **state)
{
	struct fake_kernel *fk = machine(true, false);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_map *h = NULL;
	struct fk_logcap cap;
	uint64_t iova = 0, va = (uintptr_t)buf, got = 0;

	(void)state;
	fk_logcap_init(&cap);
	assert_int_equal(nio_ctx(fk, 0, &cap, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_fd(ctx), -EOPNOTSUPP); /* no /dev/iommu in use */
	assert_true(fk_logcap_has(&cap, "legacy"));
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, NIO_DEV, NULL, &dev), 0);
	assert_int_equal(fake_kernel_dev_open_count(fk, NIO_DEV), 1);
	assert_int_equal(fake_kernel_container_iommu(fk, iommufd_ioas_get_fd(ioas)), 8 /* VFIO_NOIOMMU_IOMMU */);

	assert_int_equal(iommufd_ioas_map(ioas, buf, 20 * PG, RW, NULL, &iova), 0);
	assert_true(fake_kernel_mlocked(fk, va, 20 * PG));
	check_segs(fk, ioas, va, iova, 20 * PG);
	check_segs(fk, ioas, va + 9 * PG + 1, iova + 9 * PG + 1, 9 * PG);

	/* The same pages mapped twice: unmapping one must not unlock the
	 * other (mlock does not count). */
	assert_int_equal(iommufd_map_create(ioas, buf + 4 * PG, 4 * PG, RW, NULL, &h), 0);
	assert_int_equal(iommufd_ioas_unmap(ioas, iova, 20 * PG, &got), 0);
	assert_int_equal(got, 20 * PG);
	assert_true(fake_kernel_mlocked(fk, va + 4 * PG, 4 * PG));
	assert_false(fake_kernel_mlocked(fk, va, PG));
	assert_false(fake_kernel_mlocked(fk, va + 8 * PG, PG));
	check_segs(fk, ioas, va + 4 * PG, iommufd_map_get_iova(h), 4 * PG);
	assert_int_equal(iommufd_map_destroy(h), 0);
	assert_false(fake_kernel_mlocked(fk, va + 4 * PG, PG));

	/* Whatever the IOAS still holds is unlocked when it goes. */
	assert_int_equal(iommufd_ioas_map(ioas, buf, 2 * PG, RW, NULL, &iova), 0);
	assert_true(fake_kernel_mlocked(fk, va, 2 * PG));
	assert_int_equal(iommufd_device_destroy(dev), 0);
	assert_int_equal(iommufd_ioas_destroy(ioas), 0);
	assert_false(fake_kernel_mlocked(fk, va, PG));
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);
}

static void test_legacy_unmap_all_relocks_other_ioas(void **state)
{
	struct fake_kernel *fk = machine(true, false);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *a = NULL, *b = NULL;
	uint64_t ia, ib, va = (uintptr_t)buf;

	(void)state;
	assert_int_equal(nio_ctx(fk, 0, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &a), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &b), 0);
	assert_int_equal(iommufd_ioas_map(a, buf, 4 * PG, RW, NULL, &ia), 0);
	assert_int_equal(iommufd_ioas_map(b, buf + 2 * PG, 4 * PG, RW, NULL, &ib), 0);
	assert_int_equal(iommufd_ioas_unmap_all(a), 1);
	assert_false(fake_kernel_mlocked(fk, va, PG));
	assert_true(fake_kernel_mlocked(fk, va + 2 * PG, 4 * PG));
	assert_int_equal(iommufd_ioas_destroy(b), 0);
	assert_false(fake_kernel_mlocked(fk, va + 2 * PG, PG));
	iommufd_ctx_destroy(ctx);
	finish(fk);
}

static void test_legacy_no_cap_sys_admin(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .noiommu_mode = true, .no_cap_sys_admin = true };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_dma_segment seg;
	struct fk_logcap cap;
	uint64_t iova;

	(void)state;
	fk_logcap_init(&cap);
	assert_int_equal(nio_ctx(fk, 0, &cap, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_ioas_map(ioas, buf, PG, RW, NULL, &iova), 0);
	assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova, PG, &seg, 1), -EPERM);
	assert_true(fk_logcap_has(&cap, "CAP_SYS_ADMIN"));
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	finish(fk);
}

/* Both paths offered: the caller (or the environment) picks the legacy one. */
static void test_force_legacy(void **state)
{
	struct fake_kernel *fk = machine(true, true);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;

	(void)state;
	assert_int_equal(nio_ctx(fk, IOMMUFD_NOIOMMU_PATH_LEGACY, NULL, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_fd(ctx), -EOPNOTSUPP);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, NIO_DEV, NULL, &dev), 0);
	assert_int_equal(fake_kernel_container_iommu(fk, iommufd_ioas_get_fd(ioas)), 8);
	iommufd_ctx_destroy(ctx);

	setenv("LIBIOMMUFD_NOIOMMU_PATH", "legacy", 1);
	assert_int_equal(nio_ctx(fk, 0, NULL, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_fd(ctx), -EOPNOTSUPP);
	iommufd_ctx_destroy(ctx);
	unsetenv("LIBIOMMUFD_NOIOMMU_PATH");

	/* Asking for the iommufd path on a kernel without it fails. */
	fake_kernel_destroy(fk);
	fk = machine(true, false);
	assert_int_equal(nio_ctx(fk, IOMMUFD_NOIOMMU_PATH_IOMMUFD, NULL, &ctx), -ENODEV);
	finish(fk);
}

/* Behind an IOMMU the bus address is the IOVA: one segment. */
static void test_identity_elsewhere(void **state)
{
	static const enum iommufd_backend backends[] = { IOMMUFD_BACKEND_CDEV, IOMMUFD_BACKEND_GROUP,
							 IOMMUFD_BACKEND_TYPE1 };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
		struct iommufd_ctx *ctx = NULL;
		struct iommufd_ioas *ioas = NULL;
		struct iommufd_device *dev = NULL;
		struct iommufd_dma_segment seg[2];
		uint64_t iova, iova2;

		assert_int_equal(fk_ctx_create(fk, backends[i], NULL, &ctx), 0);
		assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
		assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
		assert_int_equal(iommufd_ioas_map(ioas, buf, 16 * PG, RW, NULL, &iova), 0);
		assert_int_equal(iommufd_ioas_map(ioas, buf + 16 * PG, 16 * PG, RW | IOMMUFD_MAP_FIXED,
						  &(struct iommufd_map_opts){ .sz = sizeof(struct iommufd_map_opts),
									      .iova = iova + 16 * PG },
						  &iova2),
				 0);
		/* Two adjacent mappings merge into one segment. */
		assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova + 8 * PG, 16 * PG, seg, 2), 1);
		assert_int_equal(seg[0].iova, iova + 8 * PG);
		assert_int_equal(seg[0].bus_addr, iova + 8 * PG);
		assert_int_equal(seg[0].len, 16 * PG);
		assert_int_equal(iommufd_ioas_get_bus_addrs(ioas, iova + 31 * PG, 2 * PG, seg, 2), -ENOENT);
		iommufd_ctx_destroy(ctx);
		finish(fk);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_refused_without_mode, teardown),
		cmocka_unit_test_teardown(test_never_auto, teardown),
		cmocka_unit_test_teardown(test_bad_opts, teardown),
		cmocka_unit_test_teardown(test_iommufd_path, teardown),
		cmocka_unit_test_teardown(test_no_fault_queue, teardown),
		cmocka_unit_test_teardown(test_iommufd_denied_no_fallback, teardown),
		cmocka_unit_test_teardown(test_no_kvm, teardown),
		cmocka_unit_test_teardown(test_list_noiommu_cdev, teardown),
		cmocka_unit_test_teardown(test_iommufd_path_no_rawio, teardown),
		cmocka_unit_test_teardown(test_legacy_path, teardown),
		cmocka_unit_test_teardown(test_legacy_unmap_all_relocks_other_ioas, teardown),
		cmocka_unit_test_teardown(test_legacy_no_cap_sys_admin, teardown),
		cmocka_unit_test_teardown(test_force_legacy, teardown),
		cmocka_unit_test_teardown(test_identity_elsewhere, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
