/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * SR-IOV VF tokens: the UUID a vfio-pci PF's user shares with the users of
 * its VFs (drivers/vfio/pci/vfio_pci_core.c).  The backends hand the token
 * to the kernel; this file parses it, sets it on a PF and explains refusals.
 */
#include <stdio.h>
#include <string.h>
#include <linux/vfio.h>

#include "internal.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ifd_vf_token_parse(const char *s, uint8_t out[IFD_VF_TOKEN_LEN])
{
	uint8_t b[IFD_VF_TOKEN_LEN];
	size_t n = 0;

	/* The kernel's parser takes exactly the canonical 8-4-4-4-12 form. */
	if (!s || !ifd_is_uuid(s))
		return -EINVAL;
	for (size_t i = 0; s[i]; i++) {
		if (s[i] == '-')
			continue;
		if (n / 2 >= sizeof(b))
			return -EINVAL;
		if (n % 2 == 0)
			b[n / 2] = (uint8_t)(hexval(s[i]) << 4);
		else
			b[n / 2] |= (uint8_t)hexval(s[i]);
		n++;
	}
	if (n != 2 * sizeof(b))
		return -EINVAL;
	memcpy(out, b, sizeof(b));
	return 0;
}

/* The byte order of uuid_parse(): the string's hex pairs in order. */
static void token_format(const uint8_t t[IFD_VF_TOKEN_LEN], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", t[0], t[1], t[2],
		 t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13], t[14], t[15]);
}

int ifd_vf_group_name(const struct iommufd_device *dev, char *buf, size_t len)
{
	char uuid[37];
	int n;

	if (!dev->has_vf_token)
		n = snprintf(buf, len, "%s", dev->name);
	else {
		token_format(dev->vf_token, uuid);
		n = snprintf(buf, len, "%s vf_token=%s", dev->name, uuid);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The PF of @dev if it is a VF (its sysfs physfn link), else "". */
static void physfn_of(const struct iommufd_device *dev, char *pf, size_t len)
{
	char path[PATH_MAX + 16], target[PATH_MAX];
	ssize_t n;
	const char *base;

	pf[0] = '\0';
	if (!dev->sysfs[0] || snprintf(path, sizeof(path), "%s/physfn", dev->sysfs) >= (int)sizeof(path))
		return;
	n = dev->ctx->sys->readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) < len)
		strcpy(pf, base);
}

/* Does @dev have SR-IOV (sriov_totalvfs), i.e. is it a PF? */
static bool is_pf(const struct iommufd_device *dev)
{
	char path[PATH_MAX + 24], val[16];

	if (!dev->sysfs[0] || snprintf(path, sizeof(path), "%s/sriov_totalvfs", dev->sysfs) >= (int)sizeof(path))
		return false;
	return ifd_sysfs_read(dev->ctx, path, val, sizeof(val)) > 0 && strcmp(val, "0");
}

bool ifd_vf_sriov(const struct iommufd_device *dev)
{
	char pf[64];

	physfn_of(dev, pf, sizeof(pf));
	return pf[0] || is_pf(dev);
}

void ifd_vf_token_unchecked(struct iommufd_device *dev, const char *call)
{
	char pf[64];

	physfn_of(dev, pf, sizeof(pf));
	ifd_warn(dev->ctx, "%s: %s takes no VF token for this device (%s%s%s%s): opened without it, so no token "
		 "was checked", dev->name, call, pf[0] ? "its PF " : "", pf, pf[0] ? " is not driven by vfio-pci" : "",
		 dev->ctx->backend == IOMMUFD_BACKEND_CDEV ? (pf[0] ? ", or a kernel before Linux 6.17, whose cdev bind "
		 "checks none" : "a kernel before Linux 6.17, whose cdev bind checks none") : "");
}

