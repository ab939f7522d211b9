/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Devices: open/adopt/attach/destroy, the same on every backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>

#include "internal.h"

/* Every backend's dev_close: closing the device fd detaches it, unbinds a
 * cdev and tears down its interrupts in the kernel. */
void ifd_dev_close_fd(struct iommufd_device *dev)
{
	ifd_close(dev->ctx, dev->fd);
	dev->fd = -1;
}

static bool dev_ok(const struct iommufd_device *dev)
{
	return dev && dev->state == IFD_ALIVE;
}

/* What the options ask of an open; checked before anything is allocated. */
struct dev_opts {
	bool has_vf_token;
	uint8_t vf_token[IFD_VF_TOKEN_LEN];
};

static int check_opts(const struct iommufd_device_opts *opts, struct dev_opts *out)
{
	struct iommufd_device_opts o;

	memset(out, 0, sizeof(*out));
	if (ifd_opts_copy(&o, sizeof(o), opts) < 0 || o.flags)
		return -EINVAL;
	if (o.vf_token) {
		if (ifd_vf_token_parse(o.vf_token, out->vf_token) < 0)
			return -EINVAL;
		out->has_vf_token = true;
	}
	return 0;
}

static void apply_opts(struct iommufd_device *dev, const struct dev_opts *o)
{
	dev->has_vf_token = o->has_vf_token;
	memcpy(dev->vf_token, o->vf_token, sizeof(dev->vf_token));
}

static struct iommufd_device *dev_alloc(struct iommufd_ctx *ctx)
{
	struct iommufd_device *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return NULL;
	dev->ctx = ctx;
	dev->fd = -1;
	dev->group_num = -1;
	ifd_list_init(&dev->link);
	pthread_mutex_init(&dev->lock, NULL);
	return dev;
}

static void dev_free(struct iommufd_device *dev)
{
	ifd_dev_free_regions(dev);
	ifd_dev_caps_free(dev);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

/* Cache the regions and how many IRQ types there are: every access checks. */
static int read_info(struct iommufd_device *dev)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	int r = ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_GET_INFO, &info);

	if (r < 0) {
		ifd_err(dev->ctx, "%s: VFIO_DEVICE_GET_INFO failed: %s", dev->name, strerror(-r));
		return r;
	}
	dev->num_regions = info.num_regions;
	dev->num_irqs = info.num_irqs;
	return ifd_dev_read_regions(dev);
}

/*
 * Common tail of open and both adopts.  @group_fd >= 0 is our duplicate of
 * an adopted group fd, which this closes on failure.  @caller_fd >= 0 is
 * the adopted fd itself (group or cdev): on success it replaces our
 * duplicate under ctx->lock, before any other thread can reach the group
 * or the device and issue an ioctl on the duplicate's number.
 */
static int dev_open_common(struct iommufd_ioas *ioas, struct iommufd_device *dev, int group_fd, int caller_fd)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	/* Backends that bind device cdevs share no group fds. */
	bool cdev = !ctx->ops->group_put;
	struct ifd_list *pos;
	int r;

	ifd_ctx_lock(ctx);
	if (ioas->state != IFD_ALIVE) {
		ifd_close(ctx, group_fd);
		r = -EINVAL;
		goto out;
	}
	/* The group path would hand out a second fd, the cdev path refuses:
	 * give every backend the cdev answer. */
	ifd_list_for_each(pos, &ctx->dev_list) {
		if (!strcmp(ifd_container_of(pos, struct iommufd_device, link)->name, dev->name)) {
			ifd_err(ctx, "%s is already open in this context", dev->name);
			ifd_close(ctx, group_fd);
			r = -EBUSY;
			goto out;
		}
	}
	if (!cdev) {
		if (dev->group_num < 0) {
			ifd_close(ctx, group_fd);
			ifd_err(ctx, "%s has no IOMMU group (no %s/iommu_group): is the IOMMU enabled "
				"(intel_iommu=on / amd_iommu=on)?", dev->name, dev->sysfs);
			r = -ENODEV;
			goto out;
		}
		r = ifd_group_get(ctx, dev->group_num, group_fd, &dev->group);
		if (r < 0)
			goto out; /* ifd_group_get closed an adopted fd */
	}
	r = ctx->ops->dev_open(dev, ioas);
	/* A shared secret: keep it no longer than the open needs it. */
	explicit_bzero(dev->vf_token, sizeof(dev->vf_token));
	if (r < 0)
		goto put;
	r = read_info(dev);
	if (r == 0)
		r = ifd_ioas_refresh(ioas);
	if (r < 0) {
		ifd_dev_close_fd(dev);
		goto put;
	}
	if (caller_fd >= 0 && group_fd >= 0) {
		ifd_close(ctx, dev->group->fd);
		dev->group->fd = caller_fd;
	} else if (caller_fd >= 0) {
		ifd_close(ctx, dev->fd);
		dev->fd = caller_fd;
	}
	dev->ioas = ioas;
	ioas->ndevices++;
	dev->state = IFD_ALIVE;
	ifd_hotplug_dev_arm(dev); /* if the context has an event fd */
	ifd_list_add(&ctx->dev_list, &dev->link);
	ifd_dbg(ctx, "%s: open on the %s backend, IOAS %u", dev->name, iommufd_backend_name(ctx->backend), ioas->id);
	goto out;
