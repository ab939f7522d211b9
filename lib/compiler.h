/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
#ifndef IFD_COMPILER_H
#define IFD_COMPILER_H

/*
 * The data path's functions (map, unmap, translate, and what they call on
 * the usual path) share one section, so the linker lays them out side by
 * side, whichever object files they come from: a map+unmap then runs in
 * two pages of code instead of six or seven.  Why it matters: under
 * emulation (QEMU's TCG, where the test rig measures) a jump into another
 * page of code cannot be chained and goes through a lookup, and on real
 * hardware fewer pages mean fewer iTLB and i-cache misses.  With the
 * in-line ioctl (syscall.h) and the index's in-line fast paths
 * (mapidx_impl.h), a 4 KiB type1 map+unmap went from 1.026-1.037 of the
 * raw ioctls to 1.017-1.022 (docs/performance.md, which also shows how
 * much placement alone moves it).  The default linker scripts (GNU ld,
 * gold, lld) keep .text.hot.* together; tests/abi/check-hot.sh checks
 * what is in the section and that it stays within two pages.
 */
#define IFD_HOT __attribute__((section(".text.hot.libiommufd")))

#endif
