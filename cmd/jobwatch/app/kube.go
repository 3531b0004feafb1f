package app

import (
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	// Auth plugins a laptop kubeconfig may name (OIDC; exec plugins are built in).
	_ "k8s.io/client-go/plugin/pkg/client/auth/oidc"
)

// restConfig resolves the cluster configuration: --kubeconfig, then
// KUBECONFIG and ~/.kube/config, then in-cluster.
func restConfig(cfg *Config) (*rest.Config, error) {
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
		return rc, nil
	}
	rc, err := kc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return rc, nil
}

func newClient(cfg *Config) (kubernetes.Interface, error) {
	rc, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	rc.UserAgent = "jobwatch/" + version
	return kubernetes.NewForConfig(rc)
}
