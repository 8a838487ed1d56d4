/*
 * Unit tests of the repository checker (src/repo_check.c) on clean and damaged trees, with
 * and without repair.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repofix.h"
#include "unit.h"

/* The checker's reports, by code. */
static size_t
count(const struct repo_issue_report *rep, const char *what, int repaired)
{
	size_t	i, n = 0;

	for (i = 0; i < rep->n; i++)
		if (strcmp(rep->v[i].what, what) == 0 &&
		    (repaired == -1 || rep->v[i].repaired == repaired))
			n++;
	return n;
}

static void
dump(const char *label, const struct repo_issue_report *rep)
{
	size_t	i;

	if (getenv("TEST_VERBOSE") == NULL)
		return;
	for (i = 0; i < rep->n; i++)
		fprintf(stderr, "%s: %s: %s%s\n", label, rep->v[i].what, rep->v[i].detail,
		    rep->v[i].repaired ? " [repaired]" : "");
}

/* Drop the index.txt line of SERIAL. */
static int
drop_line(const char *root, const char *serial)
{
	char	*idx = slurp(root, "index.txt"), *p, *eol, pat[128];
	int	 ok = 0;

	snprintf(pat, sizeof(pat), "\t%s\tunknown\t", serial);
	if (idx == NULL || (p = strstr(idx, pat)) == NULL)
		goto out;
	while (p > idx && p[-1] != '\n')
		p--;
	if ((eol = strchr(p, '\n')) == NULL)
		goto out;
	memmove(p, eol + 1, strlen(eol + 1) + 1);
	ok = put(root, "index.txt", idx);
out:
	free(idx);
	return ok;
}

