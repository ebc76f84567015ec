package discover_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/discover"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubapi"
	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/retry"
)

const topic = "cascade-dependent"

// seedOrg fills the fake with an organisation of fillers repositories
// without the topic and a few that carry it.
func seedOrg(t *testing.T, srv *githubtest.Server, fillers int) {
	t.Helper()
	for i := range fillers {
		srv.Repo(fmt.Sprintf("acme/filler-%03d", i))
	}
	b := srv.Repo("acme/app-b")
	b.SetTopics("go", topic)
	b.WriteFiles("main", "declare", map[string]string{
		".github/cascade.yaml": `version: 1
images:
  - name: app-b
    image: registry.example.com/acme/app-b:latest
    dockerfile: Dockerfile
manifests:
  - paths: ["deploy/*.yaml"]
`,
		"Dockerfile": "FROM registry.example.com/acme/httpd-base:latest AS run\nCOPY . /srv\n",
	})
	c := srv.Repo("acme/app-c")
	c.SetTopics(topic)
	c.WriteFiles("main", "declare", map[string]string{
		".github/cascade.yaml": `version: 1
images:
  - name: app-c
    image: registry.example.com/acme/app-c:1
    from: [registry.example.com/acme/httpd-base:latest]
    rebuild:
      github: {repository: acme/app-c, workflow: build.yml, inputs: {base: "{{ .Base.Ref }}"}}
`,
	})
	srv.Repo("acme/no-file").SetTopics(topic)
	e := srv.Repo("acme/evil")
	e.SetTopics(topic)
	e.WriteFiles("main", "declare", map[string]string{
		".github/cascade.yaml": `version: 1
images:
  - name: hook
    image: registry.example.com/acme/hook:latest
    from: [registry.example.com/acme/httpd-base:latest]
    rebuild: {webhook: {url: "https://attacker.example/hook"}}
  - name: other
    image: registry.example.com/acme/other:latest
    from: [registry.example.com/acme/httpd-base:latest]
    rebuild: {github: {repository: acme/app-b}}
  - name: Bad_Name
    image: registry.example.com/acme/bad:latest
    colour: blue
`,
	})
	u := srv.Repo("acme/untagged")
	u.WriteFiles("main", "declare", map[string]string{".github/cascade.yaml": "version: 1\nimages: [{name: u, image: registry.example.com/acme/u:1}]\n"})
	a := srv.Repo("acme/archived")
	a.SetTopics(topic)
	a.SetArchived(true)
}

