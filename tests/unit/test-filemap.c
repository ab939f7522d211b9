/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * File maps (IOMMU_IOAS_MAP_FILE and the library's mmap fallback),
 * IOMMU_IOAS_CHANGE_PROCESS, and the live-update description: export,
 * import, and every malformed field of it refused.
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
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "handover.h"
#include "fake-kernel.h"

#define PG 0x1000ULL
#define RW (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE)
#define FILE_LEN (64 * PG)

struct env {
	struct fake_kernel *fk;
	struct fk_logcap cap;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	int memfd;
};

static int teardown(void **state)
{
	(void)state;
	fake_kernel_destroy_current();
	return 0;
}

static int new_memfd(void)
{
	int fd = memfd_create("test-filemap", MFD_CLOEXEC);
	uint8_t page[PG];

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, FILE_LEN), 0);
	for (unsigned int i = 0; i < FILE_LEN / PG; i++) {
		memset(page, (int)(0x40 + i), sizeof(page));
		assert_int_equal(pwrite(fd, page, sizeof(page), (off_t)(i * PG)), (ssize_t)PG);
	}
	return fd;
}

/* Whether @fd is an open fd of this process. */
static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void env_start(struct env *e, enum fk_flavour flavour, unsigned int max_cmd, enum iommufd_backend be)
{
	struct fk_config cfg = { .flavour = flavour, .iommufd_max_cmd = max_cmd };
	struct fk_dev_desc a = { .name = FK_DEV_A, .group = FK_GROUP_A };
	struct fk_dev_desc b = { .name = FK_DEV_B, .group = FK_GROUP_B };
	struct fk_dev_desc b2 = { .name = FK_DEV_B2, .group = FK_GROUP_B };

	memset(e, 0, sizeof(*e));
	e->fk = fake_kernel_create(&cfg);
	assert_int_equal(fake_kernel_add_device(e->fk, &a), 0);
	assert_int_equal(fake_kernel_add_device(e->fk, &b), 0);
	assert_int_equal(fake_kernel_add_device(e->fk, &b2), 0);
	fk_logcap_init(&e->cap);
	assert_int_equal(fk_ctx_create(e->fk, be, &e->cap, &e->ctx), 0);
	assert_int_equal(iommufd_ioas_create(e->ctx, &e->ioas), 0);
	e->memfd = new_memfd();
}

static void env_finish(struct env *e)
{
	iommufd_ctx_destroy(e->ctx);
	assert_int_equal(fake_kernel_open_fds(e->fk), 0);
	assert_int_equal(fake_kernel_live_files(e->fk), 0);
	fake_kernel_destroy(e->fk);
	fk_logcap_free(&e->cap);
	if (e->memfd >= 0)
		close(e->memfd);
}

static size_t kmaps(struct env *e, struct fk_map *out, size_t max)
{
	return fake_kernel_get_maps(e->fk, iommufd_ctx_get_fd(e->ctx), (uint32_t)iommufd_ioas_get_id(e->ioas), out,
				    max);
}

