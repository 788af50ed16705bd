package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	jwt "github.com/golang-jwt/jwt/v4"
)

// Permissions GitHub checks on the endpoints the fake serves (name -> "read" or "write").
const (
	// PermissionAdministration is the repository permission for repository runners.
	PermissionAdministration = "administration"
	// PermissionOrgRunners is the organization permission for organization runners and
	// runner groups.
	PermissionOrgRunners = "organization_self_hosted_runners"
)

// jwtSkew is the clock drift GitHub tolerates on an App JWT's iat claim.
const jwtSkew = 60 * time.Second

// jwtMaxLifetime is how far in the future GitHub accepts an App JWT's exp claim.
const jwtMaxLifetime = 10 * time.Minute

// AppOptions configure a fake GitHub App and its first installation.
type AppOptions struct {
	// PrivateKeyPEM is the App's RSA key. Empty: a key generated once per Server and
	// shared by every App that does not bring its own (RSA generation is slow).
	PrivateKeyPEM []byte
	// Installation configures the App's first installation.
	Installation InstallationOptions
}

// InstallationOptions configure an App installation.
type InstallationOptions struct {
	// Owner restricts the installation to one organization, user or enterprise (compared
	// case-insensitively); requests for other owners get 404 as on GitHub. Empty: any owner.
	Owner string
	// Permissions granted to the installation (name -> "read" or "write"). Nil: write on
	// PermissionAdministration and PermissionOrgRunners.
	Permissions map[string]string
}

// App is a fake GitHub App with one installation.
type App struct {
	// ID is the App ID (the JWT's iss).
	ID int64
	// InstallationID is the ID of the App's first installation.
	InstallationID int64
	// PrivateKeyPEM is the App's private key.
	PrivateKeyPEM []byte
	// Credential identifies the installation in CallCountFor, ExhaustPrimary and faults.
	Credential string
}

// SecretData is the App as the data of a credentials Secret.
func (a App) SecretData() map[string][]byte {
	return map[string][]byte{
		"app-id":          []byte(strconv.FormatInt(a.ID, 10)),
		"installation-id": []byte(strconv.FormatInt(a.InstallationID, 10)),
		"private-key":     a.PrivateKeyPEM,
	}
}

// PATOptions configure a fake personal access token.
type PATOptions struct {
	// Owner restricts the token to one owner (requests for others get 404). Empty: any.
	Owner string
}

// PAT is a fake personal access token.
type PAT struct {
	// Token is the token's value.
	Token string
	// Credential identifies the token in CallCountFor, ExhaustPrimary and faults.
	Credential string
}

// SecretData is the token as the data of a credentials Secret.
func (p PAT) SecretData() map[string][]byte {
	return map[string][]byte{"token": []byte(p.Token)}
}

type app struct {
	id  int64
	key *rsa.PublicKey
}

type installation struct {
	id          int64
	appID       int64
	owner       string
	permissions map[string]string
}

type issuedToken struct {
	installation *installation
	expiresAt    time.Time
}

type pat struct {
	owner      string
	credential string
}

// principal is who made a request.
type principal struct {
	credential   string
	appID        int64         // set for an App JWT
	installation *installation // set for an installation token
	pat          *pat          // set for a personal access token
}

// InstallationCredential is the Credential of installation id.
func InstallationCredential(id int64) string { return "installation/" + strconv.FormatInt(id, 10) }

// AppCredential is the Credential of the App id's own JWT (the one that mints installation
// tokens) in CallsByCredential and RateLimited.
func AppCredential(id int64) string { return "app/" + strconv.FormatInt(id, 10) }

// NewPrivateKeyPEM generates an RSA 2048 key in PKCS#1 PEM, as GitHub hands out for Apps.
func NewPrivateKeyPEM() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating RSA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), nil
}

