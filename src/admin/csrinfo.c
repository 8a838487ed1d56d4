/*
 * What a stored request asks for, read from its CSR when it is shown: the key, the
 * subjectAltNames and the requested extensions. An approver sees every byte: a value
 * holding anything but printable ASCII is shown with \xHH escapes (log_escape()), so a
 * name with a NUL or a control character inside cannot pass for a shorter one.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "admin.h"

#define MAX_INFO_VALUE	1024	/* bytes of one SAN value shown; longer ones are cut */

void
csr_info_free(struct csr_info *ci)
{
	size_t	i;

	if (ci == NULL)
		return;
	for (i = 0; i < ci->nsans; i++)
		free(ci->sans[i]);
	for (i = 0; i < ci->nexts; i++)
		free(ci->exts[i]);
	free(ci->sans);
	free(ci->exts);
	memset(ci, 0, sizeof(*ci));
}

/* "PREFIX" followed by LEN bytes of P, escaped; NULL if out of memory. */
static char *
tagged(const char *prefix, const void *p, size_t len)
{
	char	*s;
	size_t	 plen = strlen(prefix), n;

	if (len > MAX_INFO_VALUE)
		len = MAX_INFO_VALUE;
	n = plen + len * 4 + 1;
	if ((s = malloc(n)) == NULL)
		return NULL;
	memcpy(s, prefix, plen);
	log_escape(s + plen, n - plen, p, len);
	return s;
}

static char *
obj_text(const ASN1_OBJECT *o, int numeric)
{
	char	buf[128];

	if (!numeric && OBJ_obj2nid(o) != NID_undef)
		return strdup(OBJ_nid2sn(OBJ_obj2nid(o)));
	if (OBJ_obj2txt(buf, sizeof(buf), o, 1) <= 0)
		return strdup("?");
	return strdup(buf);
}

/* One GeneralName as OpenSSL's configuration syntax names it: "DNS:x", "UPN:y", ... */
static char *
san_text(const GENERAL_NAME *gn)
{
	const ASN1_STRING	*s = NULL;
	const ASN1_TYPE		*v;
	char			 buf[INET6_ADDRSTRLEN], *oid, *ret, *name;

	switch (gn->type) {
	case GEN_DNS:
		return tagged("DNS:", gn->d.dNSName->data, (size_t)gn->d.dNSName->length);
	case GEN_EMAIL:
		return tagged("email:", gn->d.rfc822Name->data,
		    (size_t)gn->d.rfc822Name->length);
	case GEN_URI:
		return tagged("URI:", gn->d.uniformResourceIdentifier->data,
		    (size_t)gn->d.uniformResourceIdentifier->length);
	case GEN_IPADD:
		s = gn->d.iPAddress;
		if ((s->length == 4 && inet_ntop(AF_INET, s->data, buf, sizeof(buf))) ||
		    (s->length == 16 && inet_ntop(AF_INET6, s->data, buf, sizeof(buf))))
			return tagged("IP:", buf, strlen(buf));
		return tagged("IP:?", "", 0);
	case GEN_RID:
		if ((oid = obj_text(gn->d.registeredID, 1)) == NULL)
			return NULL;
		ret = tagged("RID:", oid, strlen(oid));
		free(oid);
		return ret;
	case GEN_DIRNAME:
		if ((name = X509_NAME_oneline(gn->d.directoryName, NULL, 0)) == NULL)
			return NULL;
		ret = tagged("DirName:", name, strlen(name));
		OPENSSL_free(name);
		return ret;
	case GEN_OTHERNAME:
		v = gn->d.otherName->value;
		if (OBJ_obj2nid(gn->d.otherName->type_id) == NID_ms_upn &&
		    v->type == V_ASN1_UTF8STRING)
			return tagged("UPN:", v->value.utf8string->data,
			    (size_t)v->value.utf8string->length);
		if ((oid = obj_text(gn->d.otherName->type_id, 1)) == NULL)
			return NULL;
		ret = tagged("othername:", oid, strlen(oid));
		free(oid);
		return ret;
	default:
		return tagged("other:", "", 0);
	}
}

static int
push(char ***v, size_t *n, char *s)
{
	char	**nv;

	if (s == NULL || (nv = reallocarray(*v, *n + 1, sizeof(**v))) == NULL) {
		free(s);
		return 0;
	}
	*v = nv;
	(*v)[(*n)++] = s;
	return 1;
}

int
csr_info_parse(const unsigned char *der, size_t len, struct csr_info *ci)
{
	const unsigned char		*p = der;
	X509_REQ			*req = NULL;
	STACK_OF(X509_EXTENSION)	*exts = NULL;
	GENERAL_NAMES			*gens = NULL;
	X509_EXTENSION			*ext;
	EVP_PKEY			*pk;
	const char			*type;
	int				 i, ok = 0;

	memset(ci, 0, sizeof(*ci));
	if (der == NULL || len == 0 || len > LONG_MAX ||
	    (req = d2i_X509_REQ(NULL, &p, (long)len)) == NULL || p != der + len)
		goto out;
	if ((pk = X509_REQ_get0_pubkey(req)) != NULL) {
		type = EVP_PKEY_get0_type_name(pk);
		snprintf(ci->key_type, sizeof(ci->key_type), "%s", type ? type : "?");
		ci->key_bits = EVP_PKEY_get_bits(pk);
	}
	exts = X509_REQ_get_extensions(req);
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		ext = sk_X509_EXTENSION_value(exts, i);
		if (!push(&ci->exts, &ci->nexts, obj_text(X509_EXTENSION_get_object(ext), 0)))
			goto out;
		if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name)
			continue;
		GENERAL_NAMES_free(gens);
		if ((gens = X509V3_EXT_d2i(ext)) == NULL) {
			if (!push(&ci->sans, &ci->nsans, strdup("unreadable subjectAltName")))
				goto out;
			continue;
		}
		for (int j = 0; j < sk_GENERAL_NAME_num(gens); j++)
			if (!push(&ci->sans, &ci->nsans, san_text(sk_GENERAL_NAME_value(gens, j))))
				goto out;
	}
	ok = 1;
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	if (!ok)
		csr_info_free(ci);
	return ok;
}

/* "key_type: RSA", "key_bits: 2048", one "san:" and one "extension:" line each. */
void
csr_info_print(const struct csr_info *ci, FILE *f)
{
	size_t	i;

	fprintf(f, "key_type: %s\nkey_bits: %d\n", ci->key_type, ci->key_bits);
	for (i = 0; i < ci->nsans; i++)
		fprintf(f, "san: %s\n", ci->sans[i]);
	for (i = 0; i < ci->nexts; i++)
		fprintf(f, "extension: %s\n", ci->exts[i]);
}

static void
json_strv(FILE *f, char *const *v, size_t n)
{
	size_t	i;

	fputc('[', f);
	for (i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		json_str(f, v[i]);
	}
	fputc(']', f);
}

/* ,"sans":[...],"key_type":"RSA","key_bits":2048,"extensions":[...]; nulls without CI. */
void
csr_info_json(const struct csr_info *ci, FILE *f)
{
	if (ci == NULL) {
		fputs(",\"sans\":null,\"key_type\":null,\"key_bits\":null,\"extensions\":null",
		    f);
		return;
	}
	fputs(",\"sans\":", f);
	json_strv(f, ci->sans, ci->nsans);
	fputs(",\"key_type\":", f);
	json_str(f, ci->key_type);
	fprintf(f, ",\"key_bits\":%d,\"extensions\":", ci->key_bits);
	json_strv(f, ci->exts, ci->nexts);
}
