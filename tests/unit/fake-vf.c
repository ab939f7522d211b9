/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The fake kernel's SR-IOV VF tokens (semantics of Linux 7.3's
 * drivers/vfio/pci/vfio_pci_core.c and drivers/vfio/device_cdev.c):
 *  - a PF driven by vfio-pci has a token (random at bind; here all zero
 *    until set) that VFIO_DEVICE_FEATURE SET|PCI_VF_TOKEN replaces; any other
 *    device answers that feature with -ENOTTY;
 *  - opening a VF of such a PF (cdev bind, or the group's GET_DEVICE_FD)
 *    needs that token (-EACCES without it or with another); opening a PF
 *    whose VFs are open needs it too, and a token shown to a PF without open
 *    VFs becomes its token; a token shown to any other device is -EINVAL.
 * Every entry point but fake_kernel_add_vf() runs under the fake kernel's
 * lock, called from fake-kernel.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>

#include "fake-kernel.h"

#define FK_MAX_VFS 8

struct fk_vf_pf {
	char name[64];
	uint8_t token[16];
	char vfs[FK_MAX_VFS][64];
	unsigned int nvfs;
};

struct fk_vf_state {
	struct fk_vf_pf *pfs;
	size_t npfs;
};

void fk_vf_free(struct fk_vf_state *st)
{
	if (!st)
		return;
	free(st->pfs);
	free(st);
}

static struct fk_vf_pf *pf_by_name(struct fk_vf_state *st, const char *name)
{
	for (size_t i = 0; st && i < st->npfs; i++)
		if (!strcmp(st->pfs[i].name, name))
			return &st->pfs[i];
	return NULL;
}

static struct fk_vf_pf *pf_of_vf(struct fk_vf_state *st, const char *vf)
{
	for (size_t i = 0; st && i < st->npfs; i++)
		for (unsigned int k = 0; k < st->pfs[i].nvfs; k++)
			if (!strcmp(st->pfs[i].vfs[k], vf))
				return &st->pfs[i];
	return NULL;
}

int fake_kernel_add_vf(struct fake_kernel *fk, const char *pf, const char *vf)
{
	struct fk_vf_state **stp, *st;
	struct fk_vf_pf *p;
	char path[160], target[96];
	int r = 0;

	fk_model_lock(true);
	stp = fk_vf_state(fk);
	if (!*stp)
		*stp = calloc(1, sizeof(**stp));
	st = *stp;
	p = st ? pf_by_name(st, pf) : NULL;
	if (st && !p) {
		struct fk_vf_pf *v = realloc(st->pfs, (st->npfs + 1) * sizeof(*st->pfs));

		if (v) {
			st->pfs = v;
			p = &v[st->npfs++];
			memset(p, 0, sizeof(*p));
			strncpy(p->name, pf, sizeof(p->name) - 1);
		}
	}
	if (!p || p->nvfs == FK_MAX_VFS)
		r = -ENOMEM;
	else
		snprintf(p->vfs[p->nvfs++], sizeof(p->vfs[0]), "%s", vf);
	fk_model_lock(false);
	if (r)
		return r;
	snprintf(path, sizeof(path), "/sys/devices/pci0000:00/%s/sriov_totalvfs", pf);
	fake_kernel_add_file(fk, path, "7");
	snprintf(path, sizeof(path), "/sys/devices/pci0000:00/%s/virtfn%u", pf, p->nvfs - 1);
	snprintf(target, sizeof(target), "../%s", vf);
	fake_kernel_add_link(fk, path, target);
	snprintf(path, sizeof(path), "/sys/devices/pci0000:00/%s/physfn", vf);
	snprintf(target, sizeof(target), "../%s", pf);
	fake_kernel_add_link(fk, path, target);
	return 0;
}

int fk_vf_match(struct fake_kernel *fk, const char *name, const uint8_t *uuid)
{
	struct fk_vf_state *st = *fk_vf_state(fk);
	struct fk_vf_pf *p = pf_of_vf(st, name);
	unsigned int users = 0;

	if (p) {
		if (strcmp(fk_model_dev_driver(fk, p->name), "vfio-pci"))
			return uuid ? -EINVAL : 0; /* no token when the PF is the host's */
		return uuid && !memcmp(uuid, p->token, sizeof(p->token)) ? 0 : -EACCES;
	}
	p = pf_by_name(st, name);
	if (!p)
		return uuid ? -EINVAL : 0;
	for (unsigned int k = 0; k < p->nvfs; k++)
		users += fk_model_dev_open_count(fk, p->vfs[k]) > 0;
	if (users)
		return uuid && !memcmp(uuid, p->token, sizeof(p->token)) ? 0 : -EACCES;
	if (uuid)
		memcpy(p->token, uuid, sizeof(p->token));
	return 0;
}

int fk_vf_feature(struct fake_kernel *fk, const char *name, void *arg)
{
	struct vfio_device_feature *f = arg;
	struct fk_vf_pf *p = pf_by_name(*fk_vf_state(fk), name);

	if (!f)
		return -EFAULT;
	if (f->argsz < sizeof(*f))
		return -EINVAL;
	if ((f->flags & VFIO_DEVICE_FEATURE_MASK) != VFIO_DEVICE_FEATURE_PCI_VF_TOKEN)
		return -ENOTTY;
	if (!p || strcmp(fk_model_dev_driver(fk, name), "vfio-pci"))
		return -ENOTTY;
	if (f->flags & VFIO_DEVICE_FEATURE_PROBE)
		return (f->flags & VFIO_DEVICE_FEATURE_GET) ? -EINVAL : 0;
	if ((f->flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)) != VFIO_DEVICE_FEATURE_SET)
		return -EINVAL;
	if (f->argsz < sizeof(*f) + sizeof(p->token))
		return -EINVAL;
	memcpy(p->token, f->data, sizeof(p->token));
	return 0;
}

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

int fk_vf_split_name(const char *req, char *name, size_t len, uint8_t uuid[16], bool *has_uuid)
{
	const char *sp = strchr(req, ' '), *u;
	size_t n = sp ? (size_t)(sp - req) : strlen(req);
	unsigned int nib = 0;

	*has_uuid = false;
	if (n >= len)
		return -ENODEV;
	memcpy(name, req, n);
	name[n] = '\0';
	if (!sp)
		return 0;
	while (*sp == ' ')
		sp++;
	if (strncmp(sp, "vf_token=", 9))
		return -EINVAL;
	u = sp + 9;
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? u[i] != '-' : hexval(u[i]) < 0)
			return -EINVAL;
		if (dash)
			continue;
		if (nib % 2 == 0)
			uuid[nib / 2] = (uint8_t)(hexval(u[i]) << 4);
		else
			uuid[nib / 2] |= (uint8_t)hexval(u[i]);
		nib++;
	}
	for (const char *t = u + 36; *t; t++)
		if (*t != ' ')
			return -EINVAL;
	*has_uuid = true;
	return 0;
}
