/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * open_forms: every way of naming or handing over the edu device, each
 * proven with one real DMA, and the errors a user meets first.
 *
 * Names: "0000:00:03.0", "00:03.0", "/sys/bus/pci/devices/0000:00:03.0"
 * (also with a trailing slash), and the cdev node
 * /dev/vfio/devices/vfioN listed in sysfs.  Where the kernel has cdevs
 * (7.3) that node names the device on every backend (group and type1
 * resolve it to the PCI device and use its group); where it has none
 * (6.12) no cdev node exists and such a name gives -ENODEV.
 * Handed-over fds: a device cdev fd (cdev backend; -EOPNOTSUPP elsewhere),
 * a group fd plus a name (group and type1; -EOPNOTSUPP on cdev), and the
 * context's own fd (/dev/iommu, or /dev/vfio/vfio for type1) through
 * iommufd_ctx_adopt_fd().  The library owns an adopted fd once the call
 * succeeds (closed when the object goes) and leaves it open and usable,
 * the caller's, when the call fails (wrong backend, wrong group, group not
 * viable, not an iommufd or container).
 * Errors: the unbound e1000e (-ENODEV, the log says how to bind it to
 * vfio-pci), strings that are no device (-ENODEV), a user without access
 * to the nodes (-EACCES, the log names the node), and RLIMIT_MEMLOCK for a
 * user without CAP_IPC_LOCK (-ENOMEM, the log names RLIMIT_MEMLOCK).
 */
#include <grp.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "itest.h"

#define NOBODY 65534

static const char *edu_bdf;
static enum iommufd_backend backend; /* of the parent's context */
static int edu_group;
static char edu_cdev[64], group_path[64];
static bool noiommu_cdev; /* NOIOMMU on /dev/iommu: devices open by their noiommu-vfioN cdev */

/* Mapped once in the main IOAS (before any device: on type1 the mapping
 * is replayed into the container at each attach). */
static uint8_t *buf;
static uint64_t buf_iova;

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* One DMA through @dev, then destroy it. */
static void use_and_close(struct iommufd_ioas *ioas, struct iommufd_device *dev, const char *form, unsigned int seed)
{
	struct itest_edu x = { 0 };
	struct iommufd_iova_range r[32];
	int n = itest_ranges(ioas, r, 32);
	const char *name = iommufd_device_get_name(dev);

	CHECK(name && !strcmp(name, edu_bdf), "%s: the device is named %s (got %s)", form, edu_bdf, name ? name : "NULL");
	CHECK(iommufd_device_get_ioas(dev) == ioas, "%s: the device reports its IOAS", form);
	CHECK(itest_in_ranges(r, n, buf_iova, SZ_4K), "%s: the buffer's IOVA is still usable with the device attached",
	      form);
	if (itest_edu_init(&x, dev, form))
		itest_edu_roundtrip(&x, buf, buf_iova, EDU_BUF_SIZE, seed, "one DMA");
	x.dev = dev;
	itest_edu_close(&x);
}

static void open_by_name(struct iommufd_ioas *ioas, const char *name, unsigned int seed)
{
	struct iommufd_device *dev = NULL;
	char form[160];

	snprintf(form, sizeof(form), "name \"%s\"", name);
	if (CHECK_RET(iommufd_device_open(ioas, name, NULL, &dev), 0, "open by %s", form))
		use_and_close(ioas, dev, form, seed);
}

static void expect_enodev(struct iommufd_ioas *ioas, const char *name, const char *log_a, const char *log_b)
{
	struct iommufd_device *dev = NULL;
	int rc, err;

	itest_log_clear();
	errno = 0;
	rc = iommufd_device_open(ioas, name, NULL, &dev);
	err = errno;
	CHECK_RET(rc, -ENODEV, "open \"%s\"", name);
	if (rc < 0)
		CHECK(err == -rc, "errno is set to match (%d)", err);
	if (rc == 0)
		iommufd_device_destroy(dev);
	if (log_a)
		CHECK(itest_log_has(log_a, log_b), "the log mentions \"%s\"%s%s%s", log_a, log_b ? " and \"" : "",
		      log_b ? log_b : "", log_b ? "\"" : "");
}

