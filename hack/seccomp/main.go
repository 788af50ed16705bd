// Command seccomp generates Corral's Localhost seccomp profile for nested rootless podman:
// the container runtime default profile of github.com/moby/profiles/seccomp plus the
// syscalls podman needs (podmanSyscalls), and the manifests that install it on nodes.
//
//	go run ./hack/seccomp                       # regenerate config/seccomp/ (from the repo root)
//	go run ./hack/seccomp -o podman.json        # just the profile
//	go run ./hack/seccomp -base -o default.json # the runtime default profile alone
//	go run ./hack/seccomp -omit mount -o x.json # the profile without one added syscall
//	go run ./hack/seccomp -spo-arch arm64 -o -  # the SPO SeccompProfile for arm64
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/profiles/seccomp"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "seccomp:", err)
		os.Exit(1)
	}
}

// run parses args and writes the requested files.
func run(args []string) error {
	fs := flag.NewFlagSet("seccomp", flag.ContinueOnError)
	dir := fs.String("dir", filepath.Join("config", "seccomp"), "directory to regenerate when -o is not set")
	out := fs.String("o", "", "write only one profile to this file ('-' for stdout)")
	base := fs.Bool("base", false, "with -o: the runtime default profile without Corral's additions")
	omit := fs.String("omit", "", "with -o: comma-separated added syscalls to leave out (negative tests)")
	spoArch := fs.String("spo-arch", "", "with -o: write the Security Profiles Operator SeccompProfile for this GOARCH")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		if *base || *omit != "" || *spoArch != "" {
			return errors.New("-base, -omit and -spo-arch need -o")
		}
		return writeConfig(*dir)
	}
	var omitted []string
	if *omit != "" {
		omitted = strings.Split(*omit, ",")
	}
	data, err := oneFile(*base, omitted, *spoArch)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = os.Stdout.Write(data)
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}

// oneFile renders a single profile: the runtime default, or Corral's profile without the
// omitted syscalls, as JSON or (spoArch set) as a SeccompProfile.
func oneFile(base bool, omit []string, spoArch string) ([]byte, error) {
	var p *seccomp.Seccomp
	if base {
		if len(omit) > 0 {
			return nil, errors.New("-base and -omit exclude each other")
		}
		p = runtimeDefault()
	} else {
		var err error
		if p, err = podmanProfile(omit); err != nil {
			return nil, err
		}
	}
	if spoArch != "" {
		return spoSeccompProfile(p, spoArch, nil)
	}
	return profileJSON(p)
}

// configFiles renders every generated file of config/seccomp, by file name.
func configFiles() (map[string][]byte, error) {
	p, err := podmanProfile(nil)
	if err != nil {
		return nil, err
	}
	profile, err := profileJSON(p)
	if err != nil {
		return nil, err
	}
	inst, err := installer(profile)
	if err != nil {
		return nil, err
	}
	spo, err := spoSeccompProfile(p, "amd64", nil)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		"podman.json":             profile,
		"installer.yaml":          inst,
		"spo-seccompprofile.yaml": spo,
	}, nil
}

// writeConfig regenerates the files of config/seccomp in dir.
func writeConfig(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("output directory (run from the repository root): %w", err)
	}
	files, err := configFiles()
	if err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}