func newClient(t *testing.T, srv *githubtest.Server, cache *discover.ETagCache, policy retry.Policy) *githubapi.Builder {
	t.Helper()
	hc := srv.Client()
	if cache != nil {
		hc = &http.Client{Transport: cache.Transport(hc.Transport)}
	}
	b, err := githubapi.New(githubapi.Options{Token: srv.Token(), APIURL: srv.URL, HTTPClient: hc, ReadPolicy: policy})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGitHubDiscovery(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	seedOrg(t, srv, 230)
	cache := &discover.ETagCache{}
	src := &discover.GitHub{Client: newClient(t, srv, cache, retry.Policy{}).Client(), Owner: "acme", Topic: topic}
	found, err := src.Discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	var got []string
	for _, im := range found.Images {
		got = append(got, fmt.Sprintf("%s %s from=%v rebuild=%s:%s dockerfile=%q by=%s",
			im.Name, im.Image, im.From, im.Rebuild.Kind(), im.Rebuild.GitHub.Repository, im.Dockerfile, strings.SplitN(im.DeclaredBy, "@", 2)[0]))
	}
	want := []string{
		"app-b registry.example.com/acme/app-b:latest from=[registry.example.com/acme/httpd-base:latest] rebuild=github:acme/app-b dockerfile=\"\" by=github:acme/app-b",
		"app-c registry.example.com/acme/app-c:1 from=[registry.example.com/acme/httpd-base:latest] rebuild=github:acme/app-c dockerfile=\"\" by=github:acme/app-c",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if g := found.Images[0].Rebuild.GitHub; g.Event != config.DefaultEvent {
		t.Errorf("app-b without a rebuild: event %q, want the default repository_dispatch %q", g.Event, config.DefaultEvent)
	}
	if g := found.Images[1].Rebuild.GitHub; g.Workflow != "build.yml" || g.Inputs["base"] != "{{ .Base.Ref }}" {
		t.Errorf("app-c's own rebuild not kept: %+v", g)
	}
	by := found.Images[0].DeclaredBy
	if _, sha, _ := strings.Cut(by, "@"); len(sha) != 12 {
		t.Errorf("DeclaredBy %q: want github:owner/repo@<12 hex>", by)
	}

	var skipped []string
	for _, s := range found.Skipped {
		skipped = append(skipped, strings.SplitN(s.Source, "@", 2)[0]+" "+s.Path+": "+s.Reason)
	}
	wantSkipped := []string{
		`github:acme/evil images[0].rebuild.webhook: a repository can only declare a GitHub dispatch to itself (acme/evil)`,
		`github:acme/evil images[1].rebuild.github.repository: "acme/app-b": a repository can only declare its own rebuild (acme/evil)`,
		`github:acme/evil images[2].colour: unknown field`,
		`github:acme/evil images[2].name: "Bad_Name" must be at most 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`,
		`github:acme/no-file : carries the topic cascade-dependent but has no .github/cascade.yaml on main`,
	}
	if diff := cmp.Diff(wantSkipped, skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}

	// Requests: ⌈236/100⌉ = 3 listing pages (following the Link header,
	// in order), and one file per topic repository and one Dockerfile,
	// read while the listing goes on.
	reqs := srv.Requests()
	var paths, listing []string
	for _, r := range reqs {
		p := r.Path
		if r.Query != "" && strings.HasPrefix(p, "/orgs/") {
			p += "?" + r.Query
		}
		paths = append(paths, r.Method+" "+p)
		if strings.HasPrefix(p, "/orgs/") {
			listing = append(listing, r.Method+" "+p)
		}
	}
	wantPaths := []string{
		"GET /orgs/acme/repos?per_page=100&type=all",
		"GET /orgs/acme/repos?page=2&per_page=100&type=all",
		"GET /orgs/acme/repos?page=3&per_page=100&type=all",
	}
	if diff := cmp.Diff(wantPaths, listing); diff != "" {
		t.Errorf("listing requests (-want +got):\n%s", diff)
	}
	if len(reqs) != 3+4+1 {
		t.Errorf("%d requests, want 8 (3 pages, 4 declaration files, 1 Dockerfile):\n%s", len(reqs), strings.Join(paths, "\n"))
	}
	for _, r := range reqs {
		if strings.Contains(r.Path, "untagged") || strings.Contains(r.Path, "archived") || strings.Contains(r.Path, "filler") {
			t.Errorf("read a repository without the topic or archived: %s", r.Path)
		}
	}

	// The same discovery again through the cache: every request answered
	// 200 before is conditional now and answered 304 (the 404 of the
	// repository without the file is asked again), and the answer is the
	// same.
	again, err := (&discover.GitHub{Client: newClient(t, srv, cache, retry.Policy{}).Client(), Owner: "acme", Topic: topic}).Discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(found, again); diff != "" {
		t.Errorf("cached discovery differs (-first +second):\n%s", diff)
	}
	for _, r := range srv.Requests()[len(reqs):] {
		if strings.Contains(r.Path, "no-file") {
			continue
		}
		if r.Status != http.StatusNotModified || r.Header.Get("If-None-Match") == "" {
			t.Errorf("%s %s: status %d, If-None-Match %q; want a conditional request answered 304", r.Method, r.Path, r.Status, r.Header.Get("If-None-Match"))
		}
	}
}

func TestGitHubDiscoveryOfAUser(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	srv.Script("GET", "/orgs/{org}/repos", githubtest.Response{Status: http.StatusNotFound, Body: `{"message":"Not Found"}`})
	r := srv.Repo("alice/app")
	r.SetTopics(topic)
	r.WriteFiles("main", "declare", map[string]string{".github/cascade.yaml": "version: 1\nimages: [{name: app, image: registry.example.com/alice/app:1, from: [registry.example.com/acme/httpd-base:latest]}]\n"})
	found, err := (&discover.GitHub{Client: newClient(t, srv, nil, retry.Policy{}).Client(), Owner: "alice", Topic: topic}).Discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Images) != 1 || found.Images[0].Rebuild.GitHub.Repository != "alice/app" {
		t.Errorf("found %+v", found)
	}
	if p := srv.Requests()[1].Path; p != "/users/alice/repos" {
		t.Errorf("second request %s, want the user listing", p)
	}
}

func TestGitHubDiscoveryWaitsOutTheRateLimit(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	seedOrg(t, srv, 0)
	clock := retry.NewFakeClock(time.Now())
	srv.Script("GET", "/repos/acme/app-b/contents/.github/cascade.yaml", githubtest.PrimaryRateLimitExceeded(clock.Now().Add(42*time.Second)))
	src := &discover.GitHub{Client: newClient(t, srv, nil, retry.Policy{Clock: clock}).Client(), Owner: "acme", Topic: topic}
	found, err := src.Discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Images) != 2 {
		t.Errorf("found %d images after the rate limit, want 2", len(found.Images))
	}
	waits := clock.Waits()
	if len(waits) != 1 || waits[0] < 41*time.Second || waits[0] > 42*time.Second {
		t.Errorf("waits %v, want one until x-ratelimit-reset (~42s)", waits)
	}
}

func TestGitHubDiscoveryFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		script func(*githubtest.Server)
		token  string
		class  int
		msg    string
	}{
		{name: "bad token", token: "wrong", class: exitcode.Invalid, msg: "401 Bad credentials"},
		{name: "no such owner", script: func(s *githubtest.Server) {
			s.Script("GET", "/orgs/{org}/repos", githubtest.Response{Status: 404, Body: `{"message":"Not Found"}`})
			s.Script("GET", "/users/{user}/repos", githubtest.Response{Status: 404, Body: `{"message":"Not Found"}`})
		}, class: exitcode.Invalid, msg: "no such organisation or user"},
		{name: "server down", script: func(s *githubtest.Server) {
			s.Script("GET", "/repos/acme/app-c/contents/.github/cascade.yaml", githubtest.ServerError(502), githubtest.ServerError(502))
		}, class: exitcode.Transient, msg: "reading acme/app-c: reading .github/cascade.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.New(t)
			seedOrg(t, srv, 0)
			if tc.script != nil {
				tc.script(srv)
			}
			tok := srv.Token()
			if tc.token != "" {
				tok = tc.token
			}
			b, err := githubapi.New(githubapi.Options{Token: tok, APIURL: srv.URL, HTTPClient: srv.Client(),
				ReadPolicy: retry.Policy{Attempts: 2, Clock: retry.NewFakeClock(time.Now())}})
			if err != nil {
				t.Fatal(err)
			}
			d := &discover.Discoverer{Sources: []discover.Source{&discover.GitHub{Client: b.Client(), Owner: "acme", Topic: topic}}}
			_, err = d.Apply(t.Context(), baseConfig())
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "discovering dependents from github:acme (topic cascade-dependent)") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to name the source and say %q", err, tc.msg)
			}
			if got := exitcode.Of(err); got != tc.class {
				t.Errorf("class %d, want %d (%v)", got, tc.class, err)
			}
		})
	}
}

