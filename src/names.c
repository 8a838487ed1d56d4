/*
 * names: X.509 names and subjectAltNames compared, checked and described as names. See
 * names.h; the canonical form is the one X509_NAME_cmp() uses (RFC 5280 §7.1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "names.h"
#include "scep.h"

/* The string types X509_NAME_cmp() canonicalizes; other types compare as they are. */
#define CANON_TYPES	(B_ASN1_UTF8STRING | B_ASN1_BMPSTRING | B_ASN1_UNIVERSALSTRING | \
			 B_ASN1_PRINTABLESTRING | B_ASN1_T61STRING | B_ASN1_IA5STRING | \
			 B_ASN1_VISIBLESTRING)
#define DESCR_MAX	512	/* bytes of one described difference */

static int
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int
name_value_canon(const X509_NAME_ENTRY *e, unsigned char **out, size_t *outlen)
{
	const ASN1_STRING	*v = X509_NAME_ENTRY_get_data(e);
	unsigned char		*u = NULL, *c = NULL;
	size_t			 i, n = 0, end;
	int			 len, ok = 0, blank = 0;

	*out = NULL;
	*outlen = 0;
	if (v == NULL)
		return 0;
	if (!(ASN1_tag2bit(ASN1_STRING_type(v)) & CANON_TYPES)) {
		/* Tag byte, then the value as it is: never equal to a canonical string. */
		len = ASN1_STRING_length(v);
		if (len < 0 || (c = malloc((size_t)len + 2)) == NULL)
			return 0;
		c[0] = 0;
		c[1] = (unsigned char)ASN1_STRING_type(v);
		memcpy(c + 2, ASN1_STRING_get0_data(v), (size_t)len);
		*out = c;
		*outlen = (size_t)len + 2;
		return 1;
	}
	if ((len = ASN1_STRING_to_UTF8(&u, v)) < 0 || (c = malloc((size_t)len + 2)) == NULL)
		goto out;
	c[n++] = 1;
	end = (size_t)len;
	while (end > 0 && is_blank(u[end - 1]))
		end--;
	for (i = 0; i < end && is_blank(u[i]); i++)
		;
	for (; i < end; i++) {
		if (is_blank(u[i])) {
			blank = 1;
			continue;
		}
		if (blank)
			c[n++] = ' ';
		blank = 0;
		c[n++] = u[i] < 0x80 && u[i] >= 'A' && u[i] <= 'Z' ? u[i] - 'A' + 'a' : u[i];
	}
	*out = c;
	*outlen = n;
	c = NULL;
	ok = 1;
out:
	OPENSSL_free(u);
	free(c);
	return ok;
}

int
name_canon_digest(const X509_NAME *name, unsigned char md[32])
{
	EVP_MD_CTX	*ctx = NULL;
	unsigned char	*v = NULL, hdr[12];
	char		 oid[128];
	size_t		 vlen;
	unsigned int	 mdlen = 0;
	int		 i, n, set, olen, ok = 0;

	if (name == NULL || (ctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	n = X509_NAME_entry_count(name);
	for (i = 0; i < n; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);

		free(v);
		v = NULL;
		set = X509_NAME_ENTRY_set(e);
		olen = OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(e), 1);
		if (olen <= 0 || (size_t)olen >= sizeof(oid) || !name_value_canon(e, &v, &vlen))
			goto out;
		/* Lengths first, so that no two sequences of entries hash alike. */
		hdr[0] = (unsigned char)(set >> 24);
		hdr[1] = (unsigned char)(set >> 16);
		hdr[2] = (unsigned char)(set >> 8);
		hdr[3] = (unsigned char)set;
		hdr[4] = (unsigned char)olen;
		hdr[5] = hdr[6] = hdr[7] = 0;
		hdr[8] = (unsigned char)(vlen >> 24);
		hdr[9] = (unsigned char)(vlen >> 16);
		hdr[10] = (unsigned char)(vlen >> 8);
		hdr[11] = (unsigned char)vlen;
		if (!EVP_DigestUpdate(ctx, hdr, sizeof(hdr)) ||
		    !EVP_DigestUpdate(ctx, oid, (size_t)olen) ||
		    !EVP_DigestUpdate(ctx, v, vlen))
			goto out;
	}
	ok = EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
out:
	free(v);
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* 1 if the UTF-8 text S (N bytes) holds no control character and is valid UTF-8. */
static int
utf8_clean(const unsigned char *s, size_t n)
{
	uint32_t	cp;
	size_t		k;

	while (n > 0) {
		if ((k = utf8_decode(s, n, &cp)) == 0)
			return 0;
		if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f))
			return 0;
		s += k;
		n -= k;
	}
	return 1;
}

/* 1 if the string V, read as UTF-8 whatever its type, is clean (utf8_clean). */
static int
string_clean(const ASN1_STRING *v)
{
	unsigned char	*u = NULL;
	int		 len, ok;

	if (v == NULL || (len = ASN1_STRING_to_UTF8(&u, v)) < 0)
		return 0;
	ok = utf8_clean(u, (size_t)len);
	OPENSSL_free(u);
	return ok;
}

