#!/bin/bash
# Mutation testing of our own: applies each single-line mutant of
# tests/mutants.txt in a scratch copy of the tree, builds, runs the tests and
# records whether a test failed (killed) or all passed (survived).  Not part
# of `make check` (minutes per mutant on a small machine); `make mutate`.
#
# Usage: tests/mutate.sh [-l LIST] [ID ...]
#   -l LIST   mutant list (default tests/mutants.txt)
#   ID ...    only these mutants
#   --check   only check that every mutant's line is found, once
# Environment: VV_MUTATE_DIR (scratch copy, default /tmp/varvault-mutate-$UID),
#   VV_MUTATE_TIMEOUT (seconds per test program, default 300),
#   VV_MUTATE_GOAL (kill ratio in percent under which the exit status is 1,
#   default 90), PYTHON.
#
# Efficiency (2 shared cores): one scratch copy, built once and then
# incrementally (only the mutated file recompiles); for each mutant the
# unit tests of its module and the golden test run first, then every other
# test of `make check` in its order, stopping at the first failure.  A test
# that exceeds the timeout counts as killing the mutant; a skip (exit 77)
# does not.  Results: $VV_MUTATE_DIR/results.tsv and the closing lines.
set -u
cd "$(dirname "$0")/.."
SRC=$PWD
LIST=tests/mutants.txt
CHECK_ONLY=0
ONLY=()
while [ $# -gt 0 ]; do
	case $1 in
	-l) LIST=$2; shift 2 ;;
	--check) CHECK_ONLY=1; shift ;;
	-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
	*) ONLY+=("$1"); shift ;;
	esac
done
case $LIST in /*) ;; *) LIST=$SRC/$LIST ;; esac
W=${VV_MUTATE_DIR:-/tmp/varvault-mutate-$(id -u)}
TMO=${VV_MUTATE_TIMEOUT:-300}
GOAL=${VV_MUTATE_GOAL:-90}
PYTHON=${PYTHON:-/usr/bin/python3}

# ---- the list: id, file, from, to, why per block ----
ids=() files=() froms=() tos=() whys=()
parse_list() {
	local id="" file="" from="" to="" why="" line have_to=0
	flush() {
		if [ -n "$id" ]; then
			if [ -z "$file" ] || [ -z "$from" ] || [ $have_to -eq 0 ]; then
				echo "mutate: $LIST: mutant $id lacks file, from or to" >&2
				exit 2
			fi
			ids+=("$id") files+=("$file") froms+=("$from") tos+=("$to") whys+=("$why")
		fi
		id="" file="" from="" to="" why="" have_to=0
	}
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		'#'*) ;;
		'') flush ;;
		'id: '*) flush; id=${line#id: } ;;
		'file: '*) file=${line#file: } ;;
		'from: '*) from=${line#from: } ;;
		'to: '*) to=${line#to: }; have_to=1 ;;
		'why: '*) why=${line#why: } ;;
		*) echo "mutate: $LIST: cannot read '$line'" >&2; exit 2 ;;
		esac
	done <"$LIST"
	flush
}
parse_list

# Lines of FILE whose text without surrounding blanks is FROM (env).
count_lines() {
	FROM=$1 awk '{ t = $0; sub(/^[ \t]+/, "", t); sub(/[ \t]+$/, "", t); if (t == ENVIRON["FROM"]) n++ }
		END { print n + 0 }' "$2"
}

# Finds the file that holds the mutant's line once: the named file, else
# another .c file of the same folder (code moves between files of a module).
# Prints the path relative to the tree at $1; returns 1 if none or several.
locate() {
	local root=$1 file=$2 from=$3 f hits=() n
	if [ -f "$root/$file" ] && [ "$(count_lines "$from" "$root/$file")" -eq 1 ]; then
		echo "$file"
		return 0
	fi
	for f in "$root/$(dirname "$file")"/*.c "$root/$(dirname "$file")"/*.h; do
		[ -f "$f" ] || continue
		n=$(count_lines "$from" "$f")
		[ "$n" -eq 1 ] && hits+=("${f#"$root"/}")
		[ "$n" -gt 1 ] && return 1
	done
	[ ${#hits[@]} -eq 1 ] || return 1
	echo "${hits[0]}"
}

stale=0
for i in "${!ids[@]}"; do
	if ! where=$(locate "$SRC" "${files[$i]}" "${froms[$i]}"); then
		echo "STALE ${ids[$i]}: '${froms[$i]}' is not on exactly one line of ${files[$i]} (or its folder)"
		stale=$((stale + 1))
	elif [ "$where" != "${files[$i]}" ]; then
		echo "MOVED ${ids[$i]}: now in $where (update $LIST)"
	fi
done
[ $CHECK_ONLY -eq 1 ] && { echo "${#ids[@]} mutants, $stale stale"; [ $stale -eq 0 ]; exit; }

# ---- the scratch copy ----
echo "scratch copy: $W"
mkdir -p "$W"
# the working tree as it is (uncommitted changes too) with its build/, so
# that the first build is incremental; the sanitizer and fuzz builds stay out
tar -C "$SRC" -c --exclude=./.git --exclude=./build/san --exclude=./build/fuzz . | tar -C "$W" -x
cd "$W" || exit 2
export VV_BIN="$W/build" VV_SRC="$W" O=build PYTHON
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

unit_bins() { for f in tests/unit/test_*.c; do f=${f##*/}; echo "build/tests/${f%.c}"; done; }
all_targets() {
	echo build/varvault build/varvault-admin
	unit_bins
	for f in tests/fuzz/fuzz_*.c; do f=${f##*/}; echo "build/tests/replay_${f%.c}"; done
	for f in tests/helpers/*.c; do [ -f "$f" ] && { f=${f##*/}; echo "build/tests/helpers/${f%.c}"; }; done
}
build() { make -j2 -s "$@" >"$W/build.log" 2>&1; }

