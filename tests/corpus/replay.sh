#!/bin/bash
# tests/corpus/replay.sh: replay every captured client message (tests/corpus/replay.tsv)
# through the server as a plain CGI and check each reply with OpenSSL.
#
# Each group gets a fresh repository whose CA is the committed throwaway CA of
# tests/corpus/ca/ (the captures are encrypted to it), with the policy used when capturing
# (challenge "corpus-secret", ScepAutoApproveEnrollment and ScepAutoApprove YES). Steps
# run in order; "before" actions (approve, seed an issued certificate) happen first.
# For every step:
#   - no crash, no ASan/UBSan/LSan report; the HTTP status
#   - `openssl cms -verify -CAfile ca.pem` (the CA is the only trust anchor; PENDING and
#     FAILURE carry no eContent, so they verify over empty detached content), and the
#     pkiStatus/failInfo read from `openssl cms -cmsout -print` equals the recorded one
#   - `hostile check`: signed by the CA certificate, transactionID and recipientNonce
#     echoed byte-exact, senderNonce present
#   - SUCCESS: the payload decrypts with the client's key (openssl cms -decrypt), the first
#     certificate passes `openssl verify -CAfile ca.pem`, and its public key is the one in
#     the request's CSR (the request decrypted with the CA key)
#   - certmonger rows, PENDING/FAILURE: the reply also verifies the way certmonger's
#     scep-submit does it (PKCS7_verify without detached content)
# Prints PASS/FAIL per step and "corpus: N passed, M failed".
# Knobs: SCEP_BIN (default build/asan/scep), SCEP_ADMIN (default build/asan/scep-admin),
# HOSTILE_BIN (default build/hostile, built if missing), CORPUS_GROUPS="g..." (subset),
# CORPUS_KEEP=1.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
C=$TOP/tests/corpus
: "${SCEP_BIN:=$TOP/build/asan/scep}"
: "${SCEP_ADMIN:=$TOP/build/asan/scep-admin}"	# the sanitizer build; never a silent fallback
: "${HOSTILE_BIN:=$TOP/build/hostile}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
SAN_RE='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)'
OSSL_PROV="-provider legacy -provider default"	# single DES (scepclient) replies

PASS=0 FAIL=0
pass() { PASS=$((PASS + 1)); echo "PASS: $1"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL: $1${2:+ ($2)}"; }
summary() { echo "corpus: $PASS passed, $FAIL failed"; [ "$FAIL" = 0 ]; }

for b in "$SCEP_BIN" "$SCEP_ADMIN"; do
	[ -x "$b" ] || { fail "prerequisites: $b not built (make asan)"; summary; exit 1; }
done
if [ ! -x "$HOSTILE_BIN" ] || [ "$TOP/tests/hostile/hostile.c" -nt "$HOSTILE_BIN" ]; then
	mkdir -p "$(dirname "$HOSTILE_BIN")"
	${CC:-cc} -D_GNU_SOURCE -I"$TOP/tests/unit" -O1 -g -Wall -Wextra -o "$HOSTILE_BIN" \
		"$TOP/tests/hostile/hostile.c" -lcrypto || { fail "prerequisites: build $HOSTILE_BIN"; summary; exit 1; }
fi

TMPBASE=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && TMPBASE=/dev/shm
W=$(mktemp -d "$TMPBASE/corpus.XXXXXX") || exit 1
cleanup() {
	if [ -z "${CORPUS_KEEP:-}" ]; then
		rm -rf "$W"
		[ "$FAIL" = 0 ] || echo "corpus: rerun with CORPUS_KEEP=1 CORPUS_GROUPS=\"group...\" to keep the work files"
	else
		echo "corpus: work files kept in $W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CA=$C/ca/ca.pem
cat >"$W/scep.conf" <<EOF
; tests/corpus/replay.sh (the policy of tests/corpus/tools/capture.sh)
ScepRepository = $W/repo
ScepChallengePassword = corpus-secret
ScepAutoApproveEnrollment = YES
ScepAutoApprove = YES
ScepCertValidityDays = 8000
EOF
if ! "$SCEP_ADMIN" -c "$W/scep.conf" init --subject "/CN=placeholder" >"$W/init.log" 2>&1; then
	fail "setup: scep-admin init" "$(tail -n 1 "$W/init.log")"; summary; exit 1
fi
cp "$C/ca/ca.pem" "$C/ca/ca.key" "$W/repo/ca/"
chmod 600 "$W/repo/ca/ca.key"
mv "$W/repo" "$W/template"
admin() { "$SCEP_ADMIN" -c "$W/scep.conf" "$@" 2>>"$W/admin.log"; }

# seed CERT: put an issued certificate on record, as the capture repository had it
seed() {
	local s
	s=$(openssl x509 -in "$1" -noout -serial | sed 's/^serial=//')
	openssl x509 -in "$1" -out "$W/repo/certs/$s.pem"
}

# status of a CertRep from OpenSSL's printout: SUCCESS | PENDING | FAILURE/<failInfo>
ossl_status() {
	openssl cms -cmsout -print -inform DER -in "$1" 2>/dev/null | awk '
		/object:/ { cur = $0 }
		/PRINTABLESTRING:/ && cur ~ /1\.9\.3\)/ { sub(/.*PRINTABLESTRING:/, ""); s = $0 }
		/PRINTABLESTRING:/ && cur ~ /1\.9\.4\)/ { sub(/.*PRINTABLESTRING:/, ""); f = $0 }
		END {
			split("badAlg badMessageCheck badRequest badTime badCertId", n, " ")
			if (s == "0") print "SUCCESS"; else if (s == "3") print "PENDING"
			else if (s == "2") print "FAILURE/" n[f + 1]; else print "?"
		}'
}

