package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/retry"
)

func newGitHub(t *testing.T, srv *githubtest.Server, p retry.Policy, sp *retry.Spacer) *dispatch.GitHub {
	t.Helper()
	g, err := dispatch.NewGitHub(dispatch.GitHubOptions{Token: srv.Token(), APIURL: srv.URL, HTTPClient: srv.Client(), Policy: p, Spacer: sp})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func repoDispatch(repo string) config.Rebuild {
	return config.Rebuild{GitHub: &config.GitHub{Repository: repo, Event: "base-image-updated"}}
}

func TestGitHubRepositoryDispatch(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	srv.Repo("acme/app-a")
	g := newGitHub(t, srv, fakePolicy(retry.NewFakeClock(t0)), nil)
	o := g.Dispatch(context.Background(), target("app-a", repoDispatch("acme/app-a")))
	if o.Status != dispatch.StatusDispatched || o.Err != nil || o.Attempts != 1 {
		t.Fatalf("outcome %+v, want dispatched in one attempt", o)
	}
	got := srv.RepositoryDispatches()
	if len(got) != 1 {
		t.Fatalf("%d dispatches recorded, want 1", len(got))
	}
	want := `{"image":"registry.example.com/acme/httpd-base:latest",` +
		`"digest":"` + string(newDigest) + `",` +
		`"ref":"registry.example.com/acme/httpd-base@` + string(newDigest) + `",` +
		`"dependent":"app-a",` +
		`"cascade":{"id":"app-a-1a2b1a2b1a2b","depth":1,"chain":["httpd-base"],"origin":"registry.example.com/acme/httpd-base@` + string(newDigest) + `"}}`
	if diff := cmp.Diff(want, string(got[0].ClientPayload)); diff != "" {
		t.Errorf("client_payload (-want +got):\n%s", diff)
	}
	if got[0].EventType != "base-image-updated" || got[0].Repo != "acme/app-a" {
		t.Errorf("dispatch %+v", got[0])
	}
	for _, r := range srv.Requests() {
		if strings.Contains(string(r.Body), srv.Token()) {
			t.Errorf("token in a request body")
		}
	}
}

func TestGitHubWorkflowDispatch(t *testing.T) {
	t.Parallel()
	for _, runDetails := range []bool{true, false} {
		t.Run(fmt.Sprintf("run details %v", runDetails), func(t *testing.T) {
			t.Parallel()
			var opts []githubtest.Option
			if !runDetails {
				opts = append(opts, githubtest.WithoutRunDetails())
			}
			srv := githubtest.New(t, opts...)
			srv.Repo("acme/app-b").AddWorkflow(githubtest.Workflow{Path: ".github/workflows/build.yml",
				Inputs: []githubtest.WorkflowInput{{Name: "base-image", Required: true}, {Name: "cascade-id"}}})
			g := newGitHub(t, srv, fakePolicy(retry.NewFakeClock(t0)), nil)
			rb := config.Rebuild{GitHub: &config.GitHub{Repository: "acme/app-b", Workflow: "build.yml", Ref: "main",
				Inputs: map[string]string{"base-image": "{{ .Base.Ref }}", "cascade-id": "{{ .Cascade.ID }}"}}}
			for i := range 2 {
				o := g.Dispatch(context.Background(), target("app-b", rb))
				if o.Status != dispatch.StatusDispatched || o.Err != nil {
					t.Fatalf("dispatch %d: outcome %+v", i, o)
				}
				if runDetails && (o.RunID == 0 || !strings.Contains(o.Detail, fmt.Sprintf("/actions/runs/%d", o.RunID))) {
					t.Errorf("dispatch %d: run id %d, detail %q; want the run recorded", i, o.RunID, o.Detail)
				}
				if !runDetails && o.RunID != 0 {
					t.Errorf("dispatch %d: run id %d without run details", i, o.RunID)
				}
			}
			wds := srv.WorkflowDispatches()
			if len(wds) != 2 {
				t.Fatalf("%d workflow dispatches, want 2", len(wds))
			}
			wantInputs := map[string]string{"base-image": "registry.example.com/acme/httpd-base@" + string(newDigest), "cascade-id": "app-b-1a2b1a2b1a2b"}
			if diff := cmp.Diff(wantInputs, wds[0].Inputs); diff != "" {
				t.Errorf("inputs (-want +got):\n%s", diff)
			}
			// Without run details: the first dispatch is refused once and
			// resent plain; the second no longer asks.
			wantRequests := 2
			if !runDetails {
				wantRequests = 3
			}
			if n := len(srv.Requests()); n != wantRequests {
				t.Errorf("%d requests, want %d", n, wantRequests)
			}
		})
	}
}

func TestGitHubNotFoundExplained(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t, githubtest.WithToken("ghs_secret_token_value", "acme/other"))
	srv.Repo("acme/app-a")
	g := newGitHub(t, srv, fakePolicy(retry.NewFakeClock(t0)), nil)
	o := g.Dispatch(context.Background(), target("app-a", repoDispatch("acme/app-a")))
	if o.Status != dispatch.StatusFailed || o.Attempts != 1 {
		t.Fatalf("outcome %+v, want failed after one attempt", o)
	}
	if !strings.Contains(o.Err.Error(), "token cannot see repository acme/app-a (or it does not exist)") {
		t.Errorf("error %q does not explain the 404", o.Err)
	}
	if strings.Contains(o.Err.Error(), "ghs_secret_token_value") {
		t.Errorf("token in error %q", o.Err)
	}
	if c := exitcode.Of(o.Err); c != exitcode.Invalid {
		t.Errorf("exit code %d, want %d", c, exitcode.Invalid)
	}
}

