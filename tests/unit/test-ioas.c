/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * IOAS and DMA mappings on every backend of the fake kernel: the allocator,
 * fixed maps, lookups, every rejected input, memlock and IOVA exhaustion,
 * and TYPE1's replay of mappings made before a device.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#include <cmocka.h>

#include "internal.h"
#include "kabi.h"
#include "fake-kernel.h"

#define PG 0x1000ULL
#define SZ_2M (2ULL << 20)
#define RW (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE)

static const enum iommufd_backend B_CDEV = IOMMUFD_BACKEND_CDEV;
static const enum iommufd_backend B_GROUP = IOMMUFD_BACKEND_GROUP;
static const enum iommufd_backend B_TYPE1 = IOMMUFD_BACKEND_TYPE1;

struct t {
	enum iommufd_backend b;
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev;
	struct fk_logcap cap;
	uint8_t *buf; /* 1 MiB, page aligned */
	void *area;   /* 8 MiB reserved, for 2 MiB-aligned addresses */
};

#define BUF_SIZE (1u << 20)
#define AREA_SIZE (8u << 20)

static int setup_common(void **state, bool with_dev)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->b = *(const enum iommufd_backend *)*state;
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	fk_logcap_init(&t->cap);
	t->fk = fk_standard(FK_LINUX_7_3);
	assert_int_equal(fk_ctx_create(t->fk, t->b, &t->cap, &t->ctx), 0);
	assert_int_equal(iommufd_ioas_create(t->ctx, &t->ioas), 0);
	if (with_dev)
		assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &t->dev), 0);
	assert_int_equal(posix_memalign((void **)&t->buf, PG, BUF_SIZE), 0);
	t->area = mmap(NULL, AREA_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(t->area != MAP_FAILED);
	fk_logcap_clear(&t->cap);
	fake_kernel_log_clear(t->fk);
	*state = t;
	return 0;
}

static int setup_dev(void **state)
{
	return setup_common(state, true);
}

static int setup_nodev(void **state)
{
	return setup_common(state, false);
}

static int teardown(void **state)
{
	struct t *t = *state;

	int fds, files;
	uint64_t pinned;

	iommufd_ctx_destroy(t->ctx);
	fds = fake_kernel_open_fds(t->fk);
	files = fake_kernel_live_files(t->fk);
	pinned = fake_kernel_pinned(t->fk);
	fake_kernel_destroy(t->fk);
	fk_logcap_free(&t->cap);
	munmap(t->area, AREA_SIZE);
	free(t->buf);
	free(t);
	/* everything closed and unpinned with the context */
	assert_int_equal(fds, 0);
	assert_int_equal(files, 0);
	assert_int_equal(pinned, 0);
	return 0;
}

/* A 2 MiB-aligned address inside the reserved area. */
static void *aligned_2m(struct t *t)
{
	return (void *)(((uintptr_t)t->area + SZ_2M - 1) & ~(uintptr_t)(SZ_2M - 1));
}

static uint32_t ioas_id(struct t *t)
{
	int64_t id = iommufd_ioas_get_id(t->ioas);

	return id < 0 ? 0 : (uint32_t)id;
}

/* The fake kernel's mappings for this IOAS (container on TYPE1). */
static size_t kmaps(struct t *t, struct fk_map *out, size_t max)
{
	return fake_kernel_get_maps(t->fk, iommufd_ioas_get_fd(t->ioas), ioas_id(t), out, max);
}

static size_t kmap_count(struct t *t)
{
	return kmaps(t, NULL, 0);
}

/* Whether the kernel holds the mappings: not a TYPE1 container before its
 * first device (the library only records them then). */
static bool kernel_mirrors(struct t *t)
{
	return t->b != IOMMUFD_BACKEND_TYPE1 || fake_kernel_container_iommu(t->fk, iommufd_ioas_get_fd(t->ioas)) > 0;
}

static void expect_kcount(struct t *t, size_t n)
{
	assert_int_equal(kmap_count(t), kernel_mirrors(t) ? n : 0);
}

static void expect_kmap(struct t *t, uint64_t iova, uint64_t len, const void *va, uint32_t prot)
{
	struct fk_map m[64];
	size_t n = kmaps(t, m, 64);

	if (!kernel_mirrors(t)) {
		assert_int_equal(n, 0);
		return;
	}
	for (size_t i = 0; i < n && i < 64; i++) {
		if (m[i].iova == iova) {
			assert_int_equal(m[i].len, len);
			assert_int_equal(m[i].va, (uintptr_t)va);
			assert_int_equal(m[i].prot, prot);
			return;
		}
	}
	fail_msg("the kernel has no mapping at IOVA 0x%llx", (unsigned long long)iova);
}

static size_t ioctls(struct t *t)
{
	return fake_kernel_log_find(t->fk, "ioctl", NULL);
}

/* ------------------------------------------------------------------------ */

static void test_map_unmap(void **state)
{
	struct t *t = *state;
	struct iommufd_map_info info;
	uint64_t iova = 0, tr = 0;

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 4 * PG, RW, NULL, &iova), 0);
	assert_true(iova != 0);
	assert_int_equal(iova % PG, 0);
	assert_int_equal(kmap_count(t), 1);
	expect_kmap(t, iova, 4 * PG, t->buf, 3);

	assert_int_equal(iommufd_ioas_find_iova(t->ioas, iova + 5, &info), 0);
	assert_int_equal(info.iova, iova);
	assert_int_equal(info.len, 4 * PG);
	assert_ptr_equal(info.vaddr, t->buf);
	assert_int_equal(info.flags, RW);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, iova + 4 * PG - 1, NULL), 0);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, iova + 4 * PG, &info), -ENOENT);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, iova - 1, &info), -ENOENT);

	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + PG + 8, 0x100, &tr), 0);
	assert_int_equal(tr, iova + PG + 8);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + 4 * PG - 1, 1, &tr), 0);
	assert_int_equal(tr, iova + 4 * PG - 1);
	/* a buffer running past the mapping's end */
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + 4 * PG - 1, 2, &tr), -ENOENT);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + 4 * PG, 1, &tr), -ENOENT);

	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova, 4 * PG, NULL), 0);
	assert_int_equal(kmap_count(t), 0);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, iova, &info), -ENOENT);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf, 1, &tr), -ENOENT);
}

static void test_map_read_only(void **state)
{
	struct t *t = *state;
	uint64_t a = 0, b = 0;

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, IOMMUFD_MAP_READ, NULL, &a), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + PG, PG, IOMMUFD_MAP_WRITE, NULL, &b), 0);
	expect_kmap(t, a, PG, t->buf, 1);
	expect_kmap(t, b, PG, t->buf + PG, 2);
}

