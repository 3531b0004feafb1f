package analyze

import (
	"regexp"
	"strings"
)

// Host escape, credential theft, cluster abuse, tunnels, raw-IP C2,
// defence evasion and obfuscation detectors.

// hostSensitiveWrite names host paths whose modification means persistence
// or escape, matched against the host path a write reaches.
var hostSensitiveWrite = []struct {
	prefix, what string
}{
	{"/etc/cron", "host cron"},
	{"/var/spool/cron", "host crontab"},
	{"/etc/ld.so.preload", "ld.so.preload"},
	{"/etc/kubernetes/manifests", "static pod manifest"},
	{"/etc/systemd/system", "systemd unit"},
	{"/lib/systemd/system", "systemd unit"},
	{"/etc/rc.local", "rc.local"},
	{"/etc/init.d", "init script"},
	{"/etc/sudoers", "sudoers"},
	{"/etc/passwd", "passwd"},
	{"/etc/shadow", "shadow"},
	{"/etc/profile", "login profile"},
	{"/root/.bashrc", "root shell profile"},
	{"/proc/sys/kernel/core_pattern", "core_pattern"},
}

// writeTargets returns the paths a command writes to: redirections, tee,
// cp/mv/install destinations, sed -i files, ln targets.
func writeTargets(c *shellCmd) []string {
	var out []string
	for _, r := range c.redirs {
		if r.op == ">" || r.op == ">>" || r.op == ">|" || r.op == "&>" {
			out = append(out, r.target)
		}
	}
	if len(c.args) < 2 {
		return out
	}
	switch cmdBase(c.args[0]) {
	case "tee", "touch", "truncate":
		for _, a := range c.args[1:] {
			if !strings.HasPrefix(a, "-") {
				out = append(out, a)
			}
		}
	case "cp", "mv", "install", "ln", "rsync", "scp":
		out = append(out, c.args[len(c.args)-1])
	case "sed":
		if hasFlag(c.args, "-i") || containsShortFlag(c.args, 'i') {
			out = append(out, c.args[len(c.args)-1])
		}
	case "crontab":
		out = append(out, "/var/spool/cron/crontabs")
	case "dd":
		for _, a := range c.args[1:] {
			if strings.HasPrefix(a, "of=") {
				out = append(out, a[3:])
			}
		}
	}
	return out
}

// commands calls fn for every command with a name, in every script.
func (s *subject) commands(fn func(sc *script, i int, c *shellCmd)) {
	for _, sc := range s.scripts {
		for i := range sc.cmds {
			if len(sc.cmds[i].args) > 0 {
				fn(sc, i, &sc.cmds[i])
			}
		}
	}
}