static void cdev_forms(struct iommufd_ioas *ioas)
{
	const char *kernel = itest_env("IFD_KERNEL");
	bool is_cdev = backend == IOMMUFD_BACKEND_CDEV;
	struct iommufd_device *dev = NULL;
	int fd, rc;

	if (edu_cdev[0]) {
		itest_note("%s has the cdev %s", edu_bdf, edu_cdev);
		/* The node names the device on every backend. */
		open_by_name(ioas, edu_cdev, 20);
	} else {
		/* No node: sysfs may still list a vfio-dev entry (6.12 registers
		 * the class device without CONFIG_VFIO_DEVICE_CDEV), but a path
		 * to a node that does not exist names no device. */
		char absent[64];

		CHECK(itest_stock_kernel(), "no cdev node for %s: expected only on a kernel "
		      "without VFIO cdevs (IFD_KERNEL=%s %s)", edu_bdf, kernel ? kernel : "unset",
		      itest_env("IFD_KERNEL_BUILD") ? itest_env("IFD_KERNEL_BUILD") : "unset");
		CHECK(!is_cdev, "the cdev backend was not chosen on a kernel without cdevs");
		itest_sysfs_cdev(edu_bdf, absent, sizeof(absent), false);
		if (!absent[0])
			snprintf(absent, sizeof(absent), "/dev/vfio/devices/vfio0");
		itest_note("%s has no cdev node; sysfs entry: %s", edu_bdf, absent);
		expect_enodev(ioas, absent, NULL, NULL);
	}

	/* An already-open device cdev fd. */
	fd = open(edu_cdev[0] ? edu_cdev : "/dev/null", O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0, "open %s for adoption", edu_cdev[0] ? edu_cdev : "/dev/null");
	itest_log_clear();
	rc = iommufd_device_adopt_cdev_fd(ioas, fd, NULL, &dev);
	if (is_cdev) {
		if (CHECK_RET(rc, 0, "cdev: adopt an open %s fd", edu_cdev)) {
			use_and_close(ioas, dev, "adopted cdev fd", 21);
			CHECK(!fd_is_open(fd), "destroying the device closed the adopted fd");
		}
		/* A failing adoption: the cdev of the device whose group is
		 * not viable.  The fd stays the caller's. */
		{
			const char *nv = itest_env_req("IFD_EDU_NONVIABLE");
			char nv_cdev[64];

			itest_sysfs_cdev(nv, nv_cdev, sizeof(nv_cdev), true);
			fd = nv_cdev[0] ? open(nv_cdev, O_RDWR | O_CLOEXEC) : -1;
			if (CHECK(fd >= 0, "open %s, the cdev of %s", nv_cdev, nv)) {
				dev = NULL;
				CHECK_RET(iommufd_device_adopt_cdev_fd(ioas, fd, NULL, &dev), -EBUSY,
					  "cdev: adopt the cdev fd of %s (group not viable)", nv);
				CHECK(fd_is_open(fd), "after the failure the cdev fd is still the caller's (open)");
				close(fd);
			}
		}
	} else {
		CHECK_RET(rc, -EOPNOTSUPP, "%s: adopt a device cdev fd", iommufd_backend_name(backend));
		CHECK(itest_log_has("cdev", NULL), "the log says adoption needs the cdev backend");
		CHECK(fd_is_open(fd), "the refused fd stays the caller's (still open)");
		if (rc == 0)
			iommufd_device_destroy(dev);
		close(fd);
	}
}

