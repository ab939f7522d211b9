// SPDX-License-Identifier: GPL-2.0-only
/* Copyright (C) 2026 The libiommufd authors */
/**
 * DOC: mdma overview
 *
 * mdma is a small DMA engine, done in software, as a VFIO mediated device.
 * Each instance is a VFIO device with one region (index 0, 4 KiB, read and
 * written with pread/pwrite on the device fd; no mmap, no interrupts) that
 * holds the engine's registers.  The engine reaches user memory only through
 * the IOVAs of the IOAS (iommufd) or the container (type1) the device is
 * attached to: copies use vfio_dma_rw() and held buffers vfio_pin_pages(),
 * so userspace drivers of the mdev path, and the kernel's emulated-IOMMU
 * code under them, can be tested end to end without hardware.
 *
 * The module registers a parent device, ``/sys/class/mdev_bus/mdma``, with
 * one mdev type, ``mdma-dma``.  Instances are created and removed with the
 * standard mdev sysfs interface::
 *
 *   echo $UUID > /sys/class/mdev_bus/mdma/mdev_supported_types/mdma-dma/create
 *   echo 1 > /sys/bus/mdev/devices/$UUID/remove
 *
 * A dma_unmap callback (the IOAS or container unmapped an IOVA range, or
 * the device moved to another IOAS) releases every held range that overlaps
 * the unmapped one, counts itself in UNMAP_CALLS and records the range.  A
 * command running at the time finishes (or faults) first.
 */

/**
 * DOC: mdma registers
 *
 * Every register is 64 bits, little endian.  Reads may have any size and
 * alignment, writes must be 4 or 8 naturally aligned bytes; writes to
 * read-only or unknown offsets are ignored and the rest of the region reads
 * as 0.  Writing CMD runs a command synchronously: the write returns when the
 * command is done.  ::
 *
 *   0x00 ID            RO  0x414d444d ("MDMA" in ASCII, first byte 'M')
 *   0x08 VERSION       RO  1
 *   0x10 SRC           RW  source IOVA
 *   0x18 DST           RW  destination IOVA
 *   0x20 LEN           RW  length in bytes
 *   0x28 CMD           RW  writing runs a command; reads the last one
 *   0x30 STATUS        RO  outcome of the last command (bits below)
 *   0x38 ERROR         RO  0, or the positive errno of the last failure
 *   0x40 FILL          RW  the byte (bits 7:0) FILL stores
 *   0x48 DELAY_US      RW  COPY waits this long per page (max 20000)
 *   0x50 PINNED_PAGES  RO  pages this instance holds pinned
 *   0x58 PIN_RANGES    RO  pinned ranges it holds (max 16)
 *   0x60 UNMAP_CALLS   RO  dma_unmap callbacks received
 *   0x68 UNMAP_PAGES   RO  pinned pages released by dma_unmap callbacks
 *   0x70 UNMAP_IOVA    RO  IOVA of the last dma_unmap callback
 *   0x78 UNMAP_LEN     RO  length of the last dma_unmap callback
 *   0x80 COPIES        RO  COPY commands that completed
 *   0x88 FAULTS        RO  commands that ended with STATUS FAULT
 *   0x90 BYTES         RO  bytes copied by completed COPY commands
 *   0x98 ABORTS        RO  COPY commands stopped by a fatal signal
 *   0xa0 OPENS         RO  times the device was opened
 *
 * PINNED_PAGES, UNMAP_CALLS, UNMAP_PAGES, COPIES, FAULTS, BYTES, ABORTS and
 * OPENS count for the life of the instance; the other registers are cleared
 * when the device is opened, closed or reset.  The counters are also files
 * in sysfs: per instance in ``/sys/bus/mdev/devices/$UUID/mdma/`` (with
 * pin_ranges, and busy: 1 while a command runs), and summed over all
 * instances in the parent device (with open_instances), where they can be
 * read while no process has the device open, for example to check that no
 * pinned page leaked.
 *
 * Commands, written to CMD::
 *
 *   1 COPY       copy LEN bytes (1 to 1 MiB) from SRC to DST, like memmove
 *   2 PIN        pin the pages covering SRC .. SRC+LEN-1 (max 512 pages)
 *                for reading and writing, and hold them
 *   3 UNPIN      release the held range that contains SRC
 *   4 UNPIN_ALL  release every held range
 *   5 FILL       store the FILL byte in DST .. DST+LEN-1 through the
 *                pinned pages of one held range
 *   6 CLEAR      clear the sticky STATUS bits
 *
 * COPY is all or nothing: the source is read in full and every page of the
 * destination is checked (mapped, writable) before the first byte is
 * written, so a copy touching an IOVA that is not mapped fails with FAULT
 * and writes nothing.  A fatal signal while the source is read stops the
 * copy (ABORTED, nothing written).  Only an unmap racing with the copy can
 * stop it half way.  Held ranges stay pinned until UNPIN, UNPIN_ALL, a
 * reset, the close of the device or a dma_unmap callback that overlaps
 * them.  FILL writes the way a device DMAs into a buffer it pinned, without
 * going through the IOAS; it faults if no held range covers the whole
 * destination.
 *
 * STATUS bits::
 *
 *   bit 0 DONE      the last command completed
 *   bit 1 ERROR     the last command failed; ERROR holds the errno
 *   bit 2 FAULT     ... because an IOVA was not mapped, not mapped for
 *                   the access, or (FILL) not pinned
 *   bit 3 ABORTED   ... because the calling process got a fatal signal
 *   bit 4 INVALID   ... because of a bad command or bad arguments
 *   bit 8 UNMAPPED  sticky: a dma_unmap callback released pinned pages
 *                   since the last CLEAR, open or reset
 */

