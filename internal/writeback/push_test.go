package writeback_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/writeback"
)

// pin returns a Reapply that recomputes one edit from the file as it is now:
// it replaces the unpinned reference old with new in deploy/app.yaml.
func pin(old, new string, calls *atomic.Int32) func(context.Context, string) ([]string, error) {
	return func(_ context.Context, dir string) ([]string, error) {
		if calls != nil {
			calls.Add(1)
		}
		p := filepath.Join(dir, "deploy/app.yaml")
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		nb := strings.Replace(string(b), old+"\n", new+"\n", 1)
		if nb == string(b) {
			return nil, nil
		}
		return []string{"deploy/app.yaml"}, os.WriteFile(p, []byte(nb), 0o644)
	}
}

var (
	pinOurs       = pin("registry.example.com/app:1", pinned, nil)
	pinCompetitor = pin("registry.example.com/sidecar:2", sidecar, nil)
)

// prepare makes a clone with our edit committed, ready to push.
func prepare(t *testing.T, f *fixture, name string, edit func(context.Context, string) ([]string, error)) string {
	return prepareAs(t, f, name, edit, writeback.Author{})
}

// prepareAs is prepare with a commit author.
func prepareAs(t *testing.T, f *fixture, name string, edit func(context.Context, string) ([]string, error), who writeback.Author) string {
	t.Helper()
	dir := f.clone(t, name)
	paths, err := edit(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeback.Commit(context.Background(), writeback.CommitOptions{
		Dir: dir, Paths: paths, Message: writeback.Message(image, digest, paths), Trailer: writeback.Trailer(image, digest), Author: who,
	}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func commitOpts() writeback.CommitOptions {
	return writeback.CommitOptions{Message: writeback.Message(image, digest, []string{"deploy/app.yaml"}), Trailer: writeback.Trailer(image, digest)}
}

// TestR15_PushLostRaceRecomputes: a competing clone pushes another change
// to the same branch just before ours lands. Push must fetch, recompute the
// edit on the fresh tree, and push a commit whose parent is the winner's.
func TestR15_PushLostRaceRecomputes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// competitorEdit is the competitor's change.
		competitorEdit func(context.Context, string) ([]string, error)
		// duringPush lands the competitor from inside our push (update hook)
		// instead of just before it.
		duringPush bool
		wantNoOp   bool
	}{
		{name: "competitor pushed just before us (fetch first)", competitorEdit: pinCompetitor},
		{name: "competitor lands during our push (update hook)", competitorEdit: pinCompetitor, duringPush: true},
		{name: "competitor already made our change", competitorEdit: pinOurs, wantNoOp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ours := prepare(t, f, "ours", pinOurs)
			// Another author, so that even the same edit is another commit.
			competitor := prepareAs(t, f, "competitor", tt.competitorEdit, writeback.Author{Name: "rival", Email: "rival@example.com"})
			winner := gitT(t, competitor, "rev-parse", "HEAD")
			if tt.duringPush {
				marker := filepath.Join(f.root, "raced")
				f.hook(t, `if [ ! -e '`+marker+`' ]; then
  touch '`+marker+`'
  unset GIT_DIR GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
  git -C '`+competitor+`' push --quiet origin HEAD:refs/heads/main >&2 || exit 1
fi
exit 0
`)
			} else {
				gitT(t, competitor, "push", "--quiet", "origin", "HEAD:refs/heads/main")
			}
			var calls atomic.Int32
			res, err := writeback.Push(context.Background(), writeback.PushOptions{
				Dir: ours, Branch: "main", Attempts: 3, Backoff: time.Millisecond,
				Reapply: pin("registry.example.com/app:1", pinned, &calls), Commit: commitOpts(),
			})
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			wantAttempts := 2
			if tt.wantNoOp {
				wantAttempts = 1 // nothing left to push
			}
			if calls.Load() != 1 || res.Attempts != wantAttempts {
				t.Errorf("Reapply calls = %d, attempts = %d; want 1 and %d", calls.Load(), res.Attempts, wantAttempts)
			}
			remoteHead := gitT(t, f.remote, "rev-parse", "main")
			if tt.wantNoOp {
				if !res.NoOp || res.Pushed || res.Commit != winner || remoteHead != winner {
					t.Errorf("res = %+v, remote = %s; want NoOp at the winner %s", res, remoteHead, winner)
				}
				return
			}
			if !res.Pushed || res.NoOp || res.Commit != remoteHead {
				t.Fatalf("res = %+v, remote main = %s", res, remoteHead)
			}
			if parent := gitT(t, f.remote, "rev-parse", "main^"); parent != winner {
				t.Errorf("our commit's parent = %s, want the winner %s", parent, winner)
			}
			got := f.remoteFile(t, "deploy/app.yaml")
			if !strings.Contains(got, pinned) || !strings.Contains(got, sidecar) {
				t.Errorf("both changes must survive, remote file:\n%s", got)
			}
			if !strings.Contains(gitT(t, f.remote, "log", "-1", "--format=%B", "main"), writeback.Trailer(image, digest)) {
				t.Error("re-made commit lost the trailer")
			}
		})
	}
}

