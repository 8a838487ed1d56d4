#!/bin/bash
# strongSwan pki --scepca / --scep (Debian strongswan-pki + libstrongswan-extra-plugins)
# against a running SCEP server, whatever the shape of its CA (self-signed, intermediate,
# RA):
#   - GetCACert via --scepca: the CA (and RA, or intermediate and root) as in the repository
#   - enrollment with the challenge (AES-128 + SHA-256, POST without Content-Type)
#   - every --cipher (aes, des3) x --digest (sha1, sha224, sha256, sha384, sha512) x
#     --rsa-padding (pkcs1, pss): IT_SW_MATRIX=full (default), or basic (4 of them)
#   - wrong challenge: FAILURE badRequest, repository unchanged; one-time challenges
#   - no challenge: PENDING, CertPoll every 2 s, approved with scep-admin -> collected;
#     then the SeaCat flow: renewal with the same key (--in same.key --cert old.crt --key
#     same.key, hence the same transactionID, the SHA-1 of the public key) issued at once
#     as a second certificate (ScepAutoApprove = YES)
#   - renewal (RenewalReq, --cert old.crt --key old.key, new key): with ScepAutoApprove =
#     YES issued at once; renewing the renewed certificate is refused (a third valid
#     certificate would exist); a revoked certificate cannot renew
#   - with ScepAutoApprove = NO (IT_MANUAL): the renewal waits, is approved and collected
#     by CertPoll
# The pending cases run in the background alongside the others.
# Run alone: SCEP_URL=... SCEP_CHALLENGE=... SCEP_CONF=... SCEP_REPO=... t-strongswan.sh
# (IT_MANUAL_URL/CONF/REPO: a second server whose renewals wait for approval)
set -u
. "$(dirname "$0")/lib.sh"
it_need_env
it_client_dir strongswan
D=$IT_OUT
BG="" MBG="" KEYGEN=""
trap 'for p in $BG $MBG $KEYGEN; do it_kill_wait "$p"; done' EXIT
MATRIX=${IT_SW_MATRIX:-full}

# keys 1..40 of the run's pool (IT_KEYPOOL, lib.sh), else made here in the background
NEXTKEY=0
if [ -z "${IT_KEYPOOL:-}" ]; then
	IT_KEYPOOL=$D/pool
	it_keypool "$IT_KEYPOOL" "$([ "$MATRIX" = full ] && echo 34 || echo 16)" &
	KEYGEN=$!
fi
newkey() { NEXTKEY=$((NEXTKEY + 1)); it_key "$1" "$NEXTKEY"; }

# scep NAME CN [pki args]: pki --scep with $D/NAME.key (a new key unless it exists) for
# "CN=CN, O=strongSwan"; cert in $D/NAME.pem, output in $D/NAME.log; rc in RC.
cacert_args() {
	CARGS=(--cacert-enc "$IT_SCEP_CERT" --cacert-sig "$IT_SCEP_CERT" --cacert "$IT_CA")
	cmp -s "$IT_ROOT" "$IT_CA" || CARGS+=(--cacert "$IT_ROOT")
}
scep() {
	local n=$1 cn=$2; shift 2
	[ -s "$D/$n.key" ] || newkey "$D/$n.key"
	cacert_args
	timeout "${SCEP_TIMEOUT:-90}" pki --scep --url "$SCEP_URL" --in "$D/$n.key" \
		--dn "CN=$cn, O=strongSwan" "${CARGS[@]}" --outform pem "$@" >"$D/$n.pem" 2>"$D/$n.log"
	RC=$?
}
# scep_bg NAME CN [pki args]: the same in the background, polling every 2 s; pid in $!
scep_bg() {
	local n=$1 cn=$2; shift 2
	[ -s "$D/$n.key" ] || newkey "$D/$n.key"
	cacert_args
	pki --scep --url "$SCEP_URL" --in "$D/$n.key" --dn "CN=$cn, O=strongSwan" "${CARGS[@]}" \
		--interval 2 --maxpolltime 90 --outform pem "$@" >"$D/$n.pem" 2>"$D/$n.log" &
}
# collect PID: wait up to 60 s for a background pki; rc in RC
collect() {
	for _ in $(seq 120); do it_alive "$1" || break; sleep 0.5; done
	if it_alive "$1"; then it_kill_wait "$1"; RC=124; else wait "$1"; RC=$?; fi
}
refused() { [ "$RC" != 0 ] && grep -qi 'badRequest\|bad request\|failInfo' "$1" && ! grep -q 'BEGIN CERT' "$2"; }
has_cn() { openssl x509 -in "$1" -noout -subject 2>/dev/null | grep -q "CN *= *$2,"; }

