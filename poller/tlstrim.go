package poller

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"sync"
	"time"
	"unsafe"
)

// crypto/tls keeps the buffers a connection's handshake and last reads grew
// for as long as the connection lives: the raw input buffer (about 2 KB
// after a client hello with a post-quantum key share), the handshake
// message buffer (about 1.5 KB) and the reader over the last record. An
// idle TLS connection needs none of them: trimming them on connections
// silent for tlsTrimAfter takes about 3.5 KB off each (measured in
// TestTLSIdleMemory), and crypto/tls grows them again on the next record.
//
// The fields are unexported, so the trim is guarded as trim.go's is: it is
// enabled only when tls.Conn has fields of exactly these names and types,
// and it resets a field only when it holds nothing unread (the buffers'
// Len is 0), with the connection's input lock (rmu) held, so that no
// tls.Conn.Read runs meanwhile. Otherwise it stays off and nothing changes.

// tlsTrimAfter is how long a TLS connection must have been silent before
// the sweeper trims its buffers: a client that sends often keeps them.
const tlsTrimAfter = 2 * sweepInterval

var tlsTrimState struct {
	once                  sync.Once
	ok                    bool
	rawInput, input, hand uintptr // field offsets in tls.Conn
}

func tlsTrimEnabled() bool {
	tlsTrimState.once.Do(func() {
		t := reflect.TypeFor[tls.Conn]()
		off := func(name string, typ reflect.Type) (uintptr, bool) {
			f, ok := t.FieldByName(name)
			if !ok || len(f.Index) != 1 || f.Type != typ {
				return 0, false
			}
			return f.Offset, true
		}
		var ok1, ok2, ok3 bool
		tlsTrimState.rawInput, ok1 = off("rawInput", reflect.TypeFor[bytes.Buffer]())
		tlsTrimState.input, ok2 = off("input", reflect.TypeFor[bytes.Reader]())
		tlsTrimState.hand, ok3 = off("hand", reflect.TypeFor[bytes.Buffer]())
		tlsTrimState.ok = ok1 && ok2 && ok3
	})
	return tlsTrimState.ok
}

// trimIdle drops crypto/tls's input buffers of an open connection silent
// for at least tlsTrimAfter when they hold nothing. Called by the sweeper;
// it never waits for the input lock.
func (l *tlsLayer) trimIdle(silent time.Duration) {
	if silent < tlsTrimAfter || !l.open.Load() || l.trimmed.Load() || !tlsTrimEnabled() {
		return
	}
	if !l.rmu.TryLock() {
		return
	}
	defer l.rmu.Unlock()
	base := unsafe.Pointer(l.tc)
	raw := (*bytes.Buffer)(unsafe.Add(base, tlsTrimState.rawInput))
	in := (*bytes.Reader)(unsafe.Add(base, tlsTrimState.input))
	hand := (*bytes.Buffer)(unsafe.Add(base, tlsTrimState.hand))
	if raw.Len() != 0 || in.Len() != 0 || hand.Len() != 0 {
		return // a partial record or unread data: keep it
	}
	*raw, *in, *hand = bytes.Buffer{}, bytes.Reader{}, bytes.Buffer{}
	l.trimmed.Store(true)
	l.c.srv.stats.tlsTrims.Add(1)
}
