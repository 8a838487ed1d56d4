#!/bin/bash
# HTTP-level checks of a running SCEP server with curl: content types (exact, no charset),
# GetCACaps/GetCACert with every message= variant clients send, the /pkiclient.exe path
# suffix, HTTP/1.0, and garbage PKIOperations (HTTP 400, repository unchanged).
# GetCACert by CA shape: a self-signed CA is sent as its DER (application/x-x509-ca-cert);
# an intermediate CA as a degenerate PKCS#7 [CA, chain..., root] and an RA as [RA, CA...]
# (application/x-x509-ca-ra-cert), in that order.
#
# Run alone: SCEP_URL=http://127.0.0.1:PORT/scep SCEP_CHALLENGE=... SCEP_CONF=... \
#            SCEP_REPO=... tests/integration/t-curl.sh
set -u
. "$(dirname "$0")/lib.sh"
it_need_env
it_client_dir curl
D=$IT_OUT

# get NAME URL [curl args]: fetch into $D/NAME.{body,hdr}; sets ST (status), CT (raw
# Content-Type header value, CR stripped), CL (Content-Length header or "").
get() {
	local n=$1 u=$2; shift 2
	ST=$(curl -s --max-time 30 -o "$D/$n.body" -D "$D/$n.hdr" -w '%{http_code}' "$@" "$u")
	CT=$(tr -d '\r' <"$D/$n.hdr" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p' | tail -n 1)
	CL=$(tr -d '\r' <"$D/$n.hdr" | sed -n 's/^[Cc]ontent-[Ll]ength: *//p' | tail -n 1)
}

openssl x509 -in "$IT_CA" -outform DER -out "$D/ca.der" 2>/dev/null ||
	{ fail "read $IT_CA"; it_summary curl; exit 1; }
# the GetCACert body expected: the CA's DER, or a PKCS#7 whose certificates are
# $IT_GETCACERT in order (compared once decoded: the PKCS#7 wrapping may differ)
if [ "$IT_SHAPE" = self ]; then CACT=application/x-x509-ca-cert
else CACT=application/x-x509-ca-ra-cert; fi
cacert_ok() {	# FILE: the body is what GetCACert must return
	if [ "$IT_SHAPE" = self ]; then cmp -s "$1" "$D/ca.der"
	else
		openssl pkcs7 -inform DER -in "$1" -print_certs -out "$1.pem" 2>/dev/null &&
			it_certs_equal "$1.pem" "$IT_GETCACERT"
	fi
}
case $IT_SHAPE in
self) WHAT="DER of ca.pem" ;;
ra) WHAT="PKCS#7 [RA, CA]" ;;
intermediate) WHAT="PKCS#7 [CA, root]" ;;
esac

# ---- GetCACaps
for m in ABSENT 0 EMPTY CAIdentifier; do
	case $m in
	ABSENT) q="operation=GetCACaps" ;;
	EMPTY) q="operation=GetCACaps&message=" ;;
	*) q="operation=GetCACaps&message=$m" ;;
	esac
	get "caps-$m" "$SCEP_URL?$q"
	if [ "$ST" = 200 ] && [ "$CT" = "text/plain" ]; then
		pass "GetCACaps message=$m: 200 text/plain"
	else
		fail "GetCACaps message=$m: 200 text/plain" "got $ST '$CT'"
	fi
done
caps=$(tr -d '\r' <"$D/caps-ABSENT.body")
missing=""
for c in POSTPKIOperation SHA-256 AES SCEPStandard; do
	printf '%s\n' "$caps" | grep -qx -- "$c" || missing="$missing $c"
done
# Renewal is advertised when the CA allows it (certmonger renews only then)
if [ "$(it_conf_bool ScepAllowRenewal YES)" = YES ]; then
	printf '%s\n' "$caps" | grep -qx Renewal && pass "GetCACaps lists Renewal (ScepAllowRenewal=YES)" ||
		fail "GetCACaps lists Renewal (ScepAllowRenewal=YES)"
