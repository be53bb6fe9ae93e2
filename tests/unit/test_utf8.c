// SPDX-License-Identifier: MIT
/* Names from a target leave leakbpf printable: controls escaped, bad
 * sequences replaced, good UTF-8 kept. */
#include <string.h>

#include "testing.h"
#include "utf8.h"

static void check_copy(const char *in, size_t len, const char *want)
{
	char out[64];

	utf8_copy_printable(in, out, len);
	CHECK(!strcmp(out, want), "%s -> '%s', want '%s'", in, out, want);
}

int main(void)
{
	char buf[UTF8_PRINTABLE_MAX];
	size_t n;

	n = utf8_put_printable(buf, 0x1b);
	CHECK(n == 4 && !memcmp(buf, "\\x1b", 4), "ESC -> %.*s", (int)n, buf);
	n = utf8_put_printable(buf, 0x9b);	/* C1 CSI */
	CHECK(n == 4 && !memcmp(buf, "\\x9b", 4), "CSI -> %.*s", (int)n, buf);
	n = utf8_put_printable(buf, 0xe9);
	CHECK(n == 2 && !memcmp(buf, "\xc3\xa9", 2), "e-acute -> %zu bytes", n);
	n = utf8_put_printable(buf, 0xd800);
	CHECK(n == 3 && !memcmp(buf, "\xef\xbf\xbd", 3), "surrogate -> %zu bytes", n);
	n = utf8_put_printable(buf, 0x1f600);
	CHECK(n == 4 && !memcmp(buf, "\xf0\x9f\x98\x80", 4), "emoji -> %zu bytes", n);

	check_copy("plain_name", 64, "plain_name");
	check_copy("a\tb\nc\x7f", 64, "a\\x09b\\x0ac\\x7f");
	check_copy("caf\xc3\xa9", 64, "caf\xc3\xa9");
	check_copy("x\xc2\x9by", 64, "x\\x9by");		/* C1 written as UTF-8 */
	check_copy("bad\xff", 64, "bad\xef\xbf\xbd");
	check_copy("abc\x1b", 6, "abc");	/* never half an escape */
	check_copy("ab\xc3\xa9", 4, "ab");	/* never half a sequence */
	return tests_summary();
}
