/*
 * libFuzzer target: the GET PKIOperation decoder (scep-notes §2.4). The input is a raw
 * QUERY_STRING: query_param() takes operation and message out of it (percent-decoding
 * only), scep_b64_decode() turns the message into bytes. The input itself is also fed
 * to scep_b64_decode() as a message value, so base64 edge cases are reached directly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scep.h"
#include "http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*q, *msg, *op;
	unsigned char	*der;
	size_t		 mlen = 0, olen = 0, dlen = 0;
	int		 bad = 0;

	if (size > MAX_QUERY + 16)
		return 0;
	if ((q = malloc(size + 1)) == NULL)
		return 0;
	memcpy(q, data, size);
	q[size] = '\0';

	op = query_param(q, "operation", &olen, &bad);
	if (op != NULL && strlen(op) > olen)
		abort();		/* the length promised does not match the bytes */
	msg = query_param(q, "message", &mlen, &bad);
	if (msg != NULL) {
		if (msg[mlen] != '\0')
			abort();	/* query_param promises a NUL-terminated copy */
		if ((der = scep_b64_decode(msg, mlen, &dlen)) != NULL && dlen > mlen)
			abort();	/* base64 never expands */
		free(der);
	}
	if ((der = scep_b64_decode((const char *)data, size, &dlen)) != NULL && dlen > size)
		abort();
	free(der);
	free(op);
	free(msg);
	free(q);
	return 0;
}
