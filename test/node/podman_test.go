//go:build node

package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

// podmanJob is what a job does with containers: each step prints "NAME: ok" or "NAME:
// failed: <its last lines>", so one run tells which steps a sandbox mode supports. The
// docker steps are the calls the actions runner makes for a `container:` job with a
// `services:` container, against the pod's podman socket (DOCKER_HOST).
const podmanJob = `
try() { local name=$1; shift; local out; if out=$("$@" 2>&1); then echo "$name: ok"; else echo "$name: failed: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"; fi; }
img=$(podman load -q -i /usr/share/corral-sandbox/bb.tar 2>&1 | sed -n 's/^Loaded image: //p')
echo "inner image: $img"
try "podman run" podman run --rm "$img" echo nested
mkdir -p ctx && printf 'FROM %s\nRUN echo built > /built\n' "$img" > ctx/Containerfile
try "buildah bud" buildah bud -q -t localhost/built ctx
try "built image runs" podman run --rm localhost/built cat /built
try "network create" podman network create jobnet
try "service with alias" podman run -d --name svc --network jobnet --network-alias db "$img" httpd -f -p 8080 -h /www
sleep 1
try "alias reaches service" podman run --rm --network jobnet "$img" sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc db 8080 | grep -q "inner image"'
for _ in $(seq 1 50); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
try "docker network create" docker network create corral_svc
try "docker create service" docker create --name redis --network corral_svc --network-alias redis "$img" httpd -f -p 6379 -h /www
try "docker start service" docker start redis
try "docker create job" docker create --name job --network corral_svc "$img" sleep 300
try "docker start job" docker start job
sleep 1
try "docker exec reaches service" docker exec job sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc redis 6379 | grep -q "inner image"'
try "docker logs" docker logs redis
try "docker rm" docker rm -f job redis
try "docker network rm" docker network rm corral_svc
exit 0
`

// isolatedSteps are what Isolated networking promises: nested containers, builds, named
// networks with aliases and the docker CLI's `container:` + `services:` sequence.
var isolatedSteps = []string{"podman run", "buildah bud", "built image runs", "network create", "service with alias", "alias reaches service",
	"docker network create", "docker create service", "docker start service", "docker create job", "docker start job",
	"docker exec reaches service", "docker logs", "docker rm", "docker network rm"}

// enforcePodSecurity labels the namespace to enforce a Pod Security level: the API server's
// own admission then refuses any pod of the pool that grades below it.
func enforcePodSecurity(ctx context.Context, ns, level string) {
	var n corev1.Namespace
	Expect(env.k8s.Get(ctx, client.ObjectKey{Name: ns}, &n)).To(Succeed())
	patch := client.MergeFrom(n.DeepCopy())
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.Labels["pod-security.kubernetes.io/enforce"] = level
	n.Labels["pod-security.kubernetes.io/enforce-version"] = "latest"
	Expect(env.k8s.Patch(ctx, &n, patch)).To(Succeed())
}

// steps are the lines of a podmanJob report: step name -> "ok" or the failure.
func steps(output string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(output, "\n") {
		name, result, ok := strings.Cut(line, ": ")
		if ok && (result == "ok" || strings.HasPrefix(result, "failed")) {
			out[name] = result
		}
	}
	return out
}

