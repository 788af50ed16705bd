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

// verifySignature checks header against the HMAC-SHA256 of body under each secret. Every
// secret is tried, and compared in constant time, whichever matches; reason says why a
// signature was refused.
func verifySignature(header string, body []byte, secrets [][]byte) (ok bool, reason string) {
	if header == "" {
		return false, sigMissing
	}
	hexSig, found := strings.CutPrefix(header, "sha256=")
	if !found || len(hexSig) != 2*sha256.Size {
		return false, sigMalformed
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false, sigMalformed
	}
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			ok = true
		}
	}
	if !ok {
		return false, sigMismatch
	}
	return true, ""
}
