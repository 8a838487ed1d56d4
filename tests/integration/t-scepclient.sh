#!/bin/bash
# micromdm scepclient (Debian package "scep") against a running SCEP server:
#   - wrong challenge: exit 1, failInfo badRequest, repository unchanged
#   - no challenge: PENDING; approved with scep-admin while scepclient keeps resending
#     (every 30 s, not configurable) -> cert issued (needs ~35 s; IT_SCEPCLIENT_PENDING=0 skips)
#   - valid challenge (auto-approval on): cert at once, verifies against the CA
#   - the same request again (same key, same CSR, same transactionID): the same cert
#     comes back, no second certificate is issued
# Renewal: scepclient run again with its existing -certificate sends a RenewalReq (17)
# signed by that certificate, same key, same transactionID:
#   - ScepAutoApprove = YES (IT_AUTO): issued at once, a new serial, recorded as a renewal
#     of the old one; run once more (signed by the renewed cert) it is refused, as a third
#     valid certificate for the subject would exist; a revoked certificate cannot renew
#   - ScepAutoApprove = NO (IT_MANUAL, with IT_SCEPCLIENT_PENDING): PENDING, scepclient
#     resends every 30 s, scep-admin approve, collected (runs alongside the other cases)
#
# scepclient uses POST (caps), SHA-1, single DES (needs the server's legacy provider).
# Run alone: SCEP_URL=... SCEP_CHALLENGE=... SCEP_CONF=... SCEP_REPO=... t-scepclient.sh
# (IT_MANUAL_URL/CONF/REPO: a second server whose renewals wait for approval)
set -u
. "$(dirname "$0")/lib.sh"
it_need_env
it_client_dir scepclient
D=$IT_OUT
BG="" RBG=""
trap 'for p in $BG $RBG; do it_kill_wait "$p"; done' EXIT
PENDING=${IT_SCEPCLIENT_PENDING:-1}

# keys 51.. of the run's pool (IT_KEYPOOL), if there is one; else scepclient makes them
NEXTKEY=50
scdir() {
	mkdir -p "$1"
	if [ ! -e "$1/key.pem" ] && [ -n "${IT_KEYPOOL:-}" ]; then
		NEXTKEY=$((NEXTKEY + 1)); it_key "$1/key.pem" "$NEXTKEY"
	fi
}
# sc DIR CN [scepclient args]: run scepclient with the key and cert of DIR; rc in RC.
sc() {
	local dir=$D/$1 cn=$2; shift 2
	scdir "$dir"
	timeout 120 scepclient -server-url "$SCEP_URL" -private-key "$dir/key.pem" \
		-certificate "$dir/cert.pem" -cn "$cn" -organization "Example" -debug "$@" \
		>>"$dir/out.log" 2>&1
	RC=$?
}
# sc_bg DIR CN: the same in the background, pid in $!
sc_bg() {
	local dir=$D/$1 cn=$2
	scdir "$dir"
	scepclient -server-url "$SCEP_URL" -private-key "$dir/key.pem" -certificate "$dir/cert.pem" \
		-cn "$cn" -organization "Example" -debug >>"$dir/out.log" 2>&1 &
}
# wait_bg PID START: wait up to 75 s after START for PID; rc in RC
wait_bg() {
	local left=$(( $2 + 75 - $(date +%s) ))
	[ "$left" -lt 5 ] && left=5
	for _ in $(seq $((left * 2))); do it_alive "$1" || break; sleep 0.5; done
	if it_alive "$1"; then it_kill_wait "$1"; RC=124; else wait "$1"; RC=$?; fi
}

# ---- wrong challenge: FAILURE badRequest, nothing written
it_snapshot >"$D/snap.before"
cn=$(it_uniq sc-wrong)
sc wrong "$cn" -challenge "not-$SCEP_CHALLENGE"
it_snapshot >"$D/snap.after"
if [ "$RC" = 1 ] && grep -q 'badRequest' "$D/wrong/out.log" && [ ! -s "$D/wrong/cert.pem" ]; then
	pass "scepclient wrong challenge: exit 1, failInfo badRequest"
else
	fail "scepclient wrong challenge: exit 1, failInfo badRequest" "rc=$RC"; it_show "$D/wrong/out.log"
fi
if cmp -s "$D/snap.before" "$D/snap.after"; then pass "scepclient wrong challenge: repository unchanged"
else fail "scepclient wrong challenge: repository unchanged" "$(diff "$D/snap.before" "$D/snap.after" | head -5 | tr '\n' ' ')"; fi

