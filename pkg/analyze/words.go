package analyze

import (
	"net"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// Predicates over command words, shared by the payload rules.

var shells = map[string]bool{
	"sh": true, "bash": true, "ash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true,
	"csh": true, "tcsh": true, "fish": true, "busybox": true,
}

var interpreters = map[string]string{ // name -> language
	"python": "python", "python2": "python", "python3": "python", "perl": "perl", "ruby": "ruby",
	"php": "php", "node": "node", "nodejs": "node", "lua": "lua", "pwsh": "powershell",
	"powershell": "powershell", "powershell.exe": "powershell", "awk": "awk", "gawk": "awk",
}

// interpName maps python3.12 and friends to their interpreter name.
func interpName(name string) string {
	for _, p := range []string{"python", "perl", "ruby", "php", "node"} {
		if strings.HasPrefix(name, p) {
			rest := strings.TrimLeft(name[len(p):], "0123456789.")
			if rest == "" {
				return p
			}
		}
	}
	return name
}

func isShell(name string) bool { return shells[name] }

func isInterpreter(name string) bool {
	_, ok := interpreters[interpName(name)]
	return ok
}

// shellScriptArg returns the index of the -c script argument of a shell
// command line, or -1.
func shellScriptArg(args []string) int {
	if len(args) < 2 {
		return -1
	}
	start := 1
	if cmdBase(args[0]) == "busybox" && len(args) > 2 && isShell(cmdBase(args[1])) {
		start = 2
	}
	for i := start; i < len(args); i++ {
		a := args[i]
		if a == "-o" || a == "+o" || a == "-O" {
			i++
			continue
		}
		if a == "--" {
			continue
		}
		if strings.HasPrefix(a, "--") {
			continue
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			if strings.ContainsRune(a[1:], 'c') {
				if i+1 < len(args) {
					return i + 1
				}
				return -1
			}
			continue
		}
		return -1
	}
	return -1
}

// interpCodeArg returns the index of inline code of an interpreter
// (python -c CODE, perl -e CODE, ruby -e, php -r, node -e, pwsh -Command), or -1.
func interpCodeArg(args []string) int {
	if len(args) < 2 {
		return -1
	}
	lang := interpreters[interpName(cmdBase(args[0]))]
	for i := 1; i < len(args)-1; i++ {
		a := args[i]
		switch lang {
		case "python":
			if a == "-c" || (strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.HasSuffix(a, "c")) {
				return i + 1
			}
		case "perl", "ruby":
			if a == "-e" || a == "-E" || (strings.HasPrefix(a, "-") && strings.HasSuffix(a, "e")) {
				return i + 1
			}
		case "php":
			if a == "-r" {
				return i + 1
			}
		case "node":
			if a == "-e" || a == "--eval" || a == "-p" {
				return i + 1
			}
		case "powershell":
			la := strings.ToLower(a)
			if la == "-command" || la == "-c" || la == "-encodedcommand" || la == "-enc" || la == "-e" {
				return i + 1
			}
		case "awk":
			if !strings.HasPrefix(a, "-") {
				return i
			}
		}
		if !strings.HasPrefix(a, "-") {
			return -1
		}
	}
	return -1
}

// readsStdinAsProgram reports whether the command executes what arrives on
// its standard input: `sh`, `bash -s`, `python3 -`, `sh -i`.
func readsStdinAsProgram(args []string) bool {
	if len(args) == 0 {
		return false
	}
	name := cmdBase(args[0])
	if name == "busybox" && len(args) > 1 {
		args = args[1:]
		name = cmdBase(args[0])
	}
	if !isShell(name) && !isInterpreter(name) && name != "source" && name != "." {
		return false
	}
	if isInterpreter(name) && interpreters[interpName(name)] == "awk" {
		return false
	}
	for _, a := range args[1:] {
		if a == "-" || a == "-s" || a == "/dev/stdin" {
			return true
		}
		if strings.HasPrefix(a, "-") {
			if isShell(name) && strings.ContainsRune(a, 'c') && !strings.HasPrefix(a, "--") {
				return false
			}
			continue
		}
		return false // a script file or code argument
	}
	return true
}

var downloaders = map[string]bool{
	"curl": true, "wget": true, "aria2c": true, "fetch": true, "lwp-download": true,
	"lwp-request": true, "tftp": true, "axel": true, "http": true, "https": true, "xh": true,
}

func isDownloader(args []string) bool {
	if len(args) == 0 {
		return false
	}
	n := cmdBase(args[0])
	if n == "busybox" && len(args) > 1 {
		n = cmdBase(args[1])
	}
	if !downloaders[n] {
		return false
	}
	// curl -X POST/-d with no output: an upload or API call, not a fetch of code.
	return true
}

// isBase64Decoder matches `base64 -d`, `base64 --decode`, `openssl base64 -d`,
// `openssl enc -d -base64`, `xxd -r -p`, `basenc -d`.
func isBase64Decoder(args []string) bool {
	if len(args) == 0 {
		return false
	}
	n := cmdBase(args[0])
	has := func(flags ...string) bool {
		for _, a := range args[1:] {
			for _, f := range flags {
				if a == f || (len(f) == 2 && strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.ContainsRune(a[1:], rune(f[1]))) {
					return true
				}
			}
		}
		return false
	}
	switch n {
	case "base64", "base32", "basenc", "b64decode":
		return has("-d", "--decode", "-D")
	case "openssl":
		return has("-d") && (has("-base64", "-a", "-A") || (len(args) > 1 && args[1] == "base64"))
	case "xxd":
		return has("-r")
	case "uudecode", "gunzip", "zcat":
		return n == "uudecode"
	}
	return false
}

// isDecompressor matches stages that may sit between a fetch and a shell.
func isPassThrough(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch cmdBase(args[0]) {
	case "gunzip", "zcat", "gzip", "bzip2", "xz", "unxz", "tr", "rev", "sed", "cat", "tee", "dd", "base64", "openssl", "xxd":
		return true
	}
	return false
}

var urlRe = regexp.MustCompile(`(?i)\b(?:https?|ftp|tftp)://[^\s'"<>|;&)]+`)

// urlsIn returns the URLs in s, plus scheme-less host/path arguments of
// downloaders (wget example.com/x).
func urlsIn(s string) []string { return urlRe.FindAllString(s, -1) }

// downloadTarget returns the URL a downloader fetches, if any.
func downloadTarget(args []string) string {
	for _, a := range args[1:] {
		if u := urlRe.FindString(a); u != "" {
			return u
		}
	}
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") {
			continue
		}
		if h, _, ok := strings.Cut(a, "/"); ok && (net.ParseIP(strings.Split(h, ":")[0]) != nil || strings.Contains(h, ".")) && !strings.HasPrefix(a, "/") && !strings.HasPrefix(a, ".") {
			return "http://" + a
		}
	}
	return ""
}

