/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* Device access: regions, config space, interrupts, reset (all backends). */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#include "internal.h"

#define PCI_COMMAND_OFF 0x04
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_MEMORY 0x2

static bool dev_ok(const struct iommufd_device *dev)
{
	return dev && dev->state == IFD_ALIVE;
}

/* More would be a kernel answer gone wrong (vfio-pci has 9 plus a few
 * device-specific ones); refuse it rather than allocate for it. */
#define IFD_MAX_REGIONS 4096
/* Largest VFIO_DEVICE_GET_REGION_INFO answer (header plus capabilities). */
#define IFD_MAX_REGION_INFO (64 * 1024)

/*
 * Find capability @id in the chain of a VFIO info answer: @buf holds @len
 * bytes, the chain starts at @first.  Every header, and the @minsz bytes of
 * the capability found, must lie inside the buffer, 8-byte aligned after
 * the fixed part; a chain with more hops than headers fit in the buffer
 * loops.  Returns the offset, 0 if absent, or -EIO for a malformed chain.
 */
static long cap_find(const uint8_t *buf, size_t len, size_t fixed, uint32_t first, uint16_t id, size_t minsz)
{
	struct vfio_info_cap_header h;
	size_t hops = 0;

	for (uint32_t at = first; at; at = h.next) {
		if (at < fixed || (at & 7) || at > len || len - at < sizeof(h) || ++hops > len / sizeof(h))
			return -EIO;
		memcpy(&h, buf + at, sizeof(h));
		if (h.id == id)
			return len - at < minsz ? -EIO : (long)at;
	}
	return 0;
}

static int parse_sparse(struct iommufd_device *dev, unsigned int index, struct ifd_region *rg, const uint8_t *buf,
			size_t len, size_t at)
{
	struct vfio_region_info_cap_sparse_mmap cap;

	memcpy(&cap, buf + at, sizeof(cap));
	if (cap.nr_areas > (len - at - sizeof(cap)) / sizeof(struct vfio_region_sparse_mmap_area)) {
		ifd_err(dev->ctx, "%s: region %u: the kernel's sparse-mmap capability claims %u areas, more than its "
			"answer holds", dev->name, index, cap.nr_areas);
		return -EIO;
	}
	rg->sparse = true;
	rg->nareas = cap.nr_areas;
	rg->areas = calloc(cap.nr_areas ? cap.nr_areas : 1, sizeof(*rg->areas));
	if (!rg->areas)
		return -ENOMEM;
	for (uint32_t i = 0; i < cap.nr_areas; i++) {
		struct vfio_region_sparse_mmap_area a;

		memcpy(&a, buf + at + sizeof(cap) + i * sizeof(a), sizeof(a));
		if (!a.size || a.offset > rg->size || a.size > rg->size - a.offset) {
			ifd_err(dev->ctx, "%s: region %u: sparse-mmap area %u (0x%llx+0x%llx) lies outside the region "
				"(0x%llx bytes)", dev->name, index, i, (unsigned long long)a.offset,
				(unsigned long long)a.size, (unsigned long long)rg->size);
			return -EIO;
		}
		rg->areas[i] = (struct iommufd_region_area){ a.offset, a.size };
	}
	return 0;
}

