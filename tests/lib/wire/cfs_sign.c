/* cfs-sign — sign a wire request or check a wire response, for shell tests
 * that talk to an agent with curl.
 *
 *   mapfile -t sig < <(cfs-sign --secret "$S" --env "$MGR" --method GET \
 *                               --target '/v1/health' --host 127.0.0.1:7001)
 *   curl -s -D hdrs -o body "${sig[@]}" http://127.0.0.1:7001/v1/health
 *   cfs-sign response --secret "$S" --nonce "$N" --headers hdrs --body body
 *
 * Request mode prints the four X-Cloudfs-* headers as curl arguments, one
 * argument per line ("-H", then "Name: value"), or with --format headers just
 * the "Name: value" lines.  Response mode prints the expected signature, or
 * with --signature / --headers exits 0 when the response verifies and 1 when
 * it does not.  Usage errors exit 2. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/util.h"
#include "wire/wire.h"

static const char usage[] =
	"usage: cfs-sign [request] --secret HEX --env ID --method METHOD --target TARGET\n"
	"                --host HOST[:PORT] [--body FILE] [--timestamp MS] [--nonce HEX]\n"
	"                [--format curl|headers]\n"
	"       cfs-sign response --secret HEX --nonce HEX (--status N | --headers FILE)\n"
	"                [--body FILE] [--signature HEX]\n"
	"\n"
	"request   prints the X-Cloudfs-* headers for the request, as curl arguments\n"
	"          (one per line: -H, then the header) or as plain header lines.\n"
	"          TARGET is sent as is: percent-encode it yourself.  --timestamp and\n"
	"          --nonce replace the current time and a random nonce.\n"
	"response  without --signature or --headers, prints the signature the\n"
	"          response should carry; otherwise checks it (exit 0 ok, 1 bad).\n"
	"          --headers reads a header dump (curl -D FILE) for the status and\n"
	"          the X-Cloudfs-Signature header.  FILE may be - for stdin.\n";

static int read_file(const char *path, struct cfs_buf *out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cfs-sign: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (cfs_buf_append(out, chunk, n))
			break;
	int bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (bad) {
		fprintf(stderr, "cfs-sign: %s: read error\n", path);
		return -1;
	}
	return 0;
}

/* Status and signature of the last response in a curl -D dump. */
static int parse_dump(const char *text, int *status, char sig[65])
{
	const char *name = "X-Cloudfs-Signature:";
	*status = 0;
	sig[0] = '\0';
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, "HTTP/", 5) == 0) {
			sscanf(l, "HTTP/%*s %d", status);
			sig[0] = '\0';
		} else if (strncasecmp(l, name, strlen(name)) == 0) {
			const char *v = l + strlen(name);
			v += strspn(v, " \t");
			size_t len = strcspn(v, " \t\r\n");
			snprintf(sig, 65, "%.*s", (int)(len < 64 ? len : 64), v);
			if (len != 64)
				sig[0] = '\0';
		}
	}
	return *status ? 0 : -1;
}

