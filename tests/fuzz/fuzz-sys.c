/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* The fuzz-driven system call table (fuzz-sys.h).  Test code: one run at a
 * time, so its state is file-scope. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-sys.h"
#include "kabi.h"

#include <linux/vfio.h>

#define MAX_REQ 8
#define MAX_FILES 16
#define FILE_FD_BASE 60000
#define MODE_OK 0x80
#define MODE_ERR 0xc0

static struct {
	const uint8_t *d;
	size_t n, pos;
	const struct ifd_sys *real;
	struct ifd_sys sys;
	unsigned long req[MAX_REQ];
	int nreq;
	int fd;
	char prefix[64];
	struct { bool used; char *text; size_t len, pos; } files[MAX_FILES];
	FILE *rec; /* record mode */
} fz = { .fd = -1 };

static const int errs[] = { EMSGSIZE, EINVAL, ENOMEM, ENOTTY, EOPNOTSUPP, EFAULT, ENOENT, EIO };

static uint8_t take(void)
{
	return fz.pos < fz.n ? fz.d[fz.pos++] : 0;
}

uint8_t fz_byte(void)
{
	if (fz.rec)
		fputc(0, fz.rec);
	return take();
}

uint32_t fz_u32(void)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)fz_byte() << (8 * i);
	return v;
}

/* One record's header; *@src the bytes (inside the input), *@len how many. */
static uint8_t header(const uint8_t **src, size_t *len)
{
	uint8_t mode = take();
	size_t l = take();

	l |= (size_t)take() << 8;
	if (l > fz.n - fz.pos)
		l = fz.n - fz.pos;
	*src = fz.d + fz.pos;
	*len = l;
	fz.pos += l;
	return mode;
}

static void rec_put(uint8_t mode, const void *a, size_t alen, const void *b, size_t blen)
{
	size_t l = alen + blen;

	if (l > 0xffff)
		l = 0xffff, blen = l - alen;
	fputc(mode, fz.rec);
	fputc((int)(l & 0xff), fz.rec);
	fputc((int)(l >> 8), fz.rec);
	if (alen)
		fwrite(a, 1, alen, fz.rec);
	if (blen)
		fwrite(b, 1, blen, fz.rec);
}

/* Overwrite up to two buffers with the record's bytes. */
static void overlay(const uint8_t *src, size_t len, void *a, size_t alen, void *b, size_t blen)
{
	size_t k = len < alen ? len : alen;

	memcpy(a, src, k);
	src += k;
	len -= k;
	if (b && len)
		memcpy(b, src, len < blen ? len : blen);
}

static int answer(int mode, int real_ret, int real_errno)
{
	if (mode < MODE_OK) {
		errno = real_errno;
		return real_ret;
	}
	if (mode < MODE_ERR)
		return 0;
	errno = errs[mode & 7];
	return -1;
}

/* The caller's buffers of @req: the struct (its argsz or size), and the
 * array it points to.  Sizes are read before the fake kernel answers. */
static void buffers(unsigned long req, void *arg, size_t *alen, void **b, size_t *blen)
{
	uint32_t sz;

	*b = NULL;
	*blen = 0;
	memcpy(&sz, arg, sizeof(sz));
	*alen = sz;
	if (req == IFD_K_IOMMU_IOAS_IOVA_RANGES) {
		struct ifd_k_ioas_iova_ranges q;

		memcpy(&q, arg, sizeof(q));
		*alen = sizeof(q);
		*b = (void *)(uintptr_t)q.allowed_iovas;
		*blen = (size_t)q.num_iovas * sizeof(struct ifd_k_iova_range);
	} else if (req == IFD_K_IOMMU_GET_HW_INFO) {
		struct ifd_k_hw_info h;

		memcpy(&h, arg, sizeof(h));
		*alen = h.size < sizeof(h) ? h.size : sizeof(h);
		*b = (void *)(uintptr_t)h.data_uptr;
		*blen = h.data_len;
	}
}

static int fz_ioctl(int fd, unsigned long req, void *arg)
{
	const uint8_t *src;
	size_t len, alen, blen;
	void *b;
	int i, r, e, mode;

	for (i = 0; i < fz.nreq && fz.req[i] != req; i++)
		;
	if (i == fz.nreq || !arg)
		return fz.real->ioctl(fd, req, arg);
	buffers(req, arg, &alen, &b, &blen);
	r = fz.real->ioctl(fd, req, arg);
	e = errno;
	if (fz.rec) {
		rec_put(0, arg, alen, b, blen);
		errno = e;
		return r;
	}
	mode = header(&src, &len);
	overlay(src, len, arg, alen, b, blen);
	return answer(mode, r, e);
}