/* The kernel maps the file itself: by offset, no process address. */
static void test_map_file_kernel(void **state)
{
	struct iommufd_map_info info;
	struct iommufd_map *h;
	struct fk_map km[4];
	uint64_t iova, off, unmapped;
	struct env e;
	int lfd;

	(void)state;
	env_start(&e, FK_LINUX_7_3, 0, IOMMUFD_BACKEND_CDEV);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 4 * PG, 8 * PG, RW, NULL, &iova), 0);
	assert_int_equal(kmaps(&e, km, 4), 1);
	assert_true(km[0].file);
	assert_int_equal(km[0].va, 4 * PG); /* the file offset went to the kernel */
	assert_int_equal(km[0].len, 8 * PG);
	assert_int_equal(km[0].iova, iova);
	assert_int_equal(fake_kernel_log_find(e.fk, "mmap", "user"), 0);

	/* The caller's fd may go: the library holds its own. */
	close(e.memfd);
	e.memfd = -1;
	assert_int_equal(iommufd_ioas_find_iova(e.ioas, iova + PG, &info), 0);
	assert_null(info.vaddr);
	assert_int_equal(info.flags, RW); /* the internal file bit never shows */
	lfd = iommufd_ioas_find_file(e.ioas, iova + PG, &off);
	assert_true(lfd >= 0 && fd_open(lfd));
	assert_int_equal(off, 5 * PG);
	assert_int_equal(iommufd_ioas_find_file(e.ioas, iova + 8 * PG, &off), -ENOENT);

	assert_int_equal(iommufd_ioas_unmap(e.ioas, iova, 8 * PG, &unmapped), 0);
	assert_int_equal(unmapped, 8 * PG);
	assert_int_equal(kmaps(&e, km, 4), 0);
	assert_false(fd_open(lfd)); /* the library's duplicate went with the mapping */

	/* The handle form. */
	e.memfd = new_memfd();
	assert_int_equal(iommufd_map_create_file(e.ioas, e.memfd, 0, 2 * PG, IOMMUFD_MAP_READ, NULL, &h), 0);
	assert_null(iommufd_map_get_vaddr(h));
	assert_int_equal(iommufd_map_get_flags(h), IOMMUFD_MAP_READ);
	assert_int_equal(kmaps(&e, km, 4), 1);
	assert_int_equal(km[0].prot, 1);
	lfd = iommufd_ioas_find_file(e.ioas, iommufd_map_get_iova(h), NULL);
	assert_int_equal(iommufd_map_destroy(h), 0);
	assert_int_equal(kmaps(&e, km, 4), 0);
	assert_false(fd_open(lfd));

	/* A range unmap over file and plain maps alike; unmap_all too. */
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, 2 * PG, RW, NULL, &iova), 0);
	lfd = iommufd_ioas_find_file(e.ioas, iova, NULL);
	assert_int_equal(iommufd_ioas_unmap_all(e.ioas), 1);
	assert_false(fd_open(lfd));
	/* Left mapped: the IOAS's destroy drops the entry (env_finish checks fds). */
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, 2 * PG, RW, NULL, &iova), 0);
	env_finish(&e);
}

/* TYPE1 (and iommufd kernels before 6.13): the library's own mmap. */
static void fallback_case(enum fk_flavour flavour, unsigned int max_cmd, enum iommufd_backend be)
{
	struct iommufd_map_info info;
	struct iommufd_map *h;
	uint64_t iova, dummy;
	struct env e;
	uint8_t *p;

	env_start(&e, flavour, max_cmd, be);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 2 * PG, 4 * PG, RW, NULL, &iova), 0);
	assert_int_equal(fake_kernel_log_find(e.fk, "mmap", "user"), 1);
	assert_true(fk_logcap_has(&e.cap, "own mmap"));
	assert_int_equal(iommufd_ioas_find_iova(e.ioas, iova, &info), 0);
	p = info.vaddr;
	assert_non_null(p);
	/* The right part of the file, shared: page 2 reads 0x42. */
	assert_int_equal(p[0], 0x42);
	assert_int_equal(p[3 * PG], 0x45);
	assert_int_equal(iommufd_ioas_translate(e.ioas, p + PG, PG, &dummy), 0);
	assert_int_equal(dummy, iova + PG);
	assert_int_equal(info.flags, RW);
	fake_kernel_log_clear(e.fk);
	assert_int_equal(iommufd_ioas_unmap(e.ioas, iova, 4 * PG, NULL), 0);
	assert_int_equal(fake_kernel_log_find(e.fk, "munmap", NULL), 1); /* the library's mmap went */
	assert_int_equal(iommufd_ioas_translate(e.ioas, p + PG, PG, &dummy), -ENOENT);

	assert_int_equal(iommufd_map_create_file(e.ioas, e.memfd, 0, PG, RW, NULL, &h), 0);
	p = iommufd_map_get_vaddr(h);
	assert_int_equal(p[0], 0x40);
	assert_int_equal(iommufd_map_destroy(h), 0);

	/* Without the fallback (a dma-buf's caller): refused, nothing made. */
	fake_kernel_log_clear(e.fk);
	assert_int_equal(ifd_ioas_map_fd(e.ioas, e.memfd, 0, PG, RW, NULL, &iova, false), -EOPNOTSUPP);
	assert_int_equal(fake_kernel_log_find(e.fk, "mmap", NULL), 0);
	assert_int_equal(iommufd_ioas_find_iova(e.ioas, PG, NULL), -ENOENT);
	env_finish(&e);
}

