package analyze

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// Pod Security Standards through k8s.io/pod-security-admission, and what it
// lacks: hostPath path semantics, capability semantics, identity, stealth.

// pssCheck is one PSA check resolved to the policy version jobwatch applies.
type pssCheck struct {
	id    policy.CheckID
	level psaapi.Level
	fn    policy.CheckPodFn
	// overrides are baseline checks this restricted check replaces.
	overrides []policy.CheckID
}

// pss holds the checks for baseline and restricted at one version.
type pss struct {
	version    psaapi.Version
	baseline   []pssCheck
	restricted []pssCheck
}

// newPSS resolves every default PSA check to the newest variant whose
// minimum version is not after v. (policy.Evaluator aggregates results
// without check IDs, so the checks are called one by one, as Kyverno does.)
func newPSS(v psaapi.Version) (*pss, error) {
	p := &pss{version: v}
	var all []pssCheck
	for _, c := range policy.DefaultChecks() {
		var best *policy.VersionedCheck
		for i := range c.Versions {
			vc := &c.Versions[i]
			if v.Older(vc.MinimumVersion) {
				continue
			}
			if best == nil || best.MinimumVersion.Older(vc.MinimumVersion) {
				best = vc
			}
		}
		if best == nil {
			continue
		}
		all = append(all, pssCheck{id: c.ID, level: c.Level, fn: best.CheckPod, overrides: best.OverrideCheckIDs})
	}
	overridden := map[policy.CheckID]bool{}
	for _, c := range all {
		if c.level == psaapi.LevelRestricted {
			for _, o := range c.overrides {
				overridden[o] = true
			}
		}
	}
	for _, c := range all {
		if c.level == psaapi.LevelBaseline {
			p.baseline = append(p.baseline, c)
			if !overridden[c.id] {
				p.restricted = append(p.restricted, c)
			}
		} else {
			p.restricted = append(p.restricted, c)
		}
	}
	sort.Slice(p.baseline, func(i, j int) bool { return p.baseline[i].id < p.baseline[j].id })
	sort.Slice(p.restricted, func(i, j int) bool { return p.restricted[i].id < p.restricted[j].id })
	if len(p.baseline) == 0 {
		return nil, fmt.Errorf("pod security: no checks for version %s", v.String())
	}
	return p, nil
}

// pssSeverity grades a failed baseline check; combinations raise it later.
var pssSeverity = map[policy.CheckID]Severity{
	"privileged":                 SeverityMedium,
	"hostNamespaces":             SeverityLow,
	"hostPathVolumes":            SeverityLow,
	"hostPorts":                  SeverityLow,
	"hostProbesAndHostLifecycle": SeverityLow,
	"capabilities_baseline":      SeverityLow,
	"appArmorProfile":            SeverityLow,
	"seLinuxOptions":             SeverityLow,
	"seccompProfile_baseline":    SeverityLow,
	"procMount":                  SeverityMedium,
	"sysctls":                    SeverityLow,
	"windowsHostProcess":         SeverityHigh,
}

func (s *subject) podMeta() *metav1.ObjectMeta { return &s.obj.Template.ObjectMeta }

// checkPSSBaseline reports each failed baseline check with its PSA ID.
func checkPSSBaseline(s *subject) []hit {
	var hits []hit
	for _, c := range s.a.pss.baseline {
		r := c.fn(s.podMeta(), s.spec)
		if r.Allowed {
			continue
		}
		sev, ok := pssSeverity[c.id]
		if !ok {
			sev = SeverityLow
		}
		hits = append(hits, hit{path: s.pssPath(c.id), evidence: fmt.Sprintf("%s: %s (%s)", c.id, r.ForbiddenReason, clip(r.ForbiddenDetail, 200)), severity: sev})
	}
	return hits
}

