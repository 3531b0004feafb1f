package analyze

import (
	"encoding/base64"
	"path"
	"strconv"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/syntax"
)

// This file turns the shell that a container runs into a list of commands the
// payload rules can reason about: argument vectors with quoting resolved
// (c"u"rl is curl), pipelines, redirections, here-strings, command and
// process substitutions (with their parent command), variable assignments,
// and nested scripts (sh -c '…', eval, base64-decoded blobs). Nothing is
// executed.

// maxScriptDepth bounds nested scripts (sh -c inside sh -c, decoded blobs).
const maxScriptDepth = 3

// maxScriptBytes bounds how much of one script is parsed.
const maxScriptBytes = 64 << 10

// shellCmd is one simple command of a script.
type shellCmd struct {
	args   []string // resolved words; wrappers (nohup, env, busybox…) removed
	raw    string   // source text of the command, for evidence
	redirs []redirect
	// pipeFrom is the index of the command whose stdout feeds this one
	// (previous pipeline stage), or -1.
	pipeFrom int
	// parent is the index of the command in whose words or redirections this
	// command appears as $(…), <(…) or here-string, or -1.
	parent int
	// assigns are the variables this command assigns (X=… with no command).
	assigns []string
	// obfuscated is set when the command name itself is built by quoting
	// tricks, escapes, or command substitution.
	obfuscated bool
	// background is set for cmd &.
	background bool
}

type redirect struct {
	op     string // ">", ">>", ">&", "<", "<<<", "&>"
	target string
}

// script is a parsed shell program with where it came from.
type script struct {
	src       string
	path      string // field path of the text
	container string
	origin    string // "" for command/args, "env NAME" for env values, "decoded" for base64
	cmds      []shellCmd
	// parsedOK is false when the shell parser rejected the text and the
	// fallback tokenizer was used.
	parsedOK bool
}

// cmdBase is the lower-cased base name of a command word.
func cmdBase(w string) string {
	return strings.ToLower(path.Base(w))
}

var wrapperCmds = map[string]int{ // wrapper -> how many args after it to skip besides flags
	"nohup": 0, "exec": 0, "sudo": 0, "env": 0, "command": 0, "builtin": 0, "setsid": 0,
	"nice": 0, "ionice": 0, "stdbuf": 0, "time": 0, "timeout": 1, "busybox": 0, "chrt": 1,
	"taskset": 1, "doas": 0, "su-exec": 1, "gosu": 1, "tini": 0, "dumb-init": 0, "xargs": 0,
}

// unwrap removes wrapper commands such as `nohup`, `env A=B`, `timeout 10`.
func unwrap(args []string) []string {
	for i := 0; i < 4 && len(args) > 1; i++ {
		skip, ok := wrapperCmds[cmdBase(args[0])]
		if !ok {
			return args
		}
		j := 1
		for j < len(args) && (strings.HasPrefix(args[j], "-") || strings.Contains(args[j], "=") && !strings.Contains(args[j], "/")) {
			j++
		}
		j += skip
		if j >= len(args) {
			return args
		}
		args = args[j:]
	}
	return args
}

var parserPool = sync.Pool{New: func() any {
	return syntax.NewParser(syntax.Variant(syntax.LangBash), syntax.KeepComments(false))
}}

// parseScript parses src as a bash program. It never fails: text the parser
// rejects is split into commands by a simple tokenizer instead.
func parseScript(src string, positional ...string) *script {
	if len(src) > maxScriptBytes {
		src = src[:maxScriptBytes]
	}
	s := &script{src: src}
	p := parserPool.Get().(*syntax.Parser)
	f, err := p.Parse(strings.NewReader(src), "")
	parserPool.Put(p)
	if err == nil {
		b := &builder{s: s, vars: map[string]string{}, varsObf: map[string]bool{}}
		for i, p := range positional {
			b.vars[strconv.Itoa(i)] = p
		}
		b.stmts(f.Stmts, -1, -1)
		s.parsedOK = true
		return s
	}
	s.cmds = fallbackTokenize(src)
	return s
}

type builder struct {
	s *script
	// vars are literal values of variables assigned in the script (and the
	// positional parameters of sh -c), so "$D -s $U | $S" resolves.
	vars    map[string]string
	varsObf map[string]bool
}

func (b *builder) stmts(list []*syntax.Stmt, parent, pipeFrom int) int {
	last := -1
	for _, st := range list {
		last = b.stmt(st, parent, pipeFrom)
	}
	return last
}

