/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Checks of the issue-8 features shared by the integration tests: a call
 * the library refuses must be refused the documented way (-EOPNOTSUPP,
 * and iommufd_feature_query() saying no with a reason and a line for a
 * human), and the mock IOMMU's devices adopted by ID.  Include after
 * itest.h.
 */
#ifndef IFD_FEATURE_H
#define IFD_FEATURE_H

#include "itest.h"
#include "mock.h"

static inline const char *feature_reason_name(uint32_t r)
{
	static const char *const names[] = { "NONE", "LIBRARY", "KERNEL", "BACKEND", "IOMMU", "DEVICE",
					     "NEED_DEVICE" };

	return r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/* The query's answer: 1 or 0 (with @st filled), checked to be one of them. */
static inline int feature_get(struct iommufd_ctx *ctx, struct iommufd_device *dev, enum iommufd_feature f,
			      struct iommufd_feature_status *st, const char *fname)
{
	int q;

	memset(st, 0, sizeof(*st));
	st->sz = sizeof(*st);
	q = iommufd_feature_query(ctx, dev, f, st);
	CHECK(q == 0 || q == 1, "iommufd_feature_query(%s%s) answers 0 or 1 (got %d)", fname, dev ? ", device" : "",
	      q);
	st->why[sizeof(st->why) - 1] = '\0';
	if (q == 1)
		CHECK(st->reason == IOMMUFD_REASON_NONE, "%s supported: reason NONE (got %s)", fname,
		      feature_reason_name(st->reason));
	else if (q == 0)
		itest_note("%s not supported: reason %s: %s", fname, feature_reason_name(st->reason), st->why);
	return q;
}

/* The query says no, for one of the reasons in the mask (1u << reason). */
static inline bool feature_check_no(struct iommufd_ctx *ctx, struct iommufd_device *dev, enum iommufd_feature f,
				    uint32_t reasons, const char *fname)
{
	struct iommufd_feature_status st;
	int q = feature_get(ctx, dev, f, &st, fname);

	return CHECK(q == 0 && st.reason < 32 && (reasons & (1u << st.reason)) && st.why[0],
		     "%s is reported unsupported, reason %s, with a reason line ('%s')", fname,
		     feature_reason_name(st.reason), st.why);
}

#define R_BIT(r) (1u << (r))

/* A call refused the documented way: -EOPNOTSUPP and the query agrees. */
static inline bool feature_check_refused(int ret, struct iommufd_ctx *ctx, struct iommufd_device *dev,
					 enum iommufd_feature f, uint32_t reasons, const char *fname, const char *call)
{
	bool ok = CHECK_RET(ret, -EOPNOTSUPP, "%s is refused (%s unsupported)", call, fname);

	return feature_check_no(ctx, dev, f, reasons, fname) && ok;
}

/* The reasons a missing iommufd path may give on this cell: BACKEND, and on
 * Debian's kernels (no iommufd built in) KERNEL too. */
static inline uint32_t feature_backend_reasons(void)
{
	return R_BIT(IOMMUFD_REASON_BACKEND) | (itest_stock_kernel() ? R_BIT(IOMMUFD_REASON_KERNEL) : 0);
}

/*
 * On a TYPE1 context nothing of iommufd is there: every iommufd feature
 * is reported missing and the calls that need /dev/iommu say -EOPNOTSUPP.
 */
static inline void feature_check_type1_context(struct iommufd_ctx *ctx)
{
	static const struct {
		enum iommufd_feature f;
		const char *name;
	} fs[] = {
		{ IOMMUFD_FEATURE_IOMMUFD, "IOMMUFD" },
		{ IOMMUFD_FEATURE_HW_INFO, "HW_INFO" },
		{ IOMMUFD_FEATURE_HWPT, "HWPT" },
		{ IOMMUFD_FEATURE_HWPT_REPLACE, "HWPT_REPLACE" },
		{ IOMMUFD_FEATURE_FAULT_QUEUE, "FAULT_QUEUE" },
		{ IOMMUFD_FEATURE_DEVICE_ADOPT_ID, "DEVICE_ADOPT_ID" },
	};
	struct iommufd_fault_queue *q = NULL;
	struct iommufd_device *dev = NULL;

	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		feature_check_no(ctx, NULL, fs[i].f, feature_backend_reasons(), fs[i].name);
	CHECK_RET(iommufd_ctx_get_fd(ctx), -EOPNOTSUPP, "iommufd_ctx_get_fd on a TYPE1 context");
	CHECK_RET(iommufd_device_adopt_id(ctx, 1, -1, NULL, &dev), -EOPNOTSUPP, "iommufd_device_adopt_id on TYPE1");
	CHECK(dev == NULL, "a refused adopt leaves the out pointer alone");
	CHECK_RET(iommufd_fault_queue_create(ctx, NULL, &q), -EOPNOTSUPP, "iommufd_fault_queue_create on TYPE1");
	CHECK(q == NULL, "a refused queue create leaves the out pointer alone");
}

/*
 * On a NOIOMMU context there is no IOMMU to give HWPTs, faults or
 * anything built on them: each is reported missing for the backend, and
 * a fault queue is refused although the kernel would allocate one.  Only
 * the iommufd path has /dev/iommu (the legacy group path has not).
 */
static inline void feature_check_noiommu_context(struct iommufd_ctx *ctx)
{
	static const struct {
		enum iommufd_feature f;
		const char *name;
	} fs[] = {
		{ IOMMUFD_FEATURE_HW_INFO, "HW_INFO" },
		{ IOMMUFD_FEATURE_HWPT, "HWPT" },
		{ IOMMUFD_FEATURE_NEST_PARENT, "NEST_PARENT" },
		{ IOMMUFD_FEATURE_DIRTY_TRACKING, "DIRTY_TRACKING" },
		{ IOMMUFD_FEATURE_PASID, "PASID" },
		{ IOMMUFD_FEATURE_FAULT_QUEUE, "FAULT_QUEUE" },
		{ IOMMUFD_FEATURE_VIOMMU, "VIOMMU" },
		{ IOMMUFD_FEATURE_VEVENTQ, "VEVENTQ" },
		{ IOMMUFD_FEATURE_HW_QUEUE, "HW_QUEUE" },
	};
	struct iommufd_feature_status st;
	struct iommufd_fault_queue *q = NULL;
	int fd = iommufd_ctx_get_fd(ctx), has;

	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		feature_check_no(ctx, NULL, fs[i].f, R_BIT(IOMMUFD_REASON_BACKEND), fs[i].name);
	has = feature_get(ctx, NULL, IOMMUFD_FEATURE_IOMMUFD, &st, "IOMMUFD");
	CHECK((has == 1) == (fd >= 0), "IOMMUFD is reported %s, and iommufd_ctx_get_fd agrees (%d)",
	      has == 1 ? "present" : "missing", fd);
	CHECK_RET(iommufd_fault_queue_create(ctx, NULL, &q), -EOPNOTSUPP, "iommufd_fault_queue_create without an IOMMU");
	CHECK(q == NULL, "a refused queue create leaves the out pointer alone");
}

/* --------------------------------------------------------- mock devices */

struct mock_dev {
	uint32_t stdev_id, idev_id, hwpt_id; /* hwpt_id: where the kernel attached it */
	struct iommufd_device *dev;          /* the library's handle (adopted, no fd) */
};

/* The context's iommufd fd, and the mock IOMMU in it (a 7.3 test kernel
 * always has it: its absence is a rig failure). */
static inline int mock_fd(struct iommufd_ctx *ctx)
{
	int fd = iommufd_ctx_get_fd(ctx);

	REQUIRE(fd >= 0, "iommufd_ctx_get_fd gives the /dev/iommu fd (%d)", fd);
	REQUIRE(mock_available(fd) == 1, "the kernel's mock IOMMU answers (CONFIG_IOMMUFD_TEST)");
	return fd;
}

/* A mock device attached to @ioas by the kernel, adopted by the library. */
static inline void mock_dev_open(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, uint32_t dev_flags,
				 struct mock_dev *m)
{
	int fd = mock_fd(ctx);
	int64_t ioas_id = iommufd_ioas_get_id(ioas);

	memset(m, 0, sizeof(*m));
	REQUIRE(ioas_id > 0, "IOAS has an iommufd ID (%" PRId64 ")", ioas_id);
	REQUIRE_RET(mock_dev_create(fd, (uint32_t)ioas_id, dev_flags, &m->stdev_id, &m->hwpt_id, &m->idev_id), 0,
		    "mock device (flags 0x%x) created on IOAS %" PRId64, dev_flags, ioas_id);
	itest_note("mock device: object %u, iommufd device ID %u, automatic HWPT %u", m->stdev_id, m->idev_id,
		   m->hwpt_id);
	REQUIRE_RET(iommufd_device_adopt_id(ctx, m->idev_id, -1, NULL, &m->dev), 0,
		    "iommufd_device_adopt_id(%u, fd -1)", m->idev_id);
	CHECK(iommufd_device_get_id(m->dev) == m->idev_id, "the adopted device reports ID %u (got %" PRId64 ")",
	      m->idev_id, iommufd_device_get_id(m->dev));
}

/* The library lets go first (it does not own the mock), then the kernel
 * object goes. */
static inline void mock_dev_close(struct iommufd_ctx *ctx, struct mock_dev *m)
{
	int fd = iommufd_ctx_get_fd(ctx);

	if (m->dev)
		CHECK_RET(iommufd_device_destroy(m->dev), 0, "destroy the adopted mock device handle");
	m->dev = NULL;
	if (m->stdev_id)
		CHECK_RET(mock_destroy(fd, m->stdev_id), 0, "IOMMU_DESTROY of the mock device %u", m->stdev_id);
	m->stdev_id = 0;
}

/* Bytes of struct mock_hwpt_data the kernel's mock takes: 6.12 knows only
 * iotlb, and refuses vendor data longer than its struct (iommu.h,
 * __iommu_copy_struct_from_user()); 7.3 added pagetable_type. */
static inline uint32_t mock_hwpt_data_len(void)
{
	return strcmp(itest_env_req("IFD_KERNEL"), "6.12") ? sizeof(struct mock_hwpt_data) :
							     offsetof(struct mock_hwpt_data, pagetable_type);
}

/*
 * An HWPT of @ioas whose faults go to @q, with the mock moved onto it: pt[0]
 * is that HWPT, pt[1] its nesting parent or NULL.  6.12 takes a fault
 * queue only on a nested HWPT (its paging allocation knows no
 * IOMMU_HWPT_FAULT_ID_VALID): there the paging form must be refused with
 * -EOPNOTSUPP, and the queue goes on a nested HWPT of a nesting parent.
 */
static inline void mock_fault_hwpt(struct iommufd_ctx *ctx, struct iommufd_ioas *ioas, struct mock_dev *m,
				   struct iommufd_fault_queue *q, struct iommufd_hwpt *pt[2])
{
	struct iommufd_hwpt_opts ho = { .sz = sizeof(ho), .fault = q };

	pt[0] = pt[1] = NULL;
	if (!strcmp(itest_env_req("IFD_KERNEL"), "6.12")) {
		struct iommufd_hwpt_opts po = { .sz = sizeof(po), .flags = IOMMUFD_HWPT_NEST_PARENT };
		struct mock_hwpt_data d = { .iotlb = MOCK_IOTLB_DEFAULT };
		struct iommufd_hwpt_nested_opts no = { .sz = sizeof(no), .data_type = IOMMUFD_HWPT_DATA_SELFTEST,
						       .data = &d, .data_len = mock_hwpt_data_len(), .fault = q };
		struct iommufd_hwpt *bad = NULL;

		CHECK_RET(iommufd_hwpt_create(m->dev, ioas, &ho, &bad), -EOPNOTSUPP,
			  "6.12 refuses a fault queue on a paging HWPT");
		if (bad)
			iommufd_hwpt_destroy(bad);
		REQUIRE_RET(iommufd_hwpt_create(m->dev, ioas, &po, &pt[1]), 0, "a nesting parent");
		REQUIRE_RET(iommufd_hwpt_create_nested(m->dev, pt[1], NULL, &no, &pt[0]), 0,
			    "a nested HWPT reporting to the queue");
	} else {
		REQUIRE_RET(iommufd_hwpt_create(m->dev, ioas, &ho, &pt[0]), 0, "HWPT reporting to the queue");
	}
	REQUIRE_RET(mock_replace(iommufd_ctx_get_fd(ctx), m->stdev_id, iommufd_hwpt_get_id(pt[0]), NULL), 0,
		    "the mock device moves onto that HWPT");
}

static inline void mock_fault_hwpt_destroy(struct iommufd_hwpt *pt[2])
{
	CHECK_RET(iommufd_hwpt_destroy(pt[0]), 0, "destroy the HWPT");
	if (pt[1])
		CHECK_RET(iommufd_hwpt_destroy(pt[1]), 0, "destroy its nesting parent");
	pt[0] = pt[1] = NULL;
}

/* Where is this cell?  7.3 with CDEV (HWPTs), 7.3 GROUP (iommufd but no
 * HWPTs), TYPE1 (7.3-type1, 6.12), or no IOMMU at all (7.3-noiommu). */
enum cell_kind { CELL_CDEV, CELL_GROUP, CELL_TYPE1, CELL_NOIOMMU };

static inline enum cell_kind cell_kind(struct iommufd_ctx *ctx)
{
	switch (iommufd_ctx_get_backend(ctx)) {
	case IOMMUFD_BACKEND_CDEV:
		return CELL_CDEV;
	case IOMMUFD_BACKEND_GROUP:
		return CELL_GROUP;
	case IOMMUFD_BACKEND_NOIOMMU:
		return CELL_NOIOMMU;
	default:
		return CELL_TYPE1;
	}
}

/* The main of a test with one part per kind of cell: CDEV and GROUP run
 * theirs, TYPE1 checks that the context offers none of iommufd's features,
 * NOIOMMU none of an IOMMU's. */
static inline int feature_main(const char *name, void (*cdev)(struct iommufd_ctx *ctx),
			       void (*group)(struct iommufd_ctx *ctx))
{
	struct iommufd_ctx *ctx;

	itest_start(name);
	itest_env_req("IFD_KERNEL");
	ctx = itest_ctx();
	switch (cell_kind(ctx)) {
	case CELL_CDEV:
		cdev(ctx);
		break;
	case CELL_GROUP:
		group(ctx);
		break;
	case CELL_TYPE1:
		feature_check_type1_context(ctx);
		break;
	case CELL_NOIOMMU:
		feature_check_noiommu_context(ctx);
		break;
	}
	iommufd_ctx_destroy(ctx);
	return itest_finish();
}

#endif
