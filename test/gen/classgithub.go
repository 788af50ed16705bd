package gen

import corralv1 "github.com/corral-run/corral/api/v1alpha1"

// WithClassOrganizations sets the organizations the class serves.
func WithClassOrganizations(orgs ...string) ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.GitHub.Organizations = orgs }
}

// WithClassRepositories sets the repositories (OWNER/REPO or OWNER/*) the class serves.
func WithClassRepositories(repos ...string) ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.GitHub.Repositories = repos }
}

// WithClassEnterprises sets the enterprises the class serves.
func WithClassEnterprises(slugs ...string) ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.GitHub.Enterprises = slugs }
}

// WithClassCredentials sets the class's credentials Secret (in the operator's namespace).
func WithClassCredentials(name string) ClassModifier {
	return func(c *corralv1.RunnerClass) {
		c.Spec.GitHub.CredentialsSecretRef = corralv1.LocalSecretRef{Name: name}
	}
}

// WithClassWebhookSecret sets the Secret key (in the operator's namespace) that signs the
// class's webhook deliveries.
func WithClassWebhookSecret(name, key string) ClassModifier {
	return func(c *corralv1.RunnerClass) {
		c.Spec.GitHub.WebhookSecretRef = &corralv1.SecretKeySelector{Name: name, Key: key}
	}
}
