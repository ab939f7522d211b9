/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
#ifndef IFD_SYSCALL_H
#define IFD_SYSCALL_H

/*
 * ioctl(2) issued in line, for the libc table only (a test's fake kernel
 * still goes through its table).  Why: under emulation each call and
 * return into libc after a trip into the kernel costs as much as tens of
 * instructions, and a 4 KiB map+unmap makes two such trips; libc's
 * wrapper adds a call, a return and an errno store the library then
 * reads back.  The kernel's answer comes back as is: a result >= 0, or a
 * negative errno (errno itself is left alone, as ifd_ret() sets it for
 * the caller).  Elsewhere than x86-64 (LP64) this is syscall(2).
 */

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline long ifd_sys_ioctl_inline(int fd, unsigned long req, void *arg)
{
#if defined(__x86_64__) && !defined(__ILP32__)
	long r;

	/* The syscall instruction clobbers rcx and r11; "memory": the
	 * kernel reads and writes *arg. */
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"((long)SYS_ioctl), "D"((long)fd), "S"(req), "d"(arg)
			 : "rcx", "r11", "memory");
	return r;
#else
	long r = syscall(SYS_ioctl, fd, req, arg);

	return r < 0 ? -errno : r;
#endif
}

#endif
