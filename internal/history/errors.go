package history

import (
	"errors"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

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
	return registry.Classify(what, err)
}
