/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Contexts: backend choice and lifetime of everything else. */
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "internal.h"
#include "kabi.h"

IFD_EXPORT uint32_t iommufd_version(void)
{
	return LIBIOMMUFD_VERSION;
}

/*
 * The fork rule costs one load per call: the guard page of a child reads
 * as zero.  Without madvise (a kernel built without ADVISE_SYSCALLS) the
 * pid is compared instead, a system call per check.
 */
static void fork_guard_init(struct iommufd_ctx *ctx)
{
	void *p = mmap(NULL, (size_t)ctx->page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ctx->pid = getpid();
	if (p == MAP_FAILED)
		return;
	if (madvise(p, (size_t)ctx->page_size, MADV_WIPEONFORK) < 0) {
		munmap(p, (size_t)ctx->page_size);
		return;
	}
	*(volatile uint32_t *)p = 1;
	ctx->fork_page = p;
}

bool ifd_forked_slow(const struct iommufd_ctx *ctx)
{
	return getpid() != ctx->pid;
}

IFD_EXPORT const char *iommufd_backend_name(enum iommufd_backend backend)
{
	switch (backend) {
	case IOMMUFD_BACKEND_AUTO: return "auto";
	case IOMMUFD_BACKEND_CDEV: return "cdev";
	case IOMMUFD_BACKEND_GROUP: return "group";
	case IOMMUFD_BACKEND_TYPE1: return "type1";
	case IOMMUFD_BACKEND_NOIOMMU: return "noiommu";
	}
	return "unknown";
}

static const struct ifd_backend_ops *backend_ops(enum iommufd_backend b)
{
	switch (b) {
	case IOMMUFD_BACKEND_CDEV: return &ifd_backend_cdev;
	case IOMMUFD_BACKEND_GROUP: return &ifd_backend_group;
	case IOMMUFD_BACKEND_TYPE1: return &ifd_backend_type1;
	case IOMMUFD_BACKEND_NOIOMMU: return &ifd_backend_noiommu;
	default: return NULL;
	}
}

static int parse_backend(const char *s, enum iommufd_backend *b)
{
	static const enum iommufd_backend all[] = { IOMMUFD_BACKEND_AUTO, IOMMUFD_BACKEND_CDEV,
						    IOMMUFD_BACKEND_GROUP, IOMMUFD_BACKEND_TYPE1,
						    IOMMUFD_BACKEND_NOIOMMU };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (!strcmp(s, iommufd_backend_name(all[i]))) {
			*b = all[i];
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Which VFIO char majors the kernel registered: "vfio-dev" exists only
 * with CONFIG_VFIO_DEVICE_CDEV, "vfio" only with group support.  Unlike
 * /dev/vfio/devices, this does not depend on any device being bound yet.
 */
static bool kernel_has_chrdev(struct iommufd_ctx *ctx, const char *name)
{
	char buf[16384], *line, *save = NULL;
	size_t n = strlen(name);

	if (ifd_sysfs_read(ctx, "/proc/devices", buf, sizeof(buf)) < 0)
		return false;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = line;

		if (!strncmp(line, "Block devices", 13))
			break;
		while (*p == ' ' || (*p >= '0' && *p <= '9'))
			p++;
		if (!strncmp(p, name, n) && p[n] == '\0')
			return true;
	}
	return false;
}

/* IOMMU_DESTROY of ID 0 is ENOENT on iommufd and ENOTTY on anything else. */
static bool fd_is_iommufd(struct iommufd_ctx *ctx, int fd)
{
	struct ifd_k_destroy d = { .size = sizeof(d), .id = 0 };

	return ifd_ioctl(ctx, fd, IFD_K_IOMMU_DESTROY, &d) == -ENOENT;
}

static bool fd_is_container(struct iommufd_ctx *ctx, int fd)
{
	return ifd_ioctl(ctx, fd, VFIO_GET_API_VERSION, NULL) == VFIO_API_VERSION;
}

static int choose_iommufd_flavour(struct iommufd_ctx *ctx, enum iommufd_backend want)
{
	bool cdev = kernel_has_chrdev(ctx, "vfio-dev");
	bool group = kernel_has_chrdev(ctx, "vfio");

	if (want == IOMMUFD_BACKEND_CDEV && !cdev) {
		ifd_err(ctx, "/dev/iommu: this kernel has no VFIO device cdevs (no \"vfio-dev\" in /proc/devices): "
			"load vfio-pci, or use a kernel with CONFIG_VFIO_DEVICE_CDEV=y");
		return -ENODEV;
	}
	if (want == IOMMUFD_BACKEND_GROUP && !group) {
		ifd_err(ctx, "/dev/iommu: this kernel has no VFIO groups (no \"vfio\" in /proc/devices): "
			"load vfio-pci, or use a kernel with CONFIG_VFIO_GROUP=y");
		return -ENODEV;
	}
	if (want == IOMMUFD_BACKEND_AUTO) {
		if (cdev)
			want = IOMMUFD_BACKEND_CDEV;
		else if (group)
			want = IOMMUFD_BACKEND_GROUP;
		else
			return -ENODEV;
	}
	ctx->backend = want;
	ctx->ops = backend_ops(want);
	return 0;
}

static int open_auto(struct iommufd_ctx *ctx)
{
	int r = ifd_backend_cdev.ctx_open(ctx);
	bool have_iommufd = r == 0;

	if (r == 0) {
		r = choose_iommufd_flavour(ctx, IOMMUFD_BACKEND_AUTO);
		if (r == 0)
			return 0;
		ifd_close(ctx, ctx->fd);
		ctx->fd = -1;
		ifd_dbg(ctx, "/dev/iommu present but VFIO has neither cdevs nor groups loaded; trying the legacy container");
	} else if (r != -ENOENT && r != -ENODEV && r != -ENXIO) {
		/* EACCES and friends: report rather than silently downgrade. */
		return r;
	}
	ctx->backend = IOMMUFD_BACKEND_TYPE1;
	ctx->ops = &ifd_backend_type1;
	r = ctx->ops->ctx_open(ctx);
	if (r == -ENOENT || r == -ENODEV) {
		if (have_iommufd)
			ifd_err(ctx, "/dev/iommu exists but VFIO registered neither device cdevs nor groups, and "
				"the legacy container is unusable: load vfio-pci (modprobe vfio-pci)");
		else if (r == -ENOENT)
			ifd_err(ctx, "neither /dev/iommu nor /dev/vfio/vfio exists: load the VFIO modules "
				"(modprobe vfio-pci; for iommufd also modprobe iommufd)");
		/* else open_container() already said what is wrong with it. */
		r = -ENODEV;
	}
	return r;
}

static int adopt(struct iommufd_ctx *ctx, int fd, enum iommufd_backend want)
{
	struct stat st;

	if (ctx->sys->fstat(fd, &st) < 0)
		return -EBADF;
	if (want == IOMMUFD_BACKEND_NOIOMMU) {
		/* Both fd kinds would pass for a protected context too: the
		 * unsafe mode is only entered by asking for it at creation. */
		ifd_err(ctx, "fd %d: the noiommu backend cannot adopt an fd; create the context with "
			"iommufd_ctx_create()", fd);
		return -EINVAL;
	}
	/* iommufd's compat container (CONFIG_IOMMUFD_VFIO_CONTAINER) is an
	 * iommufd behind /dev/vfio/vfio's number: TYPE1 may drive it. */
	if (want == IOMMUFD_BACKEND_TYPE1 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(10, 196) &&
	    fd_is_container(ctx, fd)) {
		ctx->backend = IOMMUFD_BACKEND_TYPE1;
		ctx->ops = &ifd_backend_type1;
		ctx->spare_container = fd;
		return 0;
	}
	if (fd_is_iommufd(ctx, fd)) {
		if (want == IOMMUFD_BACKEND_TYPE1) {
			ifd_err(ctx, "fd %d is /dev/iommu but the TYPE1 backend was requested", fd);
			return -EINVAL;
		}
		ctx->fd = fd;
		return choose_iommufd_flavour(ctx, want);
	}
	if (fd_is_container(ctx, fd)) {
		if (want != IOMMUFD_BACKEND_AUTO && want != IOMMUFD_BACKEND_TYPE1) {
			ifd_err(ctx, "fd %d is a VFIO container but the %s backend was requested", fd,
				iommufd_backend_name(want));
			return -EINVAL;
		}
		ctx->backend = IOMMUFD_BACKEND_TYPE1;
		ctx->ops = &ifd_backend_type1;
		ctx->spare_container = fd;
		return 0;
	}
	ifd_err(ctx, "fd %d is neither /dev/iommu nor a /dev/vfio/vfio container", fd);
	return -ENOTTY;
}

static void ctx_free(struct iommufd_ctx *ctx)
{
	if (ctx->fork_page)
		munmap((void *)ctx->fork_page, (size_t)ctx->page_size);
	pthread_mutex_destroy(&ctx->lock);
	pthread_rwlock_destroy(&ctx->log_lock);
	free(ctx);
}

int ifd_ctx_create_sys(const struct iommufd_ctx_opts *opts, const struct ifd_sys *sys, int adopt_fd,
		       struct iommufd_ctx **out)
{
	struct iommufd_ctx_opts o;
	struct iommufd_ctx *ctx;
	enum iommufd_backend want;
	const char *env;
	int r, work = -1;

	if (ifd_opts_copy(&o, sizeof(o), opts) < 0 || !out || (unsigned int)o.backend > IOMMUFD_BACKEND_NOIOMMU ||
	    o.log_level < 0 || o.log_level > IOMMUFD_LOG_DEBUG ||
	    (unsigned int)o.pin_accounting > IOMMUFD_PIN_ACCOUNT_PROCESS ||
	    o.noiommu_path > IOMMUFD_NOIOMMU_PATH_LEGACY ||
	    (o.noiommu_path && o.backend != IOMMUFD_BACKEND_NOIOMMU && o.backend != IOMMUFD_BACKEND_AUTO))
		return -EINVAL;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->sys = sys;
	ctx->fd = -1;
	ctx->spare_container = -1;
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_rwlock_init(&ctx->log_lock, NULL);
	ifd_list_init(&ctx->ioas_list);
	ifd_list_init(&ctx->dev_list);
	ifd_list_init(&ctx->group_list);
	ifd_list_init(&ctx->hwpt_list);
	ifd_list_init(&ctx->fault_list);
	ifd_list_init(&ctx->viommu_list);
	ifd_log_defaults(ctx, o.log_fn, o.log_data, o.log_level);
	ctx->page_size = sys->page_size();
	ctx->noiommu_path = o.noiommu_path;
	fork_guard_init(ctx);

	want = o.backend;
	env = sys->getenv("LIBIOMMUFD_BACKEND");
	if (want == IOMMUFD_BACKEND_AUTO && env && *env) {
		if (parse_backend(env, &want) < 0) {
			ifd_err(ctx, "LIBIOMMUFD_BACKEND=%s: not one of auto, cdev, group, type1, noiommu", env);
			r = -EINVAL;
			goto fail;
		}
	}

	if (adopt_fd >= 0) {
		work = ifd_dup(ctx, adopt_fd);
		r = work < 0 ? work : adopt(ctx, work, want);
	}
	else if (want == IOMMUFD_BACKEND_AUTO)
		r = open_auto(ctx);
	else {
		ctx->backend = want;
		ctx->ops = backend_ops(want);
		r = ctx->ops->ctx_open(ctx);
		if (r == 0 && (want == IOMMUFD_BACKEND_CDEV || want == IOMMUFD_BACKEND_GROUP))
			r = choose_iommufd_flavour(ctx, want);
		if (r == -ENOENT)
			r = -ENODEV;
	}
	if (r == 0)
		r = ctx->ops->ctx_set_pin_accounting(ctx, o.pin_accounting);
	if (r < 0)
		goto fail;
	if (work >= 0) {
		/* Success: keep the caller's fd number, drop our duplicate. */
		if (ctx->fd == work)
			ctx->fd = adopt_fd;
		else
			ctx->spare_container = adopt_fd;
		ifd_close(ctx, work);
	}
	ifd_dbg(ctx, "context uses the %s backend", iommufd_backend_name(ctx->backend));
	*out = ctx;
	return 0;

fail:
	/* ctx->fd / spare_container hold our duplicate, never adopt_fd. */
	if (work >= 0 && ctx->fd != work && ctx->spare_container != work)
		ifd_close(ctx, work);
	ifd_close(ctx, ctx->fd);
	ifd_close(ctx, ctx->spare_container);
	ctx_free(ctx);
	return r;
}

IFD_EXPORT int iommufd_ctx_create(const struct iommufd_ctx_opts *opts, struct iommufd_ctx **out)
{
	return ifd_ret(ifd_ctx_create_sys(opts, &ifd_sys_libc, -1, out));
}

IFD_EXPORT int iommufd_ctx_adopt_fd(int fd, const struct iommufd_ctx_opts *opts, struct iommufd_ctx **out)
{
	if (fd < 0)
		return ifd_ret(-EBADF);
	return ifd_ret(ifd_ctx_create_sys(opts, &ifd_sys_libc, fd, out));
}

IFD_EXPORT void iommufd_ctx_destroy(struct iommufd_ctx *ctx)
{
	struct ifd_list *pos, *tmp;

	if (!ctx)
		return;
	/* Children first: devices hold IOAS and groups.  In a forked child
	 * each destroy only closes the child's fds (the fork rule). */
	ifd_list_for_each_safe(pos, tmp, &ctx->dev_list)
		iommufd_device_destroy(ifd_container_of(pos, struct iommufd_device, link));
	/* Then what devices were attached to: HWPTs hold fault queues and
	 * IOAS. */
	ifd_hwpt_ctx_gone(ctx);
	ifd_list_for_each_safe(pos, tmp, &ctx->fault_list)
		iommufd_fault_queue_destroy(ifd_container_of(pos, struct iommufd_fault_queue, link));
	ifd_list_for_each_safe(pos, tmp, &ctx->ioas_list)
		iommufd_ioas_destroy(ifd_container_of(pos, struct iommufd_ioas, link));
	ifd_hotplug_free(ctx);
	ifd_p2p_free(ctx);
	ifd_close(ctx, ctx->fd);
	ifd_close(ctx, ctx->spare_container);
	ifd_caps_free(ctx);
	ctx_free(ctx);
}

IFD_EXPORT enum iommufd_backend iommufd_ctx_get_backend(const struct iommufd_ctx *ctx)
{
	return ctx ? ctx->backend : IOMMUFD_BACKEND_AUTO;
}

IFD_EXPORT int iommufd_ctx_get_fd(const struct iommufd_ctx *ctx)
{
	if (!ctx)
		return ifd_ret(-EINVAL);
	if (ctx->fd < 0)
		return ifd_ret(-EOPNOTSUPP); /* TYPE1: each IOAS has its container */
	return ctx->fd;
}

IFD_EXPORT int iommufd_ctx_get_pin_accounting(const struct iommufd_ctx *ctx)
{
	if (!ctx)
		return ifd_ret(-EINVAL);
	return ctx->pin_mode;
}
