/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Capabilities: which iommufd ioctls the running kernel has (probed once per
 * context), what the IOMMU behind a device offers (IOMMU_GET_HW_INFO, read
 * once per device), and iommufd_feature_query(), which turns both into an
 * answer with a reason a human can act on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kabi.h"

#define NR_PROBED 32 /* iommufd commands 0x80 .. 0x9f */

enum { PROBE_UNKNOWN = 0, PROBE_PRESENT = 1, PROBE_ABSENT = 2 };

/*
 * Read and written with atomics rather than under ctx->lock: the probe is
 * idempotent, and callers reach it both with and without ctx->lock held.
 */
struct ifd_caps {
	uint8_t ioctl[NR_PROBED];
};

/* Vendor data kept per device; the kernel's largest (SMMUv3) is 40 bytes. */
#define VENDOR_MAX 256

struct ifd_dev_caps {
	uint32_t type;
	uint32_t max_pasid_log2;
	uint64_t capabilities;
	uint32_t vendor_len;  /* what the kernel has (may exceed VENDOR_MAX) */
	uint32_t vendor_have; /* bytes of @vendor filled */
	uint8_t vendor[VENDOR_MAX];
	int nest;             /* NEST_PARENT probe: 0 not yet, 1 yes, -1 no (under ctx->lock) */
	int nest_err;         /* the kernel's answer when no */
};

void ifd_caps_free(struct iommufd_ctx *ctx)
{
	free(ctx->caps);
	ctx->caps = NULL;
}

void ifd_dev_caps_free(struct iommufd_device *dev)
{
	free(dev->caps);
	dev->caps = NULL;
}

static struct ifd_caps *ctx_caps(struct iommufd_ctx *ctx)
{
	struct ifd_caps *c = __atomic_load_n(&ctx->caps, __ATOMIC_ACQUIRE), *mine;

	if (c)
		return c;
	mine = calloc(1, sizeof(*mine));
	if (!mine)
		return NULL;
	if (!__atomic_compare_exchange_n(&ctx->caps, &c, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		free(mine); /* another thread won: use its copy */
		return c;
	}
	return mine;
}

/*
 * Every iommufd command reads a leading u32 size and refuses one below its
 * minimum with EINVAL before doing anything; an unknown command is ENOTTY.
 * So a zeroed argument with size 0 tells them apart and changes nothing.
 */
int ifd_iommufd_has_ioctl(struct iommufd_ctx *ctx, unsigned long req)
{
	unsigned int nr = _IOC_NR(req) - IFD_K_IOMMUFD_CMD_BASE;
	uint64_t arg[8] = { 0 };
	struct ifd_caps *c;
	uint8_t st;
	int r;

	if (ctx->fd < 0)
		return 0;
	if (_IOC_NR(req) < IFD_K_IOMMUFD_CMD_BASE || nr >= NR_PROBED)
		return -EINVAL;
	c = ctx_caps(ctx);
	if (!c)
		return -ENOMEM;
	st = __atomic_load_n(&c->ioctl[nr], __ATOMIC_RELAXED);
	if (st != PROBE_UNKNOWN)
		return st == PROBE_PRESENT;
	r = ifd_ioctl(ctx, ctx->fd, req, arg);
	if (r == -ENOTTY)
		st = PROBE_ABSENT;
	else if (r == -EINVAL || r >= 0)
		st = PROBE_PRESENT;
	else
		return r; /* not an answer about the command: ask again next time */
	__atomic_store_n(&c->ioctl[nr], st, __ATOMIC_RELAXED);
	return st == PROBE_PRESENT;
}

/*
 * IOMMU_GET_HW_INFO for @dev_id.  The 40-byte form (with capabilities) is
 * accepted by 6.6 too, which only requires the bytes it does not know to
 * be zero and leaves them so.
 */
int ifd_dev_caps_read(struct iommufd_ctx *ctx, uint32_t dev_id, struct ifd_dev_caps **out)
{
	struct ifd_k_hw_info hi;
	struct ifd_dev_caps *dc = calloc(1, sizeof(*dc));
	int r;

	if (!dc)
		return -ENOMEM;
	memset(&hi, 0, sizeof(hi));
	hi.size = IFD_K_HW_INFO_SIZE_CAPS;
	hi.dev_id = dev_id;
	hi.data_len = sizeof(dc->vendor);
	hi.data_uptr = (uintptr_t)dc->vendor;
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_GET_HW_INFO, &hi);
	if (r < 0) {
		free(dc);
		return r == -ENOTTY ? -EOPNOTSUPP : r;
	}
	dc->type = hi.out_data_type;
	dc->max_pasid_log2 = hi.out_max_pasid_log2;
	dc->capabilities = hi.out_capabilities;
	dc->vendor_len = hi.data_len;
	/* The kernel wrote at most what we offered; never trust more. */
	dc->vendor_have = hi.data_len < sizeof(dc->vendor) ? hi.data_len : (uint32_t)sizeof(dc->vendor);
	*out = dc;
	return 0;
}

