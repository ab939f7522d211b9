/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * vf_token: SR-IOV VF tokens on QEMU's igb (PF 8086:10c9, VFs 8086:10ca).
 *
 * The PF ($IFD_IGB_PF, on no driver) is bound to vfio-pci, which must be
 * allowed to enable SR-IOV (its parameter enable_sriov, writable at run
 * time in /sys/module/vfio_pci/parameters).  The PF is opened through the
 * library, its VF token set, one VF created; vfio-pci claims the VF.  The
 * VF must then refuse to open without the token and with another one
 * (-EACCES, the log naming the fix), and open with it: its config space
 * reads 8086:10ca and bus mastering turns on.  Teardown: VF closed, VFs
 * off, PF closed, the PF returned to no driver.
 */
#include "itest.h"

#define TOKEN "6c696269-6f6d-4d75-8666-642d76667430"
#define WRONG "00000000-0000-4000-8000-000000000000"

static char pf[32], vf[32];
static bool sriov_on, pf_bound;

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int e;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	e = n < 0 ? errno : 0;
	close(fd);
	return n < 0 ? -e : 0;
}

static void read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

static void driver_of(const char *bdf, char *out, size_t len)
{
	char path[128], target[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(out, len, "none");
		return;
	}
	target[n] = '\0';
	snprintf(out, len, "%.63s", strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
}

/* driver_override + drivers_probe, as the rig binds its devices. */
static bool bind_vfio(const char *bdf)
{
	char path[128], drv[64];

	driver_of(bdf, drv, sizeof(drv));
	if (strcmp(drv, "vfio-pci")) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
		CHECK_RET(write_file(path, "vfio-pci"), 0, "driver_override of %s", bdf);
		if (strcmp(drv, "none")) {
			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
			CHECK_RET(write_file(path, bdf), 0, "unbind %s from %s", bdf, drv);
		}
		CHECK_RET(write_file("/sys/bus/pci/drivers_probe", bdf), 0, "drivers_probe %s", bdf);
		driver_of(bdf, drv, sizeof(drv));
	}
	return CHECK(!strcmp(drv, "vfio-pci"), "%s is bound to vfio-pci (driver: %s)", bdf, drv);
}

static void teardown_sriov(void)
{
	char path[128];

	if (!sriov_on)
		return;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_numvfs", pf);
	CHECK_RET(write_file(path, "0"), 0, "SR-IOV off on %s (VFs removed before the PF closes)", pf);
	sriov_on = false;
}

