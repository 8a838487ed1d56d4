/*
 * mobileconfig: the profile builder (XML escaping and rejection of control characters and
 * bad UTF-8, the Subject array of RDN arrays, SubjectAltName strings and arrays, the
 * CAFingerprint bytes, identifiers, UUIDs, option ranges) and mobileconfig_sign (a CA made
 * with ca_init, the SignedData verified with CMS_verify and compared with the document;
 * with an RA added, still signed by the CA).
 * The shell test tests/admin/t-mobileconfig.sh parses real output with a plist parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca.h"
#include "mobileconfig.h"
#include "unit.h"

static char	root[] = "/tmp/test_mobileconfig.XXXXXX";

#define U1	"11111111-2222-4333-8444-555555555555"
#define U2	"AAAAAAAA-BBBB-4CCC-9DDD-EEEEEEEEEEEE"

static void
base(struct mobileconfig *mc)
{
	mobileconfig_defaults(mc);
	mc->url = "https://scep.example.org/cgi-bin/pkiclient.exe";
	mc->uuid_profile = U1;
	mc->uuid_payload = U2;
}

/* Build MC; the document (malloc'd) or NULL with err filled. */
static char *
build(const struct mobileconfig *mc, char *err, size_t errlen)
{
	char	*doc = NULL;
	size_t	 len = 0;

	if (!mobileconfig_build(mc, &doc, &len, err, errlen))
		return NULL;
	if (doc != NULL && strlen(doc) != len) {
		free(doc);
		return NULL;
	}
	return doc;
}

/* Remove tabs and newlines: compare structure without the indentation. */
static char *
flat(const char *doc)
{
	char	*s = malloc(strlen(doc) + 1), *o = s;

	if (s == NULL)
		return NULL;
	for (; *doc != '\0'; doc++)
		if (*doc != '\t' && *doc != '\n')
			*o++ = *doc;
	*o = '\0';
	return s;
}

static int
has(const char *doc, const char *needle)
{
	char	*f = flat(doc);
	int	 r = f != NULL && strstr(f, needle) != NULL;

	free(f);
	return r;
}

/* A string option that must be refused with err naming WHAT. */
static void
refused(const char *label, const char *bad, const char *what)
{
	struct mobileconfig	 mc;
	char			 err[512], *doc;

	base(&mc);
	mc.organization = bad;
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc == NULL && strstr(err, what) != NULL, "%s: %s", label, err);
	free(doc);
}

static void
test_defaults(void)
{
	static const char	 head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
	    "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n";
	struct mobileconfig	 mc;
	char			 err[512], *doc;

	base(&mc);
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc != NULL, "%s", err);
	if (doc == NULL)
		return;
	CHECK(strncmp(doc, head, strlen(head)) == 0);
	CHECK(strlen(doc) > 9 && strcmp(doc + strlen(doc) - 9, "</plist>\n") == 0);
	CHECK(has(doc, "<key>URL</key><string>https://scep.example.org/cgi-bin/"
	    "pkiclient.exe</string>"));
	CHECK(has(doc, "<key>Keysize</key><integer>2048</integer>"
	    "<key>Key Type</key><string>RSA</string>"
	    "<key>Key Usage</key><integer>5</integer>"));
	CHECK(has(doc, "<key>Retries</key><integer>3</integer>"
	    "<key>RetryDelay</key><integer>10</integer>"));
	CHECK(has(doc, "<key>PayloadType</key><string>com.apple.security.scep</string>"
	    "<key>PayloadUUID</key><string>" U2 "</string>"
	    "<key>PayloadVersion</key><integer>1</integer>"));
	CHECK(has(doc, "<key>PayloadType</key><string>Configuration</string>"
	    "<key>PayloadUUID</key><string>" U1 "</string>"
	    "<key>PayloadVersion</key><integer>1</integer></dict></plist>"));
	/* Profile -> PayloadContent array -> payload dict -> PayloadContent dict. */
	CHECK(has(doc, "<plist version=\"1.0\"><dict><key>PayloadContent</key><array><dict>"
	    "<key>PayloadContent</key><dict><key>URL</key>"));
	CHECK(has(doc, "<key>PayloadIdentifier</key><string>org.example.scep.scep</string>"));
	CHECK(has(doc, "<key>PayloadIdentifier</key><string>org.example.scep.scep.scep"
	    "</string>"));
	CHECK(has(doc, "<key>PayloadDisplayName</key><string>SCEP enrollment</string>"));
	/* Left out when not given. */
	CHECK(!has(doc, "<key>Challenge</key>"));
	CHECK(!has(doc, "<key>Subject</key>"));
	CHECK(!has(doc, "<key>SubjectAltName</key>"));
	CHECK(!has(doc, "<key>CAFingerprint</key>"));
	CHECK(!has(doc, "<key>Name</key>"));
	CHECK(!has(doc, "PayloadOrganization"));
	free(doc);
}

