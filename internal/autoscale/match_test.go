package autoscale

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/test/gen"
)

func TestRunnerLabels(t *testing.T) {
	cases := []struct {
		name string
		pool *corralv1.RunnerPool
		want []string
	}{
		{"no labels, no arch", gen.RunnerPool("p"), []string{"linux", "self-hosted"}},
		{"custom labels lower-cased", gen.RunnerPool("p", gen.WithLabels("GPU", "podman")), []string{"gpu", "linux", "podman", "self-hosted"}},
		{"amd64 nodes answer x64", gen.RunnerPool("p", gen.WithNodeSelector(map[string]string{NodeArchLabel: "amd64"})), []string{"linux", "self-hosted", "x64"}},
		{"arm64 nodes", gen.RunnerPool("p", gen.WithNodeSelector(map[string]string{NodeArchLabel: "arm64"})), []string{"arm64", "linux", "self-hosted"}},
		{"unknown arch pins nothing", gen.RunnerPool("p", gen.WithNodeSelector(map[string]string{NodeArchLabel: "s390x"})), []string{"linux", "self-hosted"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := RunnerLabels(tc.pool); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RunnerLabels = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLabelsMatch(t *testing.T) {
	amd := gen.RunnerPool("p", gen.WithLabels("podman", "Large"), gen.WithNodeSelector(map[string]string{NodeArchLabel: "amd64"}))
	anyArch := gen.RunnerPool("p", gen.WithLabels("podman"))
	cases := []struct {
		name string
		pool *corralv1.RunnerPool
		job  []string
		want bool
	}{
		{"self-hosted alone", amd, []string{"self-hosted"}, true},
		{"custom label", amd, []string{"podman"}, true},
		{"full set, mixed case", amd, []string{"Self-Hosted", "Linux", "X64", "PODMAN", "large"}, true},
		{"label the pool lacks", amd, []string{"self-hosted", "gpu"}, false},
		{"other architecture", amd, []string{"self-hosted", "arm64"}, false},
		{"architecture asked, pool not pinned", anyArch, []string{"self-hosted", "x64"}, false},
		{"OS other than linux", amd, []string{"self-hosted", "windows"}, false},
		{"GitHub-hosted label", amd, []string{"ubuntu-latest"}, false},
		{"no labels", amd, nil, false},
		{"surrounding spaces", amd, []string{" podman "}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := labelsMatch(tc.job, labelSet(tc.pool)); got != tc.want {
				t.Errorf("labelsMatch(%v) = %v, want %v", tc.job, got, tc.want)
			}
		})
	}
}

func TestScopeMatches(t *testing.T) {
	scope := func(url string) github.Scope {
		sc, err := github.ParseScope(url)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	job := Event{Repository: "Acme/App", Owner: "Acme", Host: "github.com"}
	cases := []struct {
		name string
		url  string
		ev   Event
		want bool
	}{
		{"org", "https://github.com/acme", job, true},
		{"other org", "https://github.com/other", job, false},
		{"repo, case-insensitive", "https://github.com/acme/app", job, true},
		{"other repo of the org", "https://github.com/acme/web", job, false},
		{"GHES pool, github.com job", "https://ghes.example.com/acme", job, false},
		{"GHES pool, GHES job", "https://ghes.example.com/acme", Event{Repository: "acme/app", Owner: "acme", Host: "ghes.example.com"}, true},
		{"payload without host", "https://ghes.example.com/acme", Event{Repository: "acme/app", Owner: "acme"}, true},
		{"enterprise named in payload", "https://github.com/enterprises/big", Event{Repository: "acme/app", Owner: "acme", Enterprise: "Big", Host: "github.com"}, true},
		{"enterprise not named", "https://github.com/enterprises/big", job, false},
		{"other enterprise", "https://github.com/enterprises/big", Event{Repository: "acme/app", Owner: "acme", Enterprise: "small"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := scopeMatches(scope(tc.url), tc.ev); got != tc.want {
				t.Errorf("scopeMatches(%s) = %v, want %v", tc.url, got, tc.want)
			}
		})
	}
}

func key(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

func pools(ps ...*corralv1.RunnerPool) []corralv1.RunnerPool {
	out := make([]corralv1.RunnerPool, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}

func TestPickIsDeterministic(t *testing.T) {
	queued := func(labels ...string) Event {
		return Event{JobID: 1, State: corralv1.JobQueued, Labels: labels, Repository: "acme/app", Owner: "acme", Host: "github.com"}
	}
	org := gen.RunnerPool("org", gen.WithLabels("podman"))
	orgGPU := gen.RunnerPool("org-gpu", gen.WithLabels("podman", "gpu"))
	repo := gen.RunnerPool("repo", gen.WithURL("https://github.com/acme/app"), gen.WithLabels("podman", "gpu", "large"))
	ent := gen.RunnerPool("ent", gen.WithURL("https://github.com/enterprises/big"))
	twinA := gen.RunnerPool("twin", gen.WithNamespace("a"), gen.WithLabels("podman"))
	twinB := gen.RunnerPool("twin", gen.WithNamespace("b"), gen.WithLabels("podman"))
	deleting := gen.RunnerPool("aaa", gen.WithLabels("podman"))
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	cases := []struct {
		name  string
		pools []corralv1.RunnerPool
		ev    Event
		want  types.NamespacedName
		none  bool
	}{
		{"repository scope beats organization", pools(orgGPU, repo, org), queued("gpu"), key("default", "repo"), false},
		{"fewest labels win", pools(orgGPU, org), queued("podman"), key("default", "org"), false},
		{"only the GPU pool fits", pools(org, orgGPU), queued("self-hosted", "gpu"), key("default", "org-gpu"), false},
		{"namespace breaks ties", pools(twinB, twinA), queued("podman"), key("a", "twin"), false},
		{"deleting pool skipped", pools(deleting, org), queued("podman"), key("default", "org"), false},
		{"enterprise pool needs the enterprise in the payload", pools(ent), queued("self-hosted"), types.NamespacedName{}, true},
		{"no pool fits", pools(org, orgGPU), queued("windows"), types.NamespacedName{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := newCandidates(tc.pools, classless).pick(tc.ev)
			if ok == tc.none || (ok && got != tc.want) {
				t.Errorf("pick = %v, %v; want %v (none %v)", got, ok, tc.want, tc.none)
			}
			// The order of the listing does not matter.
			rev := append([]corralv1.RunnerPool(nil), tc.pools...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			if got2, ok2 := newCandidates(rev, classless).pick(tc.ev); got2 != got || ok2 != ok {
				t.Errorf("pick depends on listing order: %v vs %v", got2, got)
			}
		})
	}
}

func TestRoute(t *testing.T) {
	now := time.Now()
	small := gen.RunnerPool("small", gen.WithLabels("podman"))
	big := gen.RunnerPool("big", gen.WithLabels("podman", "large"), gen.WithDemand(gen.QueuedJob(7, now), gen.RunningJob(11, "abcde", now), gen.DoneJob(12, now)))
	bigRunner := github.RunnerNamePrefix(big.Name, big.UID) + "abcde"
	smallRunner := github.RunnerNamePrefix(small.Name, small.UID) + "xyz12"
	ev := func(state corralv1.JobState, id int64, runner string) Event {
		return Event{JobID: id, State: state, RunnerName: runner, Labels: []string{"podman"}, Repository: "acme/app", Owner: "acme"}
	}
	cs := newCandidates(pools(small, big), classless)
	cases := []struct {
		name string
		ev   Event
		want []types.NamespacedName
	}{
		{"new queued job goes to the preferred pool", ev(corralv1.JobQueued, 3, ""), []types.NamespacedName{key("default", "small")}},
		{"tracked job stays with its pool", ev(corralv1.JobQueued, 7, ""), []types.NamespacedName{key("default", "big")}},
		{"running job stays with its pool", ev(corralv1.JobCompleted, 11, bigRunner), []types.NamespacedName{key("default", "big")}},
		{"late queued for a job done goes to the pool that knows", ev(corralv1.JobQueued, 12, ""), []types.NamespacedName{key("default", "big")}},
		{"the tail of a running job's ID is another job", ev(corralv1.JobQueued, 1, ""), []types.NamespacedName{key("default", "small")}},
		{"the tail of a done job's ID is another job", ev(corralv1.JobQueued, 2, ""), []types.NamespacedName{key("default", "small")}},
		{"runner of the tracking pool", ev(corralv1.JobInProgress, 7, bigRunner), []types.NamespacedName{key("default", "big")}},
		{"another pool's runner took the job: both learn", ev(corralv1.JobInProgress, 7, smallRunner), []types.NamespacedName{key("default", "big"), key("default", "small")}},
		{"foreign runner, untracked job: the preferred pool keeps a record", ev(corralv1.JobCompleted, 9, "some-other-runner"), []types.NamespacedName{key("default", "small")}},
		{"same job ID in another organization is another job", Event{JobID: 7, State: corralv1.JobQueued, Labels: []string{"podman"}, Repository: "other/app", Owner: "other"}, nil},
		{"unmatched", Event{JobID: 2, State: corralv1.JobQueued, Labels: []string{"gpu"}, Repository: "acme/app", Owner: "acme"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := cs.route(tc.ev); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("route = %v, want %v", got, tc.want)
			}
		})
	}
}
