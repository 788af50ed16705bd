package githubtest

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// jitDoc encodes files as an encoded JIT configuration, file contents given as plain text.
func jitDoc(t *testing.T, files map[string]string) string {
	t.Helper()
	doc := map[string]string{}
	for name, content := range files {
		doc[name] = b64(content)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// The fake's JIT configuration is what the actions runner reads: the three configuration
// files, each base64 JSON, with the runner's ID and name in .runner.
func TestJITConfigHasGitHubsShape(t *testing.T) {
	enc := encodeJITConfig(&runner{Runner{ID: 42, Name: "pool-abc", Scope: Org("acme"), GroupID: 3}})
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]string
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var settings map[string]any
	b, _ := base64.StdEncoding.DecodeString(doc[".runner"])
	if err := json.Unmarshal(b, &settings); err != nil {
		t.Fatalf(".runner: %v", err)
	}
	if settings["AgentId"] != float64(42) || settings["AgentName"] != "pool-abc" || settings["PoolId"] != float64(3) ||
		settings["GitHubUrl"] != "https://github.com/acme" || settings["WorkFolder"] != "_work" || settings["Ephemeral"] != true {
		t.Errorf(".runner = %v", settings)
	}
	id, name, err := DecodeJITConfig(enc)
	if err != nil || id != 42 || name != "pool-abc" {
		t.Errorf("DecodeJITConfig = %d %q %v, want 42 pool-abc", id, name, err)
	}
}

// A stand-in runner refuses JIT configurations the real runner would choke on or that would
// make it write outside its root directory.
func TestDecodeJITConfigRefuses(t *testing.T) {
	runnerFile := `{"AgentId":7,"AgentName":"r","ServerUrl":"https://pipelines.example"}`
	creds := `{"Scheme":"OAuth","Data":{"clientId":"c"}}`
	rsa := `{"modulus":"m"}`
	tests := map[string]struct {
		encoded string
		want    string
	}{
		"not base64":     {"%%%", "not base64"},
		"not an object":  {b64(`["a"]`), "not a JSON object"},
		"the fake's old": {b64(`{"runner_id":7,"name":"r",".credentials":"x"}`), "not a JSON object"},
		"a path outside the root": {jitDoc(t, map[string]string{".runner": runnerFile, ".credentials": creds,
			".credentials_rsaparams": rsa, "../../etc/cron.d/x": "{}"}), "want exactly"},
		"no RSA key":      {jitDoc(t, map[string]string{".runner": runnerFile, ".credentials": creds}), "want exactly"},
		"file not base64": {b64(`{".runner":"%%","` + ".credentials" + `":"` + b64(creds) + `",".credentials_rsaparams":"` + b64(rsa) + `"}`), ".runner is not base64 JSON"},
		"file not JSON":   {jitDoc(t, map[string]string{".runner": "AgentId=7", ".credentials": creds, ".credentials_rsaparams": rsa}), ".runner is not base64 JSON"},
		"no runner ID":    {jitDoc(t, map[string]string{".runner": `{"AgentName":"r","ServerUrl":"u"}`, ".credentials": creds, ".credentials_rsaparams": rsa}), "lacks AgentId"},
		"not OAuth":       {jitDoc(t, map[string]string{".runner": runnerFile, ".credentials": `{"Scheme":"Basic"}`, ".credentials_rsaparams": rsa}), "not an OAuth client"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := DecodeJITConfig(tc.encoded); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("DecodeJITConfig = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if id, _, err := DecodeJITConfig(jitDoc(t, map[string]string{".runner": runnerFile, ".credentials": creds, ".credentials_rsaparams": rsa})); err != nil || id != 7 {
		t.Errorf("a well-formed configuration: %d, %v", id, err)
	}
}
