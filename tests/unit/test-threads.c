/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * Concurrency: many threads mapping, unmapping and looking up on one IOAS
 * (every backend), then the documented interleavings replayed
 * deterministically by running the "other thread's" call from inside a
 * kernel call of the first (fake_kernel_before_ioctl()).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "fake-kernel.h"

#define PG 0x1000ULL
#define RW (IOMMUFD_MAP_READ | IOMMUFD_MAP_WRITE)

#define WRITERS 8
#define READERS 2
#define OPS 2000
#define SLOTS 16
#define SLOT_PAGES 4

static const enum iommufd_backend B_CDEV = IOMMUFD_BACKEND_CDEV;
static const enum iommufd_backend B_GROUP = IOMMUFD_BACKEND_GROUP;
static const enum iommufd_backend B_TYPE1 = IOMMUFD_BACKEND_TYPE1;

/* ------------------------------------------------------------------------ */
/* Stress                                                                   */

struct live {
	uint64_t iova, len;
	bool used;
};

struct shared {
	struct iommufd_ioas *ioas;
	uint8_t *mem; /* WRITERS * SLOTS * SLOT_PAGES pages */
	/* every IOVA range some thread holds, to catch a range handed out twice */
	pthread_mutex_t lock;
	struct live owned[WRITERS * SLOTS];
	atomic_int failures;
	char first[256];
	atomic_bool done;
	struct live slots[WRITERS][SLOTS];
	unsigned long maps, unmaps, lookups;
};

struct worker {
	struct shared *sh;
	int id;
};

