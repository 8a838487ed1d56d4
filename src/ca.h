/*
 * The CA: the only module that loads the CA key and signs certificates and CRLs.
 * Files (under <repository>/ca/):
 *   ca.pem      the CA certificate (PEM) that signs issued certificates
 *   ca.key      its private key (PEM, unencrypted, mode 0600)
 *   chain.pem   optional: the issuer chain above ca.pem, nearest first (intermediate CA)
 * The SCEP protocol key (decrypts requests, signs CertReps) is the CA key itself, or the
 * RA key when ra.pem/ra.key exist (see below).
 */
#ifndef CA_H
#define CA_H

#include <time.h>
#include <openssl/x509.h>
#include <openssl/evp.h>

struct ca;	/* opaque */

/* What an issued certificate gets (a role/profile). Zero-initialise, then set. */
struct cert_profile {
	int		 days;		/* validity */
	int		 keep_san;	/* copy subjectAltName from the CSR */
	unsigned	 key_usage;	/* X509v3 KU_* bits of an end entity (digitalSignature,
					   nonRepudiation, keyEncipherment, dataEncipherment,
					   keyAgreement); 0 = digitalSignature+keyEncipherment */
	const char	*ext_key_usage;	/* comma list of OpenSSL names or dotted OIDs;
					   NULL = "clientAuth,serverAuth", "" = no extension */
};

/* One revoked certificate for ca_make_crl(). */
struct crl_entry {
	const char	*serial_hex;	/* hex, any case */
	time_t		 revoked_at;
	int		 reason;	/* -1 none, else CRLReason code (RFC 5280 §5.3.1) */
};

/* Load ca/ca.pem, ca/ca.key and ca/chain.pem from the repository ROOT. */
struct ca	*ca_load(const char *root, char *err, size_t errlen);
void		 ca_free(struct ca *);

/* The certificate that signs CertReps and decrypts requests, and its key. */
X509		*ca_scep_cert(const struct ca *);
EVP_PKEY	*ca_scep_key(const struct ca *);
/* The issuing CA certificate. */
X509		*ca_cert(const struct ca *);
/* Certificates for GetCACert: [ca, chain...]; 1 element for a self-signed CA. Not owned. */
STACK_OF(X509)	*ca_getcacert_certs(const struct ca *);

/*
 * Issue a certificate for REQ (self-signature already verified by the caller) with serial
 * SERIAL_HEX: subject copied from the CSR in its RDN order, validity per profile, end-entity
 * extensions (basicConstraints CA:FALSE, keyUsage (critical) and extendedKeyUsage per
 * profile, SKI, AKI, SAN if keep_san). Returns NULL on error.
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

/*
 * Create a new self-signed CA in ROOT/ca/ (which must not hold a key yet): RSA BITS key,
 * SUBJECT in OpenSSL "/CN=x/O=y" form, DAYS validity, keyUsage keyCertSign, cRLSign,
 * digitalSignature, keyEncipherment (critical), basicConstraints CA:TRUE (critical),
 * SKI, random 16-byte serial. Key written 0600.
 */
int		 ca_init(const char *root, const char *subject, int bits, int days,
		    char *err, size_t errlen);

/* Parse "/CN=x/O=y" into an X509_NAME (NULL and err on a malformed DN). */
X509_NAME	*ca_parse_dn(const char *dn, char *err, size_t errlen);

/*
 * CA shapes and rollover (issue 4). Files under <repository>/ca/ besides the above:
 *   ra.pem, ra.key       RA mode: an end-entity certificate issued by ca.pem (keyUsage
 *                        digitalSignature + keyEncipherment, an EKU for Windows) whose key
 *                        decrypts requests and signs CertReps; GetCACert returns
 *                        [RA, CA, chain...]. ca_scep_cert()/ca_scep_key() return the RA.
 *   next/                a prepared rollover: next/ca.pem, next/ca.key (+ next/chain.pem,
 *                        next/ra.pem, next/ra.key), served by GetNextCACert.
 *   old/                 the previous CA after a switch (same file names), kept for the
 *                        overlap: requests encrypted to it are still decrypted, renewals
 *                        signed by its certificates are still renewals.
 */

/* The key that decrypts for the RecipientInfo naming (issuer, serial): the current, old
 * or next SCEP certificate with exactly that issuer and serial. 1 found (not owned), 0 not. */
int		 ca_recipient(const struct ca *, const X509_NAME *issuer,
		    const ASN1_INTEGER *serial, X509 **cert, EVP_PKEY **key);

/* The CA certificate (current or old) that issued X (name match and signature), or NULL. */
X509		*ca_issuer_of(const struct ca *, X509 *x);

/* GetNextCACert: the next CA's certificates [next RA if any, next CA, next chain...], or
 * NULL when no rollover is prepared. Not owned. */
