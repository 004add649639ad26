#!/bin/sh
# accuracy_cli - bench/accuracy end to end on a small workload: it prints its
# tables and ends with the result lines, the engine's exact path matches
# float64 attention, no certified bound is below the dropped mass, the CSV
# files are written, a trace dumped by the bench evaluates to exactly the
# numbers of the generator it came from, the plot scripts draw from the CSV
# (when gnuplot is installed), and bad arguments and a corrupt trace are
# refused.  TAP output.
set -u
bin=${top_builddir:-.}/bench/accuracy
plots=${top_srcdir:-.}/bench/plots
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hgca-acc-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
failed=0

# check DESCRIPTION COMMAND...: one TAP line from COMMAND's exit status.
check() {
	desc=$1
	shift
	n=$((n + 1))
	if "$@" >/dev/null 2>&1; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		failed=1
	fi
}

skip() {
	n=$((n + 1))
	echo "ok $n # SKIP $1"
}

# The value of result line $2 in file $1.
result() {
	awk -v k="$2" '$1 == "result" && $2 == k { print $3 }' "$1"
}

# Pooled rel_l2 of method $2 (param $3) in CSV $1.
pooled_err() {
	awk -F, -v m="$2" -v p="$3" \
	    '$1 == "all" && $4 == "all" && $2 == m && $3 == p { print $10 }' "$1"
}

lt() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 < b + 0) }'
}

args="--ctx 2048 --heads 2 --steps 4 --threads 2"
mkdir "$tmp/gen" "$tmp/trace"
"$bin" $args --csv "$tmp/gen" >"$tmp/gen.txt" 2>"$tmp/gen.err"
check "runs on the generator" test $? -eq 0
check "ends with result lines" sh -c "tail -n 1 '$tmp/gen.txt' | grep -q '^result needle_recovery '"
for k in err_ratio_vs_sink_window err_ratio_vs_h2o needle_recovery delta_violations; do
	check "result $k is a number" sh -c "[ -n \"\$(awk '\$1==\"result\" && \$2==\"$k\" && \$3 ~ /^[0-9.e+-]+\$/' '$tmp/gen.txt')\" ]"
done
check "no delta below the dropped mass" test "$(result "$tmp/gen.txt" delta_violations)" = 0
e=$(pooled_err "$tmp/gen/accuracy.csv" exact full)
check "engine's exact path: pooled error $e < 1e-5" lt "$e" 1e-5
for f in accuracy.csv needle_depth.csv delta.csv; do
	check "$f written" test -s "$tmp/gen/$f"
done

"$bin" $args --dump "$tmp/w.trace" >/dev/null 2>&1
want=$((128 + 8 * 4 + 2 * (4 * 4 * 128 * 4 + 2 * 2048 * 128 * 2 + 8)))
check "--dump writes a trace of $want bytes" test "$(wc -c <"$tmp/w.trace")" -eq "$want"
"$bin" --trace "$tmp/w.trace" --threads 1 --csv "$tmp/trace" >"$tmp/trace.txt" 2>&1
check "--trace evaluates the dumped trace" test $? -eq 0
for f in accuracy.csv needle_depth.csv delta.csv; do
	check "trace and generator give the same $f" cmp "$tmp/gen/$f" "$tmp/trace/$f"
done

if command -v gnuplot >/dev/null 2>&1; then
	for p in error_vs_bytes needle_depth delta; do
		check "plot $p.png" sh -c "gnuplot -e \"dir='$tmp/gen'\" '$plots/$p.gp' && test -s '$tmp/gen/$p.png'"
	done
else
	skip "gnuplot not installed"
fi

"$bin" --ctx 0 >/dev/null 2>&1
check "--ctx 0 is refused (exit 2)" test $? -eq 2
"$bin" --trace "$tmp/nonexistent" >/dev/null 2>"$tmp/err"
check "a missing trace is refused (exit 1)" sh -c "test $? -eq 1 && grep -q 'No such file' '$tmp/err'"
cp "$tmp/w.trace" "$tmp/bad.trace"
printf 'X' | dd of="$tmp/bad.trace" bs=1 seek=40 conv=notrunc 2>/dev/null
"$bin" --trace "$tmp/bad.trace" >/dev/null 2>"$tmp/err"
check "a corrupt trace header is refused (exit 1)" sh -c "test $? -eq 1 && grep -qi 'bad message' '$tmp/err'"

echo "1..$n"
exit $failed
