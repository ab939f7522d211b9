/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * tool_cmds: iommufdctl's commands against the rig's real devices.  The
 * tool's own code (tools/, linked in; its main is ctl_main) runs in a child
 * per command, as the installed tool would, with its output captured.
 * The guest has no libudev, so devices are found by the directory walk the
 * tool uses for test trees: the same sysfs data.
 *
 * list shows every rig device with the group and driver sysfs gives;
 * unbind takes the edu from vfio-pci (nothing else claims it: driverless),
 * info then names the blocker and the fix, bind gives it back to vfio-pci
 * and the library opens it again; bind is idempotent; the driverless
 * e1000e goes to vfio-pci and back to no driver; the non-viable group is
 * refused without --yes and nothing changes.
 */
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "itest.h"
#include "../../tools/ctl.h"

static char out[65536];

/* Runs the tool with @args (NULL-terminated); its output lands in out[]. */
static int tool(const char *const *args)
{
	char *argv[16] = { "iommufdctl" }, *copy;
	int p[2], st, argc = 1;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	for (; args[argc - 1] && argc < 15; argc++)
		argv[argc] = (char *)args[argc - 1];
	argv[argc] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		_exit(ctl_main(argc, argv));
	}
	close(p[1]);
	while (n < sizeof(out) - 1 && (r = read(p[0], out + n, sizeof(out) - 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	close(p[0]);
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	printf("# iommufdctl");
	for (int i = 1; i < argc; i++)
		printf(" %s", argv[i]);
	printf(" -> exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	copy = strdup(out); /* out stays whole for the caller's checks */
	for (char *save = NULL, *l = copy ? strtok_r(copy, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
		printf("#   %s\n", l);
	free(copy);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define TOOL(...) tool((const char *const[]){ __VA_ARGS__, NULL })

static void sys_driver(const char *bdf, char *drv, size_t len)
{
	char p[PATH_MAX], t[PATH_MAX];
	ssize_t n;

	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(p, t, sizeof(t) - 1);
	if (n < 0) {
		snprintf(drv, len, "-");
		return;
	}
	t[n] = '\0';
	snprintf(drv, len, "%s", strrchr(t, '/') + 1);
}

static int sys_group(const char *bdf)
{
	char p[PATH_MAX], t[PATH_MAX];
	ssize_t n;

	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(p, t, sizeof(t) - 1);
	if (n < 0)
		return -1;
	t[n] = '\0';
	return atoi(strrchr(t, '/') + 1);
}

/* The list row of @bdf: its group and driver columns, and its members. */
static bool row(const char *bdf, char *group, char *driver, char *members)
{
	char *save = NULL, *copy = strdup(out);
	bool found = false;

	for (char *l = strtok_r(copy, "\n", &save); l && !found; l = strtok_r(NULL, "\n", &save)) {
		char name[64], ids[32], gn[64], cn[64];

		if (strncmp(l, bdf, strlen(bdf)))
			continue;
		found = sscanf(l, "%63s %31s %15s %63s %63s %63s %255s", name, ids, group, driver, gn, cn, members) == 7;
	}
	free(copy);
	return found;
}

static void check_row(const char *bdf)
{
	char group[16], driver[64], members[256], want_drv[64], want_grp[16];

	sys_driver(bdf, want_drv, sizeof(want_drv));
	/* The list prints "-" for a device without a group (no IOMMU, and
	 * not yet given a no-IOMMU group by vfio-pci). */
	if (sys_group(bdf) < 0)
		snprintf(want_grp, sizeof(want_grp), "-");
	else
		snprintf(want_grp, sizeof(want_grp), "%d", sys_group(bdf));
	if (!CHECK(row(bdf, group, driver, members), "list has a row for %s", bdf))
		return;
	CHECK(!strcmp(group, want_grp), "list: %s is in group %s (sysfs: %s)", bdf, group, want_grp);
	CHECK(!strcmp(driver, want_drv), "list: %s has driver %s (sysfs: %s)", bdf, driver, want_drv);
}

/* The interface name of a PCI network device (sysfs net/), or NULL. */
static const char *ifname_of(const char *bdf, char *buf, size_t len)
{
	char path[160];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/net", bdf);
	d = opendir(path);
	if (!d)
		return NULL;
	buf[0] = '\0';
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if (e->d_name[0] != '.' && n < len)
			memcpy(buf, e->d_name, n + 1);
	}
	closedir(d);
	return buf[0] ? buf : NULL;
}

/* Bring an interface up or down as an administrator would (SIOCSIFFLAGS
 * on any socket: the guest has no INET, a UNIX socket serves). */
static int set_up(const char *ifname, bool up)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1;

	if (fd < 0)
		return -errno;
	if (strlen(ifname) >= sizeof(ifr.ifr_name)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		if (up)
			ifr.ifr_flags |= IFF_UP;
		else
			ifr.ifr_flags &= ~IFF_UP;
		r = ioctl(fd, SIOCSIFFLAGS, &ifr) == 0 ? 0 : -errno;
	} else {
		r = -errno;
	}
	close(fd);
	return r;
}

/*
 * A NIC on its own driver (e1000e in the 7.3 test kernel): bind it by its
 * interface name (resolved over rtnetlink), refused while the link is up
 * unless --force (which brings it down first), and unbind gives it back to
 * e1000e with its interface again.
 */
static void by_ifname(const char *bdf, const char *drv0)
{
	char ifname[64], again[64], drv[64];

	if (!CHECK(ifname_of(bdf, ifname, sizeof(ifname)), "%s (driver %s) has a network interface", bdf, drv0))
		return;
	itest_note("%s is %s on %s", bdf, ifname, drv0);
	CHECK_RET(set_up(ifname, true), 0, "bring %s up", ifname);
	CHECK_RET(TOOL("bind", ifname), 3, "bind %s (up) is refused without --force", ifname);
	CHECK(strstr(out, "--force"), "the refusal names --force");
	sys_driver(bdf, drv, sizeof(drv));
	CHECK(!strcmp(drv, drv0), "the refusal changed nothing (%s)", drv);
	CHECK_RET(TOOL("bind", "--force", ifname), 0, "bind --force %s (by interface name)", ifname);
	sys_driver(bdf, drv, sizeof(drv));
	CHECK(!strcmp(drv, "vfio-pci"), "%s (%s) is on vfio-pci (%s)", bdf, ifname, drv);
	CHECK_RET(TOOL("unbind", bdf), 0, "unbind %s", bdf);
	sys_driver(bdf, drv, sizeof(drv));
	CHECK(!strcmp(drv, drv0), "%s back on %s (%s)", bdf, drv0, drv);
	CHECK(ifname_of(bdf, again, sizeof(again)), "%s has its interface again (%s)", bdf,
	      ifname_of(bdf, again, sizeof(again)) ? again : "none");
}

int main(void)
{
	const char *edu, *nonviable, *unbound, *kver;
	char a[32], b[32], group[16], driver[64], members[256], drv[64], want[256];
	struct iommufd_ctx *ctx;
	bool noiommu;

	itest_start("tool_cmds");
	edu = itest_env_req("IFD_EDU");
	nonviable = itest_env_req("IFD_EDU_NONVIABLE");
	unbound = itest_env_req("IFD_UNBOUND");
	kver = itest_env_req("IFD_KERNEL");
	itest_pair(a, b);
	ctx = itest_ctx();
	noiommu = itest_is_noiommu(ctx);
	if (ctx)
		iommufd_ctx_destroy(ctx); /* checked the backend; the tool makes its own */

	CHECK_RET(TOOL("list"), 0, "list");
	CHECK(strstr(out, !itest_stock_kernel() ? "iommufd (/dev/iommu):          yes"
					       : "iommufd (/dev/iommu):          no"),
	      "list: iommufd presence matches kernel %s", kver);
	check_row(edu);
	check_row(a);
	check_row(b);
	check_row(nonviable);
	check_row(unbound);
	/* VT-d: the pair shares the bridge's group; virtio-iommu: a
	 * multifunction slot, no bridge. */
	if (noiommu) /* VFIO's no-IOMMU groups hold one device each */
		snprintf(want, sizeof(want), "%s", a);
	else if (!strcmp(itest_env_req("IFD_IOMMU"), "virtio"))
		snprintf(want, sizeof(want), "%s,%s", a, b);
	else
		snprintf(want, sizeof(want), "0000:00:05.0,%s,%s", a, b);
	CHECK(row(a, group, driver, members) && !strcmp(members, want), "list: group of %s holds %s", a, want);
	CHECK_RET(TOOL("list", "--json"), 0, "list --json");
	snprintf(want, sizeof(want), "\"name\": \"%s\", \"ids\": \"1234:11e8\", \"driver\": \"vfio-pci\"", edu);
	CHECK(strstr(out, want), "list --json: the edu on vfio-pci");

	CHECK_RET(TOOL("unbind", edu), 0, "unbind the edu");
	sys_driver(edu, drv, sizeof(drv));
	CHECK(!strcmp(drv, "-"), "the edu has no driver after unbind (%s)", drv);
	CHECK_RET(TOOL("unbind", edu), 0, "unbind again");
	CHECK(strstr(out, "nothing to do"), "unbind is idempotent");
	CHECK_RET(TOOL("info", edu), 1, "info of the unbound edu fails");
	snprintf(want, sizeof(want), "not vfio-pci: iommufdctl bind %s", edu);
	CHECK(strstr(out, want), "info names the fix: %s", want);
	CHECK_RET(TOOL("bind", itest_short_bdf(edu)), 0, "bind the edu by its short address");
	sys_driver(edu, drv, sizeof(drv));
	CHECK(!strcmp(drv, "vfio-pci"), "the edu is on vfio-pci again (%s)", drv);
	CHECK_RET(TOOL("bind", edu), 0, "bind again");
	CHECK(strstr(out, "already bound"), "bind is idempotent");
	CHECK_RET(TOOL("info", edu), 0, "info opens the edu through the library");
	snprintf(want, sizeof(want), "Library: context on the %s backend", itest_env_req("IFD_EXPECT_BACKEND"));
	CHECK(strstr(out, want), "info: %s", want);
	CHECK(strstr(out, "Usable IOVA ranges") && strstr(out, "IOVA alignment"), "info: ranges and alignment");
	if (!noiommu)
		CHECK(strstr(out, "Reserved IOVA regions") && strstr(out, "msi"),
		      "info: reserved regions (the MSI window)");

	sys_driver(unbound, drv, sizeof(drv));
	if (!strcmp(drv, "-")) {
		CHECK_RET(TOOL("bind", unbound), 0, "bind the driverless %s", unbound);
		sys_driver(unbound, drv, sizeof(drv));
		CHECK(!strcmp(drv, "vfio-pci"), "%s on vfio-pci (%s)", unbound, drv);
		CHECK_RET(TOOL("unbind", unbound), 0, "unbind %s", unbound);
		sys_driver(unbound, drv, sizeof(drv));
		CHECK(!strcmp(drv, "-"), "%s back to no driver, as before (%s)", unbound, drv);
	} else {
		by_ifname(unbound, drv);
	}

	if (noiommu) {
		/* Its no-IOMMU group holds it alone: nothing makes it unviable. */
		CHECK_RET(TOOL("bind", nonviable), 0, "no IOMMU: %s has a group of its own, already bound", nonviable);
		CHECK(strstr(out, "already bound"), "so the bind has nothing to do");
	} else {
		CHECK_RET(TOOL("bind", nonviable), 3, "bind in the non-viable group is refused without --yes");
		CHECK(strstr(out, "--yes"), "the refusal names --yes");
	}
	sys_driver(nonviable, drv, sizeof(drv));
	CHECK(!strcmp(drv, "vfio-pci"), "the refusal changed nothing (%s)", drv);
	return itest_finish();
}
