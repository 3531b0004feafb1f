// Command jobwatch watches Kubernetes Jobs and CronJobs for abuse.
package main

import (
	"os"

	"github.com/jobwatch/jobwatch/cmd/jobwatch/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
