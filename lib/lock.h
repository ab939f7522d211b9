/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The IOAS writer lock: a three-state futex mutex (0 free, 1 held, 2 held
 * with waiters).  Every map and unmap takes it twice, so its uncontended
 * cost is the data path's: one compare-and-swap to take it and one
 * exchange to drop it, against some fifty instructions for a
 * pthread_mutex_t.  Process-private; never held across a kernel call or a
 * callback into the user.
 */
#ifndef IFD_LOCK_H
#define IFD_LOCK_H

#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
	uint32_t v;
} ifd_lock_t;

#define IFD_LOCK_INIT { 0 }

static inline void ifd_lock_init(ifd_lock_t *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELAXED);
}

void ifd_lock_slow(ifd_lock_t *l);
void ifd_unlock_wake(ifd_lock_t *l);

static inline void ifd_lock(ifd_lock_t *l)
{
	uint32_t expect = 0;

	if (!__atomic_compare_exchange_n(&l->v, &expect, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		ifd_lock_slow(l);
}

static inline void ifd_unlock(ifd_lock_t *l)
{
	if (__atomic_exchange_n(&l->v, 0, __ATOMIC_RELEASE) == 2)
		ifd_unlock_wake(l);
}

/*
 * A reader-writer lock for the type1 backend's kern_lock, which every
 * map and unmap takes for reading (one atomic add each way) while attach
 * and detach, rare, take it for writing.  v counts readers in steps of 2;
 * bit 0 says a writer holds it or waits for the readers to leave, and
 * keeps new readers out so a writer is never starved.  Writers queue on
 * w among themselves.  Process-private; not recursive.
 */
typedef struct {
	uint32_t v;
	ifd_lock_t w;
} ifd_rwlock_t;

void ifd_rdlock_slow(ifd_rwlock_t *l);
void ifd_rwlock_wake(ifd_rwlock_t *l);
void ifd_wrlock(ifd_rwlock_t *l);
void ifd_wrunlock(ifd_rwlock_t *l);

static inline void ifd_rwlock_init(ifd_rwlock_t *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELAXED);
	ifd_lock_init(&l->w);
}

static inline void ifd_rdlock(ifd_rwlock_t *l)
{
	if (__atomic_fetch_add(&l->v, 2, __ATOMIC_ACQUIRE) & 1)
		ifd_rdlock_slow(l);
}

static inline void ifd_rdunlock(ifd_rwlock_t *l)
{
	/* the last reader out while a writer waits (3 -> 1) wakes it */
	if (__atomic_fetch_sub(&l->v, 2, __ATOMIC_RELEASE) == 3)
		ifd_rwlock_wake(l);
}

#endif