void ifd_vf_explain(struct iommufd_device *dev, const char *call, int err)
{
	struct iommufd_ctx *ctx = dev->ctx;
	char pf[64];

	physfn_of(dev, pf, sizeof(pf));
	if (err == -EACCES && pf[0] && !dev->has_vf_token)
		ifd_err(ctx, "%s: %s: EACCES: the device is an SR-IOV VF of %s, which vfio-pci drives: open it with "
			"the PF's VF token (iommufd_device_opts.vf_token), which the PF's user sets "
			"(iommufd_device_set_vf_token())", dev->name, call, pf);
	else if (err == -EACCES && pf[0])
		ifd_err(ctx, "%s: %s: EACCES: the VF token given is not the one the user of its PF %s set "
			"(iommufd_device_set_vf_token()): pass that token", dev->name, call, pf);
	else if (err == -EACCES && is_pf(dev))
		ifd_err(ctx, "%s: %s: EACCES: the SR-IOV PF has VFs in use, so opening it needs their VF token "
			"(iommufd_device_opts.vf_token)%s", dev->name, call,
			dev->has_vf_token ? ": the token given is not theirs" : "");
	else if (err == -EACCES)
		ifd_err(ctx, "%s: %s failed: %s", dev->name, call, strerror(-err));
	else if (pf[0])
		ifd_err(ctx, "%s: %s refused the VF token (%s): the PF %s is not driven by vfio-pci (then no "
			"token is needed: open without one)%s", dev->name, call, strerror(-err), pf,
			ctx->backend == IOMMUFD_BACKEND_CDEV ? ", or this kernel's cdev bind predates VF tokens "
			"(Linux 6.17; older kernels check none on a cdev)" : "");
	else
		ifd_err(ctx, "%s: %s refused the VF token (%s): the device is neither an SR-IOV VF nor a PF: "
			"open it without a token", dev->name, call, strerror(-err));
}

IFD_EXPORT int iommufd_device_set_vf_token(struct iommufd_device *pf, const char *uuid)
{
	struct {
		struct vfio_device_feature hdr;
		uint8_t token[IFD_VF_TOKEN_LEN];
	} arg;
	int r;

	if (!pf || pf->state != IFD_ALIVE)
		return ifd_ret(-EINVAL);
	memset(&arg, 0, sizeof(arg));
	if (ifd_vf_token_parse(uuid, arg.token) < 0)
		return ifd_ret(-EINVAL);
	if (ifd_forked(pf->ctx))
		return ifd_ret(-ECHILD);
	if (pf->fd < 0) {
		ifd_err(pf->ctx, "%s: adopted by ID without its VFIO fd: only its owner can set its VF token",
			pf->name);
		return ifd_ret(-EOPNOTSUPP);
	}
	arg.hdr.argsz = sizeof(arg);
	arg.hdr.flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN;
	r = ifd_ioctl(pf->ctx, pf->fd, VFIO_DEVICE_FEATURE, &arg);
	if (r == -ENOTTY) {
		ifd_err(pf->ctx, "%s: VFIO_DEVICE_FEATURE PCI_VF_TOKEN: ENOTTY: the device is not an SR-IOV PF "
			"driven by vfio-pci (no sriov_totalvfs, or another VFIO driver): only such a PF has a VF token",
			pf->name);
		return ifd_ret(-EOPNOTSUPP);
	}
	if (r < 0)
		ifd_err(pf->ctx, "%s: VFIO_DEVICE_FEATURE SET PCI_VF_TOKEN failed: %s", pf->name, strerror(-r));
	else
		ifd_dbg(pf->ctx, "%s: VF token set", pf->name);
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_device_get_vf_name(const struct iommufd_device *pf, unsigned int index, char *buf,
					  size_t len)
{
	char path[PATH_MAX + 32], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if (!pf || pf->state != IFD_ALIVE || !buf || !len)
		return ifd_ret(-EINVAL);
	if (!pf->sysfs[0] || pf->is_mdev)
		return ifd_ret(-ENOENT);
	if (snprintf(path, sizeof(path), "%s/virtfn%u", pf->sysfs, index) >= (int)sizeof(path))
		return ifd_ret(-ENOENT);
	n = pf->ctx->sys->readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return ifd_ret(errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno);
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (!ifd_is_bdf(base)) {
		ifd_err(pf->ctx, "%s: %s points to '%s', not a PCI device", pf->name, path, target);
		return ifd_ret(-EIO);
	}
	if (strlen(base) >= len)
		return ifd_ret(-ERANGE);
	strcpy(buf, base);
	return 0;
}
