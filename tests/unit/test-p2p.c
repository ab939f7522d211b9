/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Peer-to-peer BAR mappings on the fake kernel: the dma-buf export and its
 * argument rules, the feature answer, the TYPE1 path through the BAR's
 * mmap, the refusals where iommufd cannot take a BAR, and that nothing
 * leaks on any of those paths.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "fake-kernel.h"

#define PG 0x1000ULL
#define RW (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE)

static const enum iommufd_backend B_CDEV = IOMMUFD_BACKEND_CDEV;
static const enum iommufd_backend B_GROUP = IOMMUFD_BACKEND_GROUP;
static const enum iommufd_backend B_TYPE1 = IOMMUFD_BACKEND_TYPE1;

struct t {
	enum iommufd_backend b;
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dma, *bar; /* the DMA master, the BAR's device */
	struct fk_logcap cap;
};

static int setup_cfg(void **state, const struct fk_config *cfg)
{
	struct t *t = calloc(1, sizeof(*t));
	static const struct fk_dev_desc a = { .name = FK_DEV_A, .group = FK_GROUP_A };
	static const struct fk_dev_desc b = { .name = FK_DEV_B, .group = FK_GROUP_B };

	assert_non_null(t);
	t->b = *(const enum iommufd_backend *)*state;
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	fk_logcap_init(&t->cap);
	t->fk = fake_kernel_create(cfg);
	assert_non_null(t->fk);
	assert_int_equal(fake_kernel_add_device(t->fk, &a), 0);
	assert_int_equal(fake_kernel_add_device(t->fk, &b), 0);
	assert_int_equal(fk_ctx_create(t->fk, t->b, &t->cap, &t->ctx), 0);
	assert_int_equal(iommufd_ioas_create(t->ctx, &t->ioas), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &t->dma), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &t->bar), 0);
	fk_logcap_clear(&t->cap);
	*state = t;
	return 0;
}

static int setup(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3 };

	return setup_cfg(state, &cfg);
}

/* A 7.3 kernel built without CONFIG_VFIO_PCI_DMABUF. */
static int setup_nodmabuf(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .no_dmabuf = true };

	return setup_cfg(state, &cfg);
}

