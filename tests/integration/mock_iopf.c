/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * mock_iopf: I/O page-fault queues served through the library, with page
 * requests injected by the kernel's mock IOMMU (IOMMU_TEST_OP_TRIGGER_IOPF:
 * one request per group, the last of its group).
 *
 * CDEV: 1,000 faults (distinct group and address) read in batches and
 * answered once each; every field as injected; a second answer and a bad
 * code refused with nothing sent.  Overflow: max_outstanding 16, 100
 * faults: -ENOSPC after 16, recovery after answering, stats.full counted.
 * Closing with requests pending: some read, some not, the device moved
 * away (the kernel answers its groups), late answers counted lost, HWPT
 * and queue destroyed, and a new queue still gets the device's faults.
 * GROUP: queues exist, HWPTs do not.  TYPE1: refused (BACKEND).
 */
#include <poll.h>

#include "feature.h"

#define NFAULTS  1000u
#define BATCH    64u
#define FBASE    0x10000000ull /* faulting IOVAs: FBASE + i * 4 KiB */

static uint32_t perm_of(uint32_t i)
{
	static const uint32_t p[] = { IOMMUFD_PRQ_READ, IOMMUFD_PRQ_WRITE, IOMMUFD_PRQ_READ | IOMMUFD_PRQ_WRITE,
				      IOMMUFD_PRQ_READ | IOMMUFD_PRQ_EXEC };

	return p[i % 4];
}

static struct iommufd_fault_queue_stats stats_of(struct iommufd_fault_queue *q)
{
	struct iommufd_fault_queue_stats s;

	memset(&s, 0, sizeof(s));
	s.sz = sizeof(s);
	CHECK_RET(iommufd_fault_queue_get_stats(q, &s), 0, "iommufd_fault_queue_get_stats");
	return s;
}

static int poll_in(struct iommufd_fault_queue *q, int ms)
{
	struct pollfd p = { .fd = iommufd_fault_queue_get_fd(q), .events = POLLIN };

	if (poll(&p, 1, ms) < 0)
		return -errno;
	return !!(p.revents & POLLIN);
}

/* A queue and an HWPT of @ioas reporting to it (and on 6.12 its nesting
 * parent: mock_fault_hwpt()), the mock moved onto it. */
static void queue_hwpt(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, struct mock_dev *m, uint32_t max_out,
		       struct iommufd_fault_queue **q, struct iommufd_hwpt *h[2])
{
	struct iommufd_fault_queue_opts qo = { .sz = sizeof(qo), .max_outstanding = max_out };

	REQUIRE_RET(iommufd_fault_queue_create(ctx, &qo, q), 0, "fault queue (max_outstanding %u)", max_out);
	CHECK(iommufd_fault_queue_get_fd(*q) >= 0 && iommufd_fault_queue_get_id(*q) != 0,
	      "the queue has an fd (%d) and an ID (%u)", iommufd_fault_queue_get_fd(*q), iommufd_fault_queue_get_id(*q));
	mock_fault_hwpt(ctx, ioas, m, *q, h);
}

