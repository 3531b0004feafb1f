package analyze

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"strings"
)

// Checks over images, schedule, placement and annotations.

func checkOffensiveImage(s *subject) []hit {
	var hits []hit
	for _, im := range s.images {
		full := im.ref.registry + "/" + im.ref.repository
		for _, o := range offensiveImageFragments {
			if strings.Contains(full, o.frag) {
				hits = append(hits, hit{container: im.container, path: im.path, evidence: fmt.Sprintf("%s (%s)", im.raw, o.what)})
				break
			}
		}
	}
	return hits
}

func checkTyposquat(s *subject) []hit {
	var hits []hit
	for _, im := range s.images {
		if w := typosquat(im.ref); w != "" {
			hits = append(hits, hit{container: im.container, path: im.path, evidence: fmt.Sprintf("%s imitates %s", im.raw, w)})
		}
	}
	return hits
}

func checkRawIPRegistry(s *subject) []hit {
	var hits []hit
	for _, im := range s.images {
		ip := net.ParseIP(im.ref.registryHost())
		if ip == nil || im.ref.implicitRegistry {
			continue
		}
		sev := SeverityLow
		if isPublicIP(ip) {
			sev = SeverityMedium
		}
		hits = append(hits, hit{container: im.container, path: im.path, severity: sev, evidence: "image pulled from raw IP registry " + im.ref.registry})
	}
	return hits
}

func checkUntrustedRegistry(s *subject) []hit {
	if len(s.a.opts.TrustedRegistries) == 0 {
		return nil
	}
	var hits []hit
	for _, im := range s.images {
		if net.ParseIP(im.ref.registryHost()) != nil {
			continue // JW-IMG-003 reports it
		}
		if !s.a.trustedRegistry(im.ref.registry) {
			hits = append(hits, hit{container: im.container, path: im.path, evidence: "registry " + im.ref.registry + " is not in the trusted list"})
		}
	}
	return hits
}

func (a *Analyzer) trustedRegistry(reg string) bool {
	for _, t := range a.opts.TrustedRegistries {
		if ok, _ := path.Match(t, reg); ok || t == reg {
			return true
		}
	}
	return false
}

func checkMutableTag(s *subject) []hit {
	var hits []hit
	for _, im := range s.images {
		if im.ref.digest == "" && (im.ref.tag == "" || im.ref.tag == "latest") {
			tag := im.ref.tag
			if tag == "" {
				tag = "(none)"
			}
			hits = append(hits, hit{container: im.container, path: im.path, evidence: fmt.Sprintf("%s: mutable tag %s, no digest", im.raw, tag)})
		}
	}
	return hits
}

var runtimeInstallRe = regexp.MustCompile(`\b(apk\s+(--no-cache\s+)?add|apt(-get)?\s+(-\S+\s+)*install|yum\s+(-\S+\s+)*install|dnf\s+(-\S+\s+)*install|microdnf\s+install)\b[^;&|]*\b(curl|wget|netcat|ncat|nc|socat|nmap|openssh|openssh-client|masscan|tor|proxychains|gcc|make|git)\b`)

// checkGenericImageScript: a bare distribution image that installs network
// or build tools at run time. Weak on its own; payload rules do the rest.
func checkGenericImageScript(s *subject) []hit {
	var hits []hit
	for _, sc := range s.scripts {
		var im *imageUse
		for i := range s.images {
			if s.images[i].container == sc.container && s.images[i].ref.registry == "docker.io" && strings.HasPrefix(s.images[i].ref.repository, "library/") && genericImages[s.images[i].ref.name()] {
				im = &s.images[i]
			}
		}
		if im == nil {
			continue
		}
		if m := runtimeInstallRe.FindString(sc.src); m != "" {
			hits = append(hits, hit{container: sc.container, path: sc.path, evidence: evidenceFor(sc.origin, "generic image "+im.raw+" installs tools at run time", m)})
		}
	}
	return hits
}

var everyMinuteRe = regexp.MustCompile(`^(\*|\*/1|0-59)\s+\*\s+\*\s+\*\s+\*$`)

func checkFrequentSchedule(s *subject) []hit {
	sch := strings.TrimSpace(s.obj.Schedule)
	if i := strings.Index(sch, " "); strings.HasPrefix(sch, "CRON_TZ=") || strings.HasPrefix(sch, "TZ=") {
		if i > 0 {
			sch = strings.TrimSpace(sch[i:])
		}
	}
	if everyMinuteRe.MatchString(strings.Join(strings.Fields(sch), " ")) || sch == "@every 1m" {
		return []hit{{path: "spec.schedule", evidence: "runs every minute: " + s.obj.Schedule}}
	}
	return nil
}