// stmt appends the commands of st and returns the index of its last command.
func (b *builder) stmt(st *syntax.Stmt, parent, pipeFrom int) int {
	if st == nil || st.Cmd == nil {
		return -1
	}
	switch c := st.Cmd.(type) {
	case *syntax.CallExpr:
		idx := len(b.s.cmds)
		b.s.cmds = append(b.s.cmds, shellCmd{pipeFrom: pipeFrom, parent: parent, raw: b.text(st), background: st.Background})
		var args []string
		for i, w := range c.Args {
			v, obf := b.word(w, idx)
			if i == 0 && obf {
				b.s.cmds[idx].obfuscated = true
			}
			args = append(args, v)
		}
		var assigns []string
		for _, a := range c.Assigns {
			if a.Name != nil {
				assigns = append(assigns, a.Name.Value)
			}
			if a.Value != nil {
				v, obf := b.word(a.Value, idx)
				// Only literal values are substituted later: a value from
				// $(…) stays "$NAME" so taint tracking can follow it.
				if a.Name != nil && len(c.Args) == 0 && len(v) < 4096 && !strings.Contains(v, "$(") && !strings.Contains(v, "<(") {
					b.vars[a.Name.Value], b.varsObf[a.Name.Value] = v, obf
				}
			}
		}
		redirs := b.redirs(st.Redirs, idx)
		cmd := &b.s.cmds[idx]
		cmd.args = unwrap(args)
		if len(args) == 0 {
			cmd.assigns = assigns
		}
		cmd.redirs = redirs
		return idx
	case *syntax.BinaryCmd:
		switch c.Op {
		case syntax.Pipe, syntax.PipeAll:
			left := b.stmt(c.X, parent, pipeFrom)
			return b.stmt(c.Y, parent, left)
		default:
			b.stmt(c.X, parent, pipeFrom)
			return b.stmt(c.Y, parent, -1)
		}
	case *syntax.Subshell:
		return b.compound(st, c.Stmts, parent, pipeFrom)
	case *syntax.Block:
		return b.compound(st, c.Stmts, parent, pipeFrom)
	case *syntax.IfClause:
		last := -1
		for ic := c; ic != nil; ic = ic.Else {
			b.stmts(ic.Cond, parent, -1)
			last = b.stmts(ic.Then, parent, pipeFrom)
		}
		return last
	case *syntax.WhileClause:
		b.stmts(c.Cond, parent, -1)
		return b.compound(st, c.Do, parent, pipeFrom)
	case *syntax.ForClause:
		if wi, ok := c.Loop.(*syntax.WordIter); ok {
			for _, w := range wi.Items {
				b.word(w, parent)
			}
		}
		return b.compound(st, c.Do, parent, pipeFrom)
	case *syntax.CaseClause:
		last := -1
		for _, item := range c.Items {
			last = b.stmts(item.Stmts, parent, pipeFrom)
		}
		return last
	case *syntax.FuncDecl:
		return b.stmt(c.Body, parent, pipeFrom)
	case *syntax.DeclClause:
		idx := len(b.s.cmds)
		b.s.cmds = append(b.s.cmds, shellCmd{pipeFrom: pipeFrom, parent: parent, raw: b.text(st)})
		var names []string
		for _, a := range c.Args {
			if a.Name != nil {
				names = append(names, a.Name.Value)
			}
			if a.Value != nil {
				b.word(a.Value, idx)
			}
		}
		b.s.cmds[idx].assigns = names
		return idx
	case *syntax.TimeClause:
		return b.stmt(c.Stmt, parent, pipeFrom)
	case *syntax.CoprocClause:
		return b.stmt(c.Stmt, parent, pipeFrom)
	default:
		return -1
	}
}

func (b *builder) compound(st *syntax.Stmt, body []*syntax.Stmt, parent, pipeFrom int) int {
	first := len(b.s.cmds)
	last := b.stmts(body, parent, pipeFrom)
	// Redirections on a compound command ({ …; } > file) apply to its commands.
	if len(st.Redirs) > 0 && last >= 0 {
		r := b.redirs(st.Redirs, last)
		for i := first; i <= last && i < len(b.s.cmds); i++ {
			b.s.cmds[i].redirs = append(b.s.cmds[i].redirs, r...)
		}
	}
	return last
}

func (b *builder) redirs(rs []*syntax.Redirect, owner int) []redirect {
	var out []redirect
	for _, r := range rs {
		var target string
		if r.Word != nil {
			target, _ = b.word(r.Word, owner)
		}
		if r.Hdoc != nil {
			target, _ = b.word(r.Hdoc, owner)
		}
		out = append(out, redirect{op: r.Op.String(), target: target})
	}
	return out
}

func (b *builder) text(n syntax.Node) string {
	start, end := int(n.Pos().Offset()), int(n.End().Offset())
	if start < 0 || end > len(b.s.src) || start >= end {
		return ""
	}
	return b.s.src[start:end]
}

