/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * mock_glib_fault: I/O page faults served from a GLib main loop through
 * libiommufd-glib's fault source, with requests injected by the kernel's
 * mock IOMMU (tests/integration/mock.h).
 *
 * CDEV: 100 faults, injected from inside the loop, delivered in batches of
 * at most 16 and answered from the callback: every fault answered exactly
 * once, with the injected fields.  Then a full queue (max_outstanding 8,
 * 50 faults, the callback holding its answers until 8 are held and another
 * source of the loop answering them): the source stops reading while full
 * (few reads, no spinning) and resumes by itself once answered.
 * GROUP: HWPTs do not exist; a source on a queue (when the kernel gives
 * one) polls an empty queue without dispatching.  TYPE1: no queues; the
 * source refuses a NULL queue.
 */
#include <libiommufd/libiommufd-glib.h>

#include "feature.h"

#define NFAULTS    100u
#define NFULL      50u
#define MAX_OUT    8u
#define BATCH      16u
#define FBASE      0x10000000ull
#define GUARD_S    60

struct serve {
	GMainLoop *loop;
	struct iommufd_fault_queue *q;
	struct mock_dev *m;
	int fd;
	unsigned int want, answered, calls, max_n, bad_fields, dups, errors, respond_fail;
	uint8_t seen[NFAULTS];
	/* the full-queue phase: answers held back, then given by another source */
	bool hold;
	struct iommufd_page_response held[MAX_OUT];
	unsigned int nheld;
	bool answer_pending;
};

static gboolean guard(gpointer data)
{
	struct serve *s = data;

	CHECK(false, "the loop ran %d s without serving every fault (%u of %u answered)", GUARD_S, s->answered,
	      s->want);
	g_main_loop_quit(s->loop);
	return G_SOURCE_REMOVE;
}

/* Inject the faults from inside the loop, so they arrive while it runs. */
static gboolean inject(gpointer data)
{
	struct serve *s = data;

	for (uint32_t i = 0; i < s->want; i++) {
		int r = mock_trigger_iopf(s->fd, s->m->idev_id, 0, i, IOMMUFD_PRQ_READ, FBASE + (uint64_t)i * SZ_4K);

		if (r) {
			CHECK_RET(r, 0, "inject fault %u", i);
			g_main_loop_quit(s->loop);
			break;
		}
	}
	return G_SOURCE_REMOVE;
}

static gboolean answer_held(gpointer data)
{
	struct serve *s = data;
	int r = iommufd_fault_queue_respond(s->q, s->held, s->nheld);

	if (r != (int)s->nheld)
		s->respond_fail++;
	else
		s->answered += s->nheld;
	s->nheld = 0;
	s->answer_pending = false;
	if (s->answered >= s->want)
		g_main_loop_quit(s->loop);
	return G_SOURCE_REMOVE;
}

static gboolean on_faults(struct iommufd_fault_queue *q, const struct iommufd_page_request *reqs, size_t n,
			  gpointer data)
{
	struct serve *s = data;
	struct iommufd_page_response resp[BATCH];

	if (!reqs) {
		s->errors++;
		g_main_loop_quit(s->loop);
		return G_SOURCE_REMOVE;
	}
	s->calls++;
	if (n > s->max_n)
		s->max_n = (unsigned int)n;
	for (size_t k = 0; k < n; k++) {
		const struct iommufd_page_request *p = &reqs[k];
		uint32_t g = p->grpid;

		if (g >= s->want || s->seen[g]) {
			s->dups++;
			continue;
		}
		s->seen[g] = 1;
		s->bad_fields += p->addr != FBASE + (uint64_t)g * SZ_4K || p->perm != IOMMUFD_PRQ_READ ||
				 p->dev != s->m->dev || p->dev_id != s->m->idev_id || !(p->flags & IOMMUFD_PRQ_LAST_PAGE);
		if (s->hold) {
			if (s->nheld < MAX_OUT)
				s->held[s->nheld++] = (struct iommufd_page_response){ p->cookie,
										       IOMMUFD_PAGE_RESPONSE_SUCCESS };
			else
				s->respond_fail++; /* the queue let more out than max_outstanding */
		} else if (k < BATCH) {
			resp[k] = (struct iommufd_page_response){ p->cookie, IOMMUFD_PAGE_RESPONSE_SUCCESS };
		}
	}
	if (s->hold) {
		/* Answer from another source of the loop, as a VMM answering
		 * after mapping would: the fault source must wait, not spin. */
		if (s->nheld == MAX_OUT && !s->answer_pending) {
			GSource *idle = g_idle_source_new();

			s->answer_pending = true;
			g_source_set_callback(idle, answer_held, s, NULL);
			g_source_attach(idle, g_main_loop_get_context(s->loop));
			g_source_unref(idle);
		}
		return G_SOURCE_CONTINUE;
	}
	if (n > BATCH || iommufd_fault_queue_respond(q, resp, n) != (int)n) {
		s->respond_fail++;
	} else {
		s->answered += (unsigned int)n;
	}
	if (s->answered >= s->want)
		g_main_loop_quit(s->loop);
	return G_SOURCE_CONTINUE;
}

/* The last held answers when fewer than MAX_OUT remain. */
static gboolean flush_held(gpointer data)
{
	struct serve *s = data;

	if (s->nheld && !s->answer_pending && s->answered + s->nheld >= s->want)
		answer_held(s);
	return G_SOURCE_CONTINUE;
}

