/* listen.c — the server's listening socket and its trusted-proxy list.
 *
 * We bind the socket ourselves rather than let libmicrohttpd do it, so that
 * every address form of the config works the same way ("127.0.0.1:7001",
 * "[::1]:7001", ":7001" for every address, v4 and v6), port 0 yields an
 * ephemeral port we can report, and a bind error says which address failed. */
#include "wire/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"

/* Split "HOST:PORT", "[V6]:PORT" or ":PORT".  host is "" for any address. */
static int split_listen(const char *listen, char *host, size_t host_len, unsigned short *port)
{
	const char *colon;
	size_t hl;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		hl = (size_t)(close - listen - 1);
		memcpy(host, listen + 1, hl < host_len ? hl : 0);
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon || memchr(listen, ':', (size_t)(colon - listen)))
			return -EINVAL;
		hl = (size_t)(colon - listen);
		memcpy(host, listen, hl < host_len ? hl : 0);
	}
	if (hl >= host_len)
		return -EINVAL;
	host[hl] = '\0';
	uint64_t p;
	if (cfs_parse_u64(colon + 1, &p) || p > 65535)
		return -EINVAL;
	*port = (unsigned short)p;
	return 0;
}

static int bind_one(const struct sockaddr *sa, socklen_t len, int *out)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* "[::]" serves v4 too, whatever the system default says. */
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr))
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	if (bind(fd, sa, len) || listen(fd, SOMAXCONN)) {
		int e = -errno;
		close(fd);
		return e;
	}
	*out = fd;
	return 0;
}

int wire_listen_socket(const char *listen, int *fd_out, unsigned short *port_out,
		       struct cfs_err *err)
{
	char host[256];
	unsigned short port;
	if (!listen || split_listen(listen, host, sizeof host, &port))
		return cfs_errf(err, -EINVAL, "listen address %s: expected ADDR:PORT, [V6]:PORT or :PORT",
				listen ? listen : "(none)");

	int ret, fd = -1;
	if (!host[0]) {
		struct sockaddr_in6 any6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
					     .sin6_addr = IN6ADDR_ANY_INIT };
		struct sockaddr_in any4 = { .sin_family = AF_INET, .sin_port = htons(port),
					    .sin_addr.s_addr = htonl(INADDR_ANY) };
		ret = bind_one((struct sockaddr *)&any6, sizeof any6, &fd);
		if (ret == -EAFNOSUPPORT)
			ret = bind_one((struct sockaddr *)&any4, sizeof any4, &fd);
	} else {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
					  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
		struct addrinfo *ai = NULL;
		char ps[8];
		snprintf(ps, sizeof ps, "%u", port);
		int g = getaddrinfo(host, ps, &hints, &ai);
		if (g)
			return cfs_errf(err, -EINVAL, "listen address %s: %s", listen, gai_strerror(g));
		ret = -EADDRNOTAVAIL;
		for (struct addrinfo *a = ai; a && ret; a = a->ai_next)
			ret = bind_one(a->ai_addr, a->ai_addrlen, &fd);
		freeaddrinfo(ai);
	}
	if (ret)
		return cfs_errf(err, ret, "listen on %s: %s", listen, strerror(-ret));

	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		ret = -errno;
		close(fd);
		return cfs_errf(err, ret, "listen on %s: %s", listen, strerror(-ret));
	}
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	return 0;
}

/* An address of a v4 client, also when it arrives v4-mapped on a v6 socket. */
static int sockaddr_bytes(const struct sockaddr *sa, uint8_t out[16], int *family)
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(out, a->s6_addr + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(out, a->s6_addr, 16);
			*family = AF_INET6;
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

int wire_proxies_parse(const char *list, struct wire_netmask **out, size_t *n,
		       struct cfs_err *err)
{
	struct wire_netmask *m = NULL;
	size_t count = 0;
	*out = NULL;
	*n = 0;
	for (const char *p = list; p && *p;) {
		p += strspn(p, " \t,");
		size_t len = strcspn(p, " \t,");
		const char *start = p;
		if (!len)
			break;
		char tok[64];
		if (len >= sizeof tok)
			goto bad;
		memcpy(tok, p, len);
		tok[len] = '\0';
		p += len;

		struct wire_netmask nm = { 0 };
		char *slash = strchr(tok, '/');
		if (slash)
			*slash = '\0';
		if (inet_pton(AF_INET, tok, nm.addr) == 1) {
			nm.family = AF_INET;
			nm.bits = 32;
		} else if (inet_pton(AF_INET6, tok, nm.addr) == 1) {
			nm.family = AF_INET6;
			nm.bits = 128;
		} else {
			goto bad;
		}
		if (slash) {
			uint64_t b;
			if (cfs_parse_u64(slash + 1, &b) || b > nm.bits)
				goto bad;
			nm.bits = (unsigned)b;
		}
		struct wire_netmask *nmv = realloc(m, (count + 1) * sizeof *m);
		if (!nmv) {
			free(m);
			return cfs_errf(err, -ENOMEM, "out of memory");
		}
		m = nmv;
		m[count++] = nm;
		continue;
bad:
		free(m);
		return cfs_errf(err, -EINVAL, "trusted_proxies: %.*s is not an address or ADDR/BITS",
				(int)(len < 64 ? len : 64), start);
	}
	*out = m;
	*n = count;
	return 0;
}

bool wire_proxies_match(const struct wire_netmask *m, size_t n, const struct sockaddr *sa)
{
	uint8_t a[16];
	int family;
	if (!sa || sockaddr_bytes(sa, a, &family))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (m[i].family != family)
			continue;
		unsigned full = m[i].bits / 8, rest = m[i].bits % 8;
		if (memcmp(a, m[i].addr, full))
			continue;
		if (rest && ((a[full] ^ m[i].addr[full]) & (uint8_t)(0xff << (8 - rest))))
			continue;
		return true;
	}
	return false;
}
