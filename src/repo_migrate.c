/*
 * Converting a repository of the older layout, where a record was a directory (meta,
 * csr.der, signer.der, request.der, cert.der), certs/<SERIAL>.id named a certificate's
 * record and bydn/<dnkey>/<SERIAL> was the DN index, into the layout of
 * repo-layout/README.md. The records are converted here; the rest (the record line of
 * certs/<SERIAL>.pem, the DN index) is what repo_check() repairs.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo_int.h"

/* Where a record directory waits while its file replaces it: "<state>/.old-<id>". */
#define OLD_PREFIX	".old-"
#define OLD_NAME_MAX	(sizeof(OLD_PREFIX) + REPO_ID_LEN)

/* The blob files of an old record directory, in the order of struct record's blobs. */
static const char *const old_blobs[] = { "csr.der", "signer.der", "cert.der", "request.der" };

static unsigned char **
old_blob(struct record *rec, size_t i, size_t **len)
{
	switch (i) {
	case 0:
		*len = &rec->csr_len;
		return &rec->csr_der;
	case 1:
		*len = &rec->signer_len;
		return &rec->signer_der;
	case 2:
		*len = &rec->cert_len;
		return &rec->cert_der;
	default:
		*len = &rec->request_len;
		return &rec->request_der;
	}
}

/* The record ID of the directory DIR (its meta and blob files), loaded; NULL on error. */
static struct record *
old_record(const char *dir, const char *id)
{
	char		 path[MAX_PATH_LEN];
	unsigned char	*meta = NULL, **bp;
	struct record	*rec = NULL;
	size_t		 len, i, *blen;

	if (!path_join(path, sizeof(path), dir, "meta", NULL, NULL) ||
	    !get_file(path, &meta, &len, MAX_BLOB))
		goto bad;
	if ((rec = record_parse(id, (char *)meta, len, 0)) == NULL)
		goto bad;
	for (i = 0; i < sizeof(old_blobs) / sizeof(old_blobs[0]); i++) {
		bp = old_blob(rec, i, &blen);
		if (!path_join(path, sizeof(path), dir, old_blobs[i], NULL, NULL))
			goto bad;
		if (!get_file(path, bp, blen, MAX_BLOB) && errno != ENOENT)
			goto bad;
	}
	free(meta);
	return rec;
bad:
	free(meta);
	record_free(rec);
	return NULL;
}

/*
 * [locked] Replace the record directory OLD of state ST (its name in the state directory)
 * by the record file ID: the file staged and synced, the directory renamed away to
 * .old-<id> (unless it is that already), the file renamed to ID, the state directory
 * synced, the old directory removed. A crash leaves the directory as ID or as .old-<id>,
 * which the next run converts, or the file and a .old-<id> the next run removes.
 */
static int
convert(struct repo *r, enum rstate st, const char *old, const char *id)
{
	char		 dir[MAX_PATH_LEN], odir[MAX_PATH_LEN], oname[OLD_NAME_MAX];
	char		 name[STAGE_NAME_MAX], *text = NULL;
	struct record	*rec = NULL;
	struct sync_req	 q;
	size_t		 len;
	int		 rc = 0, fd = -1, dfd = r->dfd[st];

	name[0] = '\0';
	(void)snprintf(oname, sizeof(oname), "%s%s", OLD_PREFIX, id);
	if (!path_join(dir, sizeof(dir), r->root, state_dirs[st], NULL, NULL) ||
	    !path_join(odir, sizeof(odir), dir, old, NULL, NULL) ||
	    (rec = old_record(odir, id)) == NULL)
		goto out;
	if (rec->created == 0)
		rec->created = time(NULL);
	if (!record_text(rec, rec->created, rec->updated != 0 ? rec->updated : rec->created,
	    &text, &len) ||
	    (fd = stage_file(r, STAGE_RECORD, text, len, name)) == -1)
		goto out;
	q.fd = fd;
	q.data = 1;
	if (!sync_logged(&q, 1, "a converted record"))
		goto out;
	if (strcmp(old, oname) != 0) {
		if (renameat(dfd, old, dfd, oname) == -1) {
			logx(LOG_LVL_ERR, "rename %s/%s to %s: %s", dir, old, oname,
			    strerror(errno));
			goto out;
		}
		if (!path_join(odir, sizeof(odir), dir, oname, NULL, NULL))
			goto out;
	}
	if (renameat(r->dfd[RD_TMP], name, dfd, id) == -1) {
		logx(LOG_LVL_ERR, "rename tmp/%s to %s/%s: %s", name, dir, id, strerror(errno));
		goto out;
	}
	name[0] = '\0';
	q.fd = dfd;
	q.data = 0;
	if (!sync_logged(&q, 1, state_dirs[st]))
		goto out;
	drop_dir(odir);
	rc = 1;
out:
	if (fd != -1)
		(void)close(fd);
	unstage(r, name);
	free(text);
	record_free(rec);
	return rc;
}

