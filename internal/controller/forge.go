package controller

import (
	"context"
	"fmt"
	"net/url"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/runnerclass"
)

// Forge is what the controller needs from the forge runners register with: register a
// runner and get its configuration, read, list and remove registrations. Errors are the
// forge package's (gone, busy, rate limited until T, unauthorized, transient, ...), so a
// second forge fits behind it without any change to the reconciler.
type Forge interface {
	Register(ctx context.Context, spec forge.RunnerSpec) (forge.Registration, error)
	Runner(ctx context.Context, id int64) (forge.Runner, error)
	Runners(ctx context.Context, prefix string) ([]forge.Runner, error)
	Deregister(ctx context.Context, id int64) error
}

var _ Forge = (*github.Forge)(nil)

// ForgeFactory returns the forge of a pool's target.
type ForgeFactory interface {
	Forge(target forge.Target) (Forge, error)
}

// GitHubForges is the ForgeFactory of GitHub: a github.Factory, which shares clients,
// tokens and rate-limit state between pools using the same credentials.
type GitHubForges struct{ Factory *github.Factory }

// Forge implements ForgeFactory.
func (g GitHubForges) Forge(t forge.Target) (Forge, error) {
	f, err := g.Factory.Forge(t)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// forgeSession is one reconcile's use of the pool's forge. The forge is built on first use,
// so a reconcile with nothing to do reads no Secret and calls nothing. The first failure
// that says the forge cannot be used right now (unavailable, rate limited, refused,
// misconfigured) trips the session: every later call of the reconcile returns that error
// without being sent, so an outage costs one failed request per reconcile, not one per
// runner. Safe for the concurrent calls of a creation batch.
type forgeSession struct {
	build func(ctx context.Context) (Forge, error)

	mu      sync.Mutex
	f       Forge
	built   bool
	tripped error
	calls   int // calls answered (successfully, or with a per-runner answer: gone, busy)
}

// do runs call with the forge unless the session tripped.
func (s *forgeSession) do(ctx context.Context, call func(Forge) error) error {
	s.mu.Lock()
	if s.tripped != nil {
		defer s.mu.Unlock()
		return s.tripped
	}
	if !s.built {
		s.f, s.tripped = s.build(ctx)
		s.built = true
		if s.tripped != nil {
			defer s.mu.Unlock()
			return s.tripped
		}
	}
	f := s.f
	s.mu.Unlock()
	err := call(f)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch forge.KindOf(err) {
	case "", forge.KindGone, forge.KindBusy:
		s.calls++
	default:
		if s.tripped == nil {
			s.tripped = err
		}
	}
	return err
}

// err is the error that tripped the session, if any.
func (s *forgeSession) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tripped
}

// answered reports whether any call got an answer the forge meant.
func (s *forgeSession) answered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls > 0
}

func (s *forgeSession) register(ctx context.Context, spec forge.RunnerSpec) (forge.Registration, error) {
	var reg forge.Registration
	err := s.do(ctx, func(f Forge) (err error) { reg, err = f.Register(ctx, spec); return err })
	return reg, err
}

func (s *forgeSession) runner(ctx context.Context, id int64) (forge.Runner, error) {
	var r forge.Runner
	err := s.do(ctx, func(f Forge) (err error) { r, err = f.Runner(ctx, id); return err })
	return r, err
}

func (s *forgeSession) runners(ctx context.Context, prefix string) ([]forge.Runner, error) {
	var list []forge.Runner
	err := s.do(ctx, func(f Forge) (err error) { list, err = f.Runners(ctx, prefix); return err })
	return list, err
}

// deregister removes a registration; one already gone counts as removed.
func (s *forgeSession) deregister(ctx context.Context, id int64) error {
	err := s.do(ctx, func(f Forge) error { return f.Deregister(ctx, id) })
	if forge.KindOf(err) == forge.KindGone {
		return nil
	}
	return err
}

// session starts a reconcile's forge session for pool (of class, nil for a class-less pool).
func (r *RunnerPoolReconciler) session(pool *corralv1.RunnerPool, class *corralv1.RunnerClass) *forgeSession {
	return &forgeSession{build: func(ctx context.Context) (Forge, error) {
		t, err := r.target(ctx, pool, class)
		if err != nil {
			return nil, err
		}
		return r.Forges.Forge(t)
	}}
}

