/*
 * enroll: approved -> issued, the one transition that needs both the repository and the CA.
 * Shared by the server (issuing on the client's next poll) and `scep-admin issue`; the
 * repository lock and the rename decide who wins, the loser returns the winner's
 * certificate. The certificate profile comes from the record's role (scep.conf(5)
 * "[role NAME]"); a renewal is decided once more under the lock (policy_decide(),
 * STAGE_ISSUE): its signer may have been revoked, other certificates issued since.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
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

#define SERIAL_BUF	128	/* repo_serial_next() output */
#define DEFAULT_DAYS	365	/* without a config (a caller passing NULL) */

/* One whole DER object of LEN bytes, nothing after it. */
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
	if ((rec = repo_record_load(r, id, 1)) == NULL || rec->state != RS_ISSUED)
		goto out;
	if ((x = cert_from_der(rec->cert_der, rec->cert_len)) == NULL)
		log_crypto(LOG_LVL_ERR, "record %s: cert.der is not one DER certificate", id);
out:
	record_free(rec);
	return x;
}

/*
 * [locked] Store X, REC's certificate, with everything the repository keeps about it
 * (repo_store_cert(): cert.der, certs/, the DN index, index.txt, the meta serial).
 */
static int
store(struct repo *r, const struct record *rec, X509 *x, char *err, size_t errlen)
{
	struct repo_cert	 cf;
	unsigned char		*der = NULL;
	int			 len, ok = 0;

	memset(&cf, 0, sizeof(cf));
	if ((len = i2d_X509(x, &der)) <= 0 || !repo_cert_facts(x, &cf)) {
		errf_crypto(err, errlen, "record %s: cannot encode the certificate",
		    rec->id);
		goto out;
	}
	if (!repo_store_cert(r, rec->id, der, (size_t)len, &cf)) {
		errf_crypto(err, errlen, "record %s: cannot store certificate %s",
		    rec->id, cf.serial);
		goto out;
	}
	logx(LOG_LVL_INFO, "record %s: issued serial %s to %s", rec->id, cf.serial,
	    cf.subject);
	ok = 1;
out:
	repo_cert_facts_free(&cf);
	OPENSSL_free(der);
	return ok;
}

/* The issuance profile of REC: policy_role() of its role; built-in defaults if no CF. */
static void
profile_of(const struct config *cf, const struct record *rec, struct cert_profile *prof)
{
	const struct role	*ro;

	memset(prof, 0, sizeof(*prof));
	prof->days = cf != NULL ? cf->cert_days : DEFAULT_DAYS;
	prof->keep_san = cf != NULL ? cf->keep_san : 1;
	if (cf == NULL)
		return;
	if (rec->role != NULL && config_role(cf, rec->role) == NULL)
		logx(LOG_LVL_WARN, "record %s: role \"%s\" is not in the configuration; "
		    "using the default role %s", rec->id, rec->role, cf->default_role);
	if ((ro = policy_role(cf, rec->role)) == NULL)	/* config_load() makes it exist */
		return;
	prof->days = ro->days;
	prof->key_usage = ro->key_usage;
	prof->ext_key_usage = ro->ext_key_usage;
	prof->keep_san = policy_keep_san(cf, ro);
	prof->crl_url = cf->crl_url;
	prof->ca_issuers_url = cf->ca_issuers_url;
}

/*
 * [locked] Sign REC's CSR and store the certificate in REC (still in approved/). A record
 * that already holds cert.der (an earlier run stopped between storing and moving) is not
 * signed again: its certificate is stored if the meta lacks its serial, and returned.
 */
