#!/bin/bash
# Full disk: the repository on a small tmpfs (FULLDISK_SIZE, default 2m) that
# the test mounts (root only) and removes. With the filesystem filled by a filler file:
#   - new enrollments fail with HTTP 503 or a CertRep FAILURE, and the worker log says
#     why (ENOSPC);
#   - a poll of an approved request and `scep-admin approve`/`issue` fail cleanly;
#   - nothing half-written is left: `scep-admin check` (or, until it exists, the same
#     invariants checked here) passes while the disk is full;
# then with the filesystem *nearly* full (a few pages free, so writes fail half-way
# through a request) a series of enrollments, each followed by the same checks; then the
# filler is deleted and every request is sent again: service resumes, every request ends
# in SUCCESS, and the load.sh invariants hold.
#
# SKIP (not a failure, and not a pass: "fulldisk: 0 passed, 0 failed, 1 skipped") when not
# root or when tmpfs cannot be mounted. Prints PASS/FAIL lines and "fulldisk: N passed,
# M failed". Time limit FULLDISK_TIMEOUT (default 300 s).
set -u
. "$(dirname "$0")/common.sh"
la_timeout "${FULLDISK_TIMEOUT:-300}" "$0" "$@"

SIZE=${FULLDISK_SIZE:-2m}
la_init fulldisk
la_prereq nginx spawn-fcgi openssl setpriv curl fallocate "$SCEP_BIN" "$SCEP_ADMIN" "$SCEPREQ"

