package analyze

import (
	"fmt"
	"regexp"
	"strings"
)

// Payload detectors: each reads the parsed scripts and inline code of a
// subject and returns hits. They are the checks of the JW-EXEC, JW-ESC,
// JW-CRED, JW-K8S and JW-NET rules in rules.go.

// hit is a rule match before it becomes a Finding.
type hit struct {
	container string
	path      string
	evidence  string
	severity  Severity // zero: the rule's default
}

// scriptHit builds a hit for command text in script sc, never quoting the
// value of an environment variable.
func scriptHit(sc *script, what, raw string, sev Severity) hit {
	return hit{container: sc.container, path: sc.path, evidence: evidenceFor(sc.origin, what, raw), severity: sev}
}

func evidenceFor(origin, what, raw string) string {
	switch {
	case strings.HasPrefix(origin, "env "):
		return fmt.Sprintf("%s in the value of %s (value redacted)", what, origin)
	case origin == "decoded":
		return what + ": (decoded base64) " + clip(Redact(prefix(raw, 1000)), 160)
	default:
		if raw == "" {
			return what
		}
		return what + ": " + clip(Redact(prefix(raw, 1000)), 160)
	}
}

// prefix bounds the text redaction has to scan; evidence shows far less.
func prefix(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// downloadSeverity grades a fetch-and-run by where the code comes from.
func (s *subject) downloadSeverity(url string) Severity {
	switch s.a.classifyHost(hostOf(url)) {
	case hostTrusted:
		return SeverityLow
	case hostInternal, hostCodeSite:
		return SeverityMedium
	default:
		return SeverityHigh
	}
}

// checkDownloadExec: curl|sh, sh -c "$(curl …)", bash <(wget -O- …),
// fetch to a file then chmod +x / run it, X=$(curl …); eval "$X".
func checkDownloadExec(s *subject) []hit {
	var hits []hit
	for _, sc := range s.scripts {
		downloaded := map[string]int{} // file -> downloader index
		tainted := map[string]int{}
		for i := range sc.cmds {
			c := &sc.cmds[i]
			if !isDownloader(c.args) {
				continue
			}
			url := downloadTarget(c.args)
			sev := s.downloadSeverity(url)
			if j, ok := pipesIntoProgram(sc, i); ok {
				hits = append(hits, scriptHit(sc, "download piped into "+cmdBase(sc.cmds[j].args[0]), c.raw+" | "+sc.cmds[j].raw, sev))
				continue
			}
			if p := c.parent; p >= 0 {
				pc := &sc.cmds[p]
				if executesWords(pc) {
					hits = append(hits, scriptHit(sc, "downloaded content executed by "+cmdBase(pc.args[0]), pc.raw, sev))
					continue
				}
				for _, v := range pc.assigns {
					tainted[v] = i
				}
			}
			if out := downloadOutput(c); out != "" {
				downloaded[out] = i
			}
		}
		for i := range sc.cmds {
			c := &sc.cmds[i]
			if len(c.args) == 0 {
				continue
			}
			for file, d := range downloaded {
				if d >= i {
					continue
				}
				sev := s.downloadSeverity(downloadTarget(sc.cmds[d].args))
				switch {
				case isChmodExec(c.args) && sameFile(c.args[len(c.args)-1], file):
					hits = append(hits, scriptHit(sc, "downloaded file made executable", sc.cmds[d].raw+"; "+c.raw, sev))
				case sameFile(c.args[0], file) || (isShell(cmdBase(c.args[0])) || isInterpreter(cmdBase(c.args[0])) || c.args[0] == "source" || c.args[0] == ".") && len(c.args) > 1 && sameFile(firstOperand(c.args), file):
					hits = append(hits, scriptHit(sc, "downloaded file executed", sc.cmds[d].raw+"; "+c.raw, sev))
				default:
					continue
				}
				delete(downloaded, file)
			}
			for v, d := range tainted {
				if d < i && executesVar(sc, i, v) {
					hits = append(hits, scriptHit(sc, "downloaded content in $"+v+" executed", sc.cmds[d].raw+"; "+c.raw, s.downloadSeverity(downloadTarget(sc.cmds[d].args))))
					delete(tainted, v)
				}
			}
		}
	}
	for _, cs := range s.codes {
		if codeDownloadExecRe[cs.lang] != nil && codeDownloadExecRe[cs.lang].MatchString(cs.code) {
			sev := SeverityHigh
			if u := urlsIn(cs.code); len(u) > 0 {
				sev = s.downloadSeverity(u[0])
			}
			hits = append(hits, hit{container: cs.container, path: cs.path, evidence: evidenceFor(cs.origin, cs.lang+" fetches code and runs it", cs.code), severity: sev})
		}
	}
	return hits
}

var codeDownloadExecRe = map[string]*regexp.Regexp{
	"python":     regexp.MustCompile(`(?s)(urllib|urlopen|requests\.get|http\.client).*(exec\(|eval\(|os\.system|subprocess|os\.chmod|\.write\()`),
	"perl":       regexp.MustCompile(`(?s)(LWP::|HTTP::Tiny|getstore|get\().*(system|exec|eval|chmod)`),
	"ruby":       regexp.MustCompile(`(?s)(open-uri|Net::HTTP|URI\.open).*(system|exec|eval|` + "`" + `)`),
	"php":        regexp.MustCompile(`(?s)(file_get_contents|fopen|curl_exec)\s*\(\s*["']https?://.*(eval|system|exec|shell_exec|passthru)`),
	"node":       regexp.MustCompile(`(?s)(https?\.get|fetch\(|axios|request\().*(eval\(|child_process|execSync|new Function)`),
	"powershell": regexp.MustCompile(`(?i)(iwr|invoke-webrequest|downloadstring|downloadfile|net\.webclient).*(iex|invoke-expression|start-process)`),
}

// pipesIntoProgram follows the pipeline from command i through decoders and
// filters to a stage that executes its input.
func pipesIntoProgram(sc *script, i int) (int, bool) {
	cur := i
	for steps := 0; steps < 8; steps++ {
		next := -1
		for j := cur + 1; j < len(sc.cmds); j++ {
			if sc.cmds[j].pipeFrom == cur {
				next = j
				break
			}
		}
		if next < 0 {
			return 0, false
		}
		if readsStdinAsProgram(sc.cmds[next].args) {
			return next, true
		}
		if !isPassThrough(sc.cmds[next].args) && !isBase64Decoder(sc.cmds[next].args) {
			return 0, false
		}
		cur = next
	}
	return 0, false
}

// executesWords reports whether a command runs the text of its arguments or
// here-string: sh -c "$(…)", eval "$(…)", bash <(…), bash <<< "$(…)", source <(…).
func executesWords(c *shellCmd) bool {
	if len(c.args) == 0 {
		return false
	}
	n := cmdBase(c.args[0])
	switch {
	case n == "eval", n == "source", n == ".", n == "exec":
		return true
	case isShell(n), isInterpreter(n):
		return true
	}
	return false
}

func firstOperand(args []string) string {
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}

// executesVar reports whether command i runs the content of variable v:
// eval "$v", sh -c "$v", echo "$v" | sh.
func executesVar(sc *script, i int, v string) bool {
	c := &sc.cmds[i]
	ref := "$" + v
	uses := false
	for _, a := range c.args[1:] {
		if strings.Contains(a, ref) {
			uses = true
		}
	}
	if !uses {
		return false
	}
	n := cmdBase(c.args[0])
	if n == "eval" || n == "source" || n == "." {
		return true
	}
	if isShell(n) && shellScriptArg(c.args) >= 0 {
		return true
	}
	if n == "echo" || n == "printf" {
		_, ok := pipesIntoProgram(sc, i)
		return ok
	}
	return false
}

// checkReverseShell: /dev/tcp redirections, bash -i >&, nc -e, ncat
// --sh-exec, socat exec:, mkfifo pipelines, and socket one-liners.
func checkReverseShell(s *subject) []hit {
	var hits []hit
	for _, sc := range s.scripts {
		fifo := false
		for i := range sc.cmds {
			c := &sc.cmds[i]
			if len(c.args) == 0 {
				continue
			}
			n := cmdBase(c.args[0])
			if n == "mkfifo" || n == "mknod" && hasFlag(c.args, "p") {
				fifo = true
			}
			if w := devTCP(c); w != "" {
				hits = append(hits, scriptHit(sc, "shell connected to "+w, c.raw, 0))
				continue
			}
			switch n {
			case "nc", "ncat", "netcat", "nc.traditional", "nc.openbsd":
				if hasFlag(c.args, "-e", "-c", "--exec", "--sh-exec", "--lua-exec") || containsShortFlag(c.args, 'e') {
					hits = append(hits, scriptHit(sc, n+" executing a shell for a remote peer", c.raw, 0))
					continue
				}
				if fifo || pipedWithInteractiveShell(sc, i) {
					hits = append(hits, scriptHit(sc, "shell piped through "+n+" (fifo relay)", c.raw, 0))
					continue
				}
			case "socat":
				joined := strings.ToLower(strings.Join(c.args, " "))
				if (strings.Contains(joined, "exec:") || strings.Contains(joined, "system:")) && socatNetRe.MatchString(joined) {
					hits = append(hits, scriptHit(sc, "socat bridging a shell to the network", c.raw, 0))
					continue
				}
			case "telnet":
				if fifo || pipedWithInteractiveShell(sc, i) {
					hits = append(hits, scriptHit(sc, "shell piped through telnet", c.raw, 0))
					continue
				}
			case "xterm":
				if hasFlag(c.args, "-display") {
					hits = append(hits, scriptHit(sc, "xterm to a remote display", c.raw, 0))
					continue
				}
			}
		}
	}
	for _, cs := range s.codes {
		if re := codeRevShellRe[cs.lang]; re != nil && re.MatchString(cs.code) {
			hits = append(hits, hit{container: cs.container, path: cs.path, evidence: evidenceFor(cs.origin, cs.lang+" socket wired to a shell", cs.code)})
		}
	}
	return hits
}

var codeRevShellRe = map[string]*regexp.Regexp{
	"python":     regexp.MustCompile(`(?s)socket.*(connect|create_connection).*(dup2|pty\.spawn|subprocess|/bin/(ba)?sh|os\.system)`),
	"perl":       regexp.MustCompile(`(?s)(socket|IO::Socket).*(open\s*\(\s*STD|exec|system|/bin/(ba)?sh)`),
	"ruby":       regexp.MustCompile(`(?s)TCPSocket.*(exec|spawn|system|/bin/(ba)?sh|IO\.popen)`),
	"php":        regexp.MustCompile(`(?s)fsockopen.*(exec|shell_exec|system|passthru|proc_open|popen)`),
	"node":       regexp.MustCompile(`(?s)(net\.Socket|net\.connect|require\(.net.\)).*(child_process|spawn|/bin/(ba)?sh)`),
	"lua":        regexp.MustCompile(`(?s)socket.*tcp.*(io\.popen|os\.execute)`),
	"awk":        regexp.MustCompile(`/inet/tcp/`),
	"powershell": regexp.MustCompile(`(?i)net\.sockets\.tcpclient.*(iex|invoke-expression)`),
}

// socatNetRe matches socat network address types (TCP, TLS, UDP, SCTP, SOCKS, proxies).
var socatNetRe = regexp.MustCompile(`(^|[\s,!])(tcp[46]?(-connect|-listen)?|openssl(-connect|-listen)?|ssl|udp[46]?(-connect|-sendto|-listen)?|sctp[46]?(-connect)?|socks[45a]?|proxy(-connect)?):`)

// devTCP returns the /dev/tcp or /dev/udp endpoint a command talks to.
func devTCP(c *shellCmd) string {
	for _, r := range c.redirs {
		if strings.HasPrefix(r.target, "/dev/tcp/") || strings.HasPrefix(r.target, "/dev/udp/") {
			return r.target
		}
	}
	for _, a := range c.args {
		if i := strings.Index(a, "/dev/tcp/"); i >= 0 {
			return a[i:]
		}
		if i := strings.Index(a, "/dev/udp/"); i >= 0 {
			return a[i:]
		}
	}
	return ""
}

func containsShortFlag(args []string, f rune) bool {
	for _, a := range args[1:] {
		if len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.ContainsRune(a[1:], f) && len(a) <= 6 {
			return true
		}
	}
	return false
}

// pipedWithInteractiveShell reports whether the pipeline around command i
// also holds an interactive shell (sh -i | nc host port).
func pipedWithInteractiveShell(sc *script, i int) bool {
	for j := range sc.cmds {
		if j == i {
			continue
		}
		if sc.cmds[j].pipeFrom == i || sc.cmds[i].pipeFrom == j {
			args := sc.cmds[j].args
			if len(args) > 0 && isShell(cmdBase(args[0])) && (hasFlag(args, "-i") || len(args) == 1) {
				return true
			}
		}
	}
	return false
}

// checkEncodedPayload: base64 -d into a shell, eval of decoded data, env
// payloads that get executed, long encoded blobs.
func checkEncodedPayload(s *subject) []hit {
	var hits []hit
	envNames := map[string]bool{}
	for _, e := range s.envs {
		if base64Payload(e.value) != "" || looksLikeScript(e.value) {
			envNames[e.name] = true
		}
	}
	for _, sc := range s.scripts {
		for i := range sc.cmds {
			c := &sc.cmds[i]
			if len(c.args) == 0 {
				continue
			}
			if isBase64Decoder(c.args) {
				if j, ok := pipesIntoProgram(sc, i); ok {
					hits = append(hits, scriptHit(sc, "decoded data piped into "+cmdBase(sc.cmds[j].args[0]), c.raw+" | "+sc.cmds[j].raw, 0))
					continue
				}
				if p := c.parent; p >= 0 && executesWords(&sc.cmds[p]) {
					hits = append(hits, scriptHit(sc, "decoded data executed by "+cmdBase(sc.cmds[p].args[0]), sc.cmds[p].raw, 0))
					continue
				}
			}
			for name := range envNames {
				if executesVar(sc, i, name) {
					hits = append(hits, hit{container: sc.container, path: sc.path, evidence: fmt.Sprintf("executes the content of env %s (value redacted): %s", name, clip(Redact(c.raw), 120))})
				}
			}
			for _, a := range c.args[1:] {
				if len(a) >= 400 && base64Payload(a) == "" && isBase64Blob(a) {
					hits = append(hits, scriptHit(sc, fmt.Sprintf("%d-byte encoded blob in the command line", len(a)), clip(a, 40), SeverityMedium))
				}
			}
		}
	}
	for _, cs := range s.codes {
		if codeDecodeExecRe.MatchString(cs.code) {
			hits = append(hits, hit{container: cs.container, path: cs.path, evidence: evidenceFor(cs.origin, cs.lang+" decodes data and executes it", cs.code)})
		}
	}
	return hits
}

var codeDecodeExecRe = regexp.MustCompile(`(?is)(exec|eval|system|iex|invoke-expression|Function)\s*\(?.{0,40}(b64decode|base64_decode|decode64|frombase64string|atob|Buffer\.from\([^)]*base64|unpack\(["']m)`)

// isBase64Blob reports whether a uses only the standard base64 alphabet.
func isBase64Blob(a string) bool {
	for i := 0; i < len(a); i++ {
		switch c := a[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

// checkMining: miner binaries, stratum URLs, pools, miner flags, wallets.
func checkMining(s *subject) []hit {
	var hits []hit
	seen := map[string]bool{}
	add := func(h hit) {
		if !seen[h.path] {
			seen[h.path] = true
			hits = append(hits, h)
		}
	}
	for _, sc := range s.scripts {
		for i := range sc.cmds {
			c := &sc.cmds[i]
			if len(c.args) == 0 {
				continue
			}
			if minerBinaries[cmdBase(c.args[0])] {
				add(scriptHit(sc, "crypto-miner "+cmdBase(c.args[0]), c.raw, 0))
				continue
			}
			joined := strings.Join(c.args, " ")
			if why := miningSignal(joined, c.args); why != "" {
				add(scriptHit(sc, why, c.raw, 0))
			}
		}
	}
	for _, e := range s.envs {
		if why := miningSignal(e.value, nil); why != "" {
			add(hit{container: e.container, path: e.path, evidence: fmt.Sprintf("%s in the value of env %s (value redacted)", why, e.name)})
		}
	}
	for _, cs := range s.codes {
		if why := miningSignal(cs.code, nil); why != "" {
			add(hit{container: cs.container, path: cs.path, evidence: evidenceFor(cs.origin, why, cs.code)})
		}
	}
	return hits
}

var minerBinaries = map[string]bool{
	"xmrig": true, "xmrig-notls": true, "xmr-stak": true, "xmr-stak-rx": true, "cpuminer": true, "cpuminer-multi": true,
	"cpuminer-opt": true, "minerd": true, "ccminer": true, "t-rex": true, "nbminer": true, "lolminer": true,
	"phoenixminer": true, "ethminer": true, "nanominer": true, "srbminer": true, "srbminer-multi": true, "cgminer": true,
	"bfgminer": true, "nheqminer": true, "gminer": true, "teamredminer": true, "dero-miner": true, "dero-miner-linux-amd64": true,
	"hellminer": true, "xmrig-proxy": true, "kdevtmpfsi": true, "kinsing": true, "kthreaddi": true, "dbused": true, "sysupdate": true,
}

var (
	stratumRe = regexp.MustCompile(`(?i)stratum\d?\+(tcp|ssl|tls)://`)
	moneroRe  = regexp.MustCompile(`\b[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}\b`)
	deroRe    = regexp.MustCompile(`\bdero1q[0-9a-z]{50,}\b`)
)

// poolToken returns the first host label of lower that names a mining pool.
func poolToken(lower string) string {
	start := -1
	for i := 0; i <= len(lower); i++ {
		var c byte
		if i < len(lower) {
			c = lower[i]
		}
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			if poolSet[lower[start:i]] {
				return lower[start:i]
			}
			start = -1
		}
	}
	return ""
}

var poolSet = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range poolNames {
		m[p] = true
	}
	return m
}()

var poolNames = []string{"supportxmr", "minexmr", "moneroocean", "nanopool", "f2pool", "2miners", "hashvault", "c3pool",
	"minergate", "herominers", "nicehash", "unmineable", "xmrpool", "dwarfpool", "ethermine", "monerohash", "xmrfast",
	"hashcity", "prohashing", "zpool", "mining-dutch", "woolypooly", "kryptex", "rabidmining", "miningocean", "p2pool",
	"rplant", "zergpool", "viabtc", "antpool", "poolin"}

var minerFlags = []string{"--donate-level", "--randomx", "--daemon-rpc-address", "--mining-threads", "--cpu-max-threads-hint",
	"-a rx/0", "--algo=rx/0", "--coin=monero", "--coin monero", "cryptonight"}

// miningSignal names the strongest mining indicator in text, or "". Cheap
// substring tests guard the regular expressions (this runs on every word).
func miningSignal(text string, args []string) string {
	lower := strings.ToLower(text)
	if strings.Contains(lower, "stratum") && stratumRe.MatchString(text) {
		return "stratum mining-pool URL"
	}
	if p := poolToken(lower); p != "" && (strings.Contains(text, ":") || hasFlag(args, "-o", "--url", "-u", "--user")) {
		return "known mining pool " + p
	}
	if longestBase58Run(text) >= 95 && moneroRe.MatchString(text) {
		return "Monero wallet address"
	}
	if strings.Contains(text, "dero1q") && deroRe.MatchString(text) {
		return "Dero wallet address"
	}
	for _, f := range minerFlags {
		if strings.Contains(lower, f) {
			return "miner option " + f
		}
	}
	return ""
}

func longestBase58Run(s string) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}
