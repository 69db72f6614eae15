/* eol.h — text detection and CRLF→LF normalisation for eol=normalize.
 * Built into the agent (which hashes) and used by the manager's tests. */
#ifndef CFS_MIRRORS_EOL_H
#define CFS_MIRRORS_EOL_H

#include <stdbool.h>
#include <stddef.h>

#define EOL_SNIFF 8192   /* bytes looked at to tell text from binary */

/* Text: no NUL in the first EOL_SNIFF bytes and valid UTF-8 (ASCII included);
 * a multi-byte sequence cut by the end of the sniffed window counts as
 * valid.  head is the file's first min(size, EOL_SNIFF) bytes; whole says
 * head is the entire file (then a cut sequence is invalid). */
bool eol_is_text(const char *head, size_t len, bool whole);

/* Streaming CRLF→LF: feed blocks in order; out receives at most len + 1
 * bytes per call (a '\r' held back from the previous block).  Call
 * eol_finish at the end for a held '\r'. */
struct eol_state {
	bool held_cr;
};
size_t eol_feed(struct eol_state *st, const char *in, size_t len, char *out);
size_t eol_finish(struct eol_state *st, char *out);

#endif
