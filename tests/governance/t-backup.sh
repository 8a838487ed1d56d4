#!/bin/bash
# scep-admin backup DIR through the real programs: copies taken while enrollments run (the
# server as plain CGI, one process per request, as a web server starts them) pass `check`
# and `audit --verify`; a copy restored in place of a repository serves again, its serials
# continuing; an existing DIR is refused.
# Prints one PASS/FAIL line per check and "backup: N passed, M failed".
set -u
SUITE=backup
. "$(dirname "$0")/lib.sh"
MKCA_TITLE="Backup Test CA"
N=${BACKUP_N:-30}

mkca live "ScepAutoApproveEnrollment = YES"
LIVE_C=$C LIVE_R=$R
( for ((i = 1; i <= N; i++)); do enroll "load$i" secret123; done ) &
loader=$!
# wait_issued K: until K certificates are issued (or the load has ended).
wait_issued() {
	while [ "$(ls "$R/issued" | wc -l)" -lt "$1" ] && kill -0 "$loader" 2>/dev/null; do
		sleep 0.2
	done
}
wait_issued $((N / 3))
out1=$("$ADMIN" -c "$C" backup "$T/b1" 2>&1); rc1=$?
wait_issued $((2 * N / 3))
out2=$("$ADMIN" -c "$C" backup "$T/b2" 2>&1); rc2=$?
wait "$loader"
issued_live=$(ls "$R/issued" | wc -l)
issued_b1=$(ls "$T/b1/issued" 2>/dev/null | wc -l)
issued_b2=$(ls "$T/b2/issued" 2>/dev/null | wc -l)
check "backup during load: exit 0, the copy passes check ($issued_b1 of $N issued then)" \
    bash -c "[ $rc1 = 0 ] && grep -qx 'check: clean' <<<'$out1'"
check "a second backup during load: exit 0, clean ($issued_b2 issued then)" \
    bash -c "[ $rc2 = 0 ] && grep -qx 'check: clean' <<<'$out2'"
check "all $N enrollments were issued meanwhile" test "$issued_live" = "$N"
check "the copies' index.txt has one line per issued record" \
    bash -c "[ \$(wc -l <'$T/b1/index.txt') = $issued_b1 ] && [ \$(wc -l <'$T/b2/index.txt') = $issued_b2 ]"
check "backup prints the audit chain of the copy" grep -q '^audit: [0-9]* entries, chain intact' <<<"$out2"
check "the copy is only the owner's (0700) and holds the CA" \
    bash -c "[ \$(stat -c %a '$T/b2') = 700 ] && cmp -s '$T/b2/ca/ca.pem' '$R/ca/ca.pem' && [ -e '$T/b2/ca/ca.key' ]"
check "a backup is an audited action" \
    bash -c "'$ADMIN' -c '$C' audit | grep -qP '\tevent=command\t.*detail=backup $T/b1 \(exit 0\)'"
"$ADMIN" -c "$C" backup "$T/b1" >/dev/null 2>"$T/exists.err"; rc=$?
check "an existing DIR is refused (exit 1)" bash -c "[ $rc = 1 ] && grep -q 'does not exist yet' '$T/exists.err'"

# Restore: the copy put where a repository is, the configuration pointing at it.
cp -a "$T/b2" "$T/restored"
chmod 0750 "$T/restored"
sed "s|^ScepRepository = .*|ScepRepository = $T/restored|" "$LIVE_C" >"$T/restored.conf"
C=$T/restored.conf R=$T/restored CA=$T/restored/ca/ca.pem
check "restored: check is clean" "$ADMIN" -c "$C" check
check "restored: audit --verify" bash -c "'$ADMIN' -c '$C' audit --verify >/dev/null"
enroll after secret123
serial=$(openssl x509 -in "$T/after.crt" -noout -serial 2>/dev/null | sed 's/serial=//')
check "restored: enrollment works, a serial the copy had not used ($serial)" \
    bash -c "grep -q status=0 '$T/after.read' && [ -n '$serial' ] && [ ! -e '$T/b2/certs/$serial.pem' ]"
check "restored: check still clean after it" "$ADMIN" -c "$C" check

summary