static void test_map_file_fallback_type1(void **state)
{
	(void)state;
	fallback_case(FK_LINUX_6_12, 0, IOMMUFD_BACKEND_TYPE1);
}

static void test_map_file_fallback_old_kernel(void **state)
{
	(void)state;
	fallback_case(FK_LINUX_7_3, 0x8e /* 6.11 */, IOMMUFD_BACKEND_CDEV);
}

static void test_map_file_errors(void **state)
{
	struct fk_map km[2];
	uint64_t iova = 0x1234;
	struct env e;
	int ro, closed;

	(void)state;
	env_start(&e, FK_LINUX_7_3, 0, IOMMUFD_BACKEND_CDEV);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, -1, 0, PG, RW, NULL, &iova), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 1, PG, RW, NULL, &iova), -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, 0, RW, NULL, &iova), -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, PG + 1, RW, NULL, &iova), -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, PG, 0, NULL, &iova), -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, PG, RW | 0x100, NULL, &iova), -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, UINT64_MAX - PG + 1, 2 * PG, RW, NULL, &iova),
			 -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(NULL, e.memfd, 0, PG, RW, NULL, &iova), -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, PG, RW, NULL, NULL), -EINVAL);
	assert_int_equal(iova, 0x1234);
	closed = dup(e.memfd);
	close(closed);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, closed, 0, PG, RW, NULL, &iova), -EBADF);
	/* Past the end of the file: the kernel's refusal, explained. */
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, FILE_LEN, PG, RW, NULL, &iova), -EINVAL);
	assert_true(fk_logcap_has(&e.cap, "IOMMU_IOAS_MAP_FILE takes memfds"));
	/* A read-only file cannot take device writes. */
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", e.memfd);
		ro = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(ro >= 0);
		assert_int_equal(iommufd_ioas_map_file(e.ioas, ro, 0, PG, RW, NULL, &iova), -EPERM);
		assert_int_equal(iommufd_ioas_map_file(e.ioas, ro, 0, PG, IOMMUFD_MAP_READ, NULL, &iova), 0);
		close(ro);
	}
	assert_int_equal(kmaps(&e, km, 2), 1);
	/* An injected failure of the kernel call leaves nothing behind. */
	fake_kernel_fail_match(e.fk, "IOMMU_IOAS_MAP_FILE", 1, ENOMEM);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, PG, RW, NULL, &iova), -ENOMEM);
	assert_int_equal(kmaps(&e, km, 2), 1);
	/* A fixed IOVA on top of the file map: -EEXIST, the first stays. */
	{
		struct iommufd_map_opts o = { .sz = sizeof(o), .iova = km[0].iova };

		assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, PG, RW | IOMMUFD_MAP_FIXED, &o, &iova),
				 -EEXIST);
	}
	assert_int_equal(kmaps(&e, km, 2), 1);
	env_finish(&e);
}

static uint8_t vabuf[4 * PG] __attribute__((aligned(PG)));

