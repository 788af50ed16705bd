package controller

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
	"github.com/corral-run/corral/internal/github"
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

// session starts a reconcile's forge session for pool.
func (r *RunnerPoolReconciler) session(pool *corralv1.RunnerPool) *forgeSession {
	return &forgeSession{build: func(ctx context.Context) (Forge, error) {
		t, err := r.target(ctx, pool)
		if err != nil {
			return nil, err
		}
		return r.Forges.Forge(t)
	}}
}

// target reads what the forge of pool needs: its credentials Secrets (live: Secret data is
// never cached) and its CA bundle and proxy.
func (r *RunnerPoolReconciler) target(ctx context.Context, pool *corralv1.RunnerPool) (forge.Target, error) {
	t := forge.Target{URL: pool.Spec.GitHub.URL}
	for _, ref := range credentialRefs(pool) {
		c, err := r.credential(ctx, pool, ref)
		if err != nil {
			return t, err
		}
		t.Credentials = append(t.Credentials, c)
	}
	if p := pool.Spec.GitHub.Proxy; p != nil && (p.HTTPSProxy != "" || p.HTTPProxy != "") {
		raw := p.HTTPSProxy
		if raw == "" {
			raw = p.HTTPProxy
		}
		u, err := url.Parse(raw)
		if err != nil {
			return t, fmt.Errorf("%w: parsing spec.github.proxy: %w", forge.ErrMisconfigured, err)
		}
		t.Proxy = u
	}
	if ref := pool.Spec.GitHub.CABundle; ref != nil {
		cm := &corev1.ConfigMap{}
		key := types.NamespacedName{Namespace: pool.Namespace, Name: ref.Name}
		if err := r.APIReader.Get(ctx, key, cm); err != nil {
			if client.IgnoreNotFound(err) == nil {
				return t, fmt.Errorf("%w: CA bundle ConfigMap %s not found", forge.ErrMisconfigured, key)
			}
			return t, fmt.Errorf("%w: reading CA bundle ConfigMap %s: %w", forge.ErrTransient, key, err)
		}
		pem, ok := cm.Data[ref.Key]
		if !ok {
			return t, fmt.Errorf("%w: CA bundle ConfigMap %s has no key %q", forge.ErrMisconfigured, key, ref.Key)
		}
		t.CABundle = []byte(pem)
	}
	return t, nil
}

// credential reads one credentials Secret, enforcing that a Secret outside the pool's
// namespace lives in the operator's namespace and is shared with the pool's namespace.
func (r *RunnerPoolReconciler) credential(ctx context.Context, pool *corralv1.RunnerPool, ref corralv1.CredentialsSecretRef) (forge.Credential, error) {
	key := types.NamespacedName{Namespace: credentialsNamespace(pool, ref), Name: ref.Name}
	if key.Namespace != pool.Namespace && key.Namespace != r.OperatorNamespace {
		return forge.Credential{}, fmt.Errorf("%w: credentials Secret %s: only the pool's namespace or the operator's namespace (%q) may hold credentials",
			forge.ErrCredentialsInvalid, key, r.OperatorNamespace)
	}
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, key, secret); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return forge.Credential{}, fmt.Errorf("%w: credentials Secret %s not found", forge.ErrCredentialsInvalid, key)
		}
		return forge.Credential{}, fmt.Errorf("%w: reading credentials Secret %s: %w", forge.ErrTransient, key, err)
	}
	if key.Namespace != pool.Namespace && !sharedWith(secret, pool.Namespace) {
		return forge.Credential{}, fmt.Errorf("%w: credentials Secret %s is not shared with namespace %q: list it in the Secret's %s annotation",
			forge.ErrCredentialsInvalid, key, pool.Namespace, corralv1.AnnotationAllowedNamespaces)
	}
	return forge.Credential{Key: key.String(), ResourceVersion: secret.ResourceVersion, Data: secret.Data}, nil
}

// credentialRefs lists the pool's credentials Secrets, the main one first.
func credentialRefs(pool *corralv1.RunnerPool) []corralv1.CredentialsSecretRef {
	return append([]corralv1.CredentialsSecretRef{pool.Spec.GitHub.CredentialsSecretRef}, pool.Spec.GitHub.AdditionalCredentialsSecretRefs...)
}

func credentialsNamespace(pool *corralv1.RunnerPool, ref corralv1.CredentialsSecretRef) string {
	if ref.Namespace != "" {
		return ref.Namespace
	}
	return pool.Namespace
}

// sharedWith reports whether a Secret's allowed-namespaces annotation lists ns (or "*").
func sharedWith(secret *corev1.Secret, ns string) bool {
	allowed := strings.Split(secret.Annotations[corralv1.AnnotationAllowedNamespaces], ",")
	for i := range allowed {
		allowed[i] = strings.TrimSpace(allowed[i])
	}
	return slices.Contains(allowed, ns) || slices.Contains(allowed, "*")
}
