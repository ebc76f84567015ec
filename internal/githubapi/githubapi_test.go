package githubapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubapi"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/retry"
)

func TestParseAPIURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		code     int
	}{
		{"", "https://api.github.com/", exitcode.OK},
		{"https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3/", exitcode.OK},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/", exitcode.OK},
		{"ghe.example.com/api/v3", "", exitcode.Invalid},
		{"ftp://ghe.example.com/", "", exitcode.Invalid},
		{"https://user:secret@ghe.example.com/", "", exitcode.Invalid},
		{"https://", "", exitcode.Invalid},
		{"https://ghe.example.com/%zz", "", exitcode.Invalid},
	}
	for _, tt := range tests {
		u, err := githubapi.ParseAPIURL(tt.in)
		if diff := cmp.Diff(tt.code, exitcode.Of(err)); diff != "" {
			t.Errorf("ParseAPIURL(%q) exit class (-want +got):\n%s\nerr: %v", tt.in, diff, err)
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseAPIURL(%q): error %q shows the credentials", tt.in, err)
			}
			continue
		}
		if diff := cmp.Diff(tt.want, u.String()); diff != "" {
			t.Errorf("ParseAPIURL(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// TestR38_GitHubReadRedirectDropsCredentials: a read (as the pull-request
// write-back makes) follows a redirect, but go-github's token never
// reaches another host; on the same host it still authenticates.
func TestR38_GitHubReadRedirectDropsCredentials(t *testing.T) {
	t.Parallel()
	const token = "ghp_R38readTokenAbcdefghijklmnopqrstuvwxy"
	var mu sync.Mutex
	var otherAuth []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		otherAuth = append(otherAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"full_name":"acme/moved","default_branch":"main"}`))
	}))
	t.Cleanup(other.Close)
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	var sameAuth string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/repos/acme/app":
			http.Redirect(w, r, otherURL+"/repos/acme/moved", http.StatusMovedPermanently)
		case "/repos/acme/here":
			http.Redirect(w, r, "/repositories/7", http.StatusMovedPermanently)
		case "/repositories/7":
			sameAuth = r.Header.Get("Authorization")
			_, _ = w.Write([]byte(`{"full_name":"acme/here"}`))
		}
	}))
	t.Cleanup(api.Close)
	c, err := githubapi.NewClient(githubapi.Options{Token: token, APIURL: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	rd := redact.New()
	ctx := redact.NewContext(context.Background(), rd)
	repo, _, err := c.Repositories.Get(ctx, "acme", "app")
	if err != nil {
		t.Fatalf("GET through the redirect: %v", err)
	}
	if diff := cmp.Diff("acme/moved", repo.GetFullName()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	mu.Lock()
	if diff := cmp.Diff([]string{""}, otherAuth); diff != "" {
		t.Errorf("Authorization at the other host (-want +got):\n%s", diff)
	}
	mu.Unlock()
	if _, _, err := c.Repositories.Get(ctx, "acme", "here"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("Bearer "+token, sameAuth); diff != "" {
		t.Errorf("Authorization after a same-host redirect (-want +got):\n%s", diff)
	}
	if s := rd.String(token); s != redact.Marker {
		t.Errorf("the redactor did not learn the token: %q", s)
	}
}

// TestGitHubReadsRetry: the write-back's client retries a read that met
// a 502, as the dispatcher's requests are retried.
func TestGitHubReadsRetry(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	n := 0
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte(`{"full_name":"acme/app"}`))
	}))
	t.Cleanup(api.Close)
	pol := retry.Policy{Clock: retry.NewFakeClock(time.Unix(0, 0)), Jitter: func(time.Duration) time.Duration { return 0 }}
	c, err := githubapi.NewClient(githubapi.Options{APIURL: api.URL, ReadPolicy: pol})
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := c.Repositories.Get(context.Background(), "acme", "app")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if repo.GetFullName() != "acme/app" || n != 2 {
		t.Errorf("got %q after %d requests, want acme/app after 2", repo.GetFullName(), n)
	}
}