else
	# only meaningful when GetCACaps answered with its list
	if printf '%s\n' "$caps" | grep -qx POSTPKIOperation && ! printf '%s\n' "$caps" | grep -qx Renewal
	then pass "GetCACaps without Renewal (ScepAllowRenewal=NO)"
	else fail "GetCACaps without Renewal (ScepAllowRenewal=NO)" "body: $(printf '%s' "$caps" | tr '\n' ' ')"; fi
fi
if [ -z "$missing" ]; then pass "GetCACaps lists POSTPKIOperation SHA-256 AES SCEPStandard"
else fail "GetCACaps lists POSTPKIOperation SHA-256 AES SCEPStandard" "missing:$missing; body: $(printf '%s' "$caps" | tr '\n' ' ')"; fi
# strongSwan 5.9.8 accepts AES only when SHA-384 is listed (clients.md §5)
if printf '%s\n' "$caps" | grep -qx 'SHA-384'; then pass "GetCACaps lists SHA-384 (strongSwan AES)"
else fail "GetCACaps lists SHA-384 (strongSwan AES)"; fi
sz=$(wc -c <"$D/caps-ABSENT.body")
if [ "$sz" -gt 0 ] && [ "$sz" -lt 1024 ]; then pass "GetCACaps body 1..1023 bytes (certmonger limit)"
else fail "GetCACaps body 1..1023 bytes (certmonger limit)" "$sz bytes"; fi

# ---- GetCACert with every message= value seen in the wild
for m in ABSENT 0 CAIdentifier default EMPTY; do
	case $m in
	ABSENT) q="operation=GetCACert" ;;
	EMPTY) q="operation=GetCACert&message=" ;;
	*) q="operation=GetCACert&message=$m" ;;
	esac
	get "cacert-$m" "$SCEP_URL?$q"
	if [ "$ST" = 200 ] && [ "$CT" = "$CACT" ] && cacert_ok "$D/cacert-$m.body"; then
		pass "GetCACert message=$m: 200 $CACT, $WHAT"
	else
		fail "GetCACert message=$m: 200 $CACT, $WHAT" \
			"got $ST '$CT', $(wc -c <"$D/cacert-$m.body") bytes"
	fi
done
cp "$D/cacert-ABSENT.body" "$D/cacert.body"
get cacert-cl "$SCEP_URL?operation=GetCACert&message=0"
# Content-Length must be right when present. Apache 2.4.71 drops the one the program
# sends under mod_cgid and mod_proxy_fcgi and chunks the reply instead (HTTP/1.1).
if [ "$CL" = "$(wc -c <"$D/cacert-cl.body")" ] && cmp -s "$D/cacert-cl.body" "$D/cacert.body"; then
	pass "GetCACert Content-Length matches the body"
elif [ -z "$CL" ] && grep -qi '^transfer-encoding: *chunked' "$D/cacert-cl.hdr"; then
	pass "GetCACert framed (chunked by the web server, no Content-Length)"
else
	fail "GetCACert framing" "Content-Length '$CL' for $(wc -c <"$D/cacert-cl.body") bytes"
fi

# ---- path suffix (clients append pkiclient.exe)
for p in /pkiclient.exe /cgi-bin/pkiclient.exe; do
	get suffix-caps "$SCEP_URL$p?operation=GetCACaps"
	get suffix-cert "$SCEP_URL$p?operation=GetCACert&message=0"
	if [ "$ST" = 200 ] && [ "$CT" = "$CACT" ] && cmp -s "$D/suffix-cert.body" "$D/cacert.body" &&
		cmp -s "$D/suffix-caps.body" "$D/caps-ABSENT.body"; then
		pass "path suffix $p serves GetCACaps and GetCACert"
	else
		fail "path suffix $p serves GetCACaps and GetCACert" "got $ST '$CT'"
	fi
done

# ---- HTTP/1.0 client (Cisco IOS style), whole body delivered
get http10 "$SCEP_URL/pkiclient.exe?operation=GetCACert&message=Test-Router" --http1.0 \
	-A 'Mozilla/4.0 (compatible; MSIE 5.0; Cisco PKI)'
if [ "$ST" = 200 ] && cmp -s "$D/http10.body" "$D/cacert.body"; then pass "HTTP/1.0 GetCACert"
else fail "HTTP/1.0 GetCACert" "got $ST"; fi