/* Describe region @index, capabilities included, into @rg. */
static int read_region(struct iommufd_device *dev, unsigned int index, struct ifd_region *rg)
{
	size_t sz = sizeof(struct vfio_region_info) + 256;
	struct vfio_region_info ri;
	uint8_t *buf = NULL;
	long at;
	int r;

	/* The kernel grows argsz to what the capabilities need; it may
	 * change between calls (a hot-plugged capability), so try twice. */
	for (int tries = 0;; tries++) {
		uint8_t *nb = realloc(buf, sz);

		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		memset(buf, 0, sz);
		ri = (struct vfio_region_info){ .argsz = (uint32_t)sz, .index = index };
		memcpy(buf, &ri, sizeof(ri));
		r = ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_GET_REGION_INFO, buf);
		if (r == -EINVAL && index == VFIO_PCI_VGA_REGION_INDEX) {
			/* vfio-pci's answer for the VGA region of a device that
			 * is not VGA: absent, size 0.  Any other EINVAL is one. */
			ifd_dbg(dev->ctx, "%s: region %u: the kernel reports none", dev->name, index);
			r = 0;
			goto out;
		}
		if (r < 0) {
			ifd_err(dev->ctx, "%s: VFIO_DEVICE_GET_REGION_INFO %u failed: %s", dev->name, index, strerror(-r));
			goto out;
		}
		memcpy(&ri, buf, sizeof(ri));
		if (ri.argsz <= sz)
			break;
		if (ri.argsz > IFD_MAX_REGION_INFO || tries) {
			ifd_err(dev->ctx, "%s: VFIO_DEVICE_GET_REGION_INFO %u wants %u bytes after %zu: refused",
				dev->name, index, ri.argsz, sz);
			r = -EIO;
			goto out;
		}
		sz = ri.argsz;
	}
	*rg = (struct ifd_region){ .size = ri.size, .offset = ri.offset, .flags = ri.flags };
	if ((ri.flags & VFIO_REGION_INFO_FLAG_CAPS) && ri.cap_offset) {
		at = cap_find(buf, sz, sizeof(ri), ri.cap_offset, VFIO_REGION_INFO_CAP_TYPE,
			      sizeof(struct vfio_region_info_cap_type));
		if (at > 0) {
			struct vfio_region_info_cap_type t;

			memcpy(&t, buf + at, sizeof(t));
			rg->has_type = true;
			rg->type = t.type;
			rg->subtype = t.subtype;
		}
		if (at >= 0 && (ri.flags & VFIO_REGION_INFO_FLAG_MMAP))
			at = cap_find(buf, sz, sizeof(ri), ri.cap_offset, VFIO_REGION_INFO_CAP_SPARSE_MMAP,
				      sizeof(struct vfio_region_info_cap_sparse_mmap));
		if (at < 0) {
			ifd_err(dev->ctx, "%s: VFIO_DEVICE_GET_REGION_INFO %u: malformed capability chain (offset %u "
				"in a %zu-byte answer): refused", dev->name, index, ri.cap_offset, sz);
			r = -EIO;
			goto out;
		}
		if (at > 0 && (ri.flags & VFIO_REGION_INFO_FLAG_MMAP))
			r = parse_sparse(dev, index, rg, buf, sz, (size_t)at);
	}
out:
	free(buf);
	return r < 0 ? r : 0;
}

/* At open: every region's description, so that an access costs one
 * system call. */
int ifd_dev_read_regions(struct iommufd_device *dev)
{
	int r;

	if (dev->num_regions > IFD_MAX_REGIONS) {
		ifd_err(dev->ctx, "%s: VFIO_DEVICE_GET_INFO reports %u regions: refused", dev->name, dev->num_regions);
		return -EIO;
	}
	dev->regions = calloc(dev->num_regions ? dev->num_regions : 1, sizeof(*dev->regions));
	if (!dev->regions)
		return -ENOMEM;
	for (uint32_t i = 0; i < dev->num_regions; i++) {
		r = read_region(dev, i, &dev->regions[i]);
		if (r < 0) {
			ifd_dev_free_regions(dev);
			return r;
		}
	}
	return 0;
}

/* Kept on failure, so that a later unmap can try again. */
static int unmap_region(struct iommufd_device *dev, struct ifd_region *rg)
{
	const struct ifd_sys *sys = dev->ctx->sys;
	uint64_t pg = (uint64_t)dev->ctx->page_size;
	int r = 0;

	if (!rg->map)
		return 0;
	/* The areas first, then the reservation around them. */
	for (uint32_t i = 0; rg->sparse && i < rg->nareas; i++)
		if (!((rg->areas[i].offset | rg->areas[i].size) & (pg - 1)) &&
		    sys->munmap((uint8_t *)rg->map + rg->areas[i].offset, rg->areas[i].size) < 0 && !r)
			r = -errno;
	if (sys->munmap(rg->map, rg->size) < 0 && !r)
		r = -errno;
	if (r == 0)
		rg->map = NULL;
	return r;
}

void ifd_dev_unmap_regions(struct iommufd_device *dev)
{
	for (uint32_t i = 0; dev->regions && i < dev->num_regions; i++)
		unmap_region(dev, &dev->regions[i]); /* the handle goes: nothing to retry with */
}

