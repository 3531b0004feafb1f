package analyze

import (
	"strings"
)

// Rule is one entry of the rule table.
type Rule struct {
	ID          string
	Title       string
	Severity    Severity // default; a check may grade an individual hit
	Attack      []string // MITRE ATT&CK technique IDs
	Description string
	Remediation string

	// check inspects the subject (primary rules).
	check func(*subject) []hit
	// combine runs after every primary rule and sees their findings
	// (combination rules). Exactly one of check and combine is set.
	combine func(*subject, []Finding) []hit
}

// Rules returns a copy of the rule table, in evaluation order.
func Rules() []Rule {
	out := make([]Rule, len(ruleTable))
	copy(out, ruleTable)
	return out
}

const t1053 = "T1053.007"

// ruleTable is the complete list of rules: no registration elsewhere.
var ruleTable = []Rule{
	// Payloads in command, args, env, lifecycle hooks and probes.
	{ID: "JW-EXEC-001", Title: "Download and execute", Severity: SeverityHigh, Attack: []string{t1053, "T1105", "T1059.004"},
		Description: "Fetches code over the network and runs it: curl|sh, sh -c \"$(wget -O- …)\", or a download to disk that is made executable and started. Graded by source: raw IPs and unknown hosts high, cluster-internal medium, well-known installer hosts low.",
		Remediation: "Bake tools into a pinned image; never pipe network content into a shell.", check: checkDownloadExec},
	{ID: "JW-EXEC-002", Title: "Reverse shell", Severity: SeverityHigh, Attack: []string{t1053, "T1059.004", "T1095"},
		Description: "Wires a shell to a network peer: /dev/tcp redirections, nc -e, ncat --sh-exec, socat exec:, fifo relays, or python/perl/ruby/php/node socket one-liners.",
		Remediation: "Delete the object and investigate who created it; no batch workload needs an interactive remote shell.", check: checkReverseShell},
	{ID: "JW-EXEC-003", Title: "Encoded payload executed", Severity: SeverityHigh, Attack: []string{t1053, "T1027", "T1140"},
		Description: "Decodes data (base64, xxd) into a shell or eval, runs a payload kept in an environment variable, or carries a long encoded blob on the command line.",
		Remediation: "Ship scripts as readable files in the image or a ConfigMap.", check: checkEncodedPayload},
	{ID: "JW-EXEC-004", Title: "Crypto-mining", Severity: SeverityHigh, Attack: []string{t1053, "T1496"},
		Description: "Runs a miner or carries mining configuration: xmrig and kin, stratum URLs, known pools, --donate-level, wallet addresses.",
		Remediation: "Delete the object, rotate credentials that could create it, and look for the same template elsewhere.", check: checkMining},
	{ID: "JW-EXEC-005", Title: "Obfuscated command", Severity: SeverityMedium, Attack: []string{t1053, "T1027"},
		Description: "Builds a command name from quotes, escapes, $IFS or decoded substitutions (c\"u\"rl, $(echo Y3VybA== | base64 -d)).",
		Remediation: "Legitimate jobs spell their commands out; review the script.", check: checkObfuscation},
	{ID: "JW-EXEC-006", Title: "Defence evasion", Severity: SeverityMedium, Attack: []string{t1053, "T1070", "T1562.001"},
		Description: "Clears history or logs, sets immutable attributes, disables SELinux or firewalls, kills security agents or rival miners, tunes the kernel for mining.",
		Remediation: "Investigate; batch jobs have no reason to hide their traces.", check: checkEvasion},
	{ID: "JW-ESC-001", Title: "Host escape", Severity: SeverityHigh, Attack: []string{t1053, "T1611", "T1053.003", "T1543"},
		Description: "Breaks out to the node: nsenter into PID 1, chroot into a host-root mount, writes to host cron, systemd, authorized_keys, ld.so.preload or static pod manifests, core_pattern or release_agent tricks, driving the container runtime socket.",
		Remediation: "Delete the object, inspect the nodes it ran on for persistence.", check: checkHostEscape},
	{ID: "JW-CRED-001", Title: "Credential theft", Severity: SeverityHigh, Attack: []string{t1053, "T1552.007", "T1552.005", "T1528"},
		Description: "Reads the service-account token (high when data then leaves the cluster), cloud instance-metadata credentials, kubelet or control-plane PKI, or stored cloud and SSH credentials.",
		Remediation: "Disable token automount where unused; block metadata endpoints with NetworkPolicy; rotate exposed credentials.", check: checkCredentialTheft},
	{ID: "JW-K8S-001", Title: "Cluster privilege abuse", Severity: SeverityHigh, Attack: []string{t1053, "T1098.006", "T1552.007"},
		Description: "Uses kubectl or the API to bind cluster-admin, dump Secrets, mint tokens, register admission webhooks or apply remote manifests. Housekeeping (get pods, delete completed pods, rollout restart) is not flagged.",
		Remediation: "Grant the job's service account only the verbs it needs; review who can create Jobs that use it.", check: checkClusterAbuse},
	{ID: "JW-NET-001", Title: "Tunnel, anonymizer or proxyware", Severity: SeverityHigh, Attack: []string{t1053, "T1572", "T1090", "T1496"},
		Description: "Starts chisel, ngrok, frp, Tor, DNS tunnels, tmate, SSH reverse tunnels, or bandwidth-selling proxyware.",
		Remediation: "Delete the object; egress tunnels bypass network policy and monitoring.", check: checkTunnels},
	{ID: "JW-NET-002", Title: "Raw public IP endpoint", Severity: SeverityMedium, Attack: []string{t1053, "T1071.001", "T1105"},
		Description: "Contacts a public IP literal (URL or host:port) instead of a name: typical of command-and-control and payload servers.",
		Remediation: "Use DNS names of services you own; check the address against threat intelligence.", check: checkRawIP},

	// Images.
	{ID: "JW-IMG-001", Title: "Offensive or miner image", Severity: SeverityHigh, Attack: []string{t1053, "T1610", "T1204.003"},
		Description: "Image of a miner, offensive-security distribution, C2 or escape toolkit, tunnel, or proxyware.",
		Remediation: "Delete the object; such images have no place in a production cluster.", check: checkOffensiveImage},
	{ID: "JW-IMG-002", Title: "Typosquatted image", Severity: SeverityHigh, Attack: []string{t1053, "T1204.003", "T1036.005"},
		Description: "Image or registry one or two edits or a look-alike spelling away from a well-known one (ngnix, bitnarni/kubectl, gcr.lo), or a namespace dressed as an official image.",
		Remediation: "Use the exact upstream name, pinned by digest.", check: checkTyposquat},
	{ID: "JW-IMG-003", Title: "Raw IP registry", Severity: SeverityMedium, Attack: []string{t1053, "T1204.003"},
		Description: "Image pulled from a registry addressed by IP: public addresses medium, private low.",
		Remediation: "Pull from a named, trusted registry.", check: checkRawIPRegistry},
	{ID: "JW-IMG-004", Title: "Untrusted registry", Severity: SeverityLow, Attack: []string{t1053, "T1204.003"},
		Description: "Image registry outside the configured trusted list (analyze.trustedRegistries).",
		Remediation: "Mirror the image into a trusted registry, or add the registry to the list.", check: checkUntrustedRegistry},
	{ID: "JW-IMG-005", Title: "Mutable image tag", Severity: SeverityLow, Attack: []string{t1053, "T1525"},
		Description: "Image without a tag or with :latest and no digest: whoever controls the tag controls what runs.",
		Remediation: "Pin images by digest (image@sha256:…).", check: checkMutableTag},
	{ID: "JW-IMG-006", Title: "Generic image installing tools", Severity: SeverityLow, Attack: []string{t1053, "T1105"},
		Description: "A bare distribution image (alpine, busybox, ubuntu, python…) that installs network or build tools at run time. A weak signal on its own.",
		Remediation: "Build a purpose-made image with its tools inside.", check: checkGenericImageScript},

	// Pod security.
	{ID: "JW-PSS-001", Title: "Pod Security baseline violation", Severity: SeverityLow, Attack: []string{t1053, "T1611", "T1610"},
		Description: "The template fails a Pod Security Standards baseline check (evaluated by k8s.io/pod-security-admission; the evidence names the PSA check ID). Pod Security Admission only warns on Jobs and CronJobs, it does not block them.",
		Remediation: "Meet the baseline level or run the job in a namespace reserved for privileged workloads.", check: checkPSSBaseline},
	{ID: "JW-PSS-002", Title: "Pod Security restricted gaps", Severity: SeverityNone, Attack: []string{t1053},
		Description: "Restricted-level checks the template fails (hardening information, not a threat signal).",
		Remediation: "Run as non-root, drop ALL capabilities, set seccomp RuntimeDefault and allowPrivilegeEscalation: false.", check: checkPSSRestricted},
	{ID: "JW-POD-001", Title: "Sensitive hostPath", Severity: SeverityMedium, Attack: []string{t1053, "T1611"},
		Description: "hostPath graded by what it exposes and whether it is writable: / and runtime sockets, kubelet and PKI directories, /etc, /root, /proc, /dev, /var/log…",
		Remediation: "Use a PersistentVolume or a narrower read-only path.", check: checkHostPath},
	{ID: "JW-POD-002", Title: "Dangerous capability", Severity: SeverityMedium, Attack: []string{t1053, "T1611"},
		Description: "Adds a capability that enables escape or snooping: ALL, SYS_ADMIN, SYS_MODULE, SYS_PTRACE, DAC_READ_SEARCH, BPF, SYS_RAWIO (medium); NET_ADMIN, NET_RAW (low).",
		Remediation: "Drop ALL and add back only what the job needs.", check: checkCapabilities},

	// Identity.
	{ID: "JW-ID-001", Title: "Borrowed privileged identity", Severity: SeverityHigh, Attack: []string{t1053, "T1078.001", "T1528"},
		Description: "Runs as a kube-system controller service account, or mounts the token of an admin-named service account.",
		Remediation: "Give the job its own least-privilege service account.", check: checkServiceAccount},
	{ID: "JW-ID-002", Title: "Service-account token mounted", Severity: SeverityLow, Attack: []string{t1053, "T1528"},
		Description: "A non-default service account's token is mounted into the pod.",
		Remediation: "Set automountServiceAccountToken: false unless the job calls the API.", check: checkAutomountToken},

	// Scheduling and stealth.
	{ID: "JW-SCHED-001", Title: "Every-minute schedule", Severity: SeverityLow, Attack: []string{t1053},
		Description: "A CronJob that runs every minute: persistence that re-spawns quickly.",
		Remediation: "Schedule no more often than needed.", check: checkFrequentSchedule},
	{ID: "JW-SCHED-002", Title: "Erased history", Severity: SeverityLow, Attack: []string{t1053, "T1070"},
		Description: "History limits of 0 or a tiny ttlSecondsAfterFinished remove the evidence of each run.",
		Remediation: "Keep some history, or ship job logs elsewhere.", check: checkHistoryErased},
	{ID: "JW-SCHED-003", Title: "System-namespace imitation", Severity: SeverityMedium, Attack: []string{t1053, "T1036.005"},
		Description: "A Job or CronJob in kube-system named or labelled like a control-plane component but running a non-system image, or any in kube-public or kube-node-lease.",
		Remediation: "Keep workloads out of system namespaces; verify the object's origin.", check: checkSystemImitation},
	{ID: "JW-SCHED-004", Title: "Manual run", Severity: SeverityLow, Attack: []string{t1053},
		Description: "A Job started by hand from a CronJob (cronjob.kubernetes.io/instantiate: manual); judged on its own template.",
		Remediation: "Informational.", check: checkManualRun},

	// Combinations decide severity.
	{ID: "JW-EVADE-001", Title: "Self-exemption annotation", Severity: SeverityLow, Attack: []string{t1053, "T1562.001"},
		Description: "Annotations or labels that make other tools (Polaris, kube-score, kube-linter, Botkube, jobwatch…) ignore the object. jobwatch never honours them; on an object with a medium or worse finding they raise its severity one step.",
		Remediation: "Exceptions belong in jobwatch's configuration (analyze.exceptions), never on the object.", combine: combineSelfExemption},
	{ID: "JW-COMBO-001", Title: "Host takeover", Severity: SeverityCritical, Attack: []string{t1053, "T1611"},
		Description: "A host-escape command together with the access it needs: privileged, hostPID, or a host-root mount (privileged + hostPID + nsenter).",
		Remediation: "Delete the object and treat the nodes it ran on as compromised.", combine: combineHostTakeover},
	{ID: "JW-COMBO-002", Title: "Payload with host access", Severity: SeverityCritical, Attack: []string{t1053, "T1611", "T1496"},
		Description: "A malicious payload (download-exec, reverse shell, encoded payload, miner, credential theft, cluster abuse, tunnel) in a pod that is privileged, shares host namespaces, or mounts a runtime socket or a writable sensitive host path.",
		Remediation: "Delete the object and investigate the nodes and credentials it could reach.", combine: combinePayloadHostAccess},
	{ID: "JW-COMBO-003", Title: "Escape-ready pod", Severity: SeverityHigh, Attack: []string{t1053, "T1611"},
		Description: "Privileged or SYS_ADMIN together with hostPID or a writable host-root mount: one command away from owning the node.",
		Remediation: "Drop privileged and host namespaces; use a DaemonSet with reviewed tooling for node maintenance.", combine: combineEscapeReady},
	{ID: "JW-COMBO-004", Title: "Disguised payload", Severity: SeverityCritical, Attack: []string{t1053, "T1036.005", "T1496"},
		Description: "A high-severity payload in an object that imitates a system component.",
		Remediation: "Delete the object and audit how it got into a system namespace.", combine: combineDisguised},
}

