package github

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	jwt "github.com/golang-jwt/jwt/v4"
)

func TestParseCredentials(t *testing.T) {
	keyPEM := testKeyPEM(t)
	key, err := jwt.ParseRSAPrivateKeyFromPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8PEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	const secretish = "s3cr3t-VALUE-must-not-leak"
	app := func(mod func(map[string][]byte)) map[string][]byte {
		d := map[string][]byte{KeyAppID: []byte("123\n"), KeyInstallationID: []byte(" 456"), KeyPrivateKey: keyPEM}
		if mod != nil {
			mod(d)
		}
		return d
	}
	cases := []struct {
		name    string
		data    map[string][]byte
		kind    CredentialKind
		wantErr string // substring; empty means success
	}{
		{"app PKCS#1", app(nil), CredentialApp, ""},
		{"app PKCS#8", app(func(d map[string][]byte) { d[KeyPrivateKey] = pkcs8PEM }), CredentialApp, ""},
		{"token", map[string][]byte{KeyToken: []byte("ghp_abc123\n")}, CredentialToken, ""},
		{"token and app keys", app(func(d map[string][]byte) { d[KeyToken] = []byte("ghp_x") }), "", `both "token" and GitHub App keys`},
		{"token and one app key", map[string][]byte{KeyToken: []byte("t"), KeyAppID: []byte("1")}, "", "keep one kind"},
		{"nothing", map[string][]byte{"other": []byte("x")}, "", "neither GitHub App keys"},
		{"blank token", map[string][]byte{KeyToken: []byte("  \n")}, "", "neither"},
		{"missing installation-id", app(func(d map[string][]byte) { delete(d, KeyInstallationID) }), "", `"installation-id" missing`},
		{"missing key and app-id", app(func(d map[string][]byte) { delete(d, KeyPrivateKey); delete(d, KeyAppID) }), "", `"app-id", "private-key" missing`},
		{"non-numeric app-id", app(func(d map[string][]byte) { d[KeyAppID] = []byte(secretish) }), "", `key "app-id" must be a positive integer`},
		{"negative installation-id", app(func(d map[string][]byte) { d[KeyInstallationID] = []byte("-4") }), "", `key "installation-id" must be a positive integer`},
		{"zero app-id", app(func(d map[string][]byte) { d[KeyAppID] = []byte("0") }), "", `"app-id" must be a positive integer`},
		{"unparseable PEM", app(func(d map[string][]byte) { d[KeyPrivateKey] = []byte(secretish) }), "", `key "private-key" is not a PEM-encoded RSA private key`},
		{"truncated PEM", app(func(d map[string][]byte) { d[KeyPrivateKey] = keyPEM[:200] }), "", `"private-key" is not`},
		{"token with a space", map[string][]byte{KeyToken: []byte("ghp_a " + secretish)}, "", `key "token" must be a single token`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCredentials(tc.data)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseCredentials: %v", err)
				}
				if c.Kind() != tc.kind {
					t.Errorf("Kind = %s, want %s", c.Kind(), tc.kind)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseCredentials accepted it: %v", c)
			}
			if !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("error %v does not wrap ErrInvalidCredentials", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			for _, v := range tc.data {
				if s := strings.TrimSpace(string(v)); len(s) > 3 && strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains a Secret value", err)
				}
			}
			if strings.Contains(err.Error(), secretish) || strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("error %q leaks a value", err)
			}
		})
	}
}

func TestCredentialsNeverFormatSecrets(t *testing.T) {
	keyPEM := testKeyPEM(t)
	app, err := ParseCredentials(map[string][]byte{KeyAppID: []byte("12"), KeyInstallationID: []byte("34"), KeyPrivateKey: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	if app.AppID() != 12 || app.InstallationID() != 34 {
		t.Errorf("IDs = %d %d", app.AppID(), app.InstallationID())
	}
	tok, err := ParseCredentials(map[string][]byte{KeyToken: []byte("ghp_supersecretvalue1234567890")})
	if err != nil {
		t.Fatal(err)
	}
	keyBody := strings.Split(string(keyPEM), "\n")[1]
	for _, c := range []Credentials{app, tok} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, c) + fmt.Sprintf(verb, &c) + fmt.Sprint(c.MarshalLog())
			if strings.Contains(out, "supersecret") || strings.Contains(out, keyBody) || strings.Contains(out, "BEGIN") {
				t.Errorf("%s of %s shows a secret: %s", verb, c.Kind(), out)
			}
		}
	}
	if got := fmt.Sprint(app); got != "GitHub App 12 installation 34" {
		t.Errorf("String = %q", got)
	}
	if got := (JITConfig{RunnerID: 7, Encoded: "c2VjcmV0"}); strings.Contains(fmt.Sprintf("%v %+v %#v %v", got, got, got, got.MarshalLog()), "c2VjcmV0") {
		t.Error("JITConfig formatting shows the encoded configuration")
	}
}
