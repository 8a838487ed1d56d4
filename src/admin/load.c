/*
 * What every scep-admin command starts from: the configuration and the repository, opened
 * as the user who owns the repository (least privilege), and `init --owner`.
 */
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "repo.h"
#include "admin.h"

/*
 * Least privilege: run as root, act as the user and group that own the repository, so
 * that every file written keeps the ownership the server (e.g. www-data) needs and the CA
 * key stays readable only by that user (and root). A root-owned or missing repository
 * leaves the process as it is. 1 ok, 0 the switch failed (then nothing may be done).
 */
static int
become_owner(const char *path, uid_t uid, gid_t gid)
{
	struct passwd	*pw;

	if (geteuid() != 0 || uid == 0)
		return 1;
	pw = getpwuid(uid);
	if ((pw != NULL ? initgroups(pw->pw_name, gid) : setgroups(0, NULL)) == -1 ||
	    setgid(gid) == -1 || setuid(uid) == -1 || setuid(0) != -1) {
		admin_warn("cannot switch to the owner (uid %lu) of %s: %s", (unsigned long)uid,
		    path, strerror(errno));
		return 0;
	}
	return 1;
}

struct config *
load_config(const char *conf)
{
	struct config	*cf;
	struct stat	 st;
	char		 err[1024];

	if ((cf = config_load(config_path(conf), err, sizeof(err))) == NULL) {
		admin_warn("%s", err);
		return NULL;
	}
	if (stat(cf->repository, &st) == 0 &&
	    !become_owner(cf->repository, st.st_uid, st.st_gid)) {
		config_free(cf);
		return NULL;
	}
	return cf;
}

/* init --owner USER[:GROUP]: make the repository root owned by USER and become USER. */
int
init_owner(const char *root, const char *owner)
{
	struct passwd	*pw;
	struct group	*gr;
	char		 user[256], *colon;
	gid_t		 gid;

	if (geteuid() != 0) {
		admin_warn("init: --owner needs root");
		return 0;
	}
	snprintf(user, sizeof(user), "%s", owner);
	if ((colon = strchr(user, ':')) != NULL)
		*colon++ = '\0';
	if ((pw = getpwnam(user)) == NULL) {
		admin_warn("init: --owner: no user %s", user);
		return 0;
	}
	gid = pw->pw_gid;
	if (colon != NULL) {
		if ((gr = getgrnam(colon)) == NULL) {
			admin_warn("init: --owner: no group %s", colon);
			return 0;
		}
		gid = gr->gr_gid;
	}
	if ((mkdir(root, 0750) == -1 && errno != EEXIST) || chown(root, pw->pw_uid, gid) == -1) {
		admin_warn("init: %s: %s", root, strerror(errno));
		return 0;
	}
	return become_owner(root, pw->pw_uid, gid);
}

struct repo *
open_repo(const struct config *cf)
{
	struct repo	*r;
	char		 err[1024];

	if ((r = repo_open(cf->repository, err, sizeof(err))) == NULL)
		admin_warn("%s", err[0] != '\0' ? err : "cannot open the repository");
	return r;
}
