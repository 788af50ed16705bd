package controller

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// GitHub is the controller's view of the forge: register a runner and get its config, list
// a pool's runners, remove one. Another forge (Gitea, Forgejo) fits behind it unchanged.
type GitHub interface {
	RunnerGroupID(ctx context.Context, name string) (int64, error)
	GenerateJITConfig(ctx context.Context, req github.JITRequest) (github.JITConfig, error)
	ListRunners(ctx context.Context, prefix string) ([]github.Runner, error)
	DeleteRunner(ctx context.Context, id int64) error
}

var _ GitHub = (*github.Client)(nil)

// ClientFactory builds a pool's GitHub client from its scope, credentials and connection
// settings; *github.Factory is the real one.
type ClientFactory interface {
	Client(scope github.Scope, creds []github.CredentialSource, conn github.ConnOptions) (*github.Client, error)
}

// configError is a problem only the user can fix (a missing or unshared Secret, a bad URL):
// it stalls the pool instead of retrying hot.
type configError struct {
	reason string
	err    error
}

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func credentialsError(format string, args ...any) error {
	return &configError{reason: corralv1.ReasonCredentialsInvalid, err: fmt.Errorf(format, args...)}
}

// gitHubClient builds the pool's client: it reads the credential Secrets (live, so data is
// never cached for Secrets the operator does not own) and the CA bundle.
func (r *RunnerPoolReconciler) gitHubClient(ctx context.Context, pool *corralv1.RunnerPool) (GitHub, error) {
	scope, err := github.ParseScope(pool.Spec.GitHub.URL)
	if err != nil {
		return nil, &configError{reason: corralv1.ReasonCredentialsInvalid, err: fmt.Errorf("parsing spec.github.url: %w", err)}
	}
	refs := credentialRefs(pool)
	creds := make([]github.CredentialSource, 0, len(refs))
	for _, ref := range refs {
		src, err := r.credentialSource(ctx, pool, ref)
		if err != nil {
			return nil, err
		}
		creds = append(creds, src)
	}
	conn, err := r.connOptions(ctx, pool)
	if err != nil {
		return nil, err
	}
	c, err := r.Clients.Client(scope, creds, conn)
	if err != nil {
		if errors.Is(err, github.ErrInvalidCredentials) || errors.Is(err, github.ErrInvalidConfig) {
			return nil, &configError{reason: corralv1.ReasonCredentialsInvalid, err: err}
		}
		return nil, fmt.Errorf("building GitHub client: %w", err)
	}
	return c, nil
}

// credentialSource reads one credentials Secret, enforcing that a Secret outside the pool's
// namespace lives in the operator's namespace and is shared with the pool's namespace.
func (r *RunnerPoolReconciler) credentialSource(ctx context.Context, pool *corralv1.RunnerPool, ref corralv1.CredentialsSecretRef) (github.CredentialSource, error) {
	key := types.NamespacedName{Namespace: credentialsNamespace(pool, ref), Name: ref.Name}
	if key.Namespace != pool.Namespace && key.Namespace != r.OperatorNamespace {
		return github.CredentialSource{}, credentialsError(
			"credentials Secret %s: only the pool's namespace or the operator's namespace (%q) may hold credentials", key, r.OperatorNamespace)
	}
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, key, secret); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return github.CredentialSource{}, credentialsError("credentials Secret %s not found", key)
		}
		return github.CredentialSource{}, fmt.Errorf("reading credentials Secret %s: %w", key, err)
	}
	if key.Namespace != pool.Namespace && !sharedWith(secret, pool.Namespace) {
		return github.CredentialSource{}, credentialsError(
			"credentials Secret %s is not shared with namespace %q: list it in the Secret's %s annotation",
			key, pool.Namespace, corralv1.AnnotationAllowedNamespaces)
	}
	return github.CredentialSource{Key: key.String(), ResourceVersion: secret.ResourceVersion, Data: secret.Data}, nil
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

// connOptions reads the pool's CA bundle and proxy settings.
func (r *RunnerPoolReconciler) connOptions(ctx context.Context, pool *corralv1.RunnerPool) (github.ConnOptions, error) {
	var conn github.ConnOptions
	if p := pool.Spec.GitHub.Proxy; p != nil && (p.HTTPSProxy != "" || p.HTTPProxy != "") {
		raw := p.HTTPSProxy
		if raw == "" {
			raw = p.HTTPProxy
		}
		u, err := url.Parse(raw)
		if err != nil {
			return conn, &configError{reason: corralv1.ReasonCredentialsInvalid, err: fmt.Errorf("parsing spec.github.proxy: %w", err)}
		}
		conn.ProxyURL = u
	}
	if ref := pool.Spec.GitHub.CABundle; ref != nil {
		cm := &corev1.ConfigMap{}
		key := types.NamespacedName{Namespace: pool.Namespace, Name: ref.Name}
		if err := r.APIReader.Get(ctx, key, cm); err != nil {
			if client.IgnoreNotFound(err) == nil {
				return conn, &configError{reason: corralv1.ReasonCredentialsInvalid, err: fmt.Errorf("CA bundle ConfigMap %s not found", key)}
			}
			return conn, fmt.Errorf("reading CA bundle ConfigMap %s: %w", key, err)
		}
		pem, ok := cm.Data[ref.Key]
		if !ok {
			return conn, &configError{reason: corralv1.ReasonCredentialsInvalid, err: fmt.Errorf("CA bundle ConfigMap %s has no key %q", key, ref.Key)}
		}
		conn.CABundle = []byte(pem)
	}
	return conn, nil
}
