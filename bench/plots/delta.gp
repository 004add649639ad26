# delta.gp - hgca's certified bound delta against the dropped mass measured
# against float64 exact attention, one point per (query head, step), from
# bench/accuracy's delta.csv.  Every point must lie on or above the diagonal.
#   gnuplot -e "dir='DIR'" bench/plots/delta.gp   -> DIR/delta.png
if (!exists("dir")) dir = "."
f = dir . "/delta.csv"
set datafile separator ","
set terminal pngcairo size 900,650 font ",11"
set output dir . "/delta.png"

floor = 1e-9		# dropped mass below this (or 0) is drawn here
clamp(v) = v > floor ? v : floor
is(m, p) = strcol(1) eq m && (p eq "" || strcol(2) eq p)

set title "Certified bound {/Symbol d} against the true dropped mass (hgca mass:EPS)"
set xlabel "true dropped softmax mass (float64, over the keys the engine kept)"
set ylabel "certified bound {/Symbol d}"
set logscale xy
set format xy "10^{%L}"
set xrange [floor/2:1.5]
set yrange [floor/2:1.5]
set grid lc rgb "#dddddd"
set key outside right center box
set size ratio -1

plot \
  f using (is("hgca_mass", "mass:0.3") ? clamp($7) : NaN):6 with points pt 7 ps 0.5 lc rgb "#1f77b4" title "mass:0.3", \
  f using (is("hgca_mass", "mass:0.1") ? clamp($7) : NaN):6 with points pt 7 ps 0.5 lc rgb "#2ca02c" title "mass:0.1", \
  f using (is("hgca_mass", "mass:0.03") ? clamp($7) : NaN):6 with points pt 7 ps 0.5 lc rgb "#ff7f0e" title "mass:0.03", \
  f using (is("hgca_mass", "mass:0.01") ? clamp($7) : NaN):6 with points pt 7 ps 0.5 lc rgb "#d62728" title "mass:0.01", \
  f using (is("hgca_mass", "mass:0.003") ? clamp($7) : NaN):6 with points pt 7 ps 0.5 lc rgb "#9467bd" title "mass:0.003", \
  f using (is("hgca_mass", "mass:0.001") ? clamp($7) : NaN):6 with points pt 7 ps 0.5 lc rgb "#8c564b" title "mass:0.001", \
  f using (is("hgca_cap", "") ? clamp($7) : NaN):6 with points pt 6 ps 0.5 lc rgb "#7f7f7f" title "mass + byte cap", \
  x with lines dt 2 lw 1.5 lc rgb "black" title "{/Symbol d} = dropped"
