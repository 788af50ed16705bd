//go:build chaos

package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// gram is the length of the secret fragments looked for: any 24 characters of a secret in a
// log line is a leak, even of a truncated or re-wrapped secret.
const gram = 24

// scanLogs looks for every secret the fake GitHub handed out (installation tokens, JIT
// configurations and the credentials inside them, the App's private key, the webhook
// secret) in every line of every log file of the run.
func scanLogs(ctx context.Context, e *environment, work string) (row, error) {
	sec, err := e.gh.Secrets(ctx)
	if err != nil {
		return row{}, fmt.Errorf("reading the fake's secrets: %w", err)
	}
	grams := map[string]string{}
	add := func(kind, s string) {
		for i := 0; i+gram <= len(s); i++ {
			grams[s[i:i+gram]] = kind
		}
	}
	for _, t := range sec.Tokens {
		add("an installation token", t)
	}
	for _, j := range sec.JITConfigs {
		add("a JIT configuration", j)
		for _, c := range jitCredentials(j) {
			add("the credentials inside a JIT configuration", c)
		}
	}
	add("the webhook secret", sec.WebhookSecret)
	for i, line := range strings.Split(sec.PrivateKeyPEM, "\n") {
		if strings.HasPrefix(line, "-----") {
			continue
		}
		if i == 1 { // the first body line starts with the ASN.1 header every RSA key shares
			line = line[min(len(line), 16):]
		}
		add("the App's private key", strings.TrimSpace(line))
	}
	rw := row{name: "no token, private key or JIT config in any log line of any process", bound: "0 lines"}
	files, lines := 0, 0
	err = filepath.WalkDir(work, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") {
			return err
		}
		files++
		n, leaks, err := scanFile(path, grams)
		lines += n
		rel, _ := filepath.Rel(work, path)
		for _, l := range leaks {
			rw.details = append(rw.details, rel+":"+l)
		}
		return err
	})
	if err != nil {
		return rw, err
	}
	rw.measured = fmt.Sprintf("%d lines with a secret, in %d files (%d lines; %d tokens, %d JIT configs, the App key, the webhook secret)",
		len(rw.details), files, lines, len(sec.Tokens), len(sec.JITConfigs))
	rw.pass = len(rw.details) == 0 && len(sec.JITConfigs) > 0
	return rw, nil
}

// scanFile returns the number of lines of path and "LINE: KIND" for each line holding a
// fragment of a secret (never the secret itself).
func scanFile(path string, grams map[string]string) (int, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var leaks []string
	n := 0
	for sc.Scan() {
		n++
		b := sc.Bytes()
		for i := 0; i+gram <= len(b); i++ {
			if kind, ok := grams[string(b[i:i+gram])]; ok {
				leaks = append(leaks, fmt.Sprintf("%d: %s", n, kind))
				break
			}
		}
	}
	return n, leaks, sc.Err()
}

// jitCredentials are the credentials inside an encoded JIT configuration (its other fields,
// such as the runner's name, are no secret).
func jitCredentials(encoded string) []string {
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil
	}
	var doc map[string]any
	if json.Unmarshal(raw, &doc) != nil {
		return nil
	}
	if s, ok := doc[".credentials"].(string); ok {
		return []string{s}
	}
	return nil
}
