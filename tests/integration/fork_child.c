/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * fork_child: the fork rule.  A child's inherited handles never reach the
 * parent's kernel state, and the parent's DMA keeps running meanwhile.
 *
 * The parent opens the edu, maps a buffer (plus a map handle), and starts a
 * thread that does DMA round trips through it without pause.  It forks; the
 * child:
 *   - calls map, unmap, map_create, copy, ioas_create, allow_iovas,
 *     unmap_all, device attach on inherited handles: each -ECHILD;
 *   - creates its own context and IOAS and maps/unmaps there (no device);
 *   - destroys the inherited map handle, device, IOAS and context (0: they
 *     only close the child's fds) and its own;
 *   - exits.
 * The child waits (polling a shared counter) for the parent's DMA to
 * complete round trips while it holds the inherited handles and again after
 * it destroyed them.  The parent then lets the thread do several more round
 * trips after the child's exit and checks
 * that none failed, before, during or after the child; the buffer is still
 * mapped where it was, the handle is still the parent's, and the parent's
 * own unmap/destroy work normally.  (The buffer is pinned, so the kernel
 * gives the child its own copy of those pages at fork and the parent keeps
 * the pinned ones.)
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "itest.h"

#define P SZ_4K
#define AFTER 5 /* round trips the parent waits for after the child is gone */

static struct itest_edu x;
static uint8_t *buf;
static uint64_t buf_iova;
/* In a shared page, so that the child sees the parent's thread progress. */
struct progress {
	atomic_uint done, failed, stop_at;
	atomic_int first_err;
};
static struct progress *pg;

/* No stdio or malloc here: the main thread forks while this runs. */
static void *dma_loop(void *arg)
{
	for (unsigned int i = 0; atomic_load(&pg->done) < atomic_load(&pg->stop_at); i++) {
		int r;

		itest_fill(buf, EDU_BUF_SIZE, 100 + (i & 63));
		r = edu_dma(&x.e, buf_iova, 0, EDU_BUF_SIZE, 0, ITEST_DMA_TIMEOUT_MS);
		if (!r) {
			memset(buf, 0, EDU_BUF_SIZE);
			r = edu_dma(&x.e, buf_iova, 0, EDU_BUF_SIZE, 1, ITEST_DMA_TIMEOUT_MS);
		}
		if (!r && itest_pat_diff(buf, EDU_BUF_SIZE, 100 + (i & 63)) >= 0)
			r = -EIO;
		if (r) {
			int zero = 0;

			atomic_compare_exchange_strong(&pg->first_err, &zero, r);
			atomic_fetch_add(&pg->failed, 1);
			if (r == -ETIMEDOUT)
				break; /* the device is wedged; more tries only take time */
		}
		atomic_fetch_add(&pg->done, 1);
	}
	return NULL;
}

/*
 * The parent's DMA thread completes @n more round trips, none failing,
 * within a bounded time: polled, the child has nothing else to wait on.
 */
static void wait_round_trips(unsigned int n, const char *what)
{
	unsigned int start = atomic_load(&pg->done);
	double deadline = itest_now() + 60.0;

	while (atomic_load(&pg->done) < start + n && atomic_load(&pg->failed) == 0 && itest_now() < deadline)
		sched_yield();
	CHECK(atomic_load(&pg->done) >= start + n && atomic_load(&pg->failed) == 0,
	      "%s: the parent's DMA completes %u more round trips (%u done, %u failed)", what, n,
	      atomic_load(&pg->done) - start, atomic_load(&pg->failed));
}

struct inherited {
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas, *ioas2;
	struct iommufd_map *map;
	uint64_t map_iova;
};

static void child(void *arg)
{
	struct inherited *in = arg;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };
	struct iommufd_map_opts fo = { .sz = sizeof(o), .iova = buf_iova };
	struct iommufd_ioas *other = NULL;
	struct iommufd_map *m = NULL;
	struct iommufd_iova_range r = { 0x100000, 0x0fffffff };
	struct iommufd_ctx *own = NULL;
	struct iommufd_ioas *own_ioas = NULL;
	uint8_t *mine = itest_alloc(4 * P, P);
	uint64_t iova = 0, got = 0;

	CHECK_RET(iommufd_ioas_map(in->ioas, mine, 4 * P, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &iova), -ECHILD,
		  "child: map on the inherited IOAS");
	CHECK_RET(iommufd_ioas_map(in->ioas, mine, P, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE | IOMMUFD_MAP_FIXED, &fo,
				   &iova),
		  -ECHILD, "child: fixed map over the parent's buffer IOVA");
	CHECK_RET(iommufd_ioas_unmap(in->ioas, buf_iova, P, &got), -ECHILD, "child: unmap of the parent's buffer");
	CHECK_RET(iommufd_ioas_unmap_all(in->ioas), -ECHILD, "child: unmap_all on the inherited IOAS");
	CHECK_RET(iommufd_map_create(in->ioas, mine, P, IOMMUFD_MAP_READ, &o, &m), -ECHILD,
		  "child: map_create on the inherited IOAS");
	CHECK(m == NULL, "child: no handle came back");
	CHECK_RET(iommufd_ioas_copy(in->ioas2, in->ioas, buf_iova, P, IOMMUFD_MAP_READ, &o, &iova), -ECHILD,
		  "child: copy between inherited IOAS");
	CHECK_RET(iommufd_ioas_create(in->ctx, &other), -ECHILD, "child: ioas_create on the inherited context");
	CHECK_RET(iommufd_ioas_allow_iovas(in->ioas, &r, 1), -ECHILD, "child: allow_iovas on the inherited IOAS");
	/* Only CDEV would reach the kernel here; GROUP/TYPE1 refuse any move. */
	if (iommufd_ctx_get_backend(in->ctx) == IOMMUFD_BACKEND_CDEV)
		CHECK_RET(iommufd_device_attach(x.dev, in->ioas2), -ECHILD, "child: moving the inherited device");
	else
		CHECK(iommufd_device_attach(x.dev, in->ioas2) < 0, "child: moving the inherited device fails");

	wait_round_trips(2, "child: while it holds the inherited handles");

	/* Its own context works. */
	if (CHECK_RET(iommufd_ctx_create(NULL, &own), 0, "child: its own context")) {
		CHECK_RET(iommufd_ioas_create(own, &own_ioas), 0, "child: its own IOAS");
		if (own_ioas) {
			iova = itest_map(own_ioas, mine, 4 * P, EDU_IOVA_MAX, "child: 16 KiB in its own IOAS");
			CHECK_RET(iommufd_map_create(own_ioas, mine, P, IOMMUFD_MAP_READ, &o, &m), 0,
				  "child: map_create in its own IOAS");
			CHECK_RET(iommufd_map_destroy(m), 0, "child: destroy that handle");
			itest_unmap(own_ioas, iova, 4 * P, "child: 16 KiB in its own IOAS");
			CHECK_RET(iommufd_ioas_destroy(own_ioas), 0, "child: destroy its own IOAS");
		}
		iommufd_ctx_destroy(own);
	}

	/* Tear down the inherited handles: fds close, nothing else. */
	CHECK_RET(iommufd_map_destroy(in->map), 0, "child: destroy the inherited map handle");
	CHECK_RET(iommufd_device_destroy(x.dev), 0, "child: destroy the inherited device");
	CHECK_RET(iommufd_ioas_destroy(in->ioas), 0, "child: destroy the inherited IOAS");
	CHECK_RET(iommufd_ioas_destroy(in->ioas2), 0, "child: destroy the second inherited IOAS");
	iommufd_ctx_destroy(in->ctx);
	wait_round_trips(2, "child: after it destroyed the inherited handles, before it exits");
	itest_free(mine, 4 * P);
}

