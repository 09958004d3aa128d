package opstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func script(t *testing.T, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "scripts", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func runScript(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("bash", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

func sysctl(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

var tunedKeys = []string{
	"fs.file-max", "fs.nr_open", "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog",
	"net.core.netdev_max_backlog", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse",
	"net.ipv4.tcp_mem", "net.core.rmem_max", "net.core.wmem_max",
}

func snapshot(t *testing.T) map[string]string {
	m := map[string]string{}
	for _, k := range tunedKeys {
		m[k] = sysctl(t, k)
	}
	return m
}

func TestTuneKernelDryRunPrintsEveryLimitAndWritesNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	before := snapshot(t)
	dir := t.TempDir()
	out := runScript(t, script(t, "tune-kernel.sh"), "--conns", "1000000", "--dry-run", "--backup-dir", dir)
	for _, k := range append(tunedKeys, "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "RLIMIT_NOFILE") {
		if !strings.Contains(out, k) {
			t.Errorf("output lacks %s:\n%s", k, out)
		}
	}
	for _, want := range []string{"LimitNOFILE=1065536", "soft nofile 1065536", "hard nofile 1065536"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(out, "(dry run: nothing written)") && !strings.Contains(out, "nothing to change") {
		t.Errorf("dry run did not say it wrote nothing:\n%s", out)
	}
	if after := snapshot(t); !equal(before, after) {
		t.Errorf("dry run changed sysctls: %v -> %v", before, after)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("dry run wrote a backup: %v", entries)
	}
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

func equal(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

// TestTuneKernelApplyIsIdempotentAndReverts applies the recommendation for
// 1,000,000 connections, applies it again (no change the second time), and
// reverts to the exact previous values. It needs root and a writable /proc/sys.
func TestTuneKernelApplyIsIdempotentAndReverts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if f, err := os.OpenFile("/proc/sys/net/core/somaxconn", os.O_WRONLY, 0); err != nil {
		t.Skipf("/proc/sys not writable: %v", err)
	} else {
		f.Close()
	}
	sc := script(t, "tune-kernel.sh")
	dir := t.TempDir()
	before := snapshot(t)
	out := runScript(t, sc, "--conns", "1000000", "--backup-dir", dir)
	backups, _ := filepath.Glob(filepath.Join(dir, "sysctl-backup-*.conf"))
	applied := snapshot(t)
	if equal(before, applied) {
		if len(backups) != 0 || !strings.Contains(out, "nothing to change") {
			t.Fatalf("nothing changed but the script did not say so:\n%s", out)
		}
		t.Skip("every limit already at the recommendation; nothing to revert")
	}
	t.Cleanup(func() { runScript(t, sc, "--revert", backups[0]) }) // restore even if an assertion fails
	if len(backups) != 1 {
		t.Fatalf("want one backup, got %v", backups)
	}
	if v := atoi(t, applied["net.core.somaxconn"]); v < 65535 {
		t.Errorf("somaxconn %d after apply, want >= 65535", v)
	}
	for _, k := range []string{"fs.file-max", "fs.nr_open", "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.core.netdev_max_backlog", "net.core.rmem_max", "net.core.wmem_max"} {
		if atoi(t, applied[k]) < atoi(t, before[k]) {
			t.Errorf("%s lowered from %s to %s", k, before[k], applied[k])
		}
	}
	again := runScript(t, sc, "--conns", "1000000", "--backup-dir", dir)
	if !strings.Contains(again, "nothing to change") {
		t.Errorf("second run changed something:\n%s", again)
	}
	if b2, _ := filepath.Glob(filepath.Join(dir, "sysctl-backup-*.conf")); len(b2) != 1 {
		t.Errorf("second run wrote another backup: %v", b2)
	}
	runScript(t, sc, "--revert", "--backup-dir", dir)
	if after := snapshot(t); !equal(before, after) {
		t.Errorf("revert did not restore:\nbefore %v\nafter  %v", before, after)
	}
}
