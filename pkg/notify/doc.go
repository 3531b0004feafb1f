// Package notify owns the Alert — the one message type every sink receives
// and serializes (apiVersion jobwatch/v1) — the Notifier interface sinks
// implement, with typed errors that say whether a failure is worth a retry,
// and the sinks themselves.
package notify
