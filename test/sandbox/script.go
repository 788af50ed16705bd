package sandbox

import (
	"fmt"
	"strings"
)

// Markers the job script prints, so a failure names the step that failed.
const (
	stepMarker   = "=== step: "
	failedMarker = "=== failed: "
	doneMarker   = "=== all steps passed"
)

// Step names of the job script.
const (
	// StepIdentity prints the runner's user, capabilities, no_new_privs and seccomp mode.
	StepIdentity = "identity"
	// StepSocket waits for the runner's docker-compatible socket and calls its API.
	StepSocket = "docker-socket"
	// StepLoad loads the inner image (the second podman command: joins the user namespace).
	StepLoad = "podman-load"
	// StepRun runs the inner image.
	StepRun = "podman-run"
	// StepBuild builds FROM the inner image with a RUN step and runs the result.
	StepBuild = "buildah-bud"
	// StepNetwork (Isolated) reaches a service container by its alias on a named network.
	StepNetwork = "named-network-alias"
	// StepLocalhost (Host) reaches a service container on localhost.
	StepLocalhost = "service-on-localhost"
)

// What the inner containers print or serve, and how often the script retries a service.
const (
	pageContent    = "hello from the inner image" // the inner image's /www/index.html
	runOK          = "nested-run-ok"
	buildOK        = "nested-build-ok"
	serviceRetries = 30
)

// Job says what the job script does inside the runner container.
type Job struct {
	// InnerImage is the tiny inner image's name.
	InnerImage string
	// InnerArchive is the docker-archive in the runner image that holds InnerImage.
	InnerArchive string
	// Isolated checks a named network with an alias; otherwise a service on localhost.
	Isolated bool
}

// Script is the bash script the runner container runs as its job: one function per step,
// each announced with a marker; the first failing step prints the failure marker and
// ends the script with exit code 1.
func (j Job) Script() string {
	var b strings.Builder
	b.WriteString("set -uo pipefail\nexec 2>&1\n")
	b.WriteString(`retry() { for i in $(seq 1 ` + fmt.Sprint(serviceRetries) + `); do "$@" && return 0; sleep 0.5; done; return 1; }` + "\n")
	fmt.Fprintf(&b, "step() { echo '%s'\"$1\"; \"$2\" || { echo '%s'\"$1\"; exit 1; }; }\n", stepMarker, failedMarker)

	b.WriteString(fn(StepIdentity, `id && setpriv --dump && grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status && echo "HOME=$HOME XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-}"`))
	// The runner's command starts `podman system service`; wait for its socket while it runs.
	b.WriteString(fn(StepSocket, `sock=${DOCKER_HOST#unix://}; for i in $(seq 1 100); do [ -S "$sock" ] && break; pgrep -x podman >/dev/null || { echo 'podman system service exited'; break; }; sleep 0.2; done; podman --remote --url "$DOCKER_HOST" version --format 'docker API served by podman {{.Server.Version}}'`))
	b.WriteString(fn(StepLoad, fmt.Sprintf(`podman load -q -i %s && podman info --format 'storage driver {{.Store.GraphDriverName}} on {{.Store.GraphRoot}}'`, j.InnerArchive)))
	b.WriteString(fn(StepRun, fmt.Sprintf(`out=$(podman run --rm %s echo %s) && echo "$out" && [ "$out" = %s ]`, j.InnerImage, runOK, runOK)))
	b.WriteString(fn(StepBuild, fmt.Sprintf(`d=$(mktemp -d "$HOME/build.XXXX") && printf 'FROM %s\nRUN echo %s > /built.txt\n' > "$d/Containerfile" && buildah bud -q -t localhost/built "$d" && out=$(podman run --rm localhost/built cat /built.txt) && echo "$out" && [ "$out" = %s ]`,
		j.InnerImage, buildOK, buildOK)))
	steps := []string{StepIdentity, StepSocket, StepLoad, StepRun, StepBuild}
	// busybox wget crashes (static glibc); nc speaks enough HTTP. fetch HOST PORT [FLAGS]
	// asks the inner image's httpd for its page from a second inner container.
	fmt.Fprintf(&b, "fetch() { local host=$1 port=$2; shift 2; podman run --rm \"$@\" %s sh -c \"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 $host $port\" | grep -F %q; }\n",
		j.InnerImage, pageContent)
	if j.Isolated {
		b.WriteString(fn(StepNetwork, fmt.Sprintf(`podman network create corral-test >/dev/null && podman run -d --name db --network corral-test --network-alias database %s httpd -f -p 8080 -h /www >/dev/null && retry fetch database 8080 --network corral-test`,
			j.InnerImage)))
		steps = append(steps, StepNetwork)
	} else {
		b.WriteString(fn(StepLocalhost, fmt.Sprintf(`podman run -d --name svc %s httpd -f -p 127.0.0.1:18080 -h /www >/dev/null && retry fetch 127.0.0.1 18080`,
			j.InnerImage)))
		steps = append(steps, StepLocalhost)
	}
	for _, s := range steps {
		fmt.Fprintf(&b, "step %s %s\n", s, funcName(s))
	}
	fmt.Fprintf(&b, "echo '%s'\n", doneMarker)
	return b.String()
}

