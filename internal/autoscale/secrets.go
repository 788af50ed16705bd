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

// keyring hands the handler the accepted webhook secrets.
type keyring interface {
	// Secrets returns the accepted secrets; none when they are not loaded.
	Secrets() [][]byte
	// Refresh asks the keyring to re-read the secrets soon (at most every few seconds):
	// a signature matched none of them, or none are loaded.
	Refresh()
}

// staticKeys is a fixed keyring.
type staticKeys [][]byte

func (k staticKeys) Secrets() [][]byte { return k }
func (staticKeys) Refresh()            {}

// secretKeyring reads the webhook secrets from a Secret through an uncached reader (so the
// manager does not watch every Secret of the cluster), every refresh interval and soon
// after a signature mismatch or while none are loaded (at most once per minRefresh), in the background: the
// handler never waits for the API server.
type secretKeyring struct {
	reader     client.Reader
	ref        types.NamespacedName
	refresh    time.Duration
	minRefresh time.Duration
	kick       chan struct{}

	mu      sync.RWMutex
	secrets [][]byte
}

func newSecretKeyring(reader client.Reader, ref types.NamespacedName) *secretKeyring {
	return &secretKeyring{reader: reader, ref: ref, refresh: 30 * time.Second, minRefresh: 5 * time.Second, kick: make(chan struct{}, 1)}
}

// Secrets implements keyring.
func (k *secretKeyring) Secrets() [][]byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.secrets
}

// Refresh implements keyring.
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

func (k *secretKeyring) set(secrets [][]byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.secrets = secrets
}

// run reloads the secrets until ctx ends.
func (k *secretKeyring) run(ctx context.Context) {
	logger := log.FromContext(ctx)
	t := time.NewTicker(k.refresh)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-k.kick:
			if time.Since(last) < k.minRefresh {
				continue
			}
		}
		last = time.Now()
		if err := k.load(ctx); err != nil {
			logger.Error(err, "webhook secrets not (re)loaded")
		}
	}
}

// secretsOf returns the values of the SecretKeyPrefix keys, in key order, without a
// trailing newline.
func secretsOf(data map[string][]byte) [][]byte {
	keys := make([]string, 0, len(data))
	for key := range data {
		if strings.HasPrefix(key, SecretKeyPrefix) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	var out [][]byte
	for _, key := range keys {
		v := data[key]
		v = []byte(strings.TrimSuffix(strings.TrimSuffix(string(v), "\n"), "\r"))
		if len(v) > 0 {
			out = append(out, v)
		}
	}
	return out
}
