/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * I/O page-fault queues on the fake kernel: batching, whole groups,
 * a full queue, response validation, groups the kernel answered itself,
 * destruction with requests pending, injected and malformed kernel
 * answers, the fork rule, and concurrent readers and a responder.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "kabi.h"
#include "fake-kernel.h"

#define REQS 8192

struct t {
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev, *dev2; /* FK_DEV_A, FK_DEV_B */
	struct iommufd_fault_queue *q;
	struct iommufd_hwpt *h;            /* the library's HWPT with the queue */
	struct fk_logcap cap;
	struct iommufd_page_request *reqs; /* REQS of them */
};

static const struct ifd_sys *sys_of(struct t *t)
{
	return t->ctx->sys;
}

static uint32_t dev_id(struct iommufd_device *dev)
{
	int64_t id = iommufd_device_get_id(dev);

	assert_true(id > 0);
	return (uint32_t)id;
}

/* An HWPT of t->ioas delivering its faults to @q, made with raw ioctls
 * behind the library's back. */
static uint32_t raw_hwpt(struct t *t, struct iommufd_device *dev, struct iommufd_fault_queue *q)
{
	struct ifd_k_hwpt_alloc a = {
		.size = sizeof(a),
		.flags = IFD_K_IOMMU_HWPT_FAULT_ID_VALID,
		.dev_id = dev_id(dev),
		.pt_id = (uint32_t)iommufd_ioas_get_id(t->ioas),
		.fault_id = iommufd_fault_queue_get_id(q),
	};

	assert_int_equal(sys_of(t)->ioctl(t->ctx->fd, IFD_K_IOMMU_HWPT_ALLOC, &a), 0);
	assert_true(a.out_hwpt_id != 0);
	return a.out_hwpt_id;
}

static void raw_attach(struct t *t, struct iommufd_device *dev, uint32_t pt_id)
{
	struct ifd_k_vfio_device_attach_iommufd_pt at = {
		.argsz = IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_BASE,
		.pt_id = pt_id,
	};

	assert_int_equal(sys_of(t)->ioctl(iommufd_device_get_fd(dev), IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), 0);
}

static void raw_destroy(struct t *t, uint32_t id)
{
	struct ifd_k_destroy d = { .size = sizeof(d), .id = id };

	assert_int_equal(sys_of(t)->ioctl(t->ctx->fd, IFD_K_IOMMU_DESTROY, &d), 0);
}

static int setup_opts(void **state, const struct iommufd_fault_queue_opts *o)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	fk_logcap_init(&t->cap);
	t->reqs = calloc(REQS, sizeof(*t->reqs));
	assert_non_null(t->reqs);
	t->fk = fk_standard(FK_LINUX_7_3);
	assert_int_equal(fk_ctx_create(t->fk, IOMMUFD_BACKEND_CDEV, &t->cap, &t->ctx), 0);
	assert_int_equal(iommufd_ioas_create(t->ctx, &t->ioas), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &t->dev), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &t->dev2), 0);
	assert_int_equal(iommufd_fault_queue_create(t->ctx, o, &t->q), 0);
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas,
					     &(struct iommufd_hwpt_opts){ .sz = sizeof(struct iommufd_hwpt_opts),
									  .fault = t->q }, &t->h), 0);
	assert_int_equal(iommufd_device_attach_hwpt(t->dev, t->h), 0);
	assert_int_equal(iommufd_device_attach_hwpt(t->dev2, t->h), 0);
	fk_logcap_clear(&t->cap);
	fake_kernel_log_clear(t->fk);
	*state = t;
	return 0;
}

static int setup(void **state)
{
	return setup_opts(state, NULL);
}

static int setup_small(void **state)
{
	struct iommufd_fault_queue_opts o = { .sz = sizeof(o), .max_outstanding = 4 };

	return setup_opts(state, &o);
}

static int teardown(void **state)
{
	struct t *t = *state;
	int fds, files;

	/* Devices, then HWPTs, then the queue (the context's order). */
	iommufd_ctx_destroy(t->ctx);
	fds = fake_kernel_open_fds(t->fk);
	files = fake_kernel_live_files(t->fk);
	fake_kernel_destroy(t->fk);
	fk_logcap_free(&t->cap);
	free(t->reqs);
	free(t);
	assert_int_equal(fds, 0);
	assert_int_equal(files, 0);
	return 0;
}

static void trigger(struct t *t, const char *dev, uint32_t grpid, uint64_t addr, bool last)
{
	assert_int_equal(fake_kernel_trigger_iopf(t->fk, dev, false, 0, grpid, IOMMUFD_PRQ_READ, addr, last), 0);
}

/* @n single-request groups from FK_DEV_A, grpid @first.. */
static void trigger_n(struct t *t, uint32_t first, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		trigger(t, FK_DEV_A, first + i, 0x100000ull + 0x1000ull * (first + i), true);
}

static struct iommufd_fault_queue_stats stats(struct t *t)
{
	struct iommufd_fault_queue_stats s = { .sz = sizeof(s) };

	assert_int_equal(iommufd_fault_queue_get_stats(t->q, &s), 0);
	return s;
}

static size_t kernel_reads(struct t *t)
{
	char label[32];

	snprintf(label, sizeof(label), "fault/%u", iommufd_fault_queue_get_id(t->q));
	return fake_kernel_log_find(t->fk, "read", label);
}

static size_t kernel_writes(struct t *t)
{
	char label[32];

	snprintf(label, sizeof(label), "fault/%u", iommufd_fault_queue_get_id(t->q));
	return fake_kernel_log_find(t->fk, "write", label);
}

static void pending(struct t *t, unsigned int unread, unsigned int unanswered)
{
	unsigned int a = ~0u, b = ~0u;

	assert_int_equal(fake_kernel_fault_pending(t->fk, t->ctx->fd, iommufd_fault_queue_get_id(t->q), &a, &b), 0);
	assert_int_equal(a, unread);
	assert_int_equal(b, unanswered);
}

static size_t responses(struct t *t, const char *dev, struct fk_iopf_resp *out, size_t max)
{
	return fake_kernel_iopf_responses(t->fk, dev, out, max);
}

