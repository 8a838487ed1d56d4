/*
 * The GET PKIOperation decoder and the raw query parser, against every variant of
 * scep-notes §2.4: standard base64 percent-encoded, sscep's %0A line breaks, Apple's raw
 * '+' and '/', form-decoded spaces, base64url without padding (scepclient 2.1.0),
 * parameters in any order, bad percent-encoding.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "unit.h"
#include "scep.h"
#include "http.h"

/* Encode BIN in standard base64 with a newline every 64 characters (sscep). */
static char *
b64(const unsigned char *bin, size_t len, int lines)
{
	size_t	 n = 4 * ((len + 2) / 3);
	char	*raw = malloc(n + 1), *out = malloc(2 * n + 2);
	size_t	 i, o = 0;

	EVP_EncodeBlock((unsigned char *)raw, bin, (int)len);
	for (i = 0; i < n; i++) {
		if (lines && i && i % 64 == 0)
			out[o++] = '\n';
		out[o++] = raw[i];
	}
	out[o] = '\0';
	free(raw);
	return out;
}

/* Percent-encode the characters in SET. */
static char *
pct(const char *s, const char *set)
{
	char	*out = malloc(strlen(s) * 3 + 1), *o = out;

	for (; *s; s++) {
		if (strchr(set, *s))
			o += sprintf(o, "%%%02X", (unsigned char)*s);
		else
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

static void
map(char *s, char from, char to)
{
	for (; *s; s++)
		if (*s == from)
			*s = to;
}

/* Build "operation=PKIOperation&message=<enc>" (or reversed) and decode it back. */
static int
roundtrip(const unsigned char *bin, size_t len, const char *enc, int reversed)
{
	char		*q, *msg;
	unsigned char	*dec;
	size_t		 qlen = strlen(enc) + 64, mlen = 0, dlen = 0;
	int		 bad = 0, ok;

	q = malloc(qlen);
	if (reversed)
		snprintf(q, qlen, "message=%s&operation=PKIOperation", enc);
	else
		snprintf(q, qlen, "operation=PKIOperation&message=%s", enc);
	msg = query_param(q, "message", &mlen, &bad);
	if (msg == NULL || bad) {
		free(q);
		free(msg);
		return 0;
	}
	dec = scep_b64_decode(msg, mlen, &dlen);
	ok = dec != NULL && dlen == len && memcmp(dec, bin, len) == 0;
	free(dec);
	free(msg);
	free(q);
	return ok;
}

int
main(void)
{
	unsigned char	 bin[3001];
	char		*s, *e, *v;
	size_t		 len, i, n;
	int		 bad;

	/* Several lengths so that every padding case (0, 1, 2 '=') occurs. */
	for (n = 2998; n <= 3000; n++) {
		RAND_bytes(bin, (int)n);
		/* RFC 8894 §4.1: standard base64, then percent-encoding of everything. */
		s = b64(bin, n, 0);
		e = pct(s, "+/=");
		CHECK_MSG(roundtrip(bin, n, e, 0), "standard %zu", n);
		free(e);
		/* Apple without POSTPKIOperation: only '=' escaped, raw '+' and '/'. */
		e = pct(s, "=");
		CHECK_MSG(roundtrip(bin, n, e, 0), "apple %zu", n);
		free(e);
		/* jscep / Fleet: literal '+' that a form decoder would have turned into ' '. */
		CHECK_MSG(roundtrip(bin, n, s, 0), "raw %zu", n);
		/* A proxy already form-decoded it: '+' arrives as space (%20 here). */
		e = strdup(s);
		map(e, '+', ' ');
		v = pct(e, " ");
		CHECK_MSG(roundtrip(bin, n, v, 0), "spaces %zu", n);
		free(v);
		free(e);
		/* scepclient 2.1.0: base64url, parameters reversed; also without padding. */
		e = strdup(s);
		map(e, '+', '-');
		map(e, '/', '_');
		CHECK_MSG(roundtrip(bin, n, e, 1), "base64url %zu", n);
		while ((len = strlen(e)) > 0 && e[len - 1] == '=')
			e[len - 1] = '\0';
		CHECK_MSG(roundtrip(bin, n, e, 1), "base64url unpadded %zu", n);
		free(e);
		free(s);
		/* sscep and Cisco: line breaks every 64 characters, %0A, '/' raw. */
		s = b64(bin, n, 1);
		e = pct(s, "+=\n");
		CHECK_MSG(roundtrip(bin, n, e, 0), "sscep %zu", n);
		free(e);
		/* CRLF line breaks. */
		e = pct(s, "+=/\n");
		v = malloc(strlen(e) * 2 + 1);
		for (i = 0, len = 0; e[i]; i++) {
			if (strncmp(e + i, "%0A", 3) == 0) {
				memcpy(v + len, "%0D%0A", 6);
				len += 6;
				i += 2;
			} else
				v[len++] = e[i];
		}
		v[len] = '\0';
		CHECK_MSG(roundtrip(bin, n, v, 0), "crlf %zu", n);
		free(v);
		free(e);
		free(s);
	}

	/* Garbage is refused, not mis-decoded. */
	CHECK(scep_b64_decode("abc!", 4, &len) == NULL);
	CHECK(scep_b64_decode("a", 1, &len) == NULL);
	CHECK(scep_b64_decode("", 0, &len) == NULL);
	CHECK(scep_b64_decode("ab\001c", 4, &len) == NULL);

	/* Query parsing: raw, first match, case-insensitive key, '+' kept. */
	v = query_param("operation=GetCACert&message=a+b", "message", &len, &bad);
	CHECK(v != NULL && strcmp(v, "a+b") == 0 && !bad);
	free(v);
	v = query_param("OPERATION=GetCACaps", "operation", &len, &bad);
	CHECK(v != NULL && strcmp(v, "GetCACaps") == 0);
	free(v);
	v = query_param("operation=GetCACert", "message", &len, &bad);
	CHECK(v == NULL && !bad);
	v = query_param("operation=GetCACert&message", "message", &len, &bad);
	CHECK(v != NULL && len == 0);
	free(v);
	v = query_param("operation=GetCACert&message=", "message", &len, &bad);
	CHECK(v != NULL && len == 0);
	free(v);
	v = query_param("message=%zz", "message", &len, &bad);
	CHECK(v == NULL && bad);
	v = query_param("message=abc%4", "message", &len, &bad);
	CHECK(v == NULL && bad);
	v = query_param("message=abc%", "message", &len, &bad);
	CHECK(v == NULL && bad);
	v = query_param("messagex=1&message=2", "message", &len, &bad);
	CHECK(v != NULL && strcmp(v, "2") == 0);
	free(v);
	v = query_param("a=1&&message=%41%42", "message", &len, &bad);
	CHECK(v != NULL && strcmp(v, "AB") == 0 && len == 2);
	free(v);
	v = query_param("message=a%00b", "message", &len, &bad);
	CHECK(v != NULL && len == 3 && v[1] == '\0');
	free(v);
	CHECK(query_param("", "message", &len, &bad) == NULL);
	return unit_done("http");
}
