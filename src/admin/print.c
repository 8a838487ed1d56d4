/*
 * Output formats the scep-admin commands share: whitespace-free columns, JSON strings,
 * ISO 8601 times, certificate serials and fingerprints.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "admin.h"
#include "repo.h"

/* "AB:CD:..." SHA-256 of the DER certificate. */
void
cert_fingerprint(X509 *x, char *out, size_t outlen)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	n = 0, i;
	size_t		o = 0;

	out[0] = '\0';
	if (!X509_digest(x, EVP_sha256(), md, &n))
		return;
	for (i = 0; i < n && o + 4 <= outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%02X", i ? ":" : "", md[i]);
}

/* X's serial as the repository names it (repo_serial_name()) in BUF, or "?". */
const char *
cert_serial(X509 *x, char *buf, size_t len)
{
	return repo_serial_name(X509_get0_serialNumber(x), buf, len) ? buf : "?";
}

void
iso_time(char *buf, size_t len, time_t t)
{
	struct tm	tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
}

void
asn1_iso_time(char *buf, size_t len, const ASN1_TIME *at)
{
	struct tm	tm;

	if (!ASN1_TIME_to_tm(at, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
}

/* A whitespace-free column: printable ASCII except ' ' and '\\' kept, else \xHH; "-" if empty. */
void
print_field(FILE *f, const void *p, size_t len)
{
	const unsigned char	*s = p;
	size_t			 i;

	if (s == NULL || len == 0) {
		fputc('-', f);
		return;
	}
	for (i = 0; i < len; i++) {
		if (s[i] > 0x20 && s[i] < 0x7f && s[i] != '\\')
			fputc(s[i], f);
		else
			fprintf(f, "\\x%02x", s[i]);
	}
}

/*
 * A JSON string (RFC 8259 §7). Valid UTF-8 passes; a byte that is not part of valid UTF-8
 * is written as the code point of the same value (\u00XX), so output is always valid JSON.
 */
void
json_bytes(FILE *f, const void *p, size_t len)
{
	const unsigned char	*s = p;
	size_t			 i = 0, n;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	while (i < len) {
		if (s[i] == '"' || s[i] == '\\') {
			fprintf(f, "\\%c", s[i]);
			i++;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			fprintf(f, "\\u%04x", s[i]);
			i++;
		} else if ((n = utf8_decode(s + i, len - i, NULL)) == 0) {
			fprintf(f, "\\u%04x", s[i]);
			i++;
		} else {
			fwrite(s + i, 1, n, f);
			i += n;
		}
	}
	fputc('"', f);
}

void
json_str(FILE *f, const char *s)
{
	json_bytes(f, s, s != NULL ? strlen(s) : 0);
}
