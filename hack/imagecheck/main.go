// Command imagecheck verifies what the container image relies on without a
// Docker engine: the binary `make build` produced is static (no ELF
// interpreter, no shared libraries) with version and commit stamped in, and
// the Dockerfile builds it with that same target on a static non-root base.
package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: imagecheck BINARY DOCKERFILE COMMIT")
		os.Exit(2)
	}
	if err := check(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "image-check:", err)
		os.Exit(1)
	}
	fmt.Println("image-check: ok: static binary, version stamped, Dockerfile builds with `make build` on distroless static nonroot")
}

func check(bin, dockerfile, commit string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s has an ELF interpreter: not static", bin)
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", bin, libs)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return fmt.Errorf("%s version: %w", bin, err)
	}
	if !strings.Contains(string(out), "commit: "+commit) || strings.Contains(string(out), "jobwatch dev\n") && commit != "unknown" {
		return fmt.Errorf("version not stamped (want commit %s):\n%s", commit, out)
	}
	df, err := os.ReadFile(dockerfile)
	if err != nil {
		return err
	}
	d := string(df)
	var errs []error
	for _, want := range []string{"RUN make build", "FROM gcr.io/distroless/static:nonroot", "USER 65532:65532", `ENTRYPOINT ["/jobwatch"]`} {
		if !strings.Contains(d, want) {
			errs = append(errs, fmt.Errorf("%s lacks %q", dockerfile, want))
		}
	}
	return errors.Join(errs...)
}
