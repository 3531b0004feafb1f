package integration

// The kubelet tier: jobwatch's Deployment, run as a kubelet and a container
// runtime would run it, against the real API server.
//
// There is no kubelet here, so this file does its part, and only its part,
// with the real pieces wherever they exist:
//
//   - the Pod is created from the Deployment's template in the real API
//     server, so admission (Pod Security "restricted" of the namespace, the
//     ServiceAccount plugin's kube-api-access volume) and defaulting
//     (enableServiceLinks) are the real ones;
//   - its environment and $(VAR)-expanded args are computed by
//     hack/controlplane/kube-apiserver/kubelet-env with the kubelet's own
//     code: service links of every Service with a cluster IP in the
//     namespace (kustomization Services and a user's Service named
//     "jobwatch"), KUBERNETES_SERVICE_*, the Downward API;
//   - the volumes are materialised from the API server (ConfigMap, Secret,
//     projected service-account token bound to the pod, kube-root-ca.crt)
//     with the kubelet's file modes, and bind-mounted in a private mount
//     namespace into a root filesystem shaped like the image's (distroless
//     static:nonroot: /jobwatch, /etc/passwd, nothing else), remounted
//     read-only as readOnlyRootFilesystem asks; the process runs as
//     runAsUser 65532 with the pod's name as hostname and exactly that
//     environment plus what the runtime adds (PATH, HOME, HOSTNAME);
//   - the readiness and liveness probes are polled as the kubelet would.
//
// One substitution: without kube-proxy the kubernetes Service's cluster IP
// routes nowhere, so KUBERNETES_SERVICE_HOST/PORT are replaced by the
// endpoint that VIP would lead to (127.0.0.1 and the test API server's
// port). Nothing here dials any other Service address.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/jobwatch/jobwatch/test/cluster"
)

// What the image and the container runtime add to the kubelet's environment
// (gcr.io/distroless/static:nonroot: PATH from the image config, HOME from
// its /etc/passwd for user 65532, HOSTNAME = the pod's name).
const imagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const imagePasswd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"