static const char *hw_info_fail(int r)
{
	return r == -EOPNOTSUPP ? " (the kernel lacks IOMMU_GET_HW_INFO: needs Linux 6.6+, or the device "
				  "has no IOMMU)" : "";
}

/* Caller holds ctx->lock. */
static int dev_caps_get(struct iommufd_device *dev, struct ifd_dev_caps **out)
{
	int r;

	if (!dev->caps) {
		r = ifd_dev_caps_read(dev->ctx, dev->devid, &dev->caps);
		if (r < 0) {
			ifd_err(dev->ctx, "%s: IOMMU_GET_HW_INFO for device ID %u failed: %s%s", dev->name,
				dev->devid, strerror(-r), hw_info_fail(r));
			return r;
		}
	}
	*out = dev->caps;
	return 0;
}

int ifd_dev_pasid_width(struct iommufd_device *dev)
{
	struct ifd_dev_caps *dc;
	int r = dev_caps_get(dev, &dc);

	return r < 0 ? r : (int)dc->max_pasid_log2;
}

static bool dev_ok(const struct iommufd_device *dev)
{
	return dev && dev->state == IFD_ALIVE;
}

IFD_EXPORT int iommufd_device_get_hw_info(struct iommufd_device *dev, struct iommufd_hw_info *info, void *vendor,
					  size_t vendor_len)
{
	struct iommufd_ctx *ctx;
	struct ifd_dev_caps *dc;
	size_t n;
	int r;

	if (!dev_ok(dev) || !info || info->sz < sizeof(*info) || (vendor_len && !vendor))
		return ifd_ret(-EINVAL);
	ctx = dev->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	if (!dev->has_devid) {
		ifd_err(ctx, "%s: the %s backend gives devices no iommufd device ID, so no IOMMU_GET_HW_INFO: "
			"use the cdev backend", dev->name, iommufd_backend_name(ctx->backend));
		return ifd_ret(-EOPNOTSUPP);
	}
	ifd_ctx_lock(ctx);
	r = dev_caps_get(dev, &dc);
	if (r == 0) {
		info->type = dc->type;
		info->max_pasid_log2 = dc->max_pasid_log2;
		info->capabilities = dc->capabilities;
		info->vendor_len = dc->vendor_len;
		n = vendor_len < dc->vendor_have ? vendor_len : dc->vendor_have;
		if (n)
			memcpy(vendor, dc->vendor, n);
		if (vendor_len > n)
			memset((char *)vendor + n, 0, vendor_len - n);
	}
	ifd_ctx_unlock(ctx);
	return ifd_ret(r);
}

/* ------------------------------------------------------------------------ */
/* iommufd_feature_query()                                                  */

struct kcall {
	unsigned long req;
	const char *name;
	const char *since;
};

static const struct kcall k_hw_info = { IFD_K_IOMMU_GET_HW_INFO, "IOMMU_GET_HW_INFO", "6.6" };
static const struct kcall k_hwpt = { IFD_K_IOMMU_HWPT_ALLOC, "IOMMU_HWPT_ALLOC", "6.6" };
static const struct kcall k_dirty = { IFD_K_IOMMU_HWPT_SET_DIRTY_TRACKING, "IOMMU_HWPT_SET_DIRTY_TRACKING", "6.7" };
/* NEST_PARENT came with dirty tracking in 6.7 and has no ioctl of its own:
 * a 6.6 kernel would refuse the flag with the EOPNOTSUPP an IOMMU without
 * nesting gives, so the kernel is judged by its 6.7 ioctl first. */
