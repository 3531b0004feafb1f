package cluster

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// User is a static-token user known to the API server.
type User struct {
	Name   string
	Groups []string
}

// Options tune the control plane.
type Options struct {
	// Dir holds data, certificates and logs. Empty means a new temporary
	// directory removed by Stop.
	Dir string
	// Users are extra static-token users (the admin always exists).
	Users []User
	// APIServerFlags are appended to kube-apiserver's command line, e.g.
	// "--audit-policy-file=...". Later flags win.
	APIServerFlags []string
	// Progress receives one-line progress messages (binary builds, start-up).
	Progress io.Writer
}

// Cluster is a running etcd plus kube-apiserver.
type Cluster struct {
	opts       Options
	dir        string
	removeDir  bool
	etcdBin    string
	apiBin     string
	etcdPort   int
	peerPort   int
	apiPort    int
	adminToken string
	tokens     map[string]string // user name -> token

	mu        sync.Mutex
	etcd      *exec.Cmd
	etcdDone  chan struct{}
	apiserver *exec.Cmd
	apiDone   chan struct{}
}

// AdminUser is the bootstrap administrator's name; it is in system:masters.
const AdminUser = "jobwatch-admin"

// Start builds (if needed) and starts etcd and kube-apiserver, and waits until
// the API server is ready. Stop must be called to release them.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	etcdBin, apiBin, err := EnsureBinaries(ctx, opts.Progress)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, etcdBin: etcdBin, apiBin: apiBin, tokens: map[string]string{}}
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "jobwatch-controlplane-")
		if err != nil {
			return nil, fmt.Errorf("control plane: %w", err)
		}
		c.dir, c.removeDir = d, true
	} else {
		c.dir = opts.Dir
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			return nil, fmt.Errorf("control plane: %w", err)
		}
	}
	if err := c.prepare(); err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.startEtcd(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.StartAPIServer(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) prepare() error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	c.etcdPort, c.peerPort, c.apiPort = ports[0], ports[1], ports[2]

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("control plane: service-account key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(filepath.Join(c.dir, "sa.key"), keyPEM, 0o600); err != nil {
		return fmt.Errorf("control plane: %w", err)
	}

	c.adminToken = randomToken()
	c.tokens[AdminUser] = c.adminToken
	var b strings.Builder
	fmt.Fprintf(&b, "%s,%s,%s,\"system:masters\"\n", c.adminToken, AdminUser, AdminUser)
	for _, u := range c.opts.Users {
		tok := randomToken()
		c.tokens[u.Name] = tok
		fmt.Fprintf(&b, "%s,%s,%s,\"%s\"\n", tok, u.Name, u.Name, strings.Join(u.Groups, ","))
	}
	if err := os.WriteFile(filepath.Join(c.dir, "tokens.csv"), []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	return nil
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	client := fmt.Sprintf("http://127.0.0.1:%d", c.etcdPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", c.peerPort)
	cmd := exec.Command(c.etcdBin,
		"--name=default",
		"--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+client,
		"--advertise-client-urls="+client,
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=default="+peer,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
	logf, err := os.Create(filepath.Join(c.dir, "etcd.log"))
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("control plane: start etcd: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	c.mu.Lock()
	c.etcd, c.etcdDone = cmd, done
	c.mu.Unlock()

	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		resp, err := http.Get(client + "/health")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("control plane: etcd not healthy on %s: %w\n%s", client, err, c.logTail("etcd.log"))
	}
	return nil
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer) on the
// same port and waits for /readyz.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.apiPort),
		"--cert-dir=" + filepath.Join(c.dir, "certs"),
		"--etcd-servers=" + fmt.Sprintf("http://127.0.0.1:%d", c.etcdPort),
		"--token-auth-file=" + filepath.Join(c.dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(c.dir, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(c.dir, "sa.key"),
		"--enable-priority-and-fairness=false",
		"--endpoint-reconciler-type=none", // loopback advertise address is not allowed for the kubernetes Service endpoints
		"--profiling=false",
		"--v=1",
	}
	args = append(args, c.opts.APIServerFlags...)
	cmd := exec.Command(c.apiBin, args...)
	logf, err := os.OpenFile(filepath.Join(c.dir, "kube-apiserver.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("control plane: start kube-apiserver: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	c.mu.Lock()
	c.apiserver, c.apiDone = cmd, done
	c.mu.Unlock()

	client, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case <-done:
			return false, errors.New("kube-apiserver exited")
		default:
		}
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
	if err != nil {
		return fmt.Errorf("control plane: kube-apiserver not ready on 127.0.0.1:%d: %w\n%s", c.apiPort, err, c.logTail("kube-apiserver.log"))
	}
	return nil
}

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL) and leaves etcd
// running, so tests can simulate an API server restart.
func (c *Cluster) StopAPIServer() {
	c.mu.Lock()
	cmd, done := c.apiserver, c.apiDone
	c.apiserver = nil
	c.mu.Unlock()
	stopProcess(cmd, done)
}

// Stop stops both processes and removes the temporary directory.
func (c *Cluster) Stop() {
	c.StopAPIServer()
	c.mu.Lock()
	etcd, done := c.etcd, c.etcdDone
	c.etcd = nil
	c.mu.Unlock()
	if etcd != nil && etcd.Process != nil {
		_ = etcd.Process.Kill()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	if c.removeDir {
		_ = os.RemoveAll(c.dir)
	}
}

func stopProcess(cmd *exec.Cmd, done chan struct{}) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Host is the API server URL.
func (c *Cluster) Host() string { return fmt.Sprintf("https://127.0.0.1:%d", c.apiPort) }

// Port is the API server's port on 127.0.0.1.
func (c *Cluster) Port() int { return c.apiPort }

// CAFile is the bundle that verifies the API server's serving certificate
// (self-signed by kube-apiserver in --cert-dir, valid for 127.0.0.1): what a
// pod finds as ca.crt in its service-account volume.
func (c *Cluster) CAFile() string { return filepath.Join(c.dir, "certs", "apiserver.crt") }

// Dir is the directory holding data, keys and logs.
func (c *Cluster) Dir() string { return c.dir }

// AdminConfig is a rest.Config for the bootstrap admin (system:masters).
func (c *Cluster) AdminConfig() *rest.Config { return c.tokenConfig(c.adminToken) }

// UserConfig is a rest.Config authenticating as a static-token user declared
// in Options.Users.
func (c *Cluster) UserConfig(name string) (*rest.Config, error) {
	tok, ok := c.tokens[name]
	if !ok {
		return nil, fmt.Errorf("control plane: no static user %q (declare it in Options.Users)", name)
	}
	return c.tokenConfig(tok), nil
}

// ImpersonatingConfig is the admin's config impersonating user and groups:
// requests are authorized as that user.
func (c *Cluster) ImpersonatingConfig(user string, groups ...string) *rest.Config {
	cfg := c.AdminConfig()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

// ServiceAccountConfig creates the ServiceAccount if needed and returns a
// config carrying a real token for it from the TokenRequest API.
func (c *Cluster) ServiceAccountConfig(ctx context.Context, namespace, name string) (*rest.Config, error) {
	admin, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		return nil, err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := admin.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !isAlreadyExists(err) {
		return nil, fmt.Errorf("control plane: create service account %s/%s: %w", namespace, name, err)
	}
	exp := int64(3600)
	tr, err := admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("control plane: token for %s/%s: %w", namespace, name, err)
	}
	return c.tokenConfig(tr.Status.Token), nil
}

// WriteKubeconfig writes a kubeconfig for the admin to path, with context
// name contextName, for tools and subprocesses.
func (c *Cluster) WriteKubeconfig(path, contextName string) error {
	return c.WriteKubeconfigFor(path, contextName, c.AdminConfig())
}

// WriteKubeconfigFor writes a kubeconfig authenticating with rc's bearer
// token (a user or service account from this cluster).
func (c *Cluster) WriteKubeconfigFor(path, contextName string, rc *rest.Config) error {
	if rc.BearerToken == "" {
		return fmt.Errorf("control plane: kubeconfig for %s: config has no bearer token", contextName)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: c.Host(), InsecureSkipTLSVerify: true}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{Token: rc.BearerToken}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName, Namespace: "default"}
	cfg.CurrentContext = contextName
	return clientcmd.WriteToFile(*cfg, path)
}

func (c *Cluster) tokenConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.Host(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             200,
		Burst:           400,
	}
}

func (c *Cluster) logTail(name string) string {
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		return ""
	}
	return name + " (tail):\n" + tail(b, 3000)
}

func isAlreadyExists(err error) bool {
	return err != nil && strings.Contains(err.Error(), "already exists")
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("control plane: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