static void test_change_process(void **state)
{
	struct iommufd_feature_status st = { .sz = sizeof(st) };
	uint64_t fiova, viova;
	struct env e;

	(void)state;
	env_start(&e, FK_LINUX_7_3, 0, IOMMUFD_BACKEND_CDEV);
	assert_int_equal(iommufd_ctx_change_process(NULL), -EINVAL);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, 4 * PG, RW, NULL, &fiova), 0);
	assert_int_equal(iommufd_ctx_change_process(e.ctx), 0);
	assert_int_equal(fake_kernel_change_process_calls(e.fk), 1);
	/* Process memory cannot move: refused before the kernel, named. */
	assert_int_equal(iommufd_ioas_map(e.ioas, vabuf, sizeof(vabuf), RW, NULL, &viova), 0);
	assert_int_equal(iommufd_ctx_change_process(e.ctx), -EINVAL);
	assert_int_equal(fake_kernel_change_process_calls(e.fk), 1);
	assert_true(fk_logcap_has(&e.cap, "maps process memory"));
	assert_int_equal(iommufd_ioas_unmap(e.ioas, viova, sizeof(vabuf), NULL), 0);
	assert_int_equal(iommufd_ctx_change_process(e.ctx), 0);
	assert_int_equal(fake_kernel_change_process_calls(e.fk), 2);
	env_finish(&e);

	/* A 6.13 kernel: MAP_FILE yes, CHANGE_PROCESS no; the feature query agrees. */
	env_start(&e, FK_LINUX_7_3, 0x91, IOMMUFD_BACKEND_CDEV);
	assert_int_equal(iommufd_feature_query(e.ctx, NULL, IOMMUFD_FEATURE_CHANGE_PROCESS, &st), 0);
	assert_int_equal(iommufd_ctx_change_process(e.ctx), -EOPNOTSUPP);
	assert_int_equal(fake_kernel_change_process_calls(e.fk), 0);
	env_finish(&e);

	/* TYPE1: none, and the query agrees. */
	env_start(&e, FK_LINUX_6_12, 0, IOMMUFD_BACKEND_TYPE1);
	assert_int_equal(iommufd_feature_query(e.ctx, NULL, IOMMUFD_FEATURE_CHANGE_PROCESS, &st), 0);
	assert_int_equal(iommufd_ctx_change_process(e.ctx), -EOPNOTSUPP);
	assert_int_equal(errno, EOPNOTSUPP);
	env_finish(&e);
}

/* ------------------------------------------------------------------------ */
/* Export and import                                                        */

struct exported {
	unsigned char blob[4096];
	size_t len;
	int fds[8];
	size_t nfds;
};

/* What SCM_RIGHTS does: new fds on the same files. */
static void receive(struct env *e, const struct exported *x, int *out)
{
	const struct ifd_sys *sys = fake_kernel_sys(e->fk);

	for (size_t i = 0; i < x->nfds; i++) {
		out[i] = sys->dup(x->fds[i]);
		assert_true(out[i] >= 0);
	}
}

/* A CDEV context with device A on the IOAS and two file maps, exported. */
static void export_one(struct env *e, struct exported *x, uint64_t *iova)
{
	struct iommufd_device *dev;
	size_t len = 0, nfds = 0;

	env_start(e, FK_LINUX_7_3, 0, IOMMUFD_BACKEND_CDEV);
	assert_int_equal(iommufd_device_open(e->ioas, FK_DEV_A, NULL, &dev), 0);
	assert_int_equal(iommufd_ioas_map_file(e->ioas, e->memfd, 0, 4 * PG, RW, NULL, &iova[0]), 0);
	assert_int_equal(iommufd_ioas_map_file(e->ioas, e->memfd, 8 * PG, 2 * PG, IOMMUFD_MAP_READ, NULL, &iova[1]),
			 0);
	/* Sizes first: nothing changes. */
	assert_int_equal(iommufd_ctx_export(e->ctx, NULL, &len, NULL, &nfds), -ENOSPC);
	assert_int_equal(len, sizeof(struct ifd_ho_hdr) + sizeof(struct ifd_ho_ioas) + sizeof(struct ifd_ho_dev) +
				      2 * sizeof(struct ifd_ho_map));
	assert_int_equal(nfds, 4);
	x->len = sizeof(x->blob);
	x->nfds = 8;
	assert_int_equal(iommufd_ctx_export(e->ctx, x->blob, &x->len, x->fds, &x->nfds), 0);
	assert_int_equal(x->len, len);
	assert_int_equal(x->nfds, 4);
	assert_int_equal(x->fds[0], iommufd_ctx_get_fd(e->ctx));
	assert_int_equal(x->fds[1], iommufd_device_get_fd(dev));
}

