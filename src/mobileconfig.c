/*
 * mobileconfig: Apple configuration profiles for SCEP enrollment (the command that writes
 * them is `scep-admin mobileconfig`, src/admin/challenge.c). See mobileconfig.h.
 *
 * Profile format: Apple's device-management schema (TopLevel.yaml,
 * CommonPayloadKeys.yaml, com.apple.security.scep.yaml) as summarised in docs/clients.md §6.
 * The plist is written by hand: a fixed shape, every string checked and escaped here.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ca.h"
#include "mobileconfig.h"
#include "scep.h"

#define MAX_IDENTIFIER	255	/* bytes of a PayloadIdentifier */

/* ----------------------------------------------------------- document buffer */

/* The document being written; the first error stops every later append. */
struct doc {
	char	*buf;
	size_t	 len, cap;
	int	 depth;		/* indentation, in tabs */
	int	 failed;
	char	*err;
	size_t	 errlen;
};

static void
doc_fail(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
doc_fail(struct doc *d, const char *fmt, ...)
{
	va_list	ap;

	if (d->failed)
		return;
	d->failed = 1;
	if (d->err != NULL && d->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(d->err, d->errlen, fmt, ap);
		va_end(ap);
	}
}

static void
doc_put(struct doc *d, const char *s, size_t n)
{
	char	*nbuf;
	size_t	 ncap;

	if (d->failed)
		return;
	if (n > MC_MAX_DOC - d->len) {
		doc_fail(d, "the profile would be larger than %d bytes", MC_MAX_DOC);
		return;
	}
	if (d->len + n + 1 > d->cap) {
		ncap = d->cap ? d->cap : 4096;
		while (ncap < d->len + n + 1)
			ncap *= 2;
		if ((nbuf = realloc(d->buf, ncap)) == NULL) {
			doc_fail(d, "out of memory");
			return;
		}
		d->buf = nbuf;
		d->cap = ncap;
	}
	memcpy(d->buf + d->len, s, n);
	d->len += n;
	d->buf[d->len] = '\0';
}

static void
doc_puts(struct doc *d, const char *s)
{
	doc_put(d, s, strlen(s));
}

static void
doc_indent(struct doc *d)
{
	int	i;

	for (i = 0; i < d->depth; i++)
		doc_put(d, "\t", 1);
}

/* ------------------------------------------------------------ text checks */

/*
 * Append S as XML character data: valid UTF-8, no control characters (C0, DEL, C1), no
 * U+FFFE/U+FFFF (not XML characters), not empty, at most MC_MAX_STRING bytes; & < > " '
 * become entities. WHAT names the option in the error.
 */
static void
doc_text(struct doc *d, const char *what, const char *s)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i = 0, start, len, n;
	uint32_t		 cp;
	const char		*ent;

	if (d->failed)
		return;
	if (s == NULL || s[0] == '\0') {
		doc_fail(d, "%s must not be empty", what);
		return;
	}
	if ((len = strlen(s)) > MC_MAX_STRING) {
		doc_fail(d, "%s is longer than %d bytes", what, MC_MAX_STRING);
		return;
	}
	while (i < len) {
		start = i;
		if ((n = utf8_decode(u + i, len - i, &cp)) == 0) {
			doc_fail(d, "%s is not valid UTF-8 (byte %zu)", what, start + 1);
			return;
		}
		i += n;
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			doc_fail(d, "%s holds a control character (U+%04X at byte %zu)", what,
			    (unsigned)cp, start + 1);
			return;
		}
		if (cp == 0xfffe || cp == 0xffff) {
			doc_fail(d, "%s holds U+%04X, which XML does not allow", what,
			    (unsigned)cp);
			return;
		}
		switch (cp) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '"':
			ent = "&quot;";
			break;
		case '\'':
			ent = "&apos;";
			break;
		default:
			ent = NULL;
			break;
		}
		if (ent != NULL)
			doc_puts(d, ent);
		else
			doc_put(d, s + start, i - start);
	}
}

/* ----------------------------------------------------------- plist elements */

static void
el_open(struct doc *d, const char *tag)
{
	doc_indent(d);
	doc_puts(d, "<");
	doc_puts(d, tag);
	doc_puts(d, ">\n");
	d->depth++;
}

static void
el_close(struct doc *d, const char *tag)
{
	d->depth--;
	doc_indent(d);
	doc_puts(d, "</");
	doc_puts(d, tag);
	doc_puts(d, ">\n");
}