static int teardown(void **state)
{
	struct t *t = *state;

	iommufd_ctx_destroy(t->ctx);
	assert_int_equal(fake_kernel_open_fds(t->fk), 0);
	assert_int_equal(fake_kernel_live_mmaps(t->fk), 0);
	assert_int_equal(fake_kernel_real_fds(t->fk), 0);
	fake_kernel_destroy(t->fk);
	fk_logcap_free(&t->cap);
	free(t);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Export                                                                   */

static void test_export_args(void **state)
{
	struct t *t = *state;
	unsigned long calls = fake_kernel_calls(t->fk);
	int fd = -7;

	/* Each refused before any kernel call, *fd untouched. */
	assert_int_equal(iommufd_device_export_dmabuf(NULL, 0, 0, PG, &fd), -EINVAL);
	assert_int_equal(iommufd_device_export_dmabuf(t->bar, 0, 0, PG, NULL), -EINVAL);
	assert_int_equal(iommufd_device_export_dmabuf(t->bar, 0, 0, 0, &fd), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(iommufd_device_export_dmabuf(t->bar, 0, 1, PG, &fd), -EINVAL);
	assert_int_equal(iommufd_device_export_dmabuf(t->bar, 0, 0, PG + 1, &fd), -EINVAL);
	assert_int_equal(iommufd_device_export_dmabuf(t->bar, 0, PG, PG, &fd), -EINVAL);     /* past BAR0's end */
	assert_int_equal(iommufd_device_export_dmabuf(t->bar, 0, 0, 2 * PG, &fd), -EINVAL);
	assert_int_equal(iommufd_device_export_dmabuf(t->bar, 0, UINT64_MAX & ~(PG - 1), 2 * PG, &fd), -EINVAL);
	assert_int_equal(iommufd_device_export_dmabuf(t->bar, IOMMUFD_REGION_ROM, 0, PG, &fd), -EINVAL);
	assert_int_equal(iommufd_device_export_dmabuf(t->bar, IOMMUFD_REGION_CONFIG, 0, PG, &fd), -EINVAL);
	assert_true(fk_logcap_has(&t->cap, "outside the BAR"));
	assert_int_equal(fd, -7);
	assert_int_equal(fake_kernel_calls(t->fk), calls);
}

static void test_export(void **state)
{
	struct t *t = *state;
	int fd = -1, fd2 = -1;

	/* BAR2 is 4 pages: a slice of it, and the whole BAR0. */
	assert_int_equal(iommufd_device_export_dmabuf(t->bar, 2, PG, 2 * PG, &fd), 0);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(lseek(fd, 0, SEEK_END), 2 * PG); /* the fake's dma-buf is the slice */
	assert_int_equal(iommufd_device_export_dmabuf(t->bar, 0, 0, PG, &fd2), 0);
	assert_true(fd2 >= 0 && fd2 != fd);
	assert_true(fcntl(fd2, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(t->ctx->sys->close(fd), 0);
	assert_int_equal(t->ctx->sys->close(fd2), 0);
}

static void test_export_unsupported(void **state)
{
	struct t *t = *state;
	int fd = -7;

	assert_int_equal(iommufd_device_export_dmabuf(t->bar, 0, 0, PG, &fd), -EOPNOTSUPP);
	assert_int_equal(fd, -7);
	assert_true(fk_logcap_has(&t->cap, "CONFIG_VFIO_PCI_DMABUF"));
}

static void test_export_mdev(void **state)
{
	struct t *t = *state;
	struct iommufd_device *m;
	int fd = -7;

	assert_int_equal(iommufd_device_open(t->ioas, FK_MDEV, NULL, &m), -ENODEV); /* not in this machine */
	assert_int_equal(fake_kernel_add_device(t->fk, &(struct fk_dev_desc){ .name = FK_MDEV, .group = 11,
									   .mdev = true }), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_MDEV, NULL, &m), 0);
	assert_int_equal(iommufd_device_export_dmabuf(m, 0, 0, PG, &fd), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "does not export dma-bufs"));
	assert_int_equal(fd, -7);
	assert_int_equal(iommufd_device_destroy(m), 0);
}

/* ------------------------------------------------------------------------ */
/* Feature answer                                                           */

static void test_feature(void **state)
{
	struct t *t = *state;
	struct iommufd_feature_status st = { .sz = sizeof(st) };

	if (t->b == IOMMUFD_BACKEND_TYPE1) {
		assert_int_equal(iommufd_feature_query(t->ctx, t->bar, IOMMUFD_FEATURE_P2P_DMABUF, &st), 0);
		assert_int_equal(st.reason, IOMMUFD_REASON_BACKEND);
		assert_non_null(strstr(st.why, "maps the BAR's mmap there instead"));
		return;
	}
	/* The fake 7.3 has no IOMMU_IOAS_MAP_FILE model unless a test adds one:
	 * either way the answer names why. */
	int r = iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_P2P_DMABUF, &st);

	assert_int_equal(r, 0);
	assert_true(st.reason == IOMMUFD_REASON_NEED_DEVICE || st.reason == IOMMUFD_REASON_KERNEL);
	assert_true(st.why[0]);
}

static void test_feature_probe(void **state)
{
	struct t *t = *state;

	/* The device half of the answer: VFIO_DEVICE_FEATURE_PROBE. */
	ifd_ctx_lock(t->ctx);
	assert_int_equal(ifd_dev_dmabuf_probe(t->bar), 1);
	ifd_ctx_unlock(t->ctx);
}

static void test_feature_probe_absent(void **state)
{
	struct t *t = *state;

	ifd_ctx_lock(t->ctx);
	assert_int_equal(ifd_dev_dmabuf_probe(t->bar), 0);
	ifd_ctx_unlock(t->ctx);
}

/* ------------------------------------------------------------------------ */
/* Mapping                                                                  */

static void test_map_args(void **state)
{
	struct t *t = *state;
	struct iommufd_ioas *other;
	struct iommufd_ctx *ctx2;
	struct iommufd_device *d2;
	uint64_t iova = 77;

	assert_int_equal(iommufd_ioas_map_bar(NULL, t->bar, 0, 0, PG, RW, NULL, &iova), -EINVAL);
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, NULL, 0, 0, PG, RW, NULL, &iova), -EINVAL);
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->bar, 0, 0, PG, RW, NULL, NULL), -EINVAL);
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->bar, 0, 0, 0, RW, NULL, &iova), -EINVAL);
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->bar, 0, 0, 2 * PG, RW, NULL, &iova), -EINVAL);
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->bar, 7, 0, PG, RW, NULL, &iova), -EINVAL);
	/* A BAR device of another context. */
	assert_int_equal(fk_ctx_create(t->fk, t->b, NULL, &ctx2), 0);
	assert_int_equal(iommufd_ioas_create(ctx2, &other), 0);
	assert_int_equal(fake_kernel_add_device(t->fk, &(struct fk_dev_desc){ .name = "0000:00:0a.0", .group = 12 }),
			 0);
	assert_int_equal(iommufd_device_open(other, "0000:00:0a.0", NULL, &d2), 0);
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, d2, 0, 0, PG, RW, NULL, &iova), -EINVAL);
	iommufd_ctx_destroy(ctx2);
	assert_int_equal(iova, 77);
	assert_int_equal(iommufd_ioas_bar_revoked(NULL, 0), -EINVAL);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, 0x1000), -ENOENT);
}