STACK_OF(X509)	*ca_next_certs(const struct ca *);

/* GetCACert without the self-signed root at the end of the chain (ScepCACertIncludeRoot). */
void		 ca_set_include_root(struct ca *, int include);

/* RA mode: create ca/ra.pem + ra.key issued by the CA (RSA BITS, DAYS, SUBJECT; KU dS+kE,
 * EKU serverAuth + Microsoft Certificate Request Agent 1.3.6.1.4.1.311.20.2.1). */
int		 ca_init_ra(const char *root, const char *subject, int bits, int days,
		    char *err, size_t errlen);

/* Install an existing CA (cert, key, optional chain) or RA (cert, key) from PEM files,
 * checking key match, key usage and that the RA was issued by the CA. */
int		 ca_import(const char *root, const char *cert_pem, const char *key_pem,
		    const char *chain_pem, int is_ra, char *err, size_t errlen);

/* Rollover: make ca/next/ (a new self-signed CA, or import one with ca_import-like
 * arguments), and switch: the files of ca/ move to ca/old/, those of ca/next/ to ca/
 * (atomic renames). */
int		 ca_rollover_prepare(const char *root, const char *subject, int bits, int days,
		    char *err, size_t errlen);
int		 ca_rollover_switch(const char *root, char *err, size_t errlen);

/*
 * Details of the above (issue 4), as implemented in ca.c:
 *
 * ca_load(): ra.pem and ra.key both or neither; the RA must have an RSA key that matches,
 *   be an end entity, be issued by ca.pem (names, AKI, signature) and have keyUsage
 *   digitalSignature + keyEncipherment, else ca_load() fails naming the file. ca/old/ and
 *   ca/next/ are loaded with the same rules when the directory exists (a broken one is an
 *   error). ca_load() also fails while ca/switching exists (an interrupted switch).
 * ca_getcacert_certs(): [RA if any, CA, chain.pem...]. With ca_set_include_root(ca, 0), a
 *   self-signed certificate at the end of chain.pem is left out; ca.pem itself is never
 *   left out (a self-signed CA stays: [RA, CA] or [CA]). Default: include (1).
 * ca_next_certs(): the same shape for ca/next/, include-root setting applied alike.
 * ca_recipient(): searched in this order: the SCEP certificate (RA, else CA) of the current,
 *   next and old generations, then, in RA mode, the CA certificates of the current, next
 *   and old generations (a client may encrypt to the CA even when an RA exists; we hold
 *   that key too). Match = X509_NAME_cmp(issuer) == 0 and the same serial. CERT and KEY may
 *   be NULL pointers; they are set to NULL when nothing matches.
 * ca_issuer_of(): the current CA, else the old CA, whose subject is X's issuer, whose
 *   SKI matches X's AKI (when both exist) and whose key verifies X's signature.
 * ca_rollover_prepare(): SUBJECT NULL = the current CA's subject, BITS 0 = the current
 *   key size, DAYS 0 = the current CA's validity length. Refuses when ca/next/ exists.
 *   Built in ca/next.tmp/ and renamed to ca/next/ when complete.
 * ca_rollover_switch(): refuses when ca/next/ does not load, or when the current CA has an
 *   RA and ca/next/ has none. Writes ca/switching while it works; running it again after a
 *   crash finishes the switch.
 * ca_import(): CA only into a ca/ without ca.pem, ca.key, chain.pem, ra.pem, ra.key;
 *   RA only when none exists (RA: CHAIN_PEM must be NULL). Encrypted keys are refused.
 */

/* Generations of the CA: ca/, ca/old/, ca/next/. */
enum ca_generation { CA_GEN_CURRENT, CA_GEN_OLD, CA_GEN_NEXT };

/* The CA (RA 0) or RA (RA 1) certificate of a generation, NULL if absent. Not owned. */
X509		*ca_generation_cert(const struct ca *, enum ca_generation, int ra);

/*
 * The SCEP certificate and key (RA, else CA) of the generation holding RECIPIENT (a
 * certificate ca_recipient() returned): a CertRep can be signed by the generation the
 * client encrypted to. Returns 1 if RECIPIENT is one of ours, else 0 and the current pair
 * (ca_scep_cert(), ca_scep_key()). CERT or KEY may be NULL.
 */
int		 ca_signer_for(const struct ca *, const X509 *recipient, X509 **cert,
		    EVP_PKEY **key);

/* Rollover to an existing CA: like ca_import() of a CA, into ca/next/ (plus a next RA
 * issued by it when the current CA has an RA), with ca_rollover_prepare()'s refusals. */
int		 ca_rollover_import(const char *root, const char *cert_pem,
		    const char *key_pem, const char *chain_pem, char *err, size_t errlen);

#endif
