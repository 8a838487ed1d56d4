/*
 * proxy.c: ScepTrustedProxies parsing and the client address of a request, X-Forwarded-For
 * believed only from a trusted peer.
 */
#include <string.h>

#include "scep.h"
#include "proxy.h"
#include "unit.h"

static const char *
client(const struct proxy_list *pl, const char *remote, const char *xff)
{
	static char	buf[256];

	proxy_client(pl, remote, xff, buf, sizeof(buf));
	return buf;
}

int
main(void)
{
	struct proxy_list	pl;
	char			err[200], many[40 * 12];
	int			i;

	/* parsing */
	CHECK(proxy_list_parse("", &pl, err, sizeof(err)) && pl.n == 0);
	CHECK(proxy_list_parse("127.0.0.1, ::1 10.0.0.0/8,fd00::/8", &pl, err, sizeof(err)) &&
	    pl.n == 4 && pl.net[2].bits == 8 && pl.net[3].bits == 8);
	CHECK(!proxy_list_parse("10.0.0.1/8", &pl, err, sizeof(err)) &&
	    strstr(err, "host bits") != NULL);
	CHECK(!proxy_list_parse("10.0.0.0/33", &pl, err, sizeof(err)));
	CHECK(!proxy_list_parse("10.0.0.0/", &pl, err, sizeof(err)));
	CHECK(!proxy_list_parse("10.0.0.0/+8", &pl, err, sizeof(err)));
	CHECK(!proxy_list_parse("proxy.example", &pl, err, sizeof(err)) &&
	    strstr(err, "proxy.example") != NULL);
	CHECK(!proxy_list_parse("10.0.0.1:80", &pl, err, sizeof(err)));
	CHECK(proxy_list_parse("::/0", &pl, err, sizeof(err)) && pl.net[0].bits == 0);
	many[0] = '\0';
	for (i = 0; i < MAX_TRUSTED_PROXIES + 1; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.0.0.%d ", i);
	CHECK(!proxy_list_parse(many, &pl, err, sizeof(err)));

	/* the client */
	CHECK(proxy_list_parse("127.0.0.1 10.0.0.0/8 2001:db8::/32", &pl, err, sizeof(err)));
	CHECK(strcmp(client(&pl, "192.0.2.1", "198.51.100.1"), "192.0.2.1") == 0);
	CHECK(strcmp(client(&pl, "127.0.0.1", NULL), "127.0.0.1") == 0);
	CHECK(strcmp(client(&pl, "127.0.0.1", "198.51.100.1"), "198.51.100.1") == 0);
	CHECK(strcmp(client(&pl, "127.0.0.1", "203.0.113.5, 198.51.100.1, 10.1.2.3"),
	    "198.51.100.1") == 0);
	CHECK(strcmp(client(&pl, "127.0.0.1", " 10.9.9.9 ,10.1.2.3 "), "10.9.9.9") == 0);
	CHECK(strcmp(client(&pl, "2001:db8::5", "2001:db9::1"), "2001:db9::1") == 0);
	CHECK(strcmp(client(&pl, "127.0.0.1", "junk, 10.1.2.3"), "10.1.2.3") == 0);
	CHECK(strcmp(client(&pl, "127.0.0.1", "junk"), "127.0.0.1") == 0);
	CHECK(strcmp(client(&pl, "127.0.0.1", ""), "127.0.0.1") == 0);
	CHECK(strcmp(client(&pl, "127.0.0.1", "198.51.100.1,,10.1.2.3"), "10.1.2.3") == 0);
	CHECK(strcmp(client(NULL, "127.0.0.1", "198.51.100.1"), "127.0.0.1") == 0);
	CHECK(strcmp(client(&pl, NULL, "198.51.100.1"), "-") == 0);
	CHECK(strcmp(client(&pl, "a\nb", NULL), "a\\x0Ab") == 0);
	return unit_done("proxy");
}
