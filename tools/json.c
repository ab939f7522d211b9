/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/* JSON string output (RFC 8259): no dependency for one escaping rule. */
#include "ctl.h"

void ctl_json_str(FILE *f, const char *s)
{
	static const char hexd[] = "0123456789abcdef";

	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			/*
			 * Control bytes must be escaped; a byte >= 0x80 is shown as
			 * the code point of the same number, so bytes that are not
			 * UTF-8 still give valid JSON (sysfs names are ASCII).
			 */
			if (*c < 0x20 || *c >= 0x7f) {
				fputs("\\u00", f);
				fputc(hexd[*c >> 4], f);
				fputc(hexd[*c & 15], f);
			} else {
				fputc(*c, f);
			}
		}
	}
	fputc('"', f);
}