// checkHostEscape: nsenter into PID 1, chroot into the host filesystem,
// writes into host persistence locations through a hostPath mount,
// core_pattern / release_agent tricks, container-runtime socket use.
func checkHostEscape(s *subject) []hit {
	var hits []hit
	s.commands(func(sc *script, i int, c *shellCmd) {
		n := cmdBase(c.args[0])
		joined := strings.Join(c.args, " ")
		for _, r := range c.redirs {
			joined += " " + r.target
		}
		switch {
		case n == "nsenter" && (hasFlag(c.args, "-t", "--target") && targetsPID1(c.args) || hasFlag(c.args, "-t1", "--target=1")):
			hits = append(hits, scriptHit(sc, "nsenter into the host's PID 1 namespaces", c.raw, 0))
			return
		case n == "chroot" && len(c.args) > 1:
			if hp, ok := s.hostPathFor(sc.container, strings.TrimSuffix(firstOperand(c.args), "/")); ok && hp == "/" {
				hits = append(hits, scriptHit(sc, "chroot into the host's root filesystem", c.raw, 0))
				return
			}
		case strings.Contains(joined, "release_agent") || strings.Contains(joined, "notify_on_release"):
			hits = append(hits, scriptHit(sc, "cgroup release_agent escape", c.raw, 0))
			return
		case strings.Contains(joined, "core_pattern"):
			hits = append(hits, scriptHit(sc, "core_pattern escape", c.raw, 0))
			return
		case (n == "docker" || n == "crictl" || n == "ctr" || n == "nerdctl" || n == "podman") && runtimeSocketAbuse(s, c.args):
			hits = append(hits, scriptHit(sc, n+" driving the node's container runtime", c.raw, 0))
			return
		case n == "mount" && len(c.args) > 2 && strings.HasPrefix(firstOperand(c.args), "/dev/"):
			hits = append(hits, scriptHit(sc, "mounts a host block device", c.raw, SeverityMedium))
			return
		case n == "insmod" || n == "modprobe" && !hasFlag(c.args, "-n", "--dry-run") && !strings.Contains(joined, "msr"):
			hits = append(hits, scriptHit(sc, "loads a kernel module", c.raw, SeverityMedium))
			return
		}
		for _, t := range writeTargets(c) {
			if strings.Contains(t, "authorized_keys") {
				sev := SeverityMedium
				if _, ok := s.hostPathFor(sc.container, t); ok {
					sev = 0
				}
				hits = append(hits, scriptHit(sc, "writes SSH authorized_keys", c.raw, sev))
				break
			}
			if strings.HasSuffix(t, "ld.so.preload") {
				hits = append(hits, scriptHit(sc, "writes ld.so.preload", c.raw, 0))
				break
			}
			hp, ok := s.hostPathFor(sc.container, t)
			if !ok {
				continue
			}
			for _, p := range hostSensitiveWrite {
				if strings.HasPrefix(hp, p.prefix) {
					hits = append(hits, scriptHit(sc, "writes "+p.what+" on the host ("+hp+")", c.raw, 0))
					break
				}
			}
		}
	})
	return hits
}

func targetsPID1(args []string) bool {
	v, ok := flagValue(args, "-t", "--target")
	return ok && v == "1"
}

func runtimeSocketAbuse(s *subject, args []string) bool {
	j := strings.Join(args, " ")
	if strings.Contains(j, "--privileged") || strings.Contains(j, "-v /:/") || strings.Contains(j, "--pid=host") || strings.Contains(j, "--net=host") || strings.Contains(j, ".sock") {
		return true
	}
	for _, m := range s.mounts {
		if isRuntimeSocket(m.hostPath) {
			return true
		}
	}
	return false
}

var (
	saTokenRe  = regexp.MustCompile(`/var/run/secrets/kubernetes\.io/serviceaccount(/token)?|/run/secrets/kubernetes\.io/serviceaccount`)
	metadataRe = regexp.MustCompile(`(?i)169\.254\.169\.254|metadata\.google\.internal|100\.100\.100\.200|\[?fd00:ec2::254\]?|169\.254\.170\.2`)
	metaCredRe = regexp.MustCompile(`(?i)security-credentials|service-accounts/[^/\s]+/token|identity/oauth2/token|latest/api/token|computeMetadata|/metadata/identity|ram/security-credentials`)
	pkiRe      = regexp.MustCompile(`/etc/kubernetes/(pki|admin\.conf|kubelet\.conf|controller-manager\.conf|scheduler\.conf|super-admin\.conf)|/var/lib/kubelet/(pki|kubeconfig)|/etc/kubernetes/pki/etcd|/var/lib/etcd|/etc/etcd/.*\.(key|pem)`)
	userCredRe = regexp.MustCompile(`\.aws/credentials|\.docker/config\.json|\.kube/config|\.ssh/id_(rsa|ed25519|ecdsa)|/etc/shadow|\.config/gcloud|\.azure/`)
)

