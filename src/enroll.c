/*
 * enroll: the transitions that need both the repository and the CA: a new record issued at
 * once (the server), and approved -> issued (the server on the client's next poll, and
 * `scep-admin issue`). The certificate is signed before any lock is taken, with a random
 * serial; repo_issue() commits and publishes it, and the commit decides who wins: a loser
 * returns the winner's certificate. The certificate profile comes from the record's role
 * (scep.conf(5) "[role NAME]"); a renewal is decided once more under the lock, in the
 * commit's gate (policy_decide(), STAGE_ISSUE): its signer may have been revoked, other
 * certificates committed since.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ca.h"
#include "config.h"
#include "enroll.h"
#include "fileio.h"
#include "policy.h"
#include "pkimsg.h"
#include "repo.h"
#include "scep.h"
#include "spki.h"

/*
 * Serials: SERIAL_OCTETS octets from the CSPRNG, the first in 1..0x7f, so positive and never
 * shorter (RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/Browser Forum Baseline
 * Requirements §7.1: at least 64 bits of CSPRNG output): 127 bits of chance. Uniqueness is
 * the exclusive creation of certs/<SERIAL>.pem (repo_issue()); a collision, which the
 * birthday bound puts near 2^-88 for a billion certificates, is withdrawn and signed again.
 */
#define SERIAL_OCTETS	16
#define DEFAULT_DAYS	365	/* without a config (a caller passing NULL) */
#define ISSUE_TRIES	4	/* a record changing under enroll_issue(), or a serial taken */

/* One whole DER object of LEN bytes, nothing after it (spki.h: no key decoder run). */
static X509 *
cert_from_der(const unsigned char *der, size_t len)
{
	return spki_d2i_cert(der, len);
}

static X509_REQ *
csr_from_der(const unsigned char *der, size_t len)
{
	return spki_d2i_req(der, len);
}

X509 *
enroll_issued_cert(struct repo *r, const char *id)
{
	struct record	*rec = NULL;
	X509		*x = NULL;

	if (!repo_id_valid(id))
		goto out;
	if ((rec = repo_record_load(r, id, 0)) == NULL || rec->state != RS_ISSUED)
		goto out;
	if ((x = cert_from_der(rec->cert_der, rec->cert_len)) == NULL)
		log_crypto(LOG_LVL_ERR, "record %s: its certificate is not one DER certificate",
		    id);
out:
	record_free(rec);
	return x;
}

/* A new serial, upper-case hex (see SERIAL_OCTETS). */
static int
random_serial(char out[SERIAL_OCTETS * 2 + 1])
{
	static const char	 digits[] = "0123456789ABCDEF";
	unsigned char		 b[SERIAL_OCTETS];
	size_t			 i;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0;
	while ((b[0] &= 0x7f) == 0)
		if (RAND_bytes(b, 1) != 1)
			return 0;
	for (i = 0; i < sizeof(b); i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 0x0f];
	}
	out[2 * i] = '\0';
	return 1;
}

/* The issuance profile of REC: its role, else ScepDefaultRole; built-in defaults if no CF. */
static void
profile_of(const struct config *cf, const struct record *rec, struct cert_profile *prof)
{
	const struct role	*ro = NULL;

	memset(prof, 0, sizeof(*prof));
	prof->days = cf != NULL ? cf->cert_days : DEFAULT_DAYS;
	prof->keep_san = cf != NULL ? cf->keep_san : 1;
	if (cf == NULL)
		return;
	if (rec->role != NULL && (ro = config_role(cf, rec->role)) == NULL)
		logx(LOG_LVL_WARN, "record %s: role \"%s\" is not in the configuration; "
		    "using the default role %s", rec->id, rec->role, cf->default_role);
	if (ro == NULL)
		ro = config_role(cf, cf->default_role);
	if (ro == NULL)		/* config_load() guarantees it exists */
		return;
	prof->days = ro->days;
	prof->key_usage = ro->key_usage;
	prof->ext_key_usage = ro->ext_key_usage;
	prof->keep_san = ro->keep_san >= 0 ? ro->keep_san : cf->keep_san;
	prof->crl_url = cf->crl_url;
	prof->ca_issuers_url = cf->ca_issuers_url;
}

