#!/bin/bash
# tests/fuzz/mkcorpus.sh: (re)write the seed corpora tests/fuzz/corpus/<target>/ (`make corpus`).
#   fuzz_pkimsg     every hostile pkiMessage (tests/hostile, generated against the committed
#                   corpus CA so that the good ones decrypt in fuzz_pkimsg) and every
#                   captured or crafted client message of tests/corpus/
#   fuzz_getdecode  the hostile QUERY_STRINGs under 64 KiB, the captured and crafted GET
#                   queries, and the GET encodings (std, sscep, urlsafe, form-decoded) of
#                   one captured message per client
#   fuzz_attrs, fuzz_envelope, fuzz_content, fuzz_csr   the signed attributes, the
#                   envelope, the decrypted content and the CSR of each fuzz_pkimsg seed
#   fuzz_config     repo-layout/scep.conf.sample, the hostile and corpus configurations,
#                   and configurations written below (roles, lists, durations, errors)
# Seeds larger than 64 KiB are left out (run.sh fuzzes with -max_len=65536).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
F=$TOP/tests/fuzz/corpus
C=$TOP/tests/corpus
: "${HOSTILE_BIN:=$TOP/build/hostile}"
if [ ! -x "$HOSTILE_BIN" ] || [ "$TOP/tests/hostile/hostile.c" -nt "$HOSTILE_BIN" ]; then
	mkdir -p "$(dirname "$HOSTILE_BIN")"
	${CC:-cc} -D_GNU_SOURCE -I"$TOP/tests/unit" -O1 -g -o "$HOSTILE_BIN" "$TOP/tests/hostile/hostile.c" \
		-lcrypto || exit 1
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/mkcorpus.XXXXXX")
trap 'rm -rf "$W"' EXIT
small() { [ -s "$1" ] && [ "$(stat -c%s "$1")" -le 65536 ]; }

rm -rf "$F/fuzz_pkimsg" "$F/fuzz_getdecode" "$F/fuzz_config"
mkdir -p "$F/fuzz_pkimsg" "$F/fuzz_getdecode" "$F/fuzz_config"

mkdir -p "$W/h" && "$HOSTILE_BIN" gen "$C/ca/ca.pem" "$W/h" >/dev/null || exit 1
for m in "$W"/h/*.msg; do
	small "$m" && cp "$m" "$F/fuzz_pkimsg/hostile-$(basename "$m" .msg).der"
done
for q in "$W"/h/*.query; do
	small "$q" && cp "$q" "$F/fuzz_getdecode/hostile-$(basename "$q")"
done
for d in "$C"/*/; do
	c=$(basename "$d")
	case $c in ca | tools) continue ;; esac
	for m in "$d"*.der; do small "$m" && cp "$m" "$F/fuzz_pkimsg/$c-$(basename "$m")"; done
	for q in "$d"*.query; do small "$q" && cp "$q" "$F/fuzz_getdecode/$c-$(basename "$q")"; done
done
for c in scepclient strongswan certmonger; do
	m=$C/$c/initial-1.der
	[ -s "$m" ] || continue
	for form in std sscep urlsafe formdecoded; do
		"$HOSTILE_BIN" getq "$m" "$form" "$F/fuzz_getdecode/getq-$form-$c.query"
	done