int
name_clean(const X509_NAME *name, char *why, size_t whylen)
{
	int	i, n = X509_NAME_entry_count(name);

	for (i = 0; i < n; i++) {
		const X509_NAME_ENTRY	*e = X509_NAME_get_entry(name, i);
		int			 nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));

		if (!string_clean(X509_NAME_ENTRY_get_data(e)))
			return errf(why, whylen, "the subject's %s holds a control character "
			    "(NUL included) or is not a readable string",
			    nid != NID_undef ? OBJ_nid2sn(nid) : "attribute");
	}
	return 1;
}

int
csr_sans(X509_REQ *req, GENERAL_NAMES **out, char *why, size_t whylen)
{
	STACK_OF(X509_EXTENSION)	*exts = NULL;
	int				 crit = -1, ok = 0;

	*out = NULL;
	if ((exts = X509_REQ_get_extensions(req)) == NULL) {
		if (X509_REQ_get_attr_by_NID(req, NID_ext_req, -1) >= 0 ||
		    X509_REQ_get_attr_by_NID(req, NID_ms_ext_req, -1) >= 0)
			return errf_crypto(why, whylen, "the CSR's extensionRequest is malformed");
		return 1;
	}
	*out = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (*out == NULL && crit != -1) {
		errf_crypto(why, whylen, crit == -2 ? "the CSR requests subjectAltName twice" :
		    "the CSR's subjectAltName is malformed");
		goto out;
	}
	ok = 1;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return ok;
}

/* 1 if the IA5String V holds printable ASCII only. */
static int
ia5_clean(const ASN1_STRING *v)
{
	const unsigned char	*p = ASN1_STRING_get0_data(v);
	int			 i, n = ASN1_STRING_length(v);

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] >= 0x7f)
			return 0;
	return 1;
}

int
sans_clean(const GENERAL_NAMES *gens, char *why, size_t whylen)
{
	int	i, ok;

	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME	*g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_TYPE		*t;

		switch (g->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			ok = ia5_clean(g->d.ia5);
			break;
		case GEN_OTHERNAME:
			t = g->d.otherName->value;
			ok = t == NULL || !(ASN1_tag2bit(t->type) & CANON_TYPES) ||
			    string_clean(t->value.asn1_string);
			break;
		case GEN_DIRNAME:
			ok = name_clean(g->d.directoryName, NULL, 0);
			break;
		default:
			ok = 1;
		}
		if (!ok)
			return errf(why, whylen, "subjectAltName %d holds a control character "
			    "(NUL included)", i + 1);
	}
	return 1;
}

/* Append "PREFIX" and then LEN bytes of S to the list in *BUF, ',' escaped. */
static int
list_add(char **buf, size_t *len, const char *prefix, const unsigned char *s, size_t n)
{
	size_t	 need, i;
	char	*b, *p;

	if (n > DESCR_MAX)
		n = DESCR_MAX;
	need = (*len ? 1 : 0) + strlen(prefix) + n * 4 + 1;
	if ((b = realloc(*buf, *len + need)) == NULL)
		return 0;
	*buf = b;
	p = b + *len;
	if (*len)
		*p++ = ',';
	p += sprintf(p, "%s", prefix);
	for (i = 0; i < n; i++) {
		if (s[i] == ',' || s[i] == '\\' || s[i] < 0x20 || s[i] == 0x7f)
			p += sprintf(p, "\\x%02x", s[i]);
		else
			*p++ = (char)s[i];
	}
	*p = '\0';
	*len = (size_t)(p - b);
	return 1;
}

/* 1 if NAME has an entry of E's type whose canonical value equals E's. */
static int
name_has(const X509_NAME *name, const X509_NAME_ENTRY *e, int *err)
{
	unsigned char	*a = NULL, *b = NULL;
	size_t		 alen, blen;
	int		 i, n = X509_NAME_entry_count(name), found = 0;

	if (!name_value_canon(e, &a, &alen)) {
		*err = 1;
		return 0;
	}
	for (i = 0; i < n && !found; i++) {
		const X509_NAME_ENTRY *o = X509_NAME_get_entry(name, i);

		if (OBJ_cmp(X509_NAME_ENTRY_get_object(o), X509_NAME_ENTRY_get_object(e)) != 0)
			continue;
		if (!name_value_canon(o, &b, &blen)) {
			*err = 1;
			break;
		}
		found = alen == blen && memcmp(a, b, alen) == 0;
		free(b);
		b = NULL;
	}
	free(a);
	return found;
}