static void group_fd_form(struct iommufd_ioas *ioas)
{
	struct iommufd_device *dev = NULL;
	int fd, rc;

	fd = open(group_path, O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0, "open %s for adoption (%s)", group_path, fd < 0 ? strerror(errno) : "ok");
	itest_log_clear();
	rc = iommufd_device_adopt_group_fd(ioas, fd, edu_bdf, NULL, &dev);
	/* CDEV has no groups; NOIOMMU opens its group node itself only. */
	if (backend != IOMMUFD_BACKEND_CDEV && backend != IOMMUFD_BACKEND_NOIOMMU) {
		if (CHECK_RET(rc, 0, "%s: adopt an open %s fd with the name %s", iommufd_backend_name(backend),
			      group_path, edu_bdf)) {
			CHECK(iommufd_device_get_group(dev) == edu_group, "the device reports group %d", edu_group);
			CHECK_RET(itest_count_fds(group_path), 1, "the adopted fd is the only %s fd", group_path);
			use_and_close(ioas, dev, "adopted group fd", 22);
			CHECK(!fd_is_open(fd), "the group fd closed with its last device");
		}
	} else {
		CHECK_RET(rc, -EOPNOTSUPP, "%s: adopt a group fd", iommufd_backend_name(backend));
		CHECK(fd_is_open(fd), "the refused fd stays the caller's (still open)");
		if (rc == 0)
			iommufd_device_destroy(dev);
		close(fd);
	}
	CHECK_RET(itest_count_fds(group_path), 0, "no %s fd is left open", group_path);

	/* A group fd that is not the named device's group: -EINVAL, the fd
	 * stays the caller's and out of any container, so it still serves
	 * its own devices. */
	if (backend != IOMMUFD_BACKEND_CDEV && backend != IOMMUFD_BACKEND_NOIOMMU) {
		char pa[32], pb[32], ppath[64];
		struct itest_edu x = { 0 };

		itest_pair(pa, pb);
		snprintf(ppath, sizeof(ppath), "/dev/vfio/%d", itest_sysfs_group(pa));
		fd = open(ppath, O_RDWR | O_CLOEXEC);
		REQUIRE(fd >= 0, "open %s (the group of %s)", ppath, pa);
		dev = NULL;
		CHECK_RET(iommufd_device_adopt_group_fd(ioas, fd, edu_bdf, NULL, &dev), -EINVAL,
			  "adopt %s with the name %s, which is not in that group", ppath, edu_bdf);
		CHECK(fd_is_open(fd), "after the failure the group fd is still the caller's (open)");
		dev = NULL;
		if (CHECK_RET(iommufd_device_adopt_group_fd(ioas, fd, pa, NULL, &dev), 0,
			      "the same fd then adopts with %s, a device of its group", pa)) {
			if (itest_edu_init(&x, dev, pa))
				itest_edu_roundtrip(&x, buf, buf_iova, EDU_BUF_SIZE, 25, "adopted pair group fd");
			x.dev = dev;
			itest_edu_close(&x);
			CHECK(!fd_is_open(fd), "the group fd closed with its last device");
		} else if (fd_is_open(fd)) {
			close(fd);
		}
	}
}

static const char *ctx_node(enum iommufd_backend b)
{
	return b == IOMMUFD_BACKEND_TYPE1 ? "/dev/vfio/vfio" : "/dev/iommu";
}