# ---- CA certificates (pki names the files: CA or root as --caout, then -1, -2...; RA
# certificates as --raout)
if timeout 60 pki --scepca --url "$SCEP_URL" --caout "$D/scepca.pem" --raout "$D/scepra.pem" \
	--outform pem >"$D/scepca.log" 2>&1; then
	case $IT_SHAPE in
	self) it_certs_equal "$D/scepca.pem" "$IT_CA" && [ ! -e "$D/scepca-1.pem" ] && [ ! -e "$D/scepra.pem" ] ;;
	ra) it_certs_equal "$D/scepca.pem" "$IT_CA" && it_certs_equal "$D/scepra.pem" "$IT_RA" ;;
	intermediate) it_certs_equal "$D/scepca.pem" "$IT_ROOT" && it_certs_equal "$D/scepca-1.pem" "$IT_CA" ;;
	esac
	rc=$?
else
	rc=1
fi
case $IT_SHAPE in
self) what="pki --scepca: the CA certificate" ;;
ra) what="pki --scepca: CA as root, RA certificate trusted" ;;
intermediate) what="pki --scepca: root, and the intermediate CA as sub CA" ;;
esac
if [ "$rc" = 0 ]; then pass "$what"; else fail "$what"; it_show "$D/scepca.log"; fi

# ---- with challenge
cn=$(it_uniq sw-ok)
scep ok "$cn" --password "$SCEP_CHALLENGE"
if [ "$RC" = 0 ] && it_verify "$D/ok.pem"; then pass "pki --scep with challenge: cert issued, verifies"
else fail "pki --scep with challenge: cert issued, verifies" "rc=$RC"; it_show "$D/ok.log"; fi
OKCN=$cn

# ---- every cipher, digest and signature padding pki offers
if [ "$MATRIX" = full ]; then
	combos=""
	for c in aes des3; do for g in sha1 sha224 sha256 sha384 sha512; do for p in pkcs1 pss; do
		combos="$combos $c/$g/$p"
	done; done; done
else
	combos="des3/sha1/pkcs1 aes/sha384/pss des3/sha224/pss aes/sha512/pkcs1"
fi
bad=""
for x in $combos; do
	IFS=/ read -r c g p <<<"$x"
	cn=$(it_uniq "sw-$c-$g-$p")
	scep "m-$c-$g-$p" "$cn" --password "$SCEP_CHALLENGE" --cipher "$c" --digest "$g" --rsa-padding "$p"
	if [ "$RC" = 0 ] && it_verify "$D/m-$c-$g-$p.pem" && has_cn "$D/m-$c-$g-$p.pem" "$cn"; then
		pass "pki --scep --cipher $c --digest $g --rsa-padding $p: cert issued, verifies"
	else
		fail "pki --scep --cipher $c --digest $g --rsa-padding $p: cert issued, verifies" "rc=$RC"
		it_show "$D/m-$c-$g-$p.log"
	fi
done

# ---- wrong challenge
it_snapshot >"$D/snap.before"
cn=$(it_uniq sw-wrong)
scep wrong "$cn" --password "wrong-$SCEP_CHALLENGE"
it_snapshot >"$D/snap.after"
if refused "$D/wrong.log" "$D/wrong.pem"; then
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
	if refused "$D/otp2.log" "$D/otp2.pem"; then
		pass "one-time challenge: second use refused (FAILURE)"
	else
		fail "one-time challenge: second use refused (FAILURE)" "rc=$RC"; it_show "$D/otp2.log"
	fi
else
	fail "scep-admin challenge" "$(head -c 200 "$D/otp.log")"
fi

