package analyze

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// subject is everything the rules read about one object, computed once per
// Analyze call: containers with their paths, the scripts and inline code they
// run, images, host mounts and pod-level facts.
type subject struct {
	a          *Analyzer
	obj        *Object
	spec       *corev1.PodSpec
	specPath   string
	containers []container
	scripts    []*script
	codes      []codeSnippet
	images     []imageUse
	envs       []envValue
	mounts     []hostMount // hostPath volumes mounted by containers
}

// codeSnippet is inline interpreter code (python -c, perl -e, …).
type codeSnippet struct {
	lang, code, path, container, origin string
}

type envValue struct {
	name, value, path, container string
}

type imageUse struct {
	ref       imageRef
	raw       string
	path      string
	container string
}

// hostMount is a hostPath volume as one container sees it.
type hostMount struct {
	volume    *corev1.Volume
	hostPath  string // cleaned host path
	mountPath string // where the container sees it ("" when not mounted)
	readOnly  bool
	container string
	path      string // field path of the volume
}

func newSubject(a *Analyzer, obj *Object) *subject {
	s := &subject{a: a, obj: obj, spec: &obj.Template.Spec, specPath: obj.TemplatePath + ".spec"}
	for i := range s.spec.InitContainers {
		s.containers = append(s.containers, container{c: &s.spec.InitContainers[i], path: fmt.Sprintf("%s.initContainers[%d]", s.specPath, i)})
	}
	for i := range s.spec.Containers {
		s.containers = append(s.containers, container{c: &s.spec.Containers[i], path: fmt.Sprintf("%s.containers[%d]", s.specPath, i)})
	}
	for i := range s.spec.EphemeralContainers {
		ec := &s.spec.EphemeralContainers[i]
		c := corev1.Container(ec.EphemeralContainerCommon)
		s.containers = append(s.containers, container{c: &c, path: fmt.Sprintf("%s.ephemeralContainers[%d]", s.specPath, i)})
	}
	volumes := map[string]int{}
	for i := range s.spec.Volumes {
		volumes[s.spec.Volumes[i].Name] = i
	}
	mounted := map[string]bool{}
	for _, c := range s.containers {
		s.images = append(s.images, imageUse{ref: parseImage(c.c.Image), raw: c.c.Image, path: c.path + ".image", container: c.c.Name})
		if len(c.c.Command) == 0 && len(c.c.Args) > 0 {
			// The image's entrypoint runs the args: name it after the image
			// (gogost/gost -L … is the gost command).
			entry := []argWord{{value: parseImage(c.c.Image).name(), path: c.path + ".image"}}
			s.addArgv(c, append(entry, argvOf(nil, "", c.c.Args, c.path+".args")...))
		} else {
			s.addArgv(c, argvOf(c.c.Command, c.path+".command", c.c.Args, c.path+".args"))
		}
		if lc := c.c.Lifecycle; lc != nil {
			for name, h := range map[string]*corev1.LifecycleHandler{"postStart": lc.PostStart, "preStop": lc.PreStop} {
				if h != nil && h.Exec != nil {
					s.addArgv(c, argvOf(h.Exec.Command, c.path+".lifecycle."+name+".exec.command", nil, ""))
				}
			}
		}
		for name, p := range map[string]*corev1.Probe{"livenessProbe": c.c.LivenessProbe, "readinessProbe": c.c.ReadinessProbe, "startupProbe": c.c.StartupProbe} {
			if p != nil && p.Exec != nil {
				s.addArgv(c, argvOf(p.Exec.Command, c.path+"."+name+".exec.command", nil, ""))
			}
		}
		for i, e := range c.c.Env {
			if e.Value == "" {
				continue
			}
			ev := envValue{name: e.Name, value: e.Value, path: fmt.Sprintf("%s.env[%d].value", c.path, i), container: c.c.Name}
			s.envs = append(s.envs, ev)
			s.addEnvPayload(ev)
		}
		for _, m := range c.c.VolumeMounts {
			i, ok := volumes[m.Name]
			if !ok || s.spec.Volumes[i].HostPath == nil {
				continue
			}
			mounted[m.Name] = true
			v := &s.spec.Volumes[i]
			hp := cleanHostPath(v.HostPath.Path)
			if m.SubPath != "" {
				hp = cleanHostPath(hp + "/" + m.SubPath)
			}
			s.mounts = append(s.mounts, hostMount{volume: v, hostPath: hp, mountPath: m.MountPath, readOnly: m.ReadOnly,
				container: c.c.Name, path: fmt.Sprintf("%s.volumes[%d].hostPath.path", s.specPath, i)})
		}
	}
	// hostPath volumes nobody mounts still count (an attacker may add the
	// mount in a later change, and PSA forbids them all the same).
	for i := range s.spec.Volumes {
		v := &s.spec.Volumes[i]
		if v.HostPath != nil && !mounted[v.Name] {
			s.mounts = append(s.mounts, hostMount{volume: v, hostPath: cleanHostPath(v.HostPath.Path), readOnly: true,
				path: fmt.Sprintf("%s.volumes[%d].hostPath.path", s.specPath, i)})
		}
	}
	return s
}

