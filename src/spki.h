/*
 * spki: public keys of parsed certificates and requests without OpenSSL 3.0's decoders.
 *
 * OpenSSL 3.0 decodes the SubjectPublicKeyInfo of every certificate and request it parses
 * through its provider decoder framework, which costs about 100 µs a key (a new decoder
 * context each time), and re-encodes a key set into a certificate the same way. For the
 * RSA keys SCEP runs on, the key can be read from its bits directly. Nothing here checks
 * less: the structures are the ones OpenSSL parses, and every signature is verified by the
 * caller as before.
 */
#ifndef SPKI_H
#define SPKI_H

#include <openssl/x509.h>

/*
 * The RSA key of SPK (algorithm rsaEncryption, the whole BIT STRING one RSAPublicKey) as an
 * EVP_PKEY the caller frees, read with d2i_PublicKey(), the reader OpenSSL's own RSA
 * decoder uses. NULL for any other key (the caller then takes OpenSSL's decoded key).
 * X509_set_pubkey() and i2d_PUBKEY() encode such a key without an encoder context.
 */
EVP_PKEY	*spki_rsa_key(const X509_PUBKEY *spk);

/*
 * d2i_X509() and d2i_X509_REQ() of DER[LEN], the whole buffer (NULL if it does not parse or
 * bytes are left over), with an RSA key read by spki_rsa_key() instead of OpenSSL's
 * decoders. Other keys, and objects that would not encode again to the bytes parsed once
 * the key is set, are parsed by d2i_X509() and d2i_X509_REQ() themselves.
 */
X509		*spki_d2i_cert(const unsigned char *der, size_t len);
X509_REQ	*spki_d2i_req(const unsigned char *der, size_t len);

/*
 * The library context to parse a structure holding certificates in (ASN1_item_d2i_ex())
 * when their keys are set afterwards with spki_set_cert_key(): its keys are left undecoded.
 * Objects parsed in it use the default context for everything else. NULL if it cannot be
 * made (then parse as usual).
 */
OSSL_LIB_CTX	*spki_keyless_ctx(void);

/*
 * Give certificate X, parsed in spki_keyless_ctx(), its RSA key from spki_rsa_key(). 1 when
 * X holds the key and encodes to the very bytes it was parsed from; 0 otherwise (another key
 * type, or a DER OpenSSL would not produce again): X may have been changed then, so free it
 * and parse its bytes again as usual.
 */
int		 spki_set_cert_key(X509 *x);

#endif
