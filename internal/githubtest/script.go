package githubtest

import (
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// Response is one scripted answer. Scripted responses are consumed in order,
// one per matching request, before the server's normal handling (and before
// authentication). Delay is waited first. A zero Status only delays: the
// request is then handled normally.
type Response struct {
	Status  int
	Headers map[string]string
	Body    string
	Delay   time.Duration
}

type script struct {
	method  string
	pattern string
	queue   []Response
}

// Script queues responses for requests whose method and path match. method
// "" or "*" matches any method. pathPattern is matched against the path
// without the /api/v3 prefix with path.Match, where "*" (or a "{name}"
// segment) matches one path segment, e.g. "/repos/*/*/dispatches" or
// "/repos/{owner}/{repo}/dispatches". Scripts registered for the same
// method and pattern append to one queue.
func (s *Server) Script(method, pathPattern string, responses ...Response) {
	segs := strings.Split(pathPattern, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			segs[i] = "*"
		}
	}
	pattern := strings.Join(segs, "/")
	method = strings.ToUpper(method)
	if method == "*" {
		method = ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range s.scripts {
		if sc.method == method && sc.pattern == pattern {
			sc.queue = append(sc.queue, responses...)
			return
		}
	}
	s.scripts = append(s.scripts, &script{method: method, pattern: pattern, queue: responses})
}

func (s *Server) nextScripted(method, p string) (Response, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range s.scripts {
		if len(sc.queue) == 0 || (sc.method != "" && sc.method != method) {
			continue
		}
		if ok, _ := path.Match(sc.pattern, p); !ok {
			continue
		}
		r := sc.queue[0]
		sc.queue = sc.queue[1:]
		return r, true
	}
	return Response{}, false
}

func (s *Server) writeScripted(w http.ResponseWriter, r Response) {
	s.setRateHeaders(w)
	if r.Body != "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	for k, v := range r.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(r.Status)
	_, _ = w.Write([]byte(r.Body))
}

// SecondaryRateLimit is GitHub's answer when a client trips a secondary rate
// limit: 403 with the documented message, and a retry-after header when
// retryAfter > 0 (GitHub sometimes omits it).
func SecondaryRateLimit(retryAfter int) Response {
	r := Response{
		Status: http.StatusForbidden,
		Body: `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. ` +
			`If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.",` +
			`"documentation_url":"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`,
	}
	if retryAfter > 0 {
		r.Headers = map[string]string{"retry-after": strconv.Itoa(retryAfter)}
	}
	return r
}

// TooManyRequests is a 429 with a Retry-After header (seconds).
func TooManyRequests(retryAfter int) Response {
	return Response{
		Status:  http.StatusTooManyRequests,
		Headers: map[string]string{"Retry-After": strconv.Itoa(retryAfter)},
		Body:    `{"message":"Too Many Requests"}`,
	}
}

// PrimaryRateLimitExceeded is a 403 with x-ratelimit-remaining: 0 and the
// given reset time, as GitHub answers when the hourly budget is spent.
func PrimaryRateLimitExceeded(reset time.Time) Response {
	return Response{
		Status: http.StatusForbidden,
		Headers: map[string]string{
			"x-ratelimit-remaining": "0",
			"x-ratelimit-reset":     strconv.FormatInt(reset.Unix(), 10),
		},
		Body: `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`,
	}
}

// ServerError is a plain 5xx answer.
func ServerError(status int) Response {
	return Response{Status: status, Body: fmt.Sprintf(`{"message":"%s"}`, http.StatusText(status))}
}