static void test_allocator_lowest_fit(void **state)
{
	struct t *t = *state;
	uint64_t a = 0, b = 0, c = 0, d = 0;

	/* never IOVA 0, lowest fit after that, adjacent */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 2 * PG, RW, NULL, &a), 0);
	assert_int_equal(a, PG);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 2 * PG, PG, RW, NULL, &b), 0);
	assert_int_equal(b, 3 * PG);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 3 * PG, 4 * PG, RW, NULL, &c), 0);
	assert_int_equal(c, 4 * PG);
	/* a freed hole is reused by what fits, skipped by what does not */
	assert_int_equal(iommufd_ioas_unmap(t->ioas, a, 2 * PG, NULL), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 3 * PG, RW, NULL, &d), 0);
	assert_int_equal(d, 8 * PG);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 8 * PG, 2 * PG, RW, NULL, &d), 0);
	assert_int_equal(d, PG);
	expect_kcount(t, 4);
}

static void test_allocator_alignment(void **state)
{
	struct t *t = *state;
	struct iommufd_map_opts o = { .sz = sizeof(o), .align = 0x10000 };
	uint8_t *big = aligned_2m(t);
	uint64_t a = 0, b = 0, c = 0;

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &a), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + PG, PG, RW, &o, &b), 0);
	assert_int_equal(b, 0x10000);
	/* 2 MiB at a 2 MiB-aligned address: IOVA aligned for large IOMMU pages */
	assert_int_equal(iommufd_ioas_map(t->ioas, big, SZ_2M, RW, NULL, &c), 0);
	assert_int_equal(c % SZ_2M, 0);
	assert_true(c >= SZ_2M);
	/* the same length at an address that is not 2 MiB aligned: still
	 * aligned to its length, the lowest such IOVA */
	assert_int_equal(iommufd_ioas_map(t->ioas, big + SZ_2M + PG, SZ_2M, RW, NULL, &a), 0);
	assert_int_equal(a, c + SZ_2M);
	expect_kmap(t, c, SZ_2M, big, 3);
}

/*
 * From 64 KiB up the default alignment is the length's largest power of
 * two (at most 2 MiB), whatever the memory's own alignment; below it the
 * lowest page-aligned IOVA.
 */
static void test_allocator_size_alignment(void **state)
{
	struct t *t = *state;
	uint64_t a = 0, b = 0, c = 0, d = 0, e = 0;

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + PG, PG, RW, NULL, &a), 0);
	assert_int_equal(a, PG);
	/* 60 KiB: the page right after */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 2 * PG, 15 * PG, RW, NULL, &b), 0);
	assert_int_equal(b, 2 * PG);
	/* 64 KiB at a page-aligned address: the first 64 KiB boundary free */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 3 * PG, 16 * PG, RW, NULL, &c), 0);
	assert_int_equal(c, 0x20000);
	/* 96 KiB: 64 KiB aligned */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + PG, 24 * PG, RW, NULL, &d), 0);
	assert_int_equal(d, 0x30000);
	/* the hole below 64 KiB is still there for a page */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &e), 0);
	assert_int_equal(e, 0x11000);
	/* 256 KiB: 256 KiB aligned */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + PG, 64 * PG, RW, NULL, &e), 0);
	assert_int_equal(e, 0x80000);
	/* an explicit alignment still wins: right after the 96 KiB map */
	struct iommufd_map_opts o = { .sz = sizeof(o), .align = PG };
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + PG, 16 * PG, RW, &o, &e), 0);
	assert_int_equal(e, 0x48000);
}

static void test_allocator_iova_max(void **state)
{
	struct t *t = *state;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = 0x4fff };
	uint64_t iova[4], x = 0;

	for (int i = 0; i < 4; i++) {
		assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + i * PG, PG, RW, &o, &iova[i]), 0);
		assert_true(iova[i] + PG - 1 <= o.iova_max);
	}
	/* exhausted below the limit, but not above it */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 4 * PG, PG, RW, &o, &x), -ENOSPC);
	assert_true(fk_logcap_has(&t->cap, "no free IOVA range"));
	assert_int_equal(ioctls(t), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 4 * PG, PG, RW, NULL, &x), 0);
	assert_int_equal(x, 0x5000);
	/* a freed slot below the limit is found again */
	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova[2], PG, NULL), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 5 * PG, PG, RW, &o, &x), 0);
	assert_int_equal(x, iova[2]);
	/* a limit too low for even one page: no IOVA fits (0 is never used) */
	o.iova_max = 0x1fff;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 2 * PG, RW, &o, &x), -ENOSPC);
}

/* An iova_max below the lowest IOVA the library may choose (it never uses
 * 0, and an aligned IOVA) is a bad argument (iommufd_ioas_map(3)), and
 * nothing reaches the kernel. */
static void test_iova_max_below_lowest(void **state)
{
	struct t *t = *state;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = 0xfff };
	uint64_t x = 0xdead;

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, &o, &x), -EINVAL);
	o.iova_max = 0x1fffff;
	o.align = SZ_2M;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, &o, &x), -EINVAL);
	assert_int_equal(x, 0xdead);
	assert_int_equal(ioctls(t), 0);
	/* just enough room: fits, once */
	o.iova_max = 0x1fff;
	o.align = 0;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, &o, &x), 0);
	assert_int_equal(x, PG);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, &o, &x), -ENOSPC);
}

static void test_ranges_with_device(void **state)
{
	struct t *t = *state;
	struct iommufd_iova_range r[8];
	struct fk_range kr[8];
	size_t kn;
	int n;

	n = iommufd_ioas_get_ranges(t->ioas, r, 8);
	kn = fake_kernel_get_ranges(t->fk, iommufd_ioas_get_fd(t->ioas), ioas_id(t), kr, 8);
	assert_int_equal(n, 2);
	assert_int_equal(kn, 2);
	for (int i = 0; i < n; i++) {
		assert_int_equal(r[i].start, kr[i].start);
		assert_int_equal(r[i].last, kr[i].last);
	}
	assert_int_equal(r[0].start, 0);
	assert_int_equal(r[0].last, FK_MSI_START - 1);
	assert_int_equal(r[1].start, FK_MSI_LAST + 1);
	assert_int_equal(r[1].last, FK_APERTURE_LAST);

	/* asking for fewer still reports how many there are */
	memset(r, 0xa5, sizeof(r));
	assert_int_equal(iommufd_ioas_get_ranges(t->ioas, r, 1), 2);
	assert_int_equal(r[0].last, FK_MSI_START - 1);
	assert_int_equal(r[1].start, 0xa5a5a5a5a5a5a5a5ULL);
	assert_int_equal(iommufd_ioas_get_ranges(t->ioas, NULL, 0), 2);
	assert_int_equal(iommufd_ioas_get_ranges(t->ioas, NULL, 1), -EINVAL);
	assert_int_equal(iommufd_ioas_get_ranges(NULL, r, 8), -EINVAL);
	assert_int_equal(iommufd_ioas_get_alignment(t->ioas), PG);
}

