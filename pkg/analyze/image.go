package analyze

import (
	"net"
	"path"
	"strings"
)

// imageRef is a parsed container image reference.
type imageRef struct {
	registry         string // "docker.io" when implicit
	repository       string // "library/nginx", "bitnami/kubectl"
	tag              string
	digest           string
	implicitRegistry bool
}

// parseImage splits an image reference the way the container runtime reads
// it (registry defaults to docker.io, single names to library/).
func parseImage(s string) imageRef {
	var r imageRef
	s = strings.TrimSpace(s)
	if at := strings.Index(s, "@"); at >= 0 {
		r.digest = s[at+1:]
		s = s[:at]
	}
	first, rest, hasSlash := strings.Cut(s, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r.registry = strings.ToLower(first)
		s = rest
	} else {
		r.registry = "docker.io"
		r.implicitRegistry = true
	}
	if i := strings.LastIndex(s, ":"); i >= 0 && !strings.Contains(s[i:], "/") {
		r.tag = s[i+1:]
		s = s[:i]
	}
	r.repository = strings.ToLower(s)
	if r.registry == "docker.io" || r.registry == "index.docker.io" || r.registry == "registry-1.docker.io" {
		r.registry = "docker.io"
		if !strings.Contains(r.repository, "/") {
			r.repository = "library/" + r.repository
		}
	}
	return r
}

// name is the last path element of the repository ("nginx").
func (r imageRef) name() string {
	if i := strings.LastIndex(r.repository, "/"); i >= 0 {
		return r.repository[i+1:]
	}
	return r.repository
}

// namespace is the first path element ("library", "bitnami").
func (r imageRef) namespace() string {
	if i := strings.Index(r.repository, "/"); i >= 0 {
		return r.repository[:i]
	}
	return ""
}

func (r imageRef) registryHost() string {
	h := r.registry
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return h
}

// generic base images: on their own at most a weak signal.
var genericImages = map[string]bool{
	"alpine": true, "busybox": true, "ubuntu": true, "debian": true, "centos": true, "fedora": true,
	"python": true, "perl": true, "ruby": true, "php": true, "node": true, "bash": true, "curl": true,
	"amazonlinux": true, "rockylinux": true, "almalinux": true, "archlinux": true, "opensuse": true,
}

// wellKnownRepos are official repositories typosquatters imitate.
var wellKnownRepos = []string{
	"library/nginx", "library/alpine", "library/busybox", "library/ubuntu", "library/debian", "library/centos",
	"library/python", "library/node", "library/golang", "library/redis", "library/postgres", "library/mysql",
	"library/mongo", "library/httpd", "library/memcached", "library/rabbitmq", "library/traefik", "library/haproxy",
	"library/consul", "library/vault", "library/registry", "library/docker", "library/jenkins", "library/mariadb",
	"library/elasticsearch", "library/openjdk", "library/eclipse-temurin", "library/wordpress", "library/tomcat",
	"bitnami/kubectl", "bitnami/redis", "bitnami/postgresql", "bitnami/nginx", "curlimages/curl",
	"amazon/aws-cli", "google/cloud-sdk", "hashicorp/terraform", "velero/velero", "aquasec/kube-bench",
	"aquasec/trivy", "falcosecurity/falco", "jetstack/cert-manager-controller", "grafana/grafana",
	"prom/prometheus", "rancher/kubectl", "alpine/git", "alpine/k8s", "library/kubectl",
}

var wellKnownNamespaces = []string{
	"bitnami", "library", "curlimages", "amazon", "google", "hashicorp", "velero", "aquasec", "falcosecurity",
	"jetstack", "grafana", "prom", "rancher", "kubernetes", "istio", "argoproj", "fluent", "calico", "cilium",
	"openpolicyagent", "kyverno", "bitnamicharts", "nvidia", "pytorch", "tensorflow", "mcr", "alpine",
}

