#!/bin/bash
# tests/mutate/run.sh: the mutation check (`make mutate`). Each line of
# tests/mutate/mutations.tsv is a small deliberate bug; it is applied alone to a scratch
# copy of the tree (never to the working tree), the sanitizer build is remade, and only
# the suites named on its line run. The mutation is "killed" when one of them fails more
# checks, or passes fewer, than it does on the unmutated scratch tree (each suite's
# baseline is run first, so a suite that fails on purpose, like the trust suite before its
# fixes, still tells mutants apart). Otherwise it "SURVIVED": no named test sees that bug.
#
#   tests/mutate/run.sh [ID...]      all mutations, or the named ones
#   tests/mutate/run.sh --check      only check that every pattern is found exactly once
#
# Prints one line per mutation and "mutate: N killed, M survived, K expected survivors,
# J invalid"; exits 1 if a mutation survived that is not marked "survivor until ...", if a
# marked one is now killed (remove the mark), or if a pattern is not found exactly once in
# src/ or the mutant does not compile (the list is out of date: fix the line).
# Knobs: MUTATE_KEEP=1 (keep the scratch tree), MUTATE_TIMEOUT (seconds per suite run,
# default 1500), MUTATE_JOBS (make -j, default 2), HOSTILE_MODES (default cgi here).
# Logs of the suites of a surviving or broken mutation are copied to tests/out/mutate/.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
LIST=$TOP/tests/mutate/mutations.tsv
PY=/usr/bin/python3
JOBS=${MUTATE_JOBS:-2}
TMO=${MUTATE_TIMEOUT:-1500}
export HOSTILE_MODES=${HOSTILE_MODES:-cgi}
check_only=0
[ "${1:-}" = --check ] && { check_only=1; shift; }
WANT=" $* "

# mutation lines: id, suites, expect, pattern, replace, why
mapfile -t LINES < <(grep -v '^#' "$LIST" | grep -v '^[[:space:]]*$')

# APPLY ROOT PATTERN REPLACE --dry|BACKUP: find PATTERN (escapes \t \\) in ROOT/src, exactly
# once in exactly one file; unless --dry, copy the file to BACKUP and replace it there.
# Prints the file (relative to ROOT), or why not.
APPLY='
import os, sys
def unesc(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in "t\\":
            out.append("\t" if s[i + 1] == "t" else "\\"); i += 2
        else:
            out.append(s[i]); i += 1
    return "".join(out)
root, pat, rep = sys.argv[1], unesc(sys.argv[2]), unesc(sys.argv[3])
hits = []
for d, _, files in os.walk(os.path.join(root, "src")):
    for f in sorted(files):
        p = os.path.join(d, f)
        n = open(p, encoding="utf-8", errors="surrogateescape").read().count(pat)
        if n:
            hits.append((p, n))
if len(hits) != 1 or hits[0][1] != 1:
    print("pattern found %s" % (", ".join("%d times in %s" % (n, os.path.relpath(p, root)) for p, n in hits) or "nowhere"))
    sys.exit(1)
p = hits[0][0]
if sys.argv[4] != "--dry":
    s = open(p, encoding="utf-8", errors="surrogateescape").read()
    open(sys.argv[4], "w", encoding="utf-8", errors="surrogateescape").write(s)
    open(p, "w", encoding="utf-8", errors="surrogateescape").write(s.replace(pat, rep))
print(os.path.relpath(p, root))
'

# ---------------------------------------------------------------- the list is valid
invalid=0
for l in "${LINES[@]}"; do
	IFS=$'\t' read -r id suites expect pat rep why <<<"$l"
	if [ -z "${why:-}" ]; then
		echo "INVALID: ${id:-?}: needs 6 tab-separated fields"; invalid=$((invalid + 1)); continue
	fi
	if ! out=$("$PY" -c "$APPLY" "$TOP" "$pat" "$rep" --dry); then
		echo "INVALID: $id: $out (update the pattern in tests/mutate/mutations.tsv)"
		invalid=$((invalid + 1))
	fi
done
if [ "$check_only" = 1 ]; then
	echo "mutate: ${#LINES[@]} mutations, $invalid invalid"
	[ "$invalid" = 0 ]; exit $?
fi

# ---------------------------------------------------------------- the scratch tree
S=$(mktemp -d /tmp/scep-mutate.XXXXXX) || exit 1
cleanup() { if [ -n "${MUTATE_KEEP:-}" ]; then echo "mutate: scratch tree kept in $S"; else rm -rf "$S"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# tracked and untracked (not ignored) files as they are now, plus the build to start from;
# tar keeps modification times, so make rebuilds only what is out of date
( cd "$TOP" && { git ls-files -z -co --exclude-standard 2>/dev/null ||
    find . -path ./build -prune -o -path ./tests/out -prune -o -type f -print0; } |
    tar --null -T - -cf - ) | tar -C "$S" -xf - || { echo "FAIL: cannot copy the tree"; exit 1; }
[ -d "$TOP/build" ] && (cd "$TOP" && tar -cf - build) | tar -C "$S" -xf -
echo "mutate: scratch tree $S; building"
if ! make -C "$S" -j"$JOBS" all asan tools >"$S/build.log" 2>&1; then
	echo "FAIL: the unmutated tree does not build (see $S/build.log)"; MUTATE_KEEP=1; exit 1
fi

# run_suite SPEC LOG: run one suite of the scratch tree; prints "passed failed" (or "- -")
run_suite() {
	local spec=$1 log=$2 name=${1%%=*} arg= line
	[ "$spec" != "$name" ] && arg=${spec#*=}
	(
		cd "$S" || exit 1
		case $name in
		unit) timeout "$TMO" tests/run-unit.sh build/asan/test_* ;;
		policy) timeout "$TMO" tests/policy/t-policy.sh ;;
		shapes) timeout "$TMO" tests/policy/t-shapes.sh ;;
		admin) timeout "$TMO" tests/admin/t-admin.sh ;;
		mobileconfig) timeout "$TMO" tests/admin/t-mobileconfig.sh ;;
		privilege) timeout "$TMO" tests/admin/t-privilege.sh ;;
		hostile) HOSTILE_CASES=$arg timeout "$TMO" tests/hostile/run.sh ;;
		corpus) CORPUS_GROUPS=$arg timeout "$TMO" tests/corpus/replay.sh ;;
		trust) TRUST_ITEMS=$arg timeout "$TMO" tests/trust/t-trust.sh ;;
		fuzz-regress) timeout "$TMO" tests/fuzz/run.sh --regress ;;
		*) echo "unknown suite $name" ;;
		esac
	) >"$log" 2>&1
	line=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then echo "- -"; return; fi
	sed -n 's/^[^:]*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' <<<"$line"
}

