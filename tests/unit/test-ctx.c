/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Contexts on the fake kernel: backend choice per kernel flavour, forced
 * backends, the LIBIOMMUFD_BACKEND override, adopting fds, option checking,
 * permission errors and logging.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "fake-kernel.h"

static void clean_env(void)
{
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
}

static int setup(void **state)
{
	(void)state;
	clean_env();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	clean_env();
	fake_kernel_destroy_current(); /* a failed test's */
	return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* Open a node through the fake, as a management layer would hand it over. */
static int fake_open(struct fake_kernel *fk, const char *path)
{
	int fd = fake_kernel_sys(fk)->open(path, O_RDWR | O_CLOEXEC, 0);

	assert_true(fd >= FK_FD_BASE);
	return fd;
}

/* ------------------------------------------------------------------------ */

struct choice {
	enum fk_flavour flavour;
	enum iommufd_backend want;
	int ret;                  /* expected return */
	enum iommufd_backend got; /* backend when ret == 0 */
	const char *log;          /* substring of the log on failure, or NULL */
};

static void check_choice(const struct choice *c)
{
	struct fake_kernel *fk = fk_standard(c->flavour);
	struct iommufd_ctx *ctx = (void *)0x1;
	struct fk_logcap cap;
	int r;

	fk_logcap_init(&cap);
	r = fk_ctx_create(fk, c->want, &cap, &ctx);
	if (r != c->ret)
		print_error("flavour %d, backend %s: got %d, want %d\nlog:\n%s", c->flavour,
			    iommufd_backend_name(c->want), r, c->ret, cap.text ? cap.text : "");
	assert_int_equal(r, c->ret);
	if (r == 0) {
		assert_int_equal(iommufd_ctx_get_backend(ctx), c->got);
		if (c->got == IOMMUFD_BACKEND_TYPE1) {
			assert_int_equal(iommufd_ctx_get_fd(ctx), -EOPNOTSUPP);
		} else {
			assert_true(iommufd_ctx_get_fd(ctx) >= FK_FD_BASE);
			assert_true(fake_kernel_fd_is_open(fk, iommufd_ctx_get_fd(ctx)));
		}
		assert_true(fk_logcap_has(&cap, "context uses the"));
		iommufd_ctx_destroy(ctx);
	} else {
		assert_ptr_equal(ctx, (void *)0x1); /* out untouched on failure */
		if (c->log)
			assert_true(fk_logcap_has(&cap, c->log));
	}
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	assert_int_equal(fake_kernel_live_files(fk), 0);
	fk_logcap_free(&cap);
	fake_kernel_destroy(fk);
}

static void test_auto_choice(void **state)
{
	static const struct choice cases[] = {
		{ FK_LINUX_7_3, IOMMUFD_BACKEND_AUTO, 0, IOMMUFD_BACKEND_CDEV, NULL },
		{ FK_LINUX_NOCDEV, IOMMUFD_BACKEND_AUTO, 0, IOMMUFD_BACKEND_GROUP, NULL },
		{ FK_LINUX_6_12, IOMMUFD_BACKEND_AUTO, 0, IOMMUFD_BACKEND_TYPE1, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_choice(&cases[i]);
}

static void test_forced_choice(void **state)
{
	static const struct choice cases[] = {
		{ FK_LINUX_7_3, IOMMUFD_BACKEND_CDEV, 0, IOMMUFD_BACKEND_CDEV, NULL },
		{ FK_LINUX_7_3, IOMMUFD_BACKEND_GROUP, 0, IOMMUFD_BACKEND_GROUP, NULL },
		{ FK_LINUX_7_3, IOMMUFD_BACKEND_TYPE1, 0, IOMMUFD_BACKEND_TYPE1, NULL },
		{ FK_LINUX_NOCDEV, IOMMUFD_BACKEND_CDEV, -ENODEV, 0, "vfio-dev" },
		{ FK_LINUX_NOCDEV, IOMMUFD_BACKEND_GROUP, 0, IOMMUFD_BACKEND_GROUP, NULL },
		{ FK_LINUX_NOCDEV, IOMMUFD_BACKEND_TYPE1, 0, IOMMUFD_BACKEND_TYPE1, NULL },
		{ FK_LINUX_6_12, IOMMUFD_BACKEND_CDEV, -ENODEV, 0, NULL },
		{ FK_LINUX_6_12, IOMMUFD_BACKEND_GROUP, -ENODEV, 0, NULL },
		{ FK_LINUX_6_12, IOMMUFD_BACKEND_TYPE1, 0, IOMMUFD_BACKEND_TYPE1, NULL },
		{ FK_LINUX_IOMMUFD_ONLY, IOMMUFD_BACKEND_CDEV, -ENODEV, 0, "vfio-dev" },
		{ FK_LINUX_IOMMUFD_ONLY, IOMMUFD_BACKEND_GROUP, -ENODEV, 0, "CONFIG_VFIO_GROUP" },
		{ FK_LINUX_IOMMUFD_ONLY, IOMMUFD_BACKEND_TYPE1, -ENODEV, 0, "/dev/vfio/vfio" },
		{ FK_LINUX_NONE, IOMMUFD_BACKEND_CDEV, -ENODEV, 0, NULL },
		{ FK_LINUX_NONE, IOMMUFD_BACKEND_GROUP, -ENODEV, 0, NULL },
		{ FK_LINUX_NONE, IOMMUFD_BACKEND_TYPE1, -ENODEV, 0, "vfio-pci" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_choice(&cases[i]);
}

/* /dev/iommu exists but VFIO is not loaded: AUTO falls back to the legacy
 * container, which is absent too. */
static void test_auto_iommufd_without_vfio(void **state)
{
	static const struct choice c = { FK_LINUX_IOMMUFD_ONLY, IOMMUFD_BACKEND_AUTO, -ENODEV, 0, "modprobe" };

	(void)state;
	check_choice(&c);
}

/* Neither iommufd nor VFIO: AUTO reports -ENODEV (the API's "the requested
 * path does not exist"), not the -ENOENT of the last node it tried. */
static void test_auto_nothing_is_enodev(void **state)
{
	static const struct choice c = { FK_LINUX_NONE, IOMMUFD_BACKEND_AUTO, -ENODEV, 0, "modprobe" };

	(void)state;
	check_choice(&c);
}

/* ------------------------------------------------------------------------ */

static void expect_env_backend(enum fk_flavour fl, const char *env, enum iommufd_backend want,
			       enum iommufd_backend expect)
{
	struct fake_kernel *fk = fk_standard(fl);
	struct iommufd_ctx *ctx = NULL;

	setenv("LIBIOMMUFD_BACKEND", env, 1);
	assert_int_equal(fk_ctx_create(fk, want, NULL, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_backend(ctx), expect);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
	unsetenv("LIBIOMMUFD_BACKEND");
}

static void test_env_override(void **state)
{
	(void)state;
	expect_env_backend(FK_LINUX_7_3, "group", IOMMUFD_BACKEND_AUTO, IOMMUFD_BACKEND_GROUP);
	expect_env_backend(FK_LINUX_7_3, "type1", IOMMUFD_BACKEND_AUTO, IOMMUFD_BACKEND_TYPE1);
	expect_env_backend(FK_LINUX_7_3, "cdev", IOMMUFD_BACKEND_AUTO, IOMMUFD_BACKEND_CDEV);
	expect_env_backend(FK_LINUX_7_3, "auto", IOMMUFD_BACKEND_AUTO, IOMMUFD_BACKEND_CDEV);
	expect_env_backend(FK_LINUX_6_12, "auto", IOMMUFD_BACKEND_AUTO, IOMMUFD_BACKEND_TYPE1);
	/* empty means unset */
	expect_env_backend(FK_LINUX_7_3, "", IOMMUFD_BACKEND_AUTO, IOMMUFD_BACKEND_CDEV);
	/* the variable overrides AUTO only, never an explicit request */
	expect_env_backend(FK_LINUX_7_3, "cdev", IOMMUFD_BACKEND_TYPE1, IOMMUFD_BACKEND_TYPE1);
	expect_env_backend(FK_LINUX_7_3, "type1", IOMMUFD_BACKEND_GROUP, IOMMUFD_BACKEND_GROUP);
}

static void test_env_override_missing_backend(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_6_12);
	struct iommufd_ctx *ctx = NULL;

	(void)state;
	setenv("LIBIOMMUFD_BACKEND", "cdev", 1);
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_AUTO, NULL, &ctx), -ENODEV);
	assert_null(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
}

static void test_env_override_bad(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	setenv("LIBIOMMUFD_BACKEND", "vfio", 1);
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_AUTO, &cap, &ctx), -EINVAL);
	assert_null(ctx);
	assert_true(fk_logcap_has(&cap, "LIBIOMMUFD_BACKEND=vfio"));
	/* rejected before touching the kernel */
	assert_int_equal(fake_kernel_log_find(fk, "open", NULL), 0);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fk_logcap_free(&cap);
	fake_kernel_destroy(fk);
}

/* ------------------------------------------------------------------------ */
/* Adopting fds                                                             */

static int adopt(struct fake_kernel *fk, int fd, enum iommufd_backend want, struct fk_logcap *cap,
		 struct iommufd_ctx **out)
{
	struct iommufd_ctx_opts o = { .sz = sizeof(o), .backend = want, .log_fn = cap ? fk_logcap_fn : NULL,
				      .log_data = cap };

	return ifd_ctx_create_sys(&o, fake_kernel_sys(fk), fd, out);
}

static void test_adopt_iommufd(void **state)
{
	static const struct {
		enum fk_flavour fl;
		enum iommufd_backend want, got;
	} cases[] = {
		{ FK_LINUX_7_3, IOMMUFD_BACKEND_AUTO, IOMMUFD_BACKEND_CDEV },
		{ FK_LINUX_7_3, IOMMUFD_BACKEND_CDEV, IOMMUFD_BACKEND_CDEV },
		{ FK_LINUX_7_3, IOMMUFD_BACKEND_GROUP, IOMMUFD_BACKEND_GROUP },
		{ FK_LINUX_NOCDEV, IOMMUFD_BACKEND_AUTO, IOMMUFD_BACKEND_GROUP },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake_kernel *fk = fk_standard(cases[i].fl);
		struct iommufd_ctx *ctx = NULL;
		struct iommufd_ioas *ioas = NULL;
		int fd = fake_open(fk, "/dev/iommu");

		assert_int_equal(adopt(fk, fd, cases[i].want, NULL, &ctx), 0);
		assert_int_equal(iommufd_ctx_get_backend(ctx), cases[i].got);
		assert_int_equal(iommufd_ctx_get_fd(ctx), fd);
		/* the adopted fd is the one the IOAS lives in */
		assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
		assert_int_equal(iommufd_ioas_get_fd(ioas), fd);
		assert_int_equal(fake_kernel_open_fds(fk), 1);
		iommufd_ctx_destroy(ctx);
		assert_false(fake_kernel_fd_is_open(fk, fd));
		assert_int_equal(fake_kernel_open_fds(fk), 0);
		fake_kernel_destroy(fk);
	}
}

static void test_adopt_iommufd_mismatch(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct fk_logcap cap;
	int fd;

	(void)state;
	fk_logcap_init(&cap);
	fd = fake_open(fk, "/dev/iommu");
	assert_int_equal(adopt(fk, fd, IOMMUFD_BACKEND_TYPE1, &cap, &ctx), -EINVAL);
	assert_null(ctx);
	assert_true(fk_logcap_has(&cap, "TYPE1"));
	/* on failure the caller's fd is untouched and still the caller's */
	assert_true(fake_kernel_fd_is_open(fk, fd));
	assert_int_equal(fake_kernel_open_fds(fk), 1);

	/* cdev requested on a kernel without cdevs */
	fake_kernel_destroy(fk);
	fk = fk_standard(FK_LINUX_NOCDEV);
	fd = fake_open(fk, "/dev/iommu");
	assert_int_equal(adopt(fk, fd, IOMMUFD_BACKEND_CDEV, NULL, &ctx), -ENODEV);
	assert_true(fake_kernel_fd_is_open(fk, fd));
	assert_int_equal(fake_kernel_open_fds(fk), 1);
	/* still usable by its owner */
	assert_int_equal(adopt(fk, fd, IOMMUFD_BACKEND_AUTO, NULL, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_fd(ctx), fd);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fk_logcap_free(&cap);
	fake_kernel_destroy(fk);
}

static void test_adopt_container(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *a = NULL, *b = NULL;
	int fd;

	(void)state;
	fd = fake_open(fk, "/dev/vfio/vfio");
	assert_int_equal(adopt(fk, fd, IOMMUFD_BACKEND_AUTO, NULL, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_backend(ctx), IOMMUFD_BACKEND_TYPE1);
	assert_int_equal(iommufd_ctx_get_fd(ctx), -EOPNOTSUPP);
	/* no /dev/vfio/vfio opened: the adopted container is the first IOAS's */
	assert_int_equal(fake_kernel_log_find(fk, "open", "/dev/vfio/vfio"), 1);
	assert_int_equal(iommufd_ioas_create(ctx, &a), 0);
	assert_int_equal(iommufd_ioas_get_fd(a), fd);
	assert_int_equal(fake_kernel_log_find(fk, "open", "/dev/vfio/vfio"), 1);
	/* the second one opens its own */
	assert_int_equal(iommufd_ioas_create(ctx, &b), 0);
	assert_int_not_equal(iommufd_ioas_get_fd(b), fd);
	assert_int_equal(fake_kernel_log_find(fk, "open", "/dev/vfio/vfio"), 2);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
}

/* iommufd's compat /dev/vfio/vfio is an iommufd (IOMMU_DESTROY answers):
 * TYPE1 asked for, it is driven as the container it also is. */
static void test_adopt_compat_container(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .compat_container = true };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *a = NULL;
	int fd;

	(void)state;
	fd = fake_open(fk, "/dev/vfio/vfio");
	assert_int_equal(adopt(fk, fd, IOMMUFD_BACKEND_TYPE1, NULL, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_backend(ctx), IOMMUFD_BACKEND_TYPE1);
	assert_int_equal(iommufd_ioas_create(ctx, &a), 0);
	assert_int_equal(iommufd_ioas_get_fd(a), fd);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
}

static void test_adopt_container_unused(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_6_12);
	struct iommufd_ctx *ctx = NULL;
	int fd;

	(void)state;
	fd = fake_open(fk, "/dev/vfio/vfio");
	assert_int_equal(adopt(fk, fd, IOMMUFD_BACKEND_TYPE1, NULL, &ctx), 0);
	/* destroyed before any IOAS took the container: still closed */
	iommufd_ctx_destroy(ctx);
	assert_false(fake_kernel_fd_is_open(fk, fd));
	assert_int_equal(fake_kernel_open_fds(fk), 0);

	fd = fake_open(fk, "/dev/vfio/vfio");
	assert_int_equal(adopt(fk, fd, IOMMUFD_BACKEND_GROUP, NULL, &ctx), -EINVAL);
	assert_true(fake_kernel_fd_is_open(fk, fd));
	assert_int_equal(fake_kernel_open_fds(fk), 1);
	assert_int_equal(fake_kernel_sys(fk)->close(fd), 0);
	fake_kernel_destroy(fk);
}

static void test_adopt_not_iommu(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct fk_logcap cap;
	int fd;

	(void)state;
	fk_logcap_init(&cap);
	fd = fake_open(fk, "/dev/null");
	assert_int_equal(adopt(fk, fd, IOMMUFD_BACKEND_AUTO, &cap, &ctx), -ENOTTY);
	assert_null(ctx);
	assert_true(fk_logcap_has(&cap, "neither /dev/iommu nor"));
	assert_true(fake_kernel_fd_is_open(fk, fd));
	assert_int_equal(fake_kernel_sys(fk)->close(fd), 0);

	/* a VFIO group fd is no container either */
	fd = fake_open(fk, "/dev/vfio/5");
	assert_int_equal(adopt(fk, fd, IOMMUFD_BACKEND_AUTO, NULL, &ctx), -ENOTTY);
	assert_true(fake_kernel_fd_is_open(fk, fd));
	assert_int_equal(fake_kernel_group_state(fk, fd), 0);
	assert_int_equal(fake_kernel_sys(fk)->close(fd), 0);

	/* not an open fd at all */
	assert_int_equal(adopt(fk, FK_FD_BASE + 77, IOMMUFD_BACKEND_AUTO, NULL, &ctx), -EBADF);
	assert_null(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fk_logcap_free(&cap);
	fake_kernel_destroy(fk);
}

static void test_adopt_public_bad_fd(void **state)
{
	struct iommufd_ctx *ctx = NULL;

	(void)state;
	errno = 0;
	assert_int_equal(iommufd_ctx_adopt_fd(-1, NULL, &ctx), -EBADF);
	assert_int_equal(errno, EBADF);
	assert_null(ctx);
}

/* Bad options: refused before the fd is touched; it stays the caller's. */
static void test_adopt_bad_opts(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx_opts o = { .sz = 2 };
	struct iommufd_ctx *ctx = NULL;
	int fd;

	(void)state;
	fd = fake_open(fk, "/dev/iommu");
	fake_kernel_log_clear(fk);
	assert_int_equal(ifd_ctx_create_sys(&o, fake_kernel_sys(fk), fd, &ctx), -EINVAL);
	assert_null(ctx);
	assert_true(fake_kernel_fd_is_open(fk, fd));
	assert_int_equal(fake_kernel_log_count(fk), 0);
	assert_int_equal(fake_kernel_sys(fk)->close(fd), 0);
	fake_kernel_destroy(fk);
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

struct big_opts {
	struct iommufd_ctx_opts o;
	uint64_t future[2];
};

static void test_bad_opts(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	const struct ifd_sys *sys = fake_kernel_sys(fk);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ctx_opts o;
	struct big_opts big;

	(void)state;
	o = (struct iommufd_ctx_opts){ .sz = 0 };
	assert_int_equal(ifd_ctx_create_sys(&o, sys, -1, &ctx), -EINVAL);
	o = (struct iommufd_ctx_opts){ .sz = sizeof(size_t) - 1 };
	assert_int_equal(ifd_ctx_create_sys(&o, sys, -1, &ctx), -EINVAL);
	o = (struct iommufd_ctx_opts){ .sz = sizeof(o), .pin_accounting = (enum iommufd_pin_accounting)3 };
	assert_int_equal(ifd_ctx_create_sys(&o, sys, -1, &ctx), -EINVAL);
	o = (struct iommufd_ctx_opts){ .sz = sizeof(o), .backend = (enum iommufd_backend)5 };
	assert_int_equal(ifd_ctx_create_sys(&o, sys, -1, &ctx), -EINVAL);
	o = (struct iommufd_ctx_opts){ .sz = sizeof(o), .backend = (enum iommufd_backend)-1 };
	assert_int_equal(ifd_ctx_create_sys(&o, sys, -1, &ctx), -EINVAL);
	o = (struct iommufd_ctx_opts){ .sz = sizeof(o), .log_level = IOMMUFD_LOG_DEBUG + 1 };
	assert_int_equal(ifd_ctx_create_sys(&o, sys, -1, &ctx), -EINVAL);
	o = (struct iommufd_ctx_opts){ .sz = sizeof(o), .log_level = -1 };
	assert_int_equal(ifd_ctx_create_sys(&o, sys, -1, &ctx), -EINVAL);
	o = (struct iommufd_ctx_opts){ .sz = sizeof(o) };
	assert_int_equal(ifd_ctx_create_sys(&o, sys, -1, NULL), -EINVAL);
	/* a newer caller's struct: unknown fields must be zero */
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.future[1] = 1;
	assert_int_equal(ifd_ctx_create_sys(&big.o, sys, -1, &ctx), -EINVAL);
	assert_null(ctx);
	/* none of these reached the kernel */
	assert_int_equal(fake_kernel_calls(fk), 0);

	big.future[1] = 0;
	big.o.backend = IOMMUFD_BACKEND_GROUP;
	assert_int_equal(ifd_ctx_create_sys(&big.o, sys, -1, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_backend(ctx), IOMMUFD_BACKEND_GROUP);
	iommufd_ctx_destroy(ctx);

	/* an older caller's struct that ends after backend */
	o = (struct iommufd_ctx_opts){ .sz = offsetof(struct iommufd_ctx_opts, backend) + sizeof(o.backend),
				       .backend = IOMMUFD_BACKEND_TYPE1, .log_level = 99 /* not read */ };
	assert_int_equal(ifd_ctx_create_sys(&o, sys, -1, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_backend(ctx), IOMMUFD_BACKEND_TYPE1);
	iommufd_ctx_destroy(ctx);

	/* NULL opts: all defaults */
	assert_int_equal(ifd_ctx_create_sys(NULL, sys, -1, &ctx), 0);
	assert_int_equal(iommufd_ctx_get_backend(ctx), IOMMUFD_BACKEND_CDEV);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
}

static void test_public_bad_opts_sets_errno(void **state)
{
	struct iommufd_ctx_opts o = { .sz = 1 };
	struct iommufd_ctx *ctx = NULL;

	(void)state;
	/* validated before any system call, so safe on the real kernel */
	errno = 0;
	assert_int_equal(iommufd_ctx_create(&o, &ctx), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_null(ctx);
}

/* ------------------------------------------------------------------------ */
/* Permissions                                                              */

static void test_eacces_iommu(void **state)
{
	static const enum iommufd_backend wants[] = { IOMMUFD_BACKEND_AUTO, IOMMUFD_BACKEND_CDEV,
						      IOMMUFD_BACKEND_GROUP };

	(void)state;
	for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
		struct iommufd_ctx *ctx = NULL;
		struct fk_logcap cap;

		fk_logcap_init(&cap);
		fake_kernel_deny(fk, "/dev/iommu");
		assert_int_equal(fk_ctx_create(fk, wants[i], &cap, &ctx), -EACCES);
		assert_null(ctx);
		assert_true(fk_logcap_has(&cap, "/dev/iommu"));
		assert_true(fk_logcap_has(&cap, "permission denied"));
		assert_true(cap.errors >= 1);
		/* AUTO reports rather than silently falling back to the container */
		assert_int_equal(fake_kernel_log_find(fk, "open", "/dev/vfio/vfio"), 0);
		assert_int_equal(fake_kernel_open_fds(fk), 0);
		fk_logcap_free(&cap);
		fake_kernel_destroy(fk);
	}
}

static void test_eacces_container(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_6_12);
	struct iommufd_ctx *ctx = NULL;
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	fake_kernel_deny(fk, "/dev/vfio/vfio");
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_AUTO, &cap, &ctx), -EACCES);
	assert_true(fk_logcap_has(&cap, "/dev/vfio/vfio"));
	fk_logcap_clear(&cap);
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_TYPE1, &cap, &ctx), -EACCES);
	assert_true(fk_logcap_has(&cap, "/dev/vfio/vfio"));
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fk_logcap_free(&cap);
	fake_kernel_destroy(fk);
}

static void test_container_bad_api(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_6_12, .api_version_bad = true };
	struct fake_kernel *fk = fake_kernel_create(&cfg);
	struct iommufd_ctx *ctx = NULL;
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_TYPE1, &cap, &ctx), -ENODEV);
	assert_true(fk_logcap_has(&cap, "API version"));
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fk_logcap_free(&cap);
	fake_kernel_destroy(fk);
}

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */

/* Run @fn with stderr redirected to a file; returns what it printed. */
static char *capture_stderr(void (*fn)(struct fake_kernel *), struct fake_kernel *fk)
{
	char *buf = calloc(1, 65536);
	FILE *tmp = tmpfile();
	int saved, n;

	assert_non_null(buf);
	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fileno(tmp), 2), 2);
	fn(fk);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	rewind(tmp);
	n = (int)fread(buf, 1, 65535, tmp);
	buf[n > 0 ? n : 0] = '\0';
	fclose(tmp);
	return buf;
}

/* A success and a failure, with the default log sink. */
static void noisy_ops(struct fake_kernel *fk)
{
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_device *dev = NULL;
	struct iommufd_ioas *ioas = NULL;

	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_AUTO, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_HOST, NULL, &dev), -ENODEV);
	iommufd_ctx_destroy(ctx);
}

static void test_default_log_silent(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	char *out;

	(void)state;
	out = capture_stderr(noisy_ops, fk);
	assert_string_equal(out, "");
	free(out);
	fake_kernel_destroy(fk);
}

static void test_debug_env_verbose(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	char *out;

	(void)state;
	setenv("LIBIOMMUFD_DEBUG", "1", 1);
	out = capture_stderr(noisy_ops, fk);
	unsetenv("LIBIOMMUFD_DEBUG");
	/* debug messages and errors, each prefixed */
	assert_non_null(strstr(out, "libiommufd: context uses the cdev backend"));
	assert_non_null(strstr(out, "libiommufd: 0000:00:07.0 is bound to e1000e"));
	free(out);
	fake_kernel_destroy(fk);
}

