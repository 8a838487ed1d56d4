#!/bin/bash
# tests/suite.sh: the runner of `make check`. It runs one suite at a time, keeps its output
# under tests/out/check/, and at the end prints the totals with every skip and known
# failure listed, so that a skipped test is seen as a skip and never read as a pass.
#
#   tests/suite.sh --reset              forget the totals of an earlier run
#   tests/suite.sh NAME CMD [ARG...]    run one suite: its output is shown and kept in
#                                       tests/out/check/NAME.log; exits with its status
#   tests/suite.sh --report             the totals of the suites run since --reset
#
# What a suite must print (every suite under tests/ does):
#   "PASS: ..." / "FAIL: ..."           one line per check
#   "SKIP: why"                          one line per check or group that did not run
#   "KNOWN FAIL: why"                    a check that fails on a known bug, not counted as
#                                        a failure (the bug is named in the line)
#   last: "NAME: N passed, M failed[, K skipped][, J known failures]"
# A suite that exits 0 without that last line (it crashed, or stopped early) or whose
# line counts a failure is a failed suite, whatever its exit status.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
D=${SCEP_CHECK_DIR:-$TOP/tests/out/check}
SUM=$D/summary.tsv
SUMMARY_RE='^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed'

case ${1:-} in
--reset)
	rm -rf "$D"; mkdir -p "$D"; : >"$SUM"; exit 0 ;;
--report)
	[ -f "$SUM" ] || { echo "tests/suite.sh: no suite has run (tests/suite.sh --reset first)"; exit 1; }
	tp=0 tf=0 ts=0 tk=0 bad=0
	echo "==== totals (logs in ${D#$TOP/}/) ===="
	while IFS=$'\t' read -r name rc p f s k; do
		printf '  %-16s %5s passed %4s failed %4s skipped %4s known failures%s\n' \
		    "$name" "$p" "$f" "$s" "$k" "$([ "$rc" = 0 ] || echo "   (exit $rc)")"
		tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + s)) tk=$((tk + k))
		[ "$rc" = 0 ] || bad=1
	done <"$SUM"
	if [ "$ts" -gt 0 ]; then
		echo "  skipped (did not run, not passed):"
		for l in "$D"/*.log; do
			grep -E '^SKIP:' "$l" | sed "s|^|    $(basename "$l" .log): |"
		done
	fi
	if [ "$tk" -gt 0 ]; then
		echo "  known failures (bugs still open):"
		for l in "$D"/*.log; do
			grep -E '^KNOWN FAIL:' "$l" | sed "s|^|    $(basename "$l" .log): |"
		done
	fi
	echo "check: $tp passed, $tf failed, $ts skipped, $tk known failures"
	[ "$bad" = 0 ] && [ "$tf" = 0 ]
	exit $? ;;
""|-*)
	echo "usage: $0 --reset | --report | NAME CMD [ARG...]" >&2; exit 2 ;;
esac

name=$1; shift
mkdir -p "$D"
[ -f "$SUM" ] || : >"$SUM"
log=$D/$name.log
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep -E "$SUMMARY_RE" "$log" | tail -n 1)
p=$(sed -n 's/^[^:]*: \([0-9]*\) passed.*/\1/p' <<<"$line")
f=$(sed -n 's/^[^:]*: [0-9]* passed, \([0-9]*\) failed.*/\1/p' <<<"$line")
s=$(sed -n 's/.*, \([0-9]*\) skipped.*/\1/p' <<<"$line")
k=$(sed -n 's/.*, \([0-9]*\) known failures\{0,1\}.*/\1/p' <<<"$line")
# SKIP / KNOWN FAIL lines count even when the summary line does not say so
ns=$(grep -cE '^SKIP:' "$log"); nk=$(grep -cE '^KNOWN FAIL:' "$log")
[ "${s:-0}" -ge "$ns" ] || s=$ns
[ "${k:-0}" -ge "$nk" ] || k=$nk
if [ -z "$line" ]; then
	echo "FAIL: $name: no summary line \"N passed, M failed\" (the suite crashed or stopped early)"
	f=1; [ "$rc" != 0 ] || rc=1
elif [ "${f:-0}" != 0 ] && [ "$rc" = 0 ]; then
	echo "FAIL: $name: its summary counts $f failed checks but it exited 0"
	rc=1
fi
printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "${p:-0}" "${f:-0}" "${s:-0}" "${k:-0}" >>"$SUM"
exit "$rc"
