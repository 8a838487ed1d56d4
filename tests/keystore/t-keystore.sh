#!/bin/bash
# The CA key outside a plain file, and CRL publication, through the real programs.
#
# Three cases, each a fresh repository served by the worker pool behind the shipped nginx
# configuration (apache-conf/nginx-scep.conf, whose /pki/ serves ScepPublishDir):
#   token       the CA and RA keys made inside a SoftHSM2 token (a private SOFTHSM2_CONF
#               directory) by `init --key pkcs11:... --ra-key pkcs11:...`, the PIN in a
#               file (ScepCAKeyPINFile); Apache (apache-scep-pki.conf) serves /pki/ too
#   pemfile     an encrypted PEM key, the passphrase in a file (ScepCAKeyPassphraseFile)
#   credential  the same with the passphrase as a systemd credential
#               (ScepCAKeyPassphraseCredential, $CREDENTIALS_DIRECTORY)
# and in each:
#   - init writes no private key file in the token case (only ca/*.key.uri), an encrypted
#     one otherwise; a CRL exists at once (repository crl.pem, ScepPublishDir ca.crl/ca.crt)
#   - scepclient enrolls; the certificate verifies (openssl verify) and carries the
#     configured cRLDistributionPoints and caIssuers URLs (openssl x509 -text)
#   - the CRL and CA certificate come over HTTP with their media types; openssl verify
#     -crl_check with that CRL (and -crl_download, which follows the URL in the
#     certificate) accepts the certificate, and refuses it after scep-admin revoke
#   - scep-admin crl: a CRL signed by the key (openssl crl -CAfile: verify OK)
#   - rollover prepare (token: --key/--ra-key in the token) and switch; the running pool,
#     not restarted, enrolls with the new CA (its keys opened from the token or file)
#   - a wrong PIN or passphrase: config-check exits 1 and says why, the program run as a
#     CGI answers 500 with one log line, the pool does not start
# and `import --key pkcs11:...` of a CA whose key pkcs11-tool made in the token.
# Prints PASS/FAIL lines and "keystore: N passed, M failed". Needs softhsm2, opensc
# (pkcs11-tool), libengine-pkcs11-openssl, scepclient, nginx, apache2, curl.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../integration/lib.sh"

MODULE=/usr/lib/softhsm/libsofthsm2.so
for t in softhsm2-util pkcs11-tool scepclient nginx apache2 curl; do
	command -v "$t" >/dev/null || { echo "t-keystore: $t is missing (scripts/install-deps)" >&2; exit 1; }
done
[ -e "$MODULE" ] || { echo "t-keystore: $MODULE is missing (softhsm2)" >&2; exit 1; }

it_init keystore
# libp11 0.4.12 (the PKCS#11 engine) leaks its method tables (made when OpenSSL binds the
# engine, ENGINE_by_id, or cleans it up) in a process whose login failed; nothing of ours
# is in those stacks.
printf 'leak:%s\n' EVP_PKEY_meth_new RSA_meth_dup EC_KEY_METHOD_new ENGINE_by_id pkcs11.so \
	libsofthsm2.so >"$IT_DIR/lsan.supp"
export LSAN_OPTIONS="suppressions=$IT_DIR/lsan.supp:print_suppressions=0"

CHAL=keystore-secret
# The token: SoftHSM2 with its own configuration and token directory, owned by the run
# user (the pool and scep-admin open it as that user).
SH=$IT_DIR/softhsm
mkdir -p "$SH/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$SH" >"$SH/softhsm2.conf"
chown -R "$IT_RUN_USER:$IT_RUN_GROUP" "$SH"
export SOFTHSM2_CONF=$SH/softhsm2.conf
if ! it_as_user softhsm2-util --init-token --free --label scep --pin 4321 --so-pin 87654321 \
	>"$SH/init.log" 2>&1; then
	echo "t-keystore: softhsm2-util --init-token failed" >&2; it_show "$SH/init.log"; exit 1