/* TYPE1: the BAR's mmap goes to VFIO_IOMMU_MAP_DMA; nothing revokes it. */
static void test_map_type1(void **state)
{
	struct t *t = *state;
	struct iommufd_map_info info;
	struct iommufd_event ev[4];
	uint64_t iova = 0, got = 0;
	int efd = iommufd_ctx_get_event_fd(t->ctx);

	assert_true(efd >= 0);
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->bar, 0, 0, PG, RW, NULL, &iova), 0);
	assert_true(iova != 0);
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, iova, &info), 0);
	assert_int_equal(info.len, PG);
	assert_int_equal(info.flags, RW);
	assert_int_equal(fake_kernel_live_mmaps(t->fk), 1); /* the library's mmap of the BAR */
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, iova), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, iova + PG - 1), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, iova + PG), -ENOENT);
	/* A reset does not revoke a type1 mapping: no event, still mapped. */
	assert_int_equal(iommufd_device_reset(t->bar), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, iova), 0);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), -EAGAIN);
	/* BAR2 is not mmappable: refused, nothing left behind. */
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->bar, 2, 0, PG, RW, NULL, &got), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "cannot be mmapped as a whole"));
	/* The unmap takes the mmap and the library's entry with it. */
	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova, PG, &got), 0);
	assert_int_equal(got, PG);
	assert_int_equal(fake_kernel_live_mmaps(t->fk), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, iova), -ENOENT);
}

/* A range unmap and unmap_all drop the entries of the BAR mappings they
 * remove: a later plain mapping at the same IOVA is not a BAR. */
static void test_map_type1_unmap_all(void **state)
{
	struct t *t = *state;
	static uint8_t mem[2 * PG] __attribute__((aligned(PG)));
	struct iommufd_map_opts o = { .sz = sizeof(o) };
	uint64_t a = 0, b = 0, c = 0;

	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->bar, 0, 0, PG, RW, NULL, &a), 0);
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->dma, 0, 0, PG, IOMMUFD_MAP_READ, NULL, &b), 0);
	assert_int_equal(iommufd_ioas_unmap_all(t->ioas), 2);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, a), -ENOENT);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, b), -ENOENT);
	o.iova = a;
	assert_int_equal(iommufd_ioas_map(t->ioas, mem, PG, RW | IOMMUFD_MAP_FIXED, &o, &c), 0);
	assert_int_equal(c, a);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, a), -ENOENT);
}

