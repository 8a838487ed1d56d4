#!/bin/bash
# ScepNotifyCommand through the real programs: the server (plain CGI, requests built by
# build/scepreq) and scep-admin start it on pending, issued, rejected and revoked with the
# facts in its environment (and nothing of the caller's); the answer never waits for it,
# a failing or hanging program neither fails nor delays the request, and is logged; the
# shipped mail example (scripts/scep-notify-mail) hands a mail to a sendmail.
# Prints one PASS/FAIL line per check and "notify: N passed, M failed".
set -u
SUITE=notify
. "$(dirname "$0")/lib.sh"
MKCA_TITLE="Notify Test CA"

# The program under test: one file per event with its whole environment and arguments;
# it also writes to standard output, which must never reach an HTTP response.
mkdir -p "$T/events"
cat >"$T/record" <<EOS
#!/bin/sh
f=$T/events/\$SCEP_EVENT.\$\$
{ echo "args=\$*"; env; } >"\$f.tmp" && mv "\$f.tmp" "\$f.env"
echo "NOT-FOR-THE-CLIENT"
EOS
printf '#!/bin/sh\nexit 3\n' >"$T/prog-failing"
printf '#!/bin/sh\nsleep 30\n' >"$T/prog-hanging"
chmod +x "$T/record" "$T/prog-failing" "$T/prog-hanging"

# event_env EVENT: the environment file of EVENT once the program wrote it (waits 20 s).
event_env() {
	local i f
	for ((i = 0; i < 200; i++)); do
		f=$(ls "$T/events/$1".*.env 2>/dev/null | head -n 1)
		[ -n "$f" ] && { echo "$f"; return 0; }
		sleep 0.1
	done
	return 1
}
has() { grep -qxF -- "$2" "$1"; }

mkca pend "ScepAutoApproveEnrollment = NO" "ScepNotifyCommand = $T/record --tag  two"
enroll host1 secret123
id1=$(idof host1)
check "the reply is a CertRep, untouched by the program's output" \
    bash -c "grep -q 'status=3' '$T/host1.read' && ! grep -q NOT-FOR-THE-CLIENT '$T/host1.raw'"
f=$(event_env pending)
check "pending: the program ran with its arguments (argv, no shell)" has "$f" "args=--tag two"
check "pending: SCEP_EVENT, SCEP_RECORD_ID, SCEP_SUBJECT, SCEP_CLIENT, SCEP_PROG" \
    bash -c "grep -qx SCEP_EVENT=pending '$f' && grep -qx SCEP_RECORD_ID=$id1 '$f' &&
        grep -qx 'SCEP_SUBJECT=/CN=host1/O=Test' '$f' && grep -qx SCEP_CLIENT=192.0.2.9 '$f' &&
        grep -qx SCEP_PROG=scep '$f' && grep -qx 'SCEP_REPOSITORY=$R' '$f' && grep -qx 'SCEP_CONF=$C' '$f'"
check "pending: nothing of the caller's environment (no HTTP_*, no SCEP_CONF from CGI)" \
    bash -c "! grep -q -e HTTP_X_EVIL -e REQUEST_METHOD -e ASAN_OPTIONS '$f'"
"$ADMIN" -c "$C" approve "$id1" >/dev/null 2>>"$T/admin.log"
serial=$("$ADMIN" -c "$C" issue "$id1" 2>>"$T/admin.log" | awk '{ print $2 }')
f=$(event_env issued)
check "issued (scep-admin issue): serial, record, subject, SCEP_PROG=scep-admin" \
    bash -c "grep -qx SCEP_SERIAL=$serial '$f' && grep -qx SCEP_RECORD_ID=$id1 '$f' &&
        grep -qx 'SCEP_SUBJECT=/CN=host1/O=Test' '$f' && grep -qx SCEP_PROG=scep-admin '$f'"
check "approve is not notified" bash -c "! ls '$T/events' | grep -q approve"
enroll host2 secret123
"$ADMIN" -c "$C" reject --reason "unknown host" "$(idof host2)" >/dev/null 2>>"$T/admin.log"
f=$(event_env rejected)
check "rejected: the record and the reason" \
    bash -c "grep -qx SCEP_RECORD_ID=$(idof host2) '$f' && grep -qx 'SCEP_DETAIL=unknown host' '$f'"