static void
test_escaping(void)
{
	struct mobileconfig	 mc;
	char			 err[512], *doc;

	base(&mc);
	mc.organization = "A&B<C>\"D'E &amp;";
	mc.name = "ca&1";
	mc.challenge = "p<w>&\"'";
	mc.display_name = "Z\xc3\xbcrich \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80";
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc != NULL, "%s", err);
	if (doc != NULL) {
		CHECK(has(doc, "<key>PayloadOrganization</key><string>A&amp;B&lt;C&gt;&quot;"
		    "D&apos;E &amp;amp;</string>"));
		CHECK(has(doc, "<key>Name</key><string>ca&amp;1</string>"));
		CHECK(has(doc, "<key>Challenge</key><string>p&lt;w&gt;&amp;&quot;&apos;"
		    "</string>"));
		/* UTF-8 passes through unchanged. */
		CHECK(has(doc, "<string>Z\xc3\xbcrich \xe6\x97\xa5\xe6\x9c\xac "
		    "\xf0\x9f\x98\x80</string>"));
		/* A name that is not a plain label stays out of the identifier. */
		CHECK(has(doc, "<string>org.example.scep.scep</string>"));
		CHECK(strchr(doc, '\'') == NULL);	/* every apostrophe escaped */
		free(doc);
	}

	refused("newline", "a\nb", "--organization");
	refused("tab", "a\tb", "control character");
	refused("carriage return", "a\rb", "control character");
	refused("escape", "a\x1b[0m", "control character");
	refused("DEL", "a\x7f", "control character");
	refused("C1 NEL", "a\xc2\x85", "control character");
	refused("invalid byte", "a\xff", "not valid UTF-8");
	refused("truncated sequence", "a\xc3", "not valid UTF-8");
	refused("overlong slash", "a\xc0\xaf", "not valid UTF-8");
	refused("overlong 3-byte", "a\xe0\x80\xaf", "not valid UTF-8");
	refused("surrogate", "a\xed\xa0\x80", "not valid UTF-8");
	refused("above U+10FFFF", "a\xf4\x90\x80\x80", "not valid UTF-8");
	refused("U+FFFE", "a\xef\xbf\xbe", "XML does not allow");
	refused("empty", "", "empty");
}

static void
test_long_string(void)
{
	struct mobileconfig	 mc;
	char			 err[512], *doc, *s;

	if ((s = malloc(MC_MAX_STRING + 2)) == NULL)
		return;
	memset(s, 'a', MC_MAX_STRING);
	s[MC_MAX_STRING] = '\0';
	base(&mc);
	mc.organization = s;
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc != NULL, "%s", err);
	free(doc);
	s[MC_MAX_STRING] = 'a';
	s[MC_MAX_STRING + 1] = '\0';
	doc = build(&mc, err, sizeof(err));
	CHECK(doc == NULL && strstr(err, "longer than") != NULL);
	free(doc);
	free(s);
}

