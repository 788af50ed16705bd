package runner

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Environment variables Corral sets on the runner container.
const (
	// EnvJITConfig carries the encoded JIT configuration. The runner reads it at start and
	// removes it from the environment its jobs inherit. Only ever from the JIT Secret.
	EnvJITConfig = "ACTIONS_RUNNER_INPUT_JITCONFIG"
	// EnvTrapSignals makes run.sh forward SIGTERM to the listener (by default it does not,
	// and a deleted pod's job is killed without being reported).
	EnvTrapSignals = "RUNNER_MANUALLY_TRAP_SIG"
	// EnvDeprecatedExitCode makes run.sh exit with the listener's code (7 when the runner
	// version is deprecated) instead of 0.
	EnvDeprecatedExitCode = "ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE"
	// JITConfigKey is the JIT Secret's only key.
	JITConfigKey = "jitconfig"
)

// runnerEnv is the runner container's environment: Corral's variables first, then the
// pool's env without any variable Corral sets (see mergeUserEnv).
func runnerEnv(pool *corralv1.RunnerPool, secretName string) []corev1.EnvVar {
	env := []corev1.EnvVar{
		{Name: EnvJITConfig, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secretName},
			Key:                  JITConfigKey,
		}}},
		{Name: EnvTrapSignals, Value: "1"},
		{Name: EnvDeprecatedExitCode, Value: "1"},
		{Name: "HOME", Value: RunnerHome},
	}
	if podmanEnabled(pool) {
		env = append(env,
			corev1.EnvVar{Name: "XDG_RUNTIME_DIR", Value: RuntimeDir},
			corev1.EnvVar{Name: "DOCKER_HOST", Value: "unix://" + DockerSocketPath},
			// buildah's default isolation mounts a fresh /proc, which the pod's masked /proc
			// refuses; chroot isolation works in an unprivileged pod (make test-sandbox).
			corev1.EnvVar{Name: "BUILDAH_ISOLATION", Value: "chroot"},
		)
	}
	env = append(env, proxyEnv(pool.Spec.GitHub.Proxy)...)
	if pool.Spec.GitHub.CABundle != nil {
		env = append(env,
			// OpenSSL (the runner itself, curl, Python), Go (podman pulling images) and git
			// read the system roots plus the pool's CA from this combined file.
			corev1.EnvVar{Name: "SSL_CERT_FILE", Value: TrustBundleFile},
			corev1.EnvVar{Name: "GIT_SSL_CAINFO", Value: TrustBundleFile},
			// Node.js (JavaScript actions) adds these to its built-in roots.
			corev1.EnvVar{Name: "NODE_EXTRA_CA_CERTS", Value: CABundleFile},
		)
	}
	return append(env, mergeUserEnv(env, pool.Spec.Template.Env)...)
}

// proxyEnv passes the pool's proxy to the runner in both the upper- and lower-case forms
// tools read (the runner itself reads the lower-case ones).
func proxyEnv(p *corralv1.ProxySpec) []corev1.EnvVar {
	if p == nil {
		return nil
	}
	var env []corev1.EnvVar
	add := func(name, value string) {
		if value != "" {
			env = append(env,
				corev1.EnvVar{Name: name, Value: value},
				corev1.EnvVar{Name: strings.ToLower(name), Value: value},
			)
		}
	}
	add("HTTP_PROXY", p.HTTPProxy)
	add("HTTPS_PROXY", p.HTTPSProxy)
	add("NO_PROXY", strings.Join(p.NoProxy, ","))
	return env
}

// mergeUserEnv returns the pool's variables that may be added after Corral's: a variable
// Corral sets is dropped (a later duplicate would win in Kubernetes), and so is one whose
// value expands the JIT configuration into another name ($(ACTIONS_RUNNER_INPUT_JITCONFIG)),
// which would keep it where jobs can read it after the runner scrubbed its own copy.
func mergeUserEnv(corral, user []corev1.EnvVar) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, e := range user {
		reserved := slices.ContainsFunc(corral, func(c corev1.EnvVar) bool { return c.Name == e.Name })
		if reserved || e.Name == EnvJITConfig || expandsJITConfig(e) {
			continue
		}
		out = append(out, *e.DeepCopy())
	}
	return out
}

// expandsJITConfig reports whether an env var's value references the JIT configuration.
func expandsJITConfig(e corev1.EnvVar) bool {
	return strings.Contains(e.Value, "$("+EnvJITConfig+")")
}
