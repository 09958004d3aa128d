package loadgen

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator spreads connections over worker processes (each stays
// below the per-process open-file limit) started from the same executable.
// A worker reads one JSON request per line on stdin and answers each with one
// JSON line on stdout; requests to one worker are strictly sequential.

// WorkerEnv is the environment variable that turns the executable into a
// worker; main (and TestMain) must call MaybeRunWorker first thing.
const WorkerEnv = "C1MBENCH_WORKER"

type workerReq struct {
	Op   string    `json:"op"` // dial, reset, pause, progress, report, ping, close
	Dial *DialSpec `json:"dial,omitempty"`
	Seqs bool      `json:"seqs,omitempty"`
	Ms   int       `json:"ms,omitempty"`
}

type workerResp struct {
	Err        string      `json:"err,omitempty"`
	Dial       *DialResult `json:"dial,omitempty"`
	Report     *RecvReport `json:"report,omitempty"`
	Deliveries uint64      `json:"deliveries,omitempty"`
}

// MaybeRunWorker runs the worker protocol on stdin/stdout and exits the
// process when WorkerEnv is set; otherwise it returns immediately.
func MaybeRunWorker() {
	if os.Getenv(WorkerEnv) == "" {
		return
	}
	if err := RunWorker(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench worker:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// RunWorker serves worker requests from r until "close" or EOF.
func RunWorker(r io.Reader, w io.Writer) error {
	l, err := NewLoop()
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	loopErr := make(chan error, 1)
	go func() { loopErr <- l.Run(stop) }()
	defer func() {
		close(stop)
		<-loopErr
		l.Close()
	}()
	enc := json.NewEncoder(w)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var req workerReq
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return fmt.Errorf("bad request: %w", err)
		}
		reply := make(chan workerResp, 1)
		switch req.Op {
		case "dial":
			if req.Dial == nil {
				return errors.New("dial without spec")
			}
			spec := *req.Dial
			l.Do(func() { l.Dial(spec, func(r DialResult) { reply <- workerResp{Dial: &r} }) })
		case "reset":
			l.Do(func() { l.ResetRecv(); reply <- workerResp{} })
		case "pause":
			l.Do(func() { l.PauseSlow(); reply <- workerResp{} })
		case "progress":
			l.Do(func() { reply <- workerResp{Deliveries: l.rx.Deliveries} })
		case "report":
			seqs := req.Seqs
			l.Do(func() { r := l.Report(seqs); reply <- workerResp{Report: &r} })
		case "ping":
			d := time.Duration(req.Ms) * time.Millisecond
			l.Do(func() { l.SetPing(d); reply <- workerResp{} })
		case "close":
			return enc.Encode(workerResp{})
		default:
			reply <- workerResp{Err: "unknown op " + req.Op}
		}
		var resp workerResp
		select {
		case resp = <-reply:
		case err := <-loopErr:
			return err
		}
		if err := enc.Encode(resp); err != nil {
			return err
		}
	}
	return sc.Err()
}

type workerProc struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// Pool is a set of worker processes. Its methods are safe for concurrent use
// (requests to one worker are serialised).
type Pool struct {
	workers []*workerProc
	srcBase int
}

// MaxPerWorker is the most connections one worker process is given: below
// the 20,000 open files of a process, with room for pipes and epoll.
const MaxPerWorker = 18000

// NewPool starts n workers. Worker i binds its sockets to source address
// 127.0.0.(srcBase+i), so each worker has its own ephemeral port space.
func NewPool(n, srcBase int) (*Pool, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &Pool{srcBase: srcBase}
	for i := 0; i < n; i++ {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), WorkerEnv+"=1")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			p.Close()
			return nil, err
		}
		outPipe, err := cmd.StdoutPipe()
		if err != nil {
			p.Close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			p.Close()
			return nil, fmt.Errorf("start worker: %w", err)
		}
		sc := bufio.NewScanner(outPipe)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		p.workers = append(p.workers, &workerProc{cmd: cmd, in: in, out: sc})
	}
	return p, nil
}

// Size is the number of workers.
func (p *Pool) Size() int { return len(p.workers) }

func (w *workerProc) call(req workerReq) (workerResp, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, _ := json.Marshal(req)
	if _, err := w.in.Write(append(b, '\n')); err != nil {
		return workerResp{}, fmt.Errorf("worker %d: %w", w.cmd.Process.Pid, err)
	}
	if !w.out.Scan() {
		err := w.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return workerResp{}, fmt.Errorf("worker %d: %w", w.cmd.Process.Pid, err)
	}
	var resp workerResp
	if err := json.Unmarshal(w.out.Bytes(), &resp); err != nil {
		return resp, err
	}
	if resp.Err != "" {
		return resp, errors.New(resp.Err)
	}
	return resp, nil
}