"$ADMIN" -c "$C" revoke --reason superseded "$serial" >/dev/null 2>>"$T/admin.log"
f=$(event_env revoked)
check "revoked: the serial and the reason" \
    bash -c "grep -qx SCEP_SERIAL=$serial '$f' && grep -qx SCEP_DETAIL=superseded '$f'"

rm -f "$T"/events/*
mkca auto "ScepAutoApproveEnrollment = YES" "ScepNotifyCommand = $T/record"
enroll host3 secret123
f=$(event_env issued)
check "issued by the server at once: the serial of the certificate returned" \
    bash -c "grep -q status=0 '$T/host3.read' &&
        grep -qx SCEP_SERIAL=$(openssl x509 -in "$T/host3.crt" -noout -serial | sed 's/serial=//') '$f'"
enroll host4 wrong-secret
sleep 1
check "a refused request: FAILURE, no event" \
    bash -c "grep -q status=2 '$T/host4.read' && [ \$(ls '$T/events' | wc -l) = 1 ]"

mkca failing "ScepAutoApproveEnrollment = YES" "ScepNotifyCommand = $T/prog-failing"
: >"$T/server.log"
enroll host5 secret123
check "a failing program: the certificate is issued all the same" grep -q status=0 "$T/host5.read"
sleep 2
check "a failing program: its exit status is logged" \
    grep -q "ScepNotifyCommand (issued [0-9a-f]*): exit status 3" "$T/server.log"

mkca hanging "ScepAutoApproveEnrollment = YES" "ScepNotifyCommand = $T/prog-hanging" \
    "ScepNotifyTimeout = 2"
: >"$T/server.log"
enroll host6 secret123
check "a hanging program: the certificate is issued without waiting for it (${SECS}s)" \
    bash -c "grep -q status=0 '$T/host6.read' && [ $SECS -lt 10 ]"
for ((i = 0; i < 100; i++)); do grep -q "killed after" "$T/server.log" && break; sleep 0.1; done
check "a hanging program is killed at ScepNotifyTimeout and logged" \
    grep -q "ScepNotifyCommand (issued [0-9a-f]*): killed after [0-9]* ms (limit 2 s)" "$T/server.log"
check "... and nothing of it is left running" bash -c "! pgrep -f '$T/[p]rog-hanging' >/dev/null"

mkca missing "ScepAutoApproveEnrollment = YES" "ScepNotifyCommand = $T/no-such-program"
: >"$T/server.log"
enroll host7 secret123
sleep 1
check "a program that does not exist: issued, and logged" \
    bash -c "grep -q status=0 '$T/host7.read' && grep -q 'no-such-program: cannot run' '$T/server.log'"

# The shipped mail example, with a sendmail that keeps the message.
printf '#!/bin/sh\necho "argv: $*" >%s/mail.txt\ncat >>%s/mail.txt\n' "$T" "$T" >"$T/sendmail"
chmod +x "$T/sendmail"
cp "$top/scripts/scep-notify-mail" "$T/scep-notify-mail"
mkca mail "ScepAutoApproveEnrollment = NO" \
    "ScepNotifyCommand = $T/scep-notify-mail -s $T/sendmail pki@example.org ops@example.org"
enroll host8 secret123
for ((i = 0; i < 100; i++)); do [ -s "$T/mail.txt" ] && break; sleep 0.1; done
check "scep-notify-mail: a mail to both recipients, through sendmail -t -oi" \
    bash -c "grep -qx 'argv: -t -oi' '$T/mail.txt' && grep -qx 'To: pki@example.org, ops@example.org' '$T/mail.txt'"
check "scep-notify-mail: subject and body name the event, the subject DN and the approve command" \
    bash -c "grep -q '^Subject: \[SCEP .*\] pending /CN=host8/O=Test' '$T/mail.txt' &&
        grep -q 'waits for approval: scep-admin approve $(idof host8)' '$T/mail.txt'"

summary