static void test_ranges_honoured(void **state)
{
	struct t *t = *state;
	struct iommufd_map_opts o = { .sz = sizeof(o) };
	uint64_t iova = 0;

	/* the MSI window and above the aperture are not usable */
	o.iova = FK_MSI_START;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), -ERANGE);
	o.iova = FK_MSI_START - PG;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 2 * PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), -ERANGE);
	o.iova = FK_APERTURE_LAST + 1;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), -ERANGE);
	o.iova = UINT64_MAX - PG + 1;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), -ERANGE);
	assert_int_equal(ioctls(t), 0);

	/* fill everything below the window: the allocator jumps over it */
	assert_int_equal(iommufd_ioas_reserve(t->ioas, PG, FK_MSI_START - 2 * PG), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &iova), 0);
	assert_int_equal(iova, FK_MSI_START - PG);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 2 * PG, RW, NULL, &iova), 0);
	assert_int_equal(iova, FK_MSI_LAST + 1);
	assert_int_equal(kmap_count(t), 2);

	/* and stops at the aperture */
	o = (struct iommufd_map_opts){ .sz = sizeof(o), .iova = FK_APERTURE_LAST + 1 - 2 * PG };
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 2 * PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	assert_int_equal(iova, FK_APERTURE_LAST + 1 - 2 * PG);
	expect_kmap(t, iova, 2 * PG, t->buf, 3);
}

static void test_ranges_follow_devices(void **state)
{
	struct t *t = *state;
	struct iommufd_iova_range r[4];
	struct iommufd_device *dev = NULL;

	/* no device: the whole 64-bit space */
	assert_int_equal(iommufd_ioas_get_ranges(t->ioas, r, 4), 1);
	assert_int_equal(r[0].start, 0);
	assert_int_equal(r[0].last, UINT64_MAX);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_ioas_get_ranges(t->ioas, r, 4), 2);
	assert_int_equal(r[1].last, FK_APERTURE_LAST);
	assert_int_equal(iommufd_device_destroy(dev), 0);
	/* wide again */
	assert_int_equal(iommufd_ioas_get_ranges(t->ioas, r, 4), 1);
	assert_int_equal(r[0].last, UINT64_MAX);
}

static void test_alignment_from_iommu(void **state)
{
	const enum iommufd_backend b = *(const enum iommufd_backend *)*state;
	struct fk_config cfg = { .flavour = FK_LINUX_7_3 };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = 0x11000 };
	void *buf = NULL;
	uint64_t iova = 0;

	assert_int_equal(posix_memalign(&buf, 0x10000, 0x40000), 0);
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = 5, .pgsize = 0x10000 });
	assert_int_equal(fk_ctx_create(fk, b, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_ioas_get_alignment(ioas), PG);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_ioas_get_alignment(ioas), 0x10000);
	/* lengths and fixed IOVAs must follow the IOMMU's page size now */
	assert_int_equal(iommufd_ioas_map(ioas, buf, 0x10000, RW | IOMMUFD_MAP_FIXED, &o, &iova), -EINVAL);
	assert_int_equal(iommufd_ioas_map(ioas, buf, 0x10000, RW, NULL, &iova), 0);
	assert_int_equal(iova, 0x10000);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
	free(buf);
}

/* More ranges than any fixed-size buffer of the library holds: 5 devices
 * with 16 one-page windows each. */
static void test_many_ranges(void **state)
{
	const enum iommufd_backend b = *(const enum iommufd_backend *)*state;
	struct fake_kernel *fk = fake_kernel_create(NULL);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev[5] = { 0 };
	struct iommufd_iova_range *r;
	struct fk_range kr[128];
	struct iommufd_map_opts o = { .sz = sizeof(o) };
	size_t kn;
	uint64_t iova;
	int n;
	static uint8_t page[PG] __attribute__((aligned(PG)));

	for (int d = 0; d < 5; d++) {
		struct fk_dev_desc dd = { .group = 20 + d, .nresv = 16 };
		char name[16];

		snprintf(name, sizeof(name), "0000:00:1%d.0", d);
		dd.name = name;
		for (int w = 0; w < 16; w++)
			dd.resv[w] = (struct fk_range){ 0x100000ULL * (uint64_t)(1 + d * 16 + w),
							 0x100000ULL * (uint64_t)(1 + d * 16 + w) + PG - 1 };
		fake_kernel_add_device(fk, &dd);
	}
	assert_int_equal(fk_ctx_create(fk, b, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	for (int d = 0; d < 5; d++) {
		char name[16];

		snprintf(name, sizeof(name), "0000:00:1%d.0", d);
		assert_int_equal(iommufd_device_open(ioas, name, NULL, &dev[d]), 0);
	}
	kn = fake_kernel_get_ranges(fk, iommufd_ioas_get_fd(ioas), b == IOMMUFD_BACKEND_TYPE1 ? 0 : (uint32_t)iommufd_ioas_get_id(ioas),
				    kr, 128);
	assert_int_equal(kn, 81);
	n = iommufd_ioas_get_ranges(ioas, NULL, 0);
	assert_int_equal(n, 81);
	r = calloc((size_t)n, sizeof(*r));
	assert_non_null(r);
	assert_int_equal(iommufd_ioas_get_ranges(ioas, r, (size_t)n), n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(r[i].start, kr[i].start);
		assert_int_equal(r[i].last, kr[i].last);
	}
	/* every window is honoured */
	o.iova = 0x100000ULL * 42;
	assert_int_equal(iommufd_ioas_map(ioas, page, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), -ERANGE);
	o.iova += PG;
	assert_int_equal(iommufd_ioas_map(ioas, page, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	free(r);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
}

/* ------------------------------------------------------------------------ */

static void test_fixed(void **state)
{
	struct t *t = *state;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = 0x100000 };
	uint64_t iova = 0, x = 0;
	size_t before;

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 4 * PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	assert_int_equal(iova, 0x100000);
	expect_kmap(t, 0x100000, 4 * PG, t->buf, 3);
	/* the allocator works around it */
	assert_int_equal(iommufd_ioas_reserve(t->ioas, PG, 0x100000 - PG), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &x), 0);
	assert_int_equal(x, 0x104000);

	fake_kernel_log_clear(t->fk);
	before = kmap_count(t);
	/* exact, partial and enclosing overlaps */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 4 * PG, RW | IOMMUFD_MAP_FIXED, &o, &x), -EEXIST);
	o.iova = 0x103000;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 2 * PG, RW | IOMMUFD_MAP_FIXED, &o, &x), -EEXIST);
	o.iova = 0x0ff000;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 8 * PG, RW | IOMMUFD_MAP_FIXED, &o, &x), -EEXIST);
	/* into a reservation */
	o.iova = 0x2000;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &x), -EEXIST);
	/* unaligned fixed IOVA, and one that misses the requested alignment */
	o.iova = 0x200800;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &x), -EINVAL);
	o = (struct iommufd_map_opts){ .sz = sizeof(o), .iova = 0x201000, .align = 0x10000 };
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &x), -EINVAL);
	/* above iova_max */
	o = (struct iommufd_map_opts){ .sz = sizeof(o), .iova = 0x300000, .iova_max = 0x300fff };
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 2 * PG, RW | IOMMUFD_MAP_FIXED, &o, &x), -ERANGE);
	/* none of that reached the kernel or changed anything */
	assert_int_equal(ioctls(t), 0);
	assert_int_equal(kmap_count(t), before);
	assert_int_equal(x, 0x104000);
	/* last byte exactly at iova_max is fine; IOVA 0 may be asked for */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &x), 0);
	assert_int_equal(x, 0x300000);
	assert_int_equal(iommufd_ioas_unreserve(t->ioas, PG, 0x100000 - PG), 0);
	o = (struct iommufd_map_opts){ .sz = sizeof(o), .iova = 0 };
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &x), 0);
	assert_int_equal(x, 0);
	expect_kmap(t, 0, PG, t->buf, 3);
}

