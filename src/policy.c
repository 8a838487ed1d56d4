/*
 * policy: the decisions of OpenCA's SCEP policy model (scep.conf(5)), kept apart from the
 * protocol and the storage. See policy.h for what each function promises.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "scep.h"
#include "ca.h"
#include "config.h"
#include "policy.h"
#include "repo.h"

#define MAX_ROLE_NAME	64
#define MAX_RDN_VALUES	16	/* values of one RDN type compared per name */

const char *
signer_kind_text(enum signer_kind k)
{
	switch (k) {
	case SIGNER_SELF: return "self-signed";
	case SIGNER_VALID: return "a valid certificate of this CA";
	case SIGNER_REVOKED: return "a revoked certificate of this CA";
	case SIGNER_EXPIRED: return "an expired certificate of this CA";
	case SIGNER_UNKNOWN: return "a certificate this CA has no record of";
	default: return "a certificate of another CA";
	}
}

enum signer_kind
policy_signer(struct ca *ca, struct repo *repo, X509 *signer, char *serial, size_t seriallen)
{
	EVP_PKEY	*own = X509_get0_pubkey(signer);
	unsigned char	*stored = NULL, *mine = NULL;
	size_t		 slen = 0;
	int		 mlen;
	enum signer_kind k = SIGNER_FOREIGN;

	serial[0] = '\0';
	if (own != NULL && X509_NAME_cmp(X509_get_subject_name(signer),
	    X509_get_issuer_name(signer)) == 0 && X509_verify(signer, own) > 0)
		return SIGNER_SELF;
	/* Issued by the current CA, or by the previous one during a rollover overlap. */
	if (ca_issuer_of(ca, signer) == NULL)
		return SIGNER_FOREIGN;
	if (!repo_serial_name(X509_get0_serialNumber(signer), serial, seriallen))
		return SIGNER_UNKNOWN;
	/* Ours only if this very certificate is on record (not just signed by our key). */
	k = SIGNER_UNKNOWN;
	if (!repo_cert_by_serial(repo, serial, &stored, &slen))
		goto out;
	if ((mlen = i2d_X509(signer, &mine)) <= 0 || (size_t)mlen != slen ||
	    memcmp(mine, stored, slen) != 0)
		goto out;
	if (repo_is_revoked(repo, serial))
		k = SIGNER_REVOKED;
	else if (X509_cmp_current_time(X509_get0_notAfter(signer)) <= 0 ||
	    X509_cmp_current_time(X509_get0_notBefore(signer)) > 0)
		k = SIGNER_EXPIRED;
	else
		k = SIGNER_VALID;
out:
	free(stored);
	OPENSSL_free(mine);
	return k;
}

int
policy_key_ok(const struct config *cfg, EVP_PKEY *pk, char *why, size_t whylen)
{
	if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		snprintf(why, whylen, "the requested key must be an RSA key");
		return 0;
	}
	if (EVP_PKEY_get_bits(pk) < cfg->min_key_bits) {
		snprintf(why, whylen, "the requested RSA key has %d bits; this CA requires at "
		    "least %d", EVP_PKEY_get_bits(pk), cfg->min_key_bits);
		return 0;
	}
	return 1;
}

/* The values of RDN type NID in NAME, as UTF-8, in order. Returns the count or -1. */
static int
rdn_values(X509_NAME *name, int nid, unsigned char *vals[MAX_RDN_VALUES])
{
	int	 i = -1, n = 0;

	while ((i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0) {
		X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);

		if (n == MAX_RDN_VALUES ||
		    ASN1_STRING_to_UTF8(&vals[n], X509_NAME_ENTRY_get_data(e)) < 0)
			return -1;
		n++;
	}
	return n;
}

int
policy_rdn_match(const struct config *cfg, X509_NAME *signer, X509_NAME *requested,
    char *why, size_t whylen)
{
	unsigned char	*a[MAX_RDN_VALUES], *b[MAX_RDN_VALUES];
	size_t		 t;
	int		 i, na, nb, ok = 1;

	for (t = 0; t < cfg->n_rdn_match && ok; t++) {
		int nid = cfg->rdn_match[t];

		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		na = rdn_values(signer, nid, a);
		nb = rdn_values(requested, nid, b);
		if (na < 0 || nb < 0 || na != nb)
			ok = 0;
		for (i = 0; ok && i < na; i++)
			if (strcmp((char *)a[i], (char *)b[i]) != 0)
				ok = 0;
		if (!ok)
			snprintf(why, whylen, "the requested subject differs from the certificate "
			    "being renewed in %s (ScepRenewalRDNMatch)", OBJ_nid2sn(nid));
		for (i = 0; i < MAX_RDN_VALUES; i++) {
			OPENSSL_free(a[i]);
			OPENSSL_free(b[i]);
		}
	}
	return ok;
}

