/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Nested HWPTs, invalidation, vIOMMU/vDEVICE/HW queue and vEVENTQ on the
 * fake kernel with the vIOMMU model in front (fake-viommu.c): arguments,
 * destroy order, partial invalidation, vEVENTQ parsing (lost events,
 * gaps, records beyond the caller's array, malformed answers).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "kabi.h"
#include "fake-viommu.h"

struct t {
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *dev;
	struct iommufd_hwpt *parent;
	struct fk_logcap cap;
};

static struct t *mk(enum iommufd_backend b, unsigned int max_cmd)
{
	struct t *t = calloc(1, sizeof(*t));
	struct fk_config cfg = { .iommufd_max_cmd = max_cmd };
	struct iommufd_ctx_opts o = { .sz = sizeof(o), .backend = b, .log_fn = fk_logcap_fn,
				      .log_data = &t->cap, .log_level = IOMMUFD_LOG_DEBUG };

	assert_non_null(t);
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	fk_logcap_init(&t->cap);
	t->fk = fake_kernel_create(&cfg);
	assert_non_null(t->fk);
	assert_int_equal(fake_kernel_add_device(t->fk, &(struct fk_dev_desc){ .name = FK_DEV_A, .group = FK_GROUP_A }),
			 0);
	assert_int_equal(ifd_ctx_create_sys(&o, fvi_sys(t->fk, max_cmd), -1, &t->ctx), 0);
	assert_int_equal(iommufd_ioas_create(t->ctx, &t->ioas), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_A, NULL, &t->dev), 0);
	if (b == IOMMUFD_BACKEND_CDEV) {
		struct iommufd_hwpt_opts po = { .sz = sizeof(po), .flags = IOMMUFD_HWPT_NEST_PARENT };

		assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &po, &t->parent), 0);
	}
	return t;
}

static void done(struct t *t)
{
	iommufd_ctx_destroy(t->ctx);
	assert_int_equal(fvi_objects(), 0);
	assert_false(fvi_fd_open());
	assert_int_equal(fake_kernel_live_files(t->fk), 0);
	fake_kernel_destroy(t->fk);
	fvi_reset();
	fk_logcap_free(&t->cap);
	free(t);
}

static const uint32_t data[2] = { 0xbadbeef, 0 };
#define NOPTS { .sz = sizeof(struct iommufd_hwpt_nested_opts), .data_type = IOMMUFD_HWPT_DATA_SELFTEST, \
		.data = data, .data_len = sizeof(data) }

static void test_nested_args_and_order(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, 0);
	struct iommufd_hwpt_nested_opts o = NOPTS;
	struct iommufd_hwpt *n = NULL, *bad = NULL;
	struct iommufd_hwpt_opts po = { .sz = sizeof(po) };
	struct iommufd_hwpt *plain = NULL;

	(void)state;
	assert_int_equal(iommufd_hwpt_create_nested(t->dev, NULL, NULL, &o, &bad), -EINVAL);
	assert_int_equal(iommufd_hwpt_create_nested(t->dev, t->parent, NULL, NULL, &bad), -EINVAL);
	o.data_len = 0;
	assert_int_equal(iommufd_hwpt_create_nested(t->dev, t->parent, NULL, &o, &bad), -EINVAL);
	o.data_len = sizeof(data);
	o.flags = IOMMUFD_HWPT_NEST_PARENT;
	assert_int_equal(iommufd_hwpt_create_nested(t->dev, t->parent, NULL, &o, &bad), -EINVAL);
	o.flags = 0;
	assert_int_equal(iommufd_hwpt_create(t->dev, t->ioas, &po, &plain), 0);
	assert_int_equal(iommufd_hwpt_create_nested(t->dev, plain, NULL, &o, &bad), -EINVAL);
	assert_true(fk_logcap_has(&t->cap, "NEST_PARENT"));
	assert_null(bad);
	assert_int_equal(fvi_objects(), 0);

	assert_int_equal(iommufd_hwpt_create_nested(t->dev, t->parent, NULL, &o, &n), 0);
	assert_int_equal(fvi_last_pt(), iommufd_hwpt_get_id(t->parent));
	assert_ptr_equal(iommufd_hwpt_get_parent(n), t->parent);
	assert_ptr_equal(iommufd_hwpt_get_ioas(n), t->ioas);
	assert_null(iommufd_hwpt_get_parent(t->parent));
	assert_int_equal(iommufd_hwpt_create_nested(t->dev, n, NULL, &o, &bad), -EINVAL);
	assert_int_equal(iommufd_hwpt_destroy(t->parent), -EBUSY);
	assert_int_equal(iommufd_ioas_destroy(t->ioas), -EBUSY);
	assert_int_equal(iommufd_hwpt_destroy(n), 0);
	assert_int_equal(iommufd_hwpt_destroy(plain), 0);
	assert_int_equal(fvi_objects(), 0);
	done(t);
}

