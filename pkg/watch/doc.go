// Package watch turns the API server's stream of Jobs and CronJobs into
// alerts. It owns one shared informer factory per watched scope (all
// namespaces, or each listed namespace), a transform that keeps the cache
// small, one generic event handler that only enqueues keys, workers that
// compare the current object with jobwatch's own last-judged version of
// that UID (never the informer's oldObj), the semantic diff, CronJob→Job
// lineage, the checkpoint that makes restarts neither replay nor miss
// anything, and the controller's metrics.
package watch
