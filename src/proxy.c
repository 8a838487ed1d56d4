/*
 * proxy: the client address of a request, X-Forwarded-For read only from trusted proxies
 * (proxy.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "scep.h"
#include "proxy.h"

/* Text address (no prefix, no port) into family and bytes. 1 ok, 0 not an address. */
static int
addr_parse(const char *s, size_t len, int *family, unsigned char addr[16])
{
	char	buf[MAX_ADDR_TEXT];

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		return 1;
	}
	return 0;
}

int
proxy_list_parse(const char *s, struct proxy_list *pl, char *err, size_t errlen)
{
	struct proxy_net	*n;
	const char		*p = s, *tok, *slash;
	size_t			 len, alen;
	int			 bits, max, i;

	memset(pl, 0, sizeof(*pl));
	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		tok = p;
		len = strcspn(p, " \t,");
		p += len;
		if (pl->n == MAX_TRUSTED_PROXIES)
			return errf(err, errlen, "more than %d trusted proxies",
			    MAX_TRUSTED_PROXIES);
		n = &pl->net[pl->n];
		slash = memchr(tok, '/', len);
		alen = slash != NULL ? (size_t)(slash - tok) : len;
		if (!addr_parse(tok, alen, &n->family, n->addr))
			return errf(err, errlen, "\"%.*s\" is not an IPv4 or IPv6 address",
			    (int)(alen > 64 ? 64 : alen), tok);
		max = n->family == AF_INET ? 32 : 128;
		bits = max;
		if (slash != NULL) {
			char	num[4];
			size_t	nlen = len - alen - 1;

			if (nlen == 0 || nlen >= sizeof(num))
				return errf(err, errlen, "\"%.*s\": bad prefix length",
				    (int)(len > 80 ? 80 : len), tok);
			memcpy(num, slash + 1, nlen);
			num[nlen] = '\0';
			if (!parse_decimal(num, 0, max, &bits))
				return errf(err, errlen, "\"%.*s\": bad prefix length",
				    (int)(len > 80 ? 80 : len), tok);
		}
		/* The host bits of a network must be zero: 10.0.0.1/8 is a typo. */
		for (i = bits; i < max; i++)
			if (n->addr[i / 8] & (0x80 >> (i % 8)))
				return errf(err, errlen, "\"%.*s\": host bits set past /%d",
				    (int)(len > 80 ? 80 : len), tok, bits);
		n->bits = bits;
		pl->n++;
	}
	return 1;
}

static int
net_contains(const struct proxy_net *n, int family, const unsigned char addr[16])
{
	int	full = n->bits / 8, rest = n->bits % 8;

	if (n->family != family)
		return 0;
	if (memcmp(n->addr, addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((n->addr[full] ^ addr[full]) & (0xff << (8 - rest))) == 0;
}

/* 1 if the address text S (LEN bytes) is in the list, 0 if not, -1 if not an address. */
static int
trusted(const struct proxy_list *pl, const char *s, size_t len)
{
	unsigned char	addr[16];
	int		family;
	size_t		i;

	if (!addr_parse(s, len, &family, addr))
		return -1;
	for (i = 0; i < pl->n; i++)
		if (net_contains(&pl->net[i], family, addr))
			return 1;
	return 0;
}

void
proxy_client(const struct proxy_list *pl, const char *remote, const char *xff, char *out,
    size_t outlen)
{
	const char	*end, *start, *e, *pick;
	size_t		 picklen, hops;
	int		 t;

	if (remote == NULL)
		remote = "-";
	pick = remote;
	picklen = strlen(remote);
	if (pl == NULL || xff == NULL || trusted(pl, remote, picklen) != 1)
		goto out;
	/* Right to left: each entry was appended by the hop after it. */
	end = xff + strlen(xff);
	for (hops = 0; hops < MAX_XFF_HOPS && end > xff; hops++) {
		start = end;
		while (start > xff && start[-1] != ',')
			start--;
		e = end;
		while (start < e && (*start == ' ' || *start == '\t'))
			start++;
		while (e > start && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((t = trusted(pl, start, (size_t)(e - start))) == -1)
			break;		/* not an address: the last trusted hop is the client */
		pick = start;
		picklen = (size_t)(e - start);
		if (t == 0)
			break;
		while (end > xff && end[-1] != ',')
			end--;
		if (end > xff)
			end--;		/* the comma */
	}
out:
	log_escape(out, outlen, pick, picklen);
}