# ---- no challenge: PENDING, approve, scepclient's own resend picks the cert up
if [ "$PENDING" = 1 ]; then
	pcn=$(it_uniq sc-pending)
	sc_bg pending "$pcn"; BG=$!
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
		pass "scep-admin approve (scepclient request)"
	else
		fail "scep-admin approve (scepclient request)" "id='$id'"; it_show "$D/pending/approve.log"
	fi
fi

# ---- renewal waiting for approval (a second server, or this one), in the background too
if [ "$PENDING" = 1 ] && [ -n "$IT_MANUAL" ]; then
	it_use "$IT_MANUAL"
	rcn=$(it_uniq sc-mrenew)
	sc mrenew "$rcn" -challenge "$SCEP_CHALLENGE"
	if [ "$RC" = 0 ] && it_verify "$D/mrenew/cert.pem"; then
		cp "$D/mrenew/cert.pem" "$D/mrenew/first.pem"
		rold=$(it_serial "$D/mrenew/first.pem")
		sc_bg mrenew "$rcn"; RBG=$!
		rstart=$(date +%s)
		it_wait 30 it_has_record pending "$rcn"
		rid=$(it_find_record pending "$rcn")
		if [ -n "$rid" ] && it_alive "$RBG" && it_recs "$rcn" | grep -qx "pending - RenewalReq $rold .*"; then
			pass "scepclient renewal (ScepAutoApprove=NO): RenewalReq of $rold pending, client polling"
		else
			fail "scepclient renewal (ScepAutoApprove=NO): RenewalReq pending" "id='$rid' $(it_recs "$rcn" | tr '\n' ';')"
			it_show "$D/mrenew/out.log"
		fi
		if [ -n "$rid" ] && it_admin approve "$rid" >"$D/mrenew/approve.log" 2>&1; then
			pass "scep-admin approve (scepclient renewal)"
		else
			fail "scep-admin approve (scepclient renewal)" "id='$rid'"; it_show "$D/mrenew/approve.log"
		fi
	else
		fail "scepclient enrollment before the pending renewal" "rc=$RC"; it_show "$D/mrenew/out.log"
	fi
	it_use main
fi

# ---- valid challenge: issued at once
cn=$(it_uniq sc-ok)
sc ok "$cn" -challenge "$SCEP_CHALLENGE"
if [ "$RC" = 0 ] && it_verify "$D/ok/cert.pem"; then
	pass "scepclient with challenge: cert issued, verifies"
else
	fail "scepclient with challenge: cert issued, verifies" "rc=$RC"; it_show "$D/ok/out.log"
fi
if openssl x509 -in "$D/ok/cert.pem" -noout -subject 2>/dev/null | grep -q "CN *= *$cn"; then
	pass "scepclient cert subject has CN=$cn"
else
	fail "scepclient cert subject has CN=$cn" "$(openssl x509 -in "$D/ok/cert.pem" -noout -subject 2>&1)"
fi
# the certificate is filed in the repository (certs/<serial>.pem)
fp=$(openssl x509 -in "$D/ok/cert.pem" -noout -fingerprint -sha256 2>/dev/null)
s=$(it_serial "$D/ok/cert.pem")
if [ -n "$s" ] && [ "$(openssl x509 -in "$SCEP_REPO/certs/$s.pem" -noout -fingerprint -sha256 2>/dev/null)" = "$fp" ]; then
	pass "issued cert filed as certs/$s.pem"
else
	fail "issued cert filed as certs/SERIAL.pem" "serial '$s'"
fi
if [ -n "$(it_find_record issued "$cn")" ]; then pass "scep-admin list --state issued shows $cn"
else fail "scep-admin list --state issued shows $cn"; it_admin list >&2; fi

# ---- same request again (same key, csr.pem reused, same transactionID): same cert
if [ -s "$D/ok/cert.pem" ]; then
	cp "$D/ok/cert.pem" "$D/ok/first.pem"; rm -f "$D/ok/cert.pem"
	sc ok "$cn" -challenge "$SCEP_CHALLENGE"
	s1=$(it_serial "$D/ok/first.pem") s2=$(it_serial "$D/ok/cert.pem")
	if [ "$RC" = 0 ] && [ -n "$s1" ] && [ "$s1" = "$s2" ]; then
		pass "repeated PKCSReq (same transactionID): same certificate returned"
	else
		fail "repeated PKCSReq (same transactionID): same certificate returned" "rc=$RC '$s1' vs '$s2'"
		it_show "$D/ok/out.log"
	fi
	n=$(it_admin list 2>/dev/null | grep -cF -- "$cn")
	[ "$n" = 1 ] && pass "repeated PKCSReq: still one record for $cn" ||
		fail "repeated PKCSReq: still one record for $cn" "$n records"
fi

