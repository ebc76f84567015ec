package discover

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
)

// ETagCache keeps the GitHub answers discovery read, by URL and
// credentials, and asks for them again with If-None-Match: an unchanged
// listing or file is answered 304, which GitHub does not count against the
// rate limit, and served from the cache. It is safe for concurrent use; a
// process that discovers more than once (a long-lived caller, the
// benchmark) shares one.
type ETagCache struct {
	mu      sync.Mutex
	entries map[string]etagEntry
}

type etagEntry struct {
	etag   string
	header http.Header
	body   []byte
}

// maxCachedBody bounds what one cached answer keeps.
const maxCachedBody = 8 << 20

// Transport returns a RoundTripper that revalidates GETs through c, above
// inner (http.DefaultTransport when nil).
func (c *ETagCache) Transport(inner http.RoundTripper) http.RoundTripper {
	if inner == nil {
		inner = http.DefaultTransport
	}
	return &etagTransport{cache: c, inner: inner}
}

type etagTransport struct {
	cache *ETagCache
	inner http.RoundTripper
}

func cacheKey(req *http.Request) string {
	// The credentials are part of the key (hashed): an answer one token
	// may see is never served to another.
	sum := sha256.Sum256([]byte(req.Header.Get("Authorization")))
	return hex.EncodeToString(sum[:8]) + " " + req.URL.String()
}

func (t *etagTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.Header.Get("If-None-Match") != "" {
		return t.inner.RoundTrip(req)
	}
	key := cacheKey(req)
	t.cache.mu.Lock()
	e, cached := t.cache.entries[key]
	t.cache.mu.Unlock()
	if cached {
		req = req.Clone(req.Context())
		req.Header.Set("If-None-Match", e.etag)
	}
	resp, err := t.inner.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && cached:
		_ = resp.Body.Close()
		h := e.header.Clone()
		for k, v := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-ratelimit-") {
				h[k] = v
			}
		}
		return &http.Response{
			Status: "200 OK", StatusCode: http.StatusOK, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
			Header: h, Body: io.NopCloser(bytes.NewReader(e.body)), ContentLength: int64(len(e.body)), Request: resp.Request,
		}, nil
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxCachedBody+1))
		_ = resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) <= maxCachedBody {
			t.cache.mu.Lock()
			if t.cache.entries == nil {
				t.cache.entries = map[string]etagEntry{}
			}
			t.cache.entries[key] = etagEntry{etag: resp.Header.Get("ETag"), header: resp.Header.Clone(), body: body}
			t.cache.mu.Unlock()
		}
	}
	return resp, nil
}