static ssize_t rw(int fd, void *buf, size_t cnt, ssize_t r, int e)
{
	const uint8_t *src;
	size_t len;
	uint16_t v;
	int mode;

	if (fz.rec) {
		rec_put(0, buf, buf && r > 0 ? (size_t)r : 0, NULL, 0);
		errno = e;
		return r;
	}
	mode = header(&src, &len);
	if (mode >= MODE_OK && mode < MODE_ERR) {
		v = len >= 2 ? (uint16_t)(src[0] | src[1] << 8) : 0;
		if (len >= 2)
			src += 2, len -= 2;
		if (buf)
			memcpy(buf, src, len < cnt ? len : cnt);
		return v;
	}
	if (buf)
		memcpy(buf, src, len < cnt ? len : cnt);
	return answer(mode, (int)r, e);
}

static ssize_t fz_read(int fd, void *buf, size_t cnt)
{
	ssize_t r;
	int e;

	if (fd >= FILE_FD_BASE && fd < FILE_FD_BASE + MAX_FILES && fz.files[fd - FILE_FD_BASE].used) {
		typeof(fz.files[0]) *f = &fz.files[fd - FILE_FD_BASE];
		size_t k = f->len - f->pos < cnt ? f->len - f->pos : cnt;

		memcpy(buf, f->text + f->pos, k);
		f->pos += k;
		return (ssize_t)k;
	}
	r = fz.real->read(fd, buf, cnt);
	e = errno;
	if (fd != fz.fd)
		return r;
	return rw(fd, buf, cnt, r, e);
}

static ssize_t fz_write(int fd, const void *buf, size_t cnt)
{
	ssize_t r = fz.real->write(fd, buf, cnt);
	int e = errno;

	if (fd != fz.fd)
		return r;
	return rw(fd, NULL, cnt, r, e);
}

static bool under_prefix(const char *path)
{
	return fz.prefix[0] && !strncmp(path, fz.prefix, strlen(fz.prefix));
}