/* Answer every group among @n records with @code. */
static int respond_all(struct t *t, const struct iommufd_page_request *r, size_t n, uint32_t code)
{
	struct iommufd_page_response resp[256];
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (r[i].flags & IOMMUFD_PRQ_LAST_PAGE) {
			assert_true(k < 256);
			resp[k++] = (struct iommufd_page_response){ r[i].cookie, code };
		}
	return iommufd_fault_queue_respond(t->q, resp, k);
}

/* Destroy @q: its fd is closed first (it holds the object), then the
 * object goes. */
static void expect_destroy_trace(struct t *t, struct iommufd_fault_queue *q)
{
	char c[32], d[48];
	uint32_t id = iommufd_fault_queue_get_id(q);

	snprintf(c, sizeof(c), "close fault/%u", id);
	snprintf(d, sizeof(d), "ioctl iommufd IOMMU_DESTROY %u", id);
	assert_int_equal(iommufd_fault_queue_destroy(q), 0);
	fk_expect_trace(t->fk, c, d);
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */

static void test_create_and_accessors(void **state)
{
	struct t *t = *state;
	struct iommufd_fault_queue *q = NULL;
	struct iommufd_fault_queue_opts o = { .sz = sizeof(o) };
	struct { struct iommufd_fault_queue_opts o; uint32_t future; } big = { { sizeof(big), 0 }, 1 };
	struct iommufd_fault_queue_stats s = { .sz = sizeof(s) };
	int fds = fake_kernel_open_fds(t->fk);

	assert_true(iommufd_fault_queue_get_fd(t->q) >= FK_FD_BASE);
	assert_true(iommufd_fault_queue_get_id(t->q) != 0);
	assert_int_equal(iommufd_fault_queue_get_fd(NULL), -EINVAL);
	assert_int_equal(iommufd_fault_queue_get_id(NULL), 0);

	/* bad arguments: -EINVAL, nothing reaches the kernel */
	assert_int_equal(iommufd_fault_queue_create(NULL, NULL, &q), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(iommufd_fault_queue_create(t->ctx, NULL, NULL), -EINVAL);
	o.sz = 2;
	assert_int_equal(iommufd_fault_queue_create(t->ctx, &o, &q), -EINVAL);
	assert_int_equal(iommufd_fault_queue_create(t->ctx, &big.o, &q), -EINVAL);
	o = (struct iommufd_fault_queue_opts){ .sz = sizeof(o), .max_outstanding = (1u << 20) + 1 };
	assert_int_equal(iommufd_fault_queue_create(t->ctx, &o, &q), -EINVAL);
	assert_null(q);
	assert_int_equal(fake_kernel_log_count(t->fk), 0);

	/* a second queue: its own object and fd, closed and destroyed */
	o.max_outstanding = 1u << 20;
	assert_int_equal(iommufd_fault_queue_create(t->ctx, &o, &q), 0);
	assert_int_equal(fake_kernel_open_fds(t->fk), fds + 1);
	assert_true(iommufd_fault_queue_get_id(q) != iommufd_fault_queue_get_id(t->q));
	assert_int_equal(iommufd_fault_queue_get_stats(q, &s), 0);
	assert_int_equal(s.outstanding + s.requests + s.reads, 0);
	s.sz = 1;
	assert_int_equal(iommufd_fault_queue_get_stats(q, &s), -EINVAL);
	assert_int_equal(iommufd_fault_queue_get_stats(q, NULL), -EINVAL);
	fake_kernel_log_clear(t->fk);
	expect_destroy_trace(t, q);
	assert_int_equal(fake_kernel_open_fds(t->fk), fds);
	assert_int_equal(iommufd_fault_queue_destroy(NULL), 0);
}

static void test_unsupported(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .iommufd_max_cmd = 0x8d }; /* 6.8 */
	struct fk_logcap cap;
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_fault_queue *q = NULL;

	(void)state;
	fk_logcap_init(&cap);
	/* TYPE1: no iommufd at all */
	fk = fk_standard(FK_LINUX_7_3);
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_TYPE1, &cap, &ctx), 0);
	assert_int_equal(iommufd_fault_queue_create(ctx, NULL, &q), -EOPNOTSUPP);
	assert_null(q);
	assert_true(fk_logcap_has(&cap, "type1 backend"));
	assert_true(fk_logcap_has(&cap, "cdev backend"));
	iommufd_ctx_destroy(ctx);
	/* GROUP: the iommufd has fault queues (HWPTs are CDEV's) */
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_GROUP, &cap, &ctx), 0);
	assert_int_equal(iommufd_fault_queue_create(ctx, NULL, &q), 0);
	assert_int_equal(iommufd_fault_queue_destroy(q), 0);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);

	/* a kernel before 6.11 */
	fk_logcap_clear(&cap);
	fk = fake_kernel_create(&cfg);
	fake_kernel_add_device(fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = FK_GROUP_A });
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_CDEV, &cap, &ctx), 0);
	q = NULL;
	assert_int_equal(iommufd_fault_queue_create(ctx, NULL, &q), -EOPNOTSUPP);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_null(q);
	assert_true(fk_logcap_has(&cap, "IOMMU_FAULT_QUEUE_ALLOC"));
	assert_true(fk_logcap_has(&cap, "6.11"));
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
	fk_logcap_free(&cap);
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */

static void test_empty_is_eagain(void **state)
{
	struct t *t = *state;

	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), -EAGAIN);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(kernel_reads(t), 1);
	assert_int_equal(iommufd_fault_queue_read(t->q, NULL, 16), -EINVAL);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 0), -EINVAL);
	assert_int_equal(iommufd_fault_queue_read(NULL, t->reqs, 1), -EINVAL);
	assert_int_equal(kernel_reads(t), 1);
}

