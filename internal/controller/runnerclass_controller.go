package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// RunnerClassReconciler says in a RunnerClass's status whether the class can be used: its
// credentials Secrets parse, its CA bundle and webhook Secret exist (in the operator's
// namespace). It calls no forge: a class is usable as written; its pools report what GitHub
// says. It also publishes the App and installation IDs of the main credentials, which the
// webhook receiver checks deliveries against without being allowed to read the Secret.
type RunnerClassReconciler struct {
	Client client.Client
	// APIReader reads Secrets and ConfigMaps live.
	APIReader         client.Reader
	OperatorNamespace string
}

// +kubebuilder:rbac:groups=corral.run,resources=runnerclasses/status,verbs=patch

// Reconcile checks one RunnerClass and writes its status when it changed.
func (r *RunnerClassReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	class := &corralv1.RunnerClass{}
	if err := r.Client.Get(ctx, req.NamespacedName, class); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	creds, problem, err := r.check(ctx, class)
	if err != nil {
		return ctrl.Result{}, err
	}
	st := class.Status.DeepCopy()
	st.ObservedGeneration, st.Credentials = class.Generation, creds
	ready := metav1.Condition{Type: corralv1.ConditionReady, Status: metav1.ConditionTrue, Reason: corralv1.ReasonReconciled,
		Message: "the class's Secrets and ConfigMaps are in place", ObservedGeneration: class.Generation}
	if problem != nil {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, problem.reason, problem.message
	}
	meta.SetStatusCondition(&st.Conditions, ready)
	if equality.Semantic.DeepEqual(&class.Status, st) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(class.DeepCopy())
	class.Status = *st
	if err := r.Client.Status().Patch(ctx, class, patch); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("writing RunnerClass status: %w", err)
	}
	return ctrl.Result{}, nil
}

// classProblem is why a class cannot be used.
type classProblem struct{ reason, message string }

// check reads what the class refers to. The error is a transient read failure.
func (r *RunnerClassReconciler) check(ctx context.Context, class *corralv1.RunnerClass) (*corralv1.ClassCredentials, *classProblem, error) {
	gh := class.Spec.GitHub
	var creds *corralv1.ClassCredentials
	for i, name := range classCredentialRefs(class) {
		secret := &corev1.Secret{}
		if err := r.APIReader.Get(ctx, r.key(name), secret); err != nil {
			if apierrors.IsNotFound(err) {
				return creds, &classProblem{corralv1.ReasonCredentialsInvalid, fmt.Sprintf("credentials Secret %s not found", r.key(name))}, nil
			}
			return nil, nil, fmt.Errorf("reading Secret %s: %w", r.key(name), err)
		}
		parsed, err := github.ParseCredentials(secret.Data)
		if err != nil {
			return creds, &classProblem{corralv1.ReasonCredentialsInvalid, fmt.Sprintf("credentials Secret %s: %v", r.key(name), err)}, nil
		}
		if i == 0 {
			creds = &corralv1.ClassCredentials{Kind: string(parsed.Kind()), AppID: parsed.AppID(), InstallationID: parsed.InstallationID()}
		}
	}
	if ca := gh.CABundle; ca != nil {
		cm := &metav1.PartialObjectMetadata{}
		cm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
		if err := r.APIReader.Get(ctx, r.key(ca.Name), cm); err != nil {
			if apierrors.IsNotFound(err) {
				return creds, &classProblem{corralv1.ReasonConfigInvalid, fmt.Sprintf("CA bundle ConfigMap %s not found", r.key(ca.Name))}, nil
			}
			return nil, nil, fmt.Errorf("reading ConfigMap %s: %w", r.key(ca.Name), err)
		}
	}
	if ref := gh.WebhookSecretRef; ref != nil {
		secret := &corev1.Secret{}
		err := r.APIReader.Get(ctx, r.key(ref.Name), secret)
		switch {
		case apierrors.IsNotFound(err):
			return creds, &classProblem{corralv1.ReasonConfigInvalid, fmt.Sprintf("webhook Secret %s not found", r.key(ref.Name))}, nil
		case err != nil:
			return nil, nil, fmt.Errorf("reading Secret %s: %w", r.key(ref.Name), err)
		case len(secret.Data[webhookKey(ref)]) == 0:
			return creds, &classProblem{corralv1.ReasonConfigInvalid, fmt.Sprintf("webhook Secret %s has no key %q", r.key(ref.Name), webhookKey(ref))}, nil
		}
	}
	return creds, nil, nil
}

func (r *RunnerClassReconciler) key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: r.OperatorNamespace, Name: name}
}

// webhookKey is the key of the class's webhook secret, with the CRD's default.
func webhookKey(ref *corralv1.SecretKeySelector) string {
	if ref.Key == "" {
		return "webhook-secret"
	}
	return ref.Key
}

// SetupWithManager registers the class reconciler: it watches RunnerClasses and the
// metadata of the operator namespace's Secrets (CacheByObject), which a class refers to.
func (r *RunnerClassReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.OperatorNamespace == "" {
		return errors.New("the RunnerClass controller needs the operator's namespace (--operator-namespace)")
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&corralv1.RunnerClass{}).
		WatchesMetadata(secretMetadata(), handler.EnqueueRequestsFromMapFunc(r.classesOf)).
		Complete(r)
}

// classesOf maps a Secret of the operator's namespace to the classes that refer to it.
func (r *RunnerClassReconciler) classesOf(ctx context.Context, obj client.Object) []reconcile.Request {
	if obj.GetNamespace() != r.OperatorNamespace {
		return nil
	}
	classes := &corralv1.RunnerClassList{}
	if err := r.Client.List(ctx, classes); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, c := range classes.Items {
		refs := classCredentialRefs(&c)
		if ref := c.Spec.GitHub.WebhookSecretRef; ref != nil {
			refs = append(refs, ref.Name)
		}
		for _, name := range refs {
			if name == obj.GetName() {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: c.Name}})
				break
			}
		}
	}
	return out
}
