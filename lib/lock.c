/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* The slow halves of the locks in lock.h: waiting and waking. */
#include <stdbool.h>

#include "lock.h"

void ifd_lock_slow(ifd_lock_t *l)
{
	/* Mark the lock contended (2) whenever we go to sleep, so the
	 * holder's unlock knows to wake someone. */
	while (__atomic_exchange_n(&l->v, 2, __ATOMIC_ACQUIRE) != 0)
		syscall(SYS_futex, &l->v, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

void ifd_unlock_wake(ifd_lock_t *l)
{
	syscall(SYS_futex, &l->v, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void ifd_rwlock_wake(ifd_rwlock_t *l)
{
	syscall(SYS_futex, &l->v, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* A writer holds or wants the lock: step back out, and wait until it is
 * gone before counting in again. */
void ifd_rdlock_slow(ifd_rwlock_t *l)
{
	uint32_t v = __atomic_sub_fetch(&l->v, 2, __ATOMIC_RELAXED);

	if (v == 1) /* the writer was waiting for this reader */
		ifd_rwlock_wake(l);
	for (;;) {
		v = __atomic_load_n(&l->v, __ATOMIC_RELAXED);
		if (v & 1) {
			syscall(SYS_futex, &l->v, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
			continue;
		}
		if (__atomic_compare_exchange_n(&l->v, &v, v + 2, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
	}
}

void ifd_wrlock(ifd_rwlock_t *l)
{
	uint32_t v;

	ifd_lock(&l->w);
	__atomic_fetch_or(&l->v, 1, __ATOMIC_ACQUIRE);
	/* each reader's change of v ends a wait that began before it */
	while ((v = __atomic_load_n(&l->v, __ATOMIC_ACQUIRE)) != 1)
		syscall(SYS_futex, &l->v, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

void ifd_wrunlock(ifd_rwlock_t *l)
{
	__atomic_fetch_and(&l->v, ~1u, __ATOMIC_RELEASE);
	ifd_rwlock_wake(l); /* the readers that stepped back */
	ifd_unlock(&l->w);
}
