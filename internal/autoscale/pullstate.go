package autoscale

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys of the ConfigMap that keeps a pull's progress through an App's delivery log.
const (
	// pullKeyAfter holds the ID of the newest logged delivery such that it and every one
	// before it were applied (or need nothing): a restarted pull lists only what is newer.
	pullKeyAfter = "after-delivery-id"
	// pullKeyApp holds the App ID and GitHub the progress belongs to: another App's IDs
	// mean nothing, so a changed Secret starts over (from MaxAge back).
	pullKeyApp = "app"
)

// pullSaveInterval bounds how often the progress is written: a crash re-reads at most this
// much of the log (applying a delivery twice is harmless: job states only move forward),
// and a busy log costs one write per this interval, not one per delivery.
const pullSaveInterval = 30 * time.Second

// pullProgress is where a pull stands in an App's delivery log.
type pullProgress struct {
	app   string // "<app-id>@<github URL>"
	after int64
}

// pullState reads and writes a pull's progress in a ConfigMap beside its credentials
// Secret (corral-pull-<secret>), read uncached: the controller caches no ConfigMaps.
type pullState struct {
	key    types.NamespacedName
	reader client.Reader
	writer client.Client
	saved  pullProgress
	exists bool
	at     time.Time // when saved was written or read
}

// pullStateName is the progress ConfigMap of the pull reading the credentials Secret name.
func pullStateName(secret string) string {
	name := "corral-pull-" + secret
	if len(name) > validation.DNS1123SubdomainMaxLength {
		name = strings.TrimRight(name[:validation.DNS1123SubdomainMaxLength], ".-")
	}
	return name
}

// load returns the saved progress for app, or none when it belongs to another App.
func (s *pullState) load(ctx context.Context, app string, now time.Time) (int64, error) {
	var cm corev1.ConfigMap
	err := s.reader.Get(ctx, s.key, &cm)
	switch {
	case apierrors.IsNotFound(err):
		s.exists = false
	case err != nil:
		return 0, fmt.Errorf("reading the pull's progress ConfigMap %s: %w", s.key, err)
	default:
		s.exists = true
		after, perr := strconv.ParseInt(cm.Data[pullKeyAfter], 10, 64)
		if perr == nil && after > 0 && cm.Data[pullKeyApp] == app {
			s.saved = pullProgress{app: app, after: after}
		}
	}
	s.at = now
	if s.saved.app != app {
		return 0, nil
	}
	return s.saved.after, nil
}

// save writes p when it moved on and the last write is pullSaveInterval old, or when
// nothing was saved yet, or when forced.
func (s *pullState) save(ctx context.Context, p pullProgress, now time.Time, force bool) error {
	if p == s.saved || (!force && s.exists && now.Sub(s.at) < pullSaveInterval) {
		return nil
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.key.Namespace, Name: s.key.Name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "corral"}},
		Data: map[string]string{pullKeyAfter: strconv.FormatInt(p.after, 10), pullKeyApp: p.app},
	}
	var err error
	if s.exists {
		err = s.writer.Update(ctx, cm)
	} else {
		err = s.writer.Create(ctx, cm)
		if apierrors.IsAlreadyExists(err) {
			err = s.writer.Update(ctx, cm)
		}
	}
	if err != nil {
		return fmt.Errorf("saving the pull's progress in ConfigMap %s: %w", s.key, err)
	}
	s.saved, s.exists, s.at = p, true, now
	return nil
}
