package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/audit"
)

// +kubebuilder:rbac:groups=cilium.io,resources=tracingpoliciesnamespaced,verbs=get;create;update;delete

// audits remember, in memory only, what this process last made of each pool's audit policy
// (the hash of the policy applied and when, or auditOff once it was removed) and whether the
// cluster serves Tetragon's kind, looked up at most once per AuditRecheck. Losing them is
// safe: a new process writes each policy once more. A policy is written again once per
// AuditRecheck even when unchanged (a replace that changes nothing stores nothing), so one
// deleted or edited by someone else is back within that time.
type audits struct {
	mu        sync.Mutex
	applied   map[types.UID]appliedPolicy
	served    bool
	checkedAt time.Time
}

type appliedPolicy struct {
	hash string
	at   time.Time
}

// auditOff is the applied value of a pool whose policy was removed.
const auditOff = "off"

// fresh reports whether the pool's policy hash v was applied less than recheck before now
// (auditOff, once removed, stays fresh).
func (a *audits) fresh(pool types.UID, v string, now time.Time, recheck time.Duration) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	got, ok := a.applied[pool]
	return ok && got.hash == v && (v == auditOff || (now.Sub(got.at) < recheck && !now.Before(got.at)))
}

// record remembers that v was applied for the pool at now ("" forgets the pool).
func (a *audits) record(pool types.UID, v string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.applied == nil {
		a.applied = map[types.UID]appliedPolicy{}
	}
	if v == "" {
		delete(a.applied, pool)
		return
	}
	a.applied[pool] = appliedPolicy{hash: v, at: now}
}

// kindServed reports whether the cluster serves TracingPolicyNamespaced, asking discovery
// at most once per recheck (a miss costs a discovery round trip).
func (r *RunnerPoolReconciler) kindServed(now time.Time) bool {
	a := &r.audits
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.checkedAt.IsZero() && now.Sub(a.checkedAt) < r.opts().AuditRecheck {
		return a.served
	}
	_, err := r.Client.RESTMapper().RESTMapping(audit.GroupVersionKind.GroupKind(), audit.GroupVersionKind.Version)
	a.served, a.checkedAt = err == nil, now
	return a.served
}

// notServed forgets that the kind was served (its CRD went away).
func (r *RunnerPoolReconciler) notServed() {
	r.audits.mu.Lock()
	defer r.audits.mu.Unlock()
	r.audits.served, r.audits.applied = false, nil
}

// ensureAudit keeps the pool's Tetragon policy as spec.audit asks, and returns the pool's
// Audited condition (nil when audit is off). A cluster without Tetragon is no error: the
// pool runs unaudited and says so. An error is a Kubernetes API failure, retried.
func (r *RunnerPoolReconciler) ensureAudit(ctx context.Context, pool *corralv1.RunnerPool, now time.Time) (*metav1.Condition, error) {
	policy := audit.Build(pool)
	if !pool.Spec.Audit.Enabled {
		// Only a pool that was audited (its status says so) can have a policy to remove: the
		// others cost no call (a lookup of a kind the cluster lacks is a discovery round trip).
		if meta.FindStatusCondition(pool.Status.Conditions, corralv1.ConditionAudited) == nil || r.audits.fresh(pool.UID, auditOff, now, 0) {
			return nil, nil
		}
		err := r.Client.Delete(ctx, policy)
		if err != nil && !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("removing audit policy %s: %w", policy.GetName(), err)
		}
		r.audits.record(pool.UID, auditOff, now)
		return nil, nil
	}
	if !r.kindServed(now) {
		return auditCondition(metav1.ConditionFalse, corralv1.ReasonTetragonMissing,
			"audit is on, but the cluster serves no TracingPolicyNamespaced (cilium.io/v1alpha1): install Tetragon; the pool runs unaudited"), nil
	}
	if err := controllerutil.SetControllerReference(pool, policy, r.Client.Scheme()); err != nil {
		return nil, fmt.Errorf("owning audit policy %s: %w", policy.GetName(), err)
	}
	hash, err := policyHash(policy)
	if err != nil {
		return nil, err
	}
	applied := auditCondition(metav1.ConditionTrue, corralv1.ReasonPolicyApplied,
		fmt.Sprintf("Tetragon records the runners' process, network and privileged events (TracingPolicyNamespaced %s)", policy.GetName()))
	if r.audits.fresh(pool.UID, hash, now, r.opts().AuditRecheck) {
		return applied, nil
	}
	err = r.writePolicy(ctx, policy)
	switch {
	case meta.IsNoMatchError(err):
		r.notServed()
		return auditCondition(metav1.ConditionFalse, corralv1.ReasonTetragonMissing,
			"audit is on, but TracingPolicyNamespaced (cilium.io/v1alpha1) is no longer served: the pool runs unaudited"), nil
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err):
		r.audits.record(pool.UID, "", now)
		return auditCondition(metav1.ConditionFalse, corralv1.ReasonAuditFailed, "the API server refused the audit policy: "+firstLine(err.Error())), nil
	case err != nil:
		return nil, fmt.Errorf("applying audit policy %s: %w", policy.GetName(), err)
	}
	r.audits.record(pool.UID, hash, now)
	return applied, nil
}

// writePolicy creates the policy or replaces the stored one with it: a replace, not a
// merge, so that nothing someone else added (a label that matches no pod) survives. A
// replace that changes nothing is not stored again.
func (r *RunnerPoolReconciler) writePolicy(ctx context.Context, policy *unstructured.Unstructured) error {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(policy.GroupVersionKind())
	err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(policy), live)
	switch {
	case apierrors.IsNotFound(err):
		return r.Client.Create(ctx, policy)
	case err != nil:
		return err
	}
	policy.SetResourceVersion(live.GetResourceVersion())
	return r.Client.Update(ctx, policy)
}

func auditCondition(status metav1.ConditionStatus, reason, message string) *metav1.Condition {
	return &metav1.Condition{Type: corralv1.ConditionAudited, Status: status, Reason: reason, Message: message}
}

// policyHash identifies the policy's content (an unchanged policy is not applied again).
func policyHash(u *unstructured.Unstructured) (string, error) {
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return "", fmt.Errorf("encoding audit policy: %w", err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8]), nil
}
