package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// KubernetesVersion is the kube-apiserver version the tools module pins.
const KubernetesVersion = "v1.37.2"

// Binary names inside the cache directory.
const (
	etcdBinary      = "etcd"
	apiserverBinary = "kube-apiserver"
	kustomizeBinary = "kustomize" // renders manifests/ in the manifest tests
	// kubeletEnvBinary computes a container's environment with the kubelet's
	// own code (hack/controlplane/kube-apiserver/kubelet-env).
	kubeletEnvBinary = "kubelet-env"
)

// CacheDir returns where the control-plane binaries are kept:
// $JOBWATCH_CONTROLPLANE_DIR if set, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/jobwatch/controlplane/<version>.
func CacheDir() (string, error) {
	if d := os.Getenv("JOBWATCH_CONTROLPLANE_DIR"); d != "" {
		return d, nil
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("control plane cache: no XDG_CACHE_HOME and no home directory: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "jobwatch", "controlplane", KubernetesVersion), nil
}

// repoRoot finds the jobwatch repository from this source file's location.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("control plane: cannot locate the jobwatch source tree")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "hack", "controlplane")); err != nil {
		return "", fmt.Errorf("control plane: hack/controlplane not found under %s: %w", root, err)
	}
	return root, nil
}

// EnsureBinaries returns the paths of etcd and kube-apiserver, building them
// into the cache first when they are missing. Concurrent callers (parallel
// test binaries) serialise on a lock file so the build runs once. Progress
// lines go to progress (nil for none).
func EnsureBinaries(ctx context.Context, progress io.Writer) (etcd, apiserver string, err error) {
	dir, err := CacheDir()
	if err != nil {
		return "", "", err
	}
	etcd, apiserver = filepath.Join(dir, etcdBinary), filepath.Join(dir, apiserverBinary)
	kustomize := filepath.Join(dir, kustomizeBinary)
	kubeletEnv := filepath.Join(dir, kubeletEnvBinary)
	if isExecutable(etcd) && isExecutable(apiserver) && isExecutable(kustomize) && isExecutable(kubeletEnv) {
		return etcd, apiserver, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("control plane cache %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", "", fmt.Errorf("control plane cache lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", "", fmt.Errorf("control plane cache lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // released on close anyway

	root, err := repoRoot()
	if err != nil {
		return "", "", err
	}
	for _, b := range []struct{ name, module, out string }{
		{etcdBinary, "etcd", etcd},
		{apiserverBinary, "kube-apiserver", apiserver},
		{kustomizeBinary, "kustomize", kustomize},
		{kubeletEnvBinary, filepath.Join("kube-apiserver", "kubelet-env"), kubeletEnv},
	} {
		if isExecutable(b.out) {
			continue
		}
		if progress != nil {
			fmt.Fprintf(progress, "building %s %s into %s (one time; kube-apiserver takes about 10 minutes on 2 cores)...\n", b.name, versionOf(b.name), dir)
		}
		start := time.Now()
		if err := goBuild(ctx, filepath.Join(root, "hack", "controlplane", b.module), b.out); err != nil {
			return "", "", err
		}
		if progress != nil {
			fmt.Fprintf(progress, "built %s in %s\n", b.name, time.Since(start).Round(time.Second))
		}
	}
	return etcd, apiserver, nil
}

func versionOf(name string) string {
	switch name {
	case etcdBinary:
		return "(etcd v3.6)"
	case kustomizeBinary:
		return "(kustomize v5)"
	case kubeletEnvBinary:
		return "(kubelet " + KubernetesVersion + " environment rules)"
	}
	return KubernetesVersion
}

// Kustomize returns the cached kustomize binary, building it if needed.
func Kustomize(ctx context.Context, progress io.Writer) (string, error) {
	return tool(ctx, progress, kustomizeBinary)
}

// KubeletEnv returns the cached kubelet-env helper, building it if needed.
func KubeletEnv(ctx context.Context, progress io.Writer) (string, error) {
	return tool(ctx, progress, kubeletEnvBinary)
}

// tool is the path of a cached helper binary, after EnsureBinaries.
func tool(ctx context.Context, progress io.Writer, name string) (string, error) {
	if _, _, err := EnsureBinaries(ctx, progress); err != nil {
		return "", err
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

func goBuild(ctx context.Context, moduleDir, out string) error {
	tmp := out + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp, ".")
	cmd.Dir = moduleDir
	// The tools modules are separate modules; never let a workspace or the
	// caller's flags (for example -race from `go test`) leak into them.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	outBytes, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("control plane: go build in %s failed: %w\n%s", moduleDir, err, tail(outBytes, 4000))
	}
	return os.Rename(tmp, out)
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
