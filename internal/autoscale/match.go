package autoscale

import (
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// candidate is a pool as matching sees it.
type candidate struct {
	key    types.NamespacedName
	scope  github.Scope
	labels map[string]bool
	prefix string               // runner name prefix
	demand *corralv1.PoolDemand // status.demand, read-only (it may be the cache's)
}

// tracks reports whether the pool's demand has an entry for the job.
func (c candidate) tracks(id int64) bool { return c.demand.Tracks(id) }

// candidates are the pools events are routed to, in preference order (see pick).
type candidates []candidate

// newCandidates prepares for routing the pools a delivery with vouch v may reach (see
// Vouch.reaches): a pool of another class than those that vouched, or a class-less pool
// when only classes vouched, is not a candidate, whatever its scope and labels, so it can
// neither take the job nor have a runner marked busy by it. Pools being deleted or with an
// unusable URL are left out. pools are only read: they may be the cache's own objects.
func newCandidates(pools []corralv1.RunnerPool, v Vouch) candidates {
	out := make(candidates, 0, len(pools))
	for i := range pools {
		p := &pools[i]
		if p.DeletionTimestamp != nil || !v.reaches(p) {
			continue
		}
		sc, err := github.ParseScope(p.Spec.GitHub.URL)
		if err != nil {
			continue
		}
		out = append(out, candidate{
			key: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, scope: sc, labels: labelSet(p),
			prefix: github.RunnerNamePrefix(p.Name, p.UID), demand: p.Status.Demand,
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].before(out[j]) })
	return out
}

// scopeRank orders scopes from the most to the least specific.
func scopeRank(k github.ScopeKind) int {
	switch k {
	case github.ScopeRepository:
		return 0
	case github.ScopeOrganization:
		return 1
	default:
		return 2
	}
}

// before is the preference order among pools that match a job: the narrowest scope
// (repository, then organization, then enterprise), then the fewest runner labels (the
// tightest fit: a job asking for [linux] goes to a plain pool rather than a GPU one), then
// namespace and name.
func (c candidate) before(o candidate) bool {
	if a, b := scopeRank(c.scope.Kind), scopeRank(o.scope.Kind); a != b {
		return a < b
	}
	if len(c.labels) != len(o.labels) {
		return len(c.labels) < len(o.labels)
	}
	if c.key.Namespace != o.key.Namespace {
		return c.key.Namespace < o.key.Namespace
	}
	return c.key.Name < o.key.Name
}

// scopeMatches reports whether the job's repository falls in the scope: the same host (when
// the payload names one), and the same repository, owner or enterprise (case-insensitive).
func scopeMatches(sc github.Scope, ev Event) bool {
	if ev.Host != "" && !strings.EqualFold(ev.Host, sc.Host) {
		return false
	}
	switch sc.Kind {
	case github.ScopeRepository:
		return strings.EqualFold(ev.Repository, sc.Owner+"/"+sc.Repo)
	case github.ScopeOrganization:
		return strings.EqualFold(ev.Owner, sc.Owner)
	case github.ScopeEnterprise:
		return ev.Enterprise != "" && strings.EqualFold(ev.Enterprise, sc.Enterprise)
	}
	return false
}

// pick returns the preferred pool whose labels and scope match the job, if any.
func (cs candidates) pick(ev Event) (types.NamespacedName, bool) {
	for _, c := range cs {
		if labelsMatch(ev.Labels, c.labels) && scopeMatches(c.scope, ev) {
			return c.key, true
		}
	}
	return types.NamespacedName{}, false
}

// route returns the pools whose status.demand the event updates (always pools whose scope
// holds the job's repository: job IDs are unique per GitHub host, not across hosts):
//   - the pools already tracking the job, so one job stays with the pool it was matched to
//     even if pools change meanwhile;
//   - for in_progress and completed, the pool owning the runner that took the job (GitHub
//     may hand a job to another matching pool's runner, which is then busy);
//   - otherwise the preferred matching pool (pick), also for in_progress and completed, so
//     that a late queued delivery finds the job already further on.
//
// None when no pool matches.
func (cs candidates) route(ev Event) []types.NamespacedName {
	var out []types.NamespacedName
	seen := map[types.NamespacedName]bool{}
	add := func(k types.NamespacedName) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, c := range cs {
		if scopeMatches(c.scope, ev) && c.tracks(ev.JobID) {
			add(c.key)
		}
	}
	if ev.RunnerName != "" && ev.State != corralv1.JobQueued {
		for _, c := range cs {
			if github.OwnsRunnerName(c.prefix, ev.RunnerName) && scopeMatches(c.scope, ev) {
				add(c.key)
			}
		}
	}
	if len(out) == 0 {
		if k, ok := cs.pick(ev); ok {
			add(k)
		}
	}
	return out
}
