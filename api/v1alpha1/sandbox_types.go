package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ContainersMode says whether jobs may run containers inside the runner.
// +kubebuilder:validation:Enum=Podman;None
type ContainersMode string

const (
	// ContainersPodman lets jobs build and run containers with rootless podman and buildah,
	// with a docker-compatible socket for `container:` jobs and service containers. The runner
	// container gets exactly the relaxations rootless podman needs (see docs/security.md).
	ContainersPodman ContainersMode = "Podman"
	// ContainersNone runs no nested containers: the pod passes Pod Security "restricted".
	ContainersNone ContainersMode = "None"
)

// NestedNetworking says how containers started by a job are networked.
// +kubebuilder:validation:Enum=Isolated;Host
type NestedNetworking string

const (
	// NestedNetworkingIsolated gives job containers their own network namespaces (slirp4netns
	// or pasta through /dev/net/tun): named networks and service aliases work. With the
	// device from a hostPath (tunDevice HostPath) the pod grades "privileged" under Pod
	// Security; from Corral's device plugin (tunDevice DevicePlugin) with Localhost seccomp it
	// grades "baseline".
	NestedNetworkingIsolated NestedNetworking = "Isolated"
	// NestedNetworkingHost runs job containers in the pod's network namespace: no /dev/net/tun,
	// no hostPath. With Localhost seccomp and AppArmor profiles the pod grades "baseline".
	// Service containers are reached on localhost instead of by alias, and job containers
	// share ports.
	NestedNetworkingHost NestedNetworking = "Host"
)

// TunDevice says how a Podman pool with Isolated networking gets /dev/net/tun.
// +kubebuilder:validation:Enum=DevicePlugin;HostPath
type TunDevice string

const (
	// TunDevicePlugin requests one corral.run/tun from Corral's device plugin (the chart's
	// tunDevicePlugin DaemonSet): no hostPath, so the pod can grade Pod Security baseline.
	TunDevicePlugin TunDevice = "DevicePlugin"
	// TunHostPath mounts the node's /dev/net/tun as a CharDevice hostPath: works without the
	// plugin, but Pod Security grades any hostPath privileged.
	TunHostPath TunDevice = "HostPath"
)

// SeccompProfileType is the kind of seccomp profile of the runner container.
// +kubebuilder:validation:Enum=RuntimeDefault;Localhost;Unconfined
type SeccompProfileType string

const (
	// SeccompRuntimeDefault is the container runtime's default profile. It blocks nested
	// podman, so it is only valid with containers None.
	SeccompRuntimeDefault SeccompProfileType = "RuntimeDefault"
	// SeccompLocalhost is a profile file installed on the nodes, e.g. Corral's podman
	// profile (the runtime default plus the 9 syscalls rootless podman and buildah need).
	SeccompLocalhost SeccompProfileType = "Localhost"
	// SeccompUnconfined turns seccomp off for the runner container.
	SeccompUnconfined SeccompProfileType = "Unconfined"
)

// AppArmorProfileType is the kind of AppArmor profile of the runner container.
// +kubebuilder:validation:Enum=RuntimeDefault;Localhost;Unconfined
type AppArmorProfileType string

const (
	// AppArmorRuntimeDefault is the runtime's default profile (denies mount).
	AppArmorRuntimeDefault AppArmorProfileType = "RuntimeDefault"
	// AppArmorLocalhost is a profile loaded on the nodes, e.g. Corral's corral-podman.
	AppArmorLocalhost AppArmorProfileType = "Localhost"
	// AppArmorUnconfined turns AppArmor off for the runner container.
	AppArmorUnconfined AppArmorProfileType = "Unconfined"
)

// DefaultSeccompLocalhostProfile is where Corral's podman seccomp profile is installed,
// relative to the kubelet's seccomp directory.
const DefaultSeccompLocalhostProfile = "corral/podman.json"

