package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// ServerSample is one look at the server under test: its own /stats plus
// what the kernel says about its process and about kernel memory.
type ServerSample struct {
	At     time.Time
	Pid    int   `json:"pid"`
	Conns  int64 `json:"conns"`
	Poller struct {
		Streams int64 `json:"streams"` // c1m: open SSE streams, which its conns does not count
	} `json:"poller"`
	EIOSessions int64  `json:"eio_sessions"`    // c1m: Engine.IO (Socket.IO) sessions, either transport
	SockJS      int64  `json:"sockjs_sessions"` // c1m: SockJS sessions, any transport (between polls too)
	Goroutines  int64  `json:"goroutines"`
	HeapAlloc   uint64 `json:"heap_alloc"`
	HeapInuse   uint64 `json:"heap_inuse"`
	HeapSys     uint64 `json:"heap_sys"`
	RSS         uint64 // bytes, VmRSS of /proc/PID/status
	CPUTicks    uint64 // utime+stime of /proc/PID/stat, in clock ticks
	Slab        uint64 // bytes, /proc/meminfo Slab (whole machine)
	TCPMem      uint64 // bytes, /proc/net/sockstat TCP mem pages (whole machine)
}

// ClockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const ClockTicks = 100

// SampleServer fetches baseURL/stats (asking for a GC first with ?gc=1; servers
// may ignore it) and reads /proc for the pid it reports.
func SampleServer(ctx context.Context, client *http.Client, baseURL string) (ServerSample, error) {
	var s ServerSample
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/stats?gc=1", nil)
	if err != nil {
		return s, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return s, err
	}
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET /stats: %s", resp.Status)
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return s, fmt.Errorf("GET /stats: %w", err)
	}
	if s.Pid <= 0 {
		return s, fmt.Errorf("GET /stats: no pid in %s", body)
	}
	return s, fillProc(&s)
}

// fillProc sets the sample's time and its /proc figures for s.Pid.
func fillProc(s *ServerSample) error {
	var err error
	s.At = time.Now()
	if s.RSS, err = procStatusKB(s.Pid, "VmRSS:"); err != nil {
		return err
	}
	if s.CPUTicks, err = procCPUTicks(s.Pid); err != nil {
		return err
	}
	if s.Slab, err = fileFieldKB("/proc/meminfo", "Slab:"); err != nil {
		return err
	}
	s.TCPMem, _ = sockstatTCPMem()
	return nil
}

func procStatusKB(pid int, field string) (uint64, error) {
	return fileFieldKB(fmt.Sprintf("/proc/%d/status", pid), field)
}

// fileFieldKB reads "Field:   123 kB" from a /proc file and returns bytes.
func fileFieldKB(path, field string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field); ok {
			fs := strings.Fields(rest)
			if len(fs) == 0 {
				break
			}
			v, err := strconv.ParseUint(fs[0], 10, 64)
			return v * 1024, err
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, field)
}

func procCPUTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line, the 12th and 13th after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fs := strings.Fields(string(b[i+1:]))
	if len(fs) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, err1 := strconv.ParseUint(fs[11], 10, 64)
	st, err2 := strconv.ParseUint(fs[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return ut + st, nil
}

func sockstatTCPMem() (uint64, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "TCP:") {
			continue
		}
		fs := strings.Fields(line)
		for i := 0; i+1 < len(fs); i++ {
			if fs[i] == "mem" {
				v, err := strconv.ParseUint(fs[i+1], 10, 64)
				return v * uint64(os.Getpagesize()), err
			}
		}
	}
	return 0, fmt.Errorf("/proc/net/sockstat: no TCP mem")
}

// Clients is the server's count of its clients: connections, or SSE streams
// or Engine.IO or SockJS sessions where the server counts those apart (c1m's
// /stats: poller.streams, eio_sessions, sockjs_sessions). The
// larger of the two, so a server that counts streams as conns too is right.
func (s ServerSample) Clients() int64 { return max(s.Conns, s.Poller.Streams, s.EIOSessions, s.SockJS) }

// WaitConns polls /stats until the server reports clients (see
// ServerSample.Clients) satisfying ok, or the deadline.
func WaitConns(ctx context.Context, client *http.Client, baseURL string, ok func(int64) bool, timeout time.Duration) (ServerSample, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := SampleServer(ctx, client, baseURL)
		if err == nil && ok(s.Clients()) {
			return s, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("server reports %d clients after %v", s.Clients(), timeout)
			}
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