put:
	if (dev->group) {
		ctx->ops->group_put(ctx, dev->group, ioas);
		dev->group = NULL;
	}
out:
	ifd_ctx_unlock(ctx);
	return r;
}

/*
 * Live update on GROUP (handover.c): a device another process opened.  Its
 * group fd (already joined to this iommufd) and device fd are the
 * context's from now on, closed on failure too; the device stays attached
 * where it is (@ioas).
 */
int ifd_dev_adopt_group_dev(struct iommufd_ioas *ioas, const char *name, int group_fd, int dev_fd,
			    struct iommufd_device **out)
{
	struct iommufd_ctx *ctx = ioas->ctx;
	struct iommufd_device *dev = dev_alloc(ctx);
	struct ifd_group *g = NULL;
	struct ifd_list *pos;
	int r;

	r = dev ? ifd_resolve_device(ctx, name, dev) : -ENOMEM;
	if (r == 0 && dev->group_num < 0)
		r = -ENODEV;
	if (r < 0)
		goto fail;
	ifd_ctx_lock(ctx);
	ifd_list_for_each(pos, &ctx->dev_list) {
		if (!strcmp(ifd_container_of(pos, struct iommufd_device, link)->name, dev->name)) {
			ifd_err(ctx, "%s is already in this context", dev->name);
			r = -EBUSY;
			goto unlock;
		}
	}
	ifd_list_for_each(pos, &ctx->group_list)
		if (ifd_container_of(pos, struct ifd_group, link)->num == dev->group_num)
			g = ifd_container_of(pos, struct ifd_group, link);
	if (!g) {
		struct stat a, b;
		char path[32];

		snprintf(path, sizeof(path), "/dev/vfio/%d", dev->group_num);
		if (ctx->sys->fstat(group_fd, &a) < 0 || ctx->sys->stat(path, &b) < 0 || !S_ISCHR(a.st_mode) ||
		    a.st_rdev != b.st_rdev) {
			ifd_err(ctx, "%s: the group fd handed over is not %s, the device's IOMMU group", dev->name, path);
			r = -EINVAL;
			goto unlock;
		}
		g = calloc(1, sizeof(*g));
		if (!g) {
			r = -ENOMEM;
			goto unlock;
		}
		g->num = dev->group_num;
		g->fd = group_fd;
		g->ioas = ioas;
		g->in_container = true;
		ifd_list_add(&ctx->group_list, &g->link);
		group_fd = -1;
	}
	g->refs++;
	dev->group = g;
	dev->fd = dev_fd;
	r = read_info(dev);
	if (r < 0) {
		dev->fd = -1;
		dev->group = NULL;
		if (!--g->refs) {
			ifd_list_del(&g->link);
			group_fd = g->fd; /* closed below */
			free(g);
		}
		goto unlock;
	}
	dev_fd = -1;
	ifd_dev_set_attached(dev, NULL, ioas);
	dev->state = IFD_ALIVE;
	ifd_list_add(&ctx->dev_list, &dev->link);
unlock:
	ifd_ctx_unlock(ctx);
fail:
	ifd_close(ctx, group_fd); /* a group this context already had, or a failure */
	ifd_close(ctx, dev_fd);
	if (r < 0) {
		if (dev)
			dev_free(dev);
		return r;
	}
	*out = dev;
	return 0;
}