/* A DirectoryString-like ASN1_TYPE as a validated role name, or NULL. */
static char *
role_name_from(const ASN1_TYPE *t)
{
	unsigned char	*utf8 = NULL;
	char		*ret = NULL;
	int		 n, i;

	if (t == NULL)
		return NULL;
	switch (t->type) {
	case V_ASN1_BMPSTRING:
	case V_ASN1_UTF8STRING:
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_IA5STRING:
	case V_ASN1_T61STRING:
		break;
	default:
		return NULL;
	}
	if ((n = ASN1_STRING_to_UTF8(&utf8, t->value.asn1_string)) <= 0 || n > MAX_ROLE_NAME)
		goto out;
	for (i = 0; i < n; i++)
		if (!isalnum(utf8[i]) && utf8[i] != '-' && utf8[i] != '_' && utf8[i] != '.')
			goto out;
	if ((ret = malloc((size_t)n + 1)) == NULL)
		goto out;
	memcpy(ret, utf8, (size_t)n);
	ret[n] = '\0';
out:
	OPENSSL_free(utf8);
	return ret;
}

char *
csr_requested_role(X509_REQ *req)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	ASN1_OBJECT		*tmpl = NULL, *attr = NULL;
	ASN1_TYPE		*t = NULL;
	char			*name = NULL;
	int			 i;

	tmpl = OBJ_txt2obj(OID_MS_TEMPLATE_NAME, 1);
	attr = OBJ_txt2obj(OID_SCEP_ROLE, 1);
	if (tmpl == NULL || attr == NULL)
		goto out;
	/* Windows / Intune: the certificate-template-name extension, a BMPString. */
	if ((exts = X509_REQ_get_extensions(req)) != NULL &&
	    (i = X509v3_get_ext_by_OBJ(exts, tmpl, -1)) >= 0) {
		ASN1_OCTET_STRING	*os = X509_EXTENSION_get_data(
					    sk_X509_EXTENSION_value(exts, i));
		const unsigned char	*p = ASN1_STRING_get0_data(os);
		int			 len = ASN1_STRING_length(os);

		if ((t = d2i_ASN1_TYPE(NULL, &p, len)) != NULL &&
		    p == ASN1_STRING_get0_data(os) + len)
			name = role_name_from(t);
		goto out;
	}
	/* Our own attribute: scepRole ::= DirectoryString. */
	if ((i = X509_REQ_get_attr_by_OBJ(req, attr, -1)) >= 0) {
		X509_ATTRIBUTE *a = X509_REQ_get_attr(req, i);

		if (X509_ATTRIBUTE_count(a) == 1)
			name = role_name_from(X509_ATTRIBUTE_get0_type(a, 0));
	}
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ASN1_OBJECT_free(tmpl);
	ASN1_OBJECT_free(attr);
	ASN1_TYPE_free(t);
	return name;
}

const struct role *
policy_select_role(const struct config *cfg, X509_REQ *req, char *why, size_t whylen)
{
	const struct role	*r, *def = config_role(cfg, cfg->default_role);
	char			*asked = csr_requested_role(req);

	if (asked == NULL)
		return def;
	r = config_role(cfg, asked);
	if (r != NULL && r->selectable) {
		free(asked);
		return r;
	}
	if (cfg->role_fallback == ROLE_FALLBACK_REFUSE) {
		snprintf(why, whylen, "the requested role \"%s\" is %s; ask the CA administrator "
		    "which roles may be requested", asked, r ? "not selectable" : "unknown");
		free(asked);
		return NULL;
	}
	logx(LOG_LVL_INFO, "requested role \"%s\" is %s: using %s", asked,
	    r ? "not selectable" : "unknown", def ? def->name : "-");
	free(asked);
	return def;
}

int
challenge_hash(const char *secret, char out[65])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0;

	if (!EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL) || n != 32)
		return 0;
	hex_encode(out, md, n);
	return 1;
}

enum challenge_result
policy_challenge(const struct config *cfg, struct repo *repo, const char *challenge)
{
	char	hash[65];
	int	rc;

	if (challenge == NULL)
		return CHAL_NONE;
	if (cfg->challenge != NULL && secret_equal(challenge, cfg->challenge))
		return CHAL_STATIC;
	if (!cfg->one_time_challenges || !challenge_hash(challenge, hash))
		return CHAL_WRONG;
	rc = repo_challenge_consume(repo, hash, time(NULL));
	if (rc == 1)
		return CHAL_ONETIME;
	return rc < 0 ? CHAL_EXPIRED : CHAL_WRONG;
}
