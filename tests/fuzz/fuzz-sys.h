/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * A fuzz-driven struct ifd_sys: the fake kernel answers every call, and
 * the calls a target names (ioctls by request, reads and writes of one fd,
 * text files and links under a path prefix) are then answered from the
 * fuzz input instead, so the library's real parsing code runs on hostile
 * kernel answers.
 *
 * Input format, one record per intercepted call, in call order:
 *   mode (1 byte), len (2 bytes, little endian), len bytes.
 *   ioctl:  mode < 0x80: the fake kernel's return value; 0x80..0xbf: 0;
 *           else an errno from a table.  The len bytes overwrite the
 *           caller's buffers (the argsz/size it passed, then any array the
 *           struct points to, at the length it gave), at most their size.
 *   read/write: the same, but mode 0x80..0xbf returns the first two of
 *           the len bytes as the count (maybe more than asked).
 *   file open (read-only, under the prefix) and readlink/realpath:
 *           mode < 0x80: the fake kernel's file; 0x80..0xbf: the len bytes
 *           are the file's text (the link's target); else an errno.
 * A missing record reads as mode 0, len 0: the fake kernel's own answer.
 *
 * IFD_FUZZ_RECORD=FILE: fz_record_main() runs the target once on the fake
 * kernel's own answers and writes them in this format: a seed.
 */
#ifndef IFD_FUZZ_SYS_H
#define IFD_FUZZ_SYS_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "fake-kernel.h"

/* Start a run: the returned table wraps @fk's. */
const struct ifd_sys *fz_begin(struct fake_kernel *fk, const uint8_t *data, size_t size);
void fz_end(void);

/* What to answer from the input (from now until fz_end()). */
void fz_fuzz_ioctl(unsigned long req);
void fz_fuzz_fd(int fd); /* read(2) and write(2) of this fd */
void fz_fuzz_files(const char *prefix);

/* Raw bytes for the target's own choices (0 when the input is spent). */
uint8_t fz_byte(void);
uint32_t fz_u32(void);

/* A context on the fuzz table; messages are formatted, then dropped. */
int fz_ctx(struct fake_kernel *fk, enum iommufd_backend backend, struct iommufd_ctx **out);

/* From LLVMFuzzerInitialize: in record mode, run @one on no input, write
 * the seed and exit. */
void fz_record_main(int (*one)(const uint8_t *data, size_t size));

/* libFuzzer's two entry points for a target whose one run is @one. */
#define FZ_TARGET(one)                                                         \
	int LLVMFuzzerInitialize(int *argc, char ***argv);                     \
	int LLVMFuzzerInitialize(int *argc, char ***argv)                      \
	{                                                                      \
		(void)argc;                                                    \
		(void)argv;                                                    \
		fz_record_main(one);                                           \
		return 0;                                                      \
	}                                                                      \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);          \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)           \
	{                                                                      \
		return one(data, size);                                        \
	}

#endif