#include <linux/device.h>
#include <linux/highmem.h>
#include <linux/iommu.h>
#include <linux/jiffies.h>
#include <linux/mdev.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

/* mdma-compat-begin: only out of tree; kernel/mkpatches.sh drops it. */
#include <linux/version.h>
/*
 * Before 6.19 a driver answered VFIO_DEVICE_GET_REGION_INFO in its ioctl op;
 * since then the VFIO core does, through the get_region_info_caps op.
 */
#define MDMA_CORE_REGION_INFO	(LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0))
/* mdma-compat-end */

#define MDMA_NAME		"mdma"

#define MDMA_REG_ID		0x00
#define MDMA_REG_VERSION	0x08
#define MDMA_REG_SRC		0x10
#define MDMA_REG_DST		0x18
#define MDMA_REG_LEN		0x20
#define MDMA_REG_CMD		0x28
#define MDMA_REG_STATUS		0x30
#define MDMA_REG_ERROR		0x38
#define MDMA_REG_FILL		0x40
#define MDMA_REG_DELAY_US	0x48
#define MDMA_REG_PINNED_PAGES	0x50
#define MDMA_REG_PIN_RANGES	0x58
#define MDMA_REG_UNMAP_CALLS	0x60
#define MDMA_REG_UNMAP_PAGES	0x68
#define MDMA_REG_UNMAP_IOVA	0x70
#define MDMA_REG_UNMAP_LEN	0x78
#define MDMA_REG_COPIES		0x80
#define MDMA_REG_FAULTS		0x88
#define MDMA_REG_BYTES		0x90
#define MDMA_REG_ABORTS		0x98
#define MDMA_REG_OPENS		0xa0
#define MDMA_REGION_SIZE	0x1000

#define MDMA_ID			0x414d444dULL
#define MDMA_VERSION		1

#define MDMA_CMD_COPY		1
#define MDMA_CMD_PIN		2
#define MDMA_CMD_UNPIN		3
#define MDMA_CMD_UNPIN_ALL	4
#define MDMA_CMD_FILL		5
#define MDMA_CMD_CLEAR		6

#define MDMA_STATUS_DONE	BIT_ULL(0)
#define MDMA_STATUS_ERROR	BIT_ULL(1)
#define MDMA_STATUS_FAULT	BIT_ULL(2)
#define MDMA_STATUS_ABORTED	BIT_ULL(3)
#define MDMA_STATUS_INVALID	BIT_ULL(4)
#define MDMA_STATUS_UNMAPPED	BIT_ULL(8)
#define MDMA_STATUS_STICKY	MDMA_STATUS_UNMAPPED

#define MDMA_MAX_COPY		SZ_1M
#define MDMA_MAX_DELAY_US	20000
#define MDMA_MAX_PIN_PAGES	VFIO_PIN_PAGES_MAX_ENTRIES
#define MDMA_MAX_PINS		16
#define MDMA_MAX_INSTANCES	16

/* One range of pages held pinned by an instance. */
struct mdma_pin {
	u64 iova;		/* page aligned */
	int npages;
	struct page **pages;
};

