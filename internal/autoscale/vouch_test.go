package autoscale

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/test/gen"
)

// classless is the vouch of a delivery verified with the global secret.
var classless = Vouch{Global: true}

// tenantClasses are two tenants' classes on github.com: "acme" serves the organization
// acme (App installation 100), "globex" the organization globex (installation 200).
func tenantClasses() (acme, globex *corralv1.RunnerClass) {
	acme = gen.RunnerClass("acme", gen.WithClassOrganizations("acme"), gen.WithClassWebhookSecret("acme-webhook", ""))
	globex = gen.RunnerClass("globex", gen.WithClassOrganizations("globex"), gen.WithClassCredentials("globex-app"),
		gen.WithClassWebhookSecret("globex-webhook", ""))
	return acme, globex
}

// jobOf is a workflow_job event of repository repo on github.com.
func jobOf(repo string, installation int64) Event {
	owner, _, _ := strings.Cut(repo, "/")
	return Event{JobID: 1, State: corralv1.JobQueued, Repository: repo, Owner: owner, Host: "github.com", InstallationID: installation,
		Labels: []string{"self-hosted"}}
}

// TestVouch: which secrets may vouch for a delivery, for the attacks a tenant holding its
// own class's webhook secret can try.
func TestVouch(t *testing.T) {
	acme, globex := tenantClasses()
	app := func(id int64) installation { return installation{kind: credentialsApp, id: id} }
	global := signer{secret: []byte("global")}
	acmeSigner := signer{secret: []byte("s3cret-of-acme"), class: acme, install: app(100)}
	globexSigner := signer{secret: []byte("globex"), class: globex, install: app(200)}
	all := []signer{global, acmeSigner, globexSigner}
	for _, tc := range []struct {
		name    string
		ev      Event
		signers []signer
		matched []bool
		want    Vouch
		outcome string // of the refusal, when nobody vouches
	}{
		{"the global secret vouches for class-less pools", jobOf("acme/app", 0), all, []bool{true, false, false}, classless, ""},
		{"a class's secret for its own organization", jobOf("acme/app", 0), all, []bool{false, true, false}, Vouch{Classes: []string{"acme"}}, ""},
		{"a class's secret naming another tenant's organization is refused", jobOf("globex/app", 0), all,
			[]bool{false, true, false}, Vouch{}, outcomeScopeRefused},
		{"its own App installation", jobOf("acme/app", 100), all, []bool{false, true, false}, Vouch{Classes: []string{"acme"}}, ""},
		{"a foreign App installation is refused", jobOf("acme/app", 200), all, []bool{false, true, false}, Vouch{}, outcomeInstallationRefused},
		{"an App delivery for a class whose credentials the receiver cannot read is refused", jobOf("acme/app", 100),
			[]signer{{secret: []byte("acme"), class: acme}}, []bool{true}, Vouch{}, outcomeInstallationRefused},
		{"an organization webhook (no installation) for that class", jobOf("acme/app", 0),
			[]signer{{secret: []byte("acme"), class: acme}}, []bool{true}, Vouch{Classes: []string{"acme"}}, ""},
		{"a token class has no installation to compare", jobOf("acme/app", 100),
			[]signer{{secret: []byte("acme"), class: acme, install: installation{kind: credentialsToken}}}, []bool{true}, Vouch{Classes: []string{"acme"}}, ""},
		{"two classes sharing a secret: each vouches for its own jobs only", jobOf("globex/app", 200),
			[]signer{acmeSigner, globexSigner}, []bool{true, true}, Vouch{Classes: []string{"globex"}}, ""},
		{"a secret both global and a class's vouches for both", jobOf("acme/app", 0), all, []bool{true, true, false},
			Vouch{Global: true, Classes: []string{"acme"}}, ""},
		{"the class's organization on another host is refused", func() Event { e := jobOf("acme/app", 0); e.Host = "ghes.example.com"; return e }(),
			all, []bool{false, true, false}, Vouch{}, outcomeScopeRefused},
		{"an unmatched signer never vouches", jobOf("acme/app", 0), all, []bool{false, false, false}, Vouch{}, outcomeUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, refusals := vouch(tc.ev, tc.signers, tc.matched)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("vouch = %+v, want %+v (refusals %v)", got, tc.want, refusals)
			}
			if !got.None() {
				if len(refusals) != 0 {
					t.Errorf("vouched with refusals %v", refusals)
				}
				return
			}
			outcome, msg := refusalAnswer(refusals)
			if outcome != tc.outcome || msg == "" {
				t.Errorf("refusal %s %q, want outcome %s", outcome, msg, tc.outcome)
			}
			if strings.Contains(msg, "acme-webhook") || strings.Contains(msg, string(acmeSigner.secret)) {
				t.Errorf("the refusal names a Secret: %q", msg)
			}
		})
	}
}

