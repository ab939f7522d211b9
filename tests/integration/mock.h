/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Test-only access to the kernel's mock IOMMU (CONFIG_IOMMUFD_TEST): a
 * software IOMMU with devices that exist only inside an iommufd, which
 * can inject I/O page faults, set dirty bits and report what its page
 * table holds.  Never part of the library: the ops are a kernel test
 * interface with no ABI promise, so this file states only the layout
 * the 7.3 kernel has (checked below) and the tests that use it check
 * every answer.
 *
 * The layout was learnt from the kernel's test interface
 * (drivers/iommu/iommufd/iommufd_test.h of Linux 7.3); the names here
 * are ours.  Every helper takes the iommufd fd (iommufd_ctx_get_fd())
 * and returns 0 or a negative errno (errno set too).
 */
#ifndef IFD_MOCK_H
#define IFD_MOCK_H

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

/* iommufd's ioctl type and first command number (IOMMU_DESTROY). */
#define MOCK_IOMMUFD_TYPE ';'
#define MOCK_IOMMUFD_BASE 0x80
#define MOCK_IOMMU_DESTROY _IO(MOCK_IOMMUFD_TYPE, MOCK_IOMMUFD_BASE)
/* The test command: the 33rd iommufd command number. */
#define MOCK_TEST_CMD _IO(MOCK_IOMMUFD_TYPE, MOCK_IOMMUFD_BASE + 32)

/* Op numbers: the kernel's enumeration starts at 1 and only grows. */
enum mock_op {
	MOCK_OP_ADD_RESERVED = 1,
	MOCK_OP_MOCK_DOMAIN = 2,
	MOCK_OP_MD_CHECK_MAP = 3,
	MOCK_OP_MOCK_DOMAIN_REPLACE = 10,
	MOCK_OP_MOCK_DOMAIN_FLAGS = 12,
	MOCK_OP_DIRTY = 13,
	MOCK_OP_MD_CHECK_IOTLB = 14,
	MOCK_OP_TRIGGER_IOPF = 15,
	MOCK_OP_DEV_CHECK_CACHE = 16,
	MOCK_OP_TRIGGER_VEVENT = 17,
	MOCK_OP_PASID_ATTACH = 18,
	MOCK_OP_PASID_REPLACE = 19,
	MOCK_OP_PASID_DETACH = 20,
	MOCK_OP_PASID_CHECK_HWPT = 21,
};

/* The mock IOMMU's default page table (what a paging HWPT on it gets). */
#define MOCK_APERTURE_FIRST 0x1000000ull  /* 16 MiB */
#define MOCK_APERTURE_LAST  0x7fffffffull /* 2 GiB - 1 */
#define MOCK_PAGE_SIZE      2048ull       /* its smallest IOMMU page */
/* Its huge page table (7.3+: struct mock_hwpt_data.pagetable_type on a
 * paging HWPT's IOMMUFD_HWPT_DATA_SELFTEST): 1 MiB leaves besides the CPU
 * page, no aperture limit, one dirty bit per leaf. */
#define MOCK_IOMMUPT_DEFAULT 0u
#define MOCK_IOMMUPT_HUGE    1u
#define MOCK_HUGE_PAGE_SIZE  (512 * MOCK_PAGE_SIZE)
#define MOCK_PASID_BITS     20u

/* Mock device flags (MOCK_OP_MOCK_DOMAIN_FLAGS).  Bit 1 meant "huge IOVA"
 * up to 6.12 and is gone since: never set it.  MOCK_DEV_PASID is refused
 * (-EINVAL) by a mock without PASIDs: probe with mock_has_pasid(). */
#define MOCK_DEV_NO_DIRTY (1u << 0) /* its IOMMU cannot track dirty pages */
#define MOCK_DEV_PASID    (1u << 2) /* it has PASIDs (MOCK_PASID_BITS) */

/* IOMMU_GET_HW_INFO's type for the mock, and its vendor data. */
#define MOCK_HW_INFO_TYPE   0xfeedbeefu
#define MOCK_HW_INFO_REGVAL 0xdeadbeefu
struct mock_hw_info {
	uint32_t flags;
	uint32_t test_reg; /* MOCK_HW_INFO_REGVAL */
};

