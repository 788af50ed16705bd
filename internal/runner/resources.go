package runner

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Resource defaults of the runner container (documented on RunnerTemplate.Resources).
const (
	DefaultCPULimit      = "2"
	DefaultMemoryLimit   = "4Gi"
	DefaultCPURequest    = "500m"
	DefaultMemoryRequest = "1Gi"
)

// runnerResources are the pool's resources with CPU and memory limits and requests always
// set, each resource defaulted on its own:
//   - neither limit nor request: the defaults above;
//   - a limit only: the request equals the limit (what the API server would do);
//   - a request only: the default limit, raised to the request if that is larger (a
//     request may never exceed its limit).
//
// Other resources (ephemeral-storage, hugepages, extended resources) pass through.
func runnerResources(user corev1.ResourceRequirements) corev1.ResourceRequirements {
	r := *user.DeepCopy()
	if r.Limits == nil {
		r.Limits = corev1.ResourceList{}
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	defaults := []struct {
		name           corev1.ResourceName
		limit, request string
	}{
		{corev1.ResourceCPU, DefaultCPULimit, DefaultCPURequest},
		{corev1.ResourceMemory, DefaultMemoryLimit, DefaultMemoryRequest},
	}
	for _, d := range defaults {
		limit, hasLimit := r.Limits[d.name]
		request, hasRequest := r.Requests[d.name]
		switch {
		case hasLimit && hasRequest:
		case hasLimit:
			r.Requests[d.name] = limit.DeepCopy()
		case hasRequest:
			r.Limits[d.name] = maxQuantity(resource.MustParse(d.limit), request)
		default:
			r.Limits[d.name] = resource.MustParse(d.limit)
			r.Requests[d.name] = resource.MustParse(d.request)
		}
	}
	return r
}

// TunResource is the extended resource Corral's device plugin (internal/tunplugin) serves
// /dev/net/tun as.
const TunResource corev1.ResourceName = "corral.run/tun"

// withTun sets one TunResource in r's limits and requests, or removes it (the API refuses it
// in a pool's resources; a pool stored before that rule cannot smuggle it in either).
func withTun(r corev1.ResourceRequirements, tun bool) corev1.ResourceRequirements {
	delete(r.Limits, TunResource)
	delete(r.Requests, TunResource)
	if tun {
		r.Limits[TunResource] = resource.MustParse("1")
		r.Requests[TunResource] = resource.MustParse("1")
	}
	return r
}

// maxQuantity is the larger of a and b.
func maxQuantity(a, b resource.Quantity) resource.Quantity {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}
