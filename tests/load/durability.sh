#!/bin/bash
# Durability test: can the repository's write path lose what a reply promised, and does the
# repository survive a crash at any point? The model, what it generates and what it does not
# cover are in the header of tests/load/durability.py, which does the work:
#   1. durability.py suite: real requests (CGI and one FastCGI worker: auto-issued,
#      resubmitted, pending, CertPoll, renewal, one-time challenge) and scep-admin approve,
#      issue, revoke, crl, challenge, each under strace; at each reply everything the
#      process changed must already be durable (fsynced data, fsynced directory entries),
#      and every rename or link must publish data that is already durable. Self-tests:
#      the model follows a synthetic program's less common calls, and one enrollment run
#      with fsync made a no-op (build/nofsync.so) must be reported.
#   2. durability.py crash: an auto-issued PKCSReq (CGI), `scep-admin issue` and
#      `scep-admin approve` killed with SIGKILL before each call that changes the
#      repository; from each killed run's trace the crash states a power loss allows;
#      each repaired with `scep-admin check --repair`, checked, and retried.
# Knobs:
#   DURA_LONG=1        (make load) also a CertPoll that issues and a RenewalReq, and kills
#                      before every traced call between the first change and the reply
#   DURA_PRELOAD=LIB   run every program under test with LD_PRELOAD=LIB, e.g.
#                      build/nofsync.so (the test must then fail)
#   DURA_SCEP, DURA_ADMIN  the programs (default cgi-bin/scep and ./scep-admin: the
#                      sanitizer builds make the hundreds of runs several times slower)
#   DURA_JOBS          parallel killed runs (default 2); DURA_TIMEOUT (default 900 s,
#                      long form 2400 s)
# Prints PASS/FAIL lines and "durability: N passed, M failed". Work files in tests/out/durability.*, removed when
# nothing failed (kept on failure or with IT_KEEP=1). Opens no network port.
set -u
. "$(dirname "$0")/common.sh"
if [ -n "${DURA_LONG:-}" ]; then la_timeout "${DURA_TIMEOUT:-2400}" "$0" "$@"
else la_timeout "${DURA_TIMEOUT:-900}" "$0" "$@"; fi

DSCEP=${DURA_SCEP:-$LA_TOP/cgi-bin/scep}
DADMIN=${DURA_ADMIN:-$LA_TOP/scep-admin}
NOFSYNC=$LA_TOP/build/nofsync.so
PY=$LA_HERE/durability.py
la_init durability
la_prereq strace openssl "$DSCEP" "$DADMIN" "$SCEPREQ" "$NOFSYNC"
common=(--scep "$DSCEP" --admin "$DADMIN" --scepreq "$SCEPREQ" -j "${DURA_JOBS:-2}")
[ -n "${DURA_PRELOAD:-}" ] && common+=(--preload "$DURA_PRELOAD")
long=()
[ -n "${DURA_LONG:-}" ] && long=(--long --every)
echo "durability: $DSCEP and $DADMIN under strace${DURA_PRELOAD:+, LD_PRELOAD=$DURA_PRELOAD};" \
	"${DURA_LONG:+(long form) }work dir ${IT_DIR#"$LA_TOP"/}"

# Count the PASS/FAIL lines of one durability.py run; a run that prints no summary
# line failed to run at all.
dura_run() {
	local name=$1 out=$IT_DIR/$1.out line rc; shift
	"$LOAD_PYTHON" "$PY" "$@" >"$out" 2>"$IT_DIR/$name.err"
	rc=$?
	while IFS= read -r line; do
		case $line in
		"PASS: "*) pass "${line#PASS: }" ;;
		"FAIL: "*) fail "${line#FAIL: }" ;;
		esac
	done <"$out"
	grep -q "^$name: " "$out" ||
		fail "durability.py $1 ran to the end" "rc $rc: $(tail -n 3 "$IT_DIR/$name.err")"
	grep '^  \.\. ' "$IT_DIR/$name.err" >&2
}

t0=$(date +%s)
dura_run suite suite --work "$IT_DIR/suite" --selftest "$NOFSYNC" "${common[@]}"
t1=$(date +%s)
dura_run crash-states crash --work "$IT_DIR/crash" "${long[@]}" "${common[@]}"
t2=$(date +%s)
echo "summary: part 1 (replies) $((t1 - t0)) s, part 2 (crash states) $((t2 - t1)) s"
if [ "$IT_FAIL" = 0 ] && [ -z "${IT_KEEP:-}" ]; then rm -rf "$IT_DIR"; fi
it_summary durability