// word resolves a word to the string the shell would most plausibly see, and
// reports whether it was built in an obfuscating way. Commands inside $(…)
// and <(…) are appended with parent set to owner.
func (b *builder) word(w *syntax.Word, owner int) (string, bool) {
	var sb strings.Builder
	obf := false
	quoted := 0
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			v := p.Value
			if strings.Contains(v, "\\") {
				v = strings.ReplaceAll(v, "\\", "")
				obf = true
			}
			sb.WriteString(v)
		case *syntax.SglQuoted:
			quoted++
			if p.Dollar {
				obf = true
				sb.WriteString(ansiCUnquote(p.Value))
			} else {
				sb.WriteString(p.Value)
			}
		case *syntax.DblQuoted:
			quoted++
			inner := &syntax.Word{Parts: p.Parts}
			v, o := b.word(inner, owner)
			obf = obf || o
			sb.WriteString(v)
		case *syntax.ParamExp:
			if p.Param != nil {
				if p.Param.Value == "IFS" {
					obf = true
					sb.WriteString(" ")
					continue
				}
				if v, ok := b.vars[p.Param.Value]; ok && p.Exp == nil && p.Repl == nil && p.Slice == nil && !p.Length && !p.Excl {
					sb.WriteString(v)
					obf = obf || b.varsObf[p.Param.Value]
					continue
				}
				sb.WriteString("$" + p.Param.Value)
			}
		case *syntax.CmdSubst:
			first := len(b.s.cmds)
			b.stmts(p.Stmts, owner, -1)
			if dec, ok := b.decodeSubst(first); ok {
				obf = true
				sb.WriteString(dec)
			} else {
				sb.WriteString("$(" + b.text(p)[min(2, len(b.text(p))):])
			}
		case *syntax.ProcSubst:
			b.stmts(p.Stmts, owner, -1)
			sb.WriteString(b.text(p))
		case *syntax.ArithmExp:
			sb.WriteString(b.text(p))
		default:
			sb.WriteString(b.text(p))
		}
	}
	if quoted > 0 && len(w.Parts) > 1 {
		// "c""u""rl" or c'u'rl: quotes inside one word.
		obf = true
	}
	return sb.String(), obf
}

// decodeSubst evaluates the one substitution shape used to hide command
// names: $(echo BLOB | base64 -d) or $(printf BLOB | base64 --decode).
func (b *builder) decodeSubst(first int) (string, bool) {
	cmds := b.s.cmds[first:]
	if len(cmds) != 2 || cmds[1].pipeFrom != first || len(cmds[0].args) < 2 {
		return "", false
	}
	if n := cmdBase(cmds[0].args[0]); n != "echo" && n != "printf" {
		return "", false
	}
	if !isBase64Decoder(cmds[1].args) {
		return "", false
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cmds[0].args[len(cmds[0].args)-1]))
	if err != nil || !printable(string(dec)) {
		return "", false
	}
	return strings.TrimSpace(string(dec)), true
}

func ansiCUnquote(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'x':
				if i+4 <= len(s) {
					if v, ok := hexByte(s[i+2 : i+4]); ok {
						sb.WriteByte(v)
						i += 3
						continue
					}
				}
			case 'n':
				sb.WriteByte('\n')
				i++
				continue
			case 't':
				sb.WriteByte('\t')
				i++
				continue
			}
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

func hexByte(s string) (byte, bool) {
	if len(s) != 2 {
		return 0, false
	}
	var v byte
	for i := 0; i < 2; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}

// fallbackTokenize splits text the parser rejected on ; | && || and
// newlines, and each piece on white space, with quotes stripped.
func fallbackTokenize(src string) []shellCmd {
	var cmds []shellCmd
	prevPipe := false
	start := 0
	emit := func(end int, pipe bool) {
		piece := strings.TrimSpace(src[start:end])
		if piece != "" {
			var args []string
			for _, f := range strings.Fields(piece) {
				args = append(args, strings.Trim(f, `"'`+"`"))
			}
			c := shellCmd{args: unwrap(args), raw: piece, pipeFrom: -1, parent: -1}
			if prevPipe && len(cmds) > 0 {
				c.pipeFrom = len(cmds) - 1
			}
			cmds = append(cmds, c)
		}
		prevPipe = pipe
	}
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case ';', '\n':
			emit(i, false)
			start = i + 1
		case '&':
			if i+1 < len(src) && src[i+1] == '&' {
				emit(i, false)
				i++
				start = i + 1
			}
		case '|':
			if i+1 < len(src) && src[i+1] == '|' {
				emit(i, false)
				i++
				start = i + 1
			} else {
				emit(i, true)
				start = i + 1
			}
		}
	}
	emit(len(src), false)
	return cmds
}

// printable reports whether s is mostly printable text (a decoded payload
// that is a script rather than binary or a certificate).
func printable(s string) bool {
	if s == "" {
		return false
	}
	bad := 0
	for _, r := range s {
		if r == '\n' || r == '\t' || r == '\r' {
			continue
		}
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			bad++
		}
	}
	return bad*20 < len(s)
}