# ---- renewal, auto-approved: scepclient again with its certificate -> RenewalReq
if [ "$IT_AUTO" = main ] && [ -s "$D/ok/cert.pem" ]; then
	cp "$D/ok/cert.pem" "$D/ok/first.pem"
	sc ok "$cn"
	if [ "$RC" = 0 ]; then pass "scepclient renewal (ScepAutoApprove=YES): issued at once"
	else fail "scepclient renewal (ScepAutoApprove=YES): issued at once" "rc=$RC"; it_show "$D/ok/out.log"; fi
	it_check_renewed "$D/ok/first.pem" "$D/ok/cert.pem" "$cn" RenewalReq "scepclient renewal"

	# once more, signed by the renewed certificate: a third valid one would exist
	cp "$D/ok/cert.pem" "$D/ok/second.pem"
	it_cn_state "$cn" >"$D/snap.before"
	: >"$D/ok/out.log"
	sc ok "$cn"
	it_cn_state "$cn" >"$D/snap.after"
	if [ "$RC" = 1 ] && grep -q 'badRequest' "$D/ok/out.log" && cmp -s "$D/ok/cert.pem" "$D/ok/second.pem"; then
		pass "scepclient renewal of the renewed cert: refused (a third valid certificate), badRequest"
	else
		fail "scepclient renewal of the renewed cert: refused (a third valid certificate)" "rc=$RC"
		it_show "$D/ok/out.log"
	fi
	if cmp -s "$D/snap.before" "$D/snap.after" && [ "$(it_valid_for "$cn")" = 2 ]; then
		pass "refused renewal: no record or certificate added, still 2 valid certificates"
	else
		fail "refused renewal: no record or certificate added, still 2 valid certificates" \
			"$(diff "$D/snap.before" "$D/snap.after" | head -5 | tr '\n' ' ')"
	fi

	# a revoked certificate cannot renew
	vcn=$(it_uniq sc-revoked)
	sc rev "$vcn" -challenge "$SCEP_CHALLENGE"
	vs=$(it_serial "$D/rev/cert.pem")
	if [ "$RC" = 0 ] && [ -n "$vs" ] && it_admin revoke "$vs" >"$D/rev/revoke.log" 2>&1 &&
		awk -F '\t' -v s="$vs" '$4 == s && $1 == "R" { f = 1 } END { exit !f }' "$SCEP_REPO/index.txt"; then
		pass "scep-admin revoke $vs: index.txt line R"
	else
		fail "scep-admin revoke $vs: index.txt line R" "rc=$RC"; it_show "$D/rev/out.log" "$D/rev/revoke.log"
	fi
	cp "$D/rev/cert.pem" "$D/rev/revoked.pem"
	it_cn_state "$vcn" >"$D/snap.before"
	: >"$D/rev/out.log"
	sc rev "$vcn"
	it_cn_state "$vcn" >"$D/snap.after"
	if [ "$RC" = 1 ] && grep -q 'badRequest' "$D/rev/out.log" && cmp -s "$D/rev/cert.pem" "$D/rev/revoked.pem"; then
		pass "scepclient renewal with a revoked certificate: refused, badRequest"
	else
		fail "scepclient renewal with a revoked certificate: refused, badRequest" "rc=$RC"; it_show "$D/rev/out.log"
	fi
	cmp -s "$D/snap.before" "$D/snap.after" && pass "renewal with a revoked certificate: no record or certificate added" ||
		fail "renewal with a revoked certificate: no record or certificate added" "$(diff "$D/snap.before" "$D/snap.after" | head -5 | tr '\n' ' ')"
fi

# ---- collect the pending clients
if [ -n "$BG" ]; then
	wait_bg "$BG" "$pstart"; BG=""
	if [ "$RC" = 0 ] && it_verify "$D/pending/cert.pem"; then
		pass "pending scepclient got its cert after approval ($(( $(date +%s) - pstart )) s), verifies"
	else
		fail "pending scepclient got its cert after approval" "rc=$RC"; it_show "$D/pending/out.log"
	fi
	[ -n "$(it_find_record issued "$pcn")" ] && pass "approved record is now issued" ||
		fail "approved record is now issued"
fi
if [ -n "$RBG" ]; then
	wait_bg "$RBG" "$rstart"; RBG=""
	it_use "$IT_MANUAL"
	if [ "$RC" = 0 ]; then pass "pending scepclient renewal collected after approval ($(( $(date +%s) - rstart )) s)"
	else fail "pending scepclient renewal collected after approval" "rc=$RC"; it_show "$D/mrenew/out.log"; fi
	it_check_renewed "$D/mrenew/first.pem" "$D/mrenew/cert.pem" "$rcn" RenewalReq "scepclient approved renewal"
	it_use main
fi

it_summary scepclient
