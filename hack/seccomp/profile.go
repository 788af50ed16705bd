package main

import (
	"fmt"
	"slices"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// podmanSyscalls returns the syscalls nested rootless podman needs beyond the runtime default
// profile, each verified on its own by test/sandbox: without any one of them `podman run`
// inside the runner container fails. The default profile allows most of them only with
// CAP_SYS_ADMIN, which the runner container never has.
//
// chroot is not in the lab's list: `buildah bud` needs it (its copier chroots into the
// image for COPY and RUN, and RUN steps use chroot isolation, see docs/sandbox.md).
// Not needed: clone3 (the default profile answers ENOSYS and callers fall back to clone).
func podmanSyscalls() []string {
	return []string{
		"chroot",      // buildah's copier and chroot isolation
		"clone",       // with CLONE_NEWUSER/NEWNS/NEWPID/... flags
		"keyctl",      // runc joins a fresh session keyring
		"mount",       // rootfs, /proc and /sys binds, overlay
		"pivot_root",  // the OCI runtime's switch into the rootfs
		"sethostname", // the container's UTS namespace
		"setns",       // joining the rootless user and mount namespaces
		"umount2",     // detaching the old root
		"unshare",     // podman's rootless user namespace
	}
}

// podmanComment is the comment on the rule Corral adds to the runtime default profile.
const podmanComment = "corral: nested rootless podman and buildah (user namespaces, mounts, pivot_root, chroot); see docs/sandbox.md"

// runtimeDefault returns the runtime default profile of moby/profiles/seccomp, the profile
// Docker and (nearly the same) containerd apply as RuntimeDefault.
func runtimeDefault() *seccomp.Seccomp {
	return seccomp.DefaultProfile()
}

// podmanProfile returns the runtime default profile plus one rule that allows
// podmanSyscalls unconditionally, leaving out the syscalls in omit (for negative tests).
func podmanProfile(omit []string) (*seccomp.Seccomp, error) {
	added := podmanSyscalls()
	for _, name := range omit {
		if !slices.Contains(added, name) {
			return nil, fmt.Errorf("cannot omit %q: it is not one of the added syscalls %v", name, added)
		}
	}
	names := slices.DeleteFunc(added, func(s string) bool { return slices.Contains(omit, s) })
	p := runtimeDefault()
	if len(names) == 0 {
		return p, nil
	}
	p.Syscalls = append(p.Syscalls, &seccomp.Syscall{
		LinuxSyscall: specs.LinuxSyscall{Names: names, Action: specs.ActAllow},
		Comment:      podmanComment,
	})
	return p, nil
}
