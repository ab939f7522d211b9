/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * What the library adds to a DMA map+unmap: the same map+unmap through the
 * library and through the raw ioctls of the backend in use (IOMMU_IOAS_MAP/
 * UNMAP at a fixed IOVA on cdev and group; VFIO_IOMMU_MAP_DMA/UNMAP_DMA on
 * type1), interleaved pair by pair on one IOAS with a device attached, so
 * emulator drift hits both alike.  Both API forms: iommufd_ioas_map/unmap
 * (the IOVA-returning form) and iommufd_map_create/destroy (map handles).
 * Sizes 4 KiB and 64 KiB (anonymous), 2 MiB (hugetlbfs) and 64 MiB (THP).
 * Each repetition gives one ratio; the median, min and max of them are
 * printed.  Then iommufd_ioas_translate() and iommufd_map_get_iova() with
 * --live mappings (the per-I/O lookup of a driver).
 *
 * Informational: it fails only if a call fails, never on a time.  Every
 * result is one machine-readable line:
 *   @@BENCH name=mapunmap cell=.. backend=.. form=ioas|handle size=BYTES
 *           reps=R iters=N lib_ns=MEDIAN raw_ns=MEDIAN ratio=MED
 *           ratio_min=.. ratio_max=..
 *
 *   map-bench [--reps R] [--iters N] [--sizes 4K,64K,2M,64M] [--live N] [BDF]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <linux/vfio.h>

#include <libiommufd/libiommufd.h>

#include "kabi.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif

#define RAW_BASE 0x40000000ull /* a window the library is told to avoid */
#define RAW_SIZE 0x10000000ull /* 256 MiB: room for the largest size */
#define MAX_REPS 64
#define HUGE_2M  (2ull << 20)

struct bench {
	struct iommufd_ioas *ioas;
	enum iommufd_backend b;
	const char *cell;
};

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int raw_map(struct bench *k, void *va, size_t len)
{
	int fd = iommufd_ioas_get_fd(k->ioas);

	if (k->b == IOMMUFD_BACKEND_TYPE1) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)va,
			.iova = RAW_BASE,
			.size = len,
		};
		return ioctl(fd, VFIO_IOMMU_MAP_DMA, &m) ? -errno : 0;
	}
	struct ifd_k_ioas_map m = {
		.size = sizeof(m),
		.flags = IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA | IFD_K_IOMMU_IOAS_MAP_READABLE |
			 IFD_K_IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = (uint32_t)iommufd_ioas_get_id(k->ioas),
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = RAW_BASE,
	};
	return ioctl(fd, IFD_K_IOMMU_IOAS_MAP, &m) ? -errno : 0;
}

static int raw_unmap(struct bench *k, size_t len)
{
	int fd = iommufd_ioas_get_fd(k->ioas);

	if (k->b == IOMMUFD_BACKEND_TYPE1) {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = RAW_BASE, .size = len };
		return ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &u) ? -errno : 0;
	}
	struct ifd_k_ioas_unmap u = {
		.size = sizeof(u), .ioas_id = (uint32_t)iommufd_ioas_get_id(k->ioas), .iova = RAW_BASE, .length = len,
	};
	return ioctl(fd, IFD_K_IOMMU_IOAS_UNMAP, &u) ? -errno : 0;
}