var wellKnownRegistries = []string{
	"docker.io", "registry.k8s.io", "k8s.gcr.io", "gcr.io", "quay.io", "ghcr.io", "public.ecr.aws",
	"mcr.microsoft.com", "registry.gitlab.com", "nvcr.io", "docker.elastic.co", "cgr.dev",
	"registry.redhat.io", "registry.access.redhat.com", "us.gcr.io", "eu.gcr.io", "asia.gcr.io",
}

// offensiveImages: repositories (or name fragments) of offensive tooling,
// miners and proxyware seen in the wild.
var offensiveImageFragments = []struct{ frag, what string }{
	{"xmrig", "crypto-miner image"}, {"xmr-stak", "crypto-miner image"}, {"cpuminer", "crypto-miner image"},
	{"minerd", "crypto-miner image"}, {"monero", "crypto-miner image"}, {"cryptonight", "crypto-miner image"},
	{"nanominer", "crypto-miner image"}, {"lolminer", "crypto-miner image"}, {"t-rex", "crypto-miner image"},
	{"dero-miner", "crypto-miner image"}, {"dero_miner", "crypto-miner image"}, {"ethminer", "crypto-miner image"},
	{"nbminer", "crypto-miner image"}, {"srbminer", "crypto-miner image"}, {"hellminer", "crypto-miner image"},
	{"kalilinux/", "offensive-security distribution"}, {"kali-rolling", "offensive-security distribution"},
	{"parrotsec/", "offensive-security distribution"}, {"metasploit", "exploitation framework"},
	{"cobaltstrike", "C2 framework"}, {"sliver", "C2 framework"}, {"empireproject", "C2 framework"},
	{"bcsecurity/empire", "C2 framework"}, {"mimikatz", "credential-theft tool"}, {"peirates", "Kubernetes attack tool"},
	{"kube-hunter", "Kubernetes attack tool"}, {"cdk-team/cdk", "container escape toolkit"}, {"deepce", "container escape toolkit"},
	{"honeygain/", "proxyware"}, {"peer2profit", "proxyware"}, {"packetstream/", "proxyware"}, {"iproyal/pawns", "proxyware"},
	{"traffmonetizer", "proxyware"}, {"earnapp", "proxyware"}, {"repocket/", "proxyware"}, {"mysteriumnetwork/myst", "proxyware"},
	{"teamtnt", "TeamTNT tooling"}, {"hildegard", "TeamTNT tooling"}, {"chisel", "tunnel"}, {"ngrok/", "tunnel"},
	{"gogost/gost", "tunnel"}, {"ginuerzh/gost", "tunnel"}, {"/frpc", "tunnel"}, {"/frps", "tunnel"}, {"/tor-proxy", "anonymizer"},
}

func isRuntimeSocket(hostPath string) bool {
	for _, p := range []string{"/var/run/docker.sock", "/run/docker.sock", "/var/run/containerd", "/run/containerd",
		"/var/run/crio", "/run/crio", "/var/run/cri-dockerd.sock", "/run/cri-dockerd.sock", "/var/run/dockershim.sock",
		"/run/k3s/containerd", "/var/run/podman", "/run/podman"} {
		if hostPath == p || strings.HasPrefix(hostPath, p+"/") || strings.HasPrefix(p, hostPath+"/") && hostPath != "/" && hostPath != "/var" && hostPath != "/run" && hostPath != "/var/run" {
			return true
		}
	}
	return hostPath == "/var/run" || hostPath == "/run"
}