// each runs f(i, worker i) on every worker in parallel.
func (p *Pool) each(f func(i int, w *workerProc) error) error {
	errs := make([]error, len(p.workers))
	var wg sync.WaitGroup
	for i, w := range p.workers {
		wg.Go(func() { errs[i] = f(i, w) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Dial opens total more connections, split evenly over the workers, and
// waits for all of them. spec.N and spec.Sources are set per worker.
func (p *Pool) Dial(spec DialSpec, total int) (DialResult, error) {
	var (
		mu  sync.Mutex
		res DialResult
		up  Histogram
		sub Histogram
	)
	start := time.Now()
	err := p.each(func(i int, w *workerProc) error {
		s := spec
		s.N = total / len(p.workers)
		if i < total%len(p.workers) {
			s.N++
		}
		if s.N == 0 {
			return nil
		}
		s.Sources = []string{fmt.Sprintf("127.0.0.%d", p.srcBase+i)}
		r, err := w.call(workerReq{Op: "dial", Dial: &s})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		res.OK += r.Dial.OK
		res.Failed += r.Dial.Failed
		res.Open += r.Dial.Open
		res.Slow += r.Dial.Slow
		if res.FirstErr == "" {
			res.FirstErr = r.Dial.FirstErr
		}
		up.MergeSparse(r.Dial.Upgrade)
		sub.MergeSparse(r.Dial.Subscribe)
		return nil
	})
	res.ElapsedNs = time.Since(start).Nanoseconds()
	res.Upgrade, res.Subscribe = up.Sparse(), sub.Sparse()
	return res, err
}

func (p *Pool) simple(op string, ms int) error {
	return p.each(func(_ int, w *workerProc) error {
		_, err := w.call(workerReq{Op: op, Ms: ms})
		return err
	})
}

// ResetRecv clears every worker's receive statistics.
func (p *Pool) ResetRecv() error { return p.simple("reset", 0) }

// PauseSlow makes every worker's slow consumers stop reading.
func (p *Pool) PauseSlow() error { return p.simple("pause", 0) }

// SetPing sets the client ping interval of every worker.
func (p *Pool) SetPing(d time.Duration) error { return p.simple("ping", int(d/time.Millisecond)) }

// Deliveries is the total of fast-consumer deliveries since the last reset.
func (p *Pool) Deliveries() (uint64, error) {
	var mu sync.Mutex
	var total uint64
	err := p.each(func(_ int, w *workerProc) error {
		r, err := w.call(workerReq{Op: "progress"})
		mu.Lock()
		total += r.Deliveries
		mu.Unlock()
		return err
	})
	return total, err
}

// Received is the merged receive report of all workers.
type Received struct {
	RecvReport
	Lat        Histogram // publish-to-receipt latency, ns
	Completion Histogram // per seq: last fast receipt - ts, ns, complete seqs only
	Seqs       int       // seqs seen
	Incomplete int       // seqs not received by every fast subscriber
}

// Report merges every worker's report. fastSubs is the number of fast
// subscribers a complete seq must reach (0: skip the fan-out table).
func (p *Pool) Report(fastSubs int) (Received, error) {
	reps := make([]RecvReport, len(p.workers))
	err := p.each(func(i int, w *workerProc) error {
		r, err := w.call(workerReq{Op: "report", Seqs: fastSubs > 0})
		if err == nil {
			reps[i] = *r.Report
		}
		return err
	})
	var out Received
	if err != nil {
		return out, err
	}
	base := uint64(0)
	haveBase := false
	for i := range reps {
		r := &reps[i]
		out.Deliveries += r.Deliveries
		out.SlowDeliv += r.SlowDeliv
		out.Stale += r.Stale
		out.Snaps += r.Snaps
		out.Open += r.Open
		out.Closed += r.Closed
		out.SlowClosed += r.SlowClosed
		if out.FirstErr == "" {
			out.FirstErr = r.FirstErr
		}
		if r.FirstRecv != 0 && (out.FirstRecv == 0 || r.FirstRecv < out.FirstRecv) {
			out.FirstRecv = r.FirstRecv
		}
		out.LastRecv = max(out.LastRecv, r.LastRecv)
		out.Lat.MergeSparse(r.Latency)
		if len(r.SeqCount) > 0 && (!haveBase || r.BaseSeq < base) {
			base, haveBase = r.BaseSeq, true
		}
	}
	if fastSubs > 0 && haveBase {
		var count []uint32
		var last []int64
		for i := range reps {
			r := &reps[i]
			off := int(r.BaseSeq - base)
			for j, c := range r.SeqCount {
				k := off + j
				if k >= maxSeqTrack {
					break
				}
				for len(count) <= k {
					count = append(count, 0)
					last = append(last, 0)
				}
				count[k] += c
				last[k] = max(last[k], r.SeqLast[j])
			}
		}
		for k, c := range count {
			if c == 0 {
				continue // a seq published before the reset, or one nobody got
			}
			out.Seqs++
			if int(c) >= fastSubs {
				out.Completion.Record(last[k])
			} else {
				out.Incomplete++
			}
		}
	}
	return out, nil
}

// CPUTicks is the CPU time (user+system, clock ticks) the workers used so far.
func (p *Pool) CPUTicks() uint64 {
	var t uint64
	for _, w := range p.workers {
		if n, err := procCPUTicks(w.cmd.Process.Pid); err == nil {
			t += n
		}
	}
	return t
}

// Close asks every worker to close its connections and exit, then waits.
func (p *Pool) Close() {
	var wg sync.WaitGroup
	for _, w := range p.workers {
		wg.Go(func() { stopWorker(w.cmd, w.in, func() { w.call(workerReq{Op: "close"}) }) })
	}
	wg.Wait()
}

// stopWorker asks a worker process to close its connections (bye), closes
// its stdin and waits for it to exit, killing it after 10 s.
func stopWorker(cmd *exec.Cmd, in io.Closer, bye func()) {
	done := make(chan struct{})
	go func() {
		bye()
		in.Close()
		cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// awaitDeliveries waits until n counts expected deliveries, its progress
// stalls for 2 s, or 20 s pass.
func awaitDeliveries(n *atomic.Uint64, expected uint64) {
	deadline := time.Now().Add(20 * time.Second)
	last, lastChange := uint64(0), time.Now()
	for time.Now().Before(deadline) {
		d := n.Load()
		if d >= expected {
			return
		}
		if d != last {
			last, lastChange = d, time.Now()
		} else if time.Since(lastChange) > 2*time.Second {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
