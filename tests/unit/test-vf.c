/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * SR-IOV VF tokens on the fake kernel, on every backend: the token reaches
 * the kernel in the backend's form (cdev bind flag, group device name), a
 * missing or wrong one is the kernel's -EACCES with a log line naming the
 * fix, the PF's user sets it, option checking, and finding a PF's VFs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "fake-kernel.h"

static const enum iommufd_backend B_CDEV = IOMMUFD_BACKEND_CDEV;
static const enum iommufd_backend B_GROUP = IOMMUFD_BACKEND_GROUP;
static const enum iommufd_backend B_TYPE1 = IOMMUFD_BACKEND_TYPE1;

#define PF FK_DEV_A
#define VF "0000:00:0a.0"
#define VF_GROUP 12
#define TOKEN "bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3"
#define TOKEN_UPPER "BD8D9D2B-5A5F-4F5A-A211-F591514BA1F3"
#define OTHER "00000000-1111-2222-3333-444444444444"

struct t {
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct fk_logcap cap;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	struct fk_dev_desc vf = { .name = VF, .group = VF_GROUP };

	assert_non_null(t);
	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	fk_logcap_init(&t->cap);
	t->fk = fk_standard(FK_LINUX_7_3);
	assert_int_equal(fake_kernel_add_device(t->fk, &vf), 0);
	assert_int_equal(fake_kernel_add_vf(t->fk, PF, VF), 0);
	assert_int_equal(fk_ctx_create(t->fk, *(const enum iommufd_backend *)*state, &t->cap, &t->ctx), 0);
	assert_int_equal(iommufd_ioas_create(t->ctx, &t->ioas), 0);
	fk_logcap_clear(&t->cap);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	int fds;

	iommufd_ctx_destroy(t->ctx);
	fds = fake_kernel_open_fds(t->fk);
	fake_kernel_destroy(t->fk);
	fk_logcap_free(&t->cap);
	free(t);
	assert_int_equal(fds, 0);
	return 0;
}

static int open_tok(struct t *t, const char *name, const char *token, struct iommufd_device **out)
{
	struct iommufd_device_opts o = { .sz = sizeof(o), .vf_token = token };

	*out = NULL;
	return iommufd_device_open(t->ioas, name, &o, out);
}

/* The PF's user sets the token; the VF opens with it and only with it. */
static void test_vf_needs_token(void **state)
{
	struct t *t = *state;
	struct iommufd_device *pf, *vf;

	assert_int_equal(iommufd_device_open(t->ioas, PF, NULL, &pf), 0);
	assert_int_equal(iommufd_device_set_vf_token(pf, TOKEN), 0);

	fk_logcap_clear(&t->cap);
	assert_int_equal(iommufd_device_open(t->ioas, VF, NULL, &vf), -EACCES);
	assert_int_equal(errno, EACCES);
	assert_true(fk_logcap_has(&t->cap, "SR-IOV VF of " PF));
	assert_true(fk_logcap_has(&t->cap, "iommufd_device_opts.vf_token"));
	assert_int_equal(fake_kernel_dev_open_count(t->fk, VF), 0);

	fk_logcap_clear(&t->cap);
	assert_int_equal(open_tok(t, VF, OTHER, &vf), -EACCES);
	assert_true(fk_logcap_has(&t->cap, "not the one the user of its PF " PF " set"));
	assert_int_equal(fake_kernel_dev_open_count(t->fk, VF), 0);

	/* Either case: the kernel's parser takes both. */
	assert_int_equal(open_tok(t, VF, TOKEN_UPPER, &vf), 0);
	assert_int_equal(fake_kernel_dev_open_count(t->fk, VF), 1);
	assert_int_equal(iommufd_device_destroy(vf), 0);
	assert_int_equal(open_tok(t, VF, TOKEN, &vf), 0);
	assert_int_equal(iommufd_device_destroy(vf), 0);
	assert_int_equal(iommufd_device_destroy(pf), 0);
}

/* A PF whose VFs are open needs their token; without open VFs a token
 * shown at the PF's open becomes its token. */
static void test_pf_and_token(void **state)
{
	struct t *t = *state;
	struct iommufd_device *pf, *vf;

	assert_int_equal(open_tok(t, PF, TOKEN, &pf), 0);
	assert_int_equal(open_tok(t, VF, TOKEN, &vf), 0);
	assert_int_equal(iommufd_device_destroy(pf), 0);

	fk_logcap_clear(&t->cap);
	assert_int_equal(iommufd_device_open(t->ioas, PF, NULL, &pf), -EACCES);
	assert_true(fk_logcap_has(&t->cap, "has VFs in use"));
	assert_int_equal(open_tok(t, PF, OTHER, &pf), -EACCES);
	assert_true(fk_logcap_has(&t->cap, "the token given is not theirs"));
	assert_int_equal(open_tok(t, PF, TOKEN, &pf), 0);
	assert_int_equal(iommufd_device_destroy(vf), 0);
	assert_int_equal(iommufd_device_destroy(pf), 0);
}

