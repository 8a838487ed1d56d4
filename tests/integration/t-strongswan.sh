#!/bin/bash
# strongSwan pki --scepca / --scep (Debian strongswan-pki + libstrongswan-extra-plugins)
# against a running SCEP server:
#   - GetCACert via --scepca equals the repository's ca.pem
#   - enrollment with the challenge (AES-128 + SHA-256, POST without Content-Type)
#   - enrollment with --cipher des3 --digest sha1 (the reply must mirror 3DES)
#   - enrollment signed with RSASSA-PSS (--rsa-padding pss)
#   - wrong challenge: FAILURE badRequest, repository unchanged
#   - no challenge: PENDING, CertPoll every 2 s, approved with scep-admin -> collected
# Run alone: SCEP_URL=... SCEP_CHALLENGE=... SCEP_CONF=... SCEP_REPO=... t-strongswan.sh
set -u
. "$(dirname "$0")/lib.sh"
it_need_env
it_client_dir strongswan
D=$IT_OUT
BG=""
trap '[ -n "$BG" ] && it_kill_wait $BG' EXIT

# ---- CA certificate
if timeout 60 pki --scepca --url "$SCEP_URL" --caout "$D/ca.der" --outform der >"$D/scepca.log" 2>&1 &&
	[ -s "$D/ca.der" ] &&
	cmp -s "$D/ca.der" <(openssl x509 -in "$IT_CA" -outform DER); then
	pass "pki --scepca: CA cert equals ca.pem"
else
	fail "pki --scepca: CA cert equals ca.pem"; it_show "$D/scepca.log"
fi
CA=$IT_CA

# scep NAME CN [pki args]: new key, pki --scep; cert in $D/NAME.pem; rc in RC.
scep() {
	local n=$1 cn=$2; shift 2
	pki --gen --type rsa --size 2048 --outform pem >"$D/$n.key" 2>/dev/null
	timeout "${SCEP_TIMEOUT:-90}" pki --scep --url "$SCEP_URL" --in "$D/$n.key" \
		--dn "CN=$cn, O=strongSwan" --cacert-enc "$CA" --cacert-sig "$CA" --cacert "$CA" \
		--outform pem "$@" >"$D/$n.pem" 2>"$D/$n.log"
	RC=$?
}

# ---- with challenge
cn=$(it_uniq sw-ok)
scep ok "$cn" --password "$SCEP_CHALLENGE"
if [ "$RC" = 0 ] && it_verify "$D/ok.pem"; then pass "pki --scep with challenge: cert issued, verifies"
else fail "pki --scep with challenge: cert issued, verifies" "rc=$RC"; it_show "$D/ok.log"; fi

cn=$(it_uniq sw-des3)
scep des3 "$cn" --password "$SCEP_CHALLENGE" --cipher des3 --digest sha1
if [ "$RC" = 0 ] && it_verify "$D/des3.pem"; then pass "pki --scep --cipher des3 --digest sha1: cert issued"
else fail "pki --scep --cipher des3 --digest sha1: cert issued" "rc=$RC"; it_show "$D/des3.log"; fi

cn=$(it_uniq sw-pss)
scep pss "$cn" --password "$SCEP_CHALLENGE" --rsa-padding pss --digest sha384
if [ "$RC" = 0 ] && it_verify "$D/pss.pem"; then pass "pki --scep --rsa-padding pss --digest sha384: cert issued"
else fail "pki --scep --rsa-padding pss --digest sha384: cert issued" "rc=$RC"; it_show "$D/pss.log"; fi

# ---- wrong challenge
it_snapshot >"$D/snap.before"
cn=$(it_uniq sw-wrong)
scep wrong "$cn" --password "wrong-$SCEP_CHALLENGE"
it_snapshot >"$D/snap.after"
if [ "$RC" != 0 ] && grep -qi 'badRequest\|bad request\|failInfo' "$D/wrong.log" && ! grep -q 'BEGIN CERT' "$D/wrong.pem"; then
	pass "pki --scep wrong challenge: FAILURE badRequest"
else
	fail "pki --scep wrong challenge: FAILURE badRequest" "rc=$RC"; it_show "$D/wrong.log"
fi
if cmp -s "$D/snap.before" "$D/snap.after"; then pass "pki --scep wrong challenge: repository unchanged"
else fail "pki --scep wrong challenge: repository unchanged" "$(diff "$D/snap.before" "$D/snap.after" | head -5 | tr '\n' ' ')"; fi

# ---- one-time challenge (scep-admin challenge): good for one request only
if otp=$(it_admin challenge 2>"$D/otp.log" | head -n 1) && [ -n "$otp" ]; then
	cn=$(it_uniq sw-otp)
	scep otp1 "$cn" --password "$otp"
	if [ "$RC" = 0 ] && it_verify "$D/otp1.pem"; then pass "one-time challenge: first request issued"
	else fail "one-time challenge: first request issued" "rc=$RC"; it_show "$D/otp1.log"; fi
	cn=$(it_uniq sw-otp2)
	scep otp2 "$cn" --password "$otp" --interval 2 --maxpolltime 10
	if [ "$RC" != 0 ] && grep -qi 'badRequest\|bad request\|failInfo' "$D/otp2.log"; then
		pass "one-time challenge: second use refused (FAILURE)"
	else
		fail "one-time challenge: second use refused (FAILURE)" "rc=$RC"; it_show "$D/otp2.log"
	fi
else
	fail "scep-admin challenge" "$(head -c 200 "$D/otp.log")"
fi

# ---- pending, CertPoll, approve
pcn=$(it_uniq sw-pending)
pki --gen --type rsa --size 2048 --outform pem >"$D/pending.key" 2>/dev/null
pki --scep --url "$SCEP_URL" --in "$D/pending.key" --dn "CN=$pcn, O=strongSwan" \
	--cacert-enc "$CA" --cacert-sig "$CA" --cacert "$CA" --interval 2 --maxpolltime 60 \
	--outform pem >"$D/pending.pem" 2>"$D/pending.log" &
BG=$!
pstart=$(date +%s)
it_wait 30 it_has_record pending "$pcn"
id=$(it_find_record pending "$pcn")
sleep 3	# let it poll at least once while pending
if [ -n "$id" ] && it_alive "$BG"; then pass "pki --scep without challenge: pending, client polling"
else fail "pki --scep without challenge: pending, client polling" "id='$id'"; it_show "$D/pending.log"; fi
if [ -n "$id" ] && it_admin approve "$id" >"$D/approve.log" 2>&1; then pass "scep-admin approve (strongSwan request)"
else fail "scep-admin approve (strongSwan request)" "id='$id'"; it_show "$D/approve.log"; fi
for _ in $(seq 120); do it_alive "$BG" || break; sleep 0.5; done
if it_alive "$BG"; then it_kill_wait "$BG"; RC=124; else wait "$BG"; RC=$?; fi
BG=""
if [ "$RC" = 0 ] && it_verify "$D/pending.pem"; then
	pass "pki --scep CertPoll collected the approved cert ($(( $(date +%s) - pstart )) s), verifies"
else
	fail "pki --scep CertPoll collected the approved cert" "rc=$RC"; it_show "$D/pending.log"
fi

it_summary strongswan