/* iommufd takes a BAR only as a dma-buf: without the export, a refusal
 * that names the way out, and no fd left open. */
static void test_map_iommufd_no_export(void **state)
{
	struct t *t = *state;
	uint64_t iova = 77;

	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->bar, 0, 0, PG, RW, NULL, &iova), -EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "use the type1 backend"));
	assert_int_equal(iova, 77);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, 0x1000), -ENOENT);
}

static int real_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < FK_FD_BASE; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* CDEV/GROUP: export + IOMMU_IOAS_MAP_FILE of the dma-buf; the library's
 * reset revokes it; the unmap closes the mapping's dma-buf. */
static void test_map_iommufd(void **state)
{
	struct t *t = *state;
	struct iommufd_map_info info;
	struct iommufd_event ev[4];
	int efd = iommufd_ctx_get_event_fd(t->ctx), nreal = real_fds();
	uint64_t iova = 0, again = 0;

	assert_true(efd >= 0);
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->bar, 2, PG, 2 * PG, RW, NULL, &iova), 0);
	assert_true(iova != 0);
	assert_true(fk_logcap_has(&t->cap, "(dma-buf)"));
	assert_int_equal(iommufd_ioas_find_iova(t->ioas, iova + PG, &info), 0);
	assert_int_equal(info.iova, iova);
	assert_int_equal(info.len, 2 * PG);
	/* The mapping holds one duplicate of the dma-buf, no more; the other
	 * new fd is the library's P2P eventfd, made with the first BAR map. */
	assert_int_equal(real_fds(), nreal + 2);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, iova), 0);
	assert_int_equal(iommufd_device_reset(t->bar), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, iova), 1);
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), 1);
	assert_int_equal(ev[0].kind, IOMMUFD_EVENT_P2P_REVOKED);
	assert_int_equal(ev[0].iova, iova);
	assert_int_equal(ev[0].len, 2 * PG);
	assert_int_equal(iommufd_ioas_unmap(t->ioas, iova, 2 * PG, NULL), 0);
	assert_int_equal(real_fds(), nreal + 1);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, iova), -ENOENT);
	/* Mapped again: live. */
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->bar, 2, PG, 2 * PG, IOMMUFD_MAP_READ, NULL, &again), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, again), 0);
	assert_int_equal(iommufd_ioas_unmap_all(t->ioas), 1);
	assert_int_equal(real_fds(), nreal + 1);
}

/* A map the kernel refuses leaves no dma-buf open and no entry. */
static void test_map_iommufd_fails(void **state)
{
	struct t *t = *state;
	int nreal;
	uint64_t iova = 77;

	/* The first IOMMU_IOAS_MAP_FILE is the library's probe: let it be. */
	assert_int_equal(iommufd_feature_query(t->ctx, t->bar, IOMMUFD_FEATURE_P2P_DMABUF, NULL), 1);
	nreal = real_fds();
	fake_kernel_fail_match(t->fk, "IOMMU_IOAS_MAP_FILE", 1, ENOMEM);
	assert_int_equal(iommufd_ioas_map_bar(t->ioas, t->bar, 0, 0, PG, RW, NULL, &iova), -ENOMEM);
	assert_int_equal(iova, 77);
	assert_int_equal(real_fds(), nreal);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, PG), -ENOENT);
}

