package githubtest_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// tlsConfig trusts exactly the fake's certificate, through its exported PEM.
func tlsConfig(t *testing.T, srv *githubtest.Server) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CACertPEM()) {
		t.Fatal("CACertPEM holds no certificate")
	}
	if srv.Certificate() == nil {
		t.Fatal("no certificate")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
