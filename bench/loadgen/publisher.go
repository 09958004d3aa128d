package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Publisher POSTs messages to /publish over keep-alive HTTP connections.
// Data is a JSON object of exactly Size bytes: {"p":"xxx..."}. With
// ProtoCentrifugo it POSTs to Centrifugo's HTTP API (/api/publish, /api/batch)
// and the data, {"ts":..,"seq":..,"p":"xxx..."}, carries the latency
// timestamp and a sequence number (see centrifugo.go).
type Publisher struct {
	Client  *http.Client
	BaseURL string
	Topic   string
	Size    int             // bytes of the JSON data, at least 8 (Centrifugo: at least 45)
	Proto   string          // ProtoNative (default) or ProtoCentrifugo
	APIKey  string          // Centrifugo's HTTP API key
	Subs    int             // subscribers of Topic (Centrifugo: bounds a batch, see batchLimit)
	STOMP   *STOMPPublisher // ProtoSTOMP: the connection SEND frames go out on (see stomp_broker.go)
	Topics  []string        // native only: publish round-robin to these topics instead of Topic (cluster scenario)
	URLs    []string        // native only: POST round-robin to these base URLs instead of BaseURL (cluster scenario)
	Paths   int             // Paced: requests in flight, each path pacing rate/Paths (0, 1: one)

	once   sync.Once
	single []byte
	item   []byte
	seq    atomic.Uint64 // Centrifugo: the last seq published
	rr     atomic.Uint64 // Topics/URLs: messages (topics) and requests (URLs) so far
	rrURL  atomic.Uint64
}

// MaxBatch is the largest batch one POST carries.
const MaxBatch = 100

// CentrifugoMaxFanout bounds the deliveries one Centrifugo API request
// causes (messages x subscribers). Centrifugo's HTTP server has a 10 s
// WriteTimeout: a batch whose fan-out it cannot finish within 10 s loses its
// answer (the client sees EOF), as 10 messages to 19,000 SSE streams did.
const CentrifugoMaxFanout = 20000

// batchLimit is the most messages one request carries: MaxBatch, or for
// Centrifugo as many as keep the fan-out within CentrifugoMaxFanout (at
// least 1: one message per request from 20,000 subscribers on).
func (p *Publisher) batchLimit() int {
	if p.Proto == ProtoCentrifugo && p.Subs > 0 {
		return max(1, min(MaxBatch, CentrifugoMaxFanout/p.Subs))
	}
	return MaxBatch
}

func (p *Publisher) init() {
	p.once.Do(func() {
		pad := max(p.Size-8, 0)
		p.single = append([]byte(`{"p":"`), bytes.Repeat([]byte{'x'}, pad)...)
		p.single = append(p.single, `"}`...)
		p.item = fmt.Appendf(nil, `{"topic":%q,"data":%s}`, p.Topic, p.single)
	})
}

// multiBody is the body of n messages to Topics, round-robin (n == 1: the
// data alone, for POST /publish?topic=T).
func (p *Publisher) multiBody(n int) []byte {
	if n == 1 {
		return p.single
	}
	body := make([]byte, 0, n*(len(p.single)+32)+2)
	body = append(body, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			body = append(body, ',')
		}
		t := p.Topics[int(p.rr.Add(1)-1)%len(p.Topics)]
		body = fmt.Appendf(body, `{"topic":%q,"data":%s}`, t, p.single)
	}
	return append(body, ']')
}