/* Leave the rig as found: the PF on no driver. */
static void unbind_pf(void)
{
	char path[128];

	if (!pf_bound)
		return;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", pf);
	CHECK_RET(write_file(path, pf), 0, "unbind %s from vfio-pci", pf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", pf);
	write_file(path, "\n");
}

static void check_vf_usable(struct iommufd_device *dev)
{
	uint16_t id[2] = { 0, 0 }, cmd = 0;

	CHECK_RET(iommufd_device_config_read(dev, 0, id, sizeof(id)), 0, "config read of %s's IDs", vf);
	CHECK(id[0] == 0x8086 && id[1] == 0x10ca, "%s reads vendor:device 8086:10ca through VFIO (got %04x:%04x)", vf,
	      id[0], id[1]);
	CHECK_RET(iommufd_device_set_bus_master(dev, true), 0, "bus master on for %s", vf);
	CHECK_RET(iommufd_device_config_read(dev, 4, &cmd, sizeof(cmd)), 0, "config read of %s's command register",
		  vf);
	CHECK(cmd & 0x4, "%s's command register has bus master set (0x%04x)", vf, cmd);
}

int main(void)
{
	struct iommufd_device_opts o = { .sz = sizeof(o) };
	struct iommufd_device *pdev = NULL, *vdev = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_ctx *ctx;
	char path[160], val[64], drv[64];
	int r;

	itest_start("vf_token");
	snprintf(pf, sizeof(pf), "%s", itest_env_req("IFD_IGB_PF"));

	/* vfio-pci refuses sriov_numvfs unless told SR-IOV is wanted. */
	r = write_file("/sys/module/vfio_pci/parameters/enable_sriov", "Y");
	REQUIRE_RET(r, 0, "vfio-pci's enable_sriov parameter set to Y at run time");
	read_file("/sys/module/vfio_pci/parameters/enable_sriov", val, sizeof(val));
	CHECK(!strcmp(val, "Y"), "enable_sriov reads Y (got '%s')", val);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_totalvfs", pf);
	read_file(path, val, sizeof(val));
	REQUIRE(atoi(val) >= 1, "%s is an SR-IOV PF (sriov_totalvfs %s)", pf, val);
	pf_bound = bind_vfio(pf);
	if (!pf_bound)
		itest_bail();

	ctx = itest_ctx();
	REQUIRE_RET(iommufd_ioas_create(ctx, &ioas), 0, "IOAS");
	REQUIRE_RET(iommufd_device_open(ioas, pf, NULL, &pdev), 0, "open the PF %s", pf);
	CHECK_RET(iommufd_device_get_vf_name(pdev, 0, vf, sizeof(vf)), -ENOENT, "no VF while SR-IOV is off");
	CHECK_RET(iommufd_device_set_vf_token(pdev, TOKEN), 0, "set the PF's VF token");

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_numvfs", pf);
	r = write_file(path, "1");
	sriov_on = r == 0;
	if (!CHECK_RET(r, 0, "echo 1 > %s", path))
		goto out;
	REQUIRE_RET(iommufd_device_get_vf_name(pdev, 0, vf, sizeof(vf)), 0, "the PF's VF 0 has a name");
	CHECK_RET(iommufd_device_get_vf_name(pdev, 1, val, sizeof(val)), -ENOENT, "the PF has only one VF");
	itest_note("VF 0 of %s is %s", pf, vf);
	/* vfio-pci set the VF's driver_override when it appeared. */
	driver_of(vf, drv, sizeof(drv));
	itest_note("%s came up on driver %s", vf, drv);
	if (!bind_vfio(vf))
		goto out;

	/* A cdev bind before Linux 6.17 (the 6.12-src cell) takes no token
	 * and checks none: the VF opens with any token or without, and the
	 * library says the token went unchecked.  Groups always check. */
	bool checked = strcmp(itest_env_req("IFD_KERNEL"), "6.12") ||
		       iommufd_ctx_get_backend(ctx) != IOMMUFD_BACKEND_CDEV;

	itest_log_clear();
	r = iommufd_device_open(ioas, vf, NULL, &vdev);
	if (checked) {
		CHECK_RET(r, -EACCES, "open %s without the VF token: the kernel's EACCES", vf);
		CHECK(itest_log_has("VF token", "iommufd_device_opts.vf_token"),
		      "the log says to pass the PF's VF token");
	} else {
		CHECK_RET(r, 0, "open %s without the VF token: 6.12's cdev bind checks none", vf);
	}
	if (r == 0)
		iommufd_device_destroy(vdev);
	vdev = NULL;

	itest_log_clear();
	o.vf_token = WRONG;
	r = iommufd_device_open(ioas, vf, &o, &vdev);
	if (checked) {
		CHECK_RET(r, -EACCES, "open %s with another token: EACCES", vf);
		CHECK(itest_log_has("not the one the user of its PF", NULL), "the log says the token is not the PF's");
	} else {
		CHECK_RET(r, 0, "open %s with another token: 6.12's cdev bind takes none", vf);
		CHECK(itest_log_has("takes no VF token", "cdev bind checks none"),
		      "the log says the kernel checked no token");
	}
	CHECK(!itest_log_has(WRONG, NULL), "the log does not show the token");
	if (r == 0)
		iommufd_device_destroy(vdev);
	vdev = NULL;

	o.vf_token = TOKEN;
	r = iommufd_device_open(ioas, vf, &o, &vdev);
	if (CHECK_RET(r, 0, "open %s with the PF's VF token", vf)) {
		check_vf_usable(vdev);
		CHECK_RET(iommufd_device_destroy(vdev), 0, "close %s", vf);
	}

	/* A token for a device that takes none: the kernel's EINVAL, explained. */
	itest_log_clear();
	vdev = NULL;
	r = iommufd_device_open(ioas, itest_env_req("IFD_EDU"), &o, &vdev);
	CHECK_RET(r, -EINVAL, "open the edu device (neither PF nor VF) with a VF token: EINVAL");
	CHECK(itest_log_has("neither an SR-IOV VF nor a PF", NULL), "the log says the device takes no token");
	if (r == 0)
		iommufd_device_destroy(vdev);
out:
	teardown_sriov();
	if (pdev)
		CHECK_RET(iommufd_device_destroy(pdev), 0, "close the PF after its VFs are gone");
	iommufd_ctx_destroy(ctx);
	unbind_pf();
	return itest_finish();
}
