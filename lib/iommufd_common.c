/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The IOAS half of the two iommufd backends (CDEV and GROUP). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kabi.h"

int ifd_iommufd_open(struct iommufd_ctx *ctx)
{
	int fd = ifd_open_node(ctx, "/dev/iommu", O_RDWR, "iommufd");

	if (fd == -ENOENT)
		ifd_dbg(ctx, "/dev/iommu: absent: this kernel lacks CONFIG_IOMMUFD or the iommufd module is not loaded");
	if (fd < 0)
		return fd;
	ctx->fd = fd;
	return 0;
}

/*
 * iommufd refuses an attach with -EADDRINUSE when existing mappings cover
 * the device's reserved regions; callers get the -ERANGE every backend
 * gives for "mappings outside what the device allows".
 */
int ifd_iommufd_resv_conflict(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	ifd_err(dev->ctx, "%s: mappings of IOAS %u overlap the device's reserved IOVA regions (e.g. the MSI "
		"window 0xfee00000-0xfeefffff): unmap them first", dev->name, ioas->id);
	return -ERANGE;
}

static int add_len(struct iommufd_map *m, void *arg)
{
	*(uint64_t *)arg += m->len;
	return 0;
}

/*
 * iommufd pins an IOAS's memory when the first IOMMU domain is attached,
 * so RLIMIT_MEMLOCK is met at device attach, not at map: name the limit
 * and the accounting there too (defect 6).
 */
int ifd_iommufd_attach_enomem(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	char what[128];
	uint64_t total = 0;

	pthread_mutex_lock(&ioas->wlock);
	ifd_ioas_for_each_record(ioas, add_len, &total);
	pthread_mutex_unlock(&ioas->wlock);
	snprintf(what, sizeof(what), "%s: attaching to IOAS %u pins what is mapped there", dev->name, ioas->id);
	dev->ctx->ops->explain_enomem(dev->ctx, what, total);
	return -ENOMEM;
}

int ifd_iommufd_destroy_obj(struct iommufd_ctx *ctx, uint32_t id)
{
	struct ifd_k_destroy d = { .size = sizeof(d), .id = id };

	return ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_DESTROY, &d);
}

int ifd_iommufd_ioas_alloc(struct iommufd_ioas *ioas)
{
	struct ifd_k_ioas_alloc a = { .size = sizeof(a) };
	int r = ifd_ioctl(ioas->ctx, ioas->ctx->fd, IFD_K_IOMMU_IOAS_ALLOC, &a);

	if (r < 0) {
		ifd_err(ioas->ctx, "/dev/iommu: IOMMU_IOAS_ALLOC failed: %s", strerror(-r));
		return r;
	}
	ioas->id = a.out_ioas_id;
	return 0;
}

void ifd_iommufd_ioas_free(struct iommufd_ioas *ioas)
{
	int r = ifd_iommufd_destroy_obj(ioas->ctx, ioas->id);

	if (r < 0)
		ifd_warn(ioas->ctx, "/dev/iommu: IOMMU_DESTROY of IOAS %u failed: %s", ioas->id, strerror(-r));
}

/*
 * The kernel reports how many ranges there are when the buffer is too
 * small (EMSGSIZE with num_iovas updated), so ask twice at most: ranges
 * only change under ctx->lock, which attach and create hold.
 */
int ifd_iommufd_ioas_query(struct iommufd_ioas *ioas, struct ifd_iova_range **ranges, size_t *n, uint64_t *align)
{
	struct ifd_k_iova_range buf[16], *kr = buf;
	struct ifd_k_ioas_iova_ranges q;
	struct ifd_iova_range *out;
	uint32_t cap = 16;
	int r;

	for (int tries = 0; tries < 4; tries++) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.ioas_id = ioas->id;
		q.num_iovas = cap;
		q.allowed_iovas = (uintptr_t)kr;
		r = ifd_ioctl(ioas->ctx, ioas->ctx->fd, IFD_K_IOMMU_IOAS_IOVA_RANGES, &q);
		if (r != -EMSGSIZE)
			break;
		if (kr != buf)
			free(kr);
		cap = q.num_iovas;
		kr = calloc(cap, sizeof(*kr));
		if (!kr)
			return -ENOMEM;
	}
	if (r < 0) {
		ifd_err(ioas->ctx, "/dev/iommu: IOMMU_IOAS_IOVA_RANGES on IOAS %u failed: %s", ioas->id, strerror(-r));
		goto out;
	}
	out = calloc(q.num_iovas ? q.num_iovas : 1, sizeof(*out));
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < q.num_iovas; i++) {
		out[i].start = kr[i].start;
		out[i].last = kr[i].last;
	}
	*ranges = out;
	*n = q.num_iovas;
	*align = q.out_iova_alignment;
	r = 0;
out:
	if (kr != buf)
		free(kr);
	return r;
}

int ifd_iommufd_map(struct iommufd_ioas *ioas, struct iommufd_map *rec)
{
	struct ifd_k_ioas_map m = {
		.size = sizeof(m),
		.flags = IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = ioas->id,
		.user_va = rec->vaddr,
		.length = rec->len,
		.iova = rec->iova,
	};

	if (rec->flags & IOMMUFD_MAP_READ)
		m.flags |= IFD_K_IOMMU_IOAS_MAP_READABLE;
	if (rec->flags & IOMMUFD_MAP_WRITE)
		m.flags |= IFD_K_IOMMU_IOAS_MAP_WRITEABLE;
	return ifd_ioctl(ioas->ctx, ioas->ctx->fd, IFD_K_IOMMU_IOAS_MAP, &m);
}

