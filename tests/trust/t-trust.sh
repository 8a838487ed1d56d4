#!/bin/bash
# tests/trust/t-trust.sh: the CA issues only what it should, and no request can stop it.
#
# One group of checks per finding of the trust issue (items 1-13), each through the real
# server program (build/asan/scep) run as plain CGI, and under spawn-fcgi -F 2 where the
# finding is a worker dying, with pkiMessages built by build/scepreq. Every check asserts
# the behaviour the issue asks for, so on a tree without the fixes these checks FAIL; the
# few checks marked "(guard)" pass already and keep a fix from breaking what works.
#
# Assumptions the fixer implements (the issue leaves these choices open):
#   item 1   The envelope that is only SEQUENCE { OID envelopedData } is answered with a
#            signed CertRep FAILURE badMessageCheck (the envelope is unusable), like every
#            other malformed pkcsPKIEnvelope.
#   item 2   "Same DN" means X509_NAME_cmp-equal: the same CN and O as UTF8String,
#            PrintableString, T61String, IA5String or BMPString is one DN for the
#            two-valid-certificates rule.
#   item 3   A CSR subject or subjectAltName holding NUL or another control character is
#            refused with FAILURE badRequest, nothing written.
#   item 4   A renewal asking for an RDN or SAN the old certificate did not carry is either
#            PENDING (and then `scep-admin show` names what differs) or FAILURE; both are
#            accepted, SUCCESS is not. A renewal with exactly the old names is still issued
#            at once under ScepAutoApprove = YES.
#   item 5   `scep-admin list --json` objects of pending records carry these keys (named
#            here so that the fix implements them): "sans" (array of strings such as
#            "DNS:www.example"), "key_type" ("RSA"), "key_bits" (integer), "extensions"
#            (array naming each requested extension by dotted OID or OpenSSL short name),
#            "client", "challenge" (how it authenticated: none|static|one-time|renewal),
#            "role", and for a renewal "renewal_of" (serial) and "differences" (array of
#            strings, one per RDN or SAN not in the renewed certificate, e.g. "O=Other",
#            "DNS:www.bank.example"). `scep-admin show ID` prints the same facts.
#   item 7   A renewal whose signing certificate is revoked is answered FAILURE badRequest
#            on every poll (pending or approved), and `scep-admin issue` does not issue it.
#   item 8   A CSR larger than 16 KiB is refused (FAILURE badRequest, nothing stored);
#            a 4096-bit CSR with a few SANs (about 1.5 KiB) is still accepted. The pending
#            queue is capped by the scep.conf key ScepMaxPending (a count of records in
#            pending/): a new request that would exceed it gets FAILURE badRequest with a
#            failInfoText, one log line, nothing stored; a resend of a stored request is
#            still a poll. apache-conf/ ships request-rate limits: NGINX limit_req_zone +
#            limit_req, each Apache configuration one of mod_qos (QS_*), mod_evasive (DOS*),
#            FcgidMaxProcesses[PerClass] or RLimitNPROC, and README.md gives the numbers.
#   item 9   A transactionID holding a control character (NUL included) is refused with
#            FAILURE badRequest, nothing stored; a renewal is never blocked by a record an
#            unauthenticated request made.
#   item 10  No challenge password in plain text anywhere under the repository (any file,
#            ASCII or UTF-16), nor in the server log.
#   item 11  All clients of tests/corpus (micromdm scepclient, certmonger, strongSwan) sign
#            their self-signed requests with the CSR's key (checked below, see "corpus"),
#            so a self-signed signer whose key is not the CSR's is refused: FAILURE
#            badRequest or badMessageCheck, and no certificate goes to the signer. A
#            self-signed request for a key that holds a valid certificate of ours with a new
#            transactionID is refused (FAILURE badRequest).
#   item 12  MD5-signed CSR: FAILURE badAlg unless ScepAllowedDigests lists MD5. A CSR with
#            200 SANs: HTTP 200 with SUCCESS or FAILURE badRequest, and no record left in
#            approved/. A message whose signature verifies but whose messageType is not a
#            number, that has trailing bytes, or whose transactionID is 10 kB: HTTP 200
#            with a CertRep FAILURE badRequest signed by the CA.
#   item 13  Serials: every issued serial has at least 64 bits (bit length >= 64), at most
#            159 (positive and <= 20 octets, RFC 5280), all distinct, also when issued in
#            parallel; `openssl ca -status` and `openssl ca -gencrl` read index.txt; GetCert
#            finds the certificate by its serial, and serial 01 is not a certificate.
#
# Prints "PASS: item N: ..." / "FAIL: item N: ..." per check, a table of items, and
# "trust: N passed, M failed"; exits 1 on any failure. Not part of `make check` (it fails
# until the trust fixes land); run it with `make trust`.
# Knobs: SCEP_BIN, SCEP_ADMIN_BIN (default the sanitizer builds; missing builds fail),
# TRUST_ITEMS="1 4 13" (a subset), TRUST_KEEP=1 (keep the work directory).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
SCEP=${SCEP_BIN:-$top/build/asan/scep}
ADMIN=${SCEP_ADMIN_BIN:-$top/build/asan/scep-admin}
REQ=$top/build/scepreq
HOSTILE=$top/build/hostile
PY=/usr/bin/python3
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
SAN_RE='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)'

