package runner

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Volumes of the runner pod and where they are mounted.
const (
	// VolumeHome is the emptyDir at RunnerHome: the runner files, the job's workspace and,
	// in Podman mode, the container storage. Overlay storage needs it: the kernel refuses
	// an overlay whose upper directory sits on the container's own overlay root.
	VolumeHome = "home"
	// VolumeTmp is the emptyDir at /tmp (the root filesystem is read-only in None mode).
	VolumeTmp = "tmp"
	// VolumeRun is the memory-backed emptyDir at /var/run in Podman mode: podman's runtime
	// directory (XDG_RUNTIME_DIR) and the docker-compatible socket.
	VolumeRun = "run"
	// VolumeTun is the node's /dev/net/tun (hostPath, CharDevice) in Podman mode with
	// Isolated networking and tunDevice HostPath: slirp4netns and pasta need it for nested
	// network namespaces. With tunDevice DevicePlugin the runner requests TunResource instead.
	VolumeTun = "dev-net-tun"
	// VolumeCABundle is the pool's CA bundle ConfigMap key, when set.
	VolumeCABundle = "ca-bundle"

	// TunPath is the tun device, on the node and in the runner container.
	TunPath = "/dev/net/tun"
	// RunDir is where VolumeRun is mounted in the runner container. In the usual image
	// /var/run links to /run; mounting here makes DockerSocketPath exist either way.
	RunDir = "/var/run"
	// RuntimeDir is podman's XDG_RUNTIME_DIR in the runner container.
	RuntimeDir = RunDir + "/user/1000"
	// DockerSocketPath is the docker-compatible API socket served by `podman system
	// service`. The actions runner bind-mounts exactly this path into `container:` jobs and
	// container actions, and the docker CLI uses it by default (DOCKER_HOST is set too).
	DockerSocketPath = RunDir + "/docker.sock"
	// CABundleDir is where the pool's CA bundle is mounted (read-only) in both containers.
	CABundleDir = "/etc/corral/ca"
	// CABundleFile is the mounted CA bundle file.
	CABundleFile = CABundleDir + "/ca.crt"
	// TrustBundleFile is the system CA bundle plus the pool's CA bundle, written by the init
	// container; SSL_CERT_FILE and GIT_SSL_CAINFO point to it.
	TrustBundleFile = RunnerHome + "/.corral/ca-bundle.crt"

	// InitHomeDir is where the init container mounts VolumeHome (the image's RunnerHome
	// stays visible, so its files can be copied).
	InitHomeDir = "/corral/home"
	// InitRunDir is where the init container mounts VolumeRun.
	InitRunDir = "/corral/run"
)

// DefaultWorkVolumeSize is the work volume's size limit when the pool sets none (the CRD's
// default).
const DefaultWorkVolumeSize = "20Gi"

// RunVolumeSize bounds the memory-backed runtime directory: sockets, locks and state files.
const RunVolumeSize = "64Mi"

// volumes are the pod's volumes: only emptyDirs, the CA bundle ConfigMap and, for Podman
// with Isolated networking and tunDevice HostPath, the tun device.
func volumes(pool *corralv1.RunnerPool) []corev1.Volume {
	work := workEmptyDir(pool.Spec.Sandbox.WorkVolume)
	vols := []corev1.Volume{
		{Name: VolumeHome, VolumeSource: corev1.VolumeSource{EmptyDir: work}},
		{Name: VolumeTmp, VolumeSource: corev1.VolumeSource{EmptyDir: work.DeepCopy()}},
	}
	if podmanEnabled(pool) {
		size := resource.MustParse(RunVolumeSize)
		vols = append(vols, corev1.Volume{Name: VolumeRun, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size},
		}})
	}
	if TunDeviceOf(pool) == corralv1.TunHostPath {
		charDevice := corev1.HostPathCharDev
		vols = append(vols, corev1.Volume{Name: VolumeTun, VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: TunPath, Type: &charDevice},
		}})
	}
	if ca := pool.Spec.GitHub.CABundle; ca != nil {
		vols = append(vols, corev1.Volume{Name: VolumeCABundle, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: ca.Name},
				Items:                []corev1.KeyToPath{{Key: caBundleKey(ca), Path: "ca.crt"}},
			},
		}})
	}
	return vols
}

// workEmptyDir is the emptyDir of the work volume, with the CRD's default size.
func workEmptyDir(wv corralv1.WorkVolume) *corev1.EmptyDirVolumeSource {
	size := resource.MustParse(DefaultWorkVolumeSize)
	if wv.SizeLimit != nil {
		size = wv.SizeLimit.DeepCopy()
	}
	return &corev1.EmptyDirVolumeSource{Medium: wv.Medium, SizeLimit: &size}
}

// caBundleKey is the ConfigMap key of the CA bundle, with the CRD's default.
func caBundleKey(ca *corralv1.ConfigMapKeyRef) string {
	if ca.Key == "" {
		return "ca.crt"
	}
	return ca.Key
}

// runnerVolumeMounts mount the home, /tmp, and in Podman mode the runtime directory and the
// tun device, into the runner container.
func runnerVolumeMounts(pool *corralv1.RunnerPool) []corev1.VolumeMount {
	mounts := []corev1.VolumeMount{
		{Name: VolumeHome, MountPath: RunnerHome},
		{Name: VolumeTmp, MountPath: "/tmp"},
	}
	if podmanEnabled(pool) {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeRun, MountPath: RunDir})
	}
	if TunDeviceOf(pool) == corralv1.TunHostPath {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeTun, MountPath: TunPath})
	}
	if pool.Spec.GitHub.CABundle != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeCABundle, MountPath: CABundleDir, ReadOnly: true})
	}
	return mounts
}

// initVolumeMounts mount the home and runtime directory at staging paths, so the image's
// RunnerHome stays visible to copy from.
func initVolumeMounts(pool *corralv1.RunnerPool) []corev1.VolumeMount {
	mounts := []corev1.VolumeMount{{Name: VolumeHome, MountPath: InitHomeDir}}
	if podmanEnabled(pool) {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeRun, MountPath: InitRunDir})
	}
	if pool.Spec.GitHub.CABundle != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeCABundle, MountPath: CABundleDir, ReadOnly: true})
	}
	return mounts
}