fi

# secret FILE VALUE: a one-line secret file the run user reads.
secret() {
	printf '%s\n' "$2" >"$1"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$1"; chmod 600 "$1"
}

# hdr_type FILE: the Content-Type of a curl -D header file.
hdr_type() { tr -d '\r' <"$1" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p' | tail -n 1; }

# enroll NAME CN: scepclient against $SCEP_URL into $C/NAME/cert.pem; rc in RC.
enroll() {
	local d=$C/$1
	mkdir -p "$d"
	timeout 120 scepclient -server-url "$SCEP_URL" -private-key "$d/key.pem" \
		-certificate "$d/cert.pem" -cn "$2" -organization Example -challenge "$CHAL" \
		>"$d/out.log" 2>&1
	RC=$?
}

# verify_crl NAME CERT CRLFILE(DER): openssl verify -crl_check; rc in RC, output in $C/NAME.out
verify_crl() {
	openssl crl -inform DER -in "$3" -out "$3.pem" 2>/dev/null
	openssl verify -crl_check -CAfile "$SCEP_REPO/ca/ca.pem" -CRLfile "$3.pem" "$2" \
		>"$C/$1.out" 2>&1
	RC=$?
}

# run_case CASE: the whole sequence above for token, pemfile or credential.
run_case() {
	local kind=$1 dir=$IT_DIR/$1 port serial bad n
	IT_PREFIX="$kind: "
	mkdir -p "$dir/pub" "$dir/client"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$dir" "$dir/pub"
	chmod 755 "$dir" "$dir/pub"
	C=$dir/client
	port=$(it_free_port)
	{
		echo "ScepRepository = $dir/repo"
		echo "ScepChallengePassword = $CHAL"
		echo "ScepAutoApproveEnrollment = YES"
		echo "ScepCertValidityDays = 30"
		echo "ScepCRLURL = http://127.0.0.1:$port/pki/ca.crl"
		echo "ScepCAIssuersURL = http://127.0.0.1:$port/pki/ca.crt"
		echo "ScepPublishDir = $dir/pub"
		case $kind in
		token) echo "ScepPKCS11Module = $MODULE"
			echo "ScepCAKeyPINFile = $dir/pin" ;;
		pemfile) echo "ScepCAKeyPassphraseFile = $dir/pass" ;;
		credential) echo "ScepCAKeyPassphraseCredential = scep-ca-pass" ;;
		esac
	} >"$dir/scep.conf"
	chmod 644 "$dir/scep.conf"
	secret "$dir/pin" 4321
	secret "$dir/pass" "correct horse battery staple"
	mkdir -p "$dir/creds"; chmod 700 "$dir/creds"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$dir/creds"
	secret "$dir/creds/scep-ca-pass" "credential passphrase"
	unset CREDENTIALS_DIRECTORY
	[ "$kind" = credential ] && export CREDENTIALS_DIRECTORY=$dir/creds
	SCEP_CONF=$dir/scep.conf SCEP_REPO=$dir/repo
	export SCEP_CONF SCEP_REPO

	# ---- init: the key where it belongs, a CRL at once
	case $kind in
	token) it_admin init --subject "/CN=Token CA/O=Example" \
		--key "pkcs11:token=scep;object=ca-1" --ra-subject "/CN=Token RA/O=Example" \
		--ra-key "pkcs11:token=scep;object=ra-1" >"$dir/init.out" 2>&1 ;;
	*) it_admin init --subject "/CN=${kind} CA/O=Example" >"$dir/init.out" 2>&1 ;;
	esac
	if [ $? = 0 ] && [ -s "$dir/repo/ca/ca.pem" ]; then
		pass "init ($(grep '^key' "$dir/init.out" | tr '\n' ' '))"
	else
		fail "init"; it_show "$dir/init.out"; return
	fi
	if [ "$kind" = token ]; then
		if [ -z "$(find "$dir/repo" -name '*.key')" ] &&
			! grep -rlq 'PRIVATE KEY' "$dir/repo" &&
			[ "$(cat "$dir/repo/ca/ca.key.uri")" = "pkcs11:token=scep;object=ca-1" ] &&
			[ -s "$dir/repo/ca/ra.key.uri" ]; then
			pass "no private key file in the repository, only ca.key.uri and ra.key.uri"
		else
			fail "no private key file in the repository" "$(find "$dir/repo/ca" | tr '\n' ' ')"
		fi
	else
		head -n 1 "$dir/repo/ca/ca.key" | grep -q 'BEGIN ENCRYPTED PRIVATE KEY' &&
			[ "$(stat -c %a "$dir/repo/ca/ca.key")" = 600 ] &&
			pass "ca.key is an encrypted PEM file, mode 0600" ||
			fail "ca.key is an encrypted PEM file" "$(head -n 1 "$dir/repo/ca/ca.key")"
	fi
	if openssl crl -in "$dir/repo/crl.pem" -CAfile "$dir/repo/ca/ca.pem" -noout 2>&1 |
		grep -q 'verify OK' && ! openssl crl -in "$dir/repo/crl.pem" -noout -text |
		grep -q 'Serial Number' && [ -s "$dir/pub/ca.crl" ] && [ -s "$dir/pub/ca.crt" ] &&
		grep -q '^entries: 0$' "$dir/init.out"; then
		pass "init publishes an empty CRL signed by the CA (crl.pem, ScepPublishDir)"
	else
		fail "init publishes an empty CRL"; it_show "$dir/init.out"
	fi
	it_admin config-check >"$dir/cc.out" 2>&1 && grep -q '^ca: loads' "$dir/cc.out" &&
		pass "config-check opens the keys" || { fail "config-check opens the keys"; it_show "$dir/cc.out"; }

	# ---- serve: the pool behind nginx (and Apache for the token), /pki/ from ScepPublishDir
	IT_SDIR=$dir/srv IT_PKI_DIR=$dir/pub IT_NGINX_PORT=$port
	mkdir -p "$IT_SDIR"; chmod 755 "$IT_SDIR"
	export IT_PKI_DIR
	it_start_pool "$SCEP_CONF" 2 && it_start_nginx "$SCEP_CONF" ||
		{ fail "start pool + nginx"; return; }
	NGINX_URL=http://127.0.0.1:$port SCEP_URL=$NGINX_URL/scep
	LOGS="$IT_FCGI_LOGS $IT_SERVER_LOGS"
	APACHE_URL=""
	if [ "$kind" = token ]; then
		if it_start_apache proxy-fcgi "$SCEP_CONF"; then
			APACHE_URL=http://127.0.0.1:$IT_PORT LOGS="$LOGS $IT_SERVER_LOGS"
		else
			fail "start Apache"
		fi
	fi
	unset IT_NGINX_PORT

	# ---- enroll, verify, extensions
	enroll one "keystore-one-$kind"
	if [ "$RC" = 0 ] && openssl verify -CAfile "$SCEP_REPO/ca/ca.pem" "$C/one/cert.pem" \
		>"$C/one/verify.out" 2>&1; then
		pass "scepclient enrolls, openssl verify: $(cat "$C/one/verify.out")"
	else
		fail "scepclient enrolls and verifies" "rc=$RC"; it_show "$C/one/out.log" "$C/one/verify.out"
		return
	fi
	openssl x509 -in "$C/one/cert.pem" -noout -text >"$C/one/text" 2>&1
	if grep -A3 'CRL Distribution Points' "$C/one/text" | grep -qF "URI:http://127.0.0.1:$port/pki/ca.crl" &&
		grep -A2 'Authority Information Access' "$C/one/text" |
		grep -qF "CA Issuers - URI:http://127.0.0.1:$port/pki/ca.crt"; then
		pass "the certificate carries ScepCRLURL and ScepCAIssuersURL"
	else
		fail "the certificate carries ScepCRLURL and ScepCAIssuersURL"; it_show "$C/one/text"
	fi

	# ---- the CRL and CA certificate over HTTP
	for url in "$NGINX_URL" $APACHE_URL; do
		n=$( [ "$url" = "$NGINX_URL" ] && echo nginx || echo apache )
		curl -s --max-time 30 -D "$C/$n-crl.hdr" -o "$C/$n.crl" "$url/pki/ca.crl"
		curl -s --max-time 30 -D "$C/$n-ca.hdr" -o "$C/$n-ca.crt" "$url/pki/ca.crt"
		if [ "$(hdr_type "$C/$n-crl.hdr")" = application/pkix-crl ] &&
			[ "$(hdr_type "$C/$n-ca.hdr")" = application/pkix-cert ] &&
			openssl x509 -inform DER -in "$C/$n-ca.crt" -noout 2>/dev/null; then
			pass "$n serves /pki/ca.crl (application/pkix-crl) and /pki/ca.crt (application/pkix-cert)"
		else
			fail "$n serves the CRL and CA certificate" \
				"$(hdr_type "$C/$n-crl.hdr"), $(hdr_type "$C/$n-ca.hdr")"
		fi
		verify_crl "$n-good" "$C/one/cert.pem" "$C/$n.crl"
		[ "$RC" = 0 ] && pass "openssl verify -crl_check with the CRL from $n: OK" ||
			{ fail "openssl verify -crl_check with the CRL from $n"; it_show "$C/$n-good.out"; }
	done
	openssl verify -crl_check -crl_download -CAfile "$SCEP_REPO/ca/ca.pem" "$C/one/cert.pem" \
		>"$C/download-good.out" 2>&1 &&
		pass "openssl verify -crl_check -crl_download (the certificate's own URL): OK" ||
		{ fail "openssl verify -crl_download"; it_show "$C/download-good.out"; }

	# ---- revoke: the published CRL lists it
	serial=$(it_serial "$C/one/cert.pem")
	it_admin revoke "$serial" --reason keyCompromise >"$dir/revoke.out" 2>&1 ||
		{ fail "scep-admin revoke $serial"; it_show "$dir/revoke.out"; }
	for url in "$NGINX_URL" $APACHE_URL; do
		n=$( [ "$url" = "$NGINX_URL" ] && echo nginx || echo apache )
		curl -s --max-time 30 -o "$C/$n-2.crl" "$url/pki/ca.crl"
		verify_crl "$n-revoked" "$C/one/cert.pem" "$C/$n-2.crl"
		[ "$RC" != 0 ] && grep -q 'certificate revoked' "$C/$n-revoked.out" &&
			pass "after revoke, openssl verify -crl_check with the CRL from $n: certificate revoked" ||
			{ fail "after revoke, verify with the CRL from $n fails"; it_show "$C/$n-revoked.out"; }
	done
	if ! openssl verify -crl_check -crl_download -CAfile "$SCEP_REPO/ca/ca.pem" \
		"$C/one/cert.pem" >"$C/download-revoked.out" 2>&1 &&
		grep -q 'certificate revoked' "$C/download-revoked.out"; then
		pass "after revoke, openssl verify -crl_download: certificate revoked"
	else
		fail "after revoke, openssl verify -crl_download"; it_show "$C/download-revoked.out"
	fi

	# ---- crl: signed by the key
	if it_admin crl >"$dir/crl.out" 2>&1 && grep -q '^entries: 1$' "$dir/crl.out" &&
		openssl crl -in "$dir/repo/crl.pem" -CAfile "$dir/repo/ca/ca.pem" -noout 2>&1 |
		grep -q 'verify OK'; then
		pass "scep-admin crl: $(grep crl_number "$dir/crl.out"), signature verifies"
	else
		fail "scep-admin crl"; it_show "$dir/crl.out"
	fi

	# ---- rollover to a new key, then enroll with it
	case $kind in
	token) it_admin rollover prepare --key "pkcs11:token=scep;object=ca-2" \
		--ra-key "pkcs11:token=scep;object=ra-2" >"$dir/prepare.out" 2>&1 ;;
	*) it_admin rollover prepare --subject "/CN=${kind} CA 2/O=Example" >"$dir/prepare.out" 2>&1 ;;
	esac
	if [ $? = 0 ] && it_admin rollover switch >"$dir/switch.out" 2>&1; then
		pass "rollover prepare + switch ($(grep '^next_key' "$dir/prepare.out" | tr '\n' ' '))"
	else
		fail "rollover prepare + switch"; it_show "$dir/prepare.out" "$dir/switch.out"
	fi
	if [ "$kind" = token ]; then
		[ -z "$(find "$dir/repo" -name '*.key')" ] && ! grep -rlq 'PRIVATE KEY' "$dir/repo" &&
			[ "$(cat "$dir/repo/ca/ca.key.uri")" = "pkcs11:token=scep;object=ca-2" ] &&
			pass "after the switch: ca/ca.key.uri names ca-2, old/ keeps ca-1, no key file" ||
			fail "after the switch: key references" "$(find "$dir/repo/ca" | tr '\n' ' ')"
	else
		head -n 1 "$dir/repo/ca/ca.key" | grep -q 'BEGIN ENCRYPTED PRIVATE KEY' &&
			pass "after the switch: the new ca.key is encrypted too" ||
			fail "after the switch: the new ca.key is encrypted"
	fi
	enroll two "keystore-two-$kind"
	[ "$RC" = 0 ] && openssl verify -CAfile "$SCEP_REPO/ca/ca.pem" "$C/two/cert.pem" >/dev/null 2>&1 &&
		pass "after the switch, the running pool (no restart) enrolls scepclient with the new CA" ||
		{ fail "enroll after the switch, no restart" "rc=$RC"; it_show "$C/two/out.log"; }

	# ---- a wrong PIN or passphrase
	case $kind in
	token) secret "$dir/pin" 9999; bad="PIN incorrect" ;;
	pemfile) secret "$dir/pass" "wrong"; bad="wrong passphrase" ;;
	credential) unset CREDENTIALS_DIRECTORY; bad="CREDENTIALS_DIRECTORY is not set" ;;
	esac
	if ! it_admin config-check >"$dir/cc-bad.out" 2>&1 && grep -qF "$bad" "$dir/cc-bad.out"; then
		pass "config-check with a wrong secret: exit 1, $(head -c 160 "$dir/cc-bad.out")..."
	else
		fail "config-check with a wrong secret says why" "$(cat "$dir/cc-bad.out")"
	fi
	# (full stacks, so that the suppressions above match libp11's frames)
	it_as_user env SCEP_CONF="$SCEP_CONF" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
		QUERY_STRING=operation=GetCACaps ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" \
		"$SCEP_BIN" >"$dir/cgi-bad.out" 2>"$dir/cgi-bad.err"
	# one line says why, besides the request line every request gets (op=, outcome=)
	if head -n 1 "$dir/cgi-bad.out" | grep -q '^Status: 500' &&
		[ "$(grep -vc ' request op=' "$dir/cgi-bad.err")" = 1 ] && grep -qF "$bad" "$dir/cgi-bad.err"; then
		pass "a request with a wrong secret: HTTP 500 and one log line"
	else
		fail "a request with a wrong secret: HTTP 500 and one log line" \
			"$(head -n 1 "$dir/cgi-bad.out"); $(wc -l <"$dir/cgi-bad.err") lines"
		it_show "$dir/cgi-bad.err"
	fi
	it_as_user timeout 60 "$SCEP_BIN" -c "$SCEP_CONF" --workers 2 --socket "$dir/bad.sock" \
		2>"$dir/pool-bad.err"
	[ $? = 1 ] && grep -q 'not starting' "$dir/pool-bad.err" && grep -qF "$bad" "$dir/pool-bad.err" &&
		pass "the pool with a wrong secret does not start, says why" ||
		{ fail "the pool with a wrong secret does not start"; it_show "$dir/pool-bad.err"; }

	# ---- no sanitizer report from the servers
	# shellcheck disable=SC2086
	it_check_sanitizer_logs $LOGS && pass "no sanitizer report in the server logs" ||
		fail "sanitizer report in the server logs"
	it_stop_all
	IT_PIDS=""
}

