package notify

import (
	"sync"
	"sync/atomic"
)

// Threads remembers each object's Slack parent message; the checkpoint
// persists it so threads survive restarts.
type Threads struct {
	mu      sync.Mutex
	m       map[string][2]string
	version atomic.Uint64
}

var _ ThreadStore = (*Threads)(nil)

// NewThreads returns an empty store.
func NewThreads() *Threads { return &Threads{m: map[string][2]string{}} }

// Thread implements ThreadStore.
func (t *Threads) Thread(uid string) (string, string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[uid]
	return v[0], v[1], ok
}

// SetThread implements ThreadStore.
func (t *Threads) SetThread(uid, channel, ts string) {
	t.mu.Lock()
	t.m[uid] = [2]string{channel, ts}
	t.mu.Unlock()
	t.version.Add(1)
}

// Snapshot copies the threads for the checkpoint.
func (t *Threads) Snapshot() map[string][2]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string][2]string, len(t.m))
	for k, v := range t.m {
		out[k] = v
	}
	return out
}

// Load replaces the threads with a checkpoint's.
func (t *Threads) Load(m map[string][2]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m = make(map[string][2]string, len(m))
	for k, v := range m {
		t.m[k] = v
	}
}

// Forget drops an object's thread (it was deleted).
func (t *Threads) Forget(uid string) {
	t.mu.Lock()
	_, ok := t.m[uid]
	delete(t.m, uid)
	t.mu.Unlock()
	if ok {
		t.version.Add(1)
	}
}

// Version changes whenever the threads do.
func (t *Threads) Version() uint64 { return t.version.Load() }
