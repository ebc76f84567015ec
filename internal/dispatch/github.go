package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubapi"
	"github.com/imagecascade/cascade/internal/outbound"
	"github.com/imagecascade/cascade/internal/retry"
)

// DefaultGitHubAPIURL is the API root of github.com.
const DefaultGitHubAPIURL = githubapi.DefaultAPIURL

// secondaryLimitWait is the wait after a secondary rate limit answer
// without retry-after: GitHub says to wait at least a minute.
const secondaryLimitWait = 60 * time.Second

// GitHubOptions configure a GitHub dispatcher.
type GitHubOptions struct {
	// Token authenticates every request. It never appears in errors.
	Token string
	// APIURL is the REST API root: DefaultGitHubAPIURL when empty, or a
	// GitHub Enterprise Server's "https://HOST/api/v3" (GITHUB_API_URL).
	APIURL string
	// HTTPClient sends the requests; the outbound policy (timeouts, no
	// redirect of a dispatch, no credentials to another host) is applied
	// on top of it (a new policy client when nil).
	HTTPClient *http.Client
	// Policy retries 408/429/5xx, rate limits and connection failures.
	Policy retry.Policy
	// Spacer spaces mutations; nil makes one with retry.DefaultGap and
	// retry.DefaultInFlight on the Policy's clock. Share one Spacer
	// between all dispatchers that talk to the same GitHub.
	Spacer *retry.Spacer
}

// GitHub starts rebuilds with repository_dispatch (rebuild.github.event) or
// workflow_dispatch (rebuild.github.workflow).
type GitHub struct {
	token  string
	build  *githubapi.Builder
	policy retry.Policy
	spacer *retry.Spacer
	// noRunDetails is set once the server refused return_run_details;
	// later workflow dispatches no longer ask.
	noRunDetails atomic.Bool
}

var _ Dispatcher = (*GitHub)(nil)

// NewGitHub returns a GitHub dispatcher. A malformed APIURL is invalid
// input (exit 2).
func NewGitHub(o GitHubOptions) (*GitHub, error) {
	// The dispatcher retries whole operations with o.Policy.
	b, err := githubapi.New(githubapi.Options{Token: o.Token, APIURL: o.APIURL, HTTPClient: o.HTTPClient, NoReadRetry: true})
	if err != nil {
		return nil, err
	}
	sp := o.Spacer
	if sp == nil {
		sp = retry.NewSpacer(retry.DefaultGap, retry.DefaultInFlight, o.Policy.Clock)
	}
	return &GitHub{token: o.Token, build: b, policy: o.Policy, spacer: sp}, nil
}

// Kind returns "github".
func (g *GitHub) Kind() string { return "github" }

// client returns a fresh go-github client. go-github remembers rate limits
// and refuses requests itself until its wall-clock reset; cascade's retry
// policy owns waiting, so each attempt starts from a client without memory.
func (g *GitHub) client() *github.Client { return g.build.Client() }

// Dispatch sends t's repository_dispatch or workflow_dispatch.
func (g *GitHub) Dispatch(ctx context.Context, t Target) Outcome {
	o := Outcome{Name: t.Name, Kind: g.Kind(), Key: t.Key()}
	cfg := t.Rebuild.GitHub
	if cfg == nil {
		return o.fail(exitcode.AsInvalid(errors.New("no github rebuild configured")))
	}
	owner, repo, ok := strings.Cut(cfg.Repository, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return o.fail(exitcode.AsInvalid(fmt.Errorf("github repository %q: want owner/name", cfg.Repository)))
	}
	if cfg.IsWorkflowDispatch() {
		return g.workflowDispatch(ctx, t, cfg, owner, repo, o)
	}
	return g.repositoryDispatch(ctx, t, cfg, owner, repo, o)
}

func (o Outcome) fail(err error) Outcome {
	o.Status, o.Err = StatusFailed, err
	return o
}

