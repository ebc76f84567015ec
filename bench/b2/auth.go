package b2

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Token auth as Docker Hub, GHCR and Quay do it: the registry answers a
// request without a token with 401 and a Bearer challenge naming a token
// service; the token service hands out a JWT listing the repositories and
// actions it grants. docker-registry (distribution 2.8) checks the JWT's
// signature against the keys of the certificate bundle in its config,
// found by the key ID in the token's header.
const (
	tokenService = "cascade-bench"
	tokenIssuer  = "cascade-bench-token-service"
)

// issuer signs registry tokens with an ECDSA P-256 key and its
// self-signed certificate. It grants anonymous callers whatever they ask
// for: the benchmark measures requests, not authorisation.
type issuer struct {
	key     *ecdsa.PrivateKey
	certDER []byte
	jti     atomic.Int64
	// jwkKeyID names the key by its RFC 7638 JWK thumbprint, as
	// distribution v3 does, instead of its libtrust fingerprint (2.8).
	jwkKeyID bool
}

func newIssuer() (*issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the token signing key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: tokenIssuer},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("making the token signing certificate: %w", err)
	}
	return &issuer{key: key, certDER: der}, nil
}

// keyID is the signing key's libtrust fingerprint, by which
// docker-registry finds it among the keys of its certificate bundle:
// SHA-256 of the DER public key, cut to 240 bits, base32 in groups of 4.
func (is *issuer) keyID() string {
	if is.jwkKeyID {
		return is.thumbprint()
	}
	der, err := x509.MarshalPKIXPublicKey(&is.key.PublicKey)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(der)
	s := strings.TrimRight(base32.StdEncoding.EncodeToString(sum[:30]), "=")
	var groups []string
	for i := 0; i < len(s); i += 4 {
		groups = append(groups, s[i:min(i+4, len(s))])
	}
	return strings.Join(groups, ":")
}

// thumbprint is the RFC 7638 JWK thumbprint of the signing key, spelt as
// distribution v3 computes it for the keys of its certificate bundle
// (coordinates in big-endian bytes without leading zeros, SHA-256,
// base64url without padding).
func (is *issuer) thumbprint() string {
	pub := &is.key.PublicKey
	enc := base64.RawURLEncoding
	jwk := fmt.Sprintf(`{"crv":"%s","kty":"EC","x":"%s","y":"%s"}`, pub.Params().Name, enc.EncodeToString(pub.X.Bytes()), enc.EncodeToString(pub.Y.Bytes()))
	sum := sha256.Sum256([]byte(jwk))
	return enc.EncodeToString(sum[:])
}

// certPEM is the bundle the registry trusts.
func (is *issuer) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.certDER})
}

type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// token signs a JWT granting access.
func (is *issuer) token(grants []access) (string, error) {
	header, err := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "kid": is.keyID()})
	if err != nil {
		return "", err
	}
	now := time.Now()
	claims, err := json.Marshal(map[string]any{
		"iss": tokenIssuer, "sub": "", "aud": tokenService,
		"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti":    fmt.Sprintf("b2-%d", is.jti.Add(1)),
		"access": grants,
	})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, is.key, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing a token: %w", err)
	}
	sig := make([]byte, 64) // JWS ES256: r and s, 32 bytes each
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig), nil
}

// ServeHTTP is the token service: GET ?service=…&scope=repository:NAME:ACTIONS….
func (is *issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("service") != tokenService {
		http.Error(w, `{"errors":[{"code":"DENIED","message":"unknown service"}]}`, http.StatusBadRequest)
		return
	}
	var grants []access
	for _, sc := range q["scope"] {
		for _, one := range strings.Fields(sc) {
			typ, rest, ok := strings.Cut(one, ":")
			i := strings.LastIndexByte(rest, ':')
			if !ok || i <= 0 {
				http.Error(w, `{"errors":[{"code":"DENIED","message":"malformed scope"}]}`, http.StatusBadRequest)
				return
			}
			grants = append(grants, access{Type: typ, Name: rest[:i], Actions: strings.Split(rest[i+1:], ",")})
		}
	}
	tok, err := is.token(grants)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token": tok, "access_token": tok, "expires_in": 3600, "issued_at": time.Now().UTC().Format(time.RFC3339),
	})
}

// verify checks a token this issuer signed: signature, lifetime, and —
// for a repository's request — that it grants pull on repo.
func (is *issuer) verify(tok, repo string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	enc := base64.RawURLEncoding
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(&is.key.PublicKey, sum[:], r, s) {
		return false
	}
	raw, err := enc.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Exp    int64    `json:"exp"`
		Access []access `json:"access"`
	}
	if json.Unmarshal(raw, &claims) != nil || time.Now().Unix() > claims.Exp {
		return false
	}
	if repo == "" {
		return true
	}
	for _, a := range claims.Access {
		if a.Type == "repository" && a.Name == repo {
			for _, act := range a.Actions {
				if act == "pull" || act == "*" {
					return true
				}
			}
		}
	}
	return false
}

// guard puts token auth, as docker-registry does it, in front of a
// registry that has none (go-containerregistry's in-memory one): a request
// without a valid token for its repository is answered 401 with a Bearer
// challenge naming the token service at realm().
func (is *issuer) guard(realm func() string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, _ := classify(r.URL.Path)
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !is.verify(tok, repo) {
			ch := fmt.Sprintf(`Bearer realm=%q,service=%q`, realm(), tokenService)
			if repo != "" {
				ch += fmt.Sprintf(`,scope="repository:%s:pull"`, repo)
			}
			w.Header().Set("WWW-Authenticate", ch)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}