var payloadRules = map[string]bool{"JW-EXEC-001": true, "JW-EXEC-002": true, "JW-EXEC-003": true, "JW-EXEC-004": true,
	"JW-CRED-001": true, "JW-K8S-001": true, "JW-NET-001": true, "JW-ESC-001": true, "JW-IMG-001": true}

func findingsOf(fs []Finding, rule string, atLeast Severity) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Rule == rule && f.Severity >= atLeast {
			out = append(out, f)
		}
	}
	return out
}

func hostAccess(s *subject) (string, bool) {
	switch {
	case s.anyPrivileged():
		return "privileged", true
	case s.spec.HostPID:
		return "hostPID", true
	case s.spec.HostNetwork:
		return "hostNetwork", true
	}
	for _, m := range s.mounts {
		if sev, what := classifyHostPath(m); sev >= SeverityHigh {
			return "hostPath " + m.hostPath + " (" + what + ")", true
		}
	}
	return "", false
}

func combineHostTakeover(s *subject, fs []Finding) []hit {
	esc := findingsOf(fs, "JW-ESC-001", SeverityMedium)
	if len(esc) == 0 {
		return nil
	}
	var access []string
	if s.anyPrivileged() {
		access = append(access, "privileged")
	}
	if s.spec.HostPID {
		access = append(access, "hostPID")
	}
	if m, ok := s.hostRootMount(); ok {
		access = append(access, "hostPath / at "+m.mountPath)
	}
	if len(access) == 0 {
		return nil
	}
	return []hit{{container: esc[0].Container, path: esc[0].Path, evidence: strings.Join(access, " + ") + " + " + esc[0].Evidence}}
}

