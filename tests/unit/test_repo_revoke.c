/*
 * Unit tests of revocation (src/repo_revoke.c), the list of revoked certificates checked
 * against `openssl ca -gencrl` over the same index.txt, and CRL numbers
 * (repo_crlnumber_next()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "repofix.h"
#include "unit.h"

/* Serials, dates and reasons of a CRL file, as OpenSSL reads them. */
static int
crl_entries(const char *path, struct revoked *out, size_t max, size_t *n)
{
	FILE			*f;
	X509_CRL		*crl = NULL;
	STACK_OF(X509_REVOKED)	*revs;
	X509_REVOKED		*rv;
	ASN1_ENUMERATED		*e;
	BIGNUM			*bn;
	char			*hex;
	struct tm		 tm;
	int			 i, crit;

	*n = 0;
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	if (crl == NULL)
		return 0;
	revs = X509_CRL_get_REVOKED(crl);
	for (i = 0; i < sk_X509_REVOKED_num(revs) && *n < max; i++) {
		rv = sk_X509_REVOKED_value(revs, i);
		bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(rv), NULL);
		hex = bn ? BN_bn2hex(bn) : NULL;
		snprintf(out[*n].serial, sizeof(out[*n].serial), "%s%s",
		    hex && strlen(hex) % 2 ? "0" : "", hex ? hex : "?");
		OPENSSL_free(hex);
		BN_free(bn);
		ASN1_TIME_to_tm(X509_REVOKED_get0_revocationDate(rv), &tm);
		out[*n].when = timegm(&tm);
		e = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, &crit, NULL);
		out[*n].reason = e ? (int)ASN1_ENUMERATED_get(e) : REPO_REASON_NONE;
		ASN1_ENUMERATED_free(e);
		(*n)++;
	}
	X509_CRL_free(crl);
	return 1;
}

/* Run `openssl ca -gencrl` over ROOT's index.txt; compare with repo_revoked_list(). */
static void
check_gencrl(struct repo *r, const char *root, size_t want_n)
{
	char		 cnf[MAX_PATH_LEN], cmd[4 * MAX_PATH_LEN], *text = NULL, *p;
	struct revoked	*list = NULL, crl[16];
	size_t		 n = 0, ncrl = 0, i, lines = 0;
	FILE		*f;

	snprintf(cnf, sizeof(cnf), "%s/ca.cnf", base);
	if ((f = fopen(cnf, "w")) == NULL) {
		CHECK(0);
		return;
	}
	fprintf(f, "[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\n"
	    "database = %s/index.txt\ncrlnumber = %s/crlnum\ncertificate = %s/ca.pem\n"
	    "private_key = %s/ca.key\ndefault_md = sha256\ndefault_crl_days = 1\n", root, base, base, base);
	fclose(f);
	CHECK(put(base, "crlnum", "01\n"));
	snprintf(cmd, sizeof(cmd), "openssl ca -config %s -gencrl -out %s/crl.pem "
	    "2>%s/gencrl.err && openssl crl -in %s/crl.pem -noout -text >%s/crl.txt",
	    cnf, base, base, base, base);
	CHECK_MSG(system(cmd) == 0, "%s (see %s/gencrl.err)", cmd, base);

	CHECK(repo_revoked_list(r, &list, &n));
	CHECK_MSG(n == want_n, "%zu revoked, want %zu", n, want_n);
	/* `openssl crl -text` lists the same serials ... */
	snprintf(cmd, sizeof(cmd), "crl.txt");
	text = slurp(base, cmd);
	CHECK(text != NULL);
	for (p = text; p != NULL && (p = strstr(p, "Serial Number: ")) != NULL; p++) {
		char	s[80];

		if (sscanf(p + 15, "%79s", s) == 1) {
			for (i = 0; i < n && strcmp(list[i].serial, s) != 0; i++)
				;
			CHECK_MSG(i < n, "CRL lists %s, repo_revoked_list() does not", s);
			lines++;
		}
	}
	CHECK_MSG(lines == n, "CRL text lists %zu serials, want %zu", lines, n);
	free(text);
	/* ... with the same dates and reasons. */
	CHECK(crl_entries(strcat(strcpy((char[MAX_PATH_LEN]){ 0 }, base), "/crl.pem"), crl,
	    16, &ncrl));
	CHECK(ncrl == n);
	for (i = 0; i < n && i < ncrl; i++) {
		size_t	j;

		for (j = 0; j < ncrl && strcmp(crl[j].serial, list[i].serial) != 0; j++)
			;
		CHECK_MSG(j < ncrl && crl[j].when == list[i].when &&
		    crl[j].reason == list[i].reason, "serial %s: date or reason differs",
		    list[i].serial);
	}
	repo_revoked_free(list);
}