static void failf(struct shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failf(struct shared *sh, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&sh->lock);
	if (atomic_fetch_add(&sh->failures, 1) == 0) {
		va_start(ap, fmt);
		vsnprintf(sh->first, sizeof(sh->first), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&sh->lock);
}

#define CHECK(sh, cond, ...)                       \
	do {                                       \
		if (!(cond))                       \
			failf((sh), __VA_ARGS__);  \
	} while (0)

static void own(struct shared *sh, int slot, uint64_t iova, uint64_t len)
{
	pthread_mutex_lock(&sh->lock);
	for (int i = 0; i < WRITERS * SLOTS; i++) {
		struct live *o = &sh->owned[i];

		if (o->used && o->iova < iova + len && iova < o->iova + o->len) {
			pthread_mutex_unlock(&sh->lock);
			failf(sh, "IOVA 0x%llx+0x%llx handed out while 0x%llx+0x%llx is live", (unsigned long long)iova,
			      (unsigned long long)len, (unsigned long long)o->iova, (unsigned long long)o->len);
			pthread_mutex_lock(&sh->lock);
			break;
		}
	}
	sh->owned[slot] = (struct live){ iova, len, true };
	pthread_mutex_unlock(&sh->lock);
}

static void disown(struct shared *sh, int slot)
{
	pthread_mutex_lock(&sh->lock);
	sh->owned[slot].used = false;
	pthread_mutex_unlock(&sh->lock);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *writer(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint64_t seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(w->id + 1);
	struct live *sl = sh->slots[w->id];
	unsigned long maps = 0, unmaps = 0;

	for (int op = 0; op < OPS; op++) {
		int k = (int)(rnd(&seed) % SLOTS);
		uint8_t *va = sh->mem + ((size_t)(w->id * SLOTS + k) * SLOT_PAGES) * PG;

		if (!sl[k].used) {
			uint64_t len = (1 + rnd(&seed) % SLOT_PAGES) * PG, iova = 0, tr = 0;
			struct iommufd_map_opts o = { .sz = sizeof(o) };
			uint32_t flags = RW;
			struct iommufd_map_info info;
			int r;

			if (rnd(&seed) % 8 == 0) {
				/* a fixed map in this thread's own window */
				o.iova = 0x40000000ULL + (uint64_t)w->id * 0x1000000ULL + (uint64_t)k * SLOT_PAGES * PG;
				flags |= IOMMUFD_MAP_FIXED;
			}
			r = iommufd_ioas_map(sh->ioas, va, len, flags, &o, &iova);
			CHECK(sh, r == 0, "thread %d: map failed: %d", w->id, r);
			if (r)
				continue;
			CHECK(sh, iova && !(iova % PG), "thread %d: bad IOVA 0x%llx", w->id, (unsigned long long)iova);
			CHECK(sh, !(flags & IOMMUFD_MAP_FIXED) || iova == o.iova, "thread %d: fixed map moved", w->id);
			own(sh, w->id * SLOTS + k, iova, len);
			sl[k] = (struct live){ iova, len, true };
			maps++;
			/* our own mapping is visible to lookups at once */
			r = iommufd_ioas_find_iova(sh->ioas, iova + len - 1, &info);
			CHECK(sh, r == 0 && info.iova == iova && info.len == len && info.vaddr == va,
			      "thread %d: find_iova of a live mapping: %d", w->id, r);
			r = iommufd_ioas_translate(sh->ioas, va + 8, len - 8, &tr);
			CHECK(sh, r == 0 && tr == iova + 8, "thread %d: translate of a live mapping: %d", w->id, r);
		} else {
			int r;

			disown(sh, w->id * SLOTS + k);
			r = iommufd_ioas_unmap(sh->ioas, sl[k].iova, sl[k].len, NULL);
			CHECK(sh, r == 0, "thread %d: unmap of 0x%llx failed: %d", w->id, (unsigned long long)sl[k].iova,
			      r);
			sl[k].used = false;
			unmaps++;
		}
	}
	pthread_mutex_lock(&sh->lock);
	sh->maps += maps;
	sh->unmaps += unmaps;
	pthread_mutex_unlock(&sh->lock);
	return NULL;
}

static void *reader(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint64_t seed = 0x12345ULL + (uint64_t)w->id;
	unsigned long n = 0;

	while (!atomic_load(&sh->done)) {
		struct iommufd_map_info info;
		uint64_t iova = (rnd(&seed) % 0x400000ULL) & ~7ULL, tr;
		size_t off = (size_t)(rnd(&seed) % ((size_t)WRITERS * SLOTS * SLOT_PAGES * PG - 8));
		int r;

		r = iommufd_ioas_find_iova(sh->ioas, iova, &info);
		CHECK(sh, r == 0 || r == -ENOENT, "reader: find_iova: %d", r);
		if (r == 0)
			CHECK(sh, info.iova <= iova && iova - info.iova < info.len && info.len % PG == 0,
			      "reader: find_iova(0x%llx) gave 0x%llx+0x%llx", (unsigned long long)iova,
			      (unsigned long long)info.iova, (unsigned long long)info.len);
		r = iommufd_ioas_translate(sh->ioas, sh->mem + off, 8, &tr);
		CHECK(sh, r == 0 || r == -ENOENT, "reader: translate: %d", r);
		n++;
	}
	pthread_mutex_lock(&sh->lock);
	sh->lookups += n;
	pthread_mutex_unlock(&sh->lock);
	return NULL;
}

static void test_stress(void **state)
{
	const enum iommufd_backend b = *(const enum iommufd_backend *)*state;
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_device *dev = NULL;
	pthread_t th[WRITERS + READERS];
	struct worker w[WRITERS + READERS];
	struct shared *sh = calloc(1, sizeof(*sh));
	size_t memsz = (size_t)WRITERS * SLOTS * SLOT_PAGES * PG, kn, live = 0;
	struct fk_map *km;
	uint32_t id;

	assert_non_null(sh);
	pthread_mutex_init(&sh->lock, NULL);
	assert_int_equal(posix_memalign((void **)&sh->mem, PG, memsz), 0);
	fake_kernel_log_enable(fk, false);
	assert_int_equal(fk_ctx_create(fk, b, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &sh->ioas), 0);
	/* a device, so that every backend (TYPE1 too) maps in the kernel */
	assert_int_equal(iommufd_device_open(sh->ioas, FK_DEV_A, NULL, &dev), 0);

	for (int i = 0; i < WRITERS + READERS; i++) {
		w[i] = (struct worker){ sh, i };
		assert_int_equal(pthread_create(&th[i], NULL, i < WRITERS ? writer : reader, &w[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&sh->done, true);
	for (int i = WRITERS; i < WRITERS + READERS; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&sh->failures))
		fail_msg("%d failure(s); first: %s", atomic_load(&sh->failures), sh->first);
	assert_int_equal(sh->maps + sh->unmaps, (unsigned long)WRITERS * OPS);

	/* the kernel holds exactly what the library holds */
	id = b == IOMMUFD_BACKEND_TYPE1 ? 0 : (uint32_t)iommufd_ioas_get_id(sh->ioas);
	km = calloc(WRITERS * SLOTS + 1, sizeof(*km));
	assert_non_null(km);
	kn = fake_kernel_get_maps(fk, iommufd_ioas_get_fd(sh->ioas), id, km, WRITERS * SLOTS + 1);
	for (int t = 0; t < WRITERS; t++)
		for (int k = 0; k < SLOTS; k++)
			live += sh->slots[t][k].used;
	assert_int_equal(kn, live);
	for (size_t i = 0; i < kn; i++) {
		struct iommufd_map_info info;

		assert_int_equal(iommufd_ioas_find_iova(sh->ioas, km[i].iova, &info), 0);
		assert_int_equal(info.iova, km[i].iova);
		assert_int_equal(info.len, km[i].len);
		assert_int_equal((uintptr_t)info.vaddr, km[i].va);
		assert_int_equal(km[i].prot, 3);
	}
	for (int t = 0; t < WRITERS; t++) {
		for (int k = 0; k < SLOTS; k++) {
			bool found = false;

			if (!sh->slots[t][k].used)
				continue;
			for (size_t i = 0; i < kn && !found; i++)
				found = km[i].iova == sh->slots[t][k].iova && km[i].len == sh->slots[t][k].len;
			assert_true(found);
		}
	}
	assert_int_equal(iommufd_ioas_unmap_all(sh->ioas), (int)live);
	assert_int_equal(fake_kernel_get_maps(fk, iommufd_ioas_get_fd(sh->ioas), id, NULL, 0), 0);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	assert_int_equal(fake_kernel_live_files(fk), 0);
	assert_int_equal(fake_kernel_pinned(fk), 0);
	fake_kernel_destroy(fk);
	free(km);
	free(sh->mem);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

/* Device opens and destroys in one thread while others map and unmap. */
struct churn {
	struct iommufd_ioas *ioas;
	uint8_t *mem;
	int id;
	atomic_int *errors;
	atomic_bool *stop;
};

static void *churn_mapper(void *arg)
{
	struct churn *c = arg;
	uint64_t iova[8] = { 0 };

	for (int op = 0; !atomic_load(c->stop) || op < 64; op++) {
		int k = op % 8;

		if (iova[k]) {
			if (iommufd_ioas_unmap(c->ioas, iova[k], PG, NULL))
				atomic_fetch_add(c->errors, 1);
			iova[k] = 0;
		} else if (iommufd_ioas_map(c->ioas, c->mem + (size_t)(c->id * 8 + k) * PG, PG, RW, NULL, &iova[k])) {
			atomic_fetch_add(c->errors, 1);
			iova[k] = 0;
		}
		if (op > 20000)
			break;
	}
	return NULL;
}

static void test_device_churn(void **state)
{
	const enum iommufd_backend b = *(const enum iommufd_backend *)*state;
	struct fake_kernel *fk = fk_standard(FK_LINUX_7_3);
	struct iommufd_ctx *ctx = NULL;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *dev = NULL;
	atomic_int errors = 0;
	atomic_bool stop = false;
	struct churn c[4];
	pthread_t th[4];
	uint8_t *mem = NULL;
	int open_errors = 0;

	assert_int_equal(posix_memalign((void **)&mem, PG, 32 * PG), 0);
	fake_kernel_log_enable(fk, false);
	assert_int_equal(fk_ctx_create(fk, b, NULL, &ctx), 0);
	assert_int_equal(iommufd_ioas_create(ctx, &ioas), 0);
	for (int i = 0; i < 4; i++) {
		c[i] = (struct churn){ ioas, mem, i, &errors, &stop };
		assert_int_equal(pthread_create(&th[i], NULL, churn_mapper, &c[i]), 0);
	}
	for (int i = 0; i < 100; i++) {
		if (iommufd_device_open(ioas, FK_DEV_A, NULL, &dev)) {
			open_errors++;
			continue;
		}
		if (iommufd_device_destroy(dev))
			open_errors++;
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(open_errors, 0);
	/* may race (TYPE1: see test_type1_map_vs_last_device_leaving) */
	assert_int_equal(atomic_load(&errors), 0);
	iommufd_ctx_destroy(ctx);
	assert_int_equal(fake_kernel_open_fds(fk), 0);
	assert_int_equal(fake_kernel_pinned(fk), 0);
	fake_kernel_destroy(fk);
	free(mem);
}

/* ------------------------------------------------------------------------ */
/* Interleavings, deterministically                                          */

struct il {
	struct fake_kernel *fk;
	struct iommufd_ctx *ctx;
	struct iommufd_ioas *ioas, *ioas2;
	struct iommufd_device *dev;
	enum iommufd_backend b;
	uint64_t iova, iova2;
	int r, r2;
	uint8_t *buf;
};

static int il_setup(void **state)
{
	struct il *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->b = *(const enum iommufd_backend *)*state;
	x->fk = fk_standard(FK_LINUX_7_3);
	assert_int_equal(posix_memalign((void **)&x->buf, PG, 64 * PG), 0);
	assert_int_equal(fk_ctx_create(x->fk, x->b, NULL, &x->ctx), 0);
	assert_int_equal(iommufd_ioas_create(x->ctx, &x->ioas), 0);
	*state = x;
	return 0;
}

static int il_teardown(void **state)
{
	struct il *x = *state;
	int fds;

	iommufd_ctx_destroy(x->ctx);
	fds = fake_kernel_open_fds(x->fk);
	fake_kernel_destroy(x->fk);
	free(x->buf);
	free(x);
	assert_int_equal(fds, 0);
	return 0;
}

static uint32_t il_id(struct il *x)
{
	return x->b == IOMMUFD_BACKEND_TYPE1 ? 0 : (uint32_t)iommufd_ioas_get_id(x->ioas);
}

static size_t kcount(struct il *x)
{
	return fake_kernel_get_maps(x->fk, iommufd_ioas_get_fd(x->ioas), il_id(x), NULL, 0);
}

static bool khas(struct il *x, uint64_t iova)
{
	struct fk_map m[16];
	size_t n = fake_kernel_get_maps(x->fk, iommufd_ioas_get_fd(x->ioas), il_id(x), m, 16);

	for (size_t i = 0; i < n && i < 16; i++)
		if (m[i].iova == iova)
			return true;
	return false;
}

/*
 * BUG (TYPE1): iommufd_device_destroy() may run concurrently with maps on
 * the device's IOAS (iommufd_device_destroy(3)), but when the last group
 * leaves between type1_map() reading iommu_set and its VFIO_IOMMU_MAP_DMA
 * (lib/backend_type1.c:153 type1_map()), the container has no IOMMU any
 * more and the map fails with EINVAL instead of being recorded for the next
 * attach: iommu_set is cleared only after the group fd was closed
 * (ifd_type1_group_left(), backend_type1.c:272, called from
 * lib/device.c:236).  The same window in type1_unmap() (backend_type1.c:167)
 * makes a legitimate unmap fail (next test).  Fix: serialise the IOMMU's presence against the kernel call,
 * e.g. a per-IOAS rwlock taken for reading around MAP_DMA/UNMAP_DMA and for
 * writing by set_iommu() and by the last group's departure (clearing
 * iommu_set before the group fd is closed), or retry as "deferred" when
 * MAP_DMA fails and iommu_set has meanwhile gone false.
 */
/*
 * The last device leaving a TYPE1 container makes the kernel drop the
 * container's IOMMU.  If that landed between a map's check of iommu_set and
 * its MAP_DMA, the map would fail.  The library excludes it with kern_lock:
 * while MAP_DMA/UNMAP_DMA is in the kernel, no writer (the last group
 * leaving) can get in.  Check exactly that at the moment of the ioctl, then
 * run the departure for real and check the record's fate.
 */
static void writer_excluded(void *arg)
{
	struct il *x = arg;

	/* readers counted in (v / 2) make a writer wait: as trywrlock would */
	x->r2 = __atomic_load_n(&x->ioas->kern_lock.v, __ATOMIC_ACQUIRE) >= 2 ? EBUSY : 0;
}

static void test_type1_map_vs_last_device_leaving(void **state)
{
	struct il *x = *state;

	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	fake_kernel_before_ioctl(x->fk, "VFIO_IOMMU_MAP_DMA", writer_excluded, x);
	x->r = iommufd_ioas_map(x->ioas, x->buf, PG, RW, NULL, &x->iova);
	assert_int_equal(x->r2, EBUSY); /* the departure would have waited */
	assert_int_equal(x->r, 0);
	assert_int_equal(iommufd_device_destroy(x->dev), 0);
	assert_int_equal(kcount(x), 0); /* the kernel dropped it with the IOMMU */
	/* the next device gets it back */
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	assert_true(khas(x, x->iova));
}

static void test_type1_unmap_vs_last_device_leaving(void **state)
{
	struct il *x = *state;

	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	assert_int_equal(iommufd_ioas_map(x->ioas, x->buf, PG, RW, NULL, &x->iova), 0);
	fake_kernel_before_ioctl(x->fk, "VFIO_IOMMU_UNMAP_DMA", writer_excluded, x);
	x->r = iommufd_ioas_unmap(x->ioas, x->iova, PG, NULL);
	assert_int_equal(x->r2, EBUSY);
	assert_int_equal(x->r, 0);
	assert_int_equal(iommufd_ioas_find_iova(x->ioas, x->iova, NULL), -ENOENT);
	assert_int_equal(iommufd_device_destroy(x->dev), 0);
	/* and it is not replayed to the next device */
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	assert_int_equal(kcount(x), 0);
}

static void do_map(void *arg)
{
	struct il *x = arg;

	x->r2 = iommufd_ioas_map(x->ioas, x->buf + 8 * PG, 2 * PG, RW, NULL, &x->iova2);
}

/* A map while the first device joins: recorded and replayed, or mapped. */
static void test_map_vs_first_device(void **state)
{
	struct il *x = *state;
	/* (not inside set_iommu(), which holds the IOAS lock a real second
	 * thread would wait for: on one thread that would deadlock) */
	static const char *const points[] = { "VFIO_GROUP_SET_CONTAINER", "VFIO_CHECK_EXTENSION",
					      "VFIO_GROUP_GET_DEVICE_FD", "VFIO_DEVICE_GET_INFO",
					      "VFIO_DEVICE_BIND_IOMMUFD", "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
					      "VFIO_IOMMU_GET_INFO", "IOMMU_IOAS_IOVA_RANGES" };

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		x->r2 = 1;
		fake_kernel_before_ioctl(x->fk, points[i], do_map, x);
		x->r = iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev);
		fake_kernel_before_ioctl(x->fk, "", NULL, NULL);
		if (x->r || (x->r2 != 1 && x->r2))
			print_error("map during %s (%s): open %d, map %d\n", points[i], iommufd_backend_name(x->b), x->r,
				    x->r2);
		assert_int_equal(x->r, 0);
		if (x->r2 == 1) {
			/* this backend does not make that call */
			assert_int_equal(iommufd_device_destroy(x->dev), 0);
			continue;
		}
		assert_int_equal(x->r2, 0);
		assert_int_equal(iommufd_ioas_find_iova(x->ioas, x->iova2, NULL), 0);
		assert_true(khas(x, x->iova2));
		assert_int_equal(kcount(x), 1);
		assert_int_equal(iommufd_ioas_unmap(x->ioas, x->iova2, 2 * PG, NULL), 0);
		assert_int_equal(kcount(x), 0);
		assert_int_equal(iommufd_device_destroy(x->dev), 0);
	}
}

static void do_unmap(void *arg)
{
	struct il *x = arg;

	x->r2 = iommufd_ioas_unmap(x->ioas, x->iova, PG, NULL);
}

/* An unmap while a device joins: gone in the kernel afterwards. */
static void test_unmap_vs_first_device(void **state)
{
	struct il *x = *state;
	/* Not VFIO_IOMMU_GET_INFO: with a mapping recorded, the first one is
	 * set_iommu()'s range check, under the IOAS lock a real second thread
	 * would wait for (on one thread it would deadlock).  VFIO_DEVICE_GET_INFO
	 * lands between set_iommu() and the range refresh. */
	static const char *const points[] = { "VFIO_GROUP_SET_CONTAINER", "VFIO_CHECK_EXTENSION",
					      "VFIO_GROUP_GET_DEVICE_FD", "VFIO_DEVICE_GET_INFO",
					      "VFIO_DEVICE_BIND_IOMMUFD", "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
					      "IOMMU_IOAS_IOVA_RANGES" };

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		assert_int_equal(iommufd_ioas_map(x->ioas, x->buf, PG, RW, NULL, &x->iova), 0);
		x->r2 = 1;
		fake_kernel_before_ioctl(x->fk, points[i], do_unmap, x);
		assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
		fake_kernel_before_ioctl(x->fk, "", NULL, NULL);
		if (x->r2 == 1) {
			assert_int_equal(iommufd_ioas_unmap(x->ioas, x->iova, PG, NULL), 0);
		} else {
			assert_int_equal(x->r2, 0);
		}
		assert_int_equal(iommufd_ioas_find_iova(x->ioas, x->iova, NULL), -ENOENT);
		assert_int_equal(kcount(x), 0);
		assert_int_equal(iommufd_device_destroy(x->dev), 0);
	}
}

static void do_unmap_same(void *arg)
{
	struct il *x = arg;
	struct iommufd_map_opts o = { .sz = sizeof(o), .iova = x->iova };
	struct iommufd_map_info info;

	/* still mapped until the kernel call returns... */
	x->r2 = iommufd_ioas_find_iova(x->ioas, x->iova, &info);
	assert_int_equal(x->r2, 0);
	/* ...a second unmap of it is told it is being removed (the kernel's
	 * -EBUSY for racing unmaps)... */
	assert_int_equal(iommufd_ioas_unmap(x->ioas, x->iova, PG, NULL), -EBUSY);
	/* ...and the IOVA is not reused until the kernel has dropped it */
	assert_int_equal(iommufd_ioas_map(x->ioas, x->buf, PG, RW | IOMMUFD_MAP_FIXED, &o, &x->iova2), -EEXIST);
	assert_int_equal(iommufd_ioas_map(x->ioas, x->buf, PG, RW, NULL, &x->iova2), 0);
	assert_int_not_equal(x->iova2, x->iova);
}

static void test_concurrent_unmaps(void **state)
{
	struct il *x = *state;
	uint64_t again = 0;

	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	assert_int_equal(iommufd_ioas_map(x->ioas, x->buf, PG, RW, NULL, &x->iova), 0);
	fake_kernel_before_ioctl(x->fk, x->b == IOMMUFD_BACKEND_TYPE1 ? "VFIO_IOMMU_UNMAP_DMA" : "IOMMU_IOAS_UNMAP",
				 do_unmap_same, x);
	assert_int_equal(iommufd_ioas_unmap(x->ioas, x->iova, PG, NULL), 0);
	assert_int_equal(x->r2, 0); /* the racing lookup still saw it */
	assert_int_equal(kcount(x), 1);
	/* now free */
	assert_int_equal(iommufd_ioas_map(x->ioas, x->buf, PG, RW, NULL, &again), 0);
	assert_int_equal(again, x->iova);
}

static void do_lookup_new(void *arg)
{
	struct il *x = arg;

	/* the mapping being made is not visible before the kernel took it */
	x->r2 = iommufd_ioas_find_iova(x->ioas, PG, NULL);
}

static void test_lookup_during_map(void **state)
{
	struct il *x = *state;

	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	fake_kernel_before_ioctl(x->fk, x->b == IOMMUFD_BACKEND_TYPE1 ? "VFIO_IOMMU_MAP_DMA" : "IOMMU_IOAS_MAP",
				 do_lookup_new, x);
	assert_int_equal(iommufd_ioas_map(x->ioas, x->buf, PG, RW, NULL, &x->iova), 0);
	assert_int_equal(x->iova, PG);
	assert_int_equal(x->r2, -ENOENT);
	assert_int_equal(iommufd_ioas_find_iova(x->ioas, PG, NULL), 0);
}

static void do_unmap_old(void *arg)
{
	struct il *x = arg;

	x->r2 = iommufd_ioas_unmap(x->ioas, x->iova, PG, NULL);
	x->r = iommufd_ioas_map(x->ioas2, x->buf, PG, RW, NULL, &x->iova2);
}

/* CDEV: maps and unmaps on both IOAS while the device moves. */
static void test_cdev_move_vs_maps(void **state)
{
	struct il *x = *state;

	assert_int_equal(iommufd_ioas_create(x->ctx, &x->ioas2), 0);
	assert_int_equal(iommufd_device_open(x->ioas, FK_DEV_A, NULL, &x->dev), 0);
	assert_int_equal(iommufd_ioas_map(x->ioas, x->buf, PG, RW, NULL, &x->iova), 0);
	fake_kernel_before_ioctl(x->fk, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", do_unmap_old, x);
	assert_int_equal(iommufd_device_attach(x->dev, x->ioas2), 0);
	assert_int_equal(x->r2, 0);
	assert_int_equal(x->r, 0);
	assert_int_equal(kcount(x), 0);
	assert_int_equal(fake_kernel_get_maps(x->fk, iommufd_ctx_get_fd(x->ctx), (uint32_t)iommufd_ioas_get_id(x->ioas2),
					      NULL, 0),
			 1);
	assert_int_equal(fake_kernel_dev_ioas(x->fk, FK_DEV_A), (uint32_t)iommufd_ioas_get_id(x->ioas2));
}

static int fk_teardown(void **state)
{
	(void)state;
	fake_kernel_destroy_current();
	return 0;
}

/*
 * kern_lock's reader-writer lock (lib/lock.h) on its own: readers and
 * writers hammer it from four threads; a writer must find no reader
 * inside and readers no writer, and every writer's update must survive
 * (the counter ends at the writers' total).
 */
struct rw_stress {
	ifd_rwlock_t l;
	atomic_int readers, writers;
	long counter; /* written under the write lock only */
	atomic_int bad;
};

#define RW_ITERS 20000

static void *rw_reader(void *arg)
{
	struct rw_stress *t = arg;

	for (int i = 0; i < RW_ITERS; i++) {
		ifd_rdlock(&t->l);
		atomic_fetch_add(&t->readers, 1);
		for (int k = 0; k < 20; k++) /* a window wide enough to be hit */
			if (atomic_load(&t->writers))
				atomic_fetch_add(&t->bad, 1);
		atomic_fetch_sub(&t->readers, 1);
		ifd_rdunlock(&t->l);
	}
	return NULL;
}

static void *rw_writer(void *arg)
{
	struct rw_stress *t = arg;

	for (int i = 0; i < RW_ITERS / 10; i++) {
		ifd_wrlock(&t->l);
		if (atomic_fetch_add(&t->writers, 1))
			atomic_fetch_add(&t->bad, 1);
		for (int k = 0; k < 200; k++)
			if (atomic_load(&t->readers))
				atomic_fetch_add(&t->bad, 1);
		t->counter++;
		atomic_fetch_sub(&t->writers, 1);
		ifd_wrunlock(&t->l);
	}
	return NULL;
}

static void test_kern_rwlock(void **state)
{
	struct rw_stress t = { .counter = 0 };
	pthread_t th[4];

	(void)state;
	ifd_rwlock_init(&t.l);
	assert_int_equal(pthread_create(&th[0], NULL, rw_reader, &t), 0);
	assert_int_equal(pthread_create(&th[1], NULL, rw_reader, &t), 0);
	assert_int_equal(pthread_create(&th[2], NULL, rw_writer, &t), 0);
	assert_int_equal(pthread_create(&th[3], NULL, rw_writer, &t), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(atomic_load(&t.bad), 0);
	assert_int_equal(t.counter, 2 * (RW_ITERS / 10));
	assert_int_equal(__atomic_load_n(&t.l.v, __ATOMIC_RELAXED), 0); /* nobody left inside */
}

#define STRESS(b) cmocka_unit_test_prestate_setup_teardown(test_stress, NULL, fk_teardown, (void *)&(b))
#define CHURN(b) cmocka_unit_test_prestate_setup_teardown(test_device_churn, NULL, fk_teardown, (void *)&(b))
#define IL(f, b) cmocka_unit_test_prestate_setup_teardown(f, il_setup, il_teardown, (void *)&(b))
#define IL3(f) IL(f, B_CDEV), IL(f, B_GROUP), IL(f, B_TYPE1)

int main(void)
{
	const struct CMUnitTest tests[] = {
		STRESS(B_CDEV),
		STRESS(B_GROUP),
		STRESS(B_TYPE1),
		CHURN(B_CDEV),
		CHURN(B_GROUP),
		IL(test_type1_map_vs_last_device_leaving, B_TYPE1),
		IL(test_type1_unmap_vs_last_device_leaving, B_TYPE1),
		IL3(test_map_vs_first_device),
		IL3(test_unmap_vs_first_device),
		IL3(test_concurrent_unmaps),
		IL3(test_lookup_during_map),
		IL(test_cdev_move_vs_maps, B_CDEV),
		cmocka_unit_test(test_kern_rwlock),
	};

	unsetenv("LIBIOMMUFD_BACKEND");
	unsetenv("LIBIOMMUFD_DEBUG");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