/* ---- 1,000 faults, answered in batches */
static void thousand(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, struct mock_dev *m)
{
	struct iommufd_page_request reqs[BATCH];
	struct iommufd_page_response resp[BATCH];
	struct iommufd_fault_queue *q = NULL;
	struct iommufd_hwpt *h[2] = { NULL, NULL };
	struct iommufd_fault_queue_stats s;
	static uint8_t seen[NFAULTS];
	unsigned int got = 0, bad_fields = 0, dup = 0, order = 0, calls = 0;
	int fd = iommufd_ctx_get_fd(ctx), r;

	queue_hwpt(ctx, ioas, m, 0, &q, h);
	CHECK_RET(iommufd_fault_queue_destroy(q), -EBUSY, "the queue cannot go while an HWPT uses it");
	CHECK(poll_in(q, 0) == 0, "the queue fd does not poll readable while empty");
	CHECK_RET(iommufd_fault_queue_read(q, reqs, BATCH), -EAGAIN, "reading an empty queue: -EAGAIN");

	for (uint32_t i = 0; i < NFAULTS; i++) {
		r = mock_trigger_iopf(fd, m->idev_id, 0, i, perm_of(i), FBASE + (uint64_t)i * SZ_4K);
		if (r) {
			CHECK_RET(r, 0, "inject fault %u", i);
			break;
		}
	}
	CHECK(poll_in(q, 1000) == 1, "with requests waiting the queue fd polls readable");

	while (got < NFAULTS) {
		int n = iommufd_fault_queue_read(q, reqs, BATCH);

		calls++;
		if (n == -EAGAIN && poll_in(q, 2000) == 1)
			continue;
		if (!CHECK(n > 0 && n <= (int)BATCH, "read a batch (got %d after %u requests)", n, got))
			break;
		for (int k = 0; k < n; k++) {
			const struct iommufd_page_request *p = &reqs[k];
			uint32_t g = p->grpid;

			if (g >= NFAULTS || seen[g]) {
				dup++;
				continue;
			}
			seen[g] = 1;
			order += g != got + (uint32_t)k;
			bad_fields += p->addr != FBASE + (uint64_t)g * SZ_4K || p->perm != perm_of(g) ||
				      p->dev != m->dev || p->dev_id != m->idev_id ||
				      (p->flags & IOMMUFD_PRQ_PASID_VALID) || !(p->flags & IOMMUFD_PRQ_LAST_PAGE);
			resp[k].cookie = p->cookie;
			resp[k].code = (g % 7) ? IOMMUFD_PAGE_RESPONSE_SUCCESS : IOMMUFD_PAGE_RESPONSE_INVALID;
		}
		r = iommufd_fault_queue_respond(q, resp, (size_t)n);
		if (!CHECK_RET(r, n, "answer the batch of %d in one call", n))
			break;
		if (got == 0) {
			/* A second answer to a cookie, and a bad code: refused,
			 * nothing sent. */
			struct iommufd_fault_queue_stats before = stats_of(q);
			struct iommufd_page_response twice = { resp[0].cookie, IOMMUFD_PAGE_RESPONSE_SUCCESS };

			CHECK_RET(iommufd_fault_queue_respond(q, &twice, 1), -EINVAL, "a second answer to cookie %u",
				  twice.cookie);
			s = stats_of(q);
			CHECK(s.responses == before.responses, "... sends nothing (responses %" PRIu64 ")", s.responses);
		}
		got += (unsigned int)n;
	}
	CHECK(got == NFAULTS && dup == 0, "all %u faults read once each (%u read, %u duplicates or unknown)", NFAULTS,
	      got, dup);
	CHECK(bad_fields == 0, "every request has the injected address, permissions, device handle and ID, LAST_PAGE and no PASID (%u differ)",
	      bad_fields);
	CHECK(order == 0, "requests come in injection order (%u out of place)", order);
	s = stats_of(q);
	CHECK(s.requests == NFAULTS && s.groups == NFAULTS && s.responses == NFAULTS && s.outstanding == 0 &&
		      s.lost == 0 && s.full == 0,
	      "stats: requests %" PRIu64 ", groups %" PRIu64 ", responses %" PRIu64 ", outstanding %" PRIu64
	      ", lost %" PRIu64 ", full %" PRIu64,
	      s.requests, s.groups, s.responses, s.outstanding, s.lost, s.full);
	itest_note("%u requests in %" PRIu64 " read(2) calls (%.1f per read), %u library reads of up to %u", NFAULTS,
		   s.reads, s.reads ? (double)NFAULTS / (double)s.reads : 0.0, calls, BATCH);
	CHECK(s.reads >= 1 && s.reads * 10 <= NFAULTS, "batched: %" PRIu64 " read(2) calls for %u requests", s.reads,
	      NFAULTS);
	{
		struct iommufd_page_response bad = { 12345, 7 };

		CHECK_RET(iommufd_fault_queue_respond(q, &bad, 1), -EINVAL, "an unknown cookie with a bad code");
	}
	CHECK_RET(iommufd_fault_queue_read(q, reqs, BATCH), -EAGAIN, "the queue is empty afterwards");

	CHECK_RET(mock_replace(fd, m->stdev_id, (uint32_t)iommufd_ioas_get_id(ioas), NULL), 0, "mock back to the IOAS");
	mock_fault_hwpt_destroy(h);
	CHECK_RET(iommufd_fault_queue_destroy(q), 0, "destroy the queue");
}

