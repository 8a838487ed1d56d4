/*
 * pkimsg_layer: the layers of pkimsg_parse(), each callable on its own bytes, in the order
 * pkimsg_parse() runs them. None checks a signature or decrypts (no RSA): pkimsg_parse()
 * adds the outer signature check between layers 1 and 3, the CA's decryption between
 * 3 and 4, and the PKCS#10 self-signature after 4. The per-layer fuzz targets
 * (tests/fuzz/fuzz_layer_*.c) call them directly. Each returns 1, or 0 with *e filled.
 */
#ifndef PKIMSG_LAYER_H
#define PKIMSG_LAYER_H

#include <openssl/cms.h>
#include <openssl/x509.h>

#include "pkimsg.h"

/*
 * 1. The outer SignedData: one ContentInfo, one SignerInfo, attributes (2), digest,
 * id-data content, signer certificate (into m->signer). Bytes after the ContentInfo and
 * the refusals of (2) that still allow a signed reply go to *late. *out: the ContentInfo.
 */
int	pkimsg_outer(const unsigned char *, size_t, unsigned digests, struct pkimsg *,
	    struct pkimsg_err *e, struct pkimsg_err *late, CMS_ContentInfo **out);
/* 2. The signed attributes: messageType, transactionID, senderNonce into the struct. */
int	pkimsg_attributes(const STACK_OF(X509_ATTRIBUTE) *, struct pkimsg *,
	    struct pkimsg_err *e, struct pkimsg_err *late);
/* 3. The pkcsPKIEnvelope before decryption: EnvelopedData, recipients, cipher. */
int	pkimsg_envelope(const unsigned char *, size_t, unsigned ciphers, struct pkimsg *,
	    struct pkimsg_err *);
/*
 * 4. The decrypted messageData for m->msgtype; 5. for PKCSReq and RenewalReq, the
 * PKCS#10 request: whole buffer, readable key, digest on the allow-list, subjectAltName.
 */
int	pkimsg_content(const unsigned char *, size_t, unsigned digests, struct pkimsg *,
	    struct pkimsg_err *);

#endif
