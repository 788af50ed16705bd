package githubtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The encoded JIT configuration has GitHub's shape, as the actions runner reads it with
// --jitconfig (ACTIONS_RUNNER_INPUT_JITCONFIG): base64 of a JSON object mapping the runner's
// configuration file names to their base64 contents, which the runner writes into its root
// directory. The fake's values are random where GitHub's are secrets.
const (
	jitFileRunner      = ".runner"
	jitFileCredentials = ".credentials"
	jitFileRSAParams   = ".credentials_rsaparams"
)

// jitRunnerSettings is the .runner file: the actions runner's RunnerSettings.
type jitRunnerSettings struct {
	AgentID    int64  `json:"AgentId"`
	AgentName  string `json:"AgentName"`
	PoolID     int64  `json:"PoolId"`
	PoolName   string `json:"PoolName"`
	ServerURL  string `json:"ServerUrl"`
	GitHubURL  string `json:"GitHubUrl"`
	WorkFolder string `json:"WorkFolder"`
	Ephemeral  bool   `json:"Ephemeral"`
}

// jitCredentials is the .credentials file: an OAuth client whose key is in .credentials_rsaparams.
type jitCredentials struct {
	Scheme string            `json:"Scheme"`
	Data   map[string]string `json:"Data"`
}

// EncodeJITConfig is the JIT configuration the fake would hand out for runner id, named name,
// in scope: for a runner pod made by hand, which no pool asked the fake to register.
func EncodeJITConfig(scope Scope, id int64, name string) string {
	return encodeJITConfig(&runner{Runner{ID: id, Name: name, Scope: scope, Ephemeral: true}})
}

func encodeJITConfig(r *runner) string {
	work := r.WorkDir
	if work == "" {
		work = "_work"
	}
	files := map[string]any{
		jitFileRunner: jitRunnerSettings{
			AgentID: r.ID, AgentName: r.Name, PoolID: r.GroupID, PoolName: "Default",
			ServerURL:  "https://pipelines.actions.githubusercontent.com/" + randomString(40),
			GitHubURL:  "https://github.com/" + strings.TrimPrefix(strings.TrimPrefix(string(r.Scope), "repos/"), "orgs/"),
			WorkFolder: work, Ephemeral: true,
		},
		jitFileCredentials: jitCredentials{Scheme: "OAuth", Data: map[string]string{
			"clientId":                randomString(36),
			"authorizationUrl":        "https://pipelines.actions.githubusercontent.com/" + randomString(40) + "/_apis/oauth2/token",
			"requireFipsCryptography": "False",
		}},
		jitFileRSAParams: map[string]string{
			"d": randomString(344), "dp": randomString(172), "dq": randomString(172), "exponent": "AQAB",
			"inverseQ": randomString(172), "modulus": randomString(344), "p": randomString(172), "q": randomString(172),
		},
	}
	doc := map[string]string{}
	for name, content := range files {
		b, _ := json.Marshal(content)
		doc[name] = base64.StdEncoding.EncodeToString(b)
	}
	b, _ := json.Marshal(doc)
	return base64.StdEncoding.EncodeToString(b)
}

// DecodeJITConfig reads an encoded JIT configuration as the actions runner does and returns
// the runner ID and name its .runner file registers, e.g. for a stand-in runner that reads
// ACTIONS_RUNNER_INPUT_JITCONFIG. It refuses anything but the three files GitHub sends (the
// runner would write any other name into its root directory) and files that do not decode.
func DecodeJITConfig(encoded string) (runnerID int64, name string, err error) {
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return 0, "", fmt.Errorf("decoding JIT config: not base64")
	}
	var doc map[string]string
	if err := json.Unmarshal(raw, &doc); err != nil {
		return 0, "", fmt.Errorf("decoding JIT config: not a JSON object of file names to base64 contents")
	}
	want := []string{jitFileCredentials, jitFileRSAParams, jitFileRunner}
	if got := slices.Sorted(maps.Keys(doc)); !slices.Equal(got, want) {
		return 0, "", fmt.Errorf("decoding JIT config: files %q, want exactly %q", got, want)
	}
	contents := map[string][]byte{}
	for file, b64 := range doc {
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || !json.Valid(b) {
			return 0, "", fmt.Errorf("decoding JIT config: %s is not base64 JSON", file)
		}
		contents[file] = b
	}
	var settings jitRunnerSettings
	var creds jitCredentials
	if json.Unmarshal(contents[jitFileRunner], &settings) != nil || settings.AgentID == 0 || settings.AgentName == "" || settings.ServerURL == "" {
		return 0, "", fmt.Errorf("decoding JIT config: %s lacks AgentId, AgentName or ServerUrl", jitFileRunner)
	}
	if json.Unmarshal(contents[jitFileCredentials], &creds) != nil || creds.Scheme != "OAuth" || creds.Data["clientId"] == "" {
		return 0, "", fmt.Errorf("decoding JIT config: %s is not an OAuth client", jitFileCredentials)
	}
	return settings.AgentID, settings.AgentName, nil
}
