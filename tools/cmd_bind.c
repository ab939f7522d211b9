/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * iommufdctl bind / unbind: move a PCI device (and, with --yes, the rest of
 * its IOMMU group) to vfio-pci through driver_override, and back to the
 * driver it had, which is remembered in /run/iommufdctl/<bdf>.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#define VFIO_DRV "vfio-pci"

static void state_path(char *p, size_t len, const char *bdf)
{
	ctl_path(p, len, "/run/iommufdctl/%s", bdf);
}

/* The first line of the state file is the previous driver, "" for none. */
static int save_prev(const struct ctl_dev *d)
{
	char p[PATH_MAX], dir[PATH_MAX];
	FILE *f;
	int r;

	ctl_path(dir, sizeof(dir), "/run/iommufdctl");
	r = ctl_mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	state_path(p, sizeof(p), d->name);
	f = fopen(p, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", d->driver);
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

static int load_prev(const char *bdf, char *drv, size_t len)
{
	char p[PATH_MAX];
	int r;

	state_path(p, sizeof(p), bdf);
	r = ctl_read(p, drv, len);
	return r < 0 ? r : 0;
}

/* @attr: the attribute's path without the root: /sys/bus/pci/... */
static int sysfs_write(const char *what, const char *bdf, const char *attr)
{
	char p[PATH_MAX];
	int r;

	if (ctl_path(p, sizeof(p), "%s", attr) < 0)
		return -ENAMETOOLONG;
	r = ctl_write(p, what);
	if (r < 0)
		fprintf(stderr, "iommufdctl: %s: writing \"%s\" to %s failed: %s%s\n", bdf, what[0] == '\n' ? "\\n" : what,
			attr, strerror(-r), r == -EACCES || r == -EPERM ? " (run as root)" : "");
	return r;
}

static int dev_attr(char *p, size_t len, const char *bdf, const char *attr)
{
	return snprintf(p, len, "/sys/bus/pci/devices/%s/%s", bdf, attr) < (int)len ? 0 : -ENAMETOOLONG;
}

static int drv_attr(char *p, size_t len, const char *drv, const char *attr)
{
	return snprintf(p, len, "/sys/bus/pci/drivers/%s/%s", drv, attr) < (int)len ? 0 : -ENAMETOOLONG;
}

static bool is_vfio(const char *driver)
{
	return driver[0] && strstr(driver, "vfio");
}

static int bind_one(const struct ctl_dev *d)
{
	char a[PATH_MAX];
	struct ctl_dev now;
	int r;

	if (is_vfio(d->driver)) {
		printf("%s: already bound to %s\n", d->name, d->driver);
		return 0;
	}
	r = save_prev(d);
	if (r < 0) {
		fprintf(stderr, "iommufdctl: %s: cannot remember its driver in /run/iommufdctl: %s (run as root)\n",
			d->name, strerror(-r));
		return r;
	}
	r = dev_attr(a, sizeof(a), d->name, "driver_override");
	if (!r)
		r = sysfs_write(VFIO_DRV, d->name, a);
	if (!r && d->driver[0] && !(r = drv_attr(a, sizeof(a), d->driver, "unbind")))
		r = sysfs_write(d->name, d->name, a);
	if (!r)
		r = sysfs_write(d->name, d->name, "/sys/bus/pci/drivers_probe");
	if (r < 0)
		return r;
	if (ctl_dev_fill("pci", d->name, &now) < 0 || strcmp(now.driver, VFIO_DRV)) {
		fprintf(stderr,
			"iommufdctl: %s: the kernel did not bind it to vfio-pci (driver now: %s); see dmesg. "
			"To give it back: iommufdctl unbind %s\n",
			d->name, now.driver[0] ? now.driver : "none", d->name);
		return -EIO;
	}
	printf("%s: %s -> %s\n", d->name, d->driver[0] ? d->driver : "(no driver)", VFIO_DRV);
	return 0;
}

static int report_resolve(const char *arg, int r)
{
	switch (r) {
	case -ENODEV:
		fprintf(stderr, "iommufdctl: %s: no such device (see iommufdctl list)\n", arg);
		return CTL_EXIT_NODEV;
	case -EPROTONOSUPPORT:
		fprintf(stderr,
			"iommufdctl: %s: interface names need libnl-route-3, which this iommufdctl was built "
			"without: give the PCI address (readlink /sys/class/net/%s/device)\n",
			arg, arg);
		return CTL_EXIT_UNSUPPORTED;
	case -ENXIO:
		fprintf(stderr, "iommufdctl: %s: a virtual network interface, no device behind it\n", arg);
		return CTL_EXIT_NODEV;
	case -EMEDIUMTYPE:
		fprintf(stderr, "iommufdctl: %s: not a PCI device (USB or platform): VFIO PCI cannot take it\n", arg);
		return CTL_EXIT_NODEV;
	default:
		fprintf(stderr,
			"iommufdctl: %s: not a PCI address (0000:00:04.0 or 00:04.0), sysfs path, mdev UUID or "
			"network interface%s%s\n",
			arg, r == -EINVAL ? "" : ": ", r == -EINVAL ? "" : strerror(-r));
		return CTL_EXIT_NODEV;
	}
}

/* Resolves DEVICE; returns -1 and sets *exit_code when the command ends here. */
static int target(const char *arg, struct ctl_target *t, struct ctl_dev *d, int *exit_code)
{
	int r = ctl_resolve(arg, t);

	if (r < 0) {
		*exit_code = report_resolve(arg, r);
		return -1;
	}
	if (!strcmp(t->bus, "mdev")) {
		ctl_dev_fill(t->bus, t->name, d);
		printf("%s: a mediated device (driver %s) is a VFIO device already: nothing to bind\n", t->name,
		       d->driver[0] ? d->driver : "none");
		*exit_code = CTL_EXIT_OK;
		return -1;
	}
	if (ctl_dev_fill(t->bus, t->name, d) < 0) {
		*exit_code = report_resolve(arg, -ENODEV);
		return -1;
	}
	return 0;
}

/* vfio.enable_unsafe_noiommu_mode: VFIO makes a no-IOMMU group for a
 * device without one when vfio-pci binds it. */
static bool noiommu_mode(void)
{
	char p[PATH_MAX], v[8];

	ctl_path(p, sizeof(p), "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode");
	return ctl_read(p, v, sizeof(v)) > 0 && (v[0] == 'Y' || v[0] == 'y' || v[0] == '1');
}

int ctl_cmd_bind(const struct ctl_opts *o, const char *arg)
{
	char members[CTL_MAX_MEMBERS][CTL_NAME_MAX], why[256], p[PATH_MAX];
	struct ctl_dev todo[CTL_MAX_MEMBERS];
	struct ctl_target t;
	struct ctl_dev d;
	int n, ntodo = 0, code;

	if (target(arg, &t, &d, &code) < 0)
		return code;
	if (d.group < 0 && !noiommu_mode()) {
		fprintf(stderr,
			"iommufdctl: %s: has no IOMMU group: the IOMMU is off or absent. Boot with intel_iommu=on "
			"(Intel) or check amd_iommu and the firmware's IOMMU (VT-d/AMD-Vi) setting\n",
			d.name);
		return CTL_EXIT_FAIL;
	}
	if (d.group < 0)
		fprintf(stderr, "iommufdctl: %s: no IOMMU: VFIO's unsafe no-IOMMU mode gives it a group of its own "
			"when vfio-pci takes it; nothing isolates its DMA\n", d.name);
	ctl_path(p, sizeof(p), "/sys/bus/pci/drivers/" VFIO_DRV);
	if (!ctl_exists(p)) {
		fprintf(stderr, "iommufdctl: %s: the vfio-pci driver is not loaded: modprobe vfio-pci\n", d.name);
		return CTL_EXIT_FAIL;
	}
	if (!is_vfio(d.driver))
		todo[ntodo++] = d;
	n = d.group < 0 ? 0 : ctl_group_members(d.group, members, CTL_MAX_MEMBERS);
	for (int i = 0; i < n; i++) {
		struct ctl_dev m;

		if (!strcmp(members[i], d.name) || ctl_dev_fill("pci", members[i], &m) < 0)
			continue;
		if (ctl_driver_keeps_group_viable(m.driver))
			continue;
		if (!o->yes) {
			fprintf(stderr,
				"iommufdctl: %s: IOMMU group %d also holds %s (driver %s), which must leave its driver "
				"too: iommufdctl bind %s --yes binds the whole group\n",
				d.name, d.group, m.name, m.driver, arg);
			return CTL_EXIT_REFUSED;
		}
		if (ntodo < CTL_MAX_MEMBERS)
			todo[ntodo++] = m;
	}
	if (!ntodo) {
		printf("%s: already bound to %s\n", d.name, d.driver);
		return CTL_EXIT_OK;
	}
	for (int i = 0; i < ntodo; i++) {
		int r = ctl_dev_in_use(&todo[i], why, sizeof(why));

		if (r <= 0)
			continue;
		if (!o->force) {
			fprintf(stderr, "iommufdctl: %s: %s: stop using it first, or pass --force\n", todo[i].name,
				why);
			return CTL_EXIT_REFUSED;
		}
		fprintf(stderr, "iommufdctl: %s: %s; going on (--force)\n", todo[i].name, why);
	}
	if (o->force && t.ifname[0] && ctl_root_is_real()) {
		int r = ctl_nl_link_down(t.ifname);

		if (r < 0) {
			fprintf(stderr, "iommufdctl: %s: cannot bring the link down: %s\n", t.ifname, strerror(-r));
			return CTL_EXIT_FAIL;
		}
		printf("%s: link down\n", t.ifname);
	}
	for (int i = 0; i < ntodo; i++)
		if (bind_one(&todo[i]) < 0)
			return CTL_EXIT_FAIL;
	return CTL_EXIT_OK;
}

static int unbind_one(const struct ctl_dev *d, bool quiet_if_not_ours)
{
	char prev[CTL_NAME_MAX], p[PATH_MAX], a[PATH_MAX];
	struct ctl_dev now;
	bool known = load_prev(d->name, prev, sizeof(prev)) == 0;
	int r;

	state_path(p, sizeof(p), d->name);
	if (!is_vfio(d->driver) && strcmp(d->override, VFIO_DRV)) {
		if (!quiet_if_not_ours)
			printf("%s: not bound to vfio-pci (driver %s): nothing to do\n", d->name,
			       d->driver[0] ? d->driver : "none");
		/* Given back by other means: the remembered driver is stale. */
		unlink(p);
		return 0;
	}
	/* A lone newline clears driver_override (the kernel's rule). */
	r = dev_attr(a, sizeof(a), d->name, "driver_override");
	if (!r)
		r = sysfs_write("\n", d->name, a);
	if (!r && d->driver[0] && !(r = drv_attr(a, sizeof(a), d->driver, "unbind")))
		r = sysfs_write(d->name, d->name, a);
	if (r < 0)
		return r;
	if (known && !prev[0]) {
		printf("%s: %s -> (no driver), as before bind\n", d->name, d->driver);
		goto done;
	}
	if (known && !(r = drv_attr(a, sizeof(a), prev, "bind")))
		r = sysfs_write(d->name, d->name, a);
	else if (!known)
		r = sysfs_write(d->name, d->name, "/sys/bus/pci/drivers_probe");
	if (r < 0)
		return r;
	if (ctl_dev_fill("pci", d->name, &now) < 0 || (known && strcmp(now.driver, prev))) {
		fprintf(stderr, "iommufdctl: %s: the kernel did not give it back to %s (driver now: %s); see dmesg\n",
			d->name, known ? prev : "its driver", now.driver[0] ? now.driver : "none");
		return -EIO;
	}
	printf("%s: %s -> %s\n", d->name, d->driver[0] ? d->driver : "(no driver)",
	       now.driver[0] ? now.driver : "(no driver)");
done:
	unlink(p);
	return 0;
}

int ctl_cmd_unbind(const struct ctl_opts *o, const char *arg)
{
	char members[CTL_MAX_MEMBERS][CTL_NAME_MAX], prev[CTL_NAME_MAX];
	struct ctl_target t;
	struct ctl_dev d;
	int n, code;

	if (target(arg, &t, &d, &code) < 0)
		return code;
	if (unbind_one(&d, false) < 0)
		return CTL_EXIT_FAIL;
	if (!o->yes || d.group < 0)
		return CTL_EXIT_OK;
	/* --yes: the members this tool bound (they have a state file) go back too. */
	n = ctl_group_members(d.group, members, CTL_MAX_MEMBERS);
	for (int i = 0; i < n; i++) {
		struct ctl_dev m;

		if (!strcmp(members[i], d.name) || load_prev(members[i], prev, sizeof(prev)) < 0 ||
		    ctl_dev_fill("pci", members[i], &m) < 0)
			continue;
		if (unbind_one(&m, true) < 0)
			return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}