func combinePayloadHostAccess(s *subject, fs []Finding) []hit {
	access, ok := hostAccess(s)
	if !ok {
		return nil
	}
	for _, f := range fs {
		if payloadRules[f.Rule] && f.Rule != "JW-ESC-001" && f.Severity >= SeverityHigh {
			return []hit{{container: f.Container, path: f.Path, evidence: access + " + " + f.Title + ": " + f.Evidence}}
		}
	}
	return nil
}

func combineEscapeReady(s *subject, fs []Finding) []hit {
	if !s.anyPrivileged() && !s.hasCap("SYS_ADMIN") {
		return nil
	}
	what := "privileged"
	if !s.anyPrivileged() {
		what = "SYS_ADMIN"
	}
	if s.spec.HostPID {
		return []hit{{path: s.specPath + ".hostPID", evidence: what + " + hostPID"}}
	}
	if m, ok := s.hostRootMount(); ok && !m.readOnly {
		return []hit{{container: m.container, path: m.path, evidence: what + " + writable hostPath / at " + m.mountPath}}
	}
	return nil
}

func combineDisguised(s *subject, fs []Finding) []hit {
	if len(findingsOf(fs, "JW-SCHED-003", SeverityMedium)) == 0 {
		return nil
	}
	for _, f := range fs {
		if payloadRules[f.Rule] && f.Severity >= SeverityHigh {
			return []hit{{container: f.Container, path: f.Path, evidence: "system-component disguise + " + f.Title + ": " + f.Evidence}}
		}
	}
	return nil
}

func combineSelfExemption(s *subject, fs []Finding) []hit {
	keys := selfExemptionAnnotations(s)
	if len(keys) == 0 {
		return nil
	}
	worst := SeverityNone
	for _, f := range fs {
		worst = max(worst, f.Severity)
	}
	sev := SeverityLow
	if worst >= SeverityMedium {
		sev = worst.raise(1)
	}
	return []hit{{path: "metadata.annotations", severity: sev, evidence: "asks other tools to ignore it: " + strings.Join(keys, ", ")}}
}
