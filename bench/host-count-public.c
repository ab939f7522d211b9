/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * host-count's public mode (included by host-count.c when the library has
 * the map handle calls): the same loops through iommufd_ioas_map/unmap,
 * iommufd_map_create/destroy and iommufd_ioas_translate, over a null kernel
 * that answers what a CDEV context and one IOAS ask and accepts every map
 * and unmap without doing anything.  Its functions are named nk_ so the
 * script leaves their instructions out.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kabi.h"

#define NK_IOMMU 900
#define NK_PROC 901
static const char nk_devices[] = "Character devices:\n 10 misc\n511 vfio-dev\n\nBlock devices:\n";
static size_t nk_proc_off;

static int nk_open(const char *path, int flags, mode_t mode)
{
	(void)flags;
	(void)mode;
	if (!strcmp(path, "/dev/iommu"))
		return NK_IOMMU;
	if (!strcmp(path, "/proc/devices")) {
		nk_proc_off = 0;
		return NK_PROC;
	}
	errno = ENOENT;
	return -1;
}

static int nk_close(int fd)
{
	(void)fd;
	return 0;
}

static int nk_dup(int fd)
{
	(void)fd;
	errno = EMFILE;
	return -1;
}

static int nk_ioctl(int fd, unsigned long req, void *arg)
{
	(void)fd;
	if (req == IFD_K_IOMMU_IOAS_ALLOC) {
		((struct ifd_k_ioas_alloc *)arg)->out_ioas_id = 1;
	} else if (req == IFD_K_IOMMU_IOAS_IOVA_RANGES) {
		struct ifd_k_ioas_iova_ranges *q = arg;
		struct ifd_k_iova_range *r = (struct ifd_k_iova_range *)(uintptr_t)q->allowed_iovas;

		if (q->num_iovas < 1) {
			q->num_iovas = 1;
			errno = EMSGSIZE;
			return -1;
		}
		r[0].start = 0;
		r[0].last = (1ull << 48) - 1;
		q->num_iovas = 1;
		q->out_iova_alignment = 4096;
	}
	return 0;
}

static void *nk_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	(void)addr, (void)len, (void)prot, (void)flags, (void)fd, (void)off;
	errno = ENODEV;
	return MAP_FAILED;
}

static int nk_munmap(void *addr, size_t len)
{
	(void)addr, (void)len;
	return 0;
}

static ssize_t nk_read(int fd, void *buf, size_t len)
{
	size_t left = sizeof(nk_devices) - 1 - nk_proc_off;

	if (fd != NK_PROC) {
		errno = EINVAL;
		return -1;
	}
	if (len > left)
		len = left;
	memcpy(buf, nk_devices + nk_proc_off, len);
	nk_proc_off += len;
	return (ssize_t)len;
}

static ssize_t nk_write(int fd, const void *buf, size_t len)
{
	(void)fd, (void)buf, (void)len;
	errno = EINVAL;
	return -1;
}

static ssize_t nk_pread(int fd, void *buf, size_t len, off_t off)
{
	(void)fd, (void)buf, (void)len, (void)off;
	errno = EINVAL;
	return -1;
}

static ssize_t nk_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	(void)fd, (void)buf, (void)len, (void)off;
	errno = EINVAL;
	return -1;
}

static ssize_t nk_readlink(const char *path, char *buf, size_t len)
{
	(void)path, (void)buf, (void)len;
	errno = ENOENT;
	return -1;
}

static int nk_stat(const char *path, struct stat *st)
{
	(void)path, (void)st;
	errno = ENOENT;
	return -1;
}

static int nk_fstat(int fd, struct stat *st)
{
	(void)fd;
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFCHR | 0600;
	return 0;
}

static int nk_listdir(const char *path, int (*fn)(const char *name, void *arg), void *arg)
{
	(void)path, (void)fn, (void)arg;
	return -ENOENT;
}

static const char *nk_getenv(const char *name)
{
	(void)name;
	return NULL;
}

static long nk_page_size(void)
{
	return 4096;
}

static const struct ifd_sys nk_sys = {
	.open = nk_open, .close = nk_close, .dup = nk_dup, .ioctl = nk_ioctl,
	.mmap = nk_mmap, .munmap = nk_munmap, .read = nk_read, .write = nk_write,
	.pread = nk_pread, .pwrite = nk_pwrite, .readlink = nk_readlink, .stat = nk_stat,
	.fstat = nk_fstat, .listdir = nk_listdir, .getenv = nk_getenv, .page_size = nk_page_size,
};

struct pub {
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_map **h; /* the live handles, by position */
	char *buf;              /* the "buffers": address space only, never touched */
	size_t n, slots;
	int frag;
};

