/*
 * server: the SCEP operations (RFC 8894 §4) over the transport in http.c.
 *
 *   GetCACaps, GetCACert (+ GetCACertChain, GetCAChain aliases), GetNextCACert,
 *   PKIOperation: PKCSReq, RenewalReq, CertPoll, GetCert, GetCRL.
 *
 * A PKIOperation that can be read far enough to know its transactionID and senderNonce is
 * always answered with a signed CertRep (HTTP 200), FAILURE included; anything less gets
 * HTTP 400. Nothing is written to the repository before every check has passed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "scep.h"
#include "ca.h"
#include "certrep.h"
#include "config.h"
#include "crl.h"
#include "enroll.h"
#include "fileio.h"
#include "http.h"
#include "pkimsg.h"
#include "policy.h"
#include "repo.h"
#include "server.h"

#define MAX_CRL_SIZE	(64 * 1024 * 1024)

struct server {
	struct config	*cfg;
	struct ca	*ca;
	struct repo	*repo;
	char		 error[512];	/* why the server cannot serve, or "" */
	unsigned char	*cacert;	/* GetCACert body, built once */
	size_t		 cacert_len;
	const char	*cacert_type;
	unsigned char	*chain;		/* GetCACertChain body (always PKCS#7) */
	size_t		 chain_len;
	unsigned char	*nextca;	/* GetNextCACert body, NULL without a rollover */
	size_t		 nextca_len;
	OSSL_PROVIDER	*legacy, *deflt;	/* unloaded in server_free (leak checkers) */
	unsigned	 digests, ciphers;	/* effective allow-lists */
	char		 caps[256];
	size_t		 caps_len;
};

/*
 * GetCACaps (RFC 8894 §3.5.2): exact spelling, CRLF. Only what this configuration really
 * does is listed; SHA-384 because strongSwan 5.9.8 accepts AES only when it is listed.
 */
static void
build_caps(struct server *s)
{
	const struct config *c = s->cfg;
	size_t n = 0;

#define CAP(cond, word) do {						\
	if (cond)							\
		n += (size_t)snprintf(s->caps + n, sizeof(s->caps) - n, "%s\r\n", word); \
} while (0)
	CAP(c->allowed_ciphers & CIPH_AES128, "AES");
	CAP(c->allowed_ciphers & CIPH_DES3, "DES3");
	CAP(1, "POSTPKIOperation");
	CAP(c->allow_renewal, "Renewal");
	CAP(ca_next_certs(s->ca) != NULL, "GetNextCACert");
	CAP(c->allowed_digests & DIG_SHA1, "SHA-1");
	CAP(c->allowed_digests & DIG_SHA256, "SHA-256");
	CAP(c->allowed_digests & DIG_SHA384, "SHA-384");
	CAP(c->allowed_digests & DIG_SHA512, "SHA-512");
	/* SCEPStandard claims AES-128-CBC, SHA-256 and POST (§2.9). */
	CAP((c->allowed_ciphers & CIPH_AES128) && (c->allowed_digests & DIG_SHA256),
	    "SCEPStandard");
#undef CAP
	s->caps_len = n;
}

const char *
server_caps(const struct server *s)
{
	return s->caps;
}

int
server_ok(const struct server *s)
{
	return s != NULL && s->error[0] == '\0';
}

const char *
server_error(const struct server *s)
{
	return s == NULL ? "out of memory" : s->error;
}

/* GetCACert body: a self-signed CA alone as DER, otherwise the chain as certs-only PKCS#7. */
static int
build_cacert(struct server *s)
{
	STACK_OF(X509)	*certs = ca_getcacert_certs(s->ca);
	unsigned char	*der = NULL;
	int		 n;

	if (sk_X509_num(certs) == 1 &&
	    X509_check_issued(sk_X509_value(certs, 0), sk_X509_value(certs, 0)) ==
	    X509_V_OK) {
		if ((n = i2d_X509(sk_X509_value(certs, 0), &der)) <= 0)
			return 0;
		s->cacert_len = (size_t)n;
		s->cacert_type = "application/x-x509-ca-cert";
	} else {
		if (!degenerate_p7(certs, NULL, &der, &s->cacert_len))
			return 0;
		s->cacert_type = "application/x-x509-ca-ra-cert";
	}
	s->cacert = der;
	if (!degenerate_p7(certs, NULL, &s->chain, &s->chain_len))
		return 0;
	if (ca_next_certs(s->ca) != NULL &&
	    !nextca_build(s->ca, ca_next_certs(s->ca), &s->nextca, &s->nextca_len))
		return 0;
	return 1;
}