done
# ---- the layers of the pkiMessages (fuzz_outer reads the fuzz_pkimsg seeds themselves):
# signed attributes and envelope cut out by layers.py, the content decrypted with the
# corpus CA key and prefixed with the messageType's index in fuzz_content.c's table
rm -rf "$F/fuzz_attrs" "$F/fuzz_envelope" "$F/fuzz_content" "$F/fuzz_csr"
mkdir -p "$F/fuzz_attrs" "$F/fuzz_envelope" "$F/fuzz_content" "$F/fuzz_csr"
for m in "$F"/fuzz_pkimsg/*; do
	n=$(basename "$m")
	/usr/bin/python3 "$TOP/tests/fuzz/layers.py" "$m" "$W/l" "$n" || exit 1
	[ -f "$W/l/fuzz_attrs/$n" ] && cp "$W/l/fuzz_attrs/$n" "$F/fuzz_attrs/"
	[ -f "$W/l/fuzz_envelope/$n" ] || continue
	cp "$W/l/fuzz_envelope/$n" "$F/fuzz_envelope/"
	case $(cat "$W/l/msgtype/$n" 2>/dev/null) in
	19) i=0 ;; 17) i=1 ;; 20) i=2 ;; 21) i=3 ;; 22) i=4 ;; *) continue ;;
	esac
	openssl cms -decrypt -inform DER -in "$W/l/fuzz_envelope/$n" -inkey "$C/ca/ca.key" \
	    -recip "$C/ca/ca.pem" -binary -out "$W/plain" 2>/dev/null || continue
	{ printf "\\x0$i"; cat "$W/plain"; } >"$F/fuzz_content/$n"
	[ "$i" -le 1 ] && cp "$W/plain" "$F/fuzz_csr/$n"
done

printf 'operation=GetCACaps&message=0' >"$F/fuzz_getdecode/caps-certmonger.query"
printf 'operation=GetCACert&message=CAIdentifier' >"$F/fuzz_getdecode/cacert-sscep.query"
printf 'operation=GetCACert&message=Device%%20Management%%20Identity%%20Certificate' \
	>"$F/fuzz_getdecode/cacert-apple.query"

# ---- configurations
cp "$TOP/repo-layout/scep.conf.sample" "$F/fuzz_config/sample.conf"
cat >"$F/fuzz_config/minimal.conf" <<'EOF'
ScepRepository = /var/lib/scep
EOF
cat >"$F/fuzz_config/hostile-profiles.conf" <<'EOF'
; like tests/hostile/run.sh and tests/corpus/replay.sh
ScepRepository = /tmp/hostile/srv/repo
ScepChallengePassword = hostile-secret
ScepAutoApproveEnrollment = YES
ScepAutoApprove = YES
ScepCertValidityDays = 8000
ScepAllowLegacyCrypto = NO
ScepAllowedDigests = MD5, SHA-1, SHA-256
EOF
cat >"$F/fuzz_config/roles.conf" <<'EOF'
[scep]
ScepRepository = "/srv/scep;repo"
ScepChallengePassword = "s3cr;et#x"
ScepAutoApproveEnrollment = yes
ScepAllowEnrollment = NO
ScepAllowRenewal = Yes
ScepAutoApprove = 1
ScepKeepSubjectAltName = no
ScepDefaultRole = device
ScepDefaultRA = "RA one"
ScepRenewRDNMatch = CN, O OU,emailAddress serialNumber
ScepOneTimeChallenges = NO
ScepChallengeTTL = 90m
ScepMinKeyBits = 3072
ScepAllowedDigests = SHA-256 SHA-384,SHA-512
ScepAllowedCiphers = AES-128, AES-256, DES3
ScepRoleFallback = REFUSE
ScepCRLValidityDays = 30
ScepLogLevel = debug

[role device]
Days = 90
KeyUsage = digitalSignature, keyEncipherment
ExtendedKeyUsage = clientAuth
Selectable = NO
KeepSubjectAltName = YES
IncludeChain = YES

[role server]
Days = 397
KeyUsage = digitalSignature,keyAgreement
ExtendedKeyUsage = serverAuth, 1.3.6.1.5.5.7.3.17
Selectable = YES

[role vpn-gw.2]
Days = 1
EOF
cat >"$F/fuzz_config/errors.conf" <<'EOF'
ScepRepository = relative/path
ScepCertValidityDays = 0x10
ScepChallengeTTL = 7w
ScepMinKeyBits = 999999999999999999999
ScepAllowedDigests = SHA-3
ScepUnknownKey = 1
[role]
[role bad name]
[other]
ScepRepository = /twice
EOF
printf '[scep]\nScepRepository=/r\n[role a]\nDays=1\n[role A]\nDays=2\n' >"$F/fuzz_config/dup-role.conf"
printf 'ScepRepository = /r\r\nScepChallengePassword = "unterminated\r\n' >"$F/fuzz_config/crlf-quote.conf"

for t in fuzz_pkimsg fuzz_getdecode fuzz_config; do
	echo "mkcorpus: $t: $(find "$F/$t" -type f | wc -l) seeds, $(du -sk "$F/$t" | cut -f1) KiB"
done
