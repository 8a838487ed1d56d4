/*
 * Issuing a certificate: the commit protocol of repo-layout/README.md ("Issuing a
 * certificate"), in three steps, each made durable before the next begins:
 *
 *   stage    no lock: the record with its certificate, and certs/<SERIAL>.pem's text, as
 *            new files in tmp/, their data synced together;
 *   commit   locked: the id checked, the DN index entry linked, the record renamed into
 *            approved/ (a record in approved/ holding a certificate is an issue decided
 *            and not yet published); then approved/ and the DN bucket synced;
 *   publish  certs/<SERIAL>.pem linked (an exclusive create: a serial is never used twice),
 *            then locked: the index.txt line appended and the record renamed into issued/;
 *            then certs/, index.txt, issued/ and approved/ synced, together.
 *
 * Only directory operations run under the lock, never a sync or a signature, so concurrent
 * issues overlap and their syncs go to the disk together. A crash leaves one of the states
 * the README lists, each of which repo_check() finishes or undoes.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repo_int.h"

/* certs/, index.txt (through IFD, or opened here when -1), issued/ and approved/ synced. */
static int
sync_published(struct repo *r, int ifd)
{
	struct sync_req	q[4];
	int		fd = ifd, ok;

	if (fd == -1 && (fd = openat(r->dfd[RD_ROOT], "index.txt", O_RDONLY | O_CLOEXEC)) == -1) {
		logx(LOG_LVL_ERR, "open %s/index.txt: %s", r->root, strerror(errno));
		return 0;
	}
	q[0].fd = r->dfd[RD_CERTS];
	q[1].fd = fd;
	q[2].fd = r->dfd[RD_ISSUED];
	q[3].fd = r->dfd[RD_APPROVED];
	q[0].data = q[2].data = q[3].data = 0;
	q[1].data = 1;
	ok = sync_logged(q, 4, "certs/, index.txt, issued/ and approved/");
	if (fd != ifd)
		(void)close(fd);
	return ok;
}

int
repo_sync_issued(struct repo *r)
{
	return sync_published(r, -1);
}

/* Write TEXT (LEN bytes) as a staged file and sync it; 1 ok, 0 error (nothing left). */
static int
stage_one(struct repo *r, const char *prefix, const char *text, size_t len,
    char name[STAGE_NAME_MAX])
{
	struct sync_req	q;
	int		ok;

	if ((q.fd = stage_file(r, prefix, text, len, name)) == -1) {
		name[0] = '\0';
		return 0;
	}
	q.data = 1;
	ok = sync_logged(&q, 1, "a staged certificate");
	(void)close(q.fd);
	if (!ok) {
		unstage(r, name);
		name[0] = '\0';
	}
	return ok;
}

/*
 * Publish the certificate CF of record ID, whose text PEM (LEN bytes) is staged as CRTNAME
 * (its data durable), the record being durable in approved/. SCAN: another process may
 * have come this far before (its index line may be there). 1 published (here or by another
 * process meanwhile), REPO_TAKEN when certs/<SERIAL>.pem is another certificate, 0 error.
 */
