/*
 * Notifications: ScepNotifyCommand run in the background (command_spawn()) when a request
 * goes pending, is issued or rejected, or a certificate is revoked. The program gets the
 * facts in its environment:
 *   SCEP_EVENT       pending, issued, rejected or revoked
 *   SCEP_RECORD_ID   the record id (not for revoked)
 *   SCEP_SERIAL      the certificate serial (issued, revoked)
 *   SCEP_SUBJECT     the subject DN (OpenSSL oneline form), when known
 *   SCEP_CLIENT      the requester's address (server decisions)
 *   SCEP_DETAIL      the reason or other facts (the audit entry's detail)
 *   SCEP_PROG        scep or scep-admin
 *   SCEP_REPOSITORY  the repository root;  SCEP_CONF  the configuration file
 * It never delays an answer by more than two fork(2)s and never fails the action: a
 * program that cannot start, exits non-zero or outlives ScepNotifyTimeout is logged by
 * its supervisor.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stddef.h>

struct audit_event;
struct config;

/* Whether EVENT (an audit event name) is one that is notified, and under which name. */
const char	*notify_name(const char *event);

/*
 * Start ScepNotifyCommand for EV (its event mapped by notify_name()), if configured and
 * the event is notified. 1 started or nothing to do, 0 not started (ERR says why).
 */
int		 notify_event(const struct config *, const char *prog,
		    const struct audit_event *ev, char *err, size_t errlen);

#endif
