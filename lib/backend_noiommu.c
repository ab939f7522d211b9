/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Backend 4: devices behind no IOMMU (VFIO's unsafe no-IOMMU mode).  Two
 * kernel paths; this file chooses between them and holds the iommufd one:
 * 7.3's iommufd no-IOMMU mode, where a noiommu-vfioN cdev binds to
 * /dev/iommu like any cdev and the IOAS is a software page table that only
 * pins pages and remembers their physical addresses.  The legacy group path
 * is backend_noiommu_legacy.c.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "kabi.h"

#define NOIOMMU_PARAM "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"

int ifd_noiommu_mode_check(struct iommufd_ctx *ctx)
{
	char v[8];
	int r = ifd_sysfs_read(ctx, NOIOMMU_PARAM, v, sizeof(v));

	if (r == -ENOENT) {
		ifd_err(ctx, "noiommu backend: this kernel has no VFIO no-IOMMU mode (no %s): it needs "
			"CONFIG_VFIO_NOIOMMU=y and the vfio module loaded", NOIOMMU_PARAM);
		return -ENODEV;
	}
	if (r < 0) {
		ifd_err(ctx, "noiommu backend: cannot read %s: %s", NOIOMMU_PARAM, strerror(-r));
		return -ENODEV;
	}
	if (v[0] != 'Y' && v[0] != 'y' && v[0] != '1') {
		ifd_err(ctx, "noiommu backend: VFIO's unsafe no-IOMMU mode is off (%s is %s): only on a machine "
			"without an IOMMU, boot with vfio.enable_unsafe_noiommu_mode=1 (or write Y there) and bind "
			"the device to vfio-pci again", NOIOMMU_PARAM, v);
		return -ENODEV;
	}
	return 0;
}

/*
 * A 7.3 kernel knows the ioctl even without CONFIG_IOMMUFD_NOIOMMU and then
 * answers EOPNOTSUPP; with it, a query of IOAS 0 fails on the missing IOAS
 * (ENOENT), or earlier on the capability (EPERM).
 */
static int iommufd_path_open(struct iommufd_ctx *ctx)
{
	struct ifd_k_ioas_noiommu_get_pa q = { .size = sizeof(q), .length = 1 };
	int r = ifd_iommufd_open(ctx);

	if (r < 0) {
		ifd_dbg(ctx, "noiommu backend: no /dev/iommu (%s)", strerror(-r));
		return r == -ENOENT ? -ENODEV : r;
	}
	r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_IOAS_NOIOMMU_GET_PA, &q);
	if (r == -ENOENT || r == -EPERM)
		return 0;
	ifd_dbg(ctx, "noiommu backend: /dev/iommu has no no-IOMMU mode (IOMMU_IOAS_NOIOMMU_GET_PA: %s; it needs "
		"Linux 7.3 with CONFIG_VFIO_NOIOMMU and CONFIG_VFIO_DEVICE_CDEV)", strerror(-r));
	ifd_close(ctx, ctx->fd);
	ctx->fd = -1;
	return -ENODEV;
}

static int parse_path(struct iommufd_ctx *ctx, uint32_t *want)
{
	const char *env = ctx->sys->getenv("LIBIOMMUFD_NOIOMMU_PATH");

	if (*want != IOMMUFD_NOIOMMU_PATH_AUTO || !env || !*env || !strcmp(env, "auto"))
		return 0;
	if (!strcmp(env, "iommufd"))
		*want = IOMMUFD_NOIOMMU_PATH_IOMMUFD;
	else if (!strcmp(env, "legacy"))
		*want = IOMMUFD_NOIOMMU_PATH_LEGACY;
	else {
		ifd_err(ctx, "LIBIOMMUFD_NOIOMMU_PATH=%s: not one of auto, iommufd, legacy", env);
		return -EINVAL;
	}
	return 0;
}

