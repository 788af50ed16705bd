// Package audit builds the Tetragon TracingPolicyNamespaced that records what a RunnerPool's
// jobs do. Build is pure; the controller applies the result when the cluster serves the kind.
//
// Tetragon itself reports every process exec and exit of every pod (its default events, with
// the pod's labels: the job's attribution among them). The policy adds what a nested-podman
// runner does that is worth a look and is not its daily noise:
//
//   - tcp_connect: every outbound TCP connection with its destination, where the job's code
//     and its containers talk to (NetworkPolicies decide what may pass; this says what was
//     tried);
//   - kernel module loads (security_kernel_module_request, security_kernel_read_file for a
//     module): a runner pod has no business loading kernel code, and an attempt is a sign of
//     an escape or a misconfigured node;
//   - BPF program loads (bpf_check): unprivileged BPF is off on sane nodes, so an attempt
//     is an escape attempt or a privileged pod;
//   - ptrace attach and seize (sys_ptrace PTRACE_ATTACH, PTRACE_SEIZE): reading another
//     process's memory, e.g. the runner's, which holds the job's secrets (PTRACE_TRACEME,
//     which debuggers under test use on their own children, is left out);
//   - with writePaths, every write under them (security_file_permission with MAY_WRITE).
//
// Left out on purpose, because rootless podman does them for every container: mount and
// umount (overlay and proc mounts in the user namespace), unshare and setns, capability
// checks inside the user namespace (cap_capable), and credential changes (newuidmap and
// newgidmap are set-user-ID; their exec events already show them).
package audit

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// GroupVersionKind is Tetragon's namespaced tracing policy.
var GroupVersionKind = schema.GroupVersionKind{Group: "cilium.io", Version: "v1alpha1", Kind: "TracingPolicyNamespaced"}

// Name is the name of the pool's policy.
func Name(pool *corralv1.RunnerPool) string { return pool.Name + "-audit" }

// Ptrace requests recorded: PTRACE_ATTACH and PTRACE_SEIZE.
const (
	ptraceAttach = "16"
	ptraceSeize  = "16902"
)

// Build is the pool's policy: it selects the pool's runner pods and records what the
// package documents. Owner references are the caller's.
func Build(pool *corralv1.RunnerPool) *unstructured.Unstructured {
	kprobes := []any{
		kprobe("tcp_connect", false, arg(0, "sock")),
		kprobe("security_kernel_module_request", false, arg(0, "string")),
		withSelectors(kprobe("security_kernel_read_file", false, arg(0, "file"), arg(1, "int")),
			matchArgs(1, "Equal", "2")), // READING_MODULE
		kprobe("bpf_check", false, arg(1, "bpf_attr")),
		withSelectors(kprobe("sys_ptrace", true, arg(0, "int"), arg(1, "int")),
			matchArgs(0, "Equal", ptraceAttach, ptraceSeize)),
	}
	if paths := pool.Spec.Audit.WritePaths; len(paths) > 0 {
		values := make([]string, len(paths))
		copy(values, paths)
		kprobes = append(kprobes, withSelectors(kprobe("security_file_permission", false, arg(0, "file"), arg(1, "int")),
			map[string]any{"matchArgs": []any{
				map[string]any{"index": int64(0), "operator": "Prefix", "values": anys(values)},
				map[string]any{"index": int64(1), "operator": "Mask", "values": anys([]string{"2"})}, // MAY_WRITE
			}}))
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"podSelector": map[string]any{"matchLabels": map[string]any{
				corralv1.LabelPool: pool.Name, corralv1.LabelComponent: corralv1.ComponentRunner,
			}},
			"kprobes": kprobes,
		},
	}}
	u.SetGroupVersionKind(GroupVersionKind)
	u.SetNamespace(pool.Namespace)
	u.SetName(Name(pool))
	u.SetLabels(map[string]string{
		corralv1.LabelPool: pool.Name, corralv1.LabelComponent: corralv1.ComponentAudit,
		corralv1.LabelManagedBy: corralv1.ManagedByValue,
	})
	return u
}

func kprobe(call string, syscall bool, args ...any) map[string]any {
	return map[string]any{"call": call, "syscall": syscall, "args": args}
}

func arg(index int64, typ string) any { return map[string]any{"index": index, "type": typ} }

func matchArgs(index int64, op string, values ...string) map[string]any {
	return map[string]any{"matchArgs": []any{map[string]any{"index": index, "operator": op, "values": anys(values)}}}
}

// withSelectors adds selectors to k: an event is recorded when any of them matches.
func withSelectors(k map[string]any, selectors ...map[string]any) map[string]any {
	out := make([]any, len(selectors))
	for i, s := range selectors {
		out[i] = s
	}
	k["selectors"] = out
	return k
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
