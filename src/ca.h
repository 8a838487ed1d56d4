/*
 * The CA module: the only code that reads, makes or uses the CA and RA private keys.
 *
 * Two halves behind this one header:
 *   the runtime CA (ca.c)        what the server and scep-admin load: every generation's
 *                                certificates and keys, which certificates are ours,
 *                                issuing certificates, signing CRLs.
 *   the provisioning CA          what only scep-admin runs, to change the files below:
 *   (ca_provision.c)             init, RA, import, rollover prepare/import/switch.
 * They share the file layout and the loader of one generation (ca_internal.h, private to
 * the module). The provisioning half never holds a struct ca: it loads generations itself.
 *
 * Files under <repository>/ca/:
 *   ca.pem, ca.key       the CA certificate that signs issued certificates and CRLs, and
 *                        its RSA private key: a PEM file (mode 0600), unencrypted or
 *                        encrypted with a configured passphrase, or instead of ca.key
 *   ca.key.uri           the pkcs11: URI of the key inside a PKCS#11 token (ca_key.c, the
 *                        key store, is the only code that knows which)
 *   chain.pem            optional: the issuer chain above ca.pem, nearest first
 *                        (an intermediate CA)
 *   ra.pem, ra.key       optional, both or neither (RA mode; ra.key.uri for a key in a
 *                        token): an end-entity certificate
 *                        issued by ca.pem, with an RSA key and keyUsage digitalSignature
 *                        + keyEncipherment, whose key decrypts requests and signs
 *                        CertReps; without an RA the CA key does both
 *   next/                a prepared rollover (same file names), served by GetNextCACert
 *   old/                 the previous CA after a switch (same file names), kept for the
 *                        overlap: requests encrypted to it are still decrypted, renewals
 *                        signed by its certificates are still renewals
 *   switching            present only while a rollover switch runs
 * Each of ca/, ca/next/ and ca/old/ is a "generation". The "SCEP certificate" of a
 * generation is its RA if it has one, else its CA.
 */
#ifndef CA_H
#define CA_H

#include <time.h>
#include <openssl/x509.h>
#include <openssl/evp.h>

struct ca;		/* opaque */
struct ca_keysrc;	/* config.h: where the PIN, the passphrase and the PKCS#11 module
			   come from; NULL: keys are unencrypted PEM files */

/* ------------------------------------------------------------------ runtime (ca.c) */

/* Generations of the CA: ca/, ca/old/, ca/next/. */
enum ca_generation { CA_GEN_CURRENT, CA_GEN_OLD, CA_GEN_NEXT };

/* What an issued certificate gets (a role/profile). Zero-initialise, then set. */
struct cert_profile {
	int		 days;		/* validity */
	int		 keep_san;	/* copy subjectAltName from the CSR */
	unsigned	 key_usage;	/* X509v3 KU_* bits of an end entity (digitalSignature,
					   nonRepudiation, keyEncipherment, dataEncipherment,
					   keyAgreement); 0 = digitalSignature+keyEncipherment */
	const char	*ext_key_usage;	/* comma list of OpenSSL names or dotted OIDs;
					   NULL = "clientAuth,serverAuth", "" = no extension */
	const char	*crl_url;	/* cRLDistributionPoints fullName URI, NULL = none */
	const char	*ca_issuers_url; /* authorityInfoAccess caIssuers URI, NULL = none */
};

/* One revoked certificate for ca_make_crl(). */
struct crl_entry {
	const char	*serial_hex;	/* hex, any case */
	time_t		 revoked_at;
	int		 reason;	/* -1 none, else CRLReason code (RFC 5280 §5.3.1) */
};

/*
 * Load the current generation from the repository ROOT, and ca/old/ and ca/next/ when
 * they exist, each by the same rules (a broken one is an error, naming the file): ca.pem a
 * CA certificate, ca.key an RSA key that matches it, chain.pem in order (each certificate
 * issued the one before it), and an RA as described above (issued by ca.pem: names, AKI
 * and signature). Keys are opened with the secrets of SRC (may be NULL), once: a key in a
 * token stays open in the token until ca_free(). Fails while ca/switching exists (an
 * interrupted switch).
 */
struct ca	*ca_load(const char *root, const struct ca_keysrc *src, char *err,
		    size_t errlen);
void		 ca_free(struct ca *);
/* Does the repository ROOT hold a CA (ca/ca.pem or its key)? Anything but ENOENT: yes. */
int		 ca_exists(const char *root);

/*
 * GetCACert and GetNextCACert leave out a self-signed certificate at the end of chain.pem
 * when INCLUDE is 0 (ScepCACertIncludeRoot); ca.pem itself is never left out. Default 1.
 */
void		 ca_set_include_root(struct ca *, int include);