static void test_invalidate_partial(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, 0);
	struct iommufd_hwpt_nested_opts o = NOPTS;
	uint32_t e[4][2] = { { 0, 0 }, { 0, 1 }, { 0, 9 }, { 0, 2 } };
	struct iommufd_hwpt *n = NULL;
	uint32_t num;

	(void)state;
	assert_int_equal(iommufd_hwpt_create_nested(t->dev, t->parent, NULL, &o, &n), 0);
	assert_int_equal(iommufd_hwpt_invalidate(n, IOMMUFD_INVALIDATE_DATA_SELFTEST, e, 8, NULL), -EINVAL);
	num = 2;
	assert_int_equal(iommufd_hwpt_invalidate(n, IOMMUFD_INVALIDATE_DATA_SELFTEST, NULL, 8, &num), -EINVAL);
	assert_int_equal(num, 2); /* a bad argument changes nothing */
	num = 2;
	assert_int_equal(iommufd_hwpt_invalidate(n, IOMMUFD_INVALIDATE_DATA_SELFTEST, e, 0, &num), -EINVAL);
	num = 1;
	assert_int_equal(iommufd_hwpt_invalidate(t->parent, IOMMUFD_INVALIDATE_DATA_SELFTEST, e, 8, &num), -EINVAL);
	assert_int_equal(fvi_invalidated(), 0);
	num = 4;
	assert_int_equal(iommufd_hwpt_invalidate(n, IOMMUFD_INVALIDATE_DATA_SELFTEST, e, 8, &num), -EINVAL);
	assert_int_equal(num, 2); /* stopped at the bad entry */
	assert_true(fk_logcap_has(&t->cap, "stopped at entry 2 of 4"));
	num = 1;
	assert_int_equal(iommufd_hwpt_invalidate(n, IOMMUFD_INVALIDATE_DATA_SELFTEST, e[3], 8, &num), 0);
	assert_int_equal(num, 1);
	assert_int_equal(fvi_invalidated(), 3);
	done(t);
}

static void test_viommu_order(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, 0);
	struct iommufd_viommu_opts vo = { .sz = sizeof(vo), .type = IOMMUFD_VIOMMU_TYPE_SELFTEST };
	struct iommufd_veventq_opts eo = { .sz = sizeof(eo), .type = IOMMUFD_VEVENTQ_TYPE_SELFTEST };
	struct iommufd_hwpt_nested_opts o = NOPTS;
	struct iommufd_viommu *v = NULL;
	struct iommufd_vdevice *vd = NULL;
	struct iommufd_hw_queue *hq = NULL;
	struct iommufd_veventq *q = NULL;
	struct iommufd_hwpt *n = NULL;
	uint32_t num = 0;

	(void)state;
	vo.type = 0;
	assert_int_equal(iommufd_viommu_create(t->dev, t->parent, &vo, &v), -EINVAL);
	vo.type = IOMMUFD_VIOMMU_TYPE_SELFTEST;
	assert_int_equal(iommufd_viommu_create(t->dev, NULL, &vo, &v), -EINVAL);
	assert_null(v);
	assert_int_equal(iommufd_viommu_create(t->dev, t->parent, &vo, &v), 0);
	assert_int_equal(iommufd_hwpt_destroy(t->parent), -EBUSY);
	assert_int_equal(iommufd_vdevice_create(v, t->dev, 7, &vd), 0);
	assert_int_equal(iommufd_hw_queue_create(v, IOMMUFD_HW_QUEUE_TYPE_SELFTEST, 0, 0x1000, 0, &hq), -EINVAL);
	assert_int_equal(iommufd_hw_queue_create(v, IOMMUFD_HW_QUEUE_TYPE_SELFTEST, 0, ~0ull, 2, &hq), -EINVAL);
	assert_int_equal(iommufd_hw_queue_create(v, IOMMUFD_HW_QUEUE_TYPE_SELFTEST, 0, 0x1000, 0x1000, &hq), 0);
	assert_int_equal(iommufd_veventq_create(v, &eo, &q), 0);
	assert_int_equal(iommufd_hwpt_create_nested(t->dev, NULL, v, &o, &n), 0);
	assert_int_equal(fvi_last_pt(), iommufd_viommu_get_id(v));
	assert_ptr_equal(iommufd_hwpt_get_parent(n), t->parent);
	assert_int_equal(iommufd_viommu_invalidate(v, IOMMUFD_INVALIDATE_DATA_SELFTEST, NULL, 8, &num), 0);
	assert_int_equal(iommufd_viommu_destroy(v), -EBUSY);
	assert_true(fk_logcap_has(&t->cap, "1 vDEVICE(s), 1 HW queue(s), 1 vEVENTQ(s) and 1 nested"));
	assert_int_equal(iommufd_hwpt_destroy(n), 0);
	assert_int_equal(iommufd_veventq_destroy(q), 0);
	assert_false(fvi_fd_open());
	assert_int_equal(iommufd_hw_queue_destroy(hq), 0);
	assert_int_equal(iommufd_viommu_destroy(v), -EBUSY);
	/* Destroying the device takes its vDEVICE with it. */
	assert_int_equal(iommufd_device_destroy(t->dev), 0);
	t->dev = NULL;
	assert_int_equal(iommufd_viommu_destroy(v), 0);
	assert_int_equal(fvi_objects(), 0);
	done(t);
}