// post publishes n messages in one request (n == 1: the single form).
func (p *Publisher) post(ctx context.Context, n int) error {
	p.init()
	if p.Proto == ProtoSTOMP {
		first := p.seq.Add(uint64(n)) - uint64(n) + 1
		return p.STOMP.Send(p.Topic, n, p.Size, first, time.Now().UnixNano())
	}
	url := p.BaseURL + "/publish"
	if len(p.URLs) > 0 {
		url = p.URLs[int(p.rrURL.Add(1)-1)%len(p.URLs)] + "/publish"
	}
	var body []byte
	if len(p.Topics) > 0 && p.Proto != ProtoCentrifugo {
		body = p.multiBody(n)
		if n == 1 {
			url += "?topic=" + p.Topics[int(p.rr.Add(1)-1)%len(p.Topics)]
		}
	} else if p.Proto == ProtoCentrifugo {
		first := p.seq.Add(uint64(n)) - uint64(n) + 1
		var path string
		path, body = centrifugoBody(make([]byte, 0, n*(p.Size+64)+16), p.Topic, n, p.Size, first, time.Now().UnixNano())
		url = p.BaseURL + path
	} else if n == 1 {
		url += "?topic=" + p.Topic
		body = p.single
	} else {
		body = make([]byte, 0, n*(len(p.item)+1)+2)
		body = append(body, '[')
		for i := 0; i < n; i++ {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, p.item...)
		}
		body = append(body, ']')
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.APIKey != "" {
		req.Header.Set("X-API-Key", p.APIKey)
	}
	start := time.Now()
	resp, err := p.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%w (after %v, %d messages)", err, time.Since(start).Round(time.Millisecond), n)
	}
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", req.URL.Path, resp.Status)
	}
	if p.Proto == ProtoCentrifugo {
		return centrifugoReplyError(reply) // Centrifugo answers 200 with errors in the body
	}
	return nil
}

// Paced publishes at rate messages per second for d, batching whatever is due
// each millisecond into one request. It returns the messages published.
func (p *Publisher) Paced(ctx context.Context, rate float64, d time.Duration) (uint64, error) {
	if p.Paths > 1 {
		// Paths publishers at rate/Paths each: a slow answer holds up one.
		var total atomic.Uint64
		errs := make([]error, p.Paths)
		var wg sync.WaitGroup
		for i := range p.Paths {
			wg.Go(func() {
				n, err := p.paced(ctx, rate/float64(p.Paths), d)
				total.Add(n)
				errs[i] = err
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return total.Load(), err
			}
		}
		return total.Load(), nil
	}
	return p.paced(ctx, rate, d)
}

func (p *Publisher) paced(ctx context.Context, rate float64, d time.Duration) (uint64, error) {
	start := time.Now()
	var sent uint64
	for {
		el := time.Since(start)
		if el >= d {
			return sent, nil
		}
		due := int(rate*el.Seconds()) + 1 - int(sent)
		if due <= 0 {
			next := time.Duration(float64(sent) / rate * float64(time.Second))
			select {
			case <-ctx.Done():
				return sent, ctx.Err()
			case <-time.After(next - el):
			}
			continue
		}
		n := min(due, p.batchLimit())
		if err := p.post(ctx, n); err != nil {
			return sent, err
		}
		sent += uint64(n)
	}
}

// Flood publishes as fast as the server accepts for d with `parallel`
// requests in flight, but keeps at most window messages not yet delivered to
// every subscriber: delivered() reports deliveries so far, subs is the
// subscriber count. It returns the messages published.
func (p *Publisher) Flood(ctx context.Context, d time.Duration, parallel, batch int, window uint64, subs int, delivered func() (uint64, error)) (uint64, error) {
	batch = min(batch, p.batchLimit())
	var sent, got atomic.Uint64
	// Requests use the caller's ctx so the last ones complete and are counted;
	// loopCtx only stops starting new ones.
	loopCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var pollErr atomic.Value
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-t.C:
			}
			n, err := delivered()
			if err != nil {
				pollErr.Store(err)
				cancel()
				return
			}
			got.Store(n)
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, parallel)
	for i := 0; i < parallel; i++ {
		wg.Go(func() {
			for loopCtx.Err() == nil {
				if sent.Load() > got.Load()/uint64(subs)+window {
					time.Sleep(200 * time.Microsecond)
					continue
				}
				if err := p.post(ctx, batch); err != nil {
					errs[i] = err
					cancel()
					return
				}
				sent.Add(uint64(batch))
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return sent.Load(), err
		}
	}
	if err, ok := pollErr.Load().(error); ok {
		return sent.Load(), err
	}
	return sent.Load(), nil
}
