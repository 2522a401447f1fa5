// Package certs gives the operator's admission webhooks a serving certificate without cert-manager.
//
// The leader keeps a CA and a serving certificate for the webhook Service in a Secret (creating it, or
// filling the empty one the chart pre-creates), injects the CA bundle into the operator's webhook
// configurations and renews both before they expire. Every replica serves whatever pair the Secret
// holds, read through a watch on that one Secret and handed to the TLS server by a GetCertificate
// callback, so neither the first install nor a rotation needs a restart.
//
// The Secret keys are the ones OPA cert-controller (which the documented operator uses) writes, so a
// Secret left by the documented operator is reused: ca.crt, ca.key, tls.crt, tls.key.
package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// Keys of the certificate Secret.
const (
	// KeyCACert holds the trusted CA certificates (PEM), the current CA first; it is the caBundle.
	KeyCACert = "ca.crt"
	// KeyCAKey holds the current CA's private key (PEM).
	KeyCAKey = "ca.key"
	// KeyCert holds the serving certificate (PEM).
	KeyCert = "tls.crt"
	// KeyKey holds the serving certificate's private key (PEM).
	KeyKey = "tls.key"
)

// Validity defaults.
const (
	// DefaultCAValidity is how long a generated CA is valid.
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	// DefaultServingValidity is how long a serving certificate is valid.
	DefaultServingValidity = 365 * 24 * time.Hour
)

// caCommonName names the generated CA (the documented operator's CA name).
const caCommonName = "castware-operator-webhooks-ca"

// RenewAt is when a certificate valid from notBefore to notAfter is renewed: after two thirds of its lifetime
// (a 1-year serving certificate is renewed 4 months before it expires, a 10-year CA 3.3 years before).
func RenewAt(notBefore, notAfter time.Time) time.Time {
	return notBefore.Add(notAfter.Sub(notBefore) * 2 / 3)
}

// authority is a CA that can sign serving certificates.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// pair is a parsed serving certificate and its key in PEM.
type pair struct {
	leaf            *x509.Certificate
	certPEM, keyPEM []byte
}

// material is what a certificate Secret holds, parsed; missing or unusable parts are nil.
type material struct {
	ca      *authority          // the current CA (first certificate of ca.crt with ca.key), nil when unusable
	trusted []*x509.Certificate // every certificate of ca.crt
	serving *pair
}

// parseMaterial reads Secret data. It never fails: what does not parse is treated as missing.
func parseMaterial(data map[string][]byte) material {
	var m material
	m.trusted = parseCerts(data[KeyCACert])
	if len(m.trusted) > 0 {
		if key, err := parseKey(data[KeyCAKey]); err == nil && m.trusted[0].IsCA && publicKeysEqual(m.trusted[0].PublicKey, key.Public()) {
			m.ca = &authority{cert: m.trusted[0], key: key}
		}
	}
	if certs := parseCerts(data[KeyCert]); len(certs) > 0 {
		if key, err := parseKey(data[KeyKey]); err == nil && publicKeysEqual(certs[0].PublicKey, key.Public()) {
			m.serving = &pair{leaf: certs[0], certPEM: data[KeyCert], keyPEM: data[KeyKey]}
		}
	}
	return m
}

// usableCA reports whether the CA may keep signing at now: not yet due for renewal.
func usableCA(ca *authority, now time.Time) bool {
	return ca != nil && !now.Before(ca.cert.NotBefore) && now.Before(RenewAt(ca.cert.NotBefore, ca.cert.NotAfter))
}

// servingProblem says why a serving certificate must be (re)issued under ca at now, or "" when it is fine.
func servingProblem(p *pair, ca *authority, dnsNames []string, ips []net.IP, now time.Time) string {
	switch {
	case p == nil:
		return "no serving certificate"
	case p.leaf.CheckSignatureFrom(ca.cert) != nil:
		return "the serving certificate was not issued by the current CA"
	case now.Before(p.leaf.NotBefore):
		return "the serving certificate is not valid yet"
	case !now.Before(RenewAt(p.leaf.NotBefore, p.leaf.NotAfter)):
		return "the serving certificate is due for renewal"
	}
	for _, n := range dnsNames {
		if !slices.Contains(p.leaf.DNSNames, n) {
			return "the serving certificate does not name " + n
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(p.leaf.IPAddresses, ip.Equal) {
			return "the serving certificate does not name " + ip.String()
		}
	}
	return ""
}

// trustedBundle is the caBundle for ca at now: ca first, then the earlier CAs that have not expired (so a
// serving certificate issued by the previous CA stays trusted while the new one is rolled out).
func trustedBundle(ca *authority, previous []*x509.Certificate, now time.Time) []*x509.Certificate {
	out := []*x509.Certificate{ca.cert}
	for _, c := range previous {
		if c.Equal(ca.cert) || !now.Before(c.NotAfter) || !c.IsCA {
			continue
		}
		out = append(out, c)
	}
	return out
}

// backdate is how far before now a certificate's validity starts (clock skew between the operator and the
// API server), scaled down for the short validities tests use.
func backdate(validity time.Duration) time.Duration {
	return min(time.Hour, validity/100)
}

// newCA generates a self-signed CA valid for validity from now.
func newCA(now time.Time, validity time.Duration) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caCommonName, Organization: []string{"castware-operator"}},
		NotBefore:             now.Add(-backdate(validity)),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &authority{cert: cert, key: key}, nil
}

// issue signs a serving certificate for dnsNames (the first is the subject) and ips, valid for validity from
// now but never beyond the CA.
func (ca *authority) issue(dnsNames []string, ips []net.IP, now time.Time, validity time.Duration) (*pair, error) {
	if len(dnsNames) == 0 {
		return nil, errors.New("a serving certificate needs at least one DNS name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate serving key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
		NotBefore:    now.Add(-backdate(validity)),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("create serving certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse serving certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &pair{leaf: leaf, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM: keyPEM}, nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// encodeCerts PEM-encodes certificates in order.
func encodeCerts(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// parseCerts returns every certificate in PEM data that parses.
func parseCerts(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// parseKey reads a PEM private key in PKCS#8, PKCS#1 (RSA, as cert-controller writes) or SEC 1 (EC) form.
func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("unsupported private key type")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("unparseable private key")
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	switch k := a.(type) {
	case *ecdsa.PublicKey:
		return k.Equal(b)
	case *rsa.PublicKey:
		return k.Equal(b)
	}
	return false
}