// checkCredentialTheft: service-account token reads (worse when sent out),
// cloud metadata credential endpoints, kubelet/etcd PKI, user credentials.
func checkCredentialTheft(s *subject) []hit {
	var hits []hit
	for _, sc := range s.scripts {
		tokenRead, sendsOut := -1, false
		for i := range sc.cmds {
			c := &sc.cmds[i]
			if len(c.args) == 0 && len(c.redirs) == 0 {
				continue
			}
			joined := c.raw
			if len(c.args) > 0 {
				parts := append([]string(nil), c.args...)
				for _, r := range c.redirs {
					parts = append(parts, r.target)
				}
				if len(s.mounts) > 0 {
					parts = append(parts, s.hostPaths(sc.container, c.args))
				}
				joined = strings.Join(parts, " ")
			}
			mayMeta := strings.Contains(joined, "169.254.") || strings.Contains(joined, "metadata") || strings.Contains(joined, "100.100.100.200") || strings.Contains(joined, "fd00:ec2")
			mayPKI := strings.Contains(joined, "/etc/kubernetes") || strings.Contains(joined, "/var/lib/kubelet") || strings.Contains(joined, "etcd")
			mayUser := strings.Contains(joined, ".aws") || strings.Contains(joined, ".docker") || strings.Contains(joined, ".kube") || strings.Contains(joined, ".ssh") ||
				strings.Contains(joined, "shadow") || strings.Contains(joined, "gcloud") || strings.Contains(joined, ".azure")
			switch {
			case mayMeta && metadataRe.MatchString(joined):
				sev := SeverityMedium
				if metaCredRe.MatchString(joined) {
					sev = SeverityHigh
				}
				hits = append(hits, scriptHit(sc, "cloud instance-metadata credentials", c.raw, sev))
				continue
			case mayPKI && len(c.args) > 0 && copiesFiles(c.args) && pkiRe.MatchString(joined):
				// etcdctl --cert /etc/kubernetes/pki/… uses a credential;
				// cat, cp, tar, base64 or an upload take it away.
				hits = append(hits, scriptHit(sc, "copies node or control-plane credentials "+pkiRe.FindString(joined), c.raw, 0))
				continue
			case mayUser && len(c.args) > 0 && (readsFiles(c.args) || isDownloader(c.args)) && userCredRe.MatchString(joined):
				hits = append(hits, scriptHit(sc, "reads stored credentials "+userCredRe.FindString(joined), c.raw, SeverityMedium))
				continue
			}
			if tokenRead < 0 && strings.Contains(joined, "serviceaccount") && saTokenRe.MatchString(joined) {
				tokenRead = i
			}
			if isDownloader(c.args) || len(c.args) > 0 && (cmdBase(c.args[0]) == "nc" || cmdBase(c.args[0]) == "ncat") {
				if u := downloadTarget(c.args); u != "" && s.a.classifyHost(hostOf(u)) != hostInternal && !isAPIServerURL(u) {
					sendsOut = true
				} else if u == "" && len(publicIPsIn(joined)) > 0 {
					sendsOut = true
				}
			}
		}
		if tokenRead >= 0 {
			sev := SeverityMedium
			what := "reads the service-account token"
			if sendsOut {
				sev, what = SeverityHigh, "reads the service-account token and sends data outside the cluster"
			}
			hits = append(hits, scriptHit(sc, what, sc.cmds[tokenRead].raw, sev))
		}
	}
	for _, cs := range s.codes {
		if metadataRe.MatchString(cs.code) && metaCredRe.MatchString(cs.code) || pkiRe.MatchString(cs.code) {
			hits = append(hits, hit{container: cs.container, path: cs.path, evidence: evidenceFor(cs.origin, cs.lang+" reads cloud or cluster credentials", cs.code)})
		}
	}
	return hits
}

// hostPaths maps the absolute-path arguments of a command through the
// container's hostPath mounts, so /k/pki is seen as /etc/kubernetes/pki.
func (s *subject) hostPaths(containerName string, args []string) string {
	var out []string
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "/") {
			if hp, ok := s.hostPathFor(containerName, a); ok {
				out = append(out, hp)
			}
		}
	}
	return strings.Join(out, " ")
}

func readsFiles(args []string) bool {
	switch cmdBase(args[0]) {
	case "cat", "cp", "tar", "scp", "base64", "curl", "wget", "head", "tail", "less", "more", "xxd", "zip", "rsync", "strings", "od":
		return true
	}
	return false
}

