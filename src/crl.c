/*
 * crl: publish the CA's CRL into the repository. See crl.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca.h"
#include "crl.h"
#include "fileio.h"
#include "repo.h"
#include "scep.h"

int
crl_path(const struct repo *r, char *buf, size_t buflen)
{
	int	n;

	n = snprintf(buf, buflen, "%s/" CRL_FILE, repo_root(r));
	return n >= 0 && (size_t)n < buflen;
}

/* DER (PEM 0) or PEM (PEM 1) of the CRL or certificate into PUBDIR/NAME, atomically. */
static int
pub_write(const char *pubdir, const char *name, X509_CRL *crl, X509 *x, int pem, char *err,
    size_t errlen)
{
	BIO	*b = NULL;
	char	 path[MAX_PATH_LEN], *data;
	long	 len;
	int	 ok = 0, enc;

	if (snprintf(path, sizeof(path), "%s/%s", pubdir, name) >= (int)sizeof(path))
		return errf(err, errlen, "ScepPublishDir path too long");
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return errf(err, errlen, "out of memory");
	if (crl != NULL)
		enc = pem ? PEM_write_bio_X509_CRL(b, crl) : i2d_X509_CRL_bio(b, crl);
	else
		enc = pem ? PEM_write_bio_X509(b, x) : i2d_X509_bio(b, x);
	if (!enc || (len = BIO_get_mem_data(b, &data)) <= 0) {
		errf_crypto(err, errlen, "cannot encode %s", path);
		goto out;
	}
	if (!write_file(path, data, (size_t)len, 0644, err, errlen))
		goto out;
	ok = 1;
out:
	BIO_free(b);
	return ok;
}

int
crl_publish(struct repo *r, struct ca *ca, int days, const char *outfile,
    const char *pubdir, struct crl_info *info, char *err, size_t errlen)
{
	struct revoked		*list = NULL;
	struct crl_entry	*ents = NULL;
	X509_CRL		*crl = NULL;
	BIO			*b = NULL;
	struct tm		 tm;
	char			*pem;
	size_t			 n = 0, i;
	long			 len;
	int			 ok = 0;

	memset(info, 0, sizeof(*info));
	if (!crl_path(r, info->path, sizeof(info->path))) {
		errf(err, errlen, "repository path too long");
		goto out;
	}
	if (!repo_revoked_list(r, &list, &n)) {
		errf(err, errlen, "cannot list the revoked certificates%s", errno == EINVAL ?
		    " (index.txt has an unreadable date: run scep-admin check)" : "");
		goto out;
	}
	if (n > 0 && (ents = calloc(n, sizeof(*ents))) == NULL) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		ents[i].serial_hex = list[i].serial;
		ents[i].revoked_at = list[i].when;
		ents[i].reason = list[i].reason;
	}
	if (!repo_crlnumber_next(r, info->number, sizeof(info->number))) {
		errf(err, errlen, "cannot allocate a CRL number");
		goto out;
	}
	if ((crl = ca_make_crl(ca, ents, n, info->number, days, err, errlen)) == NULL)
		goto out;
	if ((b = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509_CRL(b, crl) ||
	    (len = BIO_get_mem_data(b, &pem)) <= 0) {
		errf(err, errlen, "cannot encode the CRL");
		goto out;
	}
	if (!write_file(info->path, pem, (size_t)len, 0644, err, errlen) ||
	    (outfile != NULL && !write_file(outfile, pem, (size_t)len, 0644, err, errlen)))
		goto out;
	/* The CA certificate first: a client that gets the new CRL finds its issuer. */
	if (pubdir != NULL &&
	    (!pub_write(pubdir, PUB_CA_DER, NULL, ca_cert(ca), 0, err, errlen) ||
	    !pub_write(pubdir, PUB_CA_PEM, NULL, ca_cert(ca), 1, err, errlen) ||
	    !pub_write(pubdir, PUB_CRL_DER, crl, NULL, 0, err, errlen) ||
	    !pub_write(pubdir, PUB_CRL_PEM, crl, NULL, 1, err, errlen)))
		goto out;
	if (ASN1_TIME_to_tm(X509_CRL_get0_nextUpdate(crl), &tm))
		info->next_update = timegm(&tm);
	info->entries = n;
	ok = 1;
out:
	BIO_free(b);
	X509_CRL_free(crl);
	free(ents);
	repo_revoked_free(list);
	return ok;
}