/* ---- max_outstanding 16, 100 faults */
static void overflow(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, struct mock_dev *m)
{
	struct iommufd_page_request reqs[8];
	struct iommufd_page_response resp[16];
	struct iommufd_fault_queue *q = NULL;
	struct iommufd_hwpt *h[2] = { NULL, NULL };
	struct iommufd_fault_queue_stats s;
	unsigned int held = 0, total = 0, rounds = 0;
	int fd = iommufd_ctx_get_fd(ctx), n;

	queue_hwpt(ctx, ioas, m, 16, &q, h);
	for (uint32_t i = 0; i < 100; i++)
		if (mock_trigger_iopf(fd, m->idev_id, 0, i, IOMMUFD_PRQ_READ, FBASE + (uint64_t)i * SZ_4K)) {
			CHECK(false, "inject fault %u: %s", i, strerror(errno));
			break;
		}
	while ((n = iommufd_fault_queue_read(q, reqs, 8)) > 0 && held < 16)
		for (int k = 0; k < n && held < 16; k++)
			resp[held++] = (struct iommufd_page_response){ reqs[k].cookie, IOMMUFD_PAGE_RESPONSE_SUCCESS };
	CHECK(held == 16, "16 groups read before the queue is full (%u)", held);
	CHECK_RET(n, -ENOSPC, "the 17th group is refused: the queue is full");
	CHECK_RET(iommufd_fault_queue_read(q, reqs, 8), -ENOSPC, "and stays full until answers come");
	s = stats_of(q);
	CHECK(s.full > 0 && s.outstanding == 16, "stats: full %" PRIu64 " > 0, outstanding %" PRIu64 " == 16", s.full,
	      s.outstanding);
	CHECK_RET(iommufd_fault_queue_respond(q, resp, 16), 16, "answer the 16");
	total = 16;
	/* Recovery: the rest comes, answered as it comes. */
	while (total < 100 && rounds++ < 1000) {
		n = iommufd_fault_queue_read(q, reqs, 8);
		if (n == -EAGAIN && poll_in(q, 2000) == 1)
			continue;
		if (!CHECK(n > 0, "read after recovery (got %d at %u)", n, total))
			break;
		for (int k = 0; k < n; k++)
			resp[k] = (struct iommufd_page_response){ reqs[k].cookie, IOMMUFD_PAGE_RESPONSE_SUCCESS };
		if (!CHECK_RET(iommufd_fault_queue_respond(q, resp, (size_t)n), n, "answer %d", n))
			break;
		total += (unsigned int)n;
	}
	CHECK(total == 100, "after answering, all 100 faults were read (%u)", total);
	s = stats_of(q);
	CHECK(s.requests == 100 && s.responses == 100 && s.outstanding == 0 && s.full > 0,
	      "stats: requests %" PRIu64 ", responses %" PRIu64 ", outstanding %" PRIu64 ", full %" PRIu64, s.requests,
	      s.responses, s.outstanding, s.full);
	CHECK_RET(mock_replace(fd, m->stdev_id, (uint32_t)iommufd_ioas_get_id(ioas), NULL), 0, "mock back to the IOAS");
	mock_fault_hwpt_destroy(h);
	CHECK_RET(iommufd_fault_queue_destroy(q), 0, "destroy the queue");
}