// DefaultAppArmorLocalhostProfile is the name of Corral's podman AppArmor profile.
const DefaultAppArmorLocalhostProfile = "corral-podman"

// SandboxSpec says how jobs may run containers and how the runner container is confined.
//
// +kubebuilder:validation:XValidation:rule="!has(self.containers) || self.containers != 'None' || !has(self.seccompProfile) || self.seccompProfile.type == 'RuntimeDefault' || self.seccompProfile.type == 'Localhost'",message="containers None relaxes nothing: seccompProfile must be RuntimeDefault or Localhost"
// +kubebuilder:validation:XValidation:rule="!has(self.containers) || self.containers != 'Podman' || !has(self.seccompProfile) || self.seccompProfile.type != 'RuntimeDefault'",message="containers Podman cannot run under the RuntimeDefault seccomp profile (it blocks clone/unshare/mount): use Localhost or Unconfined"
// +kubebuilder:validation:XValidation:rule="!has(self.containers) || self.containers != 'None' || !has(self.appArmorProfile) || self.appArmorProfile.type != 'Unconfined'",message="containers None relaxes nothing: appArmorProfile must not be Unconfined"
// +kubebuilder:validation:XValidation:rule="!has(self.containers) || self.containers != 'None' || !has(self.networking)",message="networking applies to containers Podman only"
// +kubebuilder:validation:XValidation:rule="!has(self.tunDevice) || ((!has(self.containers) || self.containers == 'Podman') && (!has(self.networking) || self.networking == 'Isolated'))",message="tunDevice applies to containers Podman with networking Isolated only"
// +kubebuilder:validation:XValidation:rule="!has(self.userNamespace) || !self.userNamespace || (has(self.containers) && self.containers == 'None') || (has(self.networking) && self.networking == 'Host') || !has(self.tunDevice) || self.tunDevice == 'DevicePlugin'",message="userNamespace with Isolated networking needs tunDevice DevicePlugin (the default; or networking Host, or containers None): the runtime cannot idmap-mount the /dev/net/tun hostPath into a pod user namespace (docs/sandbox.md)"
// +kubebuilder:validation:XValidation:rule="!has(self.seLinuxOptions) || (!has(self.seLinuxOptions.user) && !has(self.seLinuxOptions.role) && !has(self.seLinuxOptions.level))",message="seLinuxOptions may set only type: user, role and level would step outside the container's SELinux confinement"
type SandboxSpec struct {
	// containers says whether jobs may run containers: Podman (rootless podman/buildah) or
	// None.
	// +optional
	// +kubebuilder:default=Podman
	Containers ContainersMode `json:"containers,omitempty"`

	// networking of nested containers (Podman only): Isolated (default; needs /dev/net/tun
	// from the node, see tunDevice) or Host (no device, Pod Security baseline with Localhost
	// profiles).
	// +optional
	Networking NestedNetworking `json:"networking,omitempty"`

	// tunDevice is how the runner gets /dev/net/tun with Podman and Isolated networking:
	// DevicePlugin (default; the extended resource corral.run/tun from Corral's device plugin,
	// which must run on the pool's nodes: no hostPath, Pod Security baseline) or HostPath (a
	// CharDevice hostPath, as the seed runs it: works without the plugin, Pod Security
	// privileged).
	// +optional
	TunDevice TunDevice `json:"tunDevice,omitempty"`

	// userNamespace runs the pod in its own user namespace (hostUsers: false): root inside
	// is an unprivileged user on the node. With containers Podman and Isolated networking it needs
	// tunDevice DevicePlugin. Needs Kubernetes 1.33+, containerd 2.0+ or
	// CRI-O 1.25+ and a recent kernel; inside the pod only IDs 0-65535 exist, so the image's
	// subuid/subgid ranges must fit (see docs/security.md).
	// +optional
	UserNamespace bool `json:"userNamespace,omitempty"`

	// seccompProfile of the runner container. Defaults: Podman with Isolated networking:
	// Unconfined (tunDevice HostPath) or Localhost corral/podman.json (tunDevice
	// DevicePlugin); Podman with Host networking: Localhost corral/podman.json; None:
	// RuntimeDefault. Corral ships the Localhost profile (docs/security.md).
	// +optional
	SeccompProfile *SeccompProfile `json:"seccompProfile,omitempty"`

	// appArmorProfile of the runner container (other containers keep the runtime default).
	// Defaults: Podman with Isolated networking: Unconfined (tunDevice HostPath) or
	// RuntimeDefault (tunDevice DevicePlugin); Podman with Host networking: RuntimeDefault (set
	// Localhost corral-podman on AppArmor nodes); None: RuntimeDefault.
	// +optional
	AppArmorProfile *AppArmorProfile `json:"appArmorProfile,omitempty"`

	// seLinuxOptions of the runner container, for SELinux nodes whose policy denies nested
	// containers (type container_engine_t; spc_t, which is unconfined, is always refused).
	// Only type may be set. Unset leaves the runtime default.
	// +optional
	SELinuxOptions *corev1.SELinuxOptions `json:"seLinuxOptions,omitempty"`

	// runtimeClassName of runner pods, e.g. gvisor or kata for stronger isolation.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	RuntimeClassName *string `json:"runtimeClassName,omitempty"`

	// workVolume is the emptyDir at the runner's home: the job's workspace and, for Podman,
	// the container storage.
	// +optional
	// +kubebuilder:default={}
	WorkVolume WorkVolume `json:"workVolume,omitempty"`
}