/* [locked] The record directories of state ST converted; the number left, or -1. */
static int
migrate_state(struct repo *r, enum rstate st, repo_report_fn *report, void *arg)
{
	char		  dir[MAX_PATH_LEN], detail[MAX_PATH_LEN + 64], **v = NULL;
	const char	 *id;
	struct stat	  sb;
	size_t		  n, i;
	int		  left = 0, ok;

	if (!path_join(dir, sizeof(dir), r->root, state_dirs[st], NULL, NULL) ||
	    !list_dir(dir, NULL, &v, &n))
		return -1;
	for (i = 0; i < n; i++) {
		id = strncmp(v[i], OLD_PREFIX, sizeof(OLD_PREFIX) - 1) == 0 ?
		    v[i] + sizeof(OLD_PREFIX) - 1 : v[i];
		if (!repo_id_valid(id) ||
		    fstatat(r->dfd[st], v[i], &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISDIR(sb.st_mode))
			continue;
		if (id != v[i] && fstatat(r->dfd[st], id, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode)) {
			/* Converted by a run that stopped before removing the directory. */
			if (path_join(detail, sizeof(detail), dir, v[i], NULL, NULL))
				drop_dir(detail);
			continue;
		}
		ok = convert(r, st, v[i], id);
		(void)snprintf(detail, sizeof(detail), "%s/%s: record directory %s",
		    state_dirs[st], id, ok ? "converted to a record file" : "left as it was");
		if (report != NULL)
			report("migrate", detail, ok, arg);
		left += !ok;
	}
	strv_free(v, n);
	return left;
}

/* [locked] The certs/<SERIAL>.id files removed: the record line replaces them. */
static int
drop_id_files(struct repo *r)
{
	char		  dir[MAX_PATH_LEN], **v = NULL;
	size_t		  n, i, l;
	int		  rc = 1;

	if (!path_join(dir, sizeof(dir), r->root, "certs", NULL, NULL) ||
	    !list_dir(dir, NULL, &v, &n))
		return 0;
	for (i = 0; i < n; i++) {
		if ((l = strlen(v[i])) <= 3 || strcmp(v[i] + l - 3, ".id") != 0)
			continue;
		v[i][l - 3] = '\0';
		if (!serial_name_ok(v[i]))
			continue;
		v[i][l - 3] = '.';
		if (unlinkat(r->dfd[RD_CERTS], v[i], 0) == -1 && errno != ENOENT) {
			logx(LOG_LVL_ERR, "unlink %s/%s: %s", dir, v[i], strerror(errno));
			rc = 0;
		}
	}
	strv_free(v, n);
	return rc;
}

int
repo_migrate(struct repo *r, repo_report_fn *report, void *arg)
{
	int	st, n, left = 0;

	if (!repo_lock(r))
		return -1;
	for (st = 0; st < RS_COUNT; st++) {
		if ((n = migrate_state(r, (enum rstate)st, report, arg)) < 0) {
			repo_unlock(r);
			return -1;
		}
		left += n;
	}
	/* Once every record is a file, their certificates need no .id file. */
	if (left == 0 && !drop_id_files(r))
		left++;
	repo_unlock(r);
	if (left != 0)
		return left;
	return repo_check(r, 1, report, arg);
}