static void test_log_levels(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx_opts o = { .sz = sizeof(o) };
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct fk_logcap cap, cap2;

	(void)state;
	fk_logcap_init(&cap);
	fk_logcap_init(&cap2);
	/* a callback with level 0: errors only */
	o.log_fn = fk_logcap_fn;
	o.log_data = &cap;
	assert_int_equal(ifd_ctx_create_sys(&o, fake_kernel_sys(fk), -1, &ctx), 0);
	assert_int_equal(cap.count, 0); /* the debug line was filtered */
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_HOST, NULL, &dev), -ENODEV);
	assert_true(cap.count >= 1);
	assert_int_equal(cap.count, cap.errors);
	assert_true(fk_logcap_has(&cap, "vfio-pci"));

	/* replace the callback and raise the level */
	assert_int_equal(iommufd_ctx_set_log(ctx, fk_logcap_fn, &cap2, IOMMUFD_LOG_DEBUG), 0);
	fk_logcap_clear(&cap);
	assert_int_equal(iommufd_ioas_unmap(ioas, 0x1000, 0x1000, NULL), -ENOENT);
	assert_int_equal(cap.count, 0);
	assert_true(fk_logcap_has(&cap2, "nothing mapped in IOVA 0x1000"));
	assert_int_equal(cap2.errors, 0);

	assert_int_equal(iommufd_ctx_set_log(NULL, NULL, NULL, 0), -EINVAL);
	assert_int_equal(iommufd_ctx_set_log(ctx, fk_logcap_fn, &cap2, IOMMUFD_LOG_DEBUG + 1), -EINVAL);
	assert_int_equal(iommufd_ctx_set_log(ctx, fk_logcap_fn, &cap2, -1), -EINVAL);
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	fk_logcap_free(&cap2);
	fake_kernel_destroy(fk);
}

