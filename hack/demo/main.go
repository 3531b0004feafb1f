// Command demo shows jobwatch working without a cluster: it starts the
// local control plane (test/cluster; built once and cached), runs
// bin/jobwatch against it, applies manifests/examples one by one, prints the
// alerts as they arrive, and stops everything after the scenario or on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	"github.com/jobwatch/jobwatch/test/cluster"
)

func main() {
	bin := flag.String("jobwatch", "bin/jobwatch", "jobwatch binary")
	examples := flag.String("examples", "manifests/examples", "manifests applied in name order")
	pause := flag.Duration("pause", 3*time.Second, "wait after each manifest")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *bin, *examples, *pause); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "\033[1m==> "+format+"\033[0m\n", args...)
}

func run(ctx context.Context, bin, examples string, pause time.Duration) error {
	say("starting a local control plane (etcd + kube-apiserver %s)", cluster.KubernetesVersion)
	if _, _, err := cluster.EnsureBinaries(ctx, os.Stderr); err != nil {
		return err
	}
	c, err := cluster.Start(ctx, cluster.Options{Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer func() { say("stopping the control plane"); c.Stop() }()
	dir, err := os.MkdirTemp("", "jobwatch-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := c.WriteKubeconfig(kubeconfig, "demo"); err != nil {
		return err
	}

	health := freeAddr()
	say("starting jobwatch: %s run --kubeconfig %s --stdout-format text", bin, kubeconfig)
	cmd := exec.Command(bin, "run", "--kubeconfig", kubeconfig, "--state", filepath.Join(dir, "state"),
		"--stdout-format", "text", "--log-level", "warn", "--health-addr", health, "--metrics-addr", "")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s (run `make build` first): %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		say("stopping jobwatch")
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				say("jobwatch exited: %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	if err := waitReady(ctx, "http://"+health+"/readyz", exited); err != nil {
		return err
	}

	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(examples, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no manifests in %s", examples)
	}
	sort.Strings(files)
	for _, f := range files {
		say("kubectl apply -f %s", f)
		if err := apply(ctx, dyn, f); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			return fmt.Errorf("jobwatch exited: %v", err)
		case <-time.After(pause):
		}
	}
	say("scenario complete")
	return nil
}

var resources = map[string]schema.GroupVersionResource{
	"Namespace": {Version: "v1", Resource: "namespaces"},
	"CronJob":   {Group: "batch", Version: "v1", Resource: "cronjobs"},
	"Job":       {Group: "batch", Version: "v1", Resource: "jobs"},
}

// apply creates each object of file, or updates it when it exists.
func apply(ctx context.Context, dyn dynamic.Interface, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		gvr, ok := resources[u.GetKind()]
		if !ok {
			return fmt.Errorf("%s: the demo applies Namespaces, Jobs and CronJobs, not %s", file, u.GetKind())
		}
		var ri dynamic.ResourceInterface = dyn.Resource(gvr)
		if u.GetNamespace() != "" {
			ri = dyn.Resource(gvr).Namespace(u.GetNamespace())
		}
		cur, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = ri.Create(ctx, &u, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"})
		case err == nil:
			u.SetResourceVersion(cur.GetResourceVersion())
			_, err = ri.Update(ctx, &u, metav1.UpdateOptions{FieldManager: "kubectl-client-side-apply"})
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
}

func waitReady(ctx context.Context, url string, exited <-chan error) error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			return fmt.Errorf("jobwatch exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("jobwatch did not become ready within 60s")
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:18081"
	}
	defer l.Close()
	return l.Addr().String()
}
