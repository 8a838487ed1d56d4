/*
 * Shared vocabulary of the SCEP server: message types, statuses, failInfo codes,
 * named limits and the logger. Every module includes this; it pulls in no OpenSSL.
 */
#ifndef SCEP_H
#define SCEP_H

#include <stddef.h>
#include <stdint.h>

/* RFC 8894 §3.2.1.2 messageType values. */
enum scep_msgtype {
	MT_CERTREP = 3,
	MT_RENEWALREQ = 17,
	MT_UPDATEREQ = 18,	/* draft-gutmann-00..05 only; refused */
	MT_PKCSREQ = 19,
	MT_CERTPOLL = 20,	/* GetCertInitial in the nourse drafts */
	MT_GETCERT = 21,
	MT_GETCRL = 22
};

/* RFC 8894 §3.2.1.3 pkiStatus. */
enum scep_status {
	PKI_SUCCESS = 0,
	PKI_FAILURE = 2,
	PKI_PENDING = 3
};

/* RFC 8894 §3.2.1.4 failInfo; we never send values outside 0..4 (sscep exits on them). */
enum scep_failinfo {
	FAIL_BADALG = 0,
	FAIL_BADMESSAGECHECK = 1,
	FAIL_BADREQUEST = 2,
	FAIL_BADTIME = 3,
	FAIL_BADCERTID = 4
};

/*
 * Named limits. Checked before anything is allocated from client-supplied sizes.
 */
#define MAX_BODY		(256 * 1024)	/* POST body of a PKIOperation */
#define MAX_QUERY		(512 * 1024)	/* QUERY_STRING (GET PKIOperation base64) */
#define MAX_TXID		128		/* transactionID bytes; certmonger sends ~77 */
#define MAX_NONCE		64		/* senderNonce bytes; RFC says 16 */
#define MAX_CHALLENGE		255		/* PKCS#9 ub-challengePassword */
#define MAX_SAN_ENTRIES		64		/* subjectAltName GeneralNames copied */
#define MAX_CHAIN		8		/* certificates in a CA chain */
#define MAX_PATH_LEN		4096
#define REPO_ID_LEN		64		/* hex SHA-256 */

/*
 * Logging: one line per event on stderr (the web server's error log) or syslog.
 * Never stdout: that is the HTTP response. Client strings go through log_escape().
 */
enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void	 log_init(const char *progname, int use_syslog, enum log_level max);
void	 log_set_client(const char *addr);	/* prefix for the current request */
void	 logx(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* logx() followed by the drained OpenSSL error queue, on the same line. */
void	 log_crypto(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * Escape bytes for a log line or a record file: printable ASCII except '\\' stays,
 * everything else becomes \xHH. Always NUL-terminates; truncates to fit.
 */
void	 log_escape(char *dst, size_t dstlen, const void *src, size_t srclen);

/*
 * The one way to say why something failed: a function that can fail returns 1/0 (or a
 * pointer/NULL) and, when its caller needs the reason, writes ONE sentence into the
 * caller's buffer with errf(). errf_sys() appends ": strerror(errno)", errf_crypto()
 * appends OpenSSL's error queue (drained). Library code does not print: the outermost
 * caller reports the sentence once (the server with logx(), scep-admin on stderr).
 * ERR may be NULL (nothing written, the OpenSSL queue is still drained). All return 0,
 * so that "return errf(err, errlen, ...);" reads as a failure.
 */
int	 errf(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
int	 errf_sys(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
int	 errf_crypto(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Lower-case hex of LEN bytes into OUT (2 * LEN + 1 bytes, NUL-terminated). */
void	 hex_encode(char *out, const void *in, size_t len);
/* Value of one hex digit (either case), -1 if C is not one. */
int	 hex_digit(int c);

/*
 * Length (1..4) of the valid UTF-8 sequence at S, of which N bytes may be read, with its
 * code point in *CP (if not NULL); 0 if S does not start one (RFC 3629 §3: no overlong
 * forms, no surrogates, nothing above U+10FFFF) or N is 0.
 */
size_t	 utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Printable name of a messageType ("PKCSReq"...), "unknown" otherwise. */
const char	*msgtype_name(int);

/* Strict decimal (digits only) in [min, max] into *out. 1 ok, 0 refused. */
int	 parse_decimal(const char *s, long min, long max, int *out);

/* Constant-time comparison of two secrets (lengths may differ). 1 if equal. */
int	 secret_equal(const char *a, const char *b);

#endif