func (g *GitHub) repositoryDispatch(ctx context.Context, t Target, cfg *config.GitHub, owner, repo string, o Outcome) Outcome {
	body, err := BuildPayload(t).Marshal()
	if err != nil {
		return o.fail(err)
	}
	raw := json.RawMessage(body)
	event := cfg.Event
	if event == "" {
		event = config.DefaultEvent
	}
	what := fmt.Sprintf("repository_dispatch %q to %s/%s", event, owner, repo)
	// GitHub bounds the whole request body, event_type included.
	if whole, err := json.Marshal(github.DispatchRequestOptions{EventType: event, ClientPayload: &raw}); err != nil || len(whole) >= MaxPayloadBytes {
		return o.fail(exitcode.AsInvalid(fmt.Errorf("%s: request body is %d bytes, GitHub accepts less than %d", what, len(whole), MaxPayloadBytes)))
	}
	n, err := retry.DoAttempts(ctx, g.policy, func(ctx context.Context) error {
		return g.mutate(ctx, what, owner, repo, func(c *github.Client) (*github.Response, error) {
			_, resp, err := c.Repositories.Dispatch(ctx, owner, repo, github.DispatchRequestOptions{EventType: event, ClientPayload: &raw})
			return resp, err
		})
	})
	o.Attempts = n
	if err != nil {
		return o.fail(err)
	}
	o.Status, o.Detail = StatusDispatched, what
	return o
}

// workflowDispatchRequest is the body of a workflow_dispatch, with the
// return_run_details field go-github v60 does not know.
type workflowDispatchRequest struct {
	Ref              string            `json:"ref"`
	Inputs           map[string]string `json:"inputs,omitempty"`
	ReturnRunDetails *bool             `json:"return_run_details,omitempty"`
}

// workflowRunDetails is GitHub's answer to return_run_details: true.
type workflowRunDetails struct {
	WorkflowRunID int64  `json:"workflow_run_id"`
	RunURL        string `json:"run_url"`
	HTMLURL       string `json:"html_url"`
}

func (g *GitHub) workflowDispatch(ctx context.Context, t Target, cfg *config.GitHub, owner, repo string, o Outcome) Outcome {
	data := templateData(t)
	refTmpl := cfg.Ref
	if refTmpl == "" {
		refTmpl = config.DefaultRef
	}
	ref, err := config.Render(refTmpl, data)
	if err != nil {
		return o.fail(exitcode.AsInvalid(fmt.Errorf("rebuild.github.ref: %w", err)))
	}
	if err := CheckInputs(cfg.Inputs); err != nil {
		return o.fail(err)
	}
	inputs := make(map[string]string, len(cfg.Inputs))
	for k, v := range cfg.Inputs {
		if inputs[k], err = config.Render(v, data); err != nil {
			return o.fail(exitcode.AsInvalid(fmt.Errorf("rebuild.github.inputs[%s]: %w", k, err)))
		}
	}
	if err := CheckInputs(inputs); err != nil {
		return o.fail(err)
	}
	what := fmt.Sprintf("workflow_dispatch of %s on %s/%s@%s", cfg.Workflow, owner, repo, ref)
	u := fmt.Sprintf("repos/%s/%s/actions/workflows/%s/dispatches", url.PathEscape(owner), url.PathEscape(repo), url.PathEscape(cfg.Workflow))
	var details workflowRunDetails
	send := func(ctx context.Context, ask bool) error {
		body := workflowDispatchRequest{Ref: ref, Inputs: inputs}
		if ask {
			yes := true
			body.ReturnRunDetails = &yes
		}
		return g.mutate(ctx, what, owner, repo, func(c *github.Client) (*github.Response, error) {
			req, err := c.NewRequest(http.MethodPost, u, body)
			if err != nil {
				return nil, err
			}
			details = workflowRunDetails{}
			return c.Do(ctx, req, &details)
		})
	}
	n, err := retry.DoAttempts(ctx, g.policy, func(ctx context.Context) error {
		ask := !g.noRunDetails.Load()
		err := send(ctx, ask)
		if ask && refusesRunDetails(err) {
			// An older server (GHES) does not know the field: send the
			// plain request now, and never ask again.
			g.noRunDetails.Store(true)
			err = send(ctx, false)
		}
		return err
	})
	o.Attempts = n
	if err != nil {
		return o.fail(err)
	}
	o.Status, o.Detail, o.RunID = StatusDispatched, what, details.WorkflowRunID
	if details.HTMLURL != "" {
		o.Detail = details.HTMLURL
	}
	return o
}

