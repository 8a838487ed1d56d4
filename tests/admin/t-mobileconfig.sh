#!/bin/bash
# scep-admin mobileconfig end to end with the real binary, against a throwaway repository:
# every key and plist type checked with Debian's Python plistlib, CAFingerprint against
# `openssl x509 -outform DER | sha1sum`, the fresh one-time challenge stored (hash and
# expiry) and accepted exactly once by the real server run as plain CGI, --static-challenge,
# --challenge, --no-challenge, SAN strings and arrays, --sign verified with `openssl cms
# -verify` (also in RA mode: signed by the CA, not the RA), usage errors (exit 2, repository untouched) and failures (exit 1).
# Prints PASS/FAIL lines and "mobileconfig: N passed, M failed"; exits non-zero on failure.
# SCEP_ADMIN_BIN / SCEP_BIN override the programs under test.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
# The sanitizer builds (SCEP_ADMIN_BIN / SCEP_BIN to test others); never a silent fallback.
ADMIN=${SCEP_ADMIN_BIN:-$top/build/asan/scep-admin}
SCEP=${SCEP_BIN:-$top/build/asan/scep}
REQ=$top/build/scepreq
PY=/usr/bin/python3	# Debian's, with the standard plistlib (not the python3 on PATH)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

pass=0; fail=0; skip=0
ok()   { pass=$((pass + 1)); echo "PASS: $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL: $*"; }
skipped() { skip=$((skip + 1)); echo "SKIP: $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
finish() { echo "mobileconfig: $pass passed, $fail failed, $skip skipped"; [ "$fail" = 0 ]; exit $?; }
rcof() { "$@" >/dev/null 2>&1; echo $?; }

if [ ! -x "$ADMIN" ] || [ ! -x "$PY" ]; then
	bad "need $ADMIN (make all asan) and $PY"; finish
fi
if ! "$ADMIN" help 2>/dev/null | grep -q mobileconfig; then
	bad "$ADMIN has no mobileconfig command (register it in src/admin/main.c)"; finish
fi

T=$(mktemp -d /tmp/t-mobileconfig.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
R=$T/repo
C=$T/scep.conf
STATIC='st&<a>"t'"'"'ic'
cat > "$C" <<EOF
ScepRepository = $R
ScepChallengePassword = $STATIC
ScepAutoApproveEnrollment = YES
ScepChallengeTTL = 30m
EOF
A() { "$ADMIN" -c "$C" "$@"; }
# set-up, not a check: stop here if it fails
A init --subject "/CN=Test CA" >/dev/null 2>"$T/init.err" ||
    { bad "setup: init: $(tail -n 1 "$T/init.err")"; finish; }
CA=$R/ca/ca.pem
FP=$(openssl x509 -in "$CA" -outform DER | sha1sum | cut -d ' ' -f 1)
nchal() { find "$R/challenges" -maxdepth 1 -type f | wc -l; }

# The checker: loads the file with plistlib, checks every key and its type against the
# expectations in the environment (X_*), prints PASS/FAIL lines, then "challenge=...".
cat > "$T/check.py" <<'EOF'
import os, plistlib, re, sys
env = os.environ.get
out = []
def check(what, cond):
    out.append(("PASS: " if cond else "FAIL: ") + what)
def is_int(v):
    return type(v) is int
def is_str(v):
    return type(v) is str
uuid_re = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")
tag = sys.argv[2]
try:
    with open(sys.argv[1], "rb") as f:
        p = plistlib.load(f)
except Exception as e:
    print("FAIL: %s: plistlib cannot load it: %s" % (tag, e))
    sys.exit(1)
check(tag + ": plistlib loads it as a dict", type(p) is dict)
top_keys = {"PayloadContent", "PayloadDescription", "PayloadDisplayName",
            "PayloadIdentifier", "PayloadType", "PayloadUUID", "PayloadVersion"}
if env("X_ORG"):
    top_keys.add("PayloadOrganization")
check(tag + ": profile keys %s" % sorted(p), set(p) == top_keys)
check(tag + ": PayloadType Configuration", p.get("PayloadType") == "Configuration")
check(tag + ": PayloadVersion integer 1", is_int(p.get("PayloadVersion")) and p["PayloadVersion"] == 1)
check(tag + ": PayloadIdentifier %r" % p.get("PayloadIdentifier"),
      p.get("PayloadIdentifier") == env("X_IDENT"))
check(tag + ": PayloadUUID upper-case v4", is_str(p.get("PayloadUUID")) and uuid_re.match(p["PayloadUUID"]) is not None)
check(tag + ": PayloadDisplayName %r" % p.get("PayloadDisplayName"),
      p.get("PayloadDisplayName") == env("X_DNAME"))
check(tag + ": PayloadDescription string", is_str(p.get("PayloadDescription")))
if env("X_ORG"):
    check(tag + ": PayloadOrganization", p.get("PayloadOrganization") == env("X_ORG"))
pc = p.get("PayloadContent")
check(tag + ": PayloadContent is an array of one dict", type(pc) is list and len(pc) == 1 and type(pc[0]) is dict)
s = pc[0] if type(pc) is list and pc and type(pc[0]) is dict else {}
pl_keys = {"PayloadContent", "PayloadDescription", "PayloadDisplayName",
           "PayloadIdentifier", "PayloadType", "PayloadUUID", "PayloadVersion"}
if env("X_ORG"):
    pl_keys.add("PayloadOrganization")
check(tag + ": SCEP payload keys %s" % sorted(s), set(s) == pl_keys)
check(tag + ": payload PayloadType com.apple.security.scep", s.get("PayloadType") == "com.apple.security.scep")
check(tag + ": payload PayloadVersion integer 1", is_int(s.get("PayloadVersion")) and s["PayloadVersion"] == 1)
check(tag + ": payload PayloadIdentifier %r" % s.get("PayloadIdentifier"),
      s.get("PayloadIdentifier") == env("X_IDENT") + ".scep")
check(tag + ": payload PayloadUUID v4, not the profile's",
      is_str(s.get("PayloadUUID")) and uuid_re.match(s["PayloadUUID"]) is not None and s["PayloadUUID"] != p.get("PayloadUUID"))
c = s.get("PayloadContent")
check(tag + ": payload PayloadContent is a dict", type(c) is dict)
c = c if type(c) is dict else {}
want = {"URL", "Keysize", "Key Type", "Key Usage", "CAFingerprint", "Retries", "RetryDelay"}
for k, e in (("Name", "X_NAME"), ("Subject", "X_SUBJECT"), ("SubjectAltName", "X_SAN")):
    if env(e):
        want.add(k)
if env("X_CHALLENGE") != "none":
    want.add("Challenge")
check(tag + ": SCEP keys %s" % sorted(c), set(c) == want)
check(tag + ": URL", c.get("URL") == env("X_URL"))
if env("X_NAME"):
    check(tag + ": Name", c.get("Name") == env("X_NAME"))
if env("X_SUBJECT"):
    subj = c.get("Subject")
    check(tag + ": Subject is an array of arrays of [string, string]",
          type(subj) is list and all(type(r) is list and all(type(a) is list and len(a) == 2 and all(is_str(x) for x in a) for a in r) for r in subj))
    check(tag + ": Subject %r" % subj, repr(subj) == env("X_SUBJECT"))
ch = c.get("Challenge")
xc = env("X_CHALLENGE")
if xc == "fresh":
    check(tag + ": Challenge is 32 lower-case hex digits", is_str(ch) and re.match(r"^[0-9a-f]{32}$", ch) is not None)
elif xc != "none":
    check(tag + ": Challenge %r" % ch, ch == xc)
check(tag + ": Keysize integer %s" % env("X_KEYSIZE"), is_int(c.get("Keysize")) and str(c["Keysize"]) == env("X_KEYSIZE"))
check(tag + ": Key Type RSA", c.get("Key Type") == "RSA")
check(tag + ": Key Usage integer %s" % env("X_KU"), is_int(c.get("Key Usage")) and str(c["Key Usage"]) == env("X_KU"))
fp = c.get("CAFingerprint")
check(tag + ": CAFingerprint is data of 20 bytes = SHA-1 of ca.pem's DER",
      type(fp) is bytes and len(fp) == 20 and fp.hex() == env("X_FP"))
check(tag + ": Retries integer %s" % env("X_RETRIES"), is_int(c.get("Retries")) and str(c["Retries"]) == env("X_RETRIES"))
check(tag + ": RetryDelay integer %s" % env("X_DELAY"), is_int(c.get("RetryDelay")) and str(c["RetryDelay"]) == env("X_DELAY"))
if env("X_SAN"):
    check(tag + ": SubjectAltName %r" % c.get("SubjectAltName"), repr(c.get("SubjectAltName")) == env("X_SAN"))
print("\n".join(out))
print("challenge=%s" % (ch if is_str(ch) else ""))
EOF

# validate FILE TAG: run the checker, count its lines; CHAL gets the challenge. A checker
# that stops before its last line (challenge=...) failed, whatever it printed before.
validate() {
	local o rc done=0
	o=$(X_FP=$FP "$PY" "$T/check.py" "$1" "$2" 2>"$T/check.err"); rc=$?
	while IFS= read -r l; do
		case $l in
		PASS:*) ok "${l#PASS: }" ;;
		FAIL:*) bad "${l#FAIL: }" ;;
		challenge=*) CHAL=${l#challenge=}; done=1 ;;
		esac
	done <<<"$o"
	[ "$done" = 1 ] && [ "$rc" = 0 ] ||
	    bad "$2: the checker did not finish (exit $rc): $(tail -n 1 "$T/check.err")"
}