// TestDeploymentUnderKubelet runs the shipped Deployment of each
// kustomization (cluster-wide, namespaced, audit) as a kubelet would, with
// service links as shipped and forced on, plus a user's Service named
// "jobwatch" in the namespace. Each run must get past configuration, sync
// its caches, pass its probes, take the Lease, alert on a miner and stop
// cleanly on SIGTERM.
func TestDeploymentUnderKubelet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the kubelet tier needs root (a mount namespace, bind mounts and chroot to the pod's user); CI and the development machines run as root")
	}
	bin := jobwatchBinary(t)
	kubeletEnv, err := cluster.KubeletEnv(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, watched string
		dir           []string
	}{
		{name: "cluster-wide", dir: []string{"manifests"}, watched: "shop"},
		{name: "namespaced", dir: []string{"manifests", "overlays", "namespaced"}, watched: "team-a"},
		{name: "audit", dir: []string{"manifests", "overlays", "audit"}, watched: "shop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cluster.StartT(t, cluster.Options{})
			cs := c.AdminClient(t)
			for _, ns := range []string{"jobwatch", "team-a", "team-b", "shop"} {
				createNamespace(t, cs, ns)
			}
			objs := kustomizeBuild(t, repoPath(tc.dir...))
			publishRootCA(t, c, cs, "jobwatch")
			if tc.name == "audit" {
				createTLSSecret(t, cs, "jobwatch", "jobwatch-audit-tls")
				_, err := cs.CoreV1().Secrets("jobwatch").Create(context.Background(), &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Name: "jobwatch-audit-token"}, StringData: map[string]string{"token": auditToken}}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
			}
			applyObjects(t, c, objs, false)
			// A user's own Service named like the tool, in the same namespace.
			_, err := cs.CoreV1().Services("jobwatch").Create(context.Background(), &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "jobwatch"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
					{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
					{Name: "metrics", Port: 8080, Protocol: corev1.ProtocolTCP},
				}},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dep := deploymentOf(t, objs)
			shipped := dep.Spec.Template.Spec.EnableServiceLinks
			if shipped == nil || *shipped {
				t.Errorf("the Deployment does not set enableServiceLinks: false")
			}
			for i, links := range []bool{false, true} {
				t.Run(fmt.Sprintf("serviceLinks=%v", links), func(t *testing.T) {
					pod := createPodFrom(t, cs, dep, fmt.Sprintf("jobwatch-7c9d4-%d", i), links)
					kr := runKubeletEnv(t, c, kubeletEnv, pod)
					assertServiceLinks(t, kr.Env, links)
					p := startInPod(t, c, cs, bin, pod, kr)
					waitLogged(t, p, `"msg":"caches synced"`)
					waitProbe(t, p, pod, "readinessProbe")
					waitProbe(t, p, pod, "livenessProbe")
					waitLogged(t, p, `"msg":"leading"`)
					name := fmt.Sprintf("miner-%d", i)
					createCronJob(t, cs, tc.watched, name, minerTemplate())
					waitFor(t, p, "an alert for "+name, func() bool { return p.count(name) == 1 })
					if tc.name == "audit" {
						assertAuditReceiver(t, p)
					}
					if strings.Contains(p.logs(), "SuperSecretValue-8d1f") {
						t.Error("an env value of the watched pod reached the logs")
					}
					stopPod(t, p)
					if err := cs.CoreV1().Pods("jobwatch").Delete(context.Background(), pod.Name, metav1.DeleteOptions{}); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

// TestDeploymentUnderKubeletAPIServerDown: with the API server unreachable
// the pod still gets past configuration (it says so and keeps trying,
// unready) instead of exiting with a configuration error.
func TestDeploymentUnderKubeletAPIServerDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the kubelet tier needs root (a mount namespace, bind mounts and chroot to the pod's user)")
	}
	bin := jobwatchBinary(t)
	kubeletEnv, err := cluster.KubeletEnv(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	c := cluster.StartT(t, cluster.Options{})
	cs := c.AdminClient(t)
	createNamespace(t, cs, "jobwatch")
	objs := kustomizeBuild(t, repoPath("manifests"))
	publishRootCA(t, c, cs, "jobwatch")
	applyObjects(t, c, objs, false)
	pod := createPodFrom(t, cs, deploymentOf(t, objs), "jobwatch-7c9d4-down", true)
	kr := runKubeletEnv(t, c, kubeletEnv, pod)
	kr.apiPort = closedPort(t)
	p := startInPod(t, c, cs, bin, pod, kr)
	waitLogged(t, p, `"msg":"watching"`)
	time.Sleep(3 * time.Second)
	select {
	case <-p.done:
		t.Fatalf("jobwatch exited (code %d) with the API server down:\n%s", p.cmd.ProcessState.ExitCode(), p.logs())
	default:
	}
	if code := probe(pod, "readinessProbe"); code != http.StatusServiceUnavailable {
		t.Errorf("readiness with the API server down: HTTP %d, want 503", code)
	}
	stopPod(t, p)
}

const auditToken = "audit-token-5b0c9e"

// assertAuditReceiver: the audit overlay's receiver answers on its port
// over TLS, takes an EventList with the token and refuses one without.
func assertAuditReceiver(t *testing.T, p *proc) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a throwaway self-signed test certificate
	post := func(token string) int {
		req, err := http.NewRequest(http.MethodPost, "https://127.0.0.1:9443/audit", strings.NewReader(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("audit receiver: %v\n%s", err, p.logs())
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(auditToken); code != http.StatusOK {
		t.Errorf("audit receiver with the Secret's token: HTTP %d, want 200", code)
	}
	if code := post(""); code != http.StatusUnauthorized {
		t.Errorf("audit receiver without a token: HTTP %d, want 401", code)
	}
}

type kubeletResult struct {
	Env     []string `json:"env"`
	Command []string `json:"command"`
	Args    []string `json:"args"`
	apiPort int      // where the kubernetes Service's VIP leads
}

func deploymentOf(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == "Deployment" && u.GetName() == "jobwatch" {
			var d appsv1.Deployment
			b, _ := json.Marshal(u.Object)
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			return &d
		}
	}
	t.Fatal("no Deployment jobwatch in the kustomization")
	return nil
}

// publishRootCA does what kube-controller-manager's root-ca-cert-publisher
// does in every namespace: the kube-root-ca.crt ConfigMap that the
// kube-api-access volume projects as ca.crt.
func publishRootCA(t *testing.T, c *cluster.Cluster, cs kubernetes.Interface, ns string) {
	t.Helper()
	ca, err := os.ReadFile(c.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": string(ca)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// createTLSSecret is `kubectl create secret tls` with a fresh self-signed key.
func createTLSSecret(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jobwatch-audit.jobwatch.svc"},
		DNSNames: []string{"jobwatch-audit.jobwatch.svc"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
		}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// createPodFrom creates the Pod the ReplicaSet controller would create from
// the Deployment's template; links overrides enableServiceLinks.
func createPodFrom(t *testing.T, cs kubernetes.Interface, dep *appsv1.Deployment, name string, links bool) *corev1.Pod {
	t.Helper()
	spec := *dep.Spec.Template.Spec.DeepCopy()
	spec.EnableServiceLinks = &links
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: dep.Namespace, Labels: dep.Spec.Template.Labels}, Spec: spec}
	got, err := cs.CoreV1().Pods(dep.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create the Deployment's pod (admission of the real API server): %v", err)
	}
	return got
}

func runKubeletEnv(t *testing.T, c *cluster.Cluster, bin string, pod *corev1.Pod) *kubeletResult {
	t.Helper()
	_, kc := adminKubeconfig(t, c, "kubelet")
	out, err := exec.Command(bin, "--kubeconfig", kc, "--namespace", pod.Namespace, "--pod", pod.Name,
		"--container", pod.Spec.Containers[0].Name).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("kubelet-env: %v\n%s", err, stderr)
	}
	var r kubeletResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	r.apiPort = c.Port()
	return &r
}

// assertServiceLinks checks the computed environment is what the test
// claims to run: service links of the jobwatch* Services present exactly
// when enabled, the kubernetes Service's always.
func assertServiceLinks(t *testing.T, env []string, links bool) {
	t.Helper()
	has := func(name string) bool {
		for _, kv := range env {
			if strings.HasPrefix(kv, name+"=") {
				return true
			}
		}
		return false
	}
	for _, name := range []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_PORT_443_TCP_ADDR", "POD_NAMESPACE"} {
		if !has(name) {
			t.Errorf("kubelet environment lacks %s", name)
		}
	}
	for _, name := range []string{"JOBWATCH_SERVICE_HOST", "JOBWATCH_SERVICE_PORT_METRICS", "JOBWATCH_PORT",
		"JOBWATCH_PORT_80_TCP_ADDR", "JOBWATCH_METRICS_SERVICE_HOST", "JOBWATCH_METRICS_PORT", "JOBWATCH_METRICS_PORT_8080_TCP_PROTO"} {
		if has(name) != links {
			t.Errorf("serviceLinks=%v: %s present=%v", links, name, has(name))
		}
	}
	var jw []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "JOBWATCH_") {
			name, _, _ := strings.Cut(kv, "=")
			jw = append(jw, name)
		}
	}
	t.Logf("kubelet environment: %d variables; JOBWATCH_*: %v", len(env), jw)
}

// startInPod materialises the pod's volumes and runs jobwatch in a private
// mount and UTS namespace, chrooted into an image-shaped root as the pod's
// user, with exactly the kubelet's environment.
func startInPod(t *testing.T, c *cluster.Cluster, cs kubernetes.Interface, bin string, pod *corev1.Pod, kr *kubeletResult) *proc {
	t.Helper()
	ctr := pod.Spec.Containers[0]
	base := t.TempDir()
	root := filepath.Join(base, "rootfs")
	for _, d := range []string{"etc", "tmp", "home/nonroot", "proc", "dev", "sys"} {
		mkdirAll(t, filepath.Join(root, d))
	}
	copyFile(t, bin, filepath.Join(root, "jobwatch"), 0o755)
	writeFile(t, filepath.Join(root, "etc", "passwd"), imagePasswd, 0o644)

	type mount struct {
		src, dst string
		ro       bool
	}
	mounts := []mount{{"/proc", "/proc", false}, {"/dev", "/dev", false}, {"/sys", "/sys", true}}
	// The kubelet-managed /etc/hosts and the runtime's resolv.conf. The
	// nameserver is loopback: nothing in this test may query a cluster DNS VIP.
	hosts := filepath.Join(base, "hosts")
	writeFile(t, hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n192.0.2.10\t"+pod.Name+"\n", 0o644)
	resolv := filepath.Join(base, "resolv.conf")
	writeFile(t, resolv, "search "+pod.Namespace+".svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\noptions ndots:5\n", 0o644)
	mounts = append(mounts, mount{hosts, "/etc/hosts", false}, mount{resolv, "/etc/resolv.conf", false})
	writeFile(t, filepath.Join(root, "etc", "hosts"), "", 0o644)
	writeFile(t, filepath.Join(root, "etc", "resolv.conf"), "", 0o644)

	vms := append([]corev1.VolumeMount(nil), ctr.VolumeMounts...)
	sort.Slice(vms, func(i, j int) bool { return len(vms[i].MountPath) < len(vms[j].MountPath) })
	for _, vm := range vms {
		src := filepath.Join(base, "volumes", vm.Name)
		if _, err := os.Stat(src); os.IsNotExist(err) {
			materializeVolume(t, cs, pod, volumeNamed(t, pod, vm.Name), src)
		}
		// The runtime creates the mount point, inside an outer volume if need be.
		if outer, ok := outerMount(vms, vm); ok {
			rel, _ := filepath.Rel(outer.MountPath, vm.MountPath)
			mkdirAll(t, filepath.Join(base, "volumes", outer.Name, rel))
		} else {
			mkdirAll(t, filepath.Join(root, vm.MountPath))
		}
		mounts = append(mounts, mount{src, vm.MountPath, vm.ReadOnly})
	}

	var script strings.Builder
	script.WriteString("set -e\nroot=\"$1\"; shift\nmount --bind \"$root\" \"$root\"\n")
	for _, m := range mounts {
		fmt.Fprintf(&script, "mount --bind %q \"$root\"%q\n", m.src, m.dst)
		if m.ro {
			fmt.Fprintf(&script, "mount -o remount,bind,ro \"$root\"%q\n", m.dst)
		}
	}
	if sc := ctr.SecurityContext; sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		script.WriteString("mount -o remount,bind,ro \"$root\"\n")
	}
	fmt.Fprintf(&script, "hostname %q\nexec env -i \"$@\"\n", pod.Name)

	uid, gid := int64(0), int64(0)
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			uid = *psc.RunAsUser
		}
		if psc.RunAsGroup != nil {
			gid = *psc.RunAsGroup
		}
	}
	args := []string{"--mount", "--uts", "--", "/bin/sh", "-c", script.String(), "sh", root}
	args = append(args, runtimeEnv(kr, pod)...)
	args = append(args, "chroot", fmt.Sprintf("--userspec=%d:%d", uid, gid), root)
	cmdline := kr.Command
	if len(cmdline) == 0 {
		cmdline = []string{"/jobwatch"} // the image's ENTRYPOINT
	}
	args = append(args, cmdline...)
	args = append(args, kr.Args...)
	t.Logf("running %v as %d:%d", append(cmdline, kr.Args...), uid, gid)
	return startProc(t, "unshare", args...)
}