/* 1 if GENS holds a name equal to G (a DNS name compared without ASCII case). */
static int
sans_have(const GENERAL_NAMES *gens, const GENERAL_NAME *g)
{
	int	i;

	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *o = sk_GENERAL_NAME_value(gens, i);

		if (o->type != g->type)
			continue;
		if (g->type == GEN_DNS) {
			if (ASN1_STRING_length(o->d.ia5) == ASN1_STRING_length(g->d.ia5) &&
			    OPENSSL_strncasecmp((const char *)ASN1_STRING_get0_data(o->d.ia5),
			    (const char *)ASN1_STRING_get0_data(g->d.ia5),
			    (size_t)ASN1_STRING_length(g->d.ia5)) == 0)
				return 1;
		} else if (GENERAL_NAME_cmp(o, (GENERAL_NAME *)g) == 0)
			return 1;
	}
	return 0;
}

/* Describe one subjectAltName as "TYPE:value" into the list. */
static int
san_add(char **buf, size_t *len, const GENERAL_NAME *g)
{
	const ASN1_STRING	*v = NULL;
	unsigned char		*u = NULL;
	char			 txt[DESCR_MAX], *dn = NULL;
	const char		*pre = "other:";
	int			 n = -1, ok;

	txt[0] = '\0';
	switch (g->type) {
	case GEN_DNS: pre = "DNS:"; v = g->d.ia5; break;
	case GEN_EMAIL: pre = "email:"; v = g->d.ia5; break;
	case GEN_URI: pre = "URI:"; v = g->d.ia5; break;
	case GEN_IPADD: pre = "IP:"; break;
	case GEN_RID:
		pre = "RID:";
		OBJ_obj2txt(txt, sizeof(txt), g->d.registeredID, 1);
		break;
	case GEN_DIRNAME:
		pre = "DirName:";
		dn = X509_NAME_oneline(g->d.directoryName, NULL, 0);
		break;
	case GEN_OTHERNAME:
		if (OBJ_obj2nid(g->d.otherName->type_id) == NID_ms_upn &&
		    g->d.otherName->value != NULL &&
		    (ASN1_tag2bit(g->d.otherName->value->type) & CANON_TYPES)) {
			pre = "UPN:";
			n = ASN1_STRING_to_UTF8(&u, g->d.otherName->value->value.asn1_string);
		} else {
			pre = "othername:";
			OBJ_obj2txt(txt, sizeof(txt), g->d.otherName->type_id, 1);
		}
		break;
	}
	if (g->type == GEN_IPADD) {
		const unsigned char	*ip = ASN1_STRING_get0_data(g->d.ip);
		int			 i, l = ASN1_STRING_length(g->d.ip);
		size_t			 o = 0;

		for (i = 0; i < l && o + 4 < sizeof(txt); i++)
			o += (size_t)snprintf(txt + o, sizeof(txt) - o, l == 4 ? "%s%d" : "%s%02x",
			    i == 0 ? "" : (l == 4 ? "." : (i % 2 ? "" : ":")), ip[i]);
	}
	if (v != NULL)
		ok = list_add(buf, len, pre, ASN1_STRING_get0_data(v),
		    (size_t)ASN1_STRING_length(v));
	else if (u != NULL && n >= 0)
		ok = list_add(buf, len, pre, u, (size_t)n);
	else if (dn != NULL)
		ok = list_add(buf, len, pre, (unsigned char *)dn, strlen(dn));
	else
		ok = list_add(buf, len, pre, (unsigned char *)txt, strlen(txt));
	OPENSSL_free(u);
	OPENSSL_free(dn);
	return ok;
}

int
names_added(const X509_NAME *oldname, const X509_NAME *newname,
    const GENERAL_NAMES *oldsans, const GENERAL_NAMES *newsans, char **out)
{
	char		*buf = NULL, pre[96];
	unsigned char	*u = NULL;
	size_t		 len = 0;
	int		 i, n, ulen, err = 0, ok = 0;

	*out = NULL;
	n = X509_NAME_entry_count(newname);
	for (i = 0; i < n; i++) {
		const X509_NAME_ENTRY	*e = X509_NAME_get_entry(newname, i);
		const ASN1_OBJECT	*o = X509_NAME_ENTRY_get_object(e);
		int			 nid = OBJ_obj2nid(o);

		if (name_has(oldname, e, &err) || err) {
			if (err)
				goto out;
			continue;
		}
		if (nid != NID_undef)
			snprintf(pre, sizeof(pre), "%s=", OBJ_nid2sn(nid));
		else if (OBJ_obj2txt(pre, sizeof(pre) - 1, o, 1) > 0)
			strcat(pre, "=");
		if ((ulen = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e))) < 0 ||
		    !list_add(&buf, &len, pre, u, (size_t)ulen))
			goto out;
		OPENSSL_free(u);
		u = NULL;
	}
	for (i = 0; newsans != NULL && i < sk_GENERAL_NAME_num(newsans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(newsans, i);

		if (oldsans != NULL && sans_have(oldsans, g))
			continue;
		if (!san_add(&buf, &len, g))
			goto out;
	}
	*out = buf;
	buf = NULL;
	ok = 1;
out:
	OPENSSL_free(u);
	free(buf);
	return ok;
}