IFD_EXPORT int iommufd_device_open(struct iommufd_ioas *ioas, const char *name, const struct iommufd_device_opts *opts,
				   struct iommufd_device **out)
{
	struct iommufd_device *dev;
	struct dev_opts o;
	int r;

	if (!ioas || ioas->state != IFD_ALIVE || !name || !*name || !out || check_opts(opts, &o))
		return ifd_ret(-EINVAL);
	dev = dev_alloc(ioas->ctx);
	if (!dev)
		return ifd_ret(-ENOMEM);
	apply_opts(dev, &o);
	r = ifd_resolve_device(ioas->ctx, name, dev);
	if (r == 0)
		r = dev_open_common(ioas, dev, -1, -1);
	if (r < 0) {
		dev_free(dev);
		return ifd_ret(r);
	}
	*out = dev;
	return 0;
}

IFD_EXPORT int iommufd_device_adopt_cdev_fd(struct iommufd_ioas *ioas, int fd, const struct iommufd_device_opts *opts,
					    struct iommufd_device **out)
{
	struct iommufd_device *dev;
	struct dev_opts o;
	int r;

	if (!ioas || ioas->state != IFD_ALIVE || fd < 0 || !out || check_opts(opts, &o))
		return ifd_ret(-EINVAL);
	if (ioas->ctx->backend != IOMMUFD_BACKEND_CDEV) {
		ifd_err(ioas->ctx, "adopting a device cdev fd needs the cdev backend, this context uses %s",
			iommufd_backend_name(ioas->ctx->backend));
		return ifd_ret(-EOPNOTSUPP);
	}
	dev = dev_alloc(ioas->ctx);
	if (!dev)
		return ifd_ret(-ENOMEM);
	apply_opts(dev, &o);
	dev->fd = ifd_dup(ioas->ctx, fd);
	r = dev->fd < 0 ? dev->fd : ifd_resolve_cdev_fd(ioas->ctx, dev->fd, dev);
	if (r == 0)
		r = dev_open_common(ioas, dev, -1, fd); /* keeps the caller's fd number */
	if (r < 0) {
		ifd_close(ioas->ctx, dev->fd); /* our duplicate, if still held */
		dev_free(dev);
		return ifd_ret(r);
	}
	*out = dev;
	return 0;
}

IFD_EXPORT int iommufd_device_adopt_group_fd(struct iommufd_ioas *ioas, int group_fd, const char *name,
					     const struct iommufd_device_opts *opts, struct iommufd_device **out)
{
	struct iommufd_device *dev;
	struct dev_opts o;
	int r, work;

	if (!ioas || ioas->state != IFD_ALIVE || group_fd < 0 || !name || !*name || !out || check_opts(opts, &o))
		return ifd_ret(-EINVAL);
	if (!ioas->ctx->ops->group_put) {
		ifd_err(ioas->ctx, "adopting a group fd needs a backend with VFIO groups, this context uses %s",
			iommufd_backend_name(ioas->ctx->backend));
		return ifd_ret(-EOPNOTSUPP);
	}
	dev = dev_alloc(ioas->ctx);
	if (!dev)
		return ifd_ret(-ENOMEM);
	apply_opts(dev, &o);
	work = ifd_dup(ioas->ctx, group_fd);
	r = work < 0 ? work : ifd_resolve_device(ioas->ctx, name, dev);
	if (r < 0)
		ifd_close(ioas->ctx, work);
	else
		r = dev_open_common(ioas, dev, work, group_fd); /* closes work on failure */
	if (r < 0) {
		dev_free(dev);
		return ifd_ret(r);
	}
	*out = dev;
	return 0;
}

/* Caller holds ctx->lock.  The device of this context with iommufd device
 * ID @id, or NULL. */
static struct iommufd_device *find_devid(struct iommufd_ctx *ctx, uint32_t id)
{
	struct ifd_list *pos;
	struct iommufd_device *d;