/* A token for a device that is neither: the kernel's -EINVAL, explained. */
static void test_token_on_plain_device(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev;

	assert_int_equal(open_tok(t, FK_DEV_B, TOKEN, &dev), -EINVAL);
	assert_null(dev);
	assert_true(fk_logcap_has(&t->cap, "neither an SR-IOV VF nor a PF"));
	assert_int_equal(fake_kernel_dev_open_count(t->fk, FK_DEV_B), 0);
	assert_int_equal(open_tok(t, FK_DEV_B, NULL, &dev), 0);
	assert_int_equal(iommufd_device_destroy(dev), 0);
}

/* A PF left to the host (not vfio-pci): its VFs take no token. */
static void test_pf_on_host_driver(void **state)
{
	struct t *t = *state;
	struct iommufd_device *vf;

	assert_int_equal(fake_kernel_set_driver(t->fk, PF, "igb"), 0);
	/* The kernel refuses the token but opens the VF without one: the
	 * library does that, on every backend, and says the token was not
	 * checked. */
	fake_kernel_log_clear(t->fk);
	assert_int_equal(open_tok(t, VF, TOKEN, &vf), 0);
	assert_true(fk_logcap_has(&t->cap, "takes no VF token for this device"));
	assert_true(fk_logcap_has(&t->cap, "its PF " PF " is not driven by vfio-pci"));
	assert_false(fk_logcap_has(&t->cap, "bd8d9d2b"));
	assert_int_equal(fake_kernel_dev_open_count(t->fk, VF), 1);
	assert_int_equal(iommufd_device_destroy(vf), 0);
	assert_int_equal(open_tok(t, VF, NULL, &vf), 0);
	assert_int_equal(iommufd_device_destroy(vf), 0);
}

/* A cdev bind before Linux 6.17 takes no flags and checks no VF token:
 * a VF opens with or without one (the token reaches nothing, and the log
 * says so); a device that is no VF or PF still gets the kernel's EINVAL. */
static void test_cdev_bind_predates_tokens(void **state)
{
	struct fk_config cfg = { .flavour = FK_LINUX_7_3, .cdev_no_token = true };
	struct fk_dev_desc vfd = { .name = VF, .group = VF_GROUP };
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas;
	struct iommufd_device *pf, *vf, *dev = NULL;
	struct iommufd_device_opts o = { .sz = sizeof(o), .vf_token = OTHER };
	struct fk_logcap cap;

	(void)state;
	fk_logcap_init(&cap);
	fk = fk_standard_cfg(&cfg);
	assert_int_equal(fake_kernel_add_device(fk, &vfd), 0);
	assert_int_equal(fake_kernel_add_vf(fk, PF, VF), 0);
	assert_int_equal(fk_ctx_create(fk, IOMMUFD_BACKEND_CDEV, &cap, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	assert_int_equal(iommufd_device_open(ioas, PF, NULL, &pf), 0);
	assert_int_equal(iommufd_device_set_vf_token(pf, TOKEN), 0);

	assert_int_equal(iommufd_device_open(ioas, VF, NULL, &vf), 0);
	assert_int_equal(iommufd_device_destroy(vf), 0);
	fk_logcap_clear(&cap);
	assert_int_equal(iommufd_device_open(ioas, VF, &o, &vf), 0);
	assert_true(fk_logcap_has(&cap, "a kernel before Linux 6.17, whose cdev bind checks none"));
	assert_false(fk_logcap_has(&cap, "00000000-1111"));
	assert_int_equal(fake_kernel_dev_open_count(fk, VF), 1);
	assert_int_equal(iommufd_device_destroy(vf), 0);

	fk_logcap_clear(&cap);
	assert_int_equal(iommufd_device_open(ioas, FK_DEV_B, &o, &dev), -EINVAL);
	assert_null(dev);
	assert_true(fk_logcap_has(&cap, "neither an SR-IOV VF nor a PF"));
	assert_int_equal(fake_kernel_dev_open_count(fk, FK_DEV_B), 0);

	assert_int_equal(iommufd_device_destroy(pf), 0);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	fake_kernel_destroy(fk);
	fk_logcap_free(&cap);
}

/* Malformed options fail before the kernel hears of them. */
static void test_bad_options(void **state)
{
	static const char *const bad[] = {
		"", "bd8d9d2b5a5f4f5aa211f591514ba1f3", "bd8d9d2b-5a5f-4f5a-a211-f591514ba1f", /* short */
		"bd8d9d2b-5a5f-4f5a-a211-f591514ba1f33", "{bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3}",
		"bd8d9d2b-5a5f-4f5a-a211-f591514ba1fg", "bd8d9d2b-5a5f-4f5a-a211 f591514ba1f3",
		" bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3",
	};
	struct t *t = *state;
	struct iommufd_device *dev;
	struct {
		struct iommufd_device_opts o;
		uint64_t future;
	} big = { .o = { .sz = sizeof(big) }, .future = 1 };
	struct iommufd_device_opts o = { .sz = sizeof(o), .flags = 1 };

	fake_kernel_log_clear(t->fk);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dev = (void *)1;
		assert_int_equal(open_tok(t, VF, bad[i], &dev), -EINVAL);
		assert_null(dev);
	}
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, &o, &dev), -EINVAL);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, &big.o, &dev), -EINVAL);
	assert_int_equal(fake_kernel_log_find(t->fk, "open", NULL), 0);
	assert_int_equal(fake_kernel_log_find(t->fk, "ioctl", NULL), 0);
	/* The token field is past an older caller's struct: never read. */
	memset(&o, 0xff, sizeof(o));
	o.sz = offsetof(struct iommufd_device_opts, vf_token);
	o.flags = 0;
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, &o, &dev), 0);
	assert_int_equal(iommufd_device_destroy(dev), 0);
	/* A device bound already has no use for a token. */
	o = (struct iommufd_device_opts){ .sz = sizeof(o), .vf_token = TOKEN };
	if (iommufd_ctx_get_backend(t->ctx) != IOMMUFD_BACKEND_TYPE1)
		assert_int_equal(iommufd_device_adopt_id(t->ctx, 1, -1, &o, &dev), -EINVAL);
}

