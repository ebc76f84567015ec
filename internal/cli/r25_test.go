package cli

import (
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/imagetest"
)

// TestR25_TokenAbsentFromEveryOutput runs the GitHub Action mode end to end
// with a token that can see the deploy repository but not the dependent's:
// the dispatch fails (404, explained), the manifests get a pull request.
// The token — raw, base64 (alone and as git's basic credential) and
// URL-encoded — appears in none of: stdout, stderr, the step outputs, the
// step summary, the pull request's title and body, the commit messages, or
// any request body sent to the API.
func TestR25_TokenAbsentFromEveryOutput(t *testing.T) {
	const tok = "ghs_R25+sec/ret=tok3n"
	gh := githubtest.New(t, githubtest.WithToken(tok, "acme/deploy"))
	gh.Repo("acme/app-gh")
	deploy := gh.Repo("acme/deploy")

	reg := imagetest.NewRegistry(t)
	root := imagetest.Root(t)
	v1 := imagetest.On(t, root)
	baseRef := reg.Ref("acme/base:latest")
	v1d := reg.Push("acme/base:latest", v1)
	reg.Push("acme/app-gh:latest", imagetest.Annotated(imagetest.On(t, v1), baseRef, v1d))
	reg.Push("acme/base:latest", imagetest.On(t, root))

	ws := t.TempDir()
	manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: base}\nspec:\n  containers:\n    - name: c\n      image: " + baseRef + "\n"
	writeFile(t, filepath.Join(ws, "cascade.yaml"), strings.ReplaceAll(`version: 1
images:
  - {name: base, image: REG/acme/base:latest, rebuild: {rebase: {}}}
  - {name: app-gh, image: REG/acme/app-gh:latest, from: [REG/acme/base], rebuild: {github: {repository: acme/app-gh}}}
`, "REG", reg.Host))
	writeFile(t, filepath.Join(ws, "deploy", "base.yaml"), manifest)
	deploy.WriteFiles("main", "seed", map[string]string{"deploy/base.yaml": manifest})

	files := t.TempDir()
	outputs, summary := filepath.Join(files, "output"), filepath.Join(files, "summary")
	for _, f := range []string{outputs, summary} {
		writeFile(t, f, "")
	}
	for k, v := range map[string]string{
		"INPUT_IMAGE": baseRef, "INPUT_WORKSPACE": ws, "INPUT_TOKEN": tok, "INPUT_WRITE": "pull-request",
		"INPUT_GITHUB-API-URL": gh.URL, "INPUT_COMMAND": "run",
		"GITHUB_REPOSITORY": "acme/deploy", "GITHUB_WORKSPACE": ws,
		"GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary,
		// Empty, so that only the input can supply the token; the action
		// must leave them so (it hands the token over as a value).
		"CASCADE_GITHUB_TOKEN": "", "GITHUB_TOKEN": "",
	} {
		t.Setenv(k, v)
	}

	code, stdout, stderr := run(t, "action")
	if code != exitcode.Partial {
		t.Fatalf("exit %d, want 3 (the dispatch fails, the PR is made)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, k := range []string{"CASCADE_GITHUB_TOKEN", "GITHUB_TOKEN"} {
		if v := os.Getenv(k); v != "" {
			t.Errorf("the action put the token in %s", k)
		}
	}
	prs := deploy.PullRequests()
	if len(prs) != 1 {
		t.Fatalf("pull requests = %+v, want 1", prs)
	}
	if !strings.Contains(stdout+stderr, "cannot see repository acme/app-gh") {
		t.Errorf("the 404 should be explained:\n%s\n%s", stdout, stderr)
	}

	// The one place the raw token must be: the runner's mask command,
	// which makes the runner hide it everywhere else.
	var log []string
	masked := false
	for _, line := range strings.Split(stdout, "\n") {
		if line == "::add-mask::"+tok {
			masked = true
			continue
		}
		log = append(log, line)
	}
	if !masked {
		t.Error("the token was never masked (::add-mask::)")
	}
	places := map[string]string{"stdout": strings.Join(log, "\n"), "stderr": stderr}
	for name, path := range map[string]string{"step outputs": outputs, "step summary": summary} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			t.Errorf("%s is empty: the scan would prove nothing", name)
		}
		places[name] = string(data)
	}
	places["pull request"] = prs[0].Title + "\n" + prs[0].Body
	for _, c := range deploy.Log(prs[0].Head) {
		places["commit "+c.SHA] = c.Message
	}
	for i, r := range gh.Requests() {
		places["request body "+string(rune('0'+i%10))+" "+r.Path] += string(r.Body)
	}
	forms := map[string]string{
		"raw":                    tok,
		"base64":                 base64.StdEncoding.EncodeToString([]byte(tok)),
		"base64 git credential":  base64.StdEncoding.EncodeToString([]byte("x-access-token:" + tok)),
		"URL-encoded (query)":    url.QueryEscape(tok),
		"URL-encoded (path)":     url.PathEscape(tok),
		"base64 URL-safe, unpad": base64.RawURLEncoding.EncodeToString([]byte(tok)),
	}
	for where, text := range places {
		for form, s := range forms {
			if strings.Contains(text, s) {
				t.Errorf("the token (%s) appears in %s", form, where)
			}
		}
	}
}