static const struct kcall k_nest = { IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP, "IOMMU_HWPT_ALLOC_NEST_PARENT", "6.7" };
static const struct kcall k_fault = { IFD_K_IOMMU_FAULT_QUEUE_ALLOC, "IOMMU_FAULT_QUEUE_ALLOC", "6.11" };
static const struct kcall k_copy = { IFD_K_IOMMU_IOAS_COPY, "IOMMU_IOAS_COPY", "6.2" };
static const struct kcall k_map_file = { IFD_K_IOMMU_IOAS_MAP_FILE, "IOMMU_IOAS_MAP_FILE", "6.13" };
static const struct kcall k_inval = { IFD_K_IOMMU_HWPT_INVALIDATE, "IOMMU_HWPT_INVALIDATE", "6.8" };
static const struct kcall k_viommu = { IFD_K_IOMMU_VIOMMU_ALLOC, "IOMMU_VIOMMU_ALLOC", "6.13" };
static const struct kcall k_vdevice = { IFD_K_IOMMU_VDEVICE_ALLOC, "IOMMU_VDEVICE_ALLOC", "6.13" };
static const struct kcall k_veventq = { IFD_K_IOMMU_VEVENTQ_ALLOC, "IOMMU_VEVENTQ_ALLOC", "6.15" };
static const struct kcall k_hw_queue = { IFD_K_IOMMU_HW_QUEUE_ALLOC, "IOMMU_HW_QUEUE_ALLOC", "6.17" };
static const struct kcall k_chproc = { IFD_K_IOMMU_IOAS_CHANGE_PROCESS, "IOMMU_IOAS_CHANGE_PROCESS", "6.14" };

static void say(struct iommufd_feature_status *st, uint32_t reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct iommufd_feature_status *st, uint32_t reason, const char *fmt, ...)
{
	va_list ap;

	st->reason = reason;
	va_start(ap, fmt);
	vsnprintf(st->why, sizeof(st->why), fmt, ap);
	va_end(ap);
}

/* 1, 0 with @st filled (KERNEL), or a negative errno. */
static int need_kernel(struct iommufd_ctx *ctx, const struct kcall *k, struct iommufd_feature_status *st)
{
	int r = ifd_iommufd_has_ioctl(ctx, k->req);

	if (r == 0)
		say(st, IOMMUFD_REASON_KERNEL, "kernel lacks %s (needs Linux %s+ with CONFIG_IOMMUFD)", k->name,
		    k->since);
	return r;
}

static const char *dev_label(const struct iommufd_device *dev)
{
	return dev->name[0] ? dev->name : "the device";
}

/* Devices the kernel knows by an iommufd device ID. */
static int need_devid(struct iommufd_device *dev, struct iommufd_feature_status *st)
{
	if (dev && !dev->has_devid) {
		say(st, IOMMUFD_REASON_BACKEND, "%s has no iommufd device ID on the %s backend: use the cdev backend",
		    dev_label(dev), iommufd_backend_name(dev->ctx->backend));
		return 0;
	}
	return 1;
}

/* Devices the library may attach: with a device ID and their VFIO fd. */
static int need_attachable(struct iommufd_device *dev, struct iommufd_feature_status *st)
{
	if (!dev)
		return 1;
	if (!need_devid(dev, st))
		return 0;
	if (dev->fd < 0) {
		say(st, IOMMUFD_REASON_DEVICE, "%s was adopted by ID without its VFIO fd: the library cannot attach it",
		    dev_label(dev));
		return 0;
	}
	return 1;
}

/*
 * Whether the IOMMU can build a nesting parent for @dev: only trying tells,
 * on a scratch IOAS so nothing of the caller's is touched.  Caller holds
 * ctx->lock.
 */
static int probe_nest(struct iommufd_device *dev, struct ifd_dev_caps *dc)
{
	struct iommufd_ctx *ctx = dev->ctx;
	struct ifd_k_ioas_alloc ia = { .size = sizeof(ia) };
	struct ifd_k_hwpt_alloc ha;
	int r;

	if (dc->nest)
		return dc->nest > 0;
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_IOAS_ALLOC, &ia);
	if (r < 0)
		return r;
	memset(&ha, 0, sizeof(ha));
	ha.size = IFD_K_HWPT_ALLOC_SIZE_BASE;
	ha.flags = IFD_K_IOMMU_HWPT_ALLOC_NEST_PARENT;
	ha.dev_id = dev->devid;
	ha.pt_id = ia.out_ioas_id;
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_HWPT_ALLOC, &ha);
	if (r == 0 && ifd_iommufd_destroy_obj(ctx, ha.out_hwpt_id) < 0)
		ifd_warn(ctx, "/dev/iommu: IOMMU_DESTROY of the scratch HWPT %u failed", ha.out_hwpt_id);
	if (ifd_iommufd_destroy_obj(ctx, ia.out_ioas_id) < 0)
		ifd_warn(ctx, "/dev/iommu: IOMMU_DESTROY of the scratch IOAS %u failed", ia.out_ioas_id);
	if (r == 0 || r == -EOPNOTSUPP) {
		dc->nest = r == 0 ? 1 : -1;
		dc->nest_err = -r;
		return r == 0;
	}
	return r; /* not an answer: probe again next time */
}

