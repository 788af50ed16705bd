package autoscale

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// defaultWebhookSecretKey is the CRD's default for a class's webhookSecretRef.key.
const defaultWebhookSecretKey = "webhook-secret"

// classKeys is what the receiver loaded for one RunnerClass: its webhook secret, read
// from ref, and its App installation, read from the credentials Secret named credentials.
// Nothing else of either Secret is kept.
type classKeys struct {
	ref         corralv1.SecretKeySelector
	secret      []byte
	credentials string
	install     installation
}

// classKeyring reads the webhook secret and the installation ID of every RunnerClass with
// a webhookSecretRef, from Secrets in the operator's namespace, through an uncached reader
// (the receiver caches no Secret), in the background like secretKeyring: every refresh
// interval and soon after a class's references changed.
type classKeyring struct {
	classes    client.Reader // the manager's cache
	secrets    client.Reader // uncached
	namespace  string
	globals    func() globalKeys // the global secrets, to warn about a class sharing one
	refresh    time.Duration
	minRefresh time.Duration
	kick       chan struct{}

	mu       sync.RWMutex
	keys     map[string]classKeys
	problems string // the last problems logged, to log each change once
}

func newClassKeyring(classes, secrets client.Reader, namespace string, globals func() globalKeys) *classKeyring {
	return &classKeyring{
		classes: classes, secrets: secrets, namespace: namespace, globals: globals,
		refresh: 30 * time.Second, minRefresh: 5 * time.Second, kick: make(chan struct{}, 1),
	}
}

// snapshot returns the keys loaded, by class name. Callers must not modify it.
func (k *classKeyring) snapshot() map[string]classKeys {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys
}

// Refresh asks for a reload soon.
func (k *classKeyring) Refresh() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// list returns the RunnerClasses from the cache; none when their CRD is not installed.
// They are the cache's objects: read them only.
func (k *classKeyring) list(ctx context.Context) ([]corralv1.RunnerClass, error) {
	var list corralv1.RunnerClassList
	err := k.classes.List(ctx, &list, client.UnsafeDisableDeepCopy)
	if meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing RunnerClasses: %w", err)
	}
	return list.Items, nil
}

// run reloads the keys until ctx ends.
func (k *classKeyring) run(ctx context.Context) {
	refreshLoop(ctx, k.refresh, k.minRefresh, k.kick, k.reload)
}

// reload loads the keys and logs what went wrong when that changed.
func (k *classKeyring) reload(ctx context.Context) {
	err := k.load(ctx)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	k.mu.Lock()
	changed := msg != k.problems
	k.problems = msg
	k.mu.Unlock()
	if changed && err != nil {
		log.FromContext(ctx).Error(err, "webhook secrets of RunnerClasses not (all) loaded: their deliveries are refused")
	}
}

// load reads every class's Secrets once and replaces the keys. A class whose webhook
// secret cannot be read vouches for nothing until it can; one whose credentials cannot be
// read vouches for no delivery through a GitHub App.
func (k *classKeyring) load(ctx context.Context) error {
	classes, err := k.list(ctx)
	if err != nil {
		return err // keep the keys loaded
	}
	secrets := map[string]readResult{} // webhook Secrets, read once per load
	var problems []error
	next := make(map[string]classKeys, len(classes))
	for i := range classes {
		c := &classes[i]
		ref := webhookRef(c)
		if ref == nil || c.DeletionTimestamp != nil {
			continue
		}
		data, err := k.readOnce(ctx, secrets, ref.Name)
		if err != nil {
			problems = append(problems, fmt.Errorf("RunnerClass %s: webhook %w", c.Name, err))
			continue
		}
		value := secretValue(data[ref.Key])
		if len(value) == 0 {
			problems = append(problems, fmt.Errorf("RunnerClass %s: webhook Secret %s/%s has no non-empty key %q", c.Name, k.namespace, ref.Name, ref.Key))
			continue
		}
		ck := classKeys{ref: *ref, secret: value, credentials: c.Spec.GitHub.CredentialsSecretRef.Name}
		ck.install, err = installationOf(c)
		if err != nil {
			problems = append(problems, fmt.Errorf("RunnerClass %s: %w: its deliveries through a GitHub App are refused", c.Name, err))
		}
		global := k.globals()
		for _, g := range global.keys {
			if !claims(*ref, k.namespace, global.ref, g.key) && bytes.Equal(g.value, value) {
				problems = append(problems, fmt.Errorf("RunnerClass %s: its webhook secret is also the global webhook secret "+
					"in key %s: deliveries signed with it reach class-less pools too", c.Name, g.key))
				break
			}
		}
		next[c.Name] = ck
	}
	k.mu.Lock()
	k.keys = next
	k.mu.Unlock()
	return errors.Join(problems...)
}

// readResult is one read of a Secret during a load.
type readResult struct {
	data map[string][]byte
	err  error
}

