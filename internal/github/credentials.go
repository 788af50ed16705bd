package github

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	jwt "github.com/golang-jwt/jwt/v4"
)

// Keys of a credentials Secret.
const (
	KeyAppID          = "app-id"
	KeyInstallationID = "installation-id"
	KeyPrivateKey     = "private-key"
	KeyToken          = "token"
)

// ErrInvalidCredentials marks a credentials Secret that cannot be used as it is: a user
// must fix it, retrying will not help.
var ErrInvalidCredentials = errors.New("invalid GitHub credentials")

// CredentialKind is the kind of a credential: a GitHub App installation or a token.
type CredentialKind string

// Credential kinds.
const (
	CredentialApp   CredentialKind = "App"
	CredentialToken CredentialKind = "Token"
)

// Credentials are parsed GitHub credentials: a GitHub App installation or a personal access
// token. Formatting them (%v, %+v, %#v, String, a logr value) never shows the key or token.
type Credentials struct {
	kind           CredentialKind
	appID          int64
	installationID int64
	privateKey     *rsa.PrivateKey
	token          string
}

// ParseCredentials reads credentials from a Secret's data: either a GitHub App (app-id,
// installation-id, private-key as PEM) or a personal access token (token), never both.
// Errors wrap ErrInvalidCredentials and name the offending key, never its value.
func ParseCredentials(data map[string][]byte) (Credentials, error) {
	present := func(k string) bool { return len(strings.TrimSpace(string(data[k]))) > 0 }
	appKeys := []string{KeyAppID, KeyInstallationID, KeyPrivateKey}
	var haveApp []string
	for _, k := range appKeys {
		if present(k) {
			haveApp = append(haveApp, k)
		}
	}
	switch {
	case present(KeyToken) && len(haveApp) > 0:
		return Credentials{}, fmt.Errorf("%w: both %q and GitHub App keys (%s) are set; keep one kind",
			ErrInvalidCredentials, KeyToken, strings.Join(haveApp, ", "))
	case present(KeyToken):
		return parseToken(data[KeyToken])
	case len(haveApp) == 0:
		return Credentials{}, fmt.Errorf("%w: neither GitHub App keys (%s) nor %q are set",
			ErrInvalidCredentials, strings.Join(appKeys, ", "), KeyToken)
	case len(haveApp) < len(appKeys):
		return Credentials{}, fmt.Errorf("%w: GitHub App key(s) %s missing", ErrInvalidCredentials, missing(appKeys, haveApp))
	}
	appID, err := parseID(data, KeyAppID)
	if err != nil {
		return Credentials{}, err
	}
	instID, err := parseID(data, KeyInstallationID)
	if err != nil {
		return Credentials{}, err
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(data[KeyPrivateKey])
	if err != nil {
		// The parser's message names no key material, but say it our way regardless.
		return Credentials{}, fmt.Errorf("%w: key %q is not a PEM-encoded RSA private key (PKCS#1 or PKCS#8)",
			ErrInvalidCredentials, KeyPrivateKey)
	}
	return Credentials{kind: CredentialApp, appID: appID, installationID: instID, privateKey: key}, nil
}

func parseToken(raw []byte) (Credentials, error) {
	tok := strings.TrimSpace(string(raw))
	for _, r := range tok {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII {
			return Credentials{}, fmt.Errorf("%w: key %q must be a single token without spaces or control characters",
				ErrInvalidCredentials, KeyToken)
		}
	}
	return Credentials{kind: CredentialToken, token: tok}, nil
}

func parseID(data map[string][]byte, key string) (int64, error) {
	// strconv's error quotes its input: build our own message instead.
	id, err := strconv.ParseInt(strings.TrimSpace(string(data[key])), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: key %q must be a positive integer", ErrInvalidCredentials, key)
	}
	return id, nil
}

func missing(all, have []string) string {
	var out []string
	for _, k := range all {
		if !slices.Contains(have, k) {
			out = append(out, strconv.Quote(k))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// Kind is the kind of credential.
func (c Credentials) Kind() CredentialKind { return c.kind }

// AppID is the GitHub App's ID (App credentials only).
func (c Credentials) AppID() int64 { return c.appID }

// InstallationID is the App installation's ID (App credentials only).
func (c Credentials) InstallationID() int64 { return c.installationID }

// String describes the credentials without their secret part.
func (c Credentials) String() string {
	switch c.kind {
	case CredentialApp:
		return fmt.Sprintf("GitHub App %d installation %d", c.appID, c.installationID)
	case CredentialToken:
		return "personal access token [redacted]"
	default:
		return "no credentials"
	}
}

// GoString is String, so that %#v shows no secret either.
func (c Credentials) GoString() string { return c.String() }

// MarshalLog is what logr sinks log for the credentials: String.
func (c Credentials) MarshalLog() any { return c.String() }