URL="https://scep.example.org/cgi-bin/pkiclient.exe"

# ---- a fresh one-time challenge, every option
before=$(nchal)
now=$(date +%s)
A mobileconfig --url "$URL" --name ca1 --subject '/C=US/O=Ex & <Co>/CN=%ComputerName%/emailAddress=a@b.example' \
    --ttl 2h --keysize 4096 --key-usage 1 --retries 7 --retry-delay 42 \
    --san-dns a.example.org --san-dns 'b.example.org' --san-email "o'neil@example.org" \
    --san-uri 'urn:x?a=1&b=2' --upn 'user@CORP.example' --identifier org.example.test \
    --display-name 'Ex "Wi-Fi" <profile>' --organization "O'Reilly & Sons" -o "$T/p1.mobileconfig"
rc=$?
check "fresh challenge, all options: exit 0" test "$rc" = 0
check "the profile file is mode 0600 (it holds a secret)" test "$(stat -c %a "$T/p1.mobileconfig" 2>/dev/null)" = 600
check "the file starts with the XML declaration" \
    test "$(head -c 38 "$T/p1.mobileconfig")" = '<?xml version="1.0" encoding="UTF-8"?>'
CHAL=
X_URL=$URL X_NAME=ca1 X_IDENT=org.example.test X_DNAME='Ex "Wi-Fi" <profile>' \
X_ORG="O'Reilly & Sons" X_CHALLENGE=fresh X_KEYSIZE=4096 X_KU=1 X_RETRIES=7 X_DELAY=42 \
X_SUBJECT="[[['C', 'US']], [['O', 'Ex & <Co>']], [['CN', '%ComputerName%']], [['1.2.840.113549.1.9.1', 'a@b.example']]]" \
X_SAN="{'dNSName': ['a.example.org', 'b.example.org'], 'rfc822Name': \"o'neil@example.org\", 'uniformResourceIdentifier': 'urn:x?a=1&b=2', 'ntPrincipalName': 'user@CORP.example'}" \
    validate "$T/p1.mobileconfig" "all options"