void ifd_dev_free_regions(struct iommufd_device *dev)
{
	for (uint32_t i = 0; dev->regions && i < dev->num_regions; i++)
		free(dev->regions[i].areas);
	free(dev->regions);
	dev->regions = NULL;
}

static struct ifd_region *region_get(struct iommufd_device *dev, unsigned int index)
{
	return dev_ok(dev) && index < dev->num_regions ? &dev->regions[index] : NULL;
}

IFD_EXPORT int iommufd_device_get_num_regions(struct iommufd_device *dev)
{
	return dev_ok(dev) ? (int)dev->num_regions : ifd_ret(-EINVAL);
}

IFD_EXPORT int iommufd_device_get_region_info(struct iommufd_device *dev, unsigned int index,
					      struct iommufd_region_info *info)
{
	const struct ifd_region *rg = region_get(dev, index);

	if (!rg || !info)
		return ifd_ret(-EINVAL);
	info->size = rg->size;
	info->offset = rg->offset;
	info->flags = 0;
	if (rg->flags & VFIO_REGION_INFO_FLAG_READ)
		info->flags |= IOMMUFD_REGION_F_READ;
	if (rg->flags & VFIO_REGION_INFO_FLAG_WRITE)
		info->flags |= IOMMUFD_REGION_F_WRITE;
	if (rg->flags & VFIO_REGION_INFO_FLAG_MMAP)
		info->flags |= IOMMUFD_REGION_F_MMAP;
	return 0;
}

IFD_EXPORT int iommufd_device_get_region_areas(struct iommufd_device *dev, unsigned int index,
					       struct iommufd_region_area *areas, size_t max)
{
	const struct ifd_region *rg = region_get(dev, index);

	if (!rg || (max && !areas))
		return ifd_ret(-EINVAL);
	if (!(rg->flags & VFIO_REGION_INFO_FLAG_MMAP) || !rg->size)
		return 0;
	if (!rg->sparse) {
		if (max)
			areas[0] = (struct iommufd_region_area){ 0, rg->size };
		return 1;
	}
	for (uint32_t i = 0; i < rg->nareas && i < max; i++)
		areas[i] = rg->areas[i];
	return rg->nareas > INT32_MAX ? INT32_MAX : (int)rg->nareas;
}

IFD_EXPORT int iommufd_device_get_region_type(struct iommufd_device *dev, unsigned int index, uint32_t *type,
					      uint32_t *subtype)
{
	const struct ifd_region *rg = region_get(dev, index);

	if (!rg || !type || !subtype)
		return ifd_ret(-EINVAL);
	if (!rg->has_type)
		return ifd_ret(-ENOENT);
	*type = rg->type;
	*subtype = rg->subtype;
	return 0;
}

/* Reserve the region's range and map the sparse areas into it, so that
 * offsets stay as in the region and the holes fault. */
