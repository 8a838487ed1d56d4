/*
 * enroll: approved -> issued, the one transition that needs both the repository and the CA.
 * Shared by the server (issuing on the client's next poll) and `scep-admin issue`; the
 * repository lock and the rename decide who wins, the loser returns the winner's
 * certificate.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "ca.h"
#include "config.h"
#include "enroll.h"
#include "repo.h"
#include "scep.h"

#define SERIAL_BUF	128	/* repo_serial_next() output */
#define DEFAULT_DAYS	365	/* without a config (a caller passing NULL) */

/* Format err and log it at LVL, draining the OpenSSL error queue. */
static void
enroll_err(enum log_level lvl, char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
	log_crypto(lvl, "%s", msg);
}

/* One whole DER object of LEN bytes, nothing after it. */
static X509 *
cert_from_der(const unsigned char *der, size_t len)
{
	const unsigned char	*p = der;
	X509			*x;

	if (der == NULL || len == 0 || len > LONG_MAX)
		return NULL;
	if ((x = d2i_X509(NULL, &p, (long)len)) != NULL && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

static X509_REQ *
csr_from_der(const unsigned char *der, size_t len)
{
	const unsigned char	*p = der;
	X509_REQ		*req;

	if (der == NULL || len == 0 || len > LONG_MAX)
		return NULL;
	if ((req = d2i_X509_REQ(NULL, &p, (long)len)) != NULL && p != der + len) {
		X509_REQ_free(req);
		req = NULL;
	}
	return req;
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

/* [locked] certs/<SERIAL>.pem, cert.der, the meta serial and the index line of X. */
static int
store(struct repo *r, const struct record *rec, X509 *x, char *err, size_t errlen)
{
	BIGNUM		*bn = NULL;
	unsigned char	*der = NULL;
	char		*subject = NULL, *serial = NULL;
	struct tm	 tm;
	int		 len, ok = 0;

	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (serial = BN_bn2hex(bn)) == NULL ||
	    (len = i2d_X509(x, &der)) <= 0 ||
	    (subject = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0)) == NULL ||
	    !ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm)) {
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot encode the certificate",
		    rec->id);
		goto out;
	}
	if (!repo_store_cert(r, rec->id, serial, der, (size_t)len, timegm(&tm), subject)) {
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot store certificate %s",
		    rec->id, serial);
		goto out;
	}
	logx(LOG_LVL_INFO, "record %s: issued serial %s to %s", rec->id, serial, subject);
	ok = 1;
out:
	BN_free(bn);
	OPENSSL_free(serial);
	OPENSSL_free(der);
	OPENSSL_free(subject);
	return ok;
}

/*
 * [locked] Sign REC's CSR and store the certificate in REC (still in approved/). A record
 * that already holds cert.der (an earlier run stopped between storing and moving) is not
 * signed again: its certificate is stored if the meta lacks its serial, and returned.
 */
static X509 *
sign_record(struct repo *r, struct ca *ca, const struct config *cf,
    const struct record *rec, char *err, size_t errlen)
{
	X509_REQ		*req = NULL;
	X509			*x = NULL, *ret = NULL;
	EVP_PKEY		*pk;
	char			 serial[SERIAL_BUF], cerr[256];
	struct cert_profile	 prof;

	if ((req = csr_from_der(rec->csr_der, rec->csr_len)) == NULL) {
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: csr.der is missing or not one "
		    "DER PKCS#10 request", rec->id);
		goto out;
	}
	if (rec->cert_der != NULL) {
		if ((x = cert_from_der(rec->cert_der, rec->cert_len)) == NULL ||
		    EVP_PKEY_eq(X509_get0_pubkey(x), X509_REQ_get0_pubkey(req)) != 1) {
			enroll_err(LOG_LVL_ERR, err, errlen, "record %s: approved/ holds a "
			    "cert.der that is unreadable or not for its CSR", rec->id);
			goto out;
		}
		logx(LOG_LVL_WARN, "record %s: finishing an interrupted issue", rec->id);
		/* repo_store_cert() writes the meta serial before the index line. */
		if (rec->serial == NULL && !store(r, rec, x, err, errlen))
			goto out;
		ret = x;
		x = NULL;
		goto out;
	}
	/* Checked when it arrived; checked again since the file has been at rest since. */
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL || X509_REQ_verify(req, pk) != 1) {
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: the CSR's self-signature does "
		    "not verify", rec->id);
		goto out;
	}
	if (!repo_serial_next(r, serial, sizeof(serial))) {
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot allocate a serial",
		    rec->id);
		goto out;
	}
	prof.days = cf != NULL ? cf->cert_days : DEFAULT_DAYS;
	prof.keep_san = 1;
	if ((x = ca_issue(ca, req, serial, &prof, cerr, sizeof(cerr))) == NULL) {
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: %s", rec->id, cerr);
		goto out;
	}
	if (!store(r, rec, x, err, errlen))
		goto out;
	ret = x;
	x = NULL;
out:
	X509_REQ_free(req);
	X509_free(x);
	return ret;
}

int
enroll_issue(struct repo *r, struct ca *ca, const struct config *cf, const char *id,
    X509 **out, char *err, size_t errlen)
{
	struct record	*rec = NULL;
	X509		*x = NULL;
	enum rstate	 st;
	int		 ok = 0, locked = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	*out = NULL;
	if (!repo_id_valid(id)) {
		enroll_err(LOG_LVL_DEBUG, err, errlen, "not a record id");
		goto out;
	}
	if (!repo_lock(r)) {
		enroll_err(LOG_LVL_ERR, err, errlen, "cannot lock the repository");
		goto out;
	}
	locked = 1;

	switch ((st = repo_find(r, id))) {
	case RS_ISSUED:		/* somebody else issued it first */
		if ((x = enroll_issued_cert(r, id)) == NULL) {
			enroll_err(LOG_LVL_ERR, err, errlen, "record %s: issued, but its "
			    "certificate cannot be read", id);
			goto out;
		}
		break;
	case RS_APPROVED:
		if ((rec = repo_record_load(r, id, 1)) == NULL) {
			enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot be read", id);
			goto out;
		}
		if ((x = sign_record(r, ca, cf, rec, err, errlen)) == NULL)
			goto out;
		if (!repo_move(r, id, RS_APPROVED, RS_ISSUED)) {
			enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot move it to "
			    "issued/", id);
			goto out;
		}
		break;
	case RS_NONE:
		enroll_err(LOG_LVL_DEBUG, err, errlen, "record %s: no such record", id);
		goto out;
	default:
		enroll_err(LOG_LVL_DEBUG, err, errlen, "record %s: is %s, not approved", id,
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