func TestR12_GitHubRateLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		script    func(now time.Time) []githubtest.Response
		budget    time.Duration
		wantWaits []time.Duration
		wantReqs  int
		wantCode  int
	}{
		{"secondary limit with retry-after", func(time.Time) []githubtest.Response {
			return []githubtest.Response{githubtest.SecondaryRateLimit(30)}
		}, 0, []time.Duration{30 * time.Second}, 2, exitcode.OK},
		{"secondary limit without retry-after waits a minute", func(time.Time) []githubtest.Response {
			return []githubtest.Response{githubtest.SecondaryRateLimit(0)}
		}, 0, []time.Duration{60 * time.Second}, 2, exitcode.OK},
		{"429 with retry-after, twice", func(time.Time) []githubtest.Response {
			return []githubtest.Response{githubtest.TooManyRequests(5), githubtest.TooManyRequests(7)}
		}, 0, []time.Duration{5 * time.Second, 7 * time.Second}, 3, exitcode.OK},
		{"primary limit waits until reset", func(now time.Time) []githubtest.Response {
			return []githubtest.Response{githubtest.PrimaryRateLimitExceeded(now.Add(40 * time.Second))}
		}, 0, []time.Duration{40 * time.Second}, 2, exitcode.OK},
		{"primary reset beyond the budget: exit 4 at once", func(now time.Time) []githubtest.Response {
			return []githubtest.Response{githubtest.PrimaryRateLimitExceeded(now.Add(time.Hour))}
		}, 2 * time.Minute, nil, 1, exitcode.Transient},
		{"secondary retry-after beyond the budget: exit 4 at once", func(time.Time) []githubtest.Response {
			return []githubtest.Response{githubtest.SecondaryRateLimit(600)}
		}, 2 * time.Minute, nil, 1, exitcode.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := retry.NewFakeClock(t0)
			srv := githubtest.New(t)
			srv.Repo("acme/app-a")
			srv.Script("POST", "/repos/{owner}/{repo}/dispatches", tt.script(clock.Now())...)
			p := fakePolicy(clock)
			p.Budget = tt.budget
			g := newGitHub(t, srv, p, nil)
			o := g.Dispatch(context.Background(), target("app-a", repoDispatch("acme/app-a")))
			if c := exitcode.Of(o.Err); c != tt.wantCode {
				t.Fatalf("exit code %d, want %d (outcome %+v)", c, tt.wantCode, o)
			}
			if diff := cmp.Diff(tt.wantWaits, clock.Waits()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if n := len(srv.Requests()); n != tt.wantReqs || o.Attempts != tt.wantReqs {
				t.Errorf("%d requests, %d attempts; want %d", n, o.Attempts, tt.wantReqs)
			}
		})
	}
}

func TestR12_GitHubMutationsSpaced(t *testing.T) {
	t.Parallel()
	t.Run("fake clock", func(t *testing.T) {
		t.Parallel()
		clock := retry.NewFakeClock(t0)
		srv := githubtest.New(t)
		var targets []dispatch.Target
		for i := range 5 {
			name := fmt.Sprintf("app-%d", i)
			srv.Repo("acme/" + name)
			targets = append(targets, target(name, repoDispatch("acme/"+name)))
		}
		g := newGitHub(t, srv, fakePolicy(clock), retry.NewSpacer(time.Second, 2, clock))
		out, err := dispatch.Run(context.Background(), targets, map[string]dispatch.Dispatcher{"github": g}, dispatch.RunOptions{Concurrency: 5})
		if err != nil {
			t.Fatal(err)
		}
		if err := dispatch.Summarize(out); err != nil {
			t.Fatal(err)
		}
		want := []time.Duration{time.Second, time.Second, time.Second, time.Second}
		if diff := cmp.Diff(want, clock.Waits()); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
	})
	t.Run("real clock, observed by the server", func(t *testing.T) {
		t.Parallel()
		const gap = 50 * time.Millisecond
		srv := githubtest.New(t)
		var targets []dispatch.Target
		for i := range 4 {
			name := fmt.Sprintf("app-%d", i)
			srv.Repo("acme/" + name)
			targets = append(targets, target(name, repoDispatch("acme/"+name)))
		}
		g := newGitHub(t, srv, retry.Policy{}, retry.NewSpacer(gap, 2, nil))
		out, err := dispatch.Run(context.Background(), targets, map[string]dispatch.Dispatcher{"github": g}, dispatch.RunOptions{Concurrency: 4})
		if err != nil {
			t.Fatal(err)
		}
		if err := dispatch.Summarize(out); err != nil {
			t.Fatal(err)
		}
		reqs := srv.Requests()
		if len(reqs) != 4 {
			t.Fatalf("%d requests, want 4", len(reqs))
		}
		// The spacer spaces the starts of the requests; on a loaded machine
		// one request's way to the server may take longer than the next
		// one's, so arrivals are checked cumulatively: request i cannot
		// arrive before i gaps after the first started, less the first's
		// own way to the server (bounded here by one gap).
		for i := 1; i < len(reqs); i++ {
			if d := reqs[i].Time.Sub(reqs[0].Time); d < time.Duration(i-1)*gap {
				t.Errorf("request %d arrived %s after the first, want ≥ %s", i, d, time.Duration(i-1)*gap)
			}
		}
		if total := reqs[len(reqs)-1].Time.Sub(reqs[0].Time); total < time.Duration(len(reqs)-2)*gap {
			t.Errorf("4 requests took %s, want ≥ %s", total, time.Duration(len(reqs)-2)*gap)
		}
	})
}

