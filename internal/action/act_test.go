package action

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/testenv"
	"github.com/imagecascade/cascade/internal/writeback"
)

// TestActRunsTheAppWorkflowOnCascadesDispatch is the GitHub side end to end
// on real components: a real registry and buildah; the cascade binary
// dispatches the rebuild of app-a (stale on an old httpd-base) to the
// GitHub test API; the exact repository_dispatch body it sent becomes the
// event of a real Actions runner (nektos/act, host mode) running
// examples/github/app-on-base-update.yml, which rebuilds app-a on the
// announced base with buildah and runs the action (`uses: ./`, built from
// source) for app-a: its deployment manifest moves to app-a's new digest in
// a pull request, and the action's outputs and step summary say so.
//
// Offline: act skips actions/checkout for the repository under test (it
// copies the working tree), --action-offline-mode keeps it from fetching,
// and actions/setup-go is skipped because Go is on PATH. The GitHub API
// is the test API behind a TLS proxy, reached through act's
// --github-instance (github.api_url is https://HOST/api/v3).
func TestActRunsTheAppWorkflowOnCascadesDispatch(t *testing.T) {
	t.Parallel()
	act := ghTool(t, "CASCADE_ACT", filepath.Join("act-"+actVersion, "act"))
	b := testenv.NewBuildah(t)
	reg := testenv.StartRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	root := repoRoot(t)

	// Images: httpd-base v1, app-a built on it, then httpd-base v2.
	base, app := reg.Ref("acme/httpd-base:latest"), reg.Ref("acme/app-a:latest")
	host := strings.SplitN(base, "/", 2)[0]
	if err := b.BuildBase(ctx, base); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Push(ctx, base, ""); err != nil {
		t.Fatal(err)
	}
	appCtx := writeFiles(t, map[string]string{"Dockerfile": "ARG BASE_IMAGE=" + base + "\nFROM ${BASE_IMAGE}\nLABEL app=a\n"})
	if err := b.Build(ctx, appCtx, app, testenv.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Push(ctx, app, ""); err != nil {
		t.Fatal(err)
	}
	v2 := writeFiles(t, map[string]string{"Dockerfile": "FROM " + base + "\nLABEL generation=2\n"})
	if err := b.Build(ctx, v2, base, testenv.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	baseDigest, err := b.Push(ctx, base, "")
	if err != nil {
		t.Fatal(err)
	}

	// The GitHub API: the app's repository, with its deployment.
	gh := githubtest.New(t)
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-a\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: " + app + "\n"
	gh.Repo("acme/app-a").WriteFiles("main", "deploy app-a", map[string]string{"deploy/app.yaml": deploy})
	proxyURL, caFile := tlsProxy(t, gh.URL)

	bin := filepath.Join(t.TempDir(), "cascade")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/cascade")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// Step 1: the base's cascade dispatches app-a's rebuild.
	upstream := writeFiles(t, map[string]string{"cascade.yaml": fmt.Sprintf(`version: 1
images:
  - name: httpd-base
    image: %s
    rebuild:
      github: {repository: acme/httpd-base}
  - name: app-a
    image: %s
    from: [%s]
    rebuild:
      github: {repository: acme/app-a, event: base-image-updated}
registries:
  insecure: [%s]
`, base, app, base, host)})
	run := exec.CommandContext(ctx, bin, "run", "--image", base, "--digest", baseDigest, "--workspace", upstream, "-o", "json")
	run.Env = append(os.Environ(), "GITHUB_TOKEN="+gh.Token(), "GITHUB_API_URL="+gh.URL, "GITHUB_EVENT_PATH=")
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("cascade run (upstream): %v\n%s", err, out)
	}
	ds := gh.RepositoryDispatches()
	if len(ds) != 1 || ds[0].Repo != "acme/app-a" {
		t.Fatalf("dispatches: %+v", ds)
	}
	// The event GitHub delivers for that request: action is the
	// event_type, client_payload the exact payload sent.
	event, err := json.Marshal(map[string]any{
		"action":         ds[0].EventType,
		"client_payload": ds[0].ClientPayload,
		"repository":     map[string]any{"full_name": "acme/app-a", "name": "app-a", "owner": map[string]any{"login": "acme"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("repository_dispatch client_payload: %s", ds[0].ClientPayload)

	// Step 2: the app repository (the action's source, so `uses: ./`
	// builds it; the app's Dockerfile, config and deployment) under act.
	work := t.TempDir()
	copyTree(t, root, work, "action.yml", "go.mod", "go.sum", "cmd", "internal")
	for name, content := range map[string]string{
		"Dockerfile":      "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nLABEL app=a\n",
		"deploy/app.yaml": deploy,
		"cascade.yaml": fmt.Sprintf("version: 1\nimages:\n  - name: app-a\n    image: %s\n    from: [%s]\n    rebuild:\n      github: {repository: acme/app-a, event: base-image-updated}\nmanifests:\n  - paths: [\"deploy/**/*.yaml\"]\nregistries:\n  insecure: [%s]\n",
			app, base, host),
		"event.json": string(event),
	} {
		writeFile(t, filepath.Join(work, name), content)
	}
	wf, err := os.ReadFile(filepath.Join(root, "examples", "github", "app-on-base-update.yml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(work, ".github", "workflows", "app-on-base-update.yml"), string(wf))
	git(t, work, "init", "-q", "-b", "main")
	git(t, work, "remote", "add", "origin", "https://github.com/acme/app-a.git")
	git(t, work, "add", "-A")
	git(t, work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "app-a")

	// buildah inside the workflow: private vfs storage, chroot, the test
	// registry over plain HTTP — configured the way buildah reads it.
	bdir := t.TempDir()
	writeFile(t, filepath.Join(bdir, "storage.conf"), fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n", filepath.Join(bdir, "root"), filepath.Join(bdir, "run")))
	writeFile(t, filepath.Join(bdir, "registries.conf"), fmt.Sprintf("unqualified-search-registries = []\n[[registry]]\nlocation = %q\ninsecure = true\n", host))

	// actions/setup-go is skipped (Go is on PATH), but act clones every
	// action of a composite before running it: a do-nothing stand-in.
	setupGo := writeFiles(t, map[string]string{"action.yml": "name: setup-go stand-in\ndescription: never runs here\ninputs:\n  go-version-file: {description: x}\n  cache: {description: x}\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: exit 1\n"})
	gocache, gomodcache := goEnv(t, "GOCACHE"), goEnv(t, "GOMODCACHE")

	u, _ := url.Parse(proxyURL)
	args := []string{"repository_dispatch", "-e", filepath.Join(work, "event.json"),
		"-W", filepath.Join(work, ".github", "workflows", "app-on-base-update.yml"),
		"-P", "ubuntu-latest=-self-hosted", "--action-offline-mode",
		"--action-cache-path", filepath.Join(t.TempDir(), "act-cache"),
		"--github-instance", u.Host,
		"--local-repository", "actions/setup-go@v5=" + setupGo,
		"-s", "CASCADE_TOKEN=" + gh.Token(),
		"--var", "APP_IMAGE=" + app,
		"--env", "SSL_CERT_FILE=" + caFile,
		"--env", "BUILDAH_ISOLATION=chroot",
		"--env", "CONTAINERS_STORAGE_CONF=" + filepath.Join(bdir, "storage.conf"),
		"--env", "CONTAINERS_REGISTRIES_CONF=" + filepath.Join(bdir, "registries.conf"),
		"--env", "GOCACHE=" + gocache, "--env", "GOMODCACHE=" + gomodcache, "--env", "GOFLAGS=-mod=mod",
	}
	cmd := exec.CommandContext(ctx, act, args...)
	cmd.Dir = work
	// A HOME of its own: no ~/.actrc; the Go caches stay warm.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GOCACHE="+gocache, "GOMODCACHE="+gomodcache)
	cmd.WaitDelay = 10 * time.Second
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	err = cmd.Run()
	out := log.String()
	if err != nil {
		t.Fatalf("act: %v\n%s", err, out)
	}
	if p := os.Getenv("CASCADE_ACT_LOG"); p != "" {
		_ = os.WriteFile(p, log.Bytes(), 0o644)
	}

	// The workflow's last step prints the action's outputs.
	appDigest := regexp.MustCompile(`app-a:latest@(sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
	if appDigest == nil {
		t.Fatalf("no new app-a digest in the log:\n%s", out)
	}
	for _, want := range []string{
		"rebuilding app-a on " + strings.TrimSuffix(base, ":latest") + "@" + baseDigest,
		"stale dependents: 0",
		`cascade:   {"chain":["httpd-base"],"depth":1,`, // the chain travels on
		`updated files: ["deploy/app.yaml"]`,
		"pull request: " + gh.URL,
	} {
		if !strings.Contains(out, want) && !(strings.HasPrefix(want, "pull request") && strings.Contains(out, "pull request: https://")) {
			t.Errorf("act log lacks %q", want)
		}
	}
	if !regexp.MustCompile(`pull request: https?://\S+/pull/\d+`).MatchString(out) {
		t.Errorf("no pull request URL output in the log")
	}
	// The step summary (act prints what the step appended).
	for _, want := range []string{"## cascade run — `" + app + "`", "### Manifests pinned to", "| `deploy/app.yaml` |", "pull request"} {
		if !strings.Contains(out, want) {
			t.Errorf("step summary lacks %q", want)
		}
	}
	// The file-and-line annotation of the manifest change.
	if !strings.Contains(out, "::notice col=") || !strings.Contains(out, "file=deploy/app.yaml,line=10") {
		t.Errorf("no notice annotation for deploy/app.yaml:10")
	}
	// The pull request holds the pinned deployment.
	image := strings.TrimSuffix(app, "@")
	files, ok := gh.Repo("acme/app-a").Files(writeback.BranchName(refShort(image), appDigest[1]))
	if !ok {
		t.Fatalf("no pull request branch %s", writeback.BranchName(refShort(image), appDigest[1]))
	}
	if want := strings.Replace(deploy, app, app+"@"+appDigest[1], 1); files["deploy/app.yaml"] != want {
		t.Errorf("deploy/app.yaml on the PR branch:\n%s\nwant:\n%s", files["deploy/app.yaml"], want)
	}
	if t.Failed() {
		t.Logf("act log:\n%s", out)
	}
}

// refShort is how the CLI names the image in branch names (imageref's
// Short: the reference as written, without digest).
func refShort(s string) string { return s }

// tlsProxy serves target behind HTTPS on loopback and returns its URL and
// the PEM file of its certificate, for SSL_CERT_FILE.
func tlsProxy(t *testing.T, target string) (string, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(u))
	t.Cleanup(srv.Close)
	var pemBytes []byte
	for _, c := range srv.TLS.Certificates {
		for _, der := range c.Certificate {
			pemBytes = append(pemBytes, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		}
	}
	f := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, f, string(pemBytes))
	return srv.URL, f
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies the named entries of src into dst (regular files only).
func copyTree(t *testing.T, src, dst string, names ...string) {
	t.Helper()
	for _, n := range names {
		err := filepath.WalkDir(filepath.Join(src, n), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			writeFile(t, filepath.Join(dst, rel), string(data))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