skip() {
	echo "SKIP: fulldisk: $*"
	la_stop
	rm -rf "$IT_DIR"
	echo "fulldisk: 0 passed, 0 failed, 1 skipped"
	exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs"
R=$IT_DIR/ca/repo
mkdir -p "$R"
mount -t tmpfs -o "size=$SIZE,mode=0750,uid=$(id -u "$IT_RUN_USER"),gid=$(id -g "$IT_RUN_USER")" \
	tmpfs "$R" 2>"$IT_DIR/mount.err" || skip "cannot mount tmpfs: $(cat "$IT_DIR/mount.err")"
# shellcheck disable=SC2034  # unmounted by la_stop
LA_MOUNTS="$R"
echo "fulldisk: repository on a $SIZE tmpfs, server $SCEP_BIN; work dir ${IT_DIR#"$LA_TOP"/}"

chal="fd-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
it_make_repo "$IT_DIR/ca" "$chal" YES || { fail "setup: repository + CA on tmpfs"; exit 1; }
# 24 requests: every 3rd pending. 0-5 before the fill, 6-11 while full, 12-23 nearly full.
Q=$IT_DIR/reqs
la_prepare "$Q" 24 --pending-every 3 --keys 8 --challenge "$chal" --prefix "fd$$" ||
	{ fail "setup: requests"; exit 1; }
it_start_fcgi "$SCEP_CONF" 2 && it_start_nginx "$SCEP_CONF" ||
	{ fail "setup: spawn-fcgi + nginx"; exit 1; }

declare -A KIND TXID KEY SELF FIRST FINAL
while read -r i kind txid _cn key self _req _poll; do
	case $i in \#*) continue ;; esac
	KIND[$i]=$kind TXID[$i]=$txid KEY[$i]=$key SELF[$i]=$self FIRST[$i]=- FINAL[$i]=-
done <"$Q/manifest"
D=$IT_DIR/run
mkdir -p "$D/replies"

# post I: send request I once. Sets HTTP and ST (SUCCESS, PENDING, FAILURE or -), TEXT.
post() {
	local i=$1 out
	HTTP=$(curl -s -o "$D/last.der" -w '%{http_code}' --max-time 60 \
		-H 'Content-Type: application/x-pki-message' --data-binary @"$Q/r/$i/req.der" \
		"$IT_URL?operation=PKIOperation")
	ST=- TEXT=$(head -c 200 "$D/last.der" | tr -cd '[:print:]')
	if [ "$HTTP" = 200 ]; then
		out=$("$SCEPREQ" read -c "$SCEP_REPO/ca/ca.pem" -k "${KEY[$i]}" -S "${SELF[$i]}" \
			"$D/last.der" 2>&1)
		case $out in
		status=0*) ST=SUCCESS; cp "$D/last.der" "$D/replies/$i.der" ;;
		status=2*) ST=FAILURE; TEXT=${out##*text=} ;;
		status=3*) ST=PENDING ;;
		*) ST=- TEXT=$out ;;
		esac
	fi
	[ "${FIRST[$i]}" = - ] && [ "$ST" != - ] && FIRST[$i]=$ST
	[ "$ST" != - ] && FINAL[$i]=$ST
	echo "  .. request $i (${KIND[$i]}): HTTP $HTTP $ST ${TEXT:0:120}" >&2
}
rid() { /usr/bin/python3 -c "import sys; sys.path.insert(0, sys.argv[1]); from loadgen import record_id; print(record_id(sys.argv[2]))" "$(dirname "$0")" "${TXID[$1]}"; }
avail() { df --output=avail -B1 "$R" | tail -n 1 | tr -d ' '; }
# fill FREE: leave about FREE bytes free (0: nothing at all).
fill() {
	local a
	rm -f "$R/filler" "$R/filler2"
	a=$(avail)
	[ "$a" -gt "$1" ] && fallocate -l $((a - $1)) "$R/filler" 2>/dev/null
	[ "$1" = 0 ] && dd if=/dev/zero of="$R/filler2" bs=4k 2>/dev/null
	sync
}
# Invariants that must hold at any moment, full disk or not: nothing staged or half
# written is visible, every record is complete; scep-admin check when it exists.
# partial_state: prints what is wrong (nothing if all is well).
partial_state() {
	local bad="" d s f
	for s in pending approved issued rejected; do
		for d in "$R/$s"/*; do
			[ -e "$d" ] || continue
			[ -f "$d" ] || { bad="$bad ${d#"$R"/}-not-a-file"; continue; }
			for f in id csr request; do
				grep -q "^$f=" "$d" || bad="$bad ${d#"$R"/}:$f-missing"
			done
			[ "$s" = issued ] && { grep -q '^cert=' "$d" || bad="$bad ${d#"$R"/}:cert-missing"; }
		done
	done
	[ -z "$(ls -A "$R/tmp")" ] || bad="$bad tmp/:$(ls -A "$R/tmp" | tr '\n' ' ')"
	s=$(find "$R" -name '.tmp-*' | head -n 3)
	[ -z "$s" ] || bad="$bad $s"
	if la_has_check && ! la_admin check >"$IT_DIR/check.tmp" 2>&1; then
		bad="$bad check: $(head -c 300 "$IT_DIR/check.tmp")"
	fi
	echo "$bad"
}
quick_check() {
	local bad
	bad=$(partial_state)
	if [ -z "$bad" ]; then pass "$1: no partial record or stray file${2:-}"
	else fail "$1: no partial record or stray file${2:-}" "$bad"; fi
}

# ---- before: two issued, one pending approved (not issued), one left pending
post 0; post 1; post 2; post 5
[ "${FINAL[0]}${FINAL[1]}${FINAL[2]}${FINAL[5]}" = SUCCESSSUCCESSPENDINGPENDING ] &&
	pass "before the fill: 0, 1 issued, 2, 5 pending" ||
	fail "before the fill: 0, 1 issued, 2, 5 pending" "${FINAL[0]} ${FINAL[1]} ${FINAL[2]} ${FINAL[5]}"
la_admin approve "$(rid 2)" >/dev/null 2>&1 || fail "approve 2 before the fill"

# ---- full
fill 0
echo "  .. filesystem full: $(avail) bytes available" >&2
[ "$(avail)" -lt 4096 ] && pass "filesystem full ($(avail) bytes free)" || fail "filesystem full" "$(avail) free"
logn=$(wc -l <"$IT_FCGI_LOGS")
ok=1
for i in 6 7 8; do
	post "$i"
	case $HTTP/$ST in
	503/-|200/FAILURE) ;;
	*) ok=0; why="request $i: HTTP $HTTP $ST" ;;
	esac
done
[ "$ok" = 1 ] && pass "full: new enrollments refused with HTTP 503 or FAILURE" ||
	fail "full: new enrollments refused with HTTP 503 or FAILURE" "$why"
post 2
case $HTTP/$ST in
503/-|200/FAILURE|200/PENDING) pass "full: poll of an approved request: HTTP $HTTP $ST (not issued)" ;;
*) fail "full: poll of an approved request answered 503, FAILURE or PENDING" "HTTP $HTTP $ST: $TEXT" ;;
esac
[ -f "$R/approved/$(rid 2)" ] && pass "full: the approved request is still approved, whole" ||
	fail "full: the approved request is still approved, whole" "$(ls -d "$R"/*/"$(rid 2)" 2>/dev/null)"
if tail -n +"$((logn + 1))" "$IT_FCGI_LOGS" | grep -q 'No space left on device'; then
	pass "full: the worker log names the cause (No space left on device)"
	tail -n +"$((logn + 1))" "$IT_FCGI_LOGS" | grep -m 3 'No space left' | sed 's/^/  | /' >&2