# import_token: a CA whose key was made in the token by someone else (pkcs11-tool, the
# certificate by openssl through the engine) is imported by reference.
import_token() {
	local dir=$IT_DIR/import
	IT_PREFIX="import: "
	mkdir -p "$dir"; chown "$IT_RUN_USER:$IT_RUN_GROUP" "$dir"; chmod 755 "$dir"
	secret "$dir/pin" 4321
	printf '%s\n' "openssl_conf = oc" "[oc]" "engines = es" "[es]" "pkcs11 = p11" "[p11]" \
		"engine_id = pkcs11" "MODULE_PATH = $MODULE" "PIN = 4321" "init = 0" >"$dir/engine.cnf"
	if ! it_as_user env SCEP_PKCS11_PIN=4321 pkcs11-tool --module "$MODULE" --token-label scep \
		--login --pin env:SCEP_PKCS11_PIN --keypairgen --key-type rsa:2048 --label imported-ca \
		>"$dir/keygen.out" 2>&1 ||
		! it_as_user env OPENSSL_CONF="$dir/engine.cnf" openssl req -new -x509 -engine pkcs11 \
		-keyform engine -key "pkcs11:token=scep;object=imported-ca;type=private" -sha256 \
		-subj "/CN=Imported Token CA/O=Example" -days 30 -out "$dir/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment" \
		>"$dir/req.out" 2>&1 || [ ! -s "$dir/ca.pem" ]; then
		fail "make a CA in the token with pkcs11-tool and openssl"; it_show "$dir/keygen.out" "$dir/req.out"
		return
	fi
	printf '%s\n' "ScepRepository = $dir/repo" "ScepPKCS11Module = $MODULE" \
		"ScepCAKeyPINFile = $dir/pin" "ScepPublishDir = $dir" >"$dir/scep.conf"
	chmod 644 "$dir/scep.conf" "$dir/ca.pem"
	SCEP_CONF=$dir/scep.conf
	if it_admin import --cert "$dir/ca.pem" --key "pkcs11:token=scep;object=imported-ca" \
		>"$dir/import.out" 2>&1 && [ "$(cat "$dir/repo/ca/ca.key.uri")" = \
		"pkcs11:token=scep;object=imported-ca" ] && [ -z "$(find "$dir/repo" -name '*.key')" ] &&
		grep -q '^entries: 0$' "$dir/import.out" && [ -s "$dir/ca.crl" ] &&
		it_admin config-check >"$dir/cc.out" 2>&1; then
		pass "import --key pkcs11:...: only the URI is stored, the first CRL published, config-check opens it"
	else
		fail "import --key pkcs11:..."; it_show "$dir/import.out" "$dir/cc.out"
	fi
	openssl crl -in "$dir/repo/crl.pem" -CAfile "$dir/ca.pem" -noout 2>&1 | grep -q 'verify OK' &&
		pass "the imported token key signs the CRL" || fail "the imported token key signs the CRL"
}

run_case token
import_token
run_case pemfile
run_case credential
IT_PREFIX=""
it_summary keystore || exit 1
[ -n "${IT_KEEP:-}" ] || rm -rf "$IT_DIR"