static void adopt_ctx_fd(void)
{
	struct iommufd_ctx_opts o = itest_ctx_opts();
	struct iommufd_ctx *c2 = NULL;
	struct iommufd_ioas *ioas2 = NULL;
	struct iommufd_device *dev = NULL;
	const char *node = ctx_node(backend);
	uint8_t *b2;
	uint64_t iova2;
	int fd, rc;

	fd = open(node, O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0, "open %s for adoption", node);
	if (backend == IOMMUFD_BACKEND_NOIOMMU) {
		/* The unsafe mode is entered only by creating a context. */
		CHECK_RET(iommufd_ctx_adopt_fd(fd, &o, &c2), -EINVAL, "noiommu: adopting an open %s is refused", node);
		CHECK(c2 == NULL && fd_is_open(fd), "nothing handed out; the fd is still the caller's (open)");
		close(fd);
		return;
	}
	rc = iommufd_ctx_adopt_fd(fd, &o, &c2);
	if (!CHECK_RET(rc, 0, "iommufd_ctx_adopt_fd on an open %s", node))
		return;
	itest_check_backend(c2);
	if (backend == IOMMUFD_BACKEND_TYPE1)
		CHECK_RET(iommufd_ctx_get_fd(c2), -EOPNOTSUPP, "type1: the context has no /dev/iommu fd");
	else
		CHECK_RET(iommufd_ctx_get_fd(c2), fd, "the context's fd is the adopted one");
	if (CHECK_RET(iommufd_ioas_create(c2, &ioas2), 0, "create an IOAS in the adopted context")) {
		if (backend == IOMMUFD_BACKEND_TYPE1)
			CHECK_RET(iommufd_ioas_get_fd(ioas2), fd, "type1: the first IOAS uses the adopted container");
		b2 = itest_alloc(SZ_4K, SZ_4K);
		if (CHECK_RET(iommufd_device_open(ioas2, edu_bdf, NULL, &dev), 0, "open %s in the adopted context",
			      edu_bdf)) {
			struct itest_edu x = { 0 };

			iova2 = itest_map(ioas2, b2, SZ_4K, EDU_IOVA_MAX, "buffer in the adopted context");
			if (itest_edu_init(&x, dev, "adopted context"))
				itest_edu_roundtrip(&x, b2, iova2, EDU_BUF_SIZE, 23, "adopted context fd");
		}
		itest_free(b2, SZ_4K);
	}
	/* Destroying the context closes everything, the adopted fd too. */
	iommufd_ctx_destroy(c2);
	CHECK(!fd_is_open(fd), "destroying the adopted context closed its fd");

	/* Adoption errors: the library works on a duplicate, so a failed
	 * adoption leaves the caller's fd open and untouched. */
	c2 = NULL;
	CHECK_RET(iommufd_ctx_adopt_fd(-1, &o, &c2), -EBADF, "adopt fd -1");
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0, "open /dev/null");
	CHECK_RET(iommufd_ctx_adopt_fd(fd, &o, &c2), -ENOTTY, "adopt an fd that is neither iommufd nor a container");
	CHECK(fd_is_open(fd), "after the failure the fd is still the caller's (open)");
	close(fd);
	/* The kind of fd against an explicit backend it cannot serve. */
	fd = open(node, O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0, "open %s again", node);
	if (backend == IOMMUFD_BACKEND_TYPE1 && !strcmp(itest_env_req("IFD_KERNEL_BUILD"), "compat")) {
		/* iommufd's compat container is an iommufd: the iommufd
		 * backends can drive it too. */
		o.backend = IOMMUFD_BACKEND_CDEV;
		c2 = NULL;
		if (CHECK_RET(iommufd_ctx_adopt_fd(fd, &o, &c2), 0, "adopt the compat %s asking for cdev", node)) {
			CHECK(iommufd_ctx_get_backend(c2) == IOMMUFD_BACKEND_CDEV, "it gives the cdev backend");
			iommufd_ctx_destroy(c2);
			CHECK(!fd_is_open(fd), "destroying that context closed the fd");
		} else {
			close(fd);
		}
		return;
	}
	o.backend = backend == IOMMUFD_BACKEND_TYPE1 ? IOMMUFD_BACKEND_CDEV : IOMMUFD_BACKEND_TYPE1;
	CHECK_RET(iommufd_ctx_adopt_fd(fd, &o, &c2), -EINVAL, "adopt %s asking for the %s backend", node,
		  iommufd_backend_name(o.backend));
	CHECK(fd_is_open(fd), "after the failure the fd is still the caller's (open)");
	/* ... and still usable: adopting it properly works. */
	o.backend = IOMMUFD_BACKEND_AUTO;
	c2 = NULL;
	if (CHECK_RET(iommufd_ctx_adopt_fd(fd, &o, &c2), 0, "adopt the same %s fd with a matching backend", node)) {
		CHECK(iommufd_ctx_get_backend(c2) == backend, "it gives the %s backend", iommufd_backend_name(backend));
		iommufd_ctx_destroy(c2);
		CHECK(!fd_is_open(fd), "destroying that context closed the fd");
	} else {
		close(fd);
	}
}

/* ------------------------------------------------------- child processes */

static bool drop_to_nobody(void)
{
	char line[256];
	FILE *f;
	bool capeff_zero = false;

	if (!CHECK(setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0,
		   "child: drop to uid/gid %d with no supplementary groups", NOBODY))
		return false;
	f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			capeff_zero = strtoull(line + 7, NULL, 16) == 0;
	if (f)
		fclose(f);
	return CHECK(geteuid() == NOBODY && getegid() == NOBODY && capeff_zero,
		     "child: now uid %d gid %d with no effective capabilities (so no CAP_IPC_LOCK)", (int)geteuid(),
		     (int)getegid());
}

/* Run @fn in a child; it passes if it exits 0. */
static void in_child(const char *what, void (*fn)(void))
{
	pid_t pid;
	int st = 0;

	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0, "fork for %s", what);
	if (pid == 0) {
		itest_nfailed = 0;
		fn();
		fflush(stdout);
		_exit(itest_nfailed || !itest_nchecks ? 1 : 0);
	}
	REQUIRE(waitpid(pid, &st, 0) == pid, "wait for the %s child", what);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the child's checks passed (status 0x%x)", what, st);
}

/* As nobody from the start: the context (or, where the context's node is
 * world-accessible, the device) must fail with -EACCES naming the node. */
