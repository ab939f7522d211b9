/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * concurrency: one IOAS under load from every side at once, with real DMA.
 *
 * - 8 worker threads map, translate, look up and unmap their own buffers
 *   on IOAS 1 (library-chosen IOVAs, both iommufd_ioas_map and map handles,
 *   1 to 16 pages).  Each buffer is filled with its own byte and must still
 *   hold it when unmapped: no device DMA may ever land in it.  After an
 *   unmap its address must no longer translate.
 * - The main thread runs edu DMA round trips on device A (IFD_EDU, on
 *   IOAS 1) through a buffer it maps at a fresh chosen IOVA each time, so
 *   the IOVAs it gets are the ones the workers free and take: the pattern
 *   must come back in that buffer and nowhere else.
 * - A mover thread moves device B (the first of IFD_EDU_PAIR) between
 *   address spaces.  Buffer B1 is mapped at IOVA X in IOAS 1 and B2 at the
 *   same X in IOAS 2.  CDEV: B keeps running and is replaced from IOAS 1
 *   to IOAS 2, to an HWPT on IOAS 1, to an HWPT on IOAS 2, detached and
 *   attached back (iommufd_device_attach / _attach_hwpt / _detach), with a
 *   DMA round trip through X after each move that must land in the buffer
 *   of the space B is in now and leave the other one alone.  GROUP and
 *   TYPE1 cannot move an open device (-EOPNOTSUPP, checked once), so there
 *   B is opened into IOAS 1 or IOAS 2 in turn, does the same round trip,
 *   and is closed: group fds and (TYPE1) the container's IOMMU come and go
 *   while the workers map on IOAS 1.
 *
 * Bounded: IFD_CONCURRENCY_SECONDS of guest time (default 20).  Threads
 * report into their own records; the main thread prints the checks after
 * joining them.  At the end nothing stays pinned (VmPin back to its start).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "itest.h"

#define NWORKERS 8
#define NSLOTS 6
#define SLOT_MAX (16 * SZ_4K)
#define NDMA_BUFS 4