# step GROUP STEP METHOD FILE BEFORE EXPECT KEY
step() {
	local g=$1 n=$2 m=$3 f=$4 before=$5 expect=$6 key=$7 o=$W/out/$1.$2 id="$1/$2" why="" st got
	local q="" clen="" body=/dev/null der
	mkdir -p "$W/out"
	case $before in
	approve) for i in $(admin list --state pending | awk '{print $1}'); do admin approve "$i" >/dev/null; done ;;
	seed=*) seed "$C/${before#seed=}" ;;
	esac
	if [ "$m" = GET ]; then
		q=$(cat "$C/$f")
		der=$o.req.der
		python3 - "$C/$f" "$der" <<-'EOF'
		import base64, re, sys, urllib.parse
		q = open(sys.argv[1]).read()
		v = [p.partition("=")[2] for p in q.split("&") if p.partition("=")[0].lower() == "message"][0]
		s = re.sub(rb"[\r\n\t]", b"", urllib.parse.unquote_to_bytes(v))
		s = s.replace(b" ", b"+").replace(b"-", b"+").replace(b"_", b"/").rstrip(b"=")
		open(sys.argv[2], "wb").write(base64.b64decode(s + b"=" * (-len(s) % 4)))
		EOF
	else
		q=operation=PKIOperation
		body=$C/$f
		der=$body
		clen=$(stat -c%s "$body")
	fi
	local envs=(PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD="$m" QUERY_STRING="$q"
		REMOTE_ADDR=127.0.0.1 SCRIPT_NAME=/scep SCEP_CONF="$W/scep.conf"
		ASAN_OPTIONS="$ASAN_OPTIONS" UBSAN_OPTIONS="$UBSAN_OPTIONS")
	[ -n "$clen" ] && envs+=(CONTENT_LENGTH="$clen")
	timeout 60 env -i "${envs[@]}" "$SCEP_BIN" <"$body" >"$o.resp" 2>"$o.err"
	local rc=$?
	if grep -qE "$SAN_RE" "$o.err"; then why="sanitizer report: $(grep -m1 -E "$SAN_RE" "$o.err")"
	elif [ "$rc" != 0 ]; then why="exit status $rc"; fi
	[ -z "$why" ] && st=$("$HOSTILE_BIN" split "$o.resp" "$o.head" "$o.body")
	if [ -z "$why" ]; then
		case $expect in
		HTTP-*) [ "$st" = "${expect#HTTP-}" ] || why="HTTP $st, expected ${expect#HTTP-}" ;;
		*) [ "$st" = 200 ] && grep -qx $'Content-Type: application/x-pki-message\r' "$o.head" ||
			why="HTTP $st $(grep -i '^Content-Type' "$o.head" | tr -d '\r'), expected a CertRep" ;;
		esac
	fi
	if [ -z "$why" ] && [ "${expect#HTTP-}" = "$expect" ]; then
		got=$(ossl_status "$o.body")
		if [ "$got" != "$expect" ]; then
			why="pkiStatus $got, expected $expect"
		elif [ "$got" = SUCCESS ]; then
			openssl cms -verify -inform DER -in "$o.body" -CAfile "$CA" -purpose any -binary \
				-out "$o.env" 2>"$o.verify" || why="openssl cms -verify: $(head -n 1 "$o.verify")"
		else
			openssl cms -verify -inform DER -in "$o.body" -CAfile "$CA" -purpose any -binary \
				-content /dev/null -out /dev/null 2>"$o.verify" ||
				why="openssl cms -verify (empty detached content): $(head -n 1 "$o.verify")"
		fi
	fi
	if [ -z "$why" ] && [ "$key" != - ] && [ "${expect#HTTP-}" = "$expect" ]; then
		"$HOSTILE_BIN" reqinfo "$der" "$o.case" && cp "$C/$key" "$o.case.key"
		got=$("$HOSTILE_BIN" check "$CA" "$W/out" "$(basename "$o").case" "$o.body" 2>&1) ||
			why="hostile check: $got"
	fi
	if [ -z "$why" ] && [ "$expect" = SUCCESS ] && [ "$key" != - ]; then
		# shellcheck disable=SC2086
		if ! openssl cms -decrypt $OSSL_PROV -inform DER -in "$o.env" -inkey "$C/$key" -binary \
			-out "$o.p7" 2>"$o.dec"; then
			why="payload does not decrypt with $key: $(head -n 1 "$o.dec")"
		elif ! openssl pkcs7 -inform DER -in "$o.p7" -print_certs 2>/dev/null |
			awk '/BEGIN CERT/ {p = 1} p {print} /END CERT/ {exit}' >"$o.cert.pem" || [ ! -s "$o.cert.pem" ]; then
			why="payload holds no certificate"
		elif ! openssl verify -CAfile "$CA" "$o.cert.pem" >"$o.vfy" 2>&1; then
			why="issued certificate: $(tail -n 1 "$o.vfy")"
		else
			# the CSR inside the request, decrypted with the (committed) CA key
			# shellcheck disable=SC2086
			if openssl cms -verify -noverify -inform DER -in "$der" -binary -out "$o.reqenv" 2>/dev/null &&
				openssl cms -decrypt $OSSL_PROV -inform DER -in "$o.reqenv" -inkey "$C/ca/ca.key" \
					-recip "$CA" -binary -out "$o.inner" 2>/dev/null &&
				openssl req -inform DER -in "$o.inner" -noout -pubkey >"$o.csrkey" 2>/dev/null; then
				openssl x509 -in "$o.cert.pem" -noout -pubkey >"$o.certkey"
				cmp -s "$o.csrkey" "$o.certkey" || why="issued certificate is not for the requested key"
			fi	# CertPoll: no CSR inside
		fi
	fi
	if [ -z "$why" ]; then pass "$id ($expect)"; else fail "$id" "$why"; fi
	# certmonger's scep-submit verifies with PKCS7_verify and no detached content
	if [ "${g%%-*}" = certmonger ] && { [ "$expect" = PENDING ] || [ "${expect%%/*}" = FAILURE ]; } &&
		[ -s "$o.body" ]; then
		if openssl smime -verify -inform DER -in "$o.body" -CAfile "$CA" -purpose any -binary \
			-out /dev/null 2>"$o.cmv"; then
			pass "$id: $expect verifies without detached content (certmonger)"
		else
			fail "$id: $expect verifies without detached content (certmonger)" \
				"$(grep -m1 -o 'PKCS7_verify:[^:]*' "$o.cmv" || head -n 1 "$o.cmv")"
		fi
	fi
}

START=$(date +%s)
prev=""
ngroups=0
while IFS=$'\t' read -r g n m f before expect key; do
	case $g in '#'* | group | '') continue ;; esac
	if [ -n "${CORPUS_GROUPS:-}" ]; then
		case " $CORPUS_GROUPS " in *" $g "*) ;; *) continue ;; esac
	fi
	if [ ! -f "$C/$f" ]; then fail "$g/$n" "missing $f"; continue; fi
	if [ "$g" != "$prev" ]; then
		rm -rf "$W/repo"
		cp -a "$W/template" "$W/repo"
		prev=$g
		ngroups=$((ngroups + 1))
	fi
	step "$g" "$n" "$m" "$f" "$before" "$expect" "$key"
done <"$C/replay.tsv"
echo "    ($ngroups groups, $(( $(date +%s) - START )) s)"
summary
