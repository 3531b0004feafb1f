// Package app is jobwatch's command line: the cobra commands, configuration
// loading with viper (file, JOBWATCH_* environment, flags), validation into
// the typed options the pkg/ packages take, logging setup and Kubernetes
// client construction. Viper never leaves this package.
package app
