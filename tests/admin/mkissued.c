/*
 * mkissued: make an approved record for a fresh key and issue it through enroll_issue(),
 * the code path the server and `scep-admin issue` share, so that tests/admin/t-admin.sh
 * can have certificates without running the web server. Test code only.
 *
 *   mkissued -c CONF -s SUBJECT [-r ROLE] [-a RA] [-R RENEWAL_OF_SERIAL] [-n] [-k KEYOUT]
 *
 * SUBJECT is "/CN=x/O=y". -n only creates the approved record (for `scep-admin issue`).
 * Prints "ID SERIAL" (or "ID" with -n). Exit 0 issued (or created), 3 refused by policy
 * (prints "ID refused: REASON"), 1 error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ca.h"
#include "config.h"
#include "enroll.h"
#include "repo.h"
#include "scep.h"

static void
usage(void)
{
	fprintf(stderr, "usage: mkissued -c CONF -s SUBJECT [-r ROLE] [-a RA] "
	    "[-R RENEWAL_OF] [-n] [-k KEYOUT]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	const char	*conf = NULL, *subject = NULL, *role = NULL, *ra = NULL;
	const char	*renewal_of = NULL, *keyout = NULL;
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	struct ca	*ca = NULL;
	struct record	 rec, *back = NULL;
	EVP_PKEY	*key = NULL;
	X509_REQ	*req = NULL;
	X509_NAME	*name = NULL;
	X509		*x = NULL;
	BIGNUM		*bn = NULL;
	FILE		*f;
	unsigned char	 txid[16], *der = NULL;
	char		 err[1024], *oneline = NULL, *serial = NULL;
	int		 c, len, only_create = 0, rc = 1, irc;

	while ((c = getopt(argc, argv, "a:c:k:nR:r:s:")) != -1) {
		switch (c) {
		case 'a': ra = optarg; break;
		case 'c': conf = optarg; break;
		case 'k': keyout = optarg; break;
		case 'n': only_create = 1; break;
		case 'R': renewal_of = optarg; break;
		case 'r': role = optarg; break;
		case 's': subject = optarg; break;
		default: usage();
		}
	}
	if (conf == NULL || subject == NULL || optind != argc)
		usage();
	log_init("mkissued", 0, LOG_LVL_WARN);
	if ((cf = config_load(conf, err, sizeof(err))) == NULL ||
	    (r = repo_open(cf->repository, err, sizeof(err))) == NULL ||
	    (ca = ca_load(cf->repository, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mkissued: %s\n", err);
		goto out;
	}

	/* A CSR for a fresh EC key (fast; the CA does not care about the key type). */
	if ((key = EVP_EC_gen("P-256")) == NULL ||
	    (name = ca_parse_dn(subject, err, sizeof(err))) == NULL ||
	    (req = X509_REQ_new()) == NULL ||
	    !X509_REQ_set_version(req, 0) ||
	    !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
	    (len = i2d_X509_REQ(req, &der)) <= 0 ||
	    (oneline = X509_NAME_oneline(name, NULL, 0)) == NULL ||
	    RAND_bytes(txid, sizeof(txid)) != 1) {
		fprintf(stderr, "mkissued: cannot make a CSR for %s %s\n", subject, err);
		goto out;
	}
	if (keyout != NULL) {
		if ((f = fopen(keyout, "w")) == NULL ||
		    !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) {
			fprintf(stderr, "mkissued: cannot write %s\n", keyout);
			if (f != NULL)
				fclose(f);
			goto out;
		}
		fclose(f);
	}

	memset(&rec, 0, sizeof(rec));
	repo_id(rec.id, txid, sizeof(txid), renewal_of);
	rec.state = RS_APPROVED;
	rec.txid = txid;
	rec.txid_len = sizeof(txid);
	rec.msgtype = renewal_of != NULL ? MT_RENEWALREQ : MT_PKCSREQ;
	rec.subject = oneline;
	rec.client = (char *)"127.0.0.1";
	rec.challenge = (char *)"none";
	rec.role = (char *)role;
	rec.ra = (char *)(ra != NULL ? ra : cf->default_ra);
	rec.renewal_of = (char *)renewal_of;
	rec.csr_der = der;
	rec.csr_len = (size_t)len;
	if (!repo_record_create(r, &rec, RS_APPROVED)) {
		fprintf(stderr, "mkissued: cannot create the record\n");
		goto out;
	}
	if (only_create) {
		printf("%s\n", rec.id);
		rc = 0;
		goto out;
	}
	irc = enroll_issue(r, ca, cf, rec.id, &x, err, sizeof(err));
	if (irc == -1) {
		back = repo_record_load(r, rec.id, 0);
		printf("%s refused: %s\n", rec.id, back != NULL && back->reason != NULL ?
		    back->reason : "?");
		rc = back != NULL && back->state == RS_REJECTED ? 3 : 1;
		goto out;
	}
	if (irc != 1) {
		fprintf(stderr, "mkissued: %s\n", err);
		goto out;
	}
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (serial = BN_bn2hex(bn)) == NULL)
		goto out;
	printf("%s %s\n", rec.id, serial);
	rc = 0;
out:
	OPENSSL_free(serial);
	BN_free(bn);
	X509_free(x);
	record_free(back);
	OPENSSL_free(der);
	OPENSSL_free(oneline);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	ca_free(ca);
	repo_close(r);
	config_free(cf);
	return rc;
}