fpx=$("$PY" -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["PayloadContent"][0]["PayloadContent"]["CAFingerprint"].hex())' "$T/p1.mobileconfig" 2>/dev/null)
check "CAFingerprint = openssl x509 -outform DER | sha1sum ($fpx)" test "$fpx" = "$FP"
check "one challenge stored" test "$(nchal)" = $((before + 1))
h=$(printf '%s' "$CHAL" | sha256sum | cut -d ' ' -f 1)
check "the challenge is stored as its SHA-256 ($h)" test -n "$CHAL" -a -f "$R/challenges/$h"
exp=$(head -n 1 "$R/challenges/$h" 2>/dev/null || echo 0)
check "--ttl 2h: expiry now+2h ($((exp - now)) s)" test $((exp - now)) -ge 7199 -a $((exp - now)) -le 7210
check "the secret itself is not in the repository" \
    test -n "$CHAL" -a -z "$(grep -rl -- "$CHAL" "$R" 2>/dev/null)"

# ---- the profile's challenge is accepted by the server once
if [ -x "$SCEP" ] && [ -x "$REQ" ]; then
	post() {	# post IN.der OUT.der
		REQUEST_METHOD=POST QUERY_STRING=operation=PKIOperation \
		    CONTENT_LENGTH=$(stat -c %s "$1") REMOTE_ADDR=127.0.0.1 SCEP_CONF=$C \
		    "$SCEP" <"$1" >"$2.raw" 2>>"$T/server.log"
		"$PY" -c 'import sys; d=open(sys.argv[1],"rb").read(); i=d.find(b"\r\n\r\n"); open(sys.argv[2],"wb").write(d[i+4:])' "$2.raw" "$2"
	}
	enroll() {	# enroll NAME CHALLENGE -> STATUS
		local n=$1
		openssl genrsa -out "$T/$n.key" 2048 2>/dev/null
		"$REQ" build -c "$CA" -k "$T/$n.key" -n "$n" -p "$2" -x "TX-$n" -L "$T/$n.self" \
		    -o "$T/$n.req" >/dev/null 2>&1 || { STATUS=build-failed; return; }
		post "$T/$n.req" "$T/$n.rep"
		STATUS=$("$REQ" read -c "$CA" -k "$T/$n.key" -S "$T/$n.self" -w "$T/$n.crt" \
		    "$T/$n.rep" 2>/dev/null | sed -n 's/.*status=\([-0-9]*\).*/\1/p')
	}
	enroll dev1 "$CHAL"
	check "the server issues with the profile's challenge (status=$STATUS)" test "$STATUS" = 0
	check "the certificate verifies against ca.pem" \
	    bash -c "openssl verify -CAfile '$CA' '$T/dev1.crt' >/dev/null 2>&1"
	check "the challenge is consumed" test ! -e "$R/challenges/$h" -a -e "$R/challenges/used/$h"
	enroll dev2 "$CHAL"
	check "the same challenge a second time is refused (status=$STATUS)" test "$STATUS" = 2