else
	fail "full: the worker log names the cause (No space left on device)" \
		"$(tail -n +"$((logn + 1))" "$IT_FCGI_LOGS" | head -n 3)"
fi
la_admin approve "$(rid 5)" >"$IT_DIR/approve.out" 2>&1; rc=$?
echo "  .. full: scep-admin approve: rc $rc: $(tr '\n' ' ' <"$IT_DIR/approve.out")" >&2
n=$(ls -d "$R"/*/"$(rid 5)" 2>/dev/null | wc -l)
[ "$n" = 1 ] && pass "full: after approve (rc $rc) the record is in exactly one state" ||
	fail "full: after approve the record is in exactly one state" "$n"
la_admin issue >"$IT_DIR/issue.out" 2>&1; rc=$?
echo "  .. full: scep-admin issue: rc $rc: $(tr '\n' ' ' <"$IT_DIR/issue.out" | head -c 300)" >&2
[ "$rc" = 1 ] && grep -qi 'space\|cannot' "$IT_DIR/issue.out" &&
	pass "full: scep-admin issue fails with exit 1 and a message" ||
	fail "full: scep-admin issue fails with exit 1 and a message" "rc $rc"
quick_check "full"

# ---- nearly full: 4 kB .. 48 kB free, so requests run out at different points
NEAR="" nbad="" prev=""
for i in $(seq 12 23); do
	fill $((4096 * (i - 11)))
	post "$i"
	case $HTTP/$ST in
	200/SUCCESS|200/PENDING|200/FAILURE|503/-) ;;
	*) NEAR_ODD="${NEAR_ODD:-} $i:$HTTP" ;;
	esac
	NEAR="$NEAR $((4 * (i - 11)))k:$HTTP/$ST"
	b=$(partial_state)
	# Each problem once: after the request that caused it.
	[ -n "$b" ] && [ "$b" != "$prev" ] && nbad="$nbad [after request $i, $((4 * (i - 11))) kB free:$b]"
	prev=$b
done
echo "  .. nearly full outcomes (free:HTTP/status):$NEAR" >&2
[ -z "$nbad" ] && pass "nearly full: no partial record or stray file after any of 12 requests" ||
	fail "nearly full: no partial record or stray file after any of 12 requests" "$nbad"
[ -z "${NEAR_ODD:-}" ] && pass "nearly full: every answer is SUCCESS, PENDING, FAILURE or HTTP 503" ||
	fail "nearly full: every answer is SUCCESS, PENDING, FAILURE or HTTP 503" "other:$NEAR_ODD"

# ---- the filler goes: service resumes
rm -f "$R/filler" "$R/filler2"
echo "  .. filler removed: $(avail) bytes available" >&2
for i in $(seq 0 23); do [ "${FINAL[$i]}" = SUCCESS ] || post "$i"; done
for i in $(seq 0 23); do
	[ "${KIND[$i]}" = pending ] && [ "${FINAL[$i]}" = PENDING ] &&
		{ la_admin approve "$(rid "$i")" >/dev/null 2>&1; post "$i"; }
done
for i in $(seq 0 23); do [ "${FINAL[$i]}" = SUCCESS ] || post "$i"; done
notdone=""
for i in $(seq 0 23); do [ "${FINAL[$i]}" = SUCCESS ] || notdone="$notdone $i:${FINAL[$i]}"; done
[ -z "$notdone" ] && pass "after the filler is deleted every request ends in SUCCESS" ||
	fail "after the filler is deleted every request ends in SUCCESS" "not:$notdone"
quick_check "after"

{
	echo "idx	kind	txid	first	final	sends	polls	errors	last_http	seconds	err"
	for i in $(seq 0 23); do
		echo "$i	${KIND[$i]}	${TXID[$i]}	${FIRST[$i]}	${FINAL[$i]}	0	0	0	0	0	-"
	done
} >"$D/results.tsv"
la_check_repo "$IT_DIR/check.out"
la_verify "$Q/manifest" "$D" --expect-all-issued
# The repository lives on the tmpfs: keep a copy to look at when something failed.
[ "$IT_FAIL" != 0 ] || [ -n "${IT_KEEP:-}" ] && cp -a "$R" "$IT_DIR/repo-copy"
la_stop
la_check_logs "$IT_FCGI_LOGS" "$IT_SERVER_LOGS"
echo "summary: nearly-full outcomes (free space:HTTP/status):$NEAR"
if [ "$IT_FAIL" = 0 ] && [ -z "${IT_KEEP:-}" ]; then rm -rf "$IT_DIR"; fi
it_summary fulldisk