// hostOf returns the lower-cased host of a URL.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// hostClass is how trustworthy a download host is.
type hostClass int

const (
	hostExternal hostClass = iota // an ordinary internet domain
	hostTrusted                   // a well-known release/installer host
	hostInternal                  // cluster-internal or private
	hostRawIP                     // a public IP literal
	hostCodeSite                  // a code-hosting site anyone can publish to
)

// codeSites serve files anyone can publish: installers live there, and so
// do attackers' scripts.
var codeSites = []string{"raw.githubusercontent.com", "gist.githubusercontent.com", "gitlab.com", "bitbucket.org", "codeberg.org"}

func isPublicIP(ip net.IP) bool {
	return ip != nil && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() && !ip.IsMulticast() &&
		!isCGNAT(ip)
}

// isCGNAT reports whether ip is in 100.64.0.0/10 (carrier-grade NAT, RFC 6598).
func isCGNAT(ip net.IP) bool {
	v4 := ip.To4()
	return v4 != nil && v4[0] == 100 && v4[1]&0xc0 == 64
}

func (a *Analyzer) classifyHost(host string) hostClass {
	if host == "" {
		return hostExternal
	}
	if ip := net.ParseIP(host); ip != nil {
		if isPublicIP(ip) {
			return hostRawIP
		}
		return hostInternal
	}
	if host == "localhost" || !strings.Contains(host, ".") || strings.HasSuffix(host, ".svc") ||
		strings.HasSuffix(host, ".cluster.local") || strings.Contains(host, ".svc.") || strings.HasSuffix(host, ".internal") && !strings.HasPrefix(host, "metadata.") || strings.HasSuffix(host, ".local") {
		return hostInternal
	}
	for _, t := range a.opts.TrustedDownloadHosts {
		if host == t || strings.HasSuffix(host, "."+t) {
			return hostTrusted
		}
	}
	for _, t := range codeSites {
		if host == t {
			return hostCodeSite
		}
	}
	return hostExternal
}

