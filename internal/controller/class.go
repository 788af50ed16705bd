package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/internal/runnerclass"
)

// classView is what a reconcile knows of the pool's RunnerClass: the class (nil for a
// class-less pool), the pool as the builders must see it, and why the pool may not run,
// if it may not.
type classView struct {
	class     *corralv1.RunnerClass
	effective *corralv1.RunnerPool
	// refusal is the Stalled condition of a pool that may not create runners: its class is
	// missing or does not serve its namespace, it asks for more than the class allows, or
	// the pod it would get breaks the hardening policy.
	refusal *metav1.Condition
}

// resolveClass reads the pool's class, its namespace and the namespace's pools from the
// cache, and decides whether the pool may create runners.
func (r *RunnerPoolReconciler) resolveClass(ctx context.Context, pool *corralv1.RunnerPool) (classView, error) {
	v := classView{effective: pool}
	if ref := pool.Spec.ClassRef; ref != nil {
		class := &corralv1.RunnerClass{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: ref.Name}, class); err != nil {
			if apierrors.IsNotFound(err) {
				v.refusal = stall(corralv1.ReasonClassNotFound, "RunnerClass %s does not exist", ref.Name)
				return v, nil
			}
			return v, fmt.Errorf("reading RunnerClass %s: %w", ref.Name, err)
		}
		ns := &metav1.PartialObjectMetadata{}
		ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		if err := r.Client.Get(ctx, types.NamespacedName{Name: pool.Namespace}, ns); err != nil {
			return v, fmt.Errorf("reading namespace %s: %w", pool.Namespace, err)
		}
		pools := &corralv1.RunnerPoolList{}
		if err := r.Client.List(ctx, pools, client.InNamespace(pool.Namespace)); err != nil {
			return v, fmt.Errorf("listing the pools of namespace %s: %w", pool.Namespace, err)
		}
		v.class = class
		v.effective = runnerclass.Effective(pool, class)
		v.refusal = classRefusal(pool, class, ns.Labels, pools.Items)
	}
	if v.refusal == nil {
		v.refusal = policyRefusal(v.effective, v.class)
	}
	return v, nil
}

// classRefusal says why pool may not use class from a namespace with these labels, among
// these pools of the namespace; nil when it may. Pure.
func classRefusal(pool *corralv1.RunnerPool, class *corralv1.RunnerClass, nsLabels map[string]string, namespacePools []corralv1.RunnerPool) *metav1.Condition {
	admitted, err := runnerclass.Admits(class, nsLabels)
	switch {
	case err != nil:
		return stall(corralv1.ReasonClassNotAllowed, "%v", err)
	case !admitted:
		return stall(corralv1.ReasonClassNotAllowed, "RunnerClass %s does not serve namespace %s (its namespaceSelector does not select it)", class.Name, pool.Namespace)
	}
	vs := runnerclass.CheckPool(pool, class)
	if v := runnerclass.CheckNamespaceBudget(pool, namespacePools, class); v != nil {
		vs = append(vs, *v)
	}
	if len(vs) > 0 {
		return stall(corralv1.ReasonClassViolation, "%s", runnerclass.Summary(class.Name, vs))
	}
	return nil
}

// policyRefusal builds the pod the pool's runners would get and checks it: against the
// class's guardrails (what it finally runs under, defaults included) and against Corral's
// hardening policy, which holds for every pool. Run before every creation. Pure.
func policyRefusal(effective *corralv1.RunnerPool, class *corralv1.RunnerClass) *metav1.Condition {
	pod := runner.BuildPod(effective, effective.Name+"-policy-check", runner.JITSecretName(effective.Name+"-policy-check"))
	if class != nil {
		if vs := runnerclass.CheckPod(pod, class); len(vs) > 0 {
			return stall(corralv1.ReasonClassViolation, "%s", runnerclass.Summary(class.Name, vs))
		}
	}
	if vs := runner.Violations(effective, pod); len(vs) > 0 {
		msg := fmt.Sprintf("the runner pod would break Corral's hardening policy: %s: %s", vs[0].Reason, vs[0].Message)
		if len(vs) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(vs)-1)
		}
		return stall(corralv1.ReasonPolicyViolation, "%s", msg)
	}
	return nil
}

func stall(reason, format string, args ...any) *metav1.Condition {
	return condition(corralv1.ConditionStalled, reason, fmt.Sprintf(format, args...))
}
