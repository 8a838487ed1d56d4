/*
 * Inside the CA module only: what ca.c (the runtime CA) and ca_provision.c (making and
 * installing CAs) share, and the key lookups that ca.c's decrypt and sign operations are
 * built on. These hand out private keys, which is why they are not in ca.h: no other
 * module includes this header. The CA module's own unit test does, to check them.
 *
 * A "generation" is one directory of CA files: ca/ (current), ca/old/ (the previous CA
 * after a rollover switch) or ca/next/ (a prepared rollover), each with the same names.
 */
#ifndef CA_INTERNAL_H
#define CA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "scep.h"

/* The repository's CA directory and the files of a generation. */
#define CA_DIR		"ca"
#define CA_CERT_FILE	"ca.pem"
#define CA_KEY_FILE	"ca.key"
#define CA_CHAIN_FILE	"chain.pem"
#define CA_RA_CERT_FILE	"ra.pem"
#define CA_RA_KEY_FILE	"ra.key"
#define CA_KEY_URI_FILE	"ca.key.uri"	/* ca_key.c: a key in a token instead of ca.key */
#define CA_RA_KEY_URI_FILE "ra.key.uri"
#define CA_OLD_DIR	"old"
#define CA_NEXT_DIR	"next"
#define CA_NEXT_TMP	"next.tmp"	/* ca_rollover_prepare builds here, then renames */
#define CA_SWITCH_MARK	"switching"	/* ca_rollover_switch in progress: "1" or "2" */

#define CLOCK_SKEW_SECS	(5 * 60)	/* notBefore is backdated by this much */
#define MAX_DAYS	36500		/* validity of any certificate we make */
#define SCEP_KU		(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT)

/* One generation: ca/, ca/old/ or ca/next/. cert == NULL: absent. */
struct ca_gen {
	X509		*cert;		/* the CA certificate */
	EVP_PKEY	*key;
	X509		*ra;		/* RA mode: the RA certificate, else NULL */
	EVP_PKEY	*ra_key;
	STACK_OF(X509)	*certs;		/* [ra, cert, chain...], each an owned reference */
	STACK_OF(X509)	*noroot;	/* certs without a self-signed chain top (not owned) */
};

/* The key of the current SCEP certificate. */
EVP_PKEY	*ca_scep_key(const struct ca *);

/*
 * The certificate and key that decrypt for the RecipientInfo naming (ISSUER, SERIAL), in
 * ca_decrypt()'s order. Match: X509_NAME_cmp(issuer) == 0 and the same serial. 1 found
 * (not owned), 0 not; CERT and KEY may be NULL pointers, and are set to NULL when nothing
 * matches.
 */
int		 ca_recipient(const struct ca *, const X509_NAME *issuer,
		    const ASN1_INTEGER *serial, X509 **cert, EVP_PKEY **key);

/*
 * The SCEP certificate and key of the generation holding RECIPIENT (a certificate
 * ca_recipient() returned). Returns 1 if RECIPIENT is one of ours, else 0 and the current
 * pair (ca_scep_cert(), ca_scep_key()). CERT or KEY may be NULL.
 */
int		 ca_signer_for(const struct ca *, const X509 *recipient, X509 **cert,
		    EVP_PKEY **key);

/* ROOT/ca[/SUB][/NAME] and ROOT/ca/NAME into BUF. 1 ok, 0 if too long. */
int		 ca_gen_path(char *buf, size_t len, const char *root, const char *sub,
		    const char *name);
int		 ca_path(char *buf, size_t len, const char *root, const char *name);
/* Does PATH exist? Anything but ENOENT counts as present. */
int		 ca_present(const char *path);

/* PEM readers. ca_read_chain(): absent file is no chain. */
X509		*ca_read_cert(const char *path, char *err, size_t errlen);
int		 ca_read_chain(const char *path, STACK_OF(X509) *sk, char *err,
		    size_t errlen);

/*
 * The key store (ca_key.c). KEYPATH is where a generation keeps a key (ca/ca.key,
 * ca/next/ra.key...): the PEM file KEYPATH, or KEYPATH.uri holding the pkcs11: URI of a key
 * in a token. SRC (may be NULL) says where the PIN and passphrase come from.
 */
/* Is a key stored at KEYPATH (either form)? */
int		 ca_key_present(const char *keypath);
/* Open it. WARN_MODE: log a warning when a PEM file is readable by group or others. */
EVP_PKEY	*ca_key_open(const char *keypath, const struct ca_keysrc *src, int warn_mode,
		    char *err, size_t errlen);
/* Open a key an administrator names for import: a PEM file or a pkcs11: URI. */
EVP_PKEY	*ca_key_open_given(const char *spec, const struct ca_keysrc *src, char *err,
		    size_t errlen);
/* A new RSA key of BITS: in memory (URI NULL), or generated in the token at URI. */
EVP_PKEY	*ca_key_generate(const char *uri, int bits, const struct ca_keysrc *src,
		    char *err, size_t errlen);
/* Keep KEY at KEYPATH: URI NULL, as PEM (0600, encrypted when a passphrase is
 * configured); else KEYPATH.uri holds URI (the key stays in the token). */
int		 ca_key_store(const char *keypath, EVP_PKEY *key, const char *uri,
		    const struct ca_keysrc *src, char *err, size_t errlen);
/* Remove what ca_key_store() wrote at KEYPATH (undoing a failed step). */
void		 ca_key_remove(const char *keypath);
/* Does SPEC name a key in a token (a pkcs11: URI)? */
int		 ca_key_is_uri(const char *spec);

/* Certificate tests: issued (names, AKI, keyUsage, signature), keyUsage bits, self-signed. */
int		 ca_issued_by(X509 *issuer, X509 *x);
int		 ca_has_ku(X509 *x, uint32_t bits);
int		 ca_self_signed(X509 *x);
/* The RA rules: RSA key that matches, end entity, issued by CA, keyUsage dS + kE. */
int		 ca_check_ra(X509 *ra, EVP_PKEY *rakey, X509 *ca, const char *rapath,
		    const char *keypath, const char *capath, char *err, size_t errlen);

/* Load the generation in ROOT/ca[/SUB] (SUB NULL: the current one); free it. */
int		 ca_gen_load(const char *root, const char *sub, const struct ca_keysrc *src,
		    struct ca_gen *, char *err, size_t errlen);
void		 ca_gen_free(struct ca_gen *);

/* Add extension NID with an openssl.cnf-style VALUE. 1 ok, 0 error (queue kept). */
int		 ca_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value);

#endif
