/* Unit tests: pack headers, index JSON, tree and snapshot JSON, Go names and
 * times, unpacked files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/stat.h>
#include <zstd.h>

#include "restic/rr_int.h"

static void put_entry(uint8_t *p, uint8_t type, uint32_t len, uint32_t ulen, uint8_t idbyte)
{
	p[0] = type;
	for (int i = 0; i < 4; i++)
		p[1 + i] = (uint8_t)(len >> (8 * i));
	size_t o = 5;
	if (type >= 2) {
		for (int i = 0; i < 4; i++)
			p[5 + i] = (uint8_t)(ulen >> (8 * i));
		o = 9;
	}
	memset(p + o, idbyte, 32);
}

static void test_pack_header(void **state)
{
	(void)state;
	uint8_t h[37 + 41 + 37 + 41];
	put_entry(h, 0, 100, 0, 0xa1);
	put_entry(h + 37, 3, 60, 500, 0xa2);
	put_entry(h + 78, 1, 32, 0, 0xa3);
	put_entry(h + 115, 2, 42, 1, 0xa4);
	struct rr_pack_entry *e;
	size_t n;
	assert_int_equal(rr_pack_header_parse(h, sizeof h, 2, &e, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(e[0].type, RR_DATA);
	assert_int_equal(e[0].compressed, 0);
	assert_int_equal(e[0].offset, 0);
	assert_int_equal(e[0].length, 100);
	assert_int_equal(e[1].type, RR_TREE);
	assert_int_equal(e[1].compressed, 1);
	assert_int_equal(e[1].offset, 100);
	assert_int_equal(e[1].ulen, 500);
	assert_int_equal(e[2].offset, 160);
	assert_int_equal(e[3].offset, 192);
	assert_int_equal(e[3].id[0], 0xa4);
	free(e);
	/* compressed entries are not allowed in version 1 */
	assert_int_equal(rr_pack_header_parse(h, sizeof h, 1, &e, &n), -EINVAL);
	/* version 1 with raw entries only */
	assert_int_equal(rr_pack_header_parse(h, 37, 1, &e, &n), 0);
	assert_int_equal(n, 1);
	free(e);
	/* truncated entry, bad type, a length below the box overhead */
	assert_int_equal(rr_pack_header_parse(h, 36, 2, &e, &n), -EINVAL);
	assert_int_equal(rr_pack_header_parse(h, 37 + 40, 2, &e, &n), -EINVAL);
	uint8_t bad[41];
	put_entry(bad, 4, 100, 0, 1);
	assert_int_equal(rr_pack_header_parse(bad, 37, 2, &e, &n), -EINVAL);
	put_entry(bad, 0, 31, 0, 1);
	assert_int_equal(rr_pack_header_parse(bad, 37, 2, &e, &n), -EINVAL);
	uint8_t zero_ulen[41];
	put_entry(zero_ulen, 2, 40, 0, 1);
	assert_int_equal(rr_pack_header_parse(zero_ulen, 41, 2, &e, &n), -EINVAL);
	/* an empty header is an empty list */
	assert_int_equal(rr_pack_header_parse(h, 0, 2, &e, &n), 0);
	assert_int_equal(n, 0);
	free(e);

	uint8_t tail[4] = { 40, 0, 0, 0 };
	uint32_t hl;
	assert_int_equal(rr_pack_header_len(tail, 100, &hl), 0);
	assert_int_equal(hl, 40);
	assert_int_equal(rr_pack_header_len(tail, 43, &hl), -EINVAL);   /* > size - 4 */
	tail[0] = 31;
	assert_int_equal(rr_pack_header_len(tail, 100, &hl), -EINVAL);  /* < 32 */
	uint8_t huge[4] = { 0, 0, 0, 2 };                                  /* 32 MiB */
	assert_int_equal(rr_pack_header_len(huge, UINT64_C(1) << 30, &hl), -EINVAL);
}

#define ID1 "1111111111111111111111111111111111111111111111111111111111111111"
#define ID2 "2222222222222222222222222222222222222222222222222222222222222222"
#define ID3 "3333333333333333333333333333333333333333333333333333333333333333"

