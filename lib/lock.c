/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* The slow halves of the writer lock (lock.h): waiting and waking. */
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
