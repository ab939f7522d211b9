/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * pin_accounting: RLIMIT_MEMLOCK, whose limit pins count against, and the
 * messages when it is hit; iommufd_ioas_set_huge_pages().
 *
 * Root holds CAP_IPC_LOCK, which makes both iommufd and type1 skip the
 * limit, so each limit case runs in a forked child that drops CAP_IPC_LOCK
 * and lowers RLIMIT_MEMLOCK to 1 MiB:
 *   - default accounting (USER on CDEV/GROUP, PROCESS on TYPE1, as
 *     iommufd_ctx_get_pin_accounting() reports): 512 KiB maps and does
 *     DMA, 4 MiB gets -ENOMEM and the log names RLIMIT_MEMLOCK and whose
 *     limit it is;
 *   - pin_accounting = PROCESS (iommufd: needs CAP_SYS_RESOURCE, which root
 *     has; without it -EPERM): the same, the log says "process";
 *   - the attach-time pin: 4 MiB mapped before the device, then the open
 *     fails with -ENOMEM naming the limit, and succeeds once it is unmapped.
 * TYPE1 refuses USER accounting (-EOPNOTSUPP).  Huge pages: set_huge_pages
 * is 0 on iommufd before any mapping, -EBUSY after, -EOPNOTSUPP on TYPE1,
 * and DMA works with huge pages off.
 */
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "itest.h"

#define P SZ_4K
#define SZ_1M 0x100000ull
#define LIMIT SZ_1M

static const char *edu_bdf;
static enum iommufd_backend backend;
static bool has_iommufd; /* CDEV, GROUP, and NOIOMMU on its iommufd path */

static bool on_iommufd(void)
{
	return has_iommufd;
}

/* Remove capability @cap from this process's effective and permitted sets. */
static bool drop_cap(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data))
		return CHECK(false, "capget: %s", strerror(errno));
	data[cap / 32].effective &= ~(1u << (cap % 32));
	data[cap / 32].permitted &= ~(1u << (cap % 32));
	data[cap / 32].inheritable &= ~(1u << (cap % 32));
	return CHECK(syscall(SYS_capset, &hdr, data) == 0, "drop capability %d (%s)", cap, strerror(errno));
}

static void limit_memlock(void)
{
	struct rlimit rl = { LIMIT, LIMIT };

	REQUIRE(drop_cap(CAP_IPC_LOCK), "without CAP_IPC_LOCK the limit applies");
	REQUIRE(setrlimit(RLIMIT_MEMLOCK, &rl) == 0, "RLIMIT_MEMLOCK lowered to 1 MiB");
}

static struct iommufd_ctx *ctx_with(enum iommufd_pin_accounting acct)
{
	struct iommufd_ctx_opts o = itest_ctx_opts();
	struct iommufd_ctx *ctx = NULL;

	o.pin_accounting = acct;
	REQUIRE_RET(iommufd_ctx_create(&o, &ctx), 0, "iommufd_ctx_create with pin_accounting %d", acct);
	return ctx;
}

/* Under the 1 MiB limit with the device attached: 512 KiB, then 4 MiB. */
static void map_over_limit(struct iommufd_ctx *ctx, const char *whose)
{
	struct iommufd_ioas *ioas = NULL;
	struct itest_edu x = { 0 };
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova_max = EDU_IOVA_MAX };
	uint8_t *small = itest_alloc(SZ_1M / 2, P), *big = itest_alloc(4 * SZ_1M, SZ_2M);
	uint64_t si, bi = 0;

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	itest_edu_open(&x, ioas, edu_bdf);
	si = itest_map(ioas, small, SZ_1M / 2, EDU_IOVA_MAX, "512 KiB, under the 1 MiB limit");
	itest_edu_roundtrip(&x, small, si, EDU_BUF_SIZE, 90, "512 KiB under the limit");
	itest_log_clear();
	CHECK_RET(iommufd_ioas_map(ioas, big, 4 * SZ_1M, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, &o, &bi), -ENOMEM,
		  "mapping 4 MiB over the 1 MiB limit");
	CHECK(itest_log_has_icase("RLIMIT_MEMLOCK", NULL), "the log names RLIMIT_MEMLOCK");
	CHECK(itest_log_has_icase("RLIMIT_MEMLOCK", whose), "the log line says the limit is the %s's", whose);
	CHECK_RET(iommufd_ioas_find_iova(ioas, bi, NULL), -ENOENT, "nothing of the 4 MiB is mapped");
	itest_edu_roundtrip(&x, small, si, EDU_BUF_SIZE, 91, "512 KiB after the refused map");
	itest_unmap(ioas, si, SZ_1M / 2, "512 KiB");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	itest_free(small, SZ_1M / 2);
	itest_free(big, 4 * SZ_1M);
}