struct mock_cmd {
	uint32_t size;
	uint32_t op;
	uint32_t id; /* the object the op is about (IOAS, HWPT, device) */
	uint32_t reserved;
	union {
		struct {
			uint32_t out_stdev_id; /* the mock's own object: destroy it */
			uint32_t out_hwpt_id;
			uint32_t out_idev_id; /* the iommufd device ID */
			uint32_t dev_flags;   /* MOCK_DEV_* (the _FLAGS form only) */
		} domain;
		struct {
			uint32_t pt_id;
		} replace;
		struct {
			uint64_t iova;
			uint64_t length;
			uint64_t uptr;
		} check_map;
		struct {
			uint32_t flags;
			uint64_t iova;
			uint64_t length;
			uint64_t page_size;
			uint64_t uptr;
			uint64_t out_nr_dirty;
		} dirty;
		struct {
			uint32_t dev_id;
			uint32_t pasid;
			uint32_t grpid;
			uint32_t perm;
			uint64_t addr;
		} iopf;
		struct {
			uint32_t pasid;
			uint32_t pt_id;
		} pasid;
		struct {
			uint32_t id;    /* the IOTLB entry or device cache entry, 0..3 */
			uint32_t value; /* what it must hold */
		} check_cache;
		struct {
			uint32_t dev_id;
		} vevent;
		uint64_t pad[6]; /* the kernel's union is 48 bytes (its widest member) */
	};
	uint32_t last;
};

/* What these helpers rely on; the kernel checks size >= the end of @last. */
static_assert(offsetof(struct mock_cmd, domain) == 16, "mock_cmd union offset");
static_assert(offsetof(struct mock_cmd, last) == 64, "mock_cmd.last offset");
static_assert(sizeof(struct mock_cmd) == 72, "mock_cmd size");
static_assert(offsetof(struct mock_cmd, dirty.iova) == 24, "dirty.iova offset");
static_assert(offsetof(struct mock_cmd, dirty.out_nr_dirty) == 56, "dirty.out_nr_dirty offset");
static_assert(offsetof(struct mock_cmd, iopf.addr) == 32, "iopf.addr offset");
static_assert(offsetof(struct mock_cmd, domain.dev_flags) == 28, "domain.dev_flags offset");

static inline int mock_ioctl(int fd, unsigned long req, void *arg)
{
	if (ioctl(fd, req, arg) == 0)
		return 0;
	return -errno;
}

static inline int mock_cmd_run(int fd, struct mock_cmd *c)
{
	c->size = sizeof(*c);
	return mock_ioctl(fd, MOCK_TEST_CMD, c);
}

/*
 * Is the mock there?  An op on an ID that cannot exist: the kernel with
 * CONFIG_IOMMUFD_TEST looks the object up (-ENOENT); one without it has
 * no such ioctl (-ENOTTY).  Returns 1, 0, or another negative errno.
 */
static inline int mock_available(int fd)
{
	struct mock_cmd c = { .op = MOCK_OP_MOCK_DOMAIN_REPLACE, .id = 0xfffffff0u };
	int r = mock_cmd_run(fd, &c);

	if (r == -ENOTTY)
		return 0;
	return r == -ENOENT ? 1 : r;
}

/*
 * Create a mock device bound to the iommufd and attached to @pt_id (an
 * IOAS: the kernel makes it an automatic HWPT, or an HWPT).  @stdev_id is
 * the mock's object (mock_destroy() removes the device), @hwpt_id where
 * it is attached, @idev_id its iommufd device ID.  Any out pointer may be
 * NULL.
 */