static void
test_check(void)
{
	char				 root[512], sn[8][80], id[8][REPO_ID_LEN + 1], path[MAX_PATH_LEN];
	char				 key[REPO_DNKEY_MAX + 1], name[200], *idx, *before;
	struct repo			*r;
	struct repo_issue_report	 rep;
	struct timespec			 old[2];
	unsigned char			*der = NULL;
	size_t				 len = 0;
	int				 i, n;

	if ((r = new_repo("check", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	memset(&rep, 0, sizeof(rep));
	CHECK(repo_check(r, 0, repo_issue_collect, &rep) == 0 && rep.n == 0);

	for (i = 0; i < 5; i++) {
		char	txid[16], cn[16];

		snprintf(txid, sizeof(txid), "chk-%d", i);
		snprintf(cn, sizeof(cn), "host%d", i % 2);
		CHECK(enroll(r, txid, cn, T2030, 0, sn[i], sizeof(sn[i]), id[i]));
	}
	CHECK(repo_lock(r));
	CHECK(repo_revoke(r, sn[1], 5, 1709528767));
	repo_unlock(r);
	/* An expired certificate: its DN entry is not a violation, repair prunes it. */
	CHECK(enroll(r, "chk-expired", "gone", T2024 + 10, 0, sn[5], sizeof(sn[5]), id[5]));
	CHECK(repo_check(r, 0, repo_issue_collect, &rep) == 0);
	dump("clean", &rep);
	CHECK_MSG(rep.n == 0, "%zu reports on a clean repository", rep.n);
	repo_issue_report_free(&rep);

	/* Damage. A crash right after the commit of an issue: approved, holding its cert. */
	CHECK(enroll(r, "chk-approved", "host7", T2030, 1, sn[6], sizeof(sn[6]), id[6]));
	CHECK(repo_find(r, id[6]) == RS_APPROVED);
	/* Young, it may be an issue under way: not reported. */
	CHECK(repo_check(r, 0, repo_issue_collect, &rep) == 0 && rep.n == 0);
	repo_issue_report_free(&rep);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 3600;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	snprintf(path, sizeof(path), "%s/approved/%s", root, id[6]);
	CHECK(utimensat(AT_FDCWD, path, old, 0) == 0);
	before = slurp(root, "index.txt");
	CHECK(put(root, "tmp/rec-AbC123", "half"));
	snprintf(path, sizeof(path), "%s/tmp/rec-AbC123", root);
	CHECK(utimensat(AT_FDCWD, path, old, 0) == 0);
	CHECK(put(root, ".tmp-Xy12Zq", "old temp"));
	snprintf(path, sizeof(path), "%s/.tmp-Xy12Zq", root);
	CHECK(utimensat(AT_FDCWD, path, old, 0) == 0);
	CHECK(put(root, "certs/.tmp-fresh1", "a writer at work"));	/* young: not stray */
	CHECK(put(root, "tmp/crt-fresh2", "a writer at work"));		/* young: not stray */
	CHECK(drop_line(root, sn[2]));						/* deleted line */
	idx = slurp(root, "index.txt");
	CHECK(idx != NULL);
	if (idx != NULL) {
		char	*more;

		CHECK(asprintf(&more, "%sV\t300101000000Z\t\t7F\tunknown\t/CN=ghost\n", idx) > 0);
		CHECK(put(root, "index.txt", more));				/* extra line */
		free(more);
		free(idx);
	}
	CHECK(repo_cert_by_serial(r, sn[3], &der, &len) && dnkey_of_der(der, len, key));
	free(der);
	snprintf(name, sizeof(name), "bydn/%.3s/%s.%s", key, key, sn[3]);
	snprintf(path, sizeof(path), "%s/%s", root, name);
	CHECK(unlink(path) == 0);						/* missing DN entry */
	snprintf(path, sizeof(path), "%s/revoked/%s", root, sn[1]);
	CHECK(unlink(path) == 0);						/* lost marker */
	snprintf(name, sizeof(name), "certs/%s.pem", sn[4]);
	idx = slurp(root, name);
	CHECK(idx != NULL && put(root, name, idx + 8 + REPO_ID_LEN));	/* lost record line */
	free(idx);
	snprintf(path, sizeof(path), "%s/certs/%s.pem", root, sn[0]);
	CHECK(unlink(path) == 0);						/* lost PEM */
	CHECK(repo_lock(r));
	CHECK(repo_dn_add(r, key, sn[1]));		/* a revoked cert in the DN index */
	repo_unlock(r);

	/* Check only: everything reported, nothing changed. */
	n = repo_check(r, 0, repo_issue_collect, &rep);
	dump("damaged", &rep);
	CHECK_MSG(n == (int)rep.unrepaired && n > 0, "check returned %d, %zu unrepaired", n,
	    rep.unrepaired);
	CHECK(count(&rep, "stray-temp", 0) == 2);
	CHECK(count(&rep, "cert-no-index", 0) == 1);
	CHECK(count(&rep, "index-no-cert", 0) == 1);
	CHECK(count(&rep, "dn-index", 0) == 2);		/* missing 04, revoked 02 present */
	CHECK(count(&rep, "approved-has-cert", 0) == 1);
	CHECK(count(&rep, "revoked-marker", 0) == 1);
	CHECK(count(&rep, "cert-owner", 0) == 1);
	CHECK(count(&rep, "issued-no-cert", 0) == 1);
	CHECK(count(&rep, "dn-expired", -1) == 0);
	CHECK_MSG(rep.n == 10, "%zu reports", rep.n);
	CHECK(exists(root, "tmp/rec-AbC123") && repo_find(r, id[6]) == RS_APPROVED);
	repo_issue_report_free(&rep);

	/*
	 * Repair: everything fixed, the expired DN entry pruned; the committed issue
	 * published (its certificate, index line and DN index entry follow).
	 */
	n = repo_check(r, 1, repo_issue_collect, &rep);
	dump("repair", &rep);
	CHECK_MSG(n == 0, "repair left %d", n);
	CHECK(rep.unrepaired == 0);
	CHECK(count(&rep, "dn-expired", 1) == 1);
	CHECK(count(&rep, "approved-has-cert", 1) == 1);
	CHECK(count(&rep, "cert-no-index", 1) == 2);	/* 03, and the published 07 */
	CHECK(count(&rep, "dn-index", 1) == 3);		/* and 07's */
	CHECK_MSG(rep.n == 13, "%zu reports", rep.n);
	repo_issue_report_free(&rep);
	CHECK(!exists(root, "tmp/rec-AbC123") && exists(root, "certs/.tmp-fresh1") &&
	    exists(root, "tmp/crt-fresh2"));
	CHECK(repo_find(r, id[6]) == RS_ISSUED);
	CHECK(file_is(root, "revoked/02", "240304050607Z,cessationOfOperation\n"));
	snprintf(name, sizeof(name), "certs/%s.pem", sn[0]);
	CHECK(exists(root, name));
	{
		char	got[REPO_ID_LEN + 1];

		CHECK(repo_record_by_serial(r, sn[4], got) && strcmp(got, id[4]) == 0);
		CHECK(repo_record_by_serial(r, sn[6], got) && strcmp(got, id[6]) == 0);
	}
	idx = slurp(root, "index.txt");
	CHECK_MSG(idx != NULL && strcmp(idx,
	    "V\t300101000000Z\t\t01\tunknown\t/CN=host0/O=Test\n"
	    "R\t300101000000Z\t240304050607Z,cessationOfOperation\t02\tunknown\t/CN=host1/O=Test\n"
	    "V\t300101000000Z\t\t03\tunknown\t/CN=host0/O=Test\n"
	    "V\t300101000000Z\t\t04\tunknown\t/CN=host1/O=Test\n"
	    "V\t300101000000Z\t\t05\tunknown\t/CN=host0/O=Test\n"
	    "V\t240101000010Z\t\t06\tunknown\t/CN=gone/O=Test\n"
	    "V\t300101000000Z\t\t07\tunknown\t/CN=host7/O=Test\n") == 0,
	    "index.txt is\n%s", idx ? idx : "(none)");
	/* The original lines survive unchanged. */
	CHECK(before != NULL && idx != NULL && strncmp(before, idx, strlen(before)) == 0);
	free(idx);
	free(before);
	CHECK(repo_check(r, 0, repo_issue_collect, &rep) == 0);
	dump("after", &rep);
	CHECK_MSG(rep.n == 0, "%zu reports after repair", rep.n);
	repo_issue_report_free(&rep);
	CHECK(repo_check(r, 1, NULL, NULL) == 0);
	repo_close(r);
}

/*
 * Every state an issue leaves between two steps of its protocol (repo-layout/README.md,
 * "Issuing a certificate"), made by hand as a crash leaves it: check --repair finishes
 * each (the record holds its certificate) or undoes it (it does not), and leaves a clean
 * repository.
 */
static void
test_check_crash_states(void)
{
	char				 root[512], sn[80], id[REPO_ID_LEN + 1], path[MAX_PATH_LEN];
	char				 name[300], key[REPO_DNKEY_MAX + 1], *text;
	struct repo			*r;
	struct repo_issue_report	 rep;
	struct timespec			 old[2];
	unsigned char			*der = NULL;
	size_t				 len;
	int				 step;

	memset(&rep, 0, sizeof(rep));
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 3600;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	/* 0: the DN index entry linked, the record not renamed in: undone. */
	/* 1: the record committed, nothing published: published. */
	/* 2: certs/ linked too: published. */
	/* 3: the index line appended too, the record still in approved/: published. */
	for (step = 0; step < 4; step++) {
		char	rname[32], txid[32];

		snprintf(rname, sizeof(rname), "crash-%d", step);
		snprintf(txid, sizeof(txid), "crash-tx-%d", step);
		if ((r = new_repo(rname, root, sizeof(root))) == NULL) {
			CHECK(0);
			return;
		}
		/* Issued in full, then taken back to the state of the step. */
		CHECK(enroll(r, txid, "crashed", T2030, 0, sn, sizeof(sn), id));
		CHECK(repo_cert_by_serial(r, sn, &der, &len) && dnkey_of_der(der, len, key));
		free(der);
		der = NULL;
		snprintf(name, sizeof(name), "issued/%s", id);
		snprintf(path, sizeof(path), "approved/%s", id);
		text = slurp(root, name);
		CHECK(text != NULL && put(root, path, text));
		snprintf(path, sizeof(path), "%s/%s", root, name);
		CHECK(unlink(path) == 0);
		if (step < 3)
			CHECK(drop_line(root, sn));
		if (step < 2) {
			snprintf(path, sizeof(path), "%s/certs/%s.pem", root, sn);
			CHECK(unlink(path) == 0);
		}
		if (step < 1) {
			snprintf(path, sizeof(path), "%s/approved/%s", root, id);
			CHECK(unlink(path) == 0);
		}
		free(text);
		snprintf(path, sizeof(path), "%s/approved/%s", root, id);
		(void)utimensat(AT_FDCWD, path, old, 0);
		CHECK_MSG(repo_check(r, 1, repo_issue_collect, &rep) == 0, "step %d", step);
		dump("crash", &rep);
		repo_issue_report_free(&rep);
		CHECK_MSG(repo_check(r, 0, repo_issue_collect, &rep) == 0 && rep.n == 0,
		    "step %d: %zu reports after repair", step, rep.n);
		repo_issue_report_free(&rep);
		snprintf(name, sizeof(name), "certs/%s.pem", sn);
		snprintf(path, sizeof(path), "bydn/%.3s/%s.%s", key, key, sn);
		if (step == 0)
			CHECK_MSG(repo_find(r, id) == RS_NONE && !exists(root, name) &&
			    !exists(root, path) && file_is(root, "index.txt", ""), "step 0");
		else
			CHECK_MSG(repo_find(r, id) == RS_ISSUED && exists(root, name) &&
			    exists(root, path), "step %d", step);
		repo_close(r);
	}
}

/* What the checker must not touch: reported, left alone, counted. */
static void
test_check_unsafe(void)
{
	char				 root[512], sn[4][80], id[4][REPO_ID_LEN + 1], path[MAX_PATH_LEN];
	char				 dst[MAX_PATH_LEN], name[200];
	struct repo			*r;
	struct repo_issue_report	 rep;
	int				 n;

	if ((r = new_repo("unsafe", root, sizeof(root))) == NULL) {
		CHECK(0);
		return;
	}
	memset(&rep, 0, sizeof(rep));
	for (n = 0; n < 3; n++) {
		char	txid[16];

		snprintf(txid, sizeof(txid), "uns-%d", n);
		CHECK(enroll(r, txid, "u", T2030, 0, sn[n], sizeof(sn[n]), id[n]));
	}
	CHECK(repo_lock(r));
	CHECK(repo_revoke(r, sn[2], 1, 1709528767));
	repo_unlock(r);
	/* One id in two states. */
	snprintf(name, sizeof(name), "rejected/%s", id[0]);
	snprintf(dst, sizeof(dst), "id=%s\n", id[0]);
	CHECK(put(root, name, dst));
	/* An unreadable record, and a record directory (an older layout). */
	snprintf(name, sizeof(name), "issued/%s", id[1]);
	CHECK(put(root, name, "id=nope\n"));
	snprintf(path, sizeof(path), "%s/pending/%064d", root, 0);
	CHECK(mkdir(path, 0750) == 0);
	/* A certificate file that does not parse, with its index line and DN entry. */
	CHECK(put(root, "certs/03.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n"));
	/* A stray name and a revoked line whose certificate is gone. */
	CHECK(put(root, "pending/README.md", "documentation is fine"));
	CHECK(put(root, "pending/notes.txt", "not a record"));
	{
		char	*idx = slurp(root, "index.txt"), *more = NULL;

		CHECK(idx != NULL && asprintf(&more, "%sR\t300101000000Z\t240101000000Z\t"
		    "0100\tunknown\t/CN=lost\n", idx) > 0 && put(root, "index.txt", more));
		free(idx);
		free(more);
	}
	CHECK(put(root, "revoked/0100", "240101000000Z\n"));

	n = repo_check(r, 1, repo_issue_collect, &rep);
	dump("unsafe", &rep);
	CHECK(count(&rep, "dup-state", 0) == 1);
	CHECK(count(&rep, "bad-record", 0) == 2);
	CHECK(count(&rep, "bad-cert", 0) == 1);
	CHECK(count(&rep, "bad-name", 0) == 1);
	CHECK(count(&rep, "index-no-cert", 0) == 1);
	CHECK(count(&rep, "cert-owner", 0) == 2);	/* 01 and 02: their records are */
	CHECK_MSG(n == 8 && rep.unrepaired == 8 && rep.n == 8, "returned %d, %zu reports", n,
	    rep.n);
	repo_issue_report_free(&rep);
	/* Left alone. */
	CHECK(exists(root, "certs/03.pem") && exists(root, "pending/notes.txt"));
	snprintf(path, sizeof(path), "rejected/%s", id[0]);
	CHECK(exists(root, path));
	{
		char	*idx = slurp(root, "index.txt");

		CHECK(idx != NULL && strstr(idx, "\t03\tunknown\t") != NULL &&
		    strstr(idx, "\t0100\tunknown\t/CN=lost\n") != NULL);
		free(idx);
	}
	CHECK(repo_is_revoked(r, "0100") == 1);
	repo_close(r);
}

int
main(void)
{
	if (!repofix_begin("test_repo_check"))
		return 1;
	test_check();
	test_check_crash_states();
	test_check_unsafe();
	repofix_end();
	return unit_done("repo_check");
}