// readOnce returns the data of the Secret name in the operator's namespace, read at most
// once per load (several classes may share a Secret).
func (k *classKeyring) readOnce(ctx context.Context, memo map[string]readResult, name string) (map[string][]byte, error) {
	r, ok := memo[name]
	if !ok {
		r.data, r.err = k.get(ctx, name)
		memo[name] = r
	}
	return r.data, r.err
}

// get reads a Secret's data in the operator's namespace; errors name the Secret and say
// what to do, never what it holds.
func (k *classKeyring) get(ctx context.Context, name string) (map[string][]byte, error) {
	var s corev1.Secret
	key := types.NamespacedName{Namespace: k.namespace, Name: name}
	err := k.secrets.Get(ctx, key, &s)
	switch {
	case err == nil:
		return s.Data, nil
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("Secret %s not found", key)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("Secret %s not readable by the webhook receiver: list it in the chart value webhook.secretNames", key)
	}
	return nil, fmt.Errorf("reading Secret %s: %w", key, err)
}

// installationOf is the installation of the class's main credentials as the controller
// published it in the class's status (kind, App and installation IDs): the receiver
// checks App deliveries against it without reading the credentials Secret, which holds the
// App's private key.
func installationOf(c *corralv1.RunnerClass) (installation, error) {
	cr := c.Status.Credentials
	switch {
	case cr == nil:
		return installation{}, errors.New("its status.credentials is not published yet (the controller writes it once the credentials Secret parses)")
	case cr.Kind == string(github.CredentialToken):
		return installation{kind: credentialsToken}, nil
	case cr.InstallationID <= 0:
		return installation{}, fmt.Errorf("its status.credentials names no installation")
	}
	return installation{kind: credentialsApp, id: cr.InstallationID}, nil
}

// webhookRef is the class's webhookSecretRef with the CRD's default key; nil without one.
func webhookRef(c *corralv1.RunnerClass) *corralv1.SecretKeySelector {
	ref := c.Spec.GitHub.WebhookSecretRef
	if ref == nil || ref.Name == "" {
		return nil
	}
	out := *ref
	if out.Key == "" {
		out.Key = defaultWebhookSecretKey
	}
	return &out
}

// claims reports whether a class's webhookSecretRef (in namespace ns) names key of the
// global webhook Secret global.
func claims(ref corralv1.SecretKeySelector, ns string, global types.NamespacedName, key string) bool {
	return ns == global.Namespace && ref.Name == global.Name && ref.Key == key
}

// signersFor pairs the global secrets and the classes (from the cache; their Secrets in
// classNS) with the keys loaded for them. A key of the global Secret that a class's
// webhookSecretRef names is that class's, not global (a class's key such as
// webhook-secret-acme beside webhook-secret would otherwise also count as global). A class
// is a signer only with keys loaded from its current webhookSecretRef; its installation
// counts only if loaded from its current credentials Secret. stale reports a class whose
// keys are missing or were loaded from other references: the keyring should reload. Pure.
func signersFor(global globalKeys, classNS string, classes []corralv1.RunnerClass, keys map[string]classKeys) (signers []signer, stale bool) {
	var refs []corralv1.SecretKeySelector
	for i := range classes {
		if ref := webhookRef(&classes[i]); ref != nil {
			refs = append(refs, *ref)
		}
	}
	for _, g := range global.keys {
		if !slices.ContainsFunc(refs, func(r corralv1.SecretKeySelector) bool { return claims(r, classNS, global.ref, g.key) }) {
			signers = append(signers, signer{secret: g.value})
		}
	}
	for i := range classes {
		c := &classes[i]
		ref := webhookRef(c)
		if ref == nil || c.DeletionTimestamp != nil {
			continue
		}
		ck, ok := keys[c.Name]
		if !ok || ck.ref != *ref {
			stale = true
			continue
		}
		s := signer{secret: ck.secret, class: c, install: ck.install}
		if ck.credentials != c.Spec.GitHub.CredentialsSecretRef.Name {
			s.install, stale = installation{}, true
		}
		signers = append(signers, s)
	}
	return signers, stale
}

// receiverKeys is the receiver's keyring: the global secrets and the classes'.
type receiverKeys struct {
	global  *secretKeyring
	classes *classKeyring
}

var _ keyring = (*receiverKeys)(nil)

// Signers implements keyring: the classes come from the cache at each delivery, so a
// class's scope is always current; their secrets from the last load.
func (k *receiverKeys) Signers(ctx context.Context) []signer {
	classes, err := k.classes.list(ctx)
	if err != nil {
		log.FromContext(ctx).Error(err, "RunnerClasses unavailable: only the global webhook secret vouches for deliveries")
	}
	signers, stale := signersFor(k.global.Keys(), k.classes.namespace, classes, k.classes.snapshot())
	if stale {
		k.classes.Refresh()
	}
	return signers
}

// Refresh implements keyring. Only the global Secret is re-read soon: anyone on the
// internet can send a bad signature, and re-reading every class's Secrets for each would
// hand them a lever on the API server. The classes' Secrets are re-read every refresh
// interval, and soon after a class's references change (Signers).
func (k *receiverKeys) Refresh() {
	k.global.Refresh()
}
