package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/imagetest"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/testenv"
)

// helpExample is one example command line of a command's --help.
type helpExample struct {
	command string // the help it came from: "cascade plan"
	line    string // the example, continuation lines joined
	// comments are the comment lines just above it (its paragraph): a
	// Tekton example's env: [{name: CASCADE_…, value: …}] is read there.
	comments []string
}

// helpExamples reads every example out of the real --help output of every
// command: each line indented by two spaces that starts with "cascade ",
// outside the Usage section (continuation lines ending in \ joined).
func helpExamples(t *testing.T) []helpExample {
	t.Helper()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if !sub.Hidden {
				walk(sub, append(append([]string{}, path...), sub.Name()))
			}
		}
	}
	walk(rootCmd(), nil)
	var all []helpExample
	for _, p := range paths {
		code, out, errs := run(t, append(p, "--help")...)
		if code != 0 {
			t.Fatalf("cascade %v --help: exit %d: %s", p, code, errs)
		}
		section := ""
		var comments []string
		lines := strings.Split(out, "\n")
		for i := 0; i < len(lines); i++ {
			l := lines[i]
			if l != "" && !strings.HasPrefix(l, " ") && strings.HasSuffix(l, ":") {
				section = l
				comments = nil
				continue
			}
			trimmed := strings.TrimSpace(l)
			switch {
			case trimmed == "":
				comments = nil
			case strings.HasPrefix(trimmed, "#"):
				comments = append(comments, trimmed)
			case section != "Usage:" && strings.HasPrefix(l, "  cascade "):
				line := trimmed
				for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
					i++
					line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i])
				}
				all = append(all, helpExample{command: strings.TrimSpace("cascade " + strings.Join(p, " ")), line: line, comments: comments})
				comments = nil
			}
		}
	}
	return all
}

// walkCommands calls fn with the path of every visible subcommand.
func walkCommands(c *cobra.Command, fn func(path string)) {
	for _, sub := range c.Commands() {
		if !sub.Hidden {
			fn(sub.CommandPath())
			walkCommands(sub, fn)
		}
	}
}

// exampleWorld is what every example runs against, fresh for each one:
// the embedded registry holding the seed stream (centos/centos:7 ->
// acme/httpd-base -> acme/app-a, acme/app-b) just after new builds of
// centos:7 and httpd-base were pushed; the GitHub fake holding the
// repositories the config dispatches to and acme/deploy; and a workspace
// (the current folder) that is a clone of a real bare git remote, holding
// cascade.yaml and the deployments of app-a and app-b.
type exampleWorld struct {
	reg    *imagetest.Registry
	gh     *githubtest.Server
	ws     string
	remote string
}

const exampleConfig = `version: 1
images:
  - {name: httpd-base, image: REG/acme/httpd-base:latest, from: [REG/centos/centos:7], rebuild: {github: {repository: acme/httpd-base}}}
  - {name: app-a, image: REG/acme/app-a:latest, from: [REG/acme/httpd-base], rebuild: {github: {repository: acme/app-a}}}
  - {name: app-b, image: REG/acme/app-b:latest, from: [REG/acme/httpd-base], rebuild: {github: {repository: acme/app-b}}}
`

func exampleDeployment(name, image string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + "}\nspec:\n  template:\n    spec:\n      containers:\n        - name: " + name + "\n          image: " + image + "\n"
}

