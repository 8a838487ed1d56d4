/*
 * certrep: every reply body — CertRep (RFC 8894 §3.3.2), GetCACert (§4.2.1),
 * GetCACaps (§3.5.2), degenerate certs-only PKCS#7.
 */
#ifndef CERTREP_H
#define CERTREP_H

#include <stddef.h>
#include <openssl/x509.h>

#include "scep.h"
#include "pkimsg.h"

struct ca;

/* The answer to a PKIOperation, before it is signed. */
struct certrep {
	enum scep_status	 status;
	enum scep_failinfo	 fail;		/* FAILURE only */
	const char		*fail_text;	/* FAILURE only, optional */
	STACK_OF(X509)		*certs;		/* SUCCESS: issued/requested cert first */
	X509_CRL		*crl;		/* SUCCESS for GetCRL */
};

/*
 * Build the signed CertRep answering REQ (txid echoed, recipientNonce = request senderNonce,
 * fresh senderNonce, digest and cipher mirrored, signed by the SCEP certificate of the
 * generation REQ was encrypted to and carrying it, SUCCESS payload encrypted to the
 * request's signer certificate). DER into *out (OPENSSL_free).
 */
int	 certrep_build(const struct pkimsg *req, const struct certrep *, const struct ca *,
	    unsigned char **out, size_t *outlen);

/*
 * GetNextCACert (RFC 8894 §4.7.1): SignedData signed by the current SCEP certificate whose
 * content is a degenerate certs-only SignedData with the next CA certificates; the outer
 * certificates field carries the signer and the next certificates too (sscep reads them
 * there).
 */
int	 nextca_build(const struct ca *, STACK_OF(X509) *next, unsigned char **out,
	    size_t *len);

/* DER degenerate certs-only SignedData with certs in the given order (and crl if any). */
int	 degenerate_p7(STACK_OF(X509) *certs, X509_CRL *crl, unsigned char **out, size_t *len);

#endif
