package autoscale

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// keyring hands the handler the secrets that may vouch for deliveries.
type keyring interface {
	// Signers returns the secrets that may vouch for a delivery now, each with whom it
	// vouches for (the global secret or a RunnerClass); none when none are loaded. It never
	// waits for the API server.
	Signers(ctx context.Context) []signer
	// Refresh asks the keyring to re-read the secrets soon (at most every few seconds):
	// a signature matched none of them, or none are loaded.
	Refresh()
}

// staticKeys is a fixed keyring of global secrets.
type staticKeys [][]byte

func (k staticKeys) Signers(context.Context) []signer { return globalSigners(k) }
func (staticKeys) Refresh()                           {}

// globalSigners are the global secrets as signers: they vouch for class-less pools.
func globalSigners(secrets [][]byte) []signer {
	out := make([]signer, 0, len(secrets))
	for _, s := range secrets {
		out = append(out, signer{secret: s})
	}
	return out
}

// namedSecret is one accepted secret of the global webhook Secret, with its key.
type namedSecret struct {
	key   string
	value []byte
}

// globalKeys are the global webhook Secret's accepted secrets.
type globalKeys struct {
	ref  types.NamespacedName
	keys []namedSecret
}

// secretKeyring reads the global webhook secrets from a Secret through an uncached reader
// (so the manager does not watch every Secret of the cluster), every refresh interval and
// soon after a signature mismatch or while none are loaded (at most once per minRefresh),
// in the background: the handler never waits for the API server.
type secretKeyring struct {
	reader     client.Reader
	ref        types.NamespacedName
	refresh    time.Duration
	minRefresh time.Duration
	kick       chan struct{}

	mu      sync.RWMutex
	secrets []namedSecret
}

func newSecretKeyring(reader client.Reader, ref types.NamespacedName) *secretKeyring {
	return &secretKeyring{reader: reader, ref: ref, refresh: 30 * time.Second, minRefresh: 5 * time.Second, kick: make(chan struct{}, 1)}
}

// Keys returns the global secrets loaded; none when they are not.
func (k *secretKeyring) Keys() globalKeys {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return globalKeys{ref: k.ref, keys: k.secrets}
}

// Refresh asks for a reload soon.
func (k *secretKeyring) Refresh() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// load reads the Secret once. A Secret that is gone empties the keyring (deliveries get
// 503 until it is back); other errors keep the secrets already loaded.
func (k *secretKeyring) load(ctx context.Context) error {
	var s corev1.Secret
	err := k.reader.Get(ctx, k.ref, &s)
	if apierrors.IsNotFound(err) {
		k.set(nil)
		return fmt.Errorf("webhook Secret %s not found", k.ref)
	}
	if err != nil {
		return fmt.Errorf("reading webhook Secret %s: %w", k.ref, err)
	}
	secrets := secretsOf(s.Data)
	k.set(secrets)
	if len(secrets) == 0 {
		return fmt.Errorf("webhook Secret %s has no non-empty %s* key", k.ref, SecretKeyPrefix)
	}
	return nil
}

func (k *secretKeyring) set(secrets []namedSecret) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.secrets = secrets
}

// run reloads the secrets until ctx ends.
func (k *secretKeyring) run(ctx context.Context) {
	refreshLoop(ctx, k.refresh, k.minRefresh, k.kick, func(ctx context.Context) {
		if err := k.load(ctx); err != nil {
			log.FromContext(ctx).Error(err, "webhook secrets not (re)loaded")
		}
	})
}

// refreshLoop calls load every interval and after each kick, at most once per
// minInterval: a kick that comes sooner is served when minInterval has passed. It returns
// when ctx ends.
func refreshLoop(ctx context.Context, interval, minInterval time.Duration, kick <-chan struct{}, load func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
			if wait := minInterval - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		last = time.Now()
		load(ctx)
	}
}

// secretsOf returns the non-empty values of the SecretKeyPrefix keys, in key order,
// without a trailing newline.
func secretsOf(data map[string][]byte) []namedSecret {
	keys := make([]string, 0, len(data))
	for key := range data {
		if strings.HasPrefix(key, SecretKeyPrefix) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	var out []namedSecret
	for _, key := range keys {
		if v := secretValue(data[key]); len(v) > 0 {
			out = append(out, namedSecret{key: key, value: v})
		}
	}
	return out
}

// secretValue is a Secret value without a trailing newline (what `kubectl create secret
// --from-file` keeps of an editor's file).
func secretValue(v []byte) []byte {
	return []byte(strings.TrimSuffix(strings.TrimSuffix(string(v), "\n"), "\r"))
}