static void
el_key(struct doc *d, const char *key)
{
	doc_indent(d);
	doc_puts(d, "<key>");
	doc_text(d, "a key", key);
	doc_puts(d, "</key>\n");
}

static void
el_string(struct doc *d, const char *what, const char *s)
{
	doc_indent(d);
	doc_puts(d, "<string>");
	doc_text(d, what, s);
	doc_puts(d, "</string>\n");
}

static void
el_integer(struct doc *d, long n)
{
	char	num[32];

	snprintf(num, sizeof(num), "%ld", n);
	doc_indent(d);
	doc_puts(d, "<integer>");
	doc_puts(d, num);
	doc_puts(d, "</integer>\n");
}

/* <data>: base64, one line (plist parsers ignore whitespace inside either way). */
static void
el_data(struct doc *d, const unsigned char *p, size_t n)
{
	char	b64[4 * ((MC_FINGERPRINT_LEN + 2) / 3) + 1];

	if (n > MC_FINGERPRINT_LEN) {
		doc_fail(d, "data too long");
		return;
	}
	EVP_EncodeBlock((unsigned char *)b64, p, (int)n);
	doc_indent(d);
	doc_puts(d, "<data>");
	doc_puts(d, b64);
	doc_puts(d, "</data>\n");
}

static void
kv_string(struct doc *d, const char *key, const char *what, const char *s)
{
	el_key(d, key);
	el_string(d, what, s);
}

static void
kv_integer(struct doc *d, const char *key, long n)
{
	el_key(d, key);
	el_integer(d, n);
}

/* KEY with one string, or an array of N strings; nothing when N is 0. */
static void
kv_strings(struct doc *d, const char *key, const char *what, const char *const *v,
    size_t n)
{
	size_t	i;

	if (n == 0)
		return;
	el_key(d, key);
	if (n == 1) {
		el_string(d, what, v[0]);
		return;
	}
	el_open(d, "array");
	for (i = 0; i < n; i++)
		el_string(d, what, v[i]);
	el_close(d, "array");
}

/* ------------------------------------------------------------------ Subject */

/* The attribute types the Subject key takes by name; every other one as a dotted OID. */
static const struct {
	int		 nid;
	const char	*name;
} subject_types[] = {
	{ NID_countryName, "C" },
	{ NID_localityName, "L" },
	{ NID_stateOrProvinceName, "ST" },
	{ NID_organizationName, "O" },
	{ NID_organizationalUnitName, "OU" },
	{ NID_commonName, "CN" },
};

/*
 * Subject: an array of RDNs, each an array of [type, value] pairs, in the order of the
 * DN as written ("/C=US/O=Example/CN=dev" -> [[[C,US]],[[O,Example]],[[CN,dev]]]).
 */
static void
put_subject(struct doc *d, const char *dn)
{
	X509_NAME		*name = NULL;
	X509_NAME_ENTRY		*e;
	const ASN1_OBJECT	*obj;
	unsigned char		*utf8 = NULL;
	char			 err[256], oid[128];
	const char		*type;
	size_t			 k;
	int			 i, n, len, nid, set = -1;

	if (d->failed)
		return;
	if ((name = ca_parse_dn(dn, err, sizeof(err))) == NULL) {
		doc_fail(d, "--subject: %s", err[0] != '\0' ? err : "malformed DN");
		goto out;
	}
	if ((n = X509_NAME_entry_count(name)) == 0) {
		doc_fail(d, "--subject: empty DN");
		goto out;
	}
	el_key(d, "Subject");
	el_open(d, "array");
	for (i = 0; i < n; i++) {
		e = X509_NAME_get_entry(name, i);
		obj = X509_NAME_ENTRY_get_object(e);
		nid = OBJ_obj2nid(obj);
		type = NULL;
		for (k = 0; k < sizeof(subject_types) / sizeof(subject_types[0]); k++)
			if (subject_types[k].nid == nid)
				type = subject_types[k].name;
		if (type == NULL) {
			len = OBJ_obj2txt(oid, sizeof(oid), obj, 1);
			if (len <= 0 || (size_t)len >= sizeof(oid)) {
				doc_fail(d, "--subject: cannot write an attribute type");
				goto out;
			}
			type = oid;
		}
		if ((len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e))) < 0 ||
		    strlen((char *)utf8) != (size_t)len) {
			doc_fail(d, "--subject: the value of %s is not a UTF-8 string", type);
			goto out;
		}
		/* Attributes of one multi-valued RDN share a set number. */
		if (X509_NAME_ENTRY_set(e) != set) {
			if (set != -1)
				el_close(d, "array");
			el_open(d, "array");
			set = X509_NAME_ENTRY_set(e);
		}
		el_open(d, "array");
		el_string(d, "--subject (type)", type);
		el_string(d, "--subject", (char *)utf8);
		el_close(d, "array");
		OPENSSL_free(utf8);
		utf8 = NULL;
	}
	el_close(d, "array");
	el_close(d, "array");