// TestR16_PushAlwaysRejected: the server never accepts the push. Push stops,
// reports the server's message with secrets redacted, and never says pushed.
func TestR16_PushAlwaysRejected(t *testing.T) {
	t.Parallel()
	const token = "ghp_R16SuperSecretToken0123456789"
	b64 := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	tests := []struct {
		name         string
		hook         string
		wantAttempts int
		wantReapply  int32
		wantCode     int
		wantRace     bool
		wantMessage  string
	}{
		{
			name:         "hook always reports a moved branch",
			hook:         `echo "rejected: non-fast-forward, branch moved; auth was ` + token + ` / ` + b64 + `" >&2; exit 1`,
			wantAttempts: 4, wantReapply: 3, wantCode: exitcode.Transient, wantRace: true,
			wantMessage: "rejected: non-fast-forward, branch moved",
		},
		{
			name:         "hook rejects by policy",
			hook:         `echo "policy: main is protected; token ` + token + ` is not allowed" >&2; exit 1`,
			wantAttempts: 1, wantReapply: 0, wantCode: exitcode.Partial,
			wantMessage: "policy: main is protected",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			before := gitT(t, f.remote, "rev-parse", "main")
			f.hook(t, tt.hook+"\n")
			ours := prepare(t, f, "ours", pinOurs)
			var calls atomic.Int32
			res, err := writeback.Push(context.Background(), writeback.PushOptions{
				Dir: ours, Branch: "main", Attempts: 4, Backoff: time.Millisecond, Token: token,
				Reapply: pin("registry.example.com/app:1", pinned, &calls), Commit: commitOpts(),
			})
			if err == nil {
				t.Fatalf("Push succeeded: %+v", res)
			}
			if res.Pushed || res.NoOp {
				t.Errorf("res = %+v, want neither pushed nor no-op", res)
			}
			if res.Attempts != tt.wantAttempts || calls.Load() != tt.wantReapply {
				t.Errorf("attempts = %d, Reapply calls = %d; want %d and %d", res.Attempts, calls.Load(), tt.wantAttempts, tt.wantReapply)
			}
			if got := exitcode.Of(err); got != tt.wantCode {
				t.Errorf("exit code = %d, want %d (%v)", got, tt.wantCode, err)
			}
			var pe *writeback.PushError
			if !errors.As(err, &pe) || pe.LostRace != tt.wantRace {
				t.Errorf("err = %#v, want *PushError with LostRace=%v", err, tt.wantRace)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("error %q does not carry the server's message %q", msg, tt.wantMessage)
			}
			for _, secret := range []string{token, b64} {
				if strings.Contains(msg, secret) {
					t.Errorf("error leaks a secret: %s", msg)
				}
			}
			if after := gitT(t, f.remote, "rev-parse", "main"); after != before {
				t.Errorf("remote moved %s → %s", before, after)
			}
		})
	}
}

// authServer is a smart-HTTP git endpoint that refuses everything with 401
// and records what it was sent.
type authServer struct {
	*httptest.Server
	mu      sync.Mutex
	headers []string
	urls    []string
}

func newAuthServer(t *testing.T) *authServer {
	s := &authServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Get("Authorization"))
		s.urls = append(s.urls, r.URL.String())
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		http.Error(w, "denied", http.StatusUnauthorized)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestPushNeverLeaksToken: tokens given in the URL userinfo or as Token are
// sent as a header, never in argv or the request URL, and never appear in
// errors (raw, base64 or URL-encoded).
func TestPushNeverLeaksToken(t *testing.T) {
	t.Parallel()
	const token = "ghp_NeverLeakMe_0123456789abcdef/+="
	tests := []struct {
		name       string
		remote     func(srv *authServer, dir string) string
		token      string
		wantHeader string // Authorization the server must receive; "" = no server
		wantCode   int
	}{
		{
			name: "userinfo in URL, server unreachable",
			remote: func(*authServer, string) string {
				return "https://x-access-token:" + token + "@127.0.0.1:1/acme/app.git"
			},
			wantCode: exitcode.Transient,
		},
		{
			name:       "token option, server refuses",
			remote:     func(srv *authServer, _ string) string { return srv.URL + "/acme/app.git" },
			token:      token,
			wantHeader: "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token)),
			wantCode:   exitcode.Partial,
		},
		{
			name: "userinfo in a named remote, server refuses",
			remote: func(srv *authServer, dir string) string {
				u := strings.Replace(srv.URL, "http://", "http://bot:"+strings.ReplaceAll(token, "/", "%2F")+"@", 1)
				gitT(t, dir, "remote", "add", "upstream", u+"/acme/app.git")
				return "upstream"
			},
			wantHeader: "Basic " + base64.StdEncoding.EncodeToString([]byte("bot:"+token)),
			wantCode:   exitcode.Partial,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			srv := newAuthServer(t)
			ours := prepare(t, f, "ours", pinOurs)
			res, err := writeback.Push(context.Background(), writeback.PushOptions{
				Dir: ours, Remote: tt.remote(srv, ours), Branch: "main", Attempts: 2, Backoff: time.Millisecond,
				Token: tt.token, Reapply: pinOurs, Commit: commitOpts(),
			})
			if err == nil || res.Pushed {
				t.Fatalf("Push = %+v, %v; want a failure", res, err)
			}
			if got := exitcode.Of(err); got != tt.wantCode {
				t.Errorf("exit code = %d, want %d (%v)", got, tt.wantCode, err)
			}
			msg := err.Error()
			for _, secret := range []string{
				token, strings.ReplaceAll(token, "/", "%2F"),
				base64.StdEncoding.EncodeToString([]byte(token)),
				base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token)),
				base64.StdEncoding.EncodeToString([]byte("bot:" + token)),
			} {
				if strings.Contains(msg, secret) {
					t.Errorf("error leaks %q: %s", secret, msg)
				}
			}
			if tt.wantHeader == "" {
				return
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.headers) == 0 || srv.headers[0] != tt.wantHeader {
				t.Errorf("server got Authorization %q, want the token as a header", srv.headers)
			}
			for _, u := range srv.urls {
				if strings.Contains(u, "NeverLeakMe") {
					t.Errorf("token in request URL %q", u)
				}
			}
		})
	}
}