// publicIPsIn returns public IPv4 literals (with optional :port) in s,
// found by a scan rather than a regular expression (it runs on every word).
func publicIPsIn(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' || i > 0 && (s[i-1] >= '0' && s[i-1] <= '9' || s[i-1] == '.') {
			continue
		}
		j, dots := i, 0
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			if s[j] == '.' {
				dots++
			}
			j++
		}
		cand := strings.TrimSuffix(s[i:j], ".")
		if dots < 3 || strings.Count(cand, ".") != 3 {
			i = j
			continue
		}
		ip := net.ParseIP(cand)
		if ip != nil && isPublicIP(ip) {
			end := i + len(cand)
			if end < len(s) && s[end] == ':' {
				k := end + 1
				for k < len(s) && s[k] >= '0' && s[k] <= '9' {
					k++
				}
				if k > end+1 {
					cand = s[i:k]
				}
			}
			out = append(out, cand)
		}
		i = j
	}
	return out
}

// hasFlag reports whether args contain any of flags (exact match, or a
// short-flag cluster containing the letter for single-letter flags).
func hasFlag(args []string, flags ...string) bool {
	for _, a := range args[1:] {
		for _, f := range flags {
			if a == f || strings.HasPrefix(a, f+"=") {
				return true
			}
		}
	}
	return false
}

// flagValue returns the value of the first of flags (-o FILE, -oFILE,
// -so FILE, -qO-, --output=FILE).
func flagValue(args []string, flags ...string) (string, bool) {
	for i := 1; i < len(args); i++ {
		a := args[i]
		for _, f := range flags {
			if a == f && i+1 < len(args) {
				return args[i+1], true
			}
			if strings.HasPrefix(f, "--") {
				if strings.HasPrefix(a, f+"=") {
					return a[len(f)+1:], true
				}
				continue
			}
			// A cluster of single-letter flags ending in, or followed by
			// the value of, this one.
			if len(f) != 2 || len(a) < 2 || a[0] != '-' || a[1] == '-' {
				continue
			}
			k := strings.IndexByte(a[1:], f[1])
			if k < 0 || strings.IndexFunc(a[1:1+k], func(r rune) bool { return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') }) >= 0 {
				continue
			}
			rest := a[2+k:]
			if rest != "" {
				return rest, true
			}
			if i+1 < len(args) {
				return args[i+1], true
			}
		}
	}
	return "", false
}

// downloadOutput returns the file a downloader writes, if any.
func downloadOutput(c *shellCmd) string {
	args := c.args
	n := cmdBase(args[0])
	if n == "busybox" && len(args) > 1 {
		args = args[1:]
		n = cmdBase(args[0])
	}
	switch n {
	case "curl":
		if v, ok := flagValue(args, "-o", "--output"); ok && v != "-" {
			return v
		}
		if hasFlag(args, "-O", "--remote-name", "-LO", "-sLO", "-fsSLO", "-fLO", "-sO", "-kO") {
			return path.Base(strings.SplitN(downloadTarget(args), "?", 2)[0])
		}
	case "wget":
		if v, ok := flagValue(args, "-O", "--output-document"); ok {
			if v == "-" {
				return ""
			}
			return v
		}
		if hasFlag(args, "-qO-", "-O-", "-q-O-") {
			return ""
		}
		dir, _ := flagValue(args, "-P", "--directory-prefix")
		if t := downloadTarget(args); t != "" {
			b := path.Base(strings.SplitN(t, "?", 2)[0])
			if dir != "" {
				return strings.TrimSuffix(dir, "/") + "/" + b
			}
			return b
		}
	default:
		if v, ok := flagValue(args, "-o", "-O", "--output"); ok {
			return v
		}
	}
	for _, r := range c.redirs {
		if r.op == ">" || r.op == ">>" {
			return r.target
		}
	}
	return ""
}

// sameFile reports whether a command word refers to a downloaded file.
func sameFile(word, file string) bool {
	if word == "" || file == "" {
		return false
	}
	w := strings.TrimPrefix(word, "./")
	f := strings.TrimPrefix(file, "./")
	return w == f || path.Base(w) == path.Base(f) && (strings.HasPrefix(word, "./") || strings.HasPrefix(word, "/") || strings.HasPrefix(file, "/") && path.Base(w) == w)
}

// isChmodExec matches chmod +x / 7xx / a+x / u+x.
func isChmodExec(args []string) bool {
	if len(args) < 3 || cmdBase(args[0]) != "chmod" {
		return false
	}
	for _, a := range args[1 : len(args)-1] {
		if strings.Contains(a, "+x") || strings.Contains(a, "+rwx") || len(a) >= 3 && len(a) <= 4 && strings.Trim(a, "01234567") == "" && strings.ContainsAny(a[len(a)-3:len(a)-2], "1357") {
			return true
		}
	}
	return false
}