static int
publish(struct repo *r, const char *id, const struct repo_cert *cf, const char *pem,
    size_t len, const char *crtname, int scan)
{
	char		 name[MAX_SERIAL_HEX + 8], oid[REPO_ID_LEN + 1], *line = NULL;
	unsigned char	*old = NULL, *oder = NULL, *nder = NULL;
	size_t		 olen, odlen, ndlen;
	struct stat	 sb;
	int		 rc = 0, locked = 0, ifd = -1, have = 0, done = 0, saved;

	(void)snprintf(name, sizeof(name), "%s.pem", cf->serial);
	if (linkat(r->dfd[RD_TMP], crtname, r->dfd[RD_CERTS], name, 0) == -1) {
		if (errno != EEXIST) {
			logx(LOG_LVL_ERR, "link certs/%s: %s", name, strerror(errno));
			goto out;
		}
		/* There already: this certificate (published before), or a serial collision. */
		if (!read_file_at(r->dfd[RD_CERTS], name, &old, &olen, MAX_BLOB) ||
		    !cert_text_parse(old, olen, oid, &oder, &odlen) ||
		    !cert_text_parse((const unsigned char *)pem, len, oid, &nder, &ndlen) ||
		    odlen != ndlen || memcmp(oder, nder, odlen) != 0) {
			logx(LOG_LVL_ERR, "certs/%s holds another certificate: serial %s is "
			    "taken", name, cf->serial);
			rc = REPO_TAKEN;
			goto out;
		}
		scan = 1;
	}
	if ((line = index_line(cf)) == NULL) {
		errno = ENOMEM;
		goto out;
	}
	if (!repo_lock(r))
		goto out;
	locked = 1;
	if (fstatat(r->dfd[RD_APPROVED], id, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT || fstatat(r->dfd[RD_ISSUED], id, &sb,
		    AT_SYMLINK_NOFOLLOW) == -1) {
			logx(LOG_LVL_ERR, "publish %s: the record is neither approved nor issued",
			    id);
			errno = ENOENT;
			goto out;
		}
		done = 1;	/* published meanwhile by another process */
	}
	if (!done) {
		if (scan && (have = index_has_serial(r, cf->serial)) == -1)
			goto out;
		if (!have && !index_append(r, line, &ifd))
			goto out;
		if (renameat(r->dfd[RD_APPROVED], id, r->dfd[RD_ISSUED], id) == -1) {
			logx(LOG_LVL_ERR, "rename approved/%s issued/%s: %s", id, id,
			    strerror(errno));
			goto out;
		}
	}
	repo_unlock(r);
	locked = 0;
	rc = sync_published(r, ifd);
out:
	saved = errno;
	if (locked)
		repo_unlock(r);
	if (ifd != -1)
		(void)close(ifd);
	free(line);
	free(old);
	free(oder);
	free(nder);
	errno = saved;
	return rc;
}

/* REC as it is committed: its certificate's serial, updated now. */
static int
issued_text(const struct record *rec, const struct repo_cert *cf, char **text, size_t *len)
{
	struct record	tmp = *rec;
	time_t		now = time(NULL);

	tmp.serial = (char *)cf->serial;
	return record_text(&tmp, rec->created != 0 ? rec->created : now, now, text, len);
}

int
repo_issue(struct repo *r, const struct record *rec, const struct repo_cert *cf,
    enum rstate from, repo_gate_fn *gate, void *arg)
{
	char		 recname[STAGE_NAME_MAX], crtname[STAGE_NAME_MAX];
	char		 entry[REPO_DNKEY_MAX + MAX_SERIAL_HEX + 4];
	char		*text = NULL, *pem = NULL;
	size_t		 tlen = 0, plen = 0, nq = 0;
	struct sync_req	 q[3];
	struct stat	 sb;
	int		 rc = 0, locked = 0, bfd = -1, newbucket = 0, g, saved, ok;

	recname[0] = crtname[0] = '\0';
	if (rec == NULL || cf == NULL || !repo_id_valid(rec->id) || rec->cert_der == NULL ||
	    !serial_name_ok(cf->serial) || !repo_dnkey_valid(cf->dnkey) ||
	    cf->subject == NULL || !index_subject_ok(cf->subject) ||
	    !dn_entry_name(cf->dnkey, cf->serial, entry, sizeof(entry)) ||
	    (from != RS_NONE && from != RS_APPROVED)) {
		logx(LOG_LVL_ERR, "issue: invalid record, certificate or state");
		errno = EINVAL;
		return 0;
	}