/* The current CA certificate (the issuer) and SCEP certificate. Not owned. */
X509		*ca_cert(const struct ca *);
X509		*ca_scep_cert(const struct ca *);
/* The CA (RA 0) or RA (RA 1) certificate of a generation, NULL if absent. Not owned. */
X509		*ca_generation_cert(const struct ca *, enum ca_generation, int ra);
/* GetCACert: [RA if any, CA, chain...] of the current generation. Not owned. */
STACK_OF(X509)	*ca_getcacert_certs(const struct ca *);
/* GetNextCACert: the same for ca/next/, or NULL when no rollover is prepared. Not owned. */
STACK_OF(X509)	*ca_next_certs(const struct ca *);

/*
 * Where the key of the CA (RA 0) or RA (RA 1) of generation WHICH in the repository ROOT is
 * kept, for scep-admin to show: its pkcs11: URI or its file into OUT, and in *KIND
 * "pkcs11", "pem-encrypted" or "pem". 1 ok, 0 no such key.
 */
int		 ca_key_location(const char *root, enum ca_generation which, int ra, char *out,
		    size_t outlen, const char **kind);

/* Why ca_decrypt() returned no content. */
enum ca_decrypt_fail {
	CA_DECRYPT_MALFORMED = 1,	/* not a DER/BER CMS EnvelopedData */
	CA_DECRYPT_NOT_OURS,		/* no KeyTransRecipientInfo names one of our certificates */
	CA_DECRYPT_KEY_TRANSPORT,	/* the one naming ours is not RSA PKCS#1 v1.5 or OAEP */
	CA_DECRYPT_FAILED		/* ours, but it does not decrypt (or out of memory) */
};

/*
 * Decrypt the CMS EnvelopedData (RFC 5652 §6) DER/BER in DER[LEN] for the first
 * KeyTransRecipientInfo that names one of our certificates by issuer and serial, with that
 * certificate's key. Ours, in the order searched: the SCEP certificate of the current, next
 * and old generations, then, in RA mode, their CA certificates (a client may encrypt to the
 * CA even when an RA exists; we hold that key too). The recipient is chosen by certificate,
 * never by trial decryption: with OpenSSL's implicit rejection a wrong RSA key "decrypts" to
 * garbage instead of failing.
 * 1: the content in *PLAIN (malloc'd, *PLAINLEN bytes) and the certificate it was for in
 * *RECIPIENT (not owned; what ca_sign_scep() takes). 0: *WHY says why; on
 * CA_DECRYPT_FAILED OpenSSL's error queue holds the reason.
 */
int		 ca_decrypt(const struct ca *, const unsigned char *der, size_t len,
		    unsigned char **plain, size_t *plainlen, const X509 **recipient,
		    enum ca_decrypt_fail *why);

/*
 * A PKCS#7 SignedData with CONTENT[LEN] attached as id-data (LEN may be 0), signed with
 * digest MD by the SCEP certificate of the generation holding RECIPIENT (a certificate
 * ca_decrypt() returned, so that a client verifies the reply with the certificate it
 * encrypted to; NULL or not ours: the current generation). Signed attributes: contentType,
 * then ATTRS (may be NULL) in order, then signingTime and messageDigest. Certificates: the
 * signer, then EXTRA (may be NULL), in that order. DER into *OUT (OPENSSL_free). 1 ok, 0 on
 * error with OpenSSL's error queue holding the reason.
 */
int		 ca_sign_scep(const struct ca *, const X509 *recipient, const EVP_MD *md,
		    const unsigned char *content, size_t len,
		    const STACK_OF(X509_ATTRIBUTE) *attrs, STACK_OF(X509) *extra,
		    unsigned char **out, size_t *outlen);

/*
 * A CMS SignedData (RFC 5652) with DOC[LEN] attached, signed by the current CA certificate
 * (ca.pem, also in RA mode) with its key's default digest (SHA-256 for RSA), carrying
 * ca.pem and EXTRA (may be NULL). DER into *OUT (OPENSSL_free). 1 ok, 0 with err.
 */
int		 ca_sign_cms(const struct ca *, const unsigned char *doc, size_t len,
		    STACK_OF(X509) *extra, unsigned char **out, size_t *outlen, char *err,
		    size_t errlen);

/*
 * The CA certificate that issued X: the current CA, else the old one, whose subject is X's
 * issuer, whose SKI matches X's AKI (when both exist) and whose key verifies X's signature.
 * NULL if neither.
 */
X509		*ca_issuer_of(const struct ca *, X509 *x);

/*
 * Issue a certificate for REQ (self-signature already verified by the caller) with serial
 * SERIAL_HEX: subject copied from the CSR in its RDN order, validity per profile, end-entity
 * extensions (basicConstraints CA:FALSE, keyUsage (critical) and extendedKeyUsage per
 * profile, SKI, AKI, SAN if keep_san, cRLDistributionPoints and authorityInfoAccess
 * caIssuers when the profile names their URLs). Returns NULL on error.
 */