static void child_eacces_fresh(void)
{
	struct iommufd_ctx_opts o = itest_ctx_opts();
	struct iommufd_ctx *c = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	const char *node = ctx_node(backend);
	struct stat st;
	bool world;
	int rc;

	if (!drop_to_nobody())
		return;
	world = stat(node, &st) == 0 && (st.st_mode & 0006) == 0006;
	itest_note("%s is mode %04o, owner %d:%d", node, (unsigned int)(st.st_mode & 07777), (int)st.st_uid,
		   (int)st.st_gid);
	itest_log_clear();
	rc = iommufd_ctx_create(&o, &c);
	if (!world) {
		CHECK_RET(rc, -EACCES, "nobody: iommufd_ctx_create (%s is not accessible)", node);
		CHECK(itest_log_has(node, NULL), "the log names %s", node);
		if (rc == 0)
			iommufd_ctx_destroy(c);
		return;
	}
	/* type1: the kernel creates /dev/vfio/vfio 0666; the group node is the
	 * one that is root's only. */
	if (!CHECK_RET(rc, 0, "nobody: iommufd_ctx_create on world-accessible %s", node))
		return;
	itest_check_backend(c);
	if (CHECK_RET(iommufd_ioas_create(c, &ioas), 0, "nobody: create an IOAS")) {
		itest_log_clear();
		rc = iommufd_device_open(ioas, edu_bdf, NULL, &dev);
		CHECK_RET(rc, -EACCES, "nobody: open %s (%s is root's)", edu_bdf, group_path);
		CHECK(itest_log_has(group_path, NULL), "the log names %s", group_path);
	}
	iommufd_ctx_destroy(c);
}

/* Context made as root, device opened as nobody: -EACCES naming the
 * device's node (the cdev, or the group). */
static void child_eacces_device(void)
{
	struct iommufd_ctx_opts o = itest_ctx_opts();
	struct iommufd_ctx *c = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	const char *node = backend == IOMMUFD_BACKEND_CDEV || noiommu_cdev ? edu_cdev : group_path;
	int rc;

	if (!CHECK_RET(iommufd_ctx_create(&o, &c), 0, "root: iommufd_ctx_create") || !itest_check_backend(c) ||
	    !CHECK_RET(iommufd_ioas_create(c, &ioas), 0, "root: create an IOAS"))
		return;
	if (drop_to_nobody()) {
		itest_log_clear();
		rc = iommufd_device_open(ioas, edu_bdf, NULL, &dev);
		CHECK_RET(rc, -EACCES, "nobody: open %s with a root-made context", edu_bdf);
		CHECK(itest_log_has(node, NULL), "the log names %s", node);
	}
	iommufd_ctx_destroy(c);
}

/* Device opened as root, then RLIMIT_MEMLOCK of 64 KiB and no
 * CAP_IPC_LOCK: a 1 MiB map fails with -ENOMEM, a 4 KiB one works. */
static void child_memlock(void)
{
	struct iommufd_ctx_opts o = itest_ctx_opts();
	struct rlimit rl = { 64 << 10, 64 << 10 };
	struct iommufd_ctx *c = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	struct itest_edu x = { 0 };
	uint8_t *big = itest_alloc(1 << 20, SZ_4K), *small = itest_alloc(SZ_4K, SZ_4K);
	uint64_t iova = 0;
	int rc;

	if (!CHECK_RET(iommufd_ctx_create(&o, &c), 0, "root: iommufd_ctx_create") || !itest_check_backend(c) ||
	    !CHECK_RET(iommufd_ioas_create(c, &ioas), 0, "root: create an IOAS") ||
	    !CHECK_RET(iommufd_device_open(ioas, edu_bdf, NULL, &dev), 0, "root: open %s", edu_bdf) ||
	    !itest_edu_init(&x, dev, edu_bdf))
		return;
	if (!CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0, "child: RLIMIT_MEMLOCK = 64 KiB") || !drop_to_nobody())
		return;
	itest_log_clear();
	rc = iommufd_ioas_map(ioas, big, 1 << 20, IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE, NULL, &iova);
	CHECK_RET(rc, -ENOMEM, "nobody, 64 KiB RLIMIT_MEMLOCK: map 1 MiB");
	CHECK(itest_log_has("RLIMIT_MEMLOCK", NULL), "the log names RLIMIT_MEMLOCK");
	if (rc == 0)
		iommufd_ioas_unmap(ioas, iova, 1 << 20, NULL);
	/* Maps within the limit still work, and reach the device; the failed
	 * map's IOVA went back to the allocator (lowest fit again). */
	iova = itest_map(ioas, small, SZ_4K, EDU_IOVA_MAX, "4 KiB under the limit");
	CHECK(iova == itest_lowest_iova(ioas), "the small map got the lowest IOVA 0x%" PRIx64 " (0x%" PRIx64 ")",
	      itest_lowest_iova(ioas), iova);
	if (backend == IOMMUFD_BACKEND_NOIOMMU) {
		struct iommufd_dma_segment seg;

		/* Without CAP_SYS_RAWIO the physical address stays hidden,
		 * so the device is never programmed. */
		CHECK_RET(iommufd_ioas_get_bus_addrs(ioas, iova, SZ_4K, &seg, 1), -EPERM,
			  "noiommu: nobody gets no bus address for the mapping");
		CHECK(itest_log_has("CAP_SYS_RAWIO", NULL), "the log names CAP_SYS_RAWIO");
	} else {
		itest_edu_roundtrip(&x, small, iova, EDU_BUF_SIZE, 24, "nobody, within RLIMIT_MEMLOCK");
	}
	itest_unmap(ioas, iova, SZ_4K, "4 KiB");
	iommufd_ctx_destroy(c);
}