static NOINL void bench_pub_fill(struct pub *p, size_t n, int frag)
{
	struct iommufd_ctx_opts o = { .sz = sizeof(o), .backend = IOMMUFD_BACKEND_CDEV };
	int r = ifd_ctx_create_sys(&o, &nk_sys, -1, &p->ctx);

	if (r)
		die("ctx_create_sys", r);
	r = iommufd_ioas_create(p->ctx, &p->ioas);
	if (r)
		die("ioas_create", r);
	p->slots = frag ? 2 * n : n;
	/* The library only records addresses; nothing behind them is read. */
	p->buf = (char *)(uintptr_t)VA0;
	p->h = calloc(p->slots, sizeof(*p->h));
	p->frag = frag;
	for (size_t i = 0; i < p->slots; i++) {
		r = iommufd_map_create(p->ioas, p->buf + i * PG, PG, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, NULL,
				       &p->h[i]);
		if (r)
			die("map_create", r);
	}
	if (frag)
		for (size_t i = 1; i < p->slots; i += 2) {
			iommufd_map_destroy(p->h[i]);
			p->h[i] = NULL;
		}
	p->n = n;
}

static NOINL void bench_pub_pairs(struct pub *p, size_t iters, uint64_t *seed)
{
	for (size_t k = 0; k < iters; k++) {
		uint64_t at = p->frag ? (2 * (lcg(seed) % p->n) + 1) : p->slots + k % 64, iova;

		if (iommufd_ioas_map(p->ioas, p->buf + at * PG, PG, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, NULL,
				     &iova))
			abort();
		if (iommufd_ioas_unmap(p->ioas, iova, PG, NULL))
			abort();
	}
}

static NOINL void bench_pub_handles(struct pub *p, size_t iters, uint64_t *seed)
{
	for (size_t k = 0; k < iters; k++) {
		uint64_t at = p->frag ? (2 * (lcg(seed) % p->n) + 1) : p->slots + k % 64;
		struct iommufd_map *h;

		if (iommufd_map_create(p->ioas, p->buf + at * PG, PG, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, NULL,
				       &h))
			abort();
		if (iommufd_map_destroy(h))
			abort();
	}
}

static NOINL uint64_t bench_pub_translate(struct pub *p, size_t iters, uint64_t *seed)
{
	uint64_t sum = 0, io;

	for (size_t k = 0; k < iters; k++) {
		uint64_t i = lcg(seed) % p->n * (p->frag ? 2 : 1);

		if (iommufd_ioas_translate(p->ioas, p->buf + i * PG + 64, 512, &io))
			abort();
		sum += io;
	}
	return sum;
}

static int run_public(int count, size_t n, size_t iters)
{
	static const char *layouts[] = { "contiguous", "fragmented" };
	char lb[3][128];

	for (int frag = 0; frag < 2; frag++) {
		struct pub p;
		uint64_t seed = 42;

		if (!count) {
			struct mallinfo2 a = mallinfo2(), b;
			struct ifd_midx_stats st;

			bench_pub_fill(&p, n, frag);
			b = mallinfo2();
			/* the arena is mmap'd, so mallinfo does not see it */
			ifd_midx_get_stats(p.ioas->idx, &st);
			size_t heap = (b.uordblks + b.hblkhd) - (a.uordblks + a.hblkhd) -
				      malloc_usable_size(p.h);
			printf("mem public %s %zu %.2f\n", layouts[frag], n, (double)(heap + st.arena) / (double)n);
		} else {
			bench_pub_fill(&p, n, frag);
			/* labels first: their snprintf must not be counted */
			label(lb[0], sizeof(lb[0]), "public", "pair", layouts[frag], n, iters);
			label(lb[1], sizeof(lb[1]), "public", "alloc", layouts[frag], n, iters);
			label(lb[2], sizeof(lb[2]), "public", "translate", layouts[frag], n, iters);
			CALLGRIND_START_INSTRUMENTATION;
			CALLGRIND_ZERO_STATS;
			bench_pub_pairs(&p, iters, &seed);
			CALLGRIND_DUMP_STATS_AT(lb[0]);
			bench_pub_handles(&p, iters, &seed);
			CALLGRIND_DUMP_STATS_AT(lb[1]);
			bench_pub_translate(&p, iters, &seed);
			CALLGRIND_DUMP_STATS_AT(lb[2]);
			CALLGRIND_STOP_INSTRUMENTATION;
		}
		iommufd_ioas_destroy(p.ioas);
		iommufd_ctx_destroy(p.ctx);
		free(p.h);
	}
	return 0;
}