pass=0; fail=0; ITEM=0
declare -A IPASS IFAIL
ok()   { pass=$((pass + 1)); IPASS[$ITEM]=$((${IPASS[$ITEM]:-0} + 1)); echo "PASS: item $ITEM: $*"; }
bad()  { fail=$((fail + 1)); IFAIL[$ITEM]=$((${IFAIL[$ITEM]:-0} + 1)); echo "FAIL: item $ITEM: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
want() { case " ${TRUST_ITEMS:-1 2 3 4 5 6 7 8 9 10 11 12 13} " in *" $1 "*) ITEM=$1; return 0 ;; esac; return 1; }

for b in "$SCEP" "$ADMIN" "$REQ" "$HOSTILE"; do
	if [ ! -x "$b" ]; then
		echo "FAIL: prerequisites: $b not built (make all asan tools)"
		echo "trust: 0 passed, 1 failed"; exit 1
	fi
done
T=$(mktemp -d /tmp/scep-trust.XXXXXX) || exit 1
FPIDS=""
cleanup() {
	local p
	for p in $FPIDS; do kill "$p" 2>/dev/null; done
	if [ -n "${TRUST_KEEP:-}" ]; then echo "trust: work files kept in $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------ helpers

# mkca NAME [LINES...]: a fresh repository and CA; sets C, R, CA (tests/lib/repo.sh).
. "$top/tests/lib/repo.sh"
MKCA_TITLE="Trust Test CA"

key() { [ -f "$1" ] || openssl genrsa -out "$1" "${2:-2048}" 2>/dev/null; }

# send NAME REQ.der SIGNER.pem KEY.pem: POST REQ as plain CGI, read the reply.
# Sets HTTP, CTYPE, RC (server exit status), STATUS (0|2|3|none), FAILINFO, TEXT;
# a SUCCESS certificate lands in $T/NAME.crt; the request's log in $T/NAME.log.
send() {
	local n=$1 in=$2 signer=$3 skey=$4 a
	rm -f "$T/$n.crt"
	REQUEST_METHOD=POST QUERY_STRING=operation=PKIOperation \
	    CONTENT_LENGTH=$(stat -c %s "$in") REMOTE_ADDR=${CLIENT:-127.0.0.1} SCEP_CONF=$C \
	    "$SCEP" <"$in" >"$T/$n.raw" 2>"$T/$n.log"
	RC=$?
	cat "$T/$n.log" >>"$T/server.log"
	HTTP=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' "$T/$n.raw" | head -n 1)
	CTYPE=$(grep -a -m1 '^Content-Type:' "$T/$n.raw" | tr -d '\r' | cut -d' ' -f2-)
	"$PY" -c 'import sys; d=open(sys.argv[1],"rb").read(); i=d.find(b"\r\n\r\n"); open(sys.argv[2],"wb").write(d[i+4:] if i >= 0 else b"")' "$T/$n.raw" "$T/$n.rep"
	a=$("$REQ" read -c "$CA" -k "$skey" -S "$signer" -w "$T/$n.crt" "$T/$n.rep" 2>/dev/null)
	STATUS=$(sed -n 's/.*status=\([-0-9]*\).*/\1/p' <<<"$a")
	FAILINFO=$(sed -n 's/.*failinfo=\([-0-9]*\).*/\1/p' <<<"$a")
	TEXT=$(sed -n 's/.*text=//p' <<<"$a")
	[ -n "$STATUS" ] || STATUS=none
	if grep -qE "$SAN_RE" "$T/$n.log"; then
		STATUS=crash
		echo "    $n: $(grep -m1 -E "$SAN_RE" "$T/$n.log")"
	fi
}

# run NAME KEY [scepreq build args...]: build (self-signed by KEY unless -S/-K), send.
run() {
	local n=$1 k=$2; shift 2
	local signer=$T/$n.self skey=$k args=("$@") i
	for ((i = 0; i < ${#args[@]}; i++)); do
		case ${args[i]} in -S) signer=${args[i+1]} ;; -K) skey=${args[i+1]} ;; esac
	done
	key "$k"
	if ! "$REQ" build -c "$CA" -k "$k" -L "$T/$n.self" -o "$T/$n.req" "$@" 2>"$T/$n.build"; then
		echo "    $n: scepreq build failed: $(head -n 2 "$T/$n.build")"
		STATUS=build HTTP=- FAILINFO=- TEXT=; return
	fi
	send "$n" "$T/$n.req" "$signer" "$skey"
}

# What a reply was, for messages: "HTTP 200, status 2/1".
got() { echo "HTTP $HTTP, status $STATUS/$FAILINFO${TEXT:+, \"$TEXT\"}"; }
is() { [ "$HTTP" = 200 ] && [ "$STATUS/$FAILINFO" = "$1" ]; }
refused() {	# refused FAILINFO...: HTTP 200 and a signed FAILURE with one of them
	local f
	[ "$HTTP" = 200 ] && [ "$STATUS" = 2 ] || return 1
	for f in "$@"; do [ "$FAILINFO" = "$f" ] && return 0; done
	return 1
}
snapshot() { (cd "$R" && find . \( -path ./.lock -o -path ./audit.log \) -prune -o -printf '%y %p %s\n' | sort && cat index.txt 2>/dev/null); }
nvalid() { grep -c '^V' "$R/index.txt" 2>/dev/null || true; }
serial_of() { openssl x509 -in "$1" -noout -serial 2>/dev/null | sed 's/serial=//'; }
# the serial as the repository names it: upper-case hex, even length
repo_serial() { local s; s=$(serial_of "$1"); [ $(( ${#s} % 2 )) = 0 ] || s=0$s; echo "$s"; }
pending_ids() { "$ADMIN" -c "$C" list --state pending 2>/dev/null | awk '{print $1}'; }
hexof() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
jsonrec() {	# jsonrec TXID EXPR: evaluate EXPR over the list --json record of TXID (r)
	"$ADMIN" -c "$C" list --json 2>/dev/null | "$PY" -c '
import json, sys
recs = [r for r in json.load(sys.stdin) if r.get("transaction_id") == sys.argv[1]]
r = recs[0] if recs else {}
print(eval(sys.argv[2], {"r": r}))' "$1" "$2" 2>/dev/null
}

# ------------------------------------------------------------------------------ item 1
# An envelope that is only SEQUENCE { OID envelopedData }: no worker may die of it.
if want 1; then
	mkca env
	printf '\x30\x0b\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03' >"$T/empty-env.der"
	before=$(snapshot)
	run env1 "$T/env1.key" -n env-host -x ENV-EMPTY --raw-content "$T/empty-env.der"
	check "empty EnvelopedData: the CGI process survives (exit status $RC, no sanitizer report)" \
	    test "$RC" = 0 -a "$STATUS" != crash
	check "empty EnvelopedData: signed CertRep FAILURE badMessageCheck ($(got))" is 2/1
	check "empty EnvelopedData: repository unchanged" test "$before" = "$(snapshot)"

	# The same request three times to spawn-fcgi -F 2, then a GetCACaps.
	F=$T/fcgi; mkdir -p "$F"
	printf 'operation=PKIOperation' >"$F/env.query"; cp "$T/env1.req" "$F/env.body"
	printf 'operation=GetCACaps' >"$F/caps.query"; : >"$F/caps.body"
	: >"$F/stderr.log"
	if SCEP_CONF=$C spawn-fcgi -s "$F/sock" -F 2 -P "$F/pid" \
	    -- /bin/sh -c 'exec 2>>"$0"; exec "$@"' "$F/stderr.log" "$SCEP" >"$F/spawn.log" 2>&1; then
		FPIDS="$FPIDS $(cat "$F/pid")"
		for i in 1 2 3; do
			"$HOSTILE" fcgi "$F/sock" "$F" env POST >"$F/env.$i.resp" 2>"$F/env.$i.err"
			st=$("$HOSTILE" split "$F/env.$i.resp" "$F/env.$i.head" "$F/env.$i.body" 2>/dev/null)
			a=$("$REQ" read -c "$CA" -k "$T/env1.key" -S "$T/env1.self" "$F/env.$i.body" 2>/dev/null)
			check "spawn-fcgi -F 2, request $i of 3: FAILURE badMessageCheck (HTTP ${st:-none}, ${a%% msgtype*})" \
			    test "$st" = 200 -a "${a%% msgtype*}" = "status=2 failinfo=1"
		done
		"$HOSTILE" fcgi "$F/sock" "$F" caps GET >"$F/caps.resp" 2>"$F/caps.err"
		st=$("$HOSTILE" split "$F/caps.resp" "$F/caps.head" "$F/caps.body" 2>/dev/null)
		check "spawn-fcgi -F 2: after three such requests the service still answers GetCACaps (HTTP ${st:-none})" \
		    bash -c "[ '$st' = 200 ] && grep -q POSTPKIOperation '$F/caps.body'"
		alive=0
		for p in $(cat "$F/pid"); do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
		check "spawn-fcgi -F 2: both workers alive ($alive of 2)" test "$alive" = 2
		check "spawn-fcgi -F 2: no sanitizer report from the workers" \
		    bash -c "! grep -qE '$SAN_RE' '$F/stderr.log'"
		for p in $(cat "$F/pid"); do kill "$p" 2>/dev/null; done
	else
		bad "spawn-fcgi did not start: $(cat "$F/spawn.log")"
	fi
fi

# ------------------------------------------------------------------------------ item 2
# The two-valid-certificates rule holds whatever string type spells the DN.
if want 2; then
	mkca dn "ScepAutoApprove = YES"
	run dn0 "$T/dn0.key" -n host1 -p secret123 -x DN0
	run dn1 "$T/dn1.key" -n host1 -x DN1 -t 17 -S "$T/dn0.crt" -K "$T/dn0.key"
	check "(guard) enrollment and one renewal: two valid certificates for CN=host1,O=Test" \
	    test "$(nvalid)" = 2
	for ty in printable t61 ia5 bmp; do
		run "dn-$ty" "$T/dn-$ty.key" -n host1 -x "DN-$ty" -t 17 -S "$T/dn0.crt" \
		    -K "$T/dn0.key" --dn-type "$ty"
		check "a third certificate for CN=host1,O=Test spelt as ${ty}String is refused ($(got))" is 2/2
	done
	check "still two valid certificates for the DN (index.txt has $(nvalid))" test "$(nvalid)" = 2
fi

# ------------------------------------------------------------------------------ item 3
# NUL and control characters in names.
if want 3; then
	mkca nul "ScepAutoApprove = YES" "ScepKeepSubjectAltName = YES"
	run nul0 "$T/nul0.key" -n host1 -p secret123 -x NUL0
	n0=$(nvalid)
	run nul1 "$T/nul1.key" -x NUL1 -t 17 -S "$T/nul0.crt" -K "$T/nul0.key" \
	    --cn-hex "$(hexof host1)00$(hexof .bank.example)"
	check "renewal of host1 into CN=host1<NUL>.bank.example is refused ($(got))" is 2/2
	check "... and nothing is issued (valid certificates $n0 -> $(nvalid))" test "$(nvalid)" = "$n0"
	before=$(snapshot)
	run nul2 "$T/nul2.key" -p secret123 -x NUL2 --cn-hex "$(hexof evil)0a$(hexof host)"
	check "enrollment with a newline in the CN is refused ($(got))" is 2/2
	run nul3 "$T/nul3.key" -n host3 -p secret123 -x NUL3 \
	    --san-hex "DNS:$(hexof www.bank.example)00$(hexof .evil.example)"
	check "enrollment with a NUL inside a DNS subjectAltName is refused ($(got))" is 2/2
	run nul4 "$T/nul4.key" -n host4 -p secret123 -x NUL4 \
	    --san-hex "UPN:$(hexof admin)1b$(hexof @corp.example)"
	check "enrollment with an ESC inside a UPN subjectAltName is refused ($(got))" is 2/2
	check "the refused enrollments wrote nothing" test "$before" = "$(snapshot)"
fi

# ------------------------------------------------------------------------------ item 4
# A renewal re-certifies the identity the old certificate had.
if want 4; then
	SANS=(--san DNS:www.bank.example --san 'DNS:*.corp.example' --san UPN:administrator@corp.example)
	# renew4 CASE [scepreq args]: a fresh CA, host1 enrolled with DNS:host1.test.example,
	# then a renewal signed by that certificate with the given names.
	renew4() {
		local c=$1; shift
		mkca "r4-$c" "ScepAutoApprove = YES" "ScepKeepSubjectAltName = YES"
		run "r4-$c-0" "$T/r4-$c-0.key" -n host1 -p secret123 -x "R4-$c-0" --san DNS:host1.test.example
		N0=$(nvalid)
		run "r4-$c" "$T/r4-$c.key" -n host1 -x "R4-$c" -t 17 -S "$T/r4-$c-0.crt" \
		    -K "$T/r4-$c-0.key" "$@"
	}
	# not_issued WHAT PATTERN...: PENDING (show names each PATTERN) or FAILURE, never issued
	not_issued() {
		local what=$1 p id out missing=""; shift
		if [ "$STATUS" = 3 ] && [ "$HTTP" = 200 ]; then
			id=$(pending_ids | head -n 1)
			out=$("$ADMIN" -c "$C" show "$id" 2>&1)
			for p in "$@"; do grep -qF -- "$p" <<<"$out" || missing="$missing '$p'"; done
			check "$what: PENDING, and scep-admin show names what differs${missing:+ (missing:$missing)}" \
			    test -z "$missing"
		else
			check "$what: PENDING or FAILURE badRequest, not issued ($(got))" is 2/2
		fi
		check "$what: no certificate issued (valid: $N0 -> $(nvalid))" test "$(nvalid)" = "$N0"
	}
	renew4 all --org Other --ou "Domain Admins" "${SANS[@]}"
	not_issued "renewal into O=Other, OU=Domain Admins with 3 new SANs" Other "Domain Admins" \
	    www.bank.example '*.corp.example' administrator@corp.example
	if [ "$STATUS" = 3 ]; then
		run r4-all-poll "$T/r4-all.key" -n host1 -x R4-all -t 20 -S "$T/r4-all-0.crt" -K "$T/r4-all-0.key"
		check "its CertPoll is still PENDING, not issued ($(got))" is 3/-1
	fi
	renew4 san --san DNS:host1.test.example --san DNS:www.bank.example
	not_issued "renewal adding DNS:www.bank.example" www.bank.example
	renew4 upn --san DNS:host1.test.example --san UPN:administrator@corp.example
	not_issued "renewal adding a UPN" administrator@corp.example
	renew4 ou --ou "Domain Admins" --san DNS:host1.test.example
	not_issued "renewal adding OU=Domain Admins" "Domain Admins"
	renew4 org --org Other --san DNS:host1.test.example
	not_issued "renewal changing O=Test into O=Other" Other
	renew4 same --san DNS:host1.test.example
	check "(guard) renewal with exactly the old names is issued at once ($(got))" is 0/-1
	check "(guard) ... and keeps its SAN" \
	    bash -c "openssl x509 -in '$T/r4-same.crt' -noout -ext subjectAltName 2>/dev/null | grep -q 'DNS:host1.test.example'"
fi

# ------------------------------------------------------------------------------ item 5
# What an approver sees of a pending request.
if want 5; then
	mkca show "ScepKeepSubjectAltName = YES" "ScepDefaultRole = device" \
	    "[role device]" "Days = 30" "[role server]" "Days = 90" "Selectable = YES"
	CLIENT=192.0.2.55 run sh1 "$T/sh1.key" -n shown-host -x SHOW1 --template server \
	    --san DNS:www.bank.example --san UPN:administrator@corp.example --san email:ops@corp.example
	check "(guard) a request without challenge is PENDING ($(got))" is 3/-1
	id=$(pending_ids | head -n 1)
	out=$("$ADMIN" -c "$C" show "$id" 2>&1)
	for w in shown-host www.bank.example administrator@corp.example ops@corp.example \
	    RSA 2048 server 192.0.2.55 none; do
		check "show prints '$w'" grep -qF -- "$w" <<<"$out"
	done
	check "show names the requested extensions (subjectAltName and the template name)" \
	    bash -c "grep -qiE 'subjectAltName|Subject Alternative Name|2\.5\.29\.17' <<<'$out' && grep -qiE '1\.3\.6\.1\.4\.1\.311\.20\.2|template' <<<'$out'"
	check "list --json: sans lists the three SANs" test "$(jsonrec SHOW1 \
	    'len(r.get("sans", [])) == 3 and all(any(x.endswith(v) for x in r["sans"]) for v in ("administrator@corp.example", "ops@corp.example", "www.bank.example"))')" = True
	check "list --json: key_type RSA, key_bits 2048" \
	    test "$(jsonrec SHOW1 '(r.get("key_type"), r.get("key_bits"))')" = "('RSA', 2048)"
	check "list --json: role, client, challenge" \
	    test "$(jsonrec SHOW1 '(r.get("role"), r.get("client"), r.get("challenge"))')" = \
	    "('server', '192.0.2.55', 'none')"
	check "list --json: extensions names subjectAltName and the template name" \
	    test "$(jsonrec SHOW1 'any(e in ("subjectAltName","2.5.29.17") for e in r.get("extensions", [])) and any("1.3.6.1.4.1.311.20.2" == e or "emplate" in e for e in r.get("extensions", []))')" = True

	# A pending renewal: what it renews and what differs.
	mkca show-renew "ScepAutoApprove = NO" "ScepKeepSubjectAltName = YES"
	run sr0 "$T/sr0.key" -n host1 -p secret123 -x SR0
	s0=$(repo_serial "$T/sr0.crt")
	run sr1 "$T/sr1.key" -n host1 -x SR1 -t 17 -S "$T/sr0.crt" -K "$T/sr0.key" \
	    --org Other --san DNS:www.bank.example
	if [ "$STATUS" = 3 ]; then
		check "pending renewal with new names: renewal_of is $s0" \
		    test "$(jsonrec SR1 'r.get("renewal_of")')" = "$s0"
		check "pending renewal with new names: differences name O=Other and DNS:www.bank.example" \
		    test "$(jsonrec SR1 'any("Other" in d for d in r.get("differences", [])) and any("www.bank.example" in d for d in r.get("differences", []))')" = True
	else
		check "renewal with new names refused by policy (item 4's other outcome: $(got))" is 2/2
	fi
	run sr2 "$T/sr2.key" -n host1 -x SR2 -t 17 -S "$T/sr0.crt" -K "$T/sr0.key"
	check "(guard) renewal with the same names under ScepAutoApprove = NO is PENDING ($(got))" is 3/-1
	check "pending renewal: renewal_of is $s0 and differences is an empty list" \
	    test "$(jsonrec SR2 '(r.get("renewal_of"), r.get("differences"))')" = "('$s0', [])"
	id=$("$ADMIN" -c "$C" list --json | "$PY" -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r["transaction_id"]=="SR2"][0])' 2>/dev/null)
	out=$("$ADMIN" -c "$C" show "$id" 2>&1)
	check "show of a pending renewal names the certificate it renews ($s0) and its differences" \
	    bash -c "grep -q 'renewal_of: $s0' <<<'$out' && grep -qi 'differences' <<<'$out'"
fi

# ------------------------------------------------------------------------------ item 6
# ScepAllowEnrollment = NO: only renewals.
if want 6; then
	mkca enroll-no "ScepAutoApprove = YES"
	run en0 "$T/en0.key" -n host1 -p secret123 -x EN0
	sed -i '/^ScepAllowEnrollment/d' "$C"; echo "ScepAllowEnrollment = NO" >>"$C"
	before=$(snapshot)
	run en1 "$T/en1.key" -n host1 -p secret123 -x EN1
	check "ScepAllowEnrollment = NO: a self-signed request with the challenge for an existing DN is refused ($(got))" is 2/2
	check "... and nothing is written" test "$before" = "$(snapshot)"
	run en2 "$T/en2.key" -n host-new -p secret123 -x EN2
	check "(guard) ScepAllowEnrollment = NO: a self-signed request for a new DN is refused ($(got))" is 2/2
	mkca enroll-no-renew "ScepAutoApprove = YES"
	run en3 "$T/en3.key" -n host1 -p secret123 -x EN3
	sed -i '/^ScepAllowEnrollment/d' "$C"; echo "ScepAllowEnrollment = NO" >>"$C"
	run en4 "$T/en4.key" -n host1 -x EN4 -t 17 -S "$T/en3.crt" -K "$T/en3.key"
	check "(guard) ScepAllowEnrollment = NO: a renewal is still issued ($(got))" is 0/-1
fi

# ------------------------------------------------------------------------------ item 7
# A revoked signer's pending renewal is never issued.
if want 7; then
	mkca revoked "ScepAutoApprove = NO"
	run rv0 "$T/rv0.key" -n host1 -p secret123 -x RV0
	run rv1 "$T/rv1.key" -n host1 -x RV1 -t 17 -S "$T/rv0.crt" -K "$T/rv0.key"
	run rv2 "$T/rv2.key" -n host1 -x RV2 -t 17 -S "$T/rv0.crt" -K "$T/rv0.key"
	check "(guard) two renewals signed by the certificate wait PENDING" \
	    test "$(pending_ids | wc -l)" = 2
	"$ADMIN" -c "$C" revoke "$(repo_serial "$T/rv0.crt")" --reason keyCompromise >/dev/null 2>&1
	check "(guard) scep-admin revoke of the signing certificate" \
	    grep -q "^R.*	$(repo_serial "$T/rv0.crt")	" "$R/index.txt"
	run rv1p "$T/rv1.key" -n host1 -x RV1 -t 20 -S "$T/rv0.crt" -K "$T/rv0.key"
	check "CertPoll of a pending renewal whose signer is revoked: FAILURE badRequest ($(got))" is 2/2
	id1=$("$ADMIN" -c "$C" list --json | "$PY" -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r["transaction_id"]=="RV1"][0])' 2>/dev/null)
	id2=$("$ADMIN" -c "$C" list --json | "$PY" -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r["transaction_id"]=="RV2"][0])' 2>/dev/null)
	"$ADMIN" -c "$C" approve "$id1" "$id2" >/dev/null 2>&1
	run rv1q "$T/rv1.key" -n host1 -x RV1 -t 20 -S "$T/rv0.crt" -K "$T/rv0.key"
	check "CertPoll after approval: FAILURE badRequest, not issued ($(got))" is 2/2
	"$ADMIN" -c "$C" issue "$id2" >/dev/null 2>&1
	check "scep-admin issue of the approved renewal issues nothing (certificates: $(wc -l <"$R/index.txt"))" \
	    test "$(wc -l <"$R/index.txt")" = 1
	check "neither renewal is in issued/" \
	    test ! -e "$R/issued/$id1" -a ! -e "$R/issued/$id2"
fi

# ------------------------------------------------------------------------------ item 8
# Bounded storage.
if want 8; then
	mkca big "ScepAutoApproveEnrollment = NO"
	before=$(snapshot)
	run big1 "$T/big1.key" -n big-host -x BIG1 --pad 20000
	check "a 20 KiB CSR without challenge is refused ($(got))" is 2/2
	run big2 "$T/big2.key" -n big-host2 -p secret123 -x BIG2 --pad 20000
	check "a 20 KiB CSR with the challenge is refused ($(got))" is 2/2
	check "... nothing stored" test "$before" = "$(snapshot)"
	run big3 "$T/big3.key" -n big-host3 -x BIG3 --san DNS:a.big.example --san DNS:b.big.example \
	    --san DNS:c.big.example --san DNS:d.big.example
	key "$T/big4.key" 4096
	run big4 "$T/big4.key" -n big-host4 -x BIG4 --san DNS:a.big.example --san DNS:b.big.example \
	    --san DNS:c.big.example --san DNS:d.big.example
	check "(guard) a 4096-bit CSR with four SANs is stored PENDING ($(got))" is 3/-1

	mkca cap
	echo "ScepMaxPending = 3" >>"$C"
	for i in 1 2 3; do run "cap$i" "$T/cap$i.key" -n "cap-host$i" -x "CAP$i"; done
	check "ScepMaxPending = 3: three requests without challenge wait PENDING" \
	    test "$(find "$R/pending" -mindepth 1 -maxdepth 1 -type f 2>/dev/null | wc -l)" = 3
	before=$(snapshot)
	run cap4 "$T/cap4.key" -n cap-host4 -x CAP4
	check "ScepMaxPending = 3: the fourth gets FAILURE badRequest with a failInfoText ($(got))" \
	    bash -c "[ '$HTTP/$STATUS/$FAILINFO' = 200/2/2 ] && [ -n '$TEXT' ]"
	# besides the request line every request gets (op=, status=, outcome=)
	check "ScepMaxPending = 3: one log line for it ($(grep -vc ' request op=' "$T/cap4.log"))" \
	    bash -c "[ \$(grep -vc ' request op=' '$T/cap4.log') = 1 ] && grep -qi pending '$T/cap4.log'"
	check "ScepMaxPending = 3: nothing stored for it" test "$before" = "$(snapshot)"
	send cap1b "$T/cap1.req" "$T/cap1.self" "$T/cap1.key"
	check "ScepMaxPending = 3: a resend of a stored request is still a poll (PENDING: $(got))" is 3/-1

	nginx=$top/apache-conf/nginx-scep.conf
	check "apache-conf: nginx-scep.conf has limit_req_zone and limit_req" \
	    bash -c "grep -qE '^[[:space:]]*limit_req_zone' '$nginx' && grep -qE '^[[:space:]]*limit_req[[:space:]]' '$nginx'"
	for a in apache-scep-cgi apache-scep-fcgid apache-scep-proxy-fcgi; do
		check "apache-conf: $a.conf sets a request-rate or process limit" \
		    grep -qE '^[[:space:]]*(QS_[A-Za-z]+|DOS[A-Za-z]+|FcgidMaxProcesses(PerClass)?|RLimitNPROC)[[:space:]]' \
		    "$top/apache-conf/$a.conf"
	done
	check "apache-conf/README.md documents the rate limits with their numbers" \
	    grep -qiE 'rate limit.*[0-9]+ *r/[sm]|limit_req.*[0-9]+ *r/[sm]' "$top/apache-conf/README.md"
fi

# ------------------------------------------------------------------------------ item 9
# Record ids cannot be squatted.
if want 9; then
	mkca squat "ScepAutoApprove = YES"
	run sq0 "$T/sq0.key" -n host1 -p secret123 -x SQ0
	s0=$(repo_serial "$T/sq0.crt")
	before=$(snapshot)
	run sq1 "$T/sq1.key" -n squatter --txid-type ia5 --txid-hex "$(hexof RENEW-SQ)00$(hexof "$s0")"
	check "an unauthenticated request whose transactionID holds a NUL is refused ($(got))" is 2/2
	check "... and stores nothing" test "$before" = "$(snapshot)"
	run sq2 "$T/sq2.key" -n squatter2 --txid-type ia5 --txid-hex "$(hexof SQ)01$(hexof X)"
	check "a transactionID holding a control character is refused ($(got))" is 2/2
	run sq3 "$T/sq3.key" -n host1 -x RENEW-SQ -t 17 -S "$T/sq0.crt" -K "$T/sq0.key"
	check "the host's renewal with that transactionID is issued ($(got))" is 0/-1
fi

# ------------------------------------------------------------------------------ item 10
# No challenge at rest.
if want 10; then
	STATIC=Rest-Static-$RANDOM$RANDOM
	mkca rest "ScepChallengePassword = $STATIC" "ScepAutoApproveEnrollment = NO"
	run rs1 "$T/rs1.key" -n rest-host1 -p "$STATIC" -x RS1
	check "(guard) a request with the static challenge waits PENDING ($(got))" is 3/-1
	otp=$("$ADMIN" -c "$C" challenge 2>/dev/null | head -n 1)
	run rs2 "$T/rs2.key" -n rest-host2 -p "$otp" -x RS2
	"$ADMIN" -c "$C" approve $(pending_ids) >/dev/null 2>&1
	"$ADMIN" -c "$C" issue >/dev/null 2>&1
	send rs3 "$T/rs1.req" "$T/rs1.self" "$T/rs1.key"
	check "(guard) approved, issued, collected by the client's resend ($(got))" is 0/-1
	found=$("$PY" - "$R" "$STATIC" "$otp" <<'EOF'
import os, sys
root, secrets = sys.argv[1], [s for s in sys.argv[2:] if s]
hits = []
for d, _, files in os.walk(root):
    if os.path.relpath(d, root).split(os.sep)[0] == "ca":
        continue
    for f in files:
        data = open(os.path.join(d, f), "rb").read()
        for s in secrets:
            for enc in (s.encode(), s.encode("utf-16-be")):
                if enc in data:
                    hits.append(os.path.relpath(os.path.join(d, f), root))
print(" ".join(sorted(set(hits))))
EOF
)
	check "no challenge (static or one-time) in any file of the repository${found:+ (found in: $found)}" \
	    test -z "$found"
	check "(guard) no challenge in the server log" \
	    bash -c "! grep -qF -e '$STATIC' -e '${otp:-no-otp}' '$T/server.log'"
fi

# ------------------------------------------------------------------------------ item 11
# The envelope is bound to its signer.
if want 11; then
	# What the corpus clients do (the premise of refusing a foreign signer key).
	cc=$top/tests/corpus; mism=""
	for f in "$cc"/{scepclient,certmonger,strongswan}/{initial,pending,wrong}-1.der "$cc"/strongswan/{des3,pss}-1.der; do
		[ -f "$f" ] || continue
		openssl cms -verify -noverify -inform DER -in "$f" -binary -out "$T/c.env" 2>/dev/null
		openssl pkcs7 -inform DER -in "$f" -print_certs 2>/dev/null >"$T/c.signer"
		openssl cms -provider legacy -provider default -decrypt -inform DER -in "$T/c.env" \
		    -recip "$cc/ca/ca.pem" -inkey "$cc/ca/ca.key" -binary -out "$T/c.csr" 2>/dev/null
		a=$(openssl x509 -in "$T/c.signer" -noout -pubkey 2>/dev/null | sha256sum)
		b=$(openssl req -inform DER -in "$T/c.csr" -noout -pubkey 2>/dev/null | sha256sum)
		[ "$a" = "$b" ] || mism="$mism ${f#$cc/}"
	done
	check "(guard) corpus: scepclient, certmonger and strongSwan sign self-signed requests with the CSR key${mism:+ (not:$mism)}" \
	    test -z "$mism"

	mkca bind
	run vic "$T/vic.key" -n victim -p secret123 -x VICTIM-TX
	check "(guard) the victim's request is issued ($(got))" is 0/-1
	n0=$(wc -l <"$R/index.txt")
	run att1 "$T/att.key" -n attacker -x VICTIM-TX --content-from "$T/vic.req"
	check "the victim's envelope re-signed by another key, same transactionID: refused ($(got))" \
	    refused 2 1
	check "... and the reply holds no certificate for the other key" test ! -s "$T/att1.crt"
	before=$(snapshot)
	run att2 "$T/att.key" -n attacker -x ATTACKER-TX --content-from "$T/vic.req"
	check "the victim's envelope re-signed by another key, new transactionID: refused ($(got))" \
	    refused 2 1
	check "... and nothing is issued or stored" test "$before" = "$(snapshot)"
	run vic2 "$T/vic.key" -n victim -p secret123 -x VICTIM-TX2
	check "a fresh enrollment for a key that holds a valid certificate is refused ($(got))" is 2/2
	check "... and no second certificate exists ($(wc -l <"$R/index.txt") in index.txt)" \
	    test "$(wc -l <"$R/index.txt")" = "$n0"
	send vic3 "$T/vic.req" "$T/vic.self" "$T/vic.key"
	check "(guard) the victim's own resend is a poll: the same certificate ($(got))" \
	    cmp -s "$T/vic.crt" "$T/vic3.crt"
fi

# ------------------------------------------------------------------------------ item 12
# Refused wrongly or not at all.
if want 12; then
	mkca refuse "ScepKeepSubjectAltName = YES"
	before=$(snapshot)
	run md5 "$T/md5.key" -n md5-host -p secret123 -x MD5CSR --csr-digest md5
	check "a CSR signed with MD5: FAILURE badAlg ($(got))" is 2/0
	check "... nothing written" test "$before" = "$(snapshot)"
	run sans "$T/sans.key" -n many-sans -p secret123 -x SANS200 --many-sans 200
	if [ "$STATUS" = 0 ]; then
		check "200 SANs issued: the certificate carries all 200" test "$(openssl x509 -in "$T/sans.crt" -noout -ext subjectAltName 2>/dev/null | grep -o 'DNS:' | wc -l)" = 200
	else
		check "200 SANs: HTTP 200 and FAILURE badRequest, never a 5xx ($(got))" is 2/2
	fi
	check "200 SANs: no record left in approved/" \
	    test -z "$(ls -A "$R/approved" 2>/dev/null)"
	check "(guard) 200 SANs: scep-admin check finds the repository consistent" \
	    "$ADMIN" -c "$C" check
	before=$(snapshot)
	run mtx "$T/mtx.key" -n mt-host -p secret123 -x MTTEXT --msgtype-str PKCSReq
	check "messageType \"PKCSReq\" (signature verifies): signed FAILURE badRequest ($(got))" is 2/2
	# built, not sent: only the message with trailing bytes reaches the server
	key "$T/trl.key"
	"$REQ" build -c "$CA" -k "$T/trl.key" -L "$T/trl.self" -o "$T/trl.req" -n trl-host \
	    -p secret123 -x TRAIL 2>"$T/trl.build"
	printf '\0\0\5' >>"$T/trl.req"
	send trl "$T/trl.req" "$T/trl.self" "$T/trl.key"
	check "three bytes after the message: signed FAILURE badRequest ($(got))" is 2/2
	run tx10 "$T/tx10.key" -n tx-host -p secret123 -x "$(head -c 10240 /dev/zero | tr '\0' T)"
	check "a 10 kB transactionID: signed FAILURE badRequest ($(got))" is 2/2
	check "... these three wrote nothing" test "$before" = "$(snapshot)"
	mkca md5-allowed "ScepAllowedDigests = MD5, SHA-1, SHA-256"
	run md5b "$T/md5b.key" -n md5-host -p secret123 -x MD5OK --csr-digest md5
	check "(guard) a CSR signed with MD5 is issued when ScepAllowedDigests lists MD5 ($(got))" is 0/-1
fi

# ------------------------------------------------------------------------------ item 13
# Serial numbers.
if want 13; then
	mkca serial
	for i in 1 2 3 4; do run "sn$i" "$T/sn$i.key" -n "sn-host$i" -p secret123 -x "SN$i"; done
	for i in 5 6 7 8; do key "$T/sn$i.key"; done
	for i in 5 6 7 8; do run "sn$i" "$T/sn$i.key" -n "sn-host$i" -p secret123 -x "SN$i" & done
	wait
	serials=""
	for i in 1 2 3 4 5 6 7 8; do serials="$serials $(serial_of "$T/sn$i.crt")"; done
	check "(guard) eight certificates issued (four of them in parallel)" test "$(wc -w <<<"$serials")" = 8
	bits=$("$PY" -c 'import sys; print(" ".join(str(int(s, 16).bit_length()) for s in sys.argv[1:]))' $serials)
	check "every serial has 64 to 159 bits (bit lengths: $bits)" \
	    "$PY" -c 'import sys; sys.exit(not all(64 <= int(b) <= 159 for b in sys.argv[1:]))' $bits
	check "(guard) the eight serials are distinct" test "$(tr ' ' '\n' <<<"$serials" | sed '/^$/d' | sort -u | wc -l)" = 8
	check "(guard) index.txt lists each serial, certs/SERIAL.pem exists for each" bash -c '
	    for s in '"$serials"'; do [ $(( ${#s} % 2 )) = 0 ] || s=0$s
	        grep -q "	$s	" "'"$R"'/index.txt" && [ -f "'"$R"'/certs/$s.pem" ] || exit 1; done'
	ossl_ca_conf "$R" "$T"
	s1=$(repo_serial "$T/sn1.crt")
	check "(guard) openssl ca -status reads index.txt: $s1 is Valid" \
	    bash -c "openssl ca -config '$T/openssl.cnf' -status '$s1' 2>&1 | grep -q 'Valid (V)'"
	"$ADMIN" -c "$C" revoke "$s1" --reason keyCompromise >/dev/null 2>&1
	check "(guard) openssl ca -gencrl over index.txt lists the revoked random serial" \
	    bash -c "openssl ca -config '$T/openssl.cnf' -gencrl -out '$T/ossl.crl' 2>/dev/null && openssl crl -in '$T/ossl.crl' -noout -text | grep -q 'Serial Number: $s1'"
	run gc1 "$T/sn2.key" -x GC1 -t 21 --serial "$(serial_of "$T/sn2.crt")" -S "$T/sn2.crt" -K "$T/sn2.key"
	check "(guard) GetCert by the random serial returns the certificate ($(got))" cmp -s "$T/gc1.crt" "$T/sn2.crt"
	run gc2 "$T/sn2.key" -x GC2 -t 21 --serial 01 -S "$T/sn2.crt" -K "$T/sn2.key"
	check "GetCert for serial 01 finds nothing: badCertId ($(got))" is 2/4
fi

# ------------------------------------------------------------------------------ summary
ITEM=all
if grep -qE "$SAN_RE" "$T/server.log" 2>/dev/null; then
	bad "sanitizer report in the server log: $(grep -m1 -E "$SAN_RE" "$T/server.log")"
else
	ok "no sanitizer report from the server"
fi
echo "    per item (checks passed / failed):"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do
	[ -n "${IPASS[$i]:-}${IFAIL[$i]:-}" ] || continue
	echo "      item $i: ${IPASS[$i]:-0} passed, ${IFAIL[$i]:-0} failed"
done
echo "trust: $pass passed, $fail failed"
[ "$fail" = 0 ]