// gate holds the listing's later pages until a repository has been read,
// delays each read so that later repositories answer first, and records
// the requests in flight.
type gate struct {
	next     http.RoundTripper
	readSeen chan struct{}
	once     sync.Once

	mu                       sync.Mutex
	reads, lists             int
	maxReads, maxLists, held int
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/orgs/acme/repos"):
		g.mu.Lock()
		g.lists++
		g.maxLists = max(g.maxLists, g.lists)
		g.mu.Unlock()
		defer func() { g.mu.Lock(); g.lists--; g.mu.Unlock() }()
		if pg := r.URL.Query().Get("page"); pg != "" && pg != "0" && pg != "1" {
			select {
			case <-g.readSeen:
			case <-time.After(10 * time.Second):
				return nil, fmt.Errorf("listing page %s: no repository read while the first page's repositories were known", pg)
			}
			g.mu.Lock()
			g.held++
			g.mu.Unlock()
		}
	case strings.Contains(p, "/contents/"):
		g.once.Do(func() { close(g.readSeen) })
		g.mu.Lock()
		g.reads++
		g.maxReads = max(g.maxReads, g.reads)
		g.mu.Unlock()
		defer func() { g.mu.Lock(); g.reads--; g.mu.Unlock() }()
		// repo-NNN: the higher NNN, the sooner it answers.
		var n int
		if _, err := fmt.Sscanf(p[strings.Index(p, "/repo-")+len("/repo-"):], "%d", &n); err == nil {
			time.Sleep(time.Duration(300-n) * 20 * time.Microsecond)
		}
	}
	return g.next.RoundTrip(r)
}

// TestGitHubDiscoveryReadsWhileListing: a page's repositories are read
// while the next page is listed (the later pages wait for a read; a client
// that listed everything first would time out), no more than Concurrency
// at once and one listing request at a time, and the result is in the
// order of the repositories' names however the reads finish.
func TestGitHubDiscoveryReadsWhileListing(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	var want, skips []string
	for i := range 300 {
		r := srv.Repo(fmt.Sprintf("acme/repo-%03d", i))
		if i%7 != 3 {
			continue
		}
		r.SetTopics(topic)
		files := map[string]string{".github/cascade.yaml": fmt.Sprintf("version: 1\nimages:\n  - {name: app-%03d, image: registry.example.com/acme/app-%03d:1, dockerfile: Dockerfile}\n", i, i)}
		if i%2 == 0 {
			files["Dockerfile"] = "FROM registry.example.com/acme/base:latest\n"
			want = append(want, fmt.Sprintf("app-%03d", i))
		} else {
			skips = append(skips, fmt.Sprintf("skip github:acme/repo-%03d images[0].dockerfile", i))
		}
		r.WriteFiles("main", "declare", files)
	}
	g := &gate{next: srv.Client().Transport, readSeen: make(chan struct{})}
	b, err := githubapi.New(githubapi.Options{Token: srv.Token(), APIURL: srv.URL, HTTPClient: &http.Client{Transport: g}})
	if err != nil {
		t.Fatal(err)
	}
	const limit = 3
	found, err := (&discover.GitHub{Client: b.Client(), Owner: "acme", Topic: topic, Concurrency: limit}).Discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, im := range found.Images {
		got = append(got, im.Name)
	}
	for _, s := range found.Skipped {
		got = append(got, "skip "+strings.SplitN(s.Source, "@", 2)[0]+" "+s.Path)
	}
	reads := len(want) + len(skips)
	want = append(want, skips...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}
	if g.held != 2 {
		t.Errorf("%d later listing pages waited for a read, want 2", g.held)
	}
	if g.maxReads > limit || g.maxLists > 1 {
		t.Errorf("in flight at most %d reads and %d listing requests, want ≤ %d and ≤ 1", g.maxReads, g.maxLists, limit)
	}
	if n := len(srv.Requests()); n != 3+2*reads {
		t.Errorf("%d requests, want 3 pages + %d declarations + %d Dockerfiles", n, reads, reads)
	}
}
