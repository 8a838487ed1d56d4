/*
 * Logging and small helpers shared by every module (declared in scep.h).
 *
 * One line per event, on stderr (the web server's error log) or syslog:
 *	progname[pid]: LEVEL: client ADDR: message
 * Never stdout: under CGI/FastCGI that is the HTTP response.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "scep.h"

#define LOG_LINE_MAX	4096	/* one formatted event, longer ones are truncated */
#define LOG_CLIENT_MAX	256	/* escaped client address */
#define LOG_PROG_MAX	64

static char		log_prog[LOG_PROG_MAX] = "scep";
static int		log_syslog;
static enum log_level	log_max = LOG_LVL_INFO;
static char		log_client[LOG_CLIENT_MAX];

static const char *const log_names[] = { "ERROR", "WARNING", "INFO", "DEBUG" };
static const int log_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void
log_init(const char *progname, int use_syslog, enum log_level max)
{
	const char	*p;

	if (progname != NULL) {
		if ((p = strrchr(progname, '/')) != NULL)
			progname = p + 1;
		log_escape(log_prog, sizeof(log_prog), progname, strlen(progname));
	}
	log_max = max;
	if (log_syslog)
		closelog();
	log_syslog = use_syslog;
	if (log_syslog)
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* The client address is put in front of every line until the next call (NULL clears it). */
void
log_set_client(const char *addr)
{
	if (addr == NULL)
		log_client[0] = '\0';
	else
		log_escape(log_client, sizeof(log_client), addr, strlen(addr));
}

/* Append to buf (NUL-terminated, size len), truncating; returns the new length. */
static size_t
buf_append(char *buf, size_t len, size_t used, const char *s)
{
	size_t	n;

	if (used + 1 >= len)
		return used;
	n = strlen(s);
	if (n > len - used - 1)
		n = len - used - 1;
	memcpy(buf + used, s, n);
	used += n;
	buf[used] = '\0';
	return used;
}

static void
vlog(enum log_level lvl, int crypto, const char *fmt, va_list ap)
{
	char		 line[LOG_LINE_MAX], ebuf[256];
	const char	*data;
	unsigned long	 e;
	size_t		 used;
	int		 n, flags, saved = errno;

	if ((int)lvl < 0 || lvl > LOG_LVL_DEBUG)
		lvl = LOG_LVL_ERR;
	if (lvl > log_max) {
		if (crypto)
			ERR_clear_error();
		goto out;
	}

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0) {
		line[0] = '\0';
		n = 0;
	}
	used = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;

	/* Drain the whole queue even when the line is already full. */
	while (crypto && (e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
		used = buf_append(line, sizeof(line), used, ": ");
		used = buf_append(line, sizeof(line), used, ebuf);
		if (data != NULL && *data != '\0' && (flags & ERR_TXT_STRING)) {
			used = buf_append(line, sizeof(line), used, " (");
			used = buf_append(line, sizeof(line), used, data);
			used = buf_append(line, sizeof(line), used, ")");
		}
	}

	/* One event, one line: no control character survives. */
	for (char *p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';

	if (log_syslog) {
		if (log_client[0] != '\0')
			syslog(log_prio[lvl], "%s: client %s: %s", log_names[lvl],
			    log_client, line);
		else
			syslog(log_prio[lvl], "%s: %s", log_names[lvl], line);
	} else {
		if (log_client[0] != '\0')
			fprintf(stderr, "%s[%ld]: %s: client %s: %s\n", log_prog,
			    (long)getpid(), log_names[lvl], log_client, line);
		else
			fprintf(stderr, "%s[%ld]: %s: %s\n", log_prog,
			    (long)getpid(), log_names[lvl], line);
		fflush(stderr);
	}
out:
	errno = saved;
}

void
logx(enum log_level lvl, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(lvl, 0, fmt, ap);
	va_end(ap);
}

void
log_crypto(enum log_level lvl, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(lvl, 1, fmt, ap);
	va_end(ap);
}

/*
 * Printable ASCII (0x20..0x7e) other than '\\' is copied, every other byte becomes "\xHH"
 * (upper-case hex), so the output is one line and unescaping is unambiguous. An escape is
 * never cut in half: on truncation the output ends before the byte that did not fit.
 */
void
log_escape(char *dst, size_t dstlen, const void *src, size_t srclen)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*s = src;
	size_t			 i, o = 0;

	if (dst == NULL || dstlen == 0)
		return;
	for (i = 0; s != NULL && i < srclen; i++) {
		if (s[i] >= 0x20 && s[i] <= 0x7e && s[i] != '\\') {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)s[i];
		} else {
			if (o + 4 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[s[i] >> 4];
			dst[o++] = hex[s[i] & 0x0f];
		}
	}
	dst[o] = '\0';
}

/*
 * Constant time in the contents: the time depends only on the two lengths (strlen cannot
 * avoid that) and on whether they are equal. NULL never equals anything.
 */
int
secret_equal(const char *a, const char *b)
{
	size_t	la, lb;

	if (a == NULL || b == NULL)
		return 0;
	la = strlen(a);
	lb = strlen(b);
	if (la != lb) {
		/* Same amount of work as a comparison of b, then fail. */
		(void)CRYPTO_memcmp(b, b, lb);
		return 0;
	}
	return CRYPTO_memcmp(a, b, la) == 0;
}

static int
verrf(char *err, size_t errlen, int what, const char *fmt, va_list ap)
{
	char		 ebuf[256];
	const char	*data;
	unsigned long	 e;
	size_t		 used = 0;
	int		 n, flags, saved = errno;

	if (err != NULL && errlen > 0) {
		n = vsnprintf(err, errlen, fmt, ap);
		used = n < 0 ? 0 : (size_t)n < errlen ? (size_t)n : errlen - 1;
		err[used] = '\0';
		if (what == 's') {
			used = buf_append(err, errlen, used, ": ");
			used = buf_append(err, errlen, used, strerror(saved));
		}
	}
	/* Drain the whole queue even when the buffer is full or absent. */
	while (what == 'c' && (e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		if (err == NULL || errlen == 0)
			continue;
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
		used = buf_append(err, errlen, used, ": ");
		used = buf_append(err, errlen, used, ebuf);
		if (data != NULL && *data != '\0' && (flags & ERR_TXT_STRING)) {
			used = buf_append(err, errlen, used, " (");
			used = buf_append(err, errlen, used, data);
			used = buf_append(err, errlen, used, ")");
		}
	}
	errno = saved;
	return 0;
}

int
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)verrf(err, errlen, 0, fmt, ap);
	va_end(ap);
	return 0;
}

