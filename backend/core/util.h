/* util.h — small value parsers and formatters shared by every module. */
#ifndef CFS_UTIL_H
#define CFS_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Wall clock in milliseconds since the epoch. */
int64_t cfs_now_ms(void);
/* Monotonic clock in milliseconds. */
int64_t cfs_mono_ms(void);
/* The time ms milliseconds from now on clock clk, as pthread_cond_timedwait
 * takes it (the condition variable's clock). */
void cfs_time_in(clockid_t clk, int64_t ms, struct timespec *out);
/* A condition variable whose timed waits count on CLOCK_MONOTONIC, so a
 * change of the wall clock neither cuts nor stretches them. */
void cfs_cond_init_mono(pthread_cond_t *c);

/* "2026-11-22T04:00:00Z" into out (at least 21 bytes). */
void cfs_time_iso(int64_t epoch_s, char out[32]);
/* ISO 8601 UTC ("2026-11-22T04:00:00Z", "2026-11-22T04:00Z", "2026-11-22",
 * an optional fraction, "Z" or "+hh:mm") or a relative "+90m" / "+12h" /
 * "+7d" / "+30s" counted from now.  0 or -EINVAL. */
int cfs_time_parse(const char *s, int64_t now_s, int64_t *out_s);
/* "30s", "5m", "12h", "7d" (or bare seconds) → seconds.  0 or -EINVAL. */
int cfs_duration_parse(const char *s, int64_t *out_s);
/* "1024", "10K", "5M", "2G", "1T" (powers of 1024) → bytes.  0 or -EINVAL. */
int cfs_size_parse(const char *s, uint64_t *out);
/* Strict decimal: "0".."2^63-1", no sign, no blanks.  0 or -EINVAL. */
int cfs_parse_u64(const char *s, uint64_t *out);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void cfs_hex(const void *data, size_t n, char *out);
/* The value of one hex digit (either case), or -1. */
int cfs_hexval(int c);
/* Exactly 2n hex digits (either case) into n bytes.  0 or -EINVAL. */
int cfs_unhex(const char *hex, void *out, size_t n);
/* Standard base64 with its padding, strictly (no blanks, no missing '=');
 * *out is malloc'ed with a NUL after the *outlen bytes.  -EINVAL, -ENOMEM. */
int cfs_b64_decode(const char *s, uint8_t **out, size_t *outlen);
/* All n bytes to fd (at off for the p- form), through short writes and
 * EINTR; -errno, or -EIO when the file takes nothing more. */
int cfs_write_full(int fd, const void *data, size_t n);
int cfs_pwrite_full(int fd, const void *data, size_t n, uint64_t off);

/* Random bytes from the kernel; 0 or -EIO. */
int cfs_random(void *out, size_t n);
/* A random UUID v4, lower-case, into out (37 bytes). */
int cfs_uuid(char out[37]);

/* A name usable as one path component and one ctl token: 1..64 bytes of
 * [A-Za-z0-9._-], not starting with '.' or '-'. */
bool cfs_name_valid(const char *s);

#endif