static void expect_einval_map(struct t *t, void *va, size_t len, uint32_t flags, const struct iommufd_map_opts *o)
{
	uint64_t iova = 0xdead;

	errno = 0;
	assert_int_equal(iommufd_ioas_map(t->ioas, va, len, flags, o, &iova), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(iova, 0xdead);
}

static void test_map_bad_input(void **state)
{
	struct t *t = *state;
	struct {
		struct iommufd_map_opts o;
		uint64_t future;
	} big = { { .sz = sizeof(big) }, 1 };
	struct iommufd_map_opts o = { .sz = sizeof(o) };
	uint64_t iova;
	size_t before = kmap_count(t);

	expect_einval_map(t, t->buf, 0, RW, NULL);
	expect_einval_map(t, t->buf, PG + 1, RW, NULL);
	expect_einval_map(t, t->buf, 1, RW, NULL);
	expect_einval_map(t, t->buf + 8, PG, RW, NULL);
	expect_einval_map(t, NULL, PG, RW, NULL);
	expect_einval_map(t, (void *)(uintptr_t)(UINTPTR_MAX - PG + 1), 2 * PG, RW, NULL);
	expect_einval_map(t, t->buf, SIZE_MAX - PG + 1, RW, NULL);
	expect_einval_map(t, t->buf, PG, 0, NULL);
	expect_einval_map(t, t->buf, PG, IOMMUFD_MAP_FIXED, NULL);
	expect_einval_map(t, t->buf, PG, RW | (1u << 5), NULL);
	o.align = 0x3000;
	expect_einval_map(t, t->buf, PG, RW, &o);
	o = (struct iommufd_map_opts){ .sz = sizeof(size_t) - 1 };
	expect_einval_map(t, t->buf, PG, RW, &o);
	o = (struct iommufd_map_opts){ .sz = 0 };
	expect_einval_map(t, t->buf, PG, RW, &o);
	expect_einval_map(t, t->buf, PG, RW, &big.o);
	/* fixed IOVA whose end overflows */
	o = (struct iommufd_map_opts){ .sz = sizeof(o), .iova = UINT64_MAX - PG + 1 };
	expect_einval_map(t, t->buf, 2 * PG, RW | IOMMUFD_MAP_FIXED, &o);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, NULL), -EINVAL);
	assert_int_equal(iommufd_ioas_map(NULL, t->buf, PG, RW, NULL, &iova), -EINVAL);
	/* nothing reached the kernel, nothing changed */
	assert_int_equal(ioctls(t), 0);
	assert_int_equal(kmap_count(t), before);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &iova), 0);
	assert_int_equal(iova, PG);

	/* an older caller's opts ending after iova is fine; zeroed future fields too */
	o = (struct iommufd_map_opts){ .sz = offsetof(struct iommufd_map_opts, iova) + sizeof(uint64_t),
				       .iova = 0x40000, .iova_max = 1 /* not read */ };
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	assert_int_equal(iova, 0x40000);
	big.future = 0;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, &big.o, &iova), 0);
}

static void test_unmap_bad_input(void **state)
{
	struct t *t = *state;
	uint64_t iova = 0;

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 4 * PG, RW, NULL, &iova), 0);
	fake_kernel_log_clear(t->fk);
	errno = 0;
	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova, 0, NULL), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, UINT64_MAX - PG + 1, 2 * PG, NULL), -EINVAL);
	/* ranges that would split the mapping: nothing changes */
	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova, 2 * PG, NULL), -EINVAL);
	errno = 0;
	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova + PG, 3 * PG, NULL), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova - PG, 2 * PG, NULL), -EINVAL);
	/* nothing there */
	errno = 0;
	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova + 4 * PG, 3 * PG, NULL), -ENOENT);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, 0x7000000, PG, NULL), -ENOENT);
	assert_int_equal(iommufd_ioas_unmap(NULL, iova, PG, NULL), -EINVAL);
	assert_int_equal(ioctls(t), 0);
	expect_kmap(t, iova, 4 * PG, t->buf, 3);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, iova, NULL), 0);
	/* a range larger than the mapping takes it whole; twice: the second finds nothing */
	{
		uint64_t bytes = 0;

		assert_int_equal(iommufd_ioas_unmap(t->ioas, iova - PG, 8 * PG, &bytes), 0);
		assert_int_equal(bytes, 4 * PG);
	}
	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova, 4 * PG, NULL), -ENOENT);
	assert_int_equal(kmap_count(t), 0);
}

