# needle_depth.gp - needle recovery against the needle's depth in the
# context for the settings compared at <= 10% bytes read, from
# bench/accuracy's needle_depth.csv.
#   gnuplot -e "dir='DIR'" bench/plots/needle_depth.gp   -> DIR/needle_depth.png
if (!exists("dir")) dir = "."
f = dir . "/needle_depth.csv"
set datafile separator ","
set terminal pngcairo size 900,550 font ",11"
set output dir . "/needle_depth.png"

cmp(m) = strcol(1) eq m && column("compared") == 1 && column("needles") > 0
hgca = 'strstrt(strcol(1), "hgca") == 1 && column("compared") == 1 && column("needles") > 0'
mid = "(column('depth_lo') + column('depth_hi')) / 2"
rec = "100 * column('recovery')"
# The label of the hgca setting compared (the first matching row's param).
hlabel = "hgca"
stats f using (@hgca ? (hlabel = "hgca " . strcol(2), 0) : 0) nooutput

set title "Needle recovery by depth at <= 10% bytes read (top: needle events per bin)"
set xlabel "needle depth (position / context length)"
set ylabel "needle events recovered, %"
set xrange [0:1]
set yrange [-5:115]
set ytics 0, 20, 100
set grid lc rgb "#dddddd"
set key outside right center box

plot \
  f using (@hgca ? @mid : NaN):(@rec) with linespoints lw 2 pt 7 lc rgb "#d62728" title hlabel, \
  f using (cmp("quest") ? @mid : NaN):(@rec) with linespoints lw 1.5 pt 4 lc rgb "#2ca02c" title "quest 10%", \
  f using (cmp("h2o") ? @mid : NaN):(@rec) with linespoints lw 1.5 pt 6 lc rgb "#1f77b4" title "h2o 10%", \
  f using (cmp("sink_window") ? @mid : NaN):(@rec) with linespoints lw 1.5 pt 8 lc rgb "#9467bd" title "sink+window 10%", \
  f using (cmp("uniform") ? @mid : NaN):(@rec) with linespoints lw 1.5 pt 12 lc rgb "#7f7f7f" title "uniform 10%", \
  f using (@hgca ? @mid : NaN):(110):(sprintf("%d", column("needles"))) with labels tc rgb "#555555" notitle
