#!/bin/bash
# tests/corpus/tools/craft.sh: make the crafted variants of the captured client messages
# (tests/corpus/crafted/) and their rows in tests/corpus/replay.tsv (group crafted-*).
# Deterministic: the same captures give the same files. Run by capture.sh; run it alone
# after editing the list below.
#
# Variants (the signed bytes are never touched, so each still verifies):
#   ber-*       the message re-encoded with indefinite lengths and a chunked eContent, as
#               Bouncy Castle and Apple stream it (hostile ber)
#   get-*       a POST client's message sent by GET in another client's encoding: sscep
#               (%0A line breaks), scepclient 2.1.0 (base64url), a form-decoding proxy
#               ('+' became ' ')
#   post-*      a GET-only client's (certmonger) message sent by POST
#   trailing-*  the message followed by 2 bytes: refused with HTTP 400
set -u
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
C=$TOP/tests/corpus
: "${HOSTILE_BIN:=$TOP/build/hostile}"
if [ ! -x "$HOSTILE_BIN" ]; then
	mkdir -p "$(dirname "$HOSTILE_BIN")"
	${CC:-cc} -D_GNU_SOURCE -I"$TOP/tests/unit" -O1 -g -o "$HOSTILE_BIN" "$TOP/tests/hostile/hostile.c" \
		-lcrypto || exit 1
fi
mkdir -p "$C/crafted"
rm -f "$C/crafted"/*
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT

# row NAME METHOD FILE EXPECT KEY
row() { printf 'crafted-%s\t1\t%s\t%s\t-\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$rows"; }

# craft_ber CLIENT SCENARIO
craft_ber() {
	local src=$C/$1/$2-1.der name=ber-$1-$2
	[ -s "$src" ] || return 0
	"$HOSTILE_BIN" ber "$src" "$C/crafted/$name.der" || return 1
	row "$name" POST "crafted/$name.der" SUCCESS "$1/$2.key.pem"
}
# craft_get CLIENT SCENARIO FORM
craft_get() {
	local src=$C/$1/$2-1.der name=get-$3-$1-$2
	[ -s "$src" ] || return 0
	"$HOSTILE_BIN" getq "$src" "$3" "$C/crafted/$name.query" || return 1
	row "$name" GET "crafted/$name.query" SUCCESS "$1/$2.key.pem"
}

craft_ber scepclient initial
craft_ber strongswan initial
craft_ber strongswan pss
craft_ber certmonger initial
craft_get strongswan initial sscep
craft_get strongswan des3 urlsafe
craft_get scepclient initial formdecoded
craft_get scepclient initial std
if [ -s "$C/certmonger/initial-1.der" ]; then
	cp "$C/certmonger/initial-1.der" "$C/crafted/post-certmonger-initial.der"
	row post-certmonger-initial POST crafted/post-certmonger-initial.der SUCCESS certmonger/initial.key.pem
fi
if [ -s "$C/strongswan/initial-1.der" ]; then
	{ cat "$C/strongswan/initial-1.der"; printf '\0\0'; } >"$C/crafted/trailing-strongswan-initial.der"
	row trailing-strongswan-initial POST crafted/trailing-strongswan-initial.der HTTP-400 -
fi

tsv=$C/replay.tsv
grep -v '^crafted-' "$tsv" >"$tsv.new" && cat "$rows" >>"$tsv.new" && mv "$tsv.new" "$tsv"
echo "craft: $(wc -l <"$rows") crafted rows, files in tests/corpus/crafted/"
