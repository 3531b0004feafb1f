package cluster

import (
	"context"
	"os"
	"testing"

	"k8s.io/client-go/kubernetes"
)

// StartT starts a control plane for a test and stops it at cleanup. It fails
// the test (never skips it) when the binaries cannot be built or started.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// AdminClient is a clientset for the bootstrap admin.
func (c *Cluster) AdminClient(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	return cs
}