/* Everything left to the context: its destroy frees it in order. */
static void test_ctx_destroy_frees_all(void **state)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, 0);
	struct iommufd_viommu_opts vo = { .sz = sizeof(vo), .type = IOMMUFD_VIOMMU_TYPE_SELFTEST };
	struct iommufd_veventq_opts eo = { .sz = sizeof(eo), .type = IOMMUFD_VEVENTQ_TYPE_SELFTEST };
	struct iommufd_hwpt_nested_opts o = NOPTS;
	struct iommufd_viommu *v = NULL;
	struct iommufd_vdevice *vd = NULL;
	struct iommufd_hw_queue *hq = NULL;
	struct iommufd_veventq *q = NULL;
	struct iommufd_hwpt *n = NULL, *n2 = NULL;

	(void)state;
	assert_int_equal(iommufd_viommu_create(t->dev, t->parent, &vo, &v), 0);
	assert_int_equal(iommufd_vdevice_create(v, t->dev, 7, &vd), 0);
	assert_int_equal(iommufd_hw_queue_create(v, IOMMUFD_HW_QUEUE_TYPE_SELFTEST, 0, 0x1000, 0x1000, &hq), 0);
	assert_int_equal(iommufd_veventq_create(v, &eo, &q), 0);
	assert_int_equal(iommufd_hwpt_create_nested(t->dev, NULL, v, &o, &n), 0);
	assert_int_equal(iommufd_hwpt_create_nested(t->dev, t->parent, NULL, &o, &n2), 0);
	assert_int_equal(fvi_objects(), 6);
	done(t); /* asserts the model has no object and no fd left */
}

static void test_refused(void **state)
{
	static const struct {
		enum iommufd_backend b;
		unsigned int max_cmd;
	} cases[] = { { IOMMUFD_BACKEND_GROUP, 0 }, { IOMMUFD_BACKEND_TYPE1, 0 }, { IOMMUFD_BACKEND_CDEV, 0x8e } };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct t *t = mk(cases[i].b, cases[i].max_cmd);
		struct iommufd_viommu_opts vo = { .sz = sizeof(vo), .type = IOMMUFD_VIOMMU_TYPE_SELFTEST };
		struct iommufd_hwpt_nested_opts o = NOPTS;
		struct iommufd_viommu *v = NULL;
		struct iommufd_hwpt *n = NULL;
		int want_nested = cases[i].max_cmd ? 0 : -EINVAL;

		assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_VIOMMU, NULL), 0);
		assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_VEVENTQ, NULL), 0);
		assert_int_equal(iommufd_feature_query(t->ctx, NULL, IOMMUFD_FEATURE_HW_QUEUE, NULL), 0);
		/* Without a parent (GROUP, TYPE1 cannot make one) the call is a
		 * bad argument first; with one (6.11) the kernel lacks it. */
		assert_int_equal(iommufd_viommu_create(t->dev, t->parent, &vo, &v),
				 t->parent ? -EOPNOTSUPP : -EINVAL);
		assert_null(v);
		/* 6.11 (0x8e) has nesting on a parent but no vIOMMU. */
		assert_int_equal(iommufd_hwpt_create_nested(t->dev, t->parent, NULL, &o, &n), want_nested);
		if (n)
			assert_int_equal(iommufd_hwpt_destroy(n), 0);
		assert_int_equal(iommufd_hwpt_create_nested(t->dev, NULL, (struct iommufd_viommu *)NULL, &o, &n),
				 -EINVAL);
		done(t);
	}
}