/* Read the fake kernel's whole file (record mode). */
static char *slurp(const char *path, size_t *len)
{
	char *t = NULL;
	size_t cap = 0;
	ssize_t n;
	int fd = fz.real->open(path, O_RDONLY | O_CLOEXEC, 0);

	*len = 0;
	if (fd < 0)
		return NULL;
	for (;;) {
		if (cap - *len < 256 && !(t = realloc(t, cap += 4096)))
			abort();
		n = fz.real->read(fd, t + *len, cap - *len);
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	fz.real->close(fd);
	return t;
}

static int fz_open(const char *path, int flags, mode_t mode)
{
	const uint8_t *src;
	size_t len;
	char *text = NULL;
	int m, i;

	if ((flags & O_ACCMODE) != O_RDONLY || !under_prefix(path))
		return fz.real->open(path, flags, mode);
	if (fz.rec) {
		text = slurp(path, &len);
		if (!text)
			return fz.real->open(path, flags, mode); /* its errno, unrecorded: a miss reads as mode 0 */
		rec_put(MODE_OK, text, len, NULL, 0);
		m = MODE_OK;
		src = (const uint8_t *)text;
	} else {
		m = header(&src, &len);
	}
	if (m < MODE_OK)
		return fz.real->open(path, flags, mode);
	if (m >= MODE_ERR) {
		errno = errs[m & 7];
		return -1;
	}
	for (i = 0; i < MAX_FILES && fz.files[i].used; i++)
		;
	if (i == MAX_FILES) {
		free(text);
		errno = EMFILE;
		return -1;
	}
	fz.files[i].used = true;
	fz.files[i].text = malloc(len ? len : 1);
	memcpy(fz.files[i].text, src, len);
	fz.files[i].len = len;
	fz.files[i].pos = 0;
	free(text);
	return FILE_FD_BASE + i;
}

static int fz_close(int fd)
{
	if (fd >= FILE_FD_BASE && fd < FILE_FD_BASE + MAX_FILES && fz.files[fd - FILE_FD_BASE].used) {
		free(fz.files[fd - FILE_FD_BASE].text);
		fz.files[fd - FILE_FD_BASE].used = false;
		return 0;
	}
	return fz.real->close(fd);
}

static ssize_t fz_readlink(const char *path, char *buf, size_t cnt)
{
	const uint8_t *src;
	size_t len;
	ssize_t r;
	int m;

	r = fz.real->readlink(path, buf, cnt);
	if (!under_prefix(path))
		return r;
	if (fz.rec) {
		if (r >= 0)
			rec_put(MODE_OK, buf, (size_t)r, NULL, 0);
		else
			rec_put(0, NULL, 0, NULL, 0);
		return r;
	}
	m = header(&src, &len);
	if (m < MODE_OK)
		return r;
	if (m >= MODE_ERR) {
		errno = errs[m & 7];
		return -1;
	}
	/* readlink(2) fills at most @cnt bytes and never terminates. */
	if (len > cnt)
		len = cnt;
	memcpy(buf, src, len);
	return (ssize_t)len;
}

static char *fz_realpath(const char *path, char *resolved)
{
	const uint8_t *src;
	size_t len;
	char *r = fz.real->realpath(path, resolved);
	int m;

	if (!under_prefix(path))
		return r;
	if (fz.rec) {
		if (r) /* without its '/', which the answer gets back */
			rec_put(MODE_OK, resolved + 1, strlen(resolved) - 1, NULL, 0);
		else
			rec_put(0, NULL, 0, NULL, 0);
		return r;
	}
	m = header(&src, &len);
	if (m < MODE_OK)
		return r;
	if (m >= MODE_ERR) {
		errno = errs[m & 7];
		return NULL;
	}
	/* realpath(3) always gives an absolute, terminated path of under
	 * PATH_MAX bytes: the links' targets are the kernel's, not its form. */
	if (len > PATH_MAX - 2)
		len = PATH_MAX - 2;
	resolved[0] = '/';
	memcpy(resolved + 1, src, len);
	resolved[len + 1] = '\0';
	return resolved;
}

const struct ifd_sys *fz_begin(struct fake_kernel *fk, const uint8_t *data, size_t size)
{
	FILE *rec = fz.rec;

	memset(&fz, 0, sizeof(fz));
	fz.rec = rec;
	fz.fd = -1;
	fz.d = data;
	fz.n = data ? size : 0;
	fz.real = fake_kernel_sys(fk);
	fz.sys = *fz.real;
	fz.sys.ioctl = fz_ioctl;
	fz.sys.read = fz_read;
	fz.sys.write = fz_write;
	fz.sys.open = fz_open;
	fz.sys.close = fz_close;
	fz.sys.readlink = fz_readlink;
	fz.sys.realpath = fz_realpath;
	return &fz.sys;
}

void fz_end(void)
{
	for (int i = 0; i < MAX_FILES; i++)
		if (fz.files[i].used)
			free(fz.files[i].text);
	memset(fz.files, 0, sizeof(fz.files));
	fz.nreq = 0;
	fz.fd = -1;
	fz.prefix[0] = '\0';
}

void fz_fuzz_ioctl(unsigned long req)
{
	if (fz.nreq < MAX_REQ)
		fz.req[fz.nreq++] = req;
}

void fz_fuzz_fd(int fd)
{
	fz.fd = fd;
}

void fz_fuzz_files(const char *prefix)
{
	snprintf(fz.prefix, sizeof(fz.prefix), "%s", prefix);
}

static void sink(void *data, int level, const char *msg)
{
	/* Touch every byte: a message must be a terminated string. */
	volatile size_t n = strlen(msg);

	(void)data;
	(void)level;
	(void)n;
}

int fz_ctx(struct fake_kernel *fk, enum iommufd_backend backend, struct iommufd_ctx **out)
{
	struct iommufd_ctx_opts o = {
		.sz = sizeof(o),
		.backend = backend,
		.log_fn = sink,
		.log_level = IOMMUFD_LOG_DEBUG,
	};

	(void)fk;
	return ifd_ctx_create_sys(&o, &fz.sys, -1, out);
}

void fz_record_main(int (*one)(const uint8_t *data, size_t size))
{
	const char *path = getenv("IFD_FUZZ_RECORD");

	if (!path || !path[0])
		return;
	fz.rec = fopen(path, "we");
	if (!fz.rec) {
		perror(path);
		exit(1);
	}
	one(NULL, 0);
	if (fclose(fz.rec)) {
		perror(path);
		exit(1);
	}
	exit(0);
}
