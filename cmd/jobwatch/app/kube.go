package app

import (
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	// Auth plugins a laptop kubeconfig may name (OIDC; exec plugins such as
	// aws, gke-gcloud-auth-plugin and kubelogin are built into client-go).
	_ "k8s.io/client-go/plugin/pkg/client/auth/oidc"
)

// clusterConfig is a resolved connection.
type clusterConfig struct {
	rest      *rest.Config
	inCluster bool
	context   string // kubeconfig context in use ("" in-cluster)
}

// resolveCluster finds the cluster configuration: --kubeconfig, then
// KUBECONFIG and ~/.kube/config, then in-cluster.
func resolveCluster(cfg *Config) (*clusterConfig, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		if _, err := os.Stat(cfg.Kubeconfig); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", cfg.Kubeconfig, err)
		}
		rules.ExplicitPath = cfg.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}
	kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	raw, err := kc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if len(raw.Contexts) == 0 && cfg.Kubeconfig == "" && cfg.Context == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, errNoClusterConfig
		}
		return &clusterConfig{rest: rc, inCluster: true}, nil
	}
	rc, err := kc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	ctxName := cfg.Context
	if ctxName == "" {
		ctxName = raw.CurrentContext
	}
	return &clusterConfig{rest: rc, context: ctxName}, nil
}

func newClient(cfg *Config) (kubernetes.Interface, error) {
	cc, err := resolveCluster(cfg)
	if err != nil {
		return nil, err
	}
	return clientFor(cc)
}

func clientFor(cc *clusterConfig) (kubernetes.Interface, error) {
	rc := rest.CopyConfig(cc.rest)
	rc.UserAgent = "jobwatch/" + version
	return kubernetes.NewForConfig(rc)
}

// podNamespace is jobwatch's own namespace when running in a pod.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "jobwatch"
}