/* ------------------------------------------------------------------------ */
/* Revocation bookkeeping                                                   */
/*
 * The fake kernel cannot map a dma-buf (no IOMMU_IOAS_MAP_FILE model for
 * one), so these record a plain mapping as a dma-buf BAR of t->bar the way
 * iommufd_ioas_map_bar() does after its map succeeded, and drive the
 * library's side: what revokes, the events, the query, the cleanup.
 */

static uint8_t ram[8 * PG] __attribute__((aligned(PG)));

static uint64_t track(struct t *t, unsigned int page)
{
	uint64_t iova = 0;

	assert_int_equal(iommufd_ioas_map(t->ioas, ram + page * PG, PG, RW, NULL, &iova), 0);
	assert_int_equal(ifd_p2p_track(t->ioas, t->bar, iova, PG, true), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, iova), 0);
	return iova;
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Exactly one P2P_REVOKED for @iova, then nothing. */
static void expect_revoked_event(struct t *t, int efd, uint64_t iova, struct iommufd_device *dev)
{
	struct iommufd_event ev[4];

	assert_true(readable(efd));
	memset(ev, 0x55, sizeof(ev));
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), 1);
	assert_int_equal(ev[0].kind, IOMMUFD_EVENT_P2P_REVOKED);
	assert_int_equal(ev[0].count, 1);
	assert_ptr_equal(ev[0].dev, dev);
	assert_string_equal(ev[0].name, FK_DEV_B);
	assert_ptr_equal(ev[0].ioas, t->ioas);
	assert_int_equal(ev[0].iova, iova);
	assert_int_equal(ev[0].len, PG);
	assert_false(readable(efd));
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), -EAGAIN);
}

static void test_revoke_reset(void **state)
{
	struct t *t = *state;
	int efd = iommufd_ctx_get_event_fd(t->ctx);
	uint64_t a, b;

	assert_true(efd >= 0);
	a = track(t, 0);
	assert_false(readable(efd));
	assert_int_equal(iommufd_device_reset(t->bar), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, a), 1);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, a + PG - 1), 1);
	assert_true(fk_logcap_has(&t->cap, "resetting the device revoked its BAR mapping"));
	expect_revoked_event(t, efd, a, t->bar);
	/* Revoked once: a second reset reports nothing new. */
	assert_int_equal(iommufd_device_reset(t->bar), 0);
	assert_false(readable(efd));
	/* Another device's reset does not touch it; a new mapping is live. */
	b = track(t, 1);
	assert_int_equal(iommufd_device_reset(t->dma), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, b), 0);
	assert_false(readable(efd));
	/* The unmap forgets them. */
	assert_int_equal(iommufd_ioas_unmap(t->ioas, a, PG, NULL), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, a), -ENOENT);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, b), 0);
}

/* Events that happen before the event fd exists wait for it. */
static void test_revoke_before_event_fd(void **state)
{
	struct t *t = *state;
	uint64_t a = track(t, 0);
	int efd;

	assert_int_equal(iommufd_device_reset(t->bar), 0);
	efd = iommufd_ctx_get_event_fd(t->ctx);
	assert_true(efd >= 0);
	expect_revoked_event(t, efd, a, t->bar);
}

static void test_revoke_memory_off(void **state)
{
	struct t *t = *state;
	int efd = iommufd_ctx_get_event_fd(t->ctx);
	uint8_t cfg[4] = { 0 };
	uint16_t cmd;
	uint64_t a = track(t, 0);

	assert_int_equal(iommufd_device_config_read(t->bar, 4, &cmd, 2), 0);
	/* Memory decode on, or a write that does not reach the command
	 * register: nothing. */
	cmd = htole16(0x6);
	assert_int_equal(iommufd_device_config_write(t->bar, 4, &cmd, 2), 0);
	assert_int_equal(iommufd_device_config_write(t->bar, 6, cfg, 2), 0);
	assert_int_equal(iommufd_device_config_write(t->bar, 0, cfg, 4), 0);
	assert_int_equal(iommufd_device_set_bus_master(t->bar, true), 0);
	assert_false(readable(efd));
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, a), 0);
	/* A write from offset 2 whose third byte is the command register's
	 * low byte, Memory Space Enable clear. */
	cfg[2] = 0x4;
	assert_int_equal(iommufd_device_config_write(t->bar, 2, cfg, 4), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, a), 1);
	assert_true(fk_logcap_has(&t->cap, "memory decode off"));
	expect_revoked_event(t, efd, a, t->bar);
}