// fn is a bash function named after step with body.
func fn(step, body string) string {
	return fmt.Sprintf("%s() { %s; }\n", funcName(step), body)
}

// funcName is the bash function of a step.
func funcName(step string) string {
	return "s_" + strings.ReplaceAll(step, "-", "_")
}

// Outcome is what a job script's output says.
type Outcome struct {
	// Passed is true when every step passed.
	Passed bool
	// FailedStep is the step that failed, if any.
	FailedStep string
	// Steps are the steps that started, in order.
	Steps []string
}

// ParseOutput reads the markers of a job script's output.
func ParseOutput(out string) Outcome {
	var o Outcome
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, stepMarker):
			o.Steps = append(o.Steps, strings.TrimPrefix(line, stepMarker))
		case strings.HasPrefix(line, failedMarker):
			o.FailedStep = strings.TrimPrefix(line, failedMarker)
		case line == doneMarker:
			o.Passed = true
		}
	}
	return o
}

// Hint explains a known failure of step found in a job script's output, naming the pod
// setting that causes it, or returns "".
func Hint(step, out string) string {
	hints := []struct {
		step     string // "" matches any step
		symptoms []string
		hint     string
	}{
		{"", []string{"cannot clone: Operation not permitted"}, "the seccomp profile blocks clone/unshare with namespace flags: the runner needs Localhost corral/podman.json or Unconfined, not RuntimeDefault"},
		{"", []string{"write to uid_map failed"}, "newuidmap/newgidmap cannot map IDs: the runner needs allowPrivilegeEscalation true, SETUID/SETGID in its bounding set, and an image whose newuidmap/newgidmap carry file capabilities"},
		{"", []string{"chrooting to directory"}, "the seccomp profile blocks chroot, which buildah needs"},
		{StepBuild, []string{`mounting "proc"`, `mounting \"proc\"`}, "RUN steps need BUILDAH_ISOLATION=chroot in the runner's environment: buildah's default OCI isolation mounts a fresh /proc, which the pod's masked /proc refuses (buildah ignores containers.conf volumes)"},
		{"", []string{`mounting "proc"`, `mounting \"proc\"`}, "a fresh /proc cannot be mounted under the pod's masked /proc: containers.conf must bind /proc (volumes)"},
		{"", []string{`mounting "sysfs"`, `mounting \"sysfs\"`}, "a fresh /sys cannot be mounted in a user namespace: containers.conf must bind /sys (volumes)"},
		{"", []string{"/dev/net/tun"}, "nested network namespaces (slirp4netns/pasta) need /dev/net/tun: Isolated networking mounts it from the node"},
		{"", []string{"cannot set user namespace"}, "the seccomp profile blocks setns: later podman commands cannot join the rootless user namespace"},
		{"", []string{"Sysctl error"}, "netavark cannot write /proc/sys in the pod: the node must have net.ipv4.ip_forward=1, which new network namespaces inherit"},
		{"", []string{"operation not permitted", "Operation not permitted"}, "a syscall or mount was refused: compare the seccomp profile with config/seccomp/podman.json"},
	}
	for _, h := range hints {
		if h.step != "" && h.step != step {
			continue
		}
		for _, s := range h.symptoms {
			if strings.Contains(out, s) {
				return h.hint
			}
		}
	}
	return ""
}