// AddApp registers a GitHub App with one installation. It panics if opts.PrivateKeyPEM is
// not an RSA key (a test bug).
func (s *Server) AddApp(opts AppOptions) App {
	keyPEM := opts.PrivateKeyPEM
	if len(keyPEM) == 0 {
		keyPEM = s.sharedKeyPEM()
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(keyPEM)
	if err != nil {
		panic(fmt.Sprintf("githubtest: AddApp: private key: %v", err))
	}
	s.mu.Lock()
	a := &app{id: s.nextIDLocked(), key: &key.PublicKey}
	s.apps[a.id] = a
	s.mu.Unlock()
	instID := s.AddInstallation(a.id, opts.Installation)
	return App{ID: a.id, InstallationID: instID, PrivateKeyPEM: keyPEM, Credential: InstallationCredential(instID)}
}

// AddInstallation installs the App appID once more and returns the installation's ID.
func (s *Server) AddInstallation(appID int64, opts InstallationOptions) int64 {
	perms := opts.Permissions
	if perms == nil {
		perms = map[string]string{PermissionAdministration: "write", PermissionOrgRunners: "write"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := &installation{id: s.nextIDLocked(), appID: appID, owner: strings.ToLower(opts.Owner), permissions: perms}
	s.installations[inst.id] = inst
	return inst.id
}

// AddPAT registers a personal access token.
func (s *Server) AddPAT(opts PATOptions) PAT {
	s.mu.Lock()
	defer s.mu.Unlock()
	token := "ghp_" + randomString(36)
	p := &pat{owner: strings.ToLower(opts.Owner), credential: "pat/" + strconv.FormatInt(s.nextIDLocked(), 10)}
	s.pats[token] = p
	return PAT{Token: token, Credential: p.credential}
}

// RevokeInstallationTokens invalidates every token minted for installation id, as when an
// App is suspended or its key rotated; later requests with them get 401.
func (s *Server) RevokeInstallationTokens(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, it := range s.tokens {
		if it.installation.id == id {
			delete(s.tokens, tok)
		}
	}
}

func (s *Server) sharedKeyPEM() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keyPEM == nil {
		keyPEM, err := NewPrivateKeyPEM()
		if err != nil {
			panic(fmt.Sprintf("githubtest: %v", err))
		}
		s.keyPEM = keyPEM
	}
	return s.keyPEM
}

// authenticate identifies the caller from the Authorization header. On failure it returns
// the GitHub error to send.
func (s *Server) authenticate(r *http.Request) (*principal, *apiError) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || cred == "" || (!strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token")) {
		return nil, errRequiresAuth
	}
	if strings.Count(cred, ".") == 2 {
		return s.verifyJWT(cred)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.tokens[cred]; ok {
		if !s.nowLocked().Before(it.expiresAt) {
			return nil, errBadCredentials
		}
		return &principal{credential: InstallationCredential(it.installation.id), installation: it.installation}, nil
	}
	if p, ok := s.pats[cred]; ok {
		return &principal{credential: p.credential, pat: p}, nil
	}
	return nil, errBadCredentials
}

// verifyJWT checks an App JWT as GitHub does: RS256 signed by the key of the App named in
// iss, iat not in the future (beyond clock drift), exp in the future but at most 10 minutes.
func (s *Server) verifyJWT(raw string) (*principal, *apiError) {
	var appID int64
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}), jwt.WithoutClaimsValidation())
	claims := jwt.MapClaims{}
	_, err := parser.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) {
		id, ok := numericClaim(claims["iss"])
		if !ok {
			return nil, fmt.Errorf("iss is not an App ID")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		a, ok := s.apps[id]
		if !ok {
			return nil, fmt.Errorf("unknown App")
		}
		appID = id
		return a.key, nil
	})
	if err != nil {
		return nil, errJWTUndecodable
	}
	now := s.Now()
	iat, okIat := numericClaim(claims["iat"])
	if !okIat || time.Unix(iat, 0).After(now.Add(jwtSkew)) {
		return nil, errJWTIssuedAt
	}
	exp, okExp := numericClaim(claims["exp"])
	if !okExp || !time.Unix(exp, 0).After(now) {
		return nil, errJWTExpired
	}
	if time.Unix(exp, 0).After(now.Add(jwtMaxLifetime + jwtSkew)) {
		return nil, errJWTTooLong
	}
	return &principal{credential: AppCredential(appID), appID: appID}, nil
}

// numericClaim reads an integer claim that may be a JSON number or a decimal string (GitHub
// accepts iss either way; ghinstallation sends a string).
func numericClaim(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		if n != float64(int64(n)) {
			return 0, false
		}
		return int64(n), true
	case string:
		id, err := strconv.ParseInt(n, 10, 64)
		return id, err == nil
	}
	return 0, false
}

type accessTokenResponse struct {
	Token               string            `json:"token"`
	ExpiresAt           string            `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
}

// handleAccessToken is POST /app/installations/{installation_id}/access_tokens.
func (s *Server) handleAccessToken(w http.ResponseWriter, r *http.Request, p *principal) {
	if p.appID == 0 {
		writeError(w, errJWTRequired)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("installation_id"), 10, 64)
	s.mu.Lock()
	inst, ok := s.installations[id]
	if err != nil || !ok || inst.appID != p.appID {
		s.mu.Unlock()
		writeError(w, errNotFound)
		return
	}
	token := "ghs_" + randomString(36)
	expires := s.nowLocked().Add(s.opts.TokenTTL).UTC()
	s.tokens[token] = &issuedToken{installation: inst, expiresAt: expires}
	s.mints[inst.id]++
	s.issued = append(s.issued, token)
	perms := make(map[string]string, len(inst.permissions))
	for k, v := range inst.permissions {
		perms[k] = v
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, accessTokenResponse{
		Token: token, ExpiresAt: expires.Format(time.RFC3339), Permissions: perms, RepositorySelection: "all",
	})
}

// authorize checks that p may use the runner endpoints of scope sc (write for changes).
func (s *Server) authorize(p *principal, sc Scope, write bool) *apiError {
	switch {
	case p.appID != 0:
		return errJWTNotAllowed
	case p.pat != nil:
		if p.pat.owner != "" && p.pat.owner != sc.owner() {
			return errNotFound
		}
		return nil
	}
	inst := p.installation
	if sc.kind() == "enterprises" {
		// Enterprise runner endpoints accept no App installation token.
		return errNotAccessible
	}
	if inst.owner != "" && inst.owner != sc.owner() {
		return errNotFound
	}
	perm := PermissionOrgRunners
	if sc.kind() == "repos" {
		perm = PermissionAdministration
	}
	level := "read"
	if write {
		level = "write"
	}
	granted := inst.permissions[perm]
	if granted == "write" || (granted == "read" && !write) {
		return nil
	}
	e := *errNotAccessible
	e.acceptedPermissions = perm + "=" + level
	return &e
}

const alphanum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomString(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphanum)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(fmt.Sprintf("githubtest: reading randomness: %v", err))
		}
		b[i] = alphanum[v.Int64()]
	}
	return string(b)
}

// IssuedTokens returns every installation token minted so far, e.g. to check that none
// leaked into logs.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}
