// Package audit receives the kube-apiserver's audit webhook (audit.k8s.io/v1
// EventList) and says who created, changed or deleted a Job or CronJob: it
// keeps a bounded window of recent batch audit events, answers "who made
// this version?" for the watcher's alerts (waiting briefly when the audit
// event trails the watch event), and raises audit-only signals the informers
// cannot see: deletions by users who are not controllers, and denied (403)
// attempts to create or change batch objects.
package audit