declare -A BASE
mkdir -p "$S/logs"
specs=""
for l in "${LINES[@]}"; do
	IFS=$'\t' read -r id suites _ <<<"$l"
	case $WANT in "  ") ;; *" $id "*) ;; *) continue ;; esac
	IFS=, read -r -a ss <<<"$suites"
	for sp in "${ss[@]}"; do case "|$specs|" in *"|$sp|"*) ;; *) specs="$specs|$sp" ;; esac; done
done
IFS='|' read -r -a SPECS <<<"${specs#|}"
for sp in "${SPECS[@]}"; do
	t0=$(date +%s)
	BASE[$sp]=$(run_suite "$sp" "$S/logs/baseline.${sp//[^A-Za-z0-9_.-]/_}.log")
	echo "    baseline $sp: ${BASE[$sp]% *} passed, ${BASE[$sp]#* } failed ($(( $(date +%s) - t0 )) s)"
	if [ "${BASE[$sp]}" = "- -" ]; then
		echo "FAIL: the unmutated suite $sp printed no summary line (see $S/logs)"; MUTATE_KEEP=1; exit 1
	fi
done

# ---------------------------------------------------------------- one mutation at a time
killed=0 survived=0 expected=0 bad=0 n=0
keep_logs() { mkdir -p "$TOP/tests/out/mutate"; cp "$S/logs/$1".* "$TOP/tests/out/mutate/" 2>/dev/null; }
for l in "${LINES[@]}"; do
	IFS=$'\t' read -r id suites expect pat rep why <<<"$l"
	case $WANT in "  ") ;; *" $id "*) ;; *) continue ;; esac
	n=$((n + 1)); t0=$(date +%s)
	if ! file=$("$PY" -c "$APPLY" "$S" "$pat" "$rep" "$S/.unmutated"); then
		echo "INVALID: $id: $file"; bad=$((bad + 1)); continue
	fi
	if ! make -C "$S" -j"$JOBS" all asan tools >"$S/logs/$id.build" 2>&1; then
		echo "INVALID: $id ($file): the mutant does not compile (see tests/out/mutate/$id.build)"
		keep_logs "$id"; bad=$((bad + 1))
	else
		why_killed=""
		IFS=, read -r -a ss <<<"$suites"
		for sp in "${ss[@]}"; do
			got=$(run_suite "$sp" "$S/logs/$id.${sp//[^A-Za-z0-9_.-]/_}.log")
			read -r bp bf <<<"${BASE[$sp]}"; read -r mp mf <<<"$got"
			if [ "$mp" = - ]; then why_killed="$why_killed $sp (no summary line)"
			elif [ "$mf" -gt "$bf" ] || [ "$mp" -lt "$bp" ]; then
				why_killed="$why_killed $sp ($mp passed, $mf failed; baseline $bp/$bf)"
			fi
		done
		secs=$(( $(date +%s) - t0 ))
		case $expect in
		killed)
			if [ -n "$why_killed" ]; then
				echo "killed: $id ($file): by$why_killed [$secs s]"; killed=$((killed + 1))
			else
				echo "SURVIVED: $id ($file): no failure in $suites [$secs s]"
				echo "    $why"
				keep_logs "$id"; survived=$((survived + 1))
			fi ;;
		survivor*)
			if [ -n "$why_killed" ]; then
				echo "KILLED (marked \"$expect\"): $id ($file): by$why_killed: remove the mark [$secs s]"
				bad=$((bad + 1))
			else
				echo "survived as expected: $id ($file): $expect [$secs s]"
				expected=$((expected + 1))
			fi ;;
		*)
			echo "INVALID: $id: expect is \"killed\" or \"survivor until ...\""; bad=$((bad + 1)) ;;
		esac
	fi
	# back to the unmutated file (a new mtime: the next build recompiles it)
	cat "$S/.unmutated" >"$S/$file" && rm -f "$S/.unmutated" ||
	    { echo "FAIL: cannot restore $file"; exit 1; }
done
echo "mutate: $killed killed, $survived survived, $expected expected survivors, $((bad + invalid)) invalid"
[ "$survived" = 0 ] && [ "$bad" = 0 ] && [ "$invalid" = 0 ]