// argWord is one element of a container's argv with its field path.
type argWord struct {
	value, path string
}

func argvOf(cmd []string, cmdPath string, args []string, argsPath string) []argWord {
	out := make([]argWord, 0, len(cmd)+len(args))
	for i, v := range cmd {
		out = append(out, argWord{v, fmt.Sprintf("%s[%d]", cmdPath, i)})
	}
	for i, v := range args {
		out = append(out, argWord{v, fmt.Sprintf("%s[%d]", argsPath, i)})
	}
	return out
}

// addArgv turns an argv into scripts and code snippets.
func (s *subject) addArgv(c container, argv []argWord) {
	if len(argv) == 0 {
		return
	}
	words := make([]string, len(argv))
	for i, w := range argv {
		words[i] = w.value
	}
	// Skip wrappers (nohup, tini --, env …) the same way commands are unwrapped.
	un := unwrap(words)
	off := len(words) - len(un)
	name := cmdBase(un[0])
	if isShell(name) {
		if i := shellScriptArg(un); i >= 0 {
			s.addScript(un[i], argv[off+i].path, c.c.Name, "", 0, un[i+1:]...)
			return
		}
	}
	if isInterpreter(name) {
		if i := interpCodeArg(un); i >= 0 {
			s.addCode(interpreters[interpName(name)], un[i], argv[off+i].path, c.c.Name, "")
			return
		}
	}
	// A plain argv is one command; quote each word so the parser sees it as is.
	sc := &script{src: strings.Join(words, " "), path: argv[off].path, container: c.c.Name, parsedOK: true}
	sc.cmds = []shellCmd{{args: un, raw: strings.Join(words, " "), pipeFrom: -1, parent: -1}}
	s.scripts = append(s.scripts, sc)
	s.addNested(sc, 0)
	for i, w := range un {
		if blob := base64Payload(w); blob != "" {
			s.addScript(blob, argv[off+i].path, c.c.Name, "decoded", 1)
		}
	}
}

func (s *subject) addScript(src, path, containerName, origin string, depth int, positional ...string) {
	if depth > maxScriptDepth || strings.TrimSpace(src) == "" {
		return
	}
	sc := parseScript(src, positional...)
	sc.path, sc.container, sc.origin = path, containerName, origin
	s.scripts = append(s.scripts, sc)
	s.addNested(sc, depth)
}