/* ------------------------------------------------------------ parsing */

struct rec {
	uint32_t flags, seq, payload;
};

static size_t build(unsigned char *b, const struct rec *r, size_t n)
{
	size_t off = 0;

	for (size_t i = 0; i < n; i++) {
		memcpy(b + off, &r[i].flags, 4);
		memcpy(b + off + 4, &r[i].seq, 4);
		off += 8;
		if (!(r[i].flags & 1)) {
			memcpy(b + off, &r[i].payload, 4);
			off += 4;
		}
	}
	return off;
}

static struct t *mkq(struct iommufd_viommu **v, struct iommufd_veventq **q)
{
	struct t *t = mk(IOMMUFD_BACKEND_CDEV, 0);
	struct iommufd_viommu_opts vo = { .sz = sizeof(vo), .type = IOMMUFD_VIOMMU_TYPE_SELFTEST };
	struct iommufd_veventq_opts eo = { .sz = sizeof(eo), .type = IOMMUFD_VEVENTQ_TYPE_SELFTEST };

	assert_int_equal(iommufd_viommu_create(t->dev, t->parent, &vo, v), 0);
	eo.type = 0x1234; /* unknown type without event_len */
	assert_int_equal(iommufd_veventq_create(*v, &eo, q), -EINVAL);
	eo.type = IOMMUFD_VEVENTQ_TYPE_SELFTEST;
	eo.event_len = IOMMUFD_VEVENT_DATA_MAX + 1;
	assert_int_equal(iommufd_veventq_create(*v, &eo, q), -EINVAL);
	eo.event_len = 0;
	assert_int_equal(iommufd_veventq_create(*v, &eo, q), 0);
	return t;
}

static void test_veventq_lost_and_gaps(void **state)
{
	struct iommufd_veventq_stats st = { .sz = sizeof(st) };
	struct iommufd_viommu *v;
	struct iommufd_veventq *q;
	struct t *t = mkq(&v, &q);
	struct iommufd_vevent ev[4];
	unsigned char b[256];
	/* depth 2, 4 raised: two events, then the kernel's record (seq 3). */
	const struct rec r1[] = { { 0, 0, 0x42 }, { 0, 1, 0x42 }, { 1, 3, 0 } };
	/* then one read, a gap (seq 5 missing), and a wrap of the counter */
	const struct rec r2[] = { { 0, 4, 0x43 }, { 0, 6, 0x44 } };

	(void)state;
	assert_int_equal(iommufd_veventq_read(q, ev, 4), -EAGAIN);
	fvi_push(b, build(b, r1, 3));
	assert_int_equal(iommufd_veventq_read(q, ev, 4), 3);
	assert_int_equal(ev[0].sequence, 0);
	assert_int_equal(ev[0].len, 4);
	assert_int_equal(ev[0].data[0], 0x42);
	assert_int_equal(ev[1].flags, 0);
	assert_int_equal(ev[2].flags, IOMMUFD_VEVENT_LOST);
	assert_int_equal(ev[2].lost, 2);
	assert_int_equal(ev[2].len, 0);
	fvi_push(b, build(b, r2, 2));
	assert_int_equal(iommufd_veventq_read(q, ev, 4), 2);
	assert_int_equal(ev[0].flags, 0);
	assert_int_equal(ev[1].flags, IOMMUFD_VEVENT_GAP);
	assert_int_equal(ev[1].lost, 1);
	assert_int_equal(ev[1].data[0], 0x44);
	assert_int_equal(iommufd_veventq_get_stats(q, &st), 0);
	assert_int_equal(st.events, 4);
	assert_int_equal(st.lost_records, 1);
	assert_int_equal(st.lost, 3);
	assert_int_equal(st.gaps, 1);
	assert_int_equal(st.reads, 3);
	done(t);
}