// runtimeEnv is the kubelet's environment with the kubernetes Service's VIP
// replaced by its endpoint, plus what the runtime adds.
func runtimeEnv(kr *kubeletResult, pod *corev1.Pod) []string {
	env := []string{"PATH=" + imagePath, "HOME=/home/nonroot", "HOSTNAME=" + pod.Name}
	for _, kv := range kr.Env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "KUBERNETES_SERVICE_HOST":
			kv = name + "=127.0.0.1"
		case "KUBERNETES_SERVICE_PORT":
			kv = name + "=" + strconv.Itoa(kr.apiPort)
		}
		env = append(env, kv)
	}
	return env
}

func volumeNamed(t *testing.T, pod *corev1.Pod, name string) corev1.Volume {
	t.Helper()
	for _, v := range pod.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("volumeMount %s names no volume", name)
	return corev1.Volume{}
}

// outerMount is the deepest other mount that contains vm's mount path.
func outerMount(vms []corev1.VolumeMount, vm corev1.VolumeMount) (corev1.VolumeMount, bool) {
	var best corev1.VolumeMount
	for _, o := range vms {
		if strings.HasPrefix(vm.MountPath, o.MountPath+"/") && len(o.MountPath) > len(best.MountPath) {
			best = o
		}
	}
	return best, best.MountPath != ""
}