// refusesRunDetails reports whether err is a 422 naming return_run_details.
func refusesRunDetails(err error) bool {
	var he *retry.HTTPError
	return errors.As(err, &he) && he.Status == http.StatusUnprocessableEntity &&
		strings.Contains(he.Error(), "return_run_details")
}

// mutate makes one mutating request through the Spacer and classifies the
// result for the retry policy.
func (g *GitHub) mutate(ctx context.Context, what, owner, repo string, call func(*github.Client) (*github.Response, error)) error {
	release, err := g.spacer.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("%s: waiting for a turn: %w", what, err)
	}
	defer release()
	resp, err := call(g.client())
	return g.classify(what, owner, repo, resp, err)
}

// classify turns a go-github result into nil, a *retry.HTTPError (with the
// wait GitHub asked for) or a connection error. go-github v60 does not map
// 429, so the status and headers are read from the raw response.
func (g *GitHub) classify(what, owner, repo string, resp *github.Response, err error) error {
	if err == nil {
		return nil
	}
	if resp == nil || resp.Response == nil {
		// No answer: a connection failure (retry.Classify decides) or a
		// request that could not be built.
		return redactToken(fmt.Errorf("%s: %w", what, err), g.token)
	}
	msg := apiMessage(err)
	he := retry.FromResponse(resp.Response, g.policy.Now(), nil)
	var re *outbound.RedirectError
	if errors.As(err, &re) {
		// Not followed: the dispatch did not happen.
		he.Err = redactToken(exitcode.AsInvalid(fmt.Errorf("%s: %w", what, re)), g.token)
		return he
	}
	var abuse *github.AbuseRateLimitError
	secondary := errors.As(err, &abuse) || strings.Contains(strings.ToLower(msg), "secondary rate limit")
	if he.Status == http.StatusForbidden && secondary {
		he.RateLimited = true
		if he.RetryAfter == 0 {
			he.RetryAfter = secondaryLimitWait
		}
	}
	switch he.Status {
	case http.StatusNotFound:
		he.Err = exitcode.AsInvalid(fmt.Errorf("%s: token cannot see repository %s/%s (or it does not exist)", what, owner, repo))
		if strings.Contains(what, "workflow_dispatch") {
			he.Err = exitcode.AsInvalid(fmt.Errorf("%s: token cannot see repository %s/%s or the workflow (or it does not exist)", what, owner, repo))
		}
	case http.StatusUnauthorized:
		he.Err = exitcode.AsInvalid(fmt.Errorf("%s: GitHub refused the token (401): %s", what, msg))
	default:
		he.Err = fmt.Errorf("%s: GitHub answered %d: %s", what, he.Status, msg)
		if !he.Retryable() && he.Status < 500 {
			he.Err = exitcode.AsInvalid(he.Err)
		}
	}
	he.Err = redactToken(he.Err, g.token)
	return he
}

// apiMessage is GitHub's message for err, without the request URL
// go-github puts in front of it.
func apiMessage(err error) string {
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		m := er.Message
		for _, e := range er.Errors {
			if e.Message != "" {
				m += "; " + e.Message
			} else if e.Field != "" {
				m += fmt.Sprintf("; %s %s", e.Field, e.Code)
			}
		}
		return m
	}
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		return rl.Message
	}
	var ab *github.AbuseRateLimitError
	if errors.As(err, &ab) {
		return ab.Message
	}
	return err.Error()
}

// tokenRedacted wraps an error whose text had the token removed, keeping
// the chain for errors.As.
type tokenRedacted struct {
	msg string
	err error
}

func (e *tokenRedacted) Error() string { return e.msg }
func (e *tokenRedacted) Unwrap() error { return e.err }

// redactToken removes tok (and URL credentials) from err's text.
func redactToken(err error, tok string) error {
	if err == nil {
		return nil
	}
	msg := Redact(err.Error())
	if tok != "" {
		msg = strings.ReplaceAll(msg, tok, "REDACTED")
	}
	if msg == err.Error() {
		return err
	}
	return &tokenRedacted{msg: msg, err: err}
}