// copiesFiles reports whether a command reads file contents out (as
// opposed to passing a path to a client as a flag value).
func copiesFiles(args []string) bool {
	switch cmdBase(args[0]) {
	case "cat", "cp", "tar", "scp", "base64", "head", "tail", "less", "more", "xxd", "zip", "rsync", "strings", "od", "mv", "dd", "gzip", "openssl":
		return true
	case "curl":
		return hasFlag(args, "-F", "--form", "-T", "--upload-file") || strings.Contains(strings.Join(args, " "), "@/")
	}
	return false
}

func isAPIServerURL(u string) bool {
	h := hostOf(u)
	return strings.HasPrefix(h, "kubernetes.default") || strings.Contains(u, "$KUBERNETES_SERVICE_HOST") || h == "kubernetes"
}

// checkClusterAbuse: kubectl or raw API calls that grant privileges, dump
// Secrets, register webhooks or mint tokens.
func checkClusterAbuse(s *subject) []hit {
	var hits []hit
	for _, sc := range s.scripts {
		for i := range sc.cmds {
			c := &sc.cmds[i]
			if len(c.args) < 2 {
				continue
			}
			n := cmdBase(c.args[0])
			if n == "kubectl" || n == "oc" || n == "k3s" && c.args[1] == "kubectl" {
				if why, sev := kubectlAbuse(c.args); why != "" {
					hits = append(hits, scriptHit(sc, why, c.raw, sev))
				}
				continue
			}
			if isDownloader(c.args) {
				joined := strings.Join(c.args, " ")
				u := downloadTarget(c.args)
				if why := apiAbuse(u, joined); why != "" && (isAPIServerURL(u) || strings.Contains(u, "/apis/") || strings.Contains(u, "/api/v1/")) {
					hits = append(hits, scriptHit(sc, why, c.raw, 0))
				}
			}
		}
	}
	return hits
}

// kubectlAbuse grades a kubectl command line; benign housekeeping (get
// pods, delete completed pods, rollout restart) returns "".
func kubectlAbuse(args []string) (string, Severity) {
	var verbs []string
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "-") {
			verbs = append(verbs, strings.ToLower(a))
		}
		if len(verbs) == 3 {
			break
		}
	}
	if len(verbs) == 0 {
		return "", 0
	}
	joined := strings.ToLower(strings.Join(args, " "))
	all := hasFlag(args, "-A", "--all-namespaces")
	v0 := verbs[0]
	v1 := ""
	if len(verbs) > 1 {
		v1 = verbs[1]
	}
	switch {
	case v0 == "create" && (v1 == "clusterrolebinding" || v1 == "rolebinding"):
		if strings.Contains(joined, "cluster-admin") || strings.Contains(joined, "system:masters") || v1 == "clusterrolebinding" {
			return "kubectl grants cluster-wide privileges (" + v1 + ")", SeverityHigh
		}
		return "kubectl creates a " + v1, SeverityMedium
	case (v0 == "create" || v0 == "apply" || v0 == "replace") && strings.Contains(joined, "clusterrole") && strings.Contains(joined, "cluster-admin"):
		return "kubectl grants cluster-admin", SeverityHigh
	case (v0 == "get" || v0 == "describe") && strings.HasPrefix(v1, "secret"):
		if all || hasFlag(args, "-o", "--output") {
			return "kubectl dumps Secrets", SeverityHigh
		}
		return "kubectl reads Secrets", SeverityMedium
	case v0 == "create" && v1 == "token":
		return "kubectl mints a service-account token", SeverityHigh
	case (v0 == "create" || v0 == "apply") && (strings.Contains(joined, "mutatingwebhookconfiguration") || strings.Contains(joined, "validatingwebhookconfiguration")):
		return "kubectl registers an admission webhook", SeverityHigh
	case v0 == "apply" || v0 == "create":
		if f, ok := flagValue(args, "-f", "--filename"); ok && strings.Contains(f, "://") {
			return "kubectl applies manifests fetched from " + hostOf(f), SeverityMedium
		}
	case v0 == "run" && (strings.Contains(joined, "privileged") || strings.Contains(joined, "hostpid")):
		return "kubectl runs a privileged pod", SeverityHigh
	case v0 == "auth" && v1 == "can-i" && (hasFlag(args, "--list") || all):
		return "kubectl enumerates its permissions", SeverityMedium
	case v0 == "config" && v1 == "view" && hasFlag(args, "--raw"):
		return "kubectl dumps kubeconfig credentials", SeverityHigh
	case v0 == "exec" && (strings.Contains(joined, "kube-system") || strings.Contains(joined, "/bin/sh") || strings.Contains(joined, "bash")):
		return "kubectl opens a shell in another pod", SeverityMedium
	}
	return "", 0
}

