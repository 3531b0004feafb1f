package integration

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/jobwatch/jobwatch/pkg/watch"
	"github.com/jobwatch/jobwatch/test/cluster"
)

// TestWatchLatency creates 200 malicious CronJobs and measures the time
// from the API server accepting each to its alert. Figures are logged
// (go test -v -run TestWatchLatency ./test/integration); the test asserts
// every object alerted exactly once, not a speed.
func TestWatchLatency(t *testing.T) {
	const objects = 200
	c := cluster.StartT(t, cluster.Options{})
	cs := c.AdminClient(t)
	createNamespace(t, cs, "load")
	r := newRecorder()
	startController(t, cs, r, fileStore(t), watch.Options{Workers: 2})

	created := map[string]time.Time{}
	for i := 0; i < objects; i++ {
		name := fmt.Sprintf("miner-%03d", i)
		createCronJob(t, cs, "load", name, minerTemplate())
		created[name] = time.Now()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(r.all()) < objects && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let any duplicate surface
	r.mu.Lock()
	at := append([]time.Time(nil), r.at...)
	seen := map[string]int{}
	var lat []time.Duration
	for i, a := range r.alerts {
		seen[a.Object.Name]++
		if t0, ok := created[a.Object.Name]; ok {
			lat = append(lat, at[i].Sub(t0))
		}
	}
	r.mu.Unlock()
	if len(seen) != objects {
		t.Fatalf("%d of %d objects alerted", len(seen), objects)
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s alerted %d times", name, n)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	t.Logf("create→alert latency over %d objects: p50 %s, p90 %s, p99 %s, max %s",
		len(lat), pct(0.50).Round(time.Microsecond), pct(0.90).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
}
