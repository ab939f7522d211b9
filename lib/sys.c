/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* The real kernel: the default syscall table. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static int sys_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}

static int sys_dup(int fd)
{
	return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

static int sys_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg);
}

static int sys_listdir(const char *path, int (*fn)(const char *name, void *arg), void *arg)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int r = 0;

	if (!d)
		return -errno;
	/* readdir's NULL means end or error; errno tells them apart. */
	for (errno = 0; (de = readdir(d)); errno = 0) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = fn(de->d_name, arg);
		if (r)
			break;
	}
	if (!de && errno)
		r = -errno;
	closedir(d);
	return r < 0 ? r : 0;
}

static const char *sys_getenv(const char *name)
{
	return secure_getenv(name);
}

static long sys_page_size(void)
{
	return sysconf(_SC_PAGESIZE);
}

static int sys_eventfd(unsigned int initval, int flags)
{
	return eventfd(initval, flags);
}

const struct ifd_sys ifd_sys_libc = {
	.open = sys_open,
	.close = close,
	.dup = sys_dup,
	.ioctl = sys_ioctl,
	.mmap = mmap,
	.munmap = munmap,
	.read = read,
	.write = write,
	.pread = pread,
	.pwrite = pwrite,
	.readlink = readlink,
	.realpath = realpath,
	.stat = stat,
	.fstat = fstat,
	.listdir = sys_listdir,
	.getenv = sys_getenv,
	.page_size = sys_page_size,
	.eventfd = sys_eventfd,
	.epoll_create1 = epoll_create1,
	.epoll_ctl = epoll_ctl,
	.epoll_wait = epoll_wait,
	.socket = socket,
	.bind = bind,
	.recvfrom = recvfrom,
#ifdef IFD_HAVE_LIBUDEV
	.enumerate = ifd_udev_enumerate,
#endif
	.mlock = mlock,
	.munlock = munlock,
};

/*
 * Adopt functions work on a duplicate of the caller's fd: every failure
 * path may then close what it holds, and the caller's fd is untouched
 * unless the call succeeds.
 */
int ifd_dup(struct iommufd_ctx *ctx, int fd)
{
	int d = ctx->sys->dup(fd);

	return d < 0 ? -errno : d;
}

int ifd_close(struct iommufd_ctx *ctx, int fd)
{
	if (fd < 0)
		return 0;
	/* Linux closes the fd even when close() reports an error: never retry. */
	return ctx->sys->close(fd) < 0 ? -errno : 0;
}

/*
 * Open a device node, turning the two errors users hit first into messages
 * that say what to do.
 */
int ifd_open_node(struct iommufd_ctx *ctx, const char *path, int flags, const char *what)
{
	int fd = ctx->sys->open(path, flags | O_CLOEXEC, 0);
	int err;

	if (fd >= 0)
		return fd;
	err = errno;
	if (err == EACCES || err == EPERM)
		ifd_err(ctx, "%s: permission denied opening %s: run as root, or give this user access "
			"(e.g. a udev rule: chown/chmod %s) and raise RLIMIT_MEMLOCK for it", path, what, path);
	else if (err == ENOENT)
		ifd_dbg(ctx, "%s: no such node (%s)", path, what);
	else
		ifd_err(ctx, "%s: cannot open %s: %s", path, what, strerror(err));
	return -err;
}