static X509 *
sign_record(struct repo *r, struct ca *ca, const struct config *cf,
    const struct record *rec, X509_REQ *csr, char *err, size_t errlen)
{
	X509_REQ		*req = csr, *own = NULL;
	X509			*x = NULL, *ret = NULL;
	EVP_PKEY		*pk;
	char			 serial[SERIAL_BUF], cerr[256], fp[65];
	struct cert_profile	 prof;

	if (req == NULL &&
	    (req = own = csr_from_der(rec->csr_der, rec->csr_len)) == NULL) {
		errf_crypto(err, errlen, "record %s: csr.der is missing or not one "
		    "DER PKCS#10 request", rec->id);
		goto out;
	}
	if (rec->cert_der != NULL) {
		if ((x = cert_from_der(rec->cert_der, rec->cert_len)) == NULL ||
		    EVP_PKEY_eq(X509_get0_pubkey(x), X509_REQ_get0_pubkey(req)) != 1) {
			errf_crypto(err, errlen, "record %s: approved/ holds a "
			    "cert.der that is unreadable or not for its CSR", rec->id);
			goto out;
		}
		logx(LOG_LVL_WARN, "record %s: finishing an interrupted issue", rec->id);
		/* repo_store_cert() writes the meta serial last: with it, all the rest is there. */
		if (rec->serial == NULL && !store(r, rec, x, err, errlen))
			goto out;
		ret = x;
		x = NULL;
		goto out;
	}
	/*
	 * CSR, from the request itself, was verified on arrival. One read back from the
	 * file is checked again; a CSR stored without its challenge no longer verifies:
	 * then its key must be the one recorded on arrival.
	 */
	if (csr == NULL && ((pk = X509_REQ_get0_pubkey(req)) == NULL ||
	    (X509_REQ_verify(req, pk) != 1 && (rec->key_fp == NULL ||
	    !pubkey_fp(pk, fp) || strcmp(fp, rec->key_fp) != 0)))) {
		errf_crypto(err, errlen, "record %s: the CSR's key is not the key "
		    "the request was recorded for", rec->id);
		goto out;
	}
	ERR_clear_error();	/* a failed X509_REQ_verify() of a CSR without its challenge */
	if (!repo_serial_next(r, serial, sizeof(serial))) {
		errf_crypto(err, errlen, "record %s: cannot allocate a serial",
		    rec->id);
		goto out;
	}
	profile_of(cf, rec, &prof);
	if ((x = ca_issue(ca, req, serial, &prof, cerr, sizeof(cerr))) == NULL) {
		errf_crypto(err, errlen, "record %s: %s", rec->id, cerr);
		goto out;
	}
	if (!store(r, rec, x, err, errlen))
		goto out;
	ret = x;
	x = NULL;
out:
	X509_REQ_free(own);
	X509_free(x);
	return ret;
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
		if (!repo_cert_by_serial(r, serials[i], &der, &len) ||
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

/*
 * [locked] The issue-time decision for REC (policy_decide(), STAGE_ISSUE) from what the
 * repository holds now: 1 issue, 0 refuse (the reason in WHY), -1 on error (err set).
 */
static int
issue_allowed(struct repo *r, const struct config *cf, const struct record *rec,
    X509_REQ *csr, char *why, size_t whylen, char *err, size_t errlen)
{
	struct policy_facts	 f;
	struct policy_decision	 d;
	X509_REQ		*req = csr, *own = NULL;
	int			 rc = -1, rv;

	memset(&f, 0, sizeof(f));
	memset(&d, 0, sizeof(d));
	f.stage = STAGE_ISSUE;
	f.renewal = rec->renewal_of != NULL;
	f.signer = SIGNER_VALID;
	if (f.renewal) {
		if (req == NULL &&
		    (req = own = csr_from_der(rec->csr_der, rec->csr_len)) == NULL) {
			errf_crypto(err, errlen, "record %s: csr.der is missing or "
			    "not one DER PKCS#10 request", rec->id);
			goto out;
		}
		if (!enroll_valid_certs_for_dn(r, X509_REQ_get_subject_name(req),
		    &f.valid_for_dn)) {
			errf_crypto(err, errlen, "record %s: cannot count the valid "
			    "certificates of its subject", rec->id);
			goto out;
		}
		if ((rv = repo_is_revoked(r, rec->renewal_of)) == -1) {
			errf_crypto(err, errlen, "record %s: cannot tell whether "
			    "certificate %s is revoked", rec->id, rec->renewal_of);
			goto out;
		}
		if (rv == 1)
			f.signer = SIGNER_REVOKED;
	}
	if (cf == NULL) {
		errf_crypto(err, errlen, "record %s: a renewal is issued only "
		    "under a configuration", rec->id);
		goto out;
	}
	if (!policy_decide(cf, &f, &d)) {
		errf_crypto(err, errlen, "record %s: %s", rec->id, d.text);
		goto out;
	}
	rc = d.verdict == POLICY_ISSUE;
	if (!rc)
		snprintf(why, whylen, "%s", d.text);
out:
	policy_decision_clear(&d);
	X509_REQ_free(own);
	return rc;
}

/* [locked] REC (in approved/ or pending/) -> rejected with REASON. 1 ok, 0 error. */
static int
refuse(struct repo *r, struct record *rec, const char *reason, char *err, size_t errlen)
{
	char	*copy;

	if ((copy = strdup(reason)) == NULL) {
		errf_crypto(err, errlen, "out of memory");
		return 0;
	}
	free(rec->reason);
	rec->reason = copy;
	if (!repo_move(r, rec->id, rec->state, RS_REJECTED)) {
		errf_crypto(err, errlen, "record %s: cannot move it to rejected/",
		    rec->id);
		return 0;
	}
	rec->state = RS_REJECTED;
	if (!repo_record_update(r, rec))
		logx(LOG_LVL_ERR, "record %s: rejected, but the reason could not be recorded",
		    rec->id);
	errf(err, errlen, "record %s: renewal refused: %s", rec->id,
	    reason);
	return 1;
}

/* Does CSR encode to the bytes of REC's csr.der? */
static int
same_csr(X509_REQ *csr, const struct record *rec)
{
	unsigned char	*der = NULL;
	int		 n, same;

	n = i2d_X509_REQ(csr, &der);
	same = n > 0 && rec->csr_der != NULL && (size_t)n == rec->csr_len &&
	    memcmp(der, rec->csr_der, rec->csr_len) == 0;
	OPENSSL_free(der);
	return same;
}

int
enroll_issue(struct repo *r, struct ca *ca, const struct config *cf, const char *id,
    X509 **out, char *err, size_t errlen)
{
	return enroll_issue_csr(r, ca, cf, id, NULL, out, err, errlen);
}

int
enroll_issue_csr(struct repo *r, struct ca *ca, const struct config *cf, const char *id,
    X509_REQ *csr, X509 **out, char *err, size_t errlen)
{
	struct record	*rec = NULL;
	X509		*x = NULL;
	enum rstate	 st;
	char		 why[320];
	int		 ok = 0, locked = 0, rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	*out = NULL;
	if (!repo_id_valid(id)) {
		errf(err, errlen, "not a record id");
		goto out;
	}
	if (!repo_lock(r)) {
		errf_crypto(err, errlen, "cannot lock the repository");
		goto out;
	}
	locked = 1;

	switch ((st = repo_find(r, id))) {
	case RS_ISSUED:		/* somebody else issued it first */
		if ((x = enroll_issued_cert(r, id)) == NULL) {
			errf_crypto(err, errlen, "record %s: issued, but its "
			    "certificate cannot be read", id);
			goto out;
		}
		break;
	case RS_APPROVED:
		if ((rec = repo_record_load(r, id, 1)) == NULL) {
			errf_crypto(err, errlen, "record %s: cannot be read", id);
			goto out;
		}
		rec->state = RS_APPROVED;
		if (csr != NULL && !same_csr(csr, rec))
			csr = NULL;
		/* Not for an interrupted issue: its certificate exists already. */
		if (rec->renewal_of != NULL && rec->cert_der == NULL) {
			if ((rc = issue_allowed(r, cf, rec, csr, why, sizeof(why), err,
			    errlen)) == -1)
				goto out;
			if (rc == 0) {
				if (refuse(r, rec, why, err, errlen))
					ok = -1;
				goto out;
			}
		}
		if ((x = sign_record(r, ca, cf, rec, csr, err, errlen)) == NULL)
			goto out;
		if (!repo_move(r, id, RS_APPROVED, RS_ISSUED)) {
			errf_crypto(err, errlen, "record %s: cannot move it to "
			    "issued/", id);
			goto out;
		}
		break;
	case RS_NONE:
		errf(err, errlen, "record %s: no such record", id);
		goto out;
	default:
		errf(err, errlen, "record %s: is %s, not approved", id,
		    rstate_name(st));
		goto out;
	}
	*out = x;
	x = NULL;
	ok = 1;
out:
	if (locked)
		repo_unlock(r);
	X509_free(x);
	record_free(rec);
	return ok;
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