static void
test_subject(void)
{
	struct mobileconfig	 mc;
	char			 err[512], *doc;

	base(&mc);
	mc.subject = "/C=US/ST=CA/L=Town/O=Example & Co/OU=IT/CN=%ComputerName%";
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc != NULL, "%s", err);
	if (doc != NULL) {
		CHECK(has(doc, "<key>Subject</key><array>"
		    "<array><array><string>C</string><string>US</string></array></array>"
		    "<array><array><string>ST</string><string>CA</string></array></array>"
		    "<array><array><string>L</string><string>Town</string></array></array>"
		    "<array><array><string>O</string><string>Example &amp; Co</string></array>"
		    "</array>"
		    "<array><array><string>OU</string><string>IT</string></array></array>"
		    "<array><array><string>CN</string><string>%ComputerName%</string></array>"
		    "</array></array>"));
		free(doc);
	}
	/* Types without an Apple short name become dotted OIDs; "\/" is a literal slash. */
	mc.subject = "/DC=org/DC=example/CN=a\\/b/emailAddress=x@example.org/"
	    "serialNumber=42";
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc != NULL, "%s", err);
	if (doc != NULL) {
		CHECK(has(doc, "<key>Subject</key><array>"
		    "<array><array><string>0.9.2342.19200300.100.1.25</string><string>org"
		    "</string></array></array>"
		    "<array><array><string>0.9.2342.19200300.100.1.25</string><string>example"
		    "</string></array></array>"
		    "<array><array><string>CN</string><string>a/b</string></array></array>"
		    "<array><array><string>1.2.840.113549.1.9.1</string><string>x@example.org"
		    "</string></array></array>"
		    "<array><array><string>2.5.4.5</string><string>42</string></array></array>"
		    "</array>"));
		free(doc);
	}
	mc.subject = "/CN=Gr\xc3\xbc\xc3\x9f";
	doc = build(&mc, err, sizeof(err));
	CHECK(doc != NULL && has(doc, "<string>CN</string><string>Gr\xc3\xbc\xc3\x9f"
	    "</string>"));
	free(doc);

	mc.subject = "CN=no-slash";
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc == NULL && strstr(err, "--subject") != NULL, "%s", err);
	free(doc);
	mc.subject = "/XX=unknown";
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc == NULL && strstr(err, "--subject") != NULL, "%s", err);
	free(doc);
	mc.subject = "/CN=";
	doc = build(&mc, err, sizeof(err));
	CHECK(doc == NULL);
	free(doc);
	mc.subject = "/CN=a\nb";
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc == NULL && strstr(err, "control character") != NULL, "%s", err);
	free(doc);
}

static void
test_san(void)
{
	static const char *const dns1[] = { "dev.example.org" };
	static const char *const dns2[] = { "a.example.org", "b<x>.example.org" };
	static const char *const mail[] = { "x@example.org" };
	static const char *const uri[] = { "urn:a", "https://x/?a=1&b=2", "urn:c" };
	static const char *const bad[] = { "ok", "bad\x01" };
	struct mobileconfig	 mc;
	char			 err[512], *doc;
	const char		*many[MC_MAX_SAN + 1];
	size_t			 i;

	base(&mc);
	mc.san_dns = dns1;
	mc.n_san_dns = 1;
	doc = build(&mc, err, sizeof(err));
	CHECK(doc != NULL && has(doc, "<key>SubjectAltName</key><dict><key>dNSName</key>"
	    "<string>dev.example.org</string></dict>"));
	free(doc);

	mc.san_dns = dns2;
	mc.n_san_dns = 2;
	mc.san_email = mail;
	mc.n_san_email = 1;
	mc.san_uri = uri;
	mc.n_san_uri = 3;
	mc.upn = "user@corp.example";
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc != NULL, "%s", err);
	if (doc != NULL) {
		CHECK(has(doc, "<key>SubjectAltName</key><dict>"
		    "<key>dNSName</key><array><string>a.example.org</string>"
		    "<string>b&lt;x&gt;.example.org</string></array>"
		    "<key>rfc822Name</key><string>x@example.org</string>"
		    "<key>uniformResourceIdentifier</key><array><string>urn:a</string>"
		    "<string>https://x/?a=1&amp;b=2</string><string>urn:c</string></array>"
		    "<key>ntPrincipalName</key><string>user@corp.example</string></dict>"));
		free(doc);
	}

	/* The UPN alone makes the dict. */
	base(&mc);
	mc.upn = "u@x";
	doc = build(&mc, err, sizeof(err));
	CHECK(doc != NULL && has(doc, "<key>SubjectAltName</key><dict><key>ntPrincipalName"
	    "</key><string>u@x</string></dict>"));
	free(doc);

	base(&mc);
	mc.san_dns = bad;
	mc.n_san_dns = 2;
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc == NULL && strstr(err, "--san-dns") != NULL, "%s", err);
	free(doc);

	for (i = 0; i < MC_MAX_SAN + 1; i++)
		many[i] = "x.example.org";
	base(&mc);
	mc.san_dns = many;
	mc.n_san_dns = MC_MAX_SAN;
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc != NULL, "%s", err);
	free(doc);
	mc.upn = "one@too.many";
	doc = build(&mc, err, sizeof(err));
	CHECK(doc == NULL && strstr(err, "subjectAltName") != NULL);
	free(doc);
	mc.upn = NULL;
	mc.n_san_dns = MC_MAX_SAN + 1;
	doc = build(&mc, err, sizeof(err));
	CHECK(doc == NULL);
	free(doc);
}