out:
	OPENSSL_free(utf8);
	X509_NAME_free(name);
	ERR_clear_error();
}

/* -------------------------------------------------------------- identifiers */

/* A PayloadIdentifier: labels of letters, digits and '-' joined by dots. */
static int
identifier_ok(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > MAX_IDENTIFIER || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.' && s[i + 1] == '.')
			return 0;
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
			return 0;
	}
	return 1;
}

/*
 * The default PayloadIdentifier: the URL's host name reversed, then "scep", then the
 * CA-IDENT when it is a plain label ("https://scep.example.org/x", "ca1" ->
 * "org.example.scep.scep.ca1"). An IP address or an odd host gives "local.scep".
 */
static void
default_identifier(const char *url, const char *name, char *out, size_t outlen)
{
	const char	*h, *end, *p, *at;
	char		 host[MAX_IDENTIFIER + 1];
	size_t		 n, o = 0, i;
	int		 letter = 0;

	snprintf(out, outlen, "local.scep");
	if ((h = strstr(url, "://")) == NULL)
		return;
	h += 3;
	end = h + strcspn(h, "/?#");
	for (at = NULL, p = h; p < end; p++)
		if (*p == '@')
			at = p;
	if (at != NULL)
		h = at + 1;
	for (p = h; p < end && *p != ':'; p++)
		;
	n = (size_t)(p - h);
	if (n == 0 || n > MAX_IDENTIFIER - 32)
		return;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c >= 'a' && c <= 'z')
			letter = 1;
		else if (!((c >= '0' && c <= '9') || c == '-' || c == '.'))
			return;
		host[i] = c;
	}
	host[n] = '\0';
	if (!letter || !identifier_ok(host))
		return;
	/* Reverse the labels. */
	out[0] = '\0';
	for (p = host + n; p > host; ) {
		end = p;
		while (p > host && p[-1] != '.')
			p--;
		o += (size_t)snprintf(out + o, o < outlen ? outlen - o : 0, "%s%.*s",
		    o ? "." : "", (int)(end - p), p);
		if (p > host)
			p--;	/* past the dot */
	}
	snprintf(out + o, o < outlen ? outlen - o : 0, ".scep");
	if (name != NULL && name[0] != '\0' && strchr(name, '.') == NULL &&
	    identifier_ok(name) && strlen(out) + 1 + strlen(name) < outlen) {
		strcat(out, ".");
		strcat(out, name);
	}
}

int
mobileconfig_uuid(char out[MC_UUID_LEN + 1])
{
	unsigned char	b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0;
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 (RFC 9562 §5.4) */
	b[8] = (b[8] & 0x3f) | 0x80;	/* variant 10 */
	snprintf(out, MC_UUID_LEN + 1,
	    "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
	    b[12], b[13], b[14], b[15]);
	return 1;
}

static int
url_ok(const char *url)
{
	const char	*h;

	if (strncasecmp(url, "https://", 8) == 0)
		h = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		h = url + 7;
	else
		return 0;
	return *h != '\0' && *h != '/' && strpbrk(url, " \t\r\n") == NULL;
}

/* ------------------------------------------------------------------ builder */

void
mobileconfig_defaults(struct mobileconfig *mc)
{
	memset(mc, 0, sizeof(*mc));
	mc->keysize = 2048;
	mc->key_usage = 5;
	mc->retries = 3;
	mc->retry_delay = 10;
}

