# error_vs_bytes.gp - pooled relative L2 error against bytes read, one curve
# per method, from bench/accuracy's accuracy.csv.
#   gnuplot -e "dir='DIR'" bench/plots/error_vs_bytes.gp   -> DIR/error_vs_bytes.png
if (!exists("dir")) dir = "."
f = dir . "/accuracy.csv"
set datafile separator ","
set terminal pngcairo size 900,600 font ",11"
set output dir . "/error_vs_bytes.png"

# Rows pooled over contexts, heads and steps, of one method.
pooled(m) = strcol(1) eq "all" && strcol(4) eq "all" && strcol(2) eq m
x(m) = pooled(m) ? 100 * column("bytes_frac") : NaN
y = "column('rel_l2')"

set title "Output error against bytes read (pooled over heads, steps and contexts)"
set xlabel "bytes read, % of the context's K+V (page summaries included)"
set ylabel "relative L2 error ||O - O_{exact}||_F / ||O_{exact}||_F"
set logscale xy
set format y "10^{%L}"
set xrange [1:150]
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set key outside right center box
set arrow from 10, graph 0 to 10, graph 1 nohead dt 2 lc rgb "#888888"
set label " 10%" at 10, graph 0.04 left tc rgb "#555555"

plot \
  f using (x("hgca_mass")):(@y) with linespoints lw 2 pt 7 lc rgb "#d62728" title "hgca mass:EPS", \
  f using (x("hgca_topk")):(@y) with linespoints lw 2 pt 5 lc rgb "#ff7f0e" title "hgca topk:K", \
  f using (x("hgca_cap")):(@y) with linespoints lw 2 pt 9 lc rgb "#8c564b" title "hgca mass, byte cap", \
  f using (x("quest")):(@y) with linespoints lw 1.5 pt 4 lc rgb "#2ca02c" title "quest (page top-k)", \
  f using (x("h2o")):(@y) with linespoints lw 1.5 pt 6 lc rgb "#1f77b4" title "h2o (heavy hitters)", \
  f using (x("sink_window")):(@y) with linespoints lw 1.5 pt 8 lc rgb "#9467bd" title "sink+window", \
  f using (x("uniform")):(@y) with linespoints lw 1.5 pt 12 lc rgb "#7f7f7f" title "uniform sampling", \
  f using (x("exact")):(@y) with points pt 3 ps 2 lc rgb "black" title "exact (engine, full)"