struct server *
server_new(const char *confpath)
{
	struct server	*s;
	char		 err[400];

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (!scep_oids_init()) {
		snprintf(s->error, sizeof(s->error), "cannot register SCEP OIDs");
		goto out;
	}
	if ((s->cfg = config_load(confpath, err, sizeof(err))) == NULL) {
		snprintf(s->error, sizeof(s->error), "configuration: %s", err);
		goto out;
	}
	log_init(NULL, 0, (enum log_level)s->cfg->log_level);
	s->digests = s->cfg->allowed_digests;
	s->ciphers = s->cfg->allowed_ciphers;
	if (!s->cfg->allow_legacy_crypto) {
		s->digests &= ~(unsigned)DIG_MD5;
		s->ciphers &= ~(unsigned)CIPH_DES;
	}
	if (s->ciphers & CIPH_DES) {
		/* Single DES (micromdm scepclient) lives in the legacy provider. */
		if ((s->legacy = OSSL_PROVIDER_load(NULL, "legacy")) == NULL ||
		    (s->deflt = OSSL_PROVIDER_load(NULL, "default")) == NULL) {
			ERR_clear_error();
			logx(LOG_LVL_WARN, "OpenSSL legacy provider not available: single DES "
			    "requests will be refused");
			s->ciphers &= ~(unsigned)CIPH_DES;
		}
	}
	if ((s->repo = repo_open(s->cfg->repository, err, sizeof(err))) == NULL) {
		snprintf(s->error, sizeof(s->error), "repository: %s", err);
		goto out;
	}
	if ((s->ca = ca_load(s->cfg->repository, &s->cfg->keysrc, err, sizeof(err))) == NULL) {
		snprintf(s->error, sizeof(s->error), "CA: %s", err);
		goto out;
	}
	ca_set_include_root(s->ca, s->cfg->include_root);
	build_caps(s);
	if (!build_cacert(s)) {
		snprintf(s->error, sizeof(s->error), "cannot encode the CA certificate");
		goto out;
	}
out:
	return s;
}

void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	config_free(s->cfg);
	ca_free(s->ca);
	repo_close(s->repo);
	OPENSSL_free(s->cacert);
	OPENSSL_free(s->chain);
	OPENSSL_free(s->nextca);
	if (s->legacy != NULL)
		OSSL_PROVIDER_unload(s->legacy);
	if (s->deflt != NULL)
		OSSL_PROVIDER_unload(s->deflt);
	free(s);
}

/* Copy a static body into a response (the response owns what it frees). */
static void
resp_copy(struct http_resp *r, const char *ctype, const void *body, size_t len)
{
	unsigned char *b;

	if ((b = malloc(len ? len : 1)) == NULL) {
		resp_text(r, 500, "out of memory\n");
		return;
	}
	memcpy(b, body, len);
	resp_bytes(r, 200, ctype, b, len);
}

/* A CertRep into the response; OpenSSL's buffer is copied to malloc'd memory. */
static void
send_certrep(struct server *s, const struct pkimsg *m, const struct certrep *rep,
    struct http_resp *r)
{
	unsigned char	*der = NULL;
	size_t		 len = 0;

	if (!certrep_build(m, rep, s->ca, &der, &len)) {
		resp_text(r, 500, "cannot build the reply\n");
		return;
	}
	resp_copy(r, "application/x-pki-message", der, len);
	OPENSSL_free(der);
}

static const char *failinfo_name(enum scep_failinfo);

/* A FAILURE CertRep, and one log line for it whatever refused the request. */
static void
send_failure(struct server *s, const struct pkimsg *m, enum scep_failinfo fi,
    const char *text, struct http_resp *r)
{
	struct certrep	rep = { .status = PKI_FAILURE, .fail = fi, .fail_text = text };
	char		tx[MAX_TXID * 4 + 1];

	log_escape(tx, sizeof(tx), m->txid, m->txid_len);
	logx(LOG_LVL_INFO, "%s txid=%s: FAILURE %s: %s", msgtype_name(m->msgtype), tx,
	    failinfo_name(fi), text ? text : "-");
	send_certrep(s, m, &rep, r);
}

