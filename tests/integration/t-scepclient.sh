#!/bin/bash
# micromdm scepclient (Debian package "scep") against a running SCEP server:
#   - wrong challenge: exit 1, failInfo badRequest, repository unchanged
#   - no challenge: PENDING; approved with scep-admin while scepclient keeps resending
#     (every 30 s, not configurable) -> cert issued (needs ~35 s; IT_SCEPCLIENT_PENDING=0 skips)
#   - valid challenge (auto-approval on): cert at once, verifies against the CA
#   - the same request again (same key, same CSR, same transactionID): the same cert
#     comes back, no second certificate is issued
#
# scepclient uses POST (caps), SHA-1, single DES (needs the server's legacy provider).
# Run alone: SCEP_URL=... SCEP_CHALLENGE=... SCEP_CONF=... SCEP_REPO=... t-scepclient.sh
set -u
. "$(dirname "$0")/lib.sh"
it_need_env
it_client_dir scepclient
D=$IT_OUT
BG=""
trap '[ -n "$BG" ] && it_kill_wait $BG' EXIT

# enroll DIR CN [scepclient args]: run scepclient with a fresh key dir; rc in RC.
enroll() {
	local dir=$D/$1 cn=$2; shift 2
	mkdir -p "$dir"
	timeout 120 scepclient -server-url "$SCEP_URL" -private-key "$dir/key.pem" \
		-certificate "$dir/cert.pem" -cn "$cn" -organization "Example" -debug "$@" \
		>"$dir/out.log" 2>&1
	RC=$?
}

# ---- wrong challenge: FAILURE badRequest, nothing written
it_snapshot >"$D/snap.before"
cn=$(it_uniq sc-wrong)
enroll wrong "$cn" -challenge "not-$SCEP_CHALLENGE"
it_snapshot >"$D/snap.after"
if [ "$RC" = 1 ] && grep -q 'badRequest' "$D/wrong/out.log" && [ ! -s "$D/wrong/cert.pem" ]; then
	pass "scepclient wrong challenge: exit 1, failInfo badRequest"
else
	fail "scepclient wrong challenge: exit 1, failInfo badRequest" "rc=$RC"; it_show "$D/wrong/out.log"
fi
if cmp -s "$D/snap.before" "$D/snap.after"; then pass "scepclient wrong challenge: repository unchanged"
else fail "scepclient wrong challenge: repository unchanged" "$(diff "$D/snap.before" "$D/snap.after" | head -5 | tr '\n' ' ')"; fi

# ---- no challenge: PENDING, approve, scepclient's own resend picks the cert up
PENDING=${IT_SCEPCLIENT_PENDING:-1}
if [ "$PENDING" = 1 ]; then
	pcn=$(it_uniq sc-pending)
	mkdir -p "$D/pending"
	scepclient -server-url "$SCEP_URL" -private-key "$D/pending/key.pem" \
		-certificate "$D/pending/cert.pem" -cn "$pcn" -organization "Example" -debug \
		>"$D/pending/out.log" 2>&1 &
	BG=$!
	pstart=$(date +%s)
	it_wait 30 it_has_record pending "$pcn"
	id=$(it_find_record pending "$pcn")
	if [ -n "$id" ] && it_alive "$BG"; then
		pass "scepclient without challenge: record pending, client still polling"
	else
		fail "scepclient without challenge: record pending, client still polling" "id='$id'"
		it_show "$D/pending/out.log"
	fi
	if [ -n "$id" ] && it_admin approve "$id" >"$D/pending/approve.log" 2>&1; then
		pass "scep-admin approve $id"
	else
		fail "scep-admin approve" "id='$id'"; it_show "$D/pending/approve.log"
	fi
fi

# ---- valid challenge: issued at once
cn=$(it_uniq sc-ok)
enroll ok "$cn" -challenge "$SCEP_CHALLENGE"
if [ "$RC" = 0 ] && it_verify "$D/ok/cert.pem"; then
	pass "scepclient with challenge: cert issued, verifies against ca.pem"
else
	fail "scepclient with challenge: cert issued, verifies against ca.pem" "rc=$RC"; it_show "$D/ok/out.log"
fi
if openssl x509 -in "$D/ok/cert.pem" -noout -subject 2>/dev/null | grep -q "CN *= *$cn"; then
	pass "scepclient cert subject has CN=$cn"
else
	fail "scepclient cert subject has CN=$cn" "$(openssl x509 -in "$D/ok/cert.pem" -noout -subject 2>&1)"
fi
# the certificate is filed in the repository (certs/<serial>.pem)
fp=$(openssl x509 -in "$D/ok/cert.pem" -noout -fingerprint -sha256 2>/dev/null)
found=""
for f in "$SCEP_REPO"/certs/*.pem; do
	[ -f "$f" ] || continue
	[ "$(openssl x509 -in "$f" -noout -fingerprint -sha256 2>/dev/null)" = "$fp" ] && found=$f && break
done
[ -n "$found" ] && pass "issued cert filed as certs/$(basename "$found")" ||
	fail "issued cert filed in certs/" "no certs/*.pem with $fp"
if [ -n "$(it_find_record issued "$cn")" ]; then pass "scep-admin list --state issued shows $cn"
else fail "scep-admin list --state issued shows $cn"; it_admin list >&2; fi

# ---- same request again (same key, csr.pem reused, same transactionID): same cert
if [ -s "$D/ok/cert.pem" ]; then
	cp "$D/ok/cert.pem" "$D/ok/first.pem"; rm -f "$D/ok/cert.pem"
	timeout 120 scepclient -server-url "$SCEP_URL" -private-key "$D/ok/key.pem" \
		-certificate "$D/ok/cert.pem" -cn "$cn" -organization "Example" -challenge "$SCEP_CHALLENGE" \
		-debug >"$D/ok/again.log" 2>&1
	RC=$?
	s1=$(openssl x509 -in "$D/ok/first.pem" -noout -serial 2>/dev/null)
	s2=$(openssl x509 -in "$D/ok/cert.pem" -noout -serial 2>/dev/null)
	if [ "$RC" = 0 ] && [ -n "$s1" ] && [ "$s1" = "$s2" ]; then
		pass "repeated PKCSReq (same transactionID): same certificate returned"
	else
		fail "repeated PKCSReq (same transactionID): same certificate returned" "rc=$RC '$s1' vs '$s2'"
		it_show "$D/ok/again.log"
	fi
	n=$(it_admin list 2>/dev/null | grep -cF -- "$cn")
	[ "$n" = 1 ] && pass "repeated PKCSReq: still one record for $cn" ||
		fail "repeated PKCSReq: still one record for $cn" "$n records"
fi

# ---- collect the pending client
if [ "$PENDING" = 1 ] && [ -n "$BG" ]; then
	left=$(( pstart + 75 - $(date +%s) ))
	[ "$left" -lt 5 ] && left=5
	for _ in $(seq $((left * 2))); do it_alive "$BG" || break; sleep 0.5; done
	if it_alive "$BG"; then
		fail "pending scepclient finished after approval" "still running after 75 s"
		it_kill_wait "$BG"; RC=124
	else
		wait "$BG"; RC=$?
	fi
	BG=""
	if [ "$RC" = 0 ] && it_verify "$D/pending/cert.pem"; then
		pass "pending scepclient got its cert after approval ($(( $(date +%s) - pstart )) s), verifies"
	else
		fail "pending scepclient got its cert after approval" "rc=$RC"; it_show "$D/pending/out.log"
	fi
	[ -n "$(it_find_record issued "$pcn")" ] && pass "approved record is now issued" ||
		fail "approved record is now issued"
fi

it_summary scepclient