static void test_export_import(void **state)
{
	struct iommufd_ctx *ctx2;
	struct iommufd_ioas *ioas2;
	struct iommufd_device *dev2;
	struct fk_map km[4];
	struct exported x;
	uint64_t iova[2], off, scratch;
	uint32_t ioas_id;
	int fds[8], ifd;
	struct env e;

	(void)state;
	export_one(&e, &x, iova);
	ioas_id = (uint32_t)iommufd_ioas_get_id(e.ioas);
	/* The old context is handed over: it no longer reaches the kernel... */
	assert_int_equal(iommufd_ioas_map(e.ioas, vabuf, PG, RW, NULL, &scratch), -ECHILD);
	assert_int_equal(iommufd_ctx_export(e.ctx, x.blob, &x.len, x.fds, &x.nfds), -ECHILD);
	receive(&e, &x, fds);
	/* ...and its destroy leaves the kernel objects to the new process. */
	ifd = fds[0];
	iommufd_ctx_destroy(e.ctx);
	e.ctx = NULL;
	assert_int_equal(fake_kernel_get_maps(e.fk, ifd, ioas_id, km, 4), 2);

	assert_int_equal(ifd_ctx_import_sys(x.blob, x.len, fds, x.nfds, NULL, fake_kernel_sys(e.fk), &ctx2), 0);
	ioas2 = iommufd_ctx_find_ioas(ctx2, ioas_id);
	assert_non_null(ioas2);
	assert_null(iommufd_ctx_find_ioas(ctx2, ioas_id + 100));
	assert_int_equal(errno, ENOENT);
	dev2 = iommufd_ctx_find_device(ctx2, FK_DEV_A);
	assert_non_null(dev2);
	assert_ptr_equal(iommufd_device_get_ioas(dev2), ioas2);
	assert_null(iommufd_ctx_find_device(ctx2, FK_DEV_B));
	assert_true(iommufd_ioas_find_file(ioas2, iova[1] + PG, &off) >= 0);
	assert_int_equal(off, 9 * PG);
	assert_int_equal(iommufd_ctx_change_process(ctx2), 0);
	assert_int_equal(fake_kernel_change_process_calls(e.fk), 1);
	/* The new process's books: a new map avoids the old ones, unmap works. */
	assert_int_equal(iommufd_ioas_map_file(ioas2, e.memfd, 0, PG, RW, NULL, &scratch), 0);
	assert_true(scratch != iova[0] && scratch != iova[1]);
	assert_int_equal(iommufd_ioas_unmap(ioas2, iova[0], 4 * PG, NULL), 0);
	assert_int_equal(fake_kernel_get_maps(e.fk, iommufd_ctx_get_fd(ctx2), ioas_id, km, 4), 2);
	e.ctx = ctx2;
	env_finish(&e);
}

static void test_export_refusals(void **state)
{
	uint8_t blob[1024];
	size_t len = sizeof(blob), nfds = 8;
	int fds[8];
	uint64_t iova;
	struct env e;

	(void)state;
	/* A mapping of process memory cannot move. */
	env_start(&e, FK_LINUX_7_3, 0, IOMMUFD_BACKEND_CDEV);
	assert_int_equal(iommufd_ioas_map(e.ioas, vabuf, PG, RW, NULL, &iova), 0);
	assert_int_equal(iommufd_ctx_export(e.ctx, blob, &len, fds, &nfds), -EINVAL);
	assert_true(fk_logcap_has(&e.cap, "maps process memory"));
	/* Still a working context. */
	assert_int_equal(iommufd_ioas_unmap(e.ioas, iova, PG, NULL), 0);
	assert_int_equal(iommufd_ctx_export(NULL, blob, &len, fds, &nfds), -EINVAL);
	assert_int_equal(iommufd_ctx_export(e.ctx, blob, NULL, fds, &nfds), -EINVAL);
	env_finish(&e);

	env_start(&e, FK_LINUX_7_3, 0x91, IOMMUFD_BACKEND_CDEV);
	assert_int_equal(iommufd_ctx_export(e.ctx, blob, &len, fds, &nfds), -EOPNOTSUPP);
	env_finish(&e);
	env_start(&e, FK_LINUX_6_12, 0, IOMMUFD_BACKEND_TYPE1);
	assert_int_equal(iommufd_ctx_export(e.ctx, blob, &len, fds, &nfds), -EOPNOTSUPP);
	env_finish(&e);
	/* A detached device is attached nowhere the description could say. */
	{
		struct iommufd_device *dev;

		env_start(&e, FK_LINUX_7_3, 0, IOMMUFD_BACKEND_CDEV);
		assert_int_equal(iommufd_device_open(e.ioas, FK_DEV_A, NULL, &dev), 0);
		assert_int_equal(iommufd_device_detach(dev), 0);
		assert_int_equal(iommufd_ctx_export(e.ctx, blob, &len, fds, &nfds), -EOPNOTSUPP);
		assert_true(fk_logcap_has(&e.cap, "it is detached"));
		assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, PG, RW, NULL, &iova), 0); /* still usable */
		env_finish(&e);
	}
}

