package githubtest

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// SecondaryLimits are the secondary rate limits the server enforces when
// given [WithSecondaryLimits]: what GitHub punishes with a 403 "You have
// exceeded a secondary rate limit" beyond the hourly budget. A zero field
// is not enforced. Limits are counted per token; every request counts,
// refused ones included, as on GitHub.
type SecondaryLimits struct {
	// MutationGap spaces mutating requests (POST, PATCH, PUT, DELETE):
	// GitHub asks integrators to wait at least one second between them.
	// Mutation k+m may arrive no earlier than m × MutationGap after
	// mutation k, less GapTolerance — the generic cell rate algorithm: each
	// accepted mutation books the next turn MutationGap after its own turn
	// (or its arrival, when later), and one arriving more than
	// GapTolerance before its turn is refused. So the long-run rate never
	// exceeds one per MutationGap however the tolerance is set.
	MutationGap time.Duration
	// GapTolerance is how early a mutation may arrive before its turn: the
	// jitter between a client's send and the server's arrival (a client
	// that starts its requests exactly MutationGap apart sees them arrive
	// closer or further apart by what the network and both schedulers add).
	// Zero is exact.
	GapTolerance time.Duration
	// MaxConcurrent bounds the requests of any method in flight at once
	// (GitHub: 100).
	MaxConcurrent int
	// MutationsPerMinute and MutationsPerHour bound the mutating requests
	// in any sliding minute and hour (GitHub: 80 and 500 content-creating
	// requests).
	MutationsPerMinute, MutationsPerHour int
	// RetryAfter is the retry-after header of the refusal in seconds; 0
	// sends none (GitHub sometimes omits it; clients then wait a minute).
	RetryAfter int
}

// GitHubSecondaryLimits are GitHub's documented secondary limits and its
// one-second guidance for mutations, with retry-after: 60.
func GitHubSecondaryLimits() SecondaryLimits {
	return SecondaryLimits{
		MutationGap:        time.Second,
		MaxConcurrent:      100,
		MutationsPerMinute: 80,
		MutationsPerHour:   500,
		RetryAfter:         60,
	}
}

// WithSecondaryLimits makes the server refuse, with GitHub's secondary rate
// limit answer, requests that break l, and record each refusal
// ([Server.SecondaryLimitHits]). The check comes before scripted responses
// and authentication. Without this option no secondary limit is enforced.
func WithSecondaryLimits(l SecondaryLimits) Option {
	return func(s *Server) { s.secondary = &secondary{limits: l, clients: map[string]*clientLoad{}} }
}

// SecondaryLimitHit is one request the server refused for a secondary limit.
type SecondaryLimitHit struct {
	Method, Path string
	Time         time.Time
	// Reason says which limit was broken, with the figure.
	Reason string
}

// SecondaryLimitHits returns every secondary-limit refusal provoked so far
// (not the scripted ones), in order.
func (s *Server) SecondaryLimitHits() []SecondaryLimitHit {
	if s.secondary == nil {
		return nil
	}
	s.secondary.mu.Lock()
	defer s.secondary.mu.Unlock()
	return append([]SecondaryLimitHit(nil), s.secondary.hits...)
}

// MutationArrivals returns the arrival times of every mutating request so
// far, in order; with [WithSecondaryLimits] only.
func (s *Server) MutationArrivals() []time.Time {
	if s.secondary == nil {
		return nil
	}
	s.secondary.mu.Lock()
	defer s.secondary.mu.Unlock()
	var out []time.Time
	for _, c := range s.secondary.clients {
		out = append(out, c.mutations...)
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// GapToleranceUsed returns how far ahead of its turn (see
// [SecondaryLimits].MutationGap) the earliest accepted mutation arrived: 0
// when none came early; with [WithSecondaryLimits] only.
func (s *Server) GapToleranceUsed() time.Duration {
	if s.secondary == nil {
		return 0
	}
	s.secondary.mu.Lock()
	defer s.secondary.mu.Unlock()
	return s.secondary.maxEarly
}

// MaxInFlight returns the most requests the server was serving at once;
// with [WithSecondaryLimits] only.
func (s *Server) MaxInFlight() int {
	if s.secondary == nil {
		return 0
	}
	s.secondary.mu.Lock()
	defer s.secondary.mu.Unlock()
	return s.secondary.maxInFlight
}

// secondary is the secondary-limit state.
type secondary struct {
	limits SecondaryLimits

	mu          sync.Mutex
	clients     map[string]*clientLoad
	inFlight    int
	maxInFlight int
	maxEarly    time.Duration
	hits        []SecondaryLimitHit
}

// clientLoad is one token's recent load.
type clientLoad struct {
	inFlight  int
	mutations []time.Time // arrivals, oldest first; pruned to the last hour
	turn      time.Time   // when the next mutation is due (zero: any time)
}

func isMutation(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// admit counts a request of client arriving at now and reports why it
// breaks a limit ("" when it does not). done must be called when the
// request has been answered.
func (sc *secondary) admit(client, method, path string, now time.Time) (reason string, done func()) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	c := sc.clients[client]
	if c == nil {
		c = &clientLoad{}
		sc.clients[client] = c
	}
	c.inFlight++
	sc.inFlight++
	sc.maxInFlight = max(sc.maxInFlight, sc.inFlight)
	done = func() {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		c.inFlight--
		sc.inFlight--
	}
	l := sc.limits
	if l.MaxConcurrent > 0 && c.inFlight > l.MaxConcurrent {
		reason = fmt.Sprintf("%d requests in flight, over %d", c.inFlight, l.MaxConcurrent)
	}
	if isMutation(method) {
		if l.MutationGap > 0 && reason == "" {
			early := c.turn.Sub(now)
			switch {
			case c.turn.IsZero() || early <= 0:
				c.turn = now.Add(l.MutationGap)
			case early > l.GapTolerance:
				since := "the first"
				if n := len(c.mutations); n > 0 {
					since = fmt.Sprintf("%v after the previous one", now.Sub(c.mutations[n-1]).Round(time.Microsecond))
				}
				reason = fmt.Sprintf("mutation %s, %v before its turn at one per %v (tolerance %v)",
					since, early.Round(time.Microsecond), l.MutationGap, l.GapTolerance)
			default:
				sc.maxEarly = max(sc.maxEarly, early)
				c.turn = c.turn.Add(l.MutationGap)
			}
		}
		for len(c.mutations) > 0 && now.Sub(c.mutations[0]) >= time.Hour {
			c.mutations = c.mutations[1:]
		}
		c.mutations = append(c.mutations, now)
		if reason == "" {
			reason = overWindow(c.mutations, now, time.Minute, l.MutationsPerMinute)
		}
		if reason == "" {
			reason = overWindow(c.mutations, now, time.Hour, l.MutationsPerHour)
		}
	}
	if reason != "" {
		sc.hits = append(sc.hits, SecondaryLimitHit{Method: method, Path: path, Time: now, Reason: reason})
	}
	return reason, done
}

// overWindow says why arrivals (oldest first, the last one now) hold more
// than limit within window before now; "" when they do not or limit is 0.
func overWindow(arrivals []time.Time, now time.Time, window time.Duration, limit int) string {
	if limit <= 0 || len(arrivals) <= limit {
		return ""
	}
	n := 0
	for i := len(arrivals) - 1; i >= 0 && now.Sub(arrivals[i]) < window; i-- {
		n++
	}
	if n > limit {
		return fmt.Sprintf("%d mutations within %v, over %d", n, window, limit)
	}
	return ""
}
