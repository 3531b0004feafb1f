package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

// Slack limits jobwatch stays within.
const (
	slackMaxBlocks      = 50
	slackMaxSectionText = 3000
	slackMaxHeaderText  = 150
	slackMaxFieldText   = 2000
)

// SlackOptions configure the Slack sink: an incoming webhook, or a bot
// token with a channel (then later alerts for an object go in its thread).
type SlackOptions struct {
	WebhookURL string
	Token      string
	Channel    string
	// APIURL points slack-go at a Slack-compatible server (tests, proxies);
	// it must end in "/".
	APIURL string
	// ChannelRoutes send namespaces matching Namespaces (globs) to Channel.
	ChannelRoutes []ChannelRoute
	// Threads holds thread timestamps per object UID across restarts
	// (the checkpoint's); nil keeps them in memory only.
	Threads ThreadStore
}

// ChannelRoute is one namespace-to-channel rule.
type ChannelRoute struct {
	Namespaces []string
	Channel    string
}

// ThreadStore remembers the parent message of each object.
type ThreadStore interface {
	Thread(uid string) (channel, ts string, ok bool)
	SetThread(uid, channel, ts string)
}

// Slack posts Block Kit messages through slack-go.
type Slack struct {
	opts   SlackOptions
	client *slack.Client
	http   *http.Client
	mu     sync.Mutex
	mem    map[string][2]string
}

var _ Notifier = (*Slack)(nil)

// NewSlack validates opts and builds the sink.
func NewSlack(opts SlackOptions) (*Slack, error) {
	switch {
	case opts.WebhookURL == "" && opts.Token == "":
		return nil, errors.New("slack: set an incoming webhook URL or a bot token")
	case opts.WebhookURL != "" && opts.Token != "":
		return nil, errors.New("slack: set either an incoming webhook URL or a bot token, not both")
	case opts.Token != "" && opts.Channel == "":
		return nil, errors.New("slack: a bot token needs a channel")
	}
	s := &Slack{opts: opts, mem: map[string][2]string{}, http: &http.Client{Timeout: 15 * time.Second}}
	if opts.Token != "" {
		o := []slack.Option{slack.OptionHTTPClient(s.http)}
		if opts.APIURL != "" {
			o = append(o, slack.OptionAPIURL(strings.TrimSuffix(opts.APIURL, "/")+"/"))
		}
		s.client = slack.New(opts.Token, o...)
	}
	return s, nil
}

// Name implements Notifier.
func (s *Slack) Name() string { return "slack" }

func (s *Slack) channelFor(ns string) string {
	for _, r := range s.opts.ChannelRoutes {
		for _, g := range r.Namespaces {
			if ok, _ := path.Match(g, ns); ok {
				return r.Channel
			}
		}
	}
	return s.opts.Channel
}

// Notify implements Notifier.
func (s *Slack) Notify(ctx context.Context, a Alert) error {
	blocks := SlackBlocks(a)
	text := SlackText(a)
	if s.client == nil {
		err := slack.PostWebhookCustomHTTPContext(ctx, s.opts.WebhookURL, s.http, &slack.WebhookMessage{Text: text, Blocks: &slack.Blocks{BlockSet: blocks}})
		return s.scrub(classifySlack(err))
	}
	channel := s.channelFor(a.Object.Namespace)
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	if ch, ts, ok := s.thread(a.Object.UID); ok && ch == channel {
		opts = append(opts, slack.MsgOptionTS(ts))
		_, _, err := s.client.PostMessageContext(ctx, channel, opts...)
		return classifySlack(err)
	}
	_, ts, err := s.client.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return classifySlack(err)
	}
	// Remember the channel as configured (a name or ID), which is what
	// later posts are addressed to.
	s.setThread(a.Object.UID, channel, ts)
	return nil
}

// scrub removes the incoming-webhook URL (a credential) from errors.
func (s *Slack) scrub(err error) error {
	if err == nil || s.opts.WebhookURL == "" || !strings.Contains(err.Error(), s.opts.WebhookURL) {
		return err
	}
	msg := errors.New(strings.ReplaceAll(err.Error(), s.opts.WebhookURL, "<slack webhook url>"))
	if Retryable(err) {
		return msg
	}
	return &PermanentError{Err: msg}
}