static void *map_sparse(struct iommufd_device *dev, unsigned int index, struct ifd_region *rg)
{
	const struct ifd_sys *sys = dev->ctx->sys;
	uint64_t pg = (uint64_t)dev->ctx->page_size;
	uint8_t *base;
	int err;

	base = sys->mmap(NULL, rg->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return MAP_FAILED;
	for (uint32_t i = 0; i < rg->nareas; i++) {
		const struct iommufd_region_area *a = &rg->areas[i];
		void *p;

		if ((a->offset | a->size) & (pg - 1)) {
			ifd_dbg(dev->ctx, "%s: region %u: sparse area 0x%llx+0x%llx is not page aligned; left "
				"unmapped", dev->name, index, (unsigned long long)a->offset, (unsigned long long)a->size);
			continue;
		}
		p = sys->mmap(base + a->offset, a->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, dev->fd,
			      (off_t)(rg->offset + a->offset));
		if (p == MAP_FAILED) {
			err = errno;
			while (i--)
				if (!((rg->areas[i].offset | rg->areas[i].size) & (pg - 1)))
					sys->munmap(base + rg->areas[i].offset, rg->areas[i].size);
			sys->munmap(base, rg->size);
			errno = err;
			return MAP_FAILED;
		}
	}
	return base;
}

IFD_EXPORT int iommufd_device_map_region(struct iommufd_device *dev, unsigned int index, void **addr, size_t *len)
{
	struct ifd_region *rg = region_get(dev, index);
	void *p;
	int r;

	if (!rg || !addr || !len)
		return ifd_ret(-EINVAL);
	if (!(rg->flags & VFIO_REGION_INFO_FLAG_MMAP) || !rg->size || rg->size > SIZE_MAX ||
	    (rg->sparse && !rg->nareas)) {
		ifd_dbg(dev->ctx, "%s: region %u cannot be mmapped; use iommufd_device_region_read/write", dev->name,
			index);
		return ifd_ret(-EOPNOTSUPP);
	}
	if (ifd_forked(dev->ctx))
		return ifd_ret(-ECHILD);
	pthread_mutex_lock(&dev->lock);
	if (rg->map) {
		/* Already mapped: hand out the same mapping. */
		*addr = rg->map;
		*len = rg->size;
		pthread_mutex_unlock(&dev->lock);
		return 0;
	}
	if (rg->sparse)
		p = map_sparse(dev, index, rg);
	else
		p = dev->ctx->sys->mmap(NULL, rg->size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd, (off_t)rg->offset);
	if (p == MAP_FAILED) {
		r = -errno;
		pthread_mutex_unlock(&dev->lock);
		ifd_err(dev->ctx, "%s: mmap of region %u (%llu bytes) failed: %s", dev->name, index,
			(unsigned long long)rg->size, strerror(-r));
		return ifd_ret(r);
	}
	rg->map = p;
	pthread_mutex_unlock(&dev->lock);
	*addr = p;
	*len = rg->size;
	return 0;
}

IFD_EXPORT int iommufd_device_unmap_region(struct iommufd_device *dev, unsigned int index)
{
	struct ifd_region *rg = region_get(dev, index);
	int r = 0;

	if (!rg)
		return ifd_ret(-EINVAL);
	pthread_mutex_lock(&dev->lock);
	if (!rg->map)
		r = -ENOENT;
	else
		r = unmap_region(dev, rg);
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
	const struct ifd_region *rg = region_get(dev, index);
	size_t done = 0;

	if (!rg || !buf || !len)
		return -EINVAL;
	if (off > rg->size || len > rg->size - off)
		return -EINVAL;
	if (!(rg->flags & (write ? VFIO_REGION_INFO_FLAG_WRITE : VFIO_REGION_INFO_FLAG_READ)))
		return -EACCES;
	/* The fork rule: a child's access would reach the parent's device. */
	if (ifd_forked(dev->ctx))
		return -ECHILD;
	while (done < len) {
		uint64_t at = off + done;
		size_t chunk = 8;
		ssize_t n;

		while (chunk > 1 && (chunk > len - done || (at & (chunk - 1))))
			chunk >>= 1;
		if (write)
			n = dev->ctx->sys->pwrite(dev->fd, (char *)buf + done, chunk, (off_t)(rg->offset + at));
		else
			n = dev->ctx->sys->pread(dev->fd, (char *)buf + done, chunk, (off_t)(rg->offset + at));
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
	int r = region_rw(dev, VFIO_PCI_CONFIG_REGION_INDEX, off, (void *)buf, len, true);

	/* VFIO revokes the device's dma-bufs when Memory Space Enable goes
	 * off. */
	if (r == 0 && off <= PCI_COMMAND_OFF && off + len > PCI_COMMAND_OFF &&
	    !(((const uint8_t *)buf)[PCI_COMMAND_OFF - off] & PCI_COMMAND_MEMORY))
		ifd_p2p_exporter_event(dev, "turning its memory decode off", false);
	return ifd_ret(r);
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
	if (r == 0) {
		r = ifd_ioctl(dev->ctx, dev->fd, VFIO_DEVICE_RESET, NULL);
		/* VFIO revokes the device's dma-bufs before it tries the
		 * reset, so a failed reset revoked them too; only EINVAL (no
		 * reset method) comes before that. */
		if (r != -EINVAL && r != -ECHILD)
			ifd_p2p_exporter_event(dev, "resetting the device", false);
	}
	return ifd_ret(r);
}