int
mobileconfig_build(const struct mobileconfig *mc, char **docp, size_t *lenp, char *err,
    size_t errlen)
{
	struct doc	 d = { .err = err, .errlen = errlen };
	char		 ident[MAX_IDENTIFIER + 1], pident[MAX_IDENTIFIER + 16];
	char		 u1[MC_UUID_LEN + 1], u2[MC_UUID_LEN + 1];
	char		 dname[MC_MAX_STRING + 64], descr[MC_MAX_STRING + 64];
	const char	*uuid1, *uuid2;
	int		 rc = 0;

	*docp = NULL;
	*lenp = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	/* Values the plist would carry but a device would refuse or misread. */
	if (mc->url == NULL || !url_ok(mc->url)) {
		doc_fail(&d, "--url must be an http:// or https:// URL with a host and no "
		    "spaces");
		goto out;
	}
	if (mc->keysize != 1024 && mc->keysize != 2048 && mc->keysize != 4096) {
		doc_fail(&d, "--keysize must be 1024, 2048 or 4096");
		goto out;
	}
	if (mc->key_usage != 0 && mc->key_usage != 1 && mc->key_usage != 4 &&
	    mc->key_usage != 5) {
		doc_fail(&d, "--key-usage must be 0, 1, 4 or 5");
		goto out;
	}
	if (mc->retries < 0 || mc->retries > MC_MAX_RETRIES ||
	    mc->retry_delay < 0 || mc->retry_delay > MC_MAX_RETRY_DELAY) {
		doc_fail(&d, "--retries must be 0..%d and --retry-delay 0..%d seconds",
		    MC_MAX_RETRIES, MC_MAX_RETRY_DELAY);
		goto out;
	}
	if (mc->n_san_dns > MC_MAX_SAN || mc->n_san_email > MC_MAX_SAN ||
	    mc->n_san_uri > MC_MAX_SAN ||
	    mc->n_san_dns + mc->n_san_email + mc->n_san_uri + (mc->upn != NULL) > MC_MAX_SAN) {
		doc_fail(&d, "at most %d subjectAltName values", MC_MAX_SAN);
		goto out;
	}
	if (mc->identifier != NULL) {
		if (!identifier_ok(mc->identifier)) {
			doc_fail(&d, "--identifier must be reverse DNS: letters, digits and '-' "
			    "in labels joined by dots, at most %d bytes", MAX_IDENTIFIER);
			goto out;
		}
		snprintf(ident, sizeof(ident), "%s", mc->identifier);
	} else {
		default_identifier(mc->url, mc->name, ident, sizeof(ident));
		if (!identifier_ok(ident))
			snprintf(ident, sizeof(ident), "local.scep");
	}
	snprintf(pident, sizeof(pident), "%s.scep", ident);
	if ((uuid1 = mc->uuid_profile) == NULL) {
		if (!mobileconfig_uuid(u1)) {
			doc_fail(&d, "no random bytes for a UUID");
			goto out;
		}
		uuid1 = u1;
	}
	if ((uuid2 = mc->uuid_payload) == NULL) {
		if (!mobileconfig_uuid(u2)) {
			doc_fail(&d, "no random bytes for a UUID");
			goto out;
		}
		uuid2 = u2;
	}
	if (mc->display_name != NULL)
		snprintf(dname, sizeof(dname), "%s", mc->display_name);
	else if (mc->name != NULL && strlen(mc->name) <= MC_MAX_STRING)
		snprintf(dname, sizeof(dname), "SCEP enrollment (%s)", mc->name);
	else
		snprintf(dname, sizeof(dname), "SCEP enrollment");
	snprintf(descr, sizeof(descr), "Requests a certificate from %s", mc->url);

	doc_puts(&d, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
	    "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	    "<plist version=\"1.0\">\n");
	el_open(&d, "dict");
	el_key(&d, "PayloadContent");
	el_open(&d, "array");
	el_open(&d, "dict");		/* the SCEP payload */
	el_key(&d, "PayloadContent");
	el_open(&d, "dict");		/* its settings */
	kv_string(&d, "URL", "--url", mc->url);
	if (mc->name != NULL)
		kv_string(&d, "Name", "--name", mc->name);
	if (mc->subject != NULL)
		put_subject(&d, mc->subject);
	if (mc->challenge != NULL)
		kv_string(&d, "Challenge", "the challenge", mc->challenge);
	kv_integer(&d, "Keysize", mc->keysize);
	kv_string(&d, "Key Type", "Key Type", "RSA");
	kv_integer(&d, "Key Usage", mc->key_usage);
	if (mc->has_fingerprint) {
		el_key(&d, "CAFingerprint");
		el_data(&d, mc->fingerprint, MC_FINGERPRINT_LEN);
	}
	kv_integer(&d, "Retries", mc->retries);
	kv_integer(&d, "RetryDelay", mc->retry_delay);
	if (mc->n_san_dns + mc->n_san_email + mc->n_san_uri > 0 || mc->upn != NULL) {
		el_key(&d, "SubjectAltName");
		el_open(&d, "dict");
		kv_strings(&d, "dNSName", "--san-dns", mc->san_dns, mc->n_san_dns);
		kv_strings(&d, "rfc822Name", "--san-email", mc->san_email, mc->n_san_email);
		kv_strings(&d, "uniformResourceIdentifier", "--san-uri", mc->san_uri,
		    mc->n_san_uri);
		if (mc->upn != NULL)
			kv_string(&d, "ntPrincipalName", "--upn", mc->upn);
		el_close(&d, "dict");
	}
	el_close(&d, "dict");
	kv_string(&d, "PayloadDescription", "the description", "SCEP certificate enrollment");
	kv_string(&d, "PayloadDisplayName", "the display name", "SCEP certificate");
	kv_string(&d, "PayloadIdentifier", "--identifier", pident);
	if (mc->organization != NULL)
		kv_string(&d, "PayloadOrganization", "--organization", mc->organization);
	kv_string(&d, "PayloadType", "PayloadType", "com.apple.security.scep");
	kv_string(&d, "PayloadUUID", "the payload UUID", uuid2);
	kv_integer(&d, "PayloadVersion", 1);
	el_close(&d, "dict");
	el_close(&d, "array");
	kv_string(&d, "PayloadDescription", "--url", descr);
	kv_string(&d, "PayloadDisplayName", "--display-name", dname);
	kv_string(&d, "PayloadIdentifier", "--identifier", ident);
	if (mc->organization != NULL)
		kv_string(&d, "PayloadOrganization", "--organization", mc->organization);
	kv_string(&d, "PayloadType", "PayloadType", "Configuration");
	kv_string(&d, "PayloadUUID", "the profile UUID", uuid1);
	kv_integer(&d, "PayloadVersion", 1);
	el_close(&d, "dict");
	doc_puts(&d, "</plist>\n");
	if (d.failed)
		goto out;
	*docp = d.buf;
	*lenp = d.len;
	d.buf = NULL;
	rc = 1;
out:
	if (d.buf != NULL) {
		OPENSSL_cleanse(d.buf, d.cap);	/* may hold the challenge */
		free(d.buf);
	}
	return rc;
}

