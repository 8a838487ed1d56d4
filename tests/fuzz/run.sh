#!/bin/bash
# tests/fuzz/run.sh: build the libFuzzer targets and fuzz each, or replay the regression
# inputs without fuzzing.
#
#   tests/fuzz/run.sh [SECONDS]      build, then fuzz every target for SECONDS (default 60)
#                                    starting from its seed corpus; fail on a crash
#   tests/fuzz/run.sh --regress      build, then run every target once over
#                                    tests/fuzz/crashes/<target>/* and its seed corpus
#                                    (the directory must exist for every target)
#   tests/fuzz/run.sh --build        only build
#
# Targets (tests/fuzz/fuzz_*.c) are linked with the project's src/*.c except the two
# mains, compiled with clang -fsanitize=fuzzer,address,undefined into build/fuzz/.
# Seeds: tests/fuzz/corpus/<target>/ (committed, read only here; `make corpus` rewrites
# them). New inputs found while fuzzing go to a temporary corpus that is thrown away.
# A crash, leak or sanitizer report is copied to tests/fuzz/crashes/<target>/ (commit it:
# it becomes a regression input) and the run fails. libFuzzer runs in the work directory,
# so nothing it writes (fuzz-N.log, crash-*) lands in the repository; a stray file there
# fails the run. tests/fuzz/crashes/KNOWN lists "<target>/<input>  why" for inputs that
# still crash on a bug not yet fixed: reported as KNOWN FAIL, not as a failure; one that
# stops crashing fails the run until its line is removed.
# Prints per target: executions, seconds, exec/s, corpus size, and
# "fuzz: N passed, M failed".
#
# Knobs: FUZZ_TARGETS="fuzz_pkimsg ..." (subset), CLANG (default clang, then clang-14),
# FUZZ_JOBS (parallel fuzzing processes per target, default 1), FUZZ_KEEP=1.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$TOP/tests/fuzz
B=$TOP/build/fuzz
cd "$TOP" || exit 1

mode=fuzz SECS=60
case ${1:-} in
--regress) mode=regress ;;
--build) mode=build ;;
"") ;;
*[!0-9]*) echo "usage: $0 [SECONDS | --regress | --build]" >&2; exit 2 ;;
*) SECS=$1 ;;
esac

