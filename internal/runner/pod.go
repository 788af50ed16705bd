// Package runner builds what one runner of a RunnerPool is made of (its pod and its JIT
// Secret) and checks the pod against Corral's hardening policy. Everything here is pure:
// the same pool gives the same objects, and no cluster is needed to test it.
//
// docs/security.md explains every setting the builder applies and why.
package runner

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Names and paths inside the runner pod. The runner image follows the layout of GitHub's
// actions-runner image: the runner (run.sh) lives in RunnerHome, owned by user `runner`
// (UID/GID 1000).
const (
	// RunnerContainerName is the container that runs the GitHub Actions runner.
	RunnerContainerName = "runner"
	// InitContainerName is the container that prepares the runner's home before it starts.
	InitContainerName = "init"

	// RunnerHome is the runner's home and working directory. An emptyDir is mounted here,
	// so the init container copies the image's runner files into it first.
	RunnerHome = "/home/runner"
	// RunScript is the runner's entry point.
	RunScript = RunnerHome + "/run.sh"
	// RunnerUID is the user every container of the pod runs as.
	RunnerUID int64 = 1000
	// RunnerGID is the group every container of the pod runs as.
	RunnerGID int64 = 1000

	// TerminationGracePeriodSeconds is how long a runner gets after SIGTERM: run.sh forwards
	// the signal (RUNNER_MANUALLY_TRAP_SIG) and the listener cancels its job and reports the
	// result to GitHub, which takes a few seconds and, with job cleanup steps, up to a minute.
	TerminationGracePeriodSeconds int64 = 90

	// AnnotationKarpenterDoNotDisrupt stops Karpenter from consolidating a node running a
	// runner (a finalizer does not stop an eviction from killing a running job).
	AnnotationKarpenterDoNotDisrupt = "karpenter.sh/do-not-disrupt"
	// AnnotationSafeToEvict stops the cluster-autoscaler from evicting a runner pod when it
	// scales a node down.
	AnnotationSafeToEvict = "cluster-autoscaler.kubernetes.io/safe-to-evict"
)

// BuildPod returns the runner pod for one runner of pool. name is the runner's name (also
// the pod name and the GitHub runner name, already unique, at most 63 characters);
// secretName names the runner's JIT Secret (see JITSecretName). The result depends only on
// its inputs.
//
// The pod carries the labels corral.run/pool, corral.run/runner, corral.run/component=runner
// and the managed-by label; the annotation corral.run/template-hash (TemplateHash) and the
// autoscaler opt-outs; a controller owner reference to the pool; and the deregistration
// finalizer. The controller adds the runner-ID annotation after registration.
func BuildPod(pool *corralv1.RunnerPool, name, secretName string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: pool.Namespace,
			Labels: map[string]string{
				corralv1.LabelPool:      pool.Name,
				corralv1.LabelRunner:    name,
				corralv1.LabelComponent: corralv1.ComponentRunner,
				corralv1.LabelManagedBy: corralv1.ManagedByValue,
			},
			Annotations: map[string]string{
				corralv1.AnnotationTemplateHash: TemplateHash(pool),
				AnnotationKarpenterDoNotDisrupt: "true",
				AnnotationSafeToEvict:           "false",
			},
			OwnerReferences: []metav1.OwnerReference{poolOwnerReference(pool)},
			Finalizers:      []string{corralv1.FinalizerRunner},
		},
		Spec: buildPodSpec(pool, secretName),
	}
}

// poolOwnerReference is the controller reference from a runner pod to its pool. It blocks
// the pool's foreground deletion until the pod is gone.
func poolOwnerReference(pool *corralv1.RunnerPool) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         corralv1.GroupVersion.String(),
		Kind:               "RunnerPool",
		Name:               pool.Name,
		UID:                pool.UID,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}