static void test_translate_edges(void **state)
{
	struct t *t = *state;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = 0x800000 };
	uint64_t a = 0, b = 0, tr = 0;

	/* two mappings adjacent in VA but not in IOVA */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &a), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + PG, PG, RW | IOMMUFD_MAP_FIXED, &o, &b), 0);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + PG - 4, 8, &tr), -ENOENT);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + PG + 4, 8, &tr), 0);
	assert_int_equal(tr, 0x800004);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf, 0, &tr), -EINVAL);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf, 1, NULL), -EINVAL);
	assert_int_equal(iommufd_ioas_translate(t->ioas, (void *)(uintptr_t)(UINTPTR_MAX - 3), 8, &tr), -EINVAL);
	assert_int_equal(iommufd_ioas_translate(NULL, t->buf, 1, &tr), -EINVAL);
	/* the same memory mapped twice: either mapping is a right answer */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 2 * PG, RW, NULL, &a), 0);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + 16, 16, &tr), 0);
	assert_true(tr == PG + 16 || tr == a + 16);
	/* only the second one holds a buffer that crosses the first page */
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + PG - 4, 8, &tr), 0);
	assert_int_equal(tr, a + PG - 4);
	assert_int_equal(iommufd_ioas_find_iova(NULL, a, NULL), -EINVAL);
}

static size_t va_records(struct iommufd_ioas *ioas)
{
	struct ifd_midx_stats st;

	ifd_midx_get_stats(ioas->idx, &st);
	return st.va_records;
}

/*
 * The VA index is built by the first translate: maps made before it are
 * found, later maps and unmaps (and copies, in both states) keep it right,
 * and callers that never translate never pay for it.
 */
static void test_translate_lazy_index(void **state)
{
	struct t *t = *state;
	struct iommufd_ioas *other = NULL;
	uint64_t a = 0, b = 0, c = 0, d = 0, tr = 0;

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &a), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 4 * PG, 2 * PG, RW, NULL, &b), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 8 * PG, PG, RW, NULL, &c), 0);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, c, PG, NULL), 0);
	assert_int_equal(va_records(t->ioas), 0);

	/* The first translate indexes the two live maps, not the unmapped one. */
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + 5 * PG + 8, 8, &tr), 0);
	assert_int_equal(tr, b + PG + 8);
	assert_int_equal(va_records(t->ioas), 2);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + 8, 8, &tr), 0);
	assert_int_equal(tr, a + 8);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + 8 * PG, 8, &tr), -ENOENT);

	/* From then on every map and unmap keeps it. */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 8 * PG, PG, RW, NULL, &c), 0);
	assert_int_equal(va_records(t->ioas), 3);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + 8 * PG + 4, 4, &tr), 0);
	assert_int_equal(tr, c + 4);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, a, PG, NULL), 0);
	assert_int_equal(va_records(t->ioas), 2);
	assert_int_equal(iommufd_ioas_translate(t->ioas, t->buf + 8, 8, &tr), -ENOENT);

	/* A copy into an IOAS that never translated, then translated there. */
	assert_int_equal(iommufd_ioas_create(t->ctx, &other), 0);
	assert_int_equal(iommufd_ioas_copy(other, t->ioas, b, 2 * PG, RW, NULL, &d), 0);
	assert_int_equal(va_records(other), 0);
	assert_int_equal(iommufd_ioas_translate(other, t->buf + 4 * PG + 16, 16, &tr), 0);
	assert_int_equal(tr, d + 16);
	assert_int_equal(va_records(other), 1);
	assert_int_equal(iommufd_ioas_unmap(other, d, 2 * PG, NULL), 0);
	/* and a copy into one that has its index */
	assert_int_equal(iommufd_ioas_copy(other, t->ioas, c, PG, RW, NULL, &d), 0);
	assert_int_equal(va_records(other), 1);
	assert_int_equal(iommufd_ioas_translate(other, t->buf + 8 * PG + 1, 1, &tr), 0);
	assert_int_equal(tr, d + 1);
	assert_int_equal(ifd_midx_validate(t->ioas->idx), 0);
	assert_int_equal(ifd_midx_validate(other->idx), 0);
	assert_int_equal(iommufd_ioas_destroy(other), 0);
}

static void test_unmap_all(void **state)
{
	struct t *t = *state;
	uint64_t iova;

	for (int i = 0; i < 3; i++)
		assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + i * 2 * PG, PG, RW, NULL, &iova), 0);
	expect_kcount(t, 3);
	assert_int_equal(iommufd_ioas_unmap_all(t->ioas), 3);
	assert_int_equal(kmap_count(t), 0);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, PG, NULL), -ENOENT);
	assert_int_equal(iommufd_ioas_unmap_all(t->ioas), 0);
	assert_int_equal(iommufd_ioas_unmap_all(NULL), -EINVAL);
	/* the IOVAs are free again */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &iova), 0);
	assert_int_equal(iova, PG);
}

static void test_reserve(void **state)
{
	struct t *t = *state;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = 0x20000 };
	uint64_t iova = 0;

	assert_int_equal(iommufd_ioas_reserve(t->ioas, 0x10000, 0x10000), 0);
	assert_int_equal(iommufd_ioas_reserve(t->ioas, 0x10000, 0x10000), -EEXIST);
	assert_int_equal(iommufd_ioas_reserve(t->ioas, 0x18000, 0x10000), -EEXIST);
	assert_int_equal(iommufd_ioas_reserve(t->ioas, 0x10001, 0x1000), -EINVAL);
	assert_int_equal(iommufd_ioas_reserve(t->ioas, 0x30000, 0), -EINVAL);
	assert_int_equal(iommufd_ioas_reserve(t->ioas, 0x30000, 0x1001), -EINVAL);
	assert_int_equal(iommufd_ioas_reserve(t->ioas, UINT64_MAX - PG + 1, 2 * PG), -EINVAL);
	/* in the MSI window (device attached) */
	assert_int_equal(iommufd_ioas_reserve(t->ioas, FK_MSI_START, PG), -ERANGE);
	assert_int_equal(iommufd_ioas_reserve(NULL, 0x40000, PG), -EINVAL);
	o.iova = 0x1f000;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 2 * PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), -EEXIST);
	/* a reservation next to a mapping, and over one */
	o.iova = 0x20000;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	assert_int_equal(iommufd_ioas_reserve(t->ioas, 0x20000, PG), -EEXIST);
	assert_int_equal(iommufd_ioas_unreserve(t->ioas, 0x20000, PG), -ENOENT);
	assert_int_equal(iommufd_ioas_unreserve(t->ioas, 0x10000, 0x8000), -ENOENT);
	assert_int_equal(iommufd_ioas_unreserve(t->ioas, 0x50000, 0x8000), -ENOENT);
	assert_int_equal(iommufd_ioas_unreserve(t->ioas, 0x10000, 0x10000), 0);
	assert_int_equal(iommufd_ioas_unreserve(t->ioas, 0x10000, 0x10000), -ENOENT);
	o.iova = 0x1f000;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	/* the mapping survived all that */
	expect_kmap(t, 0x20000, PG, t->buf, 3);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, 0x20000, NULL), 0);
}

