package cli

import (
	"bytes"
	"context"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// TestRunDebugLogsEveryRequestWithoutSecrets: --log-level debug logs one
// line per outbound request — GitHub (token in Authorization), webhooks
// (signed with a secret), the registry — with method, host, path, status,
// duration; neither the GitHub token nor the webhook secret appears.
// Not parallel: the token and the secret come from the environment.
func TestRunDebugLogsEveryRequestWithoutSecrets(t *testing.T) {
	f := newRunFixture(t)
	const secret = "hook-s3cret-value-42"
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	t.Setenv("HOOK_SECRET", secret)
	code, _, errs := f.run(t, "--log-level", "debug")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, s := range []string{f.gh.Token(), secret} {
		if strings.Contains(errs, s) {
			t.Fatalf("a secret is in the debug log:\n%s", errs)
		}
	}
	count := func(host string) int {
		re := regexp.MustCompile(`(?m)^time=\S+ level=DEBUG msg="http request" method=[A-Z]+ host=` + regexp.QuoteMeta(host) + ` path=/\S* (status=\d{3}|error=.*) duration=\S+`)
		return len(re.FindAllString(errs, -1))
	}
	ghURL, err := url.Parse(f.gh.URL)
	if err != nil {
		t.Fatal(err)
	}
	ghHost := ghURL.Host
	if got, want := count(ghHost), len(f.gh.Requests()); got != want || want == 0 {
		t.Errorf("GitHub: %d request lines for %d requests:\n%s", got, want, errs)
	}
	f.hooks.mu.Lock()
	hits := 0
	for _, n := range f.hooks.hits {
		hits += n
	}
	f.hooks.mu.Unlock()
	if got := count(strings.TrimPrefix(f.hooks.URL, "http://")); got != hits || hits == 0 {
		t.Errorf("webhooks: %d request lines for %d requests:\n%s", got, hits, errs)
	}
	if count(f.reg.Host) == 0 {
		t.Errorf("no registry request logged:\n%s", errs)
	}
	if !strings.Contains(errs, `method=POST host=`+ghHost+` path=/repos/acme/app-gh/dispatches status=204`) {
		t.Errorf("the repository_dispatch is not logged:\n%s", errs)
	}
	if strings.Contains(errs, "\x1b[") {
		t.Errorf("control sequences on a stderr that is not a terminal:\n%q", errs)
	}
}

// fakeTerminal is a stderr that says it is a terminal.
type fakeTerminal struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (f *fakeTerminal) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.b.Write(p)
}

func (f *fakeTerminal) IsTerminal() bool { return true }

func (f *fakeTerminal) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.b.String()
}

// TestRunLiveProgressOnATerminal: on a terminal, a live status line
// counts each tier's dispatches in place and is cleared at the end; the
// log lines (info) are still whole lines, and stdout never gets any of
// it. Not parallel: the token and the secret come from the environment.
func TestRunLiveProgressOnATerminal(t *testing.T) {
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	t.Setenv("HOOK_SECRET", "s3cret")
	var out bytes.Buffer
	term := &fakeTerminal{}
	code := Run(context.Background(), []string{"run", "--image", f.baseRef, "--workspace", f.ws, "--github-api-url", f.gh.URL,
		"-o", "json", "--log-level", "info"}, Streams{Out: &out, Err: term})
	got := term.String()
	if code != exitcode.OK {
		t.Fatalf("exit %d: %s", code, got)
	}
	for _, want := range []string{
		"\r\x1b[Kplanning " + f.baseRef + " …",
		"\r\x1b[Kdispatching tier 1: 0/4 (",
		"\r\x1b[Kdispatching tier 1: 4/4 (",
		"\r\x1b[Kdispatching tier 2: 1/1 (",
		"\r\x1b[Ktime=", "level=INFO msg=dispatched tier=1 ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the terminal lacks %q:\n%q", want, got)
		}
	}
	if !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("the live line is left on the terminal at the end:\n%q", got)
	}
	if strings.Contains(out.String(), "\x1b") || strings.Contains(out.String(), "\r") {
		t.Errorf("stdout got the live line:\n%q", out.String())
	}
}