static int lib_pair(struct bench *k, void *va, size_t len, int handle)
{
	const uint32_t rw = IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE;
	struct iommufd_map *h;
	uint64_t iova;
	int r;

	if (handle) {
		r = iommufd_map_create(k->ioas, va, len, rw, NULL, &h);
		return r ? r : iommufd_map_destroy(h);
	}
	r = iommufd_ioas_map(k->ioas, va, len, rw, NULL, &iova);
	return r ? r : iommufd_ioas_unmap(k->ioas, iova, len, NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Bytes of the process's anonymous memory in transparent huge pages. */
static unsigned long long thp_bytes(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "re");
	unsigned long long kb = 0;
	char line[128];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb << 10;
}

/*
 * Memory of @len bytes backed as the size calls for: hugetlbfs for 2 MiB,
 * THP (2 MiB aligned, madvised) from 64 MiB, small pages below.  Touched,
 * so no fault lands inside a timed pin.  @whole/@whole_len: what to munmap.
 */
static void *buffer(size_t len, const char **kind, void **whole, size_t *whole_len)
{
	void *p;

	*whole_len = len;
	if (len == HUGE_2M) {
		*kind = "hugetlbfs";
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE,
			 -1, 0);
		return p == MAP_FAILED ? NULL : (*whole = p);
	}
	if (len >= 32 * HUGE_2M) {
		uint8_t *raw = mmap(NULL, len + HUGE_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint8_t *al;

		if (raw == MAP_FAILED)
			return NULL;
		*whole = raw;
		*whole_len = len + HUGE_2M;
		al = (uint8_t *)(((uintptr_t)raw + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
		unsigned long long before = thp_bytes();

		*kind = "anon (no THP)";
		if (!madvise(al, len, MADV_HUGEPAGE)) {
			memset(al, 1, len);
			/* madvise only asks: say what the kernel gave. */
			*kind = thp_bytes() - before >= len ? "THP" : "THP-partial";
		}
		memset(al, 1, len);
		return al;
	}
	*kind = "anon";
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return p == MAP_FAILED ? NULL : (*whole = p);
}

static int map_unmap(struct bench *k, size_t len, int reps, int iters)
{
	double ratio[2][MAX_REPS], lib[2][MAX_REPS], raw[2][MAX_REPS];
	const char *kind = "?";
	size_t whole_len;
	void *whole, *va = buffer(len, &kind, &whole, &whole_len);
	int r;

	if (!va) {
		fprintf(stderr, "map-bench: no %zu-byte buffer (%s): %s\n", len, kind, strerror(errno));
		return -ENOMEM;
	}
	/* One untimed pair of each warms caches and the kernel's page tables. */
	if ((r = raw_map(k, va, len)) || (r = raw_unmap(k, len)) || (r = lib_pair(k, va, len, 0)) ||
	    (r = lib_pair(k, va, len, 1))) {
		fprintf(stderr, "map-bench: warm-up map of %zu bytes (%s) failed: %s\n", len, kind, strerror(-r));
		return r;
	}
	/* Per repetition the ratio of the median pair times: under TCG a
	 * timer tick or a host preemption costs milliseconds, which in a sum
	 * of 30-microsecond pairs would outweigh everything the library does,
	 * landing on either side by chance.  The ratio of the sums is kept
	 * too (ratio_mean), so a cost the library pays only sometimes (a table
	 * growing) still shows. */
	double *traw = calloc((size_t)iters, sizeof(double)), *tlib = calloc((size_t)iters, sizeof(double));
	double mean[2][MAX_REPS];

	if (!traw || !tlib) {
		free(traw);
		free(tlib);
		munmap(whole, whole_len);
		return -ENOMEM;
	}
	for (int rep = 0; rep < reps; rep++)
		for (int form = 0; form < 2; form++) {
			double s_raw = 0, s_lib = 0, t0;

			for (int i = 0; i < iters; i++) {
				t0 = now_ns();
				if ((r = raw_map(k, va, len)) || (r = raw_unmap(k, len))) {
					fprintf(stderr, "map-bench: raw ioctl: %s\n", strerror(-r));
					goto out;
				}
				traw[i] = now_ns() - t0;
				t0 = now_ns();
				if ((r = lib_pair(k, va, len, form))) {
					fprintf(stderr, "map-bench: library: %s\n", strerror(-r));
					goto out;
				}
				tlib[i] = now_ns() - t0;
				s_raw += traw[i];
				s_lib += tlib[i];
			}
			raw[form][rep] = median(traw, iters);
			lib[form][rep] = median(tlib, iters);
			ratio[form][rep] = lib[form][rep] / raw[form][rep];
			mean[form][rep] = s_lib / s_raw;
		}
	for (int form = 0; form < 2; form++) {
		double rmed = median(ratio[form], reps), lm = median(lib[form], reps), rm = median(raw[form], reps);
		double mmed = median(mean[form], reps);

		printf("@@BENCH name=mapunmap cell=%s backend=%s form=%s size=%zu mem=%s reps=%d iters=%d lib_ns=%.0f "
		       "raw_ns=%.0f ratio=%.4f ratio_min=%.4f ratio_max=%.4f ratio_mean=%.4f\n",
		       k->cell, iommufd_backend_name(k->b), form ? "handle" : "ioas", len, kind, reps, iters,
		       lm, rm, rmed, ratio[form][0], ratio[form][reps - 1], mmed);
	}
	r = 0;
out:
	free(traw);
	free(tlib);
	munmap(whole, whole_len);
	return r;
}

/* translate() and get_iova() with @live maps: a driver's per-I/O lookup. */
static int lookups(struct bench *k, int live, int reps, int iters)
{
	double t_tr[MAX_REPS], t_h[MAX_REPS];
	struct iommufd_map **h = calloc((size_t)live, sizeof(*h));
	uint8_t *mem = mmap(NULL, (size_t)live * 4096, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint64_t iova, sink = 0, seed = 1;
	int r;

	if (!h || mem == MAP_FAILED)
		return -ENOMEM;
	for (int i = 0; i < live; i++)
		if ((r = iommufd_map_create(k->ioas, mem + (size_t)i * 4096, 4096, IOMMUFD_MAP_READ, NULL, &h[i]))) {
			fprintf(stderr, "map-bench: map %d of %d: %s\n", i, live, strerror(-r));
			return r;
		}
	/* The IOAS's first translate builds its VA index: not a lookup's cost. */
	if ((r = iommufd_ioas_translate(k->ioas, mem + 64, 512, &iova))) {
		fprintf(stderr, "map-bench: the first translate: %s\n", strerror(-r));
		return r;
	}
	for (int rep = 0; rep < reps; rep++) {
		double t0 = now_ns();

		for (int i = 0; i < iters; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			if ((r = iommufd_ioas_translate(k->ioas, mem + (seed >> 33) % (uint64_t)live * 4096 + 64, 512,
							&iova))) {
				fprintf(stderr, "map-bench: translate: %s\n", strerror(-r));
				return r;
			}
			sink += iova;
		}
		t_tr[rep] = (now_ns() - t0) / iters;
		t0 = now_ns();
		for (int i = 0; i < iters; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			sink += iommufd_map_get_iova(h[(seed >> 33) % (uint64_t)live]);
		}
		t_h[rep] = (now_ns() - t0) / iters;
	}
	double trm = median(t_tr, reps), hm = median(t_h, reps);

	printf("@@BENCH name=translate cell=%s backend=%s live=%d threads=1 reps=%d iters=%d ns=%.1f ns_min=%.1f "
	       "ns_max=%.1f\n", k->cell, iommufd_backend_name(k->b), live, reps, iters, trm, t_tr[0],
	       t_tr[reps - 1]);
	printf("@@BENCH name=handle_iova cell=%s backend=%s live=%d threads=1 reps=%d iters=%d ns=%.1f ns_min=%.1f "
	       "ns_max=%.1f\n", k->cell, iommufd_backend_name(k->b), live, reps, iters, hm, t_h[0],
	       t_h[reps - 1]);
	fprintf(stderr, "map-bench: checksum %llx\n", (unsigned long long)sink);
	for (int i = 0; i < live; i++)
		iommufd_map_destroy(h[i]);
	free(h);
	munmap(mem, (size_t)live * 4096);
	return 0;
}

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'K': return (size_t)v << 10;
	case 'M': return (size_t)v << 20;
	case 'G': return (size_t)v << 30;
	default: return (size_t)v;
	}
}

int main(int argc, char **argv)
{
	const char *bdf = getenv("IFD_EDU") ? getenv("IFD_EDU") : "0000:00:03.0";
	const char *sizes = "4K", *cell = getenv("IFD_CELL");
	int iters = 200, reps = 5, live = 1000, r;
	struct iommufd_ctx *ctx;
	struct iommufd_device *dev;
	struct bench k = { .cell = cell ? cell : "host" };
	char list[256], *tok, *save;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
			sizes = argv[++i];
		else if (!strcmp(argv[i], "--live") && i + 1 < argc)
			live = atoi(argv[++i]);
		else if (argv[i][0] != '-')
			bdf = argv[i];
		else {
			fprintf(stderr, "usage: map-bench [--reps R] [--iters N] [--sizes 4K,64K,2M,64M] [--live N] [BDF]\n");
			return 2;
		}
	}
	if (reps < 1 || reps > MAX_REPS || iters < 1 || live < 1) {
		fprintf(stderr, "map-bench: --reps 1..%d, --iters and --live >= 1\n", MAX_REPS);
		return 2;
	}
	if ((r = iommufd_ctx_create(NULL, &ctx)) || (r = iommufd_ioas_create(ctx, &k.ioas)) ||
	    (r = iommufd_device_open(k.ioas, bdf, NULL, &dev))) {
		fprintf(stderr, "map-bench: set-up with device %s failed: %s\n", bdf, strerror(-r));
		return 1;
	}
	k.b = iommufd_ctx_get_backend(ctx);
	if ((r = iommufd_ioas_reserve(k.ioas, RAW_BASE, RAW_SIZE))) {
		fprintf(stderr, "map-bench: reserve the raw window: %s\n", strerror(-r));
		return 1;
	}
	snprintf(list, sizeof(list), "%s", sizes);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t len = parse_size(tok);
		/* Pinning 64 MiB takes far longer than 4 KiB: fewer pairs. */
		int n = len >= (32u << 20) ? (iters / 100 > 2 ? iters / 100 : 2) :
			len >= (1u << 20) ? (iters / 10 > 2 ? iters / 10 : 2) : iters;

		if (!len || len % 4096 || len > RAW_SIZE) {
			fprintf(stderr, "map-bench: bad size '%s'\n", tok);
			return 2;
		}
		if (map_unmap(&k, len, reps, n))
			return 1;
	}
	if (lookups(&k, live, reps, iters * 10))
		return 1;
	iommufd_ctx_destroy(ctx);
	return 0;
}