	ifd_list_for_each(pos, &ctx->dev_list) {
		d = ifd_container_of(pos, struct iommufd_device, link);
		if (d->has_devid && d->devid == id)
			return d;
	}
	return NULL;
}

/* The part of adopt_id under ctx->lock: the checks against the context's
 * other devices, the ID's check, and the device's regions. */
static int adopt_id_locked(struct iommufd_ctx *ctx, struct iommufd_device *dev)
{
	struct iommufd_device *other = find_devid(ctx, dev->devid);
	struct ifd_list *pos;
	int r;

	if (other) {
		ifd_err(ctx, "iommufd device ID %u is already in this context (%s)", dev->devid, other->name);
		return -EBUSY;
	}
	ifd_list_for_each(pos, &ctx->dev_list) {
		if (!strcmp(ifd_container_of(pos, struct iommufd_device, link)->name, dev->name)) {
			ifd_err(ctx, "%s is already open in this context", dev->name);
			return -EBUSY;
		}
	}
	r = ifd_dev_caps_read(ctx, dev->devid, &dev->caps);
	if (r == -ENOENT)
		ifd_err(ctx, "/dev/iommu: no device with iommufd device ID %u is bound to this iommufd "
			"(IOMMU_GET_HW_INFO: ENOENT): pass the out_devid of VFIO_DEVICE_BIND_IOMMUFD on this iommufd",
			dev->devid);
	else if (r == -EOPNOTSUPP)
		ifd_err(ctx, "/dev/iommu: cannot check iommufd device ID %u: the kernel lacks IOMMU_GET_HW_INFO "
			"(needs Linux 6.6+) or the device has no IOMMU", dev->devid);
	else if (r < 0)
		ifd_err(ctx, "/dev/iommu: IOMMU_GET_HW_INFO for device ID %u failed: %s", dev->devid, strerror(-r));
	if (r == 0 && dev->fd >= 0)
		r = read_info(dev); /* only a bound cdev fd answers it */
	return r;
}

IFD_EXPORT int iommufd_device_adopt_id(struct iommufd_ctx *ctx, uint32_t dev_id, int fd,
				       const struct iommufd_device_opts *opts, struct iommufd_device **out)
{
	struct iommufd_device *dev;
	struct dev_opts o;
	int r;

	/* The device is bound already: a token has nothing left to open. */
	if (!ctx || fd < -1 || !out || check_opts(opts, &o) || o.has_vf_token)
		return ifd_ret(-EINVAL);
	if (ctx->fd < 0) {
		ifd_err(ctx, "adopting a device by its iommufd device ID needs /dev/iommu; this context uses the %s "
			"backend", iommufd_backend_name(ctx->backend));
		return ifd_ret(-EOPNOTSUPP);
	}
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	dev = dev_alloc(ctx);
	if (!dev)
		return ifd_ret(-ENOMEM);
	dev->devid = dev_id;
	dev->has_devid = true;
	dev->adopted_id = true;
	snprintf(dev->name, sizeof(dev->name), "iommufd device %u", dev_id);
	r = 0;
	if (fd >= 0) {
		/* Work on a duplicate: the caller's fd stays untouched on failure. */
		dev->fd = ifd_dup(ctx, fd);
		r = dev->fd < 0 ? dev->fd : ifd_resolve_cdev_fd(ctx, dev->fd, dev);
	}
	if (r == 0) {
		ifd_ctx_lock(ctx);
		r = adopt_id_locked(ctx, dev);
		if (r == 0) {
			if (fd >= 0) {
				/* Keep the caller's fd number, before anyone can use ours. */
				ifd_close(ctx, dev->fd);
				dev->fd = fd;
			}
			dev->state = IFD_ALIVE;
			ifd_list_add(&ctx->dev_list, &dev->link);
			ifd_dbg(ctx, "%s: adopted by iommufd device ID %u%s", dev->name, dev_id,
				fd < 0 ? " without its VFIO fd" : "");
		}
		ifd_ctx_unlock(ctx);
	}
	if (r < 0) {
		if (dev->fd != fd)
			ifd_close(ctx, dev->fd);
		dev_free(dev);
		return ifd_ret(r);
	}
	*out = dev;
	return 0;
}

