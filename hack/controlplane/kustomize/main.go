// Command kustomize is upstream kustomize, built from Go modules so the
// manifest tests render manifests/ exactly as `kubectl apply -k` would.
package main

import (
	"os"

	"sigs.k8s.io/kustomize/kustomize/v5/commands"
)

func main() {
	if err := commands.NewDefaultCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