/* Counters that outlive opens and resets; also summed in mdma_totals. */
enum mdma_counter {
	MDMA_C_PINNED_PAGES,
	MDMA_C_UNMAP_CALLS,
	MDMA_C_UNMAP_PAGES,
	MDMA_C_COPIES,
	MDMA_C_FAULTS,
	MDMA_C_BYTES,
	MDMA_C_ABORTS,
	MDMA_C_OPENS,
	MDMA_C_NR
};

struct mdma_state {
	struct vfio_device vdev;
	/* Serialises register access, commands and the pinned ranges. */
	struct mutex lock;
	u64 src;
	u64 dst;
	u64 len;
	u64 cmd;
	u64 status;
	u64 error;
	u64 fill;
	u64 delay_us;
	u64 unmap_iova;
	u64 unmap_len;
	bool faulted;		/* the running command saw a DMA fault */
	bool busy;		/* a command is running (sysfs "busy") */
	struct mdma_pin pins[MDMA_MAX_PINS];
	unsigned int npins;
	atomic64_t cnt[MDMA_C_NR];
};

static atomic64_t mdma_totals[MDMA_C_NR];
static atomic_t mdma_open_instances = ATOMIC_INIT(0);

static struct device *mdma_parent_dev;
static struct mdev_parent mdma_parent;

static inline struct mdma_state *to_mdma(struct vfio_device *vdev)
{
	return container_of(vdev, struct mdma_state, vdev);
}

static void mdma_count(struct mdma_state *s, enum mdma_counter c, s64 n)
{
	atomic64_add(n, &s->cnt[c]);
	atomic64_add(n, &mdma_totals[c]);
}

/* A DMA operation (vfio_dma_rw, vfio_pin_pages) failed: an I/O fault. */
static int mdma_fault(struct mdma_state *s, int err)
{
	if (err && err != -EINTR)
		s->faulted = true;
	return err;
}

/* ------------------------------------------------------------ pinning */

static void mdma_release_pin(struct mdma_state *s, unsigned int i)
{
	struct mdma_pin *p = &s->pins[i];

	lockdep_assert_held(&s->lock);
	vfio_unpin_pages(&s->vdev, p->iova, p->npages);
	mdma_count(s, MDMA_C_PINNED_PAGES, -(s64)p->npages);
	kfree(p->pages);
	s->pins[i] = s->pins[--s->npins];
	memset(&s->pins[s->npins], 0, sizeof(s->pins[s->npins]));
}

static unsigned long mdma_release_all(struct mdma_state *s)
{
	unsigned long pages = 0;

	while (s->npins) {
		pages += s->pins[s->npins - 1].npages;
		mdma_release_pin(s, s->npins - 1);
	}
	return pages;
}

/* Pages covering @iova .. @iova + @len - 1; 0 if that overflows. */
static u64 mdma_span_pages(u64 iova, u64 len)
{
	u64 last;

	if (!len || check_add_overflow(iova, len - 1, &last))
		return 0;
	return (last >> PAGE_SHIFT) - (iova >> PAGE_SHIFT) + 1;
}

/* Pin @npages pages from page-aligned @iova; 0 or a negative errno. */
static int mdma_pin_range(struct mdma_state *s, u64 iova, int npages,
			  int prot, struct page **pages)
{
	int ret = vfio_pin_pages(&s->vdev, iova, npages, prot, pages);

	if (ret == npages)
		return 0;
	if (ret > 0) {
		/* Both backends pin all pages or none; just in case. */
		vfio_unpin_pages(&s->vdev, iova, ret);
		ret = -EFAULT;
	}
	return mdma_fault(s, ret ? ret : -EFAULT);
}

