package autoscale

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// SignatureHeader carries the HMAC-SHA256 of a delivery's raw body, keyed with the webhook
// secret: "sha256=" followed by 64 hex digits.
const SignatureHeader = "X-Hub-Signature-256"

// Sign is the SignatureHeader value GitHub sends for body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Reasons a signature is refused (the reason label of the signature-failure metric).
const (
	sigMissing   = "missing"
	sigMalformed = "malformed"
	sigMismatch  = "mismatch"
)

// verifySignature checks header against the HMAC-SHA256 of body under each secret (see
// matchSignature); reason says why a signature was refused.
func verifySignature(header string, body []byte, secrets [][]byte) (ok bool, reason string) {
	_, reason = matchSignature(header, body, secrets)
	return reason == "", reason
}

// matchSignature checks header against the HMAC-SHA256 of body under each secret and
// reports which secrets it matches (matched[i] for secrets[i]). Every secret is tried, and
// compared in constant time, whichever matches: how long it takes says nothing about which
// one did. An empty secret never matches. reason is "" when at least one matched, and
// otherwise says why the signature is refused.
func matchSignature(header string, body []byte, secrets [][]byte) (matched []bool, reason string) {
	if header == "" {
		return nil, sigMissing
	}
	hexSig, found := strings.CutPrefix(header, "sha256=")
	if !found || len(hexSig) != 2*sha256.Size {
		return nil, sigMalformed
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return nil, sigMalformed
	}
	matched = make([]bool, len(secrets))
	anyMatch := false
	for i, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			matched[i] = true
			anyMatch = true
		}
	}
	if !anyMatch {
		return nil, sigMismatch
	}
	return matched, ""
}
