/* SPDX-License-Identifier: MIT */
#include "linetable.h"

#include <errno.h>
#include <limits.h>

/*
 * Lines accumulate in int64_t: every step adds at most 2^31 (varints are
 * capped at 32 bits), so a table can't overflow it, and one range check on the
 * result replaces a check per step. Negative results are reserved (0 means
 * "no line"), so they are reported as malformed.
 */
static int set_line(int64_t v, int *line)
{
	if (v < 0 || v > INT_MAX)
		return -EINVAL;
	*line = (int)v;
	return 0;
}

/* 3.8/3.9 co_lnotab: (addr_delta, line_delta) pairs; the line in effect at
 * the target is the one reached before addr passes it (PyCode_Addr2Line). */
static int lnotab_line(const uint8_t *t, size_t len, int64_t ln, int64_t target, int *line)
{
	int64_t addr = 0;
	size_t i;

	/* CPython writes whole pairs; an odd length means a bad copy. */
	if (len & 1)
		return -EINVAL;
	for (i = 0; i < len; i += 2) {
		addr += t[i];
		if (addr > target)
			break;
		ln += (int8_t)t[i + 1];
	}
	return set_line(ln, line);
}

/* 3.10 co_linetable: (sdelta, ldelta) pairs, each covering [start,
 * start+sdelta) bytes. ldelta -128 means "no line" and leaves the running
 * line alone. Empty ranges (sdelta 0, used to split big line jumps) only
 * move the line. */
static int linetable310_line(const uint8_t *t, size_t len, int64_t ln, int64_t target,
			     int *line)
{
	int64_t start = 0;
	size_t i;

	if (len & 1)
		return -EINVAL;
	for (i = 0; i < len; i += 2) {
		int64_t end = start + t[i];
		int8_t d = (int8_t)t[i + 1];
		int has_line = d != -128;

		if (has_line)
			ln += d;
		if (target < end)
			return has_line ? set_line(ln, line) : (*line = 0, 0);
		start = end;
	}
	return -ERANGE;
}

/* 3.11+ location-table varint: 6-bit groups, least significant first, 0x40 =
 * more. Continuation bytes never have bit 7 set (that marks an entry start),
 * so meeting one, or the end, mid-varint means the table is truncated. */
static int read_varint(const uint8_t *t, size_t len, size_t *i, uint32_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		if (*i >= len || shift > 30)
			return -EINVAL;
		b = t[(*i)++];
		if (b & 0x80)
			return -EINVAL;
		v |= (uint64_t)(b & 0x3f) << shift;
		shift += 6;
	} while (b & 0x40);
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int read_svarint(const uint8_t *t, size_t len, size_t *i, int64_t *out)
{
	uint32_t u;
	int err = read_varint(t, len, i, &u);

	if (err)
		return err;
	*out = (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
	return 0;
}

/* Skips n plain bytes (column data); each must have bit 7 clear. */
static int skip_bytes(const uint8_t *t, size_t len, size_t *i, unsigned n)
{
	while (n--) {
		if (*i >= len || (t[*i] & 0x80))
			return -EINVAL;
		(*i)++;
	}
	return 0;
}

/* 3.11+ co_linetable (the location table, see InternalDocs/locations.md). Each
 * entry is parsed whole, so a truncated entry is reported even where its line
 * does not depend on the missing bytes. */
static int loctable_line(const uint8_t *t, size_t len, int64_t ln, int64_t target, int *line)
{
	int64_t start = 0;
	size_t i = 0;

	while (i < len) {
		uint8_t b = t[i++];
		unsigned code = (b >> 3) & 15;
		int64_t end = start + 2 * ((b & 7) + 1);	/* code units -> bytes */
		int64_t delta = 0;
		uint32_t dummy;
		int err = 0;

		if (!(b & 0x80))
			return -EINVAL;
		switch (code) {
		case 15:	/* no location */
			break;
		case 14:	/* long: line delta, end-line delta, col+1, end-col+1 */
			err = read_svarint(t, len, &i, &delta);
			for (int k = 0; k < 3 && !err; k++)
				err = read_varint(t, len, &i, &dummy);
			break;
		case 13:	/* no columns */
			err = read_svarint(t, len, &i, &delta);
			break;
		case 12:
		case 11:
		case 10:	/* one line: delta 0..2, col, end-col */
			delta = code - 10;
			err = skip_bytes(t, len, &i, 2);
			break;
		default:	/* short: same line, one column byte */
			err = skip_bytes(t, len, &i, 1);
			break;
		}
		if (err)
			return err;
		ln += delta;
		if (target < end)
			return code == 15 ? (*line = 0, 0) : set_line(ln, line);
		start = end;
	}
	return -ERANGE;
}

int py_linetable_line(unsigned minor, const uint8_t *table, size_t len, int firstlineno,
		      int instr_offset, int *line)
{
	if (minor < 8 || minor > 14 || !line || (!table && len))
		return -EINVAL;
	/* CPython's PyCode_Addr2Line: any negative offset is "not started". */
	if (instr_offset < 0) {
		*line = firstlineno;
		return 0;
	}
	if (minor <= 9)
		return lnotab_line(table, len, firstlineno, instr_offset, line);
	if (minor == 10)
		return linetable310_line(table, len, firstlineno, instr_offset, line);
	return loctable_line(table, len, firstlineno, instr_offset, line);
}