/* Installs the chosen path's ops in ctx->ops. */
static int noiommu_ctx_open(struct iommufd_ctx *ctx)
{
	uint32_t want = ctx->noiommu_path;
	int r = parse_path(ctx, &want);

	if (r == 0)
		r = ifd_noiommu_mode_check(ctx);
	if (r < 0)
		return r;
	r = -ENODEV;
	if (want != IOMMUFD_NOIOMMU_PATH_LEGACY) {
		r = iommufd_path_open(ctx);
		if (r == 0)
			ctx->ops = &ifd_backend_noiommu_iommufd;
		else if (want == IOMMUFD_NOIOMMU_PATH_IOMMUFD)
			ifd_err(ctx, "noiommu backend: the iommufd path was requested but /dev/iommu offers no "
				"no-IOMMU mode (Linux 7.3 with CONFIG_VFIO_NOIOMMU and CONFIG_VFIO_DEVICE_CDEV)");
	}
	/* Only a kernel without the iommufd mode sends AUTO to the legacy
	 * path: a /dev/iommu this user may not open is reported, not hidden
	 * behind a container that is open to all. */
	if (r == -ENODEV && want != IOMMUFD_NOIOMMU_PATH_IOMMUFD) {
		r = ifd_backend_noiommu_legacy.ctx_open(ctx);
		if (r == 0)
			ctx->ops = &ifd_backend_noiommu_legacy;
	}
	if (r < 0)
		return r;
	ifd_warn(ctx, "UNSAFE: no-IOMMU mode (%s path): the devices of this context can read and write any "
		 "physical memory, and program them with the bus addresses of iommufd_ioas_get_bus_addrs()",
		 ctx->ops == &ifd_backend_noiommu_iommufd ? "iommufd" : "legacy VFIO group");
	return 0;
}

/* Never reached: ctx_open replaced the ops.  Kept total for safety. */
static int noiommu_unchosen(struct iommufd_ctx *ctx, enum iommufd_pin_accounting want)
{
	(void)ctx;
	(void)want;
	return -ENODEV;
}

const struct ifd_backend_ops ifd_backend_noiommu = {
	.kind = IOMMUFD_BACKEND_NOIOMMU,
	.ctx_open = noiommu_ctx_open,
	.ctx_set_pin_accounting = noiommu_unchosen,
	.node_prefix = "noiommu-",
};

/* ------------------------------------------------------------------------ */
/* The iommufd path                                                         */

static int nio_dev_open(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	int r;

	if (!dev->cdev[0] && dev->fd < 0) {
		ifd_err(dev->ctx, "%s has no no-IOMMU cdev (no %s/vfio-dev/noiommu-vfioN): it is behind an IOMMU "
			"(use another backend), or was bound to vfio-pci before the no-IOMMU mode was enabled "
			"(bind it again)", dev->name, dev->sysfs);
		return -ENODEV;
	}
	r = ifd_backend_cdev.dev_open(dev, ioas);
	if (r == -EPERM)
		ifd_err(dev->ctx, "%s: no-IOMMU devices need CAP_SYS_RAWIO", dev->cdev[0] ? dev->cdev : dev->name);
	return r;
}

static int nio_dev_attach(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	return ifd_backend_cdev.dev_attach(dev, ioas);
}

/*
 * The kernel pins and records pages in the IOAS's software page table only
 * once a device is attached: before, it has nothing to answer from
 * (EOPNOTSUPP).
 */
static int nio_bus_addr(struct iommufd_ioas *ioas, const struct iommufd_map *m, uint64_t iova, uint64_t len,
			uint64_t *bus, uint64_t *contig)
{
	struct ifd_k_ioas_noiommu_get_pa q = { .size = sizeof(q), .ioas_id = ioas->id, .iova = iova, .length = len };
	int r;

	(void)m;
	r = ifd_ioctl(ioas->ctx, ioas->ctx->fd, IFD_K_IOMMU_IOAS_NOIOMMU_GET_PA, &q);
	if (r == -EOPNOTSUPP)
		return -ENODEV;
	if (r < 0)
		return r;
	if (!q.length || q.length > len || q.out_phys + (q.length - 1) < q.out_phys)
		return -EIO;
	*bus = q.out_phys;
	*contig = q.length;
	return 0;
}