int main(void)
{
	struct inherited in = { 0 };
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };
	struct iommufd_map_info info;
	pthread_t th;
	uint8_t *hbuf, *again;
	uint64_t got = 0, t;
	unsigned int before, at_exit;
	int rc;

	itest_start("fork_child");
	const char *edu_bdf = itest_env_req("IFD_EDU");

	in.ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(in.ctx, &in.ioas), 0, "iommufd_ioas_create");
	REQUIRE_RET(iommufd_ioas_create(in.ctx, &in.ioas2), 0, "a second IOAS");
	itest_edu_open(&x, in.ioas, edu_bdf);
	buf = itest_alloc(P, P);
	buf_iova = itest_map(in.ioas, buf, P, EDU_IOVA_MAX, "the DMA buffer");
	hbuf = itest_alloc(2 * P, P);
	REQUIRE_RET(iommufd_map_create(in.ioas, hbuf, 2 * P, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &in.map), 0,
		    "a map handle");
	in.map_iova = iommufd_map_get_iova(in.map);
	itest_edu_roundtrip(&x, hbuf, in.map_iova, EDU_BUF_SIZE, 98, "the handle's mapping before the fork");

	pg = mmap(NULL, sizeof(*pg), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(pg != MAP_FAILED, "a shared page for the DMA thread's progress");
	atomic_init(&pg->done, 0);
	atomic_init(&pg->failed, 0);
	atomic_init(&pg->stop_at, UINT32_MAX);
	atomic_init(&pg->first_err, 0);
	REQUIRE(pthread_create(&th, NULL, dma_loop, NULL) == 0, "start the DMA thread");
	/* Let at least one round trip finish before the fork. */
	while (atomic_load(&pg->done) < 1 && atomic_load(&pg->failed) == 0)
		sched_yield();
	before = atomic_load(&pg->done);
	itest_in_child("inherited handles", child, &in);
	at_exit = atomic_load(&pg->done);
	atomic_store(&pg->stop_at, at_exit + AFTER);
	pthread_join(th, NULL);
	itest_note("DMA round trips: %u before the fork, %u when the child had exited, %u in all", before, at_exit,
		   atomic_load(&pg->done));
	CHECK(atomic_load(&pg->failed) == 0, "no DMA round trip failed while the child ran or after (%u failed, first %d)",
	      atomic_load(&pg->failed), atomic_load(&pg->first_err));
	CHECK(atomic_load(&pg->done) >= at_exit + AFTER, "%u round trips after the child exited",
	      atomic_load(&pg->done) - at_exit);

	/* The parent's state is intact. */
	CHECK(iommufd_ioas_find_iova(in.ioas, buf_iova, &info) == 0 && info.vaddr == buf && info.len == P,
	      "the buffer is still mapped at 0x%" PRIx64, buf_iova);
	CHECK(iommufd_map_get_iova(in.map) == in.map_iova && iommufd_map_get_ioas(in.map) == in.ioas,
	      "the map handle still reads the same");
	CHECK(iommufd_ioas_translate(in.ioas, hbuf + P, P, &t) == 0 && t == in.map_iova + P,
	      "the handle's mapping still translates");
	itest_edu_roundtrip(&x, hbuf, in.map_iova, EDU_BUF_SIZE, 99, "the handle's mapping after the child");
	CHECK(iommufd_device_get_ioas(x.dev) == in.ioas, "the device is still in its IOAS");

	/* And the parent's own calls work normally. */
	again = itest_alloc(P, P);
	{
		uint64_t ai = itest_map(in.ioas, again, P, EDU_IOVA_MAX, "parent: a new map after the child");

		itest_edu_roundtrip(&x, again, ai, EDU_BUF_SIZE, 97, "parent: the new map");
		itest_unmap(in.ioas, ai, P, "parent: the new map");
	}
	rc = iommufd_ioas_unmap(in.ioas, buf_iova, P, &got);
	CHECK(rc == 0 && got == P, "parent: unmap of the buffer (rc %d, 0x%" PRIx64 " bytes)", rc, got);
	CHECK_RET(iommufd_map_destroy(in.map), 0, "parent: destroy the map handle");
	CHECK_RET(iommufd_ioas_find_iova(in.ioas, in.map_iova, NULL), -ENOENT, "parent: the handle's IOVA is free");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(in.ioas), 0, "parent: destroy the IOAS");
	CHECK_RET(iommufd_ioas_destroy(in.ioas2), 0, "parent: destroy the second IOAS");
	iommufd_ctx_destroy(in.ctx);
	itest_free(buf, P);
	itest_free(hbuf, 2 * P);
	itest_free(again, P);
	return itest_finish();
}
