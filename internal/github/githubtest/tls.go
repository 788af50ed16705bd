package githubtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// listenerCertificate is a self-signed certificate for a listener bound to a routable
// address (e.g. a node's pod gateway, so that pods reach the fake): valid for that address
// as well as 127.0.0.1, ::1 and example.com, the names of httptest's own certificate. It
// returns false for loopback and unspecified addresses, which httptest's certificate covers.
func listenerCertificate(addr net.Addr) (tls.Certificate, bool, error) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP == nil || tcp.IP.IsLoopback() || tcp.IP.IsUnspecified() {
		return tls.Certificate{}, false, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, false, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"Corral fake GitHub"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{tcp.IP, net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:    []string{"example.com"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("a certificate for %s: %w", tcp.IP, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, true, nil
}