X509		*ca_issue(struct ca *, X509_REQ *req, const char *serial_hex,
		    const struct cert_profile *, char *err, size_t errlen);

/*
 * A v2 CRL (RFC 5280 §5) signed by the CA key with SHA-256: issuer = the CA's subject,
 * thisUpdate now, nextUpdate now + DAYS, the N entries sorted by serial (each with a
 * reasonCode entry extension when reason >= 0), extensions cRLNumber CRLNUMBER_HEX and
 * authorityKeyIdentifier. N may be 0. Duplicate or malformed serials are an error.
 */
X509_CRL	*ca_make_crl(struct ca *, const struct crl_entry *, size_t n,
		    const char *crlnumber_hex, int days, char *err, size_t errlen);

/* ------------------------------------------------------- provisioning (ca_provision.c) */

/*
 * Where a key these functions make goes: KEY_URI NULL, a PEM file in the repository,
 * encrypted when SRC configures a passphrase; KEY_URI a pkcs11: URI (token=LABEL;
 * object=LABEL), a key pair generated inside that token (with OpenSC's pkcs11-tool), of
 * which the repository keeps only the URI. SRC (may be NULL) also opens existing keys.
 */

/*
 * Create a new self-signed CA in ROOT/ca/ (which must not hold a key yet): RSA BITS key,
 * SUBJECT in OpenSSL "/CN=x/O=y" form, DAYS validity, keyUsage keyCertSign, cRLSign,
 * digitalSignature, keyEncipherment (critical), basicConstraints CA:TRUE (critical),
 * SKI, random 16-byte serial.
 */
int		 ca_init(const char *root, const char *subject, int bits, int days,
		    const char *key_uri, const struct ca_keysrc *src, char *err, size_t errlen);

/* RA mode: create ca/ra.pem + its key, issued by the CA (RSA BITS, DAYS, SUBJECT; KU
 * dS+kE, EKU serverAuth + Microsoft Certificate Request Agent 1.3.6.1.4.1.311.20.2.1). */
int		 ca_init_ra(const char *root, const char *subject, int bits, int days,
		    const char *key_uri, const struct ca_keysrc *src, char *err, size_t errlen);

/*
 * Install an existing CA (cert, key, optional chain) or RA (cert, key) from PEM files,
 * checking key match, key usage and that the RA was issued by the CA. A CA only into a ca/
 * without ca.pem, a key, chain.pem, ra.pem; an RA only when none exists (RA: CHAIN_PEM
 * must be NULL). KEY is a PEM file (an encrypted one is opened with the configured
 * passphrase and stored encrypted again) or the pkcs11: URI of a key in a token, which is
 * only referenced.
 */
int		 ca_import(const char *root, const char *cert_pem, const char *key,
		    const char *chain_pem, int is_ra, const struct ca_keysrc *src, char *err,
		    size_t errlen);

/*
 * Prepare a rollover: a new self-signed CA in ca/next/ (plus a next RA issued by it when
 * the current CA has an RA, its key at RA_KEY_URI). SUBJECT NULL = the current CA's
 * subject, BITS 0 = the current key size, DAYS 0 = the current CA's validity length.
 * Refuses when ca/next/ exists. Built in ca/next.tmp/ and renamed to ca/next/ when
 * complete.
 */
int		 ca_rollover_prepare(const char *root, const char *subject, int bits, int days,
		    const char *key_uri, const char *ra_key_uri, const struct ca_keysrc *src,
		    char *err, size_t errlen);

/* Prepare a rollover to an existing CA: like ca_import() of a CA, into ca/next/ (plus a
 * next RA issued by it when the current CA has an RA, its key at RA_KEY_URI), with
 * ca_rollover_prepare()'s refusals. */
int		 ca_rollover_import(const char *root, const char *cert_pem, const char *key,
		    const char *chain_pem, const char *ra_key_uri, const struct ca_keysrc *src,
		    char *err, size_t errlen);

/*
 * Switch to the prepared rollover: the files of ca/ move to ca/old/, those of ca/next/ to
 * ca/ (one rename each). Refuses when ca/next/ does not load, or when the current CA has
 * an RA and ca/next/ has none. Writes ca/switching while it works; running it again after
 * a crash finishes the switch.
 */
int		 ca_rollover_switch(const char *root, const struct ca_keysrc *src, char *err,
		    size_t errlen);


/*
 * Is URI a pkcs11: URI the key store takes (printable, at most 1024 bytes, an object= or
 * id=, no PIN inside: the PIN comes from scep.conf)? 1 yes, 0 with err.
 */
int		 ca_key_uri_check(const char *uri, char *err, size_t errlen);

/* Parse "/CN=x/O=y" into an X509_NAME (NULL and err on a malformed DN). */
X509_NAME	*ca_parse_dn(const char *dn, char *err, size_t errlen);

#endif
