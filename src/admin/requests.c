/*
 * scep-admin commands over the records: list, show, approve, reject, issue.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "ca.h"
#include "config.h"
#include "enroll.h"
#include "repo.h"
#include "scep.h"
#include "admin.h"

#define MIN_ID_PREFIX	8	/* hex digits `show` accepts instead of a whole id */
#define MAX_REASON	1024	/* bytes of a rejection reason */

/* -------------------------------------------------------------------- list */

struct collect {
	struct repo	 *r;
	struct record	**v;
	size_t		  n, cap;
	int		  failed;
};

static int
collect_one(const char *id, void *arg)
{
	struct collect	 *c = arg;
	struct record	 *rec, **nv;
	size_t		  ncap;

	if ((rec = repo_record_load(c->r, id, 0)) == NULL) {
		if (errno != ENOENT) {	/* gone meanwhile is not an error */
			admin_warn("record %s: cannot be read", id);
			c->failed = 1;
		}
		return 0;
	}
	if (c->n == c->cap) {
		ncap = c->cap ? c->cap * 2 : 64;
		if ((nv = reallocarray(c->v, ncap, sizeof(*nv))) == NULL) {
			record_free(rec);
			admin_warn("out of memory");
			c->failed = 1;
			return 1;
		}
		c->v = nv;
		c->cap = ncap;
	}
	c->v[c->n++] = rec;
	return 0;
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp((*(struct record *const *)a)->id, (*(struct record *const *)b)->id);
}