else
	skipped "server round trip (needs $SCEP and $REQ: make asan tools)"
fi

# ---- defaults, standard output, the default identifier
n0=$(nchal)
A mobileconfig --url "$URL" --no-challenge > "$T/p2.mobileconfig"; rc=$?
check "--no-challenge to standard output: exit 0" test "$rc" = 0
X_URL=$URL X_IDENT=org.example.scep.scep X_DNAME='SCEP enrollment' X_CHALLENGE=none \
X_KEYSIZE=2048 X_KU=5 X_RETRIES=3 X_DELAY=10 validate "$T/p2.mobileconfig" "defaults"
check "--no-challenge stores no challenge" test "$(nchal)" = "$n0"

# ---- --static-challenge (escaped in the XML, exact after parsing), --challenge verbatim
A mobileconfig --url "$URL" --static-challenge --name c2 -o "$T/p3.mobileconfig"; rc=$?
check "--static-challenge: exit 0" test "$rc" = 0
X_URL=$URL X_NAME=c2 X_IDENT=org.example.scep.scep.c2 X_DNAME='SCEP enrollment (c2)' \
X_CHALLENGE=$STATIC X_KEYSIZE=2048 X_KU=5 X_RETRIES=3 X_DELAY=10 \
    validate "$T/p3.mobileconfig" "static challenge"
check "the static challenge is escaped in the XML" \
    grep -q '<string>st&amp;&lt;a&gt;&quot;t&apos;ic</string>' "$T/p3.mobileconfig"