static void serve(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, struct mock_dev *m, unsigned int nfaults,
		  uint32_t max_out, bool hold)
{
	struct iommufd_fault_queue_opts qo = { .sz = sizeof(qo), .max_outstanding = max_out };
	struct iommufd_fault_queue *q = NULL;
	struct iommufd_hwpt *h[2] = { NULL, NULL };
	struct iommufd_fault_queue_stats st = { .sz = sizeof(st) };
	GMainContext *gctx = g_main_context_new();
	struct serve *s = calloc(1, sizeof(*s));
	GSource *src, *g, *inj, *flush = NULL;

	REQUIRE(s, "memory");
	REQUIRE_RET(iommufd_fault_queue_create(ctx, &qo, &q), 0, "fault queue (max_outstanding %u)", max_out);
	mock_fault_hwpt(ctx, ioas, m, q, h);
	s->loop = g_main_loop_new(gctx, FALSE);
	s->q = q;
	s->m = m;
	s->fd = iommufd_ctx_get_fd(ctx);
	s->want = nfaults;
	s->hold = hold;

	src = iommufd_glib_fault_source_new(q, BATCH);
	REQUIRE(src, "iommufd_glib_fault_source_new (%s)", strerror(errno));
	g_source_set_callback(src, G_SOURCE_FUNC(on_faults), s, NULL);
	g_source_attach(src, gctx);
	g = g_timeout_source_new_seconds(GUARD_S);
	g_source_set_callback(g, guard, s, NULL);
	g_source_attach(g, gctx);
	inj = g_idle_source_new();
	g_source_set_callback(inj, inject, s, NULL);
	g_source_attach(inj, gctx);
	g_source_unref(inj);
	if (hold) {
		flush = g_idle_source_new();
		g_source_set_priority(flush, G_PRIORITY_LOW);
		g_source_set_callback(flush, flush_held, s, NULL);
		g_source_attach(flush, gctx);
	}

	g_main_loop_run(s->loop);

	CHECK(s->answered == nfaults && s->dups == 0,
	      "all %u faults answered once each from the loop (%u answered, %u duplicates or unknown)", nfaults,
	      s->answered, s->dups);
	CHECK(s->bad_fields == 0, "every request has the injected address, access, device handle and ID (%u differ)",
	      s->bad_fields);
	CHECK(s->max_n <= BATCH && s->calls >= 1, "batches of at most %u (largest %u, %u callbacks)", BATCH, s->max_n,
	      s->calls);
	CHECK(s->errors == 0 && s->respond_fail == 0 && iommufd_glib_source_get_error(src) == 0,
	      "no source error (%u), no refused answer (%u)", s->errors, s->respond_fail);
	CHECK_RET(iommufd_fault_queue_get_stats(q, &st), 0, "iommufd_fault_queue_get_stats");
	CHECK(st.responses == nfaults && st.outstanding == 0 && st.lost == 0,
	      "stats: responses %" PRIu64 ", outstanding %" PRIu64 ", lost %" PRIu64, st.responses, st.outstanding,
	      st.lost);
	itest_note("%u faults in %u callbacks, %" PRIu64 " read(2) calls, queue full %" PRIu64 " times", nfaults,
		   s->calls, st.reads, st.full);
	if (hold) {
		CHECK(st.full > 0, "the queue was full at least once (full %" PRIu64 ")", st.full);
		/* Each refill after an answer costs a handful of reads; a
		 * source spinning on the full queue would make thousands. */
		CHECK(st.full <= 4 * (nfaults / max_out + 1),
		      "the source did not spin on the full queue (%" PRIu64 " refused reads for %u faults)", st.full,
		      nfaults);
	}

	g_source_destroy(src);
	g_source_unref(src);
	g_source_destroy(g);
	g_source_unref(g);
	if (flush) {
		g_source_destroy(flush);
		g_source_unref(flush);
	}
	g_main_loop_unref(s->loop);
	g_main_context_unref(gctx);
	CHECK_RET(mock_replace(s->fd, m->stdev_id, (uint32_t)iommufd_ioas_get_id(ioas), NULL), 0,
		  "mock back to the IOAS");
	mock_fault_hwpt_destroy(h);
	CHECK_RET(iommufd_fault_queue_destroy(q), 0, "destroy the queue");
	free(s);
}

/* A source needs a queue (checked in the CDEV and GROUP cells). */
static void no_queue(void)
{
	errno = 0;
	CHECK(!iommufd_glib_fault_source_new(NULL, 0) && errno == EINVAL, "a source needs a queue (EINVAL)");
}

static void group_cell(struct iommufd_ctx *ctx)
{
	struct iommufd_fault_queue *q = NULL;
	int r;

	no_queue();
	r = iommufd_fault_queue_create(ctx, NULL, &q);
	CHECK(r == 0 || r == -EOPNOTSUPP, "fault queue on GROUP: created or refused as unsupported (%d)", r);
	if (r == 0) {
		GMainContext *gctx = g_main_context_new();
		GSource *src = iommufd_glib_fault_source_new(q, 0);

		REQUIRE(src, "iommufd_glib_fault_source_new on a GROUP queue (%s)", strerror(errno));
		g_source_set_callback(src, G_SOURCE_FUNC(on_faults), NULL, NULL);
		g_source_attach(src, gctx);
		CHECK(!g_main_context_iteration(gctx, FALSE), "an empty queue dispatches nothing");
		g_source_destroy(src);
		g_source_unref(src);
		g_main_context_unref(gctx);
		CHECK_RET(iommufd_fault_queue_destroy(q), 0, "destroy the queue");
	}
}

static void cdev_cell(struct iommufd_ctx *ctx)
{
	struct iommufd_ioas *ioas = NULL;
	struct mock_dev m;

	no_queue();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	mock_dev_open(ctx, ioas, 0, &m);
	serve(ctx, ioas, &m, NFAULTS, 0, false);
	serve(ctx, ioas, &m, NFULL, MAX_OUT, true);
	mock_dev_close(ctx, &m);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
}

int main(void)
{
	return feature_main("mock_glib_fault", cdev_cell, group_cell);
}