static void test_batching(void **state)
{
	struct t *t = *state;
	struct iommufd_fault_queue_stats s;
	struct fk_iopf_resp got[256];
	int n;

	/* 50 groups: one read(2) brings them all */
	trigger_n(t, 0, 50);
	n = iommufd_fault_queue_read(t->q, t->reqs, 256);
	assert_int_equal(n, 50);
	assert_int_equal(kernel_reads(t), 1);
	for (int i = 0; i < n; i++) {
		assert_int_equal(t->reqs[i].grpid, (uint32_t)i); /* arrival order */
		assert_int_equal(t->reqs[i].addr, 0x100000ull + 0x1000ull * i);
		assert_int_equal(t->reqs[i].perm, IOMMUFD_PRQ_READ);
		assert_int_equal(t->reqs[i].flags, IOMMUFD_PRQ_LAST_PAGE);
		assert_int_equal(t->reqs[i].dev_id, dev_id(t->dev));
		assert_ptr_equal(t->reqs[i].dev, t->dev);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(t->reqs[i].cookie, t->reqs[j].cookie);
	}
	pending(t, 0, 50);
	s = stats(t);
	assert_int_equal(s.requests, 50);
	assert_int_equal(s.groups, 50);
	assert_int_equal(s.reads, 1);
	assert_int_equal(s.outstanding, 50);
	assert_int_equal(respond_all(t, t->reqs, 50, IOMMUFD_PAGE_RESPONSE_SUCCESS), 50);
	assert_int_equal(kernel_writes(t), 1); /* one write(2) for all */
	pending(t, 0, 0);
	assert_int_equal(responses(t, FK_DEV_A, got, 256), 50);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(got[i].code, 0);
		assert_false(got[i].automatic);
	}

	/* 200 more: the 64-record buffer takes 64 per read(2) */
	fake_kernel_log_clear(t->fk);
	trigger_n(t, 100, 200);
	for (int done = 0; done < 200; done += n) {
		n = iommufd_fault_queue_read(t->q, t->reqs, 256);
		assert_int_equal(n, done + 64 <= 200 ? 64 : 200 - done);
		assert_int_equal(t->reqs[0].grpid, 100u + (uint32_t)done);
		assert_int_equal(respond_all(t, t->reqs, (size_t)n, IOMMUFD_PAGE_RESPONSE_SUCCESS), n);
	}
	assert_int_equal(kernel_reads(t), 4);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 256), -EAGAIN);
	s = stats(t);
	assert_int_equal(s.requests, 250);
	assert_int_equal(s.responses, 250);
	assert_int_equal(s.reads, 6);
	assert_int_equal(s.outstanding, 0);
	assert_int_equal(s.lost + s.full, 0);
}

static void test_groups(void **state)
{
	struct t *t = *state;
	struct fk_iopf_resp got[8];
	uint32_t c0, c1;

	/* two interleaved three-request groups of one device, and a PASID-less
	 * single one of another: each group's records consecutive, one cookie,
	 * LAST_PAGE only on its last */
	trigger(t, FK_DEV_A, 7, 0x1000, false);
	trigger(t, FK_DEV_A, 9, 0x9000, false);
	trigger(t, FK_DEV_A, 7, 0x2000, false);
	trigger(t, FK_DEV_A, 9, 0xa000, true);
	trigger(t, FK_DEV_B, 7, 0x5000, true);
	trigger(t, FK_DEV_A, 7, 0x3000, true);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 64), 6);
	assert_int_equal(kernel_reads(t), 1);
	/* group 9 (dev A) completed first, then dev B's, then group 7 */
	assert_int_equal(t->reqs[0].grpid, 9);
	assert_int_equal(t->reqs[1].grpid, 9);
	assert_int_equal(t->reqs[0].flags, 0);
	assert_int_equal(t->reqs[1].flags, IOMMUFD_PRQ_LAST_PAGE);
	assert_int_equal(t->reqs[0].cookie, t->reqs[1].cookie);
	assert_ptr_equal(t->reqs[2].dev, t->dev2);
	assert_int_equal(t->reqs[2].dev_id, dev_id(t->dev2));
	assert_int_equal(t->reqs[2].flags, IOMMUFD_PRQ_LAST_PAGE);
	for (int i = 3; i < 6; i++) {
		assert_int_equal(t->reqs[i].grpid, 7);
		assert_int_equal(t->reqs[i].addr, 0x1000ull * (uint64_t)(i - 2));
		assert_int_equal(t->reqs[i].cookie, t->reqs[3].cookie);
		assert_int_equal(t->reqs[i].flags, i == 5 ? IOMMUFD_PRQ_LAST_PAGE : 0);
		assert_ptr_equal(t->reqs[i].dev, t->dev);
	}
	c0 = t->reqs[0].cookie;
	c1 = t->reqs[3].cookie;
	assert_int_not_equal(c0, c1);
	assert_int_not_equal(c0, t->reqs[2].cookie);
	assert_int_equal(stats(t).groups, 3);
	assert_int_equal(stats(t).outstanding, 3);
	/* answer group 7 INVALID, group 9 SUCCESS: one answer per group */
	assert_int_equal(iommufd_fault_queue_respond(t->q,
		(struct iommufd_page_response[]){ { c1, IOMMUFD_PAGE_RESPONSE_INVALID }, { c0, 0 } }, 2), 2);
	assert_int_equal(responses(t, FK_DEV_A, got, 8), 2);
	assert_int_equal(got[0].grpid, 7);
	assert_int_equal(got[0].code, 1);
	assert_int_equal(got[1].grpid, 9);
	assert_int_equal(got[1].code, 0);

	/* PASID requests report the PASID */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_fault_queue_respond(t->q,
		(struct iommufd_page_response[]){ { t->reqs[2].cookie, 0 } }, 1), 1);
	assert_int_equal(stats(t).outstanding, 0);
}