GIVEN='given <&> "x" '"'"'y'"'"' é'
A mobileconfig --url http://127.0.0.1:8080/scep --challenge "$GIVEN" -o "$T/p4.mobileconfig"; rc=$?
check "--challenge: exit 0" test "$rc" = 0
X_URL=http://127.0.0.1:8080/scep X_IDENT=local.scep X_DNAME='SCEP enrollment' \
X_CHALLENGE=$GIVEN X_KEYSIZE=2048 X_KU=5 X_RETRIES=3 X_DELAY=10 \
    validate "$T/p4.mobileconfig" "given challenge"
check "--static-challenge and --challenge store nothing" test "$(nchal)" = "$n0"

# ---- --sign: CMS SignedData that openssl cms verifies against ca.pem
A mobileconfig --url "$URL" --sign --subject '/CN=signed' -o "$T/s.mobileconfig"; rc=$?
check "--sign: exit 0" test "$rc" = 0
check "--sign output is DER (not XML)" test "$(head -c 1 "$T/s.mobileconfig" | od -An -tx1 | tr -d ' ')" = 30
check "openssl cms -verify -inform DER -CAfile ca.pem accepts it" \
    bash -c "openssl cms -verify -inform DER -in '$T/s.mobileconfig' -CAfile '$CA' \
    -out '$T/s.plist' 2>/dev/null"
CHAL=
X_URL=$URL X_IDENT=org.example.scep.scep X_DNAME='SCEP enrollment' X_CHALLENGE=fresh \
X_KEYSIZE=2048 X_KU=5 X_RETRIES=3 X_DELAY=10 X_SUBJECT="[[['CN', 'signed']]]" \
    validate "$T/s.plist" "signed content"
h=$(printf '%s' "$CHAL" | sha256sum | cut -d ' ' -f 1)
check "--sign: the challenge in the signed profile is stored" test -n "$CHAL" -a -f "$R/challenges/$h"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=other -keyout "$T/o.key" -out "$T/o.pem" \
    -days 1 2>/dev/null
check "openssl cms -verify refuses it with another CA" \
    test "$(rcof openssl cms -verify -inform DER -in "$T/s.mobileconfig" -CAfile "$T/o.pem" -out /dev/null)" != 0
check "the signed content carries the signer certificate (the CA)" \
    bash -c "openssl cms -verify -inform DER -in '$T/s.mobileconfig' -noverify -signer '$T/signer.pem' \
    -out /dev/null 2>/dev/null && cmp -s <(openssl x509 -in '$T/signer.pem' -outform DER) \
    <(openssl x509 -in '$CA' -outform DER)"

# ---- RA mode: the profile is still signed by the CA (not the RA) and verifies
R2=$T/ra-repo
printf 'ScepRepository = %s\n' "$R2" > "$T/ra.conf"
"$ADMIN" -c "$T/ra.conf" init --subject "/CN=RA Mode CA" --ra-subject "/CN=RA Mode RA" \
    >/dev/null 2>&1
"$ADMIN" -c "$T/ra.conf" mobileconfig --url "$URL" --no-challenge --sign -o "$T/ra.der"; rc=$?
check "RA mode: --sign exit 0" test "$rc" = 0 -a -f "$R2/ca/ra.pem"
check "RA mode: openssl cms -verify -CAfile ca.pem accepts it" \
    bash -c "openssl cms -verify -inform DER -in '$T/ra.der' -CAfile '$R2/ca/ca.pem' \
    -signer '$T/ra-signer.pem' -out '$T/ra.plist' 2>/dev/null"
check "RA mode: the signer is ca.pem, not ra.pem" \
    cmp -s <(openssl x509 -in "$T/ra-signer.pem" -outform DER 2>/dev/null) \
    <(openssl x509 -in "$R2/ca/ca.pem" -outform DER)