static int
cmp_created(const void *a, const void *b)
{
	const struct record	*x = *(struct record *const *)a, *y = *(struct record *const *)b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Records of state ST (every state if RS_NONE), each once, oldest first. */
static int
collect_records(struct repo *r, enum rstate st, struct collect *c)
{
	size_t	i, o;
	int	s;

	memset(c, 0, sizeof(*c));
	c->r = r;
	for (s = 0; s < RS_COUNT; s++) {
		if (st != RS_NONE && s != (int)st)
			continue;
		if (repo_foreach(r, (enum rstate)s, collect_one, c) != 0) {
			admin_warn("cannot read the %s records", rstate_name((enum rstate)s));
			c->failed = 1;
		}
	}
	/* A record that moved while we walked the directories is seen twice. */
	if (c->n > 1) {
		qsort(c->v, c->n, sizeof(*c->v), cmp_id);
		for (i = 1, o = 1; i < c->n; i++) {
			if (strcmp(c->v[i]->id, c->v[o - 1]->id) == 0)
				record_free(c->v[i]);
			else
				c->v[o++] = c->v[i];
		}
		c->n = o;
		qsort(c->v, c->n, sizeof(*c->v), cmp_created);
	}
	return !c->failed;
}

static void
collect_free(struct collect *c)
{
	size_t	i;

	for (i = 0; i < c->n; i++)
		record_free(c->v[i]);
	free(c->v);
}

static void
json_record(FILE *f, const struct record *rec)
{
	char	 t[32];
	char	*hex = NULL;

	fputs("{\"id\":", f);
	json_str(f, rec->id);
	fputs(",\"state\":", f);
	json_str(f, rstate_name(rec->state));
	fputs(",\"subject\":", f);
	json_str(f, rec->subject);
	fputs(",\"transaction_id\":", f);
	if (rec->txid != NULL)
		json_bytes(f, rec->txid, rec->txid_len);
	else
		fputs("null", f);
	fputs(",\"transaction_id_hex\":", f);
	if (rec->txid != NULL && (hex = malloc(rec->txid_len * 2 + 1)) != NULL)
		hex_encode(hex, rec->txid, rec->txid_len);
	json_str(f, hex);
	fputs(",\"serial\":", f);
	json_str(f, rec->serial);
	fputs(",\"created\":", f);
	iso_time(t, sizeof(t), rec->created);
	json_str(f, rec->created != 0 ? t : NULL);
	fputs(",\"updated\":", f);
	iso_time(t, sizeof(t), rec->updated);
	json_str(f, rec->updated != 0 ? t : NULL);
	fprintf(f, ",\"message_type\":%d,\"message_type_name\":", rec->msgtype);
	json_str(f, msgtype_name(rec->msgtype));
	fputs(",\"client\":", f);
	json_str(f, rec->client);
	fputs(",\"key_fp\":", f);
	json_str(f, rec->key_fp);
	fputs(",\"signer_fp\":", f);
	json_str(f, rec->signer_fp);
	fputs(",\"challenge\":", f);
	json_str(f, rec->challenge);
	fputs(",\"role\":", f);
	json_str(f, rec->role);
	fputs(",\"ra\":", f);
	json_str(f, rec->ra);
	fputs(",\"renewal_of\":", f);
	json_str(f, rec->renewal_of);
	fputs(",\"reason\":", f);
	json_str(f, rec->reason);
	fputc('}', f);
	free(hex);
}

int
cmd_list(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "state", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	struct collect	 c = { 0 };
	enum rstate	 st = RS_NONE;
	size_t		 i;
	int		 ch, json = 0, rc = EXIT_FAIL;

	while ((ch = admin_getopt(argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 's':
			if ((st = rstate_from_name(optarg)) == RS_NONE)
				return admin_usage("list: unknown state %s (pending, approved, "
				    "issued, rejected)", optarg);
			break;
		case 'j':
			json = 1;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return admin_usage("list: unexpected argument %s", argv[optind]);
	if ((cf = load_config(conf)) == NULL || (r = open_repo(cf)) == NULL)
		goto out;
	if (collect_records(r, st, &c))
		rc = EXIT_OK;
	if (json)
		fputc('[', stdout);
	for (i = 0; i < c.n; i++) {
		const struct record *rec = c.v[i];

		if (json) {
			fputs(i ? ",\n" : "\n", stdout);
			json_record(stdout, rec);
			continue;
		}
		printf("%s %s ", rec->id, rstate_name(rec->state));
		print_field(stdout, rec->serial, rec->serial ? strlen(rec->serial) : 0);
		fputc(' ', stdout);
		print_field(stdout, rec->subject, rec->subject ? strlen(rec->subject) : 0);
		fputc(' ', stdout);
		print_field(stdout, rec->txid, rec->txid_len);
		fputc(' ', stdout);
		print_field(stdout, rec->role, rec->role ? strlen(rec->role) : 0);
		fputc(' ', stdout);
		print_field(stdout, rec->ra, rec->ra ? strlen(rec->ra) : 0);
		fputc('\n', stdout);
	}
	if (json)
		fputs(c.n ? "\n]\n" : "]\n", stdout);
out:
	collect_free(&c);
	repo_close(r);
	config_free(cf);
	return rc;
}

/* -------------------------------------------------------------------- show */

struct prefix_match {
	const char	*prefix;
	size_t		 len;
	char		 id[REPO_ID_LEN + 1];
	int		 count;
};

static int
match_prefix(const char *id, void *arg)
{
	struct prefix_match	*m = arg;

	if (strncmp(id, m->prefix, m->len) == 0) {
		if (m->count == 0 || strcmp(id, m->id) != 0)
			m->count++;
		snprintf(m->id, sizeof(m->id), "%s", id);
	}
	return 0;
}

/* A whole id, or an unambiguous prefix of MIN_ID_PREFIX or more hex digits. */
static int
resolve_id(struct repo *r, const char *arg, char out[REPO_ID_LEN + 1])
{
	struct prefix_match	 m;
	char			 low[REPO_ID_LEN + 1];
	size_t			 i, len = strlen(arg);
	int			 s;

	if (len < MIN_ID_PREFIX || len > REPO_ID_LEN ||
	    strspn(arg, "0123456789abcdefABCDEF") != len) {
		admin_warn("%s: not a record id (64 hex digits, or at least %d for show)", arg,
		    MIN_ID_PREFIX);
		return 0;
	}
	for (i = 0; i <= len; i++)
		low[i] = (char)((arg[i] >= 'A' && arg[i] <= 'F') ? arg[i] - 'A' + 'a' : arg[i]);
	if (len == REPO_ID_LEN) {
		memcpy(out, low, sizeof(low));
		return 1;
	}
	memset(&m, 0, sizeof(m));
	m.prefix = low;
	m.len = len;
	for (s = 0; s < RS_COUNT; s++)
		if (repo_foreach(r, (enum rstate)s, match_prefix, &m) != 0)
			return 0;
	if (m.count == 0) {
		admin_warn("%s: no such record", arg);
		return 0;
	}
	if (m.count > 1) {
		admin_warn("%s: ambiguous, %d records match", arg, m.count);
		return 0;
	}
	memcpy(out, m.id, sizeof(m.id));
	return 1;
}

static void
print_cert_summary(FILE *f, X509 *x)
{
	char	*subj, *iss, serial[REPO_SERIAL_MAX + 2], t[32], fp[100];

	subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
	iss = X509_NAME_oneline(X509_get_issuer_name(x), NULL, 0);
	fputs("cert_subject: ", f);
	print_field(f, subj, subj ? strlen(subj) : 0);
	fputs("\ncert_issuer: ", f);
	print_field(f, iss, iss ? strlen(iss) : 0);
	fprintf(f, "\ncert_serial: %s\n", cert_serial(x, serial, sizeof(serial)));
	asn1_iso_time(t, sizeof(t), X509_get0_notBefore(x));
	fprintf(f, "cert_not_before: %s\n", t);
	asn1_iso_time(t, sizeof(t), X509_get0_notAfter(x));
	fprintf(f, "cert_not_after: %s\n", t);
	cert_fingerprint(x, fp, sizeof(fp));
	fprintf(f, "cert_sha256: %s\n", fp);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
}

int
cmd_show(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = { { NULL, 0, NULL, 0 } };
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	struct record	*rec = NULL;
	X509		*x = NULL;
	char		 id[REPO_ID_LEN + 1];
	int		 rc = EXIT_FAIL;

	if (admin_getopt(argc, argv, "", lo) != -1)
		return EXIT_USAGE;
	if (argc - optind != 1)
		return admin_usage("show: exactly one ID");
	if ((cf = load_config(conf)) == NULL || (r = open_repo(cf)) == NULL)
		goto out;
	if (!resolve_id(r, argv[optind], id))
		goto out;
	if ((rec = repo_record_load(r, id, 1)) == NULL) {
		admin_warn("%s: no such record or unreadable", id);
		goto out;
	}
	record_print(rec, stdout);
	/* record_print() leaves unset fields out; role and ra are always shown. */
	if (rec->role == NULL)
		printf("role: -\n");
	if (rec->ra == NULL)
		printf("ra: -\n");
	if (rec->state == RS_ISSUED) {
		if ((x = enroll_issued_cert(r, id)) == NULL) {
			admin_warn("%s: the issued certificate cannot be read", id);
			goto out;
		}
		print_cert_summary(stdout, x);
		if (rec->serial != NULL)
			printf("cert_revoked: %s\n", repo_is_revoked(r, rec->serial) == 1 ?
			    "yes" : "no");
	}
	rc = EXIT_OK;
out:
	X509_free(x);
	record_free(rec);
	repo_close(r);
	config_free(cf);
	return rc;
}

/* ------------------------------------------------------- approve, reject */

/*
 * Under the lock: move ID from whichever of FROM[] it is in to TO, then record REASON
 * (if any) and the time of the decision in its meta.
 */
static int
decide(struct repo *r, const char *id, const enum rstate *from, size_t nfrom, enum rstate to,
    const char *reason)
{
	struct record	*rec = NULL;
	enum rstate	 st;
	char		 want[64];
	size_t		 i, o;
	int		 ok = 0, locked = 0;

	if (!repo_id_valid(id)) {
		admin_warn("%s: not a record id (64 lowercase hex digits)", id);
		goto out;
	}
	if (!repo_lock(r)) {
		admin_warn("%s: cannot lock the repository", id);
		goto out;
	}
	locked = 1;
	st = repo_find(r, id);
	for (i = 0; i < nfrom; i++)
		if (st == from[i])
			break;
	if (i == nfrom) {
		if (st == RS_NONE) {
			admin_warn("%s: no such record", id);
			goto out;
		}
		for (i = 0, o = 0; i < nfrom && o < sizeof(want); i++)
			o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%s",
			    i ? " or " : "", rstate_name(from[i]));
		admin_warn("%s: is %s, not %s", id, rstate_name(st), want);
		goto out;
	}
	if ((rec = repo_record_load(r, id, 0)) == NULL) {
		admin_warn("%s: cannot be read", id);
		goto out;
	}
	if (!repo_move(r, id, st, to)) {
		admin_warn("%s: cannot move %s -> %s", id, rstate_name(st), rstate_name(to));
		goto out;
	}
	if (reason != NULL) {
		free(rec->reason);
		if ((rec->reason = strdup(reason)) == NULL) {
			admin_warn("%s: out of memory", id);
			goto out;
		}
	}
	rec->state = to;
	if (!repo_record_update(r, rec)) {
		admin_warn("%s: now %s, but its record could not be updated", id,
		    rstate_name(to));
		goto out;
	}
	printf("%s %s\n", id, rstate_name(to));
	ok = 1;
out:
	if (locked)
		repo_unlock(r);
	record_free(rec);
	return ok;
}

/* decide() for each ID in ARGV[OPTIND..]: EXIT_OK if every one moved. */
static int
decide_all(int argc, char **argv, const char *conf, const enum rstate *from, size_t nfrom,
    enum rstate to, const char *reason)
{
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	int		 i, rc = EXIT_FAIL, failed = 0;

	if ((cf = load_config(conf)) == NULL || (r = open_repo(cf)) == NULL)
		goto out;
	for (i = optind; i < argc; i++)
		if (!decide(r, argv[i], from, nfrom, to, reason))
			failed = 1;
	rc = failed ? EXIT_FAIL : EXIT_OK;
out:
	repo_close(r);
	config_free(cf);
	return rc;
}

int
cmd_approve(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = { { NULL, 0, NULL, 0 } };
	static const enum rstate from[] = { RS_PENDING };

	if (admin_getopt(argc, argv, "", lo) != -1)
		return EXIT_USAGE;
	if (optind == argc)
		return admin_usage("approve: at least one ID");
	return decide_all(argc, argv, conf, from, 1, RS_APPROVED, NULL);
}

int
cmd_reject(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	static const enum rstate from[] = { RS_PENDING, RS_APPROVED };
	const char	*reason = NULL;
	int		 c;

	while ((c = admin_getopt(argc, argv, "", lo)) != -1) {
		if (c != 'r')
			return EXIT_USAGE;
		reason = optarg;
		if (reason[0] == '\0' || strlen(reason) > MAX_REASON)
			return admin_usage("reject: --reason must be 1..1024 bytes");
	}
	if (optind == argc)
		return admin_usage("reject: at least one ID");
	return decide_all(argc, argv, conf, from, 2, RS_REJECTED, reason);
}

/* -------------------------------------------------------------------- issue */

struct idlist {
	char	**v;
	size_t	  n, cap;
};

static int
collect_id(const char *id, void *arg)
{
	struct idlist	 *l = arg;
	char		**nv;
	size_t		  ncap;

	if (l->n == l->cap) {
		ncap = l->cap ? l->cap * 2 : 64;
		if ((nv = reallocarray(l->v, ncap, sizeof(*nv))) == NULL)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	if ((l->v[l->n] = strdup(id)) == NULL)
		return -1;
	l->n++;
	return 0;
}

static int
issue_one(struct repo *r, struct ca *ca, const struct config *cf, const char *id)
{
	X509	*x = NULL;
	char	 err[1024], serial[REPO_SERIAL_MAX + 2];
	int	 ok = 0;

	if (!repo_id_valid(id)) {
		admin_warn("%s: not a record id (64 lowercase hex digits)", id);
		goto out;
	}
	/* 0 error, -1 refused by policy (the record is then rejected). */
	if (enroll_issue(r, ca, cf, id, &x, err, sizeof(err)) != 1) {
		admin_warn("issue: %s", err);	/* err names the record */
		goto out;
	}
	printf("%s %s\n", id, cert_serial(x, serial, sizeof(serial)));
	ok = 1;
out:
	X509_free(x);
	return ok;
}

int
cmd_issue(int argc, char **argv, const char *conf)
{
	static const struct option lo[] = { { NULL, 0, NULL, 0 } };
	struct config	*cf = NULL;
	struct repo	*r = NULL;
	struct ca	*ca = NULL;
	struct idlist	 l = { 0 };
	char		 err[1024];
	size_t		 i;
	int		 rc = EXIT_FAIL, failed = 0;

	if (admin_getopt(argc, argv, "", lo) != -1)
		return EXIT_USAGE;
	if ((cf = load_config(conf)) == NULL || (r = open_repo(cf)) == NULL)
		goto out;
	if ((ca = ca_load(cf->repository, &cf->keysrc, err, sizeof(err))) == NULL) {
		admin_warn("issue: %s", err);
		goto out;
	}
	if (optind == argc) {
		if (repo_foreach(r, RS_APPROVED, collect_id, &l) != 0) {
			admin_warn("issue: cannot list the approved records");
			goto out;
		}
		for (i = 0; i < l.n; i++)
			if (!issue_one(r, ca, cf, l.v[i]))
				failed = 1;
	} else {
		for (i = (size_t)optind; i < (size_t)argc; i++)
			if (!issue_one(r, ca, cf, argv[i]))
				failed = 1;
	}
	rc = failed ? EXIT_FAIL : EXIT_OK;
out:
	for (i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	ca_free(ca);
	repo_close(r);
	config_free(cf);
	return rc;
}