// target reads what the forge of pool needs. A pool of a class gets the class's
// credentials, CA bundle and proxy (from the operator's namespace), and only for a URL on
// the class's server within its scopes: nothing the pool writes decides where the class's
// credentials go. A class-less pool uses its own Secrets and settings, in its namespace.
// Secrets are read live: their data is never cached.
func (r *RunnerPoolReconciler) target(ctx context.Context, pool *corralv1.RunnerPool, class *corralv1.RunnerClass) (forge.Target, error) {
	t := forge.Target{URL: pool.Spec.GitHub.URL}
	ns, refs, ca, proxy := pool.Namespace, poolCredentialRefs(pool), pool.Spec.GitHub.CABundle, pool.Spec.GitHub.Proxy
	if class != nil {
		if r.OperatorNamespace == "" {
			return t, fmt.Errorf("%w: the operator's namespace is not set (--operator-namespace): a RunnerClass's Secrets live there", forge.ErrMisconfigured)
		}
		if msg := runnerclass.ScopeProblem(pool.Spec.GitHub.URL, class); msg != "" {
			return t, fmt.Errorf("%w: %s", forge.ErrMisconfigured, msg)
		}
		ns, refs, ca, proxy = r.OperatorNamespace, classCredentialRefs(class), class.Spec.GitHub.CABundle, class.Spec.GitHub.Proxy
	}
	if len(refs) == 0 {
		return t, fmt.Errorf("%w: the pool names neither a RunnerClass nor a credentials Secret", forge.ErrCredentialsInvalid)
	}
	for _, name := range refs {
		c, err := r.credential(ctx, types.NamespacedName{Namespace: ns, Name: name})
		if err != nil {
			return t, err
		}
		t.Credentials = append(t.Credentials, c)
	}
	if proxy != nil && (proxy.HTTPSProxy != "" || proxy.HTTPProxy != "") {
		raw := proxy.HTTPSProxy
		if raw == "" {
			raw = proxy.HTTPProxy
		}
		u, err := url.Parse(raw)
		if err != nil {
			return t, fmt.Errorf("%w: parsing the proxy URL: %w", forge.ErrMisconfigured, err)
		}
		t.Proxy = u
	}
	if ca != nil {
		pem, err := r.caBundle(ctx, types.NamespacedName{Namespace: ns, Name: ca.Name}, ca.Key)
		if err != nil {
			return t, err
		}
		t.CABundle = pem
	}
	return t, nil
}

// caBundle reads a CA bundle ConfigMap key.
func (r *RunnerPoolReconciler) caBundle(ctx context.Context, key types.NamespacedName, field string) ([]byte, error) {
	if field == "" {
		field = "ca.crt"
	}
	cm := &corev1.ConfigMap{}
	if err := r.APIReader.Get(ctx, key, cm); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, fmt.Errorf("%w: CA bundle ConfigMap %s not found", forge.ErrMisconfigured, key)
		}
		return nil, fmt.Errorf("%w: reading CA bundle ConfigMap %s: %w", forge.ErrTransient, key, err)
	}
	pem, ok := cm.Data[field]
	if !ok {
		return nil, fmt.Errorf("%w: CA bundle ConfigMap %s has no key %q", forge.ErrMisconfigured, key, field)
	}
	return []byte(pem), nil
}

// credential reads one credentials Secret.
func (r *RunnerPoolReconciler) credential(ctx context.Context, key types.NamespacedName) (forge.Credential, error) {
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, key, secret); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return forge.Credential{}, fmt.Errorf("%w: credentials Secret %s not found", forge.ErrCredentialsInvalid, key)
		}
		return forge.Credential{}, fmt.Errorf("%w: reading credentials Secret %s: %w", forge.ErrTransient, key, err)
	}
	return forge.Credential{Key: key.String(), ResourceVersion: secret.ResourceVersion, Data: secret.Data}, nil
}

// poolCredentialRefs lists a class-less pool's credentials Secrets (in its namespace), the
// main one first.
func poolCredentialRefs(pool *corralv1.RunnerPool) []string {
	var out []string
	if ref := pool.Spec.GitHub.CredentialsSecretRef; ref != nil {
		out = append(out, ref.Name)
	}
	for _, ref := range pool.Spec.GitHub.AdditionalCredentialsSecretRefs {
		out = append(out, ref.Name)
	}
	return out
}

// classCredentialRefs lists a class's credentials Secrets (in the operator's namespace).
func classCredentialRefs(class *corralv1.RunnerClass) []string {
	out := []string{class.Spec.GitHub.CredentialsSecretRef.Name}
	for _, ref := range class.Spec.GitHub.AdditionalCredentialsSecretRefs {
		out = append(out, ref.Name)
	}
	return out
}