fpra=$("$PY" -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["PayloadContent"][0]["PayloadContent"]["CAFingerprint"].hex())' "$T/ra.plist" 2>/dev/null)
check "RA mode: CAFingerprint is ca.pem's, not ra.pem's" \
    test "$fpra" = "$(openssl x509 -in "$R2/ca/ca.pem" -outform DER | sha1sum | cut -d ' ' -f 1)"

# ---- usage errors: exit 2, nothing stored, nothing written
n0=$(nchal)
usage() {	# usage DESCRIPTION ARGS...
	local d=$1 rc; shift
	rm -f "$T/u.out"
	A mobileconfig "$@" -o "$T/u.out" >/dev/null 2>"$T/u.err"; rc=$?
	check "usage error: $d (rc=$rc: $(head -n 1 "$T/u.err"))" \
	    test "$rc" = 2 -a ! -e "$T/u.out" -a -s "$T/u.err"
}
usage "no --url"
usage "--url not http(s)" --url ftp://x/scep
usage "two challenge modes" --url "$URL" --challenge x --no-challenge
usage "--static-challenge with --challenge" --url "$URL" --static-challenge --challenge x
usage "--ttl without a fresh challenge" --url "$URL" --ttl 1h --no-challenge
usage "--ttl 0" --url "$URL" --ttl 0
usage "--keysize 3000" --url "$URL" --keysize 3000
usage "--keysize x" --url "$URL" --keysize x
usage "--key-usage 2" --url "$URL" --key-usage 2
usage "--retries -1" --url "$URL" --retries -1
usage "--retry-delay 86401" --url "$URL" --retry-delay 86401
usage "malformed --subject" --url "$URL" --subject CN=x
usage "unknown --subject type" --url "$URL" --subject /XY=x
usage "newline in --organization" --url "$URL" --organization "$(printf 'a\nb')"
usage "tab in --display-name" --url "$URL" --display-name "$(printf 'a\tb')"
usage "escape character in --san-dns" --url "$URL" --san-dns "$(printf 'a\033b')"
usage "invalid UTF-8 in --name" --url "$URL" --name "$(printf 'a\377b')"
usage "bad --identifier" --url "$URL" --identifier 'a..b'
usage "--challenge longer than 255 bytes" --url "$URL" --challenge "$(head -c 256 /dev/zero | tr '\0' x)"
usage "unknown option" --url "$URL" --bogus
usage "extra argument" --url "$URL" extra
check "usage errors store no challenge" test "$(nchal)" = "$n0"
check "--help: exit 0 with the usage" bash -c "'$ADMIN' -c '$C' mobileconfig --help | grep -q -- --static-challenge"

# ---- failures: exit 1
fails() {	# fails DESCRIPTION CONF ARGS...
	local d=$1 conf=$2 rc; shift 2
	"$ADMIN" -c "$conf" mobileconfig "$@" >/dev/null 2>"$T/f.err"; rc=$?
	check "failure: $d (rc=$rc: $(head -n 1 "$T/f.err"))" test "$rc" = 1 -a -s "$T/f.err"
}
printf 'ScepRepository = %s\n' "$R" > "$T/nostatic.conf"
fails "--static-challenge without ScepChallengePassword" "$T/nostatic.conf" --url "$URL" --static-challenge
printf 'ScepRepository = %s\nScepOneTimeChallenges = NO\n' "$R" > "$T/noone.conf"
fails "a fresh challenge with ScepOneTimeChallenges = NO" "$T/noone.conf" --url "$URL"
check "... but --no-challenge works there" test "$(rcof "$ADMIN" -c "$T/noone.conf" mobileconfig --url "$URL" --no-challenge)" = 0
fails "--keysize 1024 below ScepMinKeyBits" "$C" --url "$URL" --keysize 1024
printf 'ScepRepository = %s/none\n' "$T" > "$T/norepo.conf"
fails "no CA in the repository" "$T/norepo.conf" --url "$URL" --no-challenge
fails "missing configuration file" "$T/missing.conf" --url "$URL"
fails "-o into a missing directory" "$C" --url "$URL" --no-challenge -o "$T/no/such/dir/p.mobileconfig"
check "failures store no challenge" test "$(nchal)" = "$n0"

finish
