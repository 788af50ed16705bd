package gen

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// ClassModifier changes a RunnerClass fixture.
type ClassModifier func(*corralv1.RunnerClass)

// RunnerClass returns a class named name serving the organization acme on github.com with
// the credentials Secret "acme-app" (in the operator's namespace), for every namespace,
// with the CRD's defaults and no other guardrail set, then modified by mods.
func RunnerClass(name string, mods ...ClassModifier) *corralv1.RunnerClass {
	c := &corralv1.RunnerClass{
		TypeMeta:   metav1.TypeMeta{APIVersion: corralv1.GroupVersion.String(), Kind: "RunnerClass"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1},
		Spec: corralv1.RunnerClassSpec{
			GitHub: corralv1.ClassGitHubSpec{
				Server:               "https://github.com",
				Organizations:        []string{"acme"},
				CredentialsSecretRef: corralv1.LocalSecretRef{Name: "acme-app"},
			},
			Sandbox: corralv1.ClassSandbox{UserNamespace: corralv1.UserNamespaceAllowed},
		},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

// WithClass makes a pool a member of the class name: the class provides its credentials.
func WithClass(name string) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		p.Spec.ClassRef = &corralv1.ClassRef{Name: name}
		p.Spec.GitHub.CredentialsSecretRef = nil
		p.Spec.GitHub.AdditionalCredentialsSecretRefs = nil
		p.Spec.GitHub.CABundle = nil
		p.Spec.GitHub.Proxy = nil
	}
}

// WithClassNamespaces limits the class to namespaces with these labels.
func WithClassNamespaces(labels map[string]string) ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.NamespaceSelector = metav1.LabelSelector{MatchLabels: labels} }
}

// WithClassServer sets the class's GitHub server.
func WithClassServer(server string) ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.GitHub.Server = server }
}