/* Every malformed field: the parser's answer, and import's on a real blob. */
typedef void (*mutate_fn)(unsigned char *b, size_t *len, size_t *nfds);

#define HDR(b) ((struct ifd_ho_hdr *)(void *)(b))
#define OFF_IOAS sizeof(struct ifd_ho_hdr)
#define OFF_DEV (OFF_IOAS + sizeof(struct ifd_ho_ioas))
#define OFF_MAP(i) (OFF_DEV + sizeof(struct ifd_ho_dev) + (i) * sizeof(struct ifd_ho_map))
#define DEV(b) ((struct ifd_ho_dev *)(void *)((b) + OFF_DEV))
#define MAP(b, i) ((struct ifd_ho_map *)(void *)((b) + OFF_MAP(i)))

static void m_magic(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; HDR(b)->magic[0] ^= 1; }
static void m_version(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; HDR(b)->version = 2; }
static void m_hdr_size(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; HDR(b)->hdr_size += 8; }
static void m_total(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; HDR(b)->total_len--; }
static void m_short(unsigned char *b, size_t *l, size_t *n) { (void)b; (void)n; *l -= 1; }
static void m_tiny(unsigned char *b, size_t *l, size_t *n) { (void)b; (void)n; *l = 10; }
static void m_backend(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; HDR(b)->backend = IOMMUFD_BACKEND_TYPE1; }
static void m_resv(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; HDR(b)->reserved[3] = 1; }
static void m_nioas(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; HDR(b)->nioas = 0xffffffff; }
static void m_nioas1(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; HDR(b)->nioas = 2; }
static void m_nmaps(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; HDR(b)->nmaps = 0x80000000u; }
static void m_nfds_hdr(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; HDR(b)->nfds = 3; }
static void m_nfds_arg(unsigned char *b, size_t *l, size_t *n) { (void)b; (void)l; *n = 3; }
static void m_ioas_id(unsigned char *b, size_t *l, size_t *n)
{
	(void)l; (void)n;
	memset(b + OFF_IOAS, 0, 4);
}
static void m_ioas_resv(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; b[OFF_IOAS + 4] = 1; }
static void m_dev_name(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; memset(DEV(b)->name, 'a', 64); }
static void m_dev_name2(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; strcpy(DEV(b)->name, "../../etc"); }
static void m_dev_id(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; DEV(b)->devid = 0; }
static void m_dev_ioas(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; DEV(b)->ioas_idx = 1; }
static void m_dev_fd0(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; DEV(b)->fd_idx = 0; }
static void m_dev_fdbig(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; DEV(b)->fd_idx = 4; }
static void m_dev_gfd(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; DEV(b)->group_fd_idx = 2; }
static void m_map_fddup(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; MAP(b, 1)->fd_idx = MAP(b, 0)->fd_idx; }
static void m_map_fddev(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; MAP(b, 0)->fd_idx = 1; }
static void m_map_ioas(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; MAP(b, 0)->ioas_idx = 9; }
static void m_map_flags0(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; MAP(b, 0)->flags = 0; }
static void m_map_flagsx(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; MAP(b, 0)->flags |= 0x10; }
static void m_map_len0(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; MAP(b, 0)->len = 0; }
static void m_map_unal(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; MAP(b, 0)->iova += 8; }
static void m_map_offu(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; MAP(b, 0)->offset += 8; }
static void m_map_ovf(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; MAP(b, 0)->iova = UINT64_MAX - PG + 1; }
static void m_map_offovf(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; MAP(b, 0)->offset = UINT64_MAX - PG + 1; }
static void m_map_resv(unsigned char *b, size_t *l, size_t *n) { (void)l; (void)n; MAP(b, 1)->reserved = 1; }

