package poller

import (
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/cloudwego/netpoll"
)

// netpoll gives every connection a 1.3 KB "barrier" (the scratch for its
// sendmsg in Flush) at accept and keeps it until close. c1m writes frames with
// its own writev and calls netpoll's Flush only for backlogged connections and
// plain HTTP, so an idle WebSocket connection does not need it: trimming it
// cuts the Go heap per idle connection by 40%.
//
// The field is unexported, so the trim is guarded: it is enabled only when the
// connection type has exactly the layout this code was written against
// (netpoll v0.7.2: outputBarrier *barrier{bs [][]byte; ivs []syscall.Iovec}).
// Otherwise it stays off and nothing changes. Before any Flush or Write on a
// trimmed connection, ensureBarrier gives it a fresh barrier; netpoll returns
// it to its own pool on close (a nil barrier is ignored by sync.Pool.Put).

// barrierMirror has the layout of netpoll's barrier.
type barrierMirror struct {
	bs  [][]byte
	ivs []syscall.Iovec
}

const barrierCap = 32 // netpoll's barriercap

var trimState struct {
	once   sync.Once
	ok     atomic.Bool
	offset uintptr
}

// trimEnabled reports whether barrier trimming applies to nc's type; the first
// call inspects the type.
func trimEnabled(nc netpoll.Connection) bool {
	trimState.once.Do(func() {
		t := reflect.TypeOf(nc)
		if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
			return
		}
		f, ok := t.Elem().FieldByName("outputBarrier")
		if !ok || f.Type.Kind() != reflect.Pointer || len(f.Index) != 1 {
			return
		}
		bt := f.Type.Elem()
		if bt.Kind() != reflect.Struct || bt.NumField() != 2 || bt.Size() != unsafe.Sizeof(barrierMirror{}) {
			return
		}
		if bt.Field(0).Name != "bs" || bt.Field(0).Type != reflect.TypeOf([][]byte(nil)) ||
			bt.Field(1).Name != "ivs" || bt.Field(1).Type != reflect.TypeOf([]syscall.Iovec(nil)) ||
			bt.Field(1).Offset != unsafe.Offsetof(barrierMirror{}.ivs) {
			return
		}
		trimState.offset = f.Offset
		trimState.ok.Store(true)
	})
	return trimState.ok.Load()
}

func barrierField(nc netpoll.Connection) *unsafe.Pointer {
	base := reflect.ValueOf(nc).UnsafePointer()
	return (*unsafe.Pointer)(unsafe.Add(base, trimState.offset))
}

// trimBarrier drops nc's barrier. Call it before nc is registered with the
// poller (OnPrepare), when nothing else can use it.
func trimBarrier(nc netpoll.Connection) bool {
	if !trimEnabled(nc) {
		return false
	}
	*barrierField(nc) = nil
	return true
}

// ensureBarrier gives a trimmed connection a barrier before its first Flush or
// Write. Only the goroutine that is about to call Flush or Write may call it.
func ensureBarrier(nc netpoll.Connection) {
	if !trimState.ok.Load() {
		return
	}
	p := barrierField(nc)
	if *p == nil {
		*p = unsafe.Pointer(&barrierMirror{bs: make([][]byte, barrierCap), ivs: make([]syscall.Iovec, barrierCap)})
	}
}

// barrier gives c's connection a barrier (ensureBarrier) unless c is closed,
// under c.mu: netpoll frees the connection's buffers in its close callback
// after ours (onClosed) marked c closed under c.mu, so this write of
// netpoll's field never meets that. It reports false once c is closed. c.mu
// must not be held.
func (c *Conn) barrier() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stClosed {
		return false
	}
	ensureBarrier(c.nc)
	return true
}
