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
#include <stdlib.h>
#include "null-kernel.h"

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

/* The first translate builds the IOAS's VA index over every live map. */
static NOINL void bench_pub_va_build(struct pub *p)
{
	uint64_t io;

	if (iommufd_ioas_translate(p->ioas, p->buf + 64, 512, &io))
		abort();
}

static int run_public(int count, size_t n, size_t iters)
{
	static const char *layouts[] = { "contiguous", "fragmented" };
	char lb[5][128];

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
			/* per live map: one build divided by the maps it indexed */
			label(lb[3], sizeof(lb[3]), "public", "vabuild", layouts[frag], n, n);
			label(lb[4], sizeof(lb[4]), "public", "pairva", layouts[frag], n, iters);
			CALLGRIND_START_INSTRUMENTATION;
			CALLGRIND_ZERO_STATS;
			/* Until the first translate a map keeps no VA index ... */
			bench_pub_pairs(&p, iters, &seed);
			CALLGRIND_DUMP_STATS_AT(lb[0]);
			bench_pub_handles(&p, iters, &seed);
			CALLGRIND_DUMP_STATS_AT(lb[1]);
			bench_pub_va_build(&p);
			CALLGRIND_DUMP_STATS_AT(lb[3]);
			/* ... from then on every map and unmap keeps it. */
			bench_pub_pairs(&p, iters, &seed);
			CALLGRIND_DUMP_STATS_AT(lb[4]);
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
