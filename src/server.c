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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "scep.h"
#include "audit.h"
#include "ca.h"
#include "certrep.h"
#include "challenge_command.h"
#include "config.h"
#include "crl.h"
#include "enroll.h"
#include "fileio.h"
#include "http.h"
#include "notify.h"
#include "pkimsg.h"
#include "policy.h"
#include "repo.h"
#include "server.h"
#include "spki.h"

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
	const char	*client;	/* address of the request being answered */
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

const struct config *
server_config(const struct server *s)
{
	return s != NULL ? s->cfg : NULL;
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

/* Free the CA and the answers built from it (build_cacert). */
static void
free_ca_answers(struct server *s)
{
	ca_free(s->ca);
	OPENSSL_free(s->cacert);
	OPENSSL_free(s->chain);
	OPENSSL_free(s->nextca);
}

/*
 * Before each request: when ca_changed() (a rollover, import or RA made by scep-admin, here
 * or on another node sharing the repository), load the CA again with its GetCACert,
 * GetNextCACert and GetCACaps answers, and only then replace the ones in use. If it does
 * not load, the old CA stays and the failure is logged once per change.
 */
static void
reload_ca(struct server *s)
{
	struct server	n = { .cfg = s->cfg };
	char		 err[400];

	if (!ca_changed(s->ca))
		return;
	if ((n.ca = ca_load(s->cfg->repository, &s->cfg->keysrc, err, sizeof(err))) == NULL) {
		logx(LOG_LVL_ERR, "the CA changed but does not load, serving the old one: %s",
		    err);
		return;
	}
	ca_set_include_root(n.ca, s->cfg->include_root);
	if (!build_cacert(&n)) {
		logx(LOG_LVL_ERR, "the CA changed but its certificates do not encode, serving "
		    "the old one");
		free_ca_answers(&n);
		return;
	}
	free_ca_answers(s);
	s->ca = n.ca;
	s->cacert = n.cacert;
	s->cacert_len = n.cacert_len;
	s->cacert_type = n.cacert_type;
	s->chain = n.chain;
	s->chain_len = n.chain_len;
	s->nextca = n.nextca;
	s->nextca_len = n.nextca_len;
	build_caps(s);
	logx(LOG_LVL_INFO, "the CA changed: loaded it again");
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
	log_set_level((enum log_level)s->cfg->log_level);
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
	free_ca_answers(s);
	repo_close(s->repo);
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

#define LOG_OUTCOME_TEXT	48	/* "FAILURE:" and a failInfo name */

static const char *failinfo_name(enum scep_failinfo);

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
	if (rep->status == PKI_FAILURE) {
		char	out[LOG_OUTCOME_TEXT];

		snprintf(out, sizeof(out), "FAILURE:%s", failinfo_name(rep->fail));
		log_req_outcome(out);
	} else
		log_req_outcome(rep->status == PKI_PENDING ? "PENDING" : "SUCCESS");
	resp_copy(r, "application/x-pki-message", der, len);
	OPENSSL_free(der);
}

static const char *failinfo_name(enum scep_failinfo);

/*
 * One audit entry for a decision, written (durable) before the reply that reports it, and
 * ScepNotifyCommand started for the decisions it is told of. A failure of either is logged
 * and does not change the answer.
 */
static void
audit_decision(struct server *s, const struct pkimsg *m, const char *event, const char *id,
    const char *serial, const char *subject, const char *why)
{
	struct audit_event	 ev = { .event = event, .id = id, .serial = serial,
				    .subject = subject, .client = s->client };
	char			 tx[MAX_TXID * 4 + 1], detail[1024], err[256];

	log_escape(tx, sizeof(tx), m->txid, m->txid_len);
	snprintf(detail, sizeof(detail), "%s txid=%s%s%s", msgtype_name(m->msgtype), tx,
	    why != NULL ? ": " : "", why != NULL ? why : "");
	ev.detail = detail;
	if (!audit_append(repo_root(s->repo), &ev, err, sizeof(err)))
		logx(LOG_LVL_ERR, "audit trail not written: %s", err);
	if (!notify_event(s->cfg, "scep", &ev, err, sizeof(err)))
		logx(LOG_LVL_ERR, "%s", err);
}

/* A FAILURE CertRep, and one log line for it whatever refused the request. */
static void
send_failure(struct server *s, const struct pkimsg *m, enum scep_failinfo fi,
    const char *text, struct http_resp *r)
{
	struct certrep	rep = { .status = PKI_FAILURE, .fail = fi, .fail_text = text };
	char		tx[MAX_TXID * 4 + 1], why[512];

	log_escape(tx, sizeof(tx), m->txid, m->txid_len);
	logx(LOG_LVL_INFO, "%s txid=%s: FAILURE %s: %s", msgtype_name(m->msgtype), tx,
	    failinfo_name(fi), text ? text : "-");
	snprintf(why, sizeof(why), "%s: %s", failinfo_name(fi), text ? text : "-");
	audit_decision(s, m, "refused", NULL, NULL, NULL, why);
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
	return policy_role(s->cfg, rec != NULL ? rec->role : NULL);
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

/* audit_decision() for a certificate just issued: its serial, and its subject. */
static void
audit_cert(struct server *s, const struct pkimsg *m, const char *event, const char *id,
    X509 *cert, const char *subject)
{
	char	*serial = NULL, *subj = NULL;

	if (cert != NULL) {
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);

		serial = bn != NULL ? BN_bn2hex(bn) : NULL;
		BN_free(bn);
		if (subject == NULL)
			subj = X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0);
	}
	audit_decision(s, m, event, id, serial, subject != NULL ? subject : subj, NULL);
	OPENSSL_free(serial);
	OPENSSL_free(subj);
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
	if ((st == RS_PENDING || st == RS_APPROVED) &&
	    enroll_recheck(s->repo, s->cfg, id, err, sizeof(err)) == -1) {
		logx(LOG_LVL_ERR, "txid=%s id=%s: cannot decide: %s", tx, id, err);
		resp_text(r, 503, "the CA cannot answer right now; try again later\n");
		goto out;
	}
	st = repo_find(s->repo, id);
	if (st == RS_APPROVED) {
		rc = enroll_issue(s->repo, s->ca, s->cfg, id, &cert, err, sizeof(err));
		if (rc == 0 && repo_find(s->repo, id) != RS_ISSUED) {
			/* Stored and approved: the client should simply try again later. */
			logx(LOG_LVL_ERR, "txid=%s id=%s: cannot issue: %s", tx, id, err);
			resp_text(r, 503, "the CA cannot issue right now; try again later\n");
			goto out;
		}
		st = repo_find(s->repo, id);
		if (rc == 1)
			audit_cert(s, m, "issued", id, cert, NULL);
		else if (rc == -1)
			audit_decision(s, m, "rejected", id, NULL, NULL, err);
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

/*
 * The key a record was made for (or that signed it) must be the key asking about it; a
 * resubmission (SUBJECT not NULL) asks for the same subject too, compared as X.509 names.
 */
static int
same_requester(struct server *s, const char *id, const char *fp1, const char *fp2,
    X509_NAME *subject)
{
	struct record		*rec;
	X509_REQ		*req = NULL;
	const unsigned char	*p;
	int			 ok = 0;

	if ((rec = repo_record_load(s->repo, id, subject != NULL)) == NULL)
		return 0;
	/* strongSwan's transactionID is its key's hash: the subject tells requests apart. */
	if (subject != NULL) {
		p = rec->csr_der;
		if (rec->csr_der == NULL || rec->csr_len > LONG_MAX ||
		    (req = d2i_X509_REQ(NULL, &p, (long)rec->csr_len)) == NULL ||
		    X509_NAME_cmp(X509_REQ_get_subject_name(req), subject) != 0)
			goto out;
	}
	if (rec->key_fp != NULL && ((fp1 && strcmp(rec->key_fp, fp1) == 0) ||
	    (fp2 && strcmp(rec->key_fp, fp2) == 0)))
		ok = 1;
	if (rec->signer_fp != NULL && fp2 && strcmp(rec->signer_fp, fp2) == 0)
		ok = 1;
out:
	X509_REQ_free(req);
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
i2d_x509_cb(const void *o, unsigned char **p)
{
	return i2d_X509((X509 *)o, p);
}

static int
count_one(const char *id, void *arg)
{
	(void)id;
	(*(int *)arg)++;
	return 0;
}

/* [locked] Records in pending/, or -1 if it cannot be read. */
static int
count_pending(struct server *s)
{
	int	n = 0;

	return repo_foreach(s->repo, RS_PENDING, count_one, &n) == 0 ? n : -1;
}

/*
 * ScepChallengeCommand's verdict on CHALLENGE of the request about to become REC; the
 * verdict and its timing go to the audit trail and the log.
 */
static enum challenge_verdict
ask_challenge_command(struct server *s, const struct pkimsg *m, const struct record *rec,
    const char *challenge)
{
	struct challenge_facts	 f = { .challenge = challenge, .subject = rec->subject,
				    .txid = m->txid, .txid_len = m->txid_len,
				    .msgtype = msgtype_name(m->msgtype), .id = rec->id,
				    .key_fp = rec->key_fp, .csr_der = rec->csr_der,
				    .csr_len = rec->csr_len, .client = s->client };
	enum challenge_verdict	 v;
	char			 detail[640], tx[MAX_TXID * 4 + 1];

	v = challenge_command_ask(s->cfg, &f, detail, sizeof(detail));
	log_escape(tx, sizeof(tx), m->txid, m->txid_len);
	logx(v == CHALCMD_ERROR ? LOG_LVL_ERR : LOG_LVL_INFO, "%s txid=%s: "
	    "ScepChallengeCommand: %s", msgtype_name(m->msgtype), tx, detail);
	audit_decision(s, m, "challenge-command", rec->id, NULL, rec->subject, detail);
	return v;
}

/*
 * PKCSReq and RenewalReq (RFC 8894 §3.3.1, §2.5). The facts of the request go to
 * policy_decide(), which says whether it is a renewal (signed with a valid certificate of
 * this CA, whatever its messageType: sscep, certmonger and macOS renew with PKCSReq), a
 * resubmission (a known transactionID: answered like a poll), or a new request to refuse,
 * hold or issue; this function carries the answer out. A renewal is keyed on its
 * transactionID and the serial of the certificate that signed it, so an sscep renewal that
 * reuses the transactionID of the original enrollment is a new transaction. Nothing is
 * written before the decision.
 */
static void
pkcsreq(struct server *s, const struct pkimsg *m, const char *client, struct http_resp *r)
{
	struct record		 rec;
	struct policy_facts	 f;
	struct policy_decision	 d;
	struct record		*old = NULL;
	char			 id[REPO_ID_LEN + 1], oldid[REPO_ID_LEN + 1], subj[1024];
	char			 tx[MAX_TXID * 4 + 1], err[256], why[256], sserial[80];
	EVP_PKEY		*pk = X509_REQ_get0_pubkey(m->csr);
	X509_NAME		*dn = X509_REQ_get_subject_name(m->csr);
	X509			*cert = NULL;
	enum challenge_verdict	 ext = CHALCMD_INVALID;
	int			 renewal, n, waits;

	memset(&rec, 0, sizeof(rec));
	memset(&f, 0, sizeof(f));
	memset(&d, 0, sizeof(d));
	txid_esc(m, tx, sizeof(tx));
	f.stage = STAGE_ARRIVAL;
	f.msgtype = m->msgtype;
	f.signer_cert = m->signer;
	f.csr = m->csr;
	f.signer = policy_signer(s->ca, s->repo, m->signer, sserial, sizeof(sserial));
	renewal = f.signer == SIGNER_VALID;
	if ((f.existing = repo_find_txn(s->repo, m->txid, m->txid_len,
	    renewal ? sserial : NULL, id) != RS_NONE))
		f.same_requester = same_requester(s, id, m->key_fp, NULL, dn);
	else {
		if (!enroll_dn_facts(s->repo, dn, pk, &f.valid_for_dn, &f.key_certified)) {
			resp_text(r, 500, "repository unavailable\n");
			goto out;
		}
		/* A renewal inherits the role and RA of the certificate it renews. */
		if (renewal && repo_record_by_serial(s->repo, sserial, oldid) &&
		    (old = repo_record_load(s->repo, oldid, 0)) != NULL) {
			f.role = old->role;
			f.ra = old->ra;
		}
		if (!renewal && m->challenge != NULL)
			f.challenge = CHAL_UNCHECKED;
	}
	if (!policy_decide(s->cfg, &f, &d)) {
		logx(LOG_LVL_ERR, "%s txid=%s: no decision: %s", msgtype_name(m->msgtype), tx,
		    d.text);
		resp_text(r, 500, "the CA cannot decide on requests right now\n");
		goto out;
	}
	if (d.verdict == POLICY_REFUSE) {
		send_failure(s, m, d.failinfo, d.text, r);
		goto out;
	}
	if (d.verdict == POLICY_EXISTING) {
		answer_existing(s, m, id, r);
		goto out;
	}

	X509_NAME_oneline(dn, subj, sizeof(subj));
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
	rec.role = d.role->name;
	rec.ra = (char *)d.ra;
	rec.renewal_of = renewal ? sserial : NULL;
	rec.differences = d.differences;
	rec.created = rec.updated = time(NULL);
	rec.csr_der = csr_der_at_rest(m->csr, &rec.csr_len);
	rec.signer_der = der_dup(i2d_x509_cb, m->signer, &rec.signer_len);
	rec.request_der = m->raw;
	rec.request_len = m->raw_len;
	if (rec.csr_der == NULL || rec.signer_der == NULL) {
		resp_text(r, 500, "out of memory\n");
		goto out;
	}

	/* ScepChallengeCommand decides first, outside the lock (it may take seconds). */
	if (d.check_challenge && s->cfg->challenge_command != NULL)
		ext = ask_challenge_command(s, m, &rec, m->challenge);
	if (!repo_lock(s->repo)) {
		resp_text(r, 500, "repository unavailable\n");
		goto out;
	}
	if (repo_find(s->repo, id) != RS_NONE) {
		/* A concurrent resubmission created it first: answer as a poll. */
		repo_unlock(s->repo);
		answer_existing(s, m, id, r);
		goto out;
	}
	/* Before a one-time challenge is consumed: a request that would wait needs room. */
	waits = renewal ? !s->cfg->auto_approve :
	    !(m->challenge != NULL && s->cfg->auto_approve_enrollment);
	if (waits && s->cfg->max_pending > 0 &&
	    ((n = count_pending(s)) < 0 || n >= s->cfg->max_pending)) {
		repo_unlock(s->repo);
		if (n < 0) {
			resp_text(r, 500, "repository unavailable\n");
			goto out;
		}
		snprintf(why, sizeof(why), "the queue of requests pending approval is full "
		    "(ScepMaxPending = %d); try again later", s->cfg->max_pending);
		send_failure(s, m, FAIL_BADREQUEST, why, r);
		goto out;
	}
	if (d.check_challenge) {
		/* Last, under the lock: a one-time challenge is consumed here. */
		f.challenge = ext == CHALCMD_VALID ? CHAL_COMMAND :
		    policy_challenge(s->cfg, s->repo, m->challenge);
		policy_decision_clear(&d);
		if (!policy_decide(s->cfg, &f, &d) || d.verdict == POLICY_REFUSE) {
			repo_unlock(s->repo);
			logx(LOG_LVL_WARN, "PKCSReq txid=%s subject=%s: challenge password refused%s",
			    tx, subj, ext == CHALCMD_ERROR ? " (ScepChallengeCommand failed)" : "");
			send_failure(s, m, d.failinfo, ext == CHALCMD_ERROR &&
			    f.challenge == CHAL_WRONG ? "the challenge password could not be "
			    "checked right now; try again later" : d.text, r);
			goto out;
		}
		rec.role = d.role->name;
		rec.ra = (char *)d.ra;
	}
	rec.challenge = (char *)d.challenge;
	/* enroll_create() takes the lock itself; a resubmission racing it gets EXISTS. */
	repo_unlock(s->repo);
	switch (enroll_create(s->repo, s->ca, s->cfg, &rec, m->csr,
	    d.verdict == POLICY_ISSUE, &cert, err, sizeof(err))) {
	case ENROLL_EXISTS:
		/* A concurrent resubmission created it first: answer as a poll. */
		answer_existing(s, m, id, r);
		break;
	case ENROLL_PENDING:
		audit_decision(s, m, "pending", id, NULL, subj, rec.challenge);
		logx(LOG_LVL_INFO, "%s txid=%s id=%s subject=%s role=%s%s%s: pending (%s)",
		    msgtype_name(m->msgtype), tx, id, subj, rec.role,
		    renewal ? " renews " : "", renewal ? sserial : "", d.text);
		send_pending(s, m, r);
		break;
	case ENROLL_ISSUED:
		audit_decision(s, m, "approved", id, NULL, subj, rec.challenge);
		audit_cert(s, m, "issued", id, cert, subj);
		logx(LOG_LVL_INFO, "%s txid=%s id=%s subject=%s role=%s%s%s: issued",
		    msgtype_name(m->msgtype), tx, id, subj, rec.role,
		    renewal ? " renews " : "", renewal ? sserial : "");
		send_cert(s, m, cert, d.role, r);
		break;
	case ENROLL_REFUSED:
		logx(LOG_LVL_INFO, "%s txid=%s id=%s subject=%s: refused at issue time: %s",
		    msgtype_name(m->msgtype), tx, id, subj, err);
		send_failure(s, m, FAIL_BADREQUEST, err, r);
		break;
	default:
		logx(LOG_LVL_ERR, "%s txid=%s: cannot store or issue the request: %s",
		    msgtype_name(m->msgtype), tx, err);
		if (repo_find(s->repo, id) != RS_NONE) {
			/* Stored as approved: answered as a poll. */
			audit_decision(s, m, "approved", id, NULL, subj, rec.challenge);
			answer_existing(s, m, id, r);
		} else
			resp_text(r, 503, "the CA cannot store requests right now\n");
		break;
	}
out:
	free(rec.csr_der);
	free(rec.signer_der);
	policy_decision_clear(&d);
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
	if (kind == SIGNER_VALID || kind == SIGNER_REVOKED || kind == SIGNER_EXPIRED)
		found = repo_find_txn(s->repo, m->txid, m->txid_len, sserial, id) != RS_NONE;
	if (!found)
		found = repo_find_txn(s->repo, m->txid, m->txid_len, NULL, id) != RS_NONE;
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
	if ((cert = spki_d2i_cert(der, len)) == NULL) {
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

	s->client = client;
	m = pkimsg_parse(der, len, s->ca, s->digests, s->ciphers, &e, &partial);
	if (m != NULL || partial != NULL) {
		log_req_op(msgtype_name((m != NULL ? m : partial)->msgtype));
		log_req_txid((m != NULL ? m : partial)->txid, (m != NULL ? m : partial)->txid_len);
	}
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
	reload_ca(s);
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
