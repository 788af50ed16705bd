package install

// Value sets the chart is rendered with. Every test over "all value sets" uses these.
const (
	// valuesEverything turns every optional object on.
	valuesEverything = `
replicaCount: 3
image:
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
imagePullSecrets:
  - name: ghcr
controller:
  maxConcurrentReconciles: 8
  logLevel: debug
  logEncoder: console
  extraArgs: ["--zap-stacktrace-level=panic"]
  extraEnv:
    - name: GOMEMLIMIT
      value: 400MiB
podAnnotations:
  example.com/team: ci
podLabels:
  example.com/tier: infra
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        app.kubernetes.io/name: corral
priorityClassName: system-cluster-critical
metrics:
  serviceMonitor:
    enabled: true
    labels:
      release: prometheus
webhook:
  enabled: true
  replicaCount: 2
  secretName: github-webhook
  secretNames: [acme-webhook, acme-app]
  extraArgs: ["--webhook-queue-size=20000"]
  serviceAccount:
    annotations:
      example.com/role: webhook
  recovery:
    credentialsSecretName: acme-app
    githubURL: https://github.com
  ingress:
    enabled: true
    className: nginx
    host: corral.example.com
    tls:
      - secretName: corral-webhook-tls
        hosts: [corral.example.com]
runnerPriorityClass:
  create: true
seccompProfile:
  install: true
tunDevicePlugin:
  enabled: true
  devices: 250
  priorityClassName: system-node-critical
`

	// valuesNamespaced watches two namespaces, not including the release's.
	valuesNamespaced = `
watchNamespaces: [ci, build]
`

	// valuesNamespacedOwn watches the release namespace too.
	valuesNamespacedOwn = `
watchNamespaces: [corral-system, ci]
`

	// valuesMinimal turns off everything optional.
	valuesMinimal = `
crds:
  enabled: false
metrics:
  enabled: false
leaderElection:
  enabled: false
rbac:
  create: false
  tenantRoles: false
admissionPolicy:
  enabled: false
serviceAccount:
  create: false
  name: corral-existing
`

	// valuesWebhookNamespaced runs the webhook receiver for two watched namespaces, under an
	// existing ServiceAccount.
	valuesWebhookNamespaced = `
watchNamespaces: [ci, build]
webhook:
  enabled: true
  secretName: corral-webhook
  serviceAccount:
    create: false
    name: corral-webhook-existing
`

	// valuesLeaseElsewhere keeps the leader-election Lease in another namespace.
	valuesLeaseElsewhere = `
leaderElection:
  namespace: kube-system
crds:
  keep: false
`
)

// valueSet is a named set of chart values.
type valueSet struct {
	name   string
	values string
}

// valueSets are the renderings every chart test covers.
func valueSets() []valueSet {
	return []valueSet{
		{"defaults", ""},
		{"everything", valuesEverything},
		{"namespaced", valuesNamespaced},
		{"namespaced-own", valuesNamespacedOwn},
		{"minimal", valuesMinimal},
		{"webhook-namespaced", valuesWebhookNamespaced},
		{"lease-elsewhere", valuesLeaseElsewhere},
	}
}
