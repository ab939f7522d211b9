/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
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

/* More ranges than any IOMMU reports: an answer above it is malformed. */
#define MAX_KERNEL_RANGES 65536u

/*
 * The kernel reports how many ranges there are when the buffer is too
 * small (EMSGSIZE with num_iovas updated), so ask twice at most: ranges
 * only change under ctx->lock, which attach and create hold.  On success
 * num_iovas is how many it wrote, never more than we offered: a larger
 * value is a broken answer, refused rather than read past the buffer.
 */
int ifd_iommufd_ioas_query(struct iommufd_ioas *ioas, struct ifd_iova_range **ranges, size_t *n, uint64_t *align)
{
	struct ifd_k_iova_range buf[16], *kr = buf;
	struct ifd_k_ioas_iova_ranges q;
	struct ifd_iova_range *out;
	uint32_t cap = 16, got;
	int r;

	for (int tries = 0; tries < 4; tries++) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.ioas_id = ioas->id;
		q.num_iovas = cap;
		q.allowed_iovas = (uintptr_t)kr;
		r = ifd_ioctl(ioas->ctx, ioas->ctx->fd, IFD_K_IOMMU_IOAS_IOVA_RANGES, &q);
		if (r == 0 && q.num_iovas > cap)
			r = -EPROTO; /* it cannot have written more than we offered */
		if (r != -EMSGSIZE)
			break;
		if (kr != buf)
			free(kr);
		kr = NULL;
		if (!q.num_iovas || q.num_iovas > MAX_KERNEL_RANGES) {
			r = -EPROTO;
			break;
		}
		cap = q.num_iovas;
		kr = calloc(cap, sizeof(*kr));
		if (!kr)
			return -ENOMEM;
	}
	if (r == -EPROTO)
		ifd_err(ioas->ctx, "/dev/iommu: IOMMU_IOAS_IOVA_RANGES on IOAS %u: implausible answer of %u ranges",
			ioas->id, q.num_iovas);
	else if (r < 0)
		ifd_err(ioas->ctx, "/dev/iommu: IOMMU_IOAS_IOVA_RANGES on IOAS %u failed: %s", ioas->id, strerror(-r));
	if (r < 0)
		goto out;
	got = q.num_iovas;
	out = calloc(got ? got : 1, sizeof(*out));
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < got; i++) {
		out[i].start = kr[i].start;
		out[i].last = kr[i].last;
	}
	*ranges = out;
	*n = got;
	*align = q.out_iova_alignment;
	r = 0;
out:
	if (kr != buf)
		free(kr);
	return r;
}

static uint32_t kflags(uint32_t flags)
{
	return (flags & IOMMUFD_MAP_READ ? IFD_K_IOMMU_IOAS_MAP_READABLE : 0) |
	       (flags & IOMMUFD_MAP_WRITE ? IFD_K_IOMMU_IOAS_MAP_WRITEABLE : 0);
}

IFD_HOT int ifd_iommufd_map(struct iommufd_ioas *ioas, struct iommufd_map *m)
{
	struct ifd_k_ioas_map k = {
		.size = sizeof(k),
		.flags = IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA | kflags(m->flags),
		.ioas_id = ioas->id,
		.user_va = m->vaddr,
		.length = m->len,
		.iova = m->iova,
	};

	return ifd_ioctl(ioas->ctx, ioas->ctx->fd, IFD_K_IOMMU_IOAS_MAP, &k);
}

int ifd_iommufd_map_file(struct iommufd_ioas *ioas, struct iommufd_map *m, int fd, uint64_t offset)
{
	struct ifd_k_ioas_map_file k = {
		.size = sizeof(k),
		.flags = IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA | kflags(m->flags),
		.ioas_id = ioas->id,
		.fd = fd,
		.start = offset,
		.length = m->len,
		.iova = m->iova,
	};
	int r = ifd_ioctl(ioas->ctx, ioas->ctx->fd, IFD_K_IOMMU_IOAS_MAP_FILE, &k);

	return r == -ENOTTY ? -EOPNOTSUPP : r;
}