/* A reservation the device cannot reach blocks its attach like a mapping
 * would (iommufd_ioas_reserve(3) NOTES): -ERANGE, nothing left open, and
 * the device opens once the reservation is gone. */
static void test_reserve_then_device(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	uint64_t iova = 0, len = FK_MSI_LAST - FK_MSI_START + 1;

	assert_int_equal(iommufd_ioas_reserve(t->ioas, FK_MSI_START, len), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), -ERANGE);
	assert_null(dev);
	assert_int_equal(fake_kernel_open_fds(t->fk), 1);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_A), 0);
	/* a reservation the device can reach is no obstacle */
	assert_int_equal(iommufd_ioas_reserve(t->ioas, 0x100000, 0x100000), 0);
	assert_int_equal(iommufd_ioas_unreserve(t->ioas, FK_MSI_START, len), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &iova), 0);
	expect_kmap(t, iova, PG, t->buf, 3);
	assert_int_equal(iommufd_ioas_reserve(t->ioas, FK_MSI_START, len), -ERANGE);
}

static void test_get_accessors(void **state)
{
	struct t *t = *state;

	assert_ptr_equal(iommufd_ioas_get_ctx(t->ioas), t->ctx);
	assert_null(iommufd_ioas_get_ctx(NULL));
	assert_true(iommufd_ioas_get_fd(t->ioas) >= FK_FD_BASE);
	assert_int_equal(iommufd_ioas_get_fd(NULL), -EINVAL);
	if (t->b == IOMMUFD_BACKEND_TYPE1) {
		assert_int_equal(iommufd_ioas_get_id(t->ioas), -EOPNOTSUPP);
		assert_int_not_equal(iommufd_ioas_get_fd(t->ioas), iommufd_ctx_get_fd(t->ctx));
		assert_int_equal(fake_kernel_container_iommu(t->fk, iommufd_ioas_get_fd(t->ioas)), 0);
	} else {
		assert_true(iommufd_ioas_get_id(t->ioas) > 0);
		assert_int_equal(iommufd_ioas_get_fd(t->ioas), iommufd_ctx_get_fd(t->ctx));
		assert_true(fake_kernel_iommufd_objects(t->fk, iommufd_ioas_get_fd(t->ioas)) >= 1);
	}
	assert_int_equal(iommufd_ioas_get_id(NULL), -EINVAL);
	assert_int_equal(iommufd_ioas_get_alignment(NULL), -EINVAL);
	assert_int_equal(iommufd_ioas_create(NULL, &t->ioas), -EINVAL);
	assert_int_equal(iommufd_ioas_create(t->ctx, NULL), -EINVAL);
}

/* ------------------------------------------------------------------------ */

/* Destroy frees the handle (defect 8: a VMM that creates and destroys
 * IOAS and map handles must not grow): the heap is back where it was. */
static void test_destroy_frees(void **state)
{
	struct t *t = *state;
	struct iommufd_ioas *b = NULL;
	struct iommufd_map *m = NULL;
	size_t before, after;
	uint64_t iova;

	/* The first rounds warm malloc's caches (freed blocks it keeps per
	 * thread count as in use); measure from the third on. */
	before = 0;
	for (int i = 0; i < 202; i++) {
		if (i == 2) {
			fake_kernel_log_clear(t->fk); /* the fake kernel's call log is heap too */
			before = mallinfo2().uordblks;
		}
		fake_kernel_log_clear(t->fk);
		assert_int_equal(iommufd_ioas_create(t->ctx, &b), 0);
		assert_int_equal(iommufd_ioas_map(b, t->buf, PG, RW, NULL, &iova), 0);
		assert_int_equal(iommufd_map_create(b, t->buf, PG, RW, NULL, &m), 0);
		assert_int_equal(iommufd_map_destroy(m), 0);
		assert_int_equal(iommufd_ioas_destroy(b), 0);
	}
	after = mallinfo2().uordblks;
	assert_true(after <= before + 1024);
	assert_int_equal(iommufd_ioas_destroy(NULL), 0);
	assert_int_equal(iommufd_map_destroy(NULL), 0);
	/* the first IOAS is unaffected */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &iova), 0);
	expect_kmap(t, iova, PG, t->buf, 3);
}

static void test_destroy_busy(void **state)
{
	struct t *t = *state;
	uint64_t iova = 0;
	size_t n;

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &iova), 0);
	fake_kernel_log_clear(t->fk);
	errno = 0;
	assert_int_equal(iommufd_ioas_destroy(t->ioas), -EBUSY);
	assert_int_equal(errno, EBUSY);
	assert_true(fk_logcap_has(&t->cap, "still has 1 device"));
	/* nothing changed */
	n = fake_kernel_log_find(t->fk, NULL, NULL);
	assert_int_equal(n, 0);
	expect_kmap(t, iova, PG, t->buf, 3);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, iova, NULL), 0);
	assert_ptr_equal(iommufd_device_get_ioas(t->dev), t->ioas);
	assert_int_equal(iommufd_device_destroy(t->dev), 0);
	assert_int_equal(iommufd_ioas_destroy(t->ioas), 0);
	/* (GROUP: see test-device's test_group_no_stray_ioas) */
	if (t->b == IOMMUFD_BACKEND_CDEV)
		assert_int_equal(fake_kernel_iommufd_objects(t->fk, iommufd_ctx_get_fd(t->ctx)), 0);
}

