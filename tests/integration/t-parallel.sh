#!/bin/bash
# Concurrency: IT_PARALLEL (default 6) scepclient enrollments with the challenge at the
# same time (several FastCGI workers / CGI processes on one repository). Every client
# must get its own certificate, all serial numbers distinct, and the repository must
# hold exactly that many new certificates.
# Run alone: SCEP_URL=... SCEP_CHALLENGE=... SCEP_CONF=... SCEP_REPO=... t-parallel.sh
set -u
. "$(dirname "$0")/lib.sh"
it_need_env
it_client_dir parallel
D=$IT_OUT
N=${IT_PARALLEL:-6}

# keys first (scepclient would generate them, but that would spread the requests out):
# keys 41.. of the run's pool (IT_KEYPOOL), else new ones
for i in $(seq "$N"); do
	mkdir -p "$D/$i"
	it_key "$D/$i/key.pem" $((40 + i))
done
before=$(ls "$SCEP_REPO/certs" 2>/dev/null | grep -c "\.pem$")
pids=""
tag=$(it_uniq par)
trap 'for p in $pids; do kill -TERM "$p" 2>/dev/null; done' EXIT
for i in $(seq "$N"); do
	timeout 120 scepclient -server-url "$SCEP_URL" -private-key "$D/$i/key.pem" \
		-certificate "$D/$i/cert.pem" -cn "$tag-$i" -organization Example \
		-challenge "$SCEP_CHALLENGE" -debug >"$D/$i/out.log" 2>&1 &
	pids="$pids $!"
done
ok=0; i=0
for p in $pids; do
	i=$((i + 1))
	if wait "$p" && it_verify "$D/$i/cert.pem"; then ok=$((ok + 1))
	else echo "client $i failed:" >&2; it_show "$D/$i/out.log"; fi
done
trap - EXIT
[ "$ok" = "$N" ] && pass "$N concurrent enrollments all issued" || fail "$N concurrent enrollments all issued" "$ok of $N"
serials=$(for i in $(seq "$N"); do openssl x509 -in "$D/$i/cert.pem" -noout -serial 2>/dev/null; done | sort -u | wc -l)
[ "$serials" = "$N" ] && pass "$N distinct serial numbers" || fail "$N distinct serial numbers" "$serials distinct"
after=$(ls "$SCEP_REPO/certs" 2>/dev/null | grep -c "\.pem$")
[ $((after - before)) = "$N" ] && pass "repository holds $N new certificates" ||
	fail "repository holds $N new certificates" "$((after - before)) new"
n=$(it_admin list --state issued 2>/dev/null | grep -c -- "$tag-")
[ "$n" = "$N" ] && pass "scep-admin list --state issued shows all $N" || fail "scep-admin list --state issued shows all $N" "$n"

it_summary parallel