PASS=0 FAIL=0
pass() { PASS=$((PASS + 1)); echo "PASS: $1"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL: $1${2:+ ($2)}"; }
KNOWN=0
summary() {
	local s
	[ -n "${W:-}" ] && s=$(stray) && [ -n "$s" ] &&
	    fail "libFuzzer wrote into the repository root" "$(echo $s)"
	echo "fuzz: $PASS passed, $FAIL failed, 0 skipped, $KNOWN known failures"
	[ "$FAIL" = 0 ]; exit $?
}

if [ -z "${CLANG:-}" ]; then
	for c in clang clang-14; do command -v "$c" >/dev/null && CLANG=$c && break; done
fi
if [ -z "${CLANG:-}" ]; then
	fail "prerequisites: clang not installed (scripts/install-deps)"; summary
fi

TARGETS=${FUZZ_TARGETS:-$(cd "$HERE" && ls fuzz_*.c | sed 's/\.c$//')}
CFLAGS_F="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=undefined -D_GNU_SOURCE -I/usr/include/iniparser -Isrc \
	-DFUZZ_CA_DIR=\"$TOP/tests/corpus/ca\" -std=c11 -Wall -Wextra -Wno-unused-parameter"
LIBS="-lcrypto -lfcgi -liniparser"

# ---------------------------------------------------------------- build (incremental)
mkdir -p "$B/obj"
build_ok=1
objs=""
for src in src/*.c; do
	case $src in src/scep_main.c) continue ;; esac
	o=$B/obj/$(basename "$src" .c).o
	objs="$objs $o"
	if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find src -name '*.h' -newer "$o" | head -n 1)" ]; then
		# shellcheck disable=SC2086
		$CLANG $CFLAGS_F -c -o "$o" "$src" 2>"$B/build.log" || { cat "$B/build.log"; build_ok=0; }
	fi
done
for t in $TARGETS; do
	bin=$B/$t
	if [ "$build_ok" = 1 ]; then
		# shellcheck disable=SC2086
		if ! $CLANG $CFLAGS_F -fsanitize=fuzzer -o "$bin" "$HERE/$t.c" $objs $LIBS 2>"$B/$t.log"; then
			cat "$B/$t.log"; build_ok=0
		fi
	fi
done
if [ "$build_ok" = 1 ]; then echo "    built: $(echo $TARGETS) ($CLANG)"
else fail "build" "see above (libclang-rt-14-dev provides libFuzzer for clang 14)"; summary; fi
[ "$mode" = build ] && summary

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
W=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT

# Keep what libFuzzer left as an artifact under tests/fuzz/crashes/<target>/.
keep_artifacts() {
	local t=$1 a n=0
	for a in "$W/$t.art-"*; do
		[ -f "$a" ] || continue
		mkdir -p "$HERE/crashes/$t"
		cp "$a" "$HERE/crashes/$t/$(basename "$a" | sed "s/^$t\.art-//")"
		echo "    kept tests/fuzz/crashes/$t/$(basename "$a" | sed "s/^$t\.art-//")"
		n=$((n + 1))
	done
	return $n
}

# libFuzzer writes fuzz-N.log, crash-*, leak-*, timeout-*, oom-* into its working
# directory when not told otherwise: run it in $W, and fail if the repository got any.
stray() { find "$TOP" -maxdepth 1 \( -name 'fuzz-*.log' -o -name 'crash-*' -o -name 'leak-*' \
	-o -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) -newer "$W" -print; }
known() { sed -n "s|^$1/$2[[:space:]]\{1,\}||p" "$HERE/crashes/KNOWN" 2>/dev/null | head -n 1; }

for t in $TARGETS; do
	bin=$B/$t
	seeds=$HERE/corpus/$t
	mkdir -p "$seeds"
	if [ "$mode" = regress ]; then
		# every committed crash input, one by one, then the seed corpus in one process
		if [ ! -d "$HERE/crashes/$t" ]; then
			fail "$t: regress" "tests/fuzz/crashes/$t/ is missing (the regression inputs)"
			continue
		fi
		bad="" ncrash=0
		for c in "$HERE/crashes/$t"/*; do
			[ -f "$c" ] || continue
			ncrash=$((ncrash + 1))
			why=$(known "$t" "$(basename "$c")")
			if ( cd "$W" && timeout 120 "$bin" -runs=1 -artifact_prefix="$W/$t.regress-" "$c" \
			    >"$W/$t.crash.log" 2>&1 ); then
				[ -z "$why" ] ||
				    fail "$t: regress: $(basename "$c") no longer crashes" "remove its line from tests/fuzz/crashes/KNOWN"
			elif [ -n "$why" ]; then
				echo "KNOWN FAIL: $t: regress: $(basename "$c"): $why"
				KNOWN=$((KNOWN + 1))
			else
				bad="$bad $(basename "$c")"
				grep -E -m3 'ERROR|SUMMARY|runtime error' "$W/$t.crash.log" | sed 's/^/    /'
			fi
		done
		n=$(find "$seeds" -type f | wc -l)
		start=$(date +%s)
		if ! ( cd "$W" && timeout 900 "$bin" -runs=0 -timeout=25 -rss_limit_mb=4096 \
		    -artifact_prefix="$W/$t.regress-" "$seeds" >"$W/$t.log" 2>&1 ); then
			bad="$bad corpus"
			grep -E 'ERROR|SUMMARY|runtime error' "$W/$t.log" | head -n 5 | sed 's/^/    /'
		fi
		secs=$(( $(date +%s) - start ))
		if [ -z "$bad" ]; then
			pass "$t: regress ($ncrash crash inputs, $n seeds, $secs s)"
		else
			fail "$t: regress" "failing:$bad"
		fi
		continue
	fi

	mkdir -p "$W/$t.corpus"
	start=$(date +%s)
	# -max_total_time bounds the run; -timeout flags a single slow input as a hang
	jobs=()
	# -jobs (even -jobs=1) makes libFuzzer log to fuzz-N.log in its working directory
	[ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
	( cd "$W" && timeout $((SECS + 120)) "$bin" -max_total_time="$SECS" -timeout=25 \
		-rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 "${jobs[@]}" \
		-artifact_prefix="$W/$t.art-" "$W/$t.corpus" "$seeds" >"$W/$t.log" 2>&1 )
	rc=$?
	cat "$W"/fuzz-*.log >>"$W/$t.log" 2>/dev/null; rm -f "$W"/fuzz-*.log
	secs=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$W/$t.log" | awk '{s+=$1} END {print s+0}')
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$W/$t.log" | awk '{s+=$1} END {print s+0}')
	cov=$(grep -oE 'cov: [0-9]+' "$W/$t.log" | tail -n 1 | awk '{print $2}')
	units=$(find "$W/$t.corpus" -type f | wc -l)
	keep_artifacts "$t"; arts=$?
	info="$execs execs in $secs s ($rate exec/s), cov ${cov:-?}, $(find "$seeds" -type f | wc -l) seeds + $units new inputs"
	if [ "$rc" = 0 ] && [ "$arts" = 0 ]; then
		pass "$t: $info"
	else
		fail "$t: $info" "exit $rc, $arts artifact(s)"
		grep -E -A12 '^==[0-9]+==ERROR|runtime error|SUMMARY' "$W/$t.log" | head -n 40 | sed 's/^/    /'
	fi
	[ -n "${FUZZ_KEEP:-}" ] && cp "$W/$t.log" "$B/$t.last.log"
done
summary