static int mdma_cmd_pin(struct mdma_state *s)
{
	u64 npages = mdma_span_pages(s->src, s->len);
	struct mdma_pin *p;
	struct page **pages;
	u64 iova;
	int ret;

	if (!npages || npages > MDMA_MAX_PIN_PAGES)
		return -EINVAL;
	if (s->npins == MDMA_MAX_PINS)
		return -ENOSPC;
	pages = kcalloc(npages, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	iova = s->src & PAGE_MASK;
	ret = mdma_pin_range(s, iova, npages, IOMMU_READ | IOMMU_WRITE, pages);
	if (ret) {
		kfree(pages);
		return ret;
	}
	p = &s->pins[s->npins++];
	p->iova = iova;
	p->npages = npages;
	p->pages = pages;
	mdma_count(s, MDMA_C_PINNED_PAGES, npages);
	return 0;
}

static int mdma_find_pin(struct mdma_state *s, u64 iova, u64 len)
{
	u64 npages = mdma_span_pages(iova, len);
	unsigned int i;

	if (!npages)
		return -1;
	for (i = 0; i < s->npins; i++) {
		struct mdma_pin *p = &s->pins[i];
		u64 first = p->iova >> PAGE_SHIFT;

		if ((iova >> PAGE_SHIFT) >= first &&
		    (iova >> PAGE_SHIFT) + npages <= first + p->npages)
			return i;
	}
	return -1;
}

static int mdma_cmd_unpin(struct mdma_state *s)
{
	int i = mdma_find_pin(s, s->src, 1);

	if (i < 0)
		return -ENOENT;
	mdma_release_pin(s, i);
	return 0;
}

/* Store the FILL byte through the pinned pages, never through the IOAS. */
static int mdma_cmd_fill(struct mdma_state *s)
{
	u64 done = 0, len = s->len;
	struct mdma_pin *p;
	int i;

	if (!len || len > MDMA_MAX_COPY)
		return -EINVAL;
	i = mdma_find_pin(s, s->dst, len);
	if (i < 0)
		return mdma_fault(s, -EFAULT);
	p = &s->pins[i];
	while (done < len) {
		u64 at = s->dst + done;
		unsigned int off = offset_in_page(at);
		unsigned int n = min_t(u64, PAGE_SIZE - off, len - done);
		struct page *pg = p->pages[(at - p->iova) >> PAGE_SHIFT];
		void *va = kmap_local_page(pg);

		memset(va + off, (u8)s->fill, n);
		kunmap_local(va);
		done += n;
	}
	return 0;
}

/* ---------------------------------------------------------------- copy */

/* Wait DELAY_US; false if a fatal signal arrived (now or before). */
static bool mdma_delay(struct mdma_state *s)
{
	if (s->delay_us && !fatal_signal_pending(current))
		schedule_timeout_killable(usecs_to_jiffies(s->delay_us));
	return !fatal_signal_pending(current);
}

/*
 * Read or write @len bytes at @iova, a page at a time.  When @abortable,
 * a fatal signal stops it with -EINTR.
 */
static int mdma_rw(struct mdma_state *s, u64 iova, void *buf, u64 len,
		   bool write, bool abortable)
{
	u64 done = 0;
	int ret;

	while (done < len) {
		u64 at = iova + done;
		u64 n = min_t(u64, PAGE_SIZE - offset_in_page(at), len - done);

		if (!mdma_delay(s) && abortable)
			return -EINTR;
		ret = vfio_dma_rw(&s->vdev, at, buf + done, n, write);
		if (ret)
			return mdma_fault(s, ret);
		done += n;
	}
	return 0;
}

/*
 * Check that every page of the destination is mapped for writing without
 * touching it: pin and at once unpin it, up to MDMA_MAX_PIN_PAGES at a time.
 */
static int mdma_check_writable(struct mdma_state *s, u64 iova, u64 len)
{
	u64 npages = mdma_span_pages(iova, len);
	u64 first = iova & PAGE_MASK;
	struct page **pages;
	int ret = 0;

	pages = kcalloc(MDMA_MAX_PIN_PAGES, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	while (npages && !ret) {
		int n = min_t(u64, npages, MDMA_MAX_PIN_PAGES);

		ret = mdma_pin_range(s, first, n, IOMMU_WRITE, pages);
		if (!ret)
			vfio_unpin_pages(&s->vdev, first, n);
		first += (u64)n << PAGE_SHIFT;
		npages -= n;
	}
	kfree(pages);
	return ret;
}

static int mdma_cmd_copy(struct mdma_state *s)
{
	u64 src = s->src, dst = s->dst, len = s->len;
	void *data;
	int ret;

	if (!len || len > MDMA_MAX_COPY || !mdma_span_pages(src, len) ||
	    !mdma_span_pages(dst, len))
		return -EINVAL;
	data = kvmalloc(len, GFP_KERNEL);
	if (!data)
		return -ENOMEM;
	ret = mdma_rw(s, src, data, len, false, true);
	if (!ret)
		ret = mdma_check_writable(s, dst, len);
	/*
	 * Past this point the copy is not aborted any more: the destination
	 * is known to be writable, so it is written in full (only an unmap
	 * racing with the copy can still stop it half way).
	 */
	if (!ret)
		ret = mdma_rw(s, dst, data, len, true, false);
	kvfree(data);
	if (!ret) {
		mdma_count(s, MDMA_C_COPIES, 1);
		mdma_count(s, MDMA_C_BYTES, len);
	}
	return ret;
}

/* ------------------------------------------------------------ commands */

static void mdma_clear_regs(struct mdma_state *s)
{
	s->src = 0;
	s->dst = 0;
	s->len = 0;
	s->cmd = 0;
	s->status = 0;
	s->error = 0;
	s->fill = 0;
	s->delay_us = 0;
	s->unmap_iova = 0;
	s->unmap_len = 0;
}

static void mdma_run(struct mdma_state *s, u64 cmd)
{
	u64 st = s->status & MDMA_STATUS_STICKY;
	int ret;

	s->cmd = cmd;
	s->faulted = false;
	WRITE_ONCE(s->busy, true);
	switch (cmd) {
	case MDMA_CMD_COPY:
		ret = mdma_cmd_copy(s);
		break;
	case MDMA_CMD_PIN:
		ret = mdma_cmd_pin(s);
		break;
	case MDMA_CMD_UNPIN:
		ret = mdma_cmd_unpin(s);
		break;
	case MDMA_CMD_UNPIN_ALL:
		mdma_release_all(s);
		ret = 0;
		break;
	case MDMA_CMD_FILL:
		ret = mdma_cmd_fill(s);
		break;
	case MDMA_CMD_CLEAR:
		st = 0;
		ret = 0;
		break;
	default:
		ret = -EOPNOTSUPP;
		break;
	}

	WRITE_ONCE(s->busy, false);
	if (!ret) {
		st |= MDMA_STATUS_DONE;
	} else if (ret == -EINTR) {
		st |= MDMA_STATUS_ERROR | MDMA_STATUS_ABORTED;
		mdma_count(s, MDMA_C_ABORTS, 1);
	} else if (s->faulted) {
		st |= MDMA_STATUS_ERROR | MDMA_STATUS_FAULT;
		mdma_count(s, MDMA_C_FAULTS, 1);
	} else if (ret == -ENOMEM) {
		st |= MDMA_STATUS_ERROR;
	} else {
		st |= MDMA_STATUS_ERROR | MDMA_STATUS_INVALID;
	}
	s->status = st;
	s->error = -ret;
}

/* --------------------------------------------------------- the region */

static u64 mdma_reg_read(struct mdma_state *s, unsigned int reg)
{
	switch (reg) {
	case MDMA_REG_ID:
		return MDMA_ID;
	case MDMA_REG_VERSION:
		return MDMA_VERSION;
	case MDMA_REG_SRC:
		return s->src;
	case MDMA_REG_DST:
		return s->dst;
	case MDMA_REG_LEN:
		return s->len;
	case MDMA_REG_CMD:
		return s->cmd;
	case MDMA_REG_STATUS:
		return s->status;
	case MDMA_REG_ERROR:
		return s->error;
	case MDMA_REG_FILL:
		return s->fill;
	case MDMA_REG_DELAY_US:
		return s->delay_us;
	case MDMA_REG_PINNED_PAGES:
		return atomic64_read(&s->cnt[MDMA_C_PINNED_PAGES]);
	case MDMA_REG_PIN_RANGES:
		return s->npins;
	case MDMA_REG_UNMAP_CALLS:
		return atomic64_read(&s->cnt[MDMA_C_UNMAP_CALLS]);
	case MDMA_REG_UNMAP_PAGES:
		return atomic64_read(&s->cnt[MDMA_C_UNMAP_PAGES]);
	case MDMA_REG_UNMAP_IOVA:
		return s->unmap_iova;
	case MDMA_REG_UNMAP_LEN:
		return s->unmap_len;
	case MDMA_REG_COPIES:
		return atomic64_read(&s->cnt[MDMA_C_COPIES]);
	case MDMA_REG_FAULTS:
		return atomic64_read(&s->cnt[MDMA_C_FAULTS]);
	case MDMA_REG_BYTES:
		return atomic64_read(&s->cnt[MDMA_C_BYTES]);
	case MDMA_REG_ABORTS:
		return atomic64_read(&s->cnt[MDMA_C_ABORTS]);
	case MDMA_REG_OPENS:
		return atomic64_read(&s->cnt[MDMA_C_OPENS]);
	default:
		return 0;
	}
}

static void mdma_reg_write(struct mdma_state *s, unsigned int reg, u64 val)
{
	switch (reg) {
	case MDMA_REG_SRC:
		s->src = val;
		break;
	case MDMA_REG_DST:
		s->dst = val;
		break;
	case MDMA_REG_LEN:
		s->len = val;
		break;
	case MDMA_REG_FILL:
		s->fill = val & 0xff;
		break;
	case MDMA_REG_DELAY_US:
		s->delay_us = min_t(u64, val, MDMA_MAX_DELAY_US);
		break;
	case MDMA_REG_CMD:
		mdma_run(s, val);
		break;
	default:
		break;
	}
}

static ssize_t mdma_read(struct vfio_device *vdev, char __user *buf,
			 size_t count, loff_t *ppos)
{
	struct mdma_state *s = to_mdma(vdev);
	loff_t pos = *ppos;
	size_t done = 0;
	int ret;

	if (pos < 0 || pos >= MDMA_REGION_SIZE ||
	    count > MDMA_REGION_SIZE - pos)
		return -EINVAL;
	ret = mutex_lock_killable(&s->lock);
	if (ret)
		return ret;
	while (done < count) {
		unsigned int at = pos + done;
		unsigned int skip = at & 7;
		size_t n = min_t(size_t, 8 - skip, count - done);
		__le64 v = cpu_to_le64(mdma_reg_read(s, at & ~7u));

		if (copy_to_user(buf + done, (u8 *)&v + skip, n)) {
			ret = -EFAULT;
			break;
		}
		done += n;
	}
	mutex_unlock(&s->lock);
	if (ret)
		return ret;
	*ppos += count;
	return count;
}

static ssize_t mdma_write(struct vfio_device *vdev, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	struct mdma_state *s = to_mdma(vdev);
	loff_t pos = *ppos;
	unsigned int reg;
	u64 val;
	int ret;

	if ((count != 4 && count != 8) || pos < 0 ||
	    pos >= MDMA_REGION_SIZE || (pos & (count - 1)))
		return -EINVAL;
	if (count == 8) {
		__le64 v;

		if (copy_from_user(&v, buf, 8))
			return -EFAULT;
		val = le64_to_cpu(v);
	} else {
		__le32 v;

		if (copy_from_user(&v, buf, 4))
			return -EFAULT;
		val = le32_to_cpu(v);
	}
	reg = pos & ~7u;
	ret = mutex_lock_killable(&s->lock);
	if (ret)
		return ret;
	if (count == 4 && reg == MDMA_REG_CMD) {
		/* The low half starts the command; the high half is ignored. */
		if (!(pos & 4))
			mdma_reg_write(s, reg, val);
	} else if (count == 4) {
		unsigned int shift = (pos & 4) * 8;
		u64 old = mdma_reg_read(s, reg);

		old &= ~(0xffffffffULL << shift);
		mdma_reg_write(s, reg, old | (val << shift));
	} else {
		mdma_reg_write(s, reg, val);
	}
	mutex_unlock(&s->lock);
	*ppos += count;
	return count;
}

static int mdma_get_region_info(struct vfio_device *vdev,
				struct vfio_region_info *info,
				struct vfio_info_cap *caps)
{
	if (info->index != 0)
		return -EINVAL;
	info->offset = 0;
	info->size = MDMA_REGION_SIZE;
	info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	return 0;
}

/* ---------------------------------------------------------- VFIO ops */

static void mdma_reset(struct mdma_state *s)
{
	mutex_lock(&s->lock);
	mdma_release_all(s);
	mdma_clear_regs(s);
	mutex_unlock(&s->lock);
}

static long mdma_ioctl(struct vfio_device *vdev, unsigned int cmd,
		       unsigned long arg)
{
	struct mdma_state *s = to_mdma(vdev);
	void __user *uarg = (void __user *)arg;
	unsigned long minsz;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info info;

		minsz = offsetofend(struct vfio_device_info, num_irqs);
		if (copy_from_user(&info, uarg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		info.flags = VFIO_DEVICE_FLAGS_PLATFORM | VFIO_DEVICE_FLAGS_RESET;
		info.num_regions = 1;
		info.num_irqs = 0;
		return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
	}
#if !MDMA_CORE_REGION_INFO
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info info;
		int ret;

		minsz = offsetofend(struct vfio_region_info, offset);
		if (copy_from_user(&info, uarg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		ret = mdma_get_region_info(vdev, &info, NULL);
		if (ret)
			return ret;
		return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
	}
#endif
	case VFIO_DEVICE_RESET:
		mdma_reset(s);
		return 0;
	default:
		/* No interrupts: GET_IRQ_INFO and SET_IRQS end here too. */
		return -EINVAL;
	}
}

static void mdma_dma_unmap(struct vfio_device *vdev, u64 iova, u64 length)
{
	struct mdma_state *s = to_mdma(vdev);
	unsigned long released = 0;
	unsigned int i = 0;
	u64 last;

	if (!length || check_add_overflow(iova, length - 1, &last))
		last = U64_MAX;
	mutex_lock(&s->lock);
	mdma_count(s, MDMA_C_UNMAP_CALLS, 1);
	s->unmap_iova = iova;
	s->unmap_len = length;
	while (i < s->npins) {
		struct mdma_pin *p = &s->pins[i];
		u64 p_last = p->iova + ((u64)p->npages << PAGE_SHIFT) - 1;

		if (p->iova <= last && iova <= p_last) {
			released += p->npages;
			mdma_release_pin(s, i);
			continue;
		}
		i++;
	}
	if (released) {
		s->status |= MDMA_STATUS_UNMAPPED;
		mdma_count(s, MDMA_C_UNMAP_PAGES, released);
	}
	mutex_unlock(&s->lock);
}

static int mdma_open_device(struct vfio_device *vdev)
{
	struct mdma_state *s = to_mdma(vdev);

	mutex_lock(&s->lock);
	mdma_clear_regs(s);
	mutex_unlock(&s->lock);
	mdma_count(s, MDMA_C_OPENS, 1);
	atomic_inc(&mdma_open_instances);
	return 0;
}

static void mdma_close_device(struct vfio_device *vdev)
{
	struct mdma_state *s = to_mdma(vdev);

	/* Pins end with the open: after close nothing may stay pinned. */
	mdma_reset(s);
	atomic_dec(&mdma_open_instances);
}

static int mdma_init_dev(struct vfio_device *vdev)
{
	struct mdma_state *s = to_mdma(vdev);

	mutex_init(&s->lock);
	return 0;
}

static void mdma_release_dev(struct vfio_device *vdev)
{
	struct mdma_state *s = to_mdma(vdev);

	mutex_destroy(&s->lock);
}

static const struct vfio_device_ops mdma_dev_ops = {
	.name = "vfio-mdma",
	.init = mdma_init_dev,
	.release = mdma_release_dev,
	.open_device = mdma_open_device,
	.close_device = mdma_close_device,
	.read = mdma_read,
	.write = mdma_write,
	.ioctl = mdma_ioctl,
#if MDMA_CORE_REGION_INFO
	.get_region_info_caps = mdma_get_region_info,
#endif
	.dma_unmap = mdma_dma_unmap,
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
};

/* -------------------------------------------------------------- sysfs */

/*
 * The same counter files appear in each instance's mdma/ directory (that
 * instance's counts) and in the parent device (the sums of all instances).
 */
struct mdma_attr {
	struct device_attribute dattr;
	enum mdma_counter counter;
};

static ssize_t mdma_counter_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct mdma_attr *a = container_of(attr, struct mdma_attr, dattr);
	struct mdma_state *s = dev_get_drvdata(dev);	/* NULL: the parent */
	atomic64_t *cnt = s ? s->cnt : mdma_totals;

	return sysfs_emit(buf, "%lld\n", atomic64_read(&cnt[a->counter]));
}

#define MDMA_ATTR(_name, _counter)					\
	struct mdma_attr mdma_attr_##_name = {				\
		.dattr = __ATTR(_name, 0444, mdma_counter_show, NULL),	\
		.counter = _counter,					\
	}

static MDMA_ATTR(pinned_pages, MDMA_C_PINNED_PAGES);
static MDMA_ATTR(unmap_calls, MDMA_C_UNMAP_CALLS);
static MDMA_ATTR(unmap_pages, MDMA_C_UNMAP_PAGES);
static MDMA_ATTR(copies, MDMA_C_COPIES);
static MDMA_ATTR(faults, MDMA_C_FAULTS);
static MDMA_ATTR(bytes, MDMA_C_BYTES);
static MDMA_ATTR(aborts, MDMA_C_ABORTS);
static MDMA_ATTR(opens, MDMA_C_OPENS);

static ssize_t pin_ranges_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct mdma_state *s = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u\n", READ_ONCE(s->npins));
}
static DEVICE_ATTR_RO(pin_ranges);