static const struct {
	const char *name;
	mutate_fn fn;
} mutations[] = {
	{ "magic", m_magic }, { "version", m_version }, { "hdr_size", m_hdr_size }, { "total_len", m_total },
	{ "short", m_short }, { "tiny", m_tiny }, { "backend", m_backend }, { "reserved", m_resv },
	{ "nioas huge", m_nioas }, { "nioas off by one", m_nioas1 }, { "nmaps", m_nmaps },
	{ "nfds in header", m_nfds_hdr }, { "nfds given", m_nfds_arg }, { "ioas id", m_ioas_id },
	{ "ioas reserved", m_ioas_resv }, { "dev name unterminated", m_dev_name }, { "dev name form", m_dev_name2 },
	{ "dev id", m_dev_id }, { "dev ioas", m_dev_ioas }, { "dev fd 0", m_dev_fd0 }, { "dev fd range", m_dev_fdbig },
	{ "dev group fd on cdev", m_dev_gfd }, { "map fd twice", m_map_fddup }, { "map fd of a device", m_map_fddev },
	{ "map ioas", m_map_ioas }, { "map flags 0", m_map_flags0 }, { "map flags unknown", m_map_flagsx },
	{ "map len 0", m_map_len0 }, { "map unaligned", m_map_unal }, { "map offset unaligned", m_map_offu },
	{ "map iova overflow", m_map_ovf }, { "map offset overflow", m_map_offovf },
	{ "map reserved", m_map_resv },
};

static void test_import_malformed(void **state)
{
	struct exported x;
	struct ifd_ho h;
	uint64_t iova[2];
	char why[200];
	int fds[8];
	struct env e;

	(void)state;
	export_one(&e, &x, iova);
	receive(&e, &x, fds);
	assert_int_equal(ifd_ho_parse(x.blob, x.len, x.nfds, PG, &h, why, sizeof(why)), 0);
	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
		unsigned char b[sizeof(x.blob)];
		size_t len = x.len, nfds = x.nfds;
		struct iommufd_ctx *ctx2 = NULL;
		struct fk_logcap cap;
		struct iommufd_ctx_opts o = { .sz = sizeof(o), .log_fn = fk_logcap_fn, .log_data = &cap,
					      .log_level = IOMMUFD_LOG_DEBUG };

		memcpy(b, x.blob, x.len);
		mutations[i].fn(b, &len, &nfds);
		why[0] = 0;
		if (ifd_ho_parse(b, len, nfds, PG, &h, why, sizeof(why)) != -EINVAL || !why[0])
			fail_msg("mutation '%s' was not refused by the parser", mutations[i].name);
		fk_logcap_init(&cap);
		if (ifd_ctx_import_sys(b, len, fds, nfds, &o, fake_kernel_sys(e.fk), &ctx2) != -EINVAL)
			fail_msg("mutation '%s' was not refused by import", mutations[i].name);
		assert_true(fk_logcap_has(&cap, "malformed context description"));
		fk_logcap_free(&cap);
		/* The caller's fds stay open and the kernel objects stay. */
		for (size_t k = 0; k < x.nfds; k++)
			if (fds[k] >= FK_FD_BASE)
				assert_true(fake_kernel_fd_is_open(e.fk, fds[k]));
			else
				assert_true(fd_open(fds[k]));
		assert_int_equal(fake_kernel_get_maps(e.fk, fds[0], (uint32_t)iommufd_ioas_get_id(e.ioas), NULL, 0), 2);
	}
	/* A well-formed description naming an IOAS the iommufd does not have. */
	{
		unsigned char b[sizeof(x.blob)];
		struct iommufd_ctx *ctx2 = NULL;
		uint32_t bogus = 77;

		memcpy(b, x.blob, x.len);
		memcpy(b + OFF_IOAS, &bogus, 4);
		assert_int_equal(ifd_ctx_import_sys(b, x.len, fds, x.nfds, NULL, fake_kernel_sys(e.fk), &ctx2), -ENOENT);
		assert_true(fake_kernel_fd_is_open(e.fk, fds[0]));
	}
	/* Device ID of another device: adopt refuses, nothing stays. */
	{
		unsigned char b[sizeof(x.blob)];
		struct iommufd_ctx *ctx2 = NULL;

		memcpy(b, x.blob, x.len);
		DEV(b)->devid += 50;
		assert_true(ifd_ctx_import_sys(b, x.len, fds, x.nfds, NULL, fake_kernel_sys(e.fk), &ctx2) < 0);
		assert_true(fake_kernel_fd_is_open(e.fk, fds[1]));
	}
	for (size_t k = 0; k < x.nfds; k++)
		fake_kernel_sys(e.fk)->close(fds[k]);
	iommufd_ctx_destroy(e.ctx);
	e.ctx = NULL;
	env_finish(&e);
}

