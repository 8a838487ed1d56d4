/*
 * The counter file `crlnumber`: the next value in OpenSSL's format, read and replaced by
 * its successor under the repository lock. (Certificate serials are random: enroll.c.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>

#include "repo_int.h"

/*
 * The value in the text of a counter file (BUF, LEN bytes, NUL-terminated; trailing
 * whitespace is cut off in place), normalized into CUR. 0 if it is not one hex serial.
 */
int
counter_value(unsigned char *buf, size_t len, char cur[MAX_SERIAL_HEX + 2])
{
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	    buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	return strlen((char *)buf) == len &&
	    serial_normalize((char *)buf, cur, MAX_SERIAL_HEX + 2);
}

/*
 * `crlnumber` holds the next CRL number in OpenSSL's format: hex, whole octets, newline;
 * a missing file counts as "01" and zero is a valid CRL number. It is read, returned
 * normalized, and replaced by its successor.
 */
int
repo_crlnumber_next(struct repo *r, char *out, size_t outlen)
{
	char		 path[MAX_PATH_LEN], cur[MAX_SERIAL_HEX + 2], next[MAX_SERIAL_HEX + 2];
	char		 line[MAX_SERIAL_HEX + 4];
	unsigned char	*buf = NULL;
	char		*hex = NULL;
	BIGNUM		*bn = NULL;
	size_t		 len;
	int		 rc = 0, saved;

	if (!path_join(path, sizeof(path), r->root, "crlnumber", NULL, NULL))
		goto out;
	if (!get_file(path, &buf, &len, MAX_COUNTER)) {
		if (errno != ENOENT)
			goto out;
		len = 2;
		if ((buf = (unsigned char *)strdup("01")) == NULL)
			goto out;
	}
	if (!counter_value(buf, len, cur)) {
		logx(LOG_LVL_ERR, "%s: not a hex number", path);
		errno = EINVAL;
		goto out;
	}
	if (strlen(cur) + 1 > outlen) {
		errno = ERANGE;
		goto out;
	}
	if (BN_hex2bn(&bn, cur) != (int)strlen(cur) || !BN_add_word(bn, 1) ||
	    (hex = BN_bn2hex(bn)) == NULL) {
		log_crypto(LOG_LVL_ERR, "%s: arithmetic", path);
		errno = ENOMEM;
		goto out;
	}
	if (!serial_normalize(hex, next, sizeof(next))) {
		logx(LOG_LVL_ERR, "%s: overflows %d digits", path, MAX_SERIAL_HEX);
		goto out;
	}
	(void)snprintf(line, sizeof(line), "%s\n", next);
	if (!put_file(path, line, strlen(line), 0))
		goto out;
	memcpy(out, cur, strlen(cur) + 1);
	rc = 1;
out:
	saved = errno;
	free(buf);
	OPENSSL_free(hex);
	BN_free(bn);
	errno = saved;
	return rc;
}