/* A reset the kernel refuses for want of a method revokes nothing. */
static void test_revoke_no_reset_method(void **state)
{
	struct t *t = *state;
	struct iommufd_device *nr;
	uint64_t iova = 0;
	int efd = iommufd_ctx_get_event_fd(t->ctx);

	assert_int_equal(fake_kernel_add_device(t->fk, &(struct fk_dev_desc){ .name = FK_DEV_NORESET, .group = 7,
									   .no_reset = true }), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_NORESET, NULL, &nr), 0);
	assert_int_equal(iommufd_ioas_map(t->ioas, ram, PG, RW, NULL, &iova), 0);
	assert_int_equal(ifd_p2p_track(t->ioas, nr, iova, PG, true), 0);
	assert_int_equal(iommufd_device_reset(nr), -EOPNOTSUPP);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, iova), 0);
	assert_false(readable(efd));
	assert_int_equal(iommufd_device_destroy(nr), 0);
}

/* Closing the exporter revokes; the event no longer names the freed handle. */
static void test_revoke_destroy(void **state)
{
	struct t *t = *state;
	int efd = iommufd_ctx_get_event_fd(t->ctx);
	uint64_t a = track(t, 0), b;

	assert_int_equal(iommufd_device_reset(t->bar), 0); /* a: revoked, its event still queued */
	b = track(t, 1);                                    /* live until the destroy */
	assert_int_equal(iommufd_device_destroy(t->bar), 0);
	t->bar = NULL;
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, a), 1);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, b), 1);
	{
		struct iommufd_event ev[4];

		assert_true(readable(efd));
		assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), 2);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(ev[i].kind, IOMMUFD_EVENT_P2P_REVOKED);
			assert_null(ev[i].dev); /* the handle is freed, even in the event queued before */
			assert_string_equal(ev[i].name, FK_DEV_B);
		}
		assert_int_equal(ev[0].iova, a);
		assert_int_equal(ev[1].iova, b);
	}
}

/* The kernel's "remove" uevent of the exporter: REMOVED, then the
 * revocation of its mappings, in one read. */
static void test_revoke_removed(void **state)
{
	struct t *t = *state;
	struct iommufd_event ev[4];
	int efd = iommufd_ctx_get_event_fd(t->ctx);
	uint64_t a = track(t, 0);

	assert_int_equal(fake_kernel_uevent_kv(t->fk, "remove", "/devices/pci0000:00/" FK_DEV_B, "pci", 5), 1);
	assert_true(readable(efd));
	assert_int_equal(iommufd_ctx_read_events(t->ctx, ev, 4), 2);
	assert_int_equal(ev[0].kind, IOMMUFD_EVENT_REMOVED);
	assert_ptr_equal(ev[0].dev, t->bar);
	assert_null(ev[0].ioas);
	assert_int_equal(ev[1].kind, IOMMUFD_EVENT_P2P_REVOKED);
	assert_int_equal(ev[1].iova, a);
	assert_ptr_equal(ev[1].dev, t->bar);
	assert_int_equal(iommufd_ioas_bar_revoked(t->ioas, a), 1);
	assert_false(readable(efd));
}