// materializeVolume writes a volume's files as the kubelet would: ConfigMap
// and Secret keys with their default mode, optional sources that are absent
// as an empty directory, the projected kube-api-access token bound to the
// pod and owned by the pod's user (0600).
func materializeVolume(t *testing.T, cs kubernetes.Interface, pod *corev1.Pod, v corev1.Volume, dir string) {
	t.Helper()
	ctx := context.Background()
	mkdirAll(t, dir)
	mode := func(m *int32, def int32) os.FileMode {
		if m != nil {
			return os.FileMode(*m)
		}
		return os.FileMode(def)
	}
	uid := int64(0)
	if psc := pod.Spec.SecurityContext; psc != nil && psc.RunAsUser != nil {
		uid = *psc.RunAsUser
	}
	switch {
	case v.ConfigMap != nil:
		cm, err := cs.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			if v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
				return
			}
			t.Fatalf("volume %s: the kubelet would not start the pod: %v", v.Name, err)
		}
		for k, val := range cm.Data {
			writeFile(t, filepath.Join(dir, k), val, mode(v.ConfigMap.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode))
		}
	case v.Secret != nil:
		s, err := cs.CoreV1().Secrets(pod.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			if v.Secret.Optional != nil && *v.Secret.Optional {
				return
			}
			t.Fatalf("volume %s: the kubelet would not start the pod: %v", v.Name, err)
		}
		for k, val := range s.Data {
			writeFile(t, filepath.Join(dir, k), string(val), mode(v.Secret.DefaultMode, corev1.SecretVolumeSourceDefaultMode))
		}
	case v.EmptyDir != nil:
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
	case v.Projected != nil:
		for _, src := range v.Projected.Sources {
			switch {
			case src.ServiceAccountToken != nil:
				exp := int64(3600)
				if src.ServiceAccountToken.ExpirationSeconds != nil {
					exp = *src.ServiceAccountToken.ExpirationSeconds
				}
				var aud []string
				if src.ServiceAccountToken.Audience != "" {
					aud = []string{src.ServiceAccountToken.Audience}
				}
				tr, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
					Spec: authenticationv1.TokenRequestSpec{Audiences: aud, ExpirationSeconds: &exp,
						BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}},
				}, metav1.CreateOptions{})
				if err != nil {
					t.Fatalf("volume %s: token: %v", v.Name, err)
				}
				p := filepath.Join(dir, src.ServiceAccountToken.Path)
				writeFile(t, p, tr.Status.Token, 0o600)
				if err := os.Chown(p, int(uid), -1); err != nil {
					t.Fatal(err)
				}
			case src.ConfigMap != nil:
				cm, err := cs.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, src.ConfigMap.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatalf("volume %s: configMap %s: %v", v.Name, src.ConfigMap.Name, err)
				}
				for _, it := range src.ConfigMap.Items {
					writeFile(t, filepath.Join(dir, it.Path), cm.Data[it.Key], mode(v.Projected.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode))
				}
			case src.DownwardAPI != nil:
				for _, it := range src.DownwardAPI.Items {
					if it.FieldRef == nil || it.FieldRef.FieldPath != "metadata.namespace" {
						t.Fatalf("volume %s: downwardAPI item %s is not modelled by this test", v.Name, it.Path)
					}
					writeFile(t, filepath.Join(dir, it.Path), pod.Namespace, mode(v.Projected.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode))
				}
			default:
				t.Fatalf("volume %s: a projected source this test does not model", v.Name)
			}
		}
	default:
		t.Fatalf("volume %s: a volume type this test does not model; add it here", v.Name)
	}
}