static void test_debug_env_with_callback(void **state)
{
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx_opts o = { .sz = sizeof(o), .log_fn = fk_logcap_fn };
	struct iommufd_ctx *ctx = NULL;
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	o.log_data = &cap;
	setenv("LIBIOMMUFD_DEBUG", "1", 1);
	/* level 0 with LIBIOMMUFD_DEBUG: everything, to the callback */
	assert_int_equal(ifd_ctx_create_sys(&o, fake_kernel_sys(fk), -1, &ctx), 0);
	unsetenv("LIBIOMMUFD_DEBUG");
	assert_true(fk_logcap_has(&cap, "context uses the cdev backend"));
	iommufd_ctx_destroy(ctx);
	fk_logcap_free(&cap);
	fake_kernel_destroy(fk);
}

/* ------------------------------------------------------------------------ */

static void test_null_and_names(void **state)
{
	(void)state;
	iommufd_ctx_destroy(NULL);
	/* the run-time version is the one this header describes, and it orders */
	assert_int_equal(iommufd_version(), LIBIOMMUFD_VERSION);
	assert_true(LIBIOMMUFD_VERSION_CODE(1, 0, 0) < LIBIOMMUFD_VERSION_CODE(1, 1, 0));
	assert_true(iommufd_version() >= LIBIOMMUFD_VERSION_CODE(1, 0, 0));
	assert_int_equal(iommufd_ctx_get_pin_accounting(NULL), -EINVAL);
	assert_string_equal(iommufd_backend_name(IOMMUFD_BACKEND_AUTO), "auto");
	assert_string_equal(iommufd_backend_name(IOMMUFD_BACKEND_CDEV), "cdev");
	assert_string_equal(iommufd_backend_name(IOMMUFD_BACKEND_GROUP), "group");
	assert_string_equal(iommufd_backend_name(IOMMUFD_BACKEND_TYPE1), "type1");
	assert_string_equal(iommufd_backend_name((enum iommufd_backend)42), "unknown");
	assert_int_equal(iommufd_ctx_get_backend(NULL), IOMMUFD_BACKEND_AUTO);
	errno = 0;
	assert_int_equal(iommufd_ctx_get_fd(NULL), -EINVAL);
	assert_int_equal(errno, EINVAL);
}