int ifd_iommufd_change_process(struct iommufd_ctx *ctx)
{
	struct ifd_k_ioas_change_process c = { .size = sizeof(c) };
	int r = ifd_ioctl(ctx, ctx->fd, IFD_K_IOMMU_IOAS_CHANGE_PROCESS, &c);

	return r == -ENOTTY ? -EOPNOTSUPP : r;
}

IFD_HOT int ifd_iommufd_unmap(struct iommufd_ioas *ioas, uint64_t iova, uint64_t len, uint64_t *unmapped)
{
	struct ifd_k_ioas_unmap u = { .size = sizeof(u), .ioas_id = ioas->id, .iova = iova, .length = len };
	int r = ifd_ioctl(ioas->ctx, ioas->ctx->fd, IFD_K_IOMMU_IOAS_UNMAP, &u);

	*unmapped = r < 0 ? 0 : u.length;
	return r < 0 ? r : 0;
}

/* iova 0 and length ~0 is the kernel's "everything", holes included. */
int ifd_iommufd_unmap_all(struct iommufd_ioas *ioas, uint64_t *unmapped)
{
	return ifd_iommufd_unmap(ioas, 0, UINT64_MAX, unmapped);
}

int ifd_iommufd_copy(struct iommufd_ioas *dst, struct iommufd_ioas *src, uint64_t src_iova, uint64_t len,
		     uint64_t dst_iova, uint32_t flags)
{
	struct ifd_k_ioas_copy c = {
		.size = sizeof(c),
		.flags = IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA | kflags(flags),
		.dst_ioas_id = dst->id,
		.src_ioas_id = src->id,
		.length = len,
		.dst_iova = dst_iova,
		.src_iova = src_iova,
	};

	return ifd_ioctl(dst->ctx, dst->ctx->fd, IFD_K_IOMMU_IOAS_COPY, &c);
}

int ifd_iommufd_allow_iovas(struct iommufd_ioas *ioas, const struct ifd_iova_range *r, size_t n)
{
	struct ifd_k_ioas_allow_iovas a = { .size = sizeof(a), .ioas_id = ioas->id };
	struct ifd_k_iova_range *kr = NULL;
	int ret;

	if (n > UINT32_MAX)
		return -EINVAL;
	if (n) {
		kr = calloc(n, sizeof(*kr));
		if (!kr)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			kr[i].start = r[i].start;
			kr[i].last = r[i].last;
		}
	}
	a.num_iovas = (uint32_t)n;
	a.allowed_iovas = (uintptr_t)kr;
	ret = ifd_ioctl(ioas->ctx, ioas->ctx->fd, IFD_K_IOMMU_IOAS_ALLOW_IOVAS, &a);
	free(kr);
	return ret;
}

static int option(struct iommufd_ctx *ctx, uint32_t id, uint16_t op, uint32_t obj, uint64_t *val)
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
	int r = option(ioas->ctx, IFD_K_IOMMU_OPTION_HUGE_PAGES, IFD_K_IOMMU_OPTION_OP_SET, ioas->id, &v);

	/* The kernel says -EINVAL when the IOAS's domains already hold pages. */
	if (r == -EINVAL)
		r = -EBUSY;
	if (r < 0 && r != -EBUSY)
		ifd_err(ioas->ctx, "/dev/iommu: IOMMU_OPTION HUGE_PAGES=%d on IOAS %u failed: %s", enable, ioas->id,
			strerror(-r));
	return r;
}