static void test_index_json(void **state)
{
	(void)state;
	struct rr_ixbatch b = { 0 };
	const char *obj = "{\"supersedes\":[\"" ID3 "\"],\"packs\":[{\"id\":\"" ID1 "\",\"blobs\":["
			  "{\"id\":\"" ID2 "\",\"type\":\"data\",\"offset\":0,\"length\":833073,\"uncompressed_length\":833010},"
			  "{\"id\":\"" ID3 "\",\"type\":\"tree\",\"offset\":833073,\"length\":609}]}]}";
	assert_int_equal(rr_index_json_parse(obj, strlen(obj), 2, &b), 0);
	assert_int_equal(b.npacks, 1);
	assert_int_equal(b.nrecs, 2);
	assert_int_equal(b.recs[0].pack, 0);
	assert_int_equal(b.recs[0].ulen, 833010);
	assert_int_equal(b.recs[1].pack, RR_IX_TREE);
	assert_int_equal(b.recs[1].offset, 833073);
	assert_int_equal(b.recs[1].ulen, 0);
	/* compressed entries in a version 1 repository are refused */
	struct rr_ixbatch b1 = { 0 };
	assert_int_equal(rr_index_json_parse(obj, strlen(obj), 1, &b1), -EINVAL);
	rr_ixbatch_free(&b1);
	/* the old top-level array form adds to the same batch */
	const char *arr = "[{\"id\":\"" ID2 "\",\"blobs\":[{\"id\":\"" ID1 "\",\"type\":\"data\","
			  "\"offset\":10,\"length\":42}]}]";
	assert_int_equal(rr_index_json_parse(arr, strlen(arr), 1, &b), 0);
	assert_int_equal(b.npacks, 2);
	assert_int_equal(b.nrecs, 3);
	assert_int_equal(b.recs[2].pack, 1);
	rr_ixbatch_free(&b);

	const char *bad[] = {
		"", "{", "{\"packs\":{}}", "{\"packs\":[{\"id\":\"x\",\"blobs\":[]}]}",
		"{\"packs\":[{\"id\":\"" ID1 "\",\"blobs\":[{\"id\":\"" ID2 "\",\"type\":\"blob\",\"offset\":0,\"length\":40}]}]}",
		"{\"packs\":[{\"id\":\"" ID1 "\",\"blobs\":[{\"id\":\"" ID2 "\",\"type\":\"data\",\"offset\":-1,\"length\":40}]}]}",
		"{\"packs\":[{\"id\":\"" ID1 "\",\"blobs\":[{\"id\":\"" ID2 "\",\"type\":\"data\",\"offset\":0,\"length\":31}]}]}",
		"{\"packs\":[{\"id\":\"" ID1 "\",\"blobs\":[{\"id\":\"" ID2 "\",\"type\":\"data\",\"offset\":0}]}]}",
		"{\"packs\":[{\"id\":\"" ID1 "\",\"blobs\":[{\"id\":\"" ID2 "\",\"type\":\"data\",\"offset\":4294967290,\"length\":40}]}]}",
		"{\"packs\":[{\"id\":\"" ID1 "\",\"blobs\":[{\"id\":\"" ID2 "\",\"type\":\"data\",\"offset\":1.5,\"length\":40}]}]}",
		"{\"packs\":[{\"id\":\"" "1111111111111111111111111111111111111111111111111111111111111ABC" "\",\"blobs\":[]}]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct rr_ixbatch x = { 0 };
		assert_int_equal(rr_index_json_parse(bad[i], strlen(bad[i]), 2, &x), -EINVAL);
		rr_ixbatch_free(&x);
	}
	/* unknown members (nested, escaped, any JSON value) are skipped; blank space is fine */
	const char *extra = " {\"x\":{\"a\":[1,-2.5e+3,true,false,null,\"q\\\"\\u00e9\"]},\"packs\": [ "
			    "{\"blobs\":[{\"future\":[{}],\"length\":40,\"offset\":0,\"type\":\"tree\","
			    "\"id\":\"" ID3 "\"}],\"id\":\"" ID2 "\",\"more\":\"\"},"
			    "{\"id\":\"" ID1 "\",\"blobs\":null} ] }\n";
	struct rr_ixbatch x2 = { 0 };
	assert_int_equal(rr_index_json_parse(extra, strlen(extra), 2, &x2), 0);
	assert_int_equal(x2.npacks, 2);
	assert_int_equal(x2.nrecs, 1);
	assert_int_equal(x2.recs[0].pack, RR_IX_TREE | 0);   /* blobs listed before the pack id */
	assert_int_equal(x2.recs[0].length, 40);
	rr_ixbatch_free(&x2);
	const char *bad2[] = {
		"{\"packs\":[]} x", "{\"packs\":[],}", "{\"packs\":[{\"blobs\":[]}]}",
		"{\"packs\":[{\"id\":\"" ID1 "\",\"blobs\":[{\"id\":\"" ID2 "\",\"type\":\"data\",\"offset\":01,\"length\":40}]}]}",
		"{\"packs\":[{\"id\":\"" ID1 "\",\"blobs\":[{\"id\":\"" ID2 "\",\"type\":\"data\",\"offset\":1e2,\"length\":40}]}]}",
		"{\"packs\":[{\"id\":\"" ID1 "\",\"blobs\":[{\"id\":\"" ID2 "\",\"type\":\"data\",\"offset\":0,\"length\":4294967296}]}]}",
		"{\"x\":\"\\q\",\"packs\":[]}", "{\"x\":[1,],\"packs\":[]}", "{\"x\":tru}",
		"{\"x\":\"a", "[", "{\"packs\":[{\"id\":\"" ID1 "\",\"blobs\":[{}]}]}",
	};
	for (size_t i = 0; i < sizeof bad2 / sizeof *bad2; i++) {
		struct rr_ixbatch x = { 0 };
		assert_int_equal(rr_index_json_parse(bad2[i], strlen(bad2[i]), 2, &x), -EINVAL);
		rr_ixbatch_free(&x);
	}
	/* deep nesting in a skipped member is refused, not a stack overflow */
	char deep[400];
	memset(deep, '[', sizeof deep);
	memcpy(deep, "{\"x\":", 5);
	struct rr_ixbatch x3 = { 0 };
	assert_int_equal(rr_index_json_parse(deep, sizeof deep, 2, &x3), -EINVAL);
	rr_ixbatch_free(&x3);
	/* an index with no packs is fine */
	struct rr_ixbatch e = { 0 };
	assert_int_equal(rr_index_json_parse("{\"packs\":[]}", 12, 2, &e), 0);
	assert_int_equal(e.nrecs, 0);
	rr_ixbatch_free(&e);
}

