package registry

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type sess struct{ id string }

func TestMap(t *testing.T) {
	m := New[*sess]()
	a := &sess{"a"}
	if !m.Add("a", a) || m.Add("a", &sess{"a"}) {
		t.Fatal("Add must take a free id once")
	}
	if m.Get("a") != a || m.Get("b") != nil {
		t.Fatal("Get")
	}
	calls := 0
	b, created := m.LoadOrCreate("b", func() *sess { calls++; return &sess{"b"} })
	if !created || b.id != "b" {
		t.Fatal("LoadOrCreate did not create")
	}
	if again, created := m.LoadOrCreate("b", func() *sess { calls++; return nil }); created || again != b || calls != 1 {
		t.Fatal("LoadOrCreate created twice")
	}
	m.Remove("a", &sess{"a"}) // another session under the id: kept
	if m.Get("a") != a || m.Len() != 2 {
		t.Fatal("Remove of another value removed")
	}
	m.Remove("a", a)
	if m.Get("a") != nil || m.Len() != 1 || len(m.Append(nil)) != 1 {
		t.Fatal("Remove")
	}
}

// TestConcurrent: LoadOrCreate makes one session per id however many ask
// at once.
func TestConcurrent(t *testing.T) {
	m := New[*sess]()
	var made atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				id := strconv.Itoa(i)
				m.LoadOrCreate(id, func() *sess { made.Add(1); return &sess{id} })
			}
		}()
	}
	wg.Wait()
	if made.Load() != 500 || m.Len() != 500 {
		t.Fatalf("made %d, len %d", made.Load(), m.Len())
	}
}

// TestSweep: every session is ticked each period; closing stop ends the
// sweeper, which closes done.
func TestSweep(t *testing.T) {
	m := New[*sess]()
	for i := 0; i < 10; i++ {
		m.Add(strconv.Itoa(i), &sess{strconv.Itoa(i)})
	}
	var mu sync.Mutex
	ticks := map[string]int{}
	stop, done := make(chan struct{}), make(chan struct{})
	go m.Sweep(time.Millisecond, stop, done, func(s *sess, now int64) {
		if now <= 0 {
			t.Error("no time")
		}
		mu.Lock()
		ticks[s.id]++
		mu.Unlock()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, c := range ticks {
			if c >= 3 {
				n++
			}
		}
		mu.Unlock()
		if n == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticks %v", ticks)
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sweeper did not stop")
	}
}