func apiAbuse(url, joined string) string {
	l := strings.ToLower(joined)
	u := strings.ToLower(url)
	post := strings.Contains(l, "-x post") || strings.Contains(l, "--request post") || strings.Contains(l, "-xpost") || strings.Contains(l, " -d ") || strings.Contains(l, "--data")
	switch {
	case strings.Contains(u, "clusterrolebindings") && post, strings.Contains(u, "/rolebindings") && post:
		return "API call creating a role binding"
	case strings.Contains(u, "/secrets"):
		return "API call reading Secrets"
	case strings.Contains(u, "webhookconfigurations") && post:
		return "API call registering an admission webhook"
	case strings.Contains(u, "/token") && strings.Contains(u, "serviceaccounts") && post:
		return "API call minting a service-account token"
	}
	return ""
}

var tunnelTools = map[string]string{
	"chisel": "chisel tunnel", "ngrok": "ngrok tunnel", "frpc": "frp tunnel", "frps": "frp tunnel", "tor": "Tor",
	"iodine": "iodine DNS tunnel", "dns2tcp": "DNS tunnel", "dnscat": "dnscat tunnel", "dnscat2": "dnscat tunnel",
	"gost": "gost proxy", "bore": "bore tunnel", "tmate": "tmate remote shell", "lt": "localtunnel",
	"cloudflared": "cloudflared tunnel", "rathole": "rathole tunnel", "ligolo": "ligolo tunnel", "proxychains": "proxychains",
	"microsocks": "SOCKS proxy", "3proxy": "3proxy", "pawns-cli": "proxyware (Pawns)", "honeygain": "proxyware (Honeygain)",
	"psclient": "proxyware (PacketStream)", "peer2profit": "proxyware (Peer2Profit)", "tun2socks": "tun2socks",
	"traffmonetizer": "proxyware (TraffMonetizer)", "earnapp": "proxyware (EarnApp)", "repocket": "proxyware (Repocket)",
}

// checkTunnels: reverse tunnels, anonymizers and proxyware.
func checkTunnels(s *subject) []hit {
	var hits []hit
	s.commands(func(sc *script, i int, c *shellCmd) {
		n := cmdBase(c.args[0])
		if what, ok := tunnelTools[n]; ok && (n != "lt" || hasFlag(c.args, "--port")) && (n != "cloudflared" || strings.Contains(strings.Join(c.args, " "), "tunnel")) {
			hits = append(hits, scriptHit(sc, what, c.raw, 0))
			return
		}
		if n == "ssh" && (hasFlag(c.args, "-R", "-D") || containsShortFlag(c.args, 'R')) {
			hits = append(hits, scriptHit(sc, "SSH reverse/dynamic tunnel", c.raw, SeverityMedium))
		}
	})
	return hits
}

// checkRawIP: URLs or host:port endpoints that are public IP literals.
func checkRawIP(s *subject) []hit {
	var hits []hit
	seen := map[string]bool{}
	for _, sc := range s.scripts {
		for i := range sc.cmds {
			c := &sc.cmds[i]
			joined := strings.Join(c.args, " ")
			for _, r := range c.redirs {
				joined += " " + r.target
			}
			ips := publicIPsIn(joined)
			if len(ips) == 0 || seen[sc.path+ips[0]] {
				continue
			}
			if looksLikeVersion(joined, ips[0]) {
				continue
			}
			seen[sc.path+ips[0]] = true
			hits = append(hits, scriptHit(sc, "connects to raw public IP "+ipOnly(ips[0]), c.raw, 0))
		}
	}
	for _, e := range s.envs {
		if ips := publicIPsIn(e.value); len(ips) > 0 && (strings.Contains(e.value, "://") || strings.Contains(ips[0], ":")) {
			hits = append(hits, hit{container: e.container, path: e.path, evidence: "raw public IP endpoint in the value of env " + e.name + " (value redacted)"})
		}
	}
	return hits
}