static void child_default(void *arg)
{
	struct iommufd_ctx *ctx;
	int want = on_iommufd() ? IOMMUFD_PIN_ACCOUNT_USER : IOMMUFD_PIN_ACCOUNT_PROCESS;

	limit_memlock();
	ctx = ctx_with(IOMMUFD_PIN_ACCOUNT_DEFAULT);
	CHECK_RET(iommufd_ctx_get_pin_accounting(ctx), want, "default accounting is %s",
		  want == IOMMUFD_PIN_ACCOUNT_USER ? "USER" : "PROCESS");
	map_over_limit(ctx, want == IOMMUFD_PIN_ACCOUNT_USER ? "user" : "process");
	iommufd_ctx_destroy(ctx);
}

static void child_process(void *arg)
{
	struct iommufd_ctx *ctx;

	limit_memlock();
	ctx = ctx_with(IOMMUFD_PIN_ACCOUNT_PROCESS);
	CHECK_RET(iommufd_ctx_get_pin_accounting(ctx), IOMMUFD_PIN_ACCOUNT_PROCESS, "accounting is PROCESS");
	map_over_limit(ctx, "process");
	iommufd_ctx_destroy(ctx);
}

static void child_no_sys_resource(void *arg)
{
	struct iommufd_ctx_opts o = itest_ctx_opts();
	struct iommufd_ctx *ctx = NULL;

	REQUIRE(drop_cap(CAP_SYS_RESOURCE), "give up CAP_SYS_RESOURCE");
	o.pin_accounting = IOMMUFD_PIN_ACCOUNT_PROCESS;
	CHECK_RET(iommufd_ctx_create(&o, &ctx), -EPERM, "PROCESS accounting without CAP_SYS_RESOURCE");
	CHECK(ctx == NULL, "no context was returned");
	o.pin_accounting = IOMMUFD_PIN_ACCOUNT_USER;
	CHECK_RET(iommufd_ctx_create(&o, &ctx), 0, "USER accounting needs no capability");
	CHECK_RET(iommufd_ctx_get_pin_accounting(ctx), IOMMUFD_PIN_ACCOUNT_USER, "and is in force");
	iommufd_ctx_destroy(ctx);
}

static void child_attach(void *arg)
{
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct itest_edu x = { 0 };
	uint8_t *big = itest_alloc(4 * SZ_1M, SZ_2M), *small = itest_alloc(P, P);
	uint64_t bi, si;
	int acct;

	limit_memlock();
	ctx = ctx_with(IOMMUFD_PIN_ACCOUNT_DEFAULT);
	acct = iommufd_ctx_get_pin_accounting(ctx);
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	bi = itest_map(ioas, big, 4 * SZ_1M, EDU_IOVA_MAX, "4 MiB before any device (nothing pinned yet)");
	itest_log_clear();
	CHECK_RET(iommufd_device_open(ioas, edu_bdf, NULL, &dev), -ENOMEM,
		  "opening %s pins the 4 MiB and hits the 1 MiB limit", edu_bdf);
	CHECK(dev == NULL, "no device handle was returned");
	CHECK(itest_log_has_icase("RLIMIT_MEMLOCK", NULL), "the log names RLIMIT_MEMLOCK at the attach");
	CHECK(itest_log_has_icase("RLIMIT_MEMLOCK", acct == IOMMUFD_PIN_ACCOUNT_USER ? "user" : "process"),
	      "and whose limit it is (%s)", acct == IOMMUFD_PIN_ACCOUNT_USER ? "the user's" : "this process's");
	CHECK(iommufd_ioas_find_iova(ioas, bi, NULL) == 0, "the 4 MiB mapping is still recorded");
	itest_unmap(ioas, bi, 4 * SZ_1M, "the 4 MiB");
	itest_edu_open(&x, ioas, edu_bdf);
	si = itest_map(ioas, small, P, EDU_IOVA_MAX, "a page");
	itest_edu_roundtrip(&x, small, si, EDU_BUF_SIZE, 92, "after the failed attach, under the limit");
	itest_unmap(ioas, si, P, "the page");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);
	itest_free(big, 4 * SZ_1M);
	itest_free(small, P);
}

