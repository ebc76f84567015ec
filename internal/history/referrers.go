package history

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// hasReferrersAPI reports whether subject's registry implements the OCI
// referrers API, asking once per registry host the way go-containerregistry
// decides (an OCI index with 200 means yes; 404, 400, 405 or 406 means the
// tag scheme). A NAME_UNKNOWN 404 is not remembered: it is a registry with
// the API that does not know the repository yet.
func (s *Store) hasReferrersAPI(ctx context.Context, subject name.Digest) (bool, error) {
	host := subject.Context().RegistryStr()
	s.mu.Lock()
	api, known := s.referrers[host]
	s.mu.Unlock()
	if known {
		return api, nil
	}
	repo := subject.Context()
	auth, err := authn.Resolve(ctx, s.o.Keychain, repo)
	if err != nil {
		return false, fmt.Errorf("finding credentials for %s: %w", repo, err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, s.o.Transport, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return false, fmt.Errorf("authenticating to %s: %w", repo.Registry, err)
	}
	u := fmt.Sprintf("%s://%s/v2/%s/referrers/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), subject.DigestStr())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return false, fmt.Errorf("asking %s for referrers: %w", repo.Registry, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK, http.StatusNotFound, http.StatusBadRequest,
		http.StatusMethodNotAllowed, http.StatusNotAcceptable); err != nil {
		return false, fmt.Errorf("asking %s for referrers: %w", repo.Registry, err)
	}
	api = resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") == string(types.OCIImageIndex)
	if !api && resp.StatusCode == http.StatusNotFound && nameUnknown(transport.CheckError(resp, http.StatusOK)) {
		// A registry with the API that does not know the repository
		// (yet): not worth remembering.
		return false, nil
	}
	s.mu.Lock()
	s.referrers[host] = api
	s.mu.Unlock()
	return api, nil
}

// nameUnknown reports whether err is the registry's NAME_UNKNOWN.
func nameUnknown(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	for _, d := range te.Errors {
		if d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}
