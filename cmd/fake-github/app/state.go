package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// Files a running fake GitHub writes to its directory.
const (
	// InfoFile is Info as JSON, written last: once it exists, the fake is ready.
	InfoFile = "info.json"
	// EnvFile is Info as shell variables (FAKE_GITHUB_URL, ...), for scripts.
	EnvFile = "env"
	// CAFile is the TLS certificate of the API.
	CAFile = "ca.crt"
	// CredentialsFile holds the Apps' credentials Secrets and the CA ConfigMap.
	CredentialsFile = "github-credentials.yaml"
	// WebhookSecretFile holds the webhook secret Secret.
	WebhookSecretFile = "webhook-secret.yaml"
	// RecoveryCredentialsFile holds the delivery-log recovery Secret.
	RecoveryCredentialsFile = "recovery-credentials.yaml"
)

// CABundleKey is the key of the CA certificate in the CA ConfigMap.
const CABundleKey = "ca.crt"

// writeState writes the certificate, the manifests, env and, last, info.json into dir, and
// completes info with their paths.
func writeState(dir string, info *Info, apps []githubtest.App, caPEM []byte, webhookSecret string) error {
	app := apps[0]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", dir, err)
	}
	info.Dir = abs
	info.CAFile = filepath.Join(abs, CAFile)
	info.CredentialsManifest = filepath.Join(abs, CredentialsFile)
	info.WebhookSecretManifest = filepath.Join(abs, WebhookSecretFile)
	info.RecoveryCredentialsManifest = filepath.Join(abs, RecoveryCredentialsFile)
	_ = os.Remove(filepath.Join(abs, InfoFile)) // a stale one would look ready

	var objs []any
	for i, a := range apps {
		objs = append(objs, &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: info.Apps[i].SecretName},
			Data:       a.SecretData(),
		})
	}
	creds, err := manifests(append(objs, &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: info.CAConfigMapName},
		Data:       map[string]string{CABundleKey: string(caPEM)},
	})...)
	if err != nil {
		return err
	}
	hook, err := manifests(&corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: info.WebhookSecretName},
		StringData: map[string]string{"webhook-secret": webhookSecret},
	})
	if err != nil {
		return err
	}
	recovery, err := manifests(&corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: info.RecoverySecretName},
		Data: map[string][]byte{
			"app-id": app.SecretData()["app-id"], "private-key": app.PrivateKeyPEM, CABundleKey: caPEM,
		},
	})
	if err != nil {
		return err
	}
	env := fmt.Sprintf("FAKE_GITHUB_URL=%s\nFAKE_GITHUB_POOL_URL=%s\nFAKE_GITHUB_CONTROL=%s\nFAKE_GITHUB_APP_ID=%d\nFAKE_GITHUB_INSTALLATION_ID=%d\n",
		info.URL, info.PoolURL, info.ControlURL, info.AppID, info.InstallationID)
	infoJSON, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding info: %w", err)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{CAFile, caPEM, 0o644},
		{CredentialsFile, creds, 0o600},
		{WebhookSecretFile, hook, 0o600},
		{RecoveryCredentialsFile, recovery, 0o600},
		{EnvFile, []byte(env), 0o644},
		{InfoFile, append(infoJSON, '\n'), 0o644},
	}
	for _, f := range files {
		if err := writeAtomic(filepath.Join(abs, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// manifests renders objects as a multi-document YAML stream.
func manifests(objs ...any) ([]byte, error) {
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("encoding manifest: %w", err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// writeAtomic writes a file through a temporary name, so readers never see half of it.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