int
errf_sys(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)verrf(err, errlen, 's', fmt, ap);
	va_end(ap);
	return 0;
}

int
errf_crypto(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)verrf(err, errlen, 'c', fmt, ap);
	va_end(ap);
	return 0;
}

void
hex_encode(char *out, const void *in, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = in;
	size_t			 i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cpp)
{
	size_t		len, i;
	uint32_t	cp;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		len = 1, cp = s[0];
	else if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	if (cpp != NULL)
		*cpp = cp;
	return len;
}

/* Printable name of a messageType (RFC 8894 §3.2.1.2), "unknown" otherwise. */
const char *
msgtype_name(int t)
{
	switch (t) {
	case MT_CERTREP: return "CertRep";
	case MT_RENEWALREQ: return "RenewalReq";
	case MT_UPDATEREQ: return "UpdateReq";
	case MT_PKCSREQ: return "PKCSReq";
	case MT_CERTPOLL: return "CertPoll";
	case MT_GETCERT: return "GetCert";
	case MT_GETCRL: return "GetCRL";
	default: return "unknown";
	}
}

/* Strict decimal (digits only, no sign or blanks) in [min, max]; 1 ok, 0 refused. */
int
parse_decimal(const char *s, long min, long max, int *out)
{
	long	n = 0;

	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		n = n * 10 + (*s - '0');
		if (n > max)
			return 0;
	}
	if (n < min)
		return 0;
	*out = (int)n;
	return 1;
}
