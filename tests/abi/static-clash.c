/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * A static user owns every name outside iommufd_*.  This program defines
 * globals named like the library's internal helpers and links against
 * libiommufd.a: with the helpers global in the archive, the link fails with
 * "multiple definition", or worse, the library calls the user's function.
 *
 * It references iommufd_ctx_adopt_fd(), whose code needs the objects that
 * define the real ifd_close/ifd_log, and runs it on /dev/null, a path that
 * dups, logs and closes without any IOMMU on the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libiommufd/libiommufd.h>

int ifd_close(void);
void ifd_log(const char *msg);

static int user_close_calls;
static int user_log_calls;
static int lib_log_calls;

/* Types deliberately differ from the library's: only the names clash. */
int ifd_close(void)
{
	return ++user_close_calls;
}

void ifd_log(const char *msg)
{
	(void)msg;
	user_log_calls++;
}

static void log_cb(void *data, int level, const char *msg)
{
	(void)data;
	(void)level;
	(void)msg;
	lib_log_calls++;
}

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "static-clash: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		return 1; \
	} \
} while (0)

int main(void)
{
	struct iommufd_ctx_opts opts = {
		.sz = sizeof(opts),
		.log_fn = log_cb,
		.log_level = IOMMUFD_LOG_DEBUG,
	};
	struct iommufd_ctx *ctx = NULL;
	int fd, next, probe, r;

	CHECK(strcmp(iommufd_backend_name(IOMMUFD_BACKEND_CDEV), "cdev") == 0);

	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	/* The lowest free descriptor: where the library's duplicate goes. */
	next = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	CHECK(next >= 0);
	close(next);
	r = iommufd_ctx_adopt_fd(fd, &opts, &ctx);
	CHECK(r == -ENOTTY);
	CHECK(ctx == NULL);
	/* The library's own log and close ran, not ours. */
	CHECK(lib_log_calls > 0);
	CHECK(user_log_calls == 0);
	CHECK(user_close_calls == 0);
	/* The working duplicate was really closed: its number is free again. */
	probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(probe == next);
	CHECK(fcntl(fd, F_GETFD) >= 0);
	close(probe);
	close(fd);

	CHECK(ifd_close() == 1);
	ifd_log("user");
	CHECK(user_log_calls == 1);
	printf("static-clash: ok\n");
	return 0;
}