// damerau returns the optimal string alignment distance between a and b,
// stopping early above max.
func damerau(a, b string, max int) int {
	if d := len(a) - len(b); d > max || -d > max {
		return max + 1
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > max {
			return max + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// homoglyph folds look-alike spellings (rn→m, 0→o, 1→l, vv→w).
func homoglyph(s string) string { return homoglyphs.Replace(s) }

var homoglyphs = strings.NewReplacer("rn", "m", "0", "o", "1", "l", "vv", "w", "-", "", "_", "")

// wellKnownElsewhere are repositories on registries other than Docker Hub
// that typosquatters imitate (registry/repository).
var wellKnownElsewhere = []string{
	"quay.io/prometheus/node-exporter", "quay.io/prometheus/prometheus", "quay.io/prometheus/alertmanager",
	"quay.io/jetstack/cert-manager-controller", "quay.io/jetstack/cert-manager-webhook", "quay.io/jetstack/cert-manager-cainjector",
	"quay.io/argoproj/argocd", "quay.io/cilium/cilium", "quay.io/calico/node", "quay.io/coreos/etcd",
	"registry.k8s.io/kube-proxy", "registry.k8s.io/coredns/coredns", "registry.k8s.io/ingress-nginx/controller",
	"registry.k8s.io/metrics-server/metrics-server", "registry.k8s.io/pause", "registry.k8s.io/kubectl",
	"registry.k8s.io/descheduler/descheduler", "registry.k8s.io/etcd", "ghcr.io/aquasecurity/trivy",
	"gcr.io/distroless/static", "gcr.io/distroless/base", "public.ecr.aws/aws-cli/aws-cli", "mcr.microsoft.com/azure-cli",
}

// typosquatElsewhere compares a repository on a non-Docker-Hub registry
// with the well-known ones there.
func typosquatElsewhere(r imageRef) string {
	full := r.registry + "/" + r.repository
	for _, w := range wellKnownElsewhere {
		if full == w {
			return ""
		}
	}
	for _, w := range wellKnownElsewhere {
		wreg, wrepo, _ := strings.Cut(w, "/")
		if wreg != r.registry {
			continue
		}
		wdir, wname := path.Split(wrepo)
		dir, name := path.Split(r.repository)
		if dir == wdir && name != wname && len(wname) >= 4 && (damerau(name, wname, 1) == 1 || homoglyph(name) == homoglyph(wname)) {
			return w
		}
	}
	return ""
}

// typosquat returns what an image imitates, or "".
func typosquat(r imageRef) string {
	if !r.implicitRegistry {
		reg := r.registryHost()
		for _, w := range wellKnownRegistries {
			if reg == w || strings.HasSuffix(reg, "."+w) {
				goto repo
			}
		}
		for _, w := range wellKnownRegistries {
			if d := damerau(reg, w, 2); d > 0 && d <= 2 && len(w) > 5 || homoglyph(reg) == homoglyph(w) {
				return "registry " + w
			}
		}
		// Only repositories on well-known registries are compared below.
		return ""
	}
repo:
	if r.registry != "docker.io" {
		return typosquatElsewhere(r)
	}
	for _, w := range wellKnownRepos {
		if r.repository == w {
			return ""
		}
	}
	ns, name := r.namespace(), r.name()
	for _, w := range wellKnownRepos {
		wns, wname, _ := strings.Cut(w, "/")
		if ns == wns && name != wname && len(wname) >= 4 && (damerau(name, wname, 1) == 1 || homoglyph(name) == homoglyph(wname)) {
			return w
		}
		if name == wname && ns != wns && wns != "library" && len(wns) >= 5 && (damerau(ns, wns, 2) <= 2 || homoglyph(ns) == homoglyph(wns)) {
			return w
		}
	}
	for _, wns := range wellKnownNamespaces {
		if ns != wns && len(wns) >= 5 && (damerau(ns, wns, 1) == 1 || homoglyph(ns) == homoglyph(wns)) {
			return wns + "/…"
		}
	}
	// "alpine-linux/alpine", "nginx-official/nginx": a namespace dressed up
	// as the official image.
	if ns != "library" {
		for _, w := range wellKnownRepos {
			wns, wname, _ := strings.Cut(w, "/")
			if wns == "library" && name == wname && (strings.Contains(ns, wname) || strings.Contains(ns, "official")) {
				return w
			}
		}
	}
	return ""
}