func checkHistoryErased(s *subject) []hit {
	var hits []hit
	zero := func(p *int32) bool { return p != nil && *p == 0 }
	if s.obj.Kind == KindCronJob && zero(s.obj.SuccessfulJobsHistoryLimit) && zero(s.obj.FailedJobsHistoryLimit) {
		hits = append(hits, hit{path: "spec.successfulJobsHistoryLimit", evidence: "keeps no finished or failed Jobs"})
	}
	if t := s.obj.TTLSecondsAfterFinished; t != nil && *t <= 10 {
		p := "spec.ttlSecondsAfterFinished"
		if s.obj.Kind == KindCronJob {
			p = "spec.jobTemplate.spec.ttlSecondsAfterFinished"
		}
		hits = append(hits, hit{path: p, evidence: fmt.Sprintf("finished Jobs deleted after %ds", *t)})
	}
	return hits
}

var systemNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

var systemNameRe = regexp.MustCompile(`^(kube-|k8s-|etcd|coredns|calico|cilium|flannel|weave|aws-|azure-|gke-|metrics-server|konnectivity|cloud-controller|ebs-csi|efs-csi|node-local-dns|tigera|antrea|canal|kindnet|system-|cluster-autoscaler)`)

var systemRegistries = []string{"registry.k8s.io", "k8s.gcr.io", "gcr.io", "*.gcr.io", "*.pkg.dev", "mcr.microsoft.com",
	"public.ecr.aws", "*.amazonaws.com", "quay.io", "docker.io/calico", "docker.io/rancher", "ghcr.io"}

// checkSystemImitation: objects in system namespaces dressed as control-plane
// components but running images from elsewhere, and anything in kube-public.
func checkSystemImitation(s *subject) []hit {
	ns := s.obj.Meta.Namespace
	if !systemNamespaces[ns] {
		return nil
	}
	if ns != "kube-system" {
		return []hit{{path: "metadata.namespace", evidence: fmt.Sprintf("%s %s/%s lives in %s, which holds no workloads", s.obj.Kind, ns, s.obj.Meta.Name, ns)}}
	}
	name := strings.ToLower(s.obj.Meta.Name)
	_, comp := s.obj.Meta.Labels["component"]
	_, app := s.obj.Meta.Labels["k8s-app"]
	if !systemNameRe.MatchString(name) && !comp && !app {
		return nil
	}
	for _, im := range s.images {
		full := im.ref.registry + "/" + im.ref.repository
		official := false
		for _, r := range systemRegistries {
			if ok, _ := path.Match(r, im.ref.registry); ok || strings.HasPrefix(full, r+"/") {
				official = true
				break
			}
		}
		if !official && !nodeToolImages.MatchString(full) {
			return []hit{{container: im.container, path: im.path, evidence: fmt.Sprintf("%s looks like a system component but runs %s", name, im.raw)}}
		}
	}
	return nil
}

func checkManualRun(s *subject) []hit {
	if s.obj.Meta.Annotations["cronjob.kubernetes.io/instantiate"] == "manual" {
		return []hit{{path: "metadata.annotations[cronjob.kubernetes.io/instantiate]", evidence: "Job started by hand from a CronJob (kubectl create job --from)"}}
	}
	return nil
}

// selfExemptions are annotations other tools honour to silence themselves.
var selfExemptionRe = regexp.MustCompile(`^(polaris\.fairwinds\.com/|kube-score/ignore|ignore-check\.kube-linter\.io/|botkube\.io/disable|kubewatch|falco\.org/|jobwatch\.io/|trivy\.security\.devsec|kyverno\.io/ignore|policies\.kyverno\.io/ignore|checkov\.io/skip|kics\.io/|datree\.io/skip|kubesec\.io/ignore|container\.seccomp|seccomp\.security\.alpha)`)

func selfExemptionAnnotations(s *subject) []string {
	var out []string
	for _, m := range []map[string]string{s.obj.Meta.Annotations, s.obj.Meta.Labels, s.obj.Template.Annotations, s.obj.Template.Labels} {
		for k := range m {
			if strings.HasPrefix(k, "container.seccomp") || strings.HasPrefix(k, "seccomp.security") {
				continue
			}
			if selfExemptionRe.MatchString(k) {
				out = append(out, k)
			}
		}
	}
	return out
}
