package notify

import (
	"context"
	"crypto/hmac"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint that verifies signatures and records
// deliveries; status decides each answer.
type receiver struct {
	mu         sync.Mutex
	secret     []byte
	status     func() (int, string) // code, Retry-After
	attempts   map[string]int       // delivery ID -> requests
	delivered  map[string]int       // delivery ID -> 2xx answers
	bodies     map[string][]byte
	badSig     int
	deliveryAt map[string]time.Time
}

func newReceiver(secret string, status func() (int, string)) (*receiver, *httptest.Server) {
	r := &receiver{secret: []byte(secret), status: status, attempts: map[string]int{}, delivered: map[string]int{},
		bodies: map[string][]byte{}, deliveryAt: map[string]time.Time{}}
	return r, httptest.NewServer(r)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id, ts, sig := req.Header.Get(HeaderDelivery), req.Header.Get(HeaderTimestamp), req.Header.Get(HeaderSignature)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts[id]++
	// Verify as a receiver would: recompute and compare in constant time,
	// and reject stale timestamps.
	sec, _ := strconv.ParseInt(ts, 10, 64)
	if !hmac.Equal([]byte(sig), []byte(Sign(r.secret, ts, body))) || time.Since(time.Unix(sec, 0)) > 5*time.Minute {
		r.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	code, retry := r.status()
	if retry != "" {
		w.Header().Set("Retry-After", retry)
	}
	w.WriteHeader(code)
	if code < 300 {
		r.delivered[id]++
		r.bodies[id] = body
		r.deliveryAt[id] = time.Now()
	}
}

func (r *receiver) snapshot() (attempts, delivered map[string]int, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.attempts), maps.Clone(r.delivered), r.badSig
}

func alertN(i int) Alert {
	a := sampleAlert()
	a.ID = "alert-" + strconv.Itoa(i)
	a.Object.UID = "uid-" + strconv.Itoa(i)
	return a
}

func TestWebhookSignatureVerifies(t *testing.T) {
	rcv, srv := newReceiver("s3cret", func() (int, string) { return 200, "" })
	defer srv.Close()
	w, err := NewWebhook(WebhookOptions{URL: srv.URL, Secret: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Notify(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	_, delivered, bad := rcv.snapshot()
	if bad != 0 || delivered["abc"] != 1 {
		t.Fatalf("delivered %v, bad signatures %d", delivered, bad)
	}
	// A wrong key does not verify.
	w2, _ := NewWebhook(WebhookOptions{URL: srv.URL, Secret: []byte("other")})
	if err := w2.Notify(context.Background(), sampleAlert()); Retryable(err) || err == nil {
		t.Fatalf("401 should be permanent, got %v", err)
	}
}

// TestWebhookOutage: a receiver answering 503 for 10 s, then 200, gets every
// alert exactly once, each under one delivery ID across its retries.
func TestWebhookOutage(t *testing.T) {
	start := time.Now()
	rcv, srv := newReceiver("k", func() (int, string) {
		if time.Since(start) < 10*time.Second {
			return http.StatusServiceUnavailable, ""
		}
		return http.StatusOK, ""
	})
	defer srv.Close()
	w, _ := NewWebhook(WebhookOptions{URL: srv.URL, Secret: []byte("k")})
	d := NewDispatcher([]Route{{Notifier: w}}, DispatcherOptions{BaseDelay: 250 * time.Millisecond, MaxDelay: 2 * time.Second, MaxRetries: 30}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.Start(ctx)
	const n = 5
	for i := 0; i < n; i++ {
		if err := d.Notify(ctx, alertN(i)); err != nil {
			t.Fatal(err)
		}
		_ = d.Notify(ctx, alertN(i)) // a duplicate ID is dropped
	}
	drainCtx, dc := context.WithTimeout(ctx, 30*time.Second)
	d.Drain(drainCtx)
	dc()
	attempts, delivered, bad := rcv.snapshot()
	if bad != 0 {
		t.Fatalf("%d bad signatures", bad)
	}
	total := 0
	for i := 0; i < n; i++ {
		id := "alert-" + strconv.Itoa(i)
		if delivered[id] != 1 {
			t.Errorf("%s delivered %d times", id, delivered[id])
		}
		total += attempts[id]
	}
	if len(attempts) != n || len(d.Pending()) != 0 {
		t.Fatalf("delivery IDs seen %d (want %d), pending %v", len(attempts), n, d.Pending())
	}
	t.Logf("outage: %d alerts, %d requests (%d answered 503), each delivered once after %s", n, total, total-n, time.Since(start).Round(time.Millisecond))
}

func TestWebhookPermanentAndRateLimit(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	rcv, srv := newReceiver("k", func() (int, string) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return http.StatusTooManyRequests, "1"
		}
		return http.StatusOK, ""
	})
	defer srv.Close()
	w, _ := NewWebhook(WebhookOptions{URL: srv.URL, Secret: []byte("k")})
	d := NewDispatcher([]Route{{Notifier: w}}, DispatcherOptions{BaseDelay: 10 * time.Millisecond}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.Start(ctx)
	begin := time.Now()
	_ = d.Notify(ctx, alertN(1))
	dctx, dc := context.WithTimeout(ctx, 10*time.Second)
	d.Drain(dctx)
	dc()
	if _, delivered, _ := rcv.snapshot(); delivered["alert-1"] != 1 || time.Since(begin) < time.Second {
		t.Fatalf("429 with Retry-After: 1 not honoured: delivered %v after %s", delivered, time.Since(begin))
	}

	rcv400, srv400 := newReceiver("k", func() (int, string) { return http.StatusBadRequest, "" })
	defer srv400.Close()
	w400, _ := NewWebhook(WebhookOptions{URL: srv400.URL, Secret: []byte("k")})
	d400 := NewDispatcher([]Route{{Notifier: w400}}, DispatcherOptions{BaseDelay: 10 * time.Millisecond}, nil, nil)
	d400.Start(ctx)
	_ = d400.Notify(ctx, alertN(2))
	dctx, dc = context.WithTimeout(ctx, 5*time.Second)
	d400.Drain(dctx)
	dc()
	if attempts, _, _ := rcv400.snapshot(); attempts["alert-2"] != 1 {
		t.Fatalf("400 was retried: %d attempts", attempts["alert-2"])
	}
}

func TestDispatcherRoutingAndThrottle(t *testing.T) {
	rec := &memory{}
	d := NewDispatcher([]Route{{Notifier: rec, MinSeverity: 3 /* high */, Namespaces: []string{"team-a-*"}}}, DispatcherOptions{Throttle: time.Hour}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.Start(ctx)
	a := alertN(1)
	a.Object.Namespace = "team-a-web"
	b := alertN(2)
	b.Object.Namespace = "team-b"
	c := alertN(3)
	c.Object.Namespace = "team-a-web"
	c.Severity = 2 // medium
	same := alertN(4)
	same.Object.Namespace, same.Object.UID = "team-a-web", a.Object.UID // same object within the throttle
	for _, x := range []Alert{a, b, c, same} {
		_ = d.Notify(ctx, x)
	}
	dctx, dc := context.WithTimeout(ctx, 5*time.Second)
	d.Drain(dctx)
	dc()
	if got := rec.ids(); len(got) != 1 || got[0] != "alert-1" {
		t.Fatalf("delivered %v, want only alert-1", got)
	}
}

// memory records alerts (a Notifier for tests).
type memory struct {
	mu sync.Mutex
	as []Alert
}

func (m *memory) Name() string { return "memory" }
func (m *memory) Notify(_ context.Context, a Alert) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.as = append(m.as, a)
	return nil
}
func (m *memory) ids() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, a := range m.as {
		out = append(out, a.ID)
	}
	return out
}
