package gen

import corralv1 "github.com/corral-run/corral/api/v1alpha1"

// WithAudit turns the pool's audit on, recording writes under writePaths too.
func WithAudit(writePaths ...string) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		p.Spec.Audit = corralv1.AuditSpec{Enabled: true, WritePaths: writePaths}
	}
}

// WithClassAudit sets whether the class's pools must, may or must not be audited.
func WithClassAudit(a corralv1.ClassAudit) ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Audit = a }
}
