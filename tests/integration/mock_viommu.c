/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * mock_viommu: nesting and vIOMMUs on the kernel's mock IOMMU.
 *
 * CDEV: a nested HWPT on a NEST_PARENT HWPT (parent destroy -EBUSY),
 * invalidation with a bad entry in the middle (the count stops there and
 * the mock's IOTLB shows which entries were done), a vIOMMU, a vDEVICE,
 * vIOMMU invalidation checked in the device's cache, a vEVENTQ overflowed
 * past its depth (the lost-events record and a sequence gap), HW queues
 * in index order, destroy order (-EBUSY) and the context destroy freeing
 * what is left.  GROUP and TYPE1: every call refused the documented way.
 */
#include <poll.h>

#include "feature.h"

#define IOVA_Q 0x2000000ull /* inside the mock aperture */
#define Q_LEN  0x1000ull

static void nested_part(struct iommufd_ctx *ctx, int fd, struct mock_dev *m, struct iommufd_ioas *ioas,
			struct iommufd_hwpt *parent)
{
	struct mock_hwpt_data d = { .iotlb = MOCK_IOTLB_DEFAULT };
	struct iommufd_hwpt_nested_opts o = { .sz = sizeof(o), .data_type = IOMMUFD_HWPT_DATA_SELFTEST,
					      .data = &d, .data_len = mock_hwpt_data_len() };
	struct mock_hwpt_inv inv[3] = { { 0, 0 }, { 0, 9 }, { 0, 1 } };
	struct iommufd_hwpt *n = NULL, *bad = NULL;
	uint32_t num, id;

	CHECK_RET(iommufd_hwpt_create_nested(m->dev, parent, NULL, NULL, &bad), -EINVAL, "nested without options");
	o.data_type = 0;
	CHECK_RET(iommufd_hwpt_create_nested(m->dev, parent, NULL, &o, &bad), -EINVAL, "nested with data type 0");
	o.data_type = IOMMUFD_HWPT_DATA_SELFTEST;
	CHECK(!bad, "no HWPT handed out");
	REQUIRE_RET(iommufd_hwpt_create_nested(m->dev, parent, NULL, &o, &n), 0, "nested HWPT on the parent");
	id = iommufd_hwpt_get_id(n);
	CHECK(iommufd_hwpt_get_parent(n) == parent, "its parent is the parent");
	CHECK(iommufd_hwpt_get_ioas(n) == ioas, "its IOAS is the parent's");
	CHECK_RET(mock_check_iotlb(fd, id, 0, MOCK_IOTLB_DEFAULT), 0, "the vendor data reached the mock (IOTLB 0)");
	CHECK_RET(iommufd_hwpt_create_nested(m->dev, n, NULL, &o, &bad), -EINVAL, "nesting on a nested HWPT");
	CHECK_RET(iommufd_hwpt_destroy(parent), -EBUSY, "the parent cannot go while a nested HWPT uses it");

	num = 0;
	CHECK_RET(iommufd_hwpt_invalidate(n, IOMMUFD_INVALIDATE_DATA_SELFTEST, NULL, sizeof(inv[0]), &num), 0,
		  "invalidate with no entries (a probe of the data type)");
	num = 3;
	CHECK_RET(iommufd_hwpt_invalidate(n, IOMMUFD_INVALIDATE_DATA_SELFTEST, inv, sizeof(inv[0]), &num), -EINVAL,
		  "invalidate with a bad entry in the middle");
	CHECK(num == 1, "the kernel handled 1 entry before the bad one (got %u)", num);
	CHECK_RET(mock_check_iotlb(fd, id, 0, 0), 0, "IOTLB entry 0 was invalidated");
	CHECK_RET(mock_check_iotlb(fd, id, 1, MOCK_IOTLB_DEFAULT), 0, "IOTLB entry 1 (after the bad one) was not");
	num = 1;
	CHECK_RET(iommufd_hwpt_invalidate(n, IOMMUFD_INVALIDATE_DATA_SELFTEST, &inv[2], sizeof(inv[0]), &num), 0,
		  "retry from the entry after the bad one");
	CHECK(num == 1, "one entry handled (got %u)", num);
	CHECK_RET(mock_check_iotlb(fd, id, 1, 0), 0, "IOTLB entry 1 now invalidated");
	num = 1;
	CHECK_RET(iommufd_hwpt_invalidate(parent, IOMMUFD_INVALIDATE_DATA_SELFTEST, inv, sizeof(inv[0]), &num),
		  -EINVAL, "invalidating a parent (not nested) is refused");
	/* The mock device moved onto the nested HWPT by the test op, and back. */
	CHECK_RET(mock_replace(fd, m->stdev_id, id, NULL), 0, "the mock device attaches to the nested HWPT");
	CHECK_RET(mock_replace(fd, m->stdev_id, (uint32_t)iommufd_ioas_get_id(ioas), NULL), 0, "and back to the IOAS");
	CHECK_RET(iommufd_hwpt_destroy(n), 0, "destroy the nested HWPT");
}

static void read_events(struct iommufd_veventq *q, struct iommufd_vevent *ev, size_t max, int *got)
{
	*got = iommufd_veventq_read(q, ev, max);
}

static void viommu_part(struct iommufd_ctx *ctx, int fd, struct mock_dev *m, struct iommufd_ioas *ioas,
			struct iommufd_hwpt *parent)
{
	struct iommufd_viommu_opts vo = { .sz = sizeof(vo), .type = IOMMUFD_VIOMMU_TYPE_SELFTEST };
	struct iommufd_veventq_opts eo = { .sz = sizeof(eo), .type = IOMMUFD_VEVENTQ_TYPE_SELFTEST, .depth = 2 };
	struct iommufd_veventq_stats st = { .sz = sizeof(st) };
	struct mock_hwpt_data d = { .iotlb = MOCK_IOTLB_DEFAULT };
	struct iommufd_hwpt_nested_opts no = { .sz = sizeof(no), .data_type = IOMMUFD_HWPT_DATA_SELFTEST,
					       .data = &d, .data_len = mock_hwpt_data_len() };
	struct iommufd_viommu *v = NULL;
	struct iommufd_vdevice *vd = NULL, *vd2 = NULL;
	struct iommufd_veventq *q = NULL, *q2 = NULL;
	struct iommufd_hw_queue *h0 = NULL, *h1 = NULL, *hbad = NULL;
	struct iommufd_hwpt *n = NULL;
	struct iommufd_vevent ev[8];
	const uint32_t virt = 0x42;
	uint32_t num, vid;
	void *buf;
	int got;

	REQUIRE_RET(iommufd_viommu_create(m->dev, parent, &vo, &v), 0, "vIOMMU on the parent");
	CHECK(iommufd_viommu_get_id(v) != 0, "the vIOMMU has an ID");
	CHECK_RET(iommufd_hwpt_destroy(parent), -EBUSY, "the parent cannot go while a vIOMMU uses it");
	REQUIRE_RET(iommufd_vdevice_create(v, m->dev, virt, &vd), 0, "vDEVICE with virtual ID 0x%x", virt);
	CHECK_RET(iommufd_vdevice_create(v, m->dev, virt + 1, &vd2), -EEXIST, "a second vDEVICE of the device");
	CHECK_RET(iommufd_viommu_destroy(v), -EBUSY, "the vIOMMU cannot go while a vDEVICE uses it");

	/* vIOMMU invalidation: device cache entries, a bad entry in the middle. */
	{
		struct mock_viommu_inv inv[3] = { { 0, virt, 0 }, { 0, virt, 9 }, { 0, virt, 1 } };

		num = 3;
		CHECK_RET(iommufd_viommu_invalidate(v, IOMMUFD_INVALIDATE_DATA_SELFTEST, inv, sizeof(inv[0]), &num),
			  -EINVAL, "vIOMMU invalidate with a bad entry in the middle");
		CHECK(num == 1, "1 entry handled (got %u)", num);
		CHECK_RET(mock_check_dev_cache(fd, m->idev_id, 0, 0), 0, "device cache entry 0 invalidated");
		CHECK_RET(mock_check_dev_cache(fd, m->idev_id, 1, MOCK_DEV_CACHE_DEFAULT), 0,
			  "device cache entry 1 untouched");
	}

	/* A nested HWPT on the vIOMMU. */
	CHECK_RET(iommufd_hwpt_create_nested(m->dev, parent, v, &no, &n), -EINVAL, "both a parent and a vIOMMU");
	REQUIRE_RET(iommufd_hwpt_create_nested(m->dev, NULL, v, &no, &n), 0, "nested HWPT on the vIOMMU");
	CHECK(iommufd_hwpt_get_parent(n) == parent, "its parent is the vIOMMU's");
	CHECK_RET(iommufd_viommu_destroy(v), -EBUSY, "the vIOMMU cannot go while a nested HWPT uses it");
	/* The mock reports events only for a device attached through the
	 * vIOMMU (a nested HWPT on it) with a vDEVICE. */
	CHECK_RET(iommufd_device_attach_hwpt(m->dev, n), -EOPNOTSUPP,
		  "the library cannot attach a device adopted without its fd");
	REQUIRE_RET(mock_replace(fd, m->stdev_id, iommufd_hwpt_get_id(n), NULL), 0,
		    "the mock device on the vIOMMU's nested HWPT");

	/* vEVENTQ: depth 2, four events: two, then the lost-events record. */
	REQUIRE_RET(iommufd_veventq_create(v, &eo, &q), 0, "vEVENTQ of depth 2");
	CHECK(iommufd_veventq_get_fd(q) >= 0, "it has an fd");
	CHECK_RET(iommufd_veventq_create(v, &eo, &q2), -EEXIST, "a second queue of the same type");
	CHECK_RET(iommufd_veventq_read(q, ev, 8), -EAGAIN, "nothing waits yet");
	for (int i = 0; i < 4; i++)
		CHECK_RET(mock_trigger_vevent(fd, m->idev_id), 0, "trigger event %d", i);
	{
		struct pollfd p = { .fd = iommufd_veventq_get_fd(q), .events = POLLIN };

		CHECK(poll(&p, 1, 0) == 1 && (p.revents & POLLIN), "the fd polls readable");
	}
	read_events(q, ev, 8, &got);
	REQUIRE(got == 3, "two events and the lost-events record (got %d)", got);
	for (int i = 0; i < 2; i++) {
		uint32_t vv;

		memcpy(&vv, ev[i].data, sizeof(vv));
		CHECK(ev[i].flags == 0 && ev[i].sequence == (uint32_t)i && ev[i].len == 4 && vv == virt,
		      "event %d: seq %u, virt_id 0x%x, flags 0x%x, len %u", i, ev[i].sequence, vv, ev[i].flags, ev[i].len);
	}
	CHECK(ev[2].flags == IOMMUFD_VEVENT_LOST && ev[2].lost == 2 && ev[2].len == 0,
	      "the lost-events record: flags 0x%x, %u lost, seq %u", ev[2].flags, ev[2].lost, ev[2].sequence);
	CHECK_RET(iommufd_veventq_read(q, ev, 8), -EAGAIN, "drained");
	/* A gap without the record: overflow, read one, then a new event
	 * makes the kernel take its record back. */
	for (int i = 0; i < 3; i++)
		CHECK_RET(mock_trigger_vevent(fd, m->idev_id), 0, "trigger event %d", 4 + i);
	read_events(q, ev, 1, &got);
	CHECK(got == 1 && ev[0].flags == 0, "one event read (got %d, flags 0x%x)", got, ev[0].flags);
	CHECK_RET(mock_trigger_vevent(fd, m->idev_id), 0, "one more event");
	read_events(q, ev, 8, &got);
	CHECK(got == 2, "two records (got %d)", got);
	if (got == 2)
		CHECK(ev[0].flags == 0 && (ev[1].flags & IOMMUFD_VEVENT_GAP) && ev[1].lost == 1,
		      "the last event follows a gap of 1 (flags 0x%x/0x%x, lost %u)", ev[0].flags, ev[1].flags, ev[1].lost);
	CHECK_RET(iommufd_veventq_get_stats(q, &st), 0, "stats");
	CHECK(st.lost == 3 && st.lost_records == 1 && st.gaps == 1 && st.events == 5,
	      "stats: %" PRIu64 " lost, %" PRIu64 " records, %" PRIu64 " gaps, %" PRIu64 " events", st.lost,
	      st.lost_records, st.gaps, st.events);

	/* HW queues: the queue memory must be mapped in the parent's IOAS. */
	buf = itest_alloc(Q_LEN, Q_LEN);
	REQUIRE(buf, "queue memory");
	itest_map_fixed(ioas, buf, Q_LEN, IOVA_Q, "HW queue memory");
	vid = iommufd_viommu_get_id(v);
	(void)vid;
	CHECK_RET(iommufd_hw_queue_create(v, IOMMUFD_HW_QUEUE_TYPE_SELFTEST, 1, IOVA_Q, Q_LEN, &hbad), -EIO,
		  "index 1 before index 0 (the mock wants order)");
	REQUIRE_RET(iommufd_hw_queue_create(v, IOMMUFD_HW_QUEUE_TYPE_SELFTEST, 0, IOVA_Q, Q_LEN, &h0), 0, "HW queue 0");
	REQUIRE_RET(iommufd_hw_queue_create(v, IOMMUFD_HW_QUEUE_TYPE_SELFTEST, 1, IOVA_Q, Q_LEN, &h1), 0, "HW queue 1");
	CHECK_RET(iommufd_hw_queue_create(v, IOMMUFD_HW_QUEUE_TYPE_SELFTEST, 1, IOVA_Q, Q_LEN, &hbad), -EEXIST,
		  "index 1 twice");
	CHECK(!hbad, "no queue handed out");
	CHECK_RET(iommufd_hw_queue_destroy(h0), -EBUSY, "queue 0 while queue 1 depends on it");
	CHECK_RET(iommufd_hw_queue_destroy(h1), 0, "queue 1");
	CHECK_RET(iommufd_hw_queue_destroy(h0), 0, "queue 0");

	/* Children first, then the vIOMMU. */
	CHECK_RET(iommufd_hwpt_destroy(n), -EBUSY, "the nested HWPT cannot go while the device uses it");
	CHECK_RET(mock_replace(fd, m->stdev_id, (uint32_t)iommufd_ioas_get_id(ioas), NULL), 0,
		  "the mock device back on its IOAS");
	CHECK_RET(iommufd_veventq_destroy(q), 0, "destroy the vEVENTQ");
	CHECK_RET(iommufd_hwpt_destroy(n), 0, "destroy the nested HWPT");
	CHECK_RET(iommufd_vdevice_destroy(vd), 0, "destroy the vDEVICE");
	CHECK_RET(iommufd_viommu_destroy(v), 0, "destroy the vIOMMU");

	/* And a full set left to the context's destroy (with a HW queue). */
	REQUIRE_RET(iommufd_viommu_create(m->dev, parent, &vo, &v), 0, "a second vIOMMU");
	CHECK_RET(iommufd_vdevice_create(v, m->dev, virt, &vd), 0, "its vDEVICE");
	CHECK_RET(iommufd_veventq_create(v, &eo, &q), 0, "its vEVENTQ");
	CHECK_RET(iommufd_hwpt_create_nested(m->dev, NULL, v, &no, &n), 0, "a nested HWPT on it");
	CHECK_RET(iommufd_hw_queue_create(v, IOMMUFD_HW_QUEUE_TYPE_SELFTEST, 0, IOVA_Q, Q_LEN, &h0), 0, "a HW queue");
}

static void cdev_cell(struct iommufd_ctx *ctx)
{
	struct iommufd_hwpt_opts po = { .sz = sizeof(po), .flags = IOMMUFD_HWPT_NEST_PARENT };
	struct iommufd_feature_status st;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_hwpt *parent = NULL;
	struct mock_dev m;
	int fd;

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	mock_dev_open(ctx, ioas, 0, &m);
	fd = iommufd_ctx_get_fd(ctx);
	/* Which kernel: IFD_KERNEL is 7.3 or 6.12 (the 6.12-src cell: nesting
	 * and invalidation since 6.8, vIOMMUs since 6.13, vEVENTQs 6.15, HW
	 * queues 6.17).  The query must say so, and the calls must agree. */
	bool k73 = !strcmp(itest_env_req("IFD_KERNEL"), "7.3");
	int viommu;

	CHECK(feature_get(ctx, NULL, IOMMUFD_FEATURE_HWPT_INVALIDATE, &st, "HWPT_INVALIDATE") == 1,
	      "the kernel invalidates (6.8+)");
	viommu = feature_get(ctx, NULL, IOMMUFD_FEATURE_VIOMMU, &st, "VIOMMU");
	CHECK(viommu == k73, "vIOMMUs %s on %s", k73 ? "offered" : "reported missing", itest_env_req("IFD_KERNEL"));
	if (!k73) {
		feature_check_no(ctx, NULL, IOMMUFD_FEATURE_VIOMMU, R_BIT(IOMMUFD_REASON_KERNEL), "VIOMMU");
		feature_check_no(ctx, NULL, IOMMUFD_FEATURE_VEVENTQ, R_BIT(IOMMUFD_REASON_KERNEL), "VEVENTQ");
		feature_check_no(ctx, NULL, IOMMUFD_FEATURE_HW_QUEUE, R_BIT(IOMMUFD_REASON_KERNEL), "HW_QUEUE");
	} else {
		CHECK(feature_get(ctx, NULL, IOMMUFD_FEATURE_VEVENTQ, &st, "VEVENTQ") == 1, "7.3 has vEVENTQs");
		CHECK(feature_get(ctx, NULL, IOMMUFD_FEATURE_HW_QUEUE, &st, "HW_QUEUE") == 1, "7.3 has HW queues");
	}
	REQUIRE_RET(iommufd_hwpt_create(m.dev, ioas, &po, &parent), 0, "the nesting parent");
	nested_part(ctx, fd, &m, ioas, parent);
	if (viommu == 1) {
		viommu_part(ctx, fd, &m, ioas, parent);
	} else {
		struct iommufd_viommu_opts vo = { .sz = sizeof(vo), .type = IOMMUFD_VIOMMU_TYPE_SELFTEST };
		struct iommufd_viommu *v = NULL;

		feature_check_refused(iommufd_viommu_create(m.dev, parent, &vo, &v), ctx, NULL,
				      IOMMUFD_FEATURE_VIOMMU, R_BIT(IOMMUFD_REASON_KERNEL), "VIOMMU",
				      "iommufd_viommu_create");
		CHECK(!v, "no vIOMMU handed out");
	}
	/* The context destroy (main) frees the second vIOMMU set, the parent,
	 * the device handle and the IOAS; the mock device object goes with
	 * the iommufd. */
}

/* GROUP and TYPE1: nothing of it, refused the documented way. */
static void refused(struct iommufd_ctx *ctx, struct iommufd_device *dev)
{
	struct mock_hwpt_data d = { 0 };
	struct iommufd_hwpt_nested_opts no = { .sz = sizeof(no), .data_type = IOMMUFD_HWPT_DATA_SELFTEST, .data = &d,
					       .data_len = sizeof(d) };
	struct iommufd_viommu_opts vo = { .sz = sizeof(vo), .type = IOMMUFD_VIOMMU_TYPE_SELFTEST };
	struct iommufd_hwpt *n = NULL;
	struct iommufd_viommu *v = NULL;
	uint32_t reasons = feature_backend_reasons();

	/* No parent can exist here, so the calls are bad arguments (checked
	 * first, whatever the backend); the query says why none exists. */
	CHECK_RET(iommufd_hwpt_create_nested(dev, NULL, NULL, &no, &n), -EINVAL,
		  "iommufd_hwpt_create_nested without a parent or vIOMMU");
	CHECK_RET(iommufd_viommu_create(dev, NULL, &vo, &v), -EINVAL, "iommufd_viommu_create without a parent");
	CHECK(!n && !v, "nothing handed out");
	feature_check_no(ctx, NULL, IOMMUFD_FEATURE_HWPT, reasons, "HWPT");
	feature_check_no(ctx, NULL, IOMMUFD_FEATURE_VIOMMU, reasons, "VIOMMU");
	feature_check_no(ctx, NULL, IOMMUFD_FEATURE_HWPT_INVALIDATE, reasons, "HWPT_INVALIDATE");
	feature_check_no(ctx, NULL, IOMMUFD_FEATURE_VEVENTQ, reasons, "VEVENTQ");
	feature_check_no(ctx, NULL, IOMMUFD_FEATURE_HW_QUEUE, reasons, "HW_QUEUE");
}

static void group_cell(struct iommufd_ctx *ctx)
{
	struct iommufd_ioas *ioas = NULL;
	struct mock_dev m;

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	mock_dev_open(ctx, ioas, 0, &m);
	refused(ctx, m.dev);
	mock_dev_close(ctx, &m);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
}

int main(void)
{
	struct iommufd_ctx *ctx;

	itest_start("mock_viommu");
	itest_env_req("IFD_KERNEL");
	ctx = itest_ctx();
	switch (cell_kind(ctx)) {
	case CELL_CDEV:
		cdev_cell(ctx);
		break;
	case CELL_GROUP:
		group_cell(ctx);
		break;
	case CELL_TYPE1:
	case CELL_NOIOMMU: {
		struct iommufd_ioas *ioas = NULL;
		struct itest_edu x;

		if (cell_kind(ctx) == CELL_NOIOMMU)
			feature_check_noiommu_context(ctx);
		else
			feature_check_type1_context(ctx);
		REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
		itest_edu_open(&x, ioas, itest_env_req("IFD_EDU"));
		refused(ctx, x.dev);
		itest_edu_close(&x);
		CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
		break;
	}
	}
	iommufd_ctx_destroy(ctx);
	return itest_finish();
}