struct worker {
	int id;
	struct iommufd_ioas *ioas;
	atomic_bool *stop;
	uint8_t *mem[NSLOTS];
	size_t len[NSLOTS];
	uint64_t maps, unmaps, translates, handles, busy;
	unsigned int fails;
	char why[320];
};

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static __attribute__((format(printf, 3, 4))) void fail(unsigned int *fails, char *why, const char *fmt, ...)
{
	va_list ap;

	if ((*fails)++)
		return;
	va_start(ap, fmt);
	vsnprintf(why, 320, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&print_lock);
	printf("# first failure: %s\n", why);
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

static uint8_t slot_byte(int id, int s)
{
	return (uint8_t)(0x20 + id * NSLOTS + s);
}

/* Map one slot, check what the library says about it, unmap it. */
static void worker_round(struct worker *w, int s, uint64_t n)
{
	struct iommufd_map_info info;
	struct iommufd_map *h = NULL;
	uint8_t *p = w->mem[s];
	size_t len = w->len[s], off = (size_t)(n * 64) % len;
	uint64_t iova = 0, t = 0, bytes = 0;
	bool handle = (n + (uint64_t)s) % 3 == 0;
	int r;

	if (handle) {
		r = iommufd_map_create(w->ioas, p, len, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, NULL, &h);
		if (r == 0)
			iova = iommufd_map_get_iova(h);
	} else {
		r = iommufd_ioas_map(w->ioas, p, len, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, NULL, &iova);
	}
	if (r < 0) {
		fail(&w->fails, w->why, "worker %d: map of %zu bytes: %s", w->id, len, strerror(-r));
		return;
	}
	w->maps++;
	w->handles += handle;
	r = iommufd_ioas_translate(w->ioas, p + off, 1, &t);
	w->translates++;
	if (r < 0 || t != iova + off)
		fail(&w->fails, w->why, "worker %d: translate(vaddr + %zu) = %d, 0x%" PRIx64 " (want 0x%" PRIx64 ")",
		     w->id, off, r, t, iova + off);
	r = iommufd_ioas_find_iova(w->ioas, iova + len - 1, &info);
	if (r < 0 || info.iova != iova || info.len != len || info.vaddr != p)
		fail(&w->fails, w->why, "worker %d: find_iova(0x%" PRIx64 ") = %d, mapping 0x%" PRIx64 "+%" PRIu64,
		     w->id, iova + len - 1, r, info.iova, info.len);
	if (handle) {
		r = iommufd_map_destroy(h);
	} else {
		r = iommufd_ioas_unmap(w->ioas, iova, len, &bytes);
		if (r == 0 && bytes != len)
			fail(&w->fails, w->why, "worker %d: unmap reports %" PRIu64 " bytes of %zu", w->id, bytes,
			     len);
	}
	if (r < 0) {
		fail(&w->fails, w->why, "worker %d: unmap of IOVA 0x%" PRIx64 ": %s", w->id, iova, strerror(-r));
		return;
	}
	w->unmaps++;
	/* Only this thread maps this buffer: once unmapped it is nowhere. */
	r = iommufd_ioas_translate(w->ioas, p + off, 1, &t);
	if (r != -ENOENT)
		fail(&w->fails, w->why, "worker %d: translate after unmap = %d (want -ENOENT)", w->id, r);
	if (itest_byte_diff(p, len, slot_byte(w->id, s)) >= 0)
		fail(&w->fails, w->why, "worker %d: buffer %d (%zu bytes) was written while mapped at 0x%" PRIx64
		     ": byte %ld is 0x%02x", w->id, s, len, iova, itest_byte_diff(p, len, slot_byte(w->id, s)),
		     p[itest_byte_diff(p, len, slot_byte(w->id, s))]);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t n = 0;

	while (!atomic_load(w->stop)) {
		for (int s = 0; s < NSLOTS; s++)
			worker_round(w, s, n);
		n++;
	}
	return NULL;
}

/* ------------------------------------------------------------------ mover */

enum target { T_IOAS1, T_IOAS2, T_HWPT1, T_HWPT2, T_DETACH, NTARGETS };
static const char *const target_name[] = { "IOAS 1", "IOAS 2", "HWPT on IOAS 1", "HWPT on IOAS 2", "detached" };

struct mover {
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas1, *ioas2;
	const char *bdf;
	bool cdev;
	atomic_bool *stop;
	uint8_t *b1, *b2; /* at IOVA x in IOAS 1 and IOAS 2 */
	uint64_t x;
	struct itest_edu edu; /* CDEV: open for the whole run */
	struct iommufd_hwpt *h1, *h2;
	uint64_t moves[NTARGETS], opens, trips;
	unsigned int fails;
	char why[320];
};

/*
 * A round trip through X on B: each buffer holds its own pattern, the edu
 * reads X and writes it back into both buffers' place after they are
 * cleared; only @in (the space B is in) may change, and only to its own
 * pattern.
 */
static void mover_trip(struct mover *m, struct edu *e, bool in_one, unsigned int seed)
{
	uint8_t *in = in_one ? m->b1 : m->b2, *out = in_one ? m->b2 : m->b1;
	int r;

	itest_fill(in, SZ_4K, seed);
	itest_fill(out, SZ_4K, seed + 1);
	r = edu_dma(e, m->x, 0, EDU_BUF_SIZE, 0, ITEST_DMA_TIMEOUT_MS);
	if (r == 0) {
		memset(in, 0, SZ_4K);
		memset(out, 0xa5, SZ_4K);
		r = edu_dma(e, m->x, 0, EDU_BUF_SIZE, 1, ITEST_DMA_TIMEOUT_MS);
	}
	if (r < 0) {
		fail(&m->fails, m->why, "device B: DMA through IOVA 0x%" PRIx64 ": %s", m->x, strerror(-r));
		return;
	}
	m->trips++;
	if (itest_pat_diff(in, SZ_4K, seed) >= 0)
		fail(&m->fails, m->why, "device B in %s: the round trip did not come back into that space's buffer "
		     "(byte %ld)", in_one ? "space 1" : "space 2", itest_pat_diff(in, SZ_4K, seed));
	if (itest_byte_diff(out, SZ_4K, 0xa5) >= 0)
		fail(&m->fails, m->why, "device B in %s: the other space's buffer was written (byte %ld)",
		     in_one ? "space 1" : "space 2", itest_byte_diff(out, SZ_4K, 0xa5));
}

static int cdev_move(struct mover *m, enum target t)
{
	switch (t) {
	case T_IOAS1:
		return iommufd_device_attach(m->edu.dev, m->ioas1);
	case T_IOAS2:
		return iommufd_device_attach(m->edu.dev, m->ioas2);
	case T_HWPT1:
		return iommufd_device_attach_hwpt(m->edu.dev, m->h1);
	case T_HWPT2:
		return iommufd_device_attach_hwpt(m->edu.dev, m->h2);
	default:
		return iommufd_device_detach(m->edu.dev);
	}
}

static void *mover_main(void *arg)
{
	/* CDEV order: every kind of replace, and a detach between two. */
	static const enum target order[] = { T_IOAS2, T_HWPT1, T_HWPT2, T_IOAS1, T_DETACH, T_HWPT2, T_IOAS1 };
	struct mover *m = arg;
	unsigned int seed = 100;
	uint64_t n = 0;
	int r;

	while (!atomic_load(m->stop)) {
		if (m->cdev) {
			enum target t = order[n++ % (sizeof(order) / sizeof(order[0]))];

			r = cdev_move(m, t);
			if (r < 0) {
				fail(&m->fails, m->why, "device B: move to %s: %s", target_name[t], strerror(-r));
				break;
			}
			m->moves[t]++;
			/* No DMA while detached: QEMU's virtio-iommu may let
			 * it through untranslated (boot-bypass). */
			if (t != T_DETACH)
				mover_trip(m, &m->edu.e, t == T_IOAS1 || t == T_HWPT1, seed++);
		} else {
			bool one = n++ % 2 == 0;
			struct iommufd_device *dev = NULL;
			struct edu e;

			r = iommufd_device_open(one ? m->ioas1 : m->ioas2, m->bdf, NULL, &dev);
			if (r < 0) {
				fail(&m->fails, m->why, "device B: open %s into IOAS %d: %s", m->bdf, one ? 1 : 2,
				     strerror(-r));
				break;
			}
			m->opens++;
			m->moves[one ? T_IOAS1 : T_IOAS2]++;
			r = edu_init(&e, dev);
			if (r < 0)
				fail(&m->fails, m->why, "device B: edu init: %s", strerror(-r));
			else
				mover_trip(m, &e, one, seed++);
			r = iommufd_device_destroy(dev);
			if (r < 0) {
				fail(&m->fails, m->why, "device B: destroy: %s", strerror(-r));
				break;
			}
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------- main */

int main(void)
{
	struct worker w[NWORKERS];
	pthread_t wt[NWORKERS], mt;
	struct mover m = { 0 };
	struct itest_edu a = { 0 };
	struct iommufd_ctx *ctx;
	char pa[32], pb[32];
	uint8_t *dbuf[NDMA_BUFS];
	atomic_bool stop = false;
	const char *secs_env;
	double secs = 20, t0, t_end;
	long pin0, pin1;
	uint64_t trips = 0, wmaps = 0, wtrans = 0;
	unsigned int dfails = 0;
	char dwhy[320] = "";
	int r;

	itest_start("concurrency");
	secs_env = itest_env("IFD_CONCURRENCY_SECONDS");
	if (secs_env)
		secs = atof(secs_env);
	REQUIRE(secs > 0 && secs <= 600, "run time %.0f s of guest time is in (0, 600]", secs);
	itest_pair(pa, pb);
	pin0 = itest_status_kb("VmPin");

	ctx = itest_ctx();
	m.ctx = ctx;
	m.bdf = pa;
	m.stop = &stop;
	m.cdev = itest_is_cdev(ctx);
	REQUIRE_RET(iommufd_ioas_create(ctx, &m.ioas1), 0, "IOAS 1");
	REQUIRE_RET(iommufd_ioas_create(ctx, &m.ioas2), 0, "IOAS 2");
	itest_edu_open(&a, m.ioas1, itest_env_req("IFD_EDU"));

	/* B's two buffers at one IOVA in both spaces. */
	m.b1 = itest_alloc(SZ_4K, SZ_4K);
	m.b2 = itest_alloc(SZ_4K, SZ_4K);
	m.x = itest_map(m.ioas1, m.b1, SZ_4K, EDU_IOVA_MAX, "B's buffer in IOAS 1");
	itest_map_fixed(m.ioas2, m.b2, SZ_4K, m.x, "B's buffer in IOAS 2 at the same IOVA");
	if (m.cdev) {
		struct iommufd_feature_status st = { .sz = sizeof(st) };

		itest_edu_open(&m.edu, m.ioas1, pa);
		REQUIRE(iommufd_feature_query(ctx, m.edu.dev, IOMMUFD_FEATURE_HWPT_REPLACE, &st) == 1,
			"CDEV: moving a running device is supported (%s)", st.why);
		REQUIRE_RET(iommufd_hwpt_create(m.edu.dev, m.ioas1, NULL, &m.h1), 0, "an HWPT on IOAS 1 for %s", pa);
		REQUIRE_RET(iommufd_hwpt_create(m.edu.dev, m.ioas2, NULL, &m.h2), 0, "an HWPT on IOAS 2 for %s", pa);
	} else {
		struct iommufd_device *dev = NULL;

		/* Why B is closed and opened here instead of moved. */
		REQUIRE_RET(iommufd_device_open(m.ioas1, pa, NULL, &dev), 0, "open %s", pa);
		if (itest_can_move(ctx, dev))
			/* NOIOMMU on /dev/iommu moves it, but has no HWPTs
			 * to switch between: B is opened and closed too. */
			CHECK_RET(iommufd_device_attach(dev, m.ioas2), 0, "%s: an open device moves to another IOAS",
				  iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
		else
			CHECK_RET(iommufd_device_attach(dev, m.ioas2), -EOPNOTSUPP,
				  "%s: an open device cannot move to another IOAS; B is opened and closed instead",
				  iommufd_backend_name(iommufd_ctx_get_backend(ctx)));
		CHECK_RET(iommufd_device_destroy(dev), 0, "close %s", pa);
	}

	for (int i = 0; i < NDMA_BUFS; i++)
		dbuf[i] = itest_alloc(SZ_4K, SZ_4K);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < NWORKERS; i++) {
		w[i].id = i;
		w[i].ioas = m.ioas1;
		w[i].stop = &stop;
		for (int s = 0; s < NSLOTS; s++) {
			w[i].len[s] = (size_t)(1u << ((i + s) % 5)) * SZ_4K; /* 1..16 pages */
			w[i].mem[s] = itest_alloc(w[i].len[s], SZ_4K);
			memset(w[i].mem[s], slot_byte(i, s), w[i].len[s]);
		}
	}

	itest_note("running %.0f s: %d workers on IOAS 1, DMA on %s, %s %s", secs, NWORKERS, a.name,
		   m.cdev ? "moving" : "opening and closing", pa);
	t0 = itest_now();
	t_end = t0 + secs;
	for (int i = 0; i < NWORKERS; i++) {
		r = pthread_create(&wt[i], NULL, worker_main, &w[i]);
		REQUIRE(r == 0, "start worker %d: %s", i, strerror(r));
	}
	r = pthread_create(&mt, NULL, mover_main, &m);
	REQUIRE(r == 0, "start the mover: %s", strerror(r));

	/* Device A's round trips, each through a freshly chosen IOVA. */
	while (itest_now() < t_end) {
		struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };
		unsigned int k = (unsigned int)(trips % NDMA_BUFS), seed = (unsigned int)trips + 1;
		uint64_t iova = 0, t = 0;

		for (int i = 0; i < NDMA_BUFS; i++)
			memset(dbuf[i], 0x3c, SZ_4K);
		r = iommufd_ioas_map(m.ioas1, dbuf[k], SZ_4K, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &iova);
		if (r < 0) {
			fail(&dfails, dwhy, "device A: map: %s", strerror(-r));
			break;
		}
		if (iommufd_ioas_translate(m.ioas1, dbuf[k] + 8, 8, &t) < 0 || t != iova + 8)
			fail(&dfails, dwhy, "device A: translate of its buffer gives 0x%" PRIx64 ", want 0x%" PRIx64,
			     t, iova + 8);
		itest_fill(dbuf[k], SZ_4K, seed);
		r = edu_dma(&a.e, iova, 0, EDU_BUF_SIZE, 0, ITEST_DMA_TIMEOUT_MS);
		if (r == 0) {
			memset(dbuf[k], 0, SZ_4K);
			r = edu_dma(&a.e, iova, 0, EDU_BUF_SIZE, 1, ITEST_DMA_TIMEOUT_MS);
		}
		if (r < 0)
			fail(&dfails, dwhy, "device A: DMA through 0x%" PRIx64 ": %s", iova, strerror(-r));
		else if (itest_pat_diff(dbuf[k], SZ_4K, seed) >= 0)
			fail(&dfails, dwhy, "device A: round trip %" PRIu64 " through 0x%" PRIx64
			     " did not come back into its buffer (byte %ld)", trips, iova,
			     itest_pat_diff(dbuf[k], SZ_4K, seed));
		for (int i = 0; i < NDMA_BUFS; i++)
			if (i != (int)k && itest_byte_diff(dbuf[i], SZ_4K, 0x3c) >= 0)
				fail(&dfails, dwhy, "device A: round trip %" PRIu64 " wrote into unmapped buffer %d",
				     trips, i);
		r = iommufd_ioas_unmap(m.ioas1, iova, SZ_4K, NULL);
		if (r < 0) {
			fail(&dfails, dwhy, "device A: unmap 0x%" PRIx64 ": %s", iova, strerror(-r));
			break;
		}
		trips++;
	}
	atomic_store(&stop, true);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(wt[i], NULL);
	pthread_join(mt, NULL);
	itest_note("stopped after %.1f s of guest time", itest_now() - t0);

	/* ---- verdicts */
	CHECK(dfails == 0, "device A: %" PRIu64 " round trips, each through a fresh IOVA, came back into their "
	      "buffer and nowhere else%s%s", trips, dfails ? ": " : "", dwhy);
	CHECK(trips >= 10, "device A made at least 10 round trips (%" PRIu64 ")", trips);
	for (int i = 0; i < NWORKERS; i++) {
		CHECK(w[i].fails == 0 && w[i].maps >= 20 && w[i].maps == w[i].unmaps,
		      "worker %d: %" PRIu64 " maps (%" PRIu64 " by handle), %" PRIu64 " unmaps, %" PRIu64
		      " translates, every answer right and every buffer untouched by DMA%s%s",
		      i, w[i].maps, w[i].handles, w[i].unmaps, w[i].translates, w[i].fails ? ": " : "", w[i].why);
		wmaps += w[i].maps;
		wtrans += w[i].translates;
	}
	if (m.cdev) {
		CHECK(m.fails == 0, "device B: %" PRIu64 " moves to IOAS 1, %" PRIu64 " to IOAS 2, %" PRIu64
		      " to the HWPT on IOAS 1, %" PRIu64 " to the HWPT on IOAS 2, %" PRIu64 " detaches; all %" PRIu64
		      " round trips landed in the current space's buffer only%s%s", m.moves[T_IOAS1],
		      m.moves[T_IOAS2], m.moves[T_HWPT1], m.moves[T_HWPT2], m.moves[T_DETACH], m.trips,
		      m.fails ? ": " : "", m.why);
		CHECK(m.moves[T_IOAS1] && m.moves[T_IOAS2] && m.moves[T_HWPT1] && m.moves[T_HWPT2] &&
			      m.moves[T_DETACH],
		      "device B went through every kind of move at least once");
		CHECK_RET(iommufd_device_attach(m.edu.dev, m.ioas1), 0, "device B back to IOAS 1");
		CHECK(itest_edu_roundtrip(&m.edu, m.b1, m.x, EDU_BUF_SIZE, 7, "B after the run"),
		      "device B still works after the run");
		CHECK_RET(iommufd_hwpt_destroy(m.h1), 0, "destroy the HWPT on IOAS 1");
		CHECK_RET(iommufd_hwpt_destroy(m.h2), 0, "destroy the HWPT on IOAS 2");
		itest_edu_close(&m.edu);
	} else {
		CHECK(m.fails == 0, "device B: opened %" PRIu64 " times (%" PRIu64 " into IOAS 1, %" PRIu64
		      " into IOAS 2) and closed; all %" PRIu64 " round trips landed in that space's buffer only%s%s",
		      m.opens, m.moves[T_IOAS1], m.moves[T_IOAS2], m.trips, m.fails ? ": " : "", m.why);
		CHECK(m.moves[T_IOAS1] && m.moves[T_IOAS2], "device B was opened into both IOAS");
	}
	itest_note("totals: %" PRIu64 " worker maps, %" PRIu64 " translates, %" PRIu64 " DMA round trips on A, %"
		   PRIu64 " on B", wmaps, wtrans, trips, m.trips);
	CHECK(itest_edu_roundtrip(&a, dbuf[0], itest_map(m.ioas1, dbuf[0], SZ_4K, EDU_IOVA_MAX, "A's buffer"),
				  EDU_BUF_SIZE, 9, "A after the run"),
	      "device A still works after the run");
	itest_edu_close(&a);
	iommufd_ctx_destroy(ctx);
	pin1 = itest_status_kb("VmPin");
	CHECK(pin1 == pin0, "nothing stays pinned: VmPin %ld kB at the end, %ld kB at the start", pin1, pin0);
	for (int i = 0; i < NWORKERS; i++)
		for (int s = 0; s < NSLOTS; s++)
			itest_free(w[i].mem[s], w[i].len[s]);
	for (int i = 0; i < NDMA_BUFS; i++)
		itest_free(dbuf[i], SZ_4K);
	itest_free(m.b1, SZ_4K);
	itest_free(m.b2, SZ_4K);
	return itest_finish();
}