/* More revocations than the queue holds: 64 events, the rest logged. */
static void test_revoke_overflow(void **state)
{
	struct t *t = *state;
	static uint8_t big[70 * PG] __attribute__((aligned(PG)));
	struct iommufd_event ev[80];
	int efd = iommufd_ctx_get_event_fd(t->ctx), n, total = 0;
	uint64_t iova;

	for (int i = 0; i < 70; i++) {
		assert_int_equal(iommufd_ioas_map(t->ioas, big + i * PG, PG, RW, NULL, &iova), 0);
		assert_int_equal(ifd_p2p_track(t->ioas, t->bar, iova, PG, true), 0);
	}
	assert_int_equal(iommufd_device_reset(t->bar), 0);
	assert_true(fk_logcap_has(&t->cap, "revoked 66 more BAR mapping(s)"));
	while ((n = iommufd_ctx_read_events(t->ctx, ev, 10)) > 0)
		total += n;
	assert_int_equal(total, 64);
	assert_true(fk_logcap_has(&t->cap, "6 P2P_REVOKED event(s) dropped"));
	assert_false(readable(efd));
	assert_int_equal(iommufd_ioas_unmap_all(t->ioas), 70);
}

/* An IOAS destroyed with BAR mappings leaves no entry behind. */
static void test_ioas_destroy_forgets(void **state)
{
	struct t *t = *state;
	struct iommufd_ioas *io2;
	uint64_t iova = 0, again = 0;
	struct iommufd_map_opts o = { .sz = sizeof(o) };

	assert_int_equal(iommufd_ioas_create(t->ctx, &io2), 0);
	assert_int_equal(iommufd_ioas_map(io2, ram, PG, RW, NULL, &iova), 0);
	assert_int_equal(ifd_p2p_track(io2, t->bar, iova, PG, true), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(io2, iova), 0);
	assert_int_equal(iommufd_ioas_destroy(io2), 0);
	/* The next IOAS very likely reuses the freed memory: no stale hit. */
	assert_int_equal(iommufd_ioas_create(t->ctx, &io2), 0);
	o.iova = iova;
	assert_int_equal(iommufd_ioas_map(io2, ram, PG, RW | IOMMUFD_MAP_FIXED, &o, &again), 0);
	assert_int_equal(iommufd_ioas_bar_revoked(io2, iova), -ENOENT);
	{
		struct ifd_p2p *p = t->ctx->p2p;

		assert_non_null(p);
	}
	assert_int_equal(iommufd_ioas_destroy(io2), 0);
}

#define T(fn, be) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&be)
#define TN(fn, be) cmocka_unit_test_prestate_setup_teardown(fn, setup_nodmabuf, teardown, (void *)&be)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_export_args, B_CDEV),
		T(test_export, B_CDEV),
		T(test_export, B_GROUP),
		T(test_export, B_TYPE1),
		TN(test_export_unsupported, B_CDEV),
		TN(test_export_unsupported, B_TYPE1),
		T(test_export_mdev, B_CDEV),
		T(test_feature, B_CDEV),
		T(test_feature, B_TYPE1),
		T(test_feature_probe, B_CDEV),
		TN(test_feature_probe_absent, B_CDEV),
		T(test_map_args, B_CDEV),
		T(test_map_args, B_TYPE1),
		T(test_map_type1, B_TYPE1),
		T(test_map_type1_unmap_all, B_TYPE1),
		TN(test_map_iommufd_no_export, B_CDEV),
		TN(test_map_iommufd_no_export, B_GROUP),
		T(test_map_iommufd, B_CDEV),
		T(test_map_iommufd, B_GROUP),
		T(test_map_iommufd_fails, B_CDEV),
		T(test_revoke_reset, B_CDEV),
		T(test_revoke_reset, B_GROUP),
		T(test_revoke_before_event_fd, B_CDEV),
		T(test_revoke_memory_off, B_CDEV),
		T(test_revoke_no_reset_method, B_CDEV),
		T(test_revoke_destroy, B_CDEV),
		T(test_revoke_overflow, B_CDEV),
		T(test_revoke_removed, B_CDEV),
		T(test_ioas_destroy_forgets, B_CDEV),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