// SeccompProfile selects a seccomp profile.
//
// +kubebuilder:validation:XValidation:rule="self.type != 'Localhost' || has(self.localhostProfile)",message="seccompProfile.localhostProfile is required when type is Localhost"
// +kubebuilder:validation:XValidation:rule="self.type == 'Localhost' || !has(self.localhostProfile)",message="seccompProfile.localhostProfile may only be set when type is Localhost"
type SeccompProfile struct {
	// type of the profile: RuntimeDefault, Localhost or Unconfined.
	// +required
	Type SeccompProfileType `json:"type"`

	// localhostProfile is the profile's path relative to the kubelet's seccomp directory,
	// e.g. corral/podman.json.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.contains('..')",message="localhostProfile must be a relative path without '..'"
	LocalhostProfile *string `json:"localhostProfile,omitempty"`
}

// AppArmorProfile selects an AppArmor profile.
//
// +kubebuilder:validation:XValidation:rule="self.type != 'Localhost' || has(self.localhostProfile)",message="appArmorProfile.localhostProfile is required when type is Localhost"
// +kubebuilder:validation:XValidation:rule="self.type == 'Localhost' || !has(self.localhostProfile)",message="appArmorProfile.localhostProfile may only be set when type is Localhost"
type AppArmorProfile struct {
	// type of the profile: RuntimeDefault, Localhost or Unconfined.
	// +required
	Type AppArmorProfileType `json:"type"`

	// localhostProfile is the name of a profile loaded on the node, e.g. corral-podman.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	LocalhostProfile *string `json:"localhostProfile,omitempty"`
}

// WorkVolume configures the emptyDir at the runner's home.
type WorkVolume struct {
	// sizeLimit caps the volume; the pod is evicted when a job writes more.
	// +optional
	// +kubebuilder:default="20Gi"
	// +kubebuilder:validation:XValidation:rule="quantity(self).isGreaterThan(quantity('1Gi')) || quantity(self).compareTo(quantity('1Gi')) == 0",message="workVolume.sizeLimit must be at least 1Gi"
	SizeLimit *resource.Quantity `json:"sizeLimit,omitempty"`

	// medium of the emptyDir: "" (node disk, default) or Memory (tmpfs, counts against the
	// pod's memory).
	// +optional
	// +kubebuilder:validation:Enum="";Memory
	Medium corev1.StorageMedium `json:"medium,omitempty"`
}
