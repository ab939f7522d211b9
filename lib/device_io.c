/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Device access: regions, config space, interrupts, reset (all backends). */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#include "internal.h"

#define PCI_COMMAND_OFF 0x04
#define PCI_COMMAND_MASTER 0x4

static bool dev_ok(const struct iommufd_device *dev)
{
	return dev && dev->state == IFD_ALIVE;
}

static int region_info(struct iommufd_device *dev, unsigned int index, struct vfio_region_info *ri)
{
	if (index >= dev->num_regions)
		return -EINVAL;
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_GET_REGION_INFO, ri);
}

IFD_EXPORT int iommufd_device_get_num_regions(struct iommufd_device *dev)
{
	return dev_ok(dev) ? (int)dev->num_regions : ifd_ret(-EINVAL);
}

IFD_EXPORT int iommufd_device_get_region_info(struct iommufd_device *dev, unsigned int index,
					      struct iommufd_region_info *info)
{
	struct vfio_region_info ri;
	int r;

	if (!dev_ok(dev) || !info)
		return ifd_ret(-EINVAL);
	r = region_info(dev, index, &ri);
	if (r < 0)
		return ifd_ret(r);
	info->size = ri.size;
	info->offset = ri.offset;
	info->flags = 0;
	if (ri.flags & VFIO_REGION_INFO_FLAG_READ)
		info->flags |= IOMMUFD_REGION_F_READ;
	if (ri.flags & VFIO_REGION_INFO_FLAG_WRITE)
		info->flags |= IOMMUFD_REGION_F_WRITE;
	if (ri.flags & VFIO_REGION_INFO_FLAG_MMAP)
		info->flags |= IOMMUFD_REGION_F_MMAP;
	return 0;
}

IFD_EXPORT int iommufd_device_map_region(struct iommufd_device *dev, unsigned int index, void **addr, size_t *len)
{
	struct vfio_region_info ri;
	void *p;
	int r;

	if (!dev_ok(dev) || !addr || !len || index >= IFD_MAX_REGIONS)
		return ifd_ret(-EINVAL);
	r = region_info(dev, index, &ri);
	if (r < 0)
		return ifd_ret(r);
	if (!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP) || !ri.size) {
		ifd_dbg(dev->ctx, "%s: region %u cannot be mmapped; use iommufd_device_region_read/write", dev->name,
			index);
		return ifd_ret(-EOPNOTSUPP);
	}
	pthread_mutex_lock(&dev->lock);
	if (dev->maps[index].addr) {
		/* Already mapped: hand out the same mapping. */
		*addr = dev->maps[index].addr;
		*len = dev->maps[index].len;
		pthread_mutex_unlock(&dev->lock);
		return 0;
	}
	p = dev->ctx->sys->mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd, (off_t)ri.offset);
	if (p == MAP_FAILED) {
		r = -errno;
		pthread_mutex_unlock(&dev->lock);
		ifd_err(dev->ctx, "%s: mmap of region %u (%llu bytes) failed: %s", dev->name, index,
			(unsigned long long)ri.size, strerror(-r));
		return ifd_ret(r);
	}
	dev->maps[index].addr = p;
	dev->maps[index].len = ri.size;
	pthread_mutex_unlock(&dev->lock);
	*addr = p;
	*len = ri.size;
	return 0;
}

IFD_EXPORT int iommufd_device_unmap_region(struct iommufd_device *dev, unsigned int index)
{
	int r = 0;

	if (!dev_ok(dev) || index >= IFD_MAX_REGIONS)
		return ifd_ret(-EINVAL);
	pthread_mutex_lock(&dev->lock);
	if (!dev->maps[index].addr)
		r = -ENOENT;
	else if (dev->ctx->sys->munmap(dev->maps[index].addr, dev->maps[index].len) < 0)
		r = -errno;
	else
		dev->maps[index].addr = NULL;
	pthread_mutex_unlock(&dev->lock);
	return ifd_ret(r);
}

/*
 * One pread/pwrite per naturally aligned 1/2/4/8-byte access: VFIO turns
 * each into a single MMIO access of that width, which device registers
 * need; larger or odd requests are split into such pieces.
 */
static int region_rw(struct iommufd_device *dev, unsigned int index, uint64_t off, void *buf, size_t len, bool write)
{
	struct vfio_region_info ri;
	size_t done = 0;
	int r;

	if (!dev_ok(dev) || !buf || !len)
		return -EINVAL;
	r = region_info(dev, index, &ri);
	if (r < 0)
		return r;
	if (off > ri.size || len > ri.size - off)
		return -EINVAL;
	if (!(ri.flags & (write ? VFIO_REGION_INFO_FLAG_WRITE : VFIO_REGION_INFO_FLAG_READ)))
		return -EACCES;
	while (done < len) {
		uint64_t at = off + done;
		size_t chunk = 8;
		ssize_t n;

		while (chunk > 1 && (chunk > len - done || (at & (chunk - 1))))
			chunk >>= 1;
		if (write)
			n = dev->ctx->sys->pwrite(dev->fd, (char *)buf + done, chunk, (off_t)(ri.offset + at));
		else
			n = dev->ctx->sys->pread(dev->fd, (char *)buf + done, chunk, (off_t)(ri.offset + at));
		if (n < 0)
			return -errno;
		if ((size_t)n != chunk)
			return -EIO;
		done += chunk;
	}
	return 0;
}

