/*
 * The key store of the CA module: where a CA or RA private key lives, and the only code
 * that knows the places. A key that ca.c or ca_provision.c calls KEYPATH (ca/ca.key,
 * ca/ra.key, the same in ca/old/ and ca/next/) is one of
 *
 *   KEYPATH        a PEM private key: unencrypted, or encrypted (PKCS#8) with the
 *                  passphrase of ScepCAKeyPassphraseFile or ScepCAKeyPassphraseCredential
 *   KEYPATH.uri    one line, an RFC 7512 "pkcs11:" URI of a private key inside a PKCS#11
 *                  token, opened through OpenSSL's PKCS#11 engine (libp11) with the module
 *                  ScepPKCS11Module and the PIN of ScepCAKeyPINFile or
 *                  ScepCAKeyPINCredential; the key never leaves the token
 *
 * and never both. Either way the rest of the module gets an EVP_PKEY, signs and decrypts
 * with it, and never asks where it came from.
 *
 * The ENGINE API is deprecated in OpenSSL 3, but the PKCS#11 engine is what Debian 12 ships
 * (libengine-pkcs11-openssl); this file is its only user. The engine's module is initialised
 * in the process that opens the first token key and is not used across fork(): the server
 * opens its keys in each worker after the worker starts (scep_main.c).
 *
 * A secret (PIN, passphrase) is the first line of a file, or of the systemd credential
 * $CREDENTIALS_DIRECTORY/NAME (LoadCredential=), read when a key is opened and wiped after.
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* ENGINE: see above */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ui.h>

#include "ca.h"
#include "ca_internal.h"
#include "config.h"
#include "fileio.h"
#include "scep.h"

#define MAX_SECRET	256		/* bytes of a PIN or passphrase */
#define MAX_KEY_URI	1024		/* bytes of a pkcs11: URI */
#define MAX_URI_ATTR	256		/* bytes of one decoded URI attribute */
#define MAX_KEY_FILE	(64 * 1024)	/* bytes of a PEM key file */
#define MAX_TOOL_OUTPUT	512		/* bytes of pkcs11-tool's stderr kept for a message */
#define URI_SUFFIX	".uri"
#define URI_SCHEME	"pkcs11:"
#define P11_ENGINE	"pkcs11"	/* libengine-pkcs11-openssl's engine id */
#define P11_TOOL	"pkcs11-tool"	/* OpenSC: generates a key pair inside a token */
#define P11_PIN_ENV	"SCEP_PKCS11_PIN"	/* how pkcs11-tool gets the PIN (--pin env:) */
#define PEM_CIPHER	EVP_aes_256_cbc()	/* of an encrypted PEM key we write */

/* Where the secrets of each kind come from, for messages. */
#define PIN_KEYS	"ScepCAKeyPINFile or ScepCAKeyPINCredential"
#define PASS_KEYS	"ScepCAKeyPassphraseFile or ScepCAKeyPassphraseCredential"

/* KEYPATH.uri into BUF. 1 ok, 0 too long. */
static int
uri_path(char *buf, size_t len, const char *keypath)
{
	int	n;

	n = snprintf(buf, len, "%s" URI_SUFFIX, keypath);
	return n >= 0 && (size_t)n < len;
}

int
ca_key_is_uri(const char *spec)
{
	return spec != NULL && strncmp(spec, URI_SCHEME, strlen(URI_SCHEME)) == 0;
}

int
ca_key_uri_check(const char *uri, char *err, size_t errlen)
{
	size_t	 len = strlen(uri), i;

	if (!ca_key_is_uri(uri))
		return errf(err, errlen, "a key in a token is named by a \"pkcs11:\" URI");
	if (len > MAX_KEY_URI)
		return errf(err, errlen, "the pkcs11: URI is longer than %d bytes", MAX_KEY_URI);
	for (i = 0; i < len; i++)
		if (uri[i] <= ' ' || uri[i] > '~' || uri[i] == '"' || uri[i] == '\\')
			return errf(err, errlen, "the pkcs11: URI has a character that must be "
			    "percent-encoded (position %zu)", i + 1);
	/* A PIN belongs in ScepCAKeyPIN..., never in the repository or on a command line. */
	if (strstr(uri, "pin-value=") != NULL || strstr(uri, "pin-source=") != NULL)
		return errf(err, errlen, "the pkcs11: URI carries a PIN: remove pin-value or "
		    "pin-source and set " PIN_KEYS " in scep.conf");
	if (strstr(uri, "object=") == NULL && strstr(uri, "id=") == NULL)
		return errf(err, errlen, "the pkcs11: URI names no key: add object=LABEL "
		    "(or id=)");
	return 1;
}

