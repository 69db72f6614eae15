/* internal.h — declarations shared by the files of backend/wire only. */
#ifndef CFS_WIRE_INTERNAL_H
#define CFS_WIRE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

/* nonce.c: claim (env, nonce) until expires_ms.  0 when it was free (it is
 * now taken), -EALREADY when a live entry holds it, -ENOMEM. */
int wire_nonce_claim(struct wire_nonce_cache *c, const char *env, const uint8_t nonce[16],
		     int64_t expires_ms, int64_t now_ms);

/* url.c: percent-decode s[0..n).  '+' becomes a blank when plus_blank.  A '%'
 * not followed by two hex digits is an error when strict, else kept as is.
 * *out is malloc'ed and NUL-terminated; *out_len excludes the NUL (the value
 * itself may hold NUL bytes).  0, -EINVAL or -ENOMEM. */
int wire_pct_decode(const char *s, size_t n, bool plus_blank, bool strict, char **out,
		    size_t *out_len);

struct wire_qparam {
	char *key;
	char *val;
	size_t val_len;
};
/* Split a raw query string ("a=1&b=x%2Fy") into decoded pairs; the first of
 * several equal keys wins on lookup.  0 or -ENOMEM; free with
 * wire_query_free. */
int wire_query_parse(const char *query, struct wire_qparam **out, size_t *n);
void wire_query_free(struct wire_qparam *q, size_t n);
const struct wire_qparam *wire_query_find(const struct wire_qparam *q, size_t n, const char *key);

/* workers.c: the threads that run route handlers, so that a handler that
 * blocks (a long-poll) holds one worker and never an HTTP I/O thread.
 * `keep` threads stay when idle; more are started while jobs wait, up to
 * `max`. */
struct wire_workers;
int wire_workers_new(unsigned keep, unsigned max, struct wire_workers **out);
/* 0, or -ENOMEM / -EAGAIN when the job could not be queued. */
int wire_workers_submit(struct wire_workers *w, void (*fn)(void *), void *arg);
/* Runs what is queued, waits for every thread to end, frees w. */
void wire_workers_free(struct wire_workers *w);

/* listen.c: a bound, listening, non-blocking socket for "ADDR:PORT",
 * "[V6]:PORT" or ":PORT" (every address, v6 and v4); the port it got. */
int wire_listen_socket(const char *listen, int *fd, unsigned short *port, struct cfs_err *err);

struct sockaddr;
struct wire_netmask {
	int family;            /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned bits;
};
/* "10.0.0.1, ::1 192.168.0.0/16" → masks; 0, -EINVAL or -ENOMEM.  *out is
 * malloc'ed (NULL when the list is empty). */
int wire_proxies_parse(const char *list, struct wire_netmask **out, size_t *n,
		       struct cfs_err *err);
/* Whether a client address (v4-mapped v6 counts as v4) is in the list. */
bool wire_proxies_match(const struct wire_netmask *m, size_t n, const struct sockaddr *sa);

#endif
