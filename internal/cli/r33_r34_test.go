package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imagetest"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/testenv"
)

// pushTo pushes img as repo (with tag) to the registry at host.
func pushTo(t *testing.T, host, repo string, img v1.Image) v1.Hash {
	t.Helper()
	ref, err := name.ParseReference(host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// realStream is, on a real docker-registry, base (v1 then v2) and two
// webhook-rebuilt dependents built on v1: app-fast and app-slow; the
// workspace pins base in deploy/base.yaml.
type realStream struct {
	reg      *testenv.Registry
	ws       string
	baseRef  string
	v1d, v2d v1.Hash
	v1       v1.Image
}

func newRealStream(t *testing.T, hookURL string) *realStream {
	t.Helper()
	s := &realStream{reg: testenv.StartRegistry(t), ws: t.TempDir()}
	host := s.reg.Host
	s.baseRef = host + "/acme/base:latest"
	root := imagetest.Root(t)
	s.v1 = imagetest.On(t, root)
	s.v1d = pushTo(t, host, "acme/base:latest", s.v1)
	for _, app := range []string{"app-fast", "app-slow"} {
		pushTo(t, host, "acme/"+app+":latest", imagetest.Annotated(imagetest.On(t, s.v1), s.baseRef, s.v1d))
	}
	s.v2d = pushTo(t, host, "acme/base:latest", imagetest.On(t, root))
	writeFile(t, filepath.Join(s.ws, "cascade.yaml"), strings.NewReplacer("REG", host, "HOOKURL", hookURL).Replace(`version: 1
images:
  - {name: base, image: REG/acme/base:latest, rebuild: {rebase: {}}}
  - {name: app-fast, image: REG/acme/app-fast:latest, from: [REG/acme/base], rebuild: {webhook: {url: "HOOKURL/fast", secretEnv: HOOK_SECRET}}}
  - {name: app-slow, image: REG/acme/app-slow:latest, from: [REG/acme/base], rebuild: {webhook: {url: "HOOKURL/slow", secretEnv: HOOK_SECRET}}}
`))
	writeFile(t, filepath.Join(s.ws, "deploy", "base.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: base}\nspec:\n  containers:\n    - name: c\n      image: "+s.baseRef+"\n")
	return s
}

// watchTerminal is a fake terminal stderr that signals once what it shows
// contains a text.
type watchTerminal struct {
	fakeTerminal
	want string
	once sync.Once
	seen chan struct{}
}

func (w *watchTerminal) Write(p []byte) (int, error) {
	n, err := w.fakeTerminal.Write(p)
	if strings.Contains(w.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func decodeRun(t *testing.T, out string) report.Run {
	t.Helper()
	var r report.Run
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("run JSON: %v\n%s", err, out)
	}
	return r
}

// TestR33_CancelledRunOnRealRegistry: against a real docker-registry, a
// `cascade run` is cancelled (as SIGTERM does: its context ends) while
// one webhook receiver hangs and after the other's dispatch completed. The
// run exits 130 saying what it dispatched; the delivered dispatch was
// recorded in the registry with a fresh context, so the re-run sends only
// the one that hung; the manifests were not pinned by the cancelled run.
// Not parallel: the webhook secret comes from the environment.
func TestR33_CancelledRunOnRealRegistry(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	hang := true
	slowStarted := make(chan struct{}, 4)
	release := make(chan struct{})
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body: then the server sees the client go away.
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		hits[r.URL.Path]++
		h := hang
		mu.Unlock()
		if r.URL.Path == "/slow" && h {
			slowStarted <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(hooks.Close)
	t.Cleanup(func() { close(release) }) // before Close, which waits for handlers
	t.Setenv("HOOK_SECRET", "s3cret")
	s := newRealStream(t, hooks.URL)
	before, err := os.ReadFile(filepath.Join(s.ws, "deploy", "base.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--image", s.baseRef, "--workspace", s.ws, "-o", "json"}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runCtx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	// The live line counts a tier's outcomes as they are final: at 1/2,
	// app-fast's dispatch has completed and app-slow's hangs.
	term := &watchTerminal{want: "dispatching tier 1: 1/2", seen: make(chan struct{})}
	go func() {
		select {
		case <-term.seen:
		case <-ctx.Done():
			return
		}
		select {
		case <-slowStarted:
		case <-ctx.Done():
			return
		}
		interrupt() // what main does on SIGTERM/SIGINT
	}()
	var out bytes.Buffer
	started := time.Now()
	code := Run(runCtx, args, Streams{Out: &out, Err: term})
	t.Logf("the cancelled run took %s", time.Since(started))
	if code != exitcode.Interrupted {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitcode.Interrupted, out.String(), term.String())
	}
	if !strings.Contains(term.String(), "dispatched app-fast") {
		t.Errorf("stderr does not say what was dispatched:\n%s", term.String())
	}
	if after, _ := os.ReadFile(filepath.Join(s.ws, "deploy", "base.yaml")); !bytes.Equal(before, after) {
		t.Errorf("the cancelled run pinned the manifests:\n%s", after)
	}

	// The re-run, with the receiver answering again: only app-slow.
	mu.Lock()
	hang = false
	mu.Unlock()
	code, stdout, errs := run(t, args...)
	if code != 0 {
		t.Fatalf("re-run: exit %d\n%s\n%s", code, stdout, errs)
	}
	if diff := statuses(decodeRun(t, stdout)); diff["app-fast"] != "webhook/already-dispatched" || diff["app-slow"] != "webhook/dispatched" {
		t.Errorf("re-run outcomes %v: want app-fast already dispatched, app-slow dispatched", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits["/fast"] != 1 || hits["/slow"] != 2 {
		t.Errorf("deliveries %v: want /fast once, /slow twice (the hung one and the re-run)", hits)
	}
	if after, _ := os.ReadFile(filepath.Join(s.ws, "deploy", "base.yaml")); !strings.Contains(string(after), "@"+s.v2d.String()) {
		t.Errorf("the re-run did not pin the new digest:\n%s", after)
	}
}

// TestR33_HistoryStoreRefusingWritesDispatchesNothing: the registry,
// reached through a proxy that denies every write to the base's
// repository (a token without push rights there), holds the history: the
// run finds out with its first write — the claim — and dispatches
// nothing, pins nothing, and does not exit 0, 1 or 3.
// Not parallel: the webhook secret comes from the environment.
func TestR33_HistoryStoreRefusingWritesDispatchesNothing(t *testing.T) {
	var mu sync.Mutex
	hits := 0
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(hooks.Close)
	t.Setenv("HOOK_SECRET", "s3cret")
	real := testenv.StartRegistry(t)
	target, _ := url.Parse("http://" + real.Host)
	rp := httputil.NewSingleHostReverseProxy(target)
	var denied sync.Map
	var denyWrites atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && strings.HasPrefix(r.URL.Path, "/v2/acme/base/") && denyWrites.Load() {
			denied.Store(r.Method+" "+r.URL.Path, true)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	denyWrites.Store(false)
	host := strings.TrimPrefix(proxy.URL, "http://")
	// The stream, pushed through the proxy before it denies anything.
	s := &realStream{reg: real, ws: t.TempDir(), baseRef: host + "/acme/base:latest"}
	root := imagetest.Root(t)
	s.v1 = imagetest.On(t, root)
	s.v1d = pushTo(t, host, "acme/base:latest", s.v1)
	pushTo(t, host, "acme/app-fast:latest", imagetest.Annotated(imagetest.On(t, s.v1), s.baseRef, s.v1d))
	s.v2d = pushTo(t, host, "acme/base:latest", imagetest.On(t, root))
	writeFile(t, filepath.Join(s.ws, "cascade.yaml"), strings.NewReplacer("REG", host, "HOOKURL", hooks.URL).Replace(`version: 1
images:
  - {name: base, image: REG/acme/base:latest, rebuild: {rebase: {}}}
  - {name: app-fast, image: REG/acme/app-fast:latest, from: [REG/acme/base], rebuild: {webhook: {url: "HOOKURL/fast", secretEnv: HOOK_SECRET}}}
`))
	manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: base}\nspec:\n  containers:\n    - name: c\n      image: " + s.baseRef + "\n"
	writeFile(t, filepath.Join(s.ws, "deploy", "base.yaml"), manifest)
	denyWrites.Store(true)
	defer denyWrites.Store(false)

	code, stdout, errs := run(t, "run", "--image", s.baseRef, "--workspace", s.ws, "-o", "json")
	switch code {
	case exitcode.OK, exitcode.Internal, exitcode.Partial:
		t.Fatalf("exit %d: want a failure that says nothing was touched\n%s\n%s", code, stdout, errs)
	}
	t.Logf("exit %d", code)
	if !strings.Contains(errs, "nothing of this tier was dispatched") {
		t.Errorf("stderr does not say nothing was dispatched:\n%s", errs)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 0 {
		t.Errorf("%d webhook deliveries with a history store that refuses writes", hits)
	}
	n := 0
	denied.Range(func(any, any) bool { n++; return true })
	if n == 0 {
		t.Error("the proxy denied no write: the test did not test anything")
	}
	if got, _ := os.ReadFile(filepath.Join(s.ws, "deploy", "base.yaml")); string(got) != manifest {
		t.Errorf("manifests pinned:\n%s", got)
	}
}

// TestR34_LateRunOnRealRegistry: against a real docker-registry, base
// v1 then v2 are cascaded (each recorded); a late run for v1 is then
// refused — exit 5, the reason given, nothing dispatched, the manifests
// not moved back — both while the tag names v2 and after the tag was
// pointed at v1 again (the registry agrees with the late run; the
// recorded generations do not); --allow-rollback lets it through.
// Not parallel: the webhook secret comes from the environment.
func TestR34_LateRunOnRealRegistry(t *testing.T) {
	var mu sync.Mutex
	hits := 0
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(hooks.Close)
	t.Setenv("HOOK_SECRET", "s3cret")
	reg := testenv.StartRegistry(t)
	ws := t.TempDir()
	baseRef := reg.Host + "/acme/base:latest"
	root := imagetest.Root(t)
	v0 := imagetest.On(t, root)
	v0d := pushTo(t, reg.Host, "acme/base:latest", v0)
	// app is built on v0 and never rebuilt here (the webhook only
	// records): it is stale against v1 and against v2.
	pushTo(t, reg.Host, "acme/app:latest", imagetest.Annotated(imagetest.On(t, v0), baseRef, v0d))
	img1 := imagetest.On(t, root)
	v1d := pushTo(t, reg.Host, "acme/base:latest", img1)
	writeFile(t, filepath.Join(ws, "cascade.yaml"), strings.NewReplacer("REG", reg.Host, "HOOKURL", hooks.URL).Replace(`version: 1
images:
  - {name: base, image: REG/acme/base:latest, rebuild: {rebase: {}}}
  - {name: app, image: REG/acme/app:latest, from: [REG/acme/base], rebuild: {webhook: {url: "HOOKURL/app", secretEnv: HOOK_SECRET}}}
`))
	writeFile(t, filepath.Join(ws, "deploy", "base.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: base}\nspec:\n  containers:\n    - name: c\n      image: "+baseRef+"\n")
	pinned := func() string {
		b, _ := os.ReadFile(filepath.Join(ws, "deploy", "base.yaml"))
		return string(b)
	}
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return hits
	}
	cascadeTo := func(d v1.Hash, extra ...string) (int, string, string) {
		t.Helper()
		return run(t, append([]string{"run", "--image", baseRef, "--digest", d.String(), "--workspace", ws, "-o", "json"}, extra...)...)
	}
	for _, d := range []v1.Hash{v1d, {}} {
		if d == (v1.Hash{}) {
			d = pushTo(t, reg.Host, "acme/base:latest", imagetest.On(t, root)) // v2
		}
		if code, stdout, errs := cascadeTo(d); code != 0 || !strings.Contains(pinned(), "@"+d.String()) {
			t.Fatalf("cascading %s: exit %d\n%s\n%s\n%s", d, code, stdout, errs, pinned())
		}
	}
	v2pinned, sent := pinned(), delivered()
	if sent != 2 {
		t.Fatalf("%d deliveries for v1 and v2, want 2", sent)
	}
	refused := func(why string) {
		t.Helper()
		code, stdout, errs := cascadeTo(v1d)
		if code != exitcode.Refused || !strings.Contains(errs, "rollback") {
			t.Fatalf("%s: exit %d, want 5 naming the rollback\n%s\n%s", why, code, stdout, errs)
		}
		if pinned() != v2pinned || delivered() != sent {
			t.Errorf("%s: acted on a rollback: %d deliveries, manifests now:\n%s", why, delivered()-sent, pinned())
		}
	}
	refused("the tag names v2")
	pushTo(t, reg.Host, "acme/base:latest", img1)
	refused("the tag names v1 again, v2 was cascaded after it")

	// --allow-rollback: the operator means it. app was dispatched for v1
	// already (recorded), so only the manifests move.
	code, stdout, errs := cascadeTo(v1d, "--allow-rollback")
	if code != 0 || !strings.Contains(pinned(), "@"+v1d.String()) {
		t.Fatalf("--allow-rollback: exit %d\n%s\n%s\n%s", code, stdout, errs, pinned())
	}
	if delivered() != sent {
		t.Errorf("--allow-rollback dispatched app for v1 again")
	}
}
