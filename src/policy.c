/*
 * policy: the decisions of OpenCA's SCEP policy model (scep.conf(5)), kept apart from the
 * protocol and the storage. See policy.h for what each function promises.
 */
#include <ctype.h>
#include <stdarg.h>
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
#include "names.h"
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
		return errf(why, whylen, "the requested key must be an RSA key");
	}
	if (EVP_PKEY_get_bits(pk) < cfg->min_key_bits) {
		return errf(why, whylen, "the requested RSA key has %d bits; this CA requires "
		    "at least %d", EVP_PKEY_get_bits(pk), cfg->min_key_bits);
	}
	return 1;
}

/* The canonical values (name_value_canon()) of RDN type NID in NAME, in order; count or -1. */
static int
rdn_values(X509_NAME *name, int nid, unsigned char *vals[MAX_RDN_VALUES],
    size_t lens[MAX_RDN_VALUES])
{
	int	 i = -1, n = 0;

	while ((i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0) {
		if (n == MAX_RDN_VALUES ||
		    !name_value_canon(X509_NAME_get_entry(name, i), &vals[n], &lens[n]))
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
	size_t		 t, alen[MAX_RDN_VALUES], blen[MAX_RDN_VALUES];
	int		 i, na, nb, ok = 1;

	for (t = 0; t < cfg->n_rdn_match && ok; t++) {
		int nid = cfg->rdn_match[t];

		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		na = rdn_values(signer, nid, a, alen);
		nb = rdn_values(requested, nid, b, blen);
		if (na < 0 || nb < 0 || na != nb)
			ok = 0;
		for (i = 0; ok && i < na; i++)
			if (alen[i] != blen[i] || memcmp(a[i], b[i], alen[i]) != 0)
				ok = 0;
		if (!ok)
			errf(why, whylen, "the requested subject differs from the certificate "
			    "being renewed in %s (ScepRenewalRDNMatch)", OBJ_nid2sn(nid));
		for (i = 0; i < MAX_RDN_VALUES; i++) {
			free(a[i]);
			free(b[i]);
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

const struct role *
policy_role(const struct config *cfg, const char *name)
{
	const struct role *r = name != NULL ? config_role(cfg, name) : NULL;

	return r != NULL ? r : config_role(cfg, cfg->default_role);
}

int
policy_keep_san(const struct config *cfg, const struct role *r)
{
	return r != NULL && r->keep_san >= 0 ? r->keep_san : cfg->keep_san;
}

void
policy_decision_clear(struct policy_decision *d)
{
	free(d->differences);
	memset(d, 0, sizeof(*d));
}

/* Set D to a refusal with FAILINFO and the sentence FMT. Returns 1 (decided). */
static int
refuse(struct policy_decision *d, enum scep_failinfo fi, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
refuse(struct policy_decision *d, enum scep_failinfo fi, const char *fmt, ...)
{
	va_list	ap;

	d->verdict = POLICY_REFUSE;
	d->failinfo = fi;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
	free(d->differences);
	d->differences = NULL;
	return 1;
}

/*
 * What a request asks to be certified for: a usable key and a subject and subjectAltNames
 * without control characters. 1 if so, else D is a refusal.
 */
static int
request_ok(const struct config *cfg, X509_REQ *csr, struct policy_decision *d)
{
	GENERAL_NAMES	*sans = NULL;
	X509_NAME	*dn = X509_REQ_get_subject_name(csr);
	char		 why[256];
	int		 ok = 0;

	why[0] = '\0';
	if (!policy_key_ok(cfg, X509_REQ_get0_pubkey(csr), why, sizeof(why)))
		refuse(d, FAIL_BADREQUEST, "%s", why);
	else if (X509_NAME_entry_count(dn) == 0)
		refuse(d, FAIL_BADREQUEST, "the request has an empty subject");
	else if (!csr_sans(csr, &sans, why, sizeof(why)))
		refuse(d, FAIL_BADREQUEST, "%s", why);
	else if (!name_clean(dn, why, sizeof(why)) ||
	    (sans != NULL && !sans_clean(sans, why, sizeof(why))))
		refuse(d, FAIL_BADREQUEST, "%s; names with control characters are not certified",
		    why);
	else
		ok = 1;
	GENERAL_NAMES_free(sans);
	return ok;
}

/*
 * The names a renewal asks for that the renewed certificate OLD lacks (subjectAltNames
 * only when ROLE copies them into the certificate). 1 ok, 0 error.
 */
static int
renewal_differences(const struct config *cfg, const struct role *role, X509 *old,
    X509_REQ *csr, char **out)
{
	GENERAL_NAMES	*oldsans = NULL, *newsans = NULL;
	int		 ok = 0, crit = -1;

	*out = NULL;
	if (policy_keep_san(cfg, role)) {
		if (!csr_sans(csr, &newsans, NULL, 0))
			goto out;
		oldsans = X509_get_ext_d2i(old, NID_subject_alt_name, &crit, NULL);
		if (oldsans == NULL && crit != -1)
			goto out;
	}
	ok = names_added(X509_get_subject_name(old), X509_REQ_get_subject_name(csr),
	    oldsans, newsans, out);
out:
	GENERAL_NAMES_free(oldsans);
	GENERAL_NAMES_free(newsans);
	return ok;
}

/* A PKCSReq or RenewalReq signed by a valid certificate of this CA (OpenCA's rule). */
static int
decide_renewal(const struct config *cfg, const struct policy_facts *f,
    struct policy_decision *d)
{
	char	why[256];

	why[0] = '\0';
	d->renewal = 1;
	d->challenge = "renewal";
	if (!cfg->allow_renewal)
		return refuse(d, FAIL_BADREQUEST, "this CA does not allow renewal "
		    "(ScepAllowRenewal); enroll again with a new key");
	if (!policy_rdn_match(cfg, X509_get_subject_name(f->signer_cert),
	    X509_REQ_get_subject_name(f->csr), why, sizeof(why)))
		return refuse(d, FAIL_BADREQUEST, "%s", why);
	if (f->valid_for_dn >= POLICY_MAX_VALID_PER_DN)
		return refuse(d, FAIL_BADREQUEST, "there are already %d valid certificates "
		    "for this subject; revoke one before renewing", f->valid_for_dn);
	/* A renewal inherits the role and RA of the certificate it renews. */
	d->role = policy_role(cfg, f->role);
	d->ra = f->ra != NULL ? f->ra : cfg->default_ra;
	if (d->role == NULL)
		return refuse(d, FAIL_BADREQUEST, "no role is configured");
	if (!renewal_differences(cfg, d->role, f->signer_cert, f->csr, &d->differences)) {
		errf_crypto(d->text, sizeof(d->text), "cannot compare the requested names with "
		    "the renewed certificate's");
		return 0;
	}
	if (d->differences != NULL) {
		/* A renewal re-certifies the old identity: new names need an administrator. */
		if (cfg->renewal_new_names == NEW_NAMES_REFUSE)
			return refuse(d, FAIL_BADREQUEST, "a renewal may not ask for names the "
			    "renewed certificate lacks (ScepRenewalNewNames): %.200s",
			    d->differences);
		d->verdict = POLICY_PENDING;
		snprintf(d->text, sizeof(d->text), "asks for names the renewed certificate "
		    "lacks: %.200s", d->differences);
		return 1;
	}
	d->verdict = cfg->auto_approve ? POLICY_ISSUE : POLICY_PENDING;
	snprintf(d->text, sizeof(d->text), "%s", cfg->auto_approve ? "renewal" :
	    "renewal (ScepAutoApprove = NO)");
	return 1;
}

/* A self-signed PKCSReq: an initial enrollment. */
static int
decide_initial(const struct config *cfg, const struct policy_facts *f,
    struct policy_decision *d)
{
	char	why[256];

	why[0] = '\0';
	if (!cfg->allow_enrollment)
		return refuse(d, FAIL_BADREQUEST, "this CA accepts only renewals "
		    "(ScepAllowEnrollment = NO); renew with a valid certificate of this CA");
	if (f->key_certified)
		return refuse(d, FAIL_BADREQUEST, "this key holds a valid certificate of this "
		    "CA already; poll with the original transactionID, or renew signing with "
		    "that certificate");
	if ((d->role = policy_select_role(cfg, f->csr, why, sizeof(why))) == NULL)
		return refuse(d, FAIL_BADREQUEST, "%s", why);
	d->ra = cfg->default_ra;
	switch (f->challenge) {
	case CHAL_NONE:
		d->challenge = "none";
		d->verdict = POLICY_PENDING;
		snprintf(d->text, sizeof(d->text), "no challenge password");
		return 1;
	case CHAL_UNCHECKED:
		d->check_challenge = 1;
		d->verdict = POLICY_PENDING;
		snprintf(d->text, sizeof(d->text), "challenge not checked yet");
		return 1;
	case CHAL_WRONG:
		return refuse(d, FAIL_BADREQUEST, "the challenge password is wrong or already "
		    "used; ask the CA administrator for a new one");
	case CHAL_EXPIRED:
		return refuse(d, FAIL_BADREQUEST, "the challenge password has expired; ask the "
		    "CA administrator for a new one");
	case CHAL_STATIC:
	case CHAL_ONETIME:
	case CHAL_COMMAND:
		d->challenge = f->challenge == CHAL_STATIC ? "static" :
		    f->challenge == CHAL_ONETIME ? "one-time" : "command";
		d->verdict = cfg->auto_approve_enrollment ? POLICY_ISSUE : POLICY_PENDING;
		snprintf(d->text, sizeof(d->text), "%s challenge%s", d->challenge,
		    cfg->auto_approve_enrollment ? "" : " (ScepAutoApproveEnrollment = NO)");
		return 1;
	}
	return refuse(d, FAIL_BADREQUEST, "the challenge password cannot be checked");
}

static int
decide_arrival(const struct config *cfg, const struct policy_facts *f,
    struct policy_decision *d)
{
	EVP_PKEY	*sk = f->signer_cert ? X509_get0_pubkey(f->signer_cert) : NULL;

	if (f->signer == SIGNER_SELF && f->msgtype == MT_RENEWALREQ)
		return refuse(d, FAIL_BADREQUEST, "a RenewalReq must be signed with the "
		    "certificate being renewed, not a self-signed one");
	if (f->signer != SIGNER_SELF && f->signer != SIGNER_VALID)
		return refuse(d, FAIL_BADREQUEST, "the request is signed with %s; sign a new "
		    "request with a self-signed certificate, or renew with a valid certificate "
		    "of this CA", signer_kind_text(f->signer));
	/*
	 * RFC 8894 §2.3: a self-signed signer carries the CSR's key (every client of
	 * tests/corpus does), so a captured envelope cannot be re-signed by another key.
	 */
	if (f->signer == SIGNER_SELF &&
	    (sk == NULL || EVP_PKEY_eq(sk, X509_REQ_get0_pubkey(f->csr)) != 1))
		return refuse(d, FAIL_BADREQUEST, "the self-signed certificate that signs the "
		    "request must carry the requested key");
	if (f->existing) {
		if (!f->same_requester)
			return refuse(d, FAIL_BADREQUEST, "this transactionID belongs to a "
			    "request for a different key or subject; use a new transactionID");
		d->verdict = POLICY_EXISTING;
		d->renewal = f->signer == SIGNER_VALID;
		return 1;
	}
	if (!request_ok(cfg, f->csr, d))
		return 1;
	if (f->signer == SIGNER_VALID)
		return decide_renewal(cfg, f, d);
	return decide_initial(cfg, f, d);
}

int
policy_decide(const struct config *cfg, const struct policy_facts *f,
    struct policy_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->verdict = POLICY_REFUSE;
	d->failinfo = FAIL_BADREQUEST;
	switch (f->stage) {
	case STAGE_ARRIVAL:
		return decide_arrival(cfg, f, d);
	case STAGE_STORED:
	case STAGE_ISSUE:
		/* The signer's status counts when the certificate is issued, not when asked. */
		if (f->renewal && f->signer != SIGNER_VALID)
			return refuse(d, FAIL_BADREQUEST, "the certificate this request renews "
			    "has been revoked (or is no longer %s)",
			    signer_kind_text(SIGNER_VALID));
		if (f->stage == STAGE_ISSUE && f->renewal &&
		    f->valid_for_dn >= POLICY_MAX_VALID_PER_DN)
			return refuse(d, FAIL_BADREQUEST, "there are already %d valid "
			    "certificates for this subject", f->valid_for_dn);
		d->verdict = f->stage == STAGE_ISSUE ? POLICY_ISSUE : POLICY_EXISTING;
		return 1;
	}
	errf(d->text, sizeof(d->text), "no such stage");
	return 0;
}