static inline int mock_dev_create(int fd, uint32_t pt_id, uint32_t dev_flags, uint32_t *stdev_id, uint32_t *hwpt_id,
				  uint32_t *idev_id)
{
	struct mock_cmd c = { .op = dev_flags ? MOCK_OP_MOCK_DOMAIN_FLAGS : MOCK_OP_MOCK_DOMAIN, .id = pt_id };
	int r;

	c.domain.dev_flags = dev_flags;
	r = mock_cmd_run(fd, &c);
	if (r)
		return r;
	if (stdev_id)
		*stdev_id = c.domain.out_stdev_id;
	if (hwpt_id)
		*hwpt_id = c.domain.out_hwpt_id;
	if (idev_id)
		*idev_id = c.domain.out_idev_id;
	return 0;
}

/* Move the mock device @stdev_id to @pt_id (IOAS or HWPT), atomically. */
static inline int mock_replace(int fd, uint32_t stdev_id, uint32_t pt_id, uint32_t *out_hwpt_id)
{
	struct mock_cmd c = { .op = MOCK_OP_MOCK_DOMAIN_REPLACE, .id = stdev_id };
	int r;

	c.replace.pt_id = pt_id;
	r = mock_cmd_run(fd, &c);
	if (!r && out_hwpt_id)
		*out_hwpt_id = c.replace.pt_id;
	return r;
}

/* Remove an iommufd object by ID (the mock device: its stdev ID). */
static inline int mock_destroy(int fd, uint32_t id)
{
	struct {
		uint32_t size;
		uint32_t id;
	} d = { sizeof(d), id };

	return mock_ioctl(fd, MOCK_IOMMU_DESTROY, &d);
}

/*
 * One page request from the iommufd device @dev_id, as the last (and only)
 * request of group @grpid.  @pasid 0 means none (the kernel's "no PASID").
 * @perm: IOMMUFD_PRQ_READ/WRITE/... (the kernel's bits).
 */
static inline int mock_trigger_iopf(int fd, uint32_t dev_id, uint32_t pasid, uint32_t grpid, uint32_t perm,
				    uint64_t addr)
{
	struct mock_cmd c = { .op = MOCK_OP_TRIGGER_IOPF };

	c.iopf.dev_id = dev_id;
	c.iopf.pasid = pasid;
	c.iopf.grpid = grpid;
	c.iopf.perm = perm;
	c.iopf.addr = addr;
	return mock_cmd_run(fd, &c);
}

/*
 * Mark dirty, in the mock HWPT @hwpt_id (tracking on), the pages of
 * [@iova, @iova+@len) in units of @page_size whose bit is set in @bitmap
 * (bit i = @iova + i * @page_size).  @nr_dirty receives how many it set.
 */
static inline int mock_set_dirty(int fd, uint32_t hwpt_id, uint64_t iova, uint64_t len, uint64_t page_size,
				 const uint64_t *bitmap, uint64_t *nr_dirty)
{
	struct mock_cmd c = { .op = MOCK_OP_DIRTY, .id = hwpt_id };
	int r;

	c.dirty.iova = iova;
	c.dirty.length = len;
	c.dirty.page_size = page_size;
	c.dirty.uptr = (uintptr_t)bitmap;
	r = mock_cmd_run(fd, &c);
	if (!r && nr_dirty)
		*nr_dirty = c.dirty.out_nr_dirty;
	return r;
}

/*
 * 0 if every MOCK_PAGE_SIZE page of [@iova, @iova+@len) in HWPT @hwpt_id
 * translates to the memory at @buf (same offsets); -EINVAL if one does not
 * (unmapped or elsewhere).  @iova, @len and @buf: MOCK_PAGE_SIZE aligned.
 */
static inline int mock_check_map(int fd, uint32_t hwpt_id, uint64_t iova, uint64_t len, const void *buf)
{
	struct mock_cmd c = { .op = MOCK_OP_MD_CHECK_MAP, .id = hwpt_id };

	c.check_map.iova = iova;
	c.check_map.length = len;
	c.check_map.uptr = (uintptr_t)buf;
	return mock_cmd_run(fd, &c);
}

