// Package testutil holds the helpers that tests of several packages share:
// waiting for a condition, measuring the live heap, opening many bare
// sockets, serving a reactor. It is imported by tests only (not by the
// poller's internal tests, which it imports).
package testutil

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c1mhq/c1m/poller"
)

// WaitFor polls cond until it holds, failing t after d.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not synchronisation
	}
}

// HeapAfterGC returns the live heap after two collections.
func HeapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// DialSyscall opens n TCP connections to addr (IPv4) with bare syscalls and
// writes req on each, so that the clients add nothing to the Go heap. It
// returns the descriptors; the caller closes them, once (a closed number is
// soon another socket's).
func DialSyscall(t testing.TB, addr string, n int, req string) []int {
	t.Helper()
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sa := &unix.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	fds := make([]int, 0, n)
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
		if err := unix.Connect(fd, sa); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Write(fd, []byte(req)); err != nil {
			t.Fatal(err)
		}
	}
	return fds
}

// ServePoller starts a poller.Server for pc on 127.0.0.1 (any free port),
// shuts it down when the test ends, and returns its address.
func ServePoller(t testing.TB, pc poller.Config) string {
	t.Helper()
	p, err := poller.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p.Addr().String()
}
