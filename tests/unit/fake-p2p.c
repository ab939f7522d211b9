/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The fake kernel's VFIO dma-buf export (VFIO_DEVICE_FEATURE with
 * VFIO_DEVICE_FEATURE_DMA_BUF), modelled on 7.3's vfio-pci: the rules the
 * library relies on, not the DMA.  fake-kernel.c hands over the device's
 * facts.  The dma-buf is a real memfd of the slice's length, named
 * "dmabuf/<device>/<bar>/<offset>+<length>": the fake's file maps
 * (fake-filemap.c) take it as they take a test's memfd, so
 * IOMMU_IOAS_MAP_FILE of it follows IOMMU_IOAS_MAP's rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "fake-kernel.h"
#include "kabi.h"

int fake_p2p_device_feature(struct fake_kernel *fk, const struct fk_p2p_dev *d, void *arg)
{
	struct vfio_device_feature *f = arg;
	struct ifd_k_vfio_device_feature_dma_buf db;
	struct ifd_k_vfio_region_dma_range rg;
	const size_t hdr = sizeof(*f);
	char label[80];
	uint64_t psz = 4096;
	int fd;

	if (!f)
		return -EFAULT;
	if (f->argsz < hdr)
		return -EINVAL;
	if ((f->flags & VFIO_DEVICE_FEATURE_MASK) != IFD_K_VFIO_DEVICE_FEATURE_DMA_BUF)
		return -ENOTTY;
	if (!d->has_dmabuf)
		return -ENOTTY; /* a kernel without CONFIG_VFIO_PCI_DMABUF */
	if (d->mdev)
		return -EOPNOTSUPP; /* not a vfio-pci device */
	if (f->flags & ~(VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PROBE))
		return -EINVAL;
	if (f->flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	if (!(f->flags & VFIO_DEVICE_FEATURE_GET) || f->argsz < hdr + sizeof(db))
		return -EINVAL;
	memcpy(&db, (char *)arg + hdr, sizeof(db));
	if (!db.nr_ranges || db.flags)
		return -EINVAL;
	if (db.region_index >= VFIO_PCI_ROM_REGION_INDEX || db.region_index >= d->nregions ||
	    !d->region_size[db.region_index])
		return -ENODEV;
	if (db.nr_ranges != 1 || f->argsz < hdr + sizeof(db) + sizeof(rg))
		return -EFAULT; /* the model takes one range */
	memcpy(&rg, (char *)arg + hdr + sizeof(db), sizeof(rg));
	if (!rg.length || (rg.offset & (psz - 1)) || (rg.length & (psz - 1)))
		return -EINVAL;
	if (!(db.open_flags & O_CLOEXEC))
		return -EINVAL; /* the rules: every fd O_CLOEXEC */
	if (rg.offset > d->region_size[db.region_index] || rg.length > d->region_size[db.region_index] - rg.offset)
		return -EINVAL;
	snprintf(label, sizeof(label), "dmabuf/%s/%u/0x%llx+0x%llx", d->name, db.region_index,
		 (unsigned long long)rg.offset, (unsigned long long)rg.length);
	(void)fk;
	fd = memfd_create(label, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)rg.length) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}