func (s *Slack) thread(uid string) (string, string, bool) {
	if s.opts.Threads != nil {
		return s.opts.Threads.Thread(uid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.mem[uid]
	return t[0], t[1], ok
}

func (s *Slack) setThread(uid, ch, ts string) {
	if s.opts.Threads != nil {
		s.opts.Threads.SetThread(uid, ch, ts)
		return
	}
	s.mu.Lock()
	s.mem[uid] = [2]string{ch, ts}
	s.mu.Unlock()
}

// classifySlack maps slack-go errors to jobwatch's: rate limits carry
// Retry-After, 5xx and network errors are retryable, API errors such as
// channel_not_found or invalid_auth are permanent.
func classifySlack(err error) error {
	if err == nil {
		return nil
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return &RateLimitError{RetryAfter: rl.RetryAfter, Err: errors.New("slack: rate limited")}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		if sc.Code >= 500 || sc.Code == 429 {
			return fmt.Errorf("slack: %s", sc.Status)
		}
		return &PermanentError{Err: fmt.Errorf("slack: %s", sc.Status)}
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return fmt.Errorf("slack: %s", se.Err)
		}
		return &PermanentError{Err: fmt.Errorf("slack: %s", se.Err)}
	}
	msg := err.Error()
	if i := strings.Index(msg, "hooks.slack.com"); i >= 0 {
		msg = msg[:i] + "<webhook url redacted>"
	}
	return fmt.Errorf("slack: %s", msg)
}

var severityEmoji = map[analyze.Severity]string{
	analyze.SeverityCritical: ":rotating_light:", analyze.SeverityHigh: ":red_circle:",
	analyze.SeverityMedium: ":large_orange_circle:", analyze.SeverityLow: ":large_blue_circle:", analyze.SeverityNone: ":white_circle:",
}

// SlackText is the notification fallback text.
func SlackText(a Alert) string {
	return fmt.Sprintf("%s %s %s %s/%s (score %d)", strings.ToUpper(a.Severity.String()), a.Event, a.Object.Kind, a.Object.Namespace, a.Object.Name, a.Score)
}

// SlackBlocks renders an alert as Block Kit within Slack's limits: header,
// fields, findings with evidence as code, the diff for updates, and a
// context line with rule and ATT&CK IDs. Whatever does not fit is cut with
// a note.
func SlackBlocks(a Alert) []slack.Block {
	header := fmt.Sprintf("%s %s: %s %s/%s %s", severityEmoji[a.Severity], strings.ToUpper(a.Severity.String()), a.Object.Kind, a.Object.Namespace, a.Object.Name, a.Event)
	blocks := []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(header, slackMaxHeaderText, "…"), true, false))}

	score := fmt.Sprintf("*Score*\n%d", a.Score)
	if a.PreviousScore != nil {
		score = fmt.Sprintf("*Score*\n%d (was %d)", a.Score, *a.PreviousScore)
	}
	actor := "*Changed by*\nunknown"
	switch {
	case a.Actor != nil && a.Actor.User != "":
		actor = fmt.Sprintf("*Changed by*\n%s from %s (%s)", escape(a.Actor.User), escape(strings.Join(a.Actor.SourceIPs, ", ")), escape(truncate(a.Actor.UserAgent, 80, "…")))
	case a.Actor != nil && a.Actor.Manager != "":
		actor = fmt.Sprintf("*Changed by*\n%s (%s)", escape(a.Actor.Manager), a.Actor.Operation)
	}
	cluster := a.Cluster
	if cluster == "" {
		cluster = "—"
	}
	fields := []*slack.TextBlockObject{
		md(score), md(actor), md("*Cluster*\n" + escape(cluster)), md("*Images*\n" + truncate(escape(strings.Join(images(a), ", ")), slackMaxFieldText, "…")),
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))

	// Room left for findings and diff, keeping the last two for context and a cut note.
	budget := slackMaxBlocks - len(blocks) - 2
	var cut int
	if len(a.Diff) > 0 {
		var b strings.Builder
		b.WriteString("*What changed*\n")
		for _, c := range a.Diff {
			fmt.Fprintf(&b, "• `%s`: `%s` → `%s`\n", c.Path, codeSafe(c.Old), codeSafe(c.New))
		}
		blocks = append(blocks, slack.NewSectionBlock(md(truncate(b.String(), slackMaxSectionText, "\n_…diff truncated_")), nil, nil))
		budget--
	}
	shown := 0
	for _, f := range a.Findings {
		if f.Severity == analyze.SeverityNone {
			continue
		}
		if shown >= budget {
			cut++
			continue
		}
		c := ""
		if f.Container != "" {
			c = " in `" + f.Container + "`"
		}
		text := fmt.Sprintf("%s *%s* %s%s\n`%s`\n```%s```", severityEmoji[f.Severity], f.Rule, escape(f.Title), c, f.Path, codeSafe(f.Evidence))
		blocks = append(blocks, slack.NewSectionBlock(md(truncate(text, slackMaxSectionText, "…```\n_evidence truncated_")), nil, nil))
		shown++
	}
	if cut > 0 {
		blocks = append(blocks, slack.NewContextBlock("", md(fmt.Sprintf("_%d more findings not shown (Slack allows %d blocks); see the webhook or stdout alert_", cut, slackMaxBlocks))))
	}
	blocks = append(blocks, slack.NewContextBlock("", md(truncate(contextLine(a), slackMaxSectionText, "…"))))
	return blocks
}

func contextLine(a Alert) string {
	var rules, attack []string
	seenR, seenA := map[string]bool{}, map[string]bool{}
	for _, f := range a.Findings {
		if f.Severity == analyze.SeverityNone {
			continue
		}
		if !seenR[f.Rule] {
			seenR[f.Rule] = true
			rules = append(rules, f.Rule)
		}
		for _, t := range f.Attack {
			if !seenA[t] {
				seenA[t] = true
				attack = append(attack, t)
			}
		}
	}
	return fmt.Sprintf("jobwatch · rules %s · ATT&CK %s · alert %s", strings.Join(rules, " "), strings.Join(attack, " "), a.ID)
}

func images(a Alert) []string {
	if len(a.Object.Images) == 0 {
		return []string{"—"}
	}
	return a.Object.Images
}

func md(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// escape neutralises Slack's mrkdwn control characters.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// codeSafe keeps text inside a code span or block.
func codeSafe(s string) string { return strings.ReplaceAll(escape(s), "`", "ˋ") }

// truncate cuts s to at most n bytes (on a rune boundary) ending with note.
func truncate(s string, n int, note string) string {
	if len(s) <= n {
		return s
	}
	cut := n - len(note)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + note
}
