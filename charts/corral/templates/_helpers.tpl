{{/* Names, labels and the flags of the controller and the webhook receiver. */}}

{{/* corral.name is the chart name, or nameOverride. */}}
{{- define "corral.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* corral.fullname prefixes every object: the release name, plus the chart name unless the release name contains it. */}}
{{- define "corral.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* corral.selectorLabels are the labels every pod of the release carries. */}}
{{- define "corral.selectorLabels" -}}
app.kubernetes.io/name: {{ include "corral.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* corral.controllerSelectorLabels select the controller pods (not the seccomp installer's). */}}
{{- define "corral.controllerSelectorLabels" -}}
{{ include "corral.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end -}}

{{/* corral.webhookSelectorLabels select the webhook receiver's pods. */}}
{{- define "corral.webhookSelectorLabels" -}}
{{ include "corral.selectorLabels" . }}
app.kubernetes.io/component: webhook
{{- end -}}

{{/* corral.labels go on every object of the release. */}}
{{- define "corral.labels" -}}
{{ include "corral.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: corral
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* corral.serviceAccountName is the controller's ServiceAccount. */}}
{{- define "corral.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "corral.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* corral.webhookServiceAccountName is the webhook receiver's ServiceAccount: not the controller's. */}}
{{- define "corral.webhookServiceAccountName" -}}
{{- if .Values.webhook.serviceAccount.create -}}
{{- default (printf "%s-webhook" (include "corral.fullname" .)) .Values.webhook.serviceAccount.name -}}
{{- else -}}
{{- required "webhook.serviceAccount.name is required when webhook.serviceAccount.create is false" .Values.webhook.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* corral.webhookSecretNames are the Secrets of the release namespace the receiver may read: webhook.secretName and webhook.secretNames. */}}
{{- define "corral.webhookSecretNames" -}}
{{- $names := list (required "webhook.secretName is required when webhook.enabled is true" .Values.webhook.secretName) -}}
{{- range .Values.webhook.secretNames -}}
{{- $names = append $names . -}}
{{- end -}}
{{- toYaml (uniq $names) -}}
{{- end -}}

{{/* corral.image is the controller image reference; a digest wins over the tag. */}}
{{- define "corral.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* corral.generatedRules are the rules of the object of kind .kind in files/rbac/role.yaml, the copy of config/rbac/role.yaml (`make manifests`): controller-gen writes the controller's ClusterRole and the Role of the operator's namespace there. */}}
{{- define "corral.generatedRules" -}}
{{- $rules := list -}}
{{- range $doc := regexSplit "(?m)^---\\s*$" (.root.Files.Get "files/rbac/role.yaml") -1 -}}
{{- $obj := fromYaml $doc -}}
{{- if eq (toString $obj.kind) $.kind -}}
{{- $rules = $obj.rules -}}
{{- end -}}
{{- end -}}
{{- if not $rules -}}
{{- fail (printf "files/rbac/role.yaml has no %s with rules: run make manifests" .kind) -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}

{{/* corral.managerRules are the controller's rules in every namespace it serves (the generated ClusterRole's). */}}
{{- define "corral.managerRules" -}}
{{- include "corral.generatedRules" (dict "root" . "kind" "ClusterRole") -}}
{{- end -}}

{{/* corral.operatorNamespaceRules are the controller's rules in its own namespace only (the generated Role's): the metadata of the Secrets there, the RunnerClasses' credentials. */}}
{{- define "corral.operatorNamespaceRules" -}}
{{- include "corral.generatedRules" (dict "root" . "kind" "Role") -}}
{{- end -}}

{{/* corral.clusterScopedResources are the cluster-scoped resources among the controller's rules: with watchNamespaces a ClusterRole grants them, and Roles the rest (test/install checks that every generated resource is on one side). */}}
{{- define "corral.clusterScopedResources" -}}
{{- toYaml (list "namespaces" "nodes" "runnerclasses" "runnerclasses/status") -}}
{{- end -}}

{{/* corral.splitManagerRules are the controller's rules narrowed to the cluster-scoped resources (.cluster true) or to the namespaced ones (.cluster false). */}}
{{- define "corral.splitManagerRules" -}}
{{- $clusterScoped := include "corral.clusterScopedResources" .root | fromYamlArray -}}
{{- $out := list -}}
{{- range $rule := include "corral.managerRules" .root | fromYamlArray -}}
{{- $resources := list -}}
{{- range $r := $rule.resources -}}
{{- if eq (has $r $clusterScoped) $.cluster -}}
{{- $resources = append $resources $r -}}
{{- end -}}
{{- end -}}
{{- if $resources -}}
{{- $out = append $out (merge (dict "resources" $resources) (omit $rule "resources")) -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* corral.args are the controller's flags: only flags cmd/corral defines (test/install checks them against `corral -help`). */}}
{{- define "corral.args" -}}
- --components=controller
- --metrics-bind-address={{ if .Values.metrics.enabled }}:{{ .Values.metrics.port }}{{ else }}0{{ end }}
- --health-probe-bind-address=:{{ .Values.healthPort }}
- --leader-elect={{ .Values.leaderElection.enabled }}
{{- with .Values.leaderElection.namespace }}
- --leader-election-namespace={{ . }}
{{- end }}
{{- with .Values.watchNamespaces }}
- --namespaces={{ join "," . }}
{{- end }}
- --max-concurrent-reconciles={{ .Values.controller.maxConcurrentReconciles }}
- --zap-log-level={{ .Values.controller.logLevel }}
- --zap-encoder={{ .Values.controller.logEncoder }}
{{- if .Values.webhook.enabled }}
{{- with .Values.webhook.recovery.credentialsSecretName }}
- --webhook-recovery-credentials={{ $.Release.Namespace }}/{{ . }}
{{- end }}
{{- with .Values.webhook.recovery.githubURL }}
- --webhook-recovery-github-url={{ . }}
{{- end }}
{{- end }}
{{- if .Values.pull.enabled }}
{{- if not .Values.pull.credentialsSecretNames }}
{{- fail "pull.credentialsSecretNames needs a GitHub App Secret when pull.enabled is true" }}
{{- end }}
{{- range .Values.pull.credentialsSecretNames }}
- --webhook-pull-credentials={{ $.Release.Namespace }}/{{ . }}
{{- end }}
{{- with .Values.pull.githubURL }}
- --webhook-pull-github-url={{ . }}
{{- end }}
{{- with .Values.pull.interval }}
- --webhook-pull-interval={{ . }}
{{- end }}
- --webhook-pull-budget={{ .Values.pull.budget }}
{{- end }}
{{- with .Values.controller.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* corral.webhookArgs are the webhook receiver's flags (its own Deployment: no leader election, no controller). */}}
{{- define "corral.webhookArgs" -}}
- --components=webhook
- --metrics-bind-address={{ if .Values.metrics.enabled }}:{{ .Values.metrics.port }}{{ else }}0{{ end }}
- --health-probe-bind-address=:{{ .Values.healthPort }}
{{- with .Values.watchNamespaces }}
- --namespaces={{ join "," . }}
{{- end }}
- --zap-log-level={{ .Values.controller.logLevel }}
- --zap-encoder={{ .Values.controller.logEncoder }}
- --webhook-bind-address=:{{ .Values.webhook.port }}
- --webhook-path={{ .Values.webhook.path }}
- --webhook-secret={{ .Release.Namespace }}/{{ required "webhook.secretName is required when webhook.enabled is true" .Values.webhook.secretName }}
{{- with .Values.webhook.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
corral.goMemLimit is the GOMEMLIMIT of a container, in bytes, from (list $resources $percent):
$percent % of its memory limit, so that the Go runtime collects harder as it nears the limit
instead of being OOM-killed. Empty when $percent is 0. Quantities: a plain number of bytes,
or one with a suffix Ki, Mi, Gi, Ti, k, M, G or T (the kubelet's binary and decimal units).
*/}}
{{- define "corral.goMemLimit" -}}
{{- $res := index . 0 -}}
{{- $percent := int (index . 1) -}}
{{- if gt $percent 0 -}}
{{- $q := toString (required "resources.limits.memory is required" (($res).limits).memory) -}}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- $n := $q -}}
{{- $mult := 1 -}}
{{- range $suffix, $m := $units -}}
{{- if and (hasSuffix $suffix $q) (regexMatch "^[0-9]+$" (trimSuffix $suffix $q)) -}}
{{- $n = trimSuffix $suffix $q -}}
{{- $mult = $m -}}
{{- end -}}
{{- end -}}
{{- if not (regexMatch "^[0-9]+$" $n) -}}
{{- fail (printf "cannot derive GOMEMLIMIT from the memory limit %q: use a whole number with Ki, Mi, Gi, Ti, k, M, G or T, or set goMemLimitPercent to 0" $q) -}}
{{- end -}}
{{- div (mul (int64 $n) (int64 $mult) $percent) 100 -}}
{{- end -}}
{{- end -}}

{{/* corral.nodeAgentNamespace is where the node agents run (the tun device plugin, the seccomp installer): nodeAgentNamespace, or the release namespace. They need a namespace that admits privileged pods; the controller's need not. */}}
{{- define "corral.nodeAgentNamespace" -}}
{{- .Values.nodeAgentNamespace | default .Release.Namespace -}}
{{- end -}}
