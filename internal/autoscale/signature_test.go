package autoscale

import (
	"strings"
	"testing"
)

func TestSignMatchesGitHubTestVector(t *testing.T) {
	// https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
	got := Sign([]byte("It's a Secret to Everybody"), []byte("Hello, World!"))
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if ok, _ := verifySignature(want, []byte("Hello, World!"), [][]byte{[]byte("It's a Secret to Everybody")}); !ok {
		t.Error("GitHub's test vector does not verify")
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"action":"queued"}`)
	oldSecret, newSecret := []byte("old-secret"), []byte("new-secret")
	valid := Sign(newSecret, body)
	cases := []struct {
		name    string
		header  string
		body    []byte
		secrets [][]byte
		ok      bool
		reason  string
	}{
		{"valid", valid, body, [][]byte{newSecret}, true, ""},
		{"second secret during rotation", valid, body, [][]byte{oldSecret, newSecret}, true, ""},
		{"old secret still accepted", Sign(oldSecret, body), body, [][]byte{oldSecret, newSecret}, true, ""},
		{"uppercase hex", "sha256=" + strings.ToUpper(strings.TrimPrefix(valid, "sha256=")), body, [][]byte{newSecret}, true, ""},
		{"wrong secret", Sign([]byte("guess"), body), body, [][]byte{oldSecret, newSecret}, false, sigMismatch},
		{"tampered body", valid, []byte(`{"action":"queuee"}`), [][]byte{newSecret}, false, sigMismatch},
		{"missing", "", body, [][]byte{newSecret}, false, sigMissing},
		{"sha1 only", "sha1=" + strings.Repeat("a", 40), body, [][]byte{newSecret}, false, sigMalformed},
		{"short", "sha256=abcd", body, [][]byte{newSecret}, false, sigMalformed},
		{"not hex", "sha256=" + strings.Repeat("z", 64), body, [][]byte{newSecret}, false, sigMalformed},
		{"no prefix", strings.TrimPrefix(valid, "sha256="), body, [][]byte{newSecret}, false, sigMalformed},
		{"no secrets", valid, body, nil, false, sigMismatch},
		// An empty key is public knowledge: it must never verify anything.
		{"empty secret", Sign(nil, body), body, [][]byte{{}}, false, sigMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := verifySignature(tc.header, tc.body, tc.secrets)
			if ok != tc.ok || reason != tc.reason {
				t.Errorf("verifySignature = %v, %q; want %v, %q", ok, reason, tc.ok, tc.reason)
			}
		})
	}
}

func TestSecretsOf(t *testing.T) {
	got := secretsOf(map[string][]byte{
		"webhook-secret":      []byte("current\n"),
		"webhook-secret-next": []byte("next"),
		"webhook-secret-old":  []byte(""),
		"private-key":         []byte("not a webhook secret"),
	})
	if len(got) != 2 || string(got[0].value) != "current" || string(got[1].value) != "next" || got[1].key != "webhook-secret-next" {
		t.Errorf("secretsOf = %q, want [current next]", got)
	}
}
