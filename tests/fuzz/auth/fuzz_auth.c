/* Fuzz target for the parts of the crypto module that read untrusted bytes:
 * host normalisation, the canonical string and opening a sealed blob.
 *
 * The input is used three ways at once:
 *  - up to the first NUL, as a Host header;
 *  - split at NULs, as the six canonical-string fields (missing ones get
 *    harmless defaults);
 *  - whole, as a sealed blob, and as plaintext to seal, open and tamper with.
 * Each use checks invariants and aborts when one breaks. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/crypto.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static const uint8_t master[CFS_KEY_LEN] = { 0x42, 0x13, 0x37 };

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static void fuzz_host(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n + 1), again[8];
	CHECK(out);
	int ret = cfs_host_normalize(s, out, n + 1);
	CHECK(ret == 0 || ret == -EINVAL);
	if (ret == 0) {
		size_t m = strlen(out);
		CHECK(m > 0 && m <= n);
		for (size_t i = 0; i < m; i++)
			CHECK(out[i] > ' ' && out[i] < 0x7f && !(out[i] >= 'A' && out[i] <= 'Z') &&
			      !strchr("/@?#", out[i]));
		/* idempotent, and a short buffer either fits it exactly or says so */
		char *twice = malloc(m + 1);
		CHECK(twice);
		CHECK(cfs_host_normalize(out, twice, m + 1) == 0 && strcmp(twice, out) == 0);
		free(twice);
		int r = cfs_host_normalize(s, again, sizeof again);
		CHECK(m < sizeof again ? r == 0 && strcmp(again, out) == 0 : r == -ENAMETOOLONG);
	}
	free(out);
}

static bool has_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

static void fuzz_canonical(const uint8_t *data, size_t size)
{
	/* NUL-terminated copy so every field is a C string inside it */
	char *copy = malloc(size + 1);
	CHECK(copy);
	memcpy(copy, data, size);
	copy[size] = '\0';
	const char *f[6] = { "1", "n", "GET", "/", "h", "e3" };
	size_t off = 0;
	for (int i = 0; i < 6 && off <= size; i++) {
		f[i] = copy + off;
		off += strlen(copy + off) + 1;
	}

	struct cfs_buf b = CFS_BUF_INIT;
	CHECK(cfs_buf_puts(&b, "pre") == 0);
	int ret = cfs_canonical_string(f[0], f[1], f[2], f[3], f[4], f[5], &b);
	bool broken = false;
	for (int i = 0; i < 6; i++)
		broken |= has_break(f[i]);
	char *host = malloc(strlen(f[4]) + 1);
	CHECK(host);
	int hret = cfs_host_normalize(f[4], host, strlen(f[4]) + 1);
	if (broken || hret) {
		CHECK(ret == -EINVAL);
		CHECK(b.len == 3 && strcmp(b.data, "pre") == 0);
	} else {
		CHECK(ret == 0);
		/* rebuild it independently */
		struct cfs_buf w = CFS_BUF_INIT;
		CHECK(cfs_buf_printf(&w, "pre%s\n%s\n", f[0], f[1]) == 0);
		for (const char *m = f[2]; *m; m++) {
			char c = upper(*m);
			CHECK(cfs_buf_append(&w, &c, 1) == 0);
		}
		CHECK(cfs_buf_printf(&w, "\n%s\n%s\n%s", f[3], host, f[5]) == 0);
		CHECK(w.len == b.len && memcmp(w.data, b.data, b.len) == 0);
		cfs_buf_free(&w);
	}
	free(host);
	cfs_buf_free(&b);
	free(copy);
}

static void fuzz_open(const uint8_t *data, size_t size)
{
	uint8_t *pt = (uint8_t *)"x";
	size_t pt_len = 7;
	/* arbitrary bytes never open: forging the tag is the point of GCM */
	int ret = cfs_open(master, "fuzz", data, size, &pt, &pt_len);
	CHECK(ret == -EINVAL || ret == -EBADMSG);
	CHECK(pt == NULL && pt_len == 0);

	/* seal the input, open it back, then flip one byte chosen by the input */
	uint8_t *blob;
	size_t blob_len;
	CHECK(cfs_seal(master, "fuzz", data, size, &blob, &blob_len) == 0);
	CHECK(blob_len == size + 29);
	CHECK(cfs_open(master, "fuzz", blob, blob_len, &pt, &pt_len) == 0);
	CHECK(pt_len == size && (size == 0 || memcmp(pt, data, size) == 0));
	free(pt);
	size_t at = size ? data[0] % blob_len : 0;
	blob[at] ^= (uint8_t)(size > 1 ? data[1] | 1 : 1);
	ret = cfs_open(master, "fuzz", blob, blob_len, &pt, &pt_len);
	CHECK(ret == (at == 0 ? -EINVAL : -EBADMSG));
	free(blob);
}

static void fuzz_xxh(const uint8_t *data, size_t size)
{
	char one[CFS_XXH128_HEX], streamed[CFS_XXH128_HEX];
	cfs_xxh128_hex(data, size, one);
	struct cfs_xxh128 *h = cfs_xxh128_new();
	CHECK(h);
	size_t cut = size ? data[size - 1] % (size + 1) : 0;
	CHECK(cfs_xxh128_update(h, data, cut) == 0);
	CHECK(cfs_xxh128_update(h, data + cut, size - cut) == 0);
	cfs_xxh128_final_hex(h, streamed);
	cfs_xxh128_free(h);
	CHECK(strcmp(one, streamed) == 0 && strlen(one) == 32);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	CHECK(s);
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_host(s);
	free(s);
	fuzz_canonical(data, size);
	fuzz_open(data, size);
	fuzz_xxh(data, size);
	return 0;
}
