/*
 * proxy: which address a request came from. The web server's REMOTE_ADDR is the peer it
 * saw; when that peer is a proxy the administrator trusts (ScepTrustedProxies), the
 * client is read from X-Forwarded-For instead, right to left, skipping trusted hops.
 * An X-Forwarded-For from anyone else is ignored: a client can write any header.
 */
#ifndef PROXY_H
#define PROXY_H

#include <stddef.h>

#define MAX_TRUSTED_PROXIES	32	/* entries of ScepTrustedProxies */
#define MAX_XFF_HOPS		16	/* X-Forwarded-For entries walked, right to left */
#define MAX_ADDR_TEXT		64	/* an IPv6 address in text, with room to spare */

struct proxy_net {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];	/* network, in network byte order */
	int		 bits;		/* prefix length */
};

struct proxy_list {
	struct proxy_net net[MAX_TRUSTED_PROXIES];
	size_t		 n;
};

/*
 * A list of addresses and networks (ADDR or ADDR/BITS, IPv4 or IPv6), separated by
 * blanks or commas, into *pl. 1 ok, 0 with one sentence in err.
 */
int	 proxy_list_parse(const char *, struct proxy_list *, char *err, size_t errlen);

/*
 * The client address of a request into out (size outlen): REMOTE unless it is a trusted
 * proxy; then the rightmost X-Forwarded-For entry (XFF, may be NULL) that is not a trusted
 * proxy, or the leftmost if all are. Entries that are not addresses end the walk there:
 * the last trusted hop is the client then. REMOTE NULL gives "-".
 */
void	 proxy_client(const struct proxy_list *, const char *remote, const char *xff,
	    char *out, size_t outlen);

#endif
