package cli

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/faultproxy"
	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/imagetest"
)

// snapshot reads every file under dir, by relative path.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestR02_RegistryUnavailable (CLI): the registry answers 503 (or 429)
// forever. cascade run retries within its budget, then exits 4 having
// dispatched nothing and changed no file.
//
// The CLI builds its registry client with the real clock; the run's context
// deadline cuts the retry budget (the client never starts a wait the
// deadline would end), which keeps this test to about two seconds.
//
// Not parallel: the GitHub token comes from the environment.
func TestR02_RegistryUnavailable(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			reg := imagetest.NewRegistry(t)
			root := imagetest.Root(t)
			v1 := imagetest.On(t, root)
			v1d := reg.Push("acme/base:latest", v1)
			reg.Push("acme/app:latest", imagetest.Annotated(imagetest.On(t, v1), reg.Ref("acme/base:latest"), v1d))
			reg.Push("acme/base:latest", imagetest.On(t, root)) // the rebuild

			proxy := faultproxy.New(t, &url.URL{Scheme: "http", Host: reg.Host})
			proxy.Script("*", "/v2/**/manifests/*", faultproxy.Forever(faultproxy.Fault{Status: status}, 1000)...)
			gh := githubtest.New(t)
			gh.Repo("acme/app")
			t.Setenv("GITHUB_TOKEN", gh.Token())

			ws := t.TempDir()
			base := proxy.Host() + "/acme/base:latest"
			writeFile(t, filepath.Join(ws, "cascade.yaml"), strings.NewReplacer("REG", proxy.Host()).Replace(`version: 1
images:
  - {name: base, image: REG/acme/base:latest, rebuild: {rebase: {}}}
  - {name: app, image: REG/acme/app:latest, from: [REG/acme/base], rebuild: {github: {repository: acme/app}}}
`))
			writeFile(t, filepath.Join(ws, "deploy", "app.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: base}\nspec:\n  containers:\n    - name: c\n      image: "+base+"\n")
			before := snapshot(t, ws)

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			var out, errb bytes.Buffer
			start := time.Now()
			code := Run(ctx, []string{"run", "--image", base, "--workspace", ws, "--github-api-url", gh.URL, "--write", "commit"},
				Streams{Out: &out, Err: &errb})
			took := time.Since(start)

			if code != exitcode.Transient {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitcode.Transient, &out, &errb)
			}
			if took > 5*time.Second {
				t.Errorf("took %v", took)
			}
			if !strings.Contains(errb.String(), base) || !strings.Contains(errb.String(), "giving up after") {
				t.Errorf("stderr does not name the image %q and say the retries ran out:\n%s", base, &errb)
			}
			if got := gh.Requests(); len(got) != 0 {
				t.Errorf("GitHub received %d requests, want none (first: %s %s)", len(got), got[0].Method, got[0].Path)
			}
			if diff := cmp.Diff(before, snapshot(t, ws)); diff != "" {
				t.Errorf("workspace changed (-before +after):\n%s", diff)
			}
			var heads int
			for _, r := range proxy.Requests() {
				if r.Method == http.MethodHead {
					heads++
				}
				if r.Method != http.MethodHead && r.Method != http.MethodGet {
					t.Errorf("the registry received %s %s", r.Method, r.Path)
				}
			}
			if heads < 2 {
				t.Errorf("%d HEADs, want the first and at least one retry", heads)
			}
			if strings.Contains(out.String()+errb.String(), gh.Token()) {
				t.Error("the GitHub token shows in the output")
			}
		})
	}
}
