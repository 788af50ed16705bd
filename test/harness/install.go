package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// OperatorNamespace is where config/default installs Corral's ServiceAccount and RBAC.
const OperatorNamespace = "corral-system"

// InstallCorral applies Corral the way users do (hack/cluster/install: config/default without
// the Deployment, as the operator runs as a local process), waits for the CRD and writes to
// kubeconfig a kubeconfig with the token of Corral's ServiceAccount, so that corral runs with
// exactly the RBAC rules it ships.
func InstallCorral(ctx context.Context, c *Cluster, kubeconfig string) error {
	if _, err := c.Kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-k", filepath.Join(RepoRoot(), "hack", "cluster", "install")); err != nil {
		return err
	}
	if _, err := c.Kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s", "crd/runnerpools.corral.run"); err != nil {
		return err
	}
	token, err := c.Kubectl(ctx, "create", "token", "corral", "-n", OperatorNamespace, "--duration=6h")
	if err != nil {
		return err
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: corral, user: {token: %q}}]
contexts: [{name: local, context: {cluster: local, user: corral}}]
current-context: local
`, c.Config.Host, strings.TrimSpace(token))
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		return fmt.Errorf("writing corral's kubeconfig: %w", err)
	}
	return nil
}