/*
 * Sign REQ for REC with a new serial: the certificate, its DER (malloc'd, in *DER) and its
 * facts. No lock is held: nothing is written.
 */
static X509 *
sign(struct ca *ca, const struct config *cf, const struct record *rec, X509_REQ *req,
    unsigned char **der, size_t *derlen, struct repo_cert *facts, char *err, size_t errlen)
{
	X509			*x = NULL;
	unsigned char		*d = NULL;
	char			 serial[SERIAL_OCTETS * 2 + 1], cerr[256];
	struct cert_profile	 prof;
	int			 n;

	*der = NULL;
	memset(facts, 0, sizeof(*facts));
	if (!random_serial(serial)) {
		errf_crypto(err, errlen, "record %s: no random serial", rec->id);
		return NULL;
	}
	profile_of(cf, rec, &prof);
	if ((x = ca_issue(ca, req, serial, &prof, cerr, sizeof(cerr))) == NULL) {
		errf_crypto(err, errlen, "record %s: %s", rec->id, cerr);
		return NULL;
	}
	if ((n = i2d_X509(x, &d)) <= 0 || (*der = malloc((size_t)n)) == NULL ||
	    !repo_cert_facts(x, facts)) {
		errf_crypto(err, errlen, "record %s: cannot encode the certificate",
		    rec->id);
		OPENSSL_free(d);
		free(*der);
		*der = NULL;
		X509_free(x);
		return NULL;
	}
	memcpy(*der, d, (size_t)n);
	*derlen = (size_t)n;
	OPENSSL_free(d);
	return x;
}

/*
 * REC's CSR, checked again: the file has been at rest since. A CSR stored without its
 * challenge no longer self-verifies: then its key must be the one recorded on arrival.
 */
static X509_REQ *
stored_csr(const struct record *rec, char *err, size_t errlen)
{
	X509_REQ	*req;
	EVP_PKEY	*pk;
	char		 fp[65];

	if ((req = csr_from_der(rec->csr_der, rec->csr_len)) == NULL) {
		errf_crypto(err, errlen, "record %s: its CSR is missing or not one "
		    "DER PKCS#10 request", rec->id);
		return NULL;
	}
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL || (X509_REQ_verify(req, pk) != 1 &&
	    (rec->key_fp == NULL || !pubkey_fp(pk, fp) || strcmp(fp, rec->key_fp) != 0))) {
		errf_crypto(err, errlen, "record %s: the CSR's key is not the key "
		    "the request was recorded for", rec->id);
		X509_REQ_free(req);
		return NULL;
	}
	ERR_clear_error();	/* a failed X509_REQ_verify() of a CSR without its challenge */
	return req;
}

