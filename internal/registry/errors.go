package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// Sentinel errors for errors.Is. Every error the Client returns names the
// image it was about and carries an exit code class (package exitcode).
var (
	// ErrNotFound: the registry does not know the repository, tag or digest
	// (404, MANIFEST_UNKNOWN, NAME_UNKNOWN, BLOB_UNKNOWN). Invalid input, exit 2.
	ErrNotFound = errors.New("image not found")
	// ErrUnauthorized: the registry refused the credentials or denied
	// access (401, 403, UNAUTHORIZED, DENIED). Exit 4: fixing credentials
	// and re-running is safe.
	ErrUnauthorized = errors.New("not authorized")
	// ErrRealmRefused: the registry sent the client for a token to an
	// address go-containerregistry refuses (a private or link-local IP on
	// another host, a scheme other than https, or http for a secure
	// registry). Refused for safety, exit 5; nothing was sent there.
	ErrRealmRefused = errors.New("token realm refused")
)

// retryable reports whether a round trip error is a dropped connection or
// a temporary failure, never a refusal or the caller's own deadline. It
// only decides the exit code class; retries are retryTransport's.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrHostNotAllowed) {
		return false
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, net.ErrClosed)
}

// classify wraps err with what was being done ("inspecting \"x\"") and its
// exit code class. A refusal keeps only the refused host: the chain below it
// may hold a redirect URL with signed query parameters.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	var refused *HostNotAllowedError
	if errors.As(err, &refused) {
		return exitcode.AsRefused(fmt.Errorf("%s: %w", what, refused))
	}
	if msg := err.Error(); strings.Contains(msg, "invalid realm in www-authenticate") || strings.Contains(msg, "refusing token-server redirect") {
		// go-containerregistry refuses token realms (and redirects of the
		// token service) on private addresses or with a bad scheme. Its
		// message quotes the whole URL, which may hold credentials: say
		// what happened without it.
		return exitcode.AsRefused(fmt.Errorf("%s: %w: %s", what, ErrRealmRefused, realmReason(msg)))
	}
	if strings.Contains(err.Error(), "no token in bearer response") {
		// go-containerregistry quotes the whole token response, which
		// may hold a refresh token.
		return exitcode.AsTransient(fmt.Errorf("%s: %w: the token service answered without a token", what, ErrUnauthorized))
	}
	redactURL(err)
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case hasCode(te, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode) ||
			te.StatusCode == http.StatusNotFound:
			return exitcode.AsInvalid(fmt.Errorf("%s: %w: %w", what, ErrNotFound, err))
		case hasCode(te, transport.UnauthorizedErrorCode, transport.DeniedErrorCode) ||
			te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return exitcode.AsTransient(fmt.Errorf("%s: %w: %w", what, ErrUnauthorized, err))
		case te.StatusCode == http.StatusTooManyRequests || te.StatusCode == http.StatusRequestTimeout || te.StatusCode == 499 ||
			te.StatusCode >= 500 || te.Temporary():
			return exitcode.AsTransient(fmt.Errorf("%s: %w", what, err))
		case te.StatusCode == http.StatusBadRequest:
			return exitcode.AsInvalid(fmt.Errorf("%s: %w", what, err))
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up; it knows why and picks the exit code.
		return fmt.Errorf("%s: %w", what, err)
	}
	var ue *url.Error
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ue) || errors.As(err, &ne) || retryable(err) {
		return exitcode.AsTransient(fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// realmReason says why a realm was refused, from go-containerregistry's
// message, without the URL it quotes.
func realmReason(msg string) string {
	for _, r := range []string{"is a private or link-local address", "not allowed for a secure registry", "not allowed; must be https"} {
		if strings.Contains(msg, r) {
			if i := strings.Index(msg, "realm host "); i >= 0 && strings.HasSuffix(r, "address") {
				return msg[i : strings.Index(msg, r)+len(r)] // `realm host "10.0.0.1" is a private …`
			}
			return "the realm's scheme " + r
		}
	}
	if strings.Contains(msg, "refusing token-server redirect") {
		return "the token service redirected to a refused address"
	}
	return "the realm is not a valid URL"
}

func hasCode(te *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range te.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// redactURL drops the query, fragment and user information from the URL of
// the first *url.Error in the chain: a redirect to blob storage may carry a
// signature there.
func redactURL(err error) {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		ue.URL = "(unparsable URL)"
		return
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment = nil, "", "", ""
	ue.URL = u.String()
}

// Classify wraps err, from any go-containerregistry call, with what was
// being done and its exit-code class, exactly as the Client classifies its
// own errors: a host off the allowlist is refused (5); 404 is ErrNotFound
// (2); 401/403 ErrUnauthorized (4); 408/429/5xx and connection failures
// transient (4); 400 invalid (2). URLs in the chain lose query strings and
// user information. An error already classified keeps its class. Retries
// (see WithRetryPolicy) come first: what is classified is the last attempt.
func Classify(what string, err error) error {
	if err != nil && exitcode.Of(err) != exitcode.Internal {
		return fmt.Errorf("%s: %w", what, err)
	}
	return classify(what, err)
}
