package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Webhook headers.
const (
	HeaderDelivery  = "X-Jobwatch-Delivery"
	HeaderTimestamp = "X-Jobwatch-Timestamp"
	HeaderSignature = "X-Jobwatch-Signature"
)

// WebhookOptions configure the generic webhook sink.
type WebhookOptions struct {
	URL     string
	Secret  []byte            // HMAC key; empty sends no signature
	Headers map[string]string // extra headers (not for secrets: they are logged nowhere, but live in config)
	CAFile  string
	// InsecureSkipVerify disables TLS verification (tests, labs).
	InsecureSkipVerify bool
	Timeout            time.Duration
	// Template, when set, renders the body instead of the Alert JSON
	// (Teams, Discord, PagerDuty shapes; see docs/webhook.md).
	Template *template.Template
	// Now is the clock for X-Jobwatch-Timestamp (tests); nil is time.Now.
	Now func() time.Time
}

// Webhook POSTs alerts to a URL, signed with HMAC-SHA256.
type Webhook struct {
	opts   WebhookOptions
	client *http.Client
}

var _ Notifier = (*Webhook)(nil)

// NewWebhook validates opts and builds the sink.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	if u, err := url.Parse(opts.URL); err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("webhook: the url must be a valid http:// or https:// URL") // not echoed: it may hold a token
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.InsecureSkipVerify} //nolint:gosec // opt-in
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("webhook: ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("webhook: ca file %s holds no PEM certificates", opts.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &Webhook{opts: opts, client: &http.Client{Transport: tr, Timeout: opts.Timeout}}, nil
}

// Name implements Notifier.
func (w *Webhook) Name() string { return "webhook" }

// Body renders the request body for a.
func (w *Webhook) Body(a Alert) ([]byte, error) {
	if w.opts.Template == nil {
		return json.Marshal(a)
	}
	var b bytes.Buffer
	if err := w.opts.Template.Execute(&b, a); err != nil {
		return nil, &PermanentError{Err: fmt.Errorf("webhook template: %w", err)}
	}
	return b.Bytes(), nil
}

// Sign returns the X-Jobwatch-Signature value for timestamp and body.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Notify implements Notifier: 2xx is delivered; 429 and 5xx and network
// errors are retryable (429 with its Retry-After); other statuses are
// permanent.
func (w *Webhook) Notify(ctx context.Context, a Alert) error {
	body, err := w.Body(a)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(body))
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("webhook: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "jobwatch")
	for k, v := range w.opts.Headers {
		req.Header.Set(k, v)
	}
	ts := strconv.FormatInt(w.opts.Now().Unix(), 10)
	req.Header.Set(HeaderDelivery, a.ID)
	req.Header.Set(HeaderTimestamp, ts)
	if len(w.opts.Secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(w.opts.Secret, ts, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %s", strings.ReplaceAll(scrubURL(err).Error(), w.opts.URL, "<webhook url>"))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests:
		return &RateLimitError{RetryAfter: retryAfter(resp.Header.Get("Retry-After")), Err: fmt.Errorf("webhook: %s", resp.Status)}
	case resp.StatusCode >= 500:
		return fmt.Errorf("webhook: %s", resp.Status)
	default:
		return &PermanentError{Err: fmt.Errorf("webhook: %s", resp.Status)}
	}
}

// retryAfter reads seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// scrubURL removes the URL from net/http errors: webhook URLs often carry
// credentials (Slack hooks, tokens in query strings).
func scrubURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil && strings.HasPrefix(err.Error(), "Post ") {
			return inner
		}
	}
	return err
}

// TemplateFuncs are available to webhook body templates.
func TemplateFuncs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"upper": strings.ToUpper,
		"join":  strings.Join,
	}
}
