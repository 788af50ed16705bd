package runner

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

// envMap is the runner container's literal variables by name; it fails on duplicates,
// because Kubernetes lets the last one win.
func envMap(t *testing.T, pod *corev1.Pod) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range pod.Spec.Containers[0].Env {
		if _, dup := out[e.Name]; dup {
			t.Errorf("variable %s is set twice", e.Name)
		}
		out[e.Name] = e.Value
	}
	return out
}

func TestRunnerEnvCorralVariables(t *testing.T) {
	pod := buildTestPod(gen.RunnerPool("p"))
	jit := pod.Spec.Containers[0].Env[0]
	want := corev1.EnvVar{Name: EnvJITConfig, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: testRunner + "-jit"}, Key: "jitconfig",
	}}}
	if diff := cmp.Diff(want, jit); diff != "" {
		t.Errorf("JIT variable (-want +got):\n%s", diff)
	}
	env := envMap(t, pod)
	for name, value := range map[string]string{
		"RUNNER_MANUALLY_TRAP_SIG":                           "1",
		"ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE": "1",
		"HOME":            "/home/runner",
		"XDG_RUNTIME_DIR": "/var/run/user/1000",
		"DOCKER_HOST":     "unix:///var/run/docker.sock",
	} {
		if env[name] != value {
			t.Errorf("%s = %q, want %q", name, env[name], value)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if len(c.Env) > 0 {
			t.Errorf("init container %q has env %v, want none (never the JIT config)", c.Name, c.Env)
		}
	}

	none := envMap(t, buildTestPod(gen.RunnerPool("p", gen.WithContainers(corralv1.ContainersNone))))
	for _, name := range []string{"XDG_RUNTIME_DIR", "DOCKER_HOST"} {
		if _, ok := none[name]; ok {
			t.Errorf("None mode sets %s, which only podman needs", name)
		}
	}
}

func TestRunnerEnvUserMerge(t *testing.T) {
	pool := gen.RunnerPool("p",
		gen.WithEnv("FOO", "bar"),
		gen.WithEnv(EnvJITConfig, "stolen"),
		gen.WithEnv("RUNNER_MANUALLY_TRAP_SIG", "0"),
		gen.WithEnv("HOME", "/root"),
		gen.WithEnv("DOCKER_HOST", "tcp://evil:2375"),
		gen.WithEnv("COPY", "x$("+EnvJITConfig+")"),
		gen.WithEnv("HTTP_PROXY", "http://user-proxy:8080"),
		gen.WithEnv("LATER", "$(FOO)"),
	)
	env := envMap(t, buildTestPod(pool))
	if env["FOO"] != "bar" || env["LATER"] != "$(FOO)" {
		t.Errorf("user variables FOO=%q LATER=%q, want them passed through", env["FOO"], env["LATER"])
	}
	if env["RUNNER_MANUALLY_TRAP_SIG"] != "1" || env["HOME"] != RunnerHome || env["DOCKER_HOST"] != "unix:///var/run/docker.sock" {
		t.Errorf("user env overrode Corral's variables: %v", env)
	}
	if _, ok := env["COPY"]; ok {
		t.Error("a variable copying the JIT config must be dropped")
	}
	if env[EnvJITConfig] != "" {
		t.Error("the JIT config must never be a literal value")
	}
	// No pool proxy: the user's own proxy variable stands.
	if env["HTTP_PROXY"] != "http://user-proxy:8080" {
		t.Errorf("HTTP_PROXY = %q, want the user's value when the pool sets no proxy", env["HTTP_PROXY"])
	}
	// With a pool proxy, Corral's wins.
	pool = gen.RunnerPool("p", gen.WithProxy("http://corp:3128", "", ""), gen.WithEnv("HTTP_PROXY", "http://user-proxy:8080"))
	if got := envMap(t, buildTestPod(pool))["HTTP_PROXY"]; got != "http://corp:3128" {
		t.Errorf("HTTP_PROXY = %q, want the pool's proxy", got)
	}
}

func TestRunnerEnvProxyAndCA(t *testing.T) {
	tests := []struct {
		name    string
		mods    []gen.PoolModifier
		want    map[string]string
		notWant []string
	}{{
		name: "full proxy",
		mods: []gen.PoolModifier{gen.WithProxy("http://proxy:3128", "http://proxy:3129", "10.0.0.0/8", ".svc")},
		want: map[string]string{
			"HTTP_PROXY": "http://proxy:3128", "http_proxy": "http://proxy:3128",
			"HTTPS_PROXY": "http://proxy:3129", "https_proxy": "http://proxy:3129",
			"NO_PROXY": "10.0.0.0/8,.svc", "no_proxy": "10.0.0.0/8,.svc",
		},
		notWant: []string{"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"},
	}, {
		name:    "https proxy only",
		mods:    []gen.PoolModifier{gen.WithProxy("", "http://proxy:3128")},
		want:    map[string]string{"HTTPS_PROXY": "http://proxy:3128", "https_proxy": "http://proxy:3128"},
		notWant: []string{"HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"},
	}, {
		name: "CA bundle",
		mods: []gen.PoolModifier{gen.WithCABundle("corp-ca", "bundle.pem")},
		want: map[string]string{
			"SSL_CERT_FILE":       "/home/runner/.corral/ca-bundle.crt",
			"GIT_SSL_CAINFO":      "/home/runner/.corral/ca-bundle.crt",
			"NODE_EXTRA_CA_CERTS": "/etc/corral/ca/ca.crt",
		},
		notWant: []string{"HTTP_PROXY", "HTTPS_PROXY"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := envMap(t, buildTestPod(gen.RunnerPool("p", tt.mods...)))
			for k, v := range tt.want {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
			for _, k := range tt.notWant {
				if _, ok := env[k]; ok {
					t.Errorf("%s is set, want unset", k)
				}
			}
		})
	}
}