/* PASID @pasid of mock device @stdev_id: attach to / replace with @pt_id. */
static inline int mock_pasid_attach(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t pt_id)
{
	struct mock_cmd c = { .op = MOCK_OP_PASID_ATTACH, .id = stdev_id };

	c.pasid.pasid = pasid;
	c.pasid.pt_id = pt_id;
	return mock_cmd_run(fd, &c);
}

static inline int mock_pasid_replace(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t pt_id)
{
	struct mock_cmd c = { .op = MOCK_OP_PASID_REPLACE, .id = stdev_id };

	c.pasid.pasid = pasid;
	c.pasid.pt_id = pt_id;
	return mock_cmd_run(fd, &c);
}

static inline int mock_pasid_detach(int fd, uint32_t stdev_id, uint32_t pasid)
{
	struct mock_cmd c = { .op = MOCK_OP_PASID_DETACH, .id = stdev_id };

	c.pasid.pasid = pasid;
	return mock_cmd_run(fd, &c);
}

/*
 * Does this kernel's mock know PASIDs (its ops 18-21 and MOCK_DEV_PASID;
 * 6.12's selftest ABI ends at op 15)?  The check op on an ID that cannot
 * exist: a mock with it looks the device up (-ENOENT), an older one does
 * not know the op (-EOPNOTSUPP).  Returns 1, 0 or another negative errno.
 */
static inline int mock_has_pasid(int fd)
{
	struct mock_cmd c = { .op = MOCK_OP_PASID_CHECK_HWPT, .id = 0xfffffff0u };
	int r = mock_cmd_run(fd, &c);

	if (r == -EOPNOTSUPP)
		return 0;
	return r == -ENOENT ? 1 : r;
}

/* 0 if PASID @pasid of @stdev_id is attached to HWPT @hwpt_id (0: detached). */
static inline int mock_pasid_check(int fd, uint32_t stdev_id, uint32_t pasid, uint32_t hwpt_id)
{
	struct mock_cmd c = { .op = MOCK_OP_PASID_CHECK_HWPT, .id = stdev_id };

	c.pasid.pasid = pasid;
	c.pasid.pt_id = hwpt_id;
	return mock_cmd_run(fd, &c);
}

/* 0 if entry @entry of the nested mock HWPT @hwpt_id's IOTLB holds @value. */
static inline int mock_check_iotlb(int fd, uint32_t hwpt_id, uint32_t entry, uint32_t value)
{
	struct mock_cmd c = { .op = MOCK_OP_MD_CHECK_IOTLB, .id = hwpt_id };

	c.check_cache.id = entry;
	c.check_cache.value = value;
	return mock_cmd_run(fd, &c);
}

/* 0 if entry @entry of the mock device @idev_id's cache holds @value. */
static inline int mock_check_dev_cache(int fd, uint32_t idev_id, uint32_t entry, uint32_t value)
{
	struct mock_cmd c = { .op = MOCK_OP_DEV_CHECK_CACHE, .id = idev_id };

	c.check_cache.id = entry;
	c.check_cache.value = value;
	return mock_cmd_run(fd, &c);
}

/* The mock device @idev_id reports one event (its vDEVICE's virt_id) to
 * its vIOMMU's SELFTEST vEVENTQ. */
static inline int mock_trigger_vevent(int fd, uint32_t idev_id)
{
	struct mock_cmd c = { .op = MOCK_OP_TRIGGER_VEVENT };

	c.vevent.dev_id = idev_id;
	return mock_cmd_run(fd, &c);
}

/* The mock's nested-HWPT data (IOMMUFD_HWPT_DATA_SELFTEST) and cache
 * defaults, and its invalidation entries (IOMMUFD_INVALIDATE_DATA_SELFTEST). */
#define MOCK_IOTLB_DEFAULT     0xbadbeefu
#define MOCK_DEV_CACHE_DEFAULT 0xbaddadu
struct mock_hwpt_data {
	uint32_t iotlb;
	uint32_t pagetable_type;
};
struct mock_hwpt_inv {
	uint32_t flags;
	uint32_t iotlb_id;
};
struct mock_viommu_inv {
	uint32_t flags;
	uint32_t vdev_id;
	uint32_t cache_id;
};

#endif
