/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Deterministic host counts for the mapping bookkeeping: instructions per
 * 4 KiB map+unmap pair, per IOVA alloc+free and per translate, and bytes of
 * library memory per live mapping, with n live mappings laid out packed
 * ("contiguous") or with every other one removed ("fragmented").
 *
 *   host-count engine|public count|mem N ITERS
 *
 * "engine" drives lib/mapidx.c directly; "public" goes through the public
 * calls over a null kernel (built only when the library has them).  "count"
 * is meant to run under valgrind --tool=callgrind --instr-atstart=no: each
 * measured loop is bracketed by client requests and dumped under a label
 * "hc <mode> <metric> <layout> <N> <ITERS>"; host-count.sh sums the
 * dumped costs outside this file's bench_ and nk_ functions (the loop and
 * the null kernel) and divides by ITERS.  "mem" prints bytes per mapping.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/callgrind.h>

#include "mapidx.h"

#define PG 4096ull
#define VA0 0x100000000000ull /* where the "buffers" live */

#define NOINL __attribute__((noinline))

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 17;
}

static void die(const char *what, int e)
{
	fprintf(stderr, "host-count: %s: %s\n", what, strerror(-e));
	exit(1);
}

static void label(char *buf, size_t n, const char *api, const char *metric, const char *layout, size_t live,
		  size_t iters)
{
	snprintf(buf, n, "hc %s %s %s %zu %zu", api, metric, layout, live, iters);
}

/* ---- engine ---- */

struct eng {
	struct ifd_midx *x;
	struct iommufd_map **m; /* the live mappings, by position */
	size_t n, slots;
	int frag;
};

static NOINL void bench_eng_fill(struct eng *e, size_t n, int frag)
{
	int r = ifd_midx_create(NULL, &e->x);

	if (r)
		die("create", r);
	e->slots = frag ? 2 * n : n;
	e->m = calloc(e->slots, sizeof(*e->m));
	e->frag = frag;
	for (size_t i = 0; i < e->slots; i++) {
		struct iommufd_map *m = ifd_midx_rec_alloc(e->x);

		if (!m)
			die("rec_alloc", -ENOMEM);
		m->kind = IFD_MAP_USER;
		r = ifd_midx_alloc(e->x, m, PG, PG, PG, UINT64_MAX);
		if (r)
			die("alloc", r);
		m->vaddr = VA0 + i * PG;
		ifd_midx_va_insert(e->x, m);
		e->m[i] = m;
	}
	if (frag) {
		for (size_t i = 1; i < e->slots; i += 2) {
			ifd_midx_remove(e->x, e->m[i]);
			ifd_midx_rec_free(e->x, e->m[i]);
			e->m[i] = NULL;
		}
	}
	e->n = n;
}

/* What ioas.c does for one map and its unmap, minus the kernel. */
static NOINL void bench_eng_pairs(struct eng *e, size_t iters, uint64_t *seed)
{
	for (size_t k = 0; k < iters; k++) {
		struct iommufd_map *m = ifd_midx_rec_alloc(e->x);

		m->kind = IFD_MAP_USER;
		if (ifd_midx_alloc(e->x, m, PG, PG, PG, UINT64_MAX))
			abort();
		/* a buffer at a varying place among the live ones' addresses */
		m->vaddr = e->frag ? VA0 + (2 * (lcg(seed) % e->n) + 1) * PG : VA0 + (e->slots + k % 64) * PG;
		ifd_midx_va_insert(e->x, m);
		ifd_midx_remove(e->x, m);
		ifd_midx_rec_free(e->x, m);
	}
}

static NOINL void bench_eng_allocs(struct eng *e, size_t iters)
{
	struct iommufd_map *m = ifd_midx_rec_alloc(e->x);

	for (size_t k = 0; k < iters; k++) {
		if (ifd_midx_alloc(e->x, m, PG, PG, PG, UINT64_MAX))
			abort();
		ifd_midx_remove(e->x, m);
	}
	ifd_midx_rec_free(e->x, m);
}

static NOINL uint64_t bench_eng_translate(struct eng *e, size_t iters, uint64_t *seed)
{
	uint64_t sum = 0, io;

	for (size_t k = 0; k < iters; k++) {
		uint64_t i = lcg(seed) % e->n * (e->frag ? 2 : 1);

		if (ifd_midx_translate(e->x, VA0 + i * PG + 64, 512, &io))
			abort();
		sum += io;
	}
	return sum;
}

static void run_engine(int count, size_t n, size_t iters)
{
	static const char *layouts[] = { "contiguous", "fragmented" };
	char lb[3][128];

	for (int frag = 0; frag < 2; frag++) {
		struct eng e;
		uint64_t seed = 42;

		if (!count) {
			struct mallinfo2 a = mallinfo2(), b;
			struct ifd_midx_stats st;

			bench_eng_fill(&e, n, frag);
			b = mallinfo2();
			ifd_midx_get_stats(e.x, &st);
			/* the bench's own pointer array is not the library's */
			size_t heap = (b.uordblks + b.hblkhd) - (a.uordblks + a.hblkhd) -
				      malloc_usable_size(e.m);
			printf("mem engine %s %zu %.2f\n", layouts[frag], n, (double)(heap + st.arena) / (double)n);
			if (ifd_midx_validate(e.x))
				die("validate", -EFAULT);
		} else {
			bench_eng_fill(&e, n, frag);
			/* labels first: their snprintf must not be counted */
			label(lb[0], sizeof(lb[0]), "engine", "pair", layouts[frag], n, iters);
			label(lb[1], sizeof(lb[1]), "engine", "alloc", layouts[frag], n, iters);
			label(lb[2], sizeof(lb[2]), "engine", "translate", layouts[frag], n, iters);
			CALLGRIND_START_INSTRUMENTATION;
			CALLGRIND_ZERO_STATS;
			bench_eng_pairs(&e, iters, &seed);
			CALLGRIND_DUMP_STATS_AT(lb[0]);
			bench_eng_allocs(&e, iters);
			CALLGRIND_DUMP_STATS_AT(lb[1]);
			bench_eng_translate(&e, iters, &seed);
			CALLGRIND_DUMP_STATS_AT(lb[2]);
			CALLGRIND_STOP_INSTRUMENTATION;
		}
		ifd_midx_destroy(e.x);
		free(e.m);
	}
}

#ifdef HOST_COUNT_PUBLIC
#include "host-count-public.c"
#else
static int run_public(int count, size_t n, size_t iters)
{
	(void)count;
	(void)n;
	(void)iters;
	fprintf(stderr, "host-count: built without the public mode (the library lacks the map handle calls)\n");
	return 77;
}
#endif

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: host-count engine|public count|mem N ITERS\n");
		return 2;
	}
	int count = !strcmp(argv[2], "count");
	size_t n = strtoull(argv[3], NULL, 0), iters = strtoull(argv[4], NULL, 0);

	if (!strcmp(argv[1], "public"))
		return run_public(count, n, iters);
	run_engine(count, n, iters);
	return 0;
}