int ifd_iommufd_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped)
{
	struct ifd_k_ioas_unmap u = { .size = sizeof(u), .ioas_id = ioas->id, .iova = iova, .length = len };
	int r = ifd_ioctl(ioas->ctx, ioas->ctx->fd, IFD_K_IOMMU_IOAS_UNMAP, &u);

	if (r == 0)
		*unmapped = u.length;
	return r;
}

int ifd_iommufd_unmap_all(struct iommufd_ioas *ioas, uint64_t *unmapped)
{
	return ifd_iommufd_unmap(ioas, 0, UINT64_MAX, unmapped);
}

int ifd_iommufd_copy(struct iommufd_ioas *dst, struct iommufd_ioas *src, uint64_t src_iova, uint64_t len,
		     uint64_t dst_iova, uint32_t flags)
{
	struct ifd_k_ioas_copy c = {
		.size = sizeof(c),
		.flags = IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA,
		.dst_ioas_id = dst->id,
		.src_ioas_id = src->id,
		.length = len,
		.dst_iova = dst_iova,
		.src_iova = src_iova,
	};

	if (flags & IOMMUFD_MAP_READ)
		c.flags |= IFD_K_IOMMU_IOAS_MAP_READABLE;
	if (flags & IOMMUFD_MAP_WRITE)
		c.flags |= IFD_K_IOMMU_IOAS_MAP_WRITEABLE;
	return ifd_ioctl(dst->ctx, dst->ctx->fd, IFD_K_IOMMU_IOAS_COPY, &c);
}

int ifd_iommufd_allow_iovas(struct iommufd_ioas *ioas, const struct ifd_iova_range *r, size_t n)
{
	struct ifd_k_iova_range *kr = NULL;
	struct ifd_k_ioas_allow_iovas a = { .size = sizeof(a), .ioas_id = ioas->id, .num_iovas = (uint32_t)n };
	int ret;

	if (n) {
		kr = calloc(n, sizeof(*kr));
		if (!kr)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			kr[i].start = r[i].start;
			kr[i].last = r[i].last;
		}
	}
	a.allowed_iovas = (uintptr_t)kr;
	ret = ifd_ioctl(ioas->ctx, ioas->ctx->fd, IFD_K_IOMMU_IOAS_ALLOW_IOVAS, &a);
	free(kr);
	return ret;
}

static int option(struct iommufd_ctx *ctx, uint16_t op, uint32_t id, uint32_t obj, uint64_t *val)
{
	struct ifd_k_option o = { .size = sizeof(o), .option_id = id, .op = op, .object_id = obj, .val64 = *val };
	int r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_OPTION, &o);

	if (r == 0)
		*val = o.val64;
	return r;
}

int ifd_iommufd_set_huge_pages(struct iommufd_ioas *ioas, bool enable)
{
	uint64_t v = enable;

	return option(ioas->ctx, IFD_K_IOMMU_OPTION_OP_SET, IFD_K_IOMMU_OPTION_HUGE_PAGES, ioas->id, &v);
}

int ifd_iommufd_set_pin_accounting(struct iommufd_ctx *ctx, enum iommufd_pin_accounting want)
{
	uint64_t v = 0;
	int r;

	/* Only a change needs CAP_SYS_RESOURCE: asking for the mode already
	 * in force (USER is iommufd's default) must work for anyone. */
	r = option(ctx, IFD_K_IOMMU_OPTION_OP_GET, IFD_K_IOMMU_OPTION_RLIMIT_MODE, 0, &v);
	if (r == 0 && want != IOMMUFD_PIN_ACCOUNT_DEFAULT && (v == 1) == (want == IOMMUFD_PIN_ACCOUNT_PROCESS))
		want = IOMMUFD_PIN_ACCOUNT_DEFAULT;
	if (want != IOMMUFD_PIN_ACCOUNT_DEFAULT) {
		v = want == IOMMUFD_PIN_ACCOUNT_PROCESS;
		r = option(ctx, IFD_K_IOMMU_OPTION_OP_SET, IFD_K_IOMMU_OPTION_RLIMIT_MODE, 0, &v);
		if (r < 0) {
			ifd_err(ctx, "/dev/iommu: IOMMU_OPTION_RLIMIT_MODE %s failed: %s%s", v ? "per-process" : "per-user",
				strerror(-r), r == -EPERM ? " (needs CAP_SYS_RESOURCE)" : "");
			return r;
		}
	}
	v = 0;
	r = option(ctx, IFD_K_IOMMU_OPTION_OP_GET, IFD_K_IOMMU_OPTION_RLIMIT_MODE, 0, &v);
	ctx->pin_mode = r == 0 && v ? IOMMUFD_PIN_ACCOUNT_PROCESS : IOMMUFD_PIN_ACCOUNT_USER;
	return 0;
}

void ifd_iommufd_explain_enomem(struct iommufd_ctx *ctx, const char *what, uint64_t len)
{
	if (ctx->pin_mode == IOMMUFD_PIN_ACCOUNT_PROCESS)
		ifd_err(ctx, "%s: pinning %llu more bytes exceeds this process's RLIMIT_MEMLOCK: raise it (ulimit -l, "
			"or LimitMEMLOCK= in the service unit)", what, (unsigned long long)len);
	else
		ifd_err(ctx, "%s: pinning %llu more bytes exceeds the RLIMIT_MEMLOCK of this user, which counts the "
			"pinned memory of every process of the user (every VM): raise it for the user, or use "
			"per-process accounting (opts->pin_accounting = IOMMUFD_PIN_ACCOUNT_PROCESS)",
			what, (unsigned long long)len);
}