static void test_veventq_wrap_and_spill(void **state)
{
	struct iommufd_viommu *v;
	struct iommufd_veventq *q;
	struct t *t = mkq(&v, &q);
	struct iommufd_vevent ev[4];
	unsigned char b[256];
	/* Lost records take no payload room, so a read may hold more records
	 * than the caller asked for (not from a sane kernel, which keeps one
	 * such record): the extra one waits in the library. */
	const struct rec r1[] = { { 1, 0, 0 }, { 1, 1, 0 }, { 1, 2, 0 } };
	const struct rec r2[] = { { 0, 0x7fffffff, 1 } };
	const struct rec r3[] = { { 0, 0, 2 } };

	(void)state;
	fvi_push(b, build(b, r1, 3));
	assert_int_equal(iommufd_veventq_read(q, ev, 2), 2);
	assert_int_equal(ev[0].flags, IOMMUFD_VEVENT_LOST);
	assert_int_equal(ev[0].lost, 1);
	assert_int_equal(iommufd_veventq_read(q, ev, 4), 1); /* from the library, no kernel read */
	assert_int_equal(ev[0].sequence, 2);
	{
		struct iommufd_veventq_stats st = { .sz = sizeof(st) };

		assert_int_equal(iommufd_veventq_get_stats(q, &st), 0);
		assert_int_equal(st.reads, 1);
	}
	/* numbers 3 .. 0x7ffffffe missing, then a clean wrap to 0 */
	fvi_push(b, build(b, r2, 1));
	assert_int_equal(iommufd_veventq_read(q, ev, 4), 1);
	assert_int_equal(ev[0].flags, IOMMUFD_VEVENT_GAP);
	assert_int_equal(ev[0].lost, 0x7ffffffc);
	fvi_push(b, build(b, r3, 1));
	assert_int_equal(iommufd_veventq_read(q, ev, 4), 1);
	assert_int_equal(ev[0].flags, 0);
	done(t);
}

static void test_veventq_malformed(void **state)
{
	struct iommufd_veventq_stats st = { .sz = sizeof(st) };
	struct iommufd_viommu *v;
	struct iommufd_veventq *q;
	struct t *t = mkq(&v, &q);
	struct iommufd_vevent ev[4];
	unsigned char b[4096];
	const struct rec r[] = { { 0, 0, 0x61 }, { 0, 1, 0x62 } };
	size_t n = build(b, r, 2);

	(void)state;
	assert_int_equal(iommufd_veventq_read(q, NULL, 4), -EINVAL);
	assert_int_equal(iommufd_veventq_read(q, ev, 0), -EINVAL);
	/* Cut inside the second event's payload: the first is kept. */
	fvi_push(b, n - 2);
	assert_int_equal(iommufd_veventq_read(q, ev, 4), 1);
	assert_int_equal(ev[0].data[0], 0x61);
	assert_true(fk_logcap_has(&t->cap, "cut or overlong"));
	/* A lone partial header. */
	fvi_push(b, 5);
	assert_int_equal(iommufd_veventq_read(q, ev, 4), -EIO);
	/* More records than fit the caller and the spill: bounded. */
	{
		struct iommufd_vevent big[32];
		struct rec many[48];

		/* 48 payload-less records in the 384 bytes of 32 events: 32
		 * handed out, 8 kept, the rest dropped as malformed. */
		for (int i = 0; i < 48; i++)
			many[i] = (struct rec){ 1, (uint32_t)(10 + i), 0 };
		fvi_push(b, build(b, many, 48));
		assert_int_equal(iommufd_veventq_read(q, big, 32), 32);
		assert_int_equal(iommufd_veventq_read(q, big, 32), 8);
		assert_int_equal(big[7].sequence, 10 + 39);
		assert_int_equal(iommufd_veventq_read(q, big, 32), -EAGAIN);
	}
	/* An event longer than the queue's events: the kernel says EINVAL. */
	memset(b, 0, 64);
	fvi_push(b, 64);
	assert_int_equal(iommufd_veventq_read(q, ev, 1), -EMSGSIZE);
	assert_true(fk_logcap_has(&t->cap, "event_len"));
	assert_int_equal(iommufd_veventq_get_stats(q, &st), 0);
	assert_int_equal(st.malformed, 3);
	done(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_args_and_order),
		cmocka_unit_test(test_invalidate_partial),
		cmocka_unit_test(test_viommu_order),
		cmocka_unit_test(test_ctx_destroy_frees_all),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_veventq_lost_and_gaps),
		cmocka_unit_test(test_veventq_wrap_and_spill),
		cmocka_unit_test(test_veventq_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
