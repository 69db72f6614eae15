/* cdc.h — content-defined chunking for delta transfers (cdc.c), and the
 * agent's pieces built on it.
 *
 * Two agents holding two versions of a file cut each into chunks at places
 * chosen by the content itself, so an insertion or deletion moves only the
 * cuts around it and every other chunk keeps its bytes and its hash.  The
 * manager matches the source's chunks against the destination's old copy and
 * sends only the chunks the destination lacks.
 *
 * The cut rule is part of the protocol (both agents must cut alike):
 *
 *   - avg is a power of two in [CDC_AVG_MIN, CDC_AVG_MAX]; b = log2(avg);
 *     min = avg / 4, max = avg * 8.
 *   - Gear table: G[i] for i = 0..255 are the first 256 outputs of
 *     splitmix64 started at CDC_GEAR_SEED (state += 0x9e3779b97f4a7c15;
 *     z = state; z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9;
 *     z = (z ^ z >> 27) * 0x94d049bb133111eb; G[i] = z ^ z >> 31).
 *   - Per chunk, h starts at 0 and the first min-1 bytes are skipped.  For
 *     each byte from the min-th on, h = (h << 1) + G[byte] (mod 2^64), and
 *     the chunk ends after that byte when (h & M) == 0, M being the top b+2
 *     bits of the word while the chunk (that byte included) is shorter than
 *     avg, and the top b-2 bits from avg bytes on; or when it has max bytes.
 *     End of input ends the last chunk, which may be shorter than min.
 *   - A chunk's hash is XXH3-64 (seed 0) of its bytes.
 * So every chunk but the last is min .. max bytes long. */
#ifndef CFS_AGENT_CDC_H
#define CFS_AGENT_CDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define CDC_AVG_MIN (4u << 10)
#define CDC_AVG_MAX (16u << 20)
#define CDC_AVG_DEFAULT (64u << 10)
#define CDC_GEAR_SEED 0x636c6f7564667331ull   /* "cloudfs1" */

struct cdc_chunk {
	uint64_t off;       /* from the start of the input */
	uint32_t len;
	uint64_t hash;      /* XXH3-64, seed 0 */
};

/* A power of two in [CDC_AVG_MIN, CDC_AVG_MAX]? */
bool cdc_avg_valid(uint64_t avg);
/* The 256-entry gear table (made at first use). */
const uint64_t *cdc_gear(void);

/* A streaming cutter: feed the input in buffers of any size; each chunk is
 * handed to emit as soon as its end is seen.  The cuts and hashes do not
 * depend on how the input was split into buffers. */
struct cdc;
typedef int (*cdc_emit_fn)(void *arg, const struct cdc_chunk *c);

/* NULL when avg is not valid or memory is short. */
struct cdc *cdc_new(uint32_t avg);
void cdc_free(struct cdc *c);
/* 0, or the first non-zero value emit returned (the cutter is then in an
 * unspecified state: free it). */
int cdc_feed(struct cdc *c, const void *data, size_t len, cdc_emit_fn emit, void *arg);
/* End of input: emit the last chunk (none when nothing is pending) and start
 * over at offset 0. */
int cdc_finish(struct cdc *c, cdc_emit_fn emit, void *arg);

/* The chunk list on the wire (GET /v1/file/chunks): "CDC1", u32 avg,
 * u64 size, then per chunk u32 len and u64 XXH3-64, all big-endian. */
#define CDC_LIST_HEADER 16
#define CDC_LIST_RECORD 12

#endif