static int nio_feature_query(struct iommufd_ctx *ctx, struct iommufd_device *dev, enum iommufd_feature f,
			     struct iommufd_feature_status *st)
{
	const char *what;

	(void)ctx;
	(void)dev;
	switch (f) {
	case IOMMUFD_FEATURE_HW_INFO: what = "IOMMU information"; break;
	case IOMMUFD_FEATURE_HWPT: what = "HWPTs"; break;
	case IOMMUFD_FEATURE_NEST_PARENT: what = "nesting"; break;
	case IOMMUFD_FEATURE_DIRTY_TRACKING: what = "dirty tracking"; break;
	case IOMMUFD_FEATURE_PASID: what = "PASID attachments"; break;
	case IOMMUFD_FEATURE_FAULT_QUEUE: what = "I/O page faults"; break;
	case IOMMUFD_FEATURE_HWPT_INVALIDATE: what = "HWPT invalidation"; break;
	case IOMMUFD_FEATURE_VIOMMU: what = "vIOMMUs"; break;
	case IOMMUFD_FEATURE_VEVENTQ: what = "vIOMMU event queues"; break;
	case IOMMUFD_FEATURE_HW_QUEUE: what = "vIOMMU HW queues"; break;
	/* A BAR is mapped through a dma-buf and MAP_FILE, which this path
	 * does not take: without an IOMMU a peer's bus address is the BAR's. */
	case IOMMUFD_FEATURE_P2P_DMABUF: what = "peer-to-peer maps of a BAR (program the BAR's bus address)"; break;
	/* Not wired to this path's ops: files map through the process's
	 * memory, and iommufd_ctx_export() refuses. */
	case IOMMUFD_FEATURE_MAP_FILE:
	case IOMMUFD_FEATURE_CHANGE_PROCESS:
		st->reason = IOMMUFD_REASON_BACKEND;
		snprintf(st->why, sizeof(st->why), "the noiommu backend does not offer %s",
			 f == IOMMUFD_FEATURE_MAP_FILE ? "IOMMU_IOAS_MAP_FILE (iommufd_ioas_map_file() maps the "
			 "file through the process's memory instead)" : "live update (IOMMU_IOAS_CHANGE_PROCESS)");
		return 0;
	default: return -ENOSYS;
	}
	st->reason = IOMMUFD_REASON_BACKEND;
	snprintf(st->why, sizeof(st->why), "the noiommu backend has no %s: its devices sit behind no IOMMU",
		 what);
	return 0;
}

const struct ifd_backend_ops ifd_backend_noiommu_iommufd = {
	.kind = IOMMUFD_BACKEND_NOIOMMU,
	.ctx_open = iommufd_path_open,
	.ctx_set_pin_accounting = ifd_iommufd_set_pin_accounting,
	.ioas_alloc = ifd_iommufd_ioas_alloc,
	.ioas_free = ifd_iommufd_ioas_free,
	.ioas_query = ifd_iommufd_ioas_query,
	.map = ifd_iommufd_map,
	.unmap = ifd_iommufd_unmap,
	.unmap_all = ifd_iommufd_unmap_all,
	.copy = ifd_iommufd_copy,
	.allow_iovas = ifd_iommufd_allow_iovas,
	.set_huge_pages = ifd_iommufd_set_huge_pages,
	.dev_open = nio_dev_open,
	.dev_attach = nio_dev_attach,
	.explain_enomem = ifd_iommufd_explain_enomem,
	.feature_query = nio_feature_query,
	.node_prefix = "noiommu-",
	.bus_addr = nio_bus_addr,
	.bar_dmabuf = true,
};