/* GROUP: devices come back through their group fd; two devices of one
 * group share it in the new context as in the old. */
static void test_export_import_group(void **state)
{
	struct iommufd_device *b, *b2;
	struct iommufd_ctx *ctx2;
	struct iommufd_ioas *ioas2;
	struct fk_map km[4];
	struct exported x = { .len = sizeof(x.blob), .nfds = 8 };
	uint64_t iova;
	uint32_t ioas_id;
	int fds[8];
	struct env e;

	(void)state;
	env_start(&e, FK_LINUX_7_3, 0, IOMMUFD_BACKEND_GROUP);
	assert_int_equal(iommufd_device_open(e.ioas, FK_DEV_B, NULL, &b), 0);
	assert_int_equal(iommufd_device_open(e.ioas, FK_DEV_B2, NULL, &b2), 0);
	assert_int_equal(iommufd_ioas_map_file(e.ioas, e.memfd, 0, 4 * PG, RW, NULL, &iova), 0);
	ioas_id = (uint32_t)iommufd_ioas_get_id(e.ioas);
	assert_int_equal(iommufd_ctx_export(e.ctx, x.blob, &x.len, x.fds, &x.nfds), 0);
	assert_int_equal(x.nfds, 6); /* iommufd, (device, group) twice, the file */
	assert_int_equal(x.fds[2], x.fds[4]); /* one group fd */
	receive(&e, &x, fds);
	iommufd_ctx_destroy(e.ctx);
	e.ctx = NULL;
	assert_int_equal(fake_kernel_group_state(e.fk, fds[2]), 2); /* still joined to the iommufd */
	assert_int_equal(ifd_ctx_import_sys(x.blob, x.len, fds, x.nfds, NULL, fake_kernel_sys(e.fk), &ctx2), 0);
	assert_int_equal(iommufd_ctx_get_backend(ctx2), IOMMUFD_BACKEND_GROUP);
	ioas2 = iommufd_ctx_find_ioas(ctx2, ioas_id);
	assert_non_null(ioas2);
	b = iommufd_ctx_find_device(ctx2, FK_DEV_B);
	b2 = iommufd_ctx_find_device(ctx2, FK_DEV_B2);
	assert_non_null(b);
	assert_non_null(b2);
	assert_ptr_equal(iommufd_device_get_ioas(b2), ioas2);
	assert_int_equal(fake_kernel_dev_open_count(e.fk, FK_DEV_B), 1);
	{
		uint32_t v = 0;

		assert_int_equal(iommufd_device_region_read(b2, 2, 0, &v, 4), 0); /* the device fd works */
	}
	/* The IOAS is busy with two devices, as in the old process. */
	assert_int_equal(iommufd_ioas_destroy(ioas2), -EBUSY);
	assert_int_equal(iommufd_ctx_change_process(ctx2), 0);
	assert_int_equal(iommufd_ioas_unmap(ioas2, iova, 4 * PG, NULL), 0);
	assert_int_equal(fake_kernel_get_maps(e.fk, iommufd_ctx_get_fd(ctx2), ioas_id, km, 4), 0);
	/* Closing the new context releases the group (env_finish: nothing open). */
	e.ctx = ctx2;
	env_finish(&e);
}

#define T(fn) cmocka_unit_test_teardown(fn, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_map_file_kernel),
		T(test_map_file_fallback_type1),
		T(test_map_file_fallback_old_kernel),
		T(test_map_file_errors),
		T(test_change_process),
		T(test_export_import),
		T(test_export_refusals),
		T(test_export_import_group),
		T(test_import_malformed),
	};

	unsetenv("LIBIOMMUFD_DEBUG");
	unsetenv("LIBIOMMUFD_BACKEND");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
