package v1alpha1_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/corral-run/corral/test/testenv"
)

// The suite installs the generated CRD into a real kube-apiserver and proves that the API
// server itself enforces every validation rule and default of the RunnerPool API.
func TestRunnerPoolValidation(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "RunnerPool CRD validation")
}

var (
	env *testenv.Env
	k8s client.Client
	ctx = context.Background()
)

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.Start(testenv.Options{})
	Expect(err).NotTo(HaveOccurred())
	k8s = env.Client
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
