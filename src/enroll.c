/*
 * enroll: the transitions that need both the repository and the CA: a new record issued at
 * once (the server), and approved -> issued (the server on the client's next poll, and
 * `scep-admin issue`). The certificate is signed before any lock is taken, with a random
 * serial; repo_issue() commits and publishes it, and the commit decides who wins: a loser
 * returns the winner's certificate. The certificate profile comes from the record's role
 * (scep.conf(5) "[role NAME]"); a renewal is checked once more under the lock against the
 * OpenCA rule "never more than two valid certificates with the same DN".
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
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
#include "repo.h"
#include "scep.h"

/*
 * Serials: SERIAL_OCTETS octets from the CSPRNG, the first in 1..0x7f, so positive and never
 * shorter (RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/Browser Forum Baseline
 * Requirements §7.1: at least 64 bits of CSPRNG output): 127 bits of chance. Uniqueness is
 * the exclusive creation of certs/<SERIAL>.pem (repo_issue()); a collision, which the
 * birthday bound puts near 2^-88 for a billion certificates, is withdrawn and signed again.
 */
#define SERIAL_OCTETS	16
#define DEFAULT_DAYS	365	/* without a config (a caller passing NULL) */
#define MAX_VALID_PER_DN 2	/* a renewal is refused when this many valid certs exist */
#define ISSUE_TRIES	4	/* a record changing under enroll_issue(), or a serial taken */
#define REFUSE_RENEWAL	"there are already two valid certificates for this subject"

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
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: no random serial", rec->id);
		return NULL;
	}
	profile_of(cf, rec, &prof);
	if ((x = ca_issue(ca, req, serial, &prof, cerr, sizeof(cerr))) == NULL) {
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: %s", rec->id, cerr);
		return NULL;
	}
	if ((n = i2d_X509(x, &d)) <= 0 || (*der = malloc((size_t)n)) == NULL ||
	    !repo_cert_facts(x, facts)) {
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot encode the certificate",
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

/* REC's CSR, its self-signature checked again: the file has been at rest since. */
static X509_REQ *
stored_csr(const struct record *rec, char *err, size_t errlen)
{
	X509_REQ	*req;
	EVP_PKEY	*pk;

	if ((req = csr_from_der(rec->csr_der, rec->csr_len)) == NULL) {
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: its CSR is missing or not one "
		    "DER PKCS#10 request", rec->id);
		return NULL;
	}
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL || X509_REQ_verify(req, pk) != 1) {
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: the CSR's self-signature does "
		    "not verify", rec->id);
		X509_REQ_free(req);
		return NULL;
	}
	return req;
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
		/* Read through the entry: a committed certificate is not in certs/ yet. */
		if (!repo_dn_cert(r, key, serials[i], &der, &len) ||
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
 * The gate of a renewal's commit (repo_gate_fn), under the lock: OpenCA's renewal rule,
 * checked again since certificates may have been committed since the request was judged.
 * ARG is the requested subject. 1 go on, 0 refuse, -1 error.
 */
static int
renewal_gate(struct repo *r, const struct record *rec, void *arg)
{
	int	n = 0;

	if (!enroll_valid_certs_for_dn(r, arg, &n)) {
		logx(LOG_LVL_ERR, "record %s: cannot count the valid certificates of its "
		    "subject", rec->id);
		return -1;
	}
	return n < MAX_VALID_PER_DN;
}

/* approved -> rejected with REASON, under the lock. 1 ok, 0 error (err set). */
static int
refuse(struct repo *r, struct record *rec, const char *reason, char *err, size_t errlen)
{
	char	*copy;
	int	 moved;

	if ((copy = strdup(reason)) == NULL) {
		enroll_err(LOG_LVL_ERR, err, errlen, "out of memory");
		return 0;
	}
	free(rec->reason);
	rec->reason = copy;
	if (!repo_lock(r)) {
		enroll_err(LOG_LVL_ERR, err, errlen, "cannot lock the repository");
		return 0;
	}
	if ((moved = repo_move(r, rec->id, RS_APPROVED, RS_REJECTED))) {
		rec->state = RS_REJECTED;
		if (!repo_record_update(r, rec))
			logx(LOG_LVL_ERR, "record %s: rejected, but the reason could not be "
			    "recorded", rec->id);
	}
	repo_unlock(r);
	if (!moved) {
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot move it to rejected/",
		    rec->id);
		return 0;
	}
	enroll_err(LOG_LVL_INFO, err, errlen, "record %s: renewal refused: %s", rec->id,
	    reason);
	return 1;
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
	struct record		*rec = NULL, tmp;
	struct repo_cert	 facts;
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
		enroll_err(LOG_LVL_DEBUG, err, errlen, "not a record id");
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
				enroll_err(LOG_LVL_ERR, err, errlen, "record %s: issued, but its "
				    "certificate cannot be read", id);
				goto out;
			}
			/* It may have been published a moment ago: durable before it goes. */
			if (!repo_sync_issued(r)) {
				enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot sync the "
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
			enroll_err(LOG_LVL_DEBUG, err, errlen, "record %s: no such record", id);
			goto out;
		default:
			enroll_err(LOG_LVL_DEBUG, err, errlen, "record %s: is %s, not approved",
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
				enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot publish the "
				    "certificate it holds", id);
				goto out;
			}
			continue;
		}
		if ((req = stored_csr(rec, err, errlen)) == NULL)
			goto out;
		if ((x = sign(ca, cf, rec, req, &der, &derlen, &facts, err, errlen)) == NULL)
			goto out;
		tmp = *rec;
		tmp.cert_der = der;
		tmp.cert_len = derlen;
		rc = repo_issue(r, &tmp, &facts, RS_APPROVED, rec->renewal_of != NULL ?
		    renewal_gate : NULL, X509_REQ_get_subject_name(req));
		if (rc == 1) {
			issued(id, &facts, &x, out);
			ok = 1;
			goto out;
		}
		if (rc == REPO_REFUSED) {
			if (refuse(r, rec, REFUSE_RENEWAL, err, errlen))
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
	enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot issue%s", id,
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
	struct record		 tmp;
	struct repo_cert	 facts;
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
			enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot be stored: %s",
			    rec->id, strerror(errno));
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
	tmp = *rec;
	tmp.cert_der = der;
	tmp.cert_len = derlen;
	rc = repo_issue(r, &tmp, &facts, RS_NONE, rec->renewal_of != NULL ? renewal_gate :
	    NULL, X509_REQ_get_subject_name(req));
	if (rc == 1) {
		issued(rec->id, &facts, &x, out);
		res = ENROLL_ISSUED;
	} else if (rc == REPO_REFUSED) {
		enroll_err(LOG_LVL_INFO, err, errlen, "record %s: renewal refused: %s",
		    rec->id, REFUSE_RENEWAL);
		res = ENROLL_REFUSED;
	} else if (rc == REPO_TAKEN) {
		/* Committed with a serial that is taken: signed again from approved/. */
		if (enroll_issue(r, ca, cf, rec->id, out, err, errlen) == 1)
			res = ENROLL_ISSUED;
	} else if (errno == EEXIST)
		res = ENROLL_EXISTS;
	else
		enroll_err(LOG_LVL_ERR, err, errlen, "record %s: cannot issue: %s", rec->id,
		    strerror(errno));
out:
	X509_REQ_free(own);
	X509_free(x);
	free(der);
	repo_cert_facts_free(&facts);
	return res;
}
