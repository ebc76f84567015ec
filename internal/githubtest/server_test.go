package githubtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/imagecascade/cascade/internal/githubtest"
)

// client returns a go-github client for srv using the enterprise URL form
// (which adds the /api/v3/ prefix the server also serves).
func client(t *testing.T, srv *githubtest.Server, token string) *github.Client {
	t.Helper()
	c, err := github.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(srv.URL, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// raw sends a request with a literal body and returns status and body.
func raw(t *testing.T, srv *githubtest.Server, method, path, auth, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(srv.URL, "/")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// contains reports whether want is in body or in its decoded "message".
func contains(body, want string) bool {
	var e struct{ Message string }
	_ = json.Unmarshal([]byte(body), &e)
	return strings.Contains(body, want) || strings.Contains(e.Message, want)
}

func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		return er.Response.StatusCode
	}
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		return rl.Response.StatusCode
	}
	var ab *github.AbuseRateLimitError
	if errors.As(err, &ab) {
		return ab.Response.StatusCode
	}
	return 0
}

func TestAuth(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t, githubtest.WithToken("all-repos"), githubtest.WithToken("only-a", "acme/a"))
	srv.Repo("acme/a")
	srv.Repo("acme/b")
	tests := []struct {
		name, auth, path string
		want             int
		wantBody         string
	}{
		{"no header", "", "/repos/acme/a", 401, "Bad credentials"},
		{"wrong token", "Bearer nope", "/repos/acme/a", 401, "Bad credentials"},
		{"basic scheme", "Basic all-repos", "/repos/acme/a", 401, "Bad credentials"},
		{"bearer", "Bearer all-repos", "/repos/acme/a", 200, `"default_branch":"main"`},
		{"token scheme", "token all-repos", "/repos/acme/b", 200, `"full_name":"acme/b"`},
		{"enterprise prefix", "token all-repos", "/api/v3/repos/acme/b", 200, `"full_name":"acme/b"`},
		{"scoped token, its repo", "Bearer only-a", "/repos/acme/a", 200, `"full_name":"acme/a"`},
		{"scoped token, other repo", "Bearer only-a", "/repos/acme/b", 404, `"message":"Not Found"`},
		{"unknown repo", "Bearer all-repos", "/repos/acme/zzz", 404, `"message":"Not Found"`},
		{"unknown route", "Bearer all-repos", "/nothing/here", 404, `"message":"Not Found"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, body, hdr := raw(t, srv, "GET", tt.path, tt.auth, "")
			if got != tt.want || !contains(body, tt.wantBody) {
				t.Errorf("GET %s = %d %s, want %d containing %s", tt.path, got, body, tt.want, tt.wantBody)
			}
			for _, h := range []string{"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset", "x-ratelimit-resource"} {
				if hdr.Get(h) == "" {
					t.Errorf("missing header %s", h)
				}
			}
		})
	}
}

func TestRepositoryDispatch(t *testing.T) {
	t.Parallel()
	keys := func(n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf(`"k%d":%d`, i, i))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	tests := []struct {
		name, body string
		want       int
		wantMsg    string
	}{
		{"ok", `{"event_type":"base-image-updated","client_payload":{"image":"x"}}`, 204, ""},
		{"no payload", `{"event_type":"e"}`, 204, ""},
		{"ten keys", `{"event_type":"e","client_payload":` + keys(10) + `}`, 204, ""},
		{"eleven keys", `{"event_type":"e","client_payload":` + keys(11) + `}`, 422, "No more than 10 properties are allowed; 11 were supplied."},
		{"no event type", `{"client_payload":{}}`, 422, `"event_type" wasn't supplied.`},
		{"empty event type", `{"event_type":""}`, 422, `"event_type" wasn't supplied.`},
		{"100 chars", `{"event_type":"` + strings.Repeat("e", 100) + `"}`, 204, ""},
		{"101 chars", `{"event_type":"` + strings.Repeat("e", 101) + `"}`, 422, "event_type is too long"},
		{"payload not object", `{"event_type":"e","client_payload":[1]}`, 422, "is not an object"},
		{"64 KB body", `{"event_type":"e","client_payload":{"big":"` + strings.Repeat("x", 64<<10) + `"}}`, 422, "too large"},
		{"bad json", `{`, 400, "Problems parsing JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.New(t)
			srv.Repo("acme/app")
			got, body, _ := raw(t, srv, "POST", "/repos/acme/app/dispatches", "Bearer "+srv.Token(), tt.body)
			if got != tt.want {
				t.Fatalf("status = %d (%s), want %d", got, body, tt.want)
			}
			if !contains(body, tt.wantMsg) {
				t.Errorf("body = %s, want it to contain %q", body, tt.wantMsg)
			}
			wantRecorded := 0
			if tt.want == 204 {
				wantRecorded = 1
			}
			if n := len(srv.RepositoryDispatches()); n != wantRecorded {
				t.Errorf("recorded %d dispatches, want %d", n, wantRecorded)
			}
		})
	}
}