echo "building the unmutated copy..."
build $(all_targets) || { echo "the unmutated tree does not build:"; tail -n 30 "$W/build.log"; exit 2; }

# Unit tests that exercise a module most directly (run first).
first_units() {
	case $1 in
	src/c4gh/*) echo build/tests/test_c4gh_wipe build/tests/test_c4gh ;;
	src/vcf/*) echo build/tests/test_vcf ;;
	src/model/*) echo build/tests/test_model build/tests/test_tokenizer ;;
	src/interpret/*) echo build/tests/test_interpret ;;
	esac
}

# Runs one test; prints its name and returns 0 passed/skipped, 1 failed.
run_one() {
	local rc
	case $1 in
	*.sh) timeout "$TMO" bash "$1" >"$W/test.log" 2>&1 ;;
	build/tests/replay_fuzz_*) timeout "$TMO" "$1" "tests/fuzz/corpus/${1##*/replay_fuzz_}" >"$W/test.log" 2>&1 ;;
	*) timeout "$TMO" "$1" >"$W/test.log" 2>&1 ;;
	esac
	rc=$?
	[ $rc -eq 0 ] || [ $rc -eq 77 ] && return 0
	[ $rc -eq 124 ] && echo "$1 (timeout)" || echo "$1"
	return 1
}

# The remaining tests of `make check`, in its order.
rest_tests() {
	local skip=" $* " t
	for t in $(unit_bins); do case $skip in *" $t "*) ;; *) echo "$t" ;; esac; done
	for t in tests/fuzz/fuzz_*.c; do t=${t##*/}; echo "build/tests/replay_${t%.c}"; done
	for t in tests/integration/*.sh; do [ "$t" = tests/integration/test_golden.sh ] || echo "$t"; done
	for t in tests/parity/run_*.sh; do [ -f "$t" ] && echo "$t"; done
}

# ---- the mutants ----
RES="$W/results.tsv"
printf 'id\tfile\tresult\tby\n' >"$RES"
killed=0 survived=0 broken=0 survivors=()
for i in "${!ids[@]}"; do
	id=${ids[$i]}
	if [ ${#ONLY[@]} -gt 0 ]; then
		case " ${ONLY[*]} " in *" $id "*) ;; *) continue ;; esac
	fi
	where=$(locate "$W" "${files[$i]}" "${froms[$i]}") || { echo "SKIP  $id: stale"; continue; }
	cp "$where" "$W/orig.c"
	TO=${tos[$i]} FROM=${froms[$i]} awk '{ t = $0; sub(/^[ \t]+/, "", t); sub(/[ \t]+$/, "", t)
		if (t == ENVIRON["FROM"]) { match($0, /^[ \t]*/); print substr($0, 1, RLENGTH) ENVIRON["TO"] }
		else print }' "$W/orig.c" >"$where"
	if cmp -s "$W/orig.c" "$where"; then
		echo "SKIP  $id: the replacement changes nothing"
		cp "$W/orig.c" "$where"
		continue
	fi
	by=""
	firsts=$(first_units "$where")
	if ! build build/varvault-admin $firsts; then
		by="(does not compile)"
	else
		for t in $firsts tests/integration/test_golden.sh; do
			by=$(run_one "$t") || break
		done
		if [ -z "$by" ]; then
			if ! build $(all_targets); then
				by="(does not compile)"
			else
				for t in $(rest_tests $firsts); do
					by=$(run_one "$t") || break
				done
			fi
		fi
	fi
	# restore with a new time stamp, so that the next build recompiles it
	cp "$W/orig.c" "$where"
	touch "$where"
	case $by in
	"(does not compile)") broken=$((broken + 1)); res=broken; cp "$W/build.log" "$W/broken-$id.log"
		echo "BROKEN   $id: does not compile (fix $LIST; see $W/broken-$id.log)" ;;
	"") survived=$((survived + 1)); res=survived; survivors+=("$id"); echo "SURVIVED $id: ${whys[$i]}" ;;
	*) killed=$((killed + 1)); res=killed; echo "KILLED   $id by $by" ;;
	esac
	printf '%s\t%s\t%s\t%s\n' "$id" "$where" "$res" "$by" >>"$RES"
done
build $(all_targets) || true

total=$((killed + survived))
echo
[ ${#survivors[@]} -gt 0 ] && echo "survivors: ${survivors[*]}"
if [ $total -gt 0 ]; then
	ratio=$((killed * 100 / total))
	echo "$killed killed, $survived survived, $broken broken, $stale stale: kill ratio $ratio% ($killed/$total)"
else
	ratio=0
	echo "no mutant ran"
fi
[ $broken -eq 0 ] && [ $stale -eq 0 ] && [ $ratio -ge "$GOAL" ]