/*
 * The value of attribute NAME in the path of URI, percent-decoded, into OUT. 1 found,
 * 0 absent or malformed.
 */
static int
uri_attr(const char *uri, const char *name, char *out, size_t outlen)
{
	const char	*p = uri + strlen(URI_SCHEME), *end;
	size_t		 nlen = strlen(name), o = 0;
	int		 hi, lo;

	end = p + strcspn(p, "?");
	while (p < end) {
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			for (p += nlen + 1; p < end && *p != ';'; p++) {
				if (o + 1 >= outlen)
					return 0;
				if (*p != '%') {
					out[o++] = *p;
					continue;
				}
				if (end - p < 3 || (hi = hex_digit(p[1])) < 0 ||
				    (lo = hex_digit(p[2])) < 0)
					return 0;
				out[o++] = (char)(hi << 4 | lo);
				p += 2;
			}
			out[o] = '\0';
			return o > 0 && memchr(out, '\0', o) == NULL;
		}
		p += strcspn(p, ";");
		if (p < end)
			p++;
	}
	return 0;
}

/*
 * The secret configured by FILE or the systemd credential CRED (KEYS names the two
 * settings, WHAT the secret): the first line, without its end. FROM says where it came
 * from. 1 ok, 0 with err set.
 */
static int
read_secret(const char *file, const char *cred, const char *what, const char *keys,
    char *out, size_t outlen, char *from, size_t fromlen, char *err, size_t errlen)
{
	const char	*dir;
	char		 buf[MAX_SECRET + 2], path[MAX_PATH_LEN];
	struct stat	 st;
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd = -1, ok = 0;

	if (file == NULL && cred == NULL)
		return errf(err, errlen, "no %s is configured (%s in scep.conf)", what, keys);
	if (file != NULL)
		snprintf(path, sizeof(path), "%s", file);
	else {
		if ((dir = getenv("CREDENTIALS_DIRECTORY")) == NULL || dir[0] == '\0')
			return errf(err, errlen, "the %s is the systemd credential \"%s\", but "
			    "$CREDENTIALS_DIRECTORY is not set (run under a unit with "
			    "LoadCredential=%s:FILE)", what, cred, cred);
		if (snprintf(path, sizeof(path), "%s/%s", dir, cred) >= (int)sizeof(path))
			return errf(err, errlen, "credential path too long");
	}
	snprintf(from, fromlen, "%s", path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		errf_sys(err, errlen, "cannot open the %s file %s", what, path);
		goto out;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		errf(err, errlen, "the %s file %s is not a regular file", what, path);
		goto out;
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			errf_sys(err, errlen, "cannot read the %s file %s", what, path);
			goto out;
		}
		len += (size_t)n;
	}
	len = strcspn(buf, "\n") < len ? strcspn(buf, "\n") : len;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0 || len > MAX_SECRET || memchr(buf, '\0', len) != NULL) {
		errf(err, errlen, "the %s file %s must hold one line of 1 to %d bytes", what,
		    path, MAX_SECRET);
		goto out;
	}
	if (len >= outlen) {
		errf(err, errlen, "the %s in %s is too long", what, path);
		goto out;
	}
	memcpy(out, buf, len);
	out[len] = '\0';
	ok = 1;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (fd != -1)
		(void)close(fd);
	return ok;
}

static int
have_passphrase(const struct ca_keysrc *src)
{
	return src != NULL && (src->pass_file != NULL || src->pass_credential != NULL);
}

/* ------------------------------------------------------------------ PEM files */

/* What the PEM passphrase callback was asked and did. */
struct pass_ctx {
	const struct ca_keysrc	*src;
	int			 asked;		/* the key is encrypted */
	int			 given;		/* a passphrase was handed over */
	char			 from[MAX_PATH_LEN];
	char			 err[MAX_PATH_LEN + 128]; /* why none was handed over */
};