static void test_groups_across_calls(void **state)
{
	struct t *t = *state;

	/* groups of 3: a caller array of 5 takes one group per call, and
	 * asks the kernel for no more than it can take */
	for (uint32_t g = 0; g < 3; g++) {
		trigger(t, FK_DEV_A, g, 0x1000, false);
		trigger(t, FK_DEV_A, g, 0x2000, false);
		trigger(t, FK_DEV_A, g, 0x3000, true);
	}
	for (uint32_t g = 0; g < 3; g++) {
		assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 5), 3);
		assert_int_equal(t->reqs[0].grpid, g);
		assert_int_equal(t->reqs[2].flags, IOMMUFD_PRQ_LAST_PAGE);
		pending(t, 2 - g, g + 1); /* nothing held back in the library */
	}
	assert_int_equal(kernel_reads(t), 3);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 5), -EAGAIN);

	/* a group larger than the caller's array: -EMSGSIZE, kept for the
	 * next call with a larger one (no second kernel read) */
	fake_kernel_log_clear(t->fk);
	for (uint32_t i = 0; i < 5; i++)
		trigger(t, FK_DEV_B, 40, 0x1000ull * i, i == 4);
	trigger(t, FK_DEV_B, 41, 0x8000, true);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 3), -EMSGSIZE);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(kernel_reads(t), 2); /* 3 records: -EINVAL; then the buffer */
	pending(t, 0, 5);
	assert_int_equal(stats(t).outstanding, 3); /* not handed out: not outstanding */
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 3), -EMSGSIZE);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 6), 6);
	assert_int_equal(kernel_reads(t), 2);
	assert_int_equal(t->reqs[4].grpid, 40);
	assert_int_equal(t->reqs[4].flags, IOMMUFD_PRQ_LAST_PAGE);
	assert_int_equal(t->reqs[5].grpid, 41);
	assert_int_equal(stats(t).outstanding, 5);
}

static void test_big_group(void **state)
{
	struct t *t = *state;
	int n;

	/* 300 records in one group: the buffer grows (64, 128, 256, 512) */
	for (uint32_t i = 0; i < 300; i++)
		trigger(t, FK_DEV_A, 3, 0x1000ull * i, i == 299);
	n = iommufd_fault_queue_read(t->q, t->reqs, REQS);
	assert_int_equal(n, 300);
	assert_int_equal(kernel_reads(t), 4);
	for (int i = 0; i < n; i++)
		assert_int_equal(t->reqs[i].cookie, t->reqs[0].cookie);
	assert_int_equal(respond_all(t, t->reqs, (size_t)n, IOMMUFD_PAGE_RESPONSE_SUCCESS), 1);

	/* beyond the 4096-record cap: -EOVERFLOW, logged, the group stays */
	fk_logcap_clear(&t->cap);
	fake_kernel_log_clear(t->fk);
	for (uint32_t i = 0; i < 4097; i++)
		trigger(t, FK_DEV_A, 4, 0x1000ull * i, i == 4096);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, REQS), -EOVERFLOW);
	assert_true(fk_logcap_has(&t->cap, "exceeds 4096"));
	pending(t, 1, 0);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, REQS), -EOVERFLOW);
	/* what the device's detach does to it: answered by the kernel */
	assert_int_equal(iommufd_device_attach(t->dev, t->ioas), 0);
	pending(t, 0, 0);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, REQS), -EAGAIN);
}

/* ------------------------------------------------------------------------ */
/* A full queue                                                             */

static void test_full(void **state)
{
	struct t *t = *state;
	uint32_t cookies[4];
	struct iommufd_fault_queue_stats s;

	trigger_n(t, 0, 6);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 1), 1);
		cookies[i] = t->reqs[0].cookie;
	}
	fk_logcap_clear(&t->cap);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 1), -ENOSPC);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), -ENOSPC);
	assert_int_equal(kernel_reads(t), 0); /* nothing taken from the kernel */
	assert_int_equal(t->cap.count, 1);    /* logged once per episode */
	assert_true(fk_logcap_has(&t->cap, "is full"));
	assert_true(fk_logcap_has(&t->cap, "max_outstanding"));
	s = stats(t);
	assert_int_equal(s.full, 2);
	assert_int_equal(s.outstanding, 4);
	pending(t, 2, 4);

	/* answering one makes room for one */
	assert_int_equal(iommufd_fault_queue_respond(t->q, &(struct iommufd_page_response){ cookies[0], 0 }, 1), 1);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), 1);
	assert_int_equal(t->reqs[0].grpid, 4);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), -ENOSPC);
	assert_int_equal(t->cap.count, 2); /* a new episode */
	assert_int_equal(iommufd_fault_queue_respond(t->q,
		(struct iommufd_page_response[]){ { cookies[1], 0 }, { cookies[2], 0 }, { cookies[3], 0 },
						  { t->reqs[0].cookie, 0 } }, 4), 4);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), 1);
	assert_int_equal(t->reqs[0].grpid, 5);
	assert_int_equal(stats(t).full, 3);
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                */

static void test_respond_validation(void **state)
{
	struct t *t = *state;
	struct fk_iopf_resp got[4];
	uint32_t a, b;

	trigger_n(t, 0, 2);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), 2);
	a = t->reqs[0].cookie;
	b = t->reqs[1].cookie;
	fake_kernel_log_clear(t->fk);
	fk_logcap_clear(&t->cap);
	/* each bad answer: -EINVAL, nothing written, both groups outstanding */
	assert_int_equal(iommufd_fault_queue_respond(t->q,
		(struct iommufd_page_response[]){ { a, 0 }, { b + a + 100, 0 } }, 2), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_true(fk_logcap_has(&t->cap, "nothing sent"));
	assert_int_equal(iommufd_fault_queue_respond(t->q,
		(struct iommufd_page_response[]){ { a, 0 }, { b, 2 } }, 2), -EINVAL);
	assert_int_equal(iommufd_fault_queue_respond(t->q,
		(struct iommufd_page_response[]){ { a, 0 }, { a, 1 } }, 2), -EINVAL);
	assert_int_equal(iommufd_fault_queue_respond(t->q, NULL, 1), -EINVAL);
	assert_int_equal(iommufd_fault_queue_respond(NULL, &(struct iommufd_page_response){ a, 0 }, 1), -EINVAL);
	assert_int_equal(iommufd_fault_queue_respond(t->q, NULL, 0), 0);
	assert_int_equal(kernel_writes(t), 0);
	assert_int_equal(stats(t).outstanding, 2);
	pending(t, 0, 2);
	/* the validation left no mark behind: the same cookies now go */
	assert_int_equal(iommufd_fault_queue_respond(t->q,
		(struct iommufd_page_response[]){ { b, 1 }, { a, 0 } }, 2), 2);
	assert_int_equal(kernel_writes(t), 1);
	assert_int_equal(responses(t, FK_DEV_A, got, 4), 2);
	assert_int_equal(got[0].grpid, 1);
	assert_int_equal(got[0].code, 1);
	/* answered once: a second answer is refused */
	assert_int_equal(iommufd_fault_queue_respond(t->q, &(struct iommufd_page_response){ a, 0 }, 1), -EINVAL);
	assert_int_equal(kernel_writes(t), 1);
	assert_int_equal(stats(t).responses, 2);
}