# ---- in the background: an enrollment without challenge (pending, CertPoll), and a
# renewal on the server whose renewals wait for approval
pcn=$(it_uniq sw-pending)
scep_bg pending "$pcn"; BG=$!
pstart=$(date +%s)
if [ -n "$IT_MANUAL" ]; then
	it_use "$IT_MANUAL"
	mcn=$(it_uniq sw-mrenew)
	scep mold "$mcn" --password "$SCEP_CHALLENGE"
	if [ "$RC" = 0 ] && it_verify "$D/mold.pem"; then
		scep_bg mnew "$mcn" --cert "$D/mold.pem" --key "$D/mold.key"; MBG=$!
		mstart=$(date +%s)
	else
		fail "pki --scep enrollment before the pending renewal" "rc=$RC"; it_show "$D/mold.log"
	fi
	it_use main
fi

# ---- renewal (RenewalReq signed by the old certificate, new key), auto-approved
if [ "$IT_AUTO" = main ] && [ -s "$D/ok.pem" ]; then
	scep renew1 "$OKCN" --cert "$D/ok.pem" --key "$D/ok.key"
	if [ "$RC" = 0 ]; then pass "pki --scep renewal (ScepAutoApprove=YES): issued at once"
	else fail "pki --scep renewal (ScepAutoApprove=YES): issued at once" "rc=$RC"; it_show "$D/renew1.log"; fi
	it_check_renewed "$D/ok.pem" "$D/renew1.pem" "$OKCN" RenewalReq "pki --scep renewal"

	# renewing the renewed certificate: a third valid certificate would exist
	it_cn_state "$OKCN" >"$D/snap.before"
	scep renew2 "$OKCN" --cert "$D/renew1.pem" --key "$D/renew1.key" --interval 2 --maxpolltime 10
	it_cn_state "$OKCN" >"$D/snap.after"
	if refused "$D/renew2.log" "$D/renew2.pem"; then
		pass "pki --scep renewal of the renewed cert: refused (a third valid certificate)"
	else
		fail "pki --scep renewal of the renewed cert: refused (a third valid certificate)" "rc=$RC"
		it_show "$D/renew2.log"
	fi
	if cmp -s "$D/snap.before" "$D/snap.after" && [ "$(it_valid_for "$OKCN")" = 2 ]; then
		pass "refused renewal: no record or certificate added, still 2 valid certificates"
	else
		fail "refused renewal: no record or certificate added, still 2 valid certificates" \
			"$(diff "$D/snap.before" "$D/snap.after" | head -5 | tr '\n' ' ')"
	fi

	# a revoked certificate cannot renew
	vcn=$(it_uniq sw-revoked)
	scep rev "$vcn" --password "$SCEP_CHALLENGE"
	vs=$(it_serial "$D/rev.pem")
	if [ "$RC" = 0 ] && [ -n "$vs" ] && it_admin revoke "$vs" --reason keyCompromise >"$D/revoke.log" 2>&1 &&
		openssl crl -in "$SCEP_REPO/crl.pem" -noout -text 2>/dev/null | grep -q "Serial Number: $vs"; then
		pass "scep-admin revoke $vs: in crl.pem"
	else
		fail "scep-admin revoke $vs: in crl.pem" "rc=$RC"; it_show "$D/rev.log" "$D/revoke.log"
	fi
	it_cn_state "$vcn" >"$D/snap.before"
	scep revnew "$vcn" --cert "$D/rev.pem" --key "$D/rev.key" --interval 2 --maxpolltime 10
	it_cn_state "$vcn" >"$D/snap.after"
	if refused "$D/revnew.log" "$D/revnew.pem"; then pass "pki --scep renewal with a revoked certificate: refused"
	else fail "pki --scep renewal with a revoked certificate: refused" "rc=$RC"; it_show "$D/revnew.log"; fi
	cmp -s "$D/snap.before" "$D/snap.after" && pass "renewal with a revoked certificate: no record or certificate added" ||
		fail "renewal with a revoked certificate: no record or certificate added" "$(diff "$D/snap.before" "$D/snap.after" | head -5 | tr '\n' ' ')"
fi

