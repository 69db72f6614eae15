/* argv.c — splitting a configured command line into words, as a POSIX shell
 * would for quoting alone.  The words go to execvp; no shell ever runs. */
#include "agent/agent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

void agent_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* A word that may be empty ("" or ''): make sure it exists, terminated. */
static int mark_word(struct cfs_buf *w)
{
	int r = cfs_buf_reserve(w, 0);
	if (!r)
		w->data[w->len] = '\0';
	return r;
}

static int push_word(char ***argv, int *argc, struct cfs_buf *w)
{
	char **n = realloc(*argv, sizeof *n * (size_t)(*argc + 2));
	if (!n)
		return -ENOMEM;
	*argv = n;
	char *s = w->data ? cfs_buf_steal(w) : strdup("");
	if (!s)
		return -ENOMEM;
	n[(*argc)++] = s;
	n[*argc] = NULL;
	return 0;
}

int agent_argv_split(const char *s, char ***argvp, int *argcp, struct cfs_err *err)
{
	char **argv = NULL;
	int argc = 0, r = 0;
	struct cfs_buf w = CFS_BUF_INIT;
	bool in_word = false;
	const char *p = s;
	while (*p) {
		char c = *p;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (in_word && (r = push_word(&argv, &argc, &w)))
				goto fail;
			in_word = false;
			p++;
			continue;
		}
		in_word = true;
		if (c == '\\') {
			if (!p[1]) {
				r = cfs_errf(err, -EINVAL, "trailing backslash");
				goto fail;
			}
			/* backslash-newline is a line continuation, as in sh */
			if (p[1] != '\n' && (r = cfs_buf_append(&w, p + 1, 1)))
				goto fail;
			p += 2;
		} else if (c == '\'') {
			const char *end = strchr(p + 1, '\'');
			if (!end) {
				r = cfs_errf(err, -EINVAL, "unterminated single quote");
				goto fail;
			}
			if ((r = cfs_buf_append(&w, p + 1, (size_t)(end - p - 1))) ||
			    (r = mark_word(&w)))
				goto fail;
			p = end + 1;
		} else if (c == '"') {
			p++;
			for (;;) {
				if (!*p) {
					r = cfs_errf(err, -EINVAL, "unterminated double quote");
					goto fail;
				}
				if (*p == '"')
					break;
				if (*p == '\\' && p[1] && strchr("\"\\$`\n", p[1])) {
					if (p[1] != '\n' && (r = cfs_buf_append(&w, p + 1, 1)))
						goto fail;
					p += 2;
					continue;
				}
				if ((r = cfs_buf_append(&w, p, 1)))
					goto fail;
				p++;
			}
			if ((r = mark_word(&w)))   /* "" is a word too */
				goto fail;
			p++;
		} else {
			if ((r = cfs_buf_append(&w, p, 1)))
				goto fail;
			p++;
		}
	}
	if (in_word && (r = push_word(&argv, &argc, &w)))
		goto fail;
	if (argc == 0) {
		r = cfs_errf(err, -EINVAL, "empty command line");
		goto fail;
	}
	*argvp = argv;
	*argcp = argc;
	return 0;
fail:
	if (r == -ENOMEM)
		cfs_errf(err, r, "out of memory");
	cfs_buf_free(&w);
	agent_argv_free(argv);
	return r;
}