static void test_respond_many(void **state)
{
	struct t *t = *state;
	struct iommufd_page_response resp[200];

	/* more answers than the stack buffer: still one write(2) */
	trigger_n(t, 0, 200);
	for (int got = 0; got < 200;) {
		int n = iommufd_fault_queue_read(t->q, t->reqs + got, 64);

		assert_true(n > 0);
		got += n;
	}
	for (int i = 0; i < 200; i++)
		resp[i] = (struct iommufd_page_response){ t->reqs[i].cookie, 0 };
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_fault_queue_respond(t->q, resp, 200), 200);
	assert_int_equal(kernel_writes(t), 1);
	assert_int_equal(responses(t, FK_DEV_A, NULL, 0), 200);
	pending(t, 0, 0);
}

/* ------------------------------------------------------------------------ */
/* Groups the kernel answered itself                                        */

static void test_lost(void **state)
{
	struct t *t = *state;
	struct fk_iopf_resp got[8];
	struct iommufd_fault_queue_stats s;
	uint32_t ca, cb, cc;

	trigger(t, FK_DEV_A, 1, 0x1000, true);
	trigger(t, FK_DEV_B, 2, 0x2000, true);
	trigger(t, FK_DEV_A, 3, 0x3000, true);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), 3);
	ca = t->reqs[0].cookie;
	cb = t->reqs[1].cookie;
	cc = t->reqs[2].cookie;
	/* device B leaves the HWPT: the kernel answers its group INVALID */
	assert_int_equal(iommufd_device_attach(t->dev2, t->ioas), 0);
	assert_int_equal(responses(t, FK_DEV_B, got, 8), 1);
	assert_true(got[0].automatic);
	assert_int_equal(got[0].code, 1);
	pending(t, 0, 2);

	/* the answer naming it is dropped, the others go: n returned */
	fake_kernel_log_clear(t->fk);
	fk_logcap_clear(&t->cap);
	assert_int_equal(iommufd_fault_queue_respond(t->q,
		(struct iommufd_page_response[]){ { ca, 0 }, { cb, 0 }, { cc, 0 } }, 3), 3);
	assert_int_equal(kernel_writes(t), 3); /* a, b rejected, c resent */
	s = stats(t);
	assert_int_equal(s.lost, 1);
	assert_int_equal(s.responses, 2);
	assert_int_equal(s.outstanding, 0);
	assert_true(fk_logcap_has(&t->cap, "lost"));
	assert_int_equal(responses(t, FK_DEV_A, got, 8), 2);
	assert_false(got[0].automatic);
	assert_false(got[1].automatic);
	assert_int_equal(responses(t, FK_DEV_B, NULL, 0), 1);
	pending(t, 0, 0);
}

static void test_lost_cookie_reused(void **state)
{
	struct t *t = *state;
	uint32_t old;

	trigger(t, FK_DEV_B, 1, 0x1000, true);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), 1);
	old = t->reqs[0].cookie;
	assert_int_equal(iommufd_device_attach(t->dev2, t->ioas), 0); /* answered by the kernel */
	assert_int_equal(iommufd_device_attach_hwpt(t->dev2, t->h), 0); /* back, faulting again */
	trigger(t, FK_DEV_B, 2, 0x2000, true);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), 1);
	/* the kernel gave the free cookie again: the old group was lost */
	assert_int_equal(t->reqs[0].cookie, old);
	assert_int_equal(stats(t).lost, 1);
	assert_int_equal(stats(t).outstanding, 1);
	assert_int_equal(respond_all(t, t->reqs, 1, 0), 1);
	assert_int_equal(stats(t).outstanding, 0);
	assert_int_equal(stats(t).responses, 1);
}

/* ------------------------------------------------------------------------ */
/* Destruction                                                              */

static void test_destroy_with_pending(void **state)
{
	struct t *t = *state;
	struct fk_iopf_resp got[16];

	/* one group read and unanswered, one read into the library only
	 * (EMSGSIZE), one still in the kernel; one of device B unread */
	trigger(t, FK_DEV_A, 1, 0x1000, true);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 1), 1);
	trigger(t, FK_DEV_A, 2, 0x2000, false);
	trigger(t, FK_DEV_A, 2, 0x3000, true);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 1), -EMSGSIZE);
	trigger(t, FK_DEV_A, 3, 0x4000, true);
	trigger(t, FK_DEV_B, 4, 0x4000, true);
	pending(t, 2, 2);

	/* tearing everything down answers every group once, INVALID, by the
	 * kernel: no device is left waiting */
	iommufd_ctx_destroy(t->ctx);
	t->ctx = NULL;
	assert_int_equal(responses(t, FK_DEV_A, got, 16), 3);
	for (int i = 0; i < 3; i++) {
		assert_true(got[i].automatic);
		assert_int_equal(got[i].code, 1);
		assert_int_equal(got[i].grpid, (uint32_t)i + 1);
	}
	assert_int_equal(responses(t, FK_DEV_B, got, 16), 1);
	assert_true(got[0].automatic);
	assert_int_equal(fake_kernel_open_fds(t->fk), 0);
}

static void test_destroy_busy(void **state)
{
	struct t *t = *state;
	struct fk_iopf_resp got[16];

	trigger(t, FK_DEV_A, 1, 0x1000, true);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 4), 1);
	trigger(t, FK_DEV_A, 2, 0x2000, true);

	/* the library's HWPT uses it: -EBUSY and nothing changes */
	fk_logcap_clear(&t->cap);
	fake_kernel_log_clear(t->fk);
	assert_int_equal(iommufd_fault_queue_destroy(t->q), -EBUSY);
	assert_int_equal(errno, EBUSY);
	assert_true(fk_logcap_has(&t->cap, "used by 1 HWPT"));
	assert_int_equal(fake_kernel_log_count(t->fk), 0);
	assert_true(fake_kernel_fd_is_open(t->fk, iommufd_fault_queue_get_fd(t->q)));
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 4), 1); /* still works */
	assert_int_equal(responses(t, FK_DEV_A, NULL, 0), 0);

	/* the devices leave (their groups answered by the kernel), the HWPT
	 * goes, then the queue */
	assert_int_equal(iommufd_device_attach(t->dev, t->ioas), 0);
	assert_int_equal(iommufd_device_attach(t->dev2, t->ioas), 0);
	assert_int_equal(responses(t, FK_DEV_A, got, 16), 2);
	assert_int_equal(iommufd_hwpt_destroy(t->h), 0);
	fake_kernel_log_clear(t->fk);
	expect_destroy_trace(t, t->q);
	assert_int_equal(fake_kernel_trigger_iopf(t->fk, FK_DEV_A, false, 0, 3, 1, 0x1000, true), -EINVAL);
}