static void test_destroy_with_live_objects(void **state)
{
	static const enum iommufd_backend all[] = { IOMMUFD_BACKEND_CDEV, IOMMUFD_BACKEND_GROUP,
						    IOMMUFD_BACKEND_TYPE1 };
	static uint8_t buf[0x4000] __attribute__((aligned(4096)));

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
		struct iommufd_ctx *ctx = NULL;
		struct iommufd_ioas *a = NULL, *b = NULL;
		struct iommufd_device *d1 = NULL, *d2 = NULL, *d3 = NULL;
		void *bar;
		size_t len;
		uint64_t iova;

		assert_int_equal(fk_ctx_create(fk, all[i], NULL, &ctx), 0);
		assert_int_equal(iommufd_ioas_create(ctx, &a), 0);
		assert_int_equal(iommufd_ioas_create(ctx, &b), 0);
		assert_int_equal(iommufd_ioas_map(a, buf, sizeof(buf), IOMMUFD_MAP_READ, NULL, &iova), 0);
		assert_int_equal(iommufd_device_open(a, FK_DEV_A, NULL, &d1), 0);
		assert_int_equal(iommufd_device_open(b, FK_DEV_B, NULL, &d2), 0);
		assert_int_equal(iommufd_device_open(b, FK_DEV_B2, NULL, &d3), 0);
		assert_int_equal(iommufd_device_map_region(d1, 0, &bar, &len), 0);
		assert_int_equal(iommufd_ioas_map(b, buf, sizeof(buf), IOMMUFD_MAP_WRITE, NULL, &iova), 0);
		assert_true(fake_kernel_pinned(fk) > 0);
		iommufd_ctx_destroy(ctx);
		assert_int_equal(fake_kernel_open_fds(fk), 0);
		assert_int_equal(fake_kernel_live_files(fk), 0);
		assert_int_equal(fake_kernel_live_mmaps(fk), 0);
		assert_int_equal(fake_kernel_pinned(fk), 0);
		assert_int_equal(fake_kernel_dev_open_count(fk, FK_DEV_A), 0);
		fake_kernel_destroy(fk);
	}
}

