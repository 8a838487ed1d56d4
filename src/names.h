/*
 * names: X.509 names and subjectAltNames read as names. Two names are equal when they are
 * equal the way X509_NAME_cmp() compares them (RFC 5280 §7.1: each string value as UTF-8,
 * blanks trimmed and collapsed, ASCII case folded), never as C strings or raw DER, so that
 * a value cannot hide behind another string type, another case or a NUL.
 */
#ifndef NAMES_H
#define NAMES_H

#include <stddef.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/*
 * The canonical form of one name entry's value (malloc'd, *len bytes, not a C string: it
 * may hold any byte). 1 ok, 0 error.
 */
int	 name_value_canon(const X509_NAME_ENTRY *, unsigned char **out, size_t *len);

/*
 * SHA-256 over the canonical form of NAME (every entry's type, RDN set and canonical
 * value): equal for names X509_NAME_cmp() finds equal. 1 ok, 0 error.
 */
int	 name_canon_digest(const X509_NAME *, unsigned char md[32]);

/*
 * 1 if every value of NAME is a string whose UTF-8 form holds no control character
 * (U+0000..U+001F, U+007F..U+009F); 0 otherwise, with the offending RDN in WHY.
 */
int	 name_clean(const X509_NAME *, char *why, size_t whylen);

/*
 * The subjectAltName a CSR requests (caller frees with GENERAL_NAMES_free), in *out; NULL
 * there when it requests none. 1 ok, 0 when its extensions or its subjectAltName cannot be
 * read or are requested twice (WHY set).
 */
int	 csr_sans(X509_REQ *, GENERAL_NAMES **out, char *why, size_t whylen);

/* The same check as name_clean() over every string in GENS. */
int	 sans_clean(const GENERAL_NAMES *, char *why, size_t whylen);

/*
 * What NEW names that OLD does not: each RDN of NEWNAME with no equal RDN (same type,
 * canonically equal value) in OLDNAME, as "O=Other", then, when NEWSANS is not NULL, each
 * of its names not in OLDSANS (DNS names compared without case), as "DNS:www.example",
 * "UPN:user@example", "email:...", "URI:...", "IP:...". Entries are joined by ',' into a
 * malloc'd string in *out, NULL when nothing differs. 1 ok, 0 error.
 */
int	 names_added(const X509_NAME *oldname, const X509_NAME *newname,
	    const GENERAL_NAMES *oldsans, const GENERAL_NAMES *newsans, char **out);

#endif