static void test_memlock(void **state)
{
	struct t *t = *state;
	uint64_t iova = 0;

	fake_kernel_set_memlock(t->fk, 16 * PG);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 8 * PG, RW, NULL, &iova), 0);
	assert_int_equal(fake_kernel_pinned(t->fk), 8 * PG);
	fk_logcap_clear(&t->cap);
	errno = 0;
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 8 * PG, 16 * PG, RW, NULL, &iova), -ENOMEM);
	assert_int_equal(errno, ENOMEM);
	assert_true(fk_logcap_has(&t->cap, "RLIMIT_MEMLOCK"));
	/* nothing was recorded and the IOVA went back */
	assert_int_equal(kmap_count(t), 1);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, 9 * PG, NULL), -ENOENT);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 8 * PG, 8 * PG, RW, NULL, &iova), 0);
	assert_int_equal(iova, 9 * PG);
	assert_int_equal(fake_kernel_pinned(t->fk), 16 * PG);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, PG, 8 * PG, NULL), 0);
	assert_int_equal(fake_kernel_pinned(t->fk), 8 * PG);
}

/* The kernel's EFAULT (memory not mapped in the process): passed through,
 * logged as such, nothing recorded. */
static void test_map_efault(void **state)
{
	struct t *t = *state;
	uint64_t iova = 0;

	fake_kernel_fail_match(t->fk, t->b == IOMMUFD_BACKEND_TYPE1 ? "VFIO_IOMMU_MAP_DMA" : "IOMMU_IOAS_MAP", 1,
			       EFAULT);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &iova), -EFAULT);
	assert_true(fk_logcap_has(&t->cap, "not mapped in this process"));
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, PG, NULL), -ENOENT);
	expect_kcount(t, 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &iova), 0);
	assert_int_equal(iova, PG);
}

/* iommufd pins when a device attaches: the attach is what fails. */
static void test_memlock_at_attach(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	uint64_t iova = 0;

	fake_kernel_set_memlock(t->fk, 4 * PG);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 8 * PG, RW, NULL, &iova), 0);
	assert_int_equal(fake_kernel_pinned(t->fk), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), -ENOMEM);
	assert_null(dev);
	assert_int_equal(fake_kernel_open_fds(t->fk), 1); /* /dev/iommu only */
	fake_kernel_set_memlock(t->fk, 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(fake_kernel_pinned(t->fk), 8 * PG);
}

/* A mapping in what becomes the MSI window stops the device attaching. */
static void test_attach_conflict(void **state)
{
	struct t *t = *state;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = FK_MSI_START };
	struct iommufd_device *dev = NULL;
	uint64_t iova = 0;

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova), 0);
	assert_int_not_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	assert_null(dev);
	/* all unwound: the mapping is still there, the device is closed */
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, FK_MSI_START, NULL), 0);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_A), 0);
	if (t->b == IOMMUFD_BACKEND_TYPE1)
		assert_int_equal(fake_kernel_container_iommu(t->fk, iommufd_ioas_get_fd(t->ioas)), 0);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, FK_MSI_START, PG, NULL), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &iova), 0);
	expect_kmap(t, iova, PG, t->buf, 3);
}

/* ------------------------------------------------------------------------ */
/* TYPE1: maps made before the first device                                 */

static void test_type1_replay(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev = NULL;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = 0x400000 };
	uint64_t a = 0, b = 0, c = 0;
	long set, map;
	int ct = iommufd_ioas_get_fd(t->ioas);

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, 2 * PG, RW, NULL, &a), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 4 * PG, PG, IOMMUFD_MAP_READ | IOMMUFD_MAP_FIXED, &o, &b),
			 0);
	/* recorded only: the container has no IOMMU yet */
	assert_int_equal(ioctls(t), 0);
	assert_int_equal(kmap_count(t), 0);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, a, NULL), 0);

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	set = fake_kernel_log_index(t->fk, 0, "ioctl", "VFIO_SET_IOMMU");
	map = fake_kernel_log_index(t->fk, 0, "ioctl", "VFIO_IOMMU_MAP_DMA");
	assert_true(set >= 0);
	assert_true(map > set);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", "VFIO_IOMMU_MAP_DMA"), 2);
	assert_int_equal(fake_kernel_container_iommu(t->fk, ct), VFIO_TYPE1v2_IOMMU);
	assert_int_equal(kmap_count(t), 2);
	expect_kmap(t, a, 2 * PG, t->buf, 3);
	expect_kmap(t, 0x400000, PG, t->buf + 4 * PG, 1);

	/* the last group leaves: the kernel drops the IOMMU and its mappings */
	assert_int_equal(iommufd_device_destroy(dev), 0);
	assert_int_equal(fake_kernel_container_iommu(t->fk, ct), 0);
	assert_int_equal(kmap_count(t), 0);
	assert_int_equal(fake_kernel_pinned(t->fk), 0);
	/* the library keeps its records; changes while detached stay local */
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, 0x400000, NULL), 0);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, a, 2 * PG, NULL), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 8 * PG, 4 * PG, RW, NULL, &c), 0);
	assert_int_equal(ioctls(t), 0);

	/* a device comes back: replayed again, after SET_IOMMU */
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &dev), 0);
	set = fake_kernel_log_index(t->fk, 0, "ioctl", "VFIO_SET_IOMMU");
	map = fake_kernel_log_index(t->fk, 0, "ioctl", "VFIO_IOMMU_MAP_DMA");
	assert_true(set >= 0 && map > set);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", "VFIO_IOMMU_MAP_DMA"), 2);
	assert_int_equal(kmap_count(t), 2);
	expect_kmap(t, 0x400000, PG, t->buf + 4 * PG, 1);
	expect_kmap(t, c, 4 * PG, t->buf + 8 * PG, 3);
	assert_int_equal(fake_kernel_pinned(t->fk), 5 * PG);
	/* and now maps go straight to the kernel */
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf + 16 * PG, PG, RW, NULL, &a), 0);
	assert_int_equal(kmap_count(t), 3);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, 0x400000, PG, NULL), 0);
	assert_int_equal(kmap_count(t), 2);
}

/* Two groups in one container: the IOMMU stays until the last one leaves. */
static void test_type1_two_groups(void **state)
{
	struct t *t = *state;
	struct iommufd_device *b = NULL;
	uint64_t iova = 0;
	int ct = iommufd_ioas_get_fd(t->ioas);

	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &b), 0);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", "VFIO_SET_IOMMU"), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &iova), 0);
	assert_int_equal(iommufd_device_destroy(t->dev), 0);
	t->dev = NULL;
	assert_int_equal(fake_kernel_container_iommu(t->fk, ct), VFIO_TYPE1v2_IOMMU);
	expect_kmap(t, iova, PG, t->buf, 3);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova, PG, NULL), 0);
	assert_int_equal(kmap_count(t), 0);
	assert_int_equal(iommufd_device_destroy(b), 0);
	assert_int_equal(fake_kernel_container_iommu(t->fk, ct), 0);
}