int
mobileconfig_fingerprint(X509 *cert, unsigned char out[MC_FINGERPRINT_LEN])
{
	unsigned int	n = 0;

	return cert != NULL && X509_digest(cert, EVP_sha1(), out, &n) == 1 &&
	    n == MC_FINGERPRINT_LEN;
}

/* ------------------------------------------------------------------ signing */

int
mobileconfig_sign(struct ca *ca, const char *doc, size_t len, unsigned char **der,
    size_t *derlen, char *err, size_t errlen)
{
	STACK_OF(X509)	*chain = NULL, *all;
	X509		*x;
	int		 i, rc = 0;

	*der = NULL;
	*derlen = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	/*
	 * Signed by the CA, also in RA mode: signed by the RA instead, `openssl cms -verify`
	 * would fail (its EKU lacks emailProtection) and it would look unlike a CA profile.
	 * The issuers above the CA from GetCACert go with it (not the CA, not an RA).
	 */
	if ((chain = sk_X509_new_null()) == NULL) {
		errf_crypto(err, errlen, "out of memory");
		goto out;
	}
	all = ca_getcacert_certs(ca);
	for (i = 0; i < sk_X509_num(all); i++) {
		x = sk_X509_value(all, i);
		if (X509_cmp(x, ca_cert(ca)) == 0 || X509_cmp(x, ca_scep_cert(ca)) == 0)
			continue;
		if (!sk_X509_push(chain, x)) {
			errf_crypto(err, errlen, "out of memory");
			goto out;
		}
	}
	rc = ca_sign_cms(ca, (const unsigned char *)doc, len, chain, der, derlen, err, errlen);
out:
	sk_X509_free(chain);	/* borrowed certificates: the SignedData holds its own */
	return rc;
}