static void
test_fingerprint_bytes(void)
{
	struct mobileconfig	 mc;
	char			 err[512], *doc;
	size_t			 i;

	base(&mc);
	mc.has_fingerprint = 1;
	for (i = 0; i < MC_FINGERPRINT_LEN; i++)
		mc.fingerprint[i] = (unsigned char)i;
	doc = build(&mc, err, sizeof(err));
	/* base64 of 00 01 .. 13 */
	CHECK(doc != NULL && has(doc, "<key>CAFingerprint</key>"
	    "<data>AAECAwQFBgcICQoLDA0ODxAREhM=</data><key>Retries</key>"));
	free(doc);
	memset(mc.fingerprint, 0xff, sizeof(mc.fingerprint));
	doc = build(&mc, err, sizeof(err));
	CHECK(doc != NULL && has(doc, "<data>//////////////////////////8=</data>"));
	free(doc);
}

static void
test_options(void)
{
	struct mobileconfig	 mc;
	char			 err[512], *doc;

	base(&mc);
	mc.keysize = 4096;
	mc.key_usage = 1;
	mc.retries = 0;
	mc.retry_delay = 3600;
	mc.identifier = "com.example.Profiles-1";
	mc.display_name = "Wi-Fi cert";
	mc.name = "ca-1";
	doc = build(&mc, err, sizeof(err));
	CHECK_MSG(doc != NULL, "%s", err);
	if (doc != NULL) {
		CHECK(has(doc, "<key>Keysize</key><integer>4096</integer>"));
		CHECK(has(doc, "<key>Key Usage</key><integer>1</integer>"));
		CHECK(has(doc, "<key>Retries</key><integer>0</integer><key>RetryDelay</key>"
		    "<integer>3600</integer>"));
		CHECK(has(doc, "<key>PayloadIdentifier</key><string>com.example.Profiles-1"
		    "</string>"));
		CHECK(has(doc, "<key>PayloadIdentifier</key><string>com.example.Profiles-1.scep"
		    "</string>"));
		CHECK(has(doc, "<key>PayloadDisplayName</key><string>Wi-Fi cert</string>"));
		CHECK(has(doc, "<key>Name</key><string>ca-1</string>"));
		free(doc);
	}
#define REFUSE(field, value) do {						\
		base(&mc);							\
		mc.field = value;						\
		doc = build(&mc, err, sizeof(err));				\
		CHECK_MSG(doc == NULL && err[0] != '\0', #field " = " #value);	\
		free(doc);							\
	} while (0)
	REFUSE(keysize, 3000);
	REFUSE(keysize, 512);
	REFUSE(key_usage, 2);
	REFUSE(key_usage, 3);
	REFUSE(key_usage, 6);
	REFUSE(retries, -1);
	REFUSE(retries, MC_MAX_RETRIES + 1);
	REFUSE(retry_delay, -1);
	REFUSE(retry_delay, MC_MAX_RETRY_DELAY + 1);
	REFUSE(url, NULL);
	REFUSE(url, "ftp://x/scep");
	REFUSE(url, "scep.example.org/scep");
	REFUSE(url, "https://");
	REFUSE(url, "https:///path");
	REFUSE(url, "https://a b/");
	REFUSE(url, "https://a/\x01");
	REFUSE(identifier, "");
	REFUSE(identifier, "a..b");
	REFUSE(identifier, ".a");
	REFUSE(identifier, "a.");
	REFUSE(identifier, "a b");
	REFUSE(identifier, "a/b");
	REFUSE(identifier, "a<b");
#undef REFUSE
}