static int secret_of(const char *hex, uint8_t out[32])
{
	if (!hex || strlen(hex) != 64 || cfs_unhex(hex, out, 32)) {
		fprintf(stderr, "cfs-sign: --secret takes 64 hex digits\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_SECRET = 256, O_ENV, O_METHOD, O_TARGET, O_HOST, O_BODY, O_TS, O_NONCE, O_FORMAT,
	       O_STATUS, O_SIG, O_HEADERS, O_HELP };
	static const struct option opts[] = {
		{ "secret", required_argument, NULL, O_SECRET },
		{ "env", required_argument, NULL, O_ENV },
		{ "method", required_argument, NULL, O_METHOD },
		{ "target", required_argument, NULL, O_TARGET },
		{ "host", required_argument, NULL, O_HOST },
		{ "body", required_argument, NULL, O_BODY },
		{ "timestamp", required_argument, NULL, O_TS },
		{ "nonce", required_argument, NULL, O_NONCE },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "status", required_argument, NULL, O_STATUS },
		{ "signature", required_argument, NULL, O_SIG },
		{ "headers", required_argument, NULL, O_HEADERS },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *secret_hex = NULL, *env = NULL, *method = NULL, *target = NULL, *host = NULL,
		   *body_path = NULL, *ts = NULL, *nonce = NULL, *format = "curl", *status_s = NULL,
		   *sig = NULL, *headers = NULL;
	bool response = false;
	int first = 1;
	if (argc > 1 && strcmp(argv[1], "response") == 0) {
		response = true;
		first = 2;
	} else if (argc > 1 && strcmp(argv[1], "request") == 0) {
		first = 2;
	}
	optind = first;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case O_SECRET: secret_hex = optarg; break;
		case O_ENV: env = optarg; break;
		case O_METHOD: method = optarg; break;
		case O_TARGET: target = optarg; break;
		case O_HOST: host = optarg; break;
		case O_BODY: body_path = optarg; break;
		case O_TS: ts = optarg; break;
		case O_NONCE: nonce = optarg; break;
		case O_FORMAT: format = optarg; break;
		case O_STATUS: status_s = optarg; break;
		case O_SIG: sig = optarg; break;
		case O_HEADERS: headers = optarg; break;
		case O_HELP: fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}

	uint8_t secret[32];
	struct cfs_buf body = CFS_BUF_INIT;
	int rc = 2;
	if (secret_of(secret_hex, secret) || (body_path && read_file(body_path, &body)))
		goto out;

	if (!response) {
		struct wire_sig_headers h;
		int ret;
		uint64_t t;
		if (!env || !method || !target || !host) {
			fputs(usage, stderr);
			goto out;
		}
		if (ts && cfs_parse_u64(ts, &t)) {
			fprintf(stderr, "cfs-sign: --timestamp takes milliseconds since the epoch\n");
			goto out;
		}
		if (ts || nonce) {
			char fresh[33];
			uint8_t raw[16];
			if (!nonce) {
				cfs_random(raw, sizeof raw);
				cfs_hex(raw, sizeof raw, fresh);
			}
			ret = wire_sign_request_with(secret, env, method, target, host, body.data,
						     body.len, ts ? (int64_t)t : cfs_now_ms(),
						     nonce ? nonce : fresh, &h);
		} else {
			ret = wire_sign_request(secret, env, method, target, host, body.data, body.len,
						&h);
		}
		if (ret) {
			fprintf(stderr, "cfs-sign: cannot sign: %s (check env, method, target, "
					"host and nonce)\n", strerror(-ret));
			goto out;
		}
		bool curl = strcmp(format, "curl") == 0;
		if (!curl && strcmp(format, "headers") != 0) {
			fprintf(stderr, "cfs-sign: --format is curl or headers\n");
			goto out;
		}
		const char *pre = curl ? "-H\n" : "";
		printf("%sX-Cloudfs-Env: %s\n%sX-Cloudfs-Timestamp: %s\n%sX-Cloudfs-Nonce: %s\n"
		       "%sX-Cloudfs-Signature: %s\n",
		       pre, h.env, pre, h.timestamp, pre, h.nonce, pre, h.signature);
		rc = 0;
		goto out;
	}

	int status = 0;
	char dumped[65];
	if (!nonce || (!status_s && !headers)) {
		fputs(usage, stderr);
		goto out;
	}
	if (headers) {
		struct cfs_buf dump = CFS_BUF_INIT;
		int bad = read_file(headers, &dump) || parse_dump(dump.data ? dump.data : "", &status,
								  dumped);
		cfs_buf_free(&dump);
		if (bad) {
			fprintf(stderr, "cfs-sign: %s: no HTTP status line\n", headers);
			goto out;
		}
		if (!sig)
			sig = dumped;
	}
	if (status_s) {
		uint64_t s;
		if (cfs_parse_u64(status_s, &s) || s < 100 || s > 999) {
			fprintf(stderr, "cfs-sign: --status takes an HTTP status\n");
			goto out;
		}
		status = (int)s;
	}
	if (!sig) {
		char out[65];
		if (wire_sign_response(secret, nonce, status, body.data, body.len, out)) {
			fprintf(stderr, "cfs-sign: cannot sign the response\n");
			goto out;
		}
		printf("%s\n", out);
		rc = 0;
		goto out;
	}
	if (wire_verify_response(secret, nonce, status, body.data, body.len, sig)) {
		fprintf(stderr, "cfs-sign: response signature %s (status %d)\n",
			sig[0] ? "does not verify" : "missing", status);
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	cfs_buf_free(&body);
	return rc;
}
