/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The one place that turns a system path into the path the tool uses: the
 * same path under IOMMUFDCTL_SYSROOT when the tests set it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

const char *ctl_root(void)
{
	const char *r = getenv("IOMMUFDCTL_SYSROOT");

	/* "/" and "" both mean the running system; a trailing "/" is dropped by ctl_path. */
	if (!r || !r[0] || !strcmp(r, "/"))
		return "";
	return r;
}

bool ctl_root_is_real(void)
{
	return ctl_root()[0] == '\0';
}

int ctl_path(char *buf, size_t len, const char *fmt, ...)
{
	const char *root = ctl_root();
	size_t rl = strlen(root);
	va_list ap;
	int n;

	while (rl && root[rl - 1] == '/')
		rl--;
	if (rl >= len)
		return -ENAMETOOLONG;
	memcpy(buf, root, rl);
	va_start(ap, fmt);
	n = vsnprintf(buf + rl, len - rl, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - rl)
		return -ENAMETOOLONG;
	return 0;
}

/* Reads a small attribute; trailing newlines removed.  Returns its length. */
int ctl_read(const char *path, char *buf, size_t len)
{
	size_t total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (!len)
		return -EINVAL;
	if (fd < 0)
		return -errno;
	while (total < len - 1) {
		ssize_t n = read(fd, buf + total, len - 1 - total);

		if (n < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		total += (size_t)n;
	}
	close(fd);
	buf[total] = '\0';
	while (total && buf[total - 1] == '\n')
		buf[--total] = '\0';
	return (int)total;
}

/*
 * sysfs takes an attribute's value in one write(2); a short write would be
 * a different value, so it is an error.
 */
int ctl_write(const char *path, const char *s)
{
	size_t n = strlen(s);
	ssize_t w;
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	int e;

	if (fd < 0)
		return -errno;
	w = write(fd, s, n);
	e = w < 0 ? errno : EIO;
	if (close(fd) < 0 && w == (ssize_t)n)
		return -errno;
	if (w != (ssize_t)n)
		return -e;
	return 0;
}

/* Last component of a symlink's target: "../../../bus/pci/drivers/e1000e" -> "e1000e". */
int ctl_link_base(const char *path, char *out, size_t len)
{
	char t[PATH_MAX];
	ssize_t n = readlink(path, t, sizeof(t) - 1);
	const char *b;

	if (n < 0)
		return -errno;
	t[n] = '\0';
	b = strrchr(t, '/');
	b = b ? b + 1 : t;
	if (strlen(b) >= len)
		return -ENAMETOOLONG;
	strcpy(out, b);
	return 0;
}

bool ctl_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

int ctl_mkdir_p(const char *path, unsigned int mode)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, path, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}
