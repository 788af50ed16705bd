package main

import (
	"fmt"
	"slices"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// seccompArch maps a GOARCH to the libseccomp architecture the profile's archMap and the
// arch conditions of its rules use.
func seccompArch(goarch string) (specs.Arch, string, error) {
	switch goarch {
	case "amd64":
		return specs.ArchX86_64, "amd64", nil
	case "arm64":
		return specs.ArchAARCH64, "arm64", nil
	case "ppc64le":
		return specs.ArchPPC64LE, "ppc64le", nil
	case "s390x":
		return specs.ArchS390X, "s390x", nil
	case "riscv64":
		return specs.ArchRISCV64, "riscv64", nil
	default:
		return "", "", fmt.Errorf("unsupported architecture %q", goarch)
	}
}

// flatten resolves the conditional rules of a Docker-format profile for one architecture
// and a container whose bounding set is caps, giving a plain profile for loaders without
// includes/excludes (such as the Security Profiles Operator). Minimum-kernel conditions
// count as met: the only one in the default profile is Linux 4.8.
func flatten(p *seccomp.Seccomp, goarch string, caps []string) (*specs.LinuxSeccomp, error) {
	arch, native, err := seccompArch(goarch)
	if err != nil {
		return nil, err
	}
	out := p.LinuxSeccomp
	out.Syscalls = nil
	out.Architectures = nil
	for _, a := range p.ArchMap {
		if a.Arch == arch {
			out.Architectures = append([]specs.Arch{a.Arch}, a.SubArches...)
		}
	}
	if len(out.Architectures) == 0 {
		return nil, fmt.Errorf("profile has no archMap entry for %s", arch)
	}
	for _, rule := range p.Syscalls {
		if excluded(rule.Excludes, native, caps) || !included(rule.Includes, native, caps) {
			continue
		}
		sc := rule.LinuxSyscall
		if rule.Name != "" {
			sc.Names = append([]string{rule.Name}, sc.Names...)
		}
		out.Syscalls = append(out.Syscalls, sc)
	}
	return &out, nil
}

// included says whether a rule with include filter f applies.
func included(f *seccomp.Filter, arch string, caps []string) bool {
	if f == nil {
		return true
	}
	if len(f.Arches) > 0 && !slices.Contains(f.Arches, arch) {
		return false
	}
	for _, c := range f.Caps {
		if !slices.Contains(caps, c) {
			return false
		}
	}
	return true
}

// excluded says whether a rule with exclude filter f is dropped.
func excluded(f *seccomp.Filter, arch string, caps []string) bool {
	if f == nil {
		return false
	}
	if slices.Contains(f.Arches, arch) || f.MinKernel != nil {
		return true
	}
	for _, c := range f.Caps {
		if slices.Contains(caps, c) {
			return true
		}
	}
	return false
}