func probeOf(pod *corev1.Pod, which string) *corev1.Probe {
	c := pod.Spec.Containers[0]
	if which == "readinessProbe" {
		return c.ReadinessProbe
	}
	return c.LivenessProbe
}

// probe performs the kubelet's httpGet probe against the pod (here: loopback).
func probe(pod *corev1.Pod, which string) int {
	p := probeOf(pod, which)
	if p == nil || p.HTTPGet == nil {
		return -1
	}
	port := p.HTTPGet.Port.IntValue()
	if p.HTTPGet.Port.Type == intstr.String {
		for _, cp := range pod.Spec.Containers[0].Ports {
			if cp.Name == p.HTTPGet.Port.StrVal {
				port = int(cp.ContainerPort)
			}
		}
	}
	client := &http.Client{Timeout: time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, p.HTTPGet.Path))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitProbe(t *testing.T, p *proc, pod *corev1.Pod, which string) {
	t.Helper()
	if probeOf(pod, which) == nil {
		t.Fatalf("the Deployment has no %s", which)
	}
	waitFor(t, p, which+" 200", func() bool { return probe(pod, which) == http.StatusOK })
}

func waitLogged(t *testing.T, p *proc, s string) {
	t.Helper()
	waitFor(t, p, "log "+s, func() bool { return strings.Contains(p.logs(), s) })
}

// waitFor fails with the process's logs if cond does not hold within 60s or
// the process exits first.
func waitFor(t *testing.T, p *proc, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.done:
			if cond() {
				return
			}
			t.Fatalf("jobwatch exited with code %d before %s:\n%s", p.cmd.ProcessState.ExitCode(), what, p.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s:\n%s", what, p.logs())
		}
	}
}

// stopPod is the kubelet's SIGTERM; the pod must exit 0 within the grace period.
func stopPod(t *testing.T, p *proc) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within the 30 s grace period after SIGTERM:\n%s", p.logs())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.logs())
	}
}

func closedPort(t *testing.T) int {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func mkdirAll(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// t.TempDir is 0700: the pod's user must be able to traverse its root.
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o005 == 0 {
			_ = os.Chmod(d, st.Mode().Perm()|0o755)
		}
		if d == os.TempDir() {
			break
		}
	}
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	mkdirAll(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b), mode)
}