static void huge_pages(struct iommufd_ctx *ctx)
{
	struct iommufd_ioas *ioas = NULL;
	struct itest_edu x = { 0 };
	uint8_t *buf = itest_alloc(SZ_2M, SZ_2M);
	uint64_t iova;

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create for the huge-page checks");
	if (on_iommufd()) {
		CHECK_RET(iommufd_ioas_set_huge_pages(ioas, false), 0, "forbid huge pages before any mapping");
		CHECK_RET(iommufd_ioas_set_huge_pages(ioas, true), 0, "allow them again");
		CHECK_RET(iommufd_ioas_set_huge_pages(ioas, false), 0, "and forbid them");
	} else {
		CHECK_RET(iommufd_ioas_set_huge_pages(ioas, false), -EOPNOTSUPP, "TYPE1: forbidding huge pages");
		CHECK_RET(iommufd_ioas_set_huge_pages(ioas, true), -EOPNOTSUPP, "TYPE1: allowing huge pages");
	}
	itest_edu_open(&x, ioas, edu_bdf);
	iova = itest_map(ioas, buf, SZ_2M, EDU_IOVA_MAX, "2 MiB");
	if (on_iommufd())
		CHECK_RET(iommufd_ioas_set_huge_pages(ioas, true), -EBUSY, "changing it with a mapping and a device");
	itest_edu_roundtrip(&x, buf, iova, EDU_BUF_SIZE, 93, "2 MiB with huge pages forbidden");
	itest_edu_roundtrip(&x, buf + SZ_2M - P, iova + SZ_2M - P, EDU_BUF_SIZE, 94, "its last page");
	itest_unmap(ioas, iova, SZ_2M, "2 MiB");
	itest_edu_close(&x);
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	itest_free(buf, SZ_2M);
}

int main(void)
{
	struct iommufd_ctx *ctx;

	itest_start("pin_accounting");
	edu_bdf = itest_env_req("IFD_EDU");

	ctx = itest_ctx();
	backend = iommufd_ctx_get_backend(ctx);
	has_iommufd = iommufd_ctx_get_fd(ctx) >= 0;
	CHECK_RET(iommufd_ctx_get_pin_accounting(ctx), on_iommufd() ? IOMMUFD_PIN_ACCOUNT_USER : IOMMUFD_PIN_ACCOUNT_PROCESS,
		  "the default context's accounting");
	CHECK_RET(iommufd_ctx_get_pin_accounting(NULL), -EINVAL, "get_pin_accounting(NULL)");
	{
		struct iommufd_ctx_opts o = itest_ctx_opts();
		struct iommufd_ctx *c2 = NULL;

		o.pin_accounting = IOMMUFD_PIN_ACCOUNT_PROCESS;
		CHECK_RET(iommufd_ctx_create(&o, &c2), 0, "a context with PROCESS accounting (root)");
		CHECK_RET(iommufd_ctx_get_pin_accounting(c2), IOMMUFD_PIN_ACCOUNT_PROCESS, "reports PROCESS");
		iommufd_ctx_destroy(c2);
		c2 = NULL;
		o.pin_accounting = IOMMUFD_PIN_ACCOUNT_USER;
		if (on_iommufd()) {
			CHECK_RET(iommufd_ctx_create(&o, &c2), 0, "a context with USER accounting");
			CHECK_RET(iommufd_ctx_get_pin_accounting(c2), IOMMUFD_PIN_ACCOUNT_USER, "reports USER");
		} else {
			CHECK_RET(iommufd_ctx_create(&o, &c2), -EOPNOTSUPP, "TYPE1: USER accounting");
		}
		iommufd_ctx_destroy(c2);
		o.pin_accounting = (enum iommufd_pin_accounting)7;
		c2 = NULL;
		CHECK_RET(iommufd_ctx_create(&o, &c2), -EINVAL, "an unknown accounting mode");
		iommufd_ctx_destroy(c2);
	}

	itest_in_child("default accounting, map over the limit", child_default, NULL);
	itest_in_child("PROCESS accounting, map over the limit", child_process, NULL);
	if (on_iommufd())
		itest_in_child("PROCESS accounting without CAP_SYS_RESOURCE", child_no_sys_resource, NULL);
	itest_in_child("pins at the attach over the limit", child_attach, NULL);
	huge_pages(ctx);

	iommufd_ctx_destroy(ctx);
	return itest_finish();
}