// addNested parses the scripts a script runs: sh -c '…', eval '…',
// interpreter code, and base64 blobs that decode to text.
func (s *subject) addNested(sc *script, depth int) {
	for i := range sc.cmds {
		args := sc.cmds[i].args
		if len(args) == 0 {
			continue
		}
		name := cmdBase(args[0])
		switch {
		case isShell(name) || name == "su" || name == "runuser":
			if j := shellScriptArg(args); j >= 0 && (sc.origin != "" || depth > 0 || sc.src != args[j]) {
				s.addScript(args[j], sc.path, sc.container, sc.origin, depth+1, args[j+1:]...)
			}
		case name == "eval":
			s.addScript(strings.Join(args[1:], " "), sc.path, sc.container, sc.origin, depth+1)
		case isInterpreter(name):
			if j := interpCodeArg(args); j >= 0 {
				s.addCode(interpreters[interpName(name)], args[j], sc.path, sc.container, sc.origin)
			}
		default:
			if sub := subCommand(args); len(sub) > 0 && depth < maxScriptDepth {
				s.addWords(sub, sc.path, sc.container, sc.origin, depth+1)
			}
		}
		for _, w := range args[1:] {
			if blob := base64Payload(w); blob != "" {
				s.addScript(blob, sc.path, sc.container, originDecoded(sc.origin), depth+1)
			}
		}
	}
}

// addWords treats an argv found inside a script (nsenter … -- sh -c '…')
// like a container's command line.
func (s *subject) addWords(words []string, path, containerName, origin string, depth int) {
	name := cmdBase(words[0])
	if isShell(name) {
		if i := shellScriptArg(words); i >= 0 {
			s.addScript(words[i], path, containerName, origin, depth, words[i+1:]...)
			return
		}
	}
	if isInterpreter(name) {
		if i := interpCodeArg(words); i >= 0 {
			s.addCode(interpreters[interpName(name)], words[i], path, containerName, origin)
			return
		}
	}
	raw := strings.Join(words, " ")
	sc := &script{src: raw, path: path, container: containerName, origin: origin, parsedOK: true,
		cmds: []shellCmd{{args: unwrap(words), raw: raw, pipeFrom: -1, parent: -1}}}
	s.scripts = append(s.scripts, sc)
	s.addNested(sc, depth)
}

// subCommand returns the command another command runs: what follows "--",
// the command of chroot DIR CMD, or of nsenter/unshare/setpriv after their
// options.
func subCommand(args []string) []string {
	for i, a := range args[1:] {
		if a == "--" {
			if i+2 < len(args) {
				return args[i+2:]
			}
			return nil
		}
	}
	switch cmdBase(args[0]) {
	case "chroot":
		if len(args) > 2 && !strings.HasPrefix(args[1], "-") {
			return args[2:]
		}
	case "nsenter", "unshare", "setpriv", "capsh":
		for i := 1; i < len(args); i++ {
			a := args[i]
			if !strings.HasPrefix(a, "-") {
				return args[i:]
			}
			if (a == "-t" || a == "--target" || a == "-S" || a == "-G") && i+1 < len(args) {
				i++
			}
		}
	}
	return nil
}

func originDecoded(o string) string {
	if o == "" || o == "decoded" {
		return "decoded"
	}
	return o
}

func (s *subject) addCode(lang, code, path, containerName, origin string) {
	s.codes = append(s.codes, codeSnippet{lang: lang, code: code, path: path, container: containerName, origin: origin})
	// Shell commands a program hands to the OS are scripts too.
	for _, m := range osCommandRe.FindAllStringSubmatch(code, -1) {
		s.addScript(m[2], path, containerName, origin, 1)
	}
	for _, m := range b64LiteralRe.FindAllString(code, -1) {
		if blob := base64Payload(strings.Trim(m, `"'`)); blob != "" {
			s.addScript(blob, path, containerName, originDecoded(origin), 1)
			s.codes = append(s.codes, codeSnippet{lang: lang, code: blob, path: path, container: containerName, origin: originDecoded(origin)})
		}
	}
}

var (
	osCommandRe  = regexp.MustCompile(`(?:os\.system|os\.popen|subprocess\.\w+|system|exec|shell_exec|passthru|popen|execSync|spawn|` + "`" + `)\s*\(?\s*(\[?\s*)["']([^"']{4,})["']`)
	b64LiteralRe = regexp.MustCompile(`["'][A-Za-z0-9+/]{24,}={0,2}["']`)
)

