package githubtest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/githubtest"
)

func TestListingPaginatesWithLinkAndRevalidates(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	for i := range 5 {
		srv.Repo(fmt.Sprintf("acme/r%d", i)).SetTopics("x")
	}
	get := func(path, etag string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, strings.TrimSuffix(srv.URL, "/")+path, nil)
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	first := get("/orgs/acme/repos?per_page=2", "")
	link := first.Header.Get("Link")
	for _, want := range []string{`page=2&per_page=2>; rel="next"`, `page=3&per_page=2>; rel="last"`} {
		if !strings.Contains(link, want) {
			t.Errorf("Link %q lacks %s", link, want)
		}
	}
	if last := get("/orgs/acme/repos?per_page=2&page=3", "").Header.Get("Link"); strings.Contains(last, `rel="next"`) || !strings.Contains(last, `rel="prev"`) {
		t.Errorf("last page Link %q: want prev and no next", last)
	}
	used := first.Header.Get("X-Ratelimit-Used")
	again := get("/orgs/acme/repos?per_page=2", first.Header.Get("ETag"))
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("conditional request: %d, want 304", again.StatusCode)
	}
	// A 304 is not counted: after first, the page 3 request and the next
	// one are, the 304 between them is not.
	next := get("/orgs/acme/repos?per_page=2&page=2", "")
	if u, want := next.Header.Get("X-Ratelimit-Used"), mustAtoi(t, used)+2; u != fmt.Sprint(want) {
		t.Errorf("used %s, want %d: the 304 was counted", u, want)
	}
	if r := get("/orgs/nobody/repos", ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown owner: %d, want 404", r.StatusCode)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
