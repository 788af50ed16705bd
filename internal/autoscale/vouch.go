package autoscale

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/runnerclass"
)

// Vouch is who vouched for a delivery, and so which pools it may reach. The zero value
// vouches for nothing and reaches no pool.
type Vouch struct {
	// Global: the receiver's own webhook secret (--webhook-secret) verified the delivery.
	// It reaches class-less pools only.
	Global bool
	// Classes are the RunnerClasses (sorted) whose webhook secret verified the delivery
	// and that serve its job. It reaches their pools only.
	Classes []string
}

// None reports whether nobody vouched for the delivery.
func (v Vouch) None() bool { return !v.Global && len(v.Classes) == 0 }

// key identifies the vouchers in the handler's dedupe keys, so that a delivery vouched for
// by one class never makes another's delivery of the same job look like a duplicate.
func (v Vouch) key() string {
	k := "classes=" + strings.Join(v.Classes, ",")
	if v.Global {
		k = "global;" + k
	}
	return k
}

// reaches reports whether a delivery with this vouch may change pool's demand: a
// class-less pool takes deliveries the global secret vouched for; a pool of a class takes
// those its class vouched for, unless the controller found that the class refuses the pool
// (missing class, namespace not served, guardrail broken): such a pool gets no runners,
// and its demand would be demand taken from the class's other pools.
func (v Vouch) reaches(pool *corralv1.RunnerPool) bool {
	if pool.Spec.ClassRef == nil {
		return v.Global
	}
	return slices.Contains(v.Classes, pool.Spec.ClassRef.Name) && !refusedByClass(pool)
}

// refusedByClass reports whether the pool's Stalled condition says its class refuses it.
func refusedByClass(pool *corralv1.RunnerPool) bool {
	c := meta.FindStatusCondition(pool.Status.Conditions, corralv1.ConditionStalled)
	if c == nil || c.Status != metav1.ConditionTrue {
		return false
	}
	switch c.Reason {
	case corralv1.ReasonClassNotFound, corralv1.ReasonClassNotAllowed, corralv1.ReasonClassViolation:
		return true
	}
	return false
}

// credentialsKind is what the receiver knows of a class's credentials Secret.
type credentialsKind int

const (
	// credentialsUnknown: the Secret could not be read (missing, not readable by the
	// receiver, malformed).
	credentialsUnknown credentialsKind = iota
	// credentialsApp: a GitHub App installation (installation-id is set).
	credentialsApp
	// credentialsToken: a token, which names no installation.
	credentialsToken
)

// installation is a class's GitHub App installation, as far as the receiver knows it.
type installation struct {
	kind credentialsKind
	id   int64 // with credentialsApp
}

// signer is a secret that may vouch for deliveries: the global secret (class nil) or a
// class's webhook secret, with what the receiver knows of the class's installation.
type signer struct {
	secret  []byte
	class   *corralv1.RunnerClass
	install installation
}

// refusal says why a verified delivery may reach no pool of a class.
type refusal struct {
	outcome string // outcomeScopeRefused or outcomeInstallationRefused
	message string
}

// vouch decides who vouches for ev among the signers whose secret verified its signature
// (matched[i] for signers[i]). The global secret vouches for anything (its class-less
// pools check their own scope). A class vouches only for jobs it serves
// (runnerclass.Serves: its host, organizations, repositories, enterprises) and, for a
// delivery through a GitHub App (installation.id set), only when that is the installation
// of the class's App credentials: unknown credentials refuse App deliveries, token
// credentials name no installation to compare. When nobody vouches, refusals say why
// (the most specific first).
func vouch(ev Event, signers []signer, matched []bool) (Vouch, []refusal) {
	var v Vouch
	var refusals []refusal
	origin := runnerclass.JobOrigin{Host: ev.Host, Repository: ev.Repository, Owner: ev.Owner, Enterprise: ev.Enterprise}
	for i, s := range signers {
		if i >= len(matched) || !matched[i] {
			continue
		}
		if s.class == nil {
			v.Global = true
			continue
		}
		if ok, why := runnerclass.Serves(s.class, origin); !ok {
			refusals = append(refusals, refusal{outcomeScopeRefused, "signed with a RunnerClass's webhook secret: " + why})
			continue
		}
		if msg := installationProblem(s.class.Name, s.install, ev.InstallationID); msg != "" {
			refusals = append(refusals, refusal{outcomeInstallationRefused, msg})
			continue
		}
		if !slices.Contains(v.Classes, s.class.Name) {
			v.Classes = append(v.Classes, s.class.Name)
		}
	}
	slices.Sort(v.Classes)
	if !v.None() {
		return v, nil
	}
	// The most specific first: a class that serves the job but not through that App.
	slices.SortFunc(refusals, func(a, b refusal) int {
		if (a.outcome == outcomeInstallationRefused) != (b.outcome == outcomeInstallationRefused) {
			if a.outcome == outcomeInstallationRefused {
				return -1
			}
			return 1
		}
		return strings.Compare(a.message, b.message)
	})
	return v, refusals
}

// installationProblem says why a delivery through installation got (0: not through an
// App) may not vouch for class, whose credentials are known as in ("" when it may).
func installationProblem(class string, in installation, got int64) string {
	if got == 0 {
		return ""
	}
	switch in.kind {
	case credentialsToken:
		return ""
	case credentialsApp:
		if in.id == got {
			return ""
		}
		return fmt.Sprintf("delivered through GitHub App installation %d, which is not RunnerClass %s's", got, class)
	}
	return fmt.Sprintf("delivered through GitHub App installation %d, and the installation of RunnerClass %s is unknown "+
		"(the webhook receiver cannot read its credentials Secret)", got, class)
}

// vouchReplay is who vouches for a delivery the recovery read from a GitHub App's delivery
// log: GitHub itself, so no secret is involved. It reaches the pools of every class that
// serves its job, and class-less pools only when no class does: a replay never gives a
// class's job to a class-less pool that claims a narrower scope.
func vouchReplay(ev Event, classes []corralv1.RunnerClass) Vouch {
	origin := runnerclass.JobOrigin{Host: ev.Host, Repository: ev.Repository, Owner: ev.Owner, Enterprise: ev.Enterprise}
	var v Vouch
	for i := range classes {
		if ok, _ := runnerclass.Serves(&classes[i], origin); ok {
			v.Classes = append(v.Classes, classes[i].Name)
		}
	}
	slices.Sort(v.Classes)
	v.Classes = slices.Compact(v.Classes)
	v.Global = len(v.Classes) == 0
	return v
}

// refusalAnswer joins refusals into the outcome and message of a 401.
func refusalAnswer(refusals []refusal) (outcome, message string) {
	if len(refusals) == 0 {
		return outcomeUnauthorized, "no vouching secret"
	}
	msgs := make([]string, len(refusals))
	for i, r := range refusals {
		msgs[i] = r.message
	}
	return refusals[0].outcome, strings.Join(msgs, "; ")
}