/*
 * The fork rule: in a child the inherited handles never reach the kernel
 * (map/unmap: -ECHILD; destroys close fds and issue no ioctl), so the
 * parent's state is untouched.  The fake kernel lives in process memory:
 * the child checks its own copy and reports through its exit status.
 */
static int child_checks(struct fake_kernel *fk, struct iommufd_ctx *ctx, struct iommufd_ioas *ioas,
			struct iommufd_device *dev, uint8_t *buf, uint64_t iova)
{
	struct fk_call c;
	uint64_t x;
	size_t n;

	if (iommufd_ioas_map(ioas, buf, 0x1000, IOMMUFD_MAP_READ, NULL, &x) != -ECHILD || errno != ECHILD)
		return 10;
	if (iommufd_ioas_unmap(ioas, iova, 0x1000, NULL) != -ECHILD)
		return 11;
	if (iommufd_ioas_unmap_all(ioas) != -ECHILD)
		return 12;
	{
		uint32_t v;
		void *bar;
		size_t blen;

		/* the device is the parent's: no register access, no mmap, no reset */
		if (iommufd_device_config_read(dev, 0, &v, 4) != -ECHILD)
			return 20;
		if (iommufd_device_region_write(dev, 0, 0, &v, 4) != -ECHILD)
			return 21;
		if (iommufd_device_map_region(dev, 0, &bar, &blen) != -ECHILD)
			return 22;
		if (iommufd_device_reset(dev) != -ECHILD || iommufd_device_attach(dev, ioas) != -ECHILD)
			return 23;
	}
	/* lookups answer from the child's copy of the bookkeeping */
	if (iommufd_ioas_translate(ioas, buf, 0x1000, &x) != 0 || x != iova)
		return 13;
	fake_kernel_log_clear(fk);
	if (iommufd_device_destroy(dev) != 0 || iommufd_ioas_destroy(ioas) != 0)
		return 14;
	iommufd_ctx_destroy(ctx);
	n = fake_kernel_log_count(fk);
	for (size_t i = 0; i < n; i++) {
		if (!fake_kernel_log_get(fk, i, &c))
			return 15;
		if (strcmp(c.op, "close") && strcmp(c.op, "munmap"))
			return 16; /* only closes: no unmap, destroy or detach */
	}
	if (fake_kernel_open_fds(fk) != 0)
		return 17;
	return 0;
}