static void test_name_unquote(void **state)
{
	(void)state;
	static const struct { const char *in; const char *out; size_t outlen; } ok[] = {
		{ "plain", "plain", 5 },
		{ "we\\\"ird\\\\\\\\name", "we\"ird\\\\name", 12 },
		{ "bad\\xffbyte", "bad\xff" "byte", 8 },
		{ "tab\\tq", "tab\tq", 5 },
		{ "nl\\nx", "nl\nx", 4 },
		{ "soft\\u00adhy", "soft\xc2\xad" "hy", 8 },
		{ "\xc3\xbc", "\xc3\xbc", 2 },
		{ "\\a\\b\\f\\r\\v", "\a\b\f\r\v", 5 },
		{ "\\U0001f600", "\xf0\x9f\x98\x80", 4 },
		{ "\\101\\'", "A'", 2 },
		{ "", "", 0 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		char *o;
		size_t n;
		assert_int_equal(rr_name_unquote(ok[i].in, strlen(ok[i].in), &o, &n), 0);
		assert_int_equal(n, ok[i].outlen);
		assert_memory_equal(o, ok[i].out, n);
		free(o);
	}
	const char *bad[] = { "\\", "a\\q", "\\x1", "\\xzz", "\\u12", "\\ud800", "\\U00110000",
			      "\\400", "\\19" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *o;
		size_t n;
		assert_int_equal(rr_name_unquote(bad[i], strlen(bad[i]), &o, &n), -EINVAL);
	}
}

static void test_gotime(void **state)
{
	(void)state;
	struct timespec t;
	assert_int_equal(rr_gotime_parse("2026-11-22T20:31:06.525659423Z", &t), 0);
	assert_int_equal(t.tv_sec, 1795379466);
	assert_int_equal(t.tv_nsec, 525659423);
	assert_int_equal(rr_gotime_parse("2026-11-22T20:31:06.5Z", &t), 0);
	assert_int_equal(t.tv_nsec, 500000000);
	assert_int_equal(rr_gotime_parse("2026-11-22T21:31:06+01:00", &t), 0);
	assert_int_equal(t.tv_sec, 1795379466);
	assert_int_equal(rr_gotime_parse("2026-11-22T15:01:06.000000001-05:30", &t), 0);
	assert_int_equal(t.tv_sec, 1795379466);
	assert_int_equal(t.tv_nsec, 1);
	assert_int_equal(rr_gotime_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t.tv_sec, 0);
	assert_int_equal(rr_gotime_parse("1960-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t.tv_sec, -315619200);
	assert_int_equal(rr_gotime_parse("1969-12-31T23:59:59.999999999Z", &t), 0);
	assert_int_equal(t.tv_sec, -1);
	assert_int_equal(t.tv_nsec, 999999999);
	assert_int_equal(rr_gotime_parse("0001-01-01T00:00:00Z", &t), 0);   /* Go's zero time */
	assert_int_equal(t.tv_sec, INT64_C(-62135596800));
	assert_int_equal(rr_gotime_parse("2024-02-29T00:00:00Z", &t), 0);
	const char *bad[] = { "", "2026-11-22", "2026-11-22T20:31:06", "2026-11-22T20:31:06.Z",
			      "2026-11-22T20:31:06.1234567890Z", "2026-13-01T00:00:00Z",
			      "2023-02-29T00:00:00Z", "2026-11-22T24:00:00Z", "2026-11-22T20:31:06+0100",
			      "2026-11-22T20:31:06Zjunk", "2026-11-22 20:31:06Z" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(rr_gotime_parse(bad[i], &t), -EINVAL);
}

static void test_unpack(void **state)
{
	(void)state;
	struct cfs_buf out = CFS_BUF_INIT;
	const char *json = "{\"a\":1}";
	assert_int_equal(rr_unpack(2, (const uint8_t *)json, strlen(json), &out), 0);
	assert_string_equal(out.data, json);
	assert_int_equal(rr_unpack(1, (const uint8_t *)"[1]", 3, &out), 0);
	assert_string_equal(out.data, "[1]");

	/* a zstd frame without a content size, as restic's encoder writes small ones */
	char big[5000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = "{abc}"[i % 5];
	uint8_t frame[6000];
	frame[0] = 0x02;
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_inBuffer ib = { big, sizeof big, 0 };
	ZSTD_outBuffer ob = { frame + 1, sizeof frame - 1, 0 };
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	assert_int_equal(ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end), 0);
	ZSTD_freeCCtx(c);
	assert_int_equal(ZSTD_getFrameContentSize(frame + 1, ob.pos), ZSTD_CONTENTSIZE_UNKNOWN);
	assert_int_equal(rr_unpack(2, frame, ob.pos + 1, &out), 0);
	assert_int_equal(out.len, sizeof big);
	assert_memory_equal(out.data, big, sizeof big);
	/* not in version 1; truncated; a cap */
	assert_int_equal(rr_unpack(1, frame, ob.pos + 1, &out), -EINVAL);
	assert_int_not_equal(rr_unpack(2, frame, ob.pos - 3, &out), 0);
	cfs_buf_reset(&out);
	assert_int_equal(rr_zstd_stream(frame + 1, ob.pos, 100, &out), -EFBIG);
	/* an unknown first byte */
	assert_int_equal(rr_unpack(2, (const uint8_t *)"\x03xx", 3, &out), -EINVAL);
	assert_int_equal(rr_unpack(2, (const uint8_t *)"", 0, &out), -EINVAL);
	cfs_buf_free(&out);
}

static void test_tree(void **state)
{
	(void)state;
	const char *j =
		"{\"nodes\":["
		"{\"name\":\"a\\\\tb\",\"type\":\"file\",\"mode\":8389101,\"mtime\":\"1960-01-01T00:00:00Z\","
		"\"atime\":\"2026-11-23T16:11:09.5Z\",\"ctime\":\"2026-11-23T16:11:09.037142685Z\",\"uid\":1000,"
		"\"gid\":100,\"inode\":7,\"device_id\":65024,\"size\":3,\"links\":2,"
		"\"extended_attributes\":[{\"name\":\"user.foo\",\"value\":\"YmFy\"}],"
		"\"content\":[\"" ID1 "\",\"" ID1 "\"]},"
		"{\"name\":\"d\",\"type\":\"dir\",\"mode\":2148532735,\"subtree\":\"" ID2 "\",\"content\":null},"
		"{\"name\":\"dev\",\"type\":\"chardev\",\"mode\":69206454,\"device\":259},"
		"{\"name\":\"f\",\"type\":\"fifo\",\"mode\":33554852},"
		"{\"name\":\"l\",\"type\":\"symlink\",\"mode\":134218239,\"linktarget\":\"x\","
		"\"linktarget_raw\":\"/2E=\"},"
		"{\"name\":\"w\",\"type\":\"irregular\",\"mode\":420}"
		"]}\n";
	struct rr_tree *t;
	assert_int_equal(rr_tree_decode(j, strlen(j), &t), 0);
	assert_int_equal(t->n, 6);
	assert_true(t->sorted);
	const struct rr_node *n = &t->nodes[0];
	assert_string_equal(n->name, "a\tb");
	assert_int_equal(n->mode, S_IFREG | S_ISUID | 0755);
	assert_int_equal(n->mtime.tv_sec, -315619200);
	assert_int_equal(n->atime.tv_nsec, 500000000);
	assert_int_equal(n->uid, 1000);
	assert_int_equal(n->links, 2);
	assert_int_equal(n->ncontent, 2);
	assert_int_equal(n->nxattr, 1);
	assert_string_equal(n->xattr[0].name, "user.foo");
	assert_memory_equal(n->xattr[0].value, "bar", 3);
	n = &t->nodes[1];
	assert_int_equal(n->mode, S_IFDIR | S_ISVTX | 0777);
	assert_true(n->has_subtree);
	n = &t->nodes[2];
	assert_int_equal(n->mode & S_IFMT, S_IFCHR);
	assert_int_equal(n->rdev, 259);
	assert_int_equal(t->nodes[3].mode, S_IFIFO | 0644);
	n = &t->nodes[4];
	assert_int_equal(n->target_len, 2);
	assert_memory_equal(n->target, "\xff" "a", 2);   /* linktarget_raw wins */
	assert_int_equal(t->nodes[5].type, RR_N_OTHER);
	assert_int_equal(rr_tree_find(t, "f"), 3);
	assert_int_equal(rr_tree_find(t, "zz"), -1);
	rr_tree_free(t);

	/* JSON escapes under the Go quoting: \u003c, a surrogate pair, a lone surrogate */
	const char *esc = "{\"nodes\":[{\"name\":\"\\u003c\\ud83d\\ude00\",\"type\":\"symlink\","
			  "\"linktarget\":\"a\\udc00b\\/\"}],\"extra\":{\"k\":[1]}}";
	assert_int_equal(rr_tree_decode(esc, strlen(esc), &t), 0);
	assert_int_equal(t->n, 1);
	assert_string_equal(t->nodes[0].name, "<\xf0\x9f\x98\x80");
	assert_string_equal(t->nodes[0].target, "a\xef\xbf\xbd" "b/");
	rr_tree_free(t);
	/* unsorted trees still work (by a linear search); duplicates do not */
	const char *uns = "{\"nodes\":[{\"name\":\"b\",\"type\":\"fifo\"},{\"name\":\"a\",\"type\":\"fifo\"}]}";
	assert_int_equal(rr_tree_decode(uns, strlen(uns), &t), 0);
	assert_false(t->sorted);
	assert_int_equal(rr_tree_find(t, "a"), 1);
	rr_tree_free(t);
	const char *bad[] = {
		"", "[]", "{\"nodes\":{}}",
		"{\"nodes\":[{\"name\":\"a\",\"type\":\"fifo\"},{\"name\":\"a\",\"type\":\"fifo\"}]}",
		"{\"nodes\":[{\"name\":\"a/b\",\"type\":\"fifo\"}]}",
		"{\"nodes\":[{\"name\":\"..\",\"type\":\"fifo\"}]}",
		"{\"nodes\":[{\"name\":\"\",\"type\":\"fifo\"}]}",
		"{\"nodes\":[{\"name\":\"a\\\\x00\",\"type\":\"fifo\"}]}",
		"{\"nodes\":[{\"name\":\"a\",\"type\":\"dir\"}]}",
		"{\"nodes\":[{\"name\":\"a\",\"type\":\"file\",\"content\":[\"xyz\"]}]}",
		"{\"nodes\":[{\"name\":\"a\",\"type\":\"file\",\"mtime\":\"yesterday\"}]}",
		"{\"nodes\":[{\"name\":\"a\",\"type\":\"file\",\"size\":-1}]}",
		"{\"nodes\":[{\"name\":\"a\",\"type\":\"file\",\"uid\":4294967296}]}",
		"{\"nodes\":[{\"name\":\"a\",\"type\":\"file\",\"extended_attributes\":[{\"value\":\"YQ==\"}]}]}",
		"{\"nodes\":[{\"name\":\"a\",\"type\":\"symlink\",\"linktarget_raw\":\"!!\"}]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(rr_tree_decode(bad[i], strlen(bad[i]), &t), -EINVAL);
	assert_int_equal(rr_tree_decode("{\"nodes\":null}", 14, &t), 0);
	assert_int_equal(t->n, 0);
	rr_tree_free(t);
}

static void test_snapshot(void **state)
{
	(void)state;
	const char *j = "{\"time\":\"2026-11-22T04:00:00.123+00:00\",\"tree\":\"" ID1 "\","
			"\"paths\":[\"/src\"],\"hostname\":\"vm\",\"username\":\"root\",\"tags\":[\"daily\",\"a/b\"]}";
	struct rr_snap s = { 0 };
	assert_int_equal(rr_snap_decode(j, strlen(j), &s), 0);
	assert_string_equal(s.hostname, "vm");
	assert_int_equal(s.ntags, 2);
	memcpy(s.idhex, "1a2b3c4d5e6f" "0000000000000000000000000000000000000000000000000000", 65);
	char name[96];
	rr_snap_name(&s, false, name);
	assert_string_equal(name, "2026-11-22T04:00:00Z-1a2b3c4d");
	rr_snap_name(&s, true, name);
	assert_string_equal(name, "2026-11-22T04:00:00Z-1a2b3c4d5e6f0000000000000000000000000000000000000000000000000000");
	rr_snap_clear(&s);
	const char *bad[] = { "{}", "{\"time\":\"x\",\"tree\":\"" ID1 "\"}",
			      "{\"time\":\"2026-11-22T04:00:00Z\",\"tree\":\"abc\"}",
			      "{\"time\":\"2026-11-22T04:00:00Z\",\"tree\":\"" ID1 "\",\"tags\":\"x\"}" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(rr_snap_decode(bad[i], strlen(bad[i]), &s), -EINVAL);
	char c[16];
	rr_component("a/b", c, sizeof c);
	assert_string_equal(c, "a_b");
	rr_component("", c, sizeof c);
	assert_string_equal(c, "_");
	rr_component("..", c, sizeof c);
	assert_string_equal(c, ".._");
}

static void test_ids_and_urls(void **state)
{
	(void)state;
	uint8_t id[32];
	char hex[65];
	assert_int_equal(rr_id_parse(ID1, id), 0);
	rr_id_hex(id, hex);
	assert_string_equal(hex, ID1);
	assert_int_equal(rr_id_parse("11", id), -EINVAL);
	assert_int_equal(rr_id_parse(ID1 "1", id), -EINVAL);
	char *base, *user, *pass;
	assert_int_equal(rr_rest_url_split("rest:http://al%40ice:p%3Aw@127.0.0.1:8000/alice", &base,
					   &user, &pass), 0);
	assert_string_equal(base, "http://127.0.0.1:8000/alice/");
	assert_string_equal(user, "al@ice");
	assert_string_equal(pass, "p:w");
	free(base);
	free(user);
	free(pass);
	assert_int_equal(rr_rest_url_split("rest:https://host/r/", &base, &user, &pass), 0);
	assert_string_equal(base, "https://host/r/");
	assert_null(user);
	free(base);
	assert_int_equal(rr_rest_url_split("rest:ftp://host/", &base, &user, &pass), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pack_header),
		cmocka_unit_test(test_index_json),
		cmocka_unit_test(test_name_unquote),
		cmocka_unit_test(test_gotime),
		cmocka_unit_test(test_unpack),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_ids_and_urls),
	};
	return cmocka_run_group_tests_name("restic formats", tests, NULL, NULL);
}