static void
test_identifier_default(void)
{
	static const struct {
		const char	*url, *name, *want;
	} t[] = {
		{ "https://scep.example.org/x", NULL, "org.example.scep.scep" },
		{ "HTTP://SCEP.Example.ORG:8080/x", "ca1", "org.example.scep.scep.ca1" },
		{ "https://user@host.example:443", NULL, "example.host.scep" },
		{ "https://localhost/cgi-bin/scep", "a.b", "localhost.scep" },
		{ "http://127.0.0.1:8080/scep", NULL, "local.scep" },
		{ "http://[::1]:8080/scep", NULL, "local.scep" },
		{ "http://bad_host.example/", NULL, "local.scep" },
	};
	struct mobileconfig	 mc;
	char			 err[512], *doc, want[300];
	size_t			 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		base(&mc);
		mc.url = t[i].url;
		mc.name = t[i].name;
		doc = build(&mc, err, sizeof(err));
		snprintf(want, sizeof(want), "<key>PayloadIdentifier</key><string>%s</string>"
		    "<key>PayloadType</key><string>Configuration", t[i].want);
		CHECK_MSG(doc != NULL && has(doc, want), "%s -> %s (%s)", t[i].url, t[i].want,
		    doc != NULL ? "wrong identifier" : err);
		snprintf(want, sizeof(want), "<key>PayloadIdentifier</key><string>%s.scep"
		    "</string>", t[i].want);
		CHECK_MSG(doc != NULL && has(doc, want), "payload identifier of %s", t[i].url);
		free(doc);
	}
}

static int
uuid_shape(const char *u)
{
	size_t	i;

	if (strlen(u) != MC_UUID_LEN || u[14] != '4' || strchr("89AB", u[19]) == NULL)
		return 0;
	for (i = 0; i < MC_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (u[i] != '-')
				return 0;
		} else if (strchr("0123456789ABCDEF", u[i]) == NULL)
			return 0;
	}
	return 1;
}

static void
test_uuid(void)
{
	struct mobileconfig	 mc;
	char			 a[MC_UUID_LEN + 1], b[MC_UUID_LEN + 1], err[512], *doc, *p;
	int			 i, ok = 1;

	for (i = 0; i < 200; i++) {
		ok &= mobileconfig_uuid(a) && uuid_shape(a);
		ok &= mobileconfig_uuid(b) && uuid_shape(b) && strcmp(a, b) != 0;
	}
	CHECK_MSG(ok, "%s %s", a, b);

	/* Random ones in the document: two different, both well-formed. */
	mobileconfig_defaults(&mc);
	mc.url = "https://x.example/scep";
	doc = build(&mc, err, sizeof(err));
	CHECK(doc != NULL);
	if (doc == NULL)
		return;
	p = strstr(doc, "<key>PayloadUUID</key>");
	CHECK(p != NULL && sscanf(p, "<key>PayloadUUID</key> <string>%36[^<]", a) == 1 &&
	    uuid_shape(a));
	p = p != NULL ? strstr(p + 1, "<key>PayloadUUID</key>") : NULL;
	CHECK(p != NULL && sscanf(p, "<key>PayloadUUID</key> <string>%36[^<]", b) == 1 &&
	    uuid_shape(b) && strcmp(a, b) != 0);
	free(doc);
}

