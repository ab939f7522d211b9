/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * A null kernel behind the library's syscall table: it answers what a CDEV
 * context and one IOAS ask and accepts every map and unmap without doing
 * anything, so the library's own work can be counted (host-count) or timed
 * (translate-bench) without a kernel.  Its functions are named nk_ so
 * host-count.sh can leave their instructions out.
 */
#ifndef IFD_BENCH_NULL_KERNEL_H
#define IFD_BENCH_NULL_KERNEL_H

#include <fcntl.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kabi.h"

#define NK_IOMMU 900
#define NK_PROC 901
static const char nk_devices[] = "Character devices:\n 10 misc\n511 vfio-dev\n\nBlock devices:\n";
static size_t nk_proc_off;

static int nk_open(const char *path, int flags, mode_t mode)
{
	(void)flags;
	(void)mode;
	if (!strcmp(path, "/dev/iommu"))
		return NK_IOMMU;
	if (!strcmp(path, "/proc/devices")) {
		nk_proc_off = 0;
		return NK_PROC;
	}
	errno = ENOENT;
	return -1;
}

static int nk_close(int fd)
{
	(void)fd;
	return 0;
}

static int nk_dup(int fd)
{
	(void)fd;
	errno = EMFILE;
	return -1;
}

static int nk_ioctl(int fd, unsigned long req, void *arg)
{
	(void)fd;
	if (req == IFD_K_IOMMU_IOAS_ALLOC) {
		((struct ifd_k_ioas_alloc *)arg)->out_ioas_id = 1;
	} else if (req == IFD_K_IOMMU_IOAS_IOVA_RANGES) {
		struct ifd_k_ioas_iova_ranges *q = arg;
		struct ifd_k_iova_range *r = (struct ifd_k_iova_range *)(uintptr_t)q->allowed_iovas;

		if (q->num_iovas < 1) {
			q->num_iovas = 1;
			errno = EMSGSIZE;
			return -1;
		}
		r[0].start = 0;
		r[0].last = (1ull << 48) - 1;
		q->num_iovas = 1;
		q->out_iova_alignment = 4096;
	}
	return 0;
}

static void *nk_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	(void)addr, (void)len, (void)prot, (void)flags, (void)fd, (void)off;
	errno = ENODEV;
	return MAP_FAILED;
}

static int nk_munmap(void *addr, size_t len)
{
	(void)addr, (void)len;
	return 0;
}

static ssize_t nk_read(int fd, void *buf, size_t len)
{
	size_t left = sizeof(nk_devices) - 1 - nk_proc_off;

	if (fd != NK_PROC) {
		errno = EINVAL;
		return -1;
	}
	if (len > left)
		len = left;
	memcpy(buf, nk_devices + nk_proc_off, len);
	nk_proc_off += len;
	return (ssize_t)len;
}

static ssize_t nk_write(int fd, const void *buf, size_t len)
{
	(void)fd, (void)buf, (void)len;
	errno = EINVAL;
	return -1;
}

static ssize_t nk_pread(int fd, void *buf, size_t len, off_t off)
{
	(void)fd, (void)buf, (void)len, (void)off;
	errno = EINVAL;
	return -1;
}

static ssize_t nk_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	(void)fd, (void)buf, (void)len, (void)off;
	errno = EINVAL;
	return -1;
}

static ssize_t nk_readlink(const char *path, char *buf, size_t len)
{
	(void)path, (void)buf, (void)len;
	errno = ENOENT;
	return -1;
}

static int nk_stat(const char *path, struct stat *st)
{
	(void)path, (void)st;
	errno = ENOENT;
	return -1;
}

static int nk_fstat(int fd, struct stat *st)
{
	(void)fd;
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFCHR | 0600;
	return 0;
}

static int nk_listdir(const char *path, int (*fn)(const char *name, void *arg), void *arg)
{
	(void)path, (void)fn, (void)arg;
	return -ENOENT;
}

static const char *nk_getenv(const char *name)
{
	(void)name;
	return NULL;
}

static long nk_page_size(void)
{
	return 4096;
}

static const struct ifd_sys nk_sys = {
	.open = nk_open, .close = nk_close, .dup = nk_dup, .ioctl = nk_ioctl,
	.mmap = nk_mmap, .munmap = nk_munmap, .read = nk_read, .write = nk_write,
	.pread = nk_pread, .pwrite = nk_pwrite, .readlink = nk_readlink, .stat = nk_stat,
	.fstat = nk_fstat, .listdir = nk_listdir, .getenv = nk_getenv, .page_size = nk_page_size,
};

#endif