IFD_EXPORT int iommufd_device_destroy(struct iommufd_device *dev)
{
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;

	if (!dev)
		return 0;
	ctx = dev->ctx;
	ifd_ctx_lock(ctx);
	ioas = dev->ioas;
	ifd_viommu_dev_gone(dev);
	/* Before the files close: KVM would otherwise keep them open. */
	ifd_kvm_dev_gone(dev);
	/* Closing the fd detaches the RID and every PASID in the kernel. */
	ifd_hwpt_dev_gone(dev);
	ifd_dev_unmap_regions(dev);
	/* VFIO revokes the device's dma-bufs when its fd closes. */
	ifd_p2p_exporter_event(dev, "closing the device", true);
	/* Closing the device fd also tears down its interrupts. */
	ifd_dev_close_fd(dev);
	ifd_hotplug_dev_disarm(dev);
	if (ifd_forked(ctx)) {
		/* The fork rule: the group stays in the parent's container. */
		ifd_group_drop(ctx, dev->group);
	} else if (dev->group) {
		ctx->ops->group_put(ctx, dev->group, ioas);
	}
	dev->group = NULL;
	if (ioas)
		ioas->ndevices--;
	ifd_list_del(&dev->link);
	/* The usable ranges may widen again now.  Under ctx->lock, so the
	 * IOAS cannot be destroyed under us. */
	if (ioas && !ifd_forked(ctx))
		ifd_ioas_refresh(ioas);
	ifd_ctx_unlock(ctx);
	/* Freed at once, like free(): a VMM that hot-plugs devices for ever
	 * must not accumulate handles.  A second destroy is undefined. */
	dev_free(dev);
	return 0;
}

IFD_EXPORT int iommufd_device_attach(struct iommufd_device *dev, struct iommufd_ioas *ioas)
{
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *old;
	struct iommufd_hwpt *old_h;
	int r;

	if (!dev_ok(dev) || !ioas || ioas->state != IFD_ALIVE || ioas->ctx != dev->ctx)
		return ifd_ret(-EINVAL);
	ctx = dev->ctx;
	if (ifd_forked(ctx))
		return ifd_ret(-ECHILD);
	if (dev->adopted_id && dev->fd < 0) {
		ifd_err(ctx, "%s: the device was adopted by ID without its VFIO fd, so only its owner can attach it",
			dev->name);
		return ifd_ret(-EOPNOTSUPP);
	}
	ifd_ctx_lock(ctx);
	old = dev->ioas;
	old_h = dev->hwpt;
	/* From an explicit HWPT of the same IOAS this still moves: to the
	 * IOAS's own (implicit) HWPT. */
	if (old == ioas && !old_h) {
		ifd_ctx_unlock(ctx);
		return 0;
	}
	r = ctx->ops->dev_attach(dev, ioas);
	if (r == 0) {
		r = ifd_ioas_refresh(ioas);
		if (r < 0)
			ifd_dev_restore(dev, old_h, old);
	}
	if (r == 0) {
		ifd_dev_set_attached(dev, NULL, ioas);
		if (old && old != ioas)
			ifd_ioas_refresh(old);
	}
	ifd_ctx_unlock(ctx);
	return ifd_ret(r);
}

IFD_EXPORT struct iommufd_ioas *iommufd_device_get_ioas(const struct iommufd_device *dev)
{
	return dev_ok(dev) ? dev->ioas : NULL;
}

IFD_EXPORT int iommufd_device_get_fd(const struct iommufd_device *dev)
{
	return dev_ok(dev) ? dev->fd : ifd_ret(-EINVAL);
}

IFD_EXPORT const char *iommufd_device_get_name(const struct iommufd_device *dev)
{
	return dev_ok(dev) ? dev->name : NULL;
}

IFD_EXPORT int64_t iommufd_device_get_id(const struct iommufd_device *dev)
{
	if (!dev_ok(dev))
		return ifd_ret(-EINVAL);
	if (!dev->has_devid)
		return ifd_ret(-EOPNOTSUPP);
	return dev->devid;
}

IFD_EXPORT int iommufd_device_get_group(const struct iommufd_device *dev)
{
	if (!dev_ok(dev))
		return ifd_ret(-EINVAL);
	return dev->group_num >= 0 ? dev->group_num : ifd_ret(-ENOENT);
}