/*
 * The device half of a per-device feature: a device given (else
 * NEED_DEVICE with @need), with an iommufd ID (and, if @attachable, a fd
 * to attach with), its IOMMU_GET_HW_INFO read: 1 with *dc set, 0 with @st
 * filled, or a negative errno.
 */
static int dev_feature_caps(struct iommufd_device *dev, struct iommufd_feature_status *st, const char *need,
			    bool attachable, struct ifd_dev_caps **dc)
{
	int r;

	if (!dev) {
		say(st, IOMMUFD_REASON_NEED_DEVICE, "%s", need);
		return 0;
	}
	r = attachable ? need_attachable(dev, st) : need_devid(dev, st);
	if (r <= 0)
		return r;
	r = dev_caps_get(dev, dc);
	return r < 0 ? r : 1;
}

/* Caller holds ctx->lock.  1, 0 with @st filled, or a negative errno. */
static int generic_query(struct iommufd_ctx *ctx, struct iommufd_device *dev, enum iommufd_feature f,
			 struct iommufd_feature_status *st)
{
	struct ifd_dev_caps *dc;
	int r;

	if (!ctx->ops->bar_dmabuf && f == IOMMUFD_FEATURE_P2P_DMABUF) {
		say(st, IOMMUFD_REASON_BACKEND, "the %s backend maps no dma-bufs: iommufd_ioas_map_bar() maps the "
		    "BAR's mmap there instead", iommufd_backend_name(ctx->backend));
		return 0;
	}
	if (ctx->fd < 0) {
		say(st, IOMMUFD_REASON_BACKEND, "the %s backend has no %s: use a kernel with iommufd and "
		    "VFIO_DEVICE_CDEV", iommufd_backend_name(ctx->backend),
		    f == IOMMUFD_FEATURE_IOAS_COPY ? "IOAS copy (it maps and pins again)" : "such feature");
		return 0;
	}
	switch (f) {
	case IOMMUFD_FEATURE_IOMMUFD:
		return 1;
	case IOMMUFD_FEATURE_HW_INFO:
		r = need_kernel(ctx, &k_hw_info, st);
		return r > 0 ? need_devid(dev, st) : r;
	case IOMMUFD_FEATURE_HWPT:
	case IOMMUFD_FEATURE_HWPT_REPLACE:
		r = need_kernel(ctx, &k_hwpt, st);
		return r > 0 ? need_attachable(dev, st) : r;
	case IOMMUFD_FEATURE_NEST_PARENT:
		r = need_kernel(ctx, &k_hwpt, st);
		if (r > 0)
			r = need_kernel(ctx, &k_nest, st);
		if (r <= 0)
			return r;
		r = dev_feature_caps(dev, st, "nesting depends on the IOMMU behind a device: pass one", false, &dc);
		if (r <= 0)
			return r;
		r = probe_nest(dev, dc);
		if (r == 0)
			say(st, IOMMUFD_REASON_IOMMU, "the IOMMU behind %s cannot be a nesting parent "
			    "(IOMMU_HWPT_ALLOC_NEST_PARENT: %s)", dev_label(dev), strerror(dc->nest_err));
		return r;
	case IOMMUFD_FEATURE_DIRTY_TRACKING:
		r = need_kernel(ctx, &k_hwpt, st);
		if (r > 0)
			r = need_kernel(ctx, &k_dirty, st);
		if (r <= 0)
			return r;
		r = dev_feature_caps(dev, st, "dirty tracking depends on the IOMMU behind a device: pass one", false,
				     &dc);
		if (r <= 0)
			return r;
		if (!(dc->capabilities & IFD_K_IOMMU_HW_CAP_DIRTY_TRACKING)) {
			say(st, IOMMUFD_REASON_IOMMU, "the IOMMU behind %s cannot track dirty pages "
			    "(IOMMU_GET_HW_INFO capabilities)", dev_label(dev));
			return 0;
		}
		return 1;
	case IOMMUFD_FEATURE_PASID:
		r = need_kernel(ctx, &k_hwpt, st);
		if (r <= 0)
			return r;
		r = dev_feature_caps(dev, st, "PASIDs depend on the device and its IOMMU: pass a device", true, &dc);
		if (r <= 0)
			return r;
		if (!dc->max_pasid_log2) {
			say(st, IOMMUFD_REASON_DEVICE, "%s cannot use PASIDs (IOMMU_GET_HW_INFO max_pasid_log2 is 0: "
			    "no PASID capability, or a kernel before PASID support)", dev_label(dev));
			return 0;
		}
		return 1;
	case IOMMUFD_FEATURE_FAULT_QUEUE:
		r = need_kernel(ctx, &k_hwpt, st);
		return r > 0 ? need_kernel(ctx, &k_fault, st) : r;
	case IOMMUFD_FEATURE_IOAS_COPY:
		return need_kernel(ctx, &k_copy, st);
	case IOMMUFD_FEATURE_DEVICE_ADOPT_ID:
		/* The adopted ID is checked with IOMMU_GET_HW_INFO. */
		return need_kernel(ctx, &k_hw_info, st);
	case IOMMUFD_FEATURE_MAP_FILE:
		return need_kernel(ctx, &k_map_file, st);
	case IOMMUFD_FEATURE_HWPT_INVALIDATE:
		return need_kernel(ctx, &k_inval, st);
	case IOMMUFD_FEATURE_VIOMMU:
		r = need_kernel(ctx, &k_viommu, st);
		return r > 0 ? need_kernel(ctx, &k_vdevice, st) : r;
	case IOMMUFD_FEATURE_VEVENTQ:
		return need_kernel(ctx, &k_veventq, st);
	case IOMMUFD_FEATURE_HW_QUEUE:
		return need_kernel(ctx, &k_hw_queue, st);
	case IOMMUFD_FEATURE_CHANGE_PROCESS:
		return need_kernel(ctx, &k_chproc, st);
	case IOMMUFD_FEATURE_P2P_DMABUF:
		r = need_kernel(ctx, &k_map_file, st);
		if (r <= 0)
			return r;
		if (!dev) {
			say(st, IOMMUFD_REASON_NEED_DEVICE, "dma-buf export depends on the BAR's device: pass it");
			return 0;
		}
		r = ifd_dev_dmabuf_probe(dev);
		if (r == 0)
			say(st, IOMMUFD_REASON_DEVICE, "%s offers no dma-buf export (VFIO_DEVICE_FEATURE_DMA_BUF: "
			    "Linux 7.0+ with CONFIG_VFIO_PCI_DMABUF, and a vfio-pci driver)", dev_label(dev));
		return r;
	}
	say(st, IOMMUFD_REASON_LIBRARY, "libiommufd %u.%u.%u does not know feature %d", LIBIOMMUFD_VERSION_MAJOR,
	    LIBIOMMUFD_VERSION_MINOR, LIBIOMMUFD_VERSION_PATCH, (int)f);
	return 0;
}