/* Never prompt (a CGI has no terminal): the configured passphrase or nothing. */
static int
pem_passphrase(char *buf, int size, int rwflag, void *u)
{
	struct pass_ctx	*c = u;
	char		 secret[MAX_SECRET + 1];
	int		 len;

	(void)rwflag;
	c->asked = 1;
	if (!have_passphrase(c->src)) {
		ERR_clear_error();
		return -1;
	}
	if (!read_secret(c->src->pass_file, c->src->pass_credential, "passphrase",
	    PASS_KEYS, secret, sizeof(secret), c->from, sizeof(c->from), c->err,
	    sizeof(c->err)))
		return -1;
	len = (int)strlen(secret);
	if (len > size) {
		snprintf(c->err, sizeof(c->err), "the passphrase in %s is too long", c->from);
		OPENSSL_cleanse(secret, sizeof(secret));
		return -1;
	}
	memcpy(buf, secret, (size_t)len);
	OPENSSL_cleanse(secret, sizeof(secret));
	c->given = 1;
	return len;
}

/* A PEM private key, decrypted with the configured passphrase when it is encrypted. */
static EVP_PKEY *
pem_read(const char *path, const struct ca_keysrc *src, int warn_mode, char *err,
    size_t errlen)
{
	struct pass_ctx	 c;
	struct stat	 st;
	BIO		*b = NULL;
	EVP_PKEY	*k = NULL;

	memset(&c, 0, sizeof(c));
	c.src = src;
	if ((b = BIO_new_file(path, "r")) == NULL) {
		(void)errf_sys(err, errlen, "cannot open %s", path);
		ERR_clear_error();
		goto out;
	}
	if (warn_mode && stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		logx(LOG_LVL_WARN, "%s is accessible by group or others (mode %03o)", path,
		    (unsigned)(st.st_mode & 0777));
	if ((k = PEM_read_bio_PrivateKey(b, NULL, pem_passphrase, &c)) != NULL)
		goto out;
	if (!c.asked)
		errf_crypto(err, errlen, "cannot read a PEM private key from %s", path);
	else if (!have_passphrase(src)) {
		ERR_clear_error();
		errf(err, errlen, "%s is encrypted and no passphrase is configured (set "
		    PASS_KEYS " in scep.conf)", path);
	} else if (!c.given) {
		ERR_clear_error();
		errf(err, errlen, "%s", c.err);
	} else {
		ERR_clear_error();
		errf(err, errlen, "cannot decrypt %s with the passphrase from %s (wrong "
		    "passphrase?)", path, c.from);
	}
out:
	BIO_free(b);
	OPENSSL_cleanse(&c, sizeof(c));
	return k;
}

/* PEM of K into PATH (0600), encrypted with the configured passphrase if there is one. */
static int
pem_write(const char *path, EVP_PKEY *k, const struct ca_keysrc *src, char *err,
    size_t errlen)
{
	BIO	*b = NULL;
	char	 pass[MAX_SECRET + 1], from[MAX_PATH_LEN];
	char	*data;
	long	 len;
	int	 ok = 0, enc = have_passphrase(src);

	if (enc && !read_secret(src->pass_file, src->pass_credential, "passphrase",
	    PASS_KEYS, pass, sizeof(pass), from, sizeof(from), err, errlen))
		goto out;
	/* secmem: the buffer holding the key is cleansed when freed. */
	if ((b = BIO_new(BIO_s_secmem())) == NULL) {
		errf_crypto(err, errlen, "out of memory");
		goto out;
	}
	if (!(enc ? PEM_write_bio_PKCS8PrivateKey(b, k, PEM_CIPHER, pass, (int)strlen(pass),
	    NULL, NULL) : PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) ||
	    (len = BIO_get_mem_data(b, &data)) <= 0) {
		errf_crypto(err, errlen, "cannot encode %s", path);
		goto out;
	}
	if (!write_file(path, data, (size_t)len, 0600, err, errlen))
		goto out;
	ok = 1;
out:
	OPENSSL_cleanse(pass, sizeof(pass));
	BIO_free(b);
	return ok;
}

/* ------------------------------------------------------------------ PKCS#11 tokens */

/*
 * The PKCS#11 engine, initialised with ScepPKCS11Module and the PIN (FROM: where the PIN
 * came from), quiet (libp11 would print to stderr, the server's log). A structural and a
 * functional reference: release with p11_release().
 */
static ENGINE *
p11_engine(const struct ca_keysrc *src, char *from, size_t fromlen, char *err, size_t errlen)
{
	ENGINE	*e = NULL;
	char	 pin[MAX_SECRET + 1];
	int	 ok = 0;

	if (src == NULL || src->pkcs11_module == NULL) {
		errf(err, errlen, "the key is in a PKCS#11 token but ScepPKCS11Module (the "
		    "token's PKCS#11 module) is not set in scep.conf");
		return NULL;
	}
	if (!read_secret(src->pin_file, src->pin_credential, "PIN", PIN_KEYS, pin,
	    sizeof(pin), from, fromlen, err, errlen))
		return NULL;
	if ((e = ENGINE_by_id(P11_ENGINE)) == NULL) {
		errf_crypto(err, errlen, "cannot load OpenSSL's PKCS#11 engine (Debian package "
		    "libengine-pkcs11-openssl)");
		goto out;
	}
	if (!ENGINE_ctrl_cmd_string(e, "QUIET", NULL, 0) ||
	    !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", src->pkcs11_module, 0) ||
	    !ENGINE_ctrl_cmd_string(e, "PIN", pin, 0)) {
		errf_crypto(err, errlen, "cannot configure the PKCS#11 engine");
		goto out;
	}
	if (!ENGINE_init(e)) {
		errf_crypto(err, errlen, "cannot initialise the PKCS#11 engine with %s",
		    src->pkcs11_module);
		goto out;
	}
	ok = 1;
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	if (!ok && e != NULL) {
		ENGINE_free(e);
		e = NULL;
	}
	return e;
}

static void
p11_release(ENGINE *e)
{
	if (e == NULL)
		return;
	(void)ENGINE_finish(e);
	(void)ENGINE_free(e);
}

/* The private key at URI in a token (the key holds its own engine reference). */
static EVP_PKEY *
p11_open(const char *uri, const struct ca_keysrc *src, char *err, size_t errlen)
{
	ENGINE		*e;
	EVP_PKEY	*k = NULL;
	char		 from[MAX_PATH_LEN];

	if (!ca_key_uri_check(uri, err, errlen))
		return NULL;
	if ((e = p11_engine(src, from, sizeof(from), err, errlen)) == NULL)
		return NULL;
	/* UI_null(): never prompt for a PIN the configuration did not give. */
	if ((k = ENGINE_load_private_key(e, uri, (UI_METHOD *)UI_null(), NULL)) == NULL)
		errf_crypto(err, errlen, "cannot open the private key %s in the token (module "
		    "%s, PIN from %s)", uri, src->pkcs11_module, from);
	p11_release(e);
	return k;
}

/*
 * Run pkcs11-tool to generate an RSA key pair of BITS inside the token of URI (token=
 * LABEL), labelled with its object= (and id= when given). The PIN goes through the
 * environment, never the command line. 1 ok, 0 with err set.
 */
static int
p11_generate(const char *uri, int bits, const struct ca_keysrc *src, char *err,
    size_t errlen)
{
	char		 token[MAX_URI_ATTR], label[MAX_URI_ATTR], id[MAX_URI_ATTR];
	char		 idhex[2 * MAX_URI_ATTR + 1], keytype[32], pin[MAX_SECRET + 1];
	char		 from[MAX_PATH_LEN], out[MAX_TOOL_OUTPUT + 1];
	char		 shown[4 * MAX_TOOL_OUTPUT + 1];
	const char	*argv[20];
	int		 fds[2] = { -1, -1 }, devnull, st, n = 0, ok = 0;
	size_t		 len = 0;
	ssize_t		 r;
	pid_t		 pid;

	if (src == NULL || src->pkcs11_module == NULL)
		return errf(err, errlen, "ScepPKCS11Module (the token's PKCS#11 module) is not "
		    "set in scep.conf");
	if (!uri_attr(uri, "token", token, sizeof(token)) ||
	    !uri_attr(uri, "object", label, sizeof(label)))
		return errf(err, errlen, "to make a key in a token, the URI needs token=LABEL "
		    "and object=LABEL (%s)", uri);
	if (!read_secret(src->pin_file, src->pin_credential, "PIN", PIN_KEYS, pin,
	    sizeof(pin), from, sizeof(from), err, errlen))
		return 0;
	snprintf(keytype, sizeof(keytype), "rsa:%d", bits);
	argv[n++] = P11_TOOL;
	argv[n++] = "--module";
	argv[n++] = src->pkcs11_module;
	argv[n++] = "--token-label";
	argv[n++] = token;
	argv[n++] = "--login";
	argv[n++] = "--pin";
	argv[n++] = "env:" P11_PIN_ENV;
	argv[n++] = "--keypairgen";
	argv[n++] = "--key-type";
	argv[n++] = keytype;
	argv[n++] = "--label";
	argv[n++] = label;
	argv[n++] = "--usage-sign";
	argv[n++] = "--usage-decrypt";
	if (uri_attr(uri, "id", id, sizeof(id))) {
		hex_encode(idhex, id, strlen(id));
		argv[n++] = "--id";
		argv[n++] = idhex;
	}
	argv[n] = NULL;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		errf_sys(err, errlen, "pipe");
		goto out;
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		errf_sys(err, errlen, "fork");
		goto out;
	}
	if (pid == 0) {
		/* Its report goes nowhere (our stdout is the command's output); errors to us. */
		if ((devnull = open("/dev/null", O_WRONLY)) == -1 ||
		    dup2(devnull, STDOUT_FILENO) == -1 || dup2(fds[1], STDERR_FILENO) == -1 ||
		    setenv(P11_PIN_ENV, pin, 1) == -1)
			_exit(126);
		execvp(P11_TOOL, (char *const *)argv);
		dprintf(STDERR_FILENO, "cannot run " P11_TOOL " (Debian package opensc): %s",
		    strerror(errno));
		_exit(127);
	}
	(void)close(fds[1]);
	fds[1] = -1;
	while ((r = read(fds[0], out + len, sizeof(out) - 1 - len)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			break;
		if ((len += (size_t)r) == sizeof(out) - 1) {
			char	sink[256];

			while (read(fds[0], sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	out[len] = '\0';
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		/* One sentence: pkcs11-tool's first line of complaint. */
		out[strcspn(out, "\n")] = '\0';
		log_escape(shown, sizeof(shown), out, strlen(out));
		errf(err, errlen, "cannot generate a key in token \"%s\" with " P11_TOOL
		    " (PIN from %s): %s", token, from, shown[0] != '\0' ? shown : "it failed");
		goto out;
	}
	ok = 1;
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	if (fds[0] != -1)
		(void)close(fds[0]);
	if (fds[1] != -1)
		(void)close(fds[1]);
	return ok;
}

/* ------------------------------------------------------------------ the store */

int
ca_key_present(const char *keypath)
{
	char	upath[MAX_PATH_LEN];

	return ca_present(keypath) ||
	    (uri_path(upath, sizeof(upath), keypath) && ca_present(upath));
}

/* The URI stored in KEYPATH.uri into URI. 1 ok, 0 with err set. */
static int
uri_read(const char *upath, char *uri, size_t urilen, char *err, size_t errlen)
{
	unsigned char	*buf = NULL;
	size_t		 len = 0;
	int		 ok = 0;

	if (!read_file(upath, &buf, &len, MAX_KEY_URI + 2, err, errlen))
		goto out;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 0 || len >= urilen || memchr(buf, '\0', len) != NULL ||
	    memchr(buf, '\n', len) != NULL) {
		errf(err, errlen, "%s must hold one pkcs11: URI on one line", upath);
		goto out;
	}
	memcpy(uri, buf, len);
	uri[len] = '\0';
	if (!ca_key_uri_check(uri, err, errlen)) {
		/* Name the file: the sentence so far is about the URI alone. */
		char	why[400];

		snprintf(why, sizeof(why), "%s", err);
		errf(err, errlen, "%s: %s", upath, why);
		goto out;
	}
	ok = 1;
out:
	free(buf);
	return ok;
}

EVP_PKEY *
ca_key_open(const char *keypath, const struct ca_keysrc *src, int warn_mode, char *err,
    size_t errlen)
{
	char	upath[MAX_PATH_LEN], uri[MAX_KEY_URI + 1];

	if (!uri_path(upath, sizeof(upath), keypath)) {
		errf(err, errlen, "repository path too long");
		return NULL;
	}
	if (!ca_present(upath))
		return pem_read(keypath, src, warn_mode, err, errlen);
	if (ca_present(keypath)) {
		errf(err, errlen, "both %s and %s exist: a key is either a file or in a token",
		    keypath, upath);
		return NULL;
	}
	if (!uri_read(upath, uri, sizeof(uri), err, errlen))
		return NULL;
	return p11_open(uri, src, err, errlen);
}

EVP_PKEY *
ca_key_open_given(const char *spec, const struct ca_keysrc *src, char *err, size_t errlen)
{
	if (ca_key_is_uri(spec))
		return p11_open(spec, src, err, errlen);
	return pem_read(spec, src, 0, err, errlen);
}

EVP_PKEY *
ca_key_generate(const char *uri, int bits, const struct ca_keysrc *src, char *err,
    size_t errlen)
{
	EVP_PKEY	*k;

	if (uri == NULL) {
		if ((k = EVP_RSA_gen((unsigned int)bits)) == NULL)
			errf_crypto(err, errlen, "cannot generate an RSA key of %d bits", bits);
		return k;
	}
	if (!ca_key_uri_check(uri, err, errlen))
		return NULL;
	/* Never a second key under one name: which one the engine finds would be luck. */
	if ((k = p11_open(uri, src, NULL, 0)) != NULL) {
		EVP_PKEY_free(k);
		errf(err, errlen, "the token already holds a key at %s: name another object= "
		    "(or reference that key with \"import --key\")", uri);
		return NULL;
	}
	ERR_clear_error();
	if (!p11_generate(uri, bits, src, err, errlen))
		return NULL;
	return p11_open(uri, src, err, errlen);
}

int
ca_key_store(const char *keypath, EVP_PKEY *key, const char *uri,
    const struct ca_keysrc *src, char *err, size_t errlen)
{
	char	upath[MAX_PATH_LEN], line[MAX_KEY_URI + 2];
	int	n;

	if (uri == NULL)
		return pem_write(keypath, key, src, err, errlen);
	if (!uri_path(upath, sizeof(upath), keypath))
		return errf(err, errlen, "repository path too long");
	if (!ca_key_uri_check(uri, err, errlen))
		return 0;
	n = snprintf(line, sizeof(line), "%s\n", uri);
	return write_file(upath, line, (size_t)n, 0640, err, errlen);
}

void
ca_key_remove(const char *keypath)
{
	char	upath[MAX_PATH_LEN];

	(void)unlink(keypath);
	if (uri_path(upath, sizeof(upath), keypath))
		(void)unlink(upath);
}

int
ca_key_location(const char *root, enum ca_generation which, int ra, char *out,
    size_t outlen, const char **kind)
{
	char		 keypath[MAX_PATH_LEN], upath[MAX_PATH_LEN], uri[MAX_KEY_URI + 1];
	const char	*sub = which == CA_GEN_OLD ? CA_OLD_DIR : which == CA_GEN_NEXT ?
			    CA_NEXT_DIR : NULL;
	unsigned char	*buf = NULL;
	size_t		 len = 0;
	int		 enc;

	if (!ca_gen_path(keypath, sizeof(keypath), root, sub,
	    ra ? CA_RA_KEY_FILE : CA_KEY_FILE) || !uri_path(upath, sizeof(upath), keypath))
		return 0;
	if (ca_present(upath)) {
		if (!uri_read(upath, uri, sizeof(uri), NULL, 0))
			return 0;
		snprintf(out, outlen, "%s", uri);
		*kind = "pkcs11";
		return 1;
	}
	if (!read_file(keypath, &buf, &len, MAX_KEY_FILE, NULL, 0))
		return 0;
	enc = memmem(buf, len, "-----BEGIN ENCRYPTED PRIVATE KEY-----", 37) != NULL ||
	    memmem(buf, len, "Proc-Type: 4,ENCRYPTED", 22) != NULL;
	OPENSSL_cleanse(buf, len);
	free(buf);
	snprintf(out, outlen, "%s", keypath);
	*kind = enc ? "pem-encrypted" : "pem";
	return 1;
}
