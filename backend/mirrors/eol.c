/* eol.c — text detection and CRLF→LF normalisation (see eol.h). */
#include "mirrors/eol.h"

#include <string.h>

bool eol_is_text(const char *head, size_t len, bool whole)
{
	const unsigned char *s = (const unsigned char *)head;
	if (len > EOL_SNIFF)
		len = EOL_SNIFF;
	if (memchr(s, '\0', len))
		return false;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned min;
		unsigned cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 2, min = 0x80, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3, min = 0x800, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n > len) {
			/* cut by the window: fine unless the file really ends here */
			for (size_t k = i + 1; k < len; k++)
				if ((s[k] & 0xc0) != 0x80)
					return false;
			return !whole;
		}
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

size_t eol_feed(struct eol_state *st, const char *in, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (st->held_cr) {
			st->held_cr = false;
			if (c != '\n')
				out[o++] = '\r';
		}
		if (c == '\r')
			st->held_cr = true;
		else
			out[o++] = c;
	}
	return o;
}

size_t eol_finish(struct eol_state *st, char *out)
{
	if (!st->held_cr)
		return 0;
	st->held_cr = false;
	out[0] = '\r';
	return 1;
}