func newExampleWorld(t *testing.T) *exampleWorld {
	t.Helper()
	w := &exampleWorld{reg: imagetest.NewRegistry(t), gh: githubtest.New(t)}
	r := w.reg
	root := imagetest.Root(t)
	centos := r.Push("centos/centos:7", root)
	base := imagetest.Annotated(imagetest.On(t, root), r.Ref("centos/centos:7"), centos)
	baseDigest := r.Push("acme/httpd-base:latest", base)
	pinned := map[string]string{}
	for _, app := range []string{"app-a:latest", "app-b:latest", "app-b:v2"} {
		d := r.Push("acme/"+app, imagetest.Annotated(imagetest.On(t, base), r.Ref("acme/httpd-base:latest"), baseDigest))
		pinned[app] = r.Ref("acme/"+app) + "@" + d.String()
	}
	// The new builds: centos:7 moved upstream, httpd-base was rebuilt, and
	// the apps' own pipelines pushed new builds (still on the old
	// httpd-base), which the deployments do not pin yet.
	for _, app := range []string{"app-a:latest", "app-b:latest", "app-b:v2"} {
		r.Push("acme/"+app, imagetest.Annotated(imagetest.On(t, base), r.Ref("acme/httpd-base:latest"), baseDigest))
	}
	newRoot := imagetest.Root(t)
	newCentos := r.Push("centos/centos:7", newRoot)
	r.Push("acme/httpd-base:latest", imagetest.Annotated(imagetest.On(t, newRoot), r.Ref("centos/centos:7"), newCentos))

	files := map[string]string{
		"cascade.yaml":           strings.ReplaceAll(exampleConfig, "REG", r.Host),
		"deploy/app-a.yaml":      exampleDeployment("app-a", pinned["app-a:latest"]),
		"deploy/app-b.yaml":      exampleDeployment("app-b", pinned["app-b:latest"]),
		"deploy/prod/app-b.yaml": exampleDeployment("app-b", pinned["app-b:v2"]),
	}
	for _, repo := range []string{"acme/httpd-base", "acme/app-a", "acme/app-b"} {
		w.gh.Repo(repo)
	}
	w.gh.Repo("acme/deploy").WriteFiles("main", "seed", files)

	testenv.Require(t, "git")
	dir := t.TempDir()
	w.remote = filepath.Join(dir, "deploy.git")
	git(t, dir, "init", "-q", "--bare", "-b", "main", w.remote)
	w.ws = filepath.Join(dir, "ws")
	git(t, dir, "clone", "-q", w.remote, w.ws)
	for name, content := range files {
		writeFile(t, filepath.Join(w.ws, name), content)
	}
	git(t, w.ws, "add", ".")
	git(t, w.ws, "commit", "-qm", "seed")
	git(t, w.ws, "push", "-q", "origin", "main")
	return w
}

// effects is what an example changed in the world.
type effects struct {
	dispatches    int  // repository_dispatch events accepted by the GitHub fake
	pullRequests  int  // pull requests opened on acme/deploy
	pushed        bool // the remote's main moved
	workspaceEdit bool // tracked files of the workspace changed (git status)
}

func (w *exampleWorld) effects(t *testing.T, remoteHead string) effects {
	t.Helper()
	return effects{
		dispatches:    len(w.gh.RepositoryDispatches()),
		pullRequests:  len(w.gh.Repo("acme/deploy").PullRequests()),
		pushed:        git(t, w.remote, "rev-parse", "main") != remoteHead,
		workspaceEdit: git(t, w.ws, "status", "--porcelain", "--untracked-files=no") != "",
	}
}

// wantEffects is what an example says it does, read from its own words
// and the world: plan, graph, history and --dry-run change nothing; run
// of an image something is built on (httpd-base), and import, dispatch;
// update, and run of a deployed image (app-a, app-b), pin the workspace's
// manifests, and --write commit --push then pushes them, --write
// pull-request opens a pull request with them.
func wantEffects(args []string) effects {
	line := " " + strings.Join(args, " ") + " "
	image := ""
	for i, a := range args {
		if a == "--image" && i+1 < len(args) {
			image = args[i+1]
		}
	}
	var e effects
	if strings.Contains(line, " --dry-run ") {
		return e
	}
	if args[0] == "import" || args[0] == "run" && strings.Contains(image, "/acme/httpd-base") {
		e.dispatches = -1 // at least one
	}
	deployed := strings.Contains(image, "/acme/app-a") || strings.Contains(image, "/acme/app-b")
	if args[0] == "update" || args[0] == "run" && deployed {
		e.workspaceEdit = true
		switch {
		case strings.Contains(line, " --write pull-request "):
			e.pullRequests = 1
		case strings.Contains(line, " --write commit ") && strings.Contains(line, " --push "):
			e.pushed = true
			e.workspaceEdit = false // committed
		}
	}
	return e
}

