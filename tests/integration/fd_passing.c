/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * fd_passing: DMA from an unprivileged process that was handed the fds.
 *
 * Runs examples/fd-passing (copied into the guest beside this program):
 * a root helper passes the fds over a UNIX socketpair (SCM_RIGHTS) to a
 * worker at uid/gid 65534 with no capabilities and RLIMIT_MEMLOCK 1 MiB,
 * which adopts them and does an edu round trip, and is refused a mapping
 * beyond its limit.  With the cell's backend, and on 7.3 with each of the
 * three (cdev: /dev/iommu + the device cdev; group: /dev/iommu + the group;
 * type1: the container + the group).  Then --without-fds: the unprivileged
 * worker opening the device itself is refused.
 *
 * The refusal is also checked here in-process, through the library's log:
 * a child drops the same privileges and opens the device the ordinary way;
 * the call fails with -EACCES and the message names the node (/dev/iommu,
 * or on TYPE1 /dev/vfio/<group>: the container is open to all) and the fix
 * (a udev rule, RLIMIT_MEMLOCK).
 */
#include <libgen.h>

#include "itest.h"
#include "privdrop.h"

static char example[PATH_MAX];
static char out[65536];

/* Run the example with @args (NULL-terminated); its output into out[]. */
static int run_example(const char *const *args)
{
	const char *argv[16];
	int p[2], st = 0, n = 0;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	argv[n++] = example;
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	out[0] = '\0';
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(example, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while ((r = read(p[0], out + got, sizeof(out) - 1 - got)) > 0 || (r < 0 && errno == EINTR))
		got += r > 0 ? (size_t)r : 0;
	out[got] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	/* The example's own lines, indented, for the log. */
	for (char *l = out, *e; *l; l = e + 1) {
		e = strchr(l, '\n');
		if (!e)
			e = l + strlen(l) - 1;
		printf("#   | %.*s\n", (int)(e - l + 1 - (*e == '\n')), l);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void run_with_fds(const char *backend, const char *ctl_node, const char *edu)
{
	const char *args[] = { "--backend", backend, edu, NULL };
	char want[160];
	int rc;

	itest_note("fd-passing with the %s backend", backend);
	rc = run_example(args);
	CHECK(rc == 0, "%s: fd-passing exits 0 (got %d)", backend, rc);
	snprintf(want, sizeof(want), "helper (uid 0) sent %s and /dev/vfio/", ctl_node);
	CHECK(strstr(out, want), "%s: the root helper sent %s and a /dev/vfio node", backend, ctl_node);
	CHECK(strstr(out, "worker: uid 65534 gid 65534, no capabilities"),
	      "%s: the worker runs as 65534 with no capabilities", backend);
	snprintf(want, sizeof(want), "adopted the fds: %s backend, device %s", backend, edu);
	CHECK(strstr(out, want), "%s: the worker adopted the fds on the %s backend", backend, backend);
	CHECK(strstr(out, "came back intact"), "%s: the unprivileged worker's DMA round trip came back intact", backend);
	CHECK(strstr(out, "over its RLIMIT_MEMLOCK of 1024 KiB) is refused: Cannot allocate memory"),
	      "%s: a mapping beyond the worker's RLIMIT_MEMLOCK is refused with ENOMEM", backend);
}

struct denied_arg {
	const char *edu, *node;
	bool type1;
};

/* In a child: drop privileges, open the device the ordinary way. */
static void denied_child(void *p)
{
	struct denied_arg *a = p;
	struct iommufd_ctx_opts o = itest_ctx_opts();
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	const char *step;
	int r, e;

	r = privdrop(65534, 65534, 1 << 20, &step);
	REQUIRE_RET(r, 0, "drop to uid 65534, no capabilities (failed step: %s)", r ? step : "none");
	itest_log_clear();
	r = iommufd_ctx_create(&o, &ctx);
	if (a->type1) {
		REQUIRE_RET(r, 0, "TYPE1: the container /dev/vfio/vfio is open to every user");
		REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "TYPE1: an IOAS (the container)");
		r = iommufd_device_open(ioas, a->edu, NULL, &dev);
		e = errno;
		CHECK_RET(r, -EACCES, "TYPE1: opening %s as uid 65534 is refused", a->edu);
		if (r == 0)
			iommufd_device_destroy(dev);
		iommufd_ctx_destroy(ctx);
	} else {
		e = errno;
		CHECK_RET(r, -EACCES, "creating a context as uid 65534 is refused");
		if (r == 0)
			iommufd_ctx_destroy(ctx);
	}
	CHECK(e == EACCES, "errno is EACCES (%s)", strerror(e));
	CHECK(itest_log_has(a->node, "permission denied"), "the library's message names %s and says "
	      "\"permission denied\"", a->node);
	CHECK(itest_log_has(a->node, "udev rule") && itest_log_has(a->node, "RLIMIT_MEMLOCK"),
	      "the message gives the fix: access through a udev rule, and RLIMIT_MEMLOCK");
}

int main(void)
{
	static const char *const all[] = { "cdev", "group", "type1" };
	const char *edu;
	struct denied_arg da = { 0 };
	char exe[PATH_MAX], gnode[64], want[160];
	enum iommufd_backend be;
	const char *cell_be, *ctl_node;
	ssize_t n;
	int rc;

	itest_start("fd_passing");
	edu = itest_env_req("IFD_EDU");
	itest_env_req("IFD_KERNEL");
	be = itest_expected_backend();
	cell_be = be == IOMMUFD_BACKEND_TYPE1 ? "type1" : be == IOMMUFD_BACKEND_GROUP ? "group" : "cdev";

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	REQUIRE(n > 0, "readlink /proc/self/exe");
	exe[n] = '\0';
	snprintf(example, sizeof(example), "%s/fd-passing", dirname(exe));
	REQUIRE(access(example, X_OK) == 0, "%s is there (the rig copies examples/fd-passing beside the tests)",
		example);
	snprintf(gnode, sizeof(gnode), "/dev/vfio/%d", itest_sysfs_group(edu));

	/* 1. The cell's backend, then (7.3) the other two.  Without an IOMMU
	 * there is nothing to hand over: the library refuses to adopt. */
	ctl_node = be == IOMMUFD_BACKEND_TYPE1 ? "/dev/vfio/vfio" : "/dev/iommu";
	if (be == IOMMUFD_BACKEND_NOIOMMU) {
		const char *args[] = { "--backend", "noiommu", edu, NULL };

		rc = run_example(args);
		CHECK(rc == 0, "noiommu: fd-passing exits 0 (got %d)", rc);
		CHECK(strstr(out, "the library adopts no fd into the noiommu backend (Invalid argument)"),
		      "noiommu: adopting an fd into the unsafe backend is refused with EINVAL");
	} else {
		run_with_fds(cell_be, ctl_node, edu);
	}
	if (!itest_stock_kernel() && be != IOMMUFD_BACKEND_NOIOMMU)
		for (size_t i = 0; i < 3; i++)
			if (strcmp(all[i], cell_be))
				run_with_fds(all[i], strcmp(all[i], "type1") ? "/dev/iommu" : "/dev/vfio/vfio", edu);

	/* 2. Without the fds, through the example. */
	da.edu = edu;
	da.type1 = be == IOMMUFD_BACKEND_TYPE1;
	da.node = da.type1 ? gnode : "/dev/iommu";
	{
		const char *args[] = { "--without-fds", edu, NULL };

		itest_note("fd-passing --without-fds");
		rc = run_example(args);
		CHECK(rc == 0, "--without-fds: the example saw the refusal it expects (exit %d)", rc);
		snprintf(want, sizeof(want), "libiommufd: %s: permission denied opening", da.node);
		CHECK(strstr(out, want), "--without-fds: the library's message names %s", da.node);
		CHECK(strstr(out, "without the fds the library refuses: Permission denied"),
		      "--without-fds: the worker's call failed with EACCES");
	}

	/* 3. The same refusal, in-process, through the log callback. */
	itest_in_child("uid 65534 opens the device itself", denied_child, &da);
	return itest_finish();
}