static ssize_t busy_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct mdma_state *s = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", READ_ONCE(s->busy));
}
static DEVICE_ATTR_RO(busy);

static struct attribute *mdma_instance_attrs[] = {
	&mdma_attr_pinned_pages.dattr.attr,
	&dev_attr_pin_ranges.attr,
	&dev_attr_busy.attr,
	&mdma_attr_unmap_calls.dattr.attr,
	&mdma_attr_unmap_pages.dattr.attr,
	&mdma_attr_copies.dattr.attr,
	&mdma_attr_faults.dattr.attr,
	&mdma_attr_bytes.dattr.attr,
	&mdma_attr_aborts.dattr.attr,
	&mdma_attr_opens.dattr.attr,
	NULL
};

static const struct attribute_group mdma_instance_group = {
	.name = MDMA_NAME,
	.attrs = mdma_instance_attrs,
};

static const struct attribute_group *mdma_instance_groups[] = {
	&mdma_instance_group,
	NULL
};

static ssize_t open_instances_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&mdma_open_instances));
}
static DEVICE_ATTR_RO(open_instances);

static struct attribute *mdma_parent_attrs[] = {
	&mdma_attr_pinned_pages.dattr.attr,
	&mdma_attr_unmap_calls.dattr.attr,
	&mdma_attr_unmap_pages.dattr.attr,
	&mdma_attr_copies.dattr.attr,
	&mdma_attr_faults.dattr.attr,
	&mdma_attr_bytes.dattr.attr,
	&mdma_attr_aborts.dattr.attr,
	&mdma_attr_opens.dattr.attr,
	&dev_attr_open_instances.attr,
	NULL
};
ATTRIBUTE_GROUPS(mdma_parent);