static void test_destroy_kernel_refuses(void **state)
{
	struct t *t = *state;
	struct fk_iopf_resp got[16];
	uint32_t h2;

	/* An HWPT made behind the library's back keeps the kernel object
	 * alive: the handle and fd still go, the log says when the object
	 * does, and the device is answered when it leaves that HWPT. */
	struct iommufd_fault_queue *q2 = NULL;

	assert_int_equal(iommufd_fault_queue_create(t->ctx, NULL, &q2), 0);
	h2 = raw_hwpt(t, t->dev2, q2);
	raw_attach(t, t->dev2, h2);
	trigger(t, FK_DEV_B, 1, 0x1000, true);
	trigger(t, FK_DEV_B, 2, 0x2000, true);
	assert_int_equal(iommufd_fault_queue_read(q2, t->reqs, 1), 1);
	/* While the HWPT exists the kernel refuses IOMMU_DESTROY of the queue:
	 * the library frees the handle, closes the fd and says so. */
	fk_logcap_clear(&t->cap);
	assert_int_equal(iommufd_fault_queue_destroy(q2), 0);
	assert_true(fk_logcap_has(&t->cap, "IOMMU_DESTROY of fault queue"));
	assert_int_equal(responses(t, FK_DEV_B, got, 16), 0);
	/* the device leaving the HWPT has every group, read or not,
	 * answered INVALID by the kernel */
	assert_int_equal(iommufd_device_attach(t->dev2, t->ioas), 0);
	assert_int_equal(responses(t, FK_DEV_B, got, 16), 2);
	assert_true(got[0].automatic && got[1].automatic);
	raw_destroy(t, h2);
}

/* ------------------------------------------------------------------------ */
/* Injected failures and malformed kernel answers                           */

static void test_injected(void **state)
{
	struct t *t = *state;
	struct iommufd_fault_queue *q = NULL;
	int fds = fake_kernel_open_fds(t->fk);

	/* the alloc ioctl fails: nothing left behind */
	fake_kernel_fail_match(t->fk, "IOMMU_FAULT_QUEUE_ALLOC", 1, ENOMEM);
	assert_int_equal(iommufd_fault_queue_create(t->ctx, NULL, &q), -ENOMEM);
	assert_true(fake_kernel_fault_fired(t->fk));
	assert_null(q);
	assert_int_equal(fake_kernel_open_fds(t->fk), fds);
	fake_kernel_fail_clear(t->fk);

	/* read(2) fails: the error, logged; nothing lost, the next call works */
	trigger_n(t, 0, 3);
	fk_logcap_clear(&t->cap);
	fake_kernel_fail_match(t->fk, "read", 1, EIO);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), -EIO);
	assert_true(fk_logcap_has(&t->cap, "read failed"));
	fake_kernel_fail_clear(t->fk);
	pending(t, 3, 0);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), 3);

	/* write(2) fails: -EIO, the groups stay outstanding and can be sent again */
	fake_kernel_fail_match(t->fk, "write", 1, EIO);
	assert_int_equal(respond_all(t, t->reqs, 3, 0), -EIO);
	fake_kernel_fail_clear(t->fk);
	assert_int_equal(stats(t).outstanding, 3);
	pending(t, 0, 3);
	assert_int_equal(respond_all(t, t->reqs, 3, 0), 3);
	pending(t, 0, 0);
	assert_int_equal(stats(t).responses, 3);

	/* IOMMU_DESTROY fails: the handle still goes, the message says when
	 * the object does */
	assert_int_equal(iommufd_fault_queue_create(t->ctx, NULL, &q), 0);
	fk_logcap_clear(&t->cap);
	fake_kernel_fail_match(t->fk, "IOMMU_DESTROY", 1, EIO);
	assert_int_equal(iommufd_fault_queue_destroy(q), 0);
	fake_kernel_fail_clear(t->fk);
	assert_true(fk_logcap_has(&t->cap, "IOMMU_DESTROY of fault queue"));
	assert_int_equal(fake_kernel_open_fds(t->fk), fds);
}

/* A syscall table that bends the fake's answers. */
static struct ifd_sys bent;
static const struct ifd_sys *bent_base;
static ssize_t bent_read_add, bent_write_add;

static ssize_t bent_read(int fd, void *buf, size_t len)
{
	ssize_t n = bent_base->read(fd, buf, len);

	return n > 0 ? n + bent_read_add : n;
}

static ssize_t bent_write(int fd, const void *buf, size_t len)
{
	ssize_t n = bent_base->write(fd, buf, len);

	return n > 0 ? n + bent_write_add : n;
}

