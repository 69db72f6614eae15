/* grammar.h — the ctl-file command language (DESIGN.md section 3).
 *
 * A write holds one command per line.  A command is blank-separated tokens;
 * the first is the verb, then positional arguments and key=value options in
 * any order.  Any token or value may be double-quoted, with \" and \\ the only
 * escapes inside quotes; a quoted token is never an option (so "a=b" is a
 * positional argument) but the value of an option may be quoted (note="on call").
 *
 * Each ctl file has a verb table.  A verb's pattern is the usage line itself,
 * in DESIGN.md's notation, and drives matching, the usage text and the hints:
 *
 *   "add NAME URL [env=ENV_ID] [secret=HEX64] [tls=require] [pin=sha256//BASE64]"
 *   "stage PATH…"                   one or more (… or ...)
 *   "run NAME [ARG…]"               zero or more
 *   "label NAME"
 *
 * Upper-case words are required positionals; "[key=…]" declares an option;
 * "[WORD]" an optional positional; a trailing … / ... makes the last positional
 * variadic.  Verbs are matched as whole words, never by prefix.
 *
 * ctl_exec() runs a write: lines in order, stopping at the first failure,
 * earlier lines staying applied.  Each executed line adds one line to the
 * outcome: "ok key=value …" or "error EINVAL: …".  When the write held more
 * than one command, an error line names the line: "error EINVAL: line 2: …". */
#ifndef CFS_CTL_GRAMMAR_H
#define CFS_CTL_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define CTL_MAX_WRITE 4096    /* bytes in one write; longer writes fail EINVAL */
#define CTL_MAX_TOKENS 64     /* tokens in one command */

struct ctl_opt {
	const char *key;
	const char *val;   /* unquoted value; "" for key= */
};

/* One parsed command.  All strings point into storage owned by the parser and
 * live until ctl_exec() returns (or ctl_args_free for ctl_parse_line). */
struct ctl_args {
	const char *verb;
	int npos;
	const char *pos[CTL_MAX_TOKENS];
	int nopt;
	struct ctl_opt opt[CTL_MAX_TOKENS];
	int line;          /* 1-based line number within the write */
	char *storage_;    /* private */
};

/* The value of option key, or NULL when absent. */
const char *ctl_opt(const struct ctl_args *a, const char *key);

struct ctl_outcome;

/* A verb handler: validates everything first, then applies; returns 0 or a
 * negative errno with err->msg saying why (no "error EXXX:" prefix, no verb
 * needed unless it helps).  On success it adds results with ctl_ok*(). */
typedef int (*ctl_run_fn)(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			  struct cfs_err *err);

struct ctl_verb {
	const char *pattern;   /* usage line, see above */
	const char *help;      /* one short sentence, may be NULL */
	ctl_run_fn run;
};

/* Tokenize one line (no newline inside) and match it against the table.
 * 0 with *a filled (free with ctl_args_free), or -EINVAL with err saying what
 * is wrong and the usage of the verb when the verb is known:
 *   unknown command "frob" (commands: add, remove, refresh)
 *   add: missing URL (usage: add NAME URL [env=ENV_ID] …)
 *   add: unexpected argument "x"
 *   add: unknown option "foo" (options: env, secret, tls, pin)
 *   add: option "env" given twice
 *   unterminated quote / bad escape \q / NUL or control byte in command */
int ctl_parse_line(const struct ctl_verb *table, size_t n, const char *line, size_t len,
		   struct ctl_args *a, struct cfs_err *err);
void ctl_args_free(struct ctl_args *a);

/* Run a whole write (see top of file).  Blank lines are ignored, "\r\n" is
 * accepted, an empty write succeeds and does nothing.  A write over
 * CTL_MAX_WRITE bytes, or holding NUL, fails -EINVAL without running anything.
 * Returns 0 or the errno of the failing line. */
int ctl_exec(const struct ctl_verb *table, size_t n, void *ctx, const char *data, size_t len,
	     struct ctl_outcome *o);

/* The usage text of a table: one pattern per line, with its help after
 * "  — " when present.  Appends to out. */
int ctl_usage(const struct ctl_verb *table, size_t n, struct cfs_buf *out);

/* Quote a token for output the way the grammar reads it: bare when it has no
 * blank, quote, backslash, '=' or control byte and is not empty; otherwise
 * "…" with \" and \\ escaped (control bytes other than tab written as-is is
 * not allowed: \n becomes the two characters \n inside the quotes). */
int ctl_quote(const char *s, struct cfs_buf *out);

/* ---- outcomes ---- */
/* Outcomes are reference-counted: the per-descriptor outcome and the
 * caller's "last outcome" of a ctl file are the same object, so a secret shown
 * through one is shown through the other. */
struct ctl_outcome *ctl_outcome_new(void);            /* refcount 1 */
struct ctl_outcome *ctl_outcome_ref(struct ctl_outcome *o);
void ctl_outcome_free(struct ctl_outcome *o);         /* drops one ref; accepts NULL */

/* Add key=value to the current command's ok line (value quoted as needed). */
int ctl_ok(struct ctl_outcome *o, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A secret result: rendered once in full, then as key=(shown). */
int ctl_ok_secret(struct ctl_outcome *o, const char *key, const char *value);
/* A job was started by the current command; ok line gets job=ID. */
int ctl_ok_job(struct ctl_outcome *o, long long job_id);

/* Render every line, each ending in '\n'.  When reveal is true secrets are
 * shown in full and the outcome remembers they were shown; later renders
 * (reveal or not) print (shown).  Thread-safe. */
int ctl_outcome_render(struct ctl_outcome *o, bool reveal, struct cfs_buf *out);
/* errno of the failing line (negative), or 0 when every line succeeded. */
int ctl_outcome_errno(const struct ctl_outcome *o);
/* The message of the failing line ("line 2: add: missing URL"), or "". */
const char *ctl_outcome_message(const struct ctl_outcome *o);
bool ctl_outcome_empty(const struct ctl_outcome *o);
/* Adds an error line without running anything (for a ctl file that refuses
 * every command, whatever its grammar).  Returns code. */
int ctl_outcome_fail(struct ctl_outcome *o, int code, const char *msg);

#endif