func (e effects) matches(want effects) bool {
	if want.dispatches < 0 {
		if e.dispatches == 0 {
			return false
		}
		e.dispatches, want.dispatches = 0, 0
	}
	return e == want
}

// digestOf is the current digest of ref (tag :latest when none) in the
// world's registry.
func (w *exampleWorld) digestOf(t *testing.T, ref string) string {
	t.Helper()
	ref, _, _ = strings.Cut(ref, "@")
	d, err := crane.Digest(ref)
	if err != nil {
		t.Fatalf("the digest of %s: %v", ref, err)
	}
	return d
}

// exampleHosts are the registries the examples name; they all stand for
// the world's registry.
var exampleHosts = regexp.MustCompile(`\b(registry\.example\.com|ghcr\.io|quay\.io)/`)

// prepare turns an example into what a shell would run here. The
// placeholders the help uses are filled as the CI system would fill them:
//
//	${{ steps.build.outputs.digest }}  GitHub Actions: the digest just built
//	                                   of the example's --image
//	$(tasks.build.results.IMAGE_URL)   Tekton: the image just built
//	$(tasks.build.results.IMAGE_DIGEST)  and its digest (httpd-base)
//	$(results.NAME.path)               Tekton: a result file
//	$DIGEST, $IMAGE                    the image an app's pipeline just
//	                                   pushed (app-a unless --image names
//	                                   another) and its digest
//	$GITHUB_STEP_SUMMARY               the Actions step summary file
//
// The comment lines above an example may set its environment: a Tekton
// step's env: [{name: CASCADE_…, value: …}], a workflow step's
// with: {…} (as INPUT_<NAME>, as the runner does).
//
// Any other $ placeholder fails the test: a new one needs a line here.
func (w *exampleWorld) prepare(t *testing.T, ex helpExample, tmp string) (string, map[string]string) {
	t.Helper()
	line := exampleHosts.ReplaceAllString(ex.line, w.reg.Host+"/")
	image := w.reg.Ref("acme/app-a:latest")
	if m := regexp.MustCompile(`--image "?([^ "$]+)`).FindStringSubmatch(line); m != nil {
		image = strings.TrimSuffix(m[1], "@")
	}
	built := w.reg.Ref("acme/httpd-base:latest")
	tekton := strings.NewReplacer(
		"$(tasks.build.results.IMAGE_URL)", built,
		"$(tasks.build.results.IMAGE_DIGEST)", w.digestOf(t, built))
	env := map[string]string{
		"IMAGE":               image,
		"DIGEST":              w.digestOf(t, image),
		"GITHUB_STEP_SUMMARY": filepath.Join(tmp, "step-summary.md"),
		"GITHUB_OUTPUT":       filepath.Join(tmp, "outputs"),
	}
	for _, m := range regexp.MustCompile(`\{name: (CASCADE_[A-Z_]+), value: ([^}]+)\}`).FindAllStringSubmatch(strings.Join(ex.comments, "\n"), -1) {
		env[m[1]] = tekton.Replace(strings.TrimSpace(m[2]))
	}
	// A workflow step's with: block is what the runner passes the action
	// as INPUT_<NAME>.
	if m := regexp.MustCompile(`with: (\{.*\})`).FindStringSubmatch(strings.Join(ex.comments, "\n")); m != nil {
		var with map[string]string
		if err := yaml.Unmarshal([]byte(exampleHosts.ReplaceAllString(m[1], w.reg.Host+"/")), &with); err != nil {
			t.Fatalf("%s: the with: block %s: %v", ex.command, m[1], err)
		}
		for k, v := range with {
			if v == "${{ steps.build.outputs.digest }}" {
				v = w.digestOf(t, with["image"])
			}
			env["INPUT_"+strings.ToUpper(k)] = v
		}
	}
	line = strings.ReplaceAll(line, "${{ steps.build.outputs.digest }}", env["DIGEST"])
	line = regexp.MustCompile(`\$\(results\.([a-z-]+)\.path\)`).ReplaceAllString(line, filepath.Join(tmp, "result-$1"))
	if rest := strings.ReplaceAll(line, tmp, ""); strings.Contains(rest, "${{") || strings.Contains(rest, "$(") {
		t.Fatalf("%s: a placeholder the test does not know: %s", ex.command, line)
	}
	return line, env
}

