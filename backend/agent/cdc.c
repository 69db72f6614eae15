/* cdc.c — the content-defined chunker (the cut rule is in cdc.h).
 *
 * A gear hash (one shift and one add per byte, FastCDC's choice) with
 * normalized chunking: a stricter mask before avg and a looser one after
 * pull chunk sizes towards avg.  The masks test the top bits of the hash:
 * they mix in the most preceding bytes (bit n depends on the last n+1).
 * The first min-1 bytes of a chunk are not hashed at all, which is most of
 * the speed.  Each chunk's XXH3-64 is computed from the caller's buffer in
 * one call when the chunk lies inside it, else through a streaming state
 * across buffers. */
#include "agent/cdc.h"

#include <pthread.h>
#include <stdlib.h>
#include <xxhash.h>

struct cdc {
	uint32_t min, avg, max;
	uint64_t mask_s, mask_l;
	uint64_t h;             /* gear hash of the current chunk */
	uint32_t len;           /* bytes of the current chunk seen so far */
	uint64_t off;           /* where the current chunk starts */
	bool partial;           /* xs holds the current chunk's first bytes */
	XXH3_state_t *xs;
};

static uint64_t gear[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

static void gear_init(void)
{
	uint64_t s = CDC_GEAR_SEED;
	for (int i = 0; i < 256; i++) {
		uint64_t z = (s += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		gear[i] = z ^ (z >> 31);
	}
}

const uint64_t *cdc_gear(void)
{
	pthread_once(&gear_once, gear_init);
	return gear;
}

bool cdc_avg_valid(uint64_t avg)
{
	return avg >= CDC_AVG_MIN && avg <= CDC_AVG_MAX && (avg & (avg - 1)) == 0;
}

/* The top n bits of a word. */
static uint64_t top_bits(unsigned n)
{
	return ~0ull << (64 - n);
}

struct cdc *cdc_new(uint32_t avg)
{
	if (!cdc_avg_valid(avg))
		return NULL;
	struct cdc *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	if (!(c->xs = XXH3_createState())) {
		free(c);
		return NULL;
	}
	unsigned b = (unsigned)__builtin_ctz(avg);
	*c = (struct cdc){
		.min = avg / 4,
		.avg = avg,
		.max = avg * 8,
		.mask_s = top_bits(b + 2),
		.mask_l = top_bits(b - 2),
		.xs = c->xs,
	};
	cdc_gear();
	return c;
}

void cdc_free(struct cdc *c)
{
	if (!c)
		return;
	XXH3_freeState(c->xs);
	free(c);
}

/* Look at up to n bytes of the current chunk's continuation: the number of
 * bytes taken, with *cut when the chunk ends after the last of them. */
static size_t scan(struct cdc *c, const uint8_t *p, size_t n, bool *cut)
{
	const uint64_t *g = gear;
	uint32_t len = c->len;
	uint64_t h = c->h, ms = c->mask_s, ml = c->mask_l;
	size_t lim = n < (size_t)(c->max - len) ? n : (size_t)(c->max - len);
	size_t i = 0;
	*cut = false;
	if (len + 1 < c->min) {
		i = c->min - 1 - len;          /* never hashed */
		if (i >= lim) {
			c->len = len + (uint32_t)lim;
			return lim;
		}
	}
	/* bytes before strict_end make a chunk shorter than avg */
	size_t strict_end = len + 1 < c->avg ? c->avg - 1 - len : 0;
	if (strict_end > lim)
		strict_end = lim;
	for (; i < strict_end; i++) {
		h = (h << 1) + g[p[i]];
		if (!(h & ms)) {
			i++;
			goto cut;
		}
	}
	for (; i < lim; i++) {
		h = (h << 1) + g[p[i]];
		if (!(h & ml)) {
			i++;
			goto cut;
		}
	}
	c->len = len + (uint32_t)i;
	c->h = h;
	*cut = c->len == c->max;
	return i;
cut:
	c->len = len + (uint32_t)i;
	*cut = true;
	return i;
}

/* The current chunk ended with the n bytes at p: hash, emit, start anew. */
static int end_chunk(struct cdc *c, const uint8_t *p, size_t n, cdc_emit_fn emit, void *arg)
{
	struct cdc_chunk ch = { .off = c->off, .len = c->len };
	if (c->partial) {
		if (n)
			XXH3_64bits_update(c->xs, p, n);
		ch.hash = XXH3_64bits_digest(c->xs);
		c->partial = false;
	} else {
		ch.hash = XXH3_64bits(n ? p : (const uint8_t *)"", n);
	}
	c->off += c->len;
	c->len = 0;
	c->h = 0;
	return emit(arg, &ch);
}

int cdc_feed(struct cdc *c, const void *data, size_t n, cdc_emit_fn emit, void *arg)
{
	const uint8_t *p = data;
	size_t pos = 0, start = 0;   /* start: where the current chunk's bytes in p begin */
	while (pos < n) {
		bool cut;
		pos += scan(c, p + pos, n - pos, &cut);
		if (cut) {
			int r = end_chunk(c, p + start, pos - start, emit, arg);
			if (r)
				return r;
			start = pos;
		}
	}
	if (start < n) {
		if (!c->partial) {
			XXH3_64bits_reset(c->xs);
			c->partial = true;
		}
		XXH3_64bits_update(c->xs, p + start, n - start);
	}
	return 0;
}

int cdc_finish(struct cdc *c, cdc_emit_fn emit, void *arg)
{
	int r = c->len ? end_chunk(c, NULL, 0, emit, arg) : 0;
	c->off = 0;
	c->len = 0;
	c->h = 0;
	c->partial = false;
	return r;
}
