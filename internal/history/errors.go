package history

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/retry"
)

// retryable marks a registry answer for the retry policy: 408, 429 and 5xx
// are tried again, 401/403/404 and the rest are final. Connection failures
// are recognised by package retry itself.
func retryable(err error) error {
	var te *transport.Error
	if err != nil && errors.As(err, &te) {
		return &retry.HTTPError{Status: te.StatusCode, RateLimited: te.StatusCode == http.StatusTooManyRequests, Err: err}
	}
	return err
}

// notFound reports whether err is the registry saying it does not know
// the manifest or blob.
func notFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.BlobUnknownErrorCode, transport.NameUnknownErrorCode:
			return true
		}
	}
	return false
}

// classify wraps err with what was being done and its exit code class, the
// way package registry classifies its own errors: a host off the allowlist
// is refused (5); 404 is invalid input (2, registry.ErrNotFound); 401/403
// are transient (4, registry.ErrUnauthorized: fix the credentials and run
// again); 408/429/5xx and connection failures are transient (4); 400 is
// invalid (2). Retries that ran out are already transient.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	if exitcode.Of(err) != exitcode.Internal {
		return fmt.Errorf("%s: %w", what, err)
	}
	var refused *registry.HostNotAllowedError
	if errors.As(err, &refused) {
		return exitcode.AsRefused(fmt.Errorf("%s: %w", what, refused))
	}
	if strings.Contains(err.Error(), "no token in bearer response") {
		// go-containerregistry quotes the whole token response.
		return exitcode.AsTransient(fmt.Errorf("%s: %w: the token service answered without a token", what, registry.ErrUnauthorized))
	}
	redactURL(err)
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case notFound(err):
			return exitcode.AsInvalid(fmt.Errorf("%s: %w: %w", what, registry.ErrNotFound, err))
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return exitcode.AsTransient(fmt.Errorf("%s: %w: %w", what, registry.ErrUnauthorized, err))
		case te.StatusCode == http.StatusBadRequest:
			return exitcode.AsInvalid(fmt.Errorf("%s: %w", what, err))
		default:
			return exitcode.AsTransient(fmt.Errorf("%s: %w", what, err))
		}
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var ue *url.Error
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ue) || errors.As(err, &ne) {
		return exitcode.AsTransient(fmt.Errorf("%s: %w", what, err))
	}
	if again, _ := retry.Classify(err); again {
		return exitcode.AsTransient(fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
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
