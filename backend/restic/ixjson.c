/* ixjson.c — index files decoded straight into index records.
 *
 * An index file can describe 150,000 blobs; a JSON tree of it would cost
 * ~100 MB for the moment it lives.  This walks just that shape
 * ({"packs":[{"id":…,"blobs":[{…},…]},…]} or the old top-level array of
 * packs) with the pull parser, skipping any other member, so loading an index
 * costs only its text and the 48-byte records it yields. */
#include "restic/rr_int.h"

#include <errno.h>
#include <string.h>

static int id_value(struct cfs_jscan *s, uint8_t id[RR_ID_LEN])
{
	const char *str;
	size_t len;
	char hex[RR_HEX_LEN];
	if (cfs_js_string_raw(s, &str, &len) || len != 64)
		return -EINVAL;
	memcpy(hex, str, 64);
	hex[64] = '\0';
	return rr_id_parse(hex, id);
}

static int u32_value(struct cfs_jscan *s, uint32_t *out)
{
	uint64_t v;
	if (cfs_js_u64(s, &v) || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

struct blob_st {
	struct rr_ixrec r;
	unsigned seen;           /* bits: id, type, offset, length */
};

static int blob_member(struct cfs_jscan *s, void *arg, const char *k, size_t kl)
{
	struct blob_st *b = arg;
	const char *str;
	size_t len;
	if (cfs_js_key(k, kl, "id")) {
		b->seen |= 1;
		return id_value(s, b->r.id);
	}
	if (cfs_js_key(k, kl, "type")) {
		if (cfs_js_string_raw(s, &str, &len))
			return -EINVAL;
		b->seen |= 2;
		if (cfs_js_key(str, len, "tree"))
			b->r.pack |= RR_IX_TREE;
		else if (cfs_js_key(str, len, "data"))
			b->r.pack &= ~RR_IX_TREE;
		else
			return -EINVAL;
		return 0;
	}
	if (cfs_js_key(k, kl, "offset")) {
		b->seen |= 4;
		return u32_value(s, &b->r.offset);
	}
	if (cfs_js_key(k, kl, "length")) {
		b->seen |= 8;
		return u32_value(s, &b->r.length);
	}
	if (cfs_js_key(k, kl, "uncompressed_length"))
		return u32_value(s, &b->r.ulen);
	return cfs_js_skip(s);
}

struct pack_st {
	struct rr_ixbatch *b;
	int version;
	size_t first;            /* the batch's records of this pack start here */
	bool have_id;
	uint8_t id[RR_ID_LEN];
};

static int blob_element(struct cfs_jscan *s, void *arg)
{
	struct pack_st *p = arg;
	struct blob_st b = { .seen = 0 };
	int ret = cfs_js_object(s, blob_member, &b);
	if (ret)
		return ret;
	if (b.seen != 15 || b.r.length < RR_BOX_OVERHEAD ||
	    (uint64_t)b.r.offset + b.r.length > UINT32_MAX || (b.r.ulen && p->version < 2))
		return -EINVAL;   /* restic refuses compressed entries in v1 too */
	/* the pack number is filled in once the pack's id is known */
	return rr_ixbatch_add_rec(p->b, &b.r);
}

static int pack_member(struct cfs_jscan *s, void *arg, const char *k, size_t kl)
{
	struct pack_st *p = arg;
	if (cfs_js_key(k, kl, "id")) {
		p->have_id = true;
		return id_value(s, p->id);
	}
	if (cfs_js_key(k, kl, "blobs"))
		return cfs_js_array(s, blob_element, p);
	return cfs_js_skip(s);
}

static int pack_element(struct cfs_jscan *s, void *arg)
{
	struct pack_st *p = arg;
	uint32_t num;
	p->first = p->b->nrecs;
	p->have_id = false;
	int ret = cfs_js_object(s, pack_member, p);
	if (ret)
		return ret;
	if (!p->have_id)
		return -EINVAL;
	if ((ret = rr_ixbatch_add_pack(p->b, p->id, &num)))
		return ret;
	for (size_t i = p->first; i < p->b->nrecs; i++)
		p->b->recs[i].pack = (p->b->recs[i].pack & RR_IX_TREE) | num;
	return 0;
}

static int top_member(struct cfs_jscan *s, void *arg, const char *k, size_t kl)
{
	if (cfs_js_key(k, kl, "packs"))
		return cfs_js_array(s, pack_element, arg);
	return cfs_js_skip(s);
}

int rr_index_json_parse(const char *json, size_t len, int version, struct rr_ixbatch *b)
{
	struct cfs_jscan s = { json, json + len, 0 };
	struct pack_st p = { .b = b, .version = version };
	int ret, c = cfs_js_peek(&s);
	if (c == '{')
		ret = cfs_js_object(&s, top_member, &p);
	else if (c == '[')
		ret = cfs_js_array(&s, pack_element, &p);
	else
		ret = -EINVAL;
	if (!ret && cfs_js_peek(&s) != -1)
		ret = -EINVAL;   /* trailing garbage */
	return ret;
}