/* ---- close with requests pending, then a new queue still works */
static void pending(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, struct mock_dev *m)
{
	struct iommufd_page_request reqs[16];
	struct iommufd_page_response late[16];
	struct iommufd_fault_queue *q = NULL;
	struct iommufd_hwpt *h[2] = { NULL, NULL };
	struct iommufd_fault_queue_stats s;
	int fd = iommufd_ctx_get_fd(ctx), n, nlate = 0;

	queue_hwpt(ctx, ioas, m, 0, &q, h);
	for (uint32_t i = 0; i < 10; i++)
		CHECK_RET(mock_trigger_iopf(fd, m->idev_id, 0, 500 + i, IOMMUFD_PRQ_WRITE, FBASE + (uint64_t)i * SZ_4K), 0,
			  "inject fault %u", i);
	n = iommufd_fault_queue_read(q, reqs, 4);
	CHECK_RET(n, 4, "read 4 of the 10, leave 6 unread");
	for (int k = 0; k < n; k++)
		late[nlate++] = (struct iommufd_page_response){ reqs[k].cookie, IOMMUFD_PAGE_RESPONSE_SUCCESS };
	CHECK_RET(mock_replace(fd, m->stdev_id, (uint32_t)iommufd_ioas_get_id(ioas), NULL), 0,
		  "move the mock device back to the IOAS with 10 groups unanswered");
	/* What the library had taken from the kernel may still be handed out;
	 * the kernel has answered all of it. */
	while (nlate < 16 && (n = iommufd_fault_queue_read(q, reqs, 1)) == 1)
		late[nlate++] = (struct iommufd_page_response){ reqs[0].cookie, IOMMUFD_PAGE_RESPONSE_SUCCESS };
	itest_note("%d groups answered late (4 read before the move, %d after)", nlate, nlate - 4);
	CHECK_RET(iommufd_fault_queue_respond(q, late, (size_t)nlate), nlate,
		  "late answers are not an error (the kernel answered them already)");
	s = stats_of(q);
	CHECK(s.lost == (uint64_t)nlate && s.responses == 0 && s.outstanding == 0,
	      "stats: lost %" PRIu64 " == %d, responses %" PRIu64 " == 0, outstanding %" PRIu64 " == 0", s.lost, nlate,
	      s.responses, s.outstanding);
	mock_fault_hwpt_destroy(h);
	CHECK_RET(iommufd_fault_queue_destroy(q), 0, "destroy the queue with nothing answered by the caller");

	/* The device is not hung: a new queue gets its faults. */
	queue_hwpt(ctx, ioas, m, 0, &q, h);
	CHECK_RET(mock_trigger_iopf(fd, m->idev_id, 0, 7, IOMMUFD_PRQ_READ, FBASE + 0x5000), 0, "inject one fault");
	CHECK(poll_in(q, 2000) == 1, "the new queue polls readable");
	n = iommufd_fault_queue_read(q, reqs, 16);
	CHECK(n == 1 && reqs[0].grpid == 7 && reqs[0].addr == FBASE + 0x5000 && reqs[0].dev == m->dev,
	      "the new queue gets the fault (n %d, group %u, addr 0x%" PRIx64 ")", n, n > 0 ? reqs[0].grpid : 0,
	      n > 0 ? reqs[0].addr : 0);
	if (n == 1) {
		struct iommufd_page_response r1 = { reqs[0].cookie, IOMMUFD_PAGE_RESPONSE_SUCCESS };

		CHECK_RET(iommufd_fault_queue_respond(q, &r1, 1), 1, "and its answer is accepted");
	}
	CHECK_RET(mock_replace(fd, m->stdev_id, (uint32_t)iommufd_ioas_get_id(ioas), NULL), 0, "mock back to the IOAS");
	mock_fault_hwpt_destroy(h);
	CHECK_RET(iommufd_fault_queue_destroy(q), 0, "destroy the queue");
}

static void group_cell(struct iommufd_ctx *ctx)
{
	struct iommufd_feature_status st;
	struct iommufd_fault_queue *q = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_hwpt *h = NULL;
	struct iommufd_page_request req;
	struct mock_dev m;
	int qs, r;

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	mock_dev_open(ctx, ioas, 0, &m);
	/* The header refuses queues on TYPE1 only; the query must agree with
	 * what create does. */
	qs = feature_get(ctx, NULL, IOMMUFD_FEATURE_FAULT_QUEUE, &st, "FAULT_QUEUE");
	r = iommufd_fault_queue_create(ctx, NULL, &q);
	CHECK(qs == 1 ? r == 0 : r == -EOPNOTSUPP, "fault queue create (%d) agrees with the query (%d)", r, qs);
	if (r == 0) {
		struct iommufd_hwpt_opts o = { .sz = sizeof(o), .fault = q };

		CHECK_RET(iommufd_fault_queue_read(q, &req, 1), -EAGAIN, "the empty queue reads -EAGAIN");
		feature_check_refused(iommufd_hwpt_create(m.dev, ioas, &o, &h), ctx, m.dev, IOMMUFD_FEATURE_HWPT,
				      R_BIT(IOMMUFD_REASON_BACKEND), "HWPT", "a fault-reporting HWPT on GROUP");
		CHECK_RET(iommufd_fault_queue_destroy(q), 0, "destroy the queue");
	}
	mock_dev_close(ctx, &m);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
}

static void cdev_cell(struct iommufd_ctx *ctx)
{
	struct iommufd_feature_status st;
	struct iommufd_ioas *ioas = NULL;
	struct mock_dev m;

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	mock_dev_open(ctx, ioas, 0, &m);
	CHECK(feature_get(ctx, NULL, IOMMUFD_FEATURE_FAULT_QUEUE, &st, "FAULT_QUEUE") == 1,
	      "fault queues are supported on CDEV (7.3)");
	thousand(ctx, ioas, &m);
	overflow(ctx, ioas, &m);
	pending(ctx, ioas, &m);
	mock_dev_close(ctx, &m);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
}

int main(void)
{
	return feature_main("mock_iopf", cdev_cell, group_cell);
}