// TestVouchReaches: a delivery reaches only the pools of those who vouched for it.
func TestVouchReaches(t *testing.T) {
	refused := func(reason string) gen.PoolModifier {
		return func(p *corralv1.RunnerPool) {
			p.Status.Conditions = []metav1.Condition{{Type: corralv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason}}
		}
	}
	plain := gen.RunnerPool("plain")
	ofAcme := gen.RunnerPool("a", gen.WithClass("acme"))
	for _, tc := range []struct {
		name string
		v    Vouch
		pool *corralv1.RunnerPool
		want bool
	}{
		{"global, class-less pool", classless, plain, true},
		{"global, a class's pool", classless, ofAcme, false},
		{"a class, its pool", Vouch{Classes: []string{"acme"}}, ofAcme, true},
		{"a class, a class-less pool", Vouch{Classes: []string{"acme"}}, plain, false},
		{"another class, the pool", Vouch{Classes: []string{"globex"}}, ofAcme, false},
		{"nobody", Vouch{}, plain, false},
		{"a pool its class does not serve (namespace)", Vouch{Classes: []string{"acme"}}, gen.RunnerPool("a", gen.WithClass("acme"), refused(corralv1.ReasonClassNotAllowed)), false},
		{"a pool breaking its class", Vouch{Classes: []string{"acme"}}, gen.RunnerPool("a", gen.WithClass("acme"), refused(corralv1.ReasonClassViolation)), false},
		{"a pool stalled for another reason", Vouch{Classes: []string{"acme"}}, gen.RunnerPool("a", gen.WithClass("acme"), refused(corralv1.ReasonCredentialsInvalid)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.reaches(tc.pool); got != tc.want {
				t.Errorf("reaches = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRouteAcrossClasses: the routing decisions behind the attacks on demand.
func TestRouteAcrossClasses(t *testing.T) {
	now := time.Now()
	acmeOrg := gen.RunnerPool("acme-org", gen.WithNamespace("acme"), gen.WithClass("acme"), gen.WithURL("https://github.com/acme"),
		gen.WithDemand(gen.QueuedJob(7, now)))
	// Tenant globex's pool claims a repository of acme: a narrower scope, preferred by pick.
	globexRepo := gen.RunnerPool("globex-repo", gen.WithNamespace("globex"), gen.WithClass("globex"), gen.WithURL("https://github.com/acme/app"))
	classlessRepo := gen.RunnerPool("cl-repo", gen.WithNamespace("other"), gen.WithURL("https://github.com/acme/app"))
	all := pools(acmeOrg, globexRepo, classlessRepo)
	globexRunner := github.RunnerNamePrefix(globexRepo.Name, globexRepo.UID) + "abcde"
	acmeRunner := github.RunnerNamePrefix(acmeOrg.Name, acmeOrg.UID) + "abcde"
	running := func(id int64, runner string) Event {
		ev := jobOf("acme/app", 0)
		ev.JobID, ev.State, ev.RunnerName = id, corralv1.JobInProgress, runner
		return ev
	}
	byAcme := Vouch{Classes: []string{"acme"}}
	for _, tc := range []struct {
		name string
		v    Vouch
		ev   Event
		want []types.NamespacedName
	}{
		{"a repository pool of another class does not capture the class's job", byAcme, jobOf("acme/app", 0), []types.NamespacedName{key("acme", "acme-org")}},
		{"a class-less repository pool does not capture the class's job", byAcme, jobOf("acme/app", 0), []types.NamespacedName{key("acme", "acme-org")}},
		{"the global secret reaches the class-less pool only", classless, jobOf("acme/app", 0), []types.NamespacedName{key("other", "cl-repo")}},
		{"an in_progress naming another class's runner marks nothing busy there", byAcme, running(7, globexRunner), []types.NamespacedName{key("acme", "acme-org")}},
		{"an in_progress naming the class's own runner", byAcme, running(8, acmeRunner), []types.NamespacedName{key("acme", "acme-org")}},
		{"the other class's secret naming its runner for acme's job", Vouch{Classes: []string{"globex"}}, running(7, globexRunner), []types.NamespacedName{key("globex", "globex-repo")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := newCandidates(all, tc.v).route(tc.ev); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("route = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestVouchReplay: a replayed delivery (from GitHub's own log) goes to the classes that
// serve its job, and to class-less pools only when none does.
func TestVouchReplay(t *testing.T) {
	acme, globex := tenantClasses()
	classes := []corralv1.RunnerClass{*globex, *acme}
	if got := vouchReplay(jobOf("acme/app", 0), classes); !reflect.DeepEqual(got, Vouch{Classes: []string{"acme"}}) {
		t.Errorf("a class's job: %+v", got)
	}
	if got := vouchReplay(jobOf("initech/app", 0), classes); !reflect.DeepEqual(got, classless) {
		t.Errorf("a job no class serves: %+v", got)
	}
}

// TestSignersFor: a class signs only with the keys loaded from its current references.
func TestSignersFor(t *testing.T) {
	acme, globex := tenantClasses()
	deleting := gen.RunnerClass("gone", gen.WithClassWebhookSecret("gone", ""))
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	noSecret := gen.RunnerClass("quiet")
	keys := map[string]classKeys{
		"acme":   {ref: corralv1.SecretKeySelector{Name: "acme-webhook", Key: defaultWebhookSecretKey}, secret: []byte("a"), credentials: "acme-app", install: installation{kind: credentialsApp, id: 100}},
		"globex": {ref: corralv1.SecretKeySelector{Name: "globex-webhook", Key: defaultWebhookSecretKey}, secret: []byte("g"), credentials: "old-app", install: installation{kind: credentialsApp, id: 9}},
		"gone":   {ref: corralv1.SecretKeySelector{Name: "gone", Key: defaultWebhookSecretKey}, secret: []byte("x")},
	}
	global := globalKeys{ref: types.NamespacedName{Namespace: "corral-system", Name: "webhook"}, keys: []namedSecret{{"webhook-secret", []byte("global")}}}
	signers, stale := signersFor(global, "corral-system", []corralv1.RunnerClass{*acme, *globex, *deleting, *noSecret}, keys)
	if len(signers) != 3 || signers[0].class != nil || signers[1].class.Name != "acme" || signers[2].class.Name != "globex" {
		t.Fatalf("signers %+v", signers)
	}
	if signers[1].install.id != 100 || signers[2].install.kind != credentialsUnknown || !stale {
		t.Errorf("globex's credentials changed since the load: install %+v, stale %v; want unknown and stale", signers[2].install, stale)
	}
	moved := acme.DeepCopy()
	moved.Spec.GitHub.WebhookSecretRef.Key = "other-key"
	signers, stale = signersFor(globalKeys{}, "corral-system", []corralv1.RunnerClass{*moved}, keys)
	if len(signers) != 0 || !stale {
		t.Errorf("a class whose webhookSecretRef changed signs with the old secret: %+v, stale %v", signers, stale)
	}

	// A class's key in the global Secret is the class's only.
	inGlobal := gen.RunnerClass("acme", gen.WithClassWebhookSecret("webhook", "webhook-secret-acme"))
	global.keys = append(global.keys, namedSecret{"webhook-secret-acme", []byte("a")})
	keys = map[string]classKeys{"acme": {ref: *webhookRef(inGlobal), secret: []byte("a"), credentials: "acme-app"}}
	signers, _ = signersFor(global, "corral-system", []corralv1.RunnerClass{*inGlobal}, keys)
	if len(signers) != 2 || signers[0].class != nil || string(signers[0].secret) != "global" || signers[1].class == nil {
		t.Errorf("a class's key in the global Secret: signers %+v, want the global key and the class's", signers)
	}
	if signers, _ = signersFor(global, "elsewhere", []corralv1.RunnerClass{*inGlobal}, keys); len(signers) != 3 {
		t.Errorf("a class's Secret of the same name in another namespace claimed a global key: %d signers", len(signers))
	}
}

// TestInstallationOf reads the installation from the class's status, never its Secret.
func TestInstallationOf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		creds *corralv1.ClassCredentials
		want  installation
		ok    bool
	}{
		{"an App", &corralv1.ClassCredentials{Kind: "App", AppID: 1, InstallationID: 42}, installation{credentialsApp, 42}, true},
		{"a token", &corralv1.ClassCredentials{Kind: "Token"}, installation{kind: credentialsToken}, true},
		{"an App without installation", &corralv1.ClassCredentials{Kind: "App"}, installation{}, false},
		{"not published yet", nil, installation{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &corralv1.RunnerClass{Status: corralv1.RunnerClassStatus{Credentials: tc.creds}}
			got, err := installationOf(c)
			if got != tc.want || (err == nil) != tc.ok {
				t.Errorf("installationOf = %+v, %v; want %+v, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
}

// TestMatchSignatureReportsEverySecretThatMatches: with two classes sharing a secret, both
// are reported; the order is the secrets'.
func TestMatchSignatureReportsEverySecretThatMatches(t *testing.T) {
	body := []byte(`{}`)
	matched, reason := matchSignature(Sign([]byte("s"), body), body, [][]byte{[]byte("x"), []byte("s"), nil, []byte("s")})
	if reason != "" || !reflect.DeepEqual(matched, []bool{false, true, false, true}) {
		t.Errorf("matched %v, reason %q", matched, reason)
	}
}
