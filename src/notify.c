/*
 * Notifications (notify.h): ScepNotifyCommand with the facts of an event.
 */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "command.h"
#include "config.h"
#include "notify.h"
#include "scep.h"

/* Audit event -> notified event: the server's decisions and the administrator's actions. */
static const struct {
	const char	*event;
	const char	*name;
} notified[] = {
	{ "pending", "pending" },
	{ "issued", "issued" },
	{ "issue", "issued" },
	{ "rejected", "rejected" },
	{ "reject", "rejected" },
	{ "revoke", "revoked" },
};

const char *
notify_name(const char *event)
{
	size_t	i;

	for (i = 0; event != NULL && i < sizeof(notified) / sizeof(notified[0]); i++)
		if (strcmp(event, notified[i].event) == 0)
			return notified[i].name;
	return NULL;
}

int
notify_event(const struct config *cf, const char *prog, const struct audit_event *ev,
    char *err, size_t errlen)
{
	struct command_env	 env;
	const char		*name = notify_name(ev->event);
	char			 what[128];
	int			 ok;

	if (cf->notify_command == NULL || name == NULL)
		return 1;
	command_env_init(&env);
	ok = command_env_add(&env, "SCEP_EVENT", name) &&
	    command_env_add(&env, "SCEP_RECORD_ID", ev->id) &&
	    command_env_add(&env, "SCEP_SERIAL", ev->serial) &&
	    command_env_add(&env, "SCEP_SUBJECT", ev->subject) &&
	    command_env_add(&env, "SCEP_CLIENT", ev->client) &&
	    command_env_add(&env, "SCEP_DETAIL", ev->detail) &&
	    command_env_add(&env, "SCEP_PROG", prog) &&
	    command_env_add(&env, "SCEP_REPOSITORY", cf->repository) &&
	    command_env_add(&env, "SCEP_CONF", cf->path);
	snprintf(what, sizeof(what), "ScepNotifyCommand (%s%s%.16s)", name,
	    ev->id != NULL ? " " : "", ev->id != NULL ? ev->id : "");
	if (!ok)
		errf(err, errlen, "%s: out of memory", what);
	else
		ok = command_spawn(cf->notify_command, &env, cf->notify_timeout, what, err,
		    errlen);
	command_env_free(&env);
	return ok;
}