// shellWords splits a command line as a POSIX shell would, for what the
// examples use: single and double quotes, $VAR and ${VAR} (from env; an
// unknown variable fails), unquoted | > >> as operators, # comments.
func shellWords(t *testing.T, line string, env map[string]string) [][]string {
	t.Helper()
	var segs [][]string
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	expand := func(i int) int { // at '$'; returns the index after the name
		j := i + 1
		braced := j < len(line) && line[j] == '{'
		if braced {
			j++
		}
		k := j
		for k < len(line) && (line[k] == '_' || line[k] >= 'A' && line[k] <= 'Z' || line[k] >= 'a' && line[k] <= 'z' || line[k] >= '0' && line[k] <= '9') {
			k++
		}
		v, ok := env[line[j:k]]
		if !ok {
			t.Fatalf("example %q uses $%s, which the test does not set", line, line[j:k])
		}
		cur.WriteString(v)
		if braced {
			k++
		}
		return k
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
			i++
		case c == '#' && !inWord:
			i = len(line)
		case c == '|' || c == '>':
			flush()
			op := string(c)
			if c == '>' && i+1 < len(line) && line[i+1] == '>' {
				op = ">>"
			}
			i += len(op)
			if op == "|" {
				segs = append(segs, words)
				words = nil
			} else {
				words = append(words, op)
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				t.Fatalf("unbalanced quote in %q", line)
			}
			cur.WriteString(line[i+1 : i+1+end])
			inWord = true
			i += end + 2
		case c == '"':
			inWord = true
			i++
			for i < len(line) && line[i] != '"' {
				switch {
				case line[i] == '$':
					i = expand(i)
				case line[i] == '\\' && i+1 < len(line):
					cur.WriteByte(line[i+1])
					i += 2
				default:
					cur.WriteByte(line[i])
					i++
				}
			}
			if i >= len(line) {
				t.Fatalf("unbalanced quote in %q", line)
			}
			i++
		case c == '$':
			inWord = true
			i = expand(i)
		default:
			inWord = true
			cur.WriteByte(c)
			i++
		}
	}
	flush()
	return append(segs, words)
}

// redirect takes a trailing "> FILE" or ">> FILE" off a segment.
func redirect(t *testing.T, words []string) ([]string, string, bool) {
	t.Helper()
	for i, w := range words {
		if w == ">" || w == ">>" {
			if i != len(words)-2 {
				t.Fatalf("a redirection not at the end: %v", words)
			}
			return words[:i], words[i+1], w == ">>"
		}
	}
	return words, "", false
}