static void test_malformed(void **state)
{
	struct t *t = *state;
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_fault_queue *q = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_ctx_opts o = { .sz = sizeof(o), .backend = IOMMUFD_BACKEND_CDEV, .log_fn = fk_logcap_fn,
				      .log_data = &t->cap, .log_level = IOMMUFD_LOG_DEBUG };
	struct ifd_k_hwpt_alloc a = { .size = sizeof(a), .flags = IFD_K_IOMMU_HWPT_FAULT_ID_VALID };
	struct ifd_k_vfio_device_attach_iommufd_pt at = { .argsz = IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_BASE };

	bent_base = fake_kernel_sys(t->fk);
	bent = *bent_base;
	bent.read = bent_read;
	bent.write = bent_write;
	assert_int_equal(ifd_ctx_create_sys(&o, &bent, -1, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_NORESET, NULL, &dev), 0);
	assert_int_equal(iommufd_fault_queue_create(ctx, NULL, &q), 0);
	a.dev_id = (uint32_t)iommufd_device_get_id(dev);
	a.pt_id = (uint32_t)iommufd_ioas_get_id(ioas);
	a.fault_id = iommufd_fault_queue_get_id(q);
	assert_int_equal(bent.ioctl(ctx->fd, IFD_K_IOMMU_HWPT_ALLOC, &a), 0);
	at.pt_id = a.out_hwpt_id;
	assert_int_equal(bent.ioctl(iommufd_device_get_fd(dev), IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), 0);

	/* a byte count that is not whole records, or more than asked */
	assert_int_equal(fake_kernel_trigger_iopf(t->fk, FK_DEV_NORESET, false, 0, 1, 1, 0x1000, true), 0);
	fk_logcap_clear(&t->cap);
	bent_read_add = 1;
	assert_int_equal(iommufd_fault_queue_read(q, t->reqs, 1), -EIO);
	assert_true(fk_logcap_has(&t->cap, "malformed"));
	assert_int_equal(fake_kernel_trigger_iopf(t->fk, FK_DEV_NORESET, false, 0, 2, 1, 0x1000, true), 0);
	bent_read_add = sizeof(struct ifd_k_hwpt_pgfault);
	assert_int_equal(iommufd_fault_queue_read(q, t->reqs, 1), -EIO);
	bent_read_add = 0;
	assert_int_equal(fake_kernel_trigger_iopf(t->fk, FK_DEV_NORESET, false, 0, 3, 1, 0x1000, true), 0);
	assert_int_equal(iommufd_fault_queue_read(q, t->reqs, 1), 1);
	assert_int_equal(t->reqs[0].grpid, 3);

	/* write: more bytes than sent */
	bent_write_add = 8;
	assert_int_equal(iommufd_fault_queue_respond(q, &(struct iommufd_page_response){ t->reqs[0].cookie, 0 }, 1),
			 -EIO);
	bent_write_add = 0;

	iommufd_device_destroy(dev);
	at.pt_id = 0;
	{
		struct ifd_k_destroy d = { .size = sizeof(d), .id = a.out_hwpt_id };

		assert_int_equal(bent.ioctl(ctx->fd, IFD_K_IOMMU_DESTROY, &d), 0);
	}
	assert_int_equal(iommufd_fault_queue_destroy(q), 0);
	iommufd_ctx_destroy(ctx);
}

/* ------------------------------------------------------------------------ */
/* fork()                                                                   */

static int child_checks(struct t *t, uint32_t cookie)
{
	struct iommufd_fault_queue_stats s = { .sz = sizeof(s) };
	struct fk_call c;
	size_t n;

	if (iommufd_fault_queue_read(t->q, t->reqs, 16) != -ECHILD || errno != ECHILD)
		return 10;
	if (iommufd_fault_queue_respond(t->q, &(struct iommufd_page_response){ cookie, 0 }, 1) != -ECHILD)
		return 11;
	if (iommufd_fault_queue_get_stats(t->q, &s) != -ECHILD)
		return 12;
	if (iommufd_fault_queue_get_fd(t->q) < 0 || iommufd_fault_queue_get_id(t->q) == 0)
		return 13;
	if (iommufd_fault_queue_create(t->ctx, NULL, &(struct iommufd_fault_queue *){ NULL }) != -ECHILD)
		return 14;
	/* in the child even a queue an HWPT uses is only closed */
	fake_kernel_log_clear(t->fk);
	if (iommufd_fault_queue_destroy(t->q) != 0)
		return 15;
	n = fake_kernel_log_count(t->fk);
	if (n != 1 || !fake_kernel_log_get(t->fk, 0, &c) || strcmp(c.op, "close"))
		return 16;
	return 0;
}

static void test_fork(void **state)
{
	struct t *t = *state;
	int status = -1;
	uint32_t cookie;
	pid_t pid;

	trigger_n(t, 0, 2);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 1), 1);
	cookie = t->reqs[0].cookie;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_checks(t, cookie));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the parent's queue is untouched */
	assert_int_equal(iommufd_fault_queue_respond(t->q, &(struct iommufd_page_response){ cookie, 0 }, 1), 1);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 16), 1);
	assert_int_equal(t->reqs[0].grpid, 1);
	assert_int_equal(respond_all(t, t->reqs, 1, 0), 1);
	assert_int_equal(responses(t, FK_DEV_A, NULL, 0), 2);
}

/* ------------------------------------------------------------------------ */
/* Threads: a producer, two readers, a responder                            */

#define NGROUPS 1000

struct mt {
	struct t *t;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t ring[NGROUPS]; /* cookies read, to answer */
	size_t head, tail;
	int answered;           /* under lock */
	bool done;
	int bad;                /* a reader saw a split or mixed group */
	int read_groups[2];
};

static void *producer(void *arg)
{
	struct mt *m = arg;

	for (uint32_t g = 0; g < NGROUPS; g++) {
		/* every third group has two requests */
		if (g % 3 == 0)
			fake_kernel_trigger_iopf(m->t->fk, FK_DEV_A, false, 0, g, 1, 0x1000ull * g, false);
		fake_kernel_trigger_iopf(m->t->fk, FK_DEV_A, false, 0, g, 1, 0x1000ull * g + 0x800, true);
	}
	return NULL;
}

static bool mt_done(struct mt *m)
{
	bool d;

	pthread_mutex_lock(&m->lock);
	d = m->done;
	pthread_mutex_unlock(&m->lock);
	return d;
}

