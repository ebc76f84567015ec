package githubtest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/imagecascade/cascade/internal/githubtest"
)

const dispatchBody = `{"event_type":"e"}`

// TestSecondaryLimits: each limit refuses the request that breaks it with
// GitHub's secondary-limit answer and records why; the requests that keep
// to it are served normally.
func TestSecondaryLimits(t *testing.T) {
	t.Parallel()
	type step struct {
		method, path string
		wait         time.Duration // before sending
	}
	post := func(wait time.Duration) step { return step{"POST", "/repos/acme/app/dispatches", wait} }
	get := step{"GET", "/repos/acme/app", 0}
	tests := []struct {
		name       string
		limits     githubtest.SecondaryLimits
		steps      []step
		want       []int
		wantReason string
	}{
		{
			name:       "mutations closer than the gap",
			limits:     githubtest.SecondaryLimits{MutationGap: 300 * time.Millisecond},
			steps:      []step{post(0), post(0), post(350 * time.Millisecond)},
			want:       []int{204, 403, 204},
			wantReason: "before its turn at one per 300ms",
		},
		{
			name:   "reads are not spaced",
			limits: githubtest.SecondaryLimits{MutationGap: time.Hour},
			steps:  []step{post(0), get, get, get},
			want:   []int{204, 200, 200, 200},
		},
		{
			name:   "tolerance",
			limits: githubtest.SecondaryLimits{MutationGap: time.Hour, GapTolerance: time.Hour},
			steps:  []step{post(0), post(0)},
			want:   []int{204, 204},
		},
		{
			name:       "mutations per minute",
			limits:     githubtest.SecondaryLimits{MutationsPerMinute: 2},
			steps:      []step{post(0), get, post(0), post(0)},
			want:       []int{204, 200, 204, 403},
			wantReason: "3 mutations within 1m0s, over 2",
		},
		{
			name:       "mutations per hour",
			limits:     githubtest.SecondaryLimits{MutationsPerMinute: 10, MutationsPerHour: 1},
			steps:      []step{post(0), post(0)},
			want:       []int{204, 403},
			wantReason: "2 mutations within 1h0m0s, over 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.New(t, githubtest.WithSecondaryLimits(tt.limits))
			srv.Repo("acme/app")
			var got []int
			posts := 0
			for _, s := range tt.steps {
				time.Sleep(s.wait)
				body := ""
				if s.method == "POST" {
					body, posts = dispatchBody, posts+1
				}
				status, b, _ := raw(t, srv, s.method, s.path, "Bearer "+srv.Token(), body)
				if status == 403 && !contains(b, "secondary rate limit") {
					t.Errorf("403 without the secondary-limit message: %s", b)
				}
				got = append(got, status)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			hits := srv.SecondaryLimitHits()
			refused := 0
			for _, s := range got {
				if s == 403 {
					refused++
				}
			}
			if len(hits) != refused {
				t.Fatalf("%d hits recorded, %d refusals: %+v", len(hits), refused, hits)
			}
			for _, h := range hits {
				if !strings.Contains(h.Reason, tt.wantReason) || h.Method != "POST" || h.Path != "/repos/acme/app/dispatches" {
					t.Errorf("hit %+v, want reason containing %q", h, tt.wantReason)
				}
			}
			if n := len(srv.MutationArrivals()); n != posts {
				t.Errorf("%d mutation arrivals, %d POSTs sent", n, posts)
			}
		})
	}
}

// TestSecondaryLimitConcurrency: a request over MaxConcurrent in flight is
// refused; the others are served; MaxInFlight reports the peak.
func TestSecondaryLimitConcurrency(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t, githubtest.WithLatency(300*time.Millisecond), githubtest.WithSecondaryLimits(githubtest.SecondaryLimits{MaxConcurrent: 2}))
	srv.Repo("acme/app")
	var wg sync.WaitGroup
	statuses := make([]int, 3)
	for i := range statuses {
		wg.Go(func() {
			statuses[i], _, _ = raw(t, srv, "GET", "/repos/acme/app", "Bearer "+srv.Token(), "")
		})
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, s := range statuses {
		switch s {
		case 200:
			ok++
		case 403:
			refused++
		}
	}
	if ok != 2 || refused != 1 || len(srv.SecondaryLimitHits()) != 1 || srv.MaxInFlight() != 3 {
		t.Errorf("statuses %v, hits %+v, max in flight %d: want two served, one refused, peak 3", statuses, srv.SecondaryLimitHits(), srv.MaxInFlight())
	}
}

// TestSecondaryLimitIsAbuseErrorInGoGitHub: go-github sees the refusal as
// an AbuseRateLimitError with the retry-after asked for.
func TestSecondaryLimitIsAbuseErrorInGoGitHub(t *testing.T) {
	t.Parallel()
	l := githubtest.GitHubSecondaryLimits()
	srv := githubtest.New(t, githubtest.WithSecondaryLimits(l))
	srv.Repo("acme/app")
	c := client(t, srv, srv.Token())
	ctx := context.Background()
	if _, _, err := c.Repositories.Dispatch(ctx, "acme", "app", github.DispatchRequestOptions{EventType: "e"}); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Repositories.Dispatch(ctx, "acme", "app", github.DispatchRequestOptions{EventType: "e"})
	var ab *github.AbuseRateLimitError
	if !errors.As(err, &ab) || ab.RetryAfter == nil || *ab.RetryAfter != time.Duration(l.RetryAfter)*time.Second {
		t.Errorf("err = %#v, want AbuseRateLimitError with RetryAfter %ds", err, l.RetryAfter)
	}
	if n := len(srv.RepositoryDispatches()); n != 1 {
		t.Errorf("%d dispatches accepted, want 1", n)
	}
}

// TestNoSecondaryLimitsByDefault: without the option nothing is refused.
func TestNoSecondaryLimitsByDefault(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	srv.Repo("acme/app")
	for range 3 {
		if status, _, _ := raw(t, srv, "POST", "/repos/acme/app/dispatches", "Bearer "+srv.Token(), dispatchBody); status != 204 {
			t.Fatalf("status %d", status)
		}
	}
	if srv.SecondaryLimitHits() != nil || srv.MutationArrivals() != nil {
		t.Error("secondary-limit state without WithSecondaryLimits")
	}
}
