// SPDX-License-Identifier: MIT
/* The probe point past free()'s NULL check: only code of exactly that shape
 * moves the probe, anything else keeps it at the entry. */
#include "probe_point.h"
#include "testing.h"

int main(void)
{
	/* glibc 2.36 free(): test %rdi,%rdi; je rel32; push %rbp */
	static const uint8_t glibc_free[] = { 0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0x00, 0x00, 0x00,
					      0x55, 0x48, 0x8d, 0x77, 0xf0, 0x53 };
	/* the same with a short je */
	static const uint8_t short_je[] = { 0x48, 0x85, 0xff, 0x74, 0x05, 0x53, 0x90, 0x90 };
	/* glibc malloc(): push %r12 first, already one trap */
	static const uint8_t glibc_malloc[] = { 0x41, 0x54, 0x55, 0x53, 0x48, 0x89, 0xfb };
	/* test of another register: the NULL check is not of the argument */
	static const uint8_t tests_rsi[] = { 0x48, 0x85, 0xf6, 0x74, 0x05, 0x55, 0x90 };
	/* jne: the fall-through is the NULL path, not the work */
	static const uint8_t jne[] = { 0x48, 0x85, 0xff, 0x75, 0x05, 0x55, 0x90 };
	/* je then a mov: the instruction after would not be emulated either */
	static const uint8_t then_mov[] = { 0x48, 0x85, 0xff, 0x74, 0x05, 0x48, 0x89, 0xfb };
	/* cut short in the middle of the je */
	static const uint8_t cut[] = { 0x48, 0x85, 0xff, 0x0f, 0x84 };

	CHECK(probe_point_past_null_check(glibc_free, sizeof(glibc_free)) == 9, "glibc free");
	CHECK(probe_point_past_null_check(short_je, sizeof(short_je)) == 5, "short je");
	CHECK(probe_point_past_null_check(glibc_malloc, sizeof(glibc_malloc)) == 0, "malloc");
	CHECK(probe_point_past_null_check(tests_rsi, sizeof(tests_rsi)) == 0, "test of %%rsi");
	CHECK(probe_point_past_null_check(jne, sizeof(jne)) == 0, "jne");
	CHECK(probe_point_past_null_check(then_mov, sizeof(then_mov)) == 0, "je then mov");
	CHECK(probe_point_past_null_check(cut, sizeof(cut)) == 0, "truncated code");
	return tests_summary();
}