	/* Stage: both files written, their data synced together. */
	if (!issued_text(rec, cf, &text, &tlen) ||
	    !cert_text(rec->id, rec->cert_der, rec->cert_len, &pem, &plen))
		goto out;
	q[0].fd = q[1].fd = -1;
	if ((q[0].fd = stage_file(r, STAGE_RECORD, text, tlen, recname)) == -1)
		recname[0] = '\0';
	else if ((q[1].fd = stage_file(r, STAGE_CERT, pem, plen, crtname)) == -1)
		crtname[0] = '\0';
	q[0].data = q[1].data = 1;
	ok = q[0].fd != -1 && q[1].fd != -1 &&
	    sync_logged(q, 2, "the staged record and certificate");
	if (q[0].fd != -1)
		(void)close(q[0].fd);
	if (q[1].fd != -1)
		(void)close(q[1].fd);
	if (!ok)
		goto out;

	/* Commit: under the lock, the DN index entry, then the record into approved/. */
	if (!repo_lock(r))
		goto out;
	locked = 1;
	if (from == RS_NONE) {
		if (find_once(r, rec->id) != RS_NONE) {
			errno = EEXIST;
			goto out;
		}
	} else if (fstatat(r->dfd[RD_APPROVED], rec->id, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    (unsigned long long)sb.st_ino != rec->fid) {
		errno = ESTALE;		/* moved, or given a certificate, since it was read */
		goto out;
	}
	if (gate != NULL && (g = gate(r, rec, arg)) != 1) {
		if (g == 0)
			rc = REPO_REFUSED;
		goto out;
	}
	if (!dn_link(r, r->dfd[RD_TMP], crtname, cf->dnkey, cf->serial, &bfd, &newbucket))
		goto out;
	if (renameat(r->dfd[RD_TMP], recname, r->dfd[RD_APPROVED], rec->id) == -1) {
		saved = errno;
		logx(LOG_LVL_ERR, "rename tmp/%s approved/%s: %s", recname, rec->id,
		    strerror(errno));
		(void)unlinkat(bfd, entry, 0);
		errno = saved;
		goto out;
	}
	recname[0] = '\0';
	repo_unlock(r);
	locked = 0;
	q[nq].fd = r->dfd[RD_APPROVED];
	q[nq++].data = 0;
	q[nq].fd = bfd;
	q[nq++].data = 0;
	if (newbucket) {
		q[nq].fd = r->dfd[RD_BYDN];
		q[nq++].data = 0;
	}
	if (!sync_logged(q, nq, "approved/ and bydn/"))
		goto out;

	rc = publish(r, rec->id, cf, pem, plen, crtname, 0);
out:
	saved = errno;
	if (locked)
		repo_unlock(r);
	if (bfd != -1)
		(void)close(bfd);
	unstage(r, recname);
	unstage(r, crtname);
	free(text);
	free(pem);
	errno = saved;
	return rc;
}

/*
 * The record in approved/ and the certificate it holds, with that certificate's facts and
 * certs/ text. 0 with errno ENOENT when ID is not in approved/, EINVAL when its record
 * holds no (readable) certificate or one that is not its serial.
 */
static int
committed(struct repo *r, const char *id, struct record **recp, struct repo_cert *cf,
    char **pem, size_t *plen)
{
	struct record	*rec;

	*recp = NULL;
	*pem = NULL;
	memset(cf, 0, sizeof(*cf));
	if ((rec = record_read(r, id, RS_APPROVED, 0)) == NULL)
		return 0;
	if (rec->cert_der == NULL || !cert_facts_der(rec->cert_der, rec->cert_len, cf) ||
	    (rec->serial != NULL && strcmp(rec->serial, cf->serial) != 0)) {
		logx(LOG_LVL_ERR, "record approved/%s holds no certificate of its serial", id);
		record_free(rec);
		repo_cert_facts_free(cf);
		errno = EINVAL;
		return 0;
	}
	if (!cert_text(id, rec->cert_der, rec->cert_len, pem, plen)) {
		record_free(rec);
		repo_cert_facts_free(cf);
		return 0;
	}
	*recp = rec;
	return 1;
}

/*
 * No lock around the staging and the DN index entry: the entry is an exclusive link, and
 * publish() takes the lock for the rest.
 */
int
repo_issue_finish(struct repo *r, const char *id)
{
	struct record		*rec = NULL;
	struct repo_cert	 cf;
	char			 crtname[STAGE_NAME_MAX], *pem = NULL;
	size_t			 plen;
	int			 rc = 0, bfd = -1, newbucket, rv, saved;

	crtname[0] = '\0';
	if (!repo_id_valid(id)) {
		errno = EINVAL;
		return 0;
	}
	if (!committed(r, id, &rec, &cf, &pem, &plen)) {
		if (errno == ENOENT && find_once(r, id) == RS_ISSUED)
			rc = repo_sync_issued(r);	/* finished by another process */
		goto out;
	}
	logx(LOG_LVL_WARN, "record %s: publishing certificate %s, committed before", id,
	    cf.serial);
	if (!stage_one(r, STAGE_CERT, pem, plen, crtname))
		goto out;
	if ((rv = repo_is_revoked(r, cf.serial)) == -1)
		goto out;
	if (rv == 0) {
		if (!dn_link(r, r->dfd[RD_TMP], crtname, cf.dnkey, cf.serial, &bfd, &newbucket))
			goto out;
		rv = dn_sync(r, bfd, newbucket);
		bfd = -1;
		if (!rv)
			goto out;
	}
	rc = publish(r, id, &cf, pem, plen, crtname, 1);
out:
	saved = errno;
	if (bfd != -1)
		(void)close(bfd);
	unstage(r, crtname);
	record_free(rec);
	repo_cert_facts_free(&cf);
	free(pem);
	errno = saved;
	return rc;
}

/*
 * Under the lock: the record is rewritten without its certificate and serial (staged and
 * synced, renamed over, approved/ synced), its DN index entry removed. Only when
 * certs/<SERIAL>.pem is not its certificate: a published certificate is never taken back.
 */
int
repo_issue_unwind(struct repo *r, const char *id)
{
	struct record		*rec = NULL, tmp;
	struct repo_cert	 cf;
	unsigned char		*der = NULL;
	char			*pem = NULL;
	size_t			 plen, dlen;
	int			 rc = 0, saved;

	memset(&cf, 0, sizeof(cf));
	if (!repo_id_valid(id)) {
		errno = EINVAL;
		return 0;
	}
	if (!repo_lock(r))
		return 0;
	if (!committed(r, id, &rec, &cf, &pem, &plen))
		goto out;
	if (repo_cert_by_serial(r, cf.serial, &der, &dlen)) {
		if (dlen == rec->cert_len && memcmp(der, rec->cert_der, dlen) == 0) {
			logx(LOG_LVL_ERR, "record %s: certificate %s is published; not unwound",
			    id, cf.serial);
			errno = EEXIST;
			goto out;
		}
	} else if (errno != ENOENT)
		goto out;
	/* The blobs the rewrite keeps: read them now. */
	record_free(rec);
	if ((rec = record_read(r, id, RS_APPROVED, 1)) == NULL)
		goto out;
	tmp = *rec;
	tmp.cert_der = NULL;
	tmp.cert_len = 0;
	tmp.serial = NULL;
	if (!record_rewrite(r, &tmp, RS_APPROVED, 1))
		goto out;
	logx(LOG_LVL_WARN, "record %s: certificate %s withdrawn before publication (its "
	    "serial is taken); it will be signed again", id, cf.serial);
	if (!repo_dn_remove(r, cf.dnkey, cf.serial))
		logx(LOG_LVL_WARN, "record %s: DN index entry of %s not removed; repo_check() "
		    "will", id, cf.serial);
	rc = 1;
out:
	saved = errno;
	repo_unlock(r);
	record_free(rec);
	repo_cert_facts_free(&cf);
	free(pem);
	free(der);
	errno = saved;
	return rc;
}
