set terminal pngcairo size 1200,700 noenhanced
set grid
set key outside right
set output 'mem_per_conn.png'
set title 'Server memory per idle connection'
set xlabel 'connections'
set ylabel 'bytes per connection'
set logscale x
plot 'mem.dat' using 1:2 with linespoints title 'c1m RSS', \
  'mem.dat' using 1:3 with linespoints dt 2 title 'c1m Go heap', \
  'mem.dat' using 1:5 with linespoints title 'gorilla RSS', \
  'mem.dat' using 1:6 with linespoints dt 2 title 'gorilla Go heap', \
  'mem.dat' using 1:8 with linespoints title 'gws RSS', \
  'mem.dat' using 1:9 with linespoints dt 2 title 'gws Go heap', \
  'mem.dat' using 1:11 with linespoints title 'nbio RSS', \
  'mem.dat' using 1:12 with linespoints dt 2 title 'nbio Go heap'
unset logscale x
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -30
set output 'deliveries.png'
set title 'Broadcast deliveries per second (rate=max)'
set xlabel ''
set ylabel 'deliveries/s'
plot 'deliveries.dat' using 2:xtic(1) lc rgb '#1b9e77' title 'c1m', '' using 3 lc rgb '#d95f02' title 'gorilla', '' using 4 lc rgb '#7570b3' title 'gws', '' using 5 lc rgb '#e7298a' title 'nbio'
set output 'latency.png'
set title 'Publish-to-receipt latency p50 (solid) / p99 / p99.9 (paced rates)'
set ylabel 'microseconds'
set logscale y
plot 'latency.dat' using 2:xtic(1) lc rgb '#1b9e77' fs solid 1.0 title 'c1m p50', '' using 3 lc rgb '#1b9e77' fs solid 0.55 title 'c1m p99', '' using 4 lc rgb '#1b9e77' fs solid 0.25 title 'c1m p99.9', '' using 5 lc rgb '#d95f02' fs solid 1.0 title 'gorilla p50', '' using 6 lc rgb '#d95f02' fs solid 0.55 title 'gorilla p99', '' using 7 lc rgb '#d95f02' fs solid 0.25 title 'gorilla p99.9', '' using 8 lc rgb '#7570b3' fs solid 1.0 title 'gws p50', '' using 9 lc rgb '#7570b3' fs solid 0.55 title 'gws p99', '' using 10 lc rgb '#7570b3' fs solid 0.25 title 'gws p99.9', '' using 11 lc rgb '#e7298a' fs solid 1.0 title 'nbio p50', '' using 12 lc rgb '#e7298a' fs solid 0.55 title 'nbio p99', '' using 13 lc rgb '#e7298a' fs solid 0.25 title 'nbio p99.9'