static void *reader(void *arg)
{
	struct mt *m = ((void **)arg)[0];
	int me = (int)(intptr_t)((void **)arg)[1];
	struct iommufd_page_request r[8];

	while (!mt_done(m)) {
		int n = iommufd_fault_queue_read(m->t->q, r, 8);

		if (n == -EAGAIN || n == -ENOSPC) {
			sched_yield();
			continue;
		}
		if (n <= 0) {
			m->bad++;
			break;
		}
		pthread_mutex_lock(&m->lock);
		for (int i = 0; i < n; i++) {
			bool last = r[i].flags & IOMMUFD_PRQ_LAST_PAGE;
			uint32_t want = r[i].grpid % 3 == 0 ? 2 : 1;

			if (i > 0 && !(r[i - 1].flags & IOMMUFD_PRQ_LAST_PAGE) &&
			    (r[i - 1].cookie != r[i].cookie || r[i - 1].grpid != r[i].grpid))
				m->bad++;
			if (last) {
				if (want == 2 && (i == 0 || r[i - 1].grpid != r[i].grpid))
					m->bad++;
				m->ring[m->tail++ % NGROUPS] = r[i].cookie;
				m->read_groups[me]++;
			}
		}
		pthread_cond_signal(&m->cond);
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

static void *responder(void *arg)
{
	struct mt *m = arg;
	struct iommufd_page_response resp[32];

	pthread_mutex_lock(&m->lock);
	while (m->answered < NGROUPS) {
		size_t k = 0;

		while (m->head == m->tail)
			pthread_cond_wait(&m->cond, &m->lock);
		while (m->head != m->tail && k < 32)
			resp[k++] = (struct iommufd_page_response){ m->ring[m->head++ % NGROUPS], 0 };
		pthread_mutex_unlock(&m->lock);
		if (iommufd_fault_queue_respond(m->t->q, resp, k) != (int)k)
			m->bad++;
		pthread_mutex_lock(&m->lock);
		m->answered += (int)k;
	}
	m->done = true;
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

static void test_threads(void **state)
{
	struct t *t = *state;
	struct mt m = { .t = t };
	pthread_t p, r1, r2, w;
	void *a1[2] = { &m, (void *)0 }, *a2[2] = { &m, (void *)1 };
	struct fk_iopf_resp *got = calloc(NGROUPS + 1, sizeof(*got));
	unsigned char *seen = calloc(NGROUPS, 1);
	struct iommufd_fault_queue_stats s;
	size_t n;

	assert_non_null(got);
	assert_non_null(seen);
	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.cond, NULL);
	fake_kernel_log_enable(t->fk, false);
	assert_int_equal(pthread_create(&p, NULL, producer, &m), 0);
	assert_int_equal(pthread_create(&r1, NULL, reader, a1), 0);
	assert_int_equal(pthread_create(&r2, NULL, reader, a2), 0);
	assert_int_equal(pthread_create(&w, NULL, responder, &m), 0);
	pthread_join(p, NULL);
	pthread_join(w, NULL);
	pthread_join(r1, NULL);
	pthread_join(r2, NULL);
	fake_kernel_log_enable(t->fk, true);
	assert_int_equal(m.bad, 0);
	assert_int_equal(m.read_groups[0] + m.read_groups[1], NGROUPS);

	/* every group answered exactly once, by the caller */
	n = responses(t, FK_DEV_A, got, NGROUPS + 1);
	assert_int_equal(n, NGROUPS);
	for (size_t i = 0; i < n; i++) {
		assert_false(got[i].automatic);
		assert_int_equal(got[i].code, 0);
		assert_true(got[i].grpid < NGROUPS);
		assert_int_equal(seen[got[i].grpid], 0);
		seen[got[i].grpid] = 1;
	}
	s = stats(t);
	assert_int_equal(s.groups, NGROUPS);
	assert_int_equal(s.requests, NGROUPS + (NGROUPS + 2) / 3);
	assert_int_equal(s.responses, NGROUPS);
	assert_int_equal(s.outstanding + s.lost, 0);
	pending(t, 0, 0);
	pthread_cond_destroy(&m.cond);
	pthread_mutex_destroy(&m.lock);
	free(got);
	free(seen);
}

/* The log callback never runs under the queue's lock.  fault.c keeps the
 * lock first in its state so that this test can reach it. */
struct ifd_fault_state {
	pthread_mutex_t lock;
};

struct lockcheck {
	struct iommufd_fault_queue *q;
	int calls, under_lock;
};

static void lockcheck_fn(void *data, int level, const char *msg)
{
	struct lockcheck *lc = data;

	(void)level;
	(void)msg;
	lc->calls++;
	if (lc->q && pthread_mutex_trylock(&lc->q->st->lock) != 0)
		lc->under_lock++;
	else if (lc->q)
		pthread_mutex_unlock(&lc->q->st->lock);
}

static void test_log_outside_lock(void **state)
{
	struct t *t = *state;
	struct lockcheck lc = { .q = t->q };
	uint32_t c;

	assert_int_equal(iommufd_ctx_set_log(t->ctx, lockcheck_fn, &lc, IOMMUFD_LOG_DEBUG), 0);
	trigger_n(t, 0, 5);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 1), 1);
	c = t->reqs[0].cookie;
	for (int i = 0; i < 3; i++)
		assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 1), 1);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 1), -ENOSPC); /* logs */
	assert_int_equal(iommufd_fault_queue_respond(t->q,
		(struct iommufd_page_response[]){ { c, 0 }, { c, 0 } }, 2), -EINVAL); /* logs */
	assert_int_equal(iommufd_device_attach(t->dev, t->ioas), 0);
	assert_int_equal(iommufd_fault_queue_respond(t->q, &(struct iommufd_page_response){ c, 0 }, 1), 1); /* lost */
	fake_kernel_fail_match(t->fk, "read", 1, EIO);
	assert_int_equal(iommufd_fault_queue_read(t->q, t->reqs, 1), -EIO); /* logs */
	fake_kernel_fail_clear(t->fk);
	assert_true(lc.calls >= 4);
	assert_int_equal(lc.under_lock, 0);
	assert_int_equal(iommufd_ctx_set_log(t->ctx, fk_logcap_fn, &t->cap, IOMMUFD_LOG_DEBUG), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TS(fn) cmocka_unit_test_setup_teardown(fn, setup_small, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create_and_accessors),
		cmocka_unit_test(test_unsupported),
		T(test_empty_is_eagain),
		T(test_batching),
		T(test_groups),
		T(test_groups_across_calls),
		T(test_big_group),
		TS(test_full),
		T(test_respond_validation),
		T(test_respond_many),
		T(test_lost),
		T(test_lost_cookie_reused),
		T(test_destroy_with_pending),
		T(test_destroy_busy),
		T(test_destroy_kernel_refuses),
		T(test_injected),
		T(test_malformed),
		T(test_fork),
		T(test_threads),
		TS(test_log_outside_lock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