IFD_EXPORT int iommufd_device_region_read(struct iommufd_device *dev, unsigned int index, uint64_t off, void *buf,
					  size_t len)
{
	return ifd_ret(region_rw(dev, index, off, buf, len, false));
}

IFD_EXPORT int iommufd_device_region_write(struct iommufd_device *dev, unsigned int index, uint64_t off,
					   const void *buf, size_t len)
{
	return ifd_ret(region_rw(dev, index, off, (void *)buf, len, true));
}

IFD_EXPORT int iommufd_device_config_read(struct iommufd_device *dev, uint64_t off, void *buf, size_t len)
{
	return ifd_ret(region_rw(dev, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len, false));
}

IFD_EXPORT int iommufd_device_config_write(struct iommufd_device *dev, uint64_t off, const void *buf, size_t len)
{
	return ifd_ret(region_rw(dev, VFIO_PCI_CONFIG_REGION_INDEX, off, (void *)buf, len, true));
}

IFD_EXPORT int iommufd_device_set_bus_master(struct iommufd_device *dev, bool enable)
{
	uint16_t cmd;
	int r;

	if (!dev_ok(dev))
		return ifd_ret(-EINVAL);
	pthread_mutex_lock(&dev->lock); /* read-modify-write of one register */
	r = region_rw(dev, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND_OFF, &cmd, sizeof(cmd), false);
	if (r == 0) {
		cmd = le16toh(cmd);
		cmd = enable ? (uint16_t)(cmd | PCI_COMMAND_MASTER) : (uint16_t)(cmd & ~PCI_COMMAND_MASTER);
		cmd = htole16(cmd);
		r = region_rw(dev, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND_OFF, &cmd, sizeof(cmd), true);
	}
	pthread_mutex_unlock(&dev->lock);
	return ifd_ret(r);
}

static int irq_info(struct iommufd_device *dev, unsigned int type, struct vfio_irq_info *ii)
{
	if (type >= dev->num_irqs)
		return -EINVAL;
	memset(ii, 0, sizeof(*ii));
	ii->argsz = sizeof(*ii);
	ii->index = type;
	return ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_GET_IRQ_INFO, ii);
}

IFD_EXPORT int iommufd_device_get_irq_count(struct iommufd_device *dev, unsigned int type)
{
	struct vfio_irq_info ii;
	int r;

	if (!dev_ok(dev))
		return ifd_ret(-EINVAL);
	if (type >= dev->num_irqs)
		return 0;
	r = irq_info(dev, type, &ii);
	if (r < 0)
		return ifd_ret(r);
	return ii.count > INT32_MAX ? INT32_MAX : (int)ii.count;
}

IFD_EXPORT int iommufd_device_irq_enable(struct iommufd_device *dev, unsigned int type, unsigned int start,
					 unsigned int count, const int *eventfds)
{
	struct vfio_irq_info ii;
	struct vfio_irq_set *set;
	size_t sz;
	int r;

	if (!dev_ok(dev) || !count || !eventfds || count > 2048)
		return ifd_ret(-EINVAL);
	r = irq_info(dev, type, &ii);
	if (r < 0)
		return ifd_ret(r);
	if (start >= ii.count || count > ii.count - start || !(ii.flags & VFIO_IRQ_INFO_EVENTFD))
		return ifd_ret(-EINVAL);
	sz = sizeof(*set) + count * sizeof(int32_t);
	set = calloc(1, sz);
	if (!set)
		return ifd_ret(-ENOMEM);
	set->argsz = (uint32_t)sz;
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = type;
	set->start = start;
	set->count = count;
	memcpy(set->data, eventfds, count * sizeof(int32_t));
	r = ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_SET_IRQS, set);
	free(set);
	if (r < 0)
		ifd_err(dev->ctx, "%s: VFIO_DEVICE_SET_IRQS (type %u, %u vectors) failed: %s", dev->name, type, count,
			strerror(-r));
	return ifd_ret(r);
}

IFD_EXPORT int iommufd_device_irq_disable(struct iommufd_device *dev, unsigned int type)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = type,
		.start = 0,
		.count = 0,
	};

	if (!dev_ok(dev) || type >= dev->num_irqs)
		return ifd_ret(-EINVAL);
	return ifd_ret(ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_SET_IRQS, &set));
}

IFD_EXPORT int iommufd_device_irq_unmask(struct iommufd_device *dev, unsigned int type, unsigned int index)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
		.index = type,
		.start = index,
		.count = 1,
	};

	if (!dev_ok(dev) || type >= dev->num_irqs)
		return ifd_ret(-EINVAL);
	return ifd_ret(ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_SET_IRQS, &set));
}

IFD_EXPORT int iommufd_device_reset(struct iommufd_device *dev)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	int r;

	if (!dev_ok(dev))
		return ifd_ret(-EINVAL);
	r = ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_GET_INFO, &info);
	if (r == 0 && !(info.flags & VFIO_DEVICE_FLAGS_RESET)) {
		ifd_err(dev->ctx, "%s: the device has no reset method", dev->name);
		return ifd_ret(-EOPNOTSUPP);
	}
	if (r == 0)
		r = ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_RESET, NULL);
	return ifd_ret(r);
}
