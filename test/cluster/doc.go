// Package cluster starts a real Kubernetes control plane (etcd plus
// kube-apiserver) on loopback ports for jobwatch's integration tests and demo.
//
// The binaries are built from Go modules by the tools modules under
// hack/controlplane and cached outside the repository, by default in
// ${XDG_CACHE_HOME:-$HOME/.cache}/jobwatch/controlplane/<version>/. The first
// Start on a machine builds them (about ten minutes on two cores); later
// starts take seconds. A missing toolchain or a failed build is an error,
// never a silent skip.
//
// The API server runs with RBAC authorization, a static-token bootstrap admin
// in system:masters, optional extra token users, a service-account signing key
// (so TokenRequest works) and --allow-privileged=true. There is no
// kube-controller-manager: nothing creates Pods, garbage-collects or runs
// CronJobs, which keeps the objects under test exactly as the test wrote them.
package cluster
