/*
 * enroll: approved -> issued, the one transition that needs both the repository and the CA.
 * Shared by the server (issuing on the client's next poll) and `scep-admin issue`; the
 * repository lock and the rename decide who wins, the loser returns the winner's
 * certificate. The certificate profile comes from the record's role (scep.conf(5)
 * "[role NAME]"); a renewal is checked once more under the lock against the OpenCA rule
 * "never more than two valid certificates with the same DN".
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
#include "repo.h"
#include "scep.h"
#include "spki.h"

#define SERIAL_BUF	128	/* repo_serial_next() output */
#define DEFAULT_DAYS	365	/* without a config (a caller passing NULL) */
#define MAX_VALID_PER_DN 2	/* a renewal is refused when this many valid certs exist */
#define REFUSE_RENEWAL	"there are already two valid certificates for this subject"

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
	if (rec->role != NULL && config_role(cf, rec->role) == NULL)
		logx(LOG_LVL_WARN, "record %s: role \"%s\" is not in the configuration; "
		    "using the default role %s", rec->id, rec->role, cf->default_role);
	/* ScepDefaultRole always names a role: config_load() checks it. */
	if ((ro = config_role_or_default(cf, rec->role)) == NULL)
		return;
	prof->days = ro->days;
	prof->key_usage = ro->key_usage;
	prof->ext_key_usage = ro->ext_key_usage;
	prof->keep_san = ro->keep_san >= 0 ? ro->keep_san : cf->keep_san;
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
	char			 serial[SERIAL_BUF], cerr[256];
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
	/* Checked when it arrived; checked again when read back from the file. */
	if (csr == NULL &&
	    ((pk = X509_REQ_get0_pubkey(req)) == NULL || X509_REQ_verify(req, pk) != 1)) {
		errf_crypto(err, errlen, "record %s: the CSR's self-signature does "
		    "not verify", rec->id);
		goto out;
	}
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
enroll_valid_certs_for_dn(struct repo *r, X509_NAME *name, int *count)
{
	X509		*x = NULL;
	unsigned char	*der = NULL;
	char		 key[REPO_DNKEY_MAX + 1], **serials = NULL;
	size_t		 n = 0, i, len;
	int		 ok = 0, rv;

	*count = 0;
	if (name == NULL || !repo_dnkey(name, key))
		goto out;
	if (!repo_dn_serials(r, key, &serials, &n)) {
		log_crypto(LOG_LVL_ERR, "DN index %s: cannot be read", key);
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
			    "(run scep-admin check)", key, serials[i]);
			ERR_clear_error();
			continue;
		}
		if (X509_NAME_cmp(X509_get_subject_name(x), name) != 0 ||
		    X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
			continue;
		(*count)++;
	}
	ok = 1;
out:
	X509_free(x);
	free(der);
	strv_free(serials, n);
	return ok;
}

/*
 * [locked] OpenCA's renewal rule, checked again at issue time since certificates may have
 * been issued since the request was stored: 1 if REC may be issued, 0 if it must be
 * refused, -1 on error (err set).
 */
static int
renewal_allowed(struct repo *r, const struct record *rec, X509_REQ *csr, char *err,
    size_t errlen)
{
	X509_REQ	*req = csr, *own = NULL;
	int		 n = 0, rc = -1;

	if (req == NULL &&
	    (req = own = csr_from_der(rec->csr_der, rec->csr_len)) == NULL) {
		errf_crypto(err, errlen, "record %s: csr.der is missing or not one "
		    "DER PKCS#10 request", rec->id);
		goto out;
	}
	if (!enroll_valid_certs_for_dn(r, X509_REQ_get_subject_name(req), &n)) {
		errf_crypto(err, errlen, "record %s: cannot count the valid "
		    "certificates of its subject", rec->id);
		goto out;
	}
	rc = n < MAX_VALID_PER_DN;
out:
	X509_REQ_free(own);
	return rc;
}

/* [locked] approved -> rejected with REASON. 1 ok, 0 error (err set). */
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
	if (!repo_move(r, rec->id, RS_APPROVED, RS_REJECTED)) {
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
		if (csr != NULL && !same_csr(csr, rec))
			csr = NULL;
		/* Not for an interrupted issue: its certificate exists already. */
		if (rec->renewal_of != NULL && rec->cert_der == NULL) {
			if ((rc = renewal_allowed(r, rec, csr, err, errlen)) == -1)
				goto out;
			if (rc == 0) {
				if (refuse(r, rec, REFUSE_RENEWAL, err, errlen))
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
