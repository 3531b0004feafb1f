package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Notifier delivers alerts to one sink.
type Notifier interface {
	Name() string
	Notify(ctx context.Context, a Alert) error
}

// PermanentError is a failure a retry cannot fix (a 4xx, a bad template).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// RateLimitError asks the caller to wait RetryAfter before trying again.
type RateLimitError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s: %v", e.RetryAfter, e.Err)
}
func (e *RateLimitError) Unwrap() error { return e.Err }

// Retryable reports whether err is worth retrying: everything except a
// PermanentError.
func Retryable(err error) bool {
	var p *PermanentError
	return err != nil && !errors.As(err, &p)
}