// buildPodSpec is the pod's spec. TemplateHash hashes it, so everything that changes a
// runner pod must come from here.
func buildPodSpec(pool *corralv1.RunnerPool, secretName string) corev1.PodSpec {
	// Copies: the pod must share no map, slice or pointer with the pool.
	t := pool.Spec.Template.DeepCopy()
	spec := corev1.PodSpec{
		// One job, then gone: the controller replaces finished runners.
		RestartPolicy: corev1.RestartPolicyNever,
		// Jobs get no Kubernetes credentials and no list of the namespace's services.
		AutomountServiceAccountToken:  ptr.To(false),
		EnableServiceLinks:            ptr.To(false),
		TerminationGracePeriodSeconds: ptr.To(TerminationGracePeriodSeconds),
		SecurityContext:               podSecurityContext(),
		InitContainers:                []corev1.Container{initContainer(pool)},
		Containers:                    []corev1.Container{runnerContainer(pool, secretName)},
		Volumes:                       volumes(pool),
		ImagePullSecrets:              t.ImagePullSecrets,
		NodeSelector:                  t.NodeSelector,
		Affinity:                      t.Affinity,
		Tolerations:                   t.Tolerations,
		PriorityClassName:             t.PriorityClassName,
	}
	if rc := pool.Spec.Sandbox.RuntimeClassName; rc != nil {
		spec.RuntimeClassName = ptr.To(*rc)
	}
	if pool.Spec.Sandbox.UserNamespace {
		// Root inside the pod is an unprivileged user on the node. Needs containerd >= 2.0
		// or CRI-O >= 1.25 and a kernel with idmapped mounts; only IDs 0-65535 exist inside,
		// so the image's /etc/subuid and /etc/subgid ranges must fit below 65536.
		spec.HostUsers = ptr.To(false)
	}
	return spec
}

// runnerContainer runs the GitHub Actions runner: run.sh as UID 1000, in Podman mode after
// starting the docker-compatible podman socket (see RunnerScript).
func runnerContainer(pool *corralv1.RunnerPool, secretName string) corev1.Container {
	c := corev1.Container{
		Name:            RunnerContainerName,
		Image:           pool.Spec.Template.Image,
		ImagePullPolicy: pool.Spec.Template.ImagePullPolicy,
		WorkingDir:      RunnerHome,
		Env:             runnerEnv(pool, secretName),
		Resources:       withTun(runnerResources(pool.Spec.Template.Resources), TunDeviceOf(pool) == corralv1.TunDevicePlugin),
		SecurityContext: runnerSecurityContext(pool),
		VolumeMounts:    runnerVolumeMounts(pool),
	}
	if podmanEnabled(pool) {
		c.Command = []string{"/bin/sh", "-c", RunnerScript()}
	} else {
		c.Command = []string{RunScript}
	}
	return c
}

// initContainer prepares the runner's home (see InitScript). It runs the runner image as
// UID 1000, fully confined: it only copies files and writes configuration into emptyDirs.
// It gets the runner's resources: the pod's effective request is the larger of the two, so
// this costs no extra capacity, and a memory-backed home is charged to whoever writes it.
func initContainer(pool *corralv1.RunnerPool) corev1.Container {
	return corev1.Container{
		Name:            InitContainerName,
		Image:           pool.Spec.Template.Image,
		ImagePullPolicy: pool.Spec.Template.ImagePullPolicy,
		Command:         []string{"/bin/sh", "-c", InitScript(pool)},
		Resources:       withTun(runnerResources(pool.Spec.Template.Resources), false),
		SecurityContext: confinedSecurityContext(),
		VolumeMounts:    initVolumeMounts(pool),
	}
}

// podmanEnabled reports whether jobs may run nested containers with rootless podman.
func podmanEnabled(pool *corralv1.RunnerPool) bool {
	return pool.Spec.Sandbox.Containers != corralv1.ContainersNone
}

// nestedNetworking is the pool's nested networking mode with its default (Isolated).
func nestedNetworking(pool *corralv1.RunnerPool) corralv1.NestedNetworking {
	if pool.Spec.Sandbox.Networking == "" {
		return corralv1.NestedNetworkingIsolated
	}
	return pool.Spec.Sandbox.Networking
}

// needsTun reports whether the runner gets /dev/net/tun: Podman with Isolated networking.
func needsTun(pool *corralv1.RunnerPool) bool {
	return podmanEnabled(pool) && nestedNetworking(pool) == corralv1.NestedNetworkingIsolated
}

// TunDeviceOf is how the pool's runner gets /dev/net/tun, with its default (DevicePlugin:
// no hostPath, so the pod grades Pod Security baseline); "" when it gets none.
func TunDeviceOf(pool *corralv1.RunnerPool) corralv1.TunDevice {
	switch {
	case !needsTun(pool):
		return ""
	case pool.Spec.Sandbox.TunDevice == "":
		return corralv1.TunDevicePlugin
	default:
		return pool.Spec.Sandbox.TunDevice
	}
}