# ---- unknown operation: an HTTP error, not a crash or a 200
get badop "$SCEP_URL?operation=NoSuchOperation"
case $ST in 4??) pass "unknown operation: HTTP 4xx ($ST)" ;; *) fail "unknown operation: HTTP 4xx" "got $ST" ;; esac

# ---- garbage PKIOperations: HTTP 400 and nothing written to the repository
it_snapshot >"$D/before"
head -c 3000 /dev/urandom >"$D/garbage.bin"
get garbage-post "$SCEP_URL?operation=PKIOperation" --data-binary "@$D/garbage.bin" \
	-H 'Content-Type: application/x-pki-message'
[ "$ST" = 400 ] && pass "garbage POST PKIOperation: HTTP 400" || fail "garbage POST PKIOperation: HTTP 400" "got $ST"
get garbage-post-noct "$SCEP_URL/pkiclient.exe?operation=PKIOperation" --data-binary "@$D/garbage.bin" -H 'Content-Type:'
[ "$ST" = 400 ] && pass "garbage POST without Content-Type: HTTP 400" || fail "garbage POST without Content-Type: HTTP 400" "got $ST"
# a DER SEQUENCE that is not a CMS SignedData
printf '\x30\x03\x02\x01\x05' >"$D/seq.der"
get garbage-der "$SCEP_URL?operation=PKIOperation" --data-binary "@$D/seq.der"
[ "$ST" = 400 ] && pass "non-CMS DER POST: HTTP 400" || fail "non-CMS DER POST: HTTP 400" "got $ST"
get empty-post "$SCEP_URL?operation=PKIOperation" --data-binary ""
case $ST in 4??) pass "empty POST PKIOperation: HTTP 4xx ($ST)" ;; *) fail "empty POST PKIOperation: HTTP 4xx" "got $ST" ;; esac
b64=$(base64 -w0 <"$D/garbage.bin" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')
get garbage-get "$SCEP_URL?operation=PKIOperation&message=$b64"
[ "$ST" = 400 ] && pass "garbage GET PKIOperation: HTTP 400" || fail "garbage GET PKIOperation: HTTP 400" "got $ST"
# a 12 kB GET message must reach the program (web-server defaults answer 414 past 8 kB)
head -c 9000 /dev/urandom >"$D/garbage9k.bin"
b64=$(base64 -w0 <"$D/garbage9k.bin" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')
get long-get "$SCEP_URL/pkiclient.exe?operation=PKIOperation&message=$b64"
if [ "$ST" = 400 ] && [ "$CT" = "text/plain" ]; then pass "12 kB GET PKIOperation reaches the program (its 400, not 414)"
else fail "12 kB GET PKIOperation reaches the program (its 400, not 414)" "got $ST '$CT'"; fi
get notb64-get "$SCEP_URL?operation=PKIOperation&message=%00%01not*base64!"
case $ST in 4??) pass "non-base64 GET PKIOperation: HTTP 4xx ($ST)" ;; *) fail "non-base64 GET PKIOperation: HTTP 4xx" "got $ST" ;; esac
get nomsg-get "$SCEP_URL?operation=PKIOperation"
case $ST in 4??) pass "GET PKIOperation without message: HTTP 4xx ($ST)" ;; *) fail "GET PKIOperation without message: HTTP 4xx" "got $ST" ;; esac
# oversized body (server cap 256 kB): refused, by the web server or the program
head -c 300000 /dev/urandom >"$D/big.bin"
get big-post "$SCEP_URL?operation=PKIOperation" --data-binary "@$D/big.bin"
case $ST in 4??) pass "300 kB POST refused: HTTP 4xx ($ST)" ;; *) fail "300 kB POST refused: HTTP 4xx" "got $ST" ;; esac
it_snapshot >"$D/after"
if cmp -s "$D/before" "$D/after"; then pass "garbage requests wrote nothing to the repository"
else fail "garbage requests wrote nothing to the repository" "$(diff "$D/before" "$D/after" | head -5 | tr '\n' ' ')"; fi

# ---- the server is still healthy afterwards
get after-caps "$SCEP_URL?operation=GetCACaps"
[ "$ST" = 200 ] && pass "still serving after garbage" || fail "still serving after garbage" "got $ST"

it_summary curl