/* ------------------------------------------------------- mdev glue */

static int mdma_probe(struct mdev_device *mdev)
{
	struct mdma_state *s;
	int ret;

	s = vfio_alloc_device(mdma_state, vdev, &mdev->dev, &mdma_dev_ops);
	if (IS_ERR(s))
		return PTR_ERR(s);
	dev_set_drvdata(&mdev->dev, s);
	ret = vfio_register_emulated_iommu_dev(&s->vdev);
	if (ret) {
		vfio_put_device(&s->vdev);
		return ret;
	}
	return 0;
}

static void mdma_remove(struct mdev_device *mdev)
{
	struct mdma_state *s = dev_get_drvdata(&mdev->dev);

	vfio_unregister_group_dev(&s->vdev);
	vfio_put_device(&s->vdev);
}

static ssize_t mdma_show_description(struct mdev_type *mtype, char *buf)
{
	return sysfs_emit(buf,
			  "software DMA engine: copies and pins through the IOAS\n");
}

static struct mdev_type mdma_type = {
	.sysfs_name = "dma",
	.pretty_name = "mdma software DMA engine",
};

static struct mdev_type *mdma_types[] = {
	&mdma_type,
};

static struct mdev_driver mdma_driver = {
	.device_api = VFIO_DEVICE_API_PLATFORM_STRING,
	.max_instances = MDMA_MAX_INSTANCES,
	.driver = {
		.name = MDMA_NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = mdma_instance_groups,
	},
	.probe = mdma_probe,
	.remove = mdma_remove,
	.show_description = mdma_show_description,
};