static void test_fork_rule(void **state)
{
	static const enum iommufd_backend all[] = { IOMMUFD_BACKEND_CDEV, IOMMUFD_BACKEND_GROUP,
						    IOMMUFD_BACKEND_TYPE1 };
	static uint8_t buf[0x4000] __attribute__((aligned(4096)));

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
		struct iommufd_ctx *ctx = NULL;
		struct iommufd_ioas *ioas = NULL;
		struct iommufd_device *dev = NULL;
		uint64_t iova, x;
		int status = -1;
		pid_t pid;

		assert_int_equal(fk_ctx_create(fk, all[i], NULL, &ctx), 0);
		assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
		assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &dev), 0);
		assert_int_equal(iommufd_ioas_map(ioas, buf, 0x1000, IOMMUFD_MAP_READ, NULL, &iova), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(child_checks(fk, ctx, ioas, dev, buf, iova));
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		/* the parent goes on as if nothing happened */
		assert_int_equal(iommufd_ioas_map(ioas, buf + 0x1000, 0x1000, IOMMUFD_MAP_READ, NULL, &x), 0);
		assert_int_equal(iommufd_ioas_unmap(ioas, iova, 0x1000, NULL), 0);
		iommufd_ctx_destroy(ctx);
		assert_int_equal(fake_kernel_open_fds(fk), 0);
		fake_kernel_destroy(fk);
	}
}