static void test_set_vf_token_errors(void **state)
{
	struct t *t = *state;
	struct iommufd_device *dev, *pf;

	assert_int_equal(iommufd_device_set_vf_token(NULL, TOKEN), -EINVAL);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &dev), 0);
	assert_int_equal(iommufd_device_open(t->ioas, PF, NULL, &pf), 0);
	assert_int_equal(iommufd_device_set_vf_token(pf, NULL), -EINVAL);
	assert_int_equal(iommufd_device_set_vf_token(pf, "not-a-uuid"), -EINVAL);
	fk_logcap_clear(&t->cap);
	assert_int_equal(iommufd_device_set_vf_token(dev, TOKEN), -EOPNOTSUPP);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_true(fk_logcap_has(&t->cap, "not an SR-IOV PF driven by vfio-pci"));
	assert_int_equal(iommufd_device_set_vf_token(pf, OTHER), 0);
	assert_int_equal(iommufd_device_set_vf_token(pf, TOKEN), 0); /* replaced */
	assert_int_equal(iommufd_device_destroy(dev), 0);
	assert_int_equal(open_tok(t, VF, TOKEN, &dev), 0);
	assert_int_equal(iommufd_device_destroy(dev), 0);
	assert_int_equal(iommufd_device_destroy(pf), 0);
}

/* The token is a shared secret: the library's log never shows it. */
static void test_token_not_logged(void **state)
{
	struct t *t = *state;
	struct iommufd_device *pf, *vf;

	assert_int_equal(iommufd_device_open(t->ioas, PF, NULL, &pf), 0);
	assert_int_equal(iommufd_device_set_vf_token(pf, TOKEN), 0);
	assert_int_equal(open_tok(t, VF, OTHER, &vf), -EACCES);
	assert_int_equal(open_tok(t, VF, TOKEN, &vf), 0);
	assert_true(t->cap.count > 0);
	assert_false(fk_logcap_has(&t->cap, "bd8d9d2b"));
	assert_false(fk_logcap_has(&t->cap, "00000000-1111"));
	assert_int_equal(iommufd_device_destroy(vf), 0);
	assert_int_equal(iommufd_device_destroy(pf), 0);
}

static void test_get_vf_name(void **state)
{
	struct t *t = *state;
	struct iommufd_device *pf, *dev;
	char buf[32];

	assert_int_equal(iommufd_device_open(t->ioas, PF, NULL, &pf), 0);
	assert_int_equal(iommufd_device_open(t->ioas, FK_DEV_B, NULL, &dev), 0);
	assert_int_equal(iommufd_device_get_vf_name(pf, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, VF);
	assert_int_equal(iommufd_device_get_vf_name(pf, 1, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(iommufd_device_get_vf_name(dev, 0, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(iommufd_device_get_vf_name(pf, 0, buf, 12), -ERANGE);
	assert_int_equal(iommufd_device_get_vf_name(pf, 0, buf, 13), 0);
	assert_int_equal(iommufd_device_get_vf_name(pf, 0, NULL, 13), -EINVAL);
	assert_int_equal(iommufd_device_get_vf_name(NULL, 0, buf, 13), -EINVAL);
	/* A link that names no PCI device is the kernel's fault, not "no VF". */
	fake_kernel_add_link(t->fk, "/sys/devices/pci0000:00/" PF "/virtfn1", "../../evil");
	assert_int_equal(iommufd_device_get_vf_name(pf, 1, buf, sizeof(buf)), -EIO);
	assert_int_equal(iommufd_device_destroy(dev), 0);
	assert_int_equal(iommufd_device_destroy(pf), 0);
}

#define ALL3(f)                                                                                      \
	cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *)&B_CDEV),               \
		cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *)&B_GROUP),      \
		cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *)&B_TYPE1)

int main(void)
{
	const struct CMUnitTest tests[] = {
		ALL3(test_vf_needs_token),    ALL3(test_pf_and_token),      ALL3(test_token_on_plain_device),
		ALL3(test_pf_on_host_driver), ALL3(test_bad_options),       ALL3(test_set_vf_token_errors),
		ALL3(test_token_not_logged),  ALL3(test_get_vf_name),
		cmocka_unit_test(test_cdev_bind_predates_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