func TestR13_GitHubLimitsCheckedBeforeSending(t *testing.T) {
	t.Parallel()
	many := map[string]string{}
	for i := range 26 {
		many[fmt.Sprintf("in%02d", i)] = "x"
	}
	long := target("app-a", repoDispatch("acme/app-a"))
	long.Cascade.Chain = []string{strings.Repeat("x", 70<<10)}
	tests := []struct {
		name string
		t    dispatch.Target
	}{
		{"payload over 64 KB", long},
		{"26 workflow inputs", target("app-a", config.Rebuild{GitHub: &config.GitHub{Repository: "acme/app-a", Workflow: "build.yml", Ref: "main", Inputs: many}})},
		{"bad template", target("app-a", config.Rebuild{GitHub: &config.GitHub{Repository: "acme/app-a", Workflow: "build.yml", Ref: "{{ .Nope }}"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.New(t)
			srv.Repo("acme/app-a")
			g := newGitHub(t, srv, fakePolicy(retry.NewFakeClock(t0)), nil)
			o := g.Dispatch(context.Background(), tt.t)
			if c := exitcode.Of(o.Err); c != exitcode.Invalid || o.Status != dispatch.StatusFailed {
				t.Errorf("outcome %+v: exit code %d, want %d", o, c, exitcode.Invalid)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d requests made, want none", n)
			}
		})
	}
}

func TestR11_PartialFailure(t *testing.T) {
	t.Parallel()
	clock := retry.NewFakeClock(t0)
	srv := githubtest.New(t)
	var targets []dispatch.Target
	for i := 1; i <= 10; i++ {
		name := fmt.Sprintf("app-%d", i)
		srv.Repo("acme/" + name)
		targets = append(targets, target(name, repoDispatch("acme/"+name)))
	}
	srv.Script("POST", "/repos/acme/app-4/dispatches", githubtest.Response{Status: http.StatusUnprocessableEntity, Body: `{"message":"Validation Failed"}`})
	var forever []githubtest.Response
	for range 50 {
		forever = append(forever, githubtest.ServerError(500))
	}
	srv.Script("POST", "/repos/acme/app-7/dispatches", forever...)
	p := fakePolicy(clock)
	p.Budget, p.Attempts = 5*time.Minute, 6
	g := newGitHub(t, srv, p, retry.NewSpacer(-1, 4, clock))
	out, err := dispatch.Run(context.Background(), targets, map[string]dispatch.Dispatcher{"github": g}, dispatch.RunOptions{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, o := range out {
		if o.Status.OK() {
			ok++
		}
	}
	if ok != 8 {
		t.Errorf("%d succeeded, want 8", ok)
	}
	if out[3].Status != dispatch.StatusFailed || out[3].Attempts != 1 {
		t.Errorf("#4: %+v, want failed after one attempt (422 is not retried)", out[3])
	}
	if out[6].Status != dispatch.StatusFailed || out[6].Attempts != 6 || exitcode.Of(out[6].Err) != exitcode.Transient {
		t.Errorf("#7: %+v (code %d), want failed after 6 attempts, transient", out[6], exitcode.Of(out[6].Err))
	}
	perRepo := map[string]int{}
	for _, r := range srv.Requests() {
		perRepo[r.Path]++
	}
	if perRepo["/repos/acme/app-4/dispatches"] != 1 || perRepo["/repos/acme/app-7/dispatches"] != 6 {
		t.Errorf("requests per path: %v", perRepo)
	}
	serr := dispatch.Summarize(out)
	if c := exitcode.Of(serr); c != exitcode.Partial {
		t.Errorf("Summarize exit code %d, want %d: %v", c, exitcode.Partial, serr)
	}
	for _, name := range []string{"app-4", "app-7"} {
		if !strings.Contains(serr.Error(), name+" (github)") {
			t.Errorf("summary does not list %s:\n%v", name, serr)
		}
	}
	b, err := json.Marshal(out[3])
	if err != nil || !strings.Contains(string(b), `"error":`) {
		t.Errorf("outcome JSON %s (%v) has no error", b, err)
	}
}
