// Command ensure-controlplane builds etcd and kube-apiserver into the cache
// used by test/cluster if they are not there yet, printing progress.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/jobwatch/jobwatch/test/cluster"
)

func main() {
	etcd, apiserver, err := cluster.EnsureBinaries(context.Background(), os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ensure-controlplane:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "control plane ready:\n  %s\n  %s\n", etcd, apiserver)
}