static void test_type1_v1_only(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_6_12, .type1_v1_only = true };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	static uint8_t buf[2 * PG] __attribute__((aligned(PG)));
	uint64_t iova = 0;

	(void)state;
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = 5 });
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_AUTO, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(fake_kernel_container_iommu(fk, iommufd_ioas_get_fd(ioas)), VFIO_TYPE1_IOMMU);
	assert_int_equal(iommufd_ioas_map(ioas, buf, sizeof(buf), RW, NULL, &iova), 0);
	assert_int_equal(iommufd_ioas_unmap(ioas, iova, sizeof(buf), NULL), 0);
	assert_int_equal(fake_kernel_get_maps(fk, iommufd_ioas_get_fd(ioas), 0, NULL, 0), 0);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
}

static int fk_teardown(void **state)
{
	(void)state;
	fake_kernel_destroy_current();
	return 0;
}

/*
 * The kernel refuses a map at the place the last unmap left (the record
 * reused in place): a mapping someone made behind the library's back there
 * (EEXIST) is stepped past and stays marked, any other error is returned
 * at once with nothing left behind.
 */
static void test_map_refused_at_reused_place(void **state)
{
	struct t *t = *state;
	const struct ifd_sys *sys = fake_kernel_sys(t->fk);
	uint64_t a, b, c;
	int fd = iommufd_ioas_get_fd(t->ioas);

	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &a), 0);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, a, PG, NULL), 0);
	/* someone else maps at a, on the library's own fd */
	if (t->b == IOMMUFD_BACKEND_TYPE1) {
		struct vfio_iommu_type1_dma_map k = {
			.argsz = sizeof(k), .flags = 3, .vaddr = (uintptr_t)t->buf + PG, .iova = a, .size = PG,
		};

		assert_int_equal(sys->ioctl(fd, VFIO_IOMMU_MAP_DMA, &k), 0);
	} else {
		struct ifd_k_ioas_map k = {
			.size = sizeof(k),
			.flags = IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA | IFD_K_IOMMU_IOAS_MAP_READABLE,
			.ioas_id = ioas_id(t), .user_va = (uintptr_t)t->buf + PG, .length = PG, .iova = a,
		};

		assert_int_equal(sys->ioctl(fd, IFD_K_IOMMU_IOAS_MAP, &k), 0);
	}
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &b), 0);
	assert_true(b != a);
	assert_true(fk_logcap_has(&t->cap, "already mapped by someone else"));
	assert_int_equal(iommufd_ioas_unmap(t->ioas, b, PG, NULL), 0);
	/* a stays marked: the next map does not try it again */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &c), 0);
	assert_true(c != a);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", t->b == IOMMUFD_BACKEND_TYPE1 ? "VFIO_IOMMU_MAP_DMA" :
								 "IOMMU_IOAS_MAP"), 1);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, c, PG, NULL), 0);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, a, PG, NULL), -ENOENT); /* not the library's */

	/* any other refusal: returned at once, no retry, nothing recorded */
	fake_kernel_fail_match(t->fk, t->b == IOMMUFD_BACKEND_TYPE1 ? "VFIO_IOMMU_MAP_DMA" : "IOMMU_IOAS_MAP", 1,
			       EAGAIN);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &b), -EAGAIN);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", t->b == IOMMUFD_BACKEND_TYPE1 ? "VFIO_IOMMU_MAP_DMA" :
								 "IOMMU_IOAS_MAP"), 1);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, c, NULL), -ENOENT);
	assert_int_equal(iommufd_ioas_map(t->ioas, t->buf, PG, RW, NULL, &b), 0);
	assert_int_equal(b, c);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, b, PG, NULL), 0);
}

#define ALL3(f, s)                                                                                   \
	cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&B_CDEV),                   \
		cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&B_GROUP),          \
		cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&B_TYPE1)
#define IOMMUFD2(f, s)                                                                               \
	cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&B_CDEV),                   \
		cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&B_GROUP)
#define PLAIN3(f)                                                                                    \
	cmocka_unit_test_prestate_setup_teardown(f, NULL, fk_teardown, (void *)&B_CDEV),             \
		cmocka_unit_test_prestate_setup_teardown(f, NULL, fk_teardown, (void *)&B_GROUP),    \
		cmocka_unit_test_prestate_setup_teardown(f, NULL, fk_teardown, (void *)&B_TYPE1)

int main(void)
{
	const struct CMUnitTest tests[] = {
		ALL3(test_map_unmap, setup_dev),
		ALL3(test_map_refused_at_reused_place, setup_dev),
		ALL3(test_map_read_only, setup_dev),
		ALL3(test_allocator_lowest_fit, setup_dev),
		ALL3(test_allocator_lowest_fit, setup_nodev),
		ALL3(test_allocator_alignment, setup_dev),
		ALL3(test_allocator_size_alignment, setup_dev),
		ALL3(test_allocator_iova_max, setup_dev),
		ALL3(test_iova_max_below_lowest, setup_dev),
		ALL3(test_ranges_with_device, setup_dev),
		ALL3(test_ranges_honoured, setup_dev),
		ALL3(test_ranges_follow_devices, setup_nodev),
		PLAIN3(test_alignment_from_iommu),
		PLAIN3(test_many_ranges),
		ALL3(test_fixed, setup_dev),
		ALL3(test_fixed, setup_nodev),
		ALL3(test_map_bad_input, setup_dev),
		ALL3(test_unmap_bad_input, setup_dev),
		ALL3(test_translate_edges, setup_dev),
		ALL3(test_translate_lazy_index, setup_dev),
		ALL3(test_unmap_all, setup_dev),
		ALL3(test_unmap_all, setup_nodev),
		ALL3(test_reserve, setup_dev),
		ALL3(test_reserve_then_device, setup_nodev),
		ALL3(test_get_accessors, setup_nodev),
		ALL3(test_destroy_frees, setup_dev),
		ALL3(test_destroy_busy, setup_dev),
		ALL3(test_memlock, setup_dev),
		ALL3(test_map_efault, setup_dev),
		IOMMUFD2(test_memlock_at_attach, setup_nodev),
		ALL3(test_attach_conflict, setup_nodev),
		cmocka_unit_test_prestate_setup_teardown(test_type1_replay, setup_nodev, teardown, (void *)&B_TYPE1),
		cmocka_unit_test_prestate_setup_teardown(test_type1_two_groups, setup_dev, teardown, (void *)&B_TYPE1),
		cmocka_unit_test_teardown(test_type1_v1_only, fk_teardown),
	};

	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
