// Package integration holds jobwatch's tests against a real kube-apiserver
// and etcd (test/cluster). They never skip: a control plane that cannot be
// built or started fails them.
package integration
