#!/bin/bash
# scep-admin end to end with the real binary: init, roles, renewal refusal, revoke, crl
# (checked with openssl crl and against `openssl ca -gencrl` over the same index.txt),
# challenge, check (and --repair), list/show, config-check of the sample config.
# Certificates are issued through enroll_issue() by tests/admin/mkissued.c, built here.
# Prints PASS/FAIL lines and "admin: N passed, M failed"; exits non-zero on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "PASS: $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL: $*"; }
# check DESCRIPTION COMMAND...: PASS if the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }

# The sanitizer build, like `make check`; never a silent fallback to the plain one.
if [ -x build/asan/scep-admin ] && [ -f build/asan/libscep.a ]; then
	ADMIN=$TOP/build/asan/scep-admin
	LIB=build/asan/libscep.a
	SAN="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
else
	echo "FAIL: prerequisites: build/asan/scep-admin not built (make all asan)"
	echo "admin: 0 passed, 1 failed"; exit 1
fi

T=$(mktemp -d /tmp/t-admin.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
MK=$T/mkissued
WARN="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith"
if ! ${CC:-cc} -D_GNU_SOURCE -I/usr/include/iniparser -Isrc -std=c11 $WARN $SAN -o "$MK" \
    tests/admin/mkissued.c "$LIB" -lcrypto -lfcgi -liniparser; then
	echo "FAIL: cannot build tests/admin/mkissued.c"; echo "admin: 0 passed, 1 failed"; exit 1
fi

json() {	# json FILTER < JSON: jq when present, else python3 with a tiny subset
	if command -v jq >/dev/null 2>&1; then jq -r "$1"; else
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$2"
	fi
}

R=$T/repo
C=$T/scep.conf
cat > "$C" <<EOF
ScepRepository = $R
ScepCRLValidityDays = 10
ScepChallengeTTL = 30m
ScepDefaultRA = test-ra

[role default]
Days = 100

[role vpn]
Days = 30
KeyUsage = digitalSignature
ExtendedKeyUsage = serverAuth, ipsecIKE
Selectable = YES
EOF
A() { "$ADMIN" -c "$C" "$@"; }
rcof() { "$@" >/dev/null 2>&1; echo $?; }

# ---- --help and --version, also after a command; unknown options stay usage errors
out=$("$ADMIN" --version); rc=$?
check "--version: exit 0, the VERSION file's ($out)" test "$rc $out" = "0 scep-admin $(cat VERSION)"
check "--help: exit 0, the command list on stdout" bash -c "'$ADMIN' --help 2>/dev/null | grep -q '^  config-check'"
check "-h: the same" bash -c "'$ADMIN' -h 2>/dev/null | grep -q '^  config-check'"
check "approve --help: exit 0, usage on stdout" bash -c "'$ADMIN' approve --help 2>/dev/null | grep -q '^usage: scep-admin'"
check "mobileconfig --help: its own usage" bash -c "'$ADMIN' mobileconfig --help 2>/dev/null | grep -q 'mobileconfig --url'"
check "--bogus is a usage error" test "$(rcof "$ADMIN" --bogus)" = 2
check "list --bogus is a usage error" test "$(rcof A list --bogus)" = 2

# ---- config-check, including the shipped sample and the man page example
check "config-check --syntax of the test config" A config-check --syntax >/dev/null
out=$(A config-check 2>&1); rc=$?
check "config-check before init: the repository does not open ($rc: $out)" test "$rc" = 1 -a \
    -n "$(grep -F "$C: the repository does not open" <<<"$out")"
out=$("$ADMIN" -c repo-layout/scep.conf.sample config-check --syntax 2>&1)
check "config-check --syntax of repo-layout/scep.conf.sample ($out)" test "$out" = "repo-layout/scep.conf.sample: OK"
printf 'ScepRepository = /r\n[role web]\nDays = 0\n' > "$T/bad.conf"
out=$("$ADMIN" -c "$T/bad.conf" config-check 2>&1); rc=$?
check "config-check reports FILE:LINE ($out)" test "$rc" = 1 -a \
    "$(printf '%s' "$out" | grep -c "$T/bad.conf:3: Days must be")" = 1

# ---- init
# set-up, not a check: stop here if it fails
A init --subject '/CN=Admin Test CA/O=Example' >/dev/null 2>"$T/init.err" ||
    { bad "setup: init: $(tail -n 1 "$T/init.err")"; echo "admin: $pass passed, $fail failed"; exit 1; }
CA=$R/ca/ca.pem
out=$(A config-check 2>&1); rc=$?
check "config-check after init: OK and the CA loads ($rc)" test "$rc $out" = "0 $C: OK
ca: loads"
mkdir -p "$T/noca/pending" "$T/noca/approved" "$T/noca/issued" "$T/noca/rejected"
printf 'ScepRepository = %s/noca\n' "$T" >"$T/noca.conf"
out=$("$ADMIN" -c "$T/noca.conf" config-check 2>&1); rc=$?
check "config-check of an incomplete repository fails ($rc: $out)" test "$rc" = 1

# ---- issue through enroll_issue(): roles, DN index
read -r IDA SA < <("$MK" -c "$C" -s '/CN=dev1/O=Example')
read -r IDB SB < <("$MK" -c "$C" -s '/CN=gw1/O=Example' -r vpn -a ra-east)
read -r IDC SC < <("$MK" -c "$C" -s '/CN=dev1/O=Example')
check "three certificates issued ($SA $SB $SC)" test -n "$SA" -a -n "$SB" -a -n "$SC"
check "default role: 100 days" bash -c "openssl x509 -in '$R/certs/$SA.pem' -noout -enddate \
    -startdate | python3 -c 'import sys,datetime as d
l=dict(x.strip().split(\"=\",1) for x in sys.stdin)
f=lambda s: d.datetime.strptime(s, \"%b %d %H:%M:%S %Y %Z\")
sys.exit(0 if abs((f(l[\"notAfter\"])-f(l[\"notBefore\"])).days-100)<=1 else 1)'"
eku=$(openssl x509 -in "$R/certs/$SB.pem" -noout -ext extendedKeyUsage,keyUsage 2>&1)
check "role vpn: EKU serverAuth+ipsecIKE, KU digitalSignature only" \
    bash -c "grep -q 'TLS Web Server Authentication, ipsec Internet Key Exchange' <<<'$eku' &&
    grep -q '^ *Digital Signature$' <<<'$eku'"
eku=$(openssl x509 -in "$R/certs/$SA.pem" -noout -ext extendedKeyUsage 2>&1)
check "default role: EKU clientAuth+serverAuth" grep -q 'TLS Web Client Authentication' <<<"$eku"
read -r IDU SU < <("$MK" -c "$C" -s '/CN=unknown-role' -r nosuch 2>/dev/null)
eku=$(openssl x509 -in "$R/certs/$SU.pem" -noout -ext extendedKeyUsage 2>&1)
check "unknown role in a record: the default role is used" grep -q 'TLS Web Client Authentication' <<<"$eku"
dnkey=$(cd "$R/bydn" 2>/dev/null && for e in */*."$SA"; do
	k=${e#*/}; k=${k%.*}; [ -e "$R/bydn/${k:0:3}/$k.$SC" ] && echo "$k"; done)
check "DN index lists both certificates of /CN=dev1/O=Example" test -n "$dnkey"
sns=$(cut -f4 "$R/index.txt")
check "serials: 16 random octets, positive, distinct ($(echo $sns))" bash -c "
    [ \$(grep -cE '^[0-7][0-9A-F]{31}\$' <<<'$sns') = 4 ] && [ \$(sort -u <<<'$sns' | wc -l) = 4 ]"

# ---- renewal: two valid certificates for the DN already -> refused, record rejected
out=$("$MK" -c "$C" -s '/CN=dev1/O=Example' -R "$SA"); rc=$?
check "renewal refused with two valid certificates (rc=$rc: $out)" test "$rc" = 3
check "refusal reason" grep -q "there are already 2 valid certificates for this subject" <<<"$out"
IDR=${out%% *}
check "refused renewal is in rejected/" test -f "$R/rejected/$IDR"
# the same through `scep-admin issue`
IDN=$("$MK" -c "$C" -s '/CN=dev1/O=Example' -R "$SC" -n)
out=$(A issue "$IDN" 2>&1); rc=$?
check "scep-admin issue of a refused renewal exits 1 ($out)" test "$rc" = 1
check "scep-admin issue: record rejected" test -f "$R/rejected/$IDN"

# ---- list and show carry role and ra
line=$(A list --state issued | grep "^$IDB ")
check "list: role and ra fields ($line)" test "$(echo "$line" | awk '{print NF, $6, $7}')" = "7 vpn ra-east"
line=$(A list --state issued | grep "^$IDA ")
check "list: default ra recorded ($line)" test "$(echo "$line" | awk '{print $7}')" = "test-ra"
A list --json > "$T/list.json"
check "list --json is JSON with role/ra" test "$(json ".[] | select(.id == \"$IDB\") | .role + \" \" + .ra" \
    "[x['role']+' '+x['ra'] for x in d if x['id']=='$IDB'][0]" < "$T/list.json")" = "vpn ra-east"
check "list --json shows the rejected renewal with its reason" test "$(json \
    ".[] | select(.id == \"$IDR\") | .state + \"/\" + .renewal_of + \"/\" + .reason" \
    "[x['state']+'/'+x['renewal_of']+'/'+x['reason'] for x in d if x['id']=='$IDR'][0]" \
    < "$T/list.json")" = "rejected/$SA/there are already 2 valid certificates for this subject"
out=$(A show "$IDB")
check "show: role and ra" test "$(grep -cE '^(role: vpn|ra: ra-east)$' <<<"$out")" = 2
check "show: not revoked" grep -q '^cert_revoked: no$' <<<"$out"
check "show: role and ra always shown" test "$(A show "$IDA" | grep -cE '^(role: -|ra: test-ra)$')" = 2

# ---- revoke: usage and refusals
check "revoke: bad serial is a usage error" test "$(rcof A revoke xyz)" = 2
check "revoke: zero serial is a usage error" test "$(rcof A revoke 00)" = 2
check "revoke: bad reason is a usage error" test "$(rcof A revoke "$SA" --reason lost)" = 2
check "revoke: removeFromCRL is not a revocation reason" test "$(rcof A revoke "$SA" --reason removeFromCRL)" = 2
check "revoke: no serial is a usage error" test "$(rcof A revoke)" = 2
out=$(A revoke 7FFFFF 2>&1); rc=$?
check "revoke: unknown serial exits 1 ($out)" test "$rc" = 1 -a -n "$(grep 'no certificate' <<<"$out")"

# ---- revoke A as `openssl x509 -serial` prints it, with colons, lower case
ser=$(openssl x509 -in "$R/certs/$SA.pem" -noout -serial)		# serial=XX
colon=$(echo "${ser#serial=}" | sed 's/../&:/g; s/:$//' | tr 'A-F' 'a-f')
out=$(A revoke "serial=$colon" --reason keyCompromise); rc=$?
check "revoke serial=$colon --reason keyCompromise ($out)" test "$rc" = 0
check "revoke prints the serial and the CRL" bash -c "grep -q '^revoked: $SA keyCompromise$' <<<'$out' &&
    grep -q '^entries: 1$' <<<'$out'"
check "revoke again: already revoked, exit 1" test "$(rcof A revoke "$ser")" = 1
check "index.txt line turned to R with the reason" \
    grep -qE "^R	[0-9]+Z	[0-9]+Z,keyCompromise	$SA	" "$R/index.txt"
check "DN index entry of the revoked certificate is gone" test ! -e "$R/bydn/${dnkey:0:3}/$dnkey.$SA"
check "show: revoked" grep -q '^cert_revoked: yes$' <<<"$(A show "$IDA")"
check "crl.pem verifies against ca.pem" bash -c \
    "openssl crl -in '$R/crl.pem' -CAfile '$CA' -noout 2>&1 | grep -q 'verify OK'"
txt=$(openssl crl -in "$R/crl.pem" -noout -text)
check "CRL lists $SA with Key Compromise" bash -c "grep -q 'Serial Number: $SA' <<<'$txt' &&
    grep -q 'Key Compromise' <<<'$txt'"

# ---- a renewal is allowed again now that only one certificate of the DN is valid
out=$("$MK" -c "$C" -s '/CN=dev1/O=Example' -R "$SC"); rc=$?
check "renewal issued after revocation (rc=$rc: $out)" test "$rc" = 0

# ---- revoke B in decimal ("0d" prefix), without a reason
dec=$(python3 -c "print(int('$SB', 16))")
out=$(A revoke "0d$dec" --json); rc=$?
check "revoke 0d$dec --json" test "$rc" = 0
check "revoke --json: serial, null reason, CRL with 2 entries" test "$(json \
    '.serial + " " + (.reason|tostring) + " " + (.crl.entries|tostring)' \
    "d['serial']+' '+str(d['reason']).replace('None','null')+' '+str(d['crl']['entries'])" <<<"$out")" = "$SB null 2"
n1=$(json .crl.crl_number "d['crl']['crl_number']" <<<"$out")

# ---- crl
out=$(A crl --out "$T/copy.pem" --json); rc=$?
check "crl --out --json" test "$rc" = 0
n2=$(json .crl_number "d['crl_number']" <<<"$out")
check "CRL number increases ($n1 -> $n2)" test "$((16#$n2))" -gt "$((16#$n1))"
check "crl --out wrote the same CRL" cmp -s "$R/crl.pem" "$T/copy.pem"
out=$(A crl); rc=$?
check "crl (text) prints path and entries" bash -c "test $rc = 0 && grep -q '^crl: $R/crl.pem$' <<<'$out' &&
    grep -q '^entries: 2$' <<<'$out'"
check "crl: unexpected argument is a usage error" test "$(rcof A crl extra)" = 2
check "CRL verifies, nextUpdate 10 days" bash -c "openssl crl -in '$R/crl.pem' -CAfile '$CA' -noout \
    2>&1 | grep -q 'verify OK' && openssl crl -in '$R/crl.pem' -noout -nextupdate | grep -q \
    \"\$(date -u -d '+10 days' '+%b %e')\""
ours=$(openssl crl -in "$R/crl.pem" -noout -text | sed -n 's/.*Serial Number: *//p' | sort)
check "our CRL lists exactly the revoked serials" test "$ours" = "$(printf '%s\n' "$SA" "$SB" | sort)"

# ---- `openssl ca -gencrl` over the same index.txt and CA agrees. crlnumber is a copy so
# that the repository's counter is not moved by the test.
. tests/lib/repo.sh
ossl_ca_conf "$R" "$T"
if openssl ca -config "$T/openssl.cnf" -gencrl -out "$T/openssl-ca.crl" 2>"$T/ca.err"; then
	theirs=$(openssl crl -in "$T/openssl-ca.crl" -noout -text | sed -n 's/.*Serial Number: *//p' | sort)
	check "openssl ca -gencrl lists the same serials ($(echo $theirs))" test "$ours" = "$theirs"
	kc_ours=$(openssl crl -in "$R/crl.pem" -noout -text | grep -c 'Key Compromise')
	kc_theirs=$(openssl crl -in "$T/openssl-ca.crl" -noout -text | grep -c 'Key Compromise')
	check "and the same reasons ($kc_ours/$kc_theirs)" test "$kc_ours" = "$kc_theirs"
else
	bad "openssl ca -gencrl over the repository: $(cat "$T/ca.err")"
fi

# ---- challenge
out=$(A challenge --count 3 --json); rc=$?
check "challenge --count 3 --json" test "$rc" = 0
secrets=$(json '.[].secret' "'\n'.join(x['secret'] for x in d)" <<<"$out")
check "three 32-hex-digit secrets" test "$(grep -cE '^[0-9a-f]{32}$' <<<"$secrets")" = 3
allin=1
for s in $secrets; do
	h=$(printf '%s' "$s" | sha256sum | cut -d ' ' -f 1)
	[ -f "$R/challenges/$h" ] || allin=0
	grep -rqs "$s" "$R" && allin=0		# the secret itself is stored nowhere
done
check "only SHA-256 hashes of the secrets are stored" test "$allin" = 1
exp=$(json '.[0].expires' "d[0]['expires']" <<<"$out")
d=$(( $(date -u -d "$exp" +%s) - $(date +%s) ))
check "default TTL from ScepChallengeTTL = 30m ($d s)" test "$d" -gt 1700 -a "$d" -le 1800
s=$(A challenge --ttl 2h); rc=$?
h=$(printf '%s' "$s" | sha256sum | cut -d ' ' -f 1)
d=$(( $(head -n 1 "$R/challenges/$h" 2>/dev/null || echo 0) - $(date +%s) ))
check "challenge --ttl 2h stores expiry now+2h ($d s)" test "$rc" = 0 -a "$d" -gt 7100 -a "$d" -le 7200
check "challenge --ttl 0 is a usage error" test "$(rcof A challenge --ttl 0)" = 2
check "challenge --ttl 366d is a usage error" test "$(rcof A challenge --ttl 366d)" = 2
check "challenge --ttl 5x is a usage error" test "$(rcof A challenge --ttl 5x)" = 2
check "challenge --count 0 is a usage error" test "$(rcof A challenge --count 0)" = 2
sed 's/^ScepChallengeTTL.*/ScepOneTimeChallenges = NO/' "$C" > "$T/nochal.conf"
out=$("$ADMIN" -c "$T/nochal.conf" challenge 2>&1); rc=$?
check "challenge refused when ScepOneTimeChallenges = NO ($out)" test "$rc" = 1

# ---- check, and --repair
out=$(A check); rc=$?
check "check on a clean repository: exit 0 ($out)" test "$rc" = 0
out=$(A check --json); rc=$?
check "check --json: no unrepaired issue" test "$rc" = 0 -a "$(json .unrepaired "d['unrepaired']" <<<"$out")" = 0
# an issue committed and never published (a crash): the record back in approved/, holding
# its certificate, the certificate and its index line gone
mv "$R/issued/$IDB" "$R/approved/$IDB" && touch -d '1 hour ago' "$R/approved/$IDB"
rm -f "$R/certs/$SB.pem"
grep -v "	$SB	" "$R/index.txt" >"$T/index.txt" && cat "$T/index.txt" >"$R/index.txt"
out=$(A check); rc=$?
check "check finds an issue committed and not published ($out)" test "$rc" = 1 -a -n "$(grep '^approved-has-cert: ' <<<"$out")"
out=$(A check --repair); rc=$?
check "check --repair publishes it ($out)" test "$rc" = 0 -a -n "$(grep '^approved-has-cert: .* \[repaired\]$' <<<"$out")"
check "check after the repair: exit 0" test "$(rcof A check)" = 0
check "the repair published the same certificate" bash -c "test -f '$R/issued/$IDB' &&
    grep -q '	$SB	' '$R/index.txt' && openssl x509 -in '$R/certs/$SB.pem' -noout"
read -r _ SD < <("$MK" -c "$C" -s '/CN=after-repair')
check "issuing goes on after the repair ($SD)" test -n "$SD" -a -f "$R/certs/$SD.pem"
check "check: unknown option is a usage error" test "$(rcof A check --bogus)" = 2

# ---- RA mode, import of an intermediate (made with the openssl CLI), rollover
st() { "$ADMIN" -c "$1" rollover status 2>&1 | sed -n "s/^$2: //p"; }
cat > "$T/pki.cnf" <<EOF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_root ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_int ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_int_plain ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_ra ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,1.3.6.1.4.1.311.20.2.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_ee ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
EOF
P=$T/pki; mkdir -p "$P"
mkpki() {	# mkpki NAME SUBJECT EXT [ISSUER]: NAME.key, NAME.pem (self-signed without ISSUER)
	if [ -z "${4:-}" ]; then
		openssl req -x509 -config "$T/pki.cnf" -extensions "$3" -subj "$2" -newkey rsa:2048 \
		    -nodes -keyout "$P/$1.key" -out "$P/$1.pem" -days 60 2>/dev/null
	else
		openssl req -new -config "$T/pki.cnf" -subj "$2" -newkey rsa:2048 -nodes \
		    -keyout "$P/$1.key" -out "$P/$1.csr" 2>/dev/null &&
		openssl x509 -req -in "$P/$1.csr" -CA "$P/$4.pem" -CAkey "$P/$4.key" \
		    -set_serial "0x$(openssl rand -hex 8)" -days 50 -extfile "$T/pki.cnf" \
		    -extensions "$3" -out "$P/$1.pem" 2>/dev/null
	fi
}
if mkpki root '/CN=CLI Root/O=Example' v3_root && mkpki int '/CN=CLI Issuing CA/O=Example' v3_int root &&
    mkpki ra '/CN=CLI SCEP RA/O=Example' v3_ra int && mkpki plain '/CN=CLI Plain CA' v3_int_plain root &&
    mkpki ee '/CN=not a CA' v3_ee root; then
	ok "openssl CLI: root, intermediate, RA, plain intermediate, end entity"
else
	bad "openssl CLI could not make the test PKI"
fi

R3=$T/repo3; C3=$T/scep3.conf
printf 'ScepRepository = %s\n' "$R3" > "$C3"
A3() { "$ADMIN" -c "$C3" "$@"; }
check "import: --key missing is a usage error" test "$(rcof A3 import --cert "$P/int.pem")" = 2
check "import: --ra with --chain is a usage error" test "$(rcof A3 import --ra --cert "$P/ra.pem" \
    --key "$P/ra.key" --chain "$P/root.pem")" = 2
out=$(A3 import --cert "$P/int.pem" --key "$P/root.key" --chain "$P/root.pem" 2>&1); rc=$?
check "import: key of another certificate refused ($out)" test "$rc" = 1 -a -n "$(grep 'does not match' <<<"$out")"
out=$(A3 import --cert "$P/ee.pem" --key "$P/ee.key" 2>&1); rc=$?
check "import: an end entity is not a CA ($out)" test "$rc" = 1 -a -n "$(grep 'not a CA' <<<"$out")"
out=$(A3 import --cert "$P/int.pem" --key "$P/int.key" --chain "$P/int.pem" 2>&1); rc=$?
check "import: chain that did not issue the CA refused ($out)" test "$rc" = 1 -a -n "$(grep 'did not issue' <<<"$out")"
out=$(A3 import --ra --cert "$P/ra.pem" --key "$P/ra.key" 2>&1); rc=$?
check "import --ra before the CA: refused ($out)" test "$rc" = 1
out=$(A3 import --cert "$P/int.pem" --key "$P/int.key" --chain "$P/root.pem" 2>&1); rc=$?
check "import of the intermediate with its root as chain" test "$rc" = 0 -a \
    -n "$(grep '^ca: /CN=CLI\\x20Issuing\\x20CA/O=Example$' <<<"$out")"
check "import: ca.pem, ca.key 0600, chain.pem = root" bash -c "cmp -s '$R3/ca/chain.pem' '$P/root.pem' &&
    test \"\$(stat -c %a '$R3/ca/ca.key')\" = 600 && openssl x509 -in '$R3/ca/ca.pem' -noout -subject |
    grep -q 'CLI Issuing CA'"
check "import again: refused" test "$(rcof A3 import --cert "$P/int.pem" --key "$P/int.key")" = 1
check "status: CA mode, [CA, root]" test "$(st "$C3" mode) $(st "$C3" getcacert_certs)" = "ca 2"
printf 'ScepRepository = %s\nScepCACertIncludeRoot = NO\n' "$R3" > "$T/scep3-noroot.conf"
check "status with ScepCACertIncludeRoot = NO: [CA]" test "$(st "$T/scep3-noroot.conf" getcacert_certs)" = 1
read -r _ S3 < <("$MK" -c "$C3" -s '/CN=under-intermediate')
check "certificate issued by the intermediate verifies up to the root ($S3)" bash -c \
    "openssl verify -CAfile '$P/root.pem' -untrusted '$R3/ca/ca.pem' '$R3/certs/$S3.pem' | grep -q ': OK'"
out=$(A3 import --ra --cert "$P/ra.pem" --key "$P/ra.key" 2>&1); rc=$?
check "import --ra of an RA made by openssl x509" test "$rc" = 0 -a -f "$R3/ca/ra.pem" -a \
    -n "$(grep '^ca_ra: /CN=CLI\\x20SCEP\\x20RA/O=Example$' <<<"$out")"
check "status: RA mode, [RA, CA, root] / without root [RA, CA]" test \
    "$(st "$C3" mode) $(st "$C3" getcacert_certs) $(st "$T/scep3-noroot.conf" getcacert_certs)" = "ra 3 2"
check "import --ra again: refused" test "$(rcof A3 import --ra --cert "$P/ra.pem" --key "$P/ra.key")" = 1

R4=$T/repo4; C4=$T/scep4.conf
printf 'ScepRepository = %s\n' "$R4" > "$C4"
out=$("$ADMIN" -c "$C4" import --cert "$P/plain.pem" --key "$P/plain.key" --chain "$P/root.pem" 2>&1); rc=$?
check "import of a CA without digitalSignature/keyEncipherment: done, with a warning" \
    test "$rc" = 0 -a -n "$(grep 'no keyUsage digitalSignature and keyEncipherment' <<<"$out")"
out=$("$ADMIN" -c "$C4" ra --subject '/CN=Plain RA' --days 20 2>&1); rc=$?
check "ra adds an RA to it" test "$rc" = 0 -a -n "$(grep '^ca_ra: /CN=Plain' <<<"$out")"
check "ra: issued by the CA, EKU serverAuth + Certificate Request Agent" bash -c "openssl verify \
    -CAfile '$P/root.pem' -untrusted '$R4/ca/ca.pem' -purpose sslserver '$R4/ca/ra.pem' | grep -q ': OK' &&
    openssl x509 -in '$R4/ca/ra.pem' -noout -ext extendedKeyUsage | grep -q '1.3.6.1.4.1.311.20.2.1'"
check "ra twice: refused" test "$(rcof "$ADMIN" -c "$C4" ra --subject '/CN=again')" = 1

# ---- init --ra-subject and a rollover in RA mode
R2=$T/repo2; C2=$T/scep2.conf
printf 'ScepRepository = %s\n' "$R2" > "$C2"
A2() { "$ADMIN" -c "$C2" "$@"; }
check "init: bad --ra-subject is a usage error" test "$(rcof A2 init --subject /CN=x --ra-subject CN=y)" = 2
check "init: bad --ra-subject creates nothing" test ! -e "$R2/ca/ca.key"
out=$(A2 init --subject '/CN=RA Mode CA' --ra-subject '/CN=RA Mode RA' --days 400); rc=$?
check "init --ra-subject" test "$rc" = 0 -a -n "$(grep '^ra_subject: /CN=RA Mode RA$' <<<"$out")"
check "RA: issued by ca.pem, end entity, KU dS+kE" bash -c "openssl verify -CAfile '$R2/ca/ca.pem' \
    -purpose sslserver '$R2/ca/ra.pem' | grep -q ': OK' && openssl x509 -in '$R2/ca/ra.pem' -noout \
    -ext basicConstraints,keyUsage | tr -d '\n' | grep -q 'CA:FALSE.*Digital Signature, Key Encipherment'"
check "status: RA mode, [RA, CA], nothing prepared" test \
    "$(st "$C2" mode) $(st "$C2" getcacert_certs) $(st "$C2" rollover) $(st "$C2" old)" = "ra 2 none none"
out=$(A2 rollover switch 2>&1); rc=$?
check "rollover switch with nothing prepared: exit 1 ($out)" test "$rc" = 1 -a -n "$(grep 'no rollover is prepared' <<<"$out")"
check "rollover: no subcommand / unknown one are usage errors" test "$(rcof A2 rollover) $(rcof A2 rollover go)" = "2 2"
check "rollover prepare: --cert without --key is a usage error" test "$(rcof A2 rollover prepare --cert "$P/int.pem")" = 2
check "rollover prepare: --cert with --subject is a usage error" test \
    "$(rcof A2 rollover prepare --cert "$P/int.pem" --key "$P/int.key" --subject /CN=x)" = 2
cp "$R2/ca/ca.pem" "$T/ca2-gen1.pem"; cp "$R2/ca/ra.pem" "$T/ra2-gen1.pem"
out=$(A2 rollover prepare --days 300 2>/dev/null); rc=$?
check "rollover prepare ($rc)" test "$rc" = 0 -a -n "$(grep '^next: /CN=RA\\x20Mode\\x20CA$' <<<"$out")" \
    -a -n "$(grep '^next_ra: /CN=RA\\x20Mode\\x20RA$' <<<"$out")"
check "prepare: ca/next holds the next CA and RA, ca/ unchanged" bash -c "test -f '$R2/ca/next/ca.key' -a \
    -f '$R2/ca/next/ra.key' -a ! -e '$R2/ca/next.tmp' && cmp -s '$R2/ca/ca.pem' '$T/ca2-gen1.pem'"
check "status: prepared, GetNextCACert [RA, CA]" test "$(st "$C2" rollover) $(st "$C2" getnextcacert_certs)" = "prepared 2"
check "next RA verifies against the next CA only" bash -c "openssl verify -CAfile '$R2/ca/next/ca.pem' \
    -purpose sslserver '$R2/ca/next/ra.pem' | grep -q ': OK' && ! openssl verify -CAfile '$R2/ca/ca.pem' \
    '$R2/ca/next/ra.pem' >/dev/null 2>&1"
check "rollover prepare twice: exit 1" test "$(rcof A2 rollover prepare)" = 1
next_fp=$(st "$C2" next_sha256)
read -r _ SG1 < <("$MK" -c "$C2" -s '/CN=gen1-device')
out=$(A2 rollover switch 2>/dev/null); rc=$?
check "rollover switch ($rc)" test "$rc" = 0 -a -n "$(grep '^crl: ' <<<"$out")"
check "switch: the next CA is current, the former one in ca/old" bash -c "test '$(st "$C2" ca_sha256)' = '$next_fp' &&
    cmp -s '$R2/ca/old/ca.pem' '$T/ca2-gen1.pem' && cmp -s '$R2/ca/old/ra.pem' '$T/ra2-gen1.pem' &&
    test ! -e '$R2/ca/next' -a ! -e '$R2/ca/switching' && test \"\$(stat -c %a '$R2/ca/old' '$R2/ca/old/ca.key' \
    '$R2/ca/old/ra.key' | tr '\n' ' ')\" = '700 600 600 '"
check "status after the switch: old is set, nothing prepared" test \
    "$(st "$C2" rollover) $(st "$C2" mode) $(st "$C2" old_sha256 | cut -c1-5)" = "none ra $(openssl x509 \
    -in "$T/ca2-gen1.pem" -noout -fingerprint -sha256 | sed 's/.*=//' | cut -c1-5)"
check "switch remade the CRL with the new CA" bash -c \
    "openssl crl -in '$R2/crl.pem' -CAfile '$R2/ca/ca.pem' -noout 2>&1 | grep -q 'verify OK'"
read -r _ SG2 < <("$MK" -c "$C2" -s '/CN=gen2-device')
check "certificates before and after the switch verify against their own CA" bash -c "
    openssl verify -CAfile '$R2/ca/old/ca.pem' '$R2/certs/$SG1.pem' | grep -q ': OK' &&
    openssl verify -CAfile '$R2/ca/ca.pem' '$R2/certs/$SG2.pem' | grep -q ': OK' &&
    ! openssl verify -CAfile '$R2/ca/ca.pem' '$R2/certs/$SG1.pem' >/dev/null 2>&1"
check "check is clean after the rollover" test "$(rcof A2 check)" = 0
# a second round replaces ca/old
cp "$R2/ca/ca.pem" "$T/ca2-gen2.pem"
check "second rollover, new subject" bash -c "'$ADMIN' -c '$C2' rollover prepare --subject '/CN=RA Mode CA 3' \
    --key-bits 3072 >/dev/null 2>&1 && '$ADMIN' -c '$C2' rollover switch >/dev/null 2>&1"
check "ca/old is now the second generation; the new CA has 3072 bits" bash -c "cmp -s '$R2/ca/old/ca.pem' \
    '$T/ca2-gen2.pem' && openssl x509 -in '$R2/ca/ca.pem' -noout -text | grep -q '(3072 bit)'"
# rollover to the CLI-made intermediate in the main repository (CA mode, no RA)
out=$(A rollover prepare --cert "$P/int.pem" --key "$P/int.key" --chain "$P/root.pem" 2>/dev/null); rc=$?
check "rollover prepare --cert/--key/--chain: import the next CA ($rc)" test "$rc" = 0 -a \
    -n "$(grep '^next: /CN=CLI\\x20Issuing\\x20CA/O=Example$' <<<"$out")" -a -n "$(grep '^next_ra: none$' <<<"$out")"
check "status: GetNextCACert [CA, root]" test "$(st "$C" getnextcacert_certs)" = 2
check "rollover switch to the intermediate" test "$(rcof A rollover switch)" = 0
check "the intermediate signs the new CRL, which keeps the revoked serials" bash -c "openssl crl \
    -in '$R/crl.pem' -CAfile '$R/ca/ca.pem' -noout 2>&1 | grep -q 'verify OK' &&
    openssl crl -in '$R/crl.pem' -noout -issuer | grep -q 'CLI Issuing CA' &&
    test \"\$(openssl crl -in '$R/crl.pem' -noout -text | grep -c 'Serial Number:')\" = 2"

# ---- record ids: approve, reject, issue and show take the same unique prefix
I=$T/ids
mkdir -p "$I"
printf 'ScepRepository = %s/repo\n' "$I" >"$I/scep.conf"
AI() { "$ADMIN" -c "$I/scep.conf" "$@"; }
if [ -x build/scepreq ] && [ -x build/asan/scep ] && AI init --subject /CN=Ids >/dev/null 2>&1; then
	openssl genrsa -out "$I/k.pem" 2048 2>/dev/null
	for n in 1 2 3; do	# three PENDING requests (no challenge, no auto-approval)
		build/scepreq build -c "$I/repo/ca/ca.pem" -k "$I/k.pem" -n "ids-$n" -x "IDS$n" \
			-L "$I/s$n.pem" -o "$I/r$n.der"
		REQUEST_METHOD=POST QUERY_STRING=operation=PKIOperation SCEP_CONF=$I/scep.conf \
			CONTENT_LENGTH=$(stat -c %s "$I/r$n.der") build/asan/scep <"$I/r$n.der" >/dev/null 2>&1
	done
	id1=$(AI list | awk '/ids-1/ {print $1}') id2=$(AI list | awk '/ids-2/ {print $1}')
	id3=$(AI list | awk '/ids-3/ {print $1}')
	p1=$(cut -c1-8 <<<"$id1" | tr a-f A-F)
	out=$(AI approve "$p1" 2>&1); rc=$?
	check "approve takes an 8-digit prefix, any case ($rc: $out)" test "$rc $out" = "0 $id1 approved"
	out=$(AI reject "${id2:0:12}" --reason test 2>&1); rc=$?
	check "reject takes a prefix ($rc: $out)" test "$rc $out" = "0 $id2 rejected"
	out=$(AI issue "${id1:0:10}" 2>&1); rc=$?
	check "issue takes a prefix ($rc: $out)" test "$rc" = 0 -a "${out%% *}" = "$id1"
	out=$(AI approve "${id3:0:7}" 2>&1); rc=$?
	check "approve refuses a prefix under 8 digits ($rc: $out)" test "$rc" = 1 -a \
		-n "$(grep -F 'unique prefix of at least 8' <<<"$out")"
	# a second record sharing the first 8 digits (a copy under a made-up id)
	twin=${id3:0:8}$(printf '%056d' 0)
	cp -a "$I/repo/pending/$id3" "$I/repo/pending/$twin"
	out=$(AI approve "${id3:0:8}" 2>&1); rc=$?
	check "approve refuses an ambiguous prefix ($rc: $out)" test "$rc" = 1 -a \
		-n "$(grep -F 'ambiguous, 2 records match' <<<"$out")" -a -f "$I/repo/pending/$id3"
	out=$(AI show "${id3:0:8}" 2>&1); rc=$?
	check "show refuses the same ambiguous prefix ($rc)" test "$rc" = 1
	rm -rf "${I:?}/repo/pending/$twin"
	out=$(AI approve "${id3:0:8}" 2>&1); rc=$?
	check "once unique, the prefix is approved ($rc: $out)" test "$rc $out" = "0 $id3 approved"
	out=$(AI approve 0123456789abcdef 2>&1); rc=$?
	check "approve of an unknown prefix: no such record ($rc)" test "$rc" = 1 -a \
		-n "$(grep -F 'no such record' <<<"$out")"
else
	bad "record ids: prerequisites (make asan tools) or init"
fi

# A repository of the older layout (record directories, certs/<SERIAL>.id, bydn/<dnkey>/):
# scep-admin migrate converts it, nothing lost.
before=$(A list | sort)
/usr/bin/python3 tests/admin/oldlayout.py "$R"
check "older layout: records are directories" test -d "$R/issued/$IDA" -a -f "$R/issued/$IDA/meta"
out=$(A check 2>&1); rc=$?
check "older layout: check fails and names migrate (exit $rc)" bash -c "[ $rc = 1 ] &&
    grep -q 'run scep-admin migrate' <<<'$out'"
out=$(A migrate 2>&1); rc=$?
check "migrate converts it (exit $rc)" bash -c "[ $rc = 0 ] && grep -q '^migrate: issued/$IDA: record directory converted' <<<'$out'"
check "migrate: check is clean, records are files again, no .id left" bash -c "
    '$ADMIN' -c '$C' check >/dev/null 2>&1 && test -f '$R/issued/$IDA' &&
    [ -z \"\$(find '$R/certs' -name '*.id')\" ] && [ -z \"\$(find '$R/bydn' -mindepth 1 -maxdepth 1 -name '????*')\" ]"
check "migrate: list shows the same records in the same states" test "$(A list | sort)" = "$before"
check "migrate: show reads a converted record with its certificate" bash -c "
    '$ADMIN' -c '$C' show '$IDA' | grep -q '^cert_revoked: yes$'"
check "migrate again: nothing to do (exit 0, no output)" test -z "$(A migrate 2>&1)"

echo "admin: $pass passed, $fail failed"
[ "$fail" = 0 ]