int main(void)
{
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas = NULL;
	char sysfs[128], short_bdf[32];

	itest_start("open_forms");
	edu_bdf = itest_env_req("IFD_EDU");
	const char *unbound = itest_env_req("IFD_UNBOUND");

	ctx = itest_ctx();
	backend = iommufd_ctx_get_backend(ctx);
	edu_group = itest_sysfs_group(edu_bdf);
	REQUIRE(edu_group >= 0, "%s has an IOMMU group in sysfs", edu_bdf);
	/* VFIO names a no-IOMMU group's node noiommu-N. */
	noiommu_cdev = backend == IOMMUFD_BACKEND_NOIOMMU && iommufd_ctx_get_fd(ctx) >= 0;
	snprintf(group_path, sizeof(group_path), "/dev/vfio/%s%d", backend == IOMMUFD_BACKEND_NOIOMMU ? "noiommu-" : "",
		 edu_group);
	itest_sysfs_cdev(edu_bdf, edu_cdev, sizeof(edu_cdev), true);

	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "iommufd_ioas_create");
	buf = itest_alloc(SZ_4K, SZ_4K);
	buf_iova = itest_map(ioas, buf, SZ_4K, EDU_IOVA_MAX, "DMA buffer, before any device");

	/* Names. */
	open_by_name(ioas, edu_bdf, 10);
	snprintf(short_bdf, sizeof(short_bdf), "%s", itest_short_bdf(edu_bdf));
	open_by_name(ioas, short_bdf, 11);
	snprintf(sysfs, sizeof(sysfs), "/sys/bus/pci/devices/%s", edu_bdf);
	open_by_name(ioas, sysfs, 12);
	strcat(sysfs, "/");
	open_by_name(ioas, sysfs, 13);
	cdev_forms(ioas);
	group_fd_form(ioas);

	/* Errors. */
	expect_enodev(ioas, unbound, unbound, "vfio-pci");
	CHECK(itest_log_has("driver_override", NULL) || itest_log_has("drivers_probe", NULL) ||
		      itest_log_has("bind", NULL),
	      "the log says how to bind %s", unbound);
	expect_enodev(ioas, "not-a-device", "not-a-device", NULL);
	expect_enodev(ioas, "0000:00:1f.7", "0000:00:1f.7", NULL); /* well-formed, absent */
	expect_enodev(ioas, "/dev/vfio/devices/vfio999", NULL, NULL);
	expect_enodev(ioas, "/sys/bus/pci/devices/0000:00:1f.7", NULL, NULL);

	/* The device still opens after all the failures. */
	open_by_name(ioas, edu_bdf, 14);

	itest_unmap(ioas, buf_iova, SZ_4K, "DMA buffer");
	CHECK_RET(iommufd_ioas_destroy(ioas), 0, "iommufd_ioas_destroy");
	iommufd_ctx_destroy(ctx);

	/* Nothing of ours is open now; the children open the device alone. */
	adopt_ctx_fd();
	in_child("permission denied, as nobody from the start", child_eacces_fresh);
	in_child("permission denied, device opened as nobody", child_eacces_device);
	in_child("RLIMIT_MEMLOCK without CAP_IPC_LOCK", child_memlock);

	itest_free(buf, SZ_4K);
	return itest_finish();
}