// TestHelpExamples runs every example of every command's --help, read from
// the real help output, in process, in a fresh world (newExampleWorld):
// the cascade part through Run, what it is piped into (jq, dot) as the
// real program, a redirection into the file it names. Each must exit 0,
// produce output where it is piped or redirected, and do what it says and
// nothing more (wantEffects: a dry run changes nothing, a run dispatches,
// --write commit --push pushes, --write pull-request opens one). An example the
// test cannot run — a new placeholder, a tool it does not know — fails it.
//
// Not parallel: each example runs in its workspace as the current folder
// with the environment a CI job would give it.
func TestHelpExamples(t *testing.T) {
	examples := helpExamples(t)
	commands := map[string]bool{}
	for _, ex := range examples {
		commands[ex.command] = true
	}
	everyCommand := []string{"cascade"}
	walkCommands(rootCmd(), func(path string) {
		everyCommand = append(everyCommand, path)
	})
	for _, c := range everyCommand {
		if !commands[c] {
			t.Errorf("%s --help shows no example", c)
		}
	}
	if len(examples) < 24 {
		t.Fatalf("only %d examples read from the help: %+v", len(examples), examples)
	}
	for _, ex := range examples {
		t.Run(ex.line, func(t *testing.T) {
			w := newExampleWorld(t)
			// Not t.TempDir: its name holds the example's $(…), and this
			// folder's path goes into the command line.
			tmp, err := os.MkdirTemp("", "cascade-help-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(tmp) })
			line, env := w.prepare(t, ex, tmp)
			t.Chdir(w.ws)
			for _, k := range []string{"GITHUB_EVENT_PATH", "GITHUB_EVENT_NAME", "CASCADE_IMAGE", "CASCADE_DIGEST", "CASCADE_CONFIG", "CASCADE_WORKSPACE"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			t.Setenv("TMPDIR", tmp) // demo --keep keeps its workspace here
			t.Setenv("GITHUB_TOKEN", w.gh.Token())
			t.Setenv("GITHUB_API_URL", w.gh.URL)
			t.Setenv("GITHUB_REPOSITORY", "acme/deploy")
			t.Setenv("GIT_AUTHOR_NAME", "t")
			t.Setenv("GIT_AUTHOR_EMAIL", "t@example.com")
			t.Setenv("GIT_COMMITTER_NAME", "t")
			t.Setenv("GIT_COMMITTER_EMAIL", "t@example.com")
			for k, v := range env {
				t.Setenv(k, v)
			}
			segs := shellWords(t, line, env)
			if len(segs[0]) == 0 || segs[0][0] != "cascade" {
				t.Fatalf("does not start with cascade: %q", line)
			}
			args, file, appendTo := redirect(t, segs[0][1:])
			remoteHead := git(t, w.remote, "rev-parse", "main")
			var out, errb bytes.Buffer
			if code := Run(context.Background(), args, Streams{Out: &out, Err: &errb}); code != 0 {
				t.Fatalf("%s\n(ran %q): exit %d\nstdout:\n%s\nstderr:\n%s", ex.line, args, code, out.String(), errb.String())
			}
			data := out.Bytes()
			for _, seg := range segs[1:] {
				words, f, app := redirect(t, seg)
				if len(words) == 0 {
					t.Fatalf("an empty pipeline stage in %q", line)
				}
				bin := testenv.Require(t, words[0])
				cmd := exec.Command(bin, words[1:]...)
				cmd.Stdin = bytes.NewReader(data)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				got, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s: | %v: %v\n%s\ninput:\n%s", ex.line, words, err, stderr.String(), data)
				}
				data, file, appendTo = got, f, app
			}
			if file != "" {
				flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
				if appendTo {
					flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
				}
				f, err := os.OpenFile(file, flag, 0o644)
				if err == nil {
					_, err = f.Write(data)
					err = errors.Join(err, f.Close())
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if (len(segs) > 1 || file != "") && len(bytes.TrimSpace(data)) == 0 {
				t.Errorf("%s: no output", ex.line)
			}
			if args[0] != "demo" {
				if got, want := w.effects(t, remoteHead), wantEffects(args); !got.matches(want) {
					t.Errorf("%s: did %+v, want %+v (-1: at least one)\nstdout:\n%s", ex.line, got, want, out.String())
				}
			}
		})
	}
}

// rootCmd is the command tree, for walking its help.
func rootCmd() *cobra.Command {
	root, _ := newRoot(Streams{Out: new(bytes.Buffer), Err: new(bytes.Buffer)}, redact.New())
	return root
}
