/*
 * pkimsg: a PKIOperation pkiMessage (RFC 8894 §3) turned into a struct: byte fields for
 * the SCEP attributes, OpenSSL objects (owned by the struct) for the signer certificate,
 * the CSR and the names. Strict about meaning, liberal about encoding (BER, any string
 * type for attributes).
 */
#ifndef PKIMSG_H
#define PKIMSG_H

#include <stddef.h>
#include <openssl/x509.h>
#include <openssl/evp.h>

#include "scep.h"

struct ca;

struct pkimsg {
	int		 msgtype;		/* enum scep_msgtype */
	unsigned char	 txid[MAX_TXID];	/* transactionID bytes as received */
	size_t		 txid_len;
	unsigned char	 nonce[MAX_NONCE];	/* senderNonce as received */
	size_t		 nonce_len;
	const EVP_MD	*md;			/* request digest (mirrored in the reply) */
	const EVP_CIPHER *cipher;		/* request content cipher (mirrored), NULL if none */
	X509		*signer;		/* the certificate that signed the request */
	char		 signer_fp[65];		/* pubkey_fp() of the signer's key */
	const X509	*recipient;		/* ours it was encrypted to (not owned), or NULL */
	int		 signer_self_signed;	/* issuer == subject and self-signature verifies */
	/* Decrypted messageData, by type: */
	X509_REQ	*csr;			/* PKCSReq, RenewalReq */
	char		 key_fp[65];		/* pubkey_fp() of the CSR's key */
	char		*challenge;		/* csr_challenge(), NULL if none */
	X509_NAME	*poll_issuer, *poll_subject; /* CertPoll (IssuerAndSubject) */
	X509_NAME	*ias_issuer;		/* GetCert, GetCRL (IssuerAndSerialNumber) */
	ASN1_INTEGER	*ias_serial;
	unsigned char	*raw;			/* the whole pkiMessage as received */
	size_t		 raw_len;
};

/*
 * Why a message was not accepted. fail is the failInfo to answer with when the message
 * could be read far enough to build a CertRep (have_reply_info), else the caller answers
 * HTTP 400. text is a sentence for failInfoText and the log.
 */
struct pkimsg_err {
	int		 have_reply_info;	/* txid, nonce and md are set in the partial msg */
	enum scep_failinfo fail;
	char		 text[256];
};

/*
 * Parse, verify (outer signature, messageDigest), check algorithms against the allow-lists
 * (DIG_* and CIPH_* masks of config.h), have the CA module decrypt the envelope
 * (ca_decrypt(): the recipient chosen by certificate) and decode the inner message.
 * On failure returns NULL and fills *e; if e->have_reply_info, *partial gets a struct with
 * txid, nonce, md (and signer when known) for building a FAILURE reply (free with pkimsg_free).
 */
struct pkimsg	*pkimsg_parse(const unsigned char *der, size_t len, const struct ca *,
		    unsigned digests, unsigned ciphers, struct pkimsg_err *e,
		    struct pkimsg **partial);
void		 pkimsg_free(struct pkimsg *);
void		 pkimsg_print(const struct pkimsg *, FILE *);

/* Register the SCEP attribute OIDs with OpenSSL (idempotent). */
int		 scep_oids_init(void);
extern int	 nid_messageType, nid_pkiStatus, nid_failInfo, nid_senderNonce,
		 nid_recipientNonce, nid_transactionID, nid_failInfoText;

/*
 * What pkimsg_parse() fills in for the handler: the challengePassword of a CSR as UTF-8
 * (any DirectoryString type; NULL if absent, repeated or too long), malloc'd; the hex
 * SHA-256 of a key's DER SubjectPublicKeyInfo (a 65-byte buffer).
 */
char		*csr_challenge(X509_REQ *);
int		 pubkey_fp(EVP_PKEY *, char out[65]);

#endif
