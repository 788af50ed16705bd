package github

import "regexp"

// secretPatterns match strings that look like GitHub credentials or JIT configurations:
// tokens (ghs_, ghp_, gho_, ghu_, ghr_, github_pat_), JWTs, PEM blocks and long base64 runs.
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`gh[pousr]_[A-Za-z0-9_]{16,}`),
	regexp.MustCompile(`github_pat_[A-Za-z0-9_]{20,}`),
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`),
	regexp.MustCompile(`-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)`),
	regexp.MustCompile(`[A-Za-z0-9+/]{80,}={0,2}`),
}

const redacted = "[redacted]"

// redact scrubs anything that looks like a secret from s. Messages from GitHub pass through
// it before they reach an error or a log line: GitHub does not echo credentials, but a proxy
// or a misbehaving server might, and defence in depth is cheap here.
func redact(s string) string {
	for _, p := range secretPatterns {
		s = p.ReplaceAllString(s, redacted)
	}
	return s
}