var _ = Describe("Podman runners on a real node", func() {
	It("cannot map a user namespace's IDs with the usual subordinate range runner:100000:65536", func(ctx SpecContext) {
		ns := newNamespace(ctx, "userns-range")
		pool := createPool(ctx, ns, "podman", gen.WithContainers(corralv1.ContainersPodman), gen.WithNetworking(corralv1.NestedNetworkingHost),
			gen.WithUserNamespace(true), gen.WithMinIdle(1), gen.WithMaxRunners(1),
			gen.WithEnv("CORRAL_NODE_JOB", podmanJob), gen.WithEnv("CORRAL_NODE_REPORT", env.reports.url(env.gateway)))
		rep := reportOfOrPodFailure(ctx, pool, firstPod(ctx, pool).Name)
		Expect(steps(rep.Output)).To(HaveKeyWithValue("podman run", ContainSubstring("newuidmap")),
			"docs/security.md: inside a pod user namespace only IDs 0-65535 exist; job output:\n%s", rep.Output)
	})

	modes := []struct {
		name string
		mods []gen.PoolModifier
		// must is what the mode promises (docs/sandbox.md); the rest is recorded.
		must []string
		// podSecurity, when set, is the level the pool's namespace enforces.
		podSecurity string
	}{
		{"Host networking, Localhost seccomp corral/podman.json", []gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingHost)},
			[]string{"podman run", "buildah bud", "built image runs"}, ""},
		{"Isolated networking with the tun hostPath (the seed's shape: seccomp and AppArmor Unconfined)",
			[]gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingIsolated), gen.WithTunDevice(corralv1.TunHostPath)},
			isolatedSteps, ""},
		{"Isolated networking with every default (the tun device plugin, seccomp Localhost, AppArmor runtime default), in a namespace enforcing Pod Security baseline",
			nil, isolatedSteps, "baseline"},
		{"Isolated networking with the tun device plugin in a user namespace (hostUsers: false), at Pod Security baseline",
			[]gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingIsolated), gen.WithTunDevice(corralv1.TunDevicePlugin),
				gen.WithUserNamespace(true), withImage("CORRAL_NODE_USERNS_IMAGE")},
			isolatedSteps, "baseline"},
		{"Host networking in a user namespace (hostUsers: false), subordinate IDs below 65536",
			[]gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingHost), gen.WithUserNamespace(true), withImage("CORRAL_NODE_USERNS_IMAGE")},
			[]string{"podman run", "buildah bud", "built image runs"}, ""},
	}
	for i, m := range modes {
		It("runs containers with "+m.name, func(ctx SpecContext) {
			ns := newNamespace(ctx, fmt.Sprintf("podman%d", i))
			if m.podSecurity != "" {
				enforcePodSecurity(ctx, ns, m.podSecurity)
			}
			mods := append([]gen.PoolModifier{gen.WithContainers(corralv1.ContainersPodman), gen.WithMinIdle(1), gen.WithMaxRunners(1),
				gen.WithEnv("CORRAL_NODE_JOB", podmanJob), gen.WithEnv("CORRAL_NODE_REPORT", env.reports.url(env.gateway))}, m.mods...)
			pool := createPool(ctx, ns, "podman", mods...)
			first := firstPod(ctx, pool)
			rep := reportOfOrPodFailure(ctx, pool, first.Name)
			got := steps(rep.Output)
			AddReportEntry(m.name, rep.Output)
			GinkgoWriter.Printf("%s:\n%s\n", m.name, rep.Output)
			// Kept beside the runs for docs/sandbox.md's table of what each mode supports.
			record := filepath.Join(harness.RepoRoot(), ".cache", "node-test", fmt.Sprintf("podman-mode-%d.txt", i))
			Expect(os.WriteFile(record, []byte(m.name+"\n"+rep.Output), 0o644)).To(Succeed())
			for _, s := range m.must {
				Expect(got).To(HaveKeyWithValue(s, "ok"), "step %q in %s; job output:\n%s", s, m.name, rep.Output)
			}
		})
	}
})

// withImage runs the pool on one of hack/node/build-images.sh's images (its images.env key).
func withImage(key string) gen.PoolModifier {
	return func(p *corralv1.RunnerPool) { gen.WithImage(env.images[key])(p) }
}

var _ = Describe("Isolated networking with the tun hostPath in a pod user namespace", func() {
	It("is refused by the API, because the runtime cannot mount the /dev/net/tun hostPath into it", func(ctx SpecContext) {
		ns := newNamespace(ctx, "userns-isolated")
		pool := env.fake.Pool(ns, "isolated", gen.WithContainers(corralv1.ContainersPodman),
			gen.WithNetworking(corralv1.NestedNetworkingIsolated), gen.WithTunDevice(corralv1.TunHostPath), gen.WithUserNamespace(true))
		err := env.k8s.Create(ctx, pool)
		Expect(err).To(MatchError(ContainSubstring("userNamespace with Isolated networking needs tunDevice DevicePlugin")), "a tenant gets a clear refusal")

		By("creating the pod Corral would build for it by hand: the runtime refuses it on this node")
		pod := builtPod(ctx, ns, "userns-isolated", func(p *corralv1.RunnerPool) { p.Spec.Sandbox.UserNamespace = true },
			gen.WithContainers(corralv1.ContainersPodman), gen.WithNetworking(corralv1.NestedNetworkingIsolated), gen.WithTunDevice(corralv1.TunHostPath),
			withImage("CORRAL_NODE_USERNS_IMAGE"))
		Expect(env.k8s.Create(ctx, pod)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, pod))).To(Succeed()) })
		var why string
		Eventually(func() string {
			why = startFailure(ctx, ns, pod.Name)
			return why
		}).WithContext(ctx).ShouldNot(BeEmpty(), "the runtime refuses the pod")
		AddReportEntry("Isolated networking with hostUsers: false", why)
		Expect(why).To(And(ContainSubstring("/dev/net/tun"), ContainSubstring("IDMAP")), "the reason the API refuses it")
	})
})