IFD_EXPORT int iommufd_feature_query(struct iommufd_ctx *ctx, struct iommufd_device *dev, enum iommufd_feature feature,
				     struct iommufd_feature_status *st)
{
	struct iommufd_feature_status s;
	int r = -ENOSYS;

	if (!ctx || (dev && (!dev_ok(dev) || dev->ctx != ctx)) || (st && st->sz < sizeof(*st)))
		return ifd_ret(-EINVAL);
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	memset(&s, 0, sizeof(s));
	s.sz = sizeof(s);
	/* Under ctx->lock: the device's cached answers and the nesting
	 * probe's scratch objects are the context's. */
	ifd_ctx_lock(ctx);
	if (feature >= IOMMUFD_FEATURE_IOMMUFD && feature <= IOMMUFD_FEATURE_P2P_DMABUF &&
	    ctx->ops->feature_query)
		r = ctx->ops->feature_query(ctx, dev, feature, &s);
	if (r == -ENOSYS)
		r = generic_query(ctx, dev, feature, &s);
	ifd_ctx_unlock(ctx);
	if (r > 0) {
		r = 1;
		s.reason = IOMMUFD_REASON_NONE;
		s.why[0] = 0;
	} else if (r == 0 && s.reason == IOMMUFD_REASON_NONE) {
		/* A backend said no without a reason: never leave it blank. */
		say(&s, IOMMUFD_REASON_BACKEND, "the %s backend does not offer it", iommufd_backend_name(ctx->backend));
	}
	if (r < 0)
		return ifd_ret(r);
	if (st) {
		st->reason = s.reason;
		memcpy(st->why, s.why, sizeof(st->why));
	}
	return r;
}