static const char *
failinfo_name(enum scep_failinfo fi)
{
	switch (fi) {
	case FAIL_BADALG: return "badAlg";
	case FAIL_BADMESSAGECHECK: return "badMessageCheck";
	case FAIL_BADREQUEST: return "badRequest";
	case FAIL_BADTIME: return "badTime";
	default: return "badCertId";
	}
}

static void
send_pending(struct server *s, const struct pkimsg *m, struct http_resp *r)
{
	struct certrep rep = { .status = PKI_PENDING };

	send_certrep(s, m, &rep, r);
}

/* The role a record was issued under (for IncludeChain), or the default. */
static const struct role *
record_role(struct server *s, const struct record *rec)
{
	return config_role_or_default(s->cfg, rec != NULL ? rec->role : NULL);
}

/* SUCCESS with CERT first in the payload, then the CA chain if the role asks for it. */
static void
send_cert(struct server *s, const struct pkimsg *m, X509 *cert, const struct role *role,
    struct http_resp *r)
{
	struct certrep	 rep = { .status = PKI_SUCCESS };
	STACK_OF(X509)	*chain = ca_getcacert_certs(s->ca);
	int		 i, ok;

	ok = (rep.certs = sk_X509_new_null()) != NULL && sk_X509_push(rep.certs, cert);
	for (i = 0; ok && role != NULL && role->include_chain && i < sk_X509_num(chain); i++)
		ok = sk_X509_push(rep.certs, sk_X509_value(chain, i)) > 0;
	if (!ok)
		resp_text(r, 500, "out of memory\n");
	else
		send_certrep(s, m, &rep, r);
	sk_X509_free(rep.certs);
}

static const char *
txid_esc(const struct pkimsg *m, char *buf, size_t len)
{
	log_escape(buf, len, m->txid, m->txid_len);
	return buf;
}

/*
 * Answer for a transaction that already has a record: the request was resubmitted
 * (PKCSReq with a known transactionID) or polled (CertPoll). Never a second certificate.
 * An approved record is issued now (the client's poll or `scep-admin issue`, whichever
 * comes first: the rename decides).
 */
static void
answer_existing(struct server *s, const struct pkimsg *m, const char *id, struct http_resp *r)
{
	struct record	*rec = NULL;
	X509		*cert = NULL;
	char		 err[256], text[320], tx[MAX_TXID * 4 + 1];
	enum rstate	 st = repo_find(s->repo, id);
	int		 rc;

	txid_esc(m, tx, sizeof(tx));
	if (st == RS_APPROVED) {
		rc = enroll_issue(s->repo, s->ca, s->cfg, id, &cert, err, sizeof(err));
		if (rc == 0 && repo_find(s->repo, id) != RS_ISSUED) {
			/* Stored and approved: the client should simply try again later. */
			logx(LOG_LVL_ERR, "txid=%s id=%s: cannot issue: %s", tx, id, err);
			resp_text(r, 503, "the CA cannot issue right now; try again later\n");
			goto out;
		}
		st = repo_find(s->repo, id);
	}
	switch (st) {
	case RS_PENDING:
		logx(LOG_LVL_INFO, "%s txid=%s id=%s: still pending",
		    msgtype_name(m->msgtype), tx, id);
		send_pending(s, m, r);
		break;
	case RS_ISSUED:
		if (cert == NULL) {
			if ((cert = enroll_issued_cert(s->repo, id)) == NULL) {
				logx(LOG_LVL_ERR, "txid=%s id=%s: issued certificate unreadable",
				    tx, id);
				resp_text(r, 500, "cannot read the issued certificate\n");
				break;
			}
			/* Issued by another process, maybe a moment ago: durable first. */
			if (!repo_sync_issued(s->repo)) {
				resp_text(r, 503, "the CA cannot answer right now; try again "
				    "later\n");
				break;
			}
		}
		rec = repo_record_load(s->repo, id, 0);
		logx(LOG_LVL_INFO, "%s txid=%s id=%s: certificate returned",
		    msgtype_name(m->msgtype), tx, id);
		send_cert(s, m, cert, record_role(s, rec), r);
		break;
	case RS_REJECTED:
		rec = repo_record_load(s->repo, id, 0);
		snprintf(text, sizeof(text), "request rejected by the CA%s%s",
		    rec && rec->reason ? ": " : "", rec && rec->reason ? rec->reason : "");
		logx(LOG_LVL_INFO, "%s txid=%s id=%s: rejected", msgtype_name(m->msgtype),
		    tx, id);
		send_failure(s, m, FAIL_BADREQUEST, text, r);
		break;
	default:
		send_failure(s, m, FAIL_BADCERTID, "no request with this transactionID", r);
		break;
	}
out:
	record_free(rec);
	X509_free(cert);
}