/* Defect 10: the user's callback never runs while a library lock is held
 * (it may call back into the library from another thread, or block). */
struct lockcheck {
	struct iommufd_ctx *ctx;
	int calls, under_lock;
};

static void lockcheck_fn(void *data, int level, const char *msg)
{
	struct lockcheck *lc = data;

	(void)level;
	(void)msg;
	lc->calls++;
	if (pthread_mutex_trylock(&lc->ctx->lock) != 0)
		lc->under_lock++;
	else
		pthread_mutex_unlock(&lc->ctx->lock);
}

static void test_log_outside_locks(void **state)
{
	static const enum iommufd_backend all[] = { IOMMUFD_BACKEND_CDEV, IOMMUFD_BACKEND_GROUP,
						    IOMMUFD_BACKEND_TYPE1 };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
		struct lockcheck lc = { 0 };
		struct iommufd_ioas *ioas = NULL;
		struct iommufd_device *d1 = NULL, *d2 = NULL;

		assert_int_equal(fk_ctx_create(fk, all[i], NULL, &lc.ctx), 0);
		assert_int_equal(iommufd_ctx_set_log(lc.ctx, lockcheck_fn, &lc, IOMMUFD_LOG_DEBUG), 0);
		assert_int_equal(iommufd_ioas_create(lc.ctx, &ioas), 0);
		assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &d1), 0);
		/* logged inside the device-open critical section */
		assert_int_equal(iommufd_device_open(ioas, FK_DEV_A, NULL, &d2), -EBUSY);
		assert_int_equal(iommufd_ioas_destroy(ioas), -EBUSY);
		assert_true(lc.calls >= 3);
		assert_int_equal(lc.under_lock, 0);
		iommufd_ctx_destroy(lc.ctx);
		fake_kernel_destroy(fk);
	}
}

static int tbl_calls;
static int tbl_ioctl(int fd, unsigned long req, void *arg)
{
	tbl_calls++;
	return ioctl(fd, req, arg);
}

/*
 * ifd_ioctl() issues the libc table's ioctls in line (lib/syscall.h) and
 * any other table's through the table.  On a pipe, a real kernel object
 * every host has: the answer written through the argument comes back,
 * an error comes back as a negative errno with errno left alone, and a
 * forked child's call never reaches the kernel.
 */
static void test_inline_ioctl(void **state)
{
	struct ifd_sys other = ifd_sys_libc;
	struct iommufd_ctx c;
	uint32_t guard = 1;
	int p[2], n = -1;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.sys = &ifd_sys_libc;
	c.fork_page = &guard;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write(p[1], "abc", 3), 3);

	errno = 4321;
	assert_int_equal(ifd_ioctl(&c, p[0], FIONREAD, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ifd_ioctl(&c, -1, FIONREAD, &n), -EBADF);
	assert_int_equal(ifd_ioctl(&c, p[0], _IO('x', 0x7f), NULL), -ENOTTY);
	assert_int_equal(errno, 4321);
	assert_int_equal(ifd_sys_ioctl_inline(-1, FIONREAD, &n), -EBADF);

	other.ioctl = tbl_ioctl;
	c.sys = &other;
	n = -1;
	assert_int_equal(ifd_ioctl(&c, p[0], FIONREAD, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ifd_ioctl(&c, -1, FIONREAD, &n), -EBADF);
	assert_int_equal(tbl_calls, 2);

	guard = 0; /* what a forked child sees */
	c.sys = &ifd_sys_libc;
	assert_int_equal(ifd_ioctl(&c, p[0], FIONREAD, &n), -ECHILD);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_auto_choice),
		T(test_forced_choice),
		T(test_auto_iommufd_without_vfio),
		T(test_auto_nothing_is_enodev),
		T(test_env_override),
		T(test_env_override_missing_backend),
		T(test_env_override_bad),
		T(test_adopt_iommufd),
		T(test_adopt_iommufd_mismatch),
		T(test_adopt_container),
		T(test_adopt_compat_container),
		T(test_adopt_container_unused),
		T(test_adopt_not_iommu),
		T(test_adopt_public_bad_fd),
		T(test_adopt_bad_opts),
		T(test_bad_opts),
		T(test_public_bad_opts_sets_errno),
		T(test_eacces_iommu),
		T(test_eacces_container),
		T(test_container_bad_api),
		T(test_default_log_silent),
		T(test_debug_env_verbose),
		T(test_log_levels),
		T(test_debug_env_with_callback),
		T(test_null_and_names),
		T(test_destroy_with_live_objects),
		T(test_fork_rule),
		T(test_log_outside_locks),
		cmocka_unit_test(test_inline_ioctl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