// checkPSSRestricted reports, in one finding, the restricted-level checks
// the template fails (hardening, not a threat signal on its own).
func checkPSSRestricted(s *subject) []hit {
	var failed []string
	for _, c := range s.a.pss.restricted {
		if c.level != psaapi.LevelRestricted {
			continue
		}
		if r := c.fn(s.podMeta(), s.spec); !r.Allowed {
			failed = append(failed, string(c.id))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return []hit{{path: s.specPath, evidence: "fails " + strings.Join(failed, ", ")}}
}

// pssPath points a PSA failure at the field most likely responsible.
func (s *subject) pssPath(id policy.CheckID) string {
	switch id {
	case "privileged":
		for _, c := range s.containers {
			if privileged(c.c) {
				return c.path + ".securityContext.privileged"
			}
		}
	case "hostNamespaces":
		switch {
		case s.spec.HostPID:
			return s.specPath + ".hostPID"
		case s.spec.HostNetwork:
			return s.specPath + ".hostNetwork"
		case s.spec.HostIPC:
			return s.specPath + ".hostIPC"
		}
	case "hostPathVolumes":
		if len(s.mounts) > 0 {
			return s.mounts[0].path
		}
	case "capabilities_baseline":
		for _, c := range s.containers {
			if c.c.SecurityContext != nil && c.c.SecurityContext.Capabilities != nil && len(c.c.SecurityContext.Capabilities.Add) > 0 {
				return c.path + ".securityContext.capabilities.add"
			}
		}
	}
	return s.specPath
}

// hostPathRisk grades a hostPath by what it exposes.
type hostPathClass struct {
	prefix             string
	what               string
	readOnly, writable Severity
}

// hostPathClasses: the first entry whose prefix matches wins, so longer
// prefixes come first. A parent of a sensitive path exposes it too (mounting
// /var exposes /var/lib/kubelet), which matchHostPath handles.
var hostPathClasses = []hostPathClass{
	{"/var/lib/kubelet/pki", "kubelet credentials", SeverityLow, SeverityHigh},
	{"/etc/kubernetes/pki", "cluster PKI", SeverityLow, SeverityHigh},
	{"/etc/kubernetes/manifests", "static pod manifests", SeverityLow, SeverityHigh},
	{"/etc/kubernetes", "Kubernetes node configuration", SeverityLow, SeverityHigh},
	{"/var/lib/kubelet", "kubelet state", SeverityLow, SeverityHigh},
	{"/var/lib/etcd", "etcd data", SeverityLow, SeverityHigh},
	{"/var/lib/docker", "container runtime state", SeverityLow, SeverityHigh},
	{"/var/lib/containerd", "container runtime state", SeverityLow, SeverityHigh},
	{"/root", "root's home", SeverityMedium, SeverityHigh},
	{"/home", "user homes", SeverityLow, SeverityHigh},
	{"/etc", "host configuration", SeverityLow, SeverityHigh},
	{"/boot", "boot files", SeverityLow, SeverityHigh},
	{"/lib/modules", "kernel modules", SeverityLow, SeverityMedium},
	{"/usr/src", "kernel headers", SeverityNone, SeverityLow},
	{"/usr", "host binaries", SeverityLow, SeverityHigh},
	{"/bin", "host binaries", SeverityLow, SeverityHigh},
	{"/sbin", "host binaries", SeverityLow, SeverityHigh},
	{"/lib", "host libraries", SeverityLow, SeverityHigh},
	{"/proc", "host procfs", SeverityLow, SeverityHigh},
	{"/sys", "host sysfs", SeverityLow, SeverityMedium},
	{"/dev", "host devices", SeverityLow, SeverityHigh},
	{"/var/log", "host logs", SeverityNone, SeverityMedium},
	{"/var/spool/cron", "host crontabs", SeverityMedium, SeverityHigh},
}

// nodeToolImages are official images of node-level security and
// observability tools whose documented deployment needs host access.
// Pod-security findings of an object whose every container runs one of
// them are capped at low; payload rules are never capped, so a known image
// with a hostile command line is still caught.
var nodeToolImages = regexp.MustCompile(`^(docker\.io/aquasec/(kube-bench|trivy)|ghcr\.io/aquasecurity/(trivy|node-collector|kube-bench|trivy-checks)|docker\.io/falcosecurity/|public\.ecr\.aws/falcosecurity/|docker\.io/sysdig/|quay\.io/sysdig/|quay\.io/prometheus/node-exporter|docker\.io/prom/node-exporter|registry\.k8s\.io/|docker\.io/kubescape/|quay\.io/kubescape/|docker\.io/datadog/agent|gcr\.io/datadoghq/)`)

// allNodeTools reports whether every container runs a node-tool image.
func (s *subject) allNodeTools() bool {
	if len(s.images) == 0 {
		return false
	}
	for _, im := range s.images {
		if !nodeToolImages.MatchString(im.ref.registry + "/" + im.ref.repository) {
			return false
		}
	}
	return true
}

// checkHostPath grades each hostPath volume by path and write access.
func checkHostPath(s *subject) []hit {
	var hits []hit
	seen := map[string]bool{}
	for _, m := range s.mounts {
		key := m.path + "|" + m.container
		if seen[key] {
			continue
		}
		seen[key] = true
		sev, what := classifyHostPath(m)
		if sev == SeverityNone {
			continue
		}
		mode := "read-only"
		if !m.readOnly {
			mode = "writable"
		}
		where := ""
		if m.mountPath != "" {
			where = " at " + m.mountPath
		}
		hits = append(hits, hit{container: m.container, path: m.path, severity: sev,
			evidence: fmt.Sprintf("%s hostPath %s (%s)%s", mode, m.hostPath, what, where)})
	}
	return hits
}

func classifyHostPath(m hostMount) (Severity, string) {
	hp := m.hostPath
	if m.volume.HostPath.Type != nil && string(*m.volume.HostPath.Type) == "Socket" || isRuntimeSocket(hp) {
		return SeverityHigh, "container runtime or socket: full control of the node"
	}
	if hp == "/" {
		if m.readOnly {
			return SeverityMedium, "the whole host filesystem"
		}
		return SeverityHigh, "the whole host filesystem"
	}
	for _, c := range hostPathClasses {
		if hp == c.prefix || strings.HasPrefix(hp, c.prefix+"/") {
			if m.readOnly {
				return c.readOnly, c.what
			}
			return c.writable, c.what
		}
		// Mounting a parent (/var) of a sensitive path exposes it.
		if strings.HasPrefix(c.prefix, hp+"/") && hp != "/var" && hp != "/run" && hp != "/var/run" {
			if m.readOnly {
				return SeverityLow, "contains " + c.what
			}
			return c.writable, "contains " + c.what
		}
	}
	if hp == "/var" || hp == "/run" || hp == "/var/run" {
		if m.readOnly {
			return SeverityMedium, "node runtime directories"
		}
		return SeverityHigh, "node runtime directories"
	}
	if m.readOnly {
		return SeverityNone, ""
	}
	return SeverityLow, "node directory " + path.Clean(hp)
}

var dangerousCaps = map[string]Severity{
	"ALL": SeverityMedium, "SYS_ADMIN": SeverityMedium, "SYS_MODULE": SeverityMedium, "SYS_PTRACE": SeverityMedium,
	"DAC_READ_SEARCH": SeverityMedium, "BPF": SeverityMedium, "SYS_RAWIO": SeverityMedium, "SYS_BOOT": SeverityLow,
	"NET_ADMIN": SeverityLow, "NET_RAW": SeverityLow, "PERFMON": SeverityLow, "SYSLOG": SeverityLow, "DAC_OVERRIDE": SeverityNone,
}

// checkCapabilities names the dangerous capabilities added.
func checkCapabilities(s *subject) []hit {
	var hits []hit
	for _, c := range s.containers {
		sc := c.c.SecurityContext
		if sc == nil || sc.Capabilities == nil {
			continue
		}
		for i, a := range sc.Capabilities.Add {
			n := strings.TrimPrefix(strings.ToUpper(string(a)), "CAP_")
			if sev := dangerousCaps[n]; sev > SeverityNone {
				hits = append(hits, hit{container: c.c.Name, path: fmt.Sprintf("%s.securityContext.capabilities.add[%d]", c.path, i), severity: sev, evidence: "adds capability " + n})
			}
		}
	}
	return hits
}

// controllerSAs are kube-system service accounts of control-plane
// controllers; a workload borrowing one inherits controller powers.
var controllerSAs = []string{
	"clusterrole-aggregation-controller", "cronjob-controller", "daemon-set-controller", "deployment-controller",
	"disruption-controller", "endpoint-controller", "generic-garbage-collector", "horizontal-pod-autoscaler",
	"job-controller", "namespace-controller", "node-controller", "persistent-volume-binder", "pod-garbage-collector",
	"replicaset-controller", "replication-controller", "resourcequota-controller", "service-account-controller",
	"statefulset-controller", "token-cleaner", "bootstrap-signer", "certificate-controller", "expand-controller",
	"attachdetach-controller", "ttl-controller", "root-ca-cert-publisher", "ephemeral-volume-controller",
	"endpointslice-controller", "pvc-protection-controller", "pv-protection-controller", "legacy-service-account-token-cleaner",
	"validatingadmissionpolicy-status-controller", "service-controller", "route-controller", "cloud-provider",
}

// checkServiceAccount: controller identities borrowed, and admin-sounding
// service accounts with an automounted token.
func checkServiceAccount(s *subject) []hit {
	sa := s.spec.ServiceAccountName
	if sa == "" {
		sa = s.spec.DeprecatedServiceAccount
	}
	ns := s.obj.Meta.Namespace
	p := s.specPath + ".serviceAccountName"
	if ns == "kube-system" && slices.Contains(controllerSAs, sa) {
		return []hit{{path: p, evidence: "runs as controller service account kube-system/" + sa, severity: SeverityHigh}}
	}
	automount := s.spec.AutomountServiceAccountToken == nil || *s.spec.AutomountServiceAccountToken
	if automount && (strings.Contains(sa, "cluster-admin") || sa == "admin" || strings.HasSuffix(sa, "-admin") && ns == "kube-system") {
		return []hit{{path: p, evidence: "automounts the token of admin-named service account " + sa, severity: SeverityMedium}}
	}
	return nil
}

// checkAutomountToken: a non-default service account whose token is
// mounted; only worth a low note, it is how operators' jobs work.
func checkAutomountToken(s *subject) []hit {
	sa := s.spec.ServiceAccountName
	if sa == "" || sa == "default" {
		return nil
	}
	if s.spec.AutomountServiceAccountToken != nil && !*s.spec.AutomountServiceAccountToken {
		return nil
	}
	return []hit{{path: s.specPath + ".serviceAccountName", evidence: "token of service account " + sa + " is mounted", severity: SeverityLow}}
}