/* The key a record was made for (or that signed it) must be the key asking about it. */
static int
same_requester(struct server *s, const char *id, const char *fp1, const char *fp2,
    const char *subject)
{
	struct record	*rec;
	int		 ok = 0;

	if ((rec = repo_record_load(s->repo, id, 0)) == NULL)
		return 0;
	/* A resubmission asks for the same subject too (strongSwan's txID is its key's hash). */
	if (subject != NULL && (rec->subject == NULL || strcmp(rec->subject, subject) != 0)) {
		record_free(rec);
		return 0;
	}
	if (rec->key_fp != NULL && ((fp1 && strcmp(rec->key_fp, fp1) == 0) ||
	    (fp2 && strcmp(rec->key_fp, fp2) == 0)))
		ok = 1;
	if (rec->signer_fp != NULL && fp2 && strcmp(rec->signer_fp, fp2) == 0)
		ok = 1;
	record_free(rec);
	return ok;
}

static unsigned char *
der_dup(int (*i2d)(const void *, unsigned char **), const void *obj, size_t *len)
{
	unsigned char	*der = NULL, *copy;
	int		 n;

	if ((n = i2d(obj, &der)) <= 0)
		return NULL;
	if ((copy = malloc((size_t)n)) != NULL) {
		memcpy(copy, der, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_free(der);
	return copy;
}

static int
i2d_req_cb(const void *o, unsigned char **p)
{
	return i2d_X509_REQ((X509_REQ *)o, p);
}

static int
i2d_x509_cb(const void *o, unsigned char **p)
{
	return i2d_X509((X509 *)o, p);
}

/* Valid certificates (not revoked, not expired) with exactly this subject, or -1. */
static int
valid_for_dn(struct server *s, X509_NAME *dn)
{
	int n = 0;

	return enroll_valid_certs_for_dn(s->repo, dn, &n) ? n : -1;
}

/*
 * PKCSReq and RenewalReq (RFC 8894 §3.3.1, §2.5). A request signed with a valid certificate
 * of this CA is a renewal, whatever its messageType (sscep, certmonger and macOS renew with
 * PKCSReq); a self-signed one is an initial enrollment. A known transactionID is a
 * resubmission and answered like a poll; a renewal is keyed on its transactionID and the
 * serial of the certificate that signed it, so an sscep renewal that reuses the
 * transactionID of the original enrollment is a new transaction.
 */
static void
pkcsreq(struct server *s, const struct pkimsg *m, const char *client, struct http_resp *r)
{
	struct record		 rec;
	const struct role	*role = NULL;
	struct record		*old = NULL;
	char			 id[REPO_ID_LEN + 1], subj[1024];
	char			 tx[MAX_TXID * 4 + 1], err[256], why[256], sserial[80];
	EVP_PKEY		*pk = X509_REQ_get0_pubkey(m->csr);
	X509_NAME		*dn = X509_REQ_get_subject_name(m->csr);
	X509			*cert = NULL;
	enum signer_kind	 kind;
	enum challenge_result	 chal = CHAL_NONE;
	int			 renewal, autoissue, n;

	memset(&rec, 0, sizeof(rec));
	txid_esc(m, tx, sizeof(tx));
	kind = policy_signer(s->ca, s->repo, m->signer, sserial, sizeof(sserial));
	renewal = kind == SIGNER_VALID;
	if (kind == SIGNER_SELF && m->msgtype == MT_RENEWALREQ) {
		send_failure(s, m, FAIL_BADREQUEST, "a RenewalReq must be signed with the "
		    "certificate being renewed, not a self-signed one", r);
		goto out;
	}
	if (kind != SIGNER_SELF && kind != SIGNER_VALID) {
		snprintf(why, sizeof(why), "the request is signed with %s; sign a new request "
		    "with a self-signed certificate, or renew with a valid certificate of this CA",
		    signer_kind_text(kind));
		logx(LOG_LVL_INFO, "%s txid=%s: refused: signer is %s", msgtype_name(m->msgtype),
		    tx, signer_kind_text(kind));
		send_failure(s, m, FAIL_BADREQUEST, why, r);
		goto out;
	}
	repo_id(id, m->txid, m->txid_len, renewal ? sserial : NULL);
	X509_NAME_oneline(dn, subj, sizeof(subj));
	/* A miss is checked again under the lock, when the record is created. */
	if (repo_find_once(s->repo, id) != RS_NONE) {
		if (!same_requester(s, id, m->key_fp, NULL, subj)) {
			logx(LOG_LVL_WARN, "%s txid=%s id=%s: transactionID reused for another "
			    "key or subject", msgtype_name(m->msgtype), tx, id);
			send_failure(s, m, FAIL_BADREQUEST, "this transactionID belongs to a "
			    "request for a different key or subject; use a new transactionID", r);
			goto out;
		}
		answer_existing(s, m, id, r);
		goto out;
	}

	/* A new transaction: every check before anything is written. */
	if (!policy_key_ok(s->cfg, pk, why, sizeof(why))) {
		send_failure(s, m, FAIL_BADREQUEST, why, r);
		goto out;
	}
	if (X509_NAME_entry_count(dn) == 0) {
		send_failure(s, m, FAIL_BADREQUEST, "the request has an empty subject", r);
		goto out;
	}
	if (renewal) {
		if (!s->cfg->allow_renewal) {
			send_failure(s, m, FAIL_BADREQUEST, "this CA does not allow renewal "
			    "(ScepAllowRenewal); enroll again with a new key", r);
			goto out;
		}
		if (!policy_rdn_match(s->cfg, X509_get_subject_name(m->signer), dn, why,
		    sizeof(why))) {
			send_failure(s, m, FAIL_BADREQUEST, why, r);
			goto out;
		}
		if ((n = valid_for_dn(s, dn)) < 0) {
			resp_text(r, 500, "repository unavailable\n");
			goto out;
		}
		if (n >= 2) {
			send_failure(s, m, FAIL_BADREQUEST, "there are already two valid "
			    "certificates for this subject; revoke one before renewing", r);
			goto out;
		}
		/* A renewal inherits the role and RA of the certificate it renews. */
		if (repo_record_by_serial(s->repo, sserial, id) &&
		    (old = repo_record_load(s->repo, id, 0)) != NULL) {
			rec.role = old->role;
			rec.ra = old->ra;
		}
		repo_id(id, m->txid, m->txid_len, sserial);
		rec.renewal_of = sserial;
		role = config_role_or_default(s->cfg, rec.role);
	} else {
		if (!s->cfg->allow_enrollment) {
			if ((n = valid_for_dn(s, dn)) < 0) {
				resp_text(r, 500, "repository unavailable\n");
				goto out;
			}
			if (n == 0) {
				send_failure(s, m, FAIL_BADREQUEST, "this CA does not accept initial "
				    "enrollment for a subject without a certificate "
				    "(ScepAllowEnrollment)", r);
				goto out;
			}
		}
		if ((role = policy_select_role(s->cfg, m->csr, why, sizeof(why))) == NULL) {
			send_failure(s, m, FAIL_BADREQUEST, why, r);
			goto out;
		}
	}
	if (role == NULL) {
		resp_text(r, 500, "no role configured\n");
		goto out;
	}

	memcpy(rec.id, id, sizeof(rec.id));
	rec.txid = (unsigned char *)m->txid;
	rec.txid_len = m->txid_len;
	rec.msgtype = m->msgtype;
	rec.subject = subj;
	rec.key_fp = (char *)m->key_fp;
	rec.signer_fp = (char *)m->signer_fp;
	rec.digest = (char *)EVP_MD_get0_name(m->md);
	rec.cipher = (char *)EVP_CIPHER_get0_name(m->cipher);
	rec.client = (char *)(client ? client : "-");
	rec.role = role->name;
	if (rec.ra == NULL)
		rec.ra = s->cfg->default_ra;
	rec.created = rec.updated = time(NULL);
	rec.csr_der = der_dup(i2d_req_cb, m->csr, &rec.csr_len);
	rec.signer_der = der_dup(i2d_x509_cb, m->signer, &rec.signer_len);
	rec.request_der = m->raw;
	rec.request_len = m->raw_len;
	if (rec.csr_der == NULL || rec.signer_der == NULL) {
		resp_text(r, 500, "out of memory\n");
		goto out;
	}

	if (!renewal) {
		/* Last check: a one-time challenge is consumed here (one rename decides). */
		chal = policy_challenge(s->cfg, s->repo, m->challenge);
		if (chal == CHAL_WRONG || chal == CHAL_EXPIRED) {
			logx(LOG_LVL_WARN, "PKCSReq txid=%s subject=%s: %s challenge password",
			    tx, subj, chal == CHAL_WRONG ? "wrong" : "expired");
			send_failure(s, m, FAIL_BADREQUEST, chal == CHAL_WRONG ?
			    "the challenge password is wrong or already used; ask the CA "
			    "administrator for a new one" : "the challenge password has "
			    "expired; ask the CA administrator for a new one", r);
			goto out;
		}
		rec.challenge = chal == CHAL_NONE ? "none" :
		    chal == CHAL_STATIC ? "static" : "one-time";
		autoissue = chal != CHAL_NONE && s->cfg->auto_approve_enrollment;
	} else {
		rec.challenge = "renewal";
		autoissue = s->cfg->auto_approve;
	}
	switch (enroll_create(s->repo, s->ca, s->cfg, &rec, m->csr, autoissue, &cert, err,
	    sizeof(err))) {
	case ENROLL_EXISTS:
		/* A concurrent resubmission created it first: answer as a poll. */
		answer_existing(s, m, id, r);
		break;
	case ENROLL_PENDING:
		logx(LOG_LVL_INFO, "%s txid=%s id=%s subject=%s role=%s%s%s: pending (%s)",
		    msgtype_name(m->msgtype), tx, id, subj, role->name,
		    renewal ? " renews " : "", renewal ? sserial : "", rec.challenge);
		send_pending(s, m, r);
		break;
	case ENROLL_ISSUED:
		logx(LOG_LVL_INFO, "%s txid=%s id=%s subject=%s role=%s%s%s: issued",
		    msgtype_name(m->msgtype), tx, id, subj, role->name,
		    renewal ? " renews " : "", renewal ? sserial : "");
		send_cert(s, m, cert, role, r);
		break;
	case ENROLL_REFUSED:
		send_failure(s, m, FAIL_BADREQUEST, "there are already two valid "
		    "certificates for this subject; revoke one before renewing", r);
		break;
	default:
		logx(LOG_LVL_ERR, "%s txid=%s: cannot store or issue the request: %s",
		    msgtype_name(m->msgtype), tx, err);
		if (repo_find(s->repo, id) != RS_NONE)
			answer_existing(s, m, id, r);	/* stored: answered as a poll */
		else
			resp_text(r, 503, "the CA cannot store requests right now\n");
		break;
	}
out:
	free(rec.csr_der);
	free(rec.signer_der);
	record_free(old);
	X509_free(cert);
}

/*
 * CertPoll (RFC 8894 §3.3.3): keyed on transactionID (and, for a renewal, the serial of
 * the certificate that signs the poll), released only to the key that asked.
 */
static void
certpoll(struct server *s, const struct pkimsg *m, struct http_resp *r)
{
	char			 id[REPO_ID_LEN + 1], tx[MAX_TXID * 4 + 1];
	char			 sserial[80];
	enum signer_kind	 kind;
	int			 found = 0;

	txid_esc(m, tx, sizeof(tx));
	kind = policy_signer(s->ca, s->repo, m->signer, sserial, sizeof(sserial));
	if (kind == SIGNER_VALID || kind == SIGNER_REVOKED || kind == SIGNER_EXPIRED) {
		repo_id(id, m->txid, m->txid_len, sserial);
		found = repo_find(s->repo, id) != RS_NONE;
	}
	if (!found) {
		repo_id(id, m->txid, m->txid_len, NULL);
		found = repo_find(s->repo, id) != RS_NONE;
	}
	if (!found) {
		logx(LOG_LVL_INFO, "CertPoll txid=%s: unknown transaction", tx);
		send_failure(s, m, FAIL_BADCERTID, "no request with this transactionID", r);
		return;
	}
	if (!same_requester(s, id, NULL, m->signer_fp, NULL)) {
		logx(LOG_LVL_WARN, "CertPoll txid=%s id=%s: signed by another key", tx, id);
		send_failure(s, m, FAIL_BADCERTID, "this transaction belongs to another key",
		    r);
		return;
	}
	answer_existing(s, m, id, r);
}

/* GetCert (RFC 8894 §3.3.4): a certificate of ours by issuer and serial. */
static void
getcert(struct server *s, const struct pkimsg *m, struct http_resp *r)
{
	unsigned char		*der = NULL;
	const unsigned char	*p;
	size_t			 len = 0;
	char			 serial[REPO_SERIAL_MAX + 2];
	X509			*cert = NULL;

	if (X509_NAME_cmp(m->ias_issuer, X509_get_subject_name(ca_cert(s->ca))) != 0 ||
	    !repo_serial_name(m->ias_serial, serial, sizeof(serial)) ||
	    !repo_cert_by_serial(s->repo, serial, &der, &len)) {
		send_failure(s, m, FAIL_BADCERTID, "no certificate with this issuer and serial "
		    "number", r);
		goto out;
	}
	p = der;
	if ((cert = d2i_X509(NULL, &p, (long)len)) == NULL) {
		resp_text(r, 500, "stored certificate unreadable\n");
		goto out;
	}
	send_cert(s, m, cert, NULL, r);
out:
	X509_free(cert);
	free(der);
}

/*
 * GetCRL (RFC 8894 §3.3.4): the current CRL of the issuer named in IssuerAndSerialNumber
 * (the serial names the certificate whose status is wanted; old sscep sends the CA's own,
 * so it is not checked). The CRL is the one `scep-admin crl` (or revoke) published.
 */
static void
getcrl(struct server *s, const struct pkimsg *m, struct http_resp *r)
{
	struct certrep		 rep = { .status = PKI_SUCCESS };
	unsigned char		*pem = NULL;
	size_t			 len = 0;
	char			 path[MAX_PATH_LEN];
	BIO			*b = NULL;

	if (X509_NAME_cmp(m->ias_issuer, X509_get_subject_name(ca_cert(s->ca))) != 0) {
		send_failure(s, m, FAIL_BADCERTID, "this CA does not issue certificates for "
		    "that issuer", r);
		return;
	}
	if (!crl_path(s->repo, path, sizeof(path)) ||
	    !read_file(path, &pem, &len, MAX_CRL_SIZE, NULL, 0) ||
	    (b = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (rep.crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) == NULL) {
		logx(LOG_LVL_WARN, "GetCRL: no CRL published at %s", path);
		send_failure(s, m, FAIL_BADREQUEST, "no CRL has been published yet; the CA "
		    "administrator makes one with scep-admin crl", r);
		goto out;
	}
	if ((rep.certs = sk_X509_new_null()) == NULL) {
		resp_text(r, 500, "out of memory\n");
		goto out;
	}
	send_certrep(s, m, &rep, r);
out:
	sk_X509_free(rep.certs);
	X509_CRL_free(rep.crl);
	BIO_free(b);
	free(pem);
}

static void
pkioperation(struct server *s, const unsigned char *der, size_t len, const char *client,
    struct http_resp *r)
{
	struct pkimsg		*m, *partial = NULL;
	struct pkimsg_err	 e;

	m = pkimsg_parse(der, len, s->ca, s->digests, s->ciphers, &e, &partial);
	if (m == NULL) {
		if (partial != NULL) {
			send_failure(s, partial, e.fail, e.text, r);
			pkimsg_free(partial);
		} else {
			logx(LOG_LVL_INFO, "PKIOperation refused: %s", e.text);
			resp_text(r, 400, e.text);
		}
		return;
	}
	switch (m->msgtype) {
	case MT_PKCSREQ:
	case MT_RENEWALREQ:
		pkcsreq(s, m, client, r);
		break;
	case MT_CERTPOLL:
		certpoll(s, m, r);
		break;
	case MT_GETCERT:
		getcert(s, m, r);
		break;
	case MT_GETCRL:
		getcrl(s, m, r);
		break;
	default:
		send_failure(s, m, FAIL_BADREQUEST, "this operation is not supported", r);
		break;
	}
	pkimsg_free(m);
}

void
server_handle(const struct http_req *req, struct http_resp *r, void *arg)
{
	struct server	*s = arg;
	char		*op = NULL, *msg = NULL;
	unsigned char	*der = NULL;
	size_t		 oplen = 0, msglen = 0, derlen = 0;
	int		 bad = 0, post = strcmp(req->method, "POST") == 0;

	if (!server_ok(s)) {
		logx(LOG_LVL_ERR, "not serving: %s", server_error(s));
		resp_text(r, 500, "SCEP service misconfigured; see the server log\n");
		return;
	}
	if (!post && strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		resp_text(r, 405, "method not allowed\n");
		return;
	}
	op = query_param(req->query, "operation", &oplen, &bad);
	if (bad || (op != NULL && strlen(op) != oplen)) {
		/* A NUL inside operation= must not make "GetCACaps%00..." a GetCACaps. */
		resp_text(r, 400, "malformed operation parameter\n");
		goto out;
	}
	if (op == NULL && post && req->body_len > 0) {
		/* Some clients POST without operation= (RFC 8894 §4.3 notes CAs don't check). */
		op = strdup("PKIOperation");
	}
	if (op == NULL) {
		resp_text(r, 400, "missing operation parameter\n");
		goto out;
	}
	if (strcasecmp(op, "GetCACaps") == 0) {
		resp_copy(r, "text/plain", s->caps, s->caps_len);
	} else if (strcasecmp(op, "GetCACert") == 0) {
		/* Any message= value names the one CA served here (scep-notes §2.2). */
		resp_copy(r, s->cacert_type, s->cacert, s->cacert_len);
	} else if (strcasecmp(op, "GetCACertChain") == 0) {
		/* draft-nourse: the chain as PKCS#7, its own media type. */
		resp_copy(r, "application/x-x509-ca-ra-cert-chain", s->chain, s->chain_len);
	} else if (strcasecmp(op, "GetCAChain") == 0) {
		/* certmonger's spelling. */
		resp_copy(r, "application/x-x509-ca-ra-cert", s->chain, s->chain_len);
	} else if (strcasecmp(op, "GetNextCACert") == 0) {
		if (s->nextca == NULL)
			resp_text(r, 404, "no rollover CA certificate is prepared\n");
		else
			resp_copy(r, "application/x-x509-next-ca-cert", s->nextca,
			    s->nextca_len);
	} else if (strcasecmp(op, "PKIOperation") == 0) {
		if (req->body_too_large) {
			resp_text(r, 413, "request body too large\n");
		} else if (post) {
			if (req->body_len == 0)
				resp_text(r, 400, "empty PKIOperation body\n");
			else
				pkioperation(s, req->body, req->body_len, req->remote_addr, r);
		} else {
			msg = query_param(req->query, "message", &msglen, &bad);
			if (msg == NULL || bad || msglen == 0)
				resp_text(r, 400, "PKIOperation needs a message parameter\n");
			else if ((der = scep_b64_decode(msg, msglen, &derlen)) == NULL)
				resp_text(r, 400, "message is not valid base64\n");
			else
				pkioperation(s, der, derlen, req->remote_addr, r);
		}
	} else {
		char esc[64];

		log_escape(esc, sizeof(esc), op, oplen);
		logx(LOG_LVL_INFO, "unknown operation %s", esc);
		resp_text(r, 400, "unknown operation\n");
	}
out:
	free(op);
	free(msg);
	free(der);
}