/* A real CA: the fingerprint of its certificate, and a signed profile that verifies. */
static void
test_ca_sign(void)
{
	struct ca		*ca = NULL;
	struct mobileconfig	 mc;
	unsigned char		 fp[MC_FINGERPRINT_LEN], md[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned char		*cder = NULL;
	const unsigned char	*q;
	char			 err[512], *doc = NULL, b64[64];
	size_t			 len = 0, derlen = 0;
	unsigned int		 mdlen = 0;
	int			 clen;
	CMS_ContentInfo		*cms = NULL;
	X509_STORE		*store = NULL;
	BIO			*outb = NULL;
	BUF_MEM			*bm;

	CHECK_MSG(ca_init(root, "/CN=Profile Test CA/O=Example", 2048, 30, NULL, NULL, err, sizeof(err)),
	    "%s", err);
	CHECK_MSG((ca = ca_load(root, NULL, err, sizeof(err))) != NULL, "%s", err);
	if (ca == NULL)
		return;

	/* SHA-1 over the DER of the CA certificate, computed independently. */
	CHECK(mobileconfig_fingerprint(ca_cert(ca), fp));
	clen = i2d_X509(ca_cert(ca), &cder);
	CHECK(clen > 0 && EVP_Digest(cder, (size_t)clen, md, &mdlen, EVP_sha1(), NULL) &&
	    mdlen == MC_FINGERPRINT_LEN && memcmp(md, fp, MC_FINGERPRINT_LEN) == 0);
	OPENSSL_free(cder);
	CHECK(!mobileconfig_fingerprint(NULL, fp));

	base(&mc);
	mc.has_fingerprint = 1;
	memcpy(mc.fingerprint, fp, sizeof(fp));
	mc.challenge = "0123456789abcdef0123456789abcdef";
	CHECK(mobileconfig_build(&mc, &doc, &len, err, sizeof(err)));
	EVP_EncodeBlock((unsigned char *)b64, fp, MC_FINGERPRINT_LEN);
	CHECK(doc != NULL && strstr(doc, b64) != NULL);
	if (doc == NULL)
		goto out;

	CHECK_MSG(mobileconfig_sign(ca, doc, len, &der, &derlen, err, sizeof(err)), "%s", err);
	q = der;
	CHECK(der != NULL && (cms = d2i_CMS_ContentInfo(NULL, &q, (long)derlen)) != NULL &&
	    q == der + derlen);
	CHECK(cms != NULL && OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed);
	CHECK(cms != NULL && OBJ_obj2nid(CMS_get0_eContentType(cms)) == NID_pkcs7_data);
	if (cms != NULL) {
		CHECK(sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) == 1);
		store = X509_STORE_new();
		X509_STORE_add_cert(store, ca_cert(ca));
		outb = BIO_new(BIO_s_mem());
		CHECK(CMS_verify(cms, NULL, store, NULL, outb, CMS_BINARY) == 1);
		BIO_get_mem_ptr(outb, &bm);
		CHECK(bm != NULL && bm->length == len && memcmp(bm->data, doc, len) == 0);
	}
	/* RA mode: still signed by the CA key, and the RA certificate is not carried. */
	CMS_ContentInfo_free(cms);
	cms = NULL;
	OPENSSL_free(der);
	der = NULL;
	ca_free(ca);
	ca = NULL;
	CHECK_MSG(ca_init_ra(root, "/CN=Profile Test RA", 2048, 30, NULL, NULL, err, sizeof(err)), "%s", err);
	CHECK_MSG((ca = ca_load(root, NULL, err, sizeof(err))) != NULL, "%s", err);
	if (ca == NULL)
		goto out;
	CHECK(ca_scep_cert(ca) != ca_cert(ca));
	CHECK_MSG(mobileconfig_sign(ca, doc, len, &der, &derlen, err, sizeof(err)), "%s", err);
	q = der;
	CHECK(der != NULL && (cms = d2i_CMS_ContentInfo(NULL, &q, (long)derlen)) != NULL);
	if (cms != NULL) {
		STACK_OF(X509)	*signers, *certs;

		CHECK(CMS_verify(cms, NULL, store, NULL, NULL, CMS_BINARY) == 1);
		signers = CMS_get0_signers(cms);
		CHECK(sk_X509_num(signers) == 1 &&
		    X509_cmp(sk_X509_value(signers, 0), ca_cert(ca)) == 0);
		sk_X509_free(signers);
		certs = CMS_get1_certs(cms);
		CHECK(sk_X509_num(certs) == 1);
		sk_X509_pop_free(certs, X509_free);
	}
out:
	ERR_clear_error();
	BIO_free(outb);
	X509_STORE_free(store);
	CMS_ContentInfo_free(cms);
	OPENSSL_free(der);
	free(doc);
	ca_free(ca);
}

int
main(void)
{
	char	cmd[256];

	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_defaults();
	test_escaping();
	test_long_string();
	test_subject();
	test_san();
	test_fingerprint_bytes();
	test_options();
	test_identifier_default();
	test_uuid();
	test_ca_sign();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return unit_done("mobileconfig");
}