# ---- pending enrollment: approve, CertPoll collects
it_wait 30 it_has_record pending "$pcn"
id=$(it_find_record pending "$pcn")
# let it poll at least once while pending
while [ $(( $(date +%s) - pstart )) -lt 4 ]; do sleep 0.5; done
if [ -n "$id" ] && it_alive "$BG"; then pass "pki --scep without challenge: pending, client polling"
else fail "pki --scep without challenge: pending, client polling" "id='$id'"; it_show "$D/pending.log"; fi
if [ -n "$id" ] && it_admin approve "$id" >"$D/approve.log" 2>&1; then pass "scep-admin approve (strongSwan request)"
else fail "scep-admin approve (strongSwan request)" "id='$id'"; it_show "$D/approve.log"; fi
collect "$BG"; BG=""
if [ "$RC" = 0 ] && it_verify "$D/pending.pem"; then
	pass "pki --scep CertPoll collected the approved cert ($(( $(date +%s) - pstart )) s), verifies"
else
	fail "pki --scep CertPoll collected the approved cert" "rc=$RC"; it_show "$D/pending.log"
fi

# ---- SeaCat: renewal with the same key, so the same transactionID, auto-approved
if [ "$IT_AUTO" = main ] && [ "$RC" = 0 ]; then
	cp "$D/pending.key" "$D/seacat.key"
	scep seacat "$pcn" --cert "$D/pending.pem" --key "$D/pending.key"
	if [ "$RC" = 0 ]; then pass "same-key renewal (SeaCat flow): issued at once"
	else fail "same-key renewal (SeaCat flow): issued at once" "rc=$RC"; it_show "$D/seacat.log"; fi
	it_check_renewed "$D/pending.pem" "$D/seacat.pem" "$pcn" RenewalReq "same-key renewal"
	t1=$(sed -n 's/^ *transaction ID: *//p' "$D/pending.log" | head -n 1)
	t2=$(sed -n 's/^ *transaction ID: *//p' "$D/seacat.log" | head -n 1)
	kfp=$(openssl pkey -in "$D/pending.key" -pubout -outform DER 2>/dev/null | openssl dgst -sha1 -r | cut -d' ' -f1)
	n=$(it_recs "$pcn" | awk -v t="$t1" 'toupper($5) == toupper(t) { n++ } END { print n + 0 }')
	if [ -n "$t1" ] && [ "$t1" = "$t2" ] && [ "$n" = 2 ] && [ "${kfp^^}" = "${t1^^}" ]; then
		pass "same-key renewal: both records carry the enrollment's transactionID (SHA-1 of the key)"
	else
		fail "same-key renewal: both records carry the same transactionID" "'$t1' '$t2' key $kfp, $n records"
	fi
fi

# ---- renewal waiting for approval: approve, CertPoll collects
if [ -n "$MBG" ]; then
	it_use "$IT_MANUAL"
	it_wait 30 it_has_record pending "$mcn"
	mid=$(it_find_record pending "$mcn")
	ms=$(it_serial "$D/mold.pem")
	if [ -n "$mid" ] && it_alive "$MBG" && it_recs "$mcn" | grep -qx "pending - RenewalReq $ms .*"; then
		pass "pki --scep renewal (ScepAutoApprove=NO): RenewalReq of $ms pending, client polling"
	else
		fail "pki --scep renewal (ScepAutoApprove=NO): RenewalReq pending" "id='$mid' $(it_recs "$mcn" | tr '\n' ';')"
		it_show "$D/mnew.log"
	fi
	if [ -n "$mid" ] && it_admin approve "$mid" >"$D/mapprove.log" 2>&1; then pass "scep-admin approve (strongSwan renewal)"
	else fail "scep-admin approve (strongSwan renewal)" "id='$mid'"; it_show "$D/mapprove.log"; fi
	collect "$MBG"; MBG=""
	if [ "$RC" = 0 ]; then pass "pki --scep CertPoll collected the approved renewal ($(( $(date +%s) - mstart )) s)"
	else fail "pki --scep CertPoll collected the approved renewal" "rc=$RC"; it_show "$D/mnew.log"; fi
	it_check_renewed "$D/mold.pem" "$D/mnew.pem" "$mcn" RenewalReq "approved pki --scep renewal"
	it_use main
fi
[ -n "$KEYGEN" ] && it_kill_wait "$KEYGEN"; KEYGEN=""

it_summary strongswan