func ipOnly(s string) string { h, _, _ := strings.Cut(s, ":"); return h }

func looksLikeVersion(text, ip string) bool {
	i := strings.Index(text, ip)
	return i > 0 && (text[i-1] == 'v' || text[i-1] == '-' || text[i-1] == '@')
}

// checkEvasion: clearing traces, disabling defences, killing competitors,
// miner tuning of the host.
func checkEvasion(s *subject) []hit {
	var hits []hit
	s.commands(func(sc *script, i int, c *shellCmd) {
		n := cmdBase(c.args[0])
		joined := strings.ToLower(strings.Join(c.args, " "))
		var why string
		switch {
		case n == "history" && hasFlag(c.args, "-c"):
			why = "clears shell history"
		case n == "unset" && strings.Contains(joined, "histfile"):
			why = "disables shell history"
		case n == "chattr":
			why = "changes immutable file attributes"
		case n == "setenforce" && strings.Contains(joined, " 0"):
			why = "disables SELinux"
		case n == "ufw" && strings.Contains(joined, "disable"), n == "iptables" && hasFlag(c.args, "-F", "--flush"):
			why = "disables the firewall"
		case (n == "pkill" || n == "killall" || n == "kill") && evasionKillRe.MatchString(joined):
			why = "kills security agents or rival miners"
		case (n == "systemctl" || n == "service") && (strings.Contains(joined, "stop") || strings.Contains(joined, "disable")) && evasionKillRe.MatchString(joined):
			why = "stops security services"
		case n == "rm" && (strings.Contains(joined, "/var/log") || strings.Contains(joined, "bash_history") || strings.Contains(joined, "/tmp/.") || strings.Contains(joined, "wtmp")) && !strings.Contains(joined, "-mtime"):
			why = "deletes logs or traces"
		case n == "sysctl" && strings.Contains(joined, "nr_hugepages"), n == "modprobe" && strings.Contains(joined, "msr"):
			why = "tunes the kernel for mining"
		case n == "echo" && hasRedirTo(c, "nmi_watchdog"):
			why = "tunes the kernel for mining"
		}
		if why == "" {
			for _, r := range c.redirs {
				if r.op == ">" && (strings.HasPrefix(r.target, "/var/log/") || strings.Contains(r.target, "bash_history")) && n != "echo" && n != "printf" {
					why = "truncates logs"
				}
			}
		}
		if why != "" {
			hits = append(hits, scriptHit(sc, why, c.raw, 0))
		}
	})
	return hits
}

var evasionKillRe = regexp.MustCompile(`aliyun|aegis|yunjing|cloudmonitor|falco|sysdig|auditd|osquery|crowdstrike|falcon-sensor|wazuh|ossec|xmrig|kinsing|kdevtmpfsi|minerd|cryptonight|apparmor|qcloud|bcm-agent|edr`)

func hasRedirTo(c *shellCmd, frag string) bool {
	for _, r := range c.redirs {
		if strings.Contains(r.target, frag) {
			return true
		}
	}
	return false
}

// checkObfuscation: command names assembled from quotes, escapes, $IFS or
// decoded substitutions.
func checkObfuscation(s *subject) []hit {
	var hits []hit
	for _, sc := range s.scripts {
		for i := range sc.cmds {
			c := &sc.cmds[i]
			if c.obfuscated && len(c.args) > 0 {
				hits = append(hits, scriptHit(sc, "command name obfuscated ("+cmdBase(c.args[0])+")", c.raw, 0))
			}
		}
	}
	return hits
}