static const struct class mdma_class = {
	.name = MDMA_NAME,
};

static int __init mdma_init(void)
{
	int ret;

	ret = mdev_register_driver(&mdma_driver);
	if (ret)
		return ret;
	ret = class_register(&mdma_class);
	if (ret)
		goto err_driver;
	mdma_parent_dev = device_create_with_groups(&mdma_class, NULL,
						    MKDEV(0, 0), NULL,
						    mdma_parent_groups,
						    MDMA_NAME);
	if (IS_ERR(mdma_parent_dev)) {
		ret = PTR_ERR(mdma_parent_dev);
		goto err_class;
	}
	ret = mdev_register_parent(&mdma_parent, mdma_parent_dev, &mdma_driver,
				   mdma_types, ARRAY_SIZE(mdma_types));
	if (ret)
		goto err_device;
	return 0;

err_device:
	device_unregister(mdma_parent_dev);
err_class:
	class_unregister(&mdma_class);
err_driver:
	mdev_unregister_driver(&mdma_driver);
	return ret;
}

static void __exit mdma_exit(void)
{
	mdev_unregister_parent(&mdma_parent);
	device_unregister(mdma_parent_dev);
	class_unregister(&mdma_class);
	mdev_unregister_driver(&mdma_driver);
}

module_init(mdma_init);
module_exit(mdma_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Software DMA engine as a VFIO mediated device");
