// Package opstest tests the operations scripts in scripts/ (tune-kernel.sh,
// bench.sh, c1m.sh) by running them. It has no library code.
package opstest