// addEnvPayload treats an env value that looks like a script or an encoded
// blob as code the container may run.
func (s *subject) addEnvPayload(ev envValue) {
	origin := "env " + ev.name
	if blob := base64Payload(ev.value); blob != "" {
		s.addScript(blob, ev.path, ev.container, origin, 1)
		return
	}
	if looksLikeScript(ev.value) {
		s.addScript(ev.value, ev.path, ev.container, origin, 1)
	}
}

func looksLikeScript(v string) bool {
	return strings.ContainsAny(v, " \n") && (strings.ContainsAny(v, "|;&>") || strings.Contains(v, "://") || strings.Contains(v, "/dev/"))
}

// base64Payload decodes w when it is a base64 blob whose content is text
// (a script), and is not a certificate or key. It returns "" otherwise.
func base64Payload(w string) string {
	w = strings.TrimSpace(w)
	if len(w) < 16 || len(w) > 1<<20 || strings.ContainsAny(w, " \t\n.-_:/") && !strings.Contains(w, "/") {
		return ""
	}
	if !isBase64Blob(w) {
		return ""
	}
	// Paths like /usr/local/bin/foo are valid base64 alphabets; require a
	// mix of cases and no leading slash.
	if strings.HasPrefix(w, "/") || strings.ToLower(w) == w || strings.ToUpper(w) == w {
		return ""
	}
	dec, err := base64.StdEncoding.DecodeString(w)
	if err != nil {
		dec, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(w, "="))
		if err != nil {
			return ""
		}
	}
	d := string(dec)
	if !printable(d) || strings.HasPrefix(d, "-----BEGIN") || !strings.ContainsAny(d, " /|;") {
		return ""
	}
	return d
}

func cleanHostPath(p string) string {
	if p == "" {
		return "/"
	}
	parts := strings.Split(p, "/")
	var out []string
	for _, x := range parts {
		switch x {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, x)
		}
	}
	return "/" + strings.Join(out, "/")
}

// hostPathFor maps a path inside container c to the host path it reaches
// through a hostPath mount, if any.
func (s *subject) hostPathFor(containerName, p string) (string, bool) {
	best := -1
	bestLen := -1
	for i, m := range s.mounts {
		if m.container != containerName || m.mountPath == "" {
			continue
		}
		mp := strings.TrimSuffix(m.mountPath, "/")
		if (p == mp || strings.HasPrefix(p, mp+"/") || mp == "") && len(mp) > bestLen {
			best, bestLen = i, len(mp)
		}
	}
	if best < 0 {
		return "", false
	}
	m := s.mounts[best]
	rest := strings.TrimPrefix(p, strings.TrimSuffix(m.mountPath, "/"))
	return cleanHostPath(m.hostPath + "/" + rest), true
}

// privileged reports whether container c runs privileged.
func privileged(c *corev1.Container) bool {
	return c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
}

// anyPrivileged reports whether any container is privileged.
func (s *subject) anyPrivileged() bool {
	for _, c := range s.containers {
		if privileged(c.c) {
			return true
		}
	}
	return false
}

func (s *subject) hasCap(capName string) bool {
	for _, c := range s.containers {
		if sc := c.c.SecurityContext; sc != nil && sc.Capabilities != nil {
			for _, a := range sc.Capabilities.Add {
				n := strings.TrimPrefix(strings.ToUpper(string(a)), "CAP_")
				if n == capName || n == "ALL" {
					return true
				}
			}
		}
	}
	return false
}

// hostRoot reports whether a container mounts the host's / (or /host-like
// whole filesystem) writable.
func (s *subject) hostRootMount() (hostMount, bool) {
	for _, m := range s.mounts {
		if m.hostPath == "/" && m.mountPath != "" {
			return m, true
		}
	}
	return hostMount{}, false
}
