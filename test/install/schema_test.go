package install

import (
	"strings"
	"testing"
)

// TestChartSchemaRejects: values.schema.json (and the templates' required checks) refuse
// bad values before anything reaches the cluster, with a message naming the value.
func TestChartSchemaRejects(t *testing.T) {
	tests := []struct {
		name   string
		values string
		want   string // in the error
	}{
		{"unknown top-level key", "replicas: 2", "replicas"},
		{"unknown nested key", "webhook: {hostname: x}", "hostname"},
		{"zero replicas", "replicaCount: 0", "replicaCount"},
		{"replicas as string", `replicaCount: "2"`, "replicaCount"},
		{"bad pull policy", "image: {pullPolicy: Sometimes}", "pullPolicy"},
		{"bad digest", "image: {digest: latest}", "digest"},
		{"tag with a colon", `image: {tag: "v1:2"}`, "tag"},
		{"bad namespace name", "watchNamespaces: [CI_Builds]", "watchNamespaces"},
		{"duplicate namespaces", "watchNamespaces: [ci, ci]", "watchNamespaces"},
		{"no limits", "resources: {limits: null}", "limits"},
		{"no memory limit", "resources: {limits: {cpu: 500m, memory: null}}", "memory"},
		{"bad quantity", "resources: {limits: {memory: lots}}", "memory"},
		{"port out of range", "metrics: {port: 70000}", "port"},
		{"bad log level", "controller: {logLevel: verbose}", "logLevel"},
		{"bad encoder", "controller: {logEncoder: xml}", "logEncoder"},
		{"extra arg without --", `controller: {extraArgs: ["-v=2"]}`, "extraArgs"},
		{"zero reconciles", "controller: {maxConcurrentReconciles: 0}", "maxConcurrentReconciles"},
		{"GOMEMLIMIT over the limit", "controller: {goMemLimitPercent: 120}", "goMemLimitPercent"},
		{"GOMEMLIMIT from a fractional limit", "resources: {limits: {cpu: 1, memory: 1.5Gi}}", "cannot derive GOMEMLIMIT"},
		{"crds.enabled as string", `crds: {enabled: "yes"}`, "enabled"},
		{"admissionPolicy.enabled as string", `admissionPolicy: {enabled: "yes"}`, "enabled"},
		{"unknown admissionPolicy key", `admissionPolicy: {validationActions: [Warn]}`, "validationActions"},
		{"rbac.tenantRoles as string", `rbac: {tenantRoles: "yes"}`, "tenantRoles"},
		{"webhook without secret", "webhook: {enabled: true}", "secretName"},
		{"ingress without host", "webhook: {enabled: true, secretName: s, ingress: {enabled: true}}", "host"},
		{"recovery URL not https", "webhook: {recovery: {githubURL: http://ghes.example.com}}", "githubURL"},
		{"webhook path without slash", "webhook: {path: webhook}", "path"},
		{"pull without credentials", "pull: {enabled: true}", "pull.credentialsSecretNames"},
		{"pull budget over the limit", "pull: {budget: 1.5}", "budget"},
		{"pull budget zero", "pull: {budget: 0}", "budget"},
		{"pull interval not a duration", "pull: {interval: often}", "interval"},
		{"pull credentials twice", "pull: {credentialsSecretNames: [a, a]}", "credentialsSecretNames"},
		{"webhook secret name not a name", "webhook: {secretNames: [Acme_Webhook]}", "secretNames"},
		{"webhook secret names twice", "webhook: {secretNames: [a, a]}", "secretNames"},
		{"no receiver replicas", "webhook: {replicaCount: 0}", "replicaCount"},
		{"receiver without memory limit", "webhook: {resources: {limits: {cpu: 500m, memory: null}}}", "memory"},
		{"receiver extra arg without --", `webhook: {extraArgs: ["-v=2"]}`, "extraArgs"},
		{"no receiver service account name", "webhook: {enabled: true, secretName: s, serviceAccount: {create: false}}", "webhook.serviceAccount.name"},
		{"bad service type", "metrics: {service: {type: ExternalName}}", "type"},
		{"bad scrape interval", "metrics: {serviceMonitor: {interval: soon}}", "interval"},
		{"bad preemption policy", "runnerPriorityClass: {preemptionPolicy: Sometimes}", "preemptionPolicy"},
		{"relative seccomp dir", "seccompProfile: {kubeletSeccompDir: var/lib}", "kubeletSeccompDir"},
		{"no service account name", "serviceAccount: {create: false}", "serviceAccount.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := helmTemplate(t, tt.values)
			if err == nil {
				t.Fatalf("values %q were accepted", tt.values)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not mention %q:\n%v", tt.want, err)
			}
		})
	}
}

// TestChartSchemaAccepts: the documented forms of the flexible values are accepted.
func TestChartSchemaAccepts(t *testing.T) {
	for _, values := range []string{
		"controller: {logLevel: 5}",
		`controller: {logLevel: "3"}`,
		"podDisruptionBudget: {minAvailable: 50%}",
		"resources: {limits: {memory: 1Gi}, requests: {cpu: 0.5, memory: 256Mi}}",
		"image: {tag: v0.2.0-rc.1}",
		"leaderElection: {namespace: kube-system}",
	} {
		if _, err := helmTemplate(t, values); err != nil {
			t.Errorf("values %q rejected: %v", values, err)
		}
	}
}