func TestRepositoryDispatchWithGoGitHub(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t, githubtest.WithToken("tok", "acme/app"))
	srv.Repo("acme/app")
	srv.Repo("acme/hidden")
	c := client(t, srv, "tok")
	ctx := context.Background()
	payload := []byte(`{"image":"registry.example.com/base","digest":"sha256:abc"}`)
	msg := json.RawMessage(payload)
	if _, _, err := c.Repositories.Dispatch(ctx, "acme", "app", github.DispatchRequestOptions{EventType: "base-image-updated", ClientPayload: &msg}); err != nil {
		t.Fatalf("Dispatch: %v", err)
	}
	_, _, err := c.Repositories.Dispatch(ctx, "acme", "hidden", github.DispatchRequestOptions{EventType: "x"})
	if statusOf(err) != 404 {
		t.Errorf("dispatch to a repo the token cannot see: err = %v, want 404", err)
	}
	got := srv.RepositoryDispatches()
	if len(got) != 1 || got[0].Repo != "acme/app" || got[0].EventType != "base-image-updated" || !bytes.Equal(got[0].ClientPayload, payload) {
		t.Errorf("recorded %+v", got)
	}
}

func TestWorkflowDispatch(t *testing.T) {
	t.Parallel()
	inputs := func(n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf(`"in%d":"v"`, i))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	var many []githubtest.WorkflowInput
	for i := range 30 {
		many = append(many, githubtest.WorkflowInput{Name: fmt.Sprintf("in%d", i)})
	}
	tests := []struct {
		name, workflow, body string
		noRunDetails         bool
		want                 int
		wantMsg              string
	}{
		{"ok by file name", "build.yml", `{"ref":"main","inputs":{"base-image":"x"}}`, false, 204, ""},
		{"ok by id", "77", `{"ref":"main","inputs":{"base-image":"x"}}`, false, 204, ""},
		{"ok by full ref", "build.yml", `{"ref":"refs/heads/main","inputs":{"base-image":"x"}}`, false, 204, ""},
		{"run details", "build.yml", `{"ref":"main","inputs":{"base-image":"x"},"return_run_details":true}`, false, 200, `"workflow_run_id":`},
		{"run details refused", "build.yml", `{"ref":"main","inputs":{"base-image":"x"},"return_run_details":true}`, true, 422, `"return_run_details" is not a permitted key.`},
		{"unknown workflow", "nope.yml", `{"ref":"main"}`, false, 404, "Not Found"},
		{"no ref", "build.yml", `{"inputs":{"base-image":"x"}}`, false, 422, `"ref" wasn't supplied.`},
		{"unknown ref", "build.yml", `{"ref":"nope","inputs":{"base-image":"x"}}`, false, 422, "No ref found for: nope"},
		{"required input missing", "build.yml", `{"ref":"main"}`, false, 422, "Required input 'base-image' not provided"},
		{"unexpected input", "build.yml", `{"ref":"main","inputs":{"base-image":"x","zzz":"y"}}`, false, 422, `Unexpected inputs provided: ["zzz"]`},
		{"non-string input", "build.yml", `{"ref":"main","inputs":{"base-image":1}}`, false, 422, "is not a string"},
		{"25 inputs", "many.yml", `{"ref":"main","inputs":` + inputs(25) + `}`, false, 204, ""},
		{"26 inputs", "many.yml", `{"ref":"main","inputs":` + inputs(26) + `}`, false, 422, "No more than 25 properties are allowed; 26 were supplied."},
		{"unknown key", "build.yml", `{"ref":"main","inputs":{"base-image":"x"},"foo":1}`, false, 422, `"foo" is not a permitted key.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []githubtest.Option
			if tt.noRunDetails {
				opts = append(opts, githubtest.WithoutRunDetails())
			}
			srv := githubtest.New(t, opts...)
			repo := srv.Repo("acme/app")
			repo.AddWorkflow(githubtest.Workflow{ID: 77, Path: ".github/workflows/build.yml", Inputs: []githubtest.WorkflowInput{
				{Name: "base-image", Required: true}, {Name: "optional", Default: "d"},
			}})
			repo.AddWorkflow(githubtest.Workflow{Path: ".github/workflows/many.yml", Inputs: many})
			got, body, _ := raw(t, srv, "POST", "/repos/acme/app/actions/workflows/"+tt.workflow+"/dispatches", "Bearer "+srv.Token(), tt.body)
			if got != tt.want || !contains(body, tt.wantMsg) {
				t.Fatalf("status = %d %s, want %d containing %q", got, body, tt.want, tt.wantMsg)
			}
			rec := srv.WorkflowDispatches()
			if tt.want >= 300 {
				if len(rec) != 0 {
					t.Errorf("rejected dispatch recorded: %+v", rec)
				}
				return
			}
			if len(rec) != 1 {
				t.Fatalf("recorded %d dispatches, want 1", len(rec))
			}
			if tt.want == 200 && (rec[0].RunID == 0 || !strings.Contains(body, fmt.Sprint(rec[0].RunID)) || !strings.Contains(body, `"html_url"`)) {
				t.Errorf("run details %s do not match record %+v", body, rec[0])
			}
		})
	}
}

func TestWorkflowDispatchWithGoGitHub(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	srv.Repo("acme/app").AddWorkflow(githubtest.Workflow{Path: ".github/workflows/build.yml", Inputs: []githubtest.WorkflowInput{{Name: "base-image"}}})
	c := client(t, srv, srv.Token())
	_, err := c.Actions.CreateWorkflowDispatchEventByFileName(context.Background(), "acme", "app", "build.yml", github.CreateWorkflowDispatchEventRequest{
		Ref: "main", Inputs: map[string]interface{}{"base-image": "r@sha256:1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"base-image": "r@sha256:1"}
	got := srv.WorkflowDispatches()
	if len(got) != 1 {
		t.Fatalf("got %d dispatches", len(got))
	}
	if diff := cmp.Diff(want, got[0].Inputs); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
}

func TestScript(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	srv.Repo("acme/app")
	srv.Script("POST", "/repos/{owner}/{repo}/dispatches", githubtest.TooManyRequests(2), githubtest.TooManyRequests(2))
	srv.Script("POST", "/repos/*/*/dispatches", githubtest.SecondaryRateLimit(0), githubtest.Response{Delay: 50 * time.Millisecond})
	body := `{"event_type":"e"}`
	want := []int{429, 429, 403, 204, 204}
	var got []int
	var headers []http.Header
	var bodies []string
	for range want {
		status, b, h := raw(t, srv, "POST", "/repos/acme/app/dispatches", "Bearer "+srv.Token(), body)
		got = append(got, status)
		headers = append(headers, h)
		bodies = append(bodies, b)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	if headers[0].Get("Retry-After") != "2" || headers[0].Get("x-ratelimit-remaining") == "" {
		t.Errorf("429 headers = %v", headers[0])
	}
	if headers[2].Get("Retry-After") != "" || !strings.Contains(bodies[2], "secondary rate limit") {
		t.Errorf("secondary limit answer = %v %s", headers[2], bodies[2])
	}
	reqs := srv.Requests()
	if len(reqs) != 5 {
		t.Fatalf("recorded %d requests", len(reqs))
	}
	if reqs[0].Header.Get("Authorization") != "REDACTED" || string(reqs[0].Body) != body || reqs[0].Status != 429 {
		t.Errorf("request record = %+v", reqs[0])
	}
	if n := len(srv.RepositoryDispatches()); n != 2 {
		t.Errorf("accepted dispatches = %d, want 2", n)
	}
}

func TestScriptedSecondaryLimitIsAbuseErrorInGoGitHub(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	srv.Repo("acme/app")
	srv.Script("", "/repos/acme/app/dispatches", githubtest.SecondaryRateLimit(7))
	_, _, err := client(t, srv, srv.Token()).Repositories.Dispatch(context.Background(), "acme", "app", github.DispatchRequestOptions{EventType: "e"})
	var ab *github.AbuseRateLimitError
	if !errors.As(err, &ab) || ab.RetryAfter == nil || *ab.RetryAfter != 7*time.Second {
		t.Errorf("err = %#v, want AbuseRateLimitError with RetryAfter 7s", err)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t, githubtest.WithLatency(30*time.Millisecond))
	srv.Repo("acme/app")
	start := time.Now()
	raw(t, srv, "GET", "/repos/acme/app", "Bearer "+srv.Token(), "")
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("answered after %v, want ≥ 30ms", d)
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t, githubtest.WithRateLimit(2, time.Hour))
	srv.Repo("acme/app")
	var got []string
	for range 3 {
		status, _, h := raw(t, srv, "GET", "/repos/acme/app", "Bearer "+srv.Token(), "")
		got = append(got, fmt.Sprintf("%d remaining=%s", status, h.Get("x-ratelimit-remaining")))
	}
	want := []string{"200 remaining=1", "200 remaining=0", "403 remaining=0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