int
enroll_dn_facts(struct repo *r, X509_NAME *name, EVP_PKEY *key, int *count,
    int *key_certified)
{
	X509		*x = NULL;
	unsigned char	*der = NULL;
	char		 key_[REPO_DNKEY_MAX + 1], **serials = NULL;
	size_t		 n = 0, i, len;
	int		 ok = 0, rv;

	*count = 0;
	if (key_certified != NULL)
		*key_certified = 0;
	if (name == NULL || !repo_dnkey(name, key_))
		goto out;
	if (!repo_dn_serials(r, key_, &serials, &n)) {
		log_crypto(LOG_LVL_ERR, "DN index %s: cannot be read", key_);
		goto out;
	}
	for (i = 0; i < n; i++) {
		X509_free(x);
		x = NULL;
		free(der);
		der = NULL;
		if ((rv = repo_is_revoked(r, serials[i])) == 1)
			continue;
		if (rv == -1) {
			logx(LOG_LVL_ERR, "certificate %s: cannot tell whether it is revoked",
			    serials[i]);
			goto out;
		}
		/* Read through the entry: a committed certificate is not in certs/ yet. */
		if (!repo_dn_cert(r, key_, serials[i], &der, &len) ||
		    (x = cert_from_der(der, len)) == NULL) {
			logx(LOG_LVL_WARN, "DN index %s: certificate %s is missing or unreadable "
			    "(run scep-admin check)", key_, serials[i]);
			ERR_clear_error();
			continue;
		}
		if (X509_NAME_cmp(X509_get_subject_name(x), name) != 0 ||
		    X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
			continue;
		(*count)++;
		if (key != NULL && key_certified != NULL &&
		    EVP_PKEY_eq(X509_get0_pubkey(x), key) == 1)
			*key_certified = 1;
	}
	ok = 1;
out:
	X509_free(x);
	free(der);
	strv_free(serials, n);
	return ok;
}

int
enroll_valid_certs_for_dn(struct repo *r, X509_NAME *name, int *count)
{
	return enroll_dn_facts(r, name, NULL, count, NULL);
}

/* What the gate of a renewal's commit decides from, and the reason of a refusal. */
struct gate {
	const struct config	*cf;
	X509_NAME		*subject;	/* the requested subject */
	char			 why[320];	/* the policy's reason when refused */
	char			 err[320];	/* what failed on error */
};

/*
 * The gate of a renewal's commit (repo_gate_fn), under the lock: the issue-time decision
 * (policy_decide(), STAGE_ISSUE) from what the repository holds now, since the signer may
 * have been revoked and certificates committed since the request was judged. ARG is a
 * struct gate. 1 go on, 0 refuse (the reason in why), -1 error (err set).
 */
static int
renewal_gate(struct repo *r, const struct record *rec, void *arg)
{
	struct gate		*g = arg;
	struct policy_facts	 f;
	struct policy_decision	 d;
	int			 rc = -1, rv;

	memset(&f, 0, sizeof(f));
	memset(&d, 0, sizeof(d));
	f.stage = STAGE_ISSUE;
	f.renewal = 1;
	f.signer = SIGNER_VALID;
	if (g->cf == NULL) {
		errf(g->err, sizeof(g->err), "record %s: a renewal is issued only under a "
		    "configuration", rec->id);
		goto out;
	}
	if (!enroll_valid_certs_for_dn(r, g->subject, &f.valid_for_dn)) {
		errf_crypto(g->err, sizeof(g->err), "record %s: cannot count the valid "
		    "certificates of its subject", rec->id);
		goto out;
	}
	if ((rv = repo_is_revoked(r, rec->renewal_of)) == -1) {
		errf_crypto(g->err, sizeof(g->err), "record %s: cannot tell whether "
		    "certificate %s is revoked", rec->id, rec->renewal_of);
		goto out;
	}
	if (rv == 1)
		f.signer = SIGNER_REVOKED;
	if (!policy_decide(g->cf, &f, &d)) {
		errf(g->err, sizeof(g->err), "record %s: %s", rec->id, d.text);
		goto out;
	}
	rc = d.verdict == POLICY_ISSUE;
	if (!rc)
		snprintf(g->why, sizeof(g->why), "%s", d.text);
out:
	policy_decision_clear(&d);
	return rc;
}

/* [locked] REC (in approved/ or pending/) -> rejected with REASON. 1 ok, 0 error. */
static int
refuse(struct repo *r, struct record *rec, const char *reason, char *err, size_t errlen)
{
	char	*copy;

	if ((copy = strdup(reason)) == NULL)
		return errf(err, errlen, "out of memory");
	free(rec->reason);
	rec->reason = copy;
	if (!repo_move(r, rec->id, rec->state, RS_REJECTED))
		return errf_crypto(err, errlen, "record %s: cannot move it to rejected/",
		    rec->id);
	rec->state = RS_REJECTED;
	if (!repo_record_update(r, rec))
		logx(LOG_LVL_ERR, "record %s: rejected, but the reason could not be recorded",
		    rec->id);
	errf(err, errlen, "record %s: renewal refused: %s", rec->id, reason);
	return 1;
}

/* approved -> rejected with REASON, taking the lock. 1 ok, 0 error (err set). */
static int
refuse_locking(struct repo *r, struct record *rec, const char *reason, char *err,
    size_t errlen)
{
	int	ok;

	if (!repo_lock(r))
		return errf_sys(err, errlen, "cannot lock the repository");
	rec->state = RS_APPROVED;
	ok = refuse(r, rec, reason, err, errlen);
	repo_unlock(r);
	return ok;
}

/*
 * repo_issue() of REC with the certificate DER (described by FACTS) from state FROM; a
 * renewal's commit passes renewal_gate() with G, filled here.
 */
static int
commit(struct repo *r, const struct config *cf, const struct record *rec, X509_REQ *req,
    unsigned char *der, size_t derlen, const struct repo_cert *facts, enum rstate from,
    struct gate *g)
{
	struct record	tmp = *rec;

	tmp.cert_der = der;
	tmp.cert_len = derlen;
	memset(g, 0, sizeof(*g));
	g->cf = cf;
	g->subject = X509_REQ_get_subject_name(req);
	return repo_issue(r, &tmp, facts, from, rec->renewal_of != NULL ? renewal_gate :
	    NULL, g);
}

/* The certificate X of record ID is issued: logged, handed to *OUT. */
static void
issued(const char *id, const struct repo_cert *facts, X509 **x, X509 **out)
{
	logx(LOG_LVL_INFO, "record %s: issued serial %s to %s", id, facts->serial,
	    facts->subject);
	*out = *x;
	*x = NULL;
}

int
enroll_issue(struct repo *r, struct ca *ca, const struct config *cf, const char *id,
    X509 **out, char *err, size_t errlen)
{
	struct record		*rec = NULL;
	struct repo_cert	 facts;
	struct gate		 g;
	X509_REQ		*req = NULL;
	X509			*x = NULL;
	unsigned char		*der = NULL;
	size_t			 derlen = 0;
	enum rstate		 st;
	int			 ok = 0, rc, try;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	*out = NULL;
	memset(&facts, 0, sizeof(facts));
	if (!repo_id_valid(id)) {
		errf(err, errlen, "not a record id");
		return 0;
	}
	for (try = 0; try < ISSUE_TRIES; try++) {
		record_free(rec);
		rec = NULL;
		X509_REQ_free(req);
		req = NULL;
		X509_free(x);
		x = NULL;
		free(der);
		der = NULL;
		repo_cert_facts_free(&facts);

		switch ((st = repo_find(r, id))) {
		case RS_ISSUED:		/* somebody else issued it first */
			if ((x = enroll_issued_cert(r, id)) == NULL) {
				errf_crypto(err, errlen, "record %s: issued, but its "
				    "certificate cannot be read", id);
				goto out;
			}
			/* It may have been published a moment ago: durable before it goes. */
			if (!repo_sync_issued(r)) {
				errf_crypto(err, errlen, "record %s: cannot sync the "
				    "repository", id);
				goto out;
			}
			*out = x;
			x = NULL;
			ok = 1;
			goto out;
		case RS_APPROVED:
			break;
		case RS_NONE:
			errf(err, errlen, "record %s: no such record", id);
			goto out;
		default:
			errf(err, errlen, "record %s: is %s, not approved",
			    id, rstate_name(st));
			goto out;
		}
		if ((rec = repo_record_load(r, id, 1)) == NULL || rec->state != RS_APPROVED)
			continue;	/* moved meanwhile: look again */
		if (rec->cert_der != NULL) {
			/* Committed before and not published: publish that one. */
			if ((rc = repo_issue_finish(r, id)) == REPO_TAKEN && !repo_issue_unwind(r,
			    id))
				rc = 0;
			if (rc == 0) {
				errf_crypto(err, errlen, "record %s: cannot publish the "
				    "certificate it holds", id);
				goto out;
			}
			continue;
		}
		if ((req = stored_csr(rec, err, errlen)) == NULL)
			goto out;
		if ((x = sign(ca, cf, rec, req, &der, &derlen, &facts, err, errlen)) == NULL)
			goto out;
		rc = commit(r, cf, rec, req, der, derlen, &facts, RS_APPROVED, &g);
		if (g.err[0] != '\0') {
			errf(err, errlen, "%s", g.err);
			goto out;
		}
		if (rc == 1) {
			issued(id, &facts, &x, out);
			ok = 1;
			goto out;
		}
		if (rc == REPO_REFUSED) {
			if (refuse_locking(r, rec, g.why, err, errlen))
				ok = -1;
			goto out;
		}
		if (rc == REPO_TAKEN) {
			if (!repo_issue_unwind(r, id))
				break;
			continue;
		}
		if (errno != ESTALE)
			break;
	}
	errf_crypto(err, errlen, "record %s: cannot issue%s", id,
	    try == ISSUE_TRIES ? " (it keeps changing)" : "");
out:
	record_free(rec);
	X509_REQ_free(req);
	X509_free(x);
	free(der);
	repo_cert_facts_free(&facts);
	return ok;
}

enum enroll_result
enroll_create(struct repo *r, struct ca *ca, const struct config *cf,
    const struct record *rec, X509_REQ *req, int issue, X509 **out, char *err,
    size_t errlen)
{
	struct repo_cert	 facts;
	struct gate		 g;
	X509_REQ		*own = NULL;
	X509			*x = NULL;
	unsigned char		*der = NULL;
	size_t			 derlen = 0;
	enum enroll_result	 res = ENROLL_ERROR;
	int			 rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	*out = NULL;
	memset(&facts, 0, sizeof(facts));
	if (!issue) {
		if (repo_record_create(r, rec, RS_PENDING))
			res = ENROLL_PENDING;
		else if (errno == EEXIST)
			res = ENROLL_EXISTS;
		else
			errf_sys(err, errlen, "record %s: cannot be stored", rec->id);
		goto out;
	}
	if (req == NULL && (req = own = stored_csr(rec, err, errlen)) == NULL)
		goto out;
	if ((x = sign(ca, cf, rec, req, &der, &derlen, &facts, err, errlen)) == NULL) {
		/* Stored as approved: the client's next poll issues it. */
		if (!repo_record_create(r, rec, RS_APPROVED) && errno == EEXIST)
			res = ENROLL_EXISTS;
		goto out;
	}
	rc = commit(r, cf, rec, req, der, derlen, &facts, RS_NONE, &g);
	if (g.err[0] != '\0')
		errf(err, errlen, "%s", g.err);
	else if (rc == 1) {
		issued(rec->id, &facts, &x, out);
		res = ENROLL_ISSUED;
	} else if (rc == REPO_REFUSED) {
		errf(err, errlen, "%s", g.why);
		res = ENROLL_REFUSED;
	} else if (rc == REPO_TAKEN) {
		/* Committed with a serial that is taken: signed again from approved/. */
		if (enroll_issue(r, ca, cf, rec->id, out, err, errlen) == 1)
			res = ENROLL_ISSUED;
	} else if (errno == EEXIST)
		res = ENROLL_EXISTS;
	else
		errf_sys(err, errlen, "record %s: cannot issue", rec->id);
out:
	X509_REQ_free(own);
	X509_free(x);
	free(der);
	repo_cert_facts_free(&facts);
	return res;
}

int
enroll_recheck(struct repo *r, const struct config *cf, const char *id, char *err,
    size_t errlen)
{
	struct policy_facts	 f;
	struct policy_decision	 d;
	struct record		*rec = NULL;
	int			 rc = -1, rv, locked = 0, pass;

	memset(&d, 0, sizeof(d));
	/* Unlocked first (polls are frequent), then under the lock before moving anything. */
	for (pass = 0; pass < 2; pass++) {
		record_free(rec);
		rec = NULL;
		policy_decision_clear(&d);
		if (pass == 1) {
			if (!repo_lock(r)) {
				errf_crypto(err, errlen, "cannot lock the repository");
				goto out;
			}
			locked = 1;
		}
		if ((rec = repo_record_load(r, id, 0)) == NULL) {
			errf_crypto(err, errlen, "record %s: cannot be read", id);
			goto out;
		}
		if ((rec->state != RS_PENDING && rec->state != RS_APPROVED) ||
		    rec->renewal_of == NULL) {
			rc = 1;
			goto out;
		}
		memset(&f, 0, sizeof(f));
		f.stage = STAGE_STORED;
		f.renewal = 1;
		if ((rv = repo_is_revoked(r, rec->renewal_of)) == -1) {
			errf_crypto(err, errlen, "record %s: cannot tell whether "
			    "certificate %s is revoked", id, rec->renewal_of);
			goto out;
		}
		f.signer = rv == 1 ? SIGNER_REVOKED : SIGNER_VALID;
		if (!policy_decide(cf, &f, &d)) {
			errf_crypto(err, errlen, "record %s: %s", id, d.text);
			goto out;
		}
		if (d.verdict != POLICY_REFUSE) {
			rc = 1;
			goto out;
		}
	}
	rc = refuse(r, rec, d.text, err, errlen) ? 0 : -1;
out:
	if (locked)
		repo_unlock(r);
	policy_decision_clear(&d);
	record_free(rec);
	return rc;
}