/* RLIMIT_MODE: 0 charges the user, 1 the process (its mm). */
int ifd_iommufd_set_pin_accounting(struct iommufd_ctx *ctx, enum iommufd_pin_accounting want)
{
	uint64_t mode = 0, v;
	int r = option(ctx, IFD_K_IOMMU_OPTION_RLIMIT_MODE, IFD_K_IOMMU_OPTION_OP_GET, 0, &mode);

	if (r < 0) {
		ifd_err(ctx, "/dev/iommu: IOMMU_OPTION RLIMIT_MODE GET failed: %s", strerror(-r));
		return r;
	}
	if (mode > 1) {
		ifd_err(ctx, "/dev/iommu: IOMMU_OPTION RLIMIT_MODE: unknown mode %llu", (unsigned long long)mode);
		return -EPROTO;
	}
	ctx->pin_mode = mode ? IOMMUFD_PIN_ACCOUNT_PROCESS : IOMMUFD_PIN_ACCOUNT_USER;
	/* SET needs CAP_SYS_RESOURCE even when nothing changes: skip it then. */
	if (want == IOMMUFD_PIN_ACCOUNT_DEFAULT || want == ctx->pin_mode)
		return 0;
	v = want == IOMMUFD_PIN_ACCOUNT_PROCESS;
	r = option(ctx, IFD_K_IOMMU_OPTION_RLIMIT_MODE, IFD_K_IOMMU_OPTION_OP_SET, 0, &v);
	if (r == -EPERM)
		ifd_err(ctx, "/dev/iommu: per-%s pin accounting needs CAP_SYS_RESOURCE (IOMMU_OPTION RLIMIT_MODE); "
			"without it pins count against the %s's RLIMIT_MEMLOCK",
			want == IOMMUFD_PIN_ACCOUNT_PROCESS ? "process" : "user",
			ctx->pin_mode == IOMMUFD_PIN_ACCOUNT_USER ? "user" : "process");
	else if (r == -EBUSY)
		ifd_err(ctx, "/dev/iommu: the pin accounting can change only before the iommufd has objects "
			"(an adopted fd already has some)");
	else if (r < 0)
		ifd_err(ctx, "/dev/iommu: IOMMU_OPTION RLIMIT_MODE SET failed: %s", strerror(-r));
	if (r == 0)
		ctx->pin_mode = want;
	return r;
}

void ifd_iommufd_explain_enomem(struct iommufd_ctx *ctx, const char *what, uint64_t len)
{
	if (ctx->pin_mode == IOMMUFD_PIN_ACCOUNT_PROCESS)
		ifd_err(ctx, "%s: out of locked memory: pinning %llu bytes would exceed this process's "
			"RLIMIT_MEMLOCK (per-process accounting is in force): raise it by at least that much "
			"(ulimit -l, or LimitMEMLOCK= in the service unit)", what, (unsigned long long)len);
	else
		ifd_err(ctx, "%s: out of locked memory: pinning %llu bytes would exceed the user's RLIMIT_MEMLOCK, "
			"which iommufd charges per user: every process of this user (e.g. every VM) shares it. "
			"Raise it for the user by the sum of what they pin (limits.conf memlock, or LimitMEMLOCK= in "
			"each service unit), or choose per-process accounting (pin_accounting "
			"IOMMUFD_PIN_ACCOUNT_PROCESS, needs CAP_SYS_RESOURCE)", what, (unsigned long long)len);
}

static int add_len(struct iommufd_map *m, void *arg)
{
	*(uint64_t *)arg += m->len;
	return 0;
}

/*
 * iommufd pins an IOAS's memory when its first device behind an IOMMU
 * attaches, so an attach fails with -ENOMEM when the limit is too low: say
 * so the way a map would.
 */
int ifd_iommufd_attach_enomem(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	char what[160];
	uint64_t bytes = 0;

	ifd_ioas_wlock(ioas);
	ifd_ioas_for_each_record(ioas, add_len, &bytes);
	ifd_ioas_wunlock(ioas);
	snprintf(what, sizeof(what), "%s: attaching to IOAS %u pins the memory it maps", dev->name, ioas->id);
	dev->ctx->ops->explain_enomem(dev->ctx, what, bytes);
	return -ENOMEM;
}