static void
test_revoke(void)
{
	char		 root[512], sn[5][80], id[5][REPO_ID_LEN + 1], key[REPO_DNKEY_MAX + 1];
	char		 cmd[3 * MAX_PATH_LEN], *idx, **v = NULL;
	struct repo	*r;
	struct revoked	*list = NULL;
	unsigned char	*der = NULL;
	size_t		 len = 0, n = 0;
	int		 i;

	if ((r = new_repo("revoke", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	for (i = 0; i < 4; i++) {
		char	txid[16];

		snprintf(txid, sizeof(txid), "rev-%d", i);
		CHECK(enroll(r, txid, i < 3 ? "same" : "other", T2030, 0, sn[i], sizeof(sn[i]),
		    id[i]));
	}
	CHECK(repo_cert_by_serial(r, "01", &der, &len) && dnkey_of_der(der, len, key));
	free(der);
	CHECK(repo_dn_serials(r, key, &v, &n) && n == 3);
	strv_free(v, n);
	CHECK(repo_revoked_list(r, &list, &n) && n == 0 && list == NULL);

	CHECK(repo_lock(r));
	/* 2024-03-04T05:06:07Z */
	CHECK(repo_revoke(r, "01", 1, 1709528767));
	CHECK(repo_revoke(r, "2", REPO_REASON_NONE, 1709528768));
	CHECK(repo_revoke(r, "04", 8, 1709528769));
	errno = 0;
	CHECK(!repo_revoke(r, "01", 4, 1709528770) && errno == EALREADY);
	errno = 0;
	CHECK(!repo_revoke(r, "7F", 0, 1709528770) && errno == ENOENT);
	errno = 0;
	CHECK(!repo_revoke(r, "03", 7, 1709528770) && errno == EINVAL);	/* unused code */
	CHECK(!repo_revoke(r, "03", 9, 1709528770) && errno == EINVAL);	/* not in openssl ca */
	CHECK(!repo_revoke(r, "03", 0, 2524608000) && errno == EINVAL);	/* 2050: no UTCTime */
	CHECK(!repo_revoke(r, "../03", 0, 1709528770) && errno == EINVAL);
	repo_unlock(r);

	idx = slurp(root, "index.txt");
	CHECK_MSG(idx != NULL && strcmp(idx,
	    "R\t300101000000Z\t240304050607Z,keyCompromise\t01\tunknown\t/CN=same/O=Test\n"
	    "R\t300101000000Z\t240304050608Z\t02\tunknown\t/CN=same/O=Test\n"
	    "V\t300101000000Z\t\t03\tunknown\t/CN=same/O=Test\n"
	    "R\t300101000000Z\t240304050609Z,removeFromCRL\t04\tunknown\t/CN=other/O=Test\n")
	    == 0, "index.txt is\n%s", idx ? idx : "(none)");
	free(idx);
	CHECK(file_is(root, "revoked/01", "240304050607Z,keyCompromise\n"));
	CHECK(file_is(root, "revoked/02", "240304050608Z\n"));
	CHECK(repo_is_revoked(r, "01") == 1 && repo_is_revoked(r, "0002") == 1);
	CHECK(repo_is_revoked(r, "03") == 0 && repo_is_revoked(r, "../x") == -1);
	CHECK(repo_dn_serials(r, key, &v, &n) && n == 1 && strcmp(v[0], "03") == 0);
	strv_free(v, n);

	CHECK(repo_revoked_list(r, &list, &n) && n == 3);
	if (n == 3) {
		CHECK(strcmp(list[0].serial, "01") == 0 && list[0].when == 1709528767 &&
		    list[0].reason == 1);
		CHECK(strcmp(list[1].serial, "02") == 0 && list[1].when == 1709528768 &&
		    list[1].reason == REPO_REASON_NONE);
		CHECK(strcmp(list[2].serial, "04") == 0 && list[2].reason == 8);
	}
	repo_revoked_free(list);

	/* openssl ca reads our index.txt and lists the same revocations. */
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout %s/ca.key -out %s/ca.pem -subj /CN=CA "
	    "-days 2 2>/dev/null", base, base);
	CHECK(system(cmd) == 0);
	check_gencrl(r, root, 3);
	CHECK(repo_check(r, 0, NULL, NULL) == 0);

	/* Every reason openssl ca knows, including certificateHold. */
	CHECK(repo_lock(r));
	CHECK(repo_revoke(r, "03", 6, T2024));
	repo_unlock(r);
	check_gencrl(r, root, 4);
	for (i = -1; i <= 8; i++)
		CHECK((i == 7 || i == -1) ? repo_reason_name(i) == NULL :
		    repo_reason_from_name(repo_reason_name(i)) == i);
	CHECK(repo_reason_from_name("KEYCOMPROMISE") == 1);
	CHECK(repo_reason_from_name("privilegeWithdrawn") == -1);

	/* A marker without its R line (a crash inside repo_revoke) is still listed. */
	CHECK(enroll(r, "rev-9", "late", T2030, 0, sn[4], sizeof(sn[4]), id[4]));
	CHECK(put(root, "revoked/05", "240101000000Z,superseded\n"));
	CHECK(repo_revoked_list(r, &list, &n) && n == 5);
	CHECK(n == 5 && strcmp(list[4].serial, "05") == 0 && list[4].reason == 4 &&
	    list[4].when == T2024);
	repo_revoked_free(list);
	/* An unreadable R date fails the list (the CRL would be wrong). */
	idx = slurp(root, "index.txt");
	CHECK(put(root, "index.txt", "R\t300101000000Z\tyesterday\t01\tunknown\t/CN=x\n"));
	errno = 0;
	CHECK(!repo_revoked_list(r, &list, &n) && errno == EINVAL && list == NULL);
	CHECK(idx != NULL && put(root, "index.txt", idx));
	free(idx);
	repo_close(r);
}

static void
test_crlnumber(void)
{
	char		 root[512], out[80];
	struct repo	*r;

	if ((r = new_repo("crlnumber", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	CHECK(repo_lock(r));
	CHECK(repo_crlnumber_next(r, out, sizeof(out)) && strcmp(out, "01") == 0);
	CHECK(file_is(root, "crlnumber", "02\n"));
	CHECK(put(root, "crlnumber", "00\n"));	/* zero is a valid CRL number */
	CHECK(repo_crlnumber_next(r, out, sizeof(out)) && strcmp(out, "00") == 0);
	CHECK(put(root, "crlnumber", "ff"));
	CHECK(repo_crlnumber_next(r, out, sizeof(out)) && strcmp(out, "FF") == 0);
	CHECK(file_is(root, "crlnumber", "0100\n"));
	CHECK(unlink(strcat(strcpy((char[MAX_PATH_LEN]){ 0 }, root), "/crlnumber")) == 0);
	CHECK(repo_crlnumber_next(r, out, sizeof(out)) && strcmp(out, "01") == 0);
	CHECK(file_is(root, "crlnumber", "02\n"));
	CHECK(put(root, "crlnumber", "x1\n"));
	CHECK(!repo_crlnumber_next(r, out, sizeof(out)));
	CHECK(!repo_crlnumber_next(r, out, 2));
	repo_unlock(r);
	repo_close(r);
}

int
main(void)
{
	if (!repofix_begin("test_repo_revoke"))
		return 1;
	test_revoke();
	test_crlnumber();
	repofix_end();
	return unit_done("repo_revoke");
}
